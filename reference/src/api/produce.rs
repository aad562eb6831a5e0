//! Produce: append record batches, as sent, to partition logs.
//!
//! Each partition's records are checked (one v2 batch, CRC, record count, compression;
//! `max.message.bytes`), stamped with their offsets and appended by the partition's leader;
//! every failure is that partition's error code, never the whole request's (a broker that
//! does not lead the partition answers NOT_LEADER_OR_FOLLOWER). acks=all is answered once the
//! in-sync replicas have the records, and checks them against the *effective*
//! `min.insync.replicas`: since Kafka 3.7 (KAFKA-15583) that is
//! `min(min.insync.replicas, replicas)`, so a one-replica partition never answers
//! NOT_ENOUGH_REPLICAS, whatever the topic says ([`crate::replication`]). acks=0 sends no
//! response at all; as in Kafka, if such a request fails anywhere, the connection is closed so
//! the client learns of it.
//!
//! An idempotent producer's batch (a producer id, not transactional) is checked by the
//! leader against the partition's producer state ([`crate::log::producer_state`]): a retry
//! of one of its last five batches answers the original's offsets without appending, a
//! sequence gap answers OUT_OF_ORDER_SEQUENCE_NUMBER and a stale epoch
//! INVALID_PRODUCER_EPOCH. A transactional batch without a `transactional_id` is
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as in Kafka. With one, the first batch of a
//! transaction in a partition is verified with the transaction coordinator before it is
//! appended (KIP-890: [`verify_transactions`]), so a partition the transaction does not hold
//! is refused, and under `transaction.version` 2 a Produce v12+ adds it.
//!
//! # References
//! - Kafka protocol guide, Produce API; KIP-98 (producer ids), KIP-516 (v13 topic ids)
//! - `kafka.server.KafkaApis.handleProduceRequest`, `ReplicaManager.appendRecords`,
//!   `UnifiedLog.analyzeAndValidateRecords`, `LogValidator`, `DelayedProduce`

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::{KafkaError, Reply, now_ms, requested_topic, unknown_topic_or_partition};
use crate::cluster::{Node, NodeState};
use crate::config::TopicConfig;
use crate::controller::AlterPartition;
use crate::record_batch::{self, BatchHeader};
use crate::replication::ProduceResult;
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 3, max: 13 };

/// Beyond the produce's own timeout (answered by the partition's timer), how long a parked
/// produce waits before giving up on an answer that never comes (a crash).
const PRODUCE_SAFETY_MARGIN: Duration = Duration::from_secs(5);

/// One partition's produce: answered now, or parked until the ISR has it.
enum Produced {
    Done(Result<Appended, KafkaError>),
    Parked(oneshot::Receiver<ProduceResult>, Appended),
}

