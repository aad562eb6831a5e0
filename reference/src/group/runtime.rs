//! Runs the synchronous group coordinator ([`crate::group`]) for the wire layer, as Kafka's
//! `GroupCoordinatorService` runs its coordinators on the `CoordinatorRuntime`: parks
//! JoinGroup and SyncGroup requests under tokens, makes the coordinator's records durable in
//! the internal `__consumer_offsets` topic before anyone hears of them, and drives its timers.
//! This is the asynchronous side of the group module; everything else in it is synchronous.
//!
//! Durability the way Kafka does it: every group record goes, in Kafka's own key/value
//! schemas, to partition `abs(hashCode(group.id)) % offsets.topic.num.partitions` of
//! `__consumer_offsets`. The topic is internal (clients cannot produce to it) and, as the
//! reference does not compact, keeps its records forever (`retention.ms=-1`).
//!
//! The same code serves a cluster of one broker and of many. `__consumer_offsets` is a
//! replicated topic like any other, created through the controller
//! by the first FindCoordinator (`offsets.topic.num.partitions`,
//! `offsets.topic.replication.factor`; with fewer brokers than that the controller refuses
//! and FindCoordinator keeps answering COORDINATOR_NOT_AVAILABLE, as Kafka 4 does, except in
//! a cluster of one broker, where the factor is capped at 1: what Kafka's single-node
//! configuration sets, so that groups work on `kafka-spec serve` with the default configs). The
//! coordinator of a group is the leader of the group's partition, and each broker's
//! coordinator serves only the partitions it leads ([`GroupCoordinator::partitioned`]): the
//! broker tells this service whenever it starts or stops leading one
//! ([`OffsetsLeadership`], sent from the replica state changes), and the service loads the
//! partition's groups by replaying its log (requests meanwhile get
//! COORDINATOR_LOAD_IN_PROGRESS) or unloads them (parked requests get NOT_COORDINATOR).
//!
//! A write is appended to the partition as its leader, wakes the followers' parked fetches
//! (as a produce does) and is answered only once the high watermark passed it, i.e. once every in-sync replica has it — Kafka's coordinator runtime
//! appends with acks=1 and defers the response until the high watermark moves, within
//! `offsets.commit.timeout.ms`. So a committed offset that was acknowledged survives the
//! loss of its coordinator: the next leader of the partition replays it. Failures are
//! mapped as `CoordinatorOperationExceptionHelper` does: lost leadership
//! (NOT_LEADER_OR_FOLLOWER) and storage errors are NOT_COORDINATOR, a timeout or too few
//! replicas COORDINATOR_NOT_AVAILABLE; the JoinGroup / SyncGroup requests the write would
//! have answered get the same error. As in Kafka, a write that timed out stays in the
//! coordinator's memory and in the log (it may still commit); a write the log refused is
//! undone by reloading the partition from its log.
//!
//! A TxnOffsetCommit's offsets go to the partition as one transactional batch of the
//! producer (base sequence -1, appended with `AppendOrigin::Coordinator`), and stay pending
//! until [`GroupRuntime::complete_transaction`] appends the transaction's end marker there
//! (WriteTxnMarkers); a load replays both, so pending offsets survive a move of the
//! coordinator, and committed ones too.
//!
//! Every broker also drops, from the groups it coordinates, the committed offsets of topics
//! that left its metadata image (a DeleteTopics through any broker), as Kafka's metadata
//! publisher tells every coordinator of deleted partitions.
//!
//! Unlike Kafka's runtime, reads (OffsetFetch, DescribeGroups, ListGroups) and writes
//! without records see the coordinator's latest state, not the last committed one: an
//! OffsetFetch racing an OffsetCommit may see the offset before the commit is answered.
//!
//! The log side (creating the topic, appending as leader, waiting for the high watermark,
//! error mapping, reading a partition back) is [`crate::coordinator_log`], shared with the
//! transaction coordinator's runtime.
//!
//! Lock order: the coordinator, then the node's state (or the controller, for an
//! AlterPartition an append causes); none is held across an `.await`.
//! The node tells of leadership over a channel, never by taking the coordinator's lock.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.GroupCoordinatorService` (`topicPartitionFor`,
//!   `onElection`, `onResignation`), `CoordinatorRuntime` (deferred writes, loading),
//!   `CoordinatorOperationExceptionHelper` (error mapping)
//! - `kafka.coordinator.group.GroupMetadataManager` (loading `__consumer_offsets`)
//! - `kafka.server.KafkaApis.getCoordinator`, `AutoTopicCreationManager`

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::api::now_ms;
use crate::cluster::Node;
use crate::config::BrokerConfig;
use crate::coordinator_log::{
    self, InternalTopic, Leadership, Written, committed, map_write_error,
};
use crate::group::{
    Completion, Effects, GroupCoordinator, GroupRecord, LoggedRecord, RequestToken, ShardState,
};
use crate::log::AppendOrigin;
use crate::record_batch::{ControlType, encode_control_batch};
use crate::server::Shared;
use crate::shutdown::Shutdown;

