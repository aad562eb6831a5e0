//! The log side of a coordinator that keeps its state in an internal topic
//! (`__consumer_offsets` for groups, `__transaction_state` for transactions), shared by
//! [`crate::group::runtime`] and [`crate::txn::runtime`]: creating the topic through the
//! controller, appending records to its partitions as leader, waiting until the high
//! watermark passes them, mapping the failures to coordinator errors, and reading a
//! partition's records back to load a coordinator.
//!
//! Shaped after Kafka's `CoordinatorRuntime` / `TransactionStateManager`: a coordinator's
//! write is appended as leader and answered only once every in-sync replica has it (the high
//! watermark passed it), so an acknowledged write survives the loss of its coordinator;
//! the next leader of the partition replays it. The coordinators themselves stay
//! synchronous: they hand this module key/value records per partition and get back what
//! was written and what was refused.
//!
//! Lock order: the caller's coordinator, then the node's state (or the controller for an
//! AlterPartition an append causes); none is held across an `.await`.
//!
//! # References
//! - `org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime` (deferred writes,
//!   loading), `CoordinatorOperationExceptionHelper` (error mapping)
//! - `kafka.coordinator.transaction.TransactionStateManager` (`appendTransactionToLog`,
//!   `loadTransactionsForTxnTopicPartition`)
//! - `kafka.server.AutoTopicCreationManager` (internal topics)

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use tokio::time::Instant;
use uuid::Uuid;

use crate::cluster::Node;
use crate::config::{BrokerConfig, TopicConfig};
use crate::controller::MetadataImage;
use crate::log::{AppendOrigin, Log};
use crate::record_batch::{NewRecord, encode_producer_batch, encode_transactional_batch};

/// How much of a coordinator log one replay read takes.
const REPLAY_READ_BYTES: usize = 1024 * 1024;

/// How often a write waiting for the high watermark looks again without being woken.
const COMMIT_POLL: Duration = Duration::from_millis(50);

/// This broker started or stopped leading a partition of a coordinator's internal topic
/// (sent by the cluster node whenever it applies that partition's metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    pub partition: i32,
    /// How many partitions the topic has.
    pub partitions: i32,
    pub leader_epoch: i32,
    pub is_leader: bool,
}

/// Kafka's `Topic.isInternal`: the coordinators' topics, which clients do not produce to
/// and Metadata marks internal.
pub fn is_internal(topic: &str) -> bool {
    topic == crate::group::OFFSETS_TOPIC || topic == crate::txn::TRANSACTION_STATE_TOPIC
}

/// An internal topic as its coordinator asks the controller for it.
#[derive(Debug, Clone)]
pub struct InternalTopic {
    pub name: &'static str,
    pub partitions: i32,
    /// The configured factor; capped at 1 in a cluster of one broker.
    pub replication_factor: i16,
    /// Topic configs (`retention.ms`, `segment.bytes`, `min.insync.replicas`, ...).
    pub overrides: BTreeMap<String, String>,
}

/// Asks the controller for `topic` as Kafka's `AutoTopicCreationManager` does. Errors
/// (already there, too few brokers for the replication factor) are only logged: the
/// coordinator lookup answers COORDINATOR_NOT_AVAILABLE either way and the client asks again.
pub fn create_internal_topic(node: &Node, config: &BrokerConfig, topic: &InternalTopic) {
    let replication_factor = replication_factor(node, topic.replication_factor);
    let name = topic.name;
    let topic_config = match TopicConfig::new(config, topic.overrides.clone()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.0, "bad configs for {name}");
            return;
        }
    };
    let pairs: Vec<(&str, &str)> = topic
        .overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let created = node.controller.with(|c| {
        let id = c.create_topic(name, topic.partitions, replication_factor, &pairs)?;
        // Under the controller's lock: no broker sees the topic before its configs.
        node.topic_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), topic_config);
        Ok::<_, crate::controller::ApiError>(id)
    });
    match created {
        Ok(id) => tracing::info!(topic_id = %id, "created {name}"),
        Err(e) => tracing::debug!(code = e.code, message = %e.message, "{name} not created"),
    }
}

