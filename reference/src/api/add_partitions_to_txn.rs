//! AddPartitionsToTxn: partitions join a producer's transaction, at the transaction
//! coordinator ([`crate::txn::runtime`]).
//!
//! v0-3 come from a client (the classic protocol, TV0/TV1): one transaction, every
//! partition answered with the coordinator's one error code, except that partitions of
//! topics this broker does not know are UNKNOWN_TOPIC_OR_PARTITION and then the others
//! OPERATION_NOT_ATTEMPTED, as Kafka answers (nothing is added). v4+ come from brokers
//! (KIP-890): a batch of transactions, each either verify-only (the partition leader asks
//! whether its partitions are in the transaction: TRANSACTION_ABORTABLE for those that are
//! not) or an add (TV2: the leader adds them itself), answered per transaction.
//!
//! # References
//! - KIP-98, KIP-890
//! - `kafka.server.KafkaApis.handleAddPartitionsToTxnRequest`,
//!   `kafka.coordinator.transaction.TransactionCoordinator.handleAddPartitionsToTransaction`,
//!   `handleVerifyPartitionsInTransaction`

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId,
};
use kafka_protocol::protocol::VersionRange;

use crate::server::Shared;
use crate::txn::{TopicPartition, TransactionVersion};

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// The most transactions one broker request may batch (the reference's bound, not
/// Kafka's: each is a coordinator call); more is INVALID_REQUEST.
const MAX_TRANSACTIONS_PER_REQUEST: usize = 1000;

pub async fn handle(
    shared: &Shared,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(req.v3_and_below_transactional_id)
            .with_producer_id(req.v3_and_below_producer_id)
            .with_producer_epoch(req.v3_and_below_producer_epoch)
            .with_topics(req.v3_and_below_topics);
        let result = client_add(shared, &txn).await;
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(result.topic_results);
    }
    if req.transactions.len() > MAX_TRANSACTIONS_PER_REQUEST {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    let mut results = Vec::with_capacity(req.transactions.len());
    for txn in &req.transactions {
        results.push(broker_entry(shared, txn, version).await);
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// The partitions a transaction entry names.
fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> BTreeSet<TopicPartition> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.name.0.to_string(), *p))
        })
        .collect()
}

/// A v0-3 request: unknown topics refuse the whole request, else the coordinator adds.
async fn client_add(
    shared: &Shared,
    txn: &AddPartitionsToTxnTransaction,
) -> AddPartitionsToTxnResult {
    let partitions = partitions_of(&txn.topics);
    let unknown: BTreeSet<&TopicPartition> = {
        let state = shared.node.state();
        partitions
            .iter()
            .filter(|tp| {
                state.image.topic_by_name(&tp.topic).is_none_or(|t| {
                    usize::try_from(tp.partition).map_or(true, |i| i >= t.partitions.len())
                })
            })
            .collect()
    };
    if !unknown.is_empty() {
        let unknown_code = ResponseError::UnknownTopicOrPartition.code();
        let not_attempted = ResponseError::OperationNotAttempted.code();
        return result_of(txn, &partitions, |tp| {
            if unknown.contains(tp) {
                unknown_code
            } else {
                not_attempted
            }
        });
    }
    let code = add(shared, txn, &partitions, TransactionVersion::Tv0).await;
    result_of(txn, &partitions, |_| code)
}

/// One v4+ entry: verify only, or add with TV2.
async fn broker_entry(
    shared: &Shared,
    txn: &AddPartitionsToTxnTransaction,
    version: i16,
) -> AddPartitionsToTxnResult {
    let partitions = partitions_of(&txn.topics);
    if txn.verify_only {
        let codes = shared.txns.read(|c, _| {
            c.verify_partitions(
                &txn.transactional_id.0,
                txn.producer_id.0,
                txn.producer_epoch,
                &partitions,
            )
        });
        let codes: std::collections::BTreeMap<TopicPartition, i16> = codes.into_iter().collect();
        let missing = ResponseError::UnknownServerError.code();
        return result_of(txn, &partitions, |tp| {
            codes.get(tp).copied().unwrap_or(missing)
        });
    }
    let tv = TransactionVersion::for_add_partitions(version);
    let code = add(shared, txn, &partitions, tv).await;
    result_of(txn, &partitions, |_| code)
}

/// The coordinator adds `partitions` (its one error code, or the write's).
async fn add(
    shared: &Shared,
    txn: &AddPartitionsToTxnTransaction,
    partitions: &BTreeSet<TopicPartition>,
    version: TransactionVersion,
) -> i16 {
    let (id, pid, epoch) = (
        &txn.transactional_id.0,
        txn.producer_id.0,
        txn.producer_epoch,
    );
    shared
        .txns
        .write(&shared.producer_ids, |c, _, now| {
            c.add_partitions(id, pid, epoch, partitions, version, now)
        })
        .await
        .unwrap_or_else(|code| code)
}

/// The result of one transaction, each partition with `code_of` it, by topic.
fn result_of(
    txn: &AddPartitionsToTxnTransaction,
    partitions: &BTreeSet<TopicPartition>,
    code_of: impl Fn(&TopicPartition) -> i16,
) -> AddPartitionsToTxnResult {
    let mut topics: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for tp in partitions {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(tp.partition)
            .with_partition_error_code(code_of(tp));
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == tp.topic => t.results_by_partition.push(result),
            _ => topics.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(crate::api::str(&tp.topic)))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    AddPartitionsToTxnResult::default()
        .with_transactional_id(TransactionalId(txn.transactional_id.0.clone()))
        .with_topic_results(topics)
}
