//! SyncGroup: the leader hands in the assignment; every member's request is parked until it
//! arrives, then each gets its own share.
//!
//! # References
//! - Kafka protocol guide, SyncGroup; KIP-559 (protocol type and name, v5)

use kafka_protocol::messages::{ResponseKind, SyncGroupRequest};
use kafka_protocol::protocol::VersionRange;

use super::{ClientInfo, Reply, wait_parked};
use crate::group::Completion;
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: SyncGroupRequest,
    shutdown: &mut Shutdown,
) -> Reply {
    let (token, parked) = shared.groups.park();
    let ctx = client.context();
    // A failed write answers the parked requests it would have completed itself.
    shared
        .groups
        .write(
            shared,
            |c, _, now| ((), c.sync_group(now, token, &ctx, &req)),
            |answer, _| answer,
        )
        .await;
    match wait_parked(shared, token, parked, shutdown).await {
        Some(Completion::SyncGroup(response)) => {
            Reply::Response(Box::new(ResponseKind::SyncGroup(response)))
        }
        other => Reply::Close(format!("SyncGroup not answered: {other:?}")),
    }
}
