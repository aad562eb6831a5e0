//! Request schemas of the producer-id and transaction APIs: InitProducerId, DescribeProducers,
//! TxnOffsetCommit.
//!
//! Transcribed from Kafka's message definitions (`versions`, `taggedVersions`/`tag`,
//! `flexibleVersions`), for the versions `kafka-protocol` 0.18 decodes; the round-trip test
//! in `super::tests` checks every table against the codec.
//!
//! # References
//! - `InitProducerIdRequest.json`, `DescribeProducersRequest.json`, `TxnOffsetCommitRequest.json` in `clients/src/main/resources/common/message/`

use kafka_protocol::messages::ApiKey;

use super::*;

/// InitProducerId (key 22).
#[rustfmt::skip]
pub const INIT_PRODUCER_ID: Message = Message {
    key: ApiKey::InitProducerId,
    versions: v(0, 5),
    flexible_from: 2,
    fields: &[
        field("transactional_id", from(0), STRING),
        field("transaction_timeout_ms", from(0), INT32),
        field("producer_id", from(3), INT64),
        field("producer_epoch", from(3), INT16),
        // KIP-939 (v6, which the codec does not decode yet): listed for the decoded size.
        field("enable_2_pc", from(6), BOOL),
        field("keep_prepared_txn", from(6), BOOL),
    ],
};

/// DescribeProducers (key 61).
#[rustfmt::skip]
pub const DESCRIBE_PRODUCERS: Message = Message {
    key: ApiKey::DescribeProducers,
    versions: v(0, 0),
    flexible_from: 0,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partition_indexes", from(0), Ty::Array(&INT32)),
        ])),
    ],
};

/// TxnOffsetCommit (key 28).
#[rustfmt::skip]
pub const TXN_OFFSET_COMMIT: Message = Message {
    key: ApiKey::TxnOffsetCommit,
    versions: v(0, 5),
    flexible_from: 3,
    fields: &[
        field("transactional_id", from(0), STRING),
        field("group_id", from(0), STRING),
        field("producer_id", from(0), INT64),
        field("producer_epoch", from(0), INT16),
        field("generation_id", from(3), INT32),
        field("member_id", from(3), STRING),
        field("group_instance_id", from(3), STRING),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("committed_offset", from(0), INT64),
                field("committed_leader_epoch", from(2), INT32),
                field("committed_metadata", from(0), STRING),
            ])),
        ])),
    ],
};
