//! Sending transaction markers: each [`TxnMarker`] the coordinator emits goes, as
//! WriteTxnMarkers v1, to the leaders of its partitions (one request per leader, every
//! partition it leads), over one reused connection per peer broker (this broker included:
//! one path for all). Partitions whose leader is unknown, or that answer a retriable
//! error, are sent again after a backoff (100 ms doubling to 5 s), without holding up any
//! other transaction; once every partition is written (or its topic is gone) the
//! coordinator completes the transaction (CompleteCommit / CompleteAbort).
//!
//! Retries end as Kafka's do: when the partition is gone, or when the coordinator moved
//! (the transaction is no longer writing these markers at this coordinator epoch, e.g. the
//! partition was unloaded), or on INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED
//! (a newer coordinator or producer took over: Kafka drops the markers). At most one task
//! per transaction sends: a marker emitted again by a reload replaces the older task.
//!
//! # References
//! - `kafka.coordinator.transaction.TransactionMarkerChannelManager`,
//!   `TransactionMarkerRequestCompletionHandler` (per-error handling)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, ProducerId, RequestKind, ResponseKind, TopicName, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use tokio::sync::mpsc;

use super::{TopicPartition, TxnMarker};
use crate::cluster::Node;
use crate::cluster::client::{Client, ClientError};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// The WriteTxnMarkers version sent (the codec has v1 only; Kafka 4.3 also has v2).
const MARKERS_VERSION: i16 = 1;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Kafka's `request.timeout.ms` for one WriteTxnMarkers exchange.
const MARKERS_TIMEOUT: Duration = Duration::from_secs(30);

/// The queue from the coordinator's runtime to the marker tasks, and the task of each
/// transaction that is sending.
pub(crate) struct MarkerSender {
    tx: mpsc::UnboundedSender<TxnMarker>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<TxnMarker>>>,
    /// Transactional id -> generation of the task sending its markers.
    inflight: Mutex<HashMap<String, u64>>,
    next_generation: AtomicU64,
}

impl MarkerSender {
    pub(crate) fn new() -> MarkerSender {
        let (tx, rx) = mpsc::unbounded_channel();
        MarkerSender {
            tx,
            rx: Mutex::new(Some(rx)),
            inflight: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(1),
        }
    }

    pub(crate) fn send_all(&self, markers: Vec<TxnMarker>) {
        for marker in markers {
            let _ = self.tx.send(marker);
        }
    }

    pub(crate) fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<TxnMarker>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new generation for `id`: older tasks for it stop.
    fn begin(&self, id: &str) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        self.inflight().insert(id.to_string(), generation);
        generation
    }

    fn is_current(&self, id: &str, generation: u64) -> bool {
        self.inflight().get(id) == Some(&generation)
    }

    fn end(&self, id: &str, generation: u64) {
        let mut inflight = self.inflight();
        if inflight.get(id) == Some(&generation) {
            inflight.remove(id);
        }
    }
}

/// One connection per peer broker, reused; a failed exchange drops it.
#[derive(Default)]
pub(crate) struct Peers {
    clients: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<Option<Client>>>>>,
}

impl Peers {
    fn slot(&self, broker: i32) -> Arc<tokio::sync::Mutex<Option<Client>>> {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(broker)
            .or_default()
            .clone()
    }

    /// One request to broker `to` over its connection (opened if needed).
    pub(crate) async fn call(
        &self,
        node: &Node,
        to: i32,
        key: ApiKey,
        version: i16,
        request: RequestKind,
        timeout: Duration,
    ) -> Result<ResponseKind, ClientError> {
        if !node.faults.linked(node.id, to) {
            return Err(ClientError::LinkDown);
        }
        let slot = self.slot(to);
        let mut conn = slot.lock().await;
        if conn.is_none() {
            let addr = node
                .addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&to)
                .copied()
                .ok_or(ClientError::LinkDown)?;
            *conn = Some(Client::connect(addr, format!("broker-{}-txn", node.id)).await?);
        }
        let Some(client) = conn.as_mut() else {
            return Err(ClientError::LinkDown);
        };
        let result = tokio::select! {
            r = client.call(key, version, request, timeout) => r,
            _ = node.faults.link_lost(node.id, to) => Err(ClientError::LinkDown),
        };
        if result.is_err() {
            *conn = None;
        }
        result
    }
}

