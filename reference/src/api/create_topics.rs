//! CreateTopics: topics with a partition count, a replication factor and configs.
//!
//! -1 for the count or the factor means the broker default (`num.partitions`,
//! `default.replication.factor`). Each topic succeeds or fails on its own, with Kafka's error
//! codes: TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR (a factor
//! above the number of brokers), INVALID_CONFIG, INVALID_TOPIC_EXCEPTION. `validate_only`
//! checks without creating (on a copy of the controller). A topic may name its replicas
//! (`assignments`, with the counts left at -1): the controller checks them as Kafka does
//! (`Controller::create_topic_assigned`). v5+ answers with the configs in
//! force. The request goes to the controller as a KRaft broker forwards it, and is checked in
//! Kafka's order (`ControllerApis` and `ReplicationControlManager.createTopics`): the request
//! (`respond`: names given twice), then under the controller's lock the name and whether it
//! exists, the configs (INVALID_CONFIG), and last the counts and the placement. It is answered
//! once this broker's own image has the new topics, so the client's next request here sees
//! them; a broker cut off from the controller answers REQUEST_TIMED_OUT
//! (`super::reach_controller`).
//!
//! One request is bounded as Kafka's KRaft controller bounds it (`check_request_size`):
//! more than 10,000 partitions asked for over all its topics (`MAX_PARTITIONS_PER_BATCH`,
//! KAFKA-17870), or more than 10,000 metadata records for the topics it would create
//! (`MAX_RECORDS_PER_USER_OP`: a TopicRecord, a PartitionRecord per partition, a ConfigRecord
//! per config), and the whole request is refused: every topic POLICY_VIOLATION, nothing
//! created. Kafka counts the records of the topics that pass every check; here those with a
//! legal, new name and a positive count (a topic refused later for its configs or its
//! replication factor still counts).
//!
//! # References
//! - KIP-4 (CreateTopics), KIP-464 (defaults with -1), KIP-525 (configs in the response)
//! - `kafka.server.ControllerApis.createTopics`, `ReplicationControlManager.createTopic`,
//!   `ReplicationControlManager.validateTotalNumberOfPartitions` (KAFKA-17870),
//!   `QuorumController.MAX_RECORDS_PER_USER_OP`, `EventHandlerExceptionInfo`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use uuid::Uuid;

use super::{reach_controller, until_image};
use crate::cluster::TopicConfigs;
use crate::config::{BrokerConfig, TOPIC_CONFIG_NAMES, TopicConfig};
use crate::controller::{
    ApiError, Controller, EXCESSIVE_BATCH_MESSAGE, EXCESSIVE_PARTITIONS_MESSAGE,
    MAX_PARTITIONS_PER_BATCH, MAX_RECORDS_PER_USER_OP, TopicImage, validate_topic_name,
};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 7 };

/// DescribeConfigs / CreateTopics config sources.
pub const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

pub async fn handle(
    shared: &Shared,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let node = &shared.node;
    let (validate_only, timeout_ms) = (req.validate_only, req.timeout_ms);
    if !reach_controller(node, timeout_ms).await {
        let topics = req.topics.into_iter().map(|topic| {
            CreatableTopicResult::default()
                .with_name(topic.name)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(None)
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        });
        return CreateTopicsResponse::default().with_topics(topics.collect());
    }
    let size = node.controller.with(|c| {
        let default_partitions = c.default_num_partitions();
        let planned = req.topics.iter().map(|t| planned(t, default_partitions));
        check_request_size(planned, |n| c.image().topic_id(n).is_none())
    });
    if let Err(refused) = size {
        return refuse_all(req, refused);
    }
    let mut created = Vec::new();
    let response = respond(req, |topic| {
        let outcome = node.controller.with(|c| {
            create_topic(
                c,
                &node.topic_configs,
                &shared.config,
                &topic,
                validate_only,
            )
        });
        match outcome {
            Err(e) => failed(topic, e.code, e.message),
            Ok((id, image, config)) => {
                if !validate_only {
                    created.push(id);
                }
                created_result(topic, id, image.as_ref(), &config, version)
            }
        }
    });
    until_image(node, timeout_ms, |image| {
        created.iter().all(|id| image.topic(*id).is_some())
    })
    .await;
    response
}

/// A created (or validated) topic's answer: its id from v7, its counts and configs from v5.
fn created_result(
    topic: CreatableTopic,
    id: Uuid,
    image: Option<&TopicImage>,
    config: &TopicConfig,
    version: i16,
) -> CreatableTopicResult {
    let partitions = image.map_or(-1, |t| t.partitions.len() as i32);
    let rf = image
        .and_then(|t| t.partitions.first())
        .map_or(-1, |p| p.replicas.len() as i16);
    // Kafka sets a success's message to null (the schema's default is "").
    let mut result = CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_message(None)
        .with_topic_id(if version >= 7 { id } else { Uuid::nil() });
    if version >= 5 {
        result = result
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(Some(configs_of(config)));
    }
    result
}

