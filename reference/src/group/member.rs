//! One member of a classic group: its identity, timeouts, protocols, assignment, and the
//! JoinGroup / SyncGroup request it may have parked.
//!
//! A parked request is just its [`RequestToken`] (plus the API version, which shapes the
//! eventual response): the coordinator never holds futures or channels, so it stays a plain
//! value that tests can clone and compare.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.classic.ClassicGroupMember`

use bytes::Bytes;

use super::RequestToken;

/// One protocol (assignor) a member supports, with its metadata (the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Protocol {
    pub(super) name: String,
    pub(super) metadata: Bytes,
}

/// A request the coordinator answers later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parked {
    pub(super) token: RequestToken,
    pub(super) api_version: i16,
}

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) member_id: String,
    pub(super) group_instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) rebalance_timeout_ms: i32,
    pub(super) session_timeout_ms: i32,
    pub(super) protocol_type: String,
    /// In the member's order of preference; names are unique.
    pub(super) protocols: Vec<Protocol>,
    pub(super) assignment: Bytes,
    pub(super) awaiting_join: Option<Parked>,
    pub(super) awaiting_sync: Option<Parked>,
    /// Added in the current rebalance and not yet given a generation: its session timer is
    /// the new-member join timeout, and a parked JoinGroup does not keep it alive.
    pub(super) is_new: bool,
    /// When the member is dropped unless it heartbeats (or is waiting in a rebalance).
    pub(super) heartbeat_deadline_ms: Option<i64>,
}

impl Member {
    /// Kafka's `hasSatisfiedHeartbeat`: a member waiting for a JoinGroup or SyncGroup
    /// answer cannot heartbeat, so it is not expired then (unless it is new).
    pub(super) fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    /// Whether `protocols` are exactly the member's current ones (names, order, metadata).
    pub(super) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub(super) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// The metadata the member sent for `protocol`, empty if it does not support it.
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
}

/// Protocols of a JoinGroup request, duplicates by name dropped (the first one stays) so
/// that per-name support counts never exceed the member count.
pub(super) fn protocols_from_request(
    protocols: &[kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol],
) -> Vec<Protocol> {
    let mut out: Vec<Protocol> = Vec::with_capacity(protocols.len());
    for p in protocols {
        if !out.iter().any(|o| o.name == p.name.as_str()) {
            out.push(Protocol {
                name: p.name.to_string(),
                metadata: p.metadata.clone(),
            });
        }
    }
    out
}
