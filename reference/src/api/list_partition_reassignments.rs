//! ListPartitionReassignments: the partitions being reassigned, with their replicas and
//! the replicas being added and removed (KIP-455), as `kafka-reassign-partitions --verify`
//! and `--list` ask. Null topics lists every reassignment in progress; named topics list
//! the named partitions that are being reassigned (unknown topics and partitions, and those
//! not being reassigned, are left out, as Kafka's
//! `ReplicationControlManager.listPartitionReassignments` leaves them).
//!
//! # References
//! - KIP-455; `ControllerApis.handleListPartitionReassignments`,
//!   `ReplicationControlManager.listPartitionReassignments`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::VersionRange;

use super::{reach_controller, str};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub async fn handle(
    shared: &Shared,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let node = &shared.node;
    if !reach_controller(node, req.timeout_ms).await {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::RequestTimedOut.code())
            .with_error_message(None);
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let ids = |brokers: &[i32]| brokers.iter().map(|&b| BrokerId(b)).collect::<Vec<_>>();
    let by_topic = node.controller.with(|c| {
        let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
        for (topic, partition, p) in c.reassigning_partitions(asked.as_deref()) {
            by_topic.entry(topic.to_string()).or_default().push(
                OngoingPartitionReassignment::default()
                    .with_partition_index(partition)
                    .with_replicas(ids(&p.replicas))
                    .with_adding_replicas(ids(&p.adding_replicas))
                    .with_removing_replicas(ids(&p.removing_replicas)),
            );
        }
        by_topic
    });
    let topics = by_topic.into_iter().map(|(name, partitions)| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(str(&name)))
            .with_partitions(partitions)
    });
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics.collect())
}
