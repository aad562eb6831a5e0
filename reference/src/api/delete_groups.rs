//! DeleteGroups: only Empty groups can go (else NON_EMPTY_GROUP); their offsets go with them.
//!
//! # References
//! - KIP-229 (DeleteGroups)

use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ctx = client.context();
    shared
        .groups
        .write(
            |c, _, _| {
                let reply = c.delete_groups(&ctx, &req);
                (reply.response, reply.effects)
            },
            // The groups whose deletion was to be written were not deleted.
            |mut response, code| {
                for result in response.results.iter_mut().filter(|r| r.error_code == 0) {
                    result.error_code = code;
                }
                response
            },
        )
        .await
}
