//! Runs the synchronous transaction coordinator ([`crate::txn`]) for the wire layer, as
//! Kafka's `TransactionCoordinator` runs on its `TransactionStateManager` and
//! `TransactionMarkerChannelManager`: its records go to `__transaction_state` and are
//! answered once committed, it loads and unloads with this broker's leadership of that
//! topic's partitions, its timers abort timed-out transactions and expire idle ids, and the
//! markers of every transaction it ends go to the partitions' leaders as WriteTxnMarkers
//! (`txn::markers`).
//!
//! `__transaction_state` is a replicated topic like any other, created through the
//! controller by the first FindCoordinator for a transactional id (or InitProducerId)
//! with Kafka's `transaction.state.log.*` configs: 50 partitions, replication factor 3
//! (capped at 1 in a cluster of one broker, as `__consumer_offsets` is), `min.insync.replicas`
//! 2, `segment.bytes` 100 MiB, kept forever (the reference does not compact). The
//! coordinator of a transactional id is the leader of the id's partition. A record is
//! appended as leader with acks=all (Kafka's `TransactionLog.EnforcedRequiredAcks`) and
//! the request is answered once the high watermark passed it; the log side is
//! [`crate::coordinator_log`], shared with the group coordinator. A write that fails
//! (refused, timed out, leadership lost) reloads its partition from the log, so memory
//! never holds what the log may not: its markers, if the record made it, go out again
//! from the reload.
//!
//! Lock order: the coordinator, then the node's state; none is held across an `.await`.
//!
//! # References
//! - `kafka.coordinator.transaction.TransactionCoordinator`, `TransactionStateManager`
//!   (`appendTransactionToLog`, `loadTransactionsForTxnTopicPartition`,
//!   `removeTransactionsForTxnTopicPartition`), `TransactionLog`
//! - `kafka.server.AddPartitionsToTxnManager` (the partition leader's verification)
//! - `kafka.server.AutoTopicCreationManager` (`__transaction_state`)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, ProducerId, RequestKind, ResponseKind, TopicName,
    TransactionalId,
};
use tokio::sync::mpsc;

use super::markers::{MarkerSender, Peers};
use super::{
    NewProducerId, Outcome, TRANSACTION_STATE_TOPIC, TopicPartition, TransactionConfig,
    TransactionCoordinator, TransactionRecord, TransactionVersion, TxnMarker,
};
use crate::api::init_producer_id::ProducerIds;
use crate::api::now_ms;
use crate::cluster::Node;
use crate::config::BrokerConfig;
use crate::coordinator_log::{self, InternalTopic, Leadership, Written};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// `transaction.state.log.segment.bytes` default.
const TXN_SEGMENT_BYTES: &str = "104857600";

/// How long a write to `__transaction_state` may wait for its replicas: Kafka's
/// `request.timeout.ms` default, which `appendTransactionToLog` uses.
const WRITE_TIMEOUT_MS: i64 = 30_000;

/// How long a partition leader waits for the transaction coordinator's verification.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The transaction coordinator of one broker and what it needs to run.
pub struct TxnRuntime {
    coordinator: Mutex<TransactionCoordinator>,
    node: Arc<Node>,
    topic: InternalTopic,
    /// News of the node's leadership of `__transaction_state` partitions, for the timer loop.
    leadership: Mutex<Option<mpsc::UnboundedReceiver<Leadership>>>,
    /// Where markers go to be sent ([`super::markers`]).
    markers: MarkerSender,
    /// One connection per peer broker for markers, and another for verifications (as
    /// Kafka's `TransactionMarkerChannelManager` and `AddPartitionsToTxnManager` each have
    /// their own): a slow marker write never holds up a producer's verification.
    pub(crate) peers: Peers,
    verify_peers: Peers,
}

/// What one coordinator call left to do once its lock is released.
struct Pending {
    written: Vec<Written>,
    /// The error of a write the leader refused outright.
    refused: Option<i16>,
    /// The `__transaction_state` partitions written to.
    partitions: BTreeSet<i32>,
    markers: Vec<TxnMarker>,
}

