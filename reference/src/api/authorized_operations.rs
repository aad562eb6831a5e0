//! The `*_authorized_operations` bit fields of Metadata, DescribeCluster and
//! DescribeTopicPartitions (KIP-430).
//!
//! Each is a 32-bit field with bit `code` set for every ACL operation the principal may
//! perform on the resource (`Utils.to32BitField` of the operations' codes). The reference
//! has no authorizer, so, like a Kafka broker without `authorizer.class.name`
//! (`AuthHelper.authorizedOperations`), it answers every operation the resource type supports
//! (`AclEntry.supportedOperations`): 3576 for a topic and 8096 for the cluster, as Kafka
//! 4.3.1 answers over the raw wire (Metadata v10 and v12, DescribeCluster v0 and v2). When
//! the request does not ask for them, the field is `i32::MIN`.
//!
//! # References
//! - KIP-430 (authorized operations in Describe responses)
//! - `org.apache.kafka.common.acl.AclOperation` (the codes), `kafka.security.authorizer.AclEntry`,
//!   `kafka.server.AuthHelper.authorizedOperations`

/// Kafka's "authorized operations not requested" marker.
pub const OMITTED: i32 = i32::MIN;

/// `AclOperation` codes.
const CREATE: u8 = 5;
const READ: u8 = 3;
const WRITE: u8 = 4;
const DELETE: u8 = 6;
const ALTER: u8 = 7;
const DESCRIBE: u8 = 8;
const CLUSTER_ACTION: u8 = 9;
const DESCRIBE_CONFIGS: u8 = 10;
const ALTER_CONFIGS: u8 = 11;
const IDEMPOTENT_WRITE: u8 = 12;

/// Every operation on a topic: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// Every operation on the cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER: i32 = bits(&[
    CREATE,
    ALTER,
    DESCRIBE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
]);

/// The field when `requested`, else [`OMITTED`].
pub const fn if_requested(requested: bool, operations: i32) -> i32 {
    if requested { operations } else { OMITTED }
}

/// `Utils.to32BitField`.
const fn bits(codes: &[u8]) -> i32 {
    let mut field = 0i32;
    let mut i = 0;
    while i < codes.len() {
        field |= 1 << codes[i];
        i += 1;
    }
    field
}

#[cfg(test)]
mod tests {
    #[test]
    fn kafka_4_3_1_answers_these_fields_without_an_authorizer() {
        assert_eq!(super::TOPIC, 3576);
        assert_eq!(super::CLUSTER, 8096);
    }
}
