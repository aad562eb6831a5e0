//! The coordinator itself: every group and committed offset of the broker, the timers, and
//! loading from the group log.
//!
//! An unscoped coordinator ([`GroupCoordinator::new`]) serves every group: the synchronous
//! core's tests drive it so. A broker (of a cluster of any size, one included) coordinates only the groups of the `__consumer_offsets` partitions it leads
//! ([`GroupCoordinator::partitioned`]), as Kafka's coordinator runtime keeps one shard per
//! partition: [`GroupCoordinator::begin_load`] when it becomes leader (its groups answer
//! COORDINATOR_LOAD_IN_PROGRESS), [`GroupCoordinator::replay`] of that partition's records,
//! [`GroupCoordinator::complete_load`]; [`GroupCoordinator::unload_partition`] when it stops
//! leading (parked requests answer NOT_COORDINATOR and the groups leave memory). Groups of a
//! partition that is not loaded answer NOT_COORDINATOR. A load at a leader epoch no newer
//! than the one loaded only notes the epoch, and an unload older than the load is ignored,
//! as `CoordinatorRuntime.scheduleLoadOperation` / `scheduleUnloadOperation` do.
//!
//! The request handlers live beside this file (`join.rs`, `sync.rs`, `offsets.rs`,
//! `admin.rs`) as further `impl GroupCoordinator` blocks; here are construction, `replay`,
//! `tick` / `next_deadline_ms`, and read-only inspection for tests and tools.
//!
//! Timers are plain deadlines stored next to what they guard (a member's session, a group's
//! join or sync phase, the retention check); `tick` fires those that are due, earliest first.
//! Finding the earliest scans all groups: simple, and fine for a reference broker.
//!
//! # References
//! - `GroupCoordinatorShard` (`cleanupGroupMetadata`, `onLoaded`, `onUnloaded`)
//! - `CoordinatorRuntime` (`scheduleLoadOperation`, `scheduleUnloadOperation`,
//!   `withActiveContextOrThrow`)
//! - `GroupMetadataManager.replay(GroupMetadataKey, GroupMetadataValue)`,
//!   `OffsetMetadataManager.replay(OffsetCommitKey, OffsetCommitValue)`

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use uuid::Uuid;

use super::classic::{ClassicGroup, GroupState, JoinTimer};
use super::config::GroupConfig;
use super::consumer_group::ConsumerGroup;
use super::offsets::{OffsetAndMetadata, OffsetStore};
use super::record::GroupRecord;
use super::responses::join_error_code;
use super::txn_offsets::PendingTxnOffsets;
use super::{Completion, Effects};

/// The group coordinator of one broker. See the [module docs](super) for how to drive it.
#[derive(Debug, Clone)]
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) active: bool,
    scope: Scope,
    pub(super) groups: BTreeMap<String, ClassicGroup>,
    /// Groups of the consumer protocol (KIP-848); an id is never in both maps.
    pub(super) consumer_groups: BTreeMap<String, ConsumerGroup>,
    pub(super) offsets: OffsetStore,
    /// The offsets of open transactions, until their markers.
    pub(super) pending_txn: PendingTxnOffsets,
    /// The sequence of the next offset record applied: the order of the records in their
    /// partition's log (see [`super::txn_offsets`]).
    record_seq: u64,
    pub(super) next_cleanup_ms: i64,
    rng_state: u64,
}

/// Which groups a coordinator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Every group (the unscoped coordinator of the core's tests).
    All,
    /// The groups of the loaded partitions of `__consumer_offsets`, out of `partitions`.
    Partitions {
        partitions: i32,
        shards: BTreeMap<i32, Shard>,
    },
}

/// One loaded (or loading) partition of `__consumer_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shard {
    state: ShardState,
    leader_epoch: i32,
}

/// Where the loading of a `__consumer_offsets` partition stands (Kafka's `CoordinatorState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardState {
    /// Its records are being replayed: its groups answer COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Its groups are served.
    Active,
}

/// A group as the coordinator sees it, for tests and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: Vec<MemberSummary>,
}

