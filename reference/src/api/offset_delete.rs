//! OffsetDelete: removes a group's committed offsets for some partitions, unless the group
//! is consuming that topic (GROUP_SUBSCRIBED_TO_TOPIC).
//!
//! # References
//! - KIP-496 (OffsetDelete)

use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let ctx = client.context();
    shared
        .groups
        .write(
            |c, exists, _| {
                let reply = c.offset_delete(&ctx, &req, exists);
                (reply.response, reply.effects)
            },
            // As Kafka's error response: the error, no topics.
            |response, code| response.with_error_code(code).with_topics(Vec::new()),
        )
        .await
}
