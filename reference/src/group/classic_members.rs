//! Classic members in a consumer group, and the online migration between the two group types
//! (KIP-848's upgrade and downgrade).
//!
//! A consumer group (KIP-848) also takes members that speak the classic protocol: a JoinGroup
//! of such a member is answered at once with its member epoch as the generation (no leader,
//! no member list: the coordinator's assignor decides), its SyncGroup with the partitions it
//! owns now, and its Heartbeat with REBALANCE_IN_PROGRESS whenever it must rejoin to move
//! towards its target (the group epoch moved, it has partitions to give up, or partitions it
//! waited for are free). It gives partitions up by rejoining without them: the owned
//! partitions of its subscription stand for the consumer protocol's heartbeat field.
//!
//! The conversions, with `group.consumer.migration.policy` (Kafka 4's default
//! `bidirectional`):
//! - upgrade: a ConsumerGroupHeartbeat joining a non-empty classic group of the consumer
//!   protocol turns it into a consumer group; each classic member keeps its id, its last
//!   assignment (its target too) and its generation as member epoch. Parked JoinGroup and
//!   SyncGroup requests are answered REBALANCE_IN_PROGRESS. (An Empty group of either type
//!   is simply replaced, whatever the policy.)
//! - downgrade: when the last member of the consumer protocol leaves or is fenced and
//!   classic members remain (Kafka's `numMembers() > 1`, the leaving one counted), the group
//!   becomes a classic group at the group epoch, each member holding its target, and a
//!   rebalance starts.
//!
//! A classic member is fenced when it does not rejoin within its rebalance timeout of being
//! told to (the join timer), or does not send SyncGroup within it after joining (the sync
//! timer), or when its session (its JoinGroup's session timeout) ends.
//!
//! Not modelled: a static member replacing the last consumer-protocol member by JoinGroup
//! does not downgrade the group (Kafka's `validateOnlineDowngradeWithReplacedMemberId`).
//!
//! # References
//! - `GroupMetadataManager.classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup`,
//!   `classicGroupHeartbeatToConsumerGroup`, `classicGroupLeaveToConsumerGroup`,
//!   `validateOnlineUpgrade`, `convertToConsumerGroup`, `validateOnlineDowngradeWithFencedMember`,
//!   `convertToClassicGroup`, `consumerGroupFenceMember`
//! - `ConsumerGroup.fromClassicGroup`, `ClassicGroup.fromConsumerGroup`,
//!   `ConsumerGroup.supportsClassicProtocols`, `ConsumerGroupMigrationPolicy`
//! - KIP-848 ("Upgrade / downgrade")

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use uuid::Uuid;

use super::classic::{ClassicGroup, GroupState, str_bytes};
use super::consumer_group::{
    ClassicMetadata, ConsumerGroup, ConsumerMember, EpochedPartitions, MemberState, TopicsImage,
    strip,
};
use super::consumer_heartbeat::advance_member;
use super::consumer_protocol::{self, PROTOCOL_TYPE};
use super::coordinator::{GroupCoordinator, answer_join};
use super::join::Join;
use super::member::Member;
use super::record::GroupRecord;
use super::responses::{join_error, shape_join, sync_error};
use super::{Completion, Effects, arm};

/// `group.consumer.migration.policy`: which conversions between classic and consumer groups
/// happen while the group has members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    Disabled,
    Upgrade,
    Downgrade,
    Bidirectional,
}

impl MigrationPolicy {
    /// Kafka's `ConsumerGroupMigrationPolicy.parse` (case-insensitive).
    pub fn parse(value: &str) -> Option<MigrationPolicy> {
        match value.trim().to_ascii_lowercase().as_str() {
            "disabled" => Some(MigrationPolicy::Disabled),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            _ => None,
        }
    }

    fn upgrades(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Upgrade | MigrationPolicy::Bidirectional
        )
    }

    fn downgrades(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Downgrade | MigrationPolicy::Bidirectional
        )
    }
}

/// Kafka's form of a new member id: a random UUID in 22 characters of URL-safe base64.
fn new_member_id() -> String {
    crate::cluster::base64_url(Uuid::new_v4().as_bytes())
}

impl GroupCoordinator {
    /// Whether a JoinGroup for `group_id` goes to a consumer group (one with members: an
    /// Empty consumer group is replaced by a classic group).
    pub(super) fn joins_consumer_group(&self, group_id: &str) -> bool {
        self.consumer_groups
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
    }

