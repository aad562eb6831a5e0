//! JoinGroup: the first phase of a rebalance.
//!
//! A dynamic member's first JoinGroup (v4+) gets MEMBER_ID_REQUIRED and a member id
//! `<client.id>-<uuid>` to come back with; a static member (`group.instance.id`) skips that,
//! and on a rejoin with an unknown member id replaces its old member id, whose parked
//! requests are fenced with FENCED_INSTANCE_ID. A member's JoinGroup is parked until the join
//! phase completes: when every member rejoined, when the rebalance timeout (the largest of
//! the members') passes, or, for the first rebalance of an Empty group, when
//! `group.initial.rebalance.delay.ms` passes (extended by members that keep arriving).
//! A JoinGroup for a consumer group with members makes a classic member of it
//! (`classic_members`).
//!
//! # References
//! - `GroupCoordinatorService.joinGroup` (INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT)
//! - `GroupMetadataManager.classicGroupJoinToClassicGroup`, `classicGroupJoinNewMember`,
//!   `classicGroupJoinExistingMember`, `updateStaticMemberThenRebalanceOrCompleteJoin`,
//!   `acceptJoiningMember`
//! - KIP-394, KIP-345, KIP-814

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::JoinGroupRequest;

use super::classic::{ClassicGroup, GroupState};
use super::config::GroupConfig;
use super::consumer_group::TopicsImage;
use super::coordinator::{GroupCoordinator, answer_join};
use super::member::{Member, Parked, Protocol, protocols_from_request};
use super::rebalance::abandon;
use super::responses::{join_error, join_error_code, join_ok, sync_error};
use super::{Completion, Effects, MAX_GROUP_ID_BYTES, RequestContext, RequestToken, arm};

/// One JoinGroup request, as the join steps need it.
pub(super) struct Join<'a> {
    pub(super) parked: Parked,
    pub(super) member_id: &'a str,
    pub(super) group_instance_id: Option<&'a str>,
    pub(super) client_id: &'a str,
    pub(super) client_host: &'a str,
    pub(super) session_timeout_ms: i32,
    pub(super) rebalance_timeout_ms: i32,
    pub(super) protocol_type: &'a str,
    pub(super) protocols: Vec<Protocol>,
    pub(super) now_ms: i64,
}

impl Join<'_> {
    pub(super) fn version(&self) -> i16 {
        self.parked.api_version
    }

    pub(super) fn answer(&self, fx: &mut Effects, member_id: &str, error: ResponseError) {
        answer_join(
            fx,
            self.parked.token,
            join_error(self.version(), member_id, error),
        );
    }
}