/// One topic of a CreateTopics, under the controller's lock: the new topic's id, image and
/// configs (validating only: decided on a copy of the controller, nothing kept).
fn create_topic(
    c: &mut Controller,
    topic_configs: &TopicConfigs,
    broker_config: &BrokerConfig,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<(Uuid, Option<TopicImage>, TopicConfig), ApiError> {
    let name = topic.name.0.as_str();
    c.check_new_topic_name(name)?;
    let invalid_config = |why: String| ApiError::new(ResponseError::InvalidConfig.code(), why);
    let nulls: Vec<&str> = topic
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(invalid_config(format!(
            "Null value not supported for topic configs: {}",
            nulls.join(",")
        )));
    }
    let configs: BTreeMap<String, String> = topic
        .configs
        .iter()
        .map(|c| {
            let value = c.value.as_ref().map_or("", |v| v.as_str());
            (c.name.to_string(), value.to_string())
        })
        .collect();
    let config =
        TopicConfig::new(broker_config, configs.clone()).map_err(|e| invalid_config(e.0))?;
    let pairs: Vec<(&str, &str)> = configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (partitions, rf) = (topic.num_partitions, topic.replication_factor);
    let assignments: Vec<(i32, Vec<i32>)> = topic
        .assignments
        .iter()
        .map(|a| {
            (
                a.partition_index,
                a.broker_ids.iter().map(|b| b.0).collect(),
            )
        })
        .collect();
    let create = |c: &mut Controller| {
        if assignments.is_empty() {
            c.create_topic(name, partitions, rf, &pairs)
        } else {
            c.create_topic_assigned(name, partitions, rf, &assignments, &pairs)
        }
    };
    if validate_only {
        let mut scratch = c.clone();
        let id = create(&mut scratch)?;
        return Ok((id, scratch.image().topic(id).cloned(), config));
    }
    let id = create(c)?;
    // Under the controller's lock: no broker sees the topic before its configs.
    topic_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), config.clone());
    Ok((id, c.image().topic(id).cloned(), config))
}

/// Kafka's name for the KRaft metadata log, which no client may create.
const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Answers the request with `create` for each topic, after the request checks of
/// `ControllerApis.createTopics`: a name given more than once is not created and gets one INVALID_REQUEST answer
/// ("Duplicate topic name."), after the others, and so does `__cluster_metadata`.
pub(crate) fn respond(
    req: CreateTopicsRequest,
    mut create: impl FnMut(CreatableTopic) -> CreatableTopicResult,
) -> CreateTopicsResponse {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for topic in &req.topics {
        *seen.entry(topic.name.0.to_string()).or_insert(0) += 1;
    }
    let mut duplicates = Vec::new();
    let mut prohibited = None;
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        if seen.get(topic.name.0.as_str()).copied().unwrap_or(0) > 1 {
            if !duplicates
                .iter()
                .any(|t: &CreatableTopic| t.name == topic.name)
            {
                duplicates.push(topic);
            }
        } else if topic.name.0.as_str() == CLUSTER_METADATA_TOPIC {
            prohibited = Some(topic);
        } else {
            results.push(create(topic));
        }
    }
    let invalid = ResponseError::InvalidRequest.code();
    for topic in duplicates {
        results.push(failed(topic, invalid, "Duplicate topic name.".into()));
    }
    if let Some(topic) = prohibited {
        let why = format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited.");
        results.push(failed(topic, invalid, why));
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// One topic a request would create, as [`check_request_size`] counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlannedTopic<'a> {
    pub name: &'a str,
    /// The partitions asked for (the default for -1, the assignments if given; 0 when the
    /// count is invalid).
    pub partitions: u64,
    /// Configs set on the topic (one ConfigRecord each).
    pub configs: usize,
}

/// A CreateTopics topic as [`check_request_size`] counts it.
pub(crate) fn planned(topic: &CreatableTopic, default_partitions: i32) -> PlannedTopic<'_> {
    let partitions = if !topic.assignments.is_empty() {
        topic.assignments.len() as u64
    } else {
        match topic.num_partitions {
            -1 => u64::try_from(default_partitions).unwrap_or(0),
            n => u64::try_from(n).unwrap_or(0),
        }
    };
    PlannedTopic {
        name: topic.name.0.as_str(),
        partitions,
        configs: topic.configs.len(),
    }
}

