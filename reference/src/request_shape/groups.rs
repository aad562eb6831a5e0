//! Request schemas of the group coordinator's APIs: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete, ConsumerGroupHeartbeat, ConsumerGroupDescribe.
//!
//! Transcribed from Kafka's message definitions (`versions`, `taggedVersions`/`tag`,
//! `flexibleVersions`), for the versions `kafka-protocol` 0.18 decodes; the round-trip test
//! in `super::tests` checks every table against the codec.
//!
//! # References
//! - `FindCoordinatorRequest.json`, `JoinGroupRequest.json`, `SyncGroupRequest.json`,
//!   `HeartbeatRequest.json`, `LeaveGroupRequest.json`, `OffsetCommitRequest.json`,
//!   `OffsetFetchRequest.json`, `ListGroupsRequest.json`, `DescribeGroupsRequest.json`,
//!   `DeleteGroupsRequest.json`, `OffsetDeleteRequest.json`,
//!   `ConsumerGroupHeartbeatRequest.json`, `ConsumerGroupDescribeRequest.json` in
//!   `clients/src/main/resources/common/message/`

use kafka_protocol::messages::ApiKey;

use super::*;

/// FindCoordinator (key 10).
#[rustfmt::skip]
pub const FIND_COORDINATOR: Message = Message {
    key: ApiKey::FindCoordinator,
    versions: v(0, 6),
    flexible_from: 3,
    fields: &[
        field("key", v(0, 3), STRING),
        field("key_type", from(1), INT8),
        field("coordinator_keys", from(4), Ty::Array(&STRING)),
    ],
};

/// JoinGroup (key 11).
#[rustfmt::skip]
pub const JOIN_GROUP: Message = Message {
    key: ApiKey::JoinGroup,
    versions: v(0, 9),
    flexible_from: 6,
    fields: &[
        field("group_id", from(0), STRING),
        field("session_timeout_ms", from(0), INT32),
        field("rebalance_timeout_ms", from(1), INT32),
        field("member_id", from(0), STRING),
        field("group_instance_id", from(5), STRING),
        field("protocol_type", from(0), STRING),
        field("protocols", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("metadata", from(0), BYTES),
        ])),
        field("reason", from(8), STRING),
    ],
};

/// SyncGroup (key 14).
#[rustfmt::skip]
pub const SYNC_GROUP: Message = Message {
    key: ApiKey::SyncGroup,
    versions: v(0, 5),
    flexible_from: 4,
    fields: &[
        field("group_id", from(0), STRING),
        field("generation_id", from(0), INT32),
        field("member_id", from(0), STRING),
        field("group_instance_id", from(3), STRING),
        field("protocol_type", from(5), STRING),
        field("protocol_name", from(5), STRING),
        field("assignments", from(0), Ty::Structs(&[
            field("member_id", from(0), STRING),
            field("assignment", from(0), BYTES),
        ])),
    ],
};

/// Heartbeat (key 12).
#[rustfmt::skip]
pub const HEARTBEAT: Message = Message {
    key: ApiKey::Heartbeat,
    versions: v(0, 4),
    flexible_from: 4,
    fields: &[
        field("group_id", from(0), STRING),
        field("generation_id", from(0), INT32),
        field("member_id", from(0), STRING),
        field("group_instance_id", from(3), STRING),
    ],
};

/// LeaveGroup (key 13).
#[rustfmt::skip]
pub const LEAVE_GROUP: Message = Message {
    key: ApiKey::LeaveGroup,
    versions: v(0, 5),
    flexible_from: 4,
    fields: &[
        field("group_id", from(0), STRING),
        field("member_id", v(0, 2), STRING),
        field("members", from(3), Ty::Structs(&[
            field("member_id", from(3), STRING),
            field("group_instance_id", from(3), STRING),
            field("reason", from(5), STRING),
        ])),
    ],
};

/// OffsetCommit (key 8).
#[rustfmt::skip]
pub const OFFSET_COMMIT: Message = Message {
    key: ApiKey::OffsetCommit,
    versions: v(2, 9),
    flexible_from: 8,
    fields: &[
        field("group_id", from(0), STRING),
        field("generation_id_or_member_epoch", from(1), INT32),
        field("member_id", from(1), STRING),
        field("group_instance_id", from(7), STRING),
        field("retention_time_ms", v(2, 4), INT64),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            // v10 (KIP-848), past this table: never walked, counted in the decoded size (the
            // codec's struct holds it).
            field("topic_id", from(10), UUID),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
                field("committed_offset", from(0), INT64),
                field("committed_leader_epoch", from(6), INT32),
                field("committed_metadata", from(0), STRING),
            ])),
        ])),
    ],
};

