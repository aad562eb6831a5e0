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
    let mut seen = BTreeMap::new();
    for topic in &req.topics {
        *seen.entry(topic.name.0.to_string()).or_insert(0) += 1;
    }
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.clone();
            if seen.get(name.0.as_str()).copied().unwrap_or(0) > 1 {
                return failed(
                    topic,
                    ResponseError::InvalidRequest.code(),
                    "Duplicate topic name.".into(),
                );
            }
            create_one(&mut core, topic, req.validate_only, version)
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
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

fn configs_of(config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    TOPIC_CONFIG_NAMES
        .iter()
        .filter_map(|name| {
            let (value, set_on_topic) = config.value_of(name)?;
            Some(
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_static_str(name))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_config_source(if set_on_topic {
                        SOURCE_DYNAMIC_TOPIC_CONFIG
                    } else {
                        SOURCE_DEFAULT_CONFIG
                    }),
            )
        })
        .collect()
}

fn failed(topic: CreatableTopic, code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}
