//! ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848): the consumer rebalance
//! protocol, where the coordinator assigns partitions and each member reconciles towards its
//! target, one heartbeat at a time, with no group-wide barrier.
//!
//! A heartbeat is checked as Kafka 4.3's `GroupCoordinatorService` checks it (INVALID_REQUEST
//! with Kafka's messages, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION), then as
//! `GroupMetadataManager.consumerGroupHeartbeat` handles it:
//!
//! 1. epoch 0 joins (creating the group, or replacing an Empty classic group of that id);
//!    any other epoch needs the group (GROUP_ID_NOT_FOUND) and the member (UNKNOWN_MEMBER_ID;
//!    for a static member, FENCED_INSTANCE_ID when its instance id belongs to another member
//!    id); a member epoch ahead of the coordinator's, or behind it other than the previous
//!    epoch with a subset of the assignment, is FENCED_MEMBER_EPOCH. A static member joining
//!    with the instance id of a member that has not left (epoch -2) gets UNRELEASED_INSTANCE_ID;
//!    one that left takes over its assignment under the new member id. Group full:
//!    GROUP_MAX_SIZE_REACHED (`group.consumer.max.size`).
//! 2. A changed subscription, or changed metadata of a subscribed topic, bumps the group
//!    epoch, and a group epoch ahead of the assignment epoch recomputes the target
//!    assignment with the group's assignor (the one most members ask for, `uniform` by
//!    default; see `assignor`).
//! 3. The member reconciles (see `consumer_group`), and the answer carries its epoch, the
//!    heartbeat interval (`group.consumer.heartbeat.interval.ms`) and, when it joined, sent
//!    a full request or its assignment changed, its assignment.
//!
//! Epoch -1 leaves (the member is removed, the group epoch bumped); -2 is a static member
//! leaving for a while: it keeps its partitions until its session ends. A member silent for
//! `group.consumer.session.timeout.ms` is fenced; one that does not revoke partitions within
//! its rebalance timeout is fenced too.
//!
//! Regular expressions (`subscribed_topic_regex`) are compiled with the `regex` crate, whose
//! syntax is RE2's (Kafka uses RE2/J), matched against whole topic names (internal topics
//! included, as Kafka's `TopicRegexResolver` does), and resolved at once against the
//! broker's topics and again whenever a heartbeat sees the topics change; Kafka resolves them
//! asynchronously, so there a member gets its regex's partitions one group epoch later.
//!
//! # Limits
//! A heartbeat may name at most [`MAX_SUBSCRIBED_TOPICS`] topics and a regex may be at most
//! [`MAX_REGEX_BYTES`] long (compiled within the `regex` crate's size limit): INVALID_REQUEST
//! and INVALID_REGULAR_EXPRESSION beyond; Kafka has no such limits.
//!
//! # Not kept, unlike Kafka
//! Consumer groups are not written to `__consumer_offsets` (Kafka writes
//! ConsumerGroupMetadata, ConsumerGroupMemberMetadata, ConsumerGroupTargetAssignment* and
//! ConsumerGroupCurrentMemberAssignment records): their committed offsets are, but a
//! coordinator that moves (or restarts) forgets the members, which then get UNKNOWN_MEMBER_ID
//! or GROUP_ID_NOT_FOUND and join again. Kafka's `group.consumer.assignment.interval.ms`
//! (at most one new target assignment per second, offloaded to a background thread) is not
//! modelled: a target is computed at once. Classic members cannot join a consumer group, nor
//! consumer members a non-empty classic group (Kafka converts between the two).
//!
//! # References
//! - `GroupCoordinatorService.consumerGroupHeartbeat`,
//!   `throwIfConsumerGroupHeartbeatRequestIsInvalid` (Kafka 4.3)
//! - `GroupMetadataManager.consumerGroupHeartbeat`, `consumerGroupLeave`,
//!   `consumerGroupFenceMember`, `getOrMaybeCreateConsumerGroup`,
//!   `throwIfConsumerGroupMemberEpochIsInvalid`, `consumerGroupDescribe`
//! - KIP-848, KIP-1082 (client-generated member ids, ConsumerGroupHeartbeat v1)

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, TopicPartitions as ResponseTopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use uuid::Uuid;

use super::assignor::{ASSIGNORS, Partitions};
use super::classic::{GroupState, str_bytes};
use super::classic_members::consumer_from_classic;
use super::consumer_group::{
    ConsumerGroup, ConsumerMember, EpochedPartitions, LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH, MemberState, Owned, TopicsImage, owned_subset, strip,
};
use super::coordinator::GroupCoordinator;
use super::{Effects, Reply, RequestContext, arm};

