//! OffsetCommit: committed offsets (with metadata) made durable in `__consumer_offsets`
//! before the response is sent: once the partition's in-sync replicas have them
//! ([`crate::group::runtime`]). Unknown topics or partitions are UNKNOWN_TOPIC_OR_PARTITION.
//!
//! # References
//! - Kafka protocol guide, OffsetCommit; KIP-211 (retention), KIP-447 (v8)

use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 9 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let ctx = client.context();
    shared
        .groups
        .write(
            |c, exists, now| {
                let reply = c.offset_commit(now, &ctx, &req, exists);
                (reply.response, reply.effects)
            },
            // As Kafka's `OffsetCommitRequest.getErrorResponse`: every partition fails.
            |mut response, code| {
                for p in response
                    .topics
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    p.error_code = code;
                }
                response
            },
        )
        .await
}
