//! One consumer group of the consumer rebalance protocol (KIP-848): its epochs, members,
//! target assignment, and the reconciliation of each member towards its target.
//!
//! Three epochs: the *group epoch* moves when a subscription (or the metadata of a
//! subscribed topic) changes or a member leaves; the *assignment epoch* is the group epoch
//! the target assignment was computed for; each member's *member epoch* reaches the
//! assignment epoch once it owns nothing it should have given up. A partition is given to a
//! member only once no other member owns it ("unreleased" until then): the previous owner
//! gives it up by heartbeating without it. `partition_epochs` records, per owned partition,
//! the epoch of its owner, and is the proof that no partition has two owners: adding an owned
//! partition twice is a broken invariant (an `assert!`), as Kafka's `addPartitionEpochs`
//! throws.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.modern.consumer.ConsumerGroup`,
//!   `ConsumerGroupMember`, `CurrentAssignmentBuilder`, `modern.ModernGroup`
//! - KIP-848 ("Reconciliation")

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::assignor::{self, AssignorMember, AssignorTopics, Partitions};
use super::member::Protocol;

/// A topic of the cluster as a consumer group sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub partitions: i32,
}

/// The cluster's topics by name: what a ConsumerGroupHeartbeat is computed against.
pub type TopicsImage = BTreeMap<String, TopicMetadata>;

/// Partitions by topic id, each with the epoch at which the member got it.
pub(super) type EpochedPartitions = BTreeMap<Uuid, BTreeMap<i32, i32>>;

/// Kafka's `MemberState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MemberState {
    /// Owns exactly its assignment at its epoch.
    Stable,
    /// Must give up `pending_revocation` before it moves on.
    UnrevokedPartitions,
    /// Waits for partitions of its target that others still own.
    UnreleasedPartitions,
}

/// Epoch of a static member that left temporarily (it may come back with a new member id).
pub(super) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;
/// Epoch of a member leaving for good.
pub(super) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

/// What a member speaking the classic protocol (JoinGroup, SyncGroup, Heartbeat) inside a
/// consumer group keeps of it: Kafka's `ClassicMemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClassicMetadata {
    pub(super) session_timeout_ms: i32,
    /// The JoinGroup protocols, in the member's order; never empty.
    pub(super) protocols: Vec<Protocol>,
}

impl ClassicMetadata {
    /// The protocol the member's JoinGroup answer names (its first).
    pub(super) fn protocol_name(&self) -> &str {
        self.protocols
            .first()
            .map(|p| p.name.as_str())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConsumerMember {
    pub(super) member_id: String,
    pub(super) instance_id: Option<String>,
    pub(super) rack_id: Option<String>,
    pub(super) member_epoch: i32,
    pub(super) previous_member_epoch: i32,
    pub(super) state: MemberState,
    pub(super) rebalance_timeout_ms: i32,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) subscribed_topic_names: BTreeSet<String>,
    pub(super) subscribed_topic_regex: Option<String>,
    pub(super) server_assignor: Option<String>,
    pub(super) assigned: EpochedPartitions,
    pub(super) pending_revocation: EpochedPartitions,
    /// Set for a member that uses the classic protocol.
    pub(super) classic: Option<ClassicMetadata>,
}

impl ConsumerMember {
    pub(super) fn new(member_id: String) -> ConsumerMember {
        ConsumerMember {
            member_id,
            instance_id: None,
            rack_id: None,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            rebalance_timeout_ms: -1,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: BTreeSet::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            assigned: EpochedPartitions::new(),
            pending_revocation: EpochedPartitions::new(),
            classic: None,
        }
    }

    pub(super) fn is_reconciled_to(&self, assignment_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == assignment_epoch
    }

    /// The assigned partitions without their epochs.
    pub(super) fn assigned_partitions(&self) -> Partitions {
        strip(&self.assigned)
    }

    fn update_epoch(&mut self, epoch: i32) {
        self.previous_member_epoch = self.member_epoch;
        self.member_epoch = epoch;
    }
}

pub(super) fn strip(p: &EpochedPartitions) -> Partitions {
    p.iter()
        .map(|(t, ps)| (*t, ps.keys().copied().collect()))
        .collect()
}

/// The partitions a member reports owning in a heartbeat: `None` when it did not say.
pub(super) type Owned<'a> =
    Option<&'a [kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions]>;

/// Kafka's `ownsRevokedPartitions`: not saying counts as still owning them.
fn owns_any(owned: Owned<'_>, partitions: &EpochedPartitions) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|tp| {
        partitions
            .get(&tp.topic_id)
            .is_some_and(|ps| tp.partitions.iter().any(|p| ps.contains_key(p)))
    })
}