impl TxnRuntime {
    /// The coordinator of broker `node`: it serves the transactional ids of the
    /// `__transaction_state` partitions the node leads, once loaded.
    pub fn new(config: &BrokerConfig, node: Arc<Node>) -> TxnRuntime {
        let txn_config = TransactionConfig {
            offsets_topic_num_partitions: config.offsets_topic_num_partitions,
            ..config.transaction.clone()
        };
        let topic = InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: txn_config.transaction_state_log_num_partitions,
            replication_factor: config.transaction_state_log_replication_factor,
            overrides: txn_topic_overrides(config.transaction_state_log_min_isr),
        };
        let leadership = node.watch_leadership(TRANSACTION_STATE_TOPIC);
        TxnRuntime {
            coordinator: Mutex::new(TransactionCoordinator::new(txn_config)),
            node,
            topic,
            leadership: Mutex::new(Some(leadership)),
            markers: MarkerSender::new(),
            peers: Peers::default(),
            verify_peers: Peers::default(),
        }
    }

    fn coordinator(&self) -> MutexGuard<'_, TransactionCoordinator> {
        self.coordinator.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Runs `call` on the coordinator without writing (describe, list, verify).
    pub fn read<R>(&self, call: impl FnOnce(&mut TransactionCoordinator, i64) -> R) -> R {
        call(&mut self.coordinator(), now_ms())
    }

    /// Asks the controller for `__transaction_state` (see the module docs).
    pub fn create_topic(&self, config: &BrokerConfig) {
        coordinator_log::create_internal_topic(&self.node, config, &self.topic);
    }

    /// Runs `call` on the coordinator, makes its records durable, then sends its markers
    /// and returns its answer; `Err(code)`: the write failed with Kafka's coordinator
    /// error. New producer ids come from `producer_ids`; when its block is used up the
    /// call runs again once a new block arrived.
    pub async fn write<R>(
        &self,
        producer_ids: &ProducerIds,
        mut call: impl FnMut(&mut TransactionCoordinator, NewProducerId<'_>, i64) -> Outcome<R>,
    ) -> Result<R, i16> {
        let (mut answer, mut pending, starved) = self.apply(producer_ids, &mut call);
        if starved && pending.partitions.is_empty() && producer_ids.refill(&self.node).await.is_ok()
        {
            (answer, pending, _) = self.apply(producer_ids, &mut call);
        }
        self.settle(pending).await.map(|()| answer)
    }

    /// The synchronous half of [`TxnRuntime::write`]: the call and its appends. True if
    /// the call asked for a producer id when none was left.
    fn apply<R>(
        &self,
        producer_ids: &ProducerIds,
        call: &mut impl FnMut(&mut TransactionCoordinator, NewProducerId<'_>, i64) -> Outcome<R>,
    ) -> (R, Pending, bool) {
        let now = now_ms();
        let mut starved = false;
        let mut new_id = || {
            producer_ids.take().ok_or_else(|| {
                starved = true;
                ResponseError::CoordinatorLoadInProgress
            })
        };
        let mut coordinator = self.coordinator();
        let outcome = call(&mut coordinator, &mut new_id, now);
        let partitions: BTreeSet<i32> = outcome.records.iter().map(|(p, _)| *p).collect();
        let keyed = outcome
            .records
            .iter()
            .map(|(p, r)| (*p, r.key(), r.value()));
        let batches = coordinator_log::batches(keyed, now);
        let (written, refused) = coordinator_log::append_replicated(
            &self.node,
            TRANSACTION_STATE_TOPIC,
            batches,
            -1,
            WRITE_TIMEOUT_MS,
            now,
        );
        let mut pending = Pending {
            written,
            refused: None,
            partitions,
            markers: outcome.markers,
        };
        if !refused.is_empty() {
            let code = refused[0].1;
            pending.refused = Some(coordinator_log::map_write_error(code));
            // What the log refused is in memory already: start over from the log.
            pending.markers = Vec::new();
            for (partition, _) in refused {
                pending
                    .markers
                    .extend(self.reload(&mut coordinator, partition));
            }
        }
        (outcome.response, pending, starved)
    }

    /// Waits until the writes are committed, then sends the markers; on failure reloads
    /// the partitions written (their markers, if any, come from the reload).
    async fn settle(&self, pending: Pending) -> Result<(), i16> {
        if let Some(code) = pending.refused {
            self.markers.send_all(pending.markers);
            return Err(code);
        }
        let committed =
            coordinator_log::all_committed(&self.node, &pending.written, WRITE_TIMEOUT_MS).await;
        match committed {
            Ok(()) => {
                self.markers.send_all(pending.markers);
                Ok(())
            }
            Err(code) => {
                tracing::debug!(code, "transaction state write not committed");
                let mut markers = Vec::new();
                {
                    let mut coordinator = self.coordinator();
                    for partition in pending.partitions {
                        markers.extend(self.reload(&mut coordinator, partition));
                    }
                }
                self.markers.send_all(markers);
                Err(code)
            }
        }
    }

    /// Forgets `partition` and loads it again from the log if this broker leads it.
    fn reload(&self, coordinator: &mut TransactionCoordinator, partition: i32) -> Vec<TxnMarker> {
        coordinator.unload_partition(partition, None);
        let node = &self.node;
        match coordinator_log::led_epoch(node, TRANSACTION_STATE_TOPIC, partition) {
            Some(epoch) if coordinator.begin_load(partition, epoch) => {
                let records = partition_records(node, partition);
                finish_load(coordinator, partition, epoch, &records)
            }
            _ => Vec::new(),
        }
    }

    /// Loads or unloads one partition's transactions as this broker's leadership changed.
    fn on_leadership(&self, change: Leadership) {
        tracing::debug!(
            ?change,
            "transaction coordinator follows {TRANSACTION_STATE_TOPIC}"
        );
        let (partition, epoch) = (change.partition, change.leader_epoch);
        if !change.is_leader {
            self.coordinator().unload_partition(partition, Some(epoch));
            return;
        }
        if !self.coordinator().begin_load(partition, epoch) {
            return;
        }
        // Read without the coordinator's lock: meanwhile the partition's ids answer
        // COORDINATOR_LOAD_IN_PROGRESS and the others are served as usual.
        let records = partition_records(&self.node, partition);
        let markers = finish_load(&mut self.coordinator(), partition, epoch, &records);
        self.markers.send_all(markers);
    }

    /// Applies a timer's call now and lets its writes settle in a task of their own.
    fn spawn_write(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        call: impl FnMut(&mut TransactionCoordinator, NewProducerId<'_>, i64) -> Outcome<Vec<String>>
        + Send
        + 'static,
    ) {
        let (txns, shared) = (self.clone(), shared.clone());
        tokio::spawn(async move {
            if let Ok(ids) = txns.write(&shared.producer_ids, call).await
                && !ids.is_empty()
            {
                tracing::info!(?ids, "transaction coordinator timer");
            }
        });
    }

    /// Marker completion: the transaction's markers are all written.
    pub(crate) async fn complete_markers(
        &self,
        producer_ids: &ProducerIds,
        transactional_id: &str,
        coordinator_epoch: i32,
    ) -> Result<bool, i16> {
        self.write(producer_ids, |c, _, now| {
            c.complete_markers(transactional_id, coordinator_epoch, now)
        })
        .await
    }

    pub(crate) fn markers_sender(&self) -> &MarkerSender {
        &self.markers
    }

    /// Whether the transaction is still writing the markers `marker` names.
    pub(crate) fn is_writing(&self, marker: &TxnMarker) -> bool {
        self.coordinator().is_writing_markers(
            &marker.transactional_id,
            marker.coordinator_epoch,
            marker.producer_epoch,
        )
    }
}

fn txn_topic_overrides(min_isr: i32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("retention.ms".to_string(), "-1".to_string()),
        ("segment.bytes".to_string(), TXN_SEGMENT_BYTES.to_string()),
        ("min.insync.replicas".to_string(), min_isr.to_string()),
    ])
}

