//! ApiVersions: which APIs and versions this broker really handles.
//!
//! Built from [`super::SUPPORTED`], never from the codec's full schema range. A client asking
//! with a version the broker does not know gets UNSUPPORTED_VERSION in a v0 response that
//! still lists the supported ranges, so it can retry with one it shares (KIP-511).
//!
//! # References
//! - KIP-35 (ApiVersions), KIP-511 (the v0 fallback answer)

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::protocol::VersionRange;

use super::SUPPORTED;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

/// The response, with `error_code` 0 or UNSUPPORTED_VERSION (35).
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
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}