pub async fn handle(
    shared: &Shared,
    req: ProduceRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> Reply {
    let node = &shared.node;
    // The configs of a topic created without any (the broker's), taken before the node lock.
    let defaults =
        TopicConfig::new(&shared.config, BTreeMap::new()).expect("no topic overrides to refuse");
    let acks = req.acks;
    let timeout_ms = i64::from(req.timeout_ms.max(0));
    let transactional_id = req.transactional_id.as_ref().map(|t| t.0.as_str());
    let unverified = match transactional_id {
        Some(id) => verify_transactions(shared, &req, version, id).await,
        None => BTreeMap::new(),
    };
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut alters = Vec::new();
    {
        let mut guard = node.state();
        let state = &mut *guard;
        for topic in &req.topic_data {
            let topic_id = requested_topic(&state.image, version, topic.topic_id, &topic.name.0);
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for data in &topic.partition_data {
                // By topic id: a v13 request names its topics by id only.
                let failed = topic_id.and_then(|id| unverified.get(&(id, data.index)));
                if let Some(error) = failed {
                    partitions.push((data.index, Produced::Done(Err(error.clone()))));
                    continue;
                }
                let outcome = produce_partition(
                    node,
                    state,
                    topic_id,
                    data,
                    acks,
                    timeout_ms,
                    version,
                    &defaults,
                    transactional_id,
                    &mut alters,
                );
                partitions.push((data.index, outcome));
            }
            topics.push((topic.name.clone(), topic.topic_id, partitions));
        }
    }
    node.notify_progress();
    node.send_alters(alters);
    let failed = topics
        .iter()
        .flat_map(|t| t.2.iter())
        .any(|(_, p)| matches!(p, Produced::Done(Err(_))));
    if acks == 0 {
        if failed {
            return Reply::Close("a produce request with acks=0 failed".into());
        }
        return Reply::NoResponse;
    }
    let deadline =
        Instant::now() + Duration::from_millis(timeout_ms as u64) + PRODUCE_SAFETY_MARGIN;
    let mut responses = Vec::with_capacity(topics.len());
    for (name, topic_id, partitions) in topics {
        let mut answers = Vec::with_capacity(partitions.len());
        for (index, produced) in partitions {
            let outcome = match produced {
                Produced::Done(outcome) => outcome,
                Produced::Parked(rx, appended) => {
                    let code = tokio::select! {
                        answer = tokio::time::timeout_at(deadline, rx) => match answer {
                            Ok(Ok(result)) if result.error_code == 0 => {
                                Ok(result.base_offset)
                            }
                            Ok(Ok(result)) => Err(result.error_code),
                            Ok(Err(_)) => Err(ResponseError::NotLeaderOrFollower.code()),
                            Err(_) => Err(ResponseError::RequestTimedOut.code()),
                        },
                        _ = shutdown.recv() => Err(ResponseError::NotLeaderOrFollower.code()),
                    };
                    code.map(|base_offset| Appended {
                        base_offset,
                        ..appended
                    })
                    .map_err(error_of)
                }
            };
            let answer = partition_response(index, outcome);
            answers.push(answer);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_topic_id(topic_id)
                .with_partition_responses(answers),
        );
    }
    Reply::Response(Box::new(ResponseKind::Produce(fit_to_version(
        ProduceResponse::default().with_responses(responses),
        version,
    ))))
}

/// One partition of a Produce on this broker: the checks of its records, then the leader's
/// append.
#[allow(clippy::too_many_arguments)]
fn produce_partition(
    node: &Node,
    state: &mut NodeState,
    topic_id: Option<Uuid>,
    data: &PartitionProduceData,
    acks: i16,
    timeout_ms: i64,
    version: i16,
    defaults: &TopicConfig,
    transactional_id: Option<&str>,
    alters: &mut Vec<AlterPartition>,
) -> Produced {
    if let Err(e) = check_acks(acks) {
        return Produced::Done(Err(e));
    }
    let Some(topic) = topic_id.and_then(|id| state.image.topic(id)) else {
        return Produced::Done(Err(unknown_topic(version)));
    };
    let topic_id = topic.topic_id;
    if state.image.partition(topic_id, data.index).is_none() {
        return Produced::Done(Err(unknown_topic_or_partition()));
    }
    let config = node.topic_config(&topic.name);
    let config = config.as_ref().unwrap_or(defaults);
    let (records, header) = match check_records(&topic.name, data, config, version) {
        Ok(checked) => checked,
        Err(e) => return Produced::Done(Err(e)),
    };
    if let Err(e) = check_transactional(&header, transactional_id) {
        return Produced::Done(Err(e));
    }
    let log_append_time = config.log.log_append_time;
    let mut bytes = BytesMut::from(&records[..header.total_len()]);
    let token = node.next_token();
    let parked = (acks == -1).then(|| Node::park(state, token));
    let Some(partition) = state.partitions.get_mut(&(topic_id, data.index)) else {
        Node::unpark(state, token);
        return Produced::Done(Err(error_of(ResponseError::NotLeaderOrFollower.code())));
    };
    let now = now_ms();
    match partition.append_as_leader(&mut bytes, acks, token, timeout_ms, &state.image, now) {
        Err(code) => {
            Node::unpark(state, token);
            Produced::Done(Err(error_of(code)))
        }
        Ok((info, effects)) => {
            alters.extend(node.route(state, effects));
            let appended = Appended {
                base_offset: info.base_offset,
                log_append_time_ms: if log_append_time { now } else { -1 },
                log_start_offset: info.log_start_offset,
            };
            match parked {
                Some(rx) => Produced::Parked(rx, appended),
                None => Produced::Done(Ok(appended)),
            }
        }
    }
}

/// Clears fields the request's version does not have (the codec refuses to encode them).
pub(crate) fn fit_to_version(mut response: ProduceResponse, version: i16) -> ProduceResponse {
    for topic in &mut response.responses {
        for partition in &mut topic.partition_responses {
            if version < 5 {
                partition.log_start_offset = -1;
            }
            if version < 8 {
                partition.error_message = None;
            }
        }
    }
    response
}

/// A topic the request names that does not exist: by id (v13+) or by name.
pub(crate) fn unknown_topic(version: i16) -> KafkaError {
    if version >= 13 {
        KafkaError::new(
            ResponseError::UnknownTopicId,
            "This server does not host this topic ID.",
        )
    } else {
        unknown_topic_or_partition()
    }
}

/// What an append gives back: base offset, log append time (-1 for CreateTime), log start.
pub(crate) struct Appended {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// acks must be -1 (all), 0 or 1.
pub(crate) fn check_acks(acks: i16) -> Result<(), KafkaError> {
    if matches!(acks, -1..=1) {
        return Ok(());
    }
    Err(KafkaError::new(
        ResponseError::InvalidRequiredAcks,
        format!("Invalid required acks {acks}"),
    ))
}

/// An error code with Kafka's default message for it.
pub(crate) fn error_of(code: i16) -> KafkaError {
    KafkaError {
        code,
        message: ResponseError::try_from_code(code).map_or_else(String::new, |e| e.to_string()),
    }
}

/// The checks of one partition's records before anything is appended: no client writes to an internal topic, one valid batch
/// (`validate_produce_for_version`), `max.message.bytes` and the segment size. Returns the
/// records and their batch header.
pub(crate) fn check_records<'a>(
    topic: &str,
    data: &'a PartitionProduceData,
    config: &TopicConfig,
    version: i16,
) -> Result<(&'a Bytes, BatchHeader), KafkaError> {
    if crate::coordinator_log::is_internal(topic) {
        return Err(KafkaError::new(
            ResponseError::InvalidTopicException,
            format!("Cannot append to internal topic {topic}"),
        ));
    }
    let records = data.records.as_ref().ok_or_else(|| {
        KafkaError::new(
            ResponseError::InvalidRecord,
            "Produce request has no records",
        )
    })?;
    let max_inflated = record_batch::max_inflated_bytes(config.max_message_bytes);
    let header = record_batch::validate_produce_with_limit(records, version, max_inflated)
        .map_err(|e| KafkaError {
            code: e.error_code(),
            message: e.to_string(),
        })?;
    let batch_size = header.total_len();
    if batch_size > usize::try_from(config.max_message_bytes).unwrap_or(0) {
        return Err(KafkaError::new(
            ResponseError::MessageTooLarge,
            format!(
                "The record batch size in the append to {topic}-{} is {batch_size} bytes which exceeds the maximum configured value of {}.",
                data.index, config.max_message_bytes
            ),
        ));
    }
    if batch_size as u64 > config.log.segment_bytes {
        return Err(KafkaError::new(
            ResponseError::RecordListTooLarge,
            format!(
                "The record batch size in the append to {topic}-{} is {batch_size} bytes which exceeds the segment size of {}.",
                data.index, config.log.segment_bytes
            ),
        ));
    }
    Ok((records, header))
}

/// A transactional batch: Kafka authorizes its `transactional_id` first, so without one it is
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (what Kafka 4.3.1 answers, no message); with one it
/// goes on to the leader's append.
fn check_transactional(
    header: &BatchHeader,
    transactional_id: Option<&str>,
) -> Result<(), KafkaError> {
    if !header.is_transactional() || transactional_id.is_some() {
        return Ok(());
    }
    Err(KafkaError {
        code: ResponseError::TransactionalIdAuthorizationFailed.code(),
        message: String::new(),
    })
}

/// Kafka's transaction verification (KIP-890, `ReplicaManager.handleProduceAppend`): a
/// transactional batch whose producer has no transaction open at this epoch in the
/// partition is first checked with the transaction coordinator, which must already hold
/// the partition (AddPartitionsToTxn from the client, TV0/TV1), or adds it now (Produce
/// v12+ under `transaction.version` 2, where the client no longer sends AddPartitionsToTxn).
/// Returns the partitions that failed, by topic id and index, with the error to answer;
/// errors are translated as Kafka translates them for producers: INVALID_TXN_STATE "not
/// added", the retriable coordinator errors as NOT_ENOUGH_REPLICAS (which every client
/// retries without a metadata refresh), PRODUCER_FENCED as INVALID_PRODUCER_EPOCH, and
/// TRANSACTION_ABORTABLE as INVALID_TXN_STATE for clients older than Produce v11.
async fn verify_transactions(
    shared: &Shared,
    req: &ProduceRequest,
    version: i16,
    transactional_id: &str,
) -> BTreeMap<(Uuid, i32), KafkaError> {
    let Some(Unverified {
        producer_id,
        producer_epoch,
        partitions,
        topic_ids,
    }) = needing_verification(shared, req, version)
    else {
        return BTreeMap::new();
    };
    let add = version >= 12
        && super::api_versions::TRANSACTION_VERSION_LEVEL
            >= crate::txn::TransactionVersion::Tv2.level();
    let results = crate::txn::runtime::verify_or_add(
        shared,
        transactional_id,
        producer_id,
        producer_epoch,
        &partitions,
        add,
    )
    .await;
    tracing::debug!(
        transactional_id,
        producer_id,
        producer_epoch,
        add,
        ?results,
        "transaction verification"
    );
    results
        .into_iter()
        .filter(|(_, code)| *code != 0)
        .filter_map(|(tp, code)| {
            let id = topic_ids.get(&tp.topic)?;
            Some(((*id, tp.partition), verification_error(code, version)))
        })
        .collect()
}

/// The transactional batches of a request to verify: their producer, its epoch, their
/// partitions and the ids of their topics by name.
struct Unverified {
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<crate::txn::TopicPartition>,
    topic_ids: BTreeMap<String, Uuid>,
}

/// The transactional batches of the request this broker leads whose producer has no open
/// transaction (at this epoch) in their partition. `None` when there are none (or the
/// batches are not transactional).
fn needing_verification(shared: &Shared, req: &ProduceRequest, version: i16) -> Option<Unverified> {
    let state = shared.node.state();
    let mut producer = None;
    let mut partitions = Vec::new();
    let mut topic_ids = BTreeMap::new();
    for topic in &req.topic_data {
        let Some(topic_id) = requested_topic(&state.image, version, topic.topic_id, &topic.name.0)
        else {
            continue;
        };
        let Some(name) = state.image.topic(topic_id).map(|t| t.name.clone()) else {
            continue;
        };
        for data in &topic.partition_data {
            let Some(header) = data
                .records
                .as_ref()
                .and_then(|r| BatchHeader::parse(r).ok())
            else {
                continue;
            };
            if !header.is_transactional() || !header.has_producer_id() {
                continue;
            }
            let Some(replica) = state.partitions.get(&(topic_id, data.index)) else {
                continue;
            };
            let open = replica
                .log()
                .has_ongoing_transaction(header.producer_id, header.producer_epoch);
            if replica.is_leader() && !open {
                producer.get_or_insert((header.producer_id, header.producer_epoch));
                partitions.push(crate::txn::TopicPartition::new(name.clone(), data.index));
                topic_ids.insert(name.clone(), topic_id);
            }
        }
    }
    producer.map(|(producer_id, producer_epoch)| Unverified {
        producer_id,
        producer_epoch,
        partitions,
        topic_ids,
    })
}

/// `ReplicaManager`'s and `AddPartitionsToTxnManager`'s translation of a verification error
/// for a producer.
fn verification_error(code: i16, version: i16) -> KafkaError {
    let error = ResponseError::try_from_code(code);
    match error {
        Some(ResponseError::InvalidTxnState) => KafkaError::new(
            ResponseError::InvalidTxnState,
            "Partition was not added to the transaction",
        ),
        Some(ResponseError::TransactionAbortable) if version <= 10 => KafkaError::new(
            ResponseError::InvalidTxnState,
            "Partition was not added to the transaction",
        ),
        Some(ResponseError::ProducerFenced) => KafkaError {
            code: ResponseError::InvalidProducerEpoch.code(),
            message: String::new(),
        },
        Some(
            e @ (ResponseError::ConcurrentTransactions
            | ResponseError::NetworkException
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator),
        ) => KafkaError::new(
            ResponseError::NotEnoughReplicas,
            format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {}",
                kafka_error_name(e)
            ),
        ),
        _ => KafkaError {
            code,
            message: String::new(),
        },
    }
}

/// Kafka's name of an error (`Errors.name()`: `CONCURRENT_TRANSACTIONS`).
fn kafka_error_name(error: ResponseError) -> String {
    let camel = format!("{error:?}");
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// One partition's answer: what was appended, or why not.
pub(crate) fn partition_response(
    index: i32,
    outcome: Result<Appended, KafkaError>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(a) => response
            .with_base_offset(a.base_offset)
            .with_log_append_time_ms(a.log_append_time_ms)
            .with_log_start_offset(a.log_start_offset),
        Err(e) => response
            .with_error_code(e.code)
            .with_error_message((!e.message.is_empty()).then(|| StrBytes::from_string(e.message)))
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1),
    }
}
