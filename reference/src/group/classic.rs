//! One classic group: its state, generation, chosen protocol, leader and members, with the
//! bookkeeping Kafka keeps beside them (static member ids, members pending their first join,
//! members pending sync, per-protocol support counts, subscribed topics, timers).
//!
//! This file holds membership and protocol selection; the rebalance steps that move the
//! group between states live in `rebalance.rs`.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.classic.ClassicGroup`, `ClassicGroupState`

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::protocol::StrBytes;

use super::consumer_protocol;
use super::member::{Member, Protocol};
use super::record::{GroupMetadataValue, GroupRecord, MemberMetadata};

/// The states of a classic group, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports (ListGroups, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

/// The group's join-phase timer (Kafka's `join-<group>` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinTimer {
    /// The initial rebalance of an Empty group, extended while new members keep coming.
    InitialDelay {
        deadline_ms: i64,
        delay_ms: i32,
        remaining_ms: i32,
    },
    /// The rebalance timeout: members that have not rejoined by then are dropped.
    Rebalance { deadline_ms: i64 },
}

impl JoinTimer {
    pub(super) fn deadline_ms(&self) -> i64 {
        match *self {
            JoinTimer::InitialDelay { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => {
                deadline_ms
            }
        }
    }
}

/// The group's pending-sync timer (Kafka's `sync-<group>` key) for one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SyncTimer {
    pub(super) deadline_ms: i64,
    pub(super) generation_id: i32,
}

#[derive(Debug, Clone)]
pub(super) struct ClassicGroup {
    pub(super) group_id: String,
    pub(super) state: GroupState,
    pub(super) previous_state: GroupState,
    /// When the group entered its current state (`currentStateTimestamp`).
    pub(super) state_timestamp_ms: Option<i64>,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) generation_id: i32,
    pub(super) leader_id: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    /// `group.instance.id` to member id.
    pub(super) static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, to their expiry deadline.
    pub(super) pending_members: BTreeMap<String, i64>,
    pub(super) pending_sync_members: BTreeSet<String>,
    /// Protocol name to the number of members supporting it.
    pub(super) supported_protocols: BTreeMap<String, usize>,
    pub(super) subscribed_topics: Option<BTreeSet<String>>,
    /// A member joined during the initial rebalance delay, which extends it.
    pub(super) new_member_added: bool,
    pub(super) join_timer: Option<JoinTimer>,
    pub(super) sync_timer: Option<SyncTimer>,
}