/// The transaction records of this broker's replica of one `__transaction_state` partition.
fn partition_records(node: &Node, partition: i32) -> Vec<TransactionRecord> {
    let stored = coordinator_log::partition_records(node, TRANSACTION_STATE_TOPIC, partition);
    let mut records = Vec::with_capacity(stored.len());
    for r in stored.into_iter().filter(|r| !r.control) {
        match TransactionRecord::decode(&r.key, r.value.as_deref()) {
            Ok(decoded) => records.push(decoded),
            Err(e) => {
                tracing::warn!(partition, offset = r.offset, error = %e, "skipping transaction record")
            }
        }
    }
    records
}

/// Replays a loading partition's records; returns the markers to send again.
fn finish_load(
    coordinator: &mut TransactionCoordinator,
    partition: i32,
    leader_epoch: i32,
    records: &[TransactionRecord],
) -> Vec<TxnMarker> {
    if coordinator.shard_state(partition) != Some(super::ShardState::Loading) {
        return Vec::new();
    }
    for record in records {
        if let Err(e) = coordinator.replay(partition, record) {
            tracing::warn!(partition, error = %e, "transaction record not replayed");
        }
    }
    tracing::info!(
        partition,
        leader_epoch,
        records = records.len(),
        "loaded the transactions of a {TRANSACTION_STATE_TOPIC} partition"
    );
    coordinator.complete_load(partition, leader_epoch).markers
}

