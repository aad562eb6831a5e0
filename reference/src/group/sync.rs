//! SyncGroup, Heartbeat and LeaveGroup: the rest of a member's life in a classic group.
//!
//! SyncGroup from followers is parked until the leader's SyncGroup brings the assignment;
//! the assignment is then written (GroupMetadata record) and every parked SyncGroup gets its
//! member's part. Heartbeats keep a member's session alive and tell it, with
//! REBALANCE_IN_PROGRESS, that it must rejoin. LeaveGroup (batched by member identity from
//! v3) removes members at once instead of waiting for their sessions to expire.
//!
//! # References
//! - `GroupCoordinatorService.syncGroup`, `heartbeat`, `leaveGroup`
//! - `GroupMetadataManager.classicGroupSyncToClassicGroup`, `validateSyncGroup`,
//!   `classicGroupHeartbeatToClassicGroup`, `classicGroupLeaveToClassicGroup`
//! - `KafkaApis.handleSyncGroupRequest` (v5+: protocol type and name are mandatory),
//!   `LeaveGroupRequest.normalizedData`, `LeaveGroupResponse` (v0-2 carry one error)
//! - KIP-345 (batch leave), KIP-559 (protocol type and name in SyncGroup)

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
};

use super::classic::{ClassicGroup, GroupState};
use super::coordinator::GroupCoordinator;
use super::member::Parked;
use super::responses::{sync_error, sync_response};
use super::{Completion, Effects, Reply, RequestContext, RequestToken, arm};

impl GroupCoordinator {
    /// Handles a SyncGroup parked under `token`; its answer comes in these or later effects.
    pub fn sync_group(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        ctx: &RequestContext<'_>,
        request: &SyncGroupRequest,
    ) -> Effects {
        let mut fx = Effects::default();
        let parked = Parked {
            token,
            api_version: ctx.api_version,
        };
        if self.sync_checks(ctx.api_version, request).is_ok()
            && self.consumer_groups.contains_key(request.group_id.as_str())
        {
            let response = self.classic_sync_to_consumer_group(now_ms, request);
            fx.complete(token, Completion::SyncGroup(response));
            return fx;
        }
        match self.sync_target(ctx.api_version, request) {
            Ok(group) => sync_member(group, parked, request, now_ms, &mut fx),
            Err(code) => {
                let response = sync_response(None, Bytes::new(), code);
                fx.complete(token, Completion::SyncGroup(response));
            }
        }
        fx
    }

    /// The group a SyncGroup acts on, or the error that answers it.
    fn sync_target(
        &mut self,
        version: i16,
        request: &SyncGroupRequest,
    ) -> Result<&mut ClassicGroup, i16> {
        self.sync_checks(version, request)?;
        let group = self
            .groups
            .get_mut(request.group_id.as_str())
            .filter(|g| !g.is_in(GroupState::Empty))
            .ok_or(ResponseError::UnknownMemberId.code())?;
        validate_sync(group, request)?;
        Ok(group)
    }

    /// The checks of every SyncGroup, whatever its group's type.
    fn sync_checks(&self, version: i16, request: &SyncGroupRequest) -> Result<(), i16> {
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if request.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if let Some(error) = self.shard_error(request.group_id.as_str()) {
            return Err(error.code());
        }
        if version >= 5 && (request.protocol_type.is_none() || request.protocol_name.is_none()) {
            return Err(ResponseError::InconsistentGroupProtocol.code());
        }
        Ok(())
    }

