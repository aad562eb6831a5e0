//! What a scenario saw, normalised so that two targets' traces can be compared.
//!
//! Each step appends [`Observation`]s to its scenario's trace: the offsets and partitions a
//! produce got, the error codes a broker answered, the records a consumer read. Entries use
//! the feature's *logical* topic names (`orders`, not `orders-3f9a1c2e`), carry no timings
//! and no values that differ from run to run, and print as one stable line each. Running a
//! feature against the reference broker and against Apache Kafka and diffing the two traces
//! is the differential run; recorded Kafka traces live under `fixtures/traces/`
//! ([`crate::recording`]).
//!
//! What "no values that differ from run to run" takes, entry by entry:
//!
//! - Records read from several partitions at once are recorded sorted by partition and
//!   offset (the order in which partitions' batches arrive is not a claim).
//! - A message the *partitioner* placed without a key (sticky, random) is recorded without
//!   its partition and offset; the scenario records the property it checks instead
//!   ([`Observation::Checked`]).
//! - Physical names (`orders-3f9a1c2e`, group ids) are mapped back to logical ones, and
//!   broker ids to `b1`, `b2`, … in the order a scenario first meets them
//!   ([`crate::world::KafkaWorld::broker_alias`]).
//! - Counts that depend on timing (retries) are recorded as the bound the scenario asserts.
//!
//! # References
//!
//! - `DESIGN.md`, "harness/: specs, targets, differential runs".

use std::fmt;

use crate::kafka_error::ErrorCode;

/// One thing a step observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A topic exists with this many partitions (from Metadata).
    Partitions { topic: String, count: i32 },
    /// An admin request (CreateTopics, CreatePartitions …) answered an error.
    AdminError {
        operation: String,
        topic: String,
        error: ErrorCode,
    },
    /// librdkafka reported a delivery.
    Delivered {
        topic: String,
        /// `None` when the partitioner chose it among several (unkeyed, sticky): which one
        /// varies from run to run, so it is not part of the trace.
        partition: Option<i32>,
        /// `None` when the producer cannot know it (`acks=0`).
        offset: Option<i64>,
        value: String,
    },
    /// librdkafka reported a failed delivery.
    DeliveryFailed { topic: String, error: ErrorCode },
    /// A raw Produce's answer for one partition.
    ProduceResponse {
        topic: String,
        partition: i32,
        error: ErrorCode,
        base_offset: i64,
    },
    /// On one connection, the response that came next carried this correlation id.
    NextResponse { api: String, correlation_id: i32 },
    /// A raw Fetch's answer for one partition.
    Fetched {
        topic: String,
        partition: i32,
        offset: i64,
        error: ErrorCode,
        records: usize,
    },
    /// A ListOffsets answer.
    Offset {
        topic: String,
        partition: i32,
        which: String,
        offset: i64,
    },
    /// A consumer received a record.
    Consumed {
        topic: String,
        partition: i32,
        offset: i64,
        value: String,
    },
    /// The producer's statistics counted request retries (`txretries`), capped so that the
    /// trace does not depend on timing.
    Retried { at_least: u64 },
    /// A partition's in-sync replicas, as Metadata names them (a count: which brokers they
    /// are depends on placement).
    InSyncReplicas {
        topic: String,
        partition: i32,
        count: usize,
    },
    /// A fault a step put in place or undid (`stopped a follower of payments/0`).
    Fault { action: String },
    /// What one particular broker, named by its role (`a follower of payments/0`), answered:
    /// a request sent there on purpose rather than to the partition's leader.
    At {
        broker: String,
        entry: Box<Observation>,
    },
    /// A ListOffsets answered an error for a partition.
    OffsetError {
        topic: String,
        partition: i32,
        which: String,
        error: ErrorCode,
    },
    /// Metadata names no leader for a partition (`leader_id` -1), with the partition's error.
    NoLeader {
        topic: String,
        partition: i32,
        error: ErrorCode,
    },
    /// A property the step checked and found to hold, where the raw observations vary from
    /// run to run (which partition a sticky burst went to).
    Checked(String),
    /// What a consumer group step saw (a group settling, who owns which partitions, a commit,
    /// where a member resumed), with logical group, consumer and topic names; never member
    /// ids, which the broker generates.
    Group { group: String, what: String },
}

