//! SyncGroup: the leader hands in the assignment; every member's request is parked until it
//! arrives, then each gets its own share.
//!
//! # References
//! - Kafka protocol guide, SyncGroup; KIP-559 (protocol type and name, v5)

use kafka_protocol::messages::{ResponseKind, SyncGroupRequest};
use kafka_protocol::protocol::VersionRange;

use super::{ClientInfo, Reply, write_parked};
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
    let ctx = client.context();
    let completion = write_parked(shared, shutdown, |c, token, now| {
        c.sync_group(now, token, &ctx, &req)
    })
    .await;
    match completion {
        Some(Completion::SyncGroup(response)) => {
            Reply::Response(Box::new(ResponseKind::SyncGroup(response)))
        }
        other => Reply::Close(format!("SyncGroup not answered: {other:?}")),
    }
}