impl GroupCoordinator {
    /// Handles a JoinGroup parked under `token`; its answer comes in these or later effects.
    /// `image` is the cluster's topics, which a consumer group with classic members computes
    /// its assignment from.
    pub fn join_group(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        ctx: &RequestContext<'_>,
        request: &JoinGroupRequest,
        image: &TopicsImage,
    ) -> Effects {
        let mut fx = Effects::default();
        let version = ctx.api_version;
        let member_id = request.member_id.as_str();
        let group_id = request.group_id.as_str();
        let session_ms = request.session_timeout_ms;
        if let Some(error) = self.join_error(request) {
            answer_join(&mut fx, token, join_error(version, member_id, error));
            return fx;
        }
        let to_consumer_group = self.joins_consumer_group(group_id);
        let new_member_id = (member_id.is_empty() && !to_consumer_group).then(|| {
            let prefix = request
                .group_instance_id
                .as_deref()
                .unwrap_or(ctx.client_id);
            self.generate_member_id(prefix)
        });
        let join = Join {
            parked: Parked {
                token,
                api_version: version,
            },
            member_id,
            group_instance_id: request.group_instance_id.as_deref(),
            client_id: ctx.client_id,
            client_host: ctx.client_host,
            session_timeout_ms: session_ms,
            // JoinGroup v0 has no rebalance timeout: it is the session timeout.
            rebalance_timeout_ms: if version == 0 {
                session_ms
            } else {
                request.rebalance_timeout_ms
            },
            protocol_type: request.protocol_type.as_str(),
            protocols: protocols_from_request(&request.protocols),
            now_ms,
        };
        if to_consumer_group {
            self.classic_join_to_consumer_group(&join, group_id, image, &mut fx);
            return fx;
        }
        // An Empty consumer group of this id becomes a classic group (Kafka's
        // `maybeDeleteEmptyConsumerGroup`); its offsets stay.
        if self.consumer_groups.remove(group_id).is_some() {
            tracing::info!(
                group_id,
                "converted the empty consumer group to a classic group"
            );
        }
        let is_new_group = !self.groups.contains_key(group_id);
        let Self { groups, config, .. } = self;
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| ClassicGroup::new(group_id.to_string(), now_ms));
        let records_before = fx.records.len();
        if !accept_joining_member(group, member_id, config.group_max_size) {
            let removed = group.remove(member_id);
            abandon(removed, &mut fx);
            join.answer(&mut fx, "", ResponseError::GroupMaxSizeReached);
        } else if let Some(new_member_id) = new_member_id {
            join_new_member(group, config, &join, new_member_id, &mut fx);
        } else {
            join_existing_member(group, config, &join, &mut fx);
        }
        if is_new_group && fx.records.len() == records_before {
            fx.records.push(group.empty_metadata_record());
        }
        fx
    }
}

impl GroupCoordinator {
    /// The checks of `GroupCoordinatorService.joinGroup`, and a member id for a group that
    /// does not exist.
    fn join_error(&self, request: &JoinGroupRequest) -> Option<ResponseError> {
        let group_id = request.group_id.as_str();
        let session_ms = request.session_timeout_ms;
        if !self.active {
            Some(ResponseError::CoordinatorNotAvailable)
        } else if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_BYTES {
            Some(ResponseError::InvalidGroupId)
        } else if let Some(error) = self.shard_error(group_id) {
            Some(error)
        } else if session_ms < self.config.group_min_session_timeout_ms
            || session_ms > self.config.group_max_session_timeout_ms
        {
            Some(ResponseError::InvalidSessionTimeout)
        } else if !request.member_id.is_empty()
            && !self.groups.contains_key(group_id)
            && !self.joins_consumer_group(group_id)
        {
            Some(ResponseError::UnknownMemberId)
        } else {
            None
        }
    }
}

/// Kafka's `acceptJoiningMember` (`group.max.size`).
fn accept_joining_member(group: &ClassicGroup, member_id: &str, max_size: i32) -> bool {
    let max_size = usize::try_from(max_size).unwrap_or(0);
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            group
                .members
                .get(member_id)
                .is_some_and(|m| m.awaiting_join.is_some())
                || group.num_awaiting_join() < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.members.contains_key(member_id) || group.members.len() < max_size
        }
    }
}

fn join_new_member(
    group: &mut ClassicGroup,
    cfg: &GroupConfig,
    join: &Join<'_>,
    new_id: String,
    fx: &mut Effects,
) {
    if group.is_in(GroupState::Dead) {
        join.answer(fx, "", ResponseError::CoordinatorNotAvailable);
    } else if !group.supports_protocols(join.protocol_type, &join.protocols) {
        join.answer(fx, "", ResponseError::InconsistentGroupProtocol);
    } else if let Some(instance_id) = join.group_instance_id {
        match group.static_members.get(instance_id).cloned() {
            Some(old_id) => {
                replace_static_member(group, cfg, join, instance_id, &old_id, &new_id, fx)
            }
            None => add_member_then_rebalance(group, cfg, join, &new_id, fx),
        }
    } else if join.version() >= 4 {
        // KIP-394: the member must come back with this id; until then it is pending.
        let deadline_ms = arm(join.now_ms, i64::from(join.session_timeout_ms));
        group.pending_members.insert(new_id.clone(), deadline_ms);
        join.answer(fx, &new_id, ResponseError::MemberIdRequired);
    } else {
        add_member_then_rebalance(group, cfg, join, &new_id, fx);
    }
}

