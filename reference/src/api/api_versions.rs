//! ApiVersions: which APIs and versions this broker really handles, and the cluster's
//! features.
//!
//! Built from [`super::SUPPORTED`], never from the codec's full schema range. A client asking
//! with a version the broker does not know gets UNSUPPORTED_VERSION in a v0 response that
//! still lists the supported ranges, so it can retry with one it shares (KIP-511).
//!
//! From v3 the response also carries features (KIP-584). Kafka 4.3.1's single node answers
//! `supported_features` = [metadata.version 7..30] (features whose minimum is 0 are left out
//! for old clients) and finalizes seven features: metadata.version 30 (4.3-IV0),
//! transaction.version 2, group.version 1, share.version 1, streams.version 1,
//! kraft.version 1 and eligible.leader.replicas.version 1. The reference finalizes only
//! what it implements, so that a client never picks a protocol the broker lacks:
//! metadata.version (the wire protocol of 4.3), transaction.version 2, which makes
//! Kafka 4's clients use KIP-890's transactions exactly as they do against Kafka 4.3.1, and
//! group.version 1, the consumer rebalance protocol of KIP-848 (ConsumerGroupHeartbeat). The
//! features of share groups, streams groups, the dynamic KRaft quorum and ELR are absent, as
//! on a Kafka cluster that has not enabled them.
//!
//! # References
//! - KIP-35 (ApiVersions), KIP-511 (the v0 fallback answer), KIP-584 (features),
//!   KIP-890 (transaction.version)
//! - `org.apache.kafka.server.common.MetadataVersion` (4.3-IV0 is level 30),
//!   `TransactionVersion`; `ApiVersionsResponse.createApiVersionsResponse`

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::SUPPORTED;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

/// `metadata.version` 4.3-IV0, the newest level Kafka 4.3.1 supports and finalizes.
pub const METADATA_VERSION_LEVEL: i16 = 30;

/// The oldest `metadata.version` Kafka 4 supports (3.3-IV3).
const METADATA_VERSION_MIN_LEVEL: i16 = 7;

/// The finalized `transaction.version`: 2, KIP-890's protocol (what Kafka 4.3.1 finalizes).
pub const TRANSACTION_VERSION_LEVEL: i16 = 2;

/// The finalized `group.version`: 1, KIP-848's consumer groups (what Kafka 4.3.1 finalizes).
pub const GROUP_VERSION_LEVEL: i16 = 1;

/// The features' epoch. Kafka answers the offset of the metadata record that last changed
/// them; the reference's never change while it runs, so any fixed epoch says the same.
const FINALIZED_FEATURES_EPOCH: i64 = 1;

/// The response, with `error_code` 0 or UNSUPPORTED_VERSION (35). The codec writes the
/// feature fields only at v3 and above.
pub fn handle(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|(key, range)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(range.min)
                .with_max_version(range.max)
        })
        .collect();
    let finalized = |name: &'static str, level: i16| {
        FinalizedFeatureKey::default()
            .with_name(StrBytes::from_static_str(name))
            .with_min_version_level(level)
            .with_max_version_level(level)
    };
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str("metadata.version"))
                .with_min_version(METADATA_VERSION_MIN_LEVEL)
                .with_max_version(METADATA_VERSION_LEVEL),
        ])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![
            finalized("metadata.version", METADATA_VERSION_LEVEL),
            finalized("transaction.version", TRANSACTION_VERSION_LEVEL),
            finalized("group.version", GROUP_VERSION_LEVEL),
        ])
}