/// A configured replication factor, capped at 1 in a cluster of one broker (the factor
/// Kafka's single-node configuration sets): a lone broker serves its coordinators with the
/// default configs. A cluster of several brokers takes the factor as it is, and with fewer
/// brokers than that has no coordinator, as Kafka does.
pub fn replication_factor(node: &Node, factor: i16) -> i16 {
    let brokers = node.state().image.brokers().count();
    if brokers == 1 { factor.min(1) } else { factor }
}

/// Why a key has no coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCoordinator {
    /// The internal topic does not exist (yet).
    Topic,
    /// The key's partition has no live leader.
    Leader,
}

/// The coordinator of `key` (a group or transactional id): the live leader of its
/// partition of the internal `topic` (`abs(hashCode(key)) % partitions`).
pub fn coordinator_for(
    image: &MetadataImage,
    topic: &str,
    key: &str,
) -> Result<i32, NoCoordinator> {
    let topic = image.topic_by_name(topic).ok_or(NoCoordinator::Topic)?;
    let partition = crate::group::partition_for(key, topic.partitions.len() as i32);
    topic
        .partitions
        .get(partition as usize)
        .filter(|p| p.has_leader())
        .map(|p| p.leader)
        .filter(|leader| image.alive_broker_epoch(*leader).is_some())
        .ok_or(NoCoordinator::Leader)
}

/// Records appended as leader, waiting for the high watermark.
#[derive(Debug, Clone)]
pub struct Written {
    pub partition: i32,
    pub key: (Uuid, i32),
    pub leader_epoch: i32,
    /// The high watermark that commits them: the last offset + 1.
    pub required_offset: i64,
}

/// One record to append: its partition, key and value (`None`: a tombstone).
pub type KeyValue = (i32, Bytes, Option<Bytes>);

/// One uncompressed batch per partition, records in order.
pub fn batches(
    records: impl IntoIterator<Item = KeyValue>,
    now_ms: i64,
) -> BTreeMap<i32, BytesMut> {
    encode_each(records, now_ms, |batch| {
        encode_producer_batch(batch, Compression::None)
    })
}

/// [`batches`] as transactional batches of one producer (base sequence -1), as a
/// coordinator writes a transaction's records (TxnOffsetCommit's offsets).
pub fn transactional_batches(
    records: impl IntoIterator<Item = KeyValue>,
    producer_id: i64,
    producer_epoch: i16,
    now_ms: i64,
) -> BTreeMap<i32, BytesMut> {
    encode_each(records, now_ms, |batch| {
        encode_transactional_batch(batch, Compression::None, producer_id, producer_epoch)
    })
}

/// The records grouped by partition, in order, each group encoded as one batch.
fn encode_each(
    records: impl IntoIterator<Item = KeyValue>,
    now_ms: i64,
    encode: impl Fn(&[NewRecord]) -> anyhow::Result<BytesMut>,
) -> BTreeMap<i32, BytesMut> {
    let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
    for (partition, key, value) in records {
        by_partition.entry(partition).or_default().push(NewRecord {
            key: Some(key),
            value,
            timestamp: now_ms,
        });
    }
    by_partition
        .into_iter()
        .filter_map(|(partition, batch)| match encode(&batch) {
            Ok(bytes) => Some((partition, bytes)),
            Err(e) => {
                tracing::error!(partition, error = %e, "cannot encode coordinator records");
                None
            }
        })
        .collect()
}

/// Appends one batch per partition of `topic` as leader with `required_acks` (the caller
/// then waits for the high watermark with [`all_committed`]). Returns what was written and
/// the partitions whose leader refused, with the error.
pub fn append_replicated(
    node: &Node,
    topic: &str,
    batches: BTreeMap<i32, BytesMut>,
    required_acks: i16,
    timeout_ms: i64,
    now_ms: i64,
) -> (Vec<Written>, Vec<(i32, i16)>) {
    let origin = AppendOrigin::Client;
    append_with_origin(
        node,
        topic,
        batches,
        required_acks,
        timeout_ms,
        now_ms,
        origin,
    )
}

