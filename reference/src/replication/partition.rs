//! One broker's replica of one partition: its log, leader epoch cache and high watermark, and
//! the role the controller gave it.
//!
//! Role changes follow `Partition.makeLeader` / `makeFollower`: a state older than the partition
//! epoch already known is ignored; a new leader epoch on the leader notes the epoch's start
//! (the log end offset) in the leader epoch cache and resets what it knows of followers (a
//! new leader knows nothing of their logs; ISR members count as caught up now, others not);
//! the same epoch only refreshes the assignment and the ISR. A follower that sees a new leader
//! epoch starts over with truncation.
//!
//! # References
//! - Apache Kafka sources: `Partition.makeLeader`, `Partition.makeFollower`,
//!   `Partition.updateAssignmentAndIsr`, `Replica.resetReplicaState`, `PartitionState`
//!   (`CommittedPartitionState`, `PendingExpandIsr`, `PendingShrinkIsr`)

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{BrokerEpochs, Effects, ProduceResult, ReplicationConfig, RequestToken};
use crate::controller::{AlterPartition, NO_LEADER, PartitionRegistration};
use crate::log::{LeaderEpochCache, Log};

/// Kafka's `UnifiedLog.UnknownOffset`.
pub(super) const UNKNOWN_OFFSET: i64 = -1;

/// What the leader knows of one follower (`Replica.ReplicaState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// From its last fetch; -1 until it fetches from this leader.
    pub log_end_offset: i64,
    pub last_caught_up_time_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    pub last_fetch_leader_log_end_offset: i64,
    pub last_fetch_time_ms: i64,
    /// The broker epoch its fetches carry; `None` before the first.
    pub broker_epoch: Option<i64>,
    /// The follower's log start offset from its last fetch; -1 until it fetches from this
    /// leader (`Replica.ReplicaState.logStartOffset`).
    pub log_start_offset: i64,
}

impl FollowerProgress {
    fn new(now_ms: i64, in_sync: bool) -> FollowerProgress {
        FollowerProgress {
            log_end_offset: UNKNOWN_OFFSET,
            last_caught_up_time_ms: if in_sync { now_ms } else { 0 },
            last_fetch_leader_log_end_offset: UNKNOWN_OFFSET,
            last_fetch_time_ms: 0,
            broker_epoch: None,
            log_start_offset: UNKNOWN_OFFSET,
        }
    }

    /// At the leader's log end offset, or caught up within the allowed lag.
    pub fn is_caught_up(&self, leader_end_offset: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        leader_end_offset == self.log_end_offset
            || now_ms - self.last_caught_up_time_ms <= max_lag_ms
    }
}

/// The ISR as the leader sees it, with an AlterPartition possibly in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IsrState {
    Committed(Vec<i32>),
    PendingExpand {
        committed: Vec<i32>,
        new_member: i32,
        sent: AlterPartition,
    },
    PendingShrink {
        committed: Vec<i32>,
        sent: AlterPartition,
    },
}

impl IsrState {
    /// The ISR the controller has committed.
    pub(super) fn isr(&self) -> &[i32] {
        match self {
            IsrState::Committed(isr)
            | IsrState::PendingExpand { committed: isr, .. }
            | IsrState::PendingShrink { committed: isr, .. } => isr,
        }
    }

    /// The ISR for the high watermark and acks=all: an expansion counts at once, a shrink
    /// only once committed.
    pub(super) fn is_in_maximal_isr(&self, broker_id: i32) -> bool {
        self.isr().contains(&broker_id)
            || matches!(self, IsrState::PendingExpand { new_member, .. } if *new_member == broker_id)
    }

    pub(super) fn maximal_isr_len(&self) -> usize {
        self.isr().len() + usize::from(matches!(self, IsrState::PendingExpand { .. }))
    }

    pub(super) fn sent(&self) -> Option<&AlterPartition> {
        match self {
            IsrState::Committed(_) => None,
            IsrState::PendingExpand { sent, .. } | IsrState::PendingShrink { sent, .. } => {
                Some(sent)
            }
        }
    }
}

