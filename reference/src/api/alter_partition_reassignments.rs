//! AlterPartitionReassignments: move partitions' replicas between brokers (KIP-455), as
//! `kafka-reassign-partitions --execute` and `--cancel` send it. Each partition goes to the
//! controller as a Kafka broker forwards it (`ControllerApis`,
//! `ReplicationControlManager.alterPartitionReassignments`):
//! [`crate::controller::Controller::alter_partition_reassignment`] adds the target replicas,
//! which catch up as followers and join the ISR; the leader's AlterPartition that completes
//! the ISR completes the move, and the brokers left out delete their logs. Null replicas
//! cancel the partition's reassignment in progress.
//!
//! Per partition: NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (an empty
//! list, an unregistered broker, a broker twice; a cancel that would need an unclean
//! election), NO_REASSIGNMENT_IN_PROGRESS (a cancel with nothing to cancel; no message, as
//! Kafka 4.3.1 answers it), and from v1,
//! with `allow_replication_factor_change` false, INVALID_REPLICATION_FACTOR for a target
//! of another size than the partition's (KIP-860). The top-level error is NONE with a null
//! message; a broker cut off from the controller answers REQUEST_TIMED_OUT. Answered once
//! this broker's image has the changes.
//!
//! # References
//! - KIP-455 (reassignments), KIP-860 (`allow_replication_factor_change`)
//! - `ControllerApis.handleAlterPartitionReassignments`,
//!   `ReplicationControlManager.alterPartitionReassignment`,
//!   `PartitionReassignmentReplicas`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::VersionRange;

use super::{reach_controller, str, until_image};
use crate::controller::ApiError;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

pub async fn handle(
    shared: &Shared,
    req: AlterPartitionReassignmentsRequest,
    version: i16,
) -> AlterPartitionReassignmentsResponse {
    let node = &shared.node;
    let answer = |results: Vec<ReassignableTopicResponse>, code: i16| {
        AlterPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .with_error_message(None)
            .with_responses(results)
    };
    if !reach_controller(node, req.timeout_ms).await {
        let timed_out = ResponseError::RequestTimedOut.code();
        let topics = req.topics.iter().map(|t| {
            let partitions = t.partitions.iter().map(|p| {
                ReassignablePartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(timed_out)
                    .with_error_message(None)
            });
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions.collect())
        });
        return answer(topics.collect(), timed_out);
    }
    // v0 has no such field: the replication factor may change, as it always could.
    let allow_rf_change = version < 1 || req.allow_replication_factor_change;
    let (results, offset) = node.controller.with(|c| {
        let results: Vec<ReassignableTopicResponse> = req
            .topics
            .iter()
            .map(|topic| {
                let name = topic.name.0.as_str();
                let partitions = topic.partitions.iter().map(|p| {
                    let target: Option<Vec<i32>> =
                        p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
                    let outcome = match &target {
                        Some(target) if !allow_rf_change => {
                            check_replication_factor(c, name, p.partition_index, target)
                        }
                        _ => Ok(()),
                    }
                    .and_then(|()| {
                        c.alter_partition_reassignment(name, p.partition_index, target.as_deref())
                    });
                    let (code, message) = match outcome {
                        Ok(()) => (0, None),
                        Err(e) if e.message.is_empty() => (e.code, None),
                        Err(e) => (e.code, Some(str(&e.message))),
                    };
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_error_message(message)
                });
                ReassignableTopicResponse::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions.collect())
            })
            .collect();
        (results, c.metadata_offset())
    });
    until_image(node, req.timeout_ms, |image| image.offset() >= offset).await;
    answer(results, 0)
}

/// KIP-860's check (`validatePartitionReplicationFactorUnchanged`): the target has as many
/// replicas as the partition has (or will have, when a reassignment is in progress). An
/// unknown topic or partition is left to the reassignment's own checks.
fn check_replication_factor(
    c: &crate::controller::Controller,
    topic: &str,
    partition: i32,
    target: &[i32],
) -> Result<(), ApiError> {
    let Some(current) = c.image().topic_by_name(topic).and_then(|t| {
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
    }) else {
        return Ok(());
    };
    let size = if current.is_reassigning() {
        current.target_replicas().len()
    } else {
        current.replicas.len()
    };
    if size == target.len() {
        return Ok(());
    }
    Err(ApiError::new(
        ResponseError::InvalidReplicationFactor.code(),
        format!(
            "The replication factor is changed from {size} to {}",
            target.len()
        ),
    ))
}