/// One member of a [`GroupSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub assignment: Bytes,
}

enum Due {
    Heartbeat(String, String),
    Pending(String, String),
    Join(String),
    Sync(String),
    Cleanup,
    ConsumerSession(String, String),
    ConsumerRebalance(String, String, i32),
    /// A classic member of a consumer group late to rejoin (`true`) or to sync.
    ClassicMember(String, String, bool),
}

impl GroupCoordinator {
    /// An active coordinator with no groups. Member ids get random UUIDs.
    pub fn new(config: GroupConfig, now_ms: i64) -> GroupCoordinator {
        let seed = Uuid::new_v4().as_u64_pair().0;
        GroupCoordinator::with_seed(config, now_ms, seed)
    }

    /// Like [`GroupCoordinator::new`], with member ids drawn from `seed` (reproducible runs).
    pub fn with_seed(config: GroupConfig, now_ms: i64, seed: u64) -> GroupCoordinator {
        let next_cleanup_ms =
            now_ms.saturating_add(config.offsets_retention_check_interval_ms.max(1));
        GroupCoordinator {
            config,
            active: true,
            scope: Scope::All,
            groups: BTreeMap::new(),
            consumer_groups: BTreeMap::new(),
            offsets: OffsetStore::default(),
            pending_txn: PendingTxnOffsets::default(),
            record_seq: 0,
            next_cleanup_ms,
            rng_state: seed,
        }
    }

    /// A coordinator of a cluster's broker: it serves no group until it loads the partitions
    /// of `__consumer_offsets` (out of `partitions`) it leads.
    pub fn partitioned(config: GroupConfig, partitions: i32, now_ms: i64) -> GroupCoordinator {
        let mut coordinator = GroupCoordinator::new(config, now_ms);
        coordinator.scope = Scope::Partitions {
            partitions: partitions.max(1),
            shards: BTreeMap::new(),
        };
        coordinator
    }

