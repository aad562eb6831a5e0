//! ElectLeaders through the controller, as a Kafka broker forwards it
//! (`ControllerApis.handleElectLeaders`, `ReplicationControlManager.electLeaders`): per
//! partition NONE, ELECTION_NOT_NEEDED (its preferred replica leads already; for an
//! unclean election, it has a leader), PREFERRED_LEADER_NOT_AVAILABLE (the preferred
//! replica is not in the ISR or not unfenced), ELIGIBLE_LEADERS_NOT_AVAILABLE or
//! UNKNOWN_TOPIC_OR_PARTITION, each with Kafka's message. Null `topic_partitions` means
//! every partition of every topic, and then the partitions that needed no election are left
//! out (each topic is still listed). An election type other than 0 (preferred) and 1
//! (unclean) fails the whole request with INVALID_REQUEST, and a broker cut off from the
//! controller answers REQUEST_TIMED_OUT (`ElectLeadersRequest.getErrorResponse`). Answered
//! once this broker's image has the new leaders.
//!
//! Every version Kafka 4 has (v1 adds the election type, KIP-460; v2 is flexible). A cluster
//! of one answers it too, as Kafka's single node does.
//!
//! # References
//! - KIP-183 (preferred leader election), KIP-460 (the election type)
//! - `ControllerApis.handleElectLeaders`, `ReplicationControlManager.electLeaders`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, TopicName, elect_leaders_response,
};
use kafka_protocol::protocol::VersionRange;

use super::{reach_controller, str, until_image};
use crate::controller::{ApiError, ElectionType};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

pub async fn handle(
    shared: &Shared,
    req: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    let node = &shared.node;
    use elect_leaders_response::{PartitionResult, ReplicaElectionResult};
    let failed = |code: i16, message: Option<String>| {
        let topics = req.topic_partitions.iter().flatten().map(|topic| {
            let partitions = topic.partitions.iter().map(|p| {
                PartitionResult::default()
                    .with_partition_id(*p)
                    .with_error_code(code)
                    .with_error_message(message.as_deref().map(str))
            });
            ReplicaElectionResult::default()
                .with_topic(topic.topic.clone())
                .with_partition_result(partitions.collect())
        });
        // v0 has no top-level error code: its partitions carry it.
        ElectLeadersResponse::default()
            .with_error_code(if version >= 1 { code } else { 0 })
            .with_replica_election_results(topics.collect())
    };
    let election_type = match req.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            let why = format!("Unknown election type {other}");
            return failed(ResponseError::InvalidRequest.code(), Some(why));
        }
    };
    if !reach_controller(node, req.timeout_ms).await {
        return failed(ResponseError::RequestTimedOut.code(), None);
    }
    let result = |partition: i32, outcome: Result<(), ApiError>| {
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err(e) => (e.code, Some(str(&e.message))),
        };
        PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(code)
            .with_error_message(message)
    };
    let (results, offset) = node.controller.with(|c| {
        let results: Vec<ReplicaElectionResult> = match &req.topic_partitions {
            Some(topics) => topics
                .iter()
                .map(|topic| {
                    let name = topic.topic.0.as_str();
                    let partitions = topic
                        .partitions
                        .iter()
                        .map(|p| result(*p, c.elect_leader(name, *p, election_type)));
                    ReplicaElectionResult::default()
                        .with_topic(topic.topic.clone())
                        .with_partition_result(partitions.collect())
                })
                .collect(),
            None => {
                let mut topics: Vec<(String, usize)> = c
                    .image()
                    .topics()
                    .map(|t| (t.name.clone(), t.partitions.len()))
                    .collect();
                topics.sort();
                let not_needed = ResponseError::ElectionNotNeeded.code();
                topics
                    .into_iter()
                    .map(|(name, count)| {
                        let partitions = (0..count as i32)
                            .map(|p| (p, c.elect_leader(&name, p, election_type)))
                            .filter(|(_, outcome)| {
                                outcome.as_ref().err().is_none_or(|e| e.code != not_needed)
                            })
                            .map(|(p, outcome)| result(p, outcome));
                        ReplicaElectionResult::default()
                            .with_topic(TopicName(str(&name)))
                            .with_partition_result(partitions.collect())
                    })
                    .collect()
            }
        };
        (results, c.metadata_offset())
    });
    until_image(node, req.timeout_ms, |image| image.offset() >= offset).await;
    ElectLeadersResponse::default().with_replica_election_results(results)
}
