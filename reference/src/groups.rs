//! Runs the synchronous group coordinator ([`crate::group`]) for the wire layer: parks
//! JoinGroup and SyncGroup requests under tokens, makes the coordinator's records durable in
//! the internal `__consumer_offsets` log before anyone hears of them, and drives its timers.
//!
//! Durability the way Kafka does it: every group record goes, in Kafka's own key/value
//! schemas, to partition `abs(hashCode(group.id)) % offsets.topic.num.partitions` of
//! `__consumer_offsets`, and on start the whole log is replayed into a fresh coordinator. The
//! topic is created on first use, is internal (clients cannot produce to it), and — as the
//! reference does not compact — keeps its records forever (`retention.ms=-1`).
//!
//! Lock order: the coordinator, then the broker state; neither is held across an `.await`.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.GroupCoordinatorService` (`topicPartitionFor`)
//! - `kafka.coordinator.group.GroupMetadataManager` (loading `__consumer_offsets`)

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::records::{Compression, RecordBatchDecoder};
use tokio::sync::{Notify, oneshot};

use crate::api::now_ms;
use crate::broker::BrokerCore;
use crate::group::{Completion, Effects, GroupCoordinator, GroupRecord, RequestToken};
use crate::record_batch::{NewRecord, encode_producer_batch};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// Kafka's internal topic for committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// `offsets.topic.segment.bytes` default.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// How much of the offsets log one replay read takes.
const REPLAY_READ_BYTES: usize = 1024 * 1024;

/// The coordinator and the requests parked on it.
pub struct GroupService {
    coordinator: Mutex<GroupCoordinator>,
    parked: Mutex<HashMap<RequestToken, oneshot::Sender<Completion>>>,
    next_token: AtomicU64,
    /// Woken after every call, so the timer re-reads the coordinator's next deadline.
    timer: Notify,
}

impl GroupService {
    /// A coordinator rebuilt from the `__consumer_offsets` log found in `core`.
    pub fn load(core: &mut BrokerCore, now_ms: i64) -> GroupService {
        let mut coordinator = GroupCoordinator::new(core.config.group.clone(), now_ms);
        let replayed = replay(core, &mut coordinator);
        if replayed > 0 {
            tracing::info!(records = replayed, "replayed the group log");
        }
        let effects = coordinator.on_loaded(now_ms);
        append_records(core, &effects.records, now_ms);
        GroupService {
            coordinator: Mutex::new(coordinator),
            parked: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            timer: Notify::new(),
        }
    }

    fn coordinator(&self) -> MutexGuard<'_, GroupCoordinator> {
        self.coordinator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh token and the receiver its completion will arrive on.
    pub fn park(&self) -> (RequestToken, oneshot::Receiver<Completion>) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token, tx);
        (token, rx)
    }

    /// Runs `call` on the coordinator (with the broker state, to check partitions), appends
    /// the records it emits, then delivers the completions; returns the call's own answer.
    pub fn run<R>(
        &self,
        shared: &Shared,
        call: impl FnOnce(&mut GroupCoordinator, &BrokerCore, i64) -> (R, Effects),
    ) -> R {
        let now = now_ms();
        let (answer, completions) = {
            let mut coordinator = self.coordinator();
            let mut core = shared.core();
            let (answer, effects) = call(&mut coordinator, &core, now);
            append_records(&mut core, &effects.records, now);
            (answer, effects.completions)
        };
        self.deliver(completions);
        self.timer.notify_one();
        answer
    }

    /// Reads the coordinator without changing it.
    pub fn read<R>(&self, call: impl FnOnce(&GroupCoordinator) -> R) -> R {
        call(&self.coordinator())
    }

    fn deliver(&self, completions: Vec<(RequestToken, Completion)>) {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        for (token, completion) in completions {
            // A client that went away dropped its receiver; its answer is dropped too.
            if let Some(tx) = parked.remove(&token) {
                let _ = tx.send(completion);
            }
        }
    }

    /// Forgets a token whose request stopped waiting (shutdown, closed connection).
    pub fn forget(&self, token: RequestToken) {
        self.parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token);
    }

    /// Answers parked requests with NOT_COORDINATOR (broker shutdown).
    pub fn unload(&self, shared: &Shared) {
        self.run(shared, |c, _, now| ((), c.unload(now)));
    }
}