fn join_existing_member(
    group: &mut ClassicGroup,
    cfg: &GroupConfig,
    join: &Join<'_>,
    fx: &mut Effects,
) {
    let member_id = join.member_id;
    if group.is_in(GroupState::Dead) {
        return join.answer(fx, member_id, ResponseError::CoordinatorNotAvailable);
    }
    if !group.supports_protocols(join.protocol_type, &join.protocols) {
        return join.answer(fx, member_id, ResponseError::InconsistentGroupProtocol);
    }
    if group.pending_members.contains_key(member_id) {
        // A pending id is a dynamic member's: Kafka fails such a request as a bug.
        if join.group_instance_id.is_some() {
            return join.answer(fx, member_id, ResponseError::UnknownServerError);
        }
        return add_member_then_rebalance(group, cfg, join, member_id, fx);
    }
    if let Err(code) = group.validate_member(member_id, join.group_instance_id) {
        return answer_join(
            fx,
            join.parked.token,
            join_error_code(join.version(), member_id, code),
        );
    }
    let unchanged = group
        .members
        .get(member_id)
        .is_some_and(|m| m.matches(&join.protocols));
    match group.state {
        GroupState::PreparingRebalance => update_member_then_rebalance(group, cfg, join, fx),
        GroupState::CompletingRebalance if unchanged => {
            // The member missed the JoinGroup answer: give it again.
            let members = if group.is_leader(member_id) {
                group.join_members()
            } else {
                Vec::new()
            };
            let response = join_ok(
                join.version(),
                group,
                member_id,
                group.leader_id.as_deref(),
                members,
                false,
            );
            answer_join(fx, join.parked.token, response);
        }
        GroupState::Stable if unchanged && !group.is_leader(member_id) => {
            let response = join_ok(
                join.version(),
                group,
                member_id,
                group.leader_id.as_deref(),
                Vec::new(),
                false,
            );
            answer_join(fx, join.parked.token, response);
        }
        // The leader rejoining a Stable group, or changed metadata, starts a rebalance.
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_then_rebalance(group, cfg, join, fx)
        }
        GroupState::Empty | GroupState::Dead => {
            join.answer(fx, member_id, ResponseError::UnknownMemberId)
        }
    }
}

/// Kafka's `addMemberThenRebalanceOrCompleteJoin`: the new member's JoinGroup is parked and
/// it has `new_member_join_timeout_ms` to see the join phase complete.
fn add_member_then_rebalance(
    group: &mut ClassicGroup,
    cfg: &GroupConfig,
    join: &Join<'_>,
    member_id: &str,
    fx: &mut Effects,
) {
    let member = Member {
        member_id: member_id.to_string(),
        group_instance_id: join.group_instance_id.map(str::to_string),
        client_id: join.client_id.to_string(),
        client_host: join.client_host.to_string(),
        rebalance_timeout_ms: join.rebalance_timeout_ms,
        session_timeout_ms: join.session_timeout_ms,
        protocol_type: join.protocol_type.to_string(),
        protocols: join.protocols.clone(),
        assignment: Default::default(),
        awaiting_join: Some(join.parked),
        awaiting_sync: None,
        is_new: true,
        heartbeat_deadline_ms: Some(arm(join.now_ms, i64::from(cfg.new_member_join_timeout_ms))),
    };
    if group.is_in(GroupState::PreparingRebalance) && group.previous_state == GroupState::Empty {
        group.new_member_added = true;
    }
    group.add(member);
    group.maybe_prepare_rebalance_or_complete_join(cfg, join.now_ms, fx);
}