/// The most topic names one heartbeat may subscribe to.
pub const MAX_SUBSCRIBED_TOPICS: usize = 10_000;
/// The longest `subscribed_topic_regex`, in bytes.
pub const MAX_REGEX_BYTES: usize = 4_096;
/// The compiled size a regex may take (the `regex` crate's own default is 10 MiB).
const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;

/// ConsumerGroupDescribe's `member_type` for a consumer-protocol member.
const MEMBER_TYPE_CONSUMER: i8 = 1;
/// ConsumerGroupDescribe's `MemberType` of a classic member (KIP-1099).
const MEMBER_TYPE_CLASSIC: i8 = 0;

/// A Kafka error with its message, as ConsumerGroupHeartbeat reports it.
type Failure = (ResponseError, String);

fn fail<T>(error: ResponseError, message: impl Into<String>) -> Result<T, Failure> {
    Err((error, message.into()))
}

fn error_response((error, message): Failure) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(&message)))
}

/// `Utils.throwIfEmptyString`: present but blank.
fn blank(s: Option<&str>) -> bool {
    s.is_some_and(|s| s.trim().is_empty())
}

/// Kafka 4.3's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
fn validate(version: i16, req: &ConsumerGroupHeartbeatRequest) -> Result<(), Failure> {
    let epoch = req.member_epoch;
    let invalid = ResponseError::InvalidRequest;
    if (version >= 1 || epoch > 0 || epoch == LEAVE_GROUP_MEMBER_EPOCH)
        && blank(Some(&req.member_id))
    {
        return fail(invalid, "MemberId can't be empty.");
    }
    if blank(Some(&req.group_id)) {
        return fail(invalid, "GroupId can't be empty.");
    }
    if blank(req.instance_id.as_deref()) {
        return fail(invalid, "InstanceId can't be empty.");
    }
    if blank(req.rack_id.as_deref()) {
        return fail(invalid, "RackId can't be empty.");
    }
    if epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return fail(
                invalid,
                "RebalanceTimeoutMs must be provided in first request.",
            );
        }
        if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
            return fail(invalid, "TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return fail(
                invalid,
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
            );
        }
    } else if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        if req.instance_id.is_none() {
            return fail(invalid, "InstanceId can't be null.");
        }
    } else if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        return fail(invalid, "MemberEpoch is invalid.");
    }
    if let Some(assignor) = req.server_assignor.as_deref()
        && !ASSIGNORS.contains(&assignor)
    {
        return fail(
            ResponseError::UnsupportedAssignor,
            format!(
                "ServerAssignor {assignor} is not supported. Supported assignors: {}.",
                ASSIGNORS.join(", ")
            ),
        );
    }
    if req
        .subscribed_topic_names
        .as_ref()
        .is_some_and(|t| t.len() > MAX_SUBSCRIBED_TOPICS)
    {
        return fail(
            invalid,
            format!("SubscribedTopicNames can't name more than {MAX_SUBSCRIBED_TOPICS} topics."),
        );
    }
    if let Some(regex) = req
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        compile(regex)?;
    }
    Ok(())
}