/// Calls `tick` whenever the coordinator's next deadline passes, until shutdown.
pub async fn timer_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let groups = &shared.groups;
    loop {
        let deadline = groups.coordinator().next_deadline_ms();
        let wait_ms = deadline.map_or(60_000, |d| (d - now_ms()).clamp(0, 60_000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {
                groups.run(&shared, |c, _, now| ((), c.tick(now)));
            }
            _ = groups.timer.notified() => {}
            _ = shutdown.recv() => return,
        }
    }
}

/// `__consumer_offsets` partition of a group: Kafka's `Utils.abs(groupId.hashCode()) % n`.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

/// Appends records to their partitions of `__consumer_offsets`, one batch per partition,
/// creating the topic on first use. A failure is logged: the coordinator has already moved on.
fn append_records(core: &mut BrokerCore, records: &[GroupRecord], now_ms: i64) {
    if records.is_empty() {
        return;
    }
    if core.topic(OFFSETS_TOPIC).is_none() {
        let overrides = BTreeMap::from([
            ("retention.ms".to_string(), "-1".to_string()),
            (
                "segment.bytes".to_string(),
                OFFSETS_SEGMENT_BYTES.to_string(),
            ),
        ]);
        let partitions = core.config.offsets_topic_num_partitions;
        if let Err(e) = core.create_topic(OFFSETS_TOPIC, partitions, 1, overrides, false, now_ms) {
            tracing::error!(code = e.code, message = %e.message, "cannot create {OFFSETS_TOPIC}");
            return;
        }
    }
    let partitions = core
        .topic(OFFSETS_TOPIC)
        .map_or(1, |t| t.partitions.len() as i32);
    let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
    for record in records {
        let group_id = match record {
            GroupRecord::OffsetCommit { group_id, .. }
            | GroupRecord::GroupMetadata { group_id, .. } => group_id,
        };
        let batch = by_partition
            .entry(partition_for(group_id, partitions))
            .or_default();
        batch.push(NewRecord {
            key: Some(record.key()),
            value: record.value(),
            timestamp: now_ms,
        });
    }
    for (partition, batch) in by_partition {
        let mut bytes = match encode_producer_batch(&batch, Compression::None) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode group records");
                continue;
            }
        };
        let appended = core
            .partition_mut(OFFSETS_TOPIC, partition)
            .map(|log| log.append(&mut bytes, now_ms));
        match appended {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(partition, error = %e, "cannot append group records"),
            Err(e) => {
                tracing::error!(partition, message = %e.message, "no partition for group records")
            }
        }
    }
}

/// Feeds every record of `__consumer_offsets` to the coordinator; returns how many.
fn replay(core: &BrokerCore, coordinator: &mut GroupCoordinator) -> usize {
    let Some(topic) = core.topic(OFFSETS_TOPIC) else {
        return 0;
    };
    let mut replayed = 0;
    for (partition, log) in topic.partitions.iter().enumerate() {
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
                    tracing::error!(partition, offset, error = %e, "unreadable group log; stopping its replay");
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
                match GroupRecord::decode(key, record.value.as_deref()) {
                    Ok(decoded) => {
                        coordinator.replay(&decoded);
                        replayed += 1;
                    }
                    Err(e) => {
                        tracing::warn!(partition, offset = record.offset, error = %e, "skipping group record")
                    }
                }
            }
            if offset == before {
                break;
            }
        }
    }
    replayed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_javas_string_hash_code() {
        // Computed with Java 17: abs(s.hashCode()) % 50.
        assert_eq!(partition_for("order_processing_group", 50), 8);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("a", 50), 47);
        assert_eq!(partition_for("zürich-group", 50), 10);
    }
}