use super::{OFFSETS_TOPIC, partition_for};

/// `offsets.topic.segment.bytes` default.
const OFFSETS_SEGMENT_BYTES: &str = "104857600";

/// How often a broker looks for topics deleted from its metadata image.
const TOPIC_CHECK: Duration = Duration::from_millis(200);

/// Partition existence as the coordinator checks it (OffsetCommit, OffsetDelete).
pub type PartitionExists<'a> = &'a dyn Fn(&str, i32) -> bool;

/// This broker started or stopped leading a partition of `__consumer_offsets` (sent by the
/// cluster node whenever it applies that partition's metadata).
pub type OffsetsLeadership = Leadership;

/// The coordinator and the requests parked on it.
pub struct GroupRuntime {
    coordinator: Mutex<GroupCoordinator>,
    parked: Mutex<HashMap<RequestToken, oneshot::Sender<Completion>>>,
    next_token: AtomicU64,
    /// Woken after every call, so the timer re-reads the coordinator's next deadline.
    timer: Notify,
    /// The broker: its replicas of `__consumer_offsets`.
    node: Arc<Node>,
    /// News of the node's leadership of `__consumer_offsets` partitions, for the timer loop.
    leadership: Mutex<Option<mpsc::UnboundedReceiver<OffsetsLeadership>>>,
}

/// How a call's records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// The coordinator's own batches (no producer).
    Plain,
    /// A TxnOffsetCommit's offsets: a transactional batch of the producer, base sequence -1,
    /// appended with [`AppendOrigin::Coordinator`].
    Transactional {
        producer_id: i64,
        producer_epoch: i16,
    },
}

/// A call's effects on their way out: its completions wait for its writes.
struct Pending {
    written: Vec<Written>,
    /// The error of a write the leader refused outright.
    refused: Option<i16>,
    completions: Vec<(RequestToken, Completion)>,
}