    /// Kafka's `classicGroupJoinToConsumerGroup`.
    pub(super) fn classic_join_to_consumer_group(
        &mut self,
        join: &Join<'_>,
        group_id: &str,
        image: &TopicsImage,
        fx: &mut Effects,
    ) {
        let Some(mut group) = self.consumer_groups.get(group_id).cloned() else {
            return join.answer(fx, join.member_id, ResponseError::UnknownMemberId);
        };
        let unknown = join.member_id.is_empty();
        let member_id = if unknown {
            new_member_id()
        } else {
            join.member_id.to_string()
        };
        let max_size = usize::try_from(self.config.consumer_max_size).unwrap_or(usize::MAX);
        if group.members.len() >= max_size && !group.members.contains_key(&member_id) {
            return join.answer(fx, &member_id, ResponseError::GroupMaxSizeReached);
        }
        if !group.supports_classic_protocols(join.protocol_type, &join.protocols) {
            return join.answer(fx, &member_id, ResponseError::InconsistentGroupProtocol);
        }
        if unknown && join.group_instance_id.is_none() && join.version() >= 4 {
            return join.answer(fx, &member_id, ResponseError::MemberIdRequired);
        }
        let Some(subscription) = join
            .protocols
            .first()
            .and_then(|p| consumer_protocol::subscription_of(&p.metadata))
        else {
            tracing::warn!(
                group_id,
                member_id,
                "a classic member's subscription does not parse"
            );
            return join.answer(fx, &member_id, ResponseError::UnknownServerError);
        };
        let member = match join.group_instance_id {
            None => group.member_or_new(&member_id),
            Some(instance_id) => {
                match static_classic_member(&mut group, &member_id, instance_id, unknown) {
                    Ok(member) => member,
                    Err(error) => return join.answer(fx, &member_id, error),
                }
            }
        };
        let mut updated = member.clone();
        if let Some(instance_id) = join.group_instance_id {
            updated.instance_id = Some(instance_id.to_string());
        }
        if let Some(rack) = &subscription.rack_id {
            updated.rack_id = Some(rack.clone());
        }
        if join.rebalance_timeout_ms != -1 {
            updated.rebalance_timeout_ms = join.rebalance_timeout_ms;
        }
        updated.server_assignor = None;
        updated.subscribed_topic_names = subscription.topics.iter().cloned().collect();
        updated.subscribed_topic_regex = None;
        updated.client_id = join.client_id.to_string();
        updated.client_host = join.client_host.to_string();
        updated.classic = Some(ClassicMetadata {
            session_timeout_ms: join.session_timeout_ms,
            protocols: join.protocols.clone(),
        });
        let subscription_changed = updated.subscribed_topic_names != member.subscribed_topic_names;
        let owned = owned_by_id(&subscription.owned_partitions, image);
        let (before, next) = advance_member(
            &mut group,
            updated,
            subscription_changed,
            image,
            Some(&owned),
        );
        if next != before {
            group.put_member(next.clone());
        }
        let now_ms = join.now_ms;
        group.classic_join_deadlines_ms.remove(&member_id);
        group.session_deadlines_ms.insert(
            member_id.clone(),
            arm(now_ms, i64::from(join.session_timeout_ms)),
        );
        group.classic_sync_deadlines_ms.insert(
            member_id.clone(),
            arm(now_ms, i64::from(join.rebalance_timeout_ms)),
        );
        let protocol_name = join
            .protocols
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        self.consumer_groups.insert(group_id.to_string(), group);
        let mut response = JoinGroupResponse::default()
            .with_member_id(str_bytes(&member_id))
            .with_generation_id(next.member_epoch)
            .with_protocol_type(Some(str_bytes(PROTOCOL_TYPE)))
            .with_protocol_name(Some(str_bytes(&protocol_name)));
        shape_join(join.version(), &mut response);
        answer_join(fx, join.parked.token, response);
    }

