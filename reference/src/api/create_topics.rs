//! CreateTopics: topics with a partition count, a replication factor and configs.
//!
//! -1 for the count or the factor means the broker default (`num.partitions`,
//! `default.replication.factor`). Each topic succeeds or fails on its own, with Kafka's error
//! codes: TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR (a factor
//! above the number of brokers), INVALID_CONFIG, INVALID_TOPIC_EXCEPTION. `validate_only`
//! checks without creating. v5+ answers with the configs in force.
//!
//! # References
//! - KIP-4 (CreateTopics), KIP-464 (defaults with -1), KIP-525 (configs in the response)
//! - `kafka.server.ControllerApis.createTopics`, `ReplicationControlManager.createTopic`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::now_ms;
use crate::broker::BrokerCore;
use crate::config::{TOPIC_CONFIG_NAMES, TopicConfig};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 7 };

/// DescribeConfigs / CreateTopics config sources.
pub const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

pub fn handle(shared: &Shared, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut core = shared.core();
    let validate_only = req.validate_only;
    respond(req, |topic| {
        create_one(&mut core, topic, validate_only, version)
    })
}

/// Kafka's name for the KRaft metadata log, which no client may create.
const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Answers the request with `create` for each topic, after the request checks of
/// `ControllerApis.createTopics`, shared by the single broker and a cluster's brokers: a
/// name given more than once is not created and gets one INVALID_REQUEST answer
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

fn create_one(
    core: &mut BrokerCore,
    topic: CreatableTopic,
    validate_only: bool,
    version: i16,
) -> CreatableTopicResult {
    if !topic.assignments.is_empty() {
        return failed(
            topic,
            ResponseError::InvalidRequest.code(),
            "Manual replica assignment is not supported by the reference broker.".into(),
        );
    }
    let mut overrides = BTreeMap::new();
    for config in &topic.configs {
        let Some(value) = &config.value else {
            return failed(
                topic.clone(),
                ResponseError::InvalidConfig.code(),
                format!(
                    "Null value not supported for topic configs: {}",
                    config.name.as_str()
                ),
            );
        };
        overrides.insert(config.name.to_string(), value.to_string());
    }
    let name = topic.name.0.to_string();
    match core.create_topic(
        &name,
        topic.num_partitions,
        topic.replication_factor,
        overrides,
        validate_only,
        now_ms(),
    ) {
        Err(e) => failed(topic, e.code, e.message),
        Ok(created) => {
            let mut result = CreatableTopicResult::default()
                .with_name(topic.name)
                .with_topic_id(if version >= 7 {
                    created.id
                } else {
                    uuid::Uuid::nil()
                });
            if version >= 5 {
                result = result
                    .with_num_partitions(created.partitions)
                    .with_replication_factor(created.replication_factor);
                result = result.with_configs(Some(configs_of(&created.config)));
            }
            result
        }
    }
}

/// The configs in force for a topic, as CreateTopics v5+ answers them (also a cluster's).
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
