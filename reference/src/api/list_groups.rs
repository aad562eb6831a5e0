//! ListGroups: every group, with its protocol type and (v4+) state, optionally filtered.
//!
//! # References
//! - Kafka protocol guide, ListGroups; KIP-518 (states filter), KIP-848 (types filter)

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let ctx = client.context();
    shared.groups.read(|c| c.list_groups(&ctx, &req))
}
