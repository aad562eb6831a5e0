//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
//!
//! # References
//! - Kafka protocol guide, Heartbeat; KIP-62 (background heartbeats)

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::group::Effects;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let ctx = client.context();
    // A heartbeat writes nothing, so it never waits and never fails a write.
    shared
        .groups
        .write(
            |c, _, now| (c.heartbeat(now, &ctx, &req), Effects::default()),
            |answer, _| answer,
        )
        .await
}
