//! Committed offsets: OffsetCommit, OffsetDelete, the retention of offsets, and the store.
//!
//! A commit is checked like Kafka checks it: partitions of unknown topics are
//! UNKNOWN_TOPIC_OR_PARTITION before the group is even looked at; a commit with generation
//! -1 and no member id (a consumer managing its own partitions, or the admin client) is
//! accepted only while the group is Empty or does not exist (then a "simple" group, Empty
//! and without protocol type, is made for the offsets); any other commit must come from a
//! current member of the current generation. Offsets are stored as the records that carry
//! them (`apply`), so the live store and a replayed one cannot differ.
//!
//! Retention (`offsets.retention.minutes`, checked every
//! `offsets.retention.check.interval.ms`): the offsets of an Empty group expire that long
//! after the group became Empty; those of a group without protocol type that long after
//! their commit; a Stable consumer group loses offsets of topics it no longer subscribes to
//! that long after their commit; offsets committed with an explicit retention time (v2-4)
//! expire at that time. An Empty group left without offsets is deleted.
//!
//! # References
//! - `OffsetMetadataManager` (`commitOffset`, `deleteOffsets`, `cleanupExpiredOffsets`)
//! - `ClassicGroup.validateOffsetCommit`, `validateOffsetDelete`, `offsetExpirationCondition`
//! - `KafkaApis.handleOffsetCommitRequest`, `handleOffsetDeleteRequest` (unknown topics)
//! - KIP-211 (retention of Empty groups' offsets), KIP-496 (OffsetDelete)

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, TopicName,
};

use super::classic::{ClassicGroup, GroupState, str_bytes};
use super::consumer_group::{ConsumerGroup, ConsumerMember};
use super::coordinator::GroupCoordinator;
use super::record::{GroupRecord, OffsetCommitValue};
use super::{Effects, MAX_GROUP_ID_BYTES, Reply, RequestContext, arm};

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub committed_offset: i64,
    /// -1 when the committer did not know it.
    pub leader_epoch: i32,
    /// The commit's metadata (`""` when the commit sent null).
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set only by commits with an explicit retention time (OffsetCommit v2-4).
    pub expire_timestamp_ms: Option<i64>,
}

impl OffsetAndMetadata {
    pub(super) fn from_record(value: &OffsetCommitValue) -> OffsetAndMetadata {
        OffsetAndMetadata {
            committed_offset: value.offset,
            leader_epoch: value.leader_epoch,
            metadata: value.metadata.clone(),
            commit_timestamp_ms: value.commit_timestamp_ms,
            expire_timestamp_ms: value.expire_timestamp_ms,
        }
    }
}

type TopicOffsets = BTreeMap<String, BTreeMap<i32, OffsetAndMetadata>>;

/// Group to topic to partition to offset, and the sequence of each offset's record (its
/// place in the log, see [`super::txn_offsets`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct OffsetStore {
    by_group: BTreeMap<String, TopicOffsets>,
    seqs: BTreeMap<(String, String, i32), u64>,
}

impl OffsetStore {
    pub(super) fn get(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&OffsetAndMetadata> {
        self.by_group.get(group_id)?.get(topic)?.get(&partition)
    }

    pub(super) fn group(&self, group_id: &str) -> Option<&TopicOffsets> {
        self.by_group.get(group_id)
    }

    /// Stores the offset of a record applied with sequence `seq`.
    pub(super) fn put_at(
        &mut self,
        group_id: &str,
        topic: &str,
        partition: i32,
        offset: OffsetAndMetadata,
        seq: u64,
    ) {
        self.seqs
            .insert((group_id.to_string(), topic.to_string(), partition), seq);
        let topics = self.by_group.entry(group_id.to_string()).or_default();
        topics
            .entry(topic.to_string())
            .or_default()
            .insert(partition, offset);
    }

    /// Forgets every offset of a group (the coordinator moving away, not a deletion).
    pub(super) fn forget_group(&mut self, group_id: &str) {
        self.by_group.remove(group_id);
        self.seqs.retain(|(g, _, _), _| g != group_id);
    }

    /// The sequence of the record that stored the partition's offset.
    pub(super) fn seq_of(&self, group_id: &str, topic: &str, partition: i32) -> Option<u64> {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.seqs.get(&key).copied()
    }

    /// The groups that have offsets.
    pub(super) fn group_ids(&self) -> impl Iterator<Item = &String> {
        self.by_group.keys()
    }

    pub(super) fn remove(&mut self, group_id: &str, topic: &str, partition: i32) {
        self.seqs
            .remove(&(group_id.to_string(), topic.to_string(), partition));
        let Some(topics) = self.by_group.get_mut(group_id) else {
            return;
        };
        if let Some(partitions) = topics.get_mut(topic) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                topics.remove(topic);
            }
        }
        if topics.is_empty() {
            self.by_group.remove(group_id);
        }
    }

    pub(super) fn all(&self) -> BTreeMap<(String, String, i32), OffsetAndMetadata> {
        let mut out = BTreeMap::new();
        for (group, topics) in &self.by_group {
            for (topic, partitions) in topics {
                for (partition, offset) in partitions {
                    out.insert((group.clone(), topic.clone(), *partition), offset.clone());
                }
            }
        }
        out
    }

    /// Tombstones for every offset of `group_id`.
    pub(super) fn tombstones(&self, group_id: &str) -> Vec<GroupRecord> {
        let Some(topics) = self.by_group.get(group_id) else {
            return Vec::new();
        };
        topics
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .keys()
                    .map(move |p| tombstone(group_id, topic, *p))
            })
            .collect()
    }
}