/// Follows this broker's leadership of `__transaction_state`, sends markers, and runs
/// the coordinator's timers, until shutdown.
pub async fn timer_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let txns = shared.txns.clone();
    let mut leadership = txns
        .leadership
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let mut markers = txns.markers.take_receiver();
    let config = txns.coordinator().config().clone();
    let interval = |ms: i64| {
        let mut t = tokio::time::interval(Duration::from_millis(ms.max(1) as u64));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    };
    let mut abort = interval(config.abort_timed_out_transaction_cleanup_interval_ms);
    let mut expire = interval(config.remove_expired_transaction_cleanup_interval_ms);
    loop {
        let change = recv_or_pending(&mut leadership);
        let marker = recv_or_pending(&mut markers);
        tokio::select! {
            change = change => match change {
                Some(change) => txns.on_leadership(change),
                None => leadership = None,
            },
            marker = marker => match marker {
                Some(marker) => super::markers::spawn(&shared, marker, shutdown.resubscribe()),
                None => markers = None,
            },
            _ = abort.tick() => {
                if shared.wait_unpaused(&mut shutdown).await {
                    txns.spawn_write(&shared, |c, _, now| c.abort_timed_out(now));
                }
            }
            _ = expire.tick() => {
                if shared.wait_unpaused(&mut shutdown).await {
                    txns.spawn_write(&shared, |c, _, now| c.expire_transactional_ids(now));
                }
            }
            _ = shutdown.recv() => return,
        }
    }
}

async fn recv_or_pending<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Where the transaction coordinator of `transactional_id` is: the leader of its
/// `__transaction_state` partition, if the topic exists and that partition has a live
/// leader.
pub fn coordinator_of(node: &Node, transactional_id: &str) -> Result<i32, ResponseError> {
    let state = node.state();
    coordinator_log::coordinator_for(&state.image, TRANSACTION_STATE_TOPIC, transactional_id)
        .map_err(|_| ResponseError::CoordinatorNotAvailable)
}

/// What a partition leader (or the group coordinator) asks of the transaction coordinator,
/// as Kafka's `AddPartitionsToTxnManager` does: whether `partitions` are in the producer's
/// transaction (`add = false`, verify only) or that they join it (`add = true`, KIP-890
/// part 2). An AddPartitionsToTxn v5 to the broker coordinating the id, or a direct call
/// when that is this broker. Per-partition error codes (0: fine): the coordinator's own
/// (TRANSACTION_ABORTABLE for a partition not in the transaction, PRODUCER_FENCED,
/// INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, ...),
/// COORDINATOR_NOT_AVAILABLE when no broker coordinates the id, NETWORK_EXCEPTION when the
/// coordinator could not be asked. Mapping them for an old producer (Kafka turns the
/// retriable ones into NOT_ENOUGH_REPLICAS on Produce) is the caller's.
pub async fn verify_or_add(
    shared: &Shared,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[TopicPartition],
    add: bool,
) -> Vec<(TopicPartition, i16)> {
    let all = |code: i16| partitions.iter().map(|p| (p.clone(), code)).collect();
    if partitions.is_empty() {
        return Vec::new();
    }
    let coordinator = match coordinator_of(&shared.node, transactional_id) {
        Ok(id) => id,
        Err(e) => return all(e.code()),
    };
    let set: BTreeSet<TopicPartition> = partitions.iter().cloned().collect();
    if coordinator == shared.node.id {
        return verify_or_add_here(
            shared,
            transactional_id,
            producer_id,
            producer_epoch,
            &set,
            add,
        )
        .await;
    }
    let request = verify_request(transactional_id, producer_id, producer_epoch, &set, add);
    let response = shared
        .txns
        .verify_peers
        .call(
            &shared.node,
            coordinator,
            ApiKey::AddPartitionsToTxn,
            5,
            RequestKind::AddPartitionsToTxn(request),
            VERIFY_TIMEOUT,
        )
        .await;
    match response {
        Ok(ResponseKind::AddPartitionsToTxn(r)) => verify_results(&r, &set),
        Ok(_) | Err(_) => all(ResponseError::NetworkException.code()),
    }
}