/// [`append_replicated`] as `origin`: the coordinator's origin for batches of a producer
/// that carry no sequence (transactional offsets, markers), see [`AppendOrigin`].
pub fn append_with_origin(
    node: &Node,
    topic: &str,
    batches: BTreeMap<i32, BytesMut>,
    required_acks: i16,
    timeout_ms: i64,
    now_ms: i64,
    origin: AppendOrigin,
) -> (Vec<Written>, Vec<(i32, i16)>) {
    let (mut written, mut refused) = (Vec::new(), Vec::new());
    if batches.is_empty() {
        return (written, refused);
    }
    let mut alters = Vec::new();
    {
        let mut guard = node.state();
        let state = &mut *guard;
        let Some(topic_id) = state.image.topic_id(topic) else {
            // Not loaded without the topic: the coordinator cannot have written.
            tracing::error!("coordinator records without {topic}");
            let gone = ResponseError::UnknownTopicOrPartition.code();
            return (written, batches.into_keys().map(|p| (p, gone)).collect());
        };
        for (partition, mut bytes) in batches {
            let key = (topic_id, partition);
            let Some(replica) = state.partitions.get_mut(&key) else {
                refused.push((partition, ResponseError::NotLeaderOrFollower.code()));
                continue;
            };
            let token = node.next_token();
            let appended = replica.append_with_origin(
                &mut bytes,
                required_acks,
                token,
                timeout_ms,
                &state.image,
                now_ms,
                origin,
            );
            match appended {
                Err(code) => refused.push((partition, code)),
                Ok((info, effects)) => {
                    written.push(Written {
                        partition,
                        key,
                        leader_epoch: replica.leader_epoch(),
                        required_offset: info.last_offset + 1,
                    });
                    alters.extend(node.route(state, effects));
                }
            }
        }
    }
    if !written.is_empty() {
        // Followers parked on this leader read the new records now, not after
        // `replica.fetch.wait.max.ms`: the write is answered once they have them.
        node.notify_progress();
    }
    node.send_alters(alters);
    (written, refused)
}

/// Waits until every write is committed (see [`committed`]), within `timeout_ms`.
pub async fn all_committed(node: &Node, written: &[Written], timeout_ms: i64) -> Result<(), i16> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    for w in written {
        committed(node, w, deadline).await?;
    }
    Ok(())
}