    /// Kafka's `classicGroupSyncToConsumerGroup`, after the checks every SyncGroup gets.
    pub(super) fn classic_sync_to_consumer_group(
        &mut self,
        now_ms: i64,
        request: &SyncGroupRequest,
    ) -> SyncGroupResponse {
        let group_id = request.group_id.as_str();
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return sync_error(ResponseError::UnknownMemberId);
        };
        let member = match classic_member(
            group,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
        ) {
            Ok(member) => member,
            Err(error) => return sync_error(error),
        };
        let Some(classic) = member.classic.clone() else {
            return sync_error(ResponseError::UnknownMemberId);
        };
        if request.generation_id != member.member_epoch {
            return sync_error(ResponseError::IllegalGeneration);
        }
        let type_differs = request
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != PROTOCOL_TYPE);
        let name_differs = request
            .protocol_name
            .as_deref()
            .is_some_and(|n| n != classic.protocol_name());
        if type_differs || name_differs {
            return sync_error(ResponseError::InconsistentGroupProtocol);
        }
        let member_id = member.member_id.clone();
        if group.group_epoch > member.member_epoch
            && member.state != MemberState::UnrevokedPartitions
        {
            schedule_join_timeout(group, &member, now_ms);
            return sync_error(ResponseError::RebalanceInProgress);
        }
        group.classic_sync_deadlines_ms.remove(&member_id);
        group.session_deadlines_ms.insert(
            member_id,
            arm(now_ms, i64::from(classic.session_timeout_ms)),
        );
        let version = classic
            .protocols
            .first()
            .and_then(|p| consumer_protocol::version_of(&p.metadata))
            .unwrap_or(0);
        let assignment =
            consumer_protocol::encode_assignment(version, &group.named(&strip(&member.assigned)));
        SyncGroupResponse::default()
            .with_protocol_type(request.protocol_type.clone())
            .with_protocol_name(request.protocol_name.clone())
            .with_assignment(assignment)
    }

    /// Kafka's `classicGroupHeartbeatToConsumerGroup`: the error code to answer with.
    pub(super) fn classic_heartbeat_to_consumer_group(
        &mut self,
        now_ms: i64,
        request: &HeartbeatRequest,
    ) -> i16 {
        let Some(group) = self.consumer_groups.get_mut(request.group_id.as_str()) else {
            return ResponseError::UnknownMemberId.code();
        };
        let member = match classic_member(
            group,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
        ) {
            Ok(member) => member,
            Err(error) => return error.code(),
        };
        let Some(classic) = &member.classic else {
            return ResponseError::UnknownMemberId.code();
        };
        if request.generation_id != member.member_epoch {
            return ResponseError::IllegalGeneration.code();
        }
        group.session_deadlines_ms.insert(
            member.member_id.clone(),
            arm(now_ms, i64::from(classic.session_timeout_ms)),
        );
        let rejoin = member.member_epoch < group.group_epoch
            || member.state == MemberState::UnrevokedPartitions
            || (member.state == MemberState::UnreleasedPartitions
                && !group.waiting_on_unreleased(&member));
        if rejoin {
            schedule_join_timeout(group, &member, now_ms);
            ResponseError::RebalanceInProgress.code()
        } else {
            0
        }
    }

    /// Kafka's `classicGroupLeaveToConsumerGroup`: classic members leave; the group epoch
    /// moves once if any did.
    pub(super) fn classic_leave_consumer_group(
        &mut self,
        group_id: &str,
        identities: &[MemberIdentity],
    ) -> Vec<MemberResponse> {
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return Vec::new();
        };
        let mut left = false;
        let responses = identities
            .iter()
            .map(|identity| {
                let instance_id = identity.group_instance_id.as_deref();
                let response = MemberResponse::default()
                    .with_member_id(identity.member_id.clone())
                    .with_group_instance_id(identity.group_instance_id.clone());
                let member = match instance_id {
                    None => group
                        .members
                        .get(identity.member_id.as_str())
                        .cloned()
                        .ok_or(ResponseError::UnknownMemberId),
                    Some(instance_id) => static_for_leave(group, identity, instance_id),
                };
                match member {
                    Ok(member) if member.classic.is_some() => {
                        tracing::info!(
                            group_id,
                            member_id = member.member_id,
                            "classic member left the consumer group"
                        );
                        group.remove_member(&member.member_id);
                        left = true;
                        response.with_member_id(str_bytes(&member.member_id))
                    }
                    Ok(_) => response.with_error_code(ResponseError::UnknownMemberId.code()),
                    Err(error) => response.with_error_code(error.code()),
                }
            })
            .collect();
        if left {
            let subscribed = group.subscribed_topics();
            group
                .subscription_metadata
                .retain(|name, _| subscribed.contains(name));
            group.group_epoch += 1;
        }
        responses
    }

    /// Kafka's `consumerGroupFenceMember`: the member is removed and the group epoch moves,
    /// unless only classic members (at least one) would remain and the policy downgrades,
    /// in which case the group becomes a classic group without it.
    pub(super) fn fence_consumer_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return;
        };
        if !group.members.contains_key(member_id) {
            return;
        }
        let max_size = usize::try_from(self.config.group_max_size).unwrap_or(usize::MAX);
        let downgrade = group.all_classic_except(member_id)
            && group.members.len() > 1
            && self.config.consumer_migration_policy.downgrades()
            && group.members.len() - 1 <= max_size;
        if !downgrade {
            if group.remove_member(member_id).is_some() {
                let subscribed = group.subscribed_topics();
                group
                    .subscription_metadata
                    .retain(|name, _| subscribed.contains(name));
                group.group_epoch += 1;
            }
            return;
        }
        let Some(group) = self.consumer_groups.remove(group_id) else {
            return;
        };
        tracing::info!(
            group_id,
            member_id,
            "downgraded the consumer group to a classic group: only classic members remain"
        );
        let mut classic = classic_from_consumer(&group, member_id, now_ms);
        fx.records
            .push(classic.metadata_record(&classic.assignments()));
        classic.prepare_rebalance(&self.config, now_ms, fx);
        self.groups.insert(group_id.to_string(), classic);
    }

    /// Kafka's `validateOnlineUpgrade` for the non-empty classic group `group_id`.
    pub(super) fn may_upgrade(&self, classic: &ClassicGroup) -> bool {
        let max_size = usize::try_from(self.config.consumer_max_size).unwrap_or(usize::MAX);
        self.config.consumer_migration_policy.upgrades()
            && classic.uses_consumer_protocol()
            && classic.members.len() <= max_size
    }

    /// Kafka's `convertToConsumerGroup`: the finished conversion of `group_id`, once the
    /// heartbeat that asked for it succeeded. Its parked requests are told to rejoin.
    pub(super) fn finish_upgrade(&mut self, group_id: &str, fx: &mut Effects) {
        let Some(classic) = self.groups.remove(group_id) else {
            return;
        };
        tracing::info!(
            group_id,
            "upgraded the classic group to a consumer group: a consumer-protocol member joined"
        );
        for member in classic.members.values() {
            if let Some(parked) = member.awaiting_join {
                answer_join(
                    fx,
                    parked.token,
                    join_error(
                        parked.api_version,
                        &member.member_id,
                        ResponseError::RebalanceInProgress,
                    ),
                );
            }
            if let Some(parked) = member.awaiting_sync {
                fx.complete(
                    parked.token,
                    Completion::SyncGroup(sync_error(ResponseError::RebalanceInProgress)),
                );
            }
        }
        fx.records.push(GroupRecord::GroupMetadata {
            group_id: group_id.to_string(),
            value: None,
        });
    }
}