/// What a committed partition stores: a null metadata is `""`, the time is the broker's.
fn commit_value(
    p: &OffsetCommitRequestPartition,
    now_ms: i64,
    expire_ms: Option<i64>,
) -> Option<OffsetCommitValue> {
    let (offset, epoch) = (p.committed_offset, p.committed_leader_epoch);
    let metadata = p.committed_metadata.as_deref();
    Some(offset_value(offset, epoch, metadata, now_ms, expire_ms))
}

/// The stored value of a commit (plain or transactional): a null metadata is `""`.
pub(super) fn offset_value(
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&str>,
    now_ms: i64,
    expire_ms: Option<i64>,
) -> OffsetCommitValue {
    OffsetCommitValue {
        offset,
        leader_epoch,
        metadata: metadata.unwrap_or_default().to_string(),
        commit_timestamp_ms: now_ms,
        expire_timestamp_ms: expire_ms,
    }
}

pub(super) fn tombstone(group_id: &str, topic: &str, partition: i32) -> GroupRecord {
    GroupRecord::OffsetCommit {
        group_id: group_id.to_string(),
        topic: topic.to_string(),
        partition,
        value: None,
    }
}

/// What clock an offset's retention runs from (Kafka's `OffsetExpirationCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetentionBase {
    /// Since the group became Empty (the commit, if that time is unknown).
    GroupEmptySince(Option<i64>),
    /// Since the commit.
    Commit,
}

impl RetentionBase {
    fn of(group: &ClassicGroup) -> Option<RetentionBase> {
        if group.protocol_type.is_none() {
            return Some(RetentionBase::Commit);
        }
        if group.is_in(GroupState::Empty) {
            return Some(RetentionBase::GroupEmptySince(group.state_timestamp_ms));
        }
        let stable_consumer = group.uses_consumer_protocol()
            && group.subscribed_topics.is_some()
            && group.is_in(GroupState::Stable);
        stable_consumer.then_some(RetentionBase::Commit)
    }

    fn is_expired(self, offset: &OffsetAndMetadata, now_ms: i64, retention_ms: i64) -> bool {
        if let Some(expire_ms) = offset.expire_timestamp_ms {
            return now_ms >= expire_ms;
        }
        let base_ms = match self {
            RetentionBase::GroupEmptySince(since) => since.unwrap_or(offset.commit_timestamp_ms),
            RetentionBase::Commit => offset.commit_timestamp_ms,
        };
        now_ms.saturating_sub(base_ms) >= retention_ms
    }
}