/// Waits until the high watermark passes `written` while this broker still leads its
/// partition at the same epoch; else the coordinator error for the failure.
pub async fn committed(node: &Node, written: &Written, deadline: Instant) -> Result<(), i16> {
    let mut progress = node.progress.subscribe();
    loop {
        progress.borrow_and_update();
        {
            let state = node.state();
            match state.partitions.get(&written.key) {
                Some(p) if p.is_leader() && p.leader_epoch() == written.leader_epoch => {
                    if p.high_watermark() >= written.required_offset {
                        return Ok(());
                    }
                }
                _ => return Err(map_write_error(ResponseError::NotLeaderOrFollower.code())),
            }
        }
        if Instant::now() >= deadline {
            return Err(map_write_error(ResponseError::RequestTimedOut.code()));
        }
        tokio::select! {
            _ = progress.changed() => {}
            _ = tokio::time::sleep(COMMIT_POLL) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Kafka's `CoordinatorOperationExceptionHelper.handleOperationException` for write errors
/// (the transaction coordinator's `appendTransactionToLog` maps them the same way).
pub fn map_write_error(code: i16) -> i16 {
    match ResponseError::try_from_code(code) {
        Some(
            ResponseError::UnknownTopicOrPartition
            | ResponseError::NotEnoughReplicas
            | ResponseError::NotEnoughReplicasAfterAppend
            | ResponseError::RequestTimedOut,
        ) => ResponseError::CoordinatorNotAvailable.code(),
        Some(ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError) => {
            ResponseError::NotCoordinator.code()
        }
        Some(
            ResponseError::MessageTooLarge
            | ResponseError::RecordListTooLarge
            | ResponseError::InvalidFetchSize,
        ) => ResponseError::UnknownServerError.code(),
        _ => code,
    }
}

/// The leader epoch at which `node` leads `partition` of `topic`, if it does.
pub fn led_epoch(node: &Node, topic: &str, partition: i32) -> Option<i32> {
    let state = node.state();
    let topic_id = state.image.topic_id(topic)?;
    state
        .partitions
        .get(&(topic_id, partition))
        .filter(|p| p.is_leader())
        .map(|p| p.leader_epoch())
}

/// One record read back from a coordinator log.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub offset: i64,
    pub key: Bytes,
    pub value: Option<Bytes>,
    /// Its batch's producer (-1 for a coordinator's own non-transactional records).
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transactional: bool,
    /// A control record (a transaction marker): its key is the marker's.
    pub control: bool,
}

/// The keyed records of this broker's replica of one partition of `topic`, in order.
pub fn partition_records(node: &Node, topic: &str, partition: i32) -> Vec<StoredRecord> {
    let state = node.state();
    let replica = state
        .image
        .topic_id(topic)
        .and_then(|id| state.partitions.get(&(id, partition)));
    match replica {
        Some(r) => read_records(r.log(), topic, partition),
        None => Vec::new(),
    }
}

/// Every keyed record of one partition's log, in order (records without a key skipped),
/// control records included: a coordinator with transactional records needs them.
fn read_records(log: &Log, topic: &str, partition: i32) -> Vec<StoredRecord> {
    let mut records = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let Ok(mut bytes) = log.read(offset, REPLAY_READ_BYTES, true) else {
            break;
        };
        if bytes.is_empty() {
            break;
        }
        let sets = match RecordBatchDecoder::decode_all(&mut bytes) {
            Ok(sets) => sets,
            Err(e) => {
                tracing::error!(topic, partition, offset, error = %e, "unreadable coordinator log; stopping its replay");
                break;
            }
        };
        let before = offset;
        // A read starts at the batch holding `offset`: skip records already replayed.
        for record in sets
            .iter()
            .flat_map(|s| s.records.iter())
            .filter(|r| r.offset >= before)
        {
            offset = record.offset + 1;
            let Some(key) = &record.key else { continue };
            records.push(StoredRecord {
                offset: record.offset,
                key: key.clone(),
                value: record.value.clone(),
                producer_id: record.producer_id,
                producer_epoch: record.producer_epoch,
                transactional: record.transactional,
                control: record.control,
            });
        }
        if offset == before {
            break;
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_errors_map_as_kafkas_coordinator() {
        let map = |e: ResponseError| map_write_error(e.code());
        let not_available = ResponseError::CoordinatorNotAvailable.code();
        let not_coordinator = ResponseError::NotCoordinator.code();
        assert_eq!(map(ResponseError::NotEnoughReplicas), not_available);
        assert_eq!(
            map(ResponseError::NotEnoughReplicasAfterAppend),
            not_available
        );
        assert_eq!(map(ResponseError::RequestTimedOut), not_available);
        assert_eq!(map(ResponseError::UnknownTopicOrPartition), not_available);
        assert_eq!(map(ResponseError::NotLeaderOrFollower), not_coordinator);
        assert_eq!(map(ResponseError::KafkaStorageError), not_coordinator);
        assert_eq!(
            map(ResponseError::RecordListTooLarge),
            ResponseError::UnknownServerError.code()
        );
        assert_eq!(
            map(ResponseError::NotCoordinator),
            ResponseError::NotCoordinator.code()
        );
    }

    #[test]
    fn both_coordinator_topics_are_internal() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(!is_internal("payments"));
    }

    #[test]
    fn batches_group_records_by_partition_in_order() {
        let kv = |p: i32, k: &'static str| (p, Bytes::from_static(k.as_bytes()), None);
        let out = batches([kv(2, "a"), kv(1, "b"), kv(2, "c")], 7);
        assert_eq!(out.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        let mut two = out[&2].clone().freeze();
        let sets = RecordBatchDecoder::decode_all(&mut two).unwrap();
        let keys: Vec<_> = sets[0]
            .records
            .iter()
            .map(|r| r.key.clone().unwrap())
            .collect();
        assert_eq!(
            keys,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"c")]
        );
    }
}