    /// Whether the coordinator runs (false after [`GroupCoordinator::unload`]).
    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Follows the partition count of the `__consumer_offsets` topic that exists (it may
    /// have been created with another `offsets.topic.num.partitions`). Only while nothing is
    /// loaded: groups would otherwise change partitions under their shards.
    pub fn set_partition_count(&mut self, count: i32) {
        if let Scope::Partitions { partitions, shards } = &mut self.scope
            && shards.is_empty()
        {
            *partitions = count.max(1);
        }
    }

    /// The `__consumer_offsets` partition of a group, for a partitioned coordinator.
    pub fn partition_of(&self, group_id: &str) -> Option<i32> {
        match &self.scope {
            Scope::All => None,
            Scope::Partitions { partitions, .. } => {
                Some(super::partition_for(group_id, *partitions))
            }
        }
    }

    /// Where the loading of a partition stands (`None`: not loaded here).
    pub fn shard_state(&self, partition: i32) -> Option<ShardState> {
        match &self.scope {
            Scope::All => Some(ShardState::Active),
            Scope::Partitions { shards, .. } => shards.get(&partition).map(|s| s.state),
        }
    }

    /// The partitions loaded or loading here, with their leader epochs.
    pub fn loaded_partitions(&self) -> Vec<(i32, ShardState, i32)> {
        match &self.scope {
            Scope::All => Vec::new(),
            Scope::Partitions { shards, .. } => shards
                .iter()
                .map(|(p, s)| (*p, s.state, s.leader_epoch))
                .collect(),
        }
    }

    /// Why this coordinator does not serve `group_id`, from where its partition stands:
    /// COORDINATOR_LOAD_IN_PROGRESS while loading, NOT_COORDINATOR when not loaded here.
    /// (A stopped coordinator's COORDINATOR_NOT_AVAILABLE is checked apart, first.)
    pub(super) fn shard_error(&self, group_id: &str) -> Option<ResponseError> {
        let Scope::Partitions { partitions, shards } = &self.scope else {
            return None;
        };
        match shards.get(&super::partition_for(group_id, *partitions)) {
            Some(Shard {
                state: ShardState::Active,
                ..
            }) => None,
            Some(_) => Some(ResponseError::CoordinatorLoadInProgress),
            None => Some(ResponseError::NotCoordinator),
        }
    }

    /// Whether requests for `group_id` are served now (and its timers run).
    pub(super) fn serves(&self, group_id: &str) -> bool {
        self.active && self.shard_error(group_id).is_none()
    }

    /// This broker became leader of `partition` at `leader_epoch`. True if its records are
    /// now to be replayed, then [`GroupCoordinator::complete_load`] called; false if it is
    /// already loading or loaded (a newer epoch is noted), or the epoch is older than the
    /// loaded one. An unscoped coordinator serves every group and loads nothing.
    pub fn begin_load(&mut self, partition: i32, leader_epoch: i32) -> bool {
        let Scope::Partitions { shards, .. } = &mut self.scope else {
            return false;
        };
        if let Some(shard) = shards.get_mut(&partition) {
            shard.leader_epoch = shard.leader_epoch.max(leader_epoch);
            return false;
        }
        shards.insert(
            partition,
            Shard {
                state: ShardState::Loading,
                leader_epoch,
            },
        );
        // Anything left of an earlier term here would shadow the log's state.
        self.forget_partition(partition);
        true
    }

    /// The records of `partition` are replayed: its groups are served from now on, each
    /// loaded member must heartbeat within its session, and an oversized group rebalances.
    /// Ignored unless the partition is loading at `leader_epoch` or earlier.
    pub fn complete_load(&mut self, partition: i32, leader_epoch: i32, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let Scope::Partitions { shards, .. } = &mut self.scope else {
            return fx;
        };
        match shards.get_mut(&partition) {
            Some(shard)
                if shard.state == ShardState::Loading && shard.leader_epoch >= leader_epoch =>
            {
                shard.state = ShardState::Active;
            }
            _ => return fx,
        }
        self.activate_groups(Some(partition), now_ms, &mut fx);
        fx
    }

    /// This broker stopped leading `partition` (at `leader_epoch`; `None`: whatever the
    /// epoch, e.g. the topic is gone): its groups become Dead and leave memory, their parked
    /// JoinGroup / SyncGroup requests answer NOT_COORDINATOR, and later requests for them
    /// NOT_COORDINATOR. An unload at an epoch no newer than the loaded one is ignored.
    pub fn unload_partition(
        &mut self,
        partition: i32,
        leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Effects {
        let mut fx = Effects::default();
        let Scope::Partitions { shards, .. } = &mut self.scope else {
            return fx;
        };
        match shards.get(&partition) {
            Some(shard) if leader_epoch.is_none_or(|e| shard.leader_epoch < e) => {
                shards.remove(&partition);
            }
            _ => return fx,
        }
        let group_ids: Vec<String> = self
            .groups
            .keys()
            .filter(|g| self.partition_of(g) == Some(partition))
            .cloned()
            .collect();
        for group_id in &group_ids {
            if let Some(group) = self.groups.get_mut(group_id) {
                kill_group(group, now_ms, &mut fx);
            }
        }
        self.forget_partition(partition);
        fx
    }

    /// Drops the groups and offsets of `partition` from memory (not from the log).
    fn forget_partition(&mut self, partition: i32) {
        let mut group_ids: Vec<String> = self.groups.keys().cloned().collect();
        group_ids.extend(self.offsets.group_ids().cloned());
        group_ids.extend(self.pending_txn.group_ids().cloned());
        for group_id in group_ids {
            if self.partition_of(&group_id) == Some(partition) {
                self.groups.remove(&group_id);
                self.consumer_groups.remove(&group_id);
                self.offsets.forget_group(&group_id);
                self.pending_txn.forget_group(&group_id);
            }
        }
    }

    /// Applies one record of the group log while loading (before any request).
    pub fn replay(&mut self, record: &GroupRecord) {
        match record {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value: Some(value),
            } => {
                self.ensure_group(group_id, value.commit_timestamp_ms);
                let seq = self.next_record_seq();
                self.offsets.put_at(
                    group_id,
                    topic,
                    *partition,
                    OffsetAndMetadata::from_record(value),
                    seq,
                );
            }
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value: None,
            } => {
                self.offsets.remove(group_id, topic, *partition);
                self.drop_pending_partition(group_id, topic, *partition);
            }
            GroupRecord::GroupMetadata {
                group_id,
                value: Some(value),
            } => {
                self.groups
                    .insert(group_id.clone(), ClassicGroup::from_record(group_id, value));
            }
            GroupRecord::GroupMetadata {
                group_id,
                value: None,
            } => {
                self.groups.remove(group_id);
            }
        }
    }