impl GroupRuntime {
    /// The coordinator of broker `node`: it serves the groups of the `__consumer_offsets`
    /// partitions the node leads, once loaded.
    pub fn new(config: &BrokerConfig, node: Arc<Node>, now_ms: i64) -> GroupRuntime {
        let coordinator = GroupCoordinator::partitioned(
            config.group.clone(),
            config.offsets_topic_num_partitions,
            now_ms,
        );
        let leadership = node.watch_offsets_leadership();
        GroupRuntime {
            coordinator: Mutex::new(coordinator),
            parked: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            timer: Notify::new(),
            node,
            leadership: Mutex::new(Some(leadership)),
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

    /// Runs `call` on the coordinator (with a check that a topic-partition exists), makes
    /// the records it emits durable, then delivers the completions and returns the call's
    /// own answer. Durable means committed: if the write fails, the answer is
    /// `failed(answer, error_code)` and the completions carry the error.
    pub async fn write<R>(
        &self,
        call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> (R, Effects),
        failed: impl FnOnce(R, i16) -> R,
    ) -> R {
        let (answer, pending) = self.apply(call);
        match self.settle(pending).await {
            Ok(()) => answer,
            Err(code) => failed(answer, code),
        }
    }

    /// [`GroupRuntime::write`] for a TxnOffsetCommit: the call's records are written as one
    /// transactional batch of `producer_id` / `producer_epoch` (Kafka's
    /// `scheduleTransactionalWriteOperation`), pending until the transaction's marker.
    pub async fn write_transactional<R>(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> (R, Effects),
        failed: impl FnOnce(R, i16) -> R,
    ) -> R {
        let framing = Framing::Transactional {
            producer_id,
            producer_epoch,
        };
        let (answer, pending) = self.apply_framed(call, framing);
        match self.settle(pending).await {
            Ok(()) => answer,
            Err(code) => failed(answer, code),
        }
    }

    /// Ends the transaction of `producer_id` in `partition` of `__consumer_offsets` (what
    /// WriteTxnMarkers asks of the group coordinator, Kafka's `completeTransaction`): appends
    /// the end marker there with [`AppendOrigin::Coordinator`], then commits (or drops) the
    /// producer's pending offsets of that partition's groups, and answers once the marker is
    /// committed. Errors are the coordinator's: NOT_COORDINATOR when this broker does not
    /// serve the partition, COORDINATOR_LOAD_IN_PROGRESS while it loads, the log's refusal
    /// mapped as for any write (e.g. a stale producer epoch). KafkaApis turns
    /// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS into
    /// NOT_LEADER_OR_FOLLOWER for the transaction coordinator: the handler's part.
    pub async fn complete_transaction(
        &self,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> i16 {
        let now = now_ms();
        let written = {
            let mut coordinator = self.coordinator();
            match coordinator.shard_state(partition) {
                Some(ShardState::Active) if coordinator.is_active() => {}
                Some(ShardState::Loading) => {
                    return ResponseError::CoordinatorLoadInProgress.code();
                }
                _ => return ResponseError::NotCoordinator.code(),
            }
            let control = ControlType::from_commit(commit);
            let marker =
                encode_control_batch(producer_id, producer_epoch, coordinator_epoch, control, now);
            let timeout_ms = coordinator.config().offsets_commit_timeout_ms;
            let (written, refused) = coordinator_log::append_with_origin(
                &self.node,
                OFFSETS_TOPIC,
                BTreeMap::from([(partition, marker)]),
                1,
                timeout_ms,
                now,
                AppendOrigin::Coordinator,
            );
            if let Some((_, code)) = refused.first() {
                return map_write_error(*code);
            }
            coordinator.replay_end_transaction_marker(partition, producer_id, commit);
            written
        };
        self.timer.notify_one();
        let pending = Pending {
            written,
            refused: None,
            completions: Vec::new(),
        };
        match self.settle(pending).await {
            Ok(()) => 0,
            Err(code) => code,
        }
    }

    /// [`GroupRuntime::write`] without waiting: the completions go out once the records
    /// are appended (for callers that cannot wait, e.g. DeleteTopics dropping offsets).
    pub fn run<R>(
        &self,
        call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> (R, Effects),
    ) -> R {
        let (answer, pending) = self.apply(call);
        let completions = match pending.refused {
            None => pending.completions,
            Some(code) => pending
                .completions
                .into_iter()
                .map(|(token, completion)| (token, completion.failed(code)))
                .collect(),
        };
        self.deliver(completions);
        answer
    }

    /// The synchronous half of [`GroupRuntime::write`]: runs the call and appends.
    fn apply<R>(
        &self,
        call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> (R, Effects),
    ) -> (R, Pending) {
        self.apply_framed(call, Framing::Plain)
    }

    /// [`GroupRuntime::apply`] with the records written as `framing` says.
    fn apply_framed<R>(
        &self,
        call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> (R, Effects),
        framing: Framing,
    ) -> (R, Pending) {
        let now = now_ms();
        let node = &self.node;
        let mut coordinator = self.coordinator();
        let exists = |topic: &str, partition: i32| {
            let state = node.state();
            state
                .image
                .topic_by_name(topic)
                .is_some_and(|t| usize::try_from(partition).is_ok_and(|p| p < t.partitions.len()))
        };
        let (answer, effects) = call(&mut coordinator, &exists, now);
        let timeout_ms = coordinator.config().offsets_commit_timeout_ms;
        let (written, refused) =
            append_replicated(node, &effects.records, framing, timeout_ms, now);
        let mut error = None;
        for (partition, code) in refused {
            error = Some(map_write_error(code));
            // The coordinator already applied what the log refused: start over from the
            // log, if this broker still leads the partition.
            let fx = coordinator.unload_partition(partition, None, now);
            self.deliver(fx.completions);
            if let Some(epoch) = led_epoch(node, partition) {
                let fx = load_partition(&mut coordinator, node, partition, epoch);
                self.deliver(fx.completions);
            }
        }
        drop(coordinator);
        self.timer.notify_one();
        let pending = Pending {
            written,
            refused: error,
            completions: effects.completions,
        };
        (answer, pending)
    }

    /// Waits until the pending writes are committed, then delivers the completions (with
    /// the write's error if it failed).
    async fn settle(&self, pending: Pending) -> Result<(), i16> {
        let mut outcome = pending.refused.map_or(Ok(()), Err);
        if outcome.is_ok() {
            let timeout_ms = self.coordinator().config().offsets_commit_timeout_ms;
            let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
            for written in &pending.written {
                if let Err(code) = committed(&self.node, written, deadline).await {
                    tracing::debug!(
                        partition = written.partition,
                        code,
                        "group write not committed"
                    );
                    outcome = Err(code);
                    break;
                }
            }
        }
        let completions = match outcome {
            Ok(()) => pending.completions,
            Err(code) => pending
                .completions
                .into_iter()
                .map(|(token, completion)| (token, completion.failed(code)))
                .collect(),
        };
        self.deliver(completions);
        outcome
    }

    /// Reads the coordinator without changing it.
    pub fn read<R>(&self, call: impl FnOnce(&GroupCoordinator) -> R) -> R {
        call(&self.coordinator())
    }

    fn deliver(&self, completions: Vec<(RequestToken, Completion)>) {
        if completions.is_empty() {
            return;
        }
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
    pub fn unload(&self) {
        let effects = self.coordinator().unload(now_ms());
        self.deliver(effects.completions);
        self.timer.notify_one();
    }

    /// Loads or unloads one partition's groups as this broker's leadership of it changed.
    fn on_leadership(&self, change: OffsetsLeadership) {
        tracing::debug!(
            ?change,
            "group coordinator follows __consumer_offsets leadership"
        );
        let (partition, epoch) = (change.partition, change.leader_epoch);
        let effects = if change.is_leader {
            {
                let mut coordinator = self.coordinator();
                coordinator.set_partition_count(change.partitions);
                if !coordinator.begin_load(partition, epoch) {
                    return;
                }
            }
            // Read without the coordinator's lock: meanwhile the partition's groups answer
            // COORDINATOR_LOAD_IN_PROGRESS and the others are served as usual.
            let records = partition_records(&self.node, partition);
            finish_load(&mut self.coordinator(), partition, epoch, &records)
        } else {
            self.coordinator()
                .unload_partition(partition, Some(epoch), now_ms())
        };
        // A load writes nothing (an oversized group's rebalance only parks); an unload
        // answers the parked requests of its groups.
        self.deliver(effects.completions);
        self.timer.notify_one();
    }
}

/// Calls `tick` whenever the coordinator's next deadline passes, follows this broker's
/// leadership of `__consumer_offsets`, and drops the offsets of deleted topics, until
/// shutdown.
pub async fn timer_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let groups = &shared.groups;
    let mut leadership = groups
        .leadership
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let mut topic_check = tokio::time::interval(TOPIC_CHECK);
    topic_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = groups.coordinator().next_deadline_ms();
        let wait_ms = deadline.map_or(60_000, |d| (d - now_ms()).clamp(0, 60_000));
        let change = async {
            match leadership.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => Wake::Deadline,
            change = change => Wake::Leadership(change),
            _ = topic_check.tick() => Wake::TopicCheck,
            _ = groups.timer.notified() => continue,
            _ = shutdown.recv() => return,
        };
        // A paused broker (a cluster test's SIGSTOP) runs no timer and writes nothing: what
        // woke the loop is handled once it runs again, at the time it then is (so sessions
        // that ran out meanwhile expire then, as in a process that was stopped).
        if !shared.wait_unpaused(&mut shutdown).await {
            return;
        }
        match wake {
            Wake::Deadline => spawn_write(groups, |c, _, now| ((), c.tick(now))),
            Wake::Leadership(Some(change)) => groups.on_leadership(change),
            Wake::Leadership(None) => leadership = None,
            Wake::TopicCheck => {
                // A topic deleted through any broker leaves every broker's image; the offsets
                // of a topic missing here can only be those of a deleted one (a commit is
                // refused for a topic this broker does not know).
                let topics = topic_names(&groups.node);
                let exists = |topic: &str| topics.contains(topic);
                spawn_write(groups, |c, _, _| ((), c.on_topics_missing(&exists)));
            }
        }
    }
}

/// What woke [`timer_loop`].
enum Wake {
    /// The coordinator's next deadline passed.
    Deadline,
    /// A change of this broker's leadership of `__consumer_offsets` (`None`: no more).
    Leadership(Option<OffsetsLeadership>),
    /// Time to look for deleted topics.
    TopicCheck,
}

/// Applies a call now and lets its writes wait for their replicas in a task of their own.
fn spawn_write(
    groups: &Arc<GroupRuntime>,
    call: impl FnOnce(&mut GroupCoordinator, PartitionExists<'_>, i64) -> ((), Effects),
) {
    let (_, pending) = groups.apply(call);
    let groups = groups.clone();
    tokio::spawn(async move {
        let _ = groups.settle(pending).await;
    });
}

/// The names of the topics in the node's metadata image. Kafka's `BrokerMetadataPublisher`
/// tells every broker's coordinator of deleted partitions (`onPartitionsDeleted`); here each
/// broker compares its groups' offsets with its image.
fn topic_names(node: &Node) -> std::collections::BTreeSet<String> {
    node.state()
        .image
        .topics()
        .map(|t| t.name.clone())
        .collect()
}

/// Asks the controller for `__consumer_offsets` as Kafka's `AutoTopicCreationManager` does,
/// with the broker's `offsets.topic.*` configs ([`coordinator_log::create_internal_topic`]).
pub fn create_offsets_topic(node: &Node, config: &BrokerConfig) {
    let topic = InternalTopic {
        name: OFFSETS_TOPIC,
        partitions: config.offsets_topic_num_partitions,
        replication_factor: config.group.offsets_topic_replication_factor,
        overrides: offsets_topic_overrides(),
    };
    coordinator_log::create_internal_topic(node, config, &topic);
}

fn offsets_topic_overrides() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("retention.ms".to_string(), "-1".to_string()),
        (
            "segment.bytes".to_string(),
            OFFSETS_SEGMENT_BYTES.to_string(),
        ),
    ])
}