/// An acks=all produce waiting for the high watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingProduce {
    pub token: RequestToken,
    pub base_offset: i64,
    /// The high watermark that completes it: the batch's last offset + 1.
    pub required_offset: i64,
    pub deadline_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct LeaderState {
    /// The log end offset when this leader epoch began.
    pub epoch_start_offset: i64,
    pub isr: IsrState,
    pub followers: BTreeMap<i32, FollowerProgress>,
    pub pending: Vec<PendingProduce>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FollowerState {
    /// Truncation (OffsetForLeaderEpoch) comes before fetching.
    pub truncating: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Role {
    None,
    Leader(LeaderState),
    Follower(FollowerState),
}

/// One replica of one partition on one broker. See the [module docs](super).
#[derive(Debug)]
pub struct Partition {
    pub(super) topic_id: Uuid,
    pub(super) partition: i32,
    pub(super) local_broker_id: i32,
    pub(super) local_broker_epoch: i64,
    pub(super) config: ReplicationConfig,
    pub(super) log: Log,
    pub(super) epoch_cache: LeaderEpochCache,
    pub(super) high_watermark: i64,
    pub(super) replicas: Vec<i32>,
    pub(super) leader_id: i32,
    pub(super) leader_epoch: i32,
    pub(super) partition_epoch: i32,
    pub(super) role: Role,
}

impl Partition {
    /// A replica with no role yet, over a log and epoch cache that may hold data (a restart),
    /// with the high watermark from its checkpoint (kept within the log).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic_id: Uuid,
        partition: i32,
        local_broker_id: i32,
        local_broker_epoch: i64,
        config: ReplicationConfig,
        log: Log,
        mut epoch_cache: LeaderEpochCache,
        high_watermark: i64,
    ) -> Partition {
        epoch_cache.truncate_from_end(log.log_end_offset());
        let high_watermark = high_watermark
            .min(log.log_end_offset())
            .max(log.log_start_offset());
        let mut log = log;
        log.on_high_watermark_updated(high_watermark);
        Partition {
            topic_id,
            partition,
            local_broker_id,
            local_broker_epoch,
            config,
            log,
            epoch_cache,
            high_watermark,
            replicas: Vec::new(),
            leader_id: NO_LEADER,
            leader_epoch: -1,
            partition_epoch: -1,
            role: Role::None,
        }
    }

    /// The log, the epoch cache and the high watermark, to keep across a restart.
    pub fn into_parts(self) -> (Log, LeaderEpochCache, i64) {
        (self.log, self.epoch_cache, self.high_watermark)
    }

    pub fn set_config(&mut self, config: ReplicationConfig) {
        self.config = config;
    }

    /// Replaces the log's settings (a topic config change, retention included).
    pub fn set_log_config(&mut self, config: crate::log::LogConfig) {
        if *self.log.config() != config {
            self.log.set_config(config);
        }
    }

    /// Retention on this replica (`UnifiedLog.deleteOldSegments`): whole segments below the
    /// high watermark that the topic's retention no longer keeps are deleted, on the leader
    /// and on followers alike; the epoch cache follows the new log start offset. Returns how
    /// many segments went.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, crate::log::LogError> {
        let deleted = self
            .log
            .apply_retention_below(now_ms, self.high_watermark)?;
        if deleted > 0 {
            self.epoch_cache
                .truncate_from_start(self.log.log_start_offset());
        }
        Ok(deleted)
    }

    /// Flushes the log (its recovery point moves to the log end offset).
    /// Forgets producers idle for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.log.expire_producers(now_ms, expiration_ms)
    }

    pub fn flush(&mut self) -> Result<(), crate::log::LogError> {
        self.log.flush()
    }

    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    pub fn partition_index(&self) -> i32 {
        self.partition
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn epoch_cache(&self) -> &LeaderEpochCache {
        &self.epoch_cache
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    pub fn leader_id(&self) -> i32 {
        self.leader_id
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn is_follower(&self) -> bool {
        matches!(self.role, Role::Follower(_))
    }

    /// The committed ISR, on the leader.
    pub fn isr(&self) -> Option<&[i32]> {
        match &self.role {
            Role::Leader(leader) => Some(leader.isr.isr()),
            _ => None,
        }
    }

    /// What the leader knows of a follower.
    pub fn follower_progress(&self, broker_id: i32) -> Option<FollowerProgress> {
        match &self.role {
            Role::Leader(leader) => leader.followers.get(&broker_id).copied(),
            _ => None,
        }
    }

    /// The AlterPartition in flight, to resend when its answer was lost.
    pub fn pending_alter_partition(&self) -> Option<&AlterPartition> {
        match &self.role {
            Role::Leader(leader) => leader.isr.sent(),
            _ => None,
        }
    }

    /// Becomes (or stays) the leader at `registration` (`Partition.makeLeader`).
    pub fn make_leader(
        &mut self,
        registration: &PartitionRegistration,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> Effects {
        if registration.partition_epoch < self.partition_epoch {
            return Effects::default();
        }
        let is_new_leader_epoch = registration.leader_epoch > self.leader_epoch;
        let was_leader = self.is_leader();
        let mut leader = match std::mem::replace(&mut self.role, Role::None) {
            Role::Leader(leader) => leader,
            _ => LeaderState {
                epoch_start_offset: self.log.log_end_offset(),
                isr: IsrState::Committed(Vec::new()),
                followers: BTreeMap::new(),
                pending: Vec::new(),
            },
        };
        leader
            .followers
            .retain(|id, _| registration.replicas.contains(id));
        for &id in registration
            .replicas
            .iter()
            .filter(|&&id| id != self.local_broker_id)
        {
            leader
                .followers
                .entry(id)
                .or_insert_with(|| FollowerProgress::new(now_ms, false));
        }
        if is_new_leader_epoch {
            let start = self.log.log_end_offset();
            self.epoch_cache.assign(registration.leader_epoch, start);
            for (id, progress) in &mut leader.followers {
                let in_sync = registration.isr.contains(id);
                *progress = reset_progress(progress, now_ms, start, !was_leader, in_sync);
            }
            leader.epoch_start_offset = start;
            self.leader_epoch = registration.leader_epoch;
        }
        leader.isr = IsrState::Committed(registration.isr.clone());
        self.partition_epoch = registration.partition_epoch;
        self.replicas = registration.replicas.clone();
        self.leader_id = self.local_broker_id;
        self.role = Role::Leader(leader);
        self.after_progress(epochs, now_ms)
    }

    /// Becomes (or stays) a follower at `registration` (`Partition.makeFollower`). Parked
    /// produces of a former leader answer NOT_LEADER_OR_FOLLOWER.
    pub fn make_follower(&mut self, registration: &PartitionRegistration, now_ms: i64) -> Effects {
        if registration.partition_epoch < self.partition_epoch {
            return Effects::default();
        }
        let effects = self.fail_pending(ResponseError::NotLeaderOrFollower.code());
        let restart = registration.leader_epoch > self.leader_epoch
            || registration.leader != self.leader_id
            || !self.is_follower();
        self.leader_id = registration.leader;
        self.leader_epoch = registration.leader_epoch;
        self.partition_epoch = registration.partition_epoch;
        self.replicas = registration.replicas.clone();
        if restart {
            self.role = Role::Follower(FollowerState { truncating: true });
            if self.epoch_cache.latest_epoch().is_none() {
                // Kafka's fetcher truncates partitions without epochs to the high watermark.
                self.truncate(self.high_watermark, now_ms);
                self.role = Role::Follower(FollowerState { truncating: false });
            }
        }
        effects
    }

    /// This broker no longer holds a replica (or the topic is gone).
    pub fn stop(&mut self) -> Effects {
        let effects = self.fail_pending(ResponseError::NotLeaderOrFollower.code());
        self.role = Role::None;
        self.leader_id = NO_LEADER;
        effects
    }

    /// Answers every parked produce with `error_code`.
    fn fail_pending(&mut self, error_code: i16) -> Effects {
        let mut effects = Effects::default();
        if let Role::Leader(leader) = &mut self.role {
            for pending in leader.pending.drain(..) {
                let result = ProduceResult {
                    error_code,
                    base_offset: pending.base_offset,
                };
                effects.completions.push((pending.token, result));
            }
        }
        effects
    }

    /// Cuts the log (and the epoch cache, and the high watermark) back to `offset`.
    pub(super) fn truncate(&mut self, offset: i64, now_ms: i64) -> Option<i64> {
        match self.log.truncate_to(offset, now_ms) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => {
                tracing::error!(%error, partition = self.partition, "truncation failed");
                return None;
            }
        }
        let end = self.log.log_end_offset();
        self.epoch_cache.truncate_from_end(end);
        self.set_high_watermark(self.high_watermark.min(end));
        Some(end)
    }

    /// Moves the high watermark, and with it the last stable offset
    /// (`UnifiedLog.updateHighWatermark`, `ProducerStateManager.onHighWatermarkUpdated`).
    pub(super) fn set_high_watermark(&mut self, high_watermark: i64) {
        self.high_watermark = high_watermark;
        self.log.on_high_watermark_updated(high_watermark);
    }

    /// The last stable offset (KIP-98): below it every transaction has ended and its marker
    /// is replicated, so a `read_committed` consumer reads up to it. At most the high
    /// watermark; leader and followers alike.
    pub fn last_stable_offset(&self) -> i64 {
        self.log.last_stable_offset(self.high_watermark)
    }
}

/// `Replica.resetReplicaState` at a new leader epoch.
fn reset_progress(
    current: &FollowerProgress,
    now_ms: i64,
    leader_end_offset: i64,
    is_new_leader: bool,
    in_sync: bool,
) -> FollowerProgress {
    let last_caught_up_time_ms = if in_sync { now_ms } else { 0 };
    if is_new_leader {
        return FollowerProgress::new(now_ms, in_sync);
    }
    FollowerProgress {
        last_fetch_leader_log_end_offset: leader_end_offset,
        last_fetch_time_ms: last_caught_up_time_ms,
        last_caught_up_time_ms,
        ..*current
    }
}
