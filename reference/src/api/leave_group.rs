//! LeaveGroup: members leave at once (v3+: several, by member id or group instance id),
//! which starts a rebalance for those who stay.
//!
//! # References
//! - Kafka protocol guide, LeaveGroup; KIP-345 (batch leave)

use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let ctx = client.context();
    shared
        .groups
        .write(
            |c, _, now| {
                let reply = c.leave_group(now, &ctx, &req);
                (reply.response, reply.effects)
            },
            // As Kafka's `LeaveGroupRequest.getErrorResponse`: the error, no members.
            |response, code| response.with_error_code(code).with_members(Vec::new()),
        )
        .await
}