impl GroupCoordinator {
    /// Handles an OffsetCommit. `partition_exists` tells whether a topic-partition exists.
    pub fn offset_commit(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext<'_>,
        request: &OffsetCommitRequest,
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> Reply<OffsetCommitResponse> {
        let mut fx = Effects::default();
        let mut topics = Vec::with_capacity(request.topics.len());
        // Like KafkaApis, the group is only consulted if some partition exists.
        let any_known = request.topics.iter().any(|t| {
            t.partitions
                .iter()
                .any(|p| partition_exists(t.name.as_str(), p.partition_index))
        });
        let group_error = if any_known {
            self.validate_offset_commit(ctx.api_version, request).err()
        } else {
            None
        };
        if any_known && group_error.is_none() {
            self.keep_committer_alive(now_ms, request);
        }
        // v2-4 could ask for a retention of their own; -1 means the broker's.
        let expire_ms = (request.retention_time_ms != -1)
            .then(|| now_ms.saturating_add(request.retention_time_ms));
        let group_id = request.group_id.as_str();
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let code = if !partition_exists(topic.name.as_str(), p.partition_index) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if let Some(code) = group_error {
                    code
                } else if let Some(code) = self.consumer_commit_partition_error(
                    request,
                    topic.name.as_str(),
                    p.partition_index,
                ) {
                    code
                } else if self.metadata_too_large(p.committed_metadata.as_deref()) {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    let value = commit_value(p, now_ms, expire_ms);
                    let (topic, partition) = (topic.name.to_string(), p.partition_index);
                    let record = GroupRecord::OffsetCommit {
                        group_id: group_id.to_string(),
                        topic,
                        partition,
                        value,
                    };
                    self.apply(record, &mut fx);
                    0
                };
                partitions.push(
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code),
                );
            }
            topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        Reply {
            response: OffsetCommitResponse::default().with_topics(topics),
            effects: fx,
        }
    }

    /// Kafka's `OffsetMetadataManager.validateOffsetCommit` + `ClassicGroup.validateOffsetCommit`.
    fn validate_offset_commit(
        &self,
        version: i16,
        request: &OffsetCommitRequest,
    ) -> Result<(), i16> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if request.group_id.len() > MAX_GROUP_ID_BYTES {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if let Some(error) = self.shard_error(request.group_id.as_str()) {
            return Err(error.code());
        }
        let generation_id = request.generation_id_or_member_epoch;
        let member_id = request.member_id.as_str();
        let instance_id = request.group_instance_id.as_deref();
        if let Some(group) = self.consumer_groups.get(request.group_id.as_str()) {
            return consumer_commit_check(group, member_id, generation_id, false, version)
                .map(|_| ());
        }
        let Some(group) = self.groups.get(request.group_id.as_str()) else {
            return match generation_id {
                // A simple group is made for these offsets.
                g if g < 0 => Ok(()),
                _ if version >= 9 => Err(ResponseError::GroupIdNotFound.code()),
                _ => Err(ResponseError::IllegalGeneration.code()),
            };
        };
        if group.is_in(GroupState::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if generation_id < 0 && group.is_in(GroupState::Empty) {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            group.validate_member(member_id, instance_id)?;
            if generation_id != group.generation_id {
                return Err(ResponseError::IllegalGeneration.code());
            }
        } else if !group.is_in(GroupState::Empty) {
            return Err(ResponseError::UnknownMemberId.code());
        }
        if group.is_in(GroupState::CompletingRebalance) {
            return Err(ResponseError::RebalanceInProgress.code());
        }
        Ok(())
    }

    /// Kafka's per-partition check of a consumer-group commit with an older member epoch
    /// (`ConsumerGroup.createAssignmentEpochValidator`): the partition must still be
    /// assigned to (or pending revocation from) the member, since an epoch no older than the
    /// one it was assigned at.
    fn consumer_commit_partition_error(
        &self,
        request: &OffsetCommitRequest,
        topic: &str,
        partition: i32,
    ) -> Option<i16> {
        let group = self.consumer_groups.get(request.group_id.as_str())?;
        let epoch = request.generation_id_or_member_epoch;
        let member = consumer_commit_check(group, request.member_id.as_str(), epoch, false, 9)
            .ok()
            .flatten()?;
        let stale = ResponseError::StaleMemberEpoch.code();
        let Some(topic_id) = group.subscription_metadata.get(topic).map(|m| m.topic_id) else {
            return Some(stale);
        };
        let assigned_at = [&member.assigned, &member.pending_revocation]
            .into_iter()
            .find_map(|ps| ps.get(&topic_id).and_then(|p| p.get(&partition)).copied());
        match assigned_at {
            Some(assigned_epoch) if epoch >= assigned_epoch => None,
            _ => Some(stale),
        }
    }

    /// In the classic protocol a commit also counts as a heartbeat (Stable or
    /// PreparingRebalance).
    fn keep_committer_alive(&mut self, now_ms: i64, request: &OffsetCommitRequest) {
        let Some(group) = self.groups.get_mut(request.group_id.as_str()) else {
            return;
        };
        if !matches!(
            group.state,
            GroupState::Stable | GroupState::PreparingRebalance
        ) {
            return;
        }
        if let Some(member) = group.members.get_mut(request.member_id.as_str()) {
            member.heartbeat_deadline_ms = Some(arm(now_ms, i64::from(member.session_timeout_ms)));
        }
    }

    /// `offset.metadata.max.bytes`, counted like Java's `String.length()` (UTF-16 units).
    pub(super) fn metadata_too_large(&self, metadata: Option<&str>) -> bool {
        let limit = usize::try_from(self.config.offset_metadata_max_bytes).unwrap_or(0);
        metadata.is_some_and(|m| m.len() > limit && m.encode_utf16().count() > limit)
    }

    /// Handles an OffsetDelete: removes a group's offsets of topics it does not consume.
    pub fn offset_delete(
        &mut self,
        _ctx: &RequestContext<'_>,
        request: &OffsetDeleteRequest,
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> Reply<OffsetDeleteResponse> {
        let mut fx = Effects::default();
        if let Err(code) = self.validate_offset_delete(request.group_id.as_str()) {
            let response = OffsetDeleteResponse::default().with_error_code(code);
            return Reply {
                response,
                effects: fx,
            };
        }
        let group_id = request.group_id.as_str();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic.name.as_str();
            let subscribed = self
                .groups
                .get(group_id)
                .is_some_and(|g| g.is_subscribed_to_topic(name))
                || self
                    .consumer_groups
                    .get(group_id)
                    .is_some_and(|g| g.is_subscribed_to(name));
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let code = if !partition_exists(name, p.partition_index) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if subscribed {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    // Pending transactional offsets go too (Kafka's `deleteOffsets`).
                    if self
                        .offsets
                        .get(group_id, name, p.partition_index)
                        .is_some()
                        || self.has_pending_transactional_offsets(group_id, name, p.partition_index)
                    {
                        self.apply(tombstone(group_id, name, p.partition_index), &mut fx);
                    }
                    0
                };
                partitions.push(
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code),
                );
            }
            topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        Reply {
            response: OffsetDeleteResponse::default().with_topics(topics),
            effects: fx,
        }
    }

    /// Kafka's `ClassicGroup.validateOffsetDelete`: a group that is not Empty keeps its
    /// offsets unless it uses the consumer protocol (then per topic, if unsubscribed).
    fn validate_offset_delete(&self, group_id: &str) -> Result<(), i16> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if let Some(error) = self.shard_error(group_id) {
            return Err(error.code());
        }
        // A consumer group's offsets go per topic, where no member subscribes to it.
        if self.consumer_groups.contains_key(group_id) {
            return Ok(());
        }
        let Some(group) = self.groups.get(group_id) else {
            return Err(ResponseError::GroupIdNotFound.code());
        };
        match group.state {
            GroupState::Dead => Err(ResponseError::GroupIdNotFound.code()),
            GroupState::Empty => Ok(()),
            _ if group.uses_consumer_protocol() => Ok(()),
            _ => Err(ResponseError::NonEmptyGroup.code()),
        }
    }

    /// Kafka's `cleanupGroupMetadata`: expire offsets, then delete Empty groups that have
    /// none left.
    pub(super) fn cleanup_group_metadata(&mut self, now_ms: i64, fx: &mut Effects) {
        for group_id in self.group_ids() {
            if !self.serves(&group_id) {
                continue;
            }
            let mut records = Vec::new();
            let all_expired = self.expired_offsets(&group_id, now_ms, &mut records);
            let empty = self
                .groups
                .get(&group_id)
                .is_some_and(|g| g.is_in(GroupState::Empty));
            let empty_consumer_group = self
                .consumer_groups
                .get(&group_id)
                .is_some_and(|g| g.members.is_empty());
            if all_expired && empty_consumer_group {
                self.consumer_groups.remove(&group_id);
            }
            if all_expired && empty {
                records.push(GroupRecord::GroupMetadata {
                    group_id: group_id.clone(),
                    value: None,
                });
            }
            for record in records {
                self.apply(record, fx);
            }
        }
    }

    /// Tombstones for the group's expired offsets; true if none are left afterwards.
    fn expired_offsets(&self, group_id: &str, now_ms: i64, records: &mut Vec<GroupRecord>) -> bool {
        let Some(topics) = self.offsets.group(group_id) else {
            return true;
        };
        if let Some(group) = self.consumer_groups.get(group_id) {
            // Kafka's `ConsumerGroup.offsetExpirationCondition`: from the commit, for topics
            // no member subscribes to.
            return self.expire_offsets_by(
                group_id,
                topics,
                RetentionBase::Commit,
                now_ms,
                records,
                &|t| group.is_subscribed_to(t),
            );
        }
        let Some(group) = self.groups.get(group_id) else {
            return false;
        };
        let Some(base) = RetentionBase::of(group) else {
            return false;
        };
        self.expire_offsets_by(group_id, topics, base, now_ms, records, &|t| {
            group.is_subscribed_to_topic(t)
        })
    }

    /// Tombstones for the offsets of `topics` expired under `base`, except for subscribed
    /// topics; true if none are left afterwards.
    fn expire_offsets_by(
        &self,
        group_id: &str,
        topics: &TopicOffsets,
        base: RetentionBase,
        now_ms: i64,
        records: &mut Vec<GroupRecord>,
        subscribed: &dyn Fn(&str) -> bool,
    ) -> bool {
        let retention_ms = self.config.offsets_retention_ms;
        let mut all_expired = true;
        for (topic, partitions) in topics {
            if subscribed(topic) {
                all_expired = false;
                continue;
            }
            for (partition, offset) in partitions {
                // Not while an open transaction has an offset for it.
                if base.is_expired(offset, now_ms, retention_ms)
                    && !self.pending_txn.has_pending(group_id, topic, *partition)
                {
                    records.push(tombstone(group_id, topic, *partition));
                } else {
                    all_expired = false;
                }
            }
        }
        // A group with an open transaction stays.
        all_expired && !self.pending_txn.has_open_transactions(group_id)
    }

    /// Topic-partitions were deleted: their committed offsets go too, in every group.
    pub fn on_partitions_deleted(&mut self, partitions: &[(String, i32)]) -> Effects {
        let mut fx = Effects::default();
        for group_id in self.group_ids() {
            if !self.serves(&group_id) {
                continue;
            }
            for (topic, partition) in partitions {
                if self.offsets.get(&group_id, topic, *partition).is_some()
                    || self.has_pending_transactional_offsets(&group_id, topic, *partition)
                {
                    self.apply(tombstone(&group_id, topic, *partition), &mut fx);
                }
            }
        }
        fx
    }

    /// Drops the committed offsets (writing tombstones) of every topic `exists` denies, in
    /// the groups served here: how a broker of a cluster catches up with topics deleted
    /// through any broker. Cheap when nothing is gone.
    pub fn on_topics_missing(&mut self, exists: &dyn Fn(&str) -> bool) -> Effects {
        let mut fx = Effects::default();
        let mut gone = Vec::new();
        for group_id in self.group_ids() {
            if !self.serves(&group_id) {
                continue;
            }
            let mut partitions: std::collections::BTreeSet<(String, i32)> =
                self.pending_txn.partitions_of(&group_id);
            for (topic, committed) in self.offsets.group(&group_id).into_iter().flatten() {
                partitions.extend(committed.keys().map(|p| (topic.clone(), *p)));
            }
            gone.extend(
                partitions
                    .into_iter()
                    .filter(|(topic, _)| !exists(topic))
                    .map(|(topic, p)| tombstone(&group_id, &topic, p)),
            );
        }
        for record in gone {
            self.apply(record, &mut fx);
        }
        fx
    }
}

