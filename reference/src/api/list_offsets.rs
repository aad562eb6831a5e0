//! ListOffsets: the offset for a timestamp, or for one of the special timestamps
//! -2 EARLIEST (the log start offset), -1 LATEST (the high watermark), -3 MAX_TIMESTAMP (the record with the largest timestamp, KIP-734) and
//! -4 EARLIEST_LOCAL (KIP-405; the log start offset, as nothing is tiered). With
//! `isolation_level` 1 (`read_committed`, KIP-98) the last stable offset takes the high
//! watermark's place: LATEST is the LSO, and lookups find only records below it.
//!
//! A timestamp no record reaches answers offset -1 and timestamp -1, as Kafka does.
//!
//! Answered by a partition's leader: checked as a consumer fetch (leader only, leader
//! epoch), then looked up below the high watermark (`Partition.fetchOffsetForTimestamp`).
//! While a new leader's high watermark is below the start of its epoch, LATEST, and a lookup
//! that finds nothing, are OFFSET_NOT_AVAILABLE (KIP-207). Found records carry their batch's
//! epoch.
//!
//! # References
//! - KIP-79 (by timestamp), KIP-734 (max timestamp), KIP-405 (earliest local)
//! - `kafka.log.UnifiedLog.fetchOffsetByTimestamp`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::log::{Log, TimestampOffset};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 8 };

pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

pub fn handle(shared: &Shared, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let not_available = ResponseError::OffsetNotAvailable.code();
    let state = shared.node.state();
    let req_isolation_level = req.isolation_level;
    respond(req, |topic, p| {
        let topic_id = state
            .image
            .topic_id(topic)
            .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
        let replica = state
            .partitions
            .get(&(topic_id, p.partition_index))
            .ok_or(ResponseError::NotLeaderOrFollower.code())?;
        let (high_watermark, pending) = match replica.latest_offset(p.current_leader_epoch) {
            Ok(high_watermark) => (high_watermark, false),
            Err(code) if code == not_available => (replica.high_watermark(), true),
            Err(code) => return Err(code),
        };
        if pending && p.timestamp == LATEST_TIMESTAMP {
            return Err(not_available);
        }
        // `Partition.fetchOffsetForTimestamp`: read_committed finds offsets below the LSO.
        let last_fetchable = if req_isolation_level == 1 {
            replica.last_stable_offset()
        } else {
            high_watermark
        };
        let (timestamp, offset) = offset_for(replica.log(), p.timestamp, last_fetchable)?;
        if pending && offset < 0 {
            return Err(not_available);
        }
        let leader_epoch = if p.timestamp == LATEST_TIMESTAMP {
            replica.leader_epoch()
        } else {
            replica.epoch_cache().epoch_for_offset(offset).unwrap_or(-1)
        };
        Ok(Found {
            timestamp,
            offset,
            leader_epoch: if version >= 4 { leader_epoch } else { -1 },
        })
    })
}

/// What one partition of a ListOffsets request found.
pub(crate) struct Found {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: i32,
}

/// Answers every partition of the request with `lookup`: what it found, or an error code.
pub(crate) fn respond(
    req: ListOffsetsRequest,
    mut lookup: impl FnMut(&str, &ListOffsetsPartition) -> Result<Found, i16>,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match lookup(&topic.name.0, p) {
                        Ok(found) => response
                            .with_timestamp(found.timestamp)
                            .with_offset(found.offset)
                            .with_leader_epoch(found.leader_epoch),
                        Err(code) => response
                            .with_error_code(code)
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// `(timestamp, offset)` for a requested timestamp, or an error code. Only offsets below
/// `last_fetchable` (the high watermark a consumer may read to) are found: LATEST is that
/// offset itself, a timestamp or MAX_TIMESTAMP whose record is at or past it is not found
/// (-1, -1), as in Kafka's `Partition.fetchOffsetForTimestamp`.
pub(crate) fn offset_for(
    log: &Log,
    timestamp: i64,
    last_fetchable: i64,
) -> Result<(i64, i64), i16> {
    let fetchable = |found: Option<TimestampOffset>| {
        found
            .filter(|t| t.offset < last_fetchable)
            .map_or((-1, -1), |t| (t.timestamp, t.offset))
    };
    match timestamp {
        LATEST_TIMESTAMP => Ok((-1, last_fetchable)),
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((-1, log.log_start_offset())),
        MAX_TIMESTAMP => Ok(fetchable(log.max_timestamp())),
        t if t >= 0 => Ok(fetchable(log.offset_for_timestamp(t))),
        _ => Err(ResponseError::InvalidRequest.code()),
    }
}
