//! ConsumerGroupDescribe (KIP-848): a consumer group's epochs, assignor and members, with
//! their current and target assignments (topic names from the broker's metadata image).
//! A classic group or an unknown id is GROUP_ID_NOT_FOUND, as in Kafka 4.3.
//!
//! # References
//! - Kafka protocol guide, ConsumerGroupDescribe; KIP-848

use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};
use kafka_protocol::protocol::VersionRange;

use super::consumer_group_heartbeat::topics_image;
use crate::server::Shared;

/// v1 adds each member's `member_type`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

pub fn handle(shared: &Shared, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let image = topics_image(shared);
    shared
        .groups
        .read(|c| c.consumer_group_describe(&req, &image))
}
