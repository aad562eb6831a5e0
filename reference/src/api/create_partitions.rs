//! CreatePartitions: grow a topic. Kafka never shrinks one: a count at or below the
//! current one is INVALID_PARTITIONS.
//!
//! # References
//! - KIP-195 (CreatePartitions)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::now_ms;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub fn handle(shared: &Shared, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut core = shared.core();
    let results = req
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            let outcome = if topic.assignments.is_some() {
                Err((
                    ResponseError::InvalidRequest.code(),
                    "Manual replica assignment is not supported by the reference broker."
                        .to_string(),
                ))
            } else {
                core.create_partitions(&topic.name.0, topic.count, req.validate_only, now_ms())
                    .map_err(|e| (e.code, e.message))
            };
            match outcome {
                Ok(()) => result,
                Err((code, message)) => result
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