    /// Offsets without a group make a "simple" group: Empty, no protocol type.
    pub(super) fn ensure_group(&mut self, group_id: &str, now_ms: i64) {
        if !self.groups.contains_key(group_id) && !self.consumer_groups.contains_key(group_id) {
            let group = ClassicGroup::new(group_id.to_string(), now_ms);
            self.groups.insert(group_id.to_string(), group);
        }
    }

    /// The sequence number of the offset record applied now.
    pub(super) fn next_record_seq(&mut self) -> u64 {
        self.record_seq += 1;
        self.record_seq
    }

    /// Loading is done: every loaded member must heartbeat within its session from now, and
    /// a group over `group.max.size` rebalances. Also (re)starts the retention timer.
    pub fn on_loaded(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        self.active = true;
        self.next_cleanup_ms =
            now_ms.saturating_add(self.config.offsets_retention_check_interval_ms.max(1));
        self.activate_groups(None, now_ms, &mut fx);
        fx
    }

    /// Arms the sessions of the loaded groups (of `partition`, or all), and rebalances those
    /// over `group.max.size`.
    fn activate_groups(&mut self, partition: Option<i32>, now_ms: i64, fx: &mut Effects) {
        let max_size = usize::try_from(self.config.group_max_size).unwrap_or(usize::MAX);
        let partition_of = |group_id: &str| match &self.scope {
            Scope::All => None,
            Scope::Partitions { partitions, .. } => {
                Some(super::partition_for(group_id, *partitions))
            }
        };
        let wanted: Vec<String> = self
            .groups
            .keys()
            .filter(|g| partition.is_none() || partition_of(g) == partition)
            .cloned()
            .collect();
        for group_id in wanted {
            let Some(group) = self.groups.get_mut(&group_id) else {
                continue;
            };
            for member in group.members.values_mut() {
                member.heartbeat_deadline_ms =
                    Some(super::arm(now_ms, i64::from(member.session_timeout_ms)));
            }
            if group.members.len() > max_size && group.can_rebalance() {
                group.prepare_rebalance(&self.config, now_ms, fx);
            }
        }
    }

    /// Kafka's `onUnloaded` (broker shutdown or coordinator moving away): every group becomes
    /// Dead, parked requests get NOT_COORDINATOR, and further requests get
    /// COORDINATOR_NOT_AVAILABLE.
    pub fn unload(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        for group in self.groups.values_mut() {
            kill_group(group, now_ms, &mut fx);
        }
        self.active = false;
        fx
    }