/// The `__consumer_offsets` partition a group record belongs to.
fn record_group(record: &GroupRecord) -> &str {
    match record {
        GroupRecord::OffsetCommit { group_id, .. }
        | GroupRecord::GroupMetadata { group_id, .. } => group_id,
    }
}

/// Appends group records to their partitions of `__consumer_offsets` as leader (acks=1, as
/// Kafka's coordinator does; the caller then waits for the high watermark): the
/// coordinator's own batches as a client's, a TxnOffsetCommit's as one transactional batch
/// of its producer with the coordinator's origin (base sequence -1).
fn append_replicated(
    node: &Node,
    records: &[GroupRecord],
    framing: Framing,
    timeout_ms: i64,
    now_ms: i64,
) -> (Vec<Written>, Vec<(i32, i16)>) {
    if records.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let Some(partitions) = node
        .state()
        .image
        .topic_by_name(OFFSETS_TOPIC)
        .map(|t| t.partitions.len() as i32)
    else {
        // Not loaded without the topic: the coordinator cannot have written.
        tracing::error!("group records without {OFFSETS_TOPIC}");
        return (Vec::new(), Vec::new());
    };
    let keyed = records.iter().map(|r| {
        let partition = partition_for(record_group(r), partitions);
        (partition, r.key(), r.value())
    });
    let (batches, origin) = match framing {
        Framing::Plain => (
            coordinator_log::batches(keyed, now_ms),
            AppendOrigin::Client,
        ),
        Framing::Transactional {
            producer_id,
            producer_epoch,
        } => (
            coordinator_log::transactional_batches(keyed, producer_id, producer_epoch, now_ms),
            AppendOrigin::Coordinator,
        ),
    };
    coordinator_log::append_with_origin(node, OFFSETS_TOPIC, batches, 1, timeout_ms, now_ms, origin)
}