/// Kafka's bounds on one topic-creating request (see the module docs): the POLICY_VIOLATION
/// and message every topic of a request over them gets. `is_new` tells a name that does not
/// exist yet (only new topics write records).
pub(crate) fn check_request_size<'a>(
    topics: impl IntoIterator<Item = PlannedTopic<'a>>,
    is_new: impl Fn(&str) -> bool,
) -> Result<(), (i16, &'static str)> {
    let violation = ResponseError::PolicyViolation.code();
    let (mut partitions, mut records) = (0u64, 0u64);
    for topic in topics {
        partitions = partitions.saturating_add(topic.partitions);
        if partitions > MAX_PARTITIONS_PER_BATCH {
            return Err((violation, EXCESSIVE_PARTITIONS_MESSAGE));
        }
        if topic.partitions > 0 && validate_topic_name(topic.name).is_ok() && is_new(topic.name) {
            records = records.saturating_add(1 + topic.partitions + topic.configs as u64);
        }
    }
    if records > MAX_RECORDS_PER_USER_OP as u64 {
        return Err((violation, EXCESSIVE_BATCH_MESSAGE));
    }
    Ok(())
}

/// The answer to a request refused whole (`CreateTopicsRequest.getErrorResponse`): every
/// topic, as listed, with the error and its message.
pub(crate) fn refuse_all(
    req: CreateTopicsRequest,
    (code, message): (i16, &'static str),
) -> CreateTopicsResponse {
    tracing::info!(
        topics = req.topics.len(),
        reason = message,
        "refusing CreateTopics"
    );
    let topics = req
        .topics
        .into_iter()
        .map(|topic| failed(topic, code, message.to_string()));
    CreateTopicsResponse::default().with_topics(topics.collect())
}

/// The configs in force for a topic, as CreateTopics v5+ answers them.
pub(crate) fn configs_of(config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    in_force(config)
        .map(|(name, value, source)| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source)
        })
        .collect()
}

/// Every topic config the reference honours, with its value and source: set on the topic
/// (DYNAMIC_TOPIC_CONFIG) or the broker's (DEFAULT_CONFIG). DescribeConfigs lists the same.
pub(crate) fn in_force(
    config: &TopicConfig,
) -> impl Iterator<Item = (&'static str, String, i8)> + '_ {
    TOPIC_CONFIG_NAMES.iter().filter_map(|name| {
        let (value, set_on_topic) = config.value_of(name)?;
        let source = if set_on_topic {
            SOURCE_DYNAMIC_TOPIC_CONFIG
        } else {
            SOURCE_DEFAULT_CONFIG
        };
        Some((*name, value, source))
    })
}

/// A topic's answer when it was not created.
pub(crate) fn failed(topic: CreatableTopic, code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: u64, configs: usize) -> PlannedTopic<'_> {
        PlannedTopic {
            name,
            partitions,
            configs,
        }
    }

    #[test]
    fn a_request_is_bounded_as_kafkas_controller_bounds_it() {
        let new = |_: &str| true;
        let violation = ResponseError::PolicyViolation.code();
        assert_eq!(check_request_size([topic("a", 9_999, 0)], new), Ok(()));
        // 10,000 partitions are allowed, but with the TopicRecord they are 10,001 records.
        assert_eq!(
            check_request_size([topic("a", 10_000, 0)], new),
            Err((violation, EXCESSIVE_BATCH_MESSAGE))
        );
        let split = [topic("a", 5_000, 0), topic("b", 5_001, 0)];
        assert_eq!(
            check_request_size(split, new),
            Err((violation, EXCESSIVE_PARTITIONS_MESSAGE))
        );
        let names: Vec<String> = (0..5_001).map(|i| format!("t{i}")).collect();
        let ones = |n: usize| {
            names[..n]
                .iter()
                .map(|n| topic(n, 1, 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(check_request_size(ones(5_000), new), Ok(()));
        assert_eq!(
            check_request_size(ones(5_001), new),
            Err((violation, EXCESSIVE_BATCH_MESSAGE))
        );
        // Existing topics and illegal names write no records; configs write one each.
        assert_eq!(check_request_size(ones(5_001), |n| n != "t0"), Ok(()));
        let mut with_bad_name = ones(5_000);
        with_bad_name.push(topic("bad name", 1, 0));
        assert_eq!(check_request_size(with_bad_name, new), Ok(()));
        assert_eq!(
            check_request_size([topic("a", 9_000, 999)], new),
            Ok(()),
            "10,000 records"
        );
        assert_eq!(
            check_request_size([topic("a", 9_000, 1_000)], new),
            Err((violation, EXCESSIVE_BATCH_MESSAGE))
        );
    }

    #[test]
    fn default_and_assigned_counts_are_counted() {
        let t = CreatableTopic::default().with_num_partitions(-1);
        assert_eq!(planned(&t, 3).partitions, 3);
        let t = CreatableTopic::default().with_num_partitions(-7);
        assert_eq!(planned(&t, 3).partitions, 0);
        let t = CreatableTopic::default()
            .with_num_partitions(-1)
            .with_assignments(vec![Default::default(); 4]);
        assert_eq!(planned(&t, 3).partitions, 4);
    }
}
