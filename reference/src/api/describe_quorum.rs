//! DescribeQuorum (KIP-595, KIP-836, KIP-853): the KRaft metadata quorum, as
//! `kafka-metadata-quorum describe --status` and `--replication` ask a broker for it.
//!
//! The reference's controller is one in-process node, never replicated, so it is described
//! as Kafka describes a quorum of one voter in combined mode (broker and controller in one
//! process, as `ci/kafka/start.sh --nodes 1` runs it): the voter is node
//! [`CONTROLLER_NODE_ID`] (broker 1's id), the leader at epoch 1 for good, its log end
//! offset and the high watermark both the end of the metadata log (one voter commits alone),
//! its fetch and caught-up times "now" (Kafka's for a leader); every other broker that has
//! heartbeated within [`OBSERVER_SESSION_TIMEOUT_MS`] is an observer, with the offset it had
//! read at its last heartbeat and when that was (a KRaft broker is an observer of the
//! metadata log, fetching it). Directory ids are the zero uuid (static voters, as Kafka's
//! `controller.quorum.voters` gives) and the voter has no listeners in v2's `nodes`: the
//! reference has no controller listener for a client to reach.
//!
//! Kafka checks the request as its Raft client does (`KafkaRaftClient.handleDescribeQuorumRequest`):
//! anything but exactly `__cluster_metadata` partition 0 answers UNKNOWN_TOPIC_OR_PARTITION on
//! every partition asked for. A broker forwards the request to the controller; cut off from
//! it, the answer is REQUEST_TIMED_OUT once the forwarding gives up (as for CreateTopics:
//! [`super::reach_controller`]).
//!
//! # References
//! - KIP-595 (Raft), KIP-836 (v1: replica timestamps), KIP-853 (v2: directory ids, nodes)
//! - `KafkaRaftClient.handleDescribeQuorumRequest`, `RaftUtil.singletonDescribeQuorumResponse`,
//!   `DescribeQuorumRequest.getPartitionLevelErrorResponse`, `LeaderState.observerStates`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Node as QuorumNode, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::VersionRange;

use super::{now_ms, reach_controller, str};
use crate::controller::ObserverState;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// The metadata log's topic (`Topic.CLUSTER_METADATA_TOPIC_NAME`), one partition.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// The node the controller is described as: broker 1, as in a combined-mode Kafka node.
pub const CONTROLLER_NODE_ID: i32 = 1;

/// The controller never changes, so its epoch is the first.
const LEADER_EPOCH: i32 = 1;

/// An observer not heard from for this long is left out (`LeaderState`'s
/// `OBSERVER_SESSION_TIMEOUT_MS`).
pub const OBSERVER_SESSION_TIMEOUT_MS: i64 = 300_000;

/// How long a forwarded request waits for an unreachable controller.
const FORWARD_WAIT_MS: i32 = 60_000;

pub async fn handle(
    shared: &Shared,
    req: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    if !asks_for_the_metadata_log(&req) {
        return unknown_partitions(req, version);
    }
    let node = &shared.node;
    if !reach_controller(node, FORWARD_WAIT_MS).await {
        let error = ResponseError::RequestTimedOut;
        return DescribeQuorumResponse::default()
            .with_error_code(error.code())
            .with_error_message((version >= 2).then(|| str("The request timed out.")));
    }
    let (end_offset, observers) = node.controller.with(|c| {
        let observers: Vec<(i32, ObserverState)> = c.observers().collect();
        (c.metadata_offset() + 1, observers)
    });
    let now = now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(BrokerId(CONTROLLER_NODE_ID))
        .with_log_end_offset(end_offset)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let observers = observers
        .into_iter()
        .filter(|(id, state)| {
            *id != CONTROLLER_NODE_ID
                && now.saturating_sub(state.last_fetch_timestamp_ms) <= OBSERVER_SESSION_TIMEOUT_MS
        })
        .map(|(id, state)| {
            ReplicaState::default()
                .with_replica_id(BrokerId(id))
                .with_log_end_offset(state.log_end_offset)
                .with_last_fetch_timestamp(state.last_fetch_timestamp_ms)
                .with_last_caught_up_timestamp(state.last_caught_up_timestamp_ms)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(CONTROLLER_NODE_ID))
        .with_leader_epoch(LEADER_EPOCH)
        .with_high_watermark(end_offset)
        .with_current_voters(vec![voter])
        .with_observers(observers);
    let topic = TopicData::default()
        .with_topic_name(TopicName(str(CLUSTER_METADATA_TOPIC)))
        .with_partitions(vec![partition]);
    let nodes = if version >= 2 {
        vec![QuorumNode::default().with_node_id(BrokerId(CONTROLLER_NODE_ID))]
    } else {
        Vec::new()
    };
    DescribeQuorumResponse::default()
        .with_topics(vec![topic])
        .with_nodes(nodes)
}

/// `KafkaRaftClient.hasValidTopicPartition`: one topic, the metadata log, one partition, 0.
fn asks_for_the_metadata_log(req: &DescribeQuorumRequest) -> bool {
    match req.topics.as_slice() {
        [topic] => {
            topic.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC
                && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
        }
        _ => false,
    }
}

/// UNKNOWN_TOPIC_OR_PARTITION on every partition the request names (the request's own
/// arrays, bounded by its frame).
fn unknown_partitions(req: DescribeQuorumRequest, version: i16) -> DescribeQuorumResponse {
    let error = ResponseError::UnknownTopicOrPartition;
    let message = (version >= 2).then(|| str("This server does not host this topic-partition."));
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                        .with_error_message(message.clone())
                })
                .collect();
            TopicData::default()
                .with_topic_name(topic.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}
