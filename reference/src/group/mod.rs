//! The group coordinator: the classic consumer group protocol, the consumer rebalance
//! protocol of KIP-848 (ConsumerGroupHeartbeat, see `consumer_heartbeat`), and committed
//! offsets, as a synchronous state machine with an explicit clock.
//!
//! One [`GroupCoordinator`] per broker holds every group. It speaks Kafka's own message
//! structs (`kafka_protocol::messages::*Request` in, `*Response` out, already shaped for the
//! request's API version so the wire layer encodes them as they are), does no I/O and holds
//! no futures, locks or channels: every method takes `&mut self` and the current time
//! `now_ms`, and returns what happened. That makes the whole protocol — rebalances, session
//! expiry, static membership, offset retention — drivable by a test with a fake clock.
//!
//! # Why it is shaped so
//!
//! In Kafka, JoinGroup and SyncGroup are *parked*: the response to one member is sent when
//! the whole group has joined (or synced), often because of another member's request or a
//! timer. Instead of futures, a caller gives each JoinGroup / SyncGroup a [`RequestToken`] of
//! its choosing and gets back [`Effects`]: the completions this call caused (for this token
//! or for tokens parked earlier by other members) and the records to make durable.
//!
//! # Driving it (the wire layer's side)
//!
//! 1. On start: [`GroupCoordinator::partitioned`]; when the broker becomes leader of a
//!    `__consumer_offsets` partition, [`GroupCoordinator::begin_load`], then
//!    [`GroupCoordinator::replay`] every record of that partition in order (decoded with
//!    [`GroupRecord::decode`]), then [`GroupCoordinator::complete_load`]. (An unscoped
//!    coordinator, [`GroupCoordinator::new`], replays the whole log and ends with
//!    [`GroupCoordinator::on_loaded`].)
//! 2. JoinGroup / SyncGroup: call with a fresh token and park the connection's request under
//!    it. Other APIs return their response directly ([`Reply`] when they may also have
//!    effects; OffsetFetch, ListGroups and DescribeGroups are read-only).
//! 3. For every [`Effects`] (from any call): first append `records` to the group log, in
//!    order, and in the order the calls returned them (encode with [`GroupRecord::key`] /
//!    [`GroupRecord::value`]; `None` is a tombstone), then deliver each `(token, completion)`
//!    to the request parked under the token; a direct response goes out after its reply's
//!    records too. [`Completion::Abandoned`] means Kafka would never answer that request (a
//!    newer request from the same member replaced it): stop waiting for it.
//! 4. Keep a timer at [`GroupCoordinator::next_deadline_ms`] and call
//!    [`GroupCoordinator::tick`] when it passes (and after every call, since calls move the
//!    deadline); tick returns the effects of session expiry, rebalance timeouts, the initial
//!    rebalance delay, pending-sync expiry and offset retention.
//!
//! On a broker, each coordinator serves only the groups of the `__consumer_offsets`
//! partitions its broker leads: see [`GroupCoordinator::partitioned`] and the load / unload
//! calls beside it; the others answer NOT_COORDINATOR. [`runtime`] is what drives it so on
//! the wire: the one asynchronous part of this module.
//!
//! 5. TxnOffsetCommit ([`GroupCoordinator::txn_offset_commit`]) leaves offsets pending until
//!    [`GroupCoordinator::replay_end_transaction_marker`] (after the marker is appended);
//!    a loader replays a partition's records with [`GroupCoordinator::replay_logged`], which
//!    tells transactional batches and markers apart (see `txn_offsets`).
//! 6. When topic-partitions are deleted, [`GroupCoordinator::on_partitions_deleted`] drops
//!    their offsets; on shutdown, [`GroupCoordinator::unload`] answers parked requests with
//!    NOT_COORDINATOR.
//!
//! A token is completed at most once. Tokens of a client that went away can simply be
//! forgotten by the wire layer: the coordinator answers them like Kafka would and the answer
//! is dropped.
//!
//! # Durability
//!
//! Group metadata and committed offsets are written as records in Kafka's own
//! `__consumer_offsets` key/value schemas (OffsetCommitKey v1 / OffsetCommitValue v3, v1 when
//! the commit carried a retention time; GroupMetadataKey v2 / GroupMetadataValue v3), so a
//! log of them reads like Kafka's. As in Kafka, GroupMetadata is written when a group is
//! created, when the leader's assignment is accepted, when a group becomes Empty and when a
//! static member is replaced in a Stable group; a replayed group is Stable (or Empty) at its
//! last written generation, and its members must heartbeat again within their session.
//!
//! # Limits
//!
//! Group ids longer than 32767 bytes are INVALID_GROUP_ID for JoinGroup and OffsetCommit (they
//! could not be written in the record key). A timer is never armed less than 1 ms ahead, so
//! one `tick` never loops on its own timers.
//!
//! # References
//! - Kafka protocol guide: <https://kafka.apache.org/protocol.html> (JoinGroup, SyncGroup,
//!   Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
//!   DeleteGroups, OffsetDelete)
//! - `org.apache.kafka.coordinator.group.GroupMetadataManager`, `classic.ClassicGroup`,
//!   `OffsetMetadataManager`, `GroupCoordinatorService`, `GroupCoordinatorShard` (Kafka 4)
//! - KIP-345 (static membership), KIP-394 (member id required), KIP-134 (initial rebalance
//!   delay), KIP-211 (offset retention of Empty groups), KIP-429 (cooperative rebalancing),
//!   KIP-496 (OffsetDelete), KIP-518 (ListGroups states filter), KIP-709 (multi-group
//!   OffsetFetch), KIP-800 / KIP-814 (join reason, skip assignment), KIP-1043

