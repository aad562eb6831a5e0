//! OffsetCommit: committed offsets (with metadata) made durable in `__consumer_offsets`
//! before the response is sent. Unknown topics or partitions are UNKNOWN_TOPIC_OR_PARTITION.
//!
//! # References
//! - Kafka protocol guide, OffsetCommit; KIP-211 (retention), KIP-447 (v8)

use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 9 };

pub fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let ctx = client.context();
    shared.groups.run(shared, |c, core, now| {
        let exists = |topic: &str, partition: i32| core.partition(topic, partition).is_ok();
        let reply = c.offset_commit(now, &ctx, &req, &exists);
        (reply.response, reply.effects)
    })
}
