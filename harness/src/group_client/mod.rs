//! Consumer group members for scenarios, and the coordinator's view of a group.
//!
//! Two kinds of member take part in a scenario's groups: a [`Member`], a subscribed
//! librdkafka consumer on a thread of its own, which behaves as real applications do; and a
//! [`RawMember`], driven over the raw protocol, for the one thing librdkafka cannot be made to
//! do: fail without a word. What the group looks like from the broker's side comes from its
//! coordinator ([`describe_group`], [`committed_offsets`]). [`Groups`] keeps all of it for one
//! scenario.
//!
//! Who computes an assignment: in the classic protocol the group's *leader* (a client) runs
//! the assignor the members agreed on (`partition.assignment.strategy`) and sends the result
//! in SyncGroup; the coordinator hands each member its part. librdkafka's assignors, like
//! Java's, sort members by member id, or by `group.instance.id` when every member is static
//! (librdkafka `rd_kafka_group_member_cmp`, Java `AbstractPartitionAssignor.MemberInfo`).
//!
//! # Layout
//!
//! - [`member`]: the librdkafka member and the thread that polls it.
//! - [`java_member`]: the same member with Kafka's Java consumer as its client.
//! - [`raw_member`]: a member that joins over JoinGroup and SyncGroup, then goes silent.
//! - [`coordinator`]: FindCoordinator, DescribeGroups and OffsetFetch, retried while the
//!   coordinator is not ready.
//!
//! # References
//!
//! - Kafka protocol guide: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//!   FindCoordinator, OffsetFetch; "consumer protocol" (ConsumerProtocolAssignment).
//! - KIP-62 (background heartbeats, `max.poll.interval.ms`), KIP-345 (static membership),
//!   KIP-429 (cooperative rebalancing).

pub mod coordinator;
pub mod java_member;
pub mod member;
pub mod raw_member;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail};

pub use coordinator::{
    COORDINATOR_BACKOFF, COORDINATOR_DEADLINE, CoordinatorNotReady, GroupView, MemberView,
    committed_offsets, describe_group, find_coordinator,
};
pub use member::{
    MEMBER_DEFAULTS, Member, MemberRecord, MemberSpec, MemberState, RebalanceEvent, error_code,
};
pub use raw_member::{RAW_MEMBER_CLIENT_ID, RawMember, raw_member_joins};

use crate::raw_client::RawConnection;

/// A topic (physical name) and partition.
pub type TopicPartition = (String, i32);

/// What one settled look at a group found, per member: the partitions it owned and how many
/// rebalance callbacks it had seen by then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Logical member name → (owned partitions, rebalance callbacks seen so far).
    pub members: BTreeMap<String, (BTreeSet<TopicPartition>, usize)>,
}

/// The consumer group side of a scenario: its members, their settings, and what the
/// scenario has seen of each group.
#[derive(Debug, Default)]
pub struct Groups {
    /// Members by logical name (running or stopped).
    pub members: BTreeMap<String, Member>,
    /// How each member was started, to start it again.
    pub specs: BTreeMap<String, MemberSpec>,
    /// Per logical group, librdkafka settings for its members.
    pub group_settings: BTreeMap<String, Vec<(String, String)>>,
    /// Per logical consumer name, its own settings (over its group's).
    pub consumer_settings: BTreeMap<String, Vec<(String, String)>>,
    /// Logical groups whose members are static (`group.instance.id` = their names).
    pub static_groups: BTreeSet<String>,
    /// Logical groups whose members are Kafka's Java consumer rather than librdkafka.
    pub java_groups: BTreeSet<String>,
    /// Per logical group, every settled snapshot, oldest first.
    pub settled: BTreeMap<String, Vec<Snapshot>>,
    /// Per logical group, members a step set aside by role (`idle`).
    pub roles: BTreeMap<(String, String), Vec<String>>,
    /// Members driven over the raw protocol, by logical name (at most one per group: the
    /// coordinator knows them all by the raw client's `client.id`).
    pub raw_members: BTreeMap<String, RawMember>,
    /// Connections to group coordinators, by address.
    coordinators: BTreeMap<String, RawConnection>,
}

impl Groups {
    /// A connection to the broker at `address`, opened on first use.
    pub async fn coordinator(&mut self, address: &str) -> anyhow::Result<&mut RawConnection> {
        if !self.coordinators.contains_key(address) {
            let connection = RawConnection::connect(address).await?;
            self.coordinators.insert(address.to_owned(), connection);
        }
        self.coordinators
            .get_mut(address)
            .ok_or_else(|| anyhow!("no connection to {address}"))
    }

    /// Forgets a coordinator connection (after an error on it).
    pub fn forget_coordinator(&mut self, address: &str) {
        self.coordinators.remove(address);
    }

    /// The raw member of a logical group, if it has one.
    pub fn raw_member_of(&self, group: &str) -> Option<&RawMember> {
        self.raw_members.values().find(|m| m.group == group)
    }

    /// The running members of a logical group, by name.
    pub fn running_in<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members
            .values()
            .filter(move |m| m.group == group && m.is_running())
    }

    /// A member by logical name.
    pub fn member(&self, name: &str) -> anyhow::Result<&Member> {
        self.members
            .get(name)
            .ok_or_else(|| anyhow!("no consumer {name} in this scenario"))
    }

    /// A member by logical name, mutably.
    pub fn member_mut(&mut self, name: &str) -> anyhow::Result<&mut Member> {
        self.members
            .get_mut(name)
            .ok_or_else(|| anyhow!("no consumer {name} in this scenario"))
    }

    /// The last two settled snapshots of a group: (before, after).
    pub fn last_two(&self, group: &str) -> anyhow::Result<(&Snapshot, &Snapshot)> {
        match self.settled.get(group).map(Vec::as_slice) {
            Some([.., before, after]) => Ok((before, after)),
            _ => bail!("group {group} has not settled twice yet"),
        }
    }

    /// The last settled snapshot of a group.
    pub fn last(&self, group: &str) -> anyhow::Result<&Snapshot> {
        self.settled
            .get(group)
            .and_then(|s| s.last())
            .ok_or_else(|| anyhow!("group {group} has not settled yet"))
    }
}