/// The leader epoch at which `node` leads `partition` of `__consumer_offsets`, if it does.
fn led_epoch(node: &Node, partition: i32) -> Option<i32> {
    coordinator_log::led_epoch(node, OFFSETS_TOPIC, partition)
}

/// Loads one partition led at `leader_epoch`: replays its log into the coordinator. Its
/// groups answer COORDINATOR_LOAD_IN_PROGRESS until the replay is done.
fn load_partition(
    coordinator: &mut GroupCoordinator,
    node: &Node,
    partition: i32,
    leader_epoch: i32,
) -> Effects {
    if !coordinator.begin_load(partition, leader_epoch) {
        return Effects::default();
    }
    let records = partition_records(node, partition);
    finish_load(coordinator, partition, leader_epoch, &records)
}

/// The group records of this broker's replica of one `__consumer_offsets` partition.
fn partition_records(node: &Node, partition: i32) -> Vec<LoggedRecord> {
    let mut records = Vec::new();
    for stored in coordinator_log::partition_records(node, OFFSETS_TOPIC, partition) {
        if stored.control {
            match end_marker(&stored.key) {
                Some(commit) => records.push(LoggedRecord::EndTransaction {
                    producer_id: stored.producer_id,
                    commit,
                }),
                None => {
                    tracing::warn!(partition, offset = stored.offset, "skipping control record")
                }
            }
            continue;
        }
        match GroupRecord::decode(&stored.key, stored.value.as_deref()) {
            Ok(decoded) => records.push(LoggedRecord::Group {
                producer_id: if stored.transactional {
                    stored.producer_id
                } else {
                    -1
                },
                record: decoded,
            }),
            Err(e) => {
                tracing::warn!(partition, offset = stored.offset, error = %e, "skipping group record")
            }
        }
    }
    records
}

