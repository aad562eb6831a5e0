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

use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use crate::server::Shared;
use crate::shutdown::Shutdown;

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
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
];

/// The versions of `key` the broker handles, if any.
pub fn supported_versions(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// What a handler gives back: a response, nothing at all (Produce with acks=0), or a reason
/// to close the connection.
pub enum Reply {
    Response(Box<ResponseKind>),
    NoResponse,
    Close(String),
}

/// Dispatches one decoded request to its handler.
pub async fn handle(
    shared: &Shared,
    header: &RequestHeader,
    request: RequestKind,
    shutdown: &mut Shutdown,
) -> Reply {
    let version = header.request_api_version;
    let response = match request {
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
