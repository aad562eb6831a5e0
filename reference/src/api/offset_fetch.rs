//! OffsetFetch: committed offsets of one group (v1-7) or several (v8+), exactly as stored,
//! metadata included; -1 where nothing is committed.
//!
//! # References
//! - Kafka protocol guide, OffsetFetch; KIP-709 (several groups)

use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 9 };

pub fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let ctx = client.context();
    shared.groups.read(|c| c.offset_fetch(&ctx, &req))
}
