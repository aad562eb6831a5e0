//! JoinGroup: parked until the group's rebalance completes, then answered with the
//! generation, the chosen protocol, the leader and (for the leader) every member's metadata.
//! The semantics live in [`crate::group`]; this module parks the request and waits.
//!
//! # References
//! - Kafka protocol guide, JoinGroup; KIP-394 (member id required), KIP-345 (static members)

use kafka_protocol::messages::{JoinGroupRequest, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::{ClientInfo, Reply, write_parked};
use crate::group::Completion;
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 9 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: JoinGroupRequest,
    shutdown: &mut Shutdown,
) -> Reply {
    let ctx = client.context();
    let image = super::consumer_group_heartbeat::topics_image(shared);
    let completion = write_parked(shared, shutdown, |c, token, now| {
        c.join_group(now, token, &ctx, &req, &image)
    })
    .await;
    match completion {
        Some(Completion::JoinGroup(response)) => {
            Reply::Response(Box::new(ResponseKind::JoinGroup(response)))
        }
        other => Reply::Close(format!("JoinGroup not answered: {other:?}")),
    }
}
