//! DescribeGroups: a group's state, protocol and members (with their metadata and
//! assignments once Stable).
//!
//! # References
//! - Kafka protocol guide, DescribeGroups; KIP-345 (group instance ids)

use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };

pub fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let ctx = client.context();
    shared.groups.read(|c| c.describe_groups(&ctx, &req))
}