/// Kafka's `isSubset`: every reported partition is in `assigned`.
pub(super) fn owned_subset(owned: Owned<'_>, assigned: &EpochedPartitions) -> bool {
    let Some(owned) = owned else {
        return false;
    };
    owned.iter().all(|tp| {
        assigned
            .get(&tp.topic_id)
            .is_some_and(|ps| tp.partitions.iter().all(|p| ps.contains_key(p)))
    })
}

/// The states of a consumer group, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct ConsumerGroup {
    pub(super) group_id: String,
    pub(super) group_epoch: i32,
    pub(super) assignment_epoch: i32,
    pub(super) members: BTreeMap<String, ConsumerMember>,
    /// Instance id to member id.
    pub(super) static_members: BTreeMap<String, String>,
    /// Member id to its target assignment.
    pub(super) targets: BTreeMap<String, Partitions>,
    /// Every owned (assigned or pending revocation) partition, to its owner's epoch.
    pub(super) partition_epochs: BTreeMap<(Uuid, i32), i32>,
    /// The subscribed topics that exist, by name: a change bumps the group epoch.
    pub(super) subscription_metadata: BTreeMap<String, TopicMetadata>,
    /// Each member's regex, compiled, with the topics it matched.
    pub(super) resolved_regex: BTreeMap<String, BTreeSet<String>>,
    /// Session deadlines by member id.
    pub(super) session_deadlines_ms: BTreeMap<String, i64>,
    /// Rebalance deadlines (a member slow to revoke) by member id, with the epoch they guard.
    pub(super) rebalance_deadlines_ms: BTreeMap<String, (i64, i32)>,
    /// Classic members told to rejoin, by the deadline of that JoinGroup (Kafka's join timer).
    pub(super) classic_join_deadlines_ms: BTreeMap<String, i64>,
    /// Classic members that joined, by the deadline of their SyncGroup (the sync timer).
    pub(super) classic_sync_deadlines_ms: BTreeMap<String, i64>,
}

/// The group and target assignment epoch of a new consumer group: Kafka 4.3.1 starts both at
/// 1 (`ModernGroup`'s constructor, `TargetAssignmentMetadata.INITIAL`), so the first
/// member's join makes epoch 2. `kafka-consumer-groups --describe --members --verbose` and
/// `--state --verbose` print these epochs (ci/group-tools.sh compares them).
pub(super) const INITIAL_GROUP_EPOCH: i32 = 1;

impl ConsumerGroup {
    pub(super) fn new(group_id: String) -> ConsumerGroup {
        ConsumerGroup {
            group_id,
            group_epoch: INITIAL_GROUP_EPOCH,
            assignment_epoch: INITIAL_GROUP_EPOCH,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            targets: BTreeMap::new(),
            partition_epochs: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
            resolved_regex: BTreeMap::new(),
            session_deadlines_ms: BTreeMap::new(),
            rebalance_deadlines_ms: BTreeMap::new(),
            classic_join_deadlines_ms: BTreeMap::new(),
            classic_sync_deadlines_ms: BTreeMap::new(),
        }
    }

