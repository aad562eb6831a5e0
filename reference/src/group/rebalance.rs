//! The rebalance steps of a classic group: preparing a rebalance, completing the join phase
//! into a new generation, propagating the leader's assignment, and what the group's timers do
//! when they fire (session expiry, rebalance timeout, initial delay, pending sync).
//!
//! Each step mirrors the Kafka method of the same name, and the same transitions: Empty or
//! Stable or CompletingRebalance to PreparingRebalance; PreparingRebalance to
//! CompletingRebalance (or Empty when nobody is left); CompletingRebalance to Stable when
//! the leader's assignment is stored. Answers to parked requests go into [`Effects`].
//!
//! # References
//! - `GroupMetadataManager`: `prepareRebalance`, `maybeCompleteJoinPhase`,
//!   `completeClassicGroupJoin`, `tryCompleteInitialRebalanceElseSchedule`,
//!   `expireClassicGroupMemberHeartbeat`, `expirePendingSync`, `propagateAssignment`

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::classic::{ClassicGroup, GroupState, JoinTimer, SyncTimer};
use super::config::GroupConfig;
use super::member::Member;
use super::responses::{join_error, join_ok, sync_response};
use super::{Completion, Effects, arm};

impl ClassicGroup {
    /// Kafka's `maybePrepareRebalanceOrCompleteJoin`.
    pub(super) fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if self.can_rebalance() {
            self.prepare_rebalance(cfg, now_ms, fx);
        } else {
            self.maybe_complete_join_phase(now_ms, fx);
        }
    }

    /// Kafka's `prepareRebalance`: members parked in SyncGroup are told to rejoin; an Empty
    /// group waits `group.initial.rebalance.delay.ms`, any other until all members rejoined
    /// or the rebalance timeout passed.
    pub(super) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        if self.is_in(GroupState::CompletingRebalance) {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
            }
            self.propagate_assignment(ResponseError::RebalanceInProgress.code(), now_ms, fx);
        }
        self.pending_sync_members.clear();
        self.sync_timer = None;
        let initial = self.is_in(GroupState::Empty);
        if initial {
            let delay_ms = cfg.group_initial_rebalance_delay_ms;
            let remaining_ms = self.rebalance_timeout_ms().saturating_sub(delay_ms).max(0);
            let deadline_ms = arm(now_ms, i64::from(delay_ms));
            self.join_timer = Some(JoinTimer::InitialDelay {
                deadline_ms,
                delay_ms,
                remaining_ms,
            });
        }
        self.transition_to(GroupState::PreparingRebalance, now_ms);
        if !initial {
            if self.has_all_members_joined() {
                self.complete_join(now_ms, fx);
            } else {
                let deadline_ms = arm(now_ms, i64::from(self.rebalance_timeout_ms()));
                self.join_timer = Some(JoinTimer::Rebalance { deadline_ms });
            }
        }
    }

    /// Kafka's `maybeCompleteJoinPhase`: complete when everyone rejoined, except during the
    /// initial rebalance, which always waits for its delay.
    pub(super) fn maybe_complete_join_phase(&mut self, now_ms: i64, fx: &mut Effects) {
        if self.is_in(GroupState::PreparingRebalance)
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms, fx);
        }
    }

    /// Kafka's `tryCompleteInitialRebalanceElseSchedule`: a member that joined during the
    /// delay extends it (by at most the delay, and never past the rebalance timeout).
    pub(super) fn try_complete_initial_rebalance(
        &mut self,
        cfg: &GroupConfig,
        delay_ms: i32,
        remaining_ms: i32,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if self.new_member_added && remaining_ms != 0 {
            self.new_member_added = false;
            let new_delay_ms = cfg.group_initial_rebalance_delay_ms.min(remaining_ms);
            let new_remaining_ms = remaining_ms.saturating_sub(delay_ms).max(0);
            let deadline_ms = arm(now_ms, i64::from(new_delay_ms));
            self.join_timer = Some(JoinTimer::InitialDelay {
                deadline_ms,
                delay_ms: new_delay_ms,
                remaining_ms: new_remaining_ms,
            });
        } else {
            self.complete_join(now_ms, fx);
        }
    }

    /// Kafka's `completeClassicGroupJoin`: drop dynamic members that did not rejoin, then
    /// start the next generation and answer every parked JoinGroup (the leader gets the
    /// member list). When no member rejoined, wait another rebalance timeout.
    pub(super) fn complete_join(&mut self, now_ms: i64, fx: &mut Effects) {
        self.join_timer = None;
        if !self.is_in(GroupState::PreparingRebalance) {
            return;
        }
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            let removed = self.remove(&member_id);
            abandon(removed, fx);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            let deadline_ms = arm(now_ms, i64::from(self.rebalance_timeout_ms()));
            self.join_timer = Some(JoinTimer::Rebalance { deadline_ms });
            return;
        }
        self.init_next_generation(now_ms);
        if self.is_in(GroupState::Empty) {
            fx.records.push(self.metadata_record(&BTreeMap::new()));
            return;
        }
        let leader_members = self.join_members();
        let leader = self.leader_id.clone();
        let mut answers = Vec::new();
        for member in self.members.values_mut() {
            if let Some(parked) = member.awaiting_join.take() {
                answers.push((parked, member.member_id.clone()));
            }
            member.heartbeat_deadline_ms = Some(arm(now_ms, i64::from(member.session_timeout_ms)));
            member.is_new = false;
        }
        for (parked, member_id) in answers {
            let members = if self.is_leader(&member_id) {
                leader_members.clone()
            } else {
                Vec::new()
            };
            let response = join_ok(
                parked.api_version,
                self,
                &member_id,
                leader.as_deref(),
                members,
                false,
            );
            fx.complete(parked.token, Completion::JoinGroup(response));
        }
        self.pending_sync_members = self.members.keys().cloned().collect();
        let deadline_ms = arm(now_ms, i64::from(self.rebalance_timeout_ms()));
        self.sync_timer = Some(SyncTimer {
            deadline_ms,
            generation_id: self.generation_id,
        });
    }

    /// Kafka's `propagateAssignment`: answer every parked SyncGroup with the member's
    /// assignment (or the error), restarting the session timer of those answered.
    pub(super) fn propagate_assignment(&mut self, error_code: i16, now_ms: i64, fx: &mut Effects) {
        let mut answered = Vec::new();
        for member in self.members.values_mut() {
            if let Some(parked) = member.awaiting_sync.take() {
                member.heartbeat_deadline_ms =
                    Some(arm(now_ms, i64::from(member.session_timeout_ms)));
                answered.push((parked.token, member.assignment.clone()));
            }
        }
        for (token, assignment) in answered {
            fx.complete(
                token,
                Completion::SyncGroup(sync_response(Some(self), assignment, error_code)),
            );
        }
    }

    /// The leader's assignment is stored: give it to every member and become Stable.
    pub(super) fn set_and_propagate_assignment(
        &mut self,
        assignment: &BTreeMap<String, Bytes>,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        assert!(self.is_in(GroupState::CompletingRebalance));
        for member in self.members.values_mut() {
            member.assignment = assignment
                .get(&member.member_id)
                .cloned()
                .unwrap_or_default();
        }
        self.propagate_assignment(0, now_ms, fx);
        self.transition_to(GroupState::Stable, now_ms);
    }

    /// Kafka's `expireClassicGroupMemberHeartbeat` for a member: it is dropped unless it is
    /// waiting in a rebalance (and not new).
    pub(super) fn on_heartbeat_expired(
        &mut self,
        cfg: &GroupConfig,
        member_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let dead = self.is_in(GroupState::Dead);
        let Some(member) = self.members.get_mut(member_id) else {
            return;
        };
        member.heartbeat_deadline_ms = None;
        if dead || member.has_satisfied_heartbeat() {
            return;
        }
        self.remove_member_and_update_group(cfg, member_id, now_ms, fx);
    }

    /// Kafka's `removeMemberAndUpdateClassicGroup`: a parked JoinGroup of the removed member
    /// gets UNKNOWN_MEMBER_ID, and the group rebalances (or completes its join phase).
    pub(super) fn remove_member_and_update_group(
        &mut self,
        cfg: &GroupConfig,
        member_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        self.remove_with_unknown_member_answer(member_id, fx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, fx)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(now_ms, fx)
            }
            _ => {}
        }
    }

    /// Removes a member, answering its parked JoinGroup with UNKNOWN_MEMBER_ID so that a
    /// still-live client rejoins.
    pub(super) fn remove_with_unknown_member_answer(&mut self, member_id: &str, fx: &mut Effects) {
        let Some(mut member) = self.remove(member_id) else {
            return;
        };
        if let Some(parked) = member.awaiting_join.take() {
            let response = join_error(parked.api_version, "", ResponseError::UnknownMemberId);
            fx.complete(parked.token, Completion::JoinGroup(response));
        }
        abandon(Some(member), fx);
    }

    /// A member id handed out with MEMBER_ID_REQUIRED was never used in time.
    pub(super) fn on_pending_member_expired(
        &mut self,
        member_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if self.pending_members.remove(member_id).is_some()
            && self.is_in(GroupState::PreparingRebalance)
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms, fx);
        }
    }

    /// Kafka's `expirePendingSync`: members of this generation that never sent SyncGroup
    /// are dropped and the group rebalances.
    pub(super) fn on_sync_expired(
        &mut self,
        cfg: &GroupConfig,
        generation_id: i32,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if generation_id != self.generation_id
            || !matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
            || self.pending_sync_members.is_empty()
        {
            return;
        }
        let pending: Vec<String> = self.pending_sync_members.iter().cloned().collect();
        for member_id in pending {
            let removed = self.remove(&member_id);
            abandon(removed, fx);
        }
        self.prepare_rebalance(cfg, now_ms, fx);
    }
}

/// Requests still parked on a removed member are never answered by Kafka.
pub(super) fn abandon(member: Option<Member>, fx: &mut Effects) {
    let Some(member) = member else { return };
    for parked in [member.awaiting_join, member.awaiting_sync]
        .into_iter()
        .flatten()
    {
        fx.complete(parked.token, Completion::Abandoned);
    }
}
