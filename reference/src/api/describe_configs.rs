//! DescribeConfigs for TOPIC, BROKER and BROKER_LOGGER resources.
//!
//! - A topic: every topic config the reference honours, with the value in force and its
//!   source: set on the topic (TOPIC_CONFIG, Kafka's DYNAMIC_TOPIC_CONFIG), else its broker
//!   synonym's (a dynamic config of this broker or the cluster, the broker's static config,
//!   the default). An unknown topic is UNKNOWN_TOPIC_OR_PARTITION with the default
//!   (empty) message: Kafka sets only the code.
//! - A broker, by this broker's id: every broker config the reference honours
//!   ([`crate::dynamic_config::BROKER_CONFIGS`]), with its value, source, `read_only` (not
//!   changeable at run time in Kafka) and type. The empty name: the cluster-wide dynamic
//!   defaults only. Another broker's id is INVALID_REQUEST, as in Kafka (each broker
//!   describes itself; the Admin client sends the request to the broker it names).
//! - A broker's loggers, by this broker's id: `root`, at the level the reference logs at.
//!
//! Synonyms are listed only when `include_synonyms` is set, documentation only with
//! `include_documentation` (v3+; the reference's own short texts, not Kafka's), types from
//! v3. Kafka describes some 340 broker configs; the reference only those it honours,
//! since a value it does not act on would be a made-up answer.
//!
//! # References
//! - KIP-133 (DescribeConfigs), KIP-226 (config sources, synonyms), KIP-412 (BROKER_LOGGER),
//!   KIP-569 (types and documentation)
//! - `kafka.server.ConfigHelper.describeConfigs`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::KafkaError;
use crate::config::TopicConfig;
use crate::controller::validate_topic_name;
use crate::dynamic_config::{
    self, ConfigEntry, DynamicConfigs, Layers, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER,
    RESOURCE_TOPIC, source,
};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };

/// What the request asks to be included.
#[derive(Debug, Clone, Copy)]
pub struct Include {
    pub synonyms: bool,
    pub documentation: bool,
    pub version: i16,
}

pub fn handle(
    shared: &Shared,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let include = Include {
        synonyms: req.include_synonyms,
        documentation: req.include_documentation,
        version,
    };
    let node = &shared.node;
    let dynamic = node
        .controller
        .dynamic
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let results = req
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => topic_entries(shared, &dynamic, resource.resource_name.as_str()),
                RESOURCE_BROKER => {
                    broker_entries(shared, &dynamic, resource.resource_name.as_str())
                }
                RESOURCE_BROKER_LOGGER => logger_entries(node.id, resource.resource_name.as_str()),
                other => Err(KafkaError::new(
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type: {other}"),
                )),
            };
            result(resource, entries, include)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The configs of an existing topic, in force on this broker. `Ok(None)`: no such topic.
fn topic_entries(
    shared: &Shared,
    dynamic: &DynamicConfigs,
    name: &str,
) -> Result<Option<Vec<ConfigEntry>>, KafkaError> {
    validate_topic_name(name)?;
    let node = &shared.node;
    let Some(replication) = node.state().image.topic_by_name(name).map(|t| t.config) else {
        return Ok(None);
    };
    let mut config = match node.topic_config(name) {
        Some(config) => config,
        None => {
            let mut config = TopicConfig::new(&shared.config, BTreeMap::new())
                .map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e.0))?;
            dynamic.apply_to_topic(node.id, &mut config);
            config
        }
    };
    config.min_insync_replicas = replication.min_insync_replicas;
    config.unclean_leader_election_enable = replication.unclean_leader_election_enable;
    let layers = Layers {
        broker: dynamic.brokers.get(&node.id),
        cluster: &dynamic.cluster,
        static_configs: &shared.config.static_configs,
    };
    Ok(Some(dynamic_config::describe_topic(&config, &layers)))
}