    /// Handles a Heartbeat: keeps the member's session alive.
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        _ctx: &RequestContext<'_>,
        request: &HeartbeatRequest,
    ) -> HeartbeatResponse {
        let error = self.heartbeat_error(now_ms, request);
        HeartbeatResponse::default().with_error_code(error)
    }

    fn heartbeat_error(&mut self, now_ms: i64, request: &HeartbeatRequest) -> i16 {
        if !self.active {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        if request.group_id.is_empty() {
            return ResponseError::InvalidGroupId.code();
        }
        if let Some(error) = self.shard_error(request.group_id.as_str()) {
            return error.code();
        }
        if self.consumer_groups.contains_key(request.group_id.as_str()) {
            return self.classic_heartbeat_to_consumer_group(now_ms, request);
        }
        let Some(group) = self.groups.get_mut(request.group_id.as_str()) else {
            return ResponseError::UnknownMemberId.code();
        };
        if group.is_in(GroupState::Dead) {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        let member_id = request.member_id.as_str();
        if let Err(code) = group.validate_member(member_id, request.group_instance_id.as_deref()) {
            return code;
        }
        if request.generation_id != group.generation_id {
            return ResponseError::IllegalGeneration.code();
        }
        let rebalancing = match group.state {
            GroupState::Empty | GroupState::Dead => return ResponseError::UnknownMemberId.code(),
            GroupState::PreparingRebalance => true,
            GroupState::CompletingRebalance | GroupState::Stable => false,
        };
        if let Some(member) = group.members.get_mut(member_id) {
            member.heartbeat_deadline_ms = Some(arm(now_ms, i64::from(member.session_timeout_ms)));
        }
        if rebalancing {
            ResponseError::RebalanceInProgress.code()
        } else {
            0
        }
    }

    /// Handles a LeaveGroup (one member before v3, a batch of member identities from v3).
    pub fn leave_group(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext<'_>,
        request: &LeaveGroupRequest,
    ) -> Reply<LeaveGroupResponse> {
        let version = ctx.api_version;
        let mut fx = Effects::default();
        let identities: Vec<MemberIdentity> = if version >= 3 {
            request.members.clone()
        } else {
            vec![MemberIdentity::default().with_member_id(request.member_id.clone())]
        };
        let top_error = if !self.active {
            Some(ResponseError::CoordinatorNotAvailable)
        } else if request.group_id.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else {
            self.shard_error(request.group_id.as_str())
        };
        if top_error.is_none() && self.consumer_groups.contains_key(request.group_id.as_str()) {
            let members = self.classic_leave_consumer_group(request.group_id.as_str(), &identities);
            return leave_reply(version, 0, members, fx);
        }
        let Self { groups, config, .. } = self;
        let members = match (top_error, groups.get_mut(request.group_id.as_str())) {
            (Some(error), _) => return leave_reply(version, error.code(), Vec::new(), fx),
            (None, None) => identities
                .iter()
                .map(|id| member_response(id, ResponseError::UnknownMemberId.code()))
                .collect(),
            (None, Some(group)) if group.is_in(GroupState::Dead) => {
                return leave_reply(
                    version,
                    ResponseError::CoordinatorNotAvailable.code(),
                    Vec::new(),
                    fx,
                );
            }
            (None, Some(group)) => {
                let responses: Vec<MemberResponse> = identities
                    .iter()
                    .map(|id| leave_one(group, id, &mut fx))
                    .collect();
                if responses.iter().any(|r| r.error_code == 0) {
                    match group.state {
                        GroupState::Stable | GroupState::CompletingRebalance => {
                            group.maybe_prepare_rebalance_or_complete_join(config, now_ms, &mut fx)
                        }
                        GroupState::PreparingRebalance => {
                            group.maybe_complete_join_phase(now_ms, &mut fx)
                        }
                        GroupState::Empty | GroupState::Dead => {}
                    }
                }
                responses
            }
        };
        leave_reply(version, 0, members, fx)
    }
}

/// A valid SyncGroup: parked until the leader's assignment while the group completes its
/// rebalance (the leader's own SyncGroup stores and hands out the assignment), answered at
/// once in a Stable group.
fn sync_member(
    group: &mut ClassicGroup,
    parked: Parked,
    request: &SyncGroupRequest,
    now_ms: i64,
    fx: &mut Effects,
) {
    let member_id = request.member_id.as_str();
    let answer = match group.state {
        GroupState::PreparingRebalance => sync_error(ResponseError::RebalanceInProgress),
        GroupState::CompletingRebalance => {
            let replaced = group
                .members
                .get_mut(member_id)
                .and_then(|m| m.awaiting_sync.replace(parked));
            if let Some(old) = replaced {
                fx.complete(old.token, Completion::Abandoned);
            }
            remove_pending_sync_member(group, member_id);
            if group.is_leader(member_id) {
                let mut assignment: BTreeMap<String, Bytes> = BTreeMap::new();
                for a in &request.assignments {
                    assignment.insert(a.member_id.to_string(), a.assignment.clone());
                }
                fx.records.push(group.metadata_record(&assignment));
                group.set_and_propagate_assignment(&assignment, now_ms, fx);
            }
            return;
        }
        GroupState::Stable => {
            remove_pending_sync_member(group, member_id);
            let assignment = group
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default();
            sync_response(Some(group), assignment, 0)
        }
        GroupState::Empty | GroupState::Dead => sync_error(ResponseError::CoordinatorNotAvailable),
    };
    fx.complete(parked.token, Completion::SyncGroup(answer));
}

/// Kafka's `validateSyncGroup` (the group exists and is not Empty).
fn validate_sync(group: &ClassicGroup, request: &SyncGroupRequest) -> Result<(), i16> {
    if group.is_in(GroupState::Dead) {
        return Err(ResponseError::CoordinatorNotAvailable.code());
    }
    group.validate_member(
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
    )?;
    if request.generation_id != group.generation_id {
        return Err(ResponseError::IllegalGeneration.code());
    }
    if inconsistent(
        request.protocol_type.as_deref(),
        group.protocol_type.as_deref(),
    ) || inconsistent(
        request.protocol_name.as_deref(),
        group.protocol_name.as_deref(),
    ) {
        return Err(ResponseError::InconsistentGroupProtocol.code());
    }
    Ok(())
}

fn inconsistent(requested: Option<&str>, current: Option<&str>) -> bool {
    matches!((requested, current), (Some(r), Some(c)) if r != c)
}

/// Kafka's `removePendingSyncMember`; the sync timer goes once everyone has synced.
fn remove_pending_sync_member(group: &mut ClassicGroup, member_id: &str) {
    group.pending_sync_members.remove(member_id);
    if group.pending_sync_members.is_empty() {
        group.sync_timer = None;
    }
}

/// One identity of a LeaveGroup: by member id, or (member id `""`) by group instance id.
fn leave_one(
    group: &mut ClassicGroup,
    identity: &MemberIdentity,
    fx: &mut Effects,
) -> MemberResponse {
    let member_id = identity.member_id.as_str();
    let instance_id = identity.group_instance_id.as_deref();
    let error = if member_id.is_empty() {
        match instance_id
            .and_then(|i| group.static_members.get(i))
            .cloned()
        {
            Some(static_id) => {
                group.remove_with_unknown_member_answer(&static_id, fx);
                0
            }
            None => ResponseError::UnknownMemberId.code(),
        }
    } else if group.pending_members.remove(member_id).is_some() {
        0
    } else {
        match group.validate_member(member_id, instance_id) {
            Ok(()) => {
                group.remove_with_unknown_member_answer(member_id, fx);
                0
            }
            Err(code) => code,
        }
    };
    member_response(identity, error)
}

fn member_response(identity: &MemberIdentity, error_code: i16) -> MemberResponse {
    MemberResponse::default()
        .with_member_id(identity.member_id.clone())
        .with_group_instance_id(identity.group_instance_id.clone())
        .with_error_code(error_code)
}

/// LeaveGroup v0-2 carry a single error (the member's); v3+ the per-member list.
fn leave_reply(
    version: i16,
    error_code: i16,
    members: Vec<MemberResponse>,
    effects: Effects,
) -> Reply<LeaveGroupResponse> {
    let response = if version >= 3 {
        LeaveGroupResponse::default()
            .with_error_code(error_code)
            .with_members(members)
    } else {
        let member_error = members.first().map(|m| m.error_code).unwrap_or_default();
        let code = if error_code != 0 {
            error_code
        } else {
            member_error
        };
        LeaveGroupResponse::default().with_error_code(code)
    };
    Reply { response, effects }
}