/// Replays a loading partition's records and serves its groups from now on.
fn finish_load(
    coordinator: &mut GroupCoordinator,
    partition: i32,
    leader_epoch: i32,
    records: &[LoggedRecord],
) -> Effects {
    if coordinator.shard_state(partition) != Some(ShardState::Loading) {
        return Effects::default();
    }
    for record in records {
        coordinator.replay_logged(partition, record);
    }
    tracing::info!(
        partition,
        leader_epoch,
        records = records.len(),
        "loaded the groups of a {OFFSETS_TOPIC} partition"
    );
    coordinator.complete_load(partition, leader_epoch, now_ms())
}

/// A control record's key (`[version i16, type i16]`): true for COMMIT, false for ABORT,
/// `None` for any other control record.
fn end_marker(key: &[u8]) -> Option<bool> {
    let kind = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
    match ControlType::from_code(kind)? {
        ControlType::Commit => Some(true),
        ControlType::Abort => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_markers_are_read_from_the_control_key() {
        assert_eq!(end_marker(&[0, 0, 0, 1]), Some(true));
        assert_eq!(end_marker(&[0, 0, 0, 0]), Some(false));
        assert_eq!(end_marker(&[0, 0, 0, 7]), None);
        assert_eq!(end_marker(&[0, 0]), None);
    }
}
