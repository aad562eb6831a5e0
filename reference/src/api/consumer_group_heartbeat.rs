//! ConsumerGroupHeartbeat (KIP-848): joins, heartbeats, reconciles and leaves a consumer
//! group of the consumer rebalance protocol, against the broker's topics as its metadata
//! image has them. The coordinator's side is [`crate::group`] (`consumer_heartbeat`).
//!
//! v0 and v1, the versions Kafka 4.3.1 advertises (v1: `subscribed_topic_regex`, and the
//! member id is the client's own, KIP-1082).
//!
//! # References
//! - Kafka protocol guide, ConsumerGroupHeartbeat; KIP-848, KIP-1082

use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::group::{TopicMetadata, TopicsImage};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

/// The broker's topics by name, with their ids and partition counts.
pub(crate) fn topics_image(shared: &Shared) -> TopicsImage {
    let state = shared.node.state();
    state
        .image
        .topics()
        .map(|t| {
            let metadata = TopicMetadata {
                topic_id: t.topic_id,
                partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            };
            (t.name.clone(), metadata)
        })
        .collect()
}

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let ctx = client.context();
    let image = topics_image(shared);
    shared
        .groups
        .write(
            |c, _, now| {
                let reply = c.consumer_group_heartbeat(now, &ctx, &req, &image);
                (reply.response, reply.effects)
            },
            // The write of a replaced classic group failed: the heartbeat fails with it.
            |_, code| ConsumerGroupHeartbeatResponse::default().with_error_code(code),
        )
        .await
}
