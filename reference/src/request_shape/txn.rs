//! Request schemas of the producer-id and transaction APIs: InitProducerId, DescribeProducers,
//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions, ListTransactions,
//! TxnOffsetCommit, WriteTxnMarkers.
//!
//! Transcribed from Kafka's message definitions (`versions`, `taggedVersions`/`tag`,
//! `flexibleVersions`), for the versions `kafka-protocol` 0.18 decodes; the round-trip test
//! in `super::tests` checks every table against the codec.
//!
//! # References
//! - `InitProducerIdRequest.json`, `DescribeProducersRequest.json`,
//!   `AddPartitionsToTxnRequest.json`, `AddOffsetsToTxnRequest.json`, `EndTxnRequest.json`,
//!   `DescribeTransactionsRequest.json`, `ListTransactionsRequest.json`,
//!   `TxnOffsetCommitRequest.json`, `WriteTxnMarkersRequest.json` in
//!   `clients/src/main/resources/common/message/`

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

/// A topic and its partitions, as AddPartitionsToTxn names them.
const ADD_PARTITIONS_TOPIC: &[Field] = &[
    field("name", from(0), STRING),
    field("partitions", from(0), Ty::Array(&INT32)),
];

/// AddPartitionsToTxn (key 24): one transaction (v0-3, a client) or a batch of them (v4+,
/// a broker; KIP-890).
#[rustfmt::skip]
pub const ADD_PARTITIONS_TO_TXN: Message = Message {
    key: ApiKey::AddPartitionsToTxn,
    versions: v(0, 5),
    flexible_from: 3,
    fields: &[
        field("transactions", from(4), Ty::Structs(&[
            field("transactional_id", from(4), STRING),
            field("producer_id", from(4), INT64),
            field("producer_epoch", from(4), INT16),
            field("verify_only", from(4), BOOL),
            field("topics", from(4), Ty::Structs(ADD_PARTITIONS_TOPIC)),
        ])),
        field("v3_and_below_transactional_id", v(0, 3), STRING),
        field("v3_and_below_producer_id", v(0, 3), INT64),
        field("v3_and_below_producer_epoch", v(0, 3), INT16),
        field("v3_and_below_topics", v(0, 3), Ty::Structs(ADD_PARTITIONS_TOPIC)),
    ],
};

/// AddOffsetsToTxn (key 25).
#[rustfmt::skip]
pub const ADD_OFFSETS_TO_TXN: Message = Message {
    key: ApiKey::AddOffsetsToTxn,
    versions: v(0, 4),
    flexible_from: 3,
    fields: &[
        field("transactional_id", from(0), STRING),
        field("producer_id", from(0), INT64),
        field("producer_epoch", from(0), INT16),
        field("group_id", from(0), STRING),
    ],
};

/// EndTxn (key 26).
#[rustfmt::skip]
pub const END_TXN: Message = Message {
    key: ApiKey::EndTxn,
    versions: v(0, 5),
    flexible_from: 3,
    fields: &[
        field("transactional_id", from(0), STRING),
        field("producer_id", from(0), INT64),
        field("producer_epoch", from(0), INT16),
        field("committed", from(0), BOOL),
    ],
};

/// DescribeTransactions (key 65).
#[rustfmt::skip]
pub const DESCRIBE_TRANSACTIONS: Message = Message {
    key: ApiKey::DescribeTransactions,
    versions: v(0, 0),
    flexible_from: 0,
    fields: &[
        field("transactional_ids", from(0), Ty::Array(&STRING)),
    ],
};

/// ListTransactions (key 66): v1 adds the duration filter (KIP-994), v2 the id pattern
/// (KIP-1152).
#[rustfmt::skip]
pub const LIST_TRANSACTIONS: Message = Message {
    key: ApiKey::ListTransactions,
    versions: v(0, 2),
    flexible_from: 0,
    fields: &[
        field("state_filters", from(0), Ty::Array(&STRING)),
        field("producer_id_filters", from(0), Ty::Array(&INT64)),
        field("duration_filter", from(1), INT64),
        field("transactional_id_pattern", from(2), STRING),
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

/// WriteTxnMarkers (key 27), v1 (flexible); Kafka's v2 adds `transaction_version`, which
/// the codec does not decode.
#[rustfmt::skip]
pub const WRITE_TXN_MARKERS: Message = Message {
    key: ApiKey::WriteTxnMarkers,
    versions: v(1, 1),
    flexible_from: 1,
    fields: &[
        field("markers", from(1), Ty::Structs(&[
            field("producer_id", from(1), INT64),
            field("producer_epoch", from(1), INT16),
            field("transaction_result", from(1), BOOL),
            field("topics", from(1), Ty::Structs(&[
                field("name", from(1), STRING),
                field("partition_indexes", from(1), Ty::Array(&INT32)),
            ])),
            field("coordinator_epoch", from(1), INT32),
        ])),
    ],
};