/// This broker's configs (its id) or the cluster-wide defaults (""), as `ConfigHelper`.
fn broker_entries(
    shared: &Shared,
    dynamic: &DynamicConfigs,
    name: &str,
) -> Result<Option<Vec<ConfigEntry>>, KafkaError> {
    let id = shared.node.id;
    let per_broker = !name.is_empty();
    if per_broker {
        let asked: i32 = name.parse().map_err(|_| {
            KafkaError::new(
                ResponseError::InvalidRequest,
                format!("Broker id must be an integer, but it is: {name}"),
            )
        })?;
        if asked != id {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                format!("Unexpected broker id, expected {id} or empty string, but received {name}"),
            ));
        }
    }
    let layers = Layers {
        broker: per_broker.then(|| dynamic.brokers.get(&id)).flatten(),
        cluster: &dynamic.cluster,
        static_configs: &shared.config.static_configs,
    };
    Ok(Some(dynamic_config::describe_broker(&layers, per_broker)))
}

/// A broker's loggers (KIP-412): the reference has one, `root`, at the level it logs at.
fn logger_entries(id: i32, name: &str) -> Result<Option<Vec<ConfigEntry>>, KafkaError> {
    let invalid = |m: String| KafkaError::new(ResponseError::InvalidRequest, m);
    if name.is_empty() {
        return Err(invalid("Broker id must not be empty".into()));
    }
    let asked: i32 = name
        .parse()
        .map_err(|_| invalid(format!("Broker id must be an integer, but it is: {name}")))?;
    if asked != id {
        return Err(invalid(format!(
            "Unexpected broker id, expected {id} but received {name}"
        )));
    }
    let level = match tracing::level_filters::LevelFilter::current() {
        tracing::level_filters::LevelFilter::OFF => "OFF",
        tracing::level_filters::LevelFilter::ERROR => "ERROR",
        tracing::level_filters::LevelFilter::WARN => "WARN",
        tracing::level_filters::LevelFilter::INFO => "INFO",
        tracing::level_filters::LevelFilter::DEBUG => "DEBUG",
        _ => "TRACE",
    };
    Ok(Some(vec![ConfigEntry {
        name: "root".into(),
        value: Some(level.into()),
        source: source::DYNAMIC_BROKER_LOGGER_CONFIG,
        read_only: false,
        is_sensitive: false,
        synonyms: Vec::new(),
        ty: dynamic_config::config_type::UNKNOWN,
        doc: "",
    }]))
}

/// One resource's answer: its entries (those of `configuration_keys` if given), or its
/// error.
fn result(
    resource: DescribeConfigsResource,
    entries: Result<Option<Vec<ConfigEntry>>, KafkaError>,
    include: Include,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let entries = match entries {
        Err(e) => {
            return result
                .with_error_code(e.code)
                .with_error_message(Some(StrBytes::from_string(e.message)));
        }
        Ok(None) => {
            return result.with_error_code(ResponseError::UnknownTopicOrPartition.code());
        }
        Ok(Some(entries)) => entries,
    };
    let keys = resource.configuration_keys.filter(|k| !k.is_empty());
    let configs = entries
        .into_iter()
        .filter(|e| {
            keys.as_ref()
                .is_none_or(|k| k.iter().any(|k| k.as_str() == e.name))
        })
        .map(|e| entry(e, include))
        .collect();
    result.with_configs(configs)
}

fn entry(e: ConfigEntry, include: Include) -> DescribeConfigsResourceResult {
    let string = |s: Option<String>| s.map(StrBytes::from_string);
    let synonyms = if include.synonyms {
        e.synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name))
                    .with_value(string(s.value))
                    .with_source(s.source)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(string(e.value))
        .with_read_only(e.read_only)
        .with_config_source(e.source)
        .with_is_sensitive(e.is_sensitive)
        .with_synonyms(synonyms);
    if include.version >= 3 {
        result = result.with_config_type(e.ty);
        let doc = include
            .documentation
            .then(|| StrBytes::from_static_str(e.doc));
        result = result.with_documentation(doc);
    }
    result
}