/// Kafka's `ConsumerGroup.fromClassicGroup`: every member Stable at the generation, owning
/// (and targeted with) its last assignment. `None` when a member's embedded protocol does
/// not parse, or two members claim one partition.
pub(super) fn consumer_from_classic(
    classic: &ClassicGroup,
    image: &TopicsImage,
    now_ms: i64,
) -> Option<ConsumerGroup> {
    let generation = classic.generation_id;
    let mut group = ConsumerGroup::new(classic.group_id.clone());
    group.group_epoch = generation;
    group.assignment_epoch = generation;
    let mut taken = std::collections::BTreeSet::new();
    for m in classic.members.values() {
        let protocol = classic
            .protocol_name
            .clone()
            .or_else(|| m.protocols.first().map(|p| p.name.clone()))?;
        let subscription = consumer_protocol::subscription_of(&m.metadata(&protocol))?;
        let mut assigned = EpochedPartitions::new();
        for (topic, partitions) in consumer_protocol::assignment_of(&m.assignment)? {
            let Some(topic) = image.get(&topic) else {
                continue;
            };
            for p in partitions {
                if !taken.insert((topic.topic_id, p)) {
                    return None;
                }
                assigned
                    .entry(topic.topic_id)
                    .or_default()
                    .insert(p, generation);
            }
        }
        let mut member = ConsumerMember::new(m.member_id.clone());
        member.member_epoch = generation;
        member.previous_member_epoch = generation;
        member.instance_id = m.group_instance_id.clone();
        member.rack_id = subscription.rack_id;
        member.rebalance_timeout_ms = m.rebalance_timeout_ms;
        member.client_id = m.client_id.clone();
        member.client_host = m.client_host.clone();
        member.subscribed_topic_names = subscription.topics.into_iter().collect();
        member.classic = Some(ClassicMetadata {
            session_timeout_ms: m.session_timeout_ms,
            protocols: m.protocols.clone(),
        });
        group.targets.insert(m.member_id.clone(), strip(&assigned));
        member.assigned = assigned;
        group.session_deadlines_ms.insert(
            m.member_id.clone(),
            arm(now_ms, i64::from(m.session_timeout_ms)),
        );
        group.put_member(member);
    }
    Some(group)
}

