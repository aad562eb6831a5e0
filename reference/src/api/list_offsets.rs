//! ListOffsets: the offset for a timestamp, or for one of the special timestamps
//! -2 EARLIEST (the log start offset), -1 LATEST (the high watermark; the log end on a single
//! node), -3 MAX_TIMESTAMP (the record with the largest timestamp, KIP-734) and
//! -4 EARLIEST_LOCAL (KIP-405; the log start offset, as nothing is tiered).
//!
//! A timestamp no record reaches answers offset -1 and timestamp -1, as Kafka does.
//!
//! # References
//! - KIP-79 (by timestamp), KIP-734 (max timestamp), KIP-405 (earliest local)
//! - `kafka.log.UnifiedLog.fetchOffsetByTimestamp`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::log::Log;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 8 };

pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

pub fn handle(shared: &Shared, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let core = shared.core();
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
                    match core.partition(&topic.name.0, p.partition_index) {
                        Err(e) => response
                            .with_error_code(e.code)
                            .with_offset(-1)
                            .with_timestamp(-1),
                        Ok(log) => match offset_for(log, p.timestamp) {
                            Ok((timestamp, offset)) => response
                                .with_timestamp(timestamp)
                                .with_offset(offset)
                                .with_leader_epoch(if version >= 4 { 0 } else { -1 }),
                            Err(code) => response
                                .with_error_code(code)
                                .with_offset(-1)
                                .with_timestamp(-1),
                        },
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

/// `(timestamp, offset)` for a requested timestamp, or an error code.
fn offset_for(log: &Log, timestamp: i64) -> Result<(i64, i64), i16> {
    match timestamp {
        LATEST_TIMESTAMP => Ok((-1, log.log_end_offset())),
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((-1, log.log_start_offset())),
        MAX_TIMESTAMP => Ok(log
            .max_timestamp()
            .map_or((-1, -1), |t| (t.timestamp, t.offset))),
        t if t >= 0 => Ok(log
            .offset_for_timestamp(t)
            .map_or((-1, -1), |t| (t.timestamp, t.offset))),
        _ => Err(ResponseError::InvalidRequest.code()),
    }
}
