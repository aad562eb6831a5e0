//! Request schemas of the metadata and admin APIs: Metadata, ApiVersions, CreateTopics,
//! DeleteTopics, DescribeConfigs, AlterConfigs, CreatePartitions, ElectLeaders,
//! IncrementalAlterConfigs, DescribeLogDirs, AlterPartitionReassignments,
//! ListPartitionReassignments, DescribeQuorum, DescribeCluster, DescribeTopicPartitions.
//!
//! Transcribed from Kafka's message definitions (`versions`, `taggedVersions`/`tag`,
//! `flexibleVersions`), for the versions `kafka-protocol` 0.18 decodes; the round-trip test
//! in `super::tests` checks every table against the codec.
//!
//! # References
//! - `MetadataRequest.json`, `ApiVersionsRequest.json`, `CreateTopicsRequest.json`,
//!   `DeleteTopicsRequest.json`, `DescribeConfigsRequest.json`, `AlterConfigsRequest.json`,
//!   `CreatePartitionsRequest.json`, `ElectLeadersRequest.json`,
//!   `IncrementalAlterConfigsRequest.json`, `DescribeLogDirsRequest.json`,
//!   `AlterPartitionReassignmentsRequest.json`, `ListPartitionReassignmentsRequest.json`,
//!   `DescribeQuorumRequest.json`, `DescribeClusterRequest.json`,
//!   `DescribeTopicPartitionsRequest.json` in `clients/src/main/resources/common/message/`

use kafka_protocol::messages::ApiKey;

use super::*;

/// Metadata (key 3).
#[rustfmt::skip]
pub const METADATA: Message = Message {
    key: ApiKey::Metadata,
    versions: v(0, 13),
    flexible_from: 9,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("topic_id", from(10), UUID),
            field("name", from(0), STRING),
        ])),
        field("allow_auto_topic_creation", from(4), BOOL),
        field("include_cluster_authorized_operations", v(8, 10), BOOL),
        field("include_topic_authorized_operations", from(8), BOOL),
    ],
};

/// ApiVersions (key 18).
#[rustfmt::skip]
pub const API_VERSIONS: Message = Message {
    key: ApiKey::ApiVersions,
    versions: v(0, 4),
    flexible_from: 3,
    fields: &[
        field("client_software_name", from(3), STRING),
        field("client_software_version", from(3), STRING),
    ],
};

/// CreateTopics (key 19).
#[rustfmt::skip]
pub const CREATE_TOPICS: Message = Message {
    key: ApiKey::CreateTopics,
    versions: v(2, 7),
    flexible_from: 5,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("num_partitions", from(0), INT32),
            field("replication_factor", from(0), INT16),
            field("assignments", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("broker_ids", from(0), Ty::Array(&INT32)),
            ])),
            field("configs", from(0), Ty::Structs(&[
                field("name", from(0), STRING),
                field("value", from(0), STRING),
            ])),
        ])),
        field("timeout_ms", from(0), INT32),
        field("validate_only", from(1), BOOL),
    ],
};

/// DeleteTopics (key 20).
#[rustfmt::skip]
pub const DELETE_TOPICS: Message = Message {
    key: ApiKey::DeleteTopics,
    versions: v(1, 6),
    flexible_from: 4,
    fields: &[
        field("topics", from(6), Ty::Structs(&[
            field("name", from(6), STRING),
            field("topic_id", from(6), UUID),
        ])),
        field("topic_names", v(0, 5), Ty::Array(&STRING)),
        field("timeout_ms", from(0), INT32),
    ],
};

/// DescribeConfigs (key 32).
#[rustfmt::skip]
pub const DESCRIBE_CONFIGS: Message = Message {
    key: ApiKey::DescribeConfigs,
    versions: v(1, 4),
    flexible_from: 4,
    fields: &[
        field("resources", from(0), Ty::Structs(&[
            field("resource_type", from(0), INT8),
            field("resource_name", from(0), STRING),
            field("configuration_keys", from(0), Ty::Array(&STRING)),
        ])),
        field("include_synonyms", from(1), BOOL),
        field("include_documentation", from(3), BOOL),
    ],
};

/// AlterConfigs (key 33).
#[rustfmt::skip]
pub const ALTER_CONFIGS: Message = Message {
    key: ApiKey::AlterConfigs,
    versions: v(0, 2),
    flexible_from: 2,
    fields: &[
        field("resources", from(0), Ty::Structs(&[
            field("resource_type", from(0), INT8),
            field("resource_name", from(0), STRING),
            field("configs", from(0), Ty::Structs(&[
                field("name", from(0), STRING),
                field("value", from(0), STRING),
            ])),
        ])),
        field("validate_only", from(0), BOOL),
    ],
};

