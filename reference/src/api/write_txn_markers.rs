//! WriteTxnMarkers: a transaction coordinator tells the leaders of a transaction's
//! partitions to end it, with a commit or abort marker in each (KIP-98).
//!
//! Each marker of the request names a producer, its epoch, the result and the coordinator's
//! epoch; each of its partitions gets one control batch ([`encode_control_batch`]) appended
//! by this broker as leader, with the coordinator's origin (the producer epoch is checked,
//! the sequence is not: [`AppendOrigin::Coordinator`]) and acks=all, and is answered once the
//! in-sync replicas have it, as Kafka's `KafkaApis.handleWriteTxnMarkersRequest` appends
//! with `requiredAcks = -1` within `request.timeout.ms`. The log's producer state then ends
//! the producer's transaction there: the last stable offset moves past it and an abort joins
//! the partition's aborted transactions (see [`crate::log`]).
//!
//! A `__consumer_offsets` partition is the group coordinator's: its marker goes through
//! [`crate::group::runtime::GroupRuntime::complete_transaction`], which writes it and makes
//! the transaction's offsets committed (or drops them), as Kafka hands such partitions to
//! `GroupCoordinator.completeTransaction`.
//!
//! Errors per partition: a topic or partition this broker's image lacks is
//! UNKNOWN_TOPIC_OR_PARTITION, a replica that does not lead NOT_LEADER_OR_FOLLOWER, a stale
//! producer or coordinator epoch the log's code (INVALID_PRODUCER_EPOCH,
//! TRANSACTION_COORDINATOR_FENCED), too few in-sync replicas NOT_ENOUGH_REPLICAS, no answer
//! in time REQUEST_TIMED_OUT. The coordinator retries what it must.
//!
//! The codec decodes v1 only; Kafka 4.3.1 also has v2 (a `transaction_version` field), so
//! v1 is what the reference advertises and what its coordinators send.
//!
//! # References
//! - KIP-98; Kafka protocol guide, WriteTxnMarkers
//! - `kafka.server.KafkaApis.handleWriteTxnMarkersRequest`,
//!   `TransactionMarkerRequestCompletionHandler`

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::WritableTxnMarker;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::protocol::VersionRange;
use tokio::sync::oneshot;

use super::now_ms;
use crate::cluster::Node;
use crate::group::OFFSETS_TOPIC;
use crate::log::AppendOrigin;
use crate::record_batch::{ControlType, encode_control_batch};
use crate::replication::ProduceResult;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 1 };

/// Kafka's `request.timeout.ms` default: how long a marker waits for its replicas.
const REQUEST_TIMEOUT_MS: i64 = 30_000;

/// Beyond the timeout (answered by the partition's timer), how long to wait for an answer
/// that never comes.
const SAFETY_MARGIN: Duration = Duration::from_secs(5);

pub async fn handle(shared: &Shared, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut markers = Vec::with_capacity(req.markers.len());
    for marker in &req.markers {
        markers.push(write_marker(shared, marker).await);
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// One marker: every partition's control batch, the group coordinator's included.
async fn write_marker(shared: &Shared, marker: &WritableTxnMarker) -> WritableTxnMarkerResult {
    let control = if marker.transaction_result {
        ControlType::Commit
    } else {
        ControlType::Abort
    };
    let (producer_id, epoch) = (marker.producer_id.0, marker.producer_epoch);
    let mut topics = Vec::with_capacity(marker.topics.len());
    for topic in &marker.topics {
        let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
        for &index in &topic.partition_indexes {
            let code = if topic.name.0.as_str() == OFFSETS_TOPIC {
                let code = shared
                    .groups
                    .complete_transaction(
                        index,
                        producer_id,
                        epoch,
                        marker.coordinator_epoch,
                        marker.transaction_result,
                    )
                    .await;
                as_leader_error(code)
            } else {
                let bytes = encode_control_batch(
                    producer_id,
                    epoch,
                    marker.coordinator_epoch,
                    control,
                    now_ms(),
                );
                append_marker(&shared.node, topic.name.0.as_str(), index, bytes).await
            };
            partitions.push(
                WritableTxnMarkerPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(code),
            );
        }
        topics.push(
            WritableTxnMarkerTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    WritableTxnMarkerResult::default()
        .with_producer_id(marker.producer_id)
        .with_topics(topics)
}

/// KafkaApis answers the transaction coordinator NOT_LEADER_OR_FOLLOWER where the group
/// coordinator says it does not (yet) serve the partition, so that the marker is retried
/// once the partition's leader is known again.
fn as_leader_error(code: i16) -> i16 {
    match ResponseError::try_from_code(code) {
        Some(
            ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress,
        ) => ResponseError::NotLeaderOrFollower.code(),
        _ => code,
    }
}

/// Appends one control batch as leader with acks=all and waits for the in-sync replicas;
/// the error code (0 once replicated).
async fn append_marker(
    node: &Node,
    topic: &str,
    partition: i32,
    mut bytes: bytes::BytesMut,
) -> i16 {
    let parked: oneshot::Receiver<ProduceResult> = {
        let mut guard = node.state();
        let state = &mut *guard;
        let Some(topic_id) = state
            .image
            .topic_by_name(topic)
            .filter(|t| usize::try_from(partition).is_ok_and(|p| p < t.partitions.len()))
            .map(|t| t.topic_id)
        else {
            return ResponseError::UnknownTopicOrPartition.code();
        };
        let token = node.next_token();
        let rx = Node::park(state, token);
        let Some(replica) = state.partitions.get_mut(&(topic_id, partition)) else {
            Node::unpark(state, token);
            return ResponseError::NotLeaderOrFollower.code();
        };
        let appended = replica.append_with_origin(
            &mut bytes,
            -1,
            token,
            REQUEST_TIMEOUT_MS,
            &state.image,
            now_ms(),
            AppendOrigin::Coordinator,
        );
        match appended {
            Err(code) => {
                Node::unpark(state, token);
                return code;
            }
            Ok((_, effects)) => {
                let alter = node.route(state, effects);
                drop(guard);
                node.notify_progress();
                node.send_alters(alter);
            }
        }
        rx
    };
    let wait = Duration::from_millis(REQUEST_TIMEOUT_MS as u64) + SAFETY_MARGIN;
    match tokio::time::timeout(wait, parked).await {
        Ok(Ok(result)) => result.error_code,
        Ok(Err(_)) => ResponseError::NotLeaderOrFollower.code(),
        Err(_) => ResponseError::RequestTimedOut.code(),
    }
}
