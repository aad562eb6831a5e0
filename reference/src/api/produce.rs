//! Produce: append record batches, as sent, to partition logs.
//!
//! Each partition's records are checked (one v2 batch, CRC, record count, compression;
//! `max.message.bytes`), stamped with their offsets and appended; every failure is that
//! partition's error code, never the whole request's. acks=all checks the in-sync replicas
//! against the *effective* `min.insync.replicas`: since Kafka 3.7 (KAFKA-15583) that is
//! `min(min.insync.replicas, replicas)`, so a one-replica partition never answers
//! NOT_ENOUGH_REPLICAS, whatever the topic says. acks=0 sends no response at all; as in
//! Kafka, if such a request fails anywhere, the connection is closed so the client learns of
//! it.
//!
//! Idempotent and transactional batches (a producer id) are refused with INVALID_RECORD
//! until producer state exists: accepting them without deduplication would be a lie.
//!
//! A cluster's leaders (`cluster::wire`) make the same checks ([`check_acks`],
//! [`check_records`]) and answer in the same shape ([`partition_response`]).
//!
//! # References
//! - Kafka protocol guide, Produce API; KIP-98 (producer ids), KIP-516 (v13 topic ids)
//! - `kafka.server.KafkaApis.handleProduceRequest`, `ReplicaManager.appendRecords`,
//!   `UnifiedLog.analyzeAndValidateRecords`, `LogValidator`

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{Reply, now_ms};
use crate::broker::{BrokerCore, KafkaError, unknown_topic_or_partition};
use crate::config::TopicConfig;
use crate::record_batch::{self, BatchHeader};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 3, max: 13 };

/// The leader epoch of every partition on a single broker, stamped into appended batches.
const LEADER_EPOCH: i32 = 0;

/// Replicas of every partition on a single broker.
const REPLICAS: i32 = 1;

/// In-sync replicas of every partition on a single broker.
const IN_SYNC_REPLICAS: i32 = 1;

/// The in-sync replicas acks=all needs: `min.insync.replicas`, capped at the partition's
/// replica count (Kafka's `Partition.effectiveMinIsr`, KAFKA-15583).
fn effective_min_insync_replicas(min_insync_replicas: i32, replicas: i32) -> i32 {
    min_insync_replicas.min(replicas)
}

pub fn handle(shared: &Shared, req: ProduceRequest, version: i16) -> Reply {
    let acks = req.acks;
    let mut core = shared.core();
    let mut appended = false;
    let mut failed = false;
    let responses: Vec<TopicProduceResponse> = req
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = topic_name(&core, &topic, version);
            let partition_responses = topic
                .partition_data
                .iter()
                .map(|data| {
                    let outcome = check_acks(acks).and_then(|()| match &name {
                        None => Err(unknown_topic(version)),
                        Some(name) => append(&mut core, name, data, acks, version),
                    });
                    appended |= outcome.is_ok();
                    failed |= outcome.is_err();
                    partition_response(data.index, outcome)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partition_responses)
        })
        .collect();
    drop(core);
    if appended {
        shared.notify_appended();
    }
    if acks == 0 {
        if failed {
            return Reply::Close("a produce request with acks=0 failed".into());
        }
        return Reply::NoResponse;
    }
    let response = fit_to_version(
        ProduceResponse::default().with_responses(responses),
        version,
    );
    Reply::Response(Box::new(kafka_protocol::messages::ResponseKind::Produce(
        response,
    )))
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

/// The topic's name: from the request (v3-12) or looked up by id (v13+).
fn topic_name(core: &BrokerCore, topic: &TopicProduceData, version: i16) -> Option<String> {
    if version >= 13 {
        core.topic_name_by_id(topic.topic_id).map(str::to_string)
    } else {
        core.topic(&topic.name.0).map(|_| topic.name.0.to_string())
    }
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

/// The checks of one partition's records before anything is appended, shared by the single
/// broker and a cluster's leaders: no client writes to an internal topic, one valid batch
/// (`validate_produce_for_version`), `max.message.bytes`, the segment size, and no producer
/// id (idempotence is not there yet). Returns the records and their batch header.
pub(crate) fn check_records<'a>(
    topic: &str,
    data: &'a PartitionProduceData,
    config: &TopicConfig,
    version: i16,
) -> Result<(&'a Bytes, BatchHeader), KafkaError> {
    if topic == crate::groups::OFFSETS_TOPIC {
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
    if header.producer_id >= 0 {
        return Err(KafkaError::new(
            ResponseError::InvalidRecord,
            "idempotent and transactional producers are not supported by the reference broker yet",
        ));
    }
    Ok((records, header))
}

fn append(
    core: &mut BrokerCore,
    topic: &str,
    data: &PartitionProduceData,
    acks: i16,
    version: i16,
) -> Result<Appended, KafkaError> {
    let config = core
        .topic(topic)
        .ok_or_else(unknown_topic_or_partition)?
        .config
        .clone();
    core.partition(topic, data.index)?;
    let (records, header) = check_records(topic, data, &config, version)?;
    let batch_size = header.total_len();
    let min_isr = effective_min_insync_replicas(config.min_insync_replicas, REPLICAS);
    if acks == -1 && IN_SYNC_REPLICAS < min_isr {
        return Err(KafkaError::new(
            ResponseError::NotEnoughReplicas,
            format!(
                "The size of the current ISR {IN_SYNC_REPLICAS} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {topic}-{}",
                data.index
            ),
        ));
    }
    let now = now_ms();
    let mut bytes = BytesMut::from(&records[..batch_size]);
    record_batch::set_partition_leader_epoch(&mut bytes, LEADER_EPOCH);
    let log = core.partition_mut(topic, data.index)?;
    let info = log.append(&mut bytes, now).map_err(|e| {
        tracing::error!(topic, partition = data.index, error = %e, "append failed");
        KafkaError::new(ResponseError::KafkaStorageError, e.to_string())
    })?;
    Ok(Appended {
        base_offset: info.base_offset,
        log_append_time_ms: if config.log.log_append_time { now } else { -1 },
        log_start_offset: info.log_start_offset,
    })
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
            .with_error_message(Some(StrBytes::from_string(e.message)))
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_insync_replicas_is_capped_at_the_replica_count() {
        // KAFKA-15583: a one-replica partition with min.insync.replicas=2 takes acks=all.
        assert_eq!(effective_min_insync_replicas(2, 1), 1);
        assert_eq!(effective_min_insync_replicas(2, 3), 2);
        assert_eq!(effective_min_insync_replicas(1, 3), 1);
    }
}