    /// Fires every timer due at `now_ms`, earliest first.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        if !self.active {
            return fx;
        }
        while let Some(due) = self.earliest_due(now_ms) {
            self.fire(due, now_ms, &mut fx);
        }
        fx
    }

    /// When [`GroupCoordinator::tick`] next has something to do.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        if !self.active {
            return None;
        }
        let mut earliest = self.next_cleanup_ms;
        for group in self.groups.values().filter(|g| self.serves(&g.group_id)) {
            for deadline_ms in group_deadlines(group) {
                earliest = earliest.min(deadline_ms);
            }
        }
        for group in self.consumer_groups.values() {
            if !self.serves(&group.group_id) {
                continue;
            }
            let sessions = group.session_deadlines_ms.values().copied();
            let rebalances = group.rebalance_deadlines_ms.values().map(|(d, _)| *d);
            let classic = group
                .classic_join_deadlines_ms
                .values()
                .chain(group.classic_sync_deadlines_ms.values())
                .copied();
            for deadline_ms in sessions.chain(rebalances).chain(classic) {
                earliest = earliest.min(deadline_ms);
            }
        }
        Some(earliest)
    }

    fn earliest_due(&self, now_ms: i64) -> Option<Due> {
        let mut best: Option<(i64, Due)> = None;
        let mut consider = |deadline_ms: i64, due: &dyn Fn() -> Due| {
            if deadline_ms <= now_ms && best.as_ref().is_none_or(|(b, _)| deadline_ms < *b) {
                best = Some((deadline_ms, due()));
            }
        };
        consider(self.next_cleanup_ms, &|| Due::Cleanup);
        for (group_id, group) in self.groups.iter().filter(|(g, _)| self.serves(g)) {
            for (member_id, deadline_ms) in &group.pending_members {
                consider(*deadline_ms, &|| {
                    Due::Pending(group_id.clone(), member_id.clone())
                });
            }
            for (member_id, member) in &group.members {
                if let Some(deadline_ms) = member.heartbeat_deadline_ms {
                    consider(deadline_ms, &|| {
                        Due::Heartbeat(group_id.clone(), member_id.clone())
                    });
                }
            }
            if let Some(timer) = &group.join_timer {
                consider(timer.deadline_ms(), &|| Due::Join(group_id.clone()));
            }
            if let Some(timer) = &group.sync_timer {
                consider(timer.deadline_ms, &|| Due::Sync(group_id.clone()));
            }
        }
        for (group_id, group) in self.consumer_groups.iter().filter(|(g, _)| self.serves(g)) {
            for (member_id, deadline_ms) in &group.session_deadlines_ms {
                consider(*deadline_ms, &|| {
                    Due::ConsumerSession(group_id.clone(), member_id.clone())
                });
            }
            for (member_id, (deadline_ms, epoch)) in &group.rebalance_deadlines_ms {
                consider(*deadline_ms, &|| {
                    Due::ConsumerRebalance(group_id.clone(), member_id.clone(), *epoch)
                });
            }
            for (join, timers) in [
                (true, &group.classic_join_deadlines_ms),
                (false, &group.classic_sync_deadlines_ms),
            ] {
                for (member_id, deadline_ms) in timers {
                    consider(*deadline_ms, &|| {
                        Due::ClassicMember(group_id.clone(), member_id.clone(), join)
                    });
                }
            }
        }
        best.map(|(_, due)| due)
    }

    fn fire(&mut self, due: Due, now_ms: i64, fx: &mut Effects) {
        match due {
            Due::ConsumerSession(group_id, member_id) => {
                return self.on_consumer_session_expired(&group_id, &member_id, now_ms, fx);
            }
            Due::ConsumerRebalance(group_id, member_id, epoch) => {
                return self
                    .on_consumer_rebalance_expired(&group_id, &member_id, epoch, now_ms, fx);
            }
            Due::ClassicMember(group_id, member_id, join) => {
                return self.on_classic_member_late(&group_id, &member_id, join, now_ms, fx);
            }
            _ => {}
        }
        let Self { groups, config, .. } = self;
        match due {
            Due::ConsumerSession(..) | Due::ConsumerRebalance(..) | Due::ClassicMember(..) => {}
            Due::Cleanup => {
                self.next_cleanup_ms =
                    now_ms.saturating_add(self.config.offsets_retention_check_interval_ms.max(1));
                self.cleanup_group_metadata(now_ms, fx);
            }
            Due::Heartbeat(group_id, member_id) => {
                if let Some(group) = groups.get_mut(&group_id) {
                    group.on_heartbeat_expired(config, &member_id, now_ms, fx);
                }
            }
            Due::Pending(group_id, member_id) => {
                if let Some(group) = groups.get_mut(&group_id) {
                    group.on_pending_member_expired(&member_id, now_ms, fx);
                }
            }
            Due::Join(group_id) => {
                let Some(group) = groups.get_mut(&group_id) else {
                    return;
                };
                match group.join_timer.take() {
                    Some(JoinTimer::InitialDelay {
                        delay_ms,
                        remaining_ms,
                        ..
                    }) => group.try_complete_initial_rebalance(
                        config,
                        delay_ms,
                        remaining_ms,
                        now_ms,
                        fx,
                    ),
                    Some(JoinTimer::Rebalance { .. }) => group.complete_join(now_ms, fx),
                    None => {}
                }
            }
            Due::Sync(group_id) => {
                let Some(group) = groups.get_mut(&group_id) else {
                    return;
                };
                if let Some(timer) = group.sync_timer.take() {
                    group.on_sync_expired(config, timer.generation_id, now_ms, fx);
                }
            }
        }
    }

    /// A new member id: `<prefix>-<uuid>`, the prefix being the client id (dynamic members)
    /// or the group instance id (static members), as Kafka's `generateMemberId`.
    pub(super) fn generate_member_id(&mut self, prefix: &str) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_random().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_random().to_be_bytes());
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        format!("{prefix}-{uuid}")
    }

    /// splitmix64: small, seedable, good enough for ids.
    fn next_random(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Makes an offset record or a tombstone take effect and queues it for the log: the
    /// same code path as `replay`, so replaying the log gives the same offsets and groups.
    pub(super) fn apply(&mut self, record: GroupRecord, fx: &mut Effects) {
        assert!(
            !matches!(record, GroupRecord::GroupMetadata { value: Some(_), .. }),
            "live GroupMetadata records describe the group; they are not applied to it"
        );
        self.replay(&record);
        fx.records.push(record);
    }

    /// The state of a group, if it exists.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Every group id (classic and consumer groups), sorted.
    pub fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.extend(self.consumer_groups.keys().cloned());
        ids.sort();
        ids
    }

    /// A summary of a group, if it exists.
    pub fn group_summary(&self, group_id: &str) -> Option<GroupSummary> {
        let group = self.groups.get(group_id)?;
        Some(GroupSummary {
            group_id: group.group_id.clone(),
            state: group.state,
            generation_id: group.generation_id,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader_id: group.leader_id.clone(),
            members: group
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// The committed offset of a partition for a group.
    pub fn committed_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&OffsetAndMetadata> {
        self.offsets.get(group_id, topic, partition)
    }

    /// Every committed offset: (group, topic, partition) to offset, sorted.
    pub fn all_committed_offsets(&self) -> BTreeMap<(String, String, i32), OffsetAndMetadata> {
        self.offsets.all()
    }
}

/// A group whose coordinator goes away: Dead, no timers, parked requests NOT_COORDINATOR.
fn kill_group(group: &mut ClassicGroup, now_ms: i64, fx: &mut Effects) {
    let not_coordinator = ResponseError::NotCoordinator.code();
    group.transition_to(GroupState::Dead, now_ms);
    group.join_timer = None;
    group.sync_timer = None;
    group.pending_members.clear();
    for member in group.members.values_mut() {
        member.heartbeat_deadline_ms = None;
        if let Some(parked) = member.awaiting_join.take() {
            let response = join_error_code(parked.api_version, &member.member_id, not_coordinator);
            fx.complete(parked.token, Completion::JoinGroup(response));
        }
        if let Some(parked) = member.awaiting_sync.take() {
            let response = SyncGroupResponse::default().with_error_code(not_coordinator);
            fx.complete(parked.token, Completion::SyncGroup(response));
        }
    }
}

fn group_deadlines(group: &ClassicGroup) -> impl Iterator<Item = i64> + '_ {
    group
        .pending_members
        .values()
        .copied()
        .chain(
            group
                .members
                .values()
                .filter_map(|m| m.heartbeat_deadline_ms),
        )
        .chain(group.join_timer.map(|t| t.deadline_ms()))
        .chain(group.sync_timer.map(|t| t.deadline_ms))
}

/// Answers a JoinGroup at once.
pub(super) fn answer_join(
    fx: &mut Effects,
    token: super::RequestToken,
    response: JoinGroupResponse,
) {
    fx.complete(token, Completion::JoinGroup(response));
}