/// OffsetFetch (key 9).
#[rustfmt::skip]
pub const OFFSET_FETCH: Message = Message {
    key: ApiKey::OffsetFetch,
    versions: v(1, 9),
    flexible_from: 6,
    fields: &[
        field("group_id", v(0, 7), STRING),
        field("topics", v(0, 7), Ty::Structs(&[
            field("name", v(0, 7), STRING),
            field("partition_indexes", v(0, 7), Ty::Array(&INT32)),
        ])),
        field("groups", from(8), Ty::Structs(&[
            field("group_id", from(8), STRING),
            field("member_id", from(9), STRING),
            field("member_epoch", from(9), INT32),
            field("topics", from(8), Ty::Structs(&[
                field("name", from(8), STRING),
                // v10 (KIP-848), past this table: counted in the decoded size only.
                field("topic_id", from(10), UUID),
                field("partition_indexes", from(8), Ty::Array(&INT32)),
            ])),
        ])),
        field("require_stable", from(7), BOOL),
    ],
};

/// ListGroups (key 16).
#[rustfmt::skip]
pub const LIST_GROUPS: Message = Message {
    key: ApiKey::ListGroups,
    versions: v(0, 5),
    flexible_from: 3,
    fields: &[
        field("states_filter", from(4), Ty::Array(&STRING)),
        field("types_filter", from(5), Ty::Array(&STRING)),
    ],
};

/// DescribeGroups (key 15).
#[rustfmt::skip]
pub const DESCRIBE_GROUPS: Message = Message {
    key: ApiKey::DescribeGroups,
    versions: v(0, 6),
    flexible_from: 5,
    fields: &[
        field("groups", from(0), Ty::Array(&STRING)),
        field("include_authorized_operations", from(3), BOOL),
    ],
};

/// DeleteGroups (key 42).
#[rustfmt::skip]
pub const DELETE_GROUPS: Message = Message {
    key: ApiKey::DeleteGroups,
    versions: v(0, 2),
    flexible_from: 2,
    fields: &[
        field("groups_names", from(0), Ty::Array(&STRING)),
    ],
};

/// OffsetDelete (key 47).
#[rustfmt::skip]
pub const OFFSET_DELETE: Message = Message {
    key: ApiKey::OffsetDelete,
    versions: v(0, 0),
    flexible_from: NEVER,
    fields: &[
        field("group_id", from(0), STRING),
        field("topics", from(0), Ty::Structs(&[
            field("name", from(0), STRING),
            field("partitions", from(0), Ty::Structs(&[
                field("partition_index", from(0), INT32),
            ])),
        ])),
    ],
};

/// ConsumerGroupHeartbeat (key 68, KIP-848).
#[rustfmt::skip]
pub const CONSUMER_GROUP_HEARTBEAT: Message = Message {
    key: ApiKey::ConsumerGroupHeartbeat,
    versions: v(0, 1),
    flexible_from: 0,
    fields: &[
        field("group_id", from(0), STRING),
        field("member_id", from(0), STRING),
        field("member_epoch", from(0), INT32),
        field("instance_id", from(0), STRING),
        field("rack_id", from(0), STRING),
        field("rebalance_timeout_ms", from(0), INT32),
        field("subscribed_topic_names", from(0), Ty::Array(&STRING)),
        field("subscribed_topic_regex", from(1), STRING),
        field("server_assignor", from(0), STRING),
        field("topic_partitions", from(0), Ty::Structs(&[
            field("topic_id", from(0), UUID),
            field("partitions", from(0), Ty::Array(&INT32)),
        ])),
    ],
};

/// ConsumerGroupDescribe (key 69, KIP-848).
#[rustfmt::skip]
pub const CONSUMER_GROUP_DESCRIBE: Message = Message {
    key: ApiKey::ConsumerGroupDescribe,
    versions: v(0, 1),
    flexible_from: 0,
    fields: &[
        field("group_ids", from(0), Ty::Array(&STRING)),
        field("include_authorized_operations", from(0), BOOL),
    ],
};