    /// The member holding `instance_id`.
    pub(super) fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.static_members
            .get(instance_id)
            .and_then(|id| self.members.get(id))
    }

    /// The member `member_id`, or a new one of that id.
    pub(super) fn member_or_new(&self, member_id: &str) -> ConsumerMember {
        self.members
            .get(member_id)
            .cloned()
            .unwrap_or_else(|| ConsumerMember::new(member_id.to_string()))
    }

    /// A static member's instance taken over by `member_id`: its partitions and target go
    /// with it.
    pub(super) fn rename_member(
        &mut self,
        mut member: ConsumerMember,
        member_id: &str,
    ) -> ConsumerMember {
        let old_id = member.member_id.clone();
        let target = self.targets.get(&old_id).cloned();
        self.remove_member(&old_id);
        member.member_id = member_id.to_string();
        self.put_member(member.clone());
        if let Some(target) = target {
            self.targets.insert(member_id.to_string(), target);
        }
        member
    }

    /// Whether every member but `except` speaks the classic protocol (Kafka's
    /// `allMembersUseClassicProtocolExcept`).
    pub(super) fn all_classic_except(&self, except: &str) -> bool {
        self.members
            .values()
            .all(|m| m.member_id == except || m.classic.is_some())
    }

    /// Kafka's `supportsClassicProtocols`: a classic member may join when its protocol type
    /// is the consumer's and one of its protocols is supported by every classic member.
    pub(super) fn supports_classic_protocols(
        &self,
        protocol_type: &str,
        protocols: &[Protocol],
    ) -> bool {
        if protocol_type != super::consumer_protocol::PROTOCOL_TYPE || protocols.is_empty() {
            return false;
        }
        let classic: Vec<&ClassicMetadata> = self
            .members
            .values()
            .filter_map(|m| m.classic.as_ref())
            .collect();
        protocols.iter().any(|p| {
            classic
                .iter()
                .all(|c| c.protocols.iter().any(|q| q.name == p.name))
        })
    }

    /// Kafka's `waitingOnUnreleasedPartition`: some partition of the member's target is not
    /// its own yet and another member still owns it.
    pub(super) fn waiting_on_unreleased(&self, member: &ConsumerMember) -> bool {
        if member.state != MemberState::UnreleasedPartitions {
            return false;
        }
        let Some(target) = self.targets.get(&member.member_id) else {
            return false;
        };
        target.iter().any(|(topic_id, partitions)| {
            partitions.iter().any(|p| {
                !member
                    .assigned
                    .get(topic_id)
                    .is_some_and(|ps| ps.contains_key(p))
                    && self.partition_epochs.contains_key(&(*topic_id, *p))
            })
        })
    }

    /// Partitions by topic name, for a classic member's `ConsumerProtocolAssignment`: the
    /// names are those of the subscribed topics (a partition of a topic the group no longer
    /// knows is left out).
    pub(super) fn named(&self, partitions: &Partitions) -> Vec<(String, Vec<i32>)> {
        let names: BTreeMap<Uuid, &str> = self
            .subscription_metadata
            .iter()
            .map(|(name, m)| (m.topic_id, name.as_str()))
            .collect();
        partitions
            .iter()
            .filter_map(|(topic_id, ps)| {
                let name = names.get(topic_id)?;
                Some((name.to_string(), ps.iter().copied().collect()))
            })
            .collect()
    }

    pub(super) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch != self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The topic names a member reads: its names and what its regex matched.
    pub(super) fn member_topics<'a>(&'a self, member: &'a ConsumerMember) -> BTreeSet<&'a str> {
        let mut topics: BTreeSet<&str> = member
            .subscribed_topic_names
            .iter()
            .map(String::as_str)
            .collect();
        if let Some(regex) = &member.subscribed_topic_regex
            && let Some(matched) = self.resolved_regex.get(regex)
        {
            topics.extend(matched.iter().map(String::as_str));
        }
        topics
    }

    /// Every topic name some member reads.
    pub(super) fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| self.member_topics(m))
            .map(str::to_string)
            .collect()
    }

    pub(super) fn is_subscribed_to(&self, topic: &str) -> bool {
        self.members
            .values()
            .any(|m| self.member_topics(m).contains(topic))
    }

    /// The subscription metadata for the current members from `image`.
    pub(super) fn compute_subscription_metadata(
        &self,
        image: &TopicsImage,
    ) -> BTreeMap<String, TopicMetadata> {
        self.subscribed_topics()
            .into_iter()
            .filter_map(|t| image.get(&t).map(|m| (t, *m)))
            .collect()
    }

    /// Kafka's preferred server assignor: the one most members ask for, else the default.
    pub(super) fn assignor_name(&self) -> &'static str {
        let mut votes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(name) = m.server_assignor.as_deref()
                && let Some(known) = assignor::ASSIGNORS.iter().find(|a| **a == name)
            {
                *votes.entry(known).or_default() += 1;
            }
        }
        let mut best = (assignor::ASSIGNORS[0], 0);
        for (name, count) in votes {
            if count > best.1 {
                best = (name, count);
            }
        }
        best.0
    }

    /// Recomputes every member's target at the group epoch.
    pub(super) fn compute_target_assignment(&mut self) {
        let topics: AssignorTopics = self
            .subscription_metadata
            .iter()
            .map(|(n, m)| (m.topic_id, (n.clone(), m.partitions)))
            .collect();
        let members: BTreeMap<String, AssignorMember<'_>> = self
            .members
            .values()
            .map(|m| {
                let subscribed = self
                    .member_topics(m)
                    .into_iter()
                    .filter_map(|t| self.subscription_metadata.get(t).map(|md| md.topic_id))
                    .collect();
                let previous = self.targets.get(&m.member_id);
                (
                    m.member_id.clone(),
                    AssignorMember {
                        subscribed,
                        previous,
                        instance_id: m.instance_id.as_deref(),
                    },
                )
            })
            .collect();
        let targets = assignor::assign(self.assignor_name(), &members, &topics);
        self.targets = targets;
        self.assignment_epoch = self.group_epoch;
    }

    /// Replaces (or adds) a member, moving its partition epochs: the old member's owned
    /// partitions are released, the new one's taken at its epoch.
    pub(super) fn put_member(&mut self, member: ConsumerMember) {
        if let Some(old) = self.members.remove(&member.member_id) {
            self.release_partitions(&old);
        }
        for (topic_id, partitions) in member.assigned.iter().chain(&member.pending_revocation) {
            for p in partitions.keys() {
                let previous = self
                    .partition_epochs
                    .insert((*topic_id, *p), member.member_epoch);
                assert!(
                    previous.is_none(),
                    "group {}: partition {topic_id}-{p} given to {} while still owned at epoch {:?}",
                    self.group_id,
                    member.member_id,
                    previous
                );
            }
        }
        if let Some(instance_id) = &member.instance_id {
            self.static_members
                .insert(instance_id.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    fn release_partitions(&mut self, member: &ConsumerMember) {
        for (topic_id, partitions) in member.assigned.iter().chain(&member.pending_revocation) {
            for p in partitions.keys() {
                self.partition_epochs.remove(&(*topic_id, *p));
            }
        }
    }

    /// Removes a member with everything it owned and its target and timers.
    pub(super) fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        let member = self.members.remove(member_id)?;
        self.release_partitions(&member);
        self.targets.remove(member_id);
        self.session_deadlines_ms.remove(member_id);
        self.rebalance_deadlines_ms.remove(member_id);
        self.classic_join_deadlines_ms.remove(member_id);
        self.classic_sync_deadlines_ms.remove(member_id);
        if let Some(instance_id) = &member.instance_id
            && self.static_members.get(instance_id).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance_id);
        }
        let regexes: BTreeSet<String> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.clone())
            .collect();
        self.resolved_regex.retain(|r, _| regexes.contains(r));
        Some(member)
    }

    /// Kafka's `CurrentAssignmentBuilder.build`: the member one step closer to `target` at
    /// `target_epoch`, given the partitions it reports owning.
    pub(super) fn reconcile(
        &self,
        member: &ConsumerMember,
        target_epoch: i32,
        target: &Partitions,
        owned: Owned<'_>,
    ) -> ConsumerMember {
        match member.state {
            MemberState::Stable if member.member_epoch == target_epoch => member.clone(),
            MemberState::Stable | MemberState::UnreleasedPartitions => {
                self.next_assignment(member, member.member_epoch, target_epoch, target, owned)
            }
            MemberState::UnrevokedPartitions => {
                if owns_any(owned, &member.pending_revocation) {
                    return member.clone();
                }
                let epoch = member.member_epoch + 1;
                self.next_assignment(member, epoch, target_epoch, target, owned)
            }
        }
    }

    /// Kafka's `computeNextAssignment`.
    fn next_assignment(
        &self,
        member: &ConsumerMember,
        member_epoch: i32,
        target_epoch: i32,
        target: &Partitions,
        owned: Owned<'_>,
    ) -> ConsumerMember {
        let mut assigned = EpochedPartitions::new();
        let mut revoking = EpochedPartitions::new();
        let mut pending_assignment = EpochedPartitions::new();
        let mut unreleased = false;
        let topic_ids: BTreeSet<Uuid> = target
            .keys()
            .chain(member.assigned.keys())
            .copied()
            .collect();
        let empty = BTreeSet::new();
        let no_epochs = BTreeMap::new();
        for topic_id in topic_ids {
            let wanted = target.get(&topic_id).unwrap_or(&empty);
            let current = member.assigned.get(&topic_id).unwrap_or(&no_epochs);
            for (p, epoch) in current {
                if wanted.contains(p) {
                    assigned.entry(topic_id).or_default().insert(*p, *epoch);
                } else {
                    revoking.entry(topic_id).or_default().insert(*p, *epoch);
                }
            }
            for p in wanted.iter().filter(|p| !current.contains_key(p)) {
                if self.partition_epochs.contains_key(&(topic_id, *p)) {
                    unreleased = true;
                } else {
                    pending_assignment
                        .entry(topic_id)
                        .or_default()
                        .insert(*p, target_epoch);
                }
            }
        }
        let mut next = member.clone();
        if !revoking.is_empty() && owns_any(owned, &revoking) {
            next.state = MemberState::UnrevokedPartitions;
            next.update_epoch(member_epoch);
            next.assigned = assigned;
            next.pending_revocation = revoking;
            return next;
        }
        for (topic_id, partitions) in pending_assignment {
            assigned.entry(topic_id).or_default().extend(partitions);
        }
        next.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        next.update_epoch(target_epoch);
        next.assigned = assigned;
        next.pending_revocation = EpochedPartitions::new();
        next
    }
}