/// DescribeLogDirs (key 35).
#[rustfmt::skip]
pub const DESCRIBE_LOG_DIRS: Message = Message {
    key: ApiKey::DescribeLogDirs,
    versions: v(1, 4),
    flexible_from: 2,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("topic", from(0), STRING),
            field("partitions", from(0), Ty::Array(&INT32)),
        ])),
    ],
};

/// CreatePartitions (key 37).
#[rustfmt::skip]
pub const CREATE_PARTITIONS: Message = Message {
    key: ApiKey::CreatePartitions,
    versions: v(0, 3),
    flexible_from: 2,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("count", from(0), INT32),
            field("assignments", from(0), Ty::Structs(&[
                field("broker_ids", from(0), Ty::Array(&INT32)),
            ])),
        ])),
        field("timeout_ms", from(0), INT32),
        field("validate_only", from(0), BOOL),
    ],
};

/// ElectLeaders (key 43).
#[rustfmt::skip]
pub const ELECT_LEADERS: Message = Message {
    key: ApiKey::ElectLeaders,
    versions: v(0, 2),
    flexible_from: 2,
    fields: &[
        field("election_type", from(1), INT8),
        field("topic_partitions", from(0), Ty::Structs(&[
            field("topic", from(0), STRING),
            field("partitions", from(0), Ty::Array(&INT32)),
        ])),
        field("timeout_ms", from(0), INT32),
    ],
};

/// IncrementalAlterConfigs (key 44).
#[rustfmt::skip]
pub const INCREMENTAL_ALTER_CONFIGS: Message = Message {
    key: ApiKey::IncrementalAlterConfigs,
    versions: v(0, 1),
    flexible_from: 1,
    fields: &[
        field("resources", from(0), Ty::Structs(&[
            field("resource_type", from(0), INT8),
            field("resource_name", from(0), STRING),
            field("configs", from(0), Ty::Structs(&[
                field("name", from(0), STRING),
                field("config_operation", from(0), INT8),
                field("value", from(0), STRING),
            ])),
        ])),
        field("validate_only", from(0), BOOL),
    ],
};

/// AlterPartitionReassignments (key 45).
#[rustfmt::skip]
pub const ALTER_PARTITION_REASSIGNMENTS: Message = Message {
    key: ApiKey::AlterPartitionReassignments,
    versions: v(0, 1),
    flexible_from: 0,
    fields: &[
        field("timeout_ms", from(0), INT32),
        field("allow_replication_factor_change", from(1), BOOL),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("replicas", from(0), Ty::Array(&INT32)),
            ])),
        ])),
    ],
};

/// ListPartitionReassignments (key 46).
#[rustfmt::skip]
pub const LIST_PARTITION_REASSIGNMENTS: Message = Message {
    key: ApiKey::ListPartitionReassignments,
    versions: v(0, 0),
    flexible_from: 0,
    fields: &[
        field("timeout_ms", from(0), INT32),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partition_indexes", from(0), Ty::Array(&INT32)),
        ])),
    ],
};

/// DescribeQuorum (key 55).
#[rustfmt::skip]
pub const DESCRIBE_QUORUM: Message = Message {
    key: ApiKey::DescribeQuorum,
    versions: v(0, 2),
    flexible_from: 0,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("topic_name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
            ])),
        ])),
    ],
};

/// DescribeCluster (key 60).
#[rustfmt::skip]
pub const DESCRIBE_CLUSTER: Message = Message {
    key: ApiKey::DescribeCluster,
    versions: v(0, 2),
    flexible_from: 0,
    fields: &[
        field("include_cluster_authorized_operations", from(0), BOOL),
        field("endpoint_type", from(1), INT8),
        field("include_fenced_brokers", from(2), BOOL),
    ],
};

/// DescribeTopicPartitions (key 75, KIP-966).
#[rustfmt::skip]
pub const DESCRIBE_TOPIC_PARTITIONS: Message = Message {
    key: ApiKey::DescribeTopicPartitions,
    versions: v(0, 0),
    flexible_from: 0,
    fields: &[
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
        ])),
        field("response_partition_limit", from(0), INT32),
        field("cursor", from(0), Ty::NullableStruct(&[
            field("topic_name", from(0), STRING),
            field("partition_index", from(0), INT32),
        ])),
    ],
};
