//! DescribeConfigs for topics: every topic config the reference honours, with its value and
//! whether it was set on the topic (DYNAMIC_TOPIC_CONFIG) or comes from the broker
//! (DEFAULT_CONFIG): the topics of this broker's metadata image, with the configs they were
//! created with (the broker's defaults for the rest) and the replication configs of the
//! metadata records. Broker resources are not described yet: they get INVALID_REQUEST with a message saying so rather
//! than a made-up list.
//!
//! # References
//! - KIP-133 (DescribeConfigs), KIP-226 (config sources), KIP-569 (config types)

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::create_topics::in_force;
use crate::config::TopicConfig;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };

const RESOURCE_TOPIC: i8 = 2;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

pub fn handle(
    shared: &Shared,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let node = &shared.node;
    let state = node.state();
    describe(req, version, |name| {
        let topic = state.image.topic_by_name(name)?;
        let mut config = match node.topic_config(name) {
            Some(config) => config,
            None => TopicConfig::new(&shared.config, BTreeMap::new()).ok()?,
        };
        config.min_insync_replicas = topic.config.min_insync_replicas;
        Some(config)
    })
}

/// Answers the request with `topic_config`, which gives the configs of an existing topic.
pub fn describe(
    req: DescribeConfigsRequest,
    version: i16,
    topic_config: impl Fn(&str) -> Option<TopicConfig>,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if resource.resource_type != RESOURCE_TOPIC {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "the reference broker describes topic configs only",
                    )));
            }
            match topic_config(resource.resource_name.as_str()) {
                None => result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Topic {} does not exist.",
                        resource.resource_name.as_str()
                    )))),
                Some(config) => result.with_configs(configs(
                    &config,
                    resource.configuration_keys.as_deref(),
                    version,
                )),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn configs(
    config: &TopicConfig,
    keys: Option<&[StrBytes]>,
    version: i16,
) -> Vec<DescribeConfigsResourceResult> {
    in_force(config)
        .filter(|(name, _, _)| keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == *name)))
        .map(|(name, value, source)| {
            let entry = DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source);
            if version >= 3 {
                entry.with_config_type(config_type(name))
            } else {
                entry
            }
        })
        .collect()
}

fn config_type(name: &str) -> i8 {
    match name {
        "cleanup.policy" => TYPE_LIST,
        "message.timestamp.type" => TYPE_STRING,
        "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas"
        | "segment.bytes"
        | "segment.index.bytes" => TYPE_INT,
        _ => TYPE_LONG,
    }
}
