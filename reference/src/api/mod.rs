//! The Kafka APIs the reference answers, one module per API.
//!
//! Each module declares `VERSIONS`, the versions it really handles (its semantics, not just
//! the codec's schema range), and ApiVersions is built from [`SUPPORTED`]. A request for an
//! API or version not in that table never reaches a handler: the connection answers
//! ApiVersions with UNSUPPORTED_VERSION and closes the connection for anything else, as
//! Kafka does.
//!
//! Handlers lock the broker state only for synchronous work and never across an `.await`.
//!
//! # References
//! - Kafka protocol guide: <https://kafka.apache.org/protocol.html>
//! - KIP-896 (Kafka 4.0 removed old protocol versions; the minimums below follow it)

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use crate::group::{Completion, Effects, GroupCoordinator, RequestContext, RequestToken};
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod unsupported;

/// Every API the broker handles, with the versions it really handles.
pub const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
];

/// The versions of `key` the broker handles, if any.
pub fn supported_versions(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The versions of `key` this broker handles (a cluster's brokers handle a few more APIs).
pub fn supported_versions_for(shared: &Shared, key: ApiKey) -> Option<VersionRange> {
    match shared.cluster {
        Some(_) => crate::cluster::wire::supported_versions(key),
        None => supported_versions(key),
    }
}

/// What a handler gives back: a response, nothing at all (Produce with acks=0), or a reason
/// to close the connection.
pub enum Reply {
    Response(Box<ResponseKind>),
    NoResponse,
    Close(String),
}

/// Who sent a request: what the group coordinator reports about members.
pub struct ClientInfo<'a> {
    pub api_version: i16,
    pub client_id: &'a str,
    /// `/` and the peer's IP, as Kafka shows client hosts.
    pub client_host: String,
}

impl ClientInfo<'_> {
    pub fn context(&self) -> RequestContext<'_> {
        RequestContext {
            api_version: self.api_version,
            client_id: self.client_id,
            client_host: &self.client_host,
        }
    }
}

/// Parks a JoinGroup/SyncGroup, hands it to the group coordinator with `call` (its token and
/// the time) and waits for its completion; `None` on shutdown. A failed write answers the
/// parked requests it would have completed itself.
pub async fn write_parked(
    shared: &Shared,
    shutdown: &mut Shutdown,
    call: impl FnOnce(&mut GroupCoordinator, RequestToken, i64) -> Effects,
) -> Option<Completion> {
    let (token, parked) = shared.groups.park();
    shared
        .groups
        .write(
            shared,
            |c, _, now| ((), call(c, token, now)),
            |answer, _| answer,
        )
        .await;
    tokio::select! {
        completion = parked => completion.ok(),
        _ = shutdown.recv() => {
            shared.groups.forget(token);
            None
        }
    }
}

/// Dispatches one decoded request to its handler.
pub async fn handle(
    shared: &Shared,
    header: &RequestHeader,
    peer: SocketAddr,
    request: RequestKind,
    shutdown: &mut Shutdown,
) -> Reply {
    let version = header.request_api_version;
    let client = ClientInfo {
        api_version: version,
        client_id: header.client_id.as_ref().map_or("", |c| c.as_str()),
        client_host: format!("/{}", peer.ip()),
    };
    let request = match &shared.cluster {
        Some(node) => {
            match crate::cluster::wire::handle(node, shared, version, request, shutdown).await {
                Ok(reply) => return reply,
                Err(request) => request,
            }
        }
        None => request,
    };
    let response = match request {
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(shared, req, version))
        }
        RequestKind::JoinGroup(req) => {
            return join_group::handle(shared, &client, req, shutdown).await;
        }
        RequestKind::SyncGroup(req) => {
            return sync_group::handle(shared, &client, req, shutdown).await;
        }
        RequestKind::Heartbeat(req) => {
            ResponseKind::Heartbeat(heartbeat::handle(shared, &client, req).await)
        }
        RequestKind::LeaveGroup(req) => {
            ResponseKind::LeaveGroup(leave_group::handle(shared, &client, req).await)
        }
        RequestKind::OffsetCommit(req) => {
            ResponseKind::OffsetCommit(offset_commit::handle(shared, &client, req).await)
        }
        RequestKind::OffsetFetch(req) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(shared, &client, req))
        }
        RequestKind::ListGroups(req) => {
            ResponseKind::ListGroups(list_groups::handle(shared, &client, req))
        }
        RequestKind::DescribeGroups(req) => {
            ResponseKind::DescribeGroups(describe_groups::handle(shared, &client, req))
        }
        RequestKind::DeleteGroups(req) => {
            ResponseKind::DeleteGroups(delete_groups::handle(shared, &client, req).await)
        }
        RequestKind::OffsetDelete(req) => {
            ResponseKind::OffsetDelete(offset_delete::handle(shared, &client, req).await)
        }
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle(0)),
        RequestKind::Metadata(req) => {
            ResponseKind::Metadata(metadata::handle(shared, req, version))
        }
        RequestKind::CreateTopics(req) => {
            ResponseKind::CreateTopics(create_topics::handle(shared, req, version))
        }
        RequestKind::DeleteTopics(req) => {
            ResponseKind::DeleteTopics(delete_topics::handle(shared, req, version))
        }
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(create_partitions::handle(shared, req))
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(shared, req, version))
        }
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets::handle(shared, req, version))
        }
        RequestKind::Produce(req) => return produce::handle(shared, req, version),
        RequestKind::Fetch(req) => {
            ResponseKind::Fetch(fetch::handle(shared, req, version, shutdown).await)
        }
        other => return unsupported::reply(other),
    };
    Reply::Response(Box::new(response))
}

/// Wall-clock milliseconds since the epoch, the broker's notion of "now".
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
