//! Request schemas of the partition log's APIs: Produce, Fetch, ListOffsets,
//! OffsetForLeaderEpoch, DeleteRecords.
//!
//! Transcribed from Kafka's message definitions (`versions`, `taggedVersions`/`tag`,
//! `flexibleVersions`), for the versions `kafka-protocol` 0.18 decodes; the round-trip test
//! in `super::tests` checks every table against the codec.
//!
//! # References
//! - `ProduceRequest.json` (v13: topic ids, KIP-516), `FetchRequest.json`,
//!   `ListOffsetsRequest.json`, `OffsetForLeaderEpochRequest.json`,
//!   `DeleteRecordsRequest.json` in
//!   `clients/src/main/resources/common/message/`

use kafka_protocol::messages::ApiKey;

use super::*;

/// Produce (key 0).
#[rustfmt::skip]
pub const PRODUCE: Message = Message {
    key: ApiKey::Produce,
    versions: v(3, 13),
    flexible_from: 9,
    fields: &[
        field("transactional_id", from(3), STRING),
        field("acks", from(0), INT16),
        field("timeout_ms", from(0), INT32),
        field("topic_data", from(0), Ty::Structs(&[
            field("name", v(0, 12), STRING),
            field("topic_id", from(13), UUID),
            field("partition_data", from(0), Ty::Structs(&[
                field("index", from(0), INT32),
                field("records", from(0), RECORDS),
            ])),
        ])),
    ],
};

/// Fetch (key 1).
#[rustfmt::skip]
pub const FETCH: Message = Message {
    key: ApiKey::Fetch,
    versions: v(4, 17),
    flexible_from: 12,
    fields: &[
        tagged(0, "cluster_id", from(12), STRING),
        field("replica_id", v(0, 14), INT32),
        tagged(1, "replica_state", from(15), Ty::Struct(&[
            field("replica_id", from(15), INT32),
            field("replica_epoch", from(15), INT64),
        ])),
        field("max_wait_ms", from(0), INT32),
        field("min_bytes", from(0), INT32),
        field("max_bytes", from(3), INT32),
        field("isolation_level", from(4), INT8),
        field("session_id", from(7), INT32),
        field("session_epoch", from(7), INT32),
        field("topics", from(0), Ty::Structs(&[
            field("topic", v(0, 12), STRING),
            field("topic_id", from(13), UUID),
            field("partitions", from(0), Ty::Structs(&[
                field("partition", from(0), INT32),
                field("current_leader_epoch", from(9), INT32),
                field("fetch_offset", from(0), INT64),
                field("last_fetched_epoch", from(12), INT32),
                field("log_start_offset", from(5), INT64),
                field("partition_max_bytes", from(0), INT32),
                tagged(0, "replica_directory_id", from(17), UUID),
                // Known to the codec (Kafka 4.1, v18): refused below, as the codec refuses it.
                tagged(1, "high_watermark", from(18), INT64),
            ])),
        ])),
        field("forgotten_topics_data", from(7), Ty::Structs(&[
            field("topic", v(7, 12), STRING),
            field("topic_id", from(13), UUID),
            field("partitions", from(7), Ty::Array(&INT32)),
        ])),
        field("rack_id", from(11), STRING),
    ],
};

/// ListOffsets (key 2).
#[rustfmt::skip]
pub const LIST_OFFSETS: Message = Message {
    key: ApiKey::ListOffsets,
    versions: v(1, 10),
    flexible_from: 6,
    fields: &[
        field("replica_id", from(0), INT32),
        field("isolation_level", from(2), INT8),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("current_leader_epoch", from(4), INT32),
                field("timestamp", from(0), INT64),
            ])),
        ])),
        field("timeout_ms", from(10), INT32),
    ],
};

/// OffsetForLeaderEpoch (key 23).
#[rustfmt::skip]
pub const OFFSET_FOR_LEADER_EPOCH: Message = Message {
    key: ApiKey::OffsetForLeaderEpoch,
    versions: v(2, 4),
    flexible_from: 4,
    fields: &[
        field("replica_id", from(3), INT32),
        field("topics", from(0), Ty::Structs(&[
            field("topic", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition", from(0), INT32),
                field("current_leader_epoch", from(2), INT32),
                field("leader_epoch", from(0), INT32),
            ])),
        ])),
    ],
};

/// DeleteRecords (key 21).
#[rustfmt::skip]
pub const DELETE_RECORDS: Message = Message {
    key: ApiKey::DeleteRecords,
    versions: v(0, 2),
    flexible_from: 2,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("offset", from(0), INT64),
            ])),
        ])),
        field("timeout_ms", from(0), INT32),
    ],
};
