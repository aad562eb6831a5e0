//! DescribeProducers: the producers a partition's log knows (KIP-664), what
//! `kafka-transactions describe-producers` shows: for each, its id, epoch, last sequence and
//! last timestamp ([`crate::log::producer_state`]). Kafka answers from any replica that hosts
//! the partition (the admin client asks the leader); a broker without a replica answers
//! NOT_LEADER_OR_FOLLOWER, an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION.
//! `coordinator_epoch` is that of the producer's last transaction marker and
//! `current_txn_start_offset` the first offset of its open transaction; -1 when it has
//! none, as Kafka reports an idempotent producer.
//!
//! A partition named twice in one request is answered the second time with INVALID_REQUEST
//! and no producers. Kafka answers every occurrence in full, so a request of a few bytes per
//! repeat would make the answer as large as repeats times the partition's producers; here
//! the answer never lists more producers than the broker holds. No real client repeats a
//! partition (the admin client groups them by leader, once each).
//!
//! # References
//! - KIP-664 (describing producers and transactions)
//! - `kafka.server.ReplicaManager.activeProducerState`, `Partition.activeProducerState`,
//!   `ProducerStateManager.activeProducers`

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub fn handle(shared: &Shared, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let state = shared.node.state();
    let mut answered: BTreeSet<(String, i32)> = BTreeSet::new();
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let topic_id = state.image.topic_id(&topic.name.0);
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    if !answered.insert((topic.name.0.to_string(), index)) {
                        return response
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "The partition is named more than once in the request.",
                            )));
                    }
                    let exists =
                        topic_id.is_some_and(|id| state.image.partition(id, index).is_some());
                    let replica = topic_id.and_then(|id| state.partitions.get(&(id, index)));
                    match replica {
                        _ if !exists => {
                            response.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }
                        None => response.with_error_code(ResponseError::NotLeaderOrFollower.code()),
                        Some(replica) => response.with_active_producers(
                            replica
                                .log()
                                .producers()
                                .entries()
                                .map(|(id, entry)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(id))
                                        .with_producer_epoch(i32::from(entry.epoch))
                                        .with_last_sequence(entry.last_seq())
                                        .with_last_timestamp(entry.last_timestamp)
                                        .with_coordinator_epoch(entry.coordinator_epoch)
                                        .with_current_txn_start_offset(
                                            entry.current_txn_first_offset.unwrap_or(-1),
                                        )
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