/// Kafka's `updateMemberThenRebalanceOrCompleteJoin`.
fn update_member_then_rebalance(
    group: &mut ClassicGroup,
    cfg: &GroupConfig,
    join: &Join<'_>,
    fx: &mut Effects,
) {
    let replaced = group.update_member(
        join.member_id,
        join.protocols.clone(),
        join.rebalance_timeout_ms,
        join.session_timeout_ms,
        Some(join.parked),
    );
    if let Some(old) = replaced.filter(|old| old.token != join.parked.token) {
        fx.complete(old.token, Completion::Abandoned);
    }
    group.maybe_prepare_rebalance_or_complete_join(cfg, join.now_ms, fx);
}

/// Kafka's `updateStaticMemberThenRebalanceOrCompleteJoin`: the instance id now belongs to
/// `new_id`; the old member id's parked requests are fenced. In a Stable group whose protocol
/// would not change, no rebalance happens: the member gets the current generation back.
fn replace_static_member(
    group: &mut ClassicGroup,
    cfg: &GroupConfig,
    join: &Join<'_>,
    instance_id: &str,
    old_id: &str,
    new_id: &str,
    fx: &mut Effects,
) {
    let current_leader = group.leader_id.clone();
    let Some(old) = group.replace_static_member(instance_id, old_id, new_id) else {
        return;
    };
    if let Some(parked) = old.awaiting_join {
        let response = join_error(parked.api_version, old_id, ResponseError::FencedInstanceId);
        fx.complete(parked.token, Completion::JoinGroup(response));
    }
    if let Some(parked) = old.awaiting_sync {
        fx.complete(
            parked.token,
            Completion::SyncGroup(sync_error(ResponseError::FencedInstanceId)),
        );
    }
    if let Some(member) = group.members.get_mut(new_id) {
        member.heartbeat_deadline_ms = Some(arm(join.now_ms, i64::from(member.session_timeout_ms)));
    }
    group.update_member(
        new_id,
        join.protocols.clone(),
        join.rebalance_timeout_ms,
        join.session_timeout_ms,
        Some(join.parked),
    );
    match group.state {
        GroupState::Stable
            if group.protocol_name.as_deref() == Some(group.select_protocol().as_str()) =>
        {
            rejoin_without_rebalance(group, new_id, current_leader.as_deref(), fx)
        }
        GroupState::Stable => group.maybe_prepare_rebalance_or_complete_join(cfg, join.now_ms, fx),
        GroupState::CompletingRebalance => group.prepare_rebalance(cfg, join.now_ms, fx),
        _ => group.maybe_complete_join_phase(join.now_ms, fx),
    }
}

/// A static member rejoined a Stable group without changing its protocol: its new member id
/// is written and it gets the current generation back, no rebalance.
fn rejoin_without_rebalance(
    group: &mut ClassicGroup,
    new_id: &str,
    previous_leader: Option<&str>,
    fx: &mut Effects,
) {
    fx.records.push(group.metadata_record(&group.assignments()));
    let Some(parked) = group
        .members
        .get_mut(new_id)
        .and_then(|m| m.awaiting_join.take())
    else {
        return;
    };
    let response = if parked.api_version >= 9 {
        // KIP-814: a returning leader is told to skip the assignment it already made.
        let is_leader = group.is_leader(new_id);
        let members = if is_leader {
            group.join_members()
        } else {
            Vec::new()
        };
        join_ok(
            parked.api_version,
            group,
            new_id,
            group.leader_id.as_deref(),
            members,
            is_leader,
        )
    } else {
        // Older clients are told the previous leader id, so they act as followers and fetch
        // their unchanged assignment with SyncGroup.
        join_ok(
            parked.api_version,
            group,
            new_id,
            previous_leader,
            Vec::new(),
            false,
        )
    };
    fx.complete(parked.token, Completion::JoinGroup(response));
}