/// Kafka's `ClassicGroup.fromConsumerGroup` without `leaving`: Stable at the group epoch,
/// each member holding its target, serialized in the version of its metadata.
fn classic_from_consumer(group: &ConsumerGroup, leaving: &str, now_ms: i64) -> ClassicGroup {
    let mut classic = ClassicGroup::new(group.group_id.clone(), now_ms);
    classic.state = GroupState::Stable;
    classic.previous_state = GroupState::Empty;
    classic.generation_id = group.group_epoch;
    classic.protocol_type = Some(PROTOCOL_TYPE.to_string());
    for m in group.members.values().filter(|m| m.member_id != leaving) {
        let Some(meta) = &m.classic else {
            continue;
        };
        classic.add(Member {
            member_id: m.member_id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: meta.session_timeout_ms,
            protocol_type: PROTOCOL_TYPE.to_string(),
            protocols: meta.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline_ms: Some(arm(now_ms, i64::from(meta.session_timeout_ms))),
        });
    }
    let protocol = classic.select_protocol();
    classic.protocol_name = Some(protocol.clone());
    classic.subscribed_topics = classic.compute_subscribed_topics();
    let assignments: BTreeMap<String, Bytes> = classic
        .members
        .values()
        .map(|m| {
            let metadata = m.metadata(&protocol);
            let version = consumer_protocol::version_of(&metadata).unwrap_or(0);
            let target = group.targets.get(&m.member_id).cloned().unwrap_or_default();
            let bytes = consumer_protocol::encode_assignment(version, &group.named(&target));
            (m.member_id.clone(), bytes)
        })
        .collect();
    for (member_id, bytes) in assignments {
        if let Some(m) = classic.members.get_mut(&member_id) {
            m.assignment = bytes;
        }
    }
    classic
}

/// The owned partitions of a classic subscription in the heartbeat's shape (topics the
/// cluster does not know are left out, as Kafka's `toTopicPartitions`).
fn owned_by_id(owned: &[(String, Vec<i32>)], image: &TopicsImage) -> Vec<TopicPartitions> {
    owned
        .iter()
        .filter_map(|(topic, partitions)| {
            let topic = image.get(topic)?;
            Some(
                TopicPartitions::default()
                    .with_topic_id(topic.topic_id)
                    .with_partitions(partitions.clone()),
            )
        })
        .collect()
}

/// Kafka's join timer for a classic member told to rejoin (scheduled if absent).
fn schedule_join_timeout(group: &mut ConsumerGroup, member: &ConsumerMember, now_ms: i64) {
    let timeout_ms = i64::from(member.rebalance_timeout_ms.max(0));
    group
        .classic_join_deadlines_ms
        .entry(member.member_id.clone())
        .or_insert_with(|| arm(now_ms, timeout_ms));
}

/// Kafka's `validateConsumerGroupMember`: the member by id, or by instance id (which must
/// still belong to `member_id`).
fn classic_member(
    group: &ConsumerGroup,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<ConsumerMember, ResponseError> {
    let member = match instance_id {
        None => group.members.get(member_id),
        Some(instance_id) => {
            let member = group
                .static_member(instance_id)
                .ok_or(ResponseError::UnknownMemberId)?;
            if member.member_id != member_id {
                return Err(ResponseError::FencedInstanceId);
            }
            Some(member)
        }
    };
    member.cloned().ok_or(ResponseError::UnknownMemberId)
}

/// A static member named in a LeaveGroup: an empty member id removes it by instance id.
fn static_for_leave(
    group: &ConsumerGroup,
    identity: &MemberIdentity,
    instance_id: &str,
) -> Result<ConsumerMember, ResponseError> {
    let member = group
        .static_member(instance_id)
        .ok_or(ResponseError::UnknownMemberId)?;
    if !identity.member_id.is_empty() && member.member_id != identity.member_id.as_str() {
        return Err(ResponseError::FencedInstanceId);
    }
    Ok(member.clone())
}

/// A static classic member joining: its own member, or (joining with no member id) the
/// instance's previous member taken over with everything it owns.
fn static_classic_member(
    group: &mut ConsumerGroup,
    member_id: &str,
    instance_id: &str,
    unknown: bool,
) -> Result<ConsumerMember, ResponseError> {
    let Some(existing) = group.static_member(instance_id).cloned() else {
        return Ok(group.member_or_new(member_id));
    };
    if existing.member_id == member_id {
        return Ok(existing);
    }
    if !unknown {
        return Err(ResponseError::FencedInstanceId);
    }
    Ok(group.rename_member(existing, member_id))
}
