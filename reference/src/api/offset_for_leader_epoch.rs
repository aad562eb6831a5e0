//! OffsetForLeaderEpoch: the end offset of a leader epoch in a partition's log, which a
//! follower (and a consumer checking for log truncation, KIP-320) asks after a leader change:
//! the start offset of the first epoch above the one asked for, or the log end offset for the
//! leader's current epoch ([`crate::replication::Partition::last_offset_for_leader_epoch`]).
//! Every broker answers it, a cluster of one too, as Kafka's single node does.
//!
//! # References
//! - KIP-101 (leader epochs), KIP-279, KIP-320 (`current_leader_epoch`, consumers)
//! - `kafka.server.ReplicaManager.lastOffsetForLeaderEpoch`, `Partition.lastOffsetForLeaderEpoch`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::protocol::VersionRange;

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 4 };

pub fn handle(shared: &Shared, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let state = shared.node.state();
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let topic_id = state.image.topic_id(&topic.topic.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = match topic_id
                        .and_then(|id| state.partitions.get(&(id, p.partition)))
                    {
                        Some(r) => {
                            r.last_offset_for_leader_epoch(p.current_leader_epoch, p.leader_epoch)
                        }
                        None => crate::replication::EpochEndOffset {
                            error_code: if topic_id.is_some() {
                                ResponseError::NotLeaderOrFollower.code()
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            },
                            leader_epoch: -1,
                            end_offset: -1,
                        },
                    };
                    EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(answer.error_code)
                        .with_leader_epoch(answer.leader_epoch)
                        .with_end_offset(answer.end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
