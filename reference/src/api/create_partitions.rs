//! CreatePartitions: grow a topic. Kafka never shrinks one: a count at or below the
//! current one is INVALID_PARTITIONS. The single broker and a cluster's brokers (through the
//! controller) share the request's checks ([`respond`]).
//!
//! # References
//! - KIP-195 (CreatePartitions); `kafka.server.ControllerApis.createPartitions`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::now_ms;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub fn handle(shared: &Shared, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut core = shared.core();
    respond(req, |name, count, validate_only| {
        core.create_partitions(name, count, validate_only, now_ms())
            .map_err(|e| (e.code, e.message))
    })
}

/// Answers the request with `grow(name, count, validate_only)` for each topic, after Kafka's
/// request check (`ControllerApis.createPartitions`): a name given more than once gets one
/// INVALID_REQUEST answer ("Duplicate topic name.", listed first) and is not grown. Manual
/// replica assignments are refused (INVALID_REQUEST): the reference places replicas itself.
pub fn respond(
    req: CreatePartitionsRequest,
    mut grow: impl FnMut(&str, i32, bool) -> Result<(), (i16, String)>,
) -> CreatePartitionsResponse {
    let answer = |name: &TopicName, outcome: Result<(), (i16, String)>| {
        let result = CreatePartitionsTopicResult::default().with_name(name.clone());
        match outcome {
            Ok(()) => result,
            Err((code, message)) => result
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message))),
        }
    };
    let mut duplicates: Vec<&TopicName> = Vec::new();
    for (i, topic) in req.topics.iter().enumerate() {
        let again = req.topics[..i].iter().any(|t| t.name == topic.name);
        if again && !duplicates.contains(&&topic.name) {
            duplicates.push(&topic.name);
        }
    }
    let invalid = |why: &str| Err((ResponseError::InvalidRequest.code(), why.to_string()));
    let mut results: Vec<CreatePartitionsTopicResult> = duplicates
        .iter()
        .map(|name| answer(name, invalid("Duplicate topic name.")))
        .collect();
    for topic in &req.topics {
        if duplicates.contains(&&topic.name) {
            continue;
        }
        let outcome = if topic.assignments.is_some() {
            invalid("Manual replica assignment is not supported by the reference broker.")
        } else {
            grow(&topic.name.0, topic.count, req.validate_only)
        };
        results.push(answer(&topic.name, outcome));
    }
    CreatePartitionsResponse::default().with_results(results)
}