/// [`verify_or_add`] when this broker is the coordinator.
async fn verify_or_add_here(
    shared: &Shared,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    set: &BTreeSet<TopicPartition>,
    add: bool,
) -> Vec<(TopicPartition, i16)> {
    let txns = &shared.txns;
    if !add {
        return txns
            .read(|c, _| c.verify_partitions(transactional_id, producer_id, producer_epoch, set));
    }
    let tv2 = TransactionVersion::Tv2;
    let written = txns
        .write(&shared.producer_ids, |c, _, now| {
            c.add_partitions(transactional_id, producer_id, producer_epoch, set, tv2, now)
        })
        .await;
    let code = written.unwrap_or_else(|code| code);
    set.iter().map(|p| (p.clone(), code)).collect()
}

/// An AddPartitionsToTxn v5 of one transaction.
fn verify_request(
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    set: &BTreeSet<TopicPartition>,
    add: bool,
) -> AddPartitionsToTxnRequest {
    let topics = TopicPartition::by_topic(set)
        .into_iter()
        .map(|(topic, ids)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(crate::api::str(&topic)))
                .with_partitions(ids)
        })
        .collect();
    let txn = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(TransactionalId(crate::api::str(transactional_id)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
        .with_verify_only(!add)
        .with_topics(topics);
    AddPartitionsToTxnRequest::default().with_transactions(vec![txn])
}

/// The per-partition codes of a v5 response for `set` (a partition it does not name gets
/// the response's top-level error, or UNKNOWN_SERVER_ERROR).
fn verify_results(
    response: &kafka_protocol::messages::AddPartitionsToTxnResponse,
    set: &BTreeSet<TopicPartition>,
) -> Vec<(TopicPartition, i16)> {
    let mut codes: BTreeMap<(&str, i32), i16> = BTreeMap::new();
    for txn in &response.results_by_transaction {
        for topic in &txn.topic_results {
            for p in &topic.results_by_partition {
                codes.insert(
                    (topic.name.0.as_str(), p.partition_index),
                    p.partition_error_code,
                );
            }
        }
    }
    let missing = if response.error_code != 0 {
        response.error_code
    } else {
        ResponseError::UnknownServerError.code()
    };
    set.iter()
        .map(|tp| {
            let code = codes
                .get(&(tp.topic.as_str(), tp.partition))
                .copied()
                .unwrap_or(missing);
            (tp.clone(), code)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::AddPartitionsToTxnResponse;
    use kafka_protocol::messages::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
    };

    #[test]
    fn verify_request_groups_partitions_by_topic() {
        let set = BTreeSet::from([
            TopicPartition::new("a", 1),
            TopicPartition::new("a", 0),
            TopicPartition::new("b", 3),
        ]);
        let req = verify_request("t", 7, 2, &set, false);
        let txn = &req.transactions[0];
        assert!(txn.verify_only);
        assert_eq!(txn.producer_id.0, 7);
        let topics: Vec<_> = txn
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partitions.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![("a".to_string(), vec![0, 1]), ("b".to_string(), vec![3])]
        );
    }

    #[test]
    fn verify_results_fill_missing_partitions_with_the_top_level_error() {
        let set = BTreeSet::from([TopicPartition::new("a", 0), TopicPartition::new("a", 1)]);
        let result = AddPartitionsToTxnResult::default().with_topic_results(vec![
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(crate::api::str("a")))
                .with_results_by_partition(vec![
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(0)
                        .with_partition_error_code(48),
                ]),
        ]);
        let response = AddPartitionsToTxnResponse::default()
            .with_error_code(0)
            .with_results_by_transaction(vec![result]);
        let codes: Vec<i16> = verify_results(&response, &set)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(codes, vec![48, ResponseError::UnknownServerError.code()]);
    }

    #[test]
    fn the_topic_keeps_its_records_forever_with_kafkas_min_isr() {
        let o = txn_topic_overrides(2);
        assert_eq!(o["retention.ms"], "-1");
        assert_eq!(o["min.insync.replicas"], "2");
        assert_eq!(o["segment.bytes"], "104857600");
    }
}