mod admin;
mod assignor;
mod classic;
mod classic_members;
mod config;
mod consumer_group;
mod consumer_heartbeat;
mod consumer_protocol;
mod coordinator;
mod join;
mod member;
mod offset_fetch;
mod offsets;
mod rebalance;
mod record;
mod responses;
pub mod runtime;
mod sync;
mod txn_offsets;

#[cfg(test)]
mod tests;

use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};

pub use classic::GroupState;
pub use classic_members::MigrationPolicy;
pub use config::GroupConfig;
pub use consumer_group::{ConsumerGroupState, TopicMetadata, TopicsImage};
pub use consumer_heartbeat::{MAX_REGEX_BYTES, MAX_SUBSCRIBED_TOPICS};
pub use coordinator::{GroupCoordinator, GroupSummary, MemberSummary, ShardState};
pub use offsets::OffsetAndMetadata;
pub use record::{GroupMetadataValue, GroupRecord, MemberMetadata, OffsetCommitValue, RecordError};
pub use txn_offsets::{LoggedRecord, NO_PRODUCER_ID};

/// Kafka's internal topic for committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The caller's name for a parked JoinGroup or SyncGroup request.
pub type RequestToken = u64;

/// What the request behind a [`RequestToken`] gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// The JoinGroup response to send.
    JoinGroup(JoinGroupResponse),
    /// The SyncGroup response to send.
    SyncGroup(SyncGroupResponse),
    /// Kafka never answers this request (the member sent a newer one, or was removed while
    /// the request was parked where Kafka drops it); stop waiting for it.
    Abandoned,
}

impl Completion {
    /// The same request answered with `error_code` instead (the write that would have
    /// answered it failed): a JoinGroup keeps its member id, a SyncGroup gets no assignment.
    pub fn failed(self, error_code: i16) -> Completion {
        match self {
            Completion::JoinGroup(ok) => {
                // v7+ answers carry the protocol type; before, the name is not nullable.
                let protocol_name = match ok.protocol_type {
                    Some(_) => None,
                    None => Some(Default::default()),
                };
                Completion::JoinGroup(
                    JoinGroupResponse::default()
                        .with_error_code(error_code)
                        .with_member_id(ok.member_id)
                        .with_protocol_name(protocol_name),
                )
            }
            Completion::SyncGroup(_) => {
                Completion::SyncGroup(SyncGroupResponse::default().with_error_code(error_code))
            }
            Completion::Abandoned => Completion::Abandoned,
        }
    }
}

/// What a call changed outside the coordinator: records to append first, then completions
/// of parked requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub completions: Vec<(RequestToken, Completion)>,
    pub records: Vec<GroupRecord>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.completions.is_empty() && self.records.is_empty()
    }

    /// Appends `other`'s records and completions after this one's.
    pub fn extend(&mut self, other: Effects) {
        self.completions.extend(other.completions);
        self.records.extend(other.records);
    }

    fn complete(&mut self, token: RequestToken, completion: Completion) {
        self.completions.push((token, completion));
    }
}

/// A response answered at once, plus the effects the request had.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<R> {
    pub response: R,
    pub effects: Effects,
}

/// What the coordinator needs from the request header and the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestContext<'a> {
    /// The request's API version: it selects semantics (e.g. MEMBER_ID_REQUIRED from
    /// JoinGroup v4) and the response's shape.
    pub api_version: i16,
    /// `client.id` from the request header (`""` when absent). New dynamic member ids are
    /// `<client.id>-<uuid>`.
    pub client_id: &'a str,
    /// The client's address as Kafka reports it in DescribeGroups: `/` and the IP.
    pub client_host: &'a str,
}

impl<'a> RequestContext<'a> {
    /// A context with no client id or host, for APIs that only need the version.
    pub fn version(api_version: i16) -> RequestContext<'static> {
        RequestContext {
            api_version,
            client_id: "",
            client_host: "",
        }
    }
}

/// The `__consumer_offsets` partition of a group: Kafka's `Utils.abs(groupId.hashCode()) % n`
/// (Java's `String.hashCode` over UTF-16 code units).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// Kafka's longest non-flexible string: the record keys cannot hold a longer group id.
const MAX_GROUP_ID_BYTES: usize = i16::MAX as usize;

/// A timer `delay_ms` from `now_ms`, never less than 1 ms ahead.
fn arm(now_ms: i64, delay_ms: i64) -> i64 {
    now_ms.saturating_add(delay_ms.max(1))
}
