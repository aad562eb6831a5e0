//! CreatePartitions: grow a topic. Kafka never shrinks one: a count at or below the
//! current one is INVALID_PARTITIONS. The request's checks are [`respond`]'s; the topics grow
//! through the controller (validating only: on a copy of it), and a broker cut off from the
//! controller answers REQUEST_TIMED_OUT (`super::reach_controller`).
//!
//! A request adding more than 10,000 partitions over its topics is refused whole: every topic
//! POLICY_VIOLATION "Excessively large number of partitions per request.", nothing created
//! (`check_request_size`). That is CreateTopics' bound (`MAX_PARTITIONS_PER_BATCH`), which
//! KAFKA-19673 brings to CreatePartitions; before it, Kafka 4.0's controller overflows its
//! bounded record list (`MAX_RECORDS_PER_USER_OP`) inside the topic, answers that topic
//! UNKNOWN_SERVER_ERROR and still commits the partitions that fitted.
//!
//! # References
//! - KIP-195 (CreatePartitions); `kafka.server.ControllerApis.createPartitions`,
//!   `ReplicationControlManager.createPartitions`; KAFKA-19673

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::reach_controller;
use crate::controller::{EXCESSIVE_PARTITIONS_MESSAGE, MAX_PARTITIONS_PER_BATCH};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

pub async fn handle(shared: &Shared, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let node = &shared.node;
    if !reach_controller(node, req.timeout_ms).await {
        let results = req.topics.into_iter().map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(None)
        });
        return CreatePartitionsResponse::default().with_results(results.collect());
    }
    let size = node.controller.with(|c| {
        let current = |n: &str| {
            c.image()
                .topic_by_name(n)
                .map(|t| t.partitions.len() as i64)
        };
        check_request_size(&req, current)
    });
    if let Err(refused) = size {
        return refuse_all(req, refused);
    }
    respond(req, |name, count, assignments, validate_only| {
        node.controller
            .with(|c| {
                if validate_only {
                    c.clone()
                        .create_partitions_assigned(name, count, assignments)
                } else {
                    c.create_partitions_assigned(name, count, assignments)
                }
            })
            .map_err(|e| (e.code, e.message))
    })
}

/// Answers the request with `grow(name, count, assignments, validate_only)` for each topic,
/// after Kafka's request check (`ControllerApis.createPartitions`): a name given more than
/// once gets one INVALID_REQUEST answer ("Duplicate topic name.", listed first) and is not
/// grown. `assignments` are the new partitions' replicas when the request names them
/// (validated by the controller as Kafka's `createPartitions` does).
pub fn respond(
    req: CreatePartitionsRequest,
    mut grow: impl FnMut(&str, i32, Option<&[Vec<i32>]>, bool) -> Result<(), (i16, String)>,
) -> CreatePartitionsResponse {
    let answer = |name: &TopicName, outcome: Result<(), (i16, String)>| {
        let result = CreatePartitionsTopicResult::default().with_name(name.clone());
        match outcome {
            // Kafka sets a success's message to null (the schema's default is "").
            Ok(()) => result.with_error_message(None),
            Err((code, message)) => result
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message))),
        }
    };
    // Hashed: a request may name a hundred thousand topics.
    let mut seen: HashMap<&TopicName, usize> = HashMap::new();
    let mut duplicates: Vec<&TopicName> = Vec::new();
    for topic in &req.topics {
        let times = seen.entry(&topic.name).or_insert(0);
        *times += 1;
        if *times == 2 {
            duplicates.push(&topic.name);
        }
    }
    let invalid = |why: &str| Err((ResponseError::InvalidRequest.code(), why.to_string()));
    let mut results: Vec<CreatePartitionsTopicResult> = duplicates
        .iter()
        .map(|name| answer(name, invalid("Duplicate topic name.")))
        .collect();
    for topic in &req.topics {
        if seen.get(&topic.name).copied().unwrap_or(0) > 1 {
            continue;
        }
        let assignments: Option<Vec<Vec<i32>>> = topic.assignments.as_ref().map(|list| {
            list.iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        });
        let outcome = grow(
            &topic.name.0,
            topic.count,
            assignments.as_deref(),
            req.validate_only,
        );
        results.push(answer(&topic.name, outcome));
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// The bound on one request (see the module docs): the partitions it would add, over its
/// topics (`current` gives a topic's partition count, `None` for an unknown topic), may not
/// pass `MAX_PARTITIONS_PER_BATCH`.
pub(crate) fn check_request_size(
    req: &CreatePartitionsRequest,
    current: impl Fn(&str) -> Option<i64>,
) -> Result<(), (i16, &'static str)> {
    let mut added = 0u64;
    for topic in &req.topics {
        let Some(current) = current(topic.name.0.as_str()) else {
            continue;
        };
        added = added.saturating_add(u64::try_from(i64::from(topic.count) - current).unwrap_or(0));
        if added > MAX_PARTITIONS_PER_BATCH {
            let violation = ResponseError::PolicyViolation.code();
            return Err((violation, EXCESSIVE_PARTITIONS_MESSAGE));
        }
    }
    Ok(())
}

/// The answer to a request refused whole (`CreatePartitionsRequest.getErrorResponse`).
pub(crate) fn refuse_all(
    req: CreatePartitionsRequest,
    (code, message): (i16, &'static str),
) -> CreatePartitionsResponse {
    tracing::info!(
        topics = req.topics.len(),
        reason = message,
        "refusing CreatePartitions"
    );
    let results = req.topics.into_iter().map(|topic| {
        CreatePartitionsTopicResult::default()
            .with_name(topic.name)
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_static_str(message)))
    });
    CreatePartitionsResponse::default().with_results(results.collect())
}