/// A value as traces show it: short UTF-8 as is, anything else by its size.
pub fn show_value(value: Option<&[u8]>) -> String {
    const SHOWN_BYTES: usize = 64;
    match value {
        None => "<null>".to_owned(),
        Some(bytes) if bytes.len() <= SHOWN_BYTES => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("<{} bytes>", bytes.len()),
        },
        Some(bytes) => format!("<{} bytes>", bytes.len()),
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::Partitions { topic, count } => {
                write!(f, "partitions topic={topic} count={count}")
            }
            Observation::AdminError {
                operation,
                topic,
                error,
            } => write!(f, "admin-error {operation} topic={topic} error={error}"),
            Observation::Delivered {
                topic,
                partition,
                offset,
                value,
            } => {
                let Some(partition) = partition else {
                    return write!(
                        f,
                        "delivered topic={topic} partition=(partitioner's choice) value={value}"
                    );
                };
                let offset = offset.map_or_else(|| "unknown".to_owned(), |o| o.to_string());
                write!(
                    f,
                    "delivered topic={topic} partition={partition} offset={offset} value={value}"
                )
            }
            Observation::DeliveryFailed { topic, error } => {
                write!(f, "delivery-failed topic={topic} error={error}")
            }
            Observation::ProduceResponse {
                topic,
                partition,
                error,
                base_offset,
            } => write!(
                f,
                "produce-response topic={topic} partition={partition} error={error} base_offset={base_offset}"
            ),
            Observation::NextResponse {
                api,
                correlation_id,
            } => write!(f, "next-response api={api} correlation_id={correlation_id}"),
            Observation::Fetched {
                topic,
                partition,
                offset,
                error,
                records,
            } => write!(
                f,
                "fetched topic={topic} partition={partition} offset={offset} error={error} records={records}"
            ),
            Observation::Offset {
                topic,
                partition,
                which,
                offset,
            } => write!(
                f,
                "offset topic={topic} partition={partition} {which}={offset}"
            ),
            Observation::Consumed {
                topic,
                partition,
                offset,
                value,
            } => write!(
                f,
                "consumed topic={topic} partition={partition} offset={offset} value={value}"
            ),
            Observation::Retried { at_least } => write!(f, "retried at_least={at_least}"),
            Observation::InSyncReplicas {
                topic,
                partition,
                count,
            } => write!(
                f,
                "in-sync-replicas topic={topic} partition={partition} count={count}"
            ),
            Observation::Fault { action } => write!(f, "fault {action}"),
            Observation::At { broker, entry } => write!(f, "at {broker}: {entry}"),
            Observation::OffsetError {
                topic,
                partition,
                which,
                error,
            } => write!(
                f,
                "offset-error topic={topic} partition={partition} {which} error={error}"
            ),
            Observation::NoLeader {
                topic,
                partition,
                error,
            } => write!(
                f,
                "no-leader topic={topic} partition={partition} error={error}"
            ),
            Observation::Checked(what) => write!(f, "checked {what}"),
            Observation::Group { group, what } => write!(f, "group {group}: {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_print_as_one_stable_line() {
        let entry = Observation::ProduceResponse {
            topic: "orders".to_owned(),
            partition: 7,
            error: ErrorCode::from_kafka(3),
            base_offset: -1,
        };
        assert_eq!(
            entry.to_string(),
            "produce-response topic=orders partition=7 error=UNKNOWN_TOPIC_OR_PARTITION (3) base_offset=-1"
        );
        assert_eq!(show_value(Some(&[0u8; 100])), "<100 bytes>");
        assert_eq!(show_value(Some(b"pay-1")), "pay-1");
        assert_eq!(show_value(None), "<null>");
    }
}