/// A subscription regex, matched against whole topic names.
fn compile(regex: &str) -> Result<regex::Regex, Failure> {
    let invalid = |why: String| {
        fail(
            ResponseError::InvalidRegularExpression,
            format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {why}."),
        )
    };
    if regex.len() > MAX_REGEX_BYTES {
        return invalid(format!("longer than {MAX_REGEX_BYTES} bytes"));
    }
    match regex::RegexBuilder::new(&format!("^(?:{regex})$"))
        .size_limit(REGEX_SIZE_LIMIT_BYTES)
        .build()
    {
        Ok(compiled) => Ok(compiled),
        Err(e) => invalid(e.to_string()),
    }
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`: epoch 0 (re)joins and is always
/// accepted; the member then keeps what the coordinator knows of it.
fn check_epoch(member: &ConsumerMember, received: i32, owned: Owned<'_>) -> Result<(), Failure> {
    if received == 0 {
        return Ok(());
    }
    let fenced = |relation: &str| {
        fail(
            ResponseError::FencedMemberEpoch,
            format!(
                "The consumer group member has a {relation} member epoch ({received}) than the one \
                 known by the group coordinator ({}). The member must abandon all its partitions \
                 and rejoin.",
                member.member_epoch
            ),
        )
    };
    if received > member.member_epoch {
        return fenced("greater");
    }
    if received < member.member_epoch
        && (received != member.previous_member_epoch || !owned_subset(owned, &member.assigned))
    {
        return fenced("smaller");
    }
    Ok(())
}

fn response_assignment(assigned: &EpochedPartitions) -> Assignment {
    let topic_partitions = assigned
        .iter()
        .map(|(topic_id, partitions)| {
            ResponseTopicPartitions::default()
                .with_topic_id(*topic_id)
                .with_partitions(partitions.keys().copied().collect())
        })
        .collect();
    Assignment::default().with_topic_partitions(topic_partitions)
}

impl GroupCoordinator {
    /// Handles a ConsumerGroupHeartbeat against the cluster's topics `image`.
    pub fn consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext<'_>,
        req: &ConsumerGroupHeartbeatRequest,
        image: &TopicsImage,
    ) -> Reply<ConsumerGroupHeartbeatResponse> {
        let mut fx = Effects::default();
        let result = validate(ctx.api_version, req)
            .and_then(|()| self.consumer_group_error(req.group_id.as_str()))
            .and_then(|()| match req.member_epoch {
                LEAVE_GROUP_MEMBER_EPOCH | LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                    self.consumer_group_leave(now_ms, req, &mut fx)
                }
                _ => self.consumer_heartbeat(now_ms, ctx, req, image, &mut fx),
            });
        Reply {
            response: result.unwrap_or_else(error_response),
            effects: fx,
        }
    }

    fn consumer_group_error(&self, group_id: &str) -> Result<(), Failure> {
        if !self.active {
            return fail(ResponseError::CoordinatorNotAvailable, "");
        }
        if let Some(error) = self.shard_error(group_id) {
            return fail(error, "");
        }
        Ok(())
    }

    /// Kafka's `getOrMaybeCreateConsumerGroup` (a copy to work on), and whether it replaces
    /// a classic group of that id (Empty, or upgraded: see `classic_members`), which goes
    /// once the heartbeat succeeds.
    fn consumer_group_for(
        &self,
        group_id: &str,
        create: bool,
        image: &TopicsImage,
        now_ms: i64,
    ) -> Result<(ConsumerGroup, bool), Failure> {
        if let Some(group) = self.consumer_groups.get(group_id) {
            return Ok((group.clone(), false));
        }
        match self.groups.get(group_id) {
            None if create => Ok((ConsumerGroup::new(group_id.to_string()), false)),
            None => fail(
                ResponseError::GroupIdNotFound,
                format!("Consumer group {group_id} not found."),
            ),
            Some(classic) if create && classic.is_in(GroupState::Empty) => {
                Ok((ConsumerGroup::new(group_id.to_string()), true))
            }
            Some(classic)
                if create && !classic.is_in(GroupState::Dead) && self.may_upgrade(classic) =>
            {
                match consumer_from_classic(classic, image, now_ms) {
                    Some(group) => Ok((group, true)),
                    None => fail(
                        ResponseError::GroupIdNotFound,
                        format!(
                            "Cannot upgrade the classic group {group_id} to consumer group \
                             because the embedded consumer protocol is malformed."
                        ),
                    ),
                }
            }
            Some(_) => fail(
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            ),
        }
    }

    fn consumer_heartbeat(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext<'_>,
        req: &ConsumerGroupHeartbeatRequest,
        image: &TopicsImage,
        fx: &mut Effects,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        let group_id = req.group_id.as_str();
        let create = req.member_epoch == 0;
        let owned: Owned<'_> = req.topic_partitions.as_deref();
        // Nothing changes unless the whole heartbeat succeeds: work on a copy.
        let (mut group, replaces_classic) =
            self.consumer_group_for(group_id, create, image, now_ms)?;
        let max_size = usize::try_from(self.config.consumer_max_size).unwrap_or(usize::MAX);
        let known = |id: &str| !id.is_empty() && group.members.contains_key(id);
        if group.members.len() >= max_size && !known(req.member_id.as_str()) {
            return fail(
                ResponseError::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    self.config.consumer_max_size
                ),
            );
        }
        let member_id = match req.member_id.as_str() {
            "" => Uuid::new_v4().to_string(),
            id => id.to_string(),
        };
        let member = match req.instance_id.as_deref() {
            None => dynamic_member(&group, &member_id, req.member_epoch, owned, create)?,
            Some(instance_id) => {
                static_member(&mut group, &member_id, instance_id, req, owned, create)?
            }
        };
        let mut updated = member.clone();
        update_member(&mut updated, ctx, req);
        let subscription_changed = updated.subscribed_topic_names != member.subscribed_topic_names
            || updated.subscribed_topic_regex != member.subscribed_topic_regex;
        let (before, next) =
            advance_member(&mut group, updated, subscription_changed, image, owned);
        if next != before {
            if next.state == MemberState::UnrevokedPartitions {
                let timeout_ms = i64::from(next.rebalance_timeout_ms.max(0));
                let deadline = (arm(now_ms, timeout_ms), next.member_epoch);
                group
                    .rebalance_deadlines_ms
                    .insert(member_id.clone(), deadline);
            } else {
                group.rebalance_deadlines_ms.remove(&member_id);
            }
            group.put_member(next.clone());
        }
        let session_ms = i64::from(self.config.consumer_session_timeout_ms);
        group
            .session_deadlines_ms
            .insert(member_id.clone(), arm(now_ms, session_ms));
        let full = create
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.topic_partitions.is_some());
        let assignment = (full || strip(&next.assigned) != strip(&member.assigned))
            .then(|| response_assignment(&next.assigned));
        if replaces_classic {
            self.finish_upgrade(group_id, fx);
        }
        self.consumer_groups.insert(group_id.to_string(), group);
        Ok(ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&member_id)))
            .with_member_epoch(next.member_epoch)
            .with_heartbeat_interval_ms(self.config.consumer_heartbeat_interval_ms)
            .with_assignment(assignment))
    }

    /// Kafka's `consumerGroupLeave`: epoch -1 removes the member, -2 (static members) keeps
    /// it, with its partitions, until it comes back or its session ends.
    fn consumer_group_leave(
        &mut self,
        now_ms: i64,
        req: &ConsumerGroupHeartbeatRequest,
        fx: &mut Effects,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        let group_id = req.group_id.as_str();
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            let message = if self.groups.contains_key(group_id) {
                format!("Group {group_id} is not a consumer group.")
            } else {
                format!("Consumer group {group_id} not found.")
            };
            return fail(ResponseError::GroupIdNotFound, message);
        };
        let member_id = req.member_id.as_str();
        let response = ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(member_id)))
            .with_member_epoch(req.member_epoch);
        let Some(instance_id) = req.instance_id.as_deref() else {
            if !group.members.contains_key(member_id) {
                return fail(
                    ResponseError::UnknownMemberId,
                    unknown_member(member_id, group_id),
                );
            }
            self.fence_consumer_member(group_id, member_id, now_ms, fx);
            return Ok(response);
        };
        let Some(existing) = group.static_members.get(instance_id).cloned() else {
            return fail(
                ResponseError::UnknownMemberId,
                format!("Instance id {instance_id} is unknown."),
            );
        };
        if existing != member_id {
            return fail(
                ResponseError::FencedInstanceId,
                format!(
                    "Static member {member_id} with instance id {instance_id} was fenced by member {existing}."
                ),
            );
        }
        if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            if let Some(member) = group.members.get(member_id) {
                let mut leaving = member.clone();
                leaving.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
                leaving.pending_revocation = EpochedPartitions::new();
                group.rebalance_deadlines_ms.remove(member_id);
                group.put_member(leaving);
            }
        } else {
            self.fence_consumer_member(group_id, member_id, now_ms, fx);
        }
        Ok(response)
    }

    /// The member's session ended: it is fenced, as Kafka's session timer does.
    pub(super) fn on_consumer_session_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if let Some(group) = self.consumer_groups.get(group_id)
            && group.members.contains_key(member_id)
        {
            tracing::info!(group_id, member_id, "member fenced: its session expired");
            self.fence_consumer_member(group_id, member_id, now_ms, fx);
        }
    }

    /// The member did not revoke its partitions within its rebalance timeout.
    pub(super) fn on_consumer_rebalance_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if let Some(group) = self.consumer_groups.get_mut(group_id) {
            group.rebalance_deadlines_ms.remove(member_id);
            let late = group.members.get(member_id).is_some_and(|m| {
                m.state == MemberState::UnrevokedPartitions && m.member_epoch == epoch
            });
            if late {
                tracing::info!(
                    group_id,
                    member_id,
                    "member fenced: it did not revoke in time"
                );
                self.fence_consumer_member(group_id, member_id, now_ms, fx);
            }
        }
    }

    /// A classic member of a consumer group did not rejoin (`join`) or sync in time after
    /// being told to: it is fenced, as Kafka's join and sync timers do.
    pub(super) fn on_classic_member_late(
        &mut self,
        group_id: &str,
        member_id: &str,
        join: bool,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return;
        };
        let timers = if join {
            &mut group.classic_join_deadlines_ms
        } else {
            &mut group.classic_sync_deadlines_ms
        };
        if timers.remove(member_id).is_some() {
            tracing::info!(
                group_id,
                member_id,
                join,
                "classic member fenced: it did not rejoin or sync within its rebalance timeout"
            );
            self.fence_consumer_member(group_id, member_id, now_ms, fx);
        }
    }

    /// Handles a ConsumerGroupDescribe (read-only). Topic names come from `image`.
    pub fn consumer_group_describe(
        &self,
        req: &ConsumerGroupDescribeRequest,
        image: &TopicsImage,
    ) -> ConsumerGroupDescribeResponse {
        let names: std::collections::BTreeMap<Uuid, &str> = image
            .iter()
            .map(|(name, m)| (m.topic_id, name.as_str()))
            .collect();
        let groups = req
            .group_ids
            .iter()
            .map(|group_id| {
                let described = DescribedGroup::default().with_group_id(group_id.clone());
                let id = group_id.as_str();
                if let Err((error, _)) = self.consumer_group_error(id) {
                    return described.with_error_code(error.code());
                }
                match self.consumer_groups.get(id) {
                    Some(group) => describe_group(group, &names, described),
                    None => {
                        let message = if self.groups.contains_key(id) {
                            format!("Group {id} is not a consumer group.")
                        } else {
                            format!("Group {id} not found.")
                        };
                        described
                            .with_error_code(ResponseError::GroupIdNotFound.code())
                            .with_error_message(Some(str_bytes(&message)))
                    }
                }
            })
            .collect();
        ConsumerGroupDescribeResponse::default().with_groups(groups)
    }
}

fn unknown_member(member_id: &str, group_id: &str) -> String {
    format!("Member {member_id} is not a member of group {group_id}.")
}

fn dynamic_member(
    group: &ConsumerGroup,
    member_id: &str,
    epoch: i32,
    owned: Owned<'_>,
    create: bool,
) -> Result<ConsumerMember, Failure> {
    let member = match group.members.get(member_id) {
        Some(m) => m.clone(),
        None if create => ConsumerMember::new(member_id.to_string()),
        None => {
            return fail(
                ResponseError::UnknownMemberId,
                unknown_member(member_id, &group.group_id),
            );
        }
    };
    check_epoch(&member, epoch, owned)?;
    Ok(member)
}

fn static_member(
    group: &mut ConsumerGroup,
    member_id: &str,
    instance_id: &str,
    req: &ConsumerGroupHeartbeatRequest,
    owned: Owned<'_>,
    create: bool,
) -> Result<ConsumerMember, Failure> {
    let Some(existing) = group.static_member(instance_id).cloned() else {
        if create {
            return Ok(group.member_or_new(member_id));
        }
        return fail(
            ResponseError::UnknownMemberId,
            format!("Instance id {instance_id} is unknown."),
        );
    };
    if !create {
        if existing.member_id != member_id {
            return fail(
                ResponseError::FencedInstanceId,
                format!(
                    "Static member {member_id} with instance id {instance_id} was fenced by member {}.",
                    existing.member_id
                ),
            );
        }
        check_epoch(&existing, req.member_epoch, owned)?;
        return Ok(existing);
    }
    if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        return fail(
            ResponseError::UnreleasedInstanceId,
            format!(
                "Static member {member_id} with instance id {instance_id} cannot join the group \
                 because the instance id is owned by {} member.",
                existing.member_id
            ),
        );
    }
    // The returning instance takes over the old member: its target and partitions.
    let mut member = existing;
    member.member_epoch = 0;
    member.previous_member_epoch = 0;
    Ok(group.rename_member(member, member_id))
}

/// Kafka's `ConsumerGroupMember.Builder.maybeUpdate*`: what the heartbeat says replaces what
/// was known; a null means unchanged.
fn update_member(
    member: &mut ConsumerMember,
    ctx: &RequestContext<'_>,
    req: &ConsumerGroupHeartbeatRequest,
) {
    if let Some(instance_id) = &req.instance_id {
        member.instance_id = Some(instance_id.to_string());
    }
    if let Some(rack_id) = &req.rack_id {
        member.rack_id = Some(rack_id.to_string());
    }
    if req.rebalance_timeout_ms != -1 {
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(assignor) = &req.server_assignor {
        member.server_assignor = Some(assignor.to_string());
    }
    if let Some(names) = &req.subscribed_topic_names {
        member.subscribed_topic_names = names.iter().map(|t| t.to_string()).collect();
    }
    if let Some(regex) = &req.subscribed_topic_regex {
        member.subscribed_topic_regex = (!regex.is_empty()).then(|| regex.to_string());
    }
    member.client_id = ctx.client_id.to_string();
    member.client_host = ctx.client_host.to_string();
}

/// Kafka's heartbeat steps 1-3 for a member as its request updated it: the group epoch
/// moves if its subscription (or the metadata of a subscribed topic) changed, the target
/// assignment is recomputed if behind the group epoch, and the member is reconciled one
/// step towards its target given what it reports owning. Returns the member before and
/// after that step; the caller keeps the second.
pub(super) fn advance_member(
    group: &mut ConsumerGroup,
    updated: ConsumerMember,
    subscription_changed: bool,
    image: &TopicsImage,
    owned: Owned<'_>,
) -> (ConsumerMember, ConsumerMember) {
    let member_id = updated.member_id.clone();
    group.put_member(updated);
    resolve_regexes(group, image);
    let metadata = group.compute_subscription_metadata(image);
    if subscription_changed || metadata != group.subscription_metadata {
        group.group_epoch += 1;
        group.subscription_metadata = metadata;
    }
    if group.group_epoch > group.assignment_epoch {
        group.compute_target_assignment();
    }
    let before = group.members[&member_id].clone();
    let target = group.targets.get(&member_id).cloned().unwrap_or_default();
    let next = if before.is_reconciled_to(group.assignment_epoch) {
        before.clone()
    } else {
        group.reconcile(&before, group.assignment_epoch, &target, owned)
    };
    (before, next)
}

/// Resolves every member's regex against the topics now (validated on the way in).
fn resolve_regexes(group: &mut ConsumerGroup, image: &TopicsImage) {
    let regexes: BTreeSet<String> = group
        .members
        .values()
        .filter_map(|m| m.subscribed_topic_regex.clone())
        .collect();
    group.resolved_regex.retain(|r, _| regexes.contains(r));
    for regex in regexes {
        let Ok(compiled) = compile(&regex) else {
            continue;
        };
        let matched = image
            .keys()
            .filter(|t| compiled.is_match(t))
            .cloned()
            .collect();
        group.resolved_regex.insert(regex, matched);
    }
}

fn describe_assignment(
    partitions: &Partitions,
    names: &std::collections::BTreeMap<Uuid, &str>,
) -> describe::Assignment {
    let topic_partitions = partitions
        .iter()
        .map(|(topic_id, ps)| {
            let name = names.get(topic_id).copied().unwrap_or_default();
            describe::TopicPartitions::default()
                .with_topic_id(*topic_id)
                .with_topic_name(TopicName(str_bytes(name)))
                .with_partitions(ps.iter().copied().collect())
        })
        .collect();
    describe::Assignment::default().with_topic_partitions(topic_partitions)
}

fn describe_group(
    group: &ConsumerGroup,
    names: &std::collections::BTreeMap<Uuid, &str>,
    described: DescribedGroup,
) -> DescribedGroup {
    let members = group
        .members
        .values()
        .map(|m| {
            let target = group.targets.get(&m.member_id).cloned().unwrap_or_default();
            describe::Member::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                .with_member_epoch(m.member_epoch)
                .with_client_id(str_bytes(&m.client_id))
                .with_client_host(str_bytes(&m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_topic_names
                        .iter()
                        .map(|t| TopicName(str_bytes(t)))
                        .collect(),
                )
                .with_subscribed_topic_regex(m.subscribed_topic_regex.as_deref().map(str_bytes))
                .with_assignment(describe_assignment(&m.assigned_partitions(), names))
                .with_target_assignment(describe_assignment(&target, names))
                .with_member_type(if m.classic.is_some() {
                    MEMBER_TYPE_CLASSIC
                } else {
                    MEMBER_TYPE_CONSUMER
                })
        })
        .collect();
    described
        .with_group_state(str_bytes(group.state().name()))
        .with_group_epoch(group.group_epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(str_bytes(group.assignor_name()))
        .with_members(members)
}