impl ClassicGroup {
    pub(super) fn new(group_id: String, now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            group_id,
            state: GroupState::Empty,
            previous_state: GroupState::Dead,
            state_timestamp_ms: Some(now_ms),
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync_members: BTreeSet::new(),
            supported_protocols: BTreeMap::new(),
            subscribed_topics: None,
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
        }
    }

    pub(super) fn is_in(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(super) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        assert!(
            state.valid_previous().contains(&self.state),
            "group {}: invalid transition {:?} -> {:?}",
            self.group_id,
            self.state,
            state
        );
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    pub(super) fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous()
            .contains(&self.state)
    }

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// The largest rebalance timeout of the members.
    pub(super) fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub(super) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.num_awaiting_join() && self.pending_members.is_empty()
    }

    /// Adds a member that passed [`ClassicGroup::supports_protocols`].
    pub(super) fn add(&mut self, member: Member) {
        if let Some(instance_id) = &member.group_instance_id {
            let previous = self
                .static_members
                .insert(instance_id.clone(), member.member_id.clone());
            assert!(
                previous.is_none(),
                "static member {instance_id} added twice"
            );
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        assert!(self.protocol_type.as_deref() == Some(member.protocol_type.as_str()));
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.count_protocols(&member.protocols, true);
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (or a pending member id); a removed leader is replaced by the first
    /// remaining member. The removed member still carries its parked requests.
    pub(super) fn remove(&mut self, member_id: &str) -> Option<Member> {
        let removed = self.members.remove(member_id);
        if let Some(member) = &removed {
            self.count_protocols(&member.protocols, false);
            if let Some(instance_id) = &member.group_instance_id {
                self.static_members.remove(instance_id);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        removed
    }

    /// Kafka's `updateMember`: new protocols and timeouts from a rejoin. Returns the member's
    /// previously parked JoinGroup, which `parked` replaces.
    pub(super) fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<Protocol>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        parked: Option<super::member::Parked>,
    ) -> Option<super::member::Parked> {
        let member = self.members.get_mut(member_id)?;
        let old_protocols = std::mem::replace(&mut member.protocols, protocols);
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.session_timeout_ms = session_timeout_ms;
        let replaced = std::mem::replace(&mut member.awaiting_join, parked);
        let new_protocols = member.protocols.clone();
        self.count_protocols(&old_protocols, false);
        self.count_protocols(&new_protocols, true);
        replaced
    }

    /// Gives a static member a new member id, keeping everything else; returns the old
    /// member (with its parked requests, which the caller fences).
    pub(super) fn replace_static_member(
        &mut self,
        instance_id: &str,
        old_id: &str,
        new_id: &str,
    ) -> Option<Member> {
        let old = self.members.remove(old_id)?;
        let mut member = old.clone();
        member.member_id = new_id.to_string();
        member.awaiting_join = None;
        member.awaiting_sync = None;
        member.is_new = false;
        member.heartbeat_deadline_ms = None;
        self.members.insert(new_id.to_string(), member);
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_id.to_string());
        // As in Kafka, a pending sync of the old id stays pending (it expires into a rebalance).
        Some(old)
    }

    fn count_protocols(&mut self, protocols: &[Protocol], add: bool) {
        for p in protocols {
            let count = self.supported_protocols.entry(p.name.clone()).or_insert(0);
            if add {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
            }
        }
        self.supported_protocols.retain(|_, count| *count > 0);
    }

    /// Whether a member with this protocol type and these protocols can be in the group: an
    /// Empty group takes any non-empty type and protocol list; otherwise the type must match
    /// and one protocol must be supported by every current member.
    pub(super) fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.is_in(GroupState::Empty) {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.supported_protocols.get(&p.name).copied().unwrap_or(0) == self.members.len()
            })
    }

    /// Kafka's `selectProtocol`: among protocols every member supports, each member votes for
    /// its most preferred; most votes wins (ties go to the smallest name).
    pub(super) fn select_protocol(&self) -> String {
        let n = self.members.len();
        let candidates: Vec<&str> = self
            .supported_protocols
            .iter()
            .filter(|(_, count)| **count == n)
            .map(|(name, _)| name.as_str())
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            let vote = member.vote(&candidates);
            assert!(
                vote.is_some(),
                "group {}: member without a common protocol",
                self.group_id
            );
            *votes.entry(vote.unwrap_or_default()).or_insert(0) += 1;
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_string()).unwrap_or_default()
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keep the leader if it rejoined, else pick a
    /// member that did. False when nobody rejoined (or the group has no leader).
    pub(super) fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else {
            return false;
        };
        if self
            .members
            .get(&leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(member) => {
                self.leader_id = Some(member.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// Kafka's `initNextGeneration`: bump the generation, choose the protocol, and move to
    /// CompletingRebalance (or Empty when nobody is left).
    pub(super) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = Some(self.select_protocol());
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync_members.clear();
    }

    /// Kafka's `validateMember`: the instance id (if given) must map to this member id, and
    /// the member id must be a member.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), i16> {
        if let Some(instance_id) = group_instance_id {
            match self.static_members.get(instance_id) {
                None => return Err(ResponseError::UnknownMemberId.code()),
                Some(existing) if existing != member_id => {
                    return Err(ResponseError::FencedInstanceId.code());
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId.code());
        }
        Ok(())
    }

    pub(super) fn uses_consumer_protocol(&self) -> bool {
        self.protocol_type.as_deref() == Some(consumer_protocol::PROTOCOL_TYPE)
    }

    /// The union of the members' subscribed topics, when the group uses the consumer
    /// protocol and every member's subscription parses; `None` when unknown.
    pub(super) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if !self.uses_consumer_protocol() {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(consumer_protocol::subscribed_topics(
                &member.metadata(protocol),
            )?);
        }
        Some(topics)
    }

    /// Kafka's `isSubscribedToTopic`: when the topics are unknown, a consumer group counts as
    /// subscribed to everything and any other group to nothing.
    pub(super) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(topics) => topics.contains(topic),
            None => self.uses_consumer_protocol(),
        }
    }

    /// The members as the leader's JoinGroup response lists them.
    pub(super) fn join_members(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_group_instance_id(m.group_instance_id.as_deref().map(str_bytes))
                    .with_metadata(m.metadata(protocol))
            })
            .collect()
    }

    /// Every member's current assignment.
    pub(super) fn assignments(&self) -> BTreeMap<String, Bytes> {
        self.members
            .iter()
            .map(|(id, m)| (id.clone(), m.assignment.clone()))
            .collect()
    }

    /// The GroupMetadata record for the group as it is, with `assignment` per member.
    pub(super) fn metadata_record(&self, assignment: &BTreeMap<String, Bytes>) -> GroupRecord {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberMetadata {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: m.metadata(protocol),
                assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect();
        GroupRecord::GroupMetadata {
            group_id: self.group_id.clone(),
            value: Some(GroupMetadataValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation_id,
                protocol: self.protocol_name.clone(),
                leader: self.leader_id.clone(),
                current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
                members,
            }),
        }
    }

    /// Kafka's `newEmptyGroupMetadataRecord`, written when a JoinGroup creates the group.
    pub(super) fn empty_metadata_record(&self) -> GroupRecord {
        GroupRecord::GroupMetadata {
            group_id: self.group_id.clone(),
            value: Some(GroupMetadataValue {
                protocol_type: String::new(),
                generation: 0,
                protocol: None,
                leader: None,
                current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
                members: Vec::new(),
            }),
        }
    }

    /// Rebuilds a group from its last GroupMetadata record: Stable with its members, or
    /// Empty. Members get session timers in `on_loaded`.
    pub(super) fn from_record(group_id: &str, value: &GroupMetadataValue) -> ClassicGroup {
        let mut group = ClassicGroup::new(group_id.to_string(), 0);
        group.state = if value.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.state_timestamp_ms =
            (value.current_state_timestamp_ms != -1).then_some(value.current_state_timestamp_ms);
        group.generation_id = value.generation;
        group.protocol_name = value.protocol.clone();
        let protocol = value.protocol.clone().unwrap_or_default();
        for m in &value.members {
            if group.members.contains_key(&m.member_id)
                || m.group_instance_id
                    .as_ref()
                    .is_some_and(|i| group.static_members.contains_key(i))
            {
                continue;
            }
            group.add(Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: if m.rebalance_timeout_ms == -1 {
                    m.session_timeout_ms
                } else {
                    m.rebalance_timeout_ms
                },
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: value.protocol_type.clone(),
                protocols: vec![Protocol {
                    name: protocol.clone(),
                    metadata: m.subscription.clone(),
                }],
                assignment: m.assignment.clone(),
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline_ms: None,
            });
        }
        group.protocol_type =
            (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
        if let Some(leader) = value
            .leader
            .as_ref()
            .filter(|l| group.members.contains_key(*l))
        {
            group.leader_id = Some(leader.clone());
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }
}

pub(super) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
