//! TxnOffsetCommit (0-5): a transactional producer's offsets for a consumer group, pending
//! in the group coordinator until the transaction's marker ([`crate::group`]'s
//! `txn_offsets`), written to `__consumer_offsets` as a transactional batch of the producer.
//!
//! As `KafkaApis.handleTxnOffsetCommitRequest` and `GroupCoordinatorService`: partitions of
//! unknown topics (or beyond a topic's partitions) are UNKNOWN_TOPIC_OR_PARTITION before
//! anything else; then the transaction must hold the group's `__consumer_offsets`
//! partition (`scheduleTransactionalWriteOperation`'s verification: from v5, KIP-890 part 2,
//! the partition is added to it), its error going to every partition; then the group is
//! checked (unknown member, fenced generation, ...) by the coordinator. Before v2 a loading
//! coordinator answers COORDINATOR_NOT_AVAILABLE (the coordinator's side).
//!
//! # References
//! - Kafka protocol guide, TxnOffsetCommit; KIP-98, KIP-447 (v3: generation and member),
//!   KIP-890 (v5)
//! - `KafkaApis.handleTxnOffsetCommitRequest`, `GroupCoordinatorService.commitTransactionalOffsets`,
//!   `CoordinatorPartitionWriter.maybeStartTransactionVerification`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestPartition;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::protocol::VersionRange;

use super::ClientInfo;
use crate::group::{OFFSETS_TOPIC, partition_for};
use crate::server::Shared;
use crate::txn::TopicPartition;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub async fn handle(
    shared: &Shared,
    client: &ClientInfo<'_>,
    mut req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let ctx = client.context();
    let unknown = take_unknown_partitions(shared, &mut req);
    if req.topics.is_empty() {
        return TxnOffsetCommitResponse::default().with_topics(unknown);
    }
    let verified = verify(shared, client.api_version, &req).await;
    let mut response = match verified {
        Err(code) => failed(&req, code),
        Ok(()) => {
            let (producer_id, producer_epoch) = (req.producer_id.0, req.producer_epoch);
            shared
                .groups
                .write_transactional(
                    producer_id,
                    producer_epoch,
                    |c, _, now| {
                        let reply = c.txn_offset_commit(now, &ctx, &req);
                        (reply.response, reply.effects)
                    },
                    // As Kafka's `TxnOffsetCommitRequest.getErrorResponse`: every partition.
                    |_, code| failed(&req, code),
                )
                .await
        }
    };
    response.topics.extend(unknown);
    response
}

/// Removes the partitions this broker's metadata does not know from the request and answers
/// them UNKNOWN_TOPIC_OR_PARTITION.
fn take_unknown_partitions(
    shared: &Shared,
    req: &mut TxnOffsetCommitRequest,
) -> Vec<TxnOffsetCommitResponseTopic> {
    let state = shared.node.state();
    let mut unknown = Vec::new();
    for topic in &mut req.topics {
        let count = state
            .image
            .topic_by_name(topic.name.as_str())
            .map_or(0, |t| t.partitions.len());
        let (known, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut topic.partitions)
            .into_iter()
            .partition(|p| usize::try_from(p.partition_index).is_ok_and(|i| i < count));
        topic.partitions = known;
        if !gone.is_empty() {
            let code = ResponseError::UnknownTopicOrPartition.code();
            unknown.push(answered(&topic.name, &gone, code));
        }
    }
    req.topics.retain(|t| !t.partitions.is_empty());
    unknown
}

/// The transaction must hold the group's `__consumer_offsets` partition (from v5 it is
/// added); errors mapped as the coordinator maps a failed write. As
/// `ReplicaManager.maybeStartTransactionVerificationForPartition`: a partition this broker
/// does not lead is NOT_COORDINATOR (NOT_LEADER_OR_FOLLOWER, mapped), and one where the
/// producer already has an ongoing transaction needs no verification. A request the
/// coordinator refuses anyway (empty group id, no offsets topic) is left to it.
async fn verify(shared: &Shared, version: i16, req: &TxnOffsetCommitRequest) -> Result<(), i16> {
    let group_id = req.group_id.as_str();
    let producer_id = req.producer_id.0;
    let partition = {
        let state = shared.node.state();
        let Some(topic) = state.image.topic_by_name(OFFSETS_TOPIC) else {
            return Ok(());
        };
        if group_id.is_empty() {
            return Ok(());
        }
        let partition = partition_for(group_id, topic.partitions.len() as i32);
        match state.partitions.get(&(topic.topic_id, partition)) {
            Some(p) if p.is_leader() => {
                if p.log()
                    .has_ongoing_transaction(producer_id, req.producer_epoch)
                {
                    return Ok(());
                }
            }
            _ => return Err(ResponseError::NotCoordinator.code()),
        }
        partition
    };
    let offsets = TopicPartition::new(OFFSETS_TOPIC, partition);
    let results = crate::txn::runtime::verify_or_add(
        shared,
        req.transactional_id.as_str(),
        producer_id,
        req.producer_epoch,
        &[offsets],
        version >= 5,
    )
    .await;
    match results.iter().find(|(_, code)| *code != 0) {
        Some((_, code)) => Err(verification_error(version, *code)),
        None => Ok(()),
    }
}

/// A failed verification's answer, as `AddPartitionsToTxnManager` and
/// `CoordinatorPartitionWriter.maybeStartTransactionVerification` give it: PRODUCER_FENCED
/// is INVALID_PRODUCER_EPOCH; TRANSACTION_ABORTABLE (the partition is not in the
/// transaction) only from v4, INVALID_TXN_STATE before (Kafka 4.3.1 answers a TxnOffsetCommit
/// without AddOffsetsToTxn 48 at v3, 120 at v4); then mapped as a failed write.
fn verification_error(version: i16, code: i16) -> i16 {
    let code = match ResponseError::try_from_code(code) {
        Some(ResponseError::ProducerFenced) => ResponseError::InvalidProducerEpoch.code(),
        Some(ResponseError::TransactionAbortable) if version < 4 => {
            ResponseError::InvalidTxnState.code()
        }
        _ => code,
    };
    crate::coordinator_log::map_write_error(code)
}

/// Every partition of the request answered `code`.
fn failed(req: &TxnOffsetCommitRequest, code: i16) -> TxnOffsetCommitResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| answered(&t.name, &t.partitions, code))
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// A topic's partitions, each answered `code`.
fn answered(
    name: &TopicName,
    partitions: &[TxnOffsetCommitRequestPartition],
    code: i16,
) -> TxnOffsetCommitResponseTopic {
    let partitions = partitions
        .iter()
        .map(|p| {
            TxnOffsetCommitResponsePartition::default()
                .with_partition_index(p.partition_index)
                .with_error_code(code)
        })
        .collect();
    TxnOffsetCommitResponseTopic::default()
        .with_name(name.clone())
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_errors_are_answered_as_kafka_does() {
        let abortable = ResponseError::TransactionAbortable.code();
        assert_eq!(
            verification_error(3, abortable),
            ResponseError::InvalidTxnState.code()
        );
        assert_eq!(verification_error(4, abortable), abortable);
        let fenced = ResponseError::ProducerFenced.code();
        assert_eq!(
            verification_error(5, fenced),
            ResponseError::InvalidProducerEpoch.code()
        );
        let mapping = ResponseError::InvalidProducerIdMapping.code();
        assert_eq!(verification_error(5, mapping), mapping);
        let timeout = ResponseError::RequestTimedOut.code();
        assert_eq!(
            verification_error(5, timeout),
            ResponseError::CoordinatorNotAvailable.code()
        );
    }
}