/// Starts the task that writes `marker`'s markers.
pub(crate) fn spawn(shared: &Arc<Shared>, marker: TxnMarker, shutdown: Shutdown) {
    let generation = shared.txns.markers_sender().begin(&marker.transactional_id);
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = marker.transactional_id.clone();
        send(&shared, marker, generation, shutdown).await;
        shared.txns.markers_sender().end(&id, generation);
    });
}

/// What became of one partition's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionOutcome {
    Done,
    Retry,
    /// The coordinator or producer was fenced: stop sending this transaction's markers.
    Abandon,
}

/// Kafka's `TransactionMarkerRequestCompletionHandler` for one partition's error code.
fn outcome_of(code: i16) -> PartitionOutcome {
    use ResponseError as E;
    match ResponseError::try_from_code(code) {
        None if code == 0 => PartitionOutcome::Done,
        Some(E::UnsupportedForMessageFormat) => PartitionOutcome::Done,
        Some(E::InvalidProducerEpoch | E::TransactionCoordinatorFenced) => {
            PartitionOutcome::Abandon
        }
        _ => PartitionOutcome::Retry,
    }
}

/// Sends until every partition is written, then completes the transaction.
async fn send(shared: &Arc<Shared>, marker: TxnMarker, generation: u64, mut shutdown: Shutdown) {
    let txns = &shared.txns;
    let mut pending: BTreeSet<TopicPartition> = marker.partitions.iter().cloned().collect();
    let mut backoff = BACKOFF_MIN;
    let mut failures = 0u32;
    loop {
        // A paused broker (a cluster test's SIGSTOP) sends nothing.
        tokio::select! {
            _ = shared.node.faults.wait_unpaused(shared.node.id) => {}
            _ = shutdown.recv() => return,
        }
        let current = txns
            .markers_sender()
            .is_current(&marker.transactional_id, generation);
        if !current || !txns.is_writing(&marker) {
            tracing::debug!(id = %marker.transactional_id, "markers no longer ours to send");
            return;
        }
        match send_round(&shared.node, txns, &marker, &mut pending).await {
            PartitionOutcome::Abandon => {
                tracing::info!(id = %marker.transactional_id, "markers fenced; dropped");
                return;
            }
            PartitionOutcome::Done | PartitionOutcome::Retry => {}
        }
        if pending.is_empty() {
            let completed = txns
                .complete_markers(
                    &shared.producer_ids,
                    &marker.transactional_id,
                    marker.coordinator_epoch,
                )
                .await;
            if completed.is_ok() {
                return;
            }
        } else {
            failures += 1;
            if failures == 1 {
                tracing::warn!(id = %marker.transactional_id, pending = ?pending, "markers not written yet; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.recv() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One round: a request to each leader of the pending partitions; removes those done.
async fn send_round(
    node: &Node,
    txns: &super::runtime::TxnRuntime,
    marker: &TxnMarker,
    pending: &mut BTreeSet<TopicPartition>,
) -> PartitionOutcome {
    let by_leader = leaders(node, pending);
    for (leader, partitions) in by_leader {
        let request = RequestKind::WriteTxnMarkers(request_for(marker, &partitions));
        let response = txns
            .peers
            .call(
                node,
                leader,
                ApiKey::WriteTxnMarkers,
                MARKERS_VERSION,
                request,
                MARKERS_TIMEOUT,
            )
            .await;
        let Ok(ResponseKind::WriteTxnMarkers(response)) = response else {
            tracing::debug!(leader, ?response, "WriteTxnMarkers failed");
            continue;
        };
        for (tp, code) in results(&response, marker.producer_id) {
            match outcome_of(code) {
                PartitionOutcome::Done => {
                    pending.remove(&tp);
                }
                PartitionOutcome::Abandon => return PartitionOutcome::Abandon,
                PartitionOutcome::Retry if is_gone(node, &tp) => {
                    pending.remove(&tp);
                }
                PartitionOutcome::Retry => {
                    tracing::debug!(leader, topic = %tp.topic, partition = tp.partition, code, "marker to retry")
                }
            }
        }
    }
    PartitionOutcome::Done
}

/// The pending partitions by leader; those whose topic left the image are dropped (done),
/// those without a leader stay pending.
fn leaders(
    node: &Node,
    pending: &mut BTreeSet<TopicPartition>,
) -> BTreeMap<i32, Vec<TopicPartition>> {
    let state = node.state();
    let image = &state.image;
    let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    pending.retain(|tp| {
        let Some(topic) = image.topic_by_name(&tp.topic) else {
            return false;
        };
        let Some(p) = usize::try_from(tp.partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
        else {
            return false;
        };
        if p.has_leader() {
            by_leader.entry(p.leader).or_default().push(tp.clone());
        }
        true
    });
    by_leader
}

/// The partition's topic (or the partition) is no longer in the image.
fn is_gone(node: &Node, tp: &TopicPartition) -> bool {
    let state = node.state();
    state
        .image
        .topic_by_name(&tp.topic)
        .is_none_or(|t| usize::try_from(tp.partition).map_or(true, |i| i >= t.partitions.len()))
}

fn request_for(marker: &TxnMarker, partitions: &[TopicPartition]) -> WriteTxnMarkersRequest {
    let topics = TopicPartition::by_topic(partitions)
        .into_iter()
        .map(|(topic, ids)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(crate::api::str(&topic)))
                .with_partition_indexes(ids)
        })
        .collect();
    let entry = WritableTxnMarker::default()
        .with_producer_id(ProducerId(marker.producer_id))
        .with_producer_epoch(marker.producer_epoch)
        .with_transaction_result(marker.commit)
        .with_topics(topics)
        .with_coordinator_epoch(marker.coordinator_epoch);
    WriteTxnMarkersRequest::default().with_markers(vec![entry])
}

/// Every partition result of the response's entry for `producer_id`.
fn results(response: &WriteTxnMarkersResponse, producer_id: i64) -> Vec<(TopicPartition, i16)> {
    response
        .markers
        .iter()
        .filter(|m| m.producer_id.0 == producer_id)
        .flat_map(|m| m.topics.iter())
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    p.error_code,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_handled_as_kafkas_completion_handler() {
        use ResponseError as E;
        assert_eq!(outcome_of(0), PartitionOutcome::Done);
        assert_eq!(
            outcome_of(E::UnsupportedForMessageFormat.code()),
            PartitionOutcome::Done
        );
        for e in [E::InvalidProducerEpoch, E::TransactionCoordinatorFenced] {
            assert_eq!(outcome_of(e.code()), PartitionOutcome::Abandon);
        }
        for e in [
            E::NotLeaderOrFollower,
            E::UnknownTopicOrPartition,
            E::NotEnoughReplicas,
            E::RequestTimedOut,
            E::UnsupportedVersion,
        ] {
            assert_eq!(outcome_of(e.code()), PartitionOutcome::Retry);
        }
    }

    #[test]
    fn one_request_names_every_partition_of_the_leader_by_topic() {
        let marker = TxnMarker {
            transactional_id: "t".into(),
            producer_id: 4,
            producer_epoch: 1,
            coordinator_epoch: 3,
            commit: true,
            partitions: vec![],
        };
        let parts = [
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 1),
        ];
        let req = request_for(&marker, &parts);
        let m = &req.markers[0];
        assert!(m.transaction_result);
        assert_eq!(
            (m.producer_id.0, m.producer_epoch, m.coordinator_epoch),
            (4, 1, 3)
        );
        let topics: Vec<_> = m
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![("a".into(), vec![0, 2]), ("b".into(), vec![1])]
        );
    }
}