/// Kafka's `ConsumerGroup.validateOffsetCommit`: a commit without member epoch (-1 or less)
/// only while the group has no members (or, transactional, without member id); otherwise the
/// member must exist (UNKNOWN_MEMBER_ID), commit with OffsetCommit v9+ unless transactional
/// (UNSUPPORTED_VERSION), and with no newer epoch than its own (STALE_MEMBER_EPOCH). An
/// older epoch returns the member: each partition is then checked against it.
pub(super) fn consumer_commit_check<'a>(
    group: &'a ConsumerGroup,
    member_id: &str,
    epoch: i32,
    transactional: bool,
    version: i16,
) -> Result<Option<&'a ConsumerMember>, i16> {
    if epoch < 0 && group.members.is_empty() {
        return Ok(None);
    }
    if transactional && epoch == -1 && member_id.is_empty() {
        return Ok(None);
    }
    let Some(member) = group.members.get(member_id) else {
        return Err(ResponseError::UnknownMemberId.code());
    };
    // A classic member commits with its generation, which is its member epoch, from any
    // version (Kafka's `validateMemberEpoch` with `useClassicProtocol`).
    if member.classic.is_some() {
        return match epoch == member.member_epoch {
            true => Ok(None),
            false => Err(ResponseError::IllegalGeneration.code()),
        };
    }
    if !transactional && version < 9 {
        return Err(ResponseError::UnsupportedVersion.code());
    }
    if epoch == member.member_epoch {
        return Ok(None);
    }
    if epoch > member.member_epoch {
        return Err(ResponseError::StaleMemberEpoch.code());
    }
    Ok(Some(member))
}

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(str_bytes(name))
}
