//! Dynamic configs (KIP-226): the broker configs that IncrementalAlterConfigs and
//! AlterConfigs change at run time, per broker and as a cluster-wide default, and how
//! DescribeConfigs reports every config with its source and synonyms.
//!
//! # The layers
//!
//! A broker config's value comes from the first layer that sets it, in Kafka's order:
//! DYNAMIC_BROKER_CONFIG (set for this broker id), DYNAMIC_DEFAULT_BROKER_CONFIG (set with an
//! empty broker name, for the whole cluster), STATIC_BROKER_CONFIG (the broker was started
//! with it), DEFAULT_CONFIG. A topic config set on the topic (TOPIC_CONFIG) comes before all
//! of them, and otherwise falls back to its broker synonym (`retention.ms` to
//! `log.retention.ms`, ...). A config may have several broker names
//! (`log.retention.{ms,minutes,hours}`, `log.roll.{ms,hours}`): each layer is searched for
//! all of them, and the synonyms reported for one name start at its first own entry
//! (`ConfigHelper.configSynonyms`, `DynamicBrokerConfig.brokerConfigSynonyms`).
//!
//! # What may change
//!
//! [`BROKER_CONFIGS`] lists every broker config the reference honours, with Kafka's type,
//! the reference's default and whether Kafka lets it change at run time
//! (`DynamicBrokerConfig.AllDynamicConfigs`; checked against Kafka 4.3.1, whose answer to
//! the others is INVALID_REQUEST "Cannot update these configs dynamically: [...]"). Of
//! Kafka's dynamic ones, the reference changes at once those that are topic defaults
//! (`log.retention.ms`, `log.segment.bytes`, `message.max.bytes`, `min.insync.replicas`,
//! ...). Three kinds are refused where Kafka would accept them, each with a message saying
//! why, since accepting a config and then ignoring it would make the spec lie:
//! - dynamic in Kafka, but the reference reads them only when a broker starts
//!   (`max.connections*`, `producer.id.expiration.ms`): [`Update::Restart`];
//! - `min.insync.replicas` and `unclean.leader.election.enable` for one broker id: the
//!   controller decides with them for every broker, so the reference takes them only
//!   cluster-wide ([`Update::ClusterWide`]);
//! - a name the reference does not honour: Kafka stores an unknown name as a custom config
//!   (and a known one it does not implement would be silently ignored here).
//!
//! Kafka 4.x writes a cluster-wide `min.insync.replicas` when its storage is formatted
//! (it shows as DYNAMIC_DEFAULT_BROKER_CONFIG on a fresh cluster); [`DynamicConfigs::new`]
//! does the same with the broker's own value.
//!
//! # References
//! - KIP-226 (dynamic broker configs), KIP-339 (IncrementalAlterConfigs), KIP-133
//!   (DescribeConfigs), KIP-569 (types and documentation)
//! - Apache Kafka sources: `ConfigAdminManager` (`preprocess`, `prepareIncrementalConfigs`,
//!   `validateResourceNameIsCurrentNodeId`), `DynamicBrokerConfig`, `ConfigHelper`,
//!   `ConfigurationControlManager`, `ControllerConfigurationValidator`,
//!   `ServerTopicConfigSynonyms`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::api::KafkaError;
use crate::config::{BrokerConfig, TopicConfig};

/// `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// `DescribeConfigsResponse.ConfigSource` ids (the wire's, not the Admin client's enum).
pub mod source {
    pub const TOPIC_CONFIG: i8 = 1;
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
    pub const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
}

/// `DescribeConfigsResponse.ConfigType` ids.
pub mod config_type {
    pub const UNKNOWN: i8 = 0;
    pub const BOOLEAN: i8 = 1;
    pub const STRING: i8 = 2;
    pub const INT: i8 = 3;
    pub const SHORT: i8 = 4;
    pub const LONG: i8 = 5;
    pub const LIST: i8 = 7;
}

/// `AlterConfigOp.OpType` ids of IncrementalAlterConfigs.
pub mod op {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;
}

/// Whether and how a broker config changes at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Not dynamic in Kafka either (read-only).
    ReadOnly,
    /// Dynamic, per broker or cluster-wide, and applied at once.
    Dynamic,
    /// Dynamic and applied at once, but only cluster-wide here (the controller's).
    ClusterWide,
    /// Dynamic in Kafka; the reference reads it only when a broker starts.
    Restart,
}

/// One broker config: Kafka's name and type, the reference's default (`None`: null, as
/// Kafka has for `log.retention.ms`), and how it changes.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfigDef {
    pub name: &'static str,
    pub ty: i8,
    pub default: Option<&'static str>,
    pub update: Update,
    pub doc: &'static str,
}

const fn broker(
    name: &'static str,
    ty: i8,
    default: Option<&'static str>,
    update: Update,
    doc: &'static str,
) -> BrokerConfigDef {
    BrokerConfigDef {
        name,
        ty,
        default,
        update,
        doc,
    }
}

use Update::{ClusterWide, Dynamic, ReadOnly, Restart};
use config_type::{BOOLEAN, INT, LIST, LONG, SHORT, STRING};

/// Every broker config the reference honours, by name. `BrokerConfig::set` accepts exactly
/// these (a test holds them together, defaults included).
#[rustfmt::skip]
pub const BROKER_CONFIGS: &[BrokerConfigDef] = &[
    broker("auto.create.topics.enable", BOOLEAN, Some("true"), ReadOnly, "Whether a topic named by a Metadata request that may create it is created."),
    broker("connections.max.idle.ms", LONG, Some("600000"), ReadOnly, "A connection that sends no complete request for this long is closed; -1 never."),
    broker("default.replication.factor", INT, Some("1"), ReadOnly, "The replication factor of topics created without one."),
    broker("fetch.max.bytes", INT, Some("57671680"), ReadOnly, "The most record bytes one Fetch response carries."),
    broker("group.consumer.heartbeat.interval.ms", INT, Some("5000"), ReadOnly, "The heartbeat interval given to consumer-protocol (KIP-848) group members."),
    broker("group.consumer.max.size", INT, Some("2147483647"), ReadOnly, "The most members a consumer-protocol (KIP-848) group may have."),
    broker("group.consumer.migration.policy", STRING, Some("bidirectional"), ReadOnly, "Whether a group with members converts between the classic and the consumer protocol: bidirectional, upgrade, downgrade or disabled."),
    broker("group.consumer.session.timeout.ms", INT, Some("45000"), ReadOnly, "A consumer-protocol (KIP-848) member silent for this long is fenced from its group."),
    broker("group.initial.rebalance.delay.ms", INT, Some("3000"), ReadOnly, "How long the first rebalance of a new classic group waits for more members."),
    broker("group.max.session.timeout.ms", INT, Some("1800000"), ReadOnly, "The largest session timeout a classic group member may ask for."),
    broker("group.max.size", INT, Some("2147483647"), ReadOnly, "The most members a classic group may have."),
    broker("group.min.session.timeout.ms", INT, Some("6000"), ReadOnly, "The smallest session timeout a classic group member may ask for."),
    broker("log.cleanup.policy", LIST, Some("delete"), Dynamic, "The default cleanup policy of topics (the reference deletes only)."),
    broker("log.index.interval.bytes", INT, Some("4096"), Dynamic, "The default bytes between offset index entries of topics."),
    broker("log.index.size.max.bytes", INT, Some("10485760"), Dynamic, "The default largest offset index of a segment."),
    broker("log.message.timestamp.type", STRING, Some("CreateTime"), Dynamic, "The default timestamp type of topics: CreateTime or LogAppendTime."),
    broker("log.retention.bytes", LONG, Some("-1"), Dynamic, "The default bytes a partition keeps before deleting old segments; -1 no limit."),
    broker("log.retention.check.interval.ms", LONG, Some("300000"), ReadOnly, "How often retention runs."),
    broker("log.retention.hours", INT, Some("168"), ReadOnly, "The default retention of topics in hours (after log.retention.minutes and log.retention.ms)."),
    broker("log.retention.minutes", INT, None, ReadOnly, "The default retention of topics in minutes (after log.retention.ms)."),
    broker("log.retention.ms", LONG, None, Dynamic, "The default retention of topics in milliseconds; -1 no limit."),
    broker("log.roll.hours", INT, Some("168"), ReadOnly, "The default age in hours after which a segment is rolled (after log.roll.ms)."),
    broker("log.roll.ms", LONG, None, Dynamic, "The default age in milliseconds after which a segment is rolled."),
    broker("log.segment.bytes", INT, Some("1073741824"), Dynamic, "The default largest segment of topics."),
    broker("max.connections", INT, Some("4096"), Restart, "Open connections to this broker."),
    broker("max.connections.per.ip", INT, Some("2147483647"), Restart, "Open connections from one IP address."),
    broker("max.connections.per.ip.overrides", STRING, Some(""), Restart, "Per-IP or per-host connection limits: host:count,host:count."),
    broker("message.max.bytes", INT, Some("1048588"), Dynamic, "The default largest record batch of topics."),
    broker("min.insync.replicas", INT, Some("1"), ClusterWide, "The default in-sync replicas an acks=all produce needs."),
    broker("node.id", INT, None, ReadOnly, "This broker's id."),
    broker("num.partitions", INT, Some("1"), ReadOnly, "The partition count of topics created without one."),
    broker("offset.metadata.max.bytes", INT, Some("4096"), ReadOnly, "The largest metadata of a committed offset."),
    broker("offsets.commit.timeout.ms", INT, Some("5000"), ReadOnly, "How long an offset commit waits for its replicas."),
    broker("offsets.retention.check.interval.ms", LONG, Some("600000"), ReadOnly, "How often expired committed offsets are removed."),
    broker("offsets.retention.minutes", INT, Some("10080"), ReadOnly, "How long committed offsets of an empty group are kept."),
    broker("offsets.topic.num.partitions", INT, Some("50"), ReadOnly, "The partitions of __consumer_offsets."),
    broker("offsets.topic.replication.factor", SHORT, Some("3"), ReadOnly, "The replication factor of __consumer_offsets."),
    broker("producer.id.expiration.check.interval.ms", INT, Some("600000"), ReadOnly, "How often idle producer ids are expired."),
    broker("producer.id.expiration.ms", INT, Some("86400000"), Restart, "How long a producer id not heard from is kept."),
    broker("queued.max.request.bytes", LONG, Some("268435456"), ReadOnly, "Bytes all connections together may hold in requests being read or handled; -1 unbounded."),
    broker("socket.request.max.bytes", INT, Some("104857600"), ReadOnly, "The largest request frame accepted."),
    broker("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, Some("10000"), ReadOnly, "How often timed-out transactions are aborted."),
    broker("transaction.max.timeout.ms", INT, Some("900000"), ReadOnly, "The largest transaction timeout a producer may ask for."),
    broker("transaction.remove.expired.transaction.cleanup.interval.ms", INT, Some("3600000"), ReadOnly, "How often expired transactional ids are removed."),
    broker("transaction.state.log.min.isr", INT, Some("2"), ReadOnly, "min.insync.replicas of __transaction_state."),
    broker("transaction.state.log.num.partitions", INT, Some("50"), ReadOnly, "The partitions of __transaction_state."),
    broker("transaction.state.log.replication.factor", SHORT, Some("3"), ReadOnly, "The replication factor of __transaction_state."),
    broker("transactional.id.expiration.ms", INT, Some("604800000"), ReadOnly, "How long a transactional id not heard from is kept."),
    broker("unclean.leader.election.enable", BOOLEAN, Some("false"), ClusterWide, "Whether a replica out of the ISR may be elected leader, losing records, rather than none."),
];

/// Configs Kafka defines as internal (`ConfigDef.defineInternal`): honoured, but
/// DescribeConfigs does not list them (`AbstractConfig.nonInternalValues`).
const INTERNAL_BROKER_CONFIGS: &[&str] = &["producer.id.expiration.check.interval.ms"];

/// The definition of broker config `name`, if the reference honours it.
pub fn broker_config_def(name: &str) -> Option<&'static BrokerConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// One topic config: Kafka's type, its broker synonyms in order of precedence
/// (`ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS`; the first is the one Kafka
/// describes it with) and what it is.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub ty: i8,
    pub synonyms: &'static [&'static str],
    pub doc: &'static str,
}

/// The topic configs the reference honours (`crate::config::TOPIC_CONFIG_NAMES`, in that
/// order).
#[rustfmt::skip]
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef { name: "cleanup.policy", ty: LIST, synonyms: &["log.cleanup.policy"], doc: "What happens to old segments: delete (the reference does not compact)." },
    TopicConfigDef { name: "index.interval.bytes", ty: INT, synonyms: &["log.index.interval.bytes"], doc: "Bytes between offset index entries." },
    TopicConfigDef { name: "max.message.bytes", ty: INT, synonyms: &["message.max.bytes"], doc: "The largest record batch accepted." },
    TopicConfigDef { name: "message.timestamp.type", ty: STRING, synonyms: &["log.message.timestamp.type"], doc: "CreateTime (the producer's) or LogAppendTime (the broker's)." },
    TopicConfigDef { name: "min.insync.replicas", ty: INT, synonyms: &["min.insync.replicas"], doc: "The in-sync replicas an acks=all produce needs." },
    TopicConfigDef { name: "retention.bytes", ty: LONG, synonyms: &["log.retention.bytes"], doc: "Bytes a partition keeps before deleting old segments; -1 no limit." },
    TopicConfigDef { name: "retention.ms", ty: LONG, synonyms: &["log.retention.ms", "log.retention.minutes", "log.retention.hours"], doc: "How long records are kept; -1 no limit." },
    TopicConfigDef { name: "segment.bytes", ty: INT, synonyms: &["log.segment.bytes"], doc: "The largest segment." },
    TopicConfigDef { name: "segment.index.bytes", ty: INT, synonyms: &["log.index.size.max.bytes"], doc: "The largest offset index of a segment." },
    TopicConfigDef { name: "segment.ms", ty: LONG, synonyms: &["log.roll.ms", "log.roll.hours"], doc: "The age after which a segment is rolled." },
    TopicConfigDef { name: "unclean.leader.election.enable", ty: BOOLEAN, synonyms: &["unclean.leader.election.enable"], doc: "Whether a replica out of the ISR may be elected leader, losing records, rather than none." },
];

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The broker names of one config, in Kafka's order (`brokerConfigSynonyms`).
pub fn broker_synonyms(name: &str) -> &[&str] {
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    match name {
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        "log.roll.ms" | "log.roll.hours" => ROLL,
        _ => match BROKER_CONFIGS.iter().find(|d| d.name == name) {
            Some(def) => std::slice::from_ref(&def.name),
            None => &[],
        },
    }
}

/// The dynamic broker configs stored by the controller: the cluster-wide defaults (resource
/// name "") and each broker's own. Values are kept as given, as Kafka's ConfigRecords keep
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicConfigs {
    pub cluster: BTreeMap<String, String>,
    pub brokers: BTreeMap<i32, BTreeMap<String, String>>,
}

impl DynamicConfigs {
    /// A new cluster's: `min.insync.replicas` as a cluster-wide default, as Kafka 4.x's
    /// storage format writes it.
    pub fn new(config: &BrokerConfig) -> DynamicConfigs {
        let cluster = BTreeMap::from([(
            "min.insync.replicas".to_string(),
            config.min_insync_replicas.to_string(),
        )]);
        DynamicConfigs {
            cluster,
            brokers: BTreeMap::new(),
        }
    }

    /// The configs of one resource: a broker's, or the cluster's (`None`).
    pub fn of(&self, broker_id: Option<i32>) -> BTreeMap<String, String> {
        match broker_id {
            None => self.cluster.clone(),
            Some(id) => self.brokers.get(&id).cloned().unwrap_or_default(),
        }
    }

    /// Replaces the configs of one resource.
    pub fn replace(&mut self, broker_id: Option<i32>, configs: BTreeMap<String, String>) {
        match broker_id {
            None => self.cluster = configs,
            Some(id) if configs.is_empty() => {
                self.brokers.remove(&id);
            }
            Some(id) => {
                self.brokers.insert(id, configs);
            }
        }
    }

    /// Applies the dynamic topic defaults in force on `broker_id` to a topic's configs
    /// (built from the static broker configs and the topic's own): each config the topic
    /// does not set takes its broker synonym's dynamic value, this broker's first.
    pub fn apply_to_topic(&self, broker_id: i32, config: &mut TopicConfig) {
        let own = self.brokers.get(&broker_id);
        for def in TOPIC_CONFIGS {
            if config.overrides.contains_key(def.name) {
                continue;
            }
            // Only the first synonym is dynamic (`log.retention.hours` and the like are not).
            let broker_name = def.synonyms[0];
            let value = own
                .and_then(|c| c.get(broker_name))
                .or_else(|| self.cluster.get(broker_name));
            if let Some(value) = value
                && let Err(e) = config.set(def.name, value)
            {
                // Checked as a broker config when it was stored; the ranges are the same.
                tracing::warn!(config = def.name, error = %e.0, "dynamic topic default not applied");
            }
        }
    }
}

/// The layers a broker config is looked up in (see the module docs).
pub struct Layers<'a> {
    /// This broker's dynamic configs (`None` when describing the cluster-wide defaults).
    pub broker: Option<&'a BTreeMap<String, String>>,
    pub cluster: &'a BTreeMap<String, String>,
    pub static_configs: &'a BTreeMap<String, String>,
}

/// One synonym of a described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// One described config, as DescribeConfigs answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
    pub synonyms: Vec<Synonym>,
    pub ty: i8,
    pub doc: &'static str,
}

impl Layers<'_> {
    /// Every layer's value of `synonyms`, in order of precedence, from the first entry of
    /// `name` on (`ConfigHelper.configSynonyms`).
    fn chain(&self, name: &str, synonyms: &[&str]) -> Vec<Synonym> {
        let empty = BTreeMap::new();
        let defaults: BTreeMap<String, String> = synonyms
            .iter()
            .filter_map(|s| Some((s.to_string(), broker_config_def(s)?.default?.to_string())))
            .collect();
        let layers = [
            (self.broker.unwrap_or(&empty), source::DYNAMIC_BROKER_CONFIG),
            (self.cluster, source::DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static_configs, source::STATIC_BROKER_CONFIG),
            (&defaults, source::DEFAULT_CONFIG),
        ];
        let mut chain = Vec::new();
        for (layer, source) in layers {
            for synonym in synonyms {
                if let Some(value) = layer.get(*synonym) {
                    chain.push(Synonym {
                        name: synonym.to_string(),
                        value: Some(value.clone()),
                        source,
                    });
                }
            }
        }
        let first = chain.iter().position(|s| s.name == name);
        chain.split_off(first.unwrap_or(chain.len()))
    }
}

/// Every broker config of one broker (`per_broker`) or the cluster-wide dynamic defaults,
/// sorted by name, as `ConfigHelper.createBrokerConfigEntry` describes them.
pub fn describe_broker(layers: &Layers<'_>, per_broker: bool) -> Vec<ConfigEntry> {
    let names: Vec<&str> = if per_broker {
        BROKER_CONFIGS
            .iter()
            .map(|d| d.name)
            .filter(|n| !INTERNAL_BROKER_CONFIGS.contains(n))
            .collect()
    } else {
        layers.cluster.keys().map(String::as_str).collect()
    };
    names
        .into_iter()
        .filter_map(|name| {
            let def = broker_config_def(name)?;
            let mut synonyms = layers.chain(name, broker_synonyms(name));
            if !per_broker {
                synonyms.retain(|s| s.source == source::DYNAMIC_DEFAULT_BROKER_CONFIG);
            }
            let (value, source) = match synonyms.first() {
                Some(s) => (s.value.clone(), s.source),
                None => (None, source::DEFAULT_CONFIG),
            };
            Some(ConfigEntry {
                name: name.to_string(),
                value,
                source,
                read_only: def.update == Update::ReadOnly,
                is_sensitive: false,
                synonyms,
                ty: def.ty,
                doc: def.doc,
            })
        })
        .collect()
}

/// Every topic config of a topic whose configs in force are `config`, as
/// `ConfigHelper.createTopicConfigEntry` describes them.
pub fn describe_topic(config: &TopicConfig, layers: &Layers<'_>) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .filter_map(|def| {
            let (value, set_on_topic) = config.value_of(def.name)?;
            let mut synonyms = Vec::new();
            if set_on_topic {
                synonyms.push(Synonym {
                    name: def.name.to_string(),
                    value: Some(value.clone()),
                    source: source::TOPIC_CONFIG,
                });
            }
            synonyms.extend(layers.chain(def.synonyms[0], def.synonyms));
            let source = synonyms
                .first()
                .map_or(source::DEFAULT_CONFIG, |s| s.source);
            Some(ConfigEntry {
                name: def.name.to_string(),
                value: Some(value),
                source,
                read_only: false,
                is_sensitive: false,
                synonyms,
                ty: def.ty,
                doc: def.doc,
            })
        })
        .collect()
}

/// One operation of an IncrementalAlterConfigs resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigOp<'a> {
    pub name: &'a str,
    pub op: i8,
    pub value: Option<&'a str>,
}

/// Whether `name` is a LIST config of the resource (APPEND and SUBTRACT need one).
fn list_default(resource_type: i8, name: &str) -> Option<Option<&'static str>> {
    match resource_type {
        RESOURCE_TOPIC => {
            let def = topic_config_def(name).filter(|d| d.ty == LIST)?;
            Some(broker_config_def(def.synonyms[0]).and_then(|d| d.default))
        }
        _ => broker_config_def(name)
            .filter(|d| d.ty == LIST)
            .map(|d| d.default),
    }
}

/// The configs of a resource after `ops` (SET, DELETE, APPEND, SUBTRACT), from `current`.
/// APPEND and SUBTRACT work on a LIST config's value, its default when unset, and are
/// INVALID_CONFIG on any other config with Kafka's message: the controller's for topics
/// (`ConfigurationControlManager`), the broker's for brokers (`prepareIncrementalConfigs`).
pub fn apply_ops(
    resource_type: i8,
    current: &BTreeMap<String, String>,
    ops: &[ConfigOp<'_>],
) -> Result<BTreeMap<String, String>, KafkaError> {
    let mut configs = current.clone();
    for op in ops {
        let value = op.value.unwrap_or("");
        match op.op {
            op::SET => {
                configs.insert(op.name.to_string(), value.to_string());
            }
            op::DELETE => {
                configs.remove(op.name);
            }
            op::APPEND | op::SUBTRACT => {
                let append = op.op == op::APPEND;
                let Some(default) = list_default(resource_type, op.name) else {
                    let message = match (resource_type, append) {
                        (RESOURCE_TOPIC, true) => format!(
                            "Can't APPEND to key {} because its type is not LIST.",
                            op.name
                        ),
                        (RESOURCE_TOPIC, false) => format!(
                            "Can't SUBTRACT to key {} because its type is not LIST.",
                            op.name
                        ),
                        (_, true) => format!(
                            "Config value append is not allowed for config key: {}",
                            op.name
                        ),
                        (_, false) => format!(
                            "Config value subtract is not allowed for config key: {}",
                            op.name
                        ),
                    };
                    return Err(KafkaError::new(ResponseError::InvalidConfig, message));
                };
                let old = configs.get(op.name).map(String::as_str).or(default);
                let mut list: Vec<&str> = old
                    .unwrap_or("")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .collect();
                for item in value.split(',') {
                    if append {
                        if !list.contains(&item) {
                            list.push(item);
                        }
                    } else if let Some(at) = list.iter().position(|x| *x == item) {
                        list.remove(at);
                    }
                }
                let joined = list.join(",");
                configs.insert(op.name.to_string(), joined);
            }
            other => {
                return Err(KafkaError::new(
                    ResponseError::InvalidRequest,
                    format!("Unknown operations type {other}"),
                ));
            }
        }
    }
    Ok(configs)
}

/// Kafka's `Set` of config names in a message: `[a, b]`.
fn name_list(names: &[&str]) -> String {
    format!("[{}]", names.join(", "))
}

/// Checks the dynamic configs a broker resource would have (`configs`: all of them, for
/// broker `broker_id` or the cluster-wide defaults) as `DynamicBrokerConfig.validate` does,
/// on the configs the broker started with: names that cannot change at run time, then each
/// value. Every failure is INVALID_REQUEST (KAFKA-13609: Kafka answers a broker config that
/// fails validation so).
pub fn check_broker_configs(
    static_config: &BrokerConfig,
    broker_id: Option<i32>,
    configs: &BTreeMap<String, String>,
) -> Result<(), KafkaError> {
    let invalid = |message: String| KafkaError::new(ResponseError::InvalidRequest, message);
    let names_where = |want: &dyn Fn(Option<&BrokerConfigDef>) -> bool| -> Vec<&str> {
        configs
            .keys()
            .map(String::as_str)
            .filter(|n| want(broker_config_def(n)))
            .collect()
    };
    let read_only = names_where(&|d| d.is_some_and(|d| d.update == ReadOnly));
    if !read_only.is_empty() {
        return Err(invalid(format!(
            "Cannot update these configs dynamically: {}",
            name_list(&read_only)
        )));
    }
    let unknown = names_where(&|d| d.is_none());
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "The reference broker does not implement these broker configs: {}",
            name_list(&unknown)
        )));
    }
    let restart = names_where(&|d| d.is_some_and(|d| d.update == Restart));
    if !restart.is_empty() {
        return Err(invalid(format!(
            "The reference broker applies these configs only when a broker starts: {}",
            name_list(&restart)
        )));
    }
    let cluster_wide = names_where(&|d| d.is_some_and(|d| d.update == ClusterWide));
    if broker_id.is_some() && !cluster_wide.is_empty() {
        return Err(invalid(format!(
            "The reference broker takes these configs cluster-wide only (an empty broker \
             name, --entity-default): {}",
            name_list(&cluster_wide)
        )));
    }
    let mut scratch = static_config.clone();
    for (name, value) in configs {
        scratch.set(name, value).map_err(|e| invalid(e.0))?;
    }
    Ok(())
}

/// The broker id a BROKER resource names on the broker that received it
/// (`validateResourceNameIsCurrentNodeId`): `None` for the cluster-wide defaults.
pub fn resource_broker_id(name: &str, this_broker: i32) -> Result<Option<i32>, KafkaError> {
    if name.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| KafkaError::new(ResponseError::InvalidRequest, message);
    let id: i32 = name
        .parse()
        .map_err(|_| invalid(format!("Node id must be an integer, but it is: {name}")))?;
    if id != this_broker {
        return Err(invalid(format!(
            "Unexpected broker id, expected {this_broker}, but received {name}"
        )));
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_broker_config_is_honoured_with_its_default() {
        let default = BrokerConfig::default();
        for def in BROKER_CONFIGS {
            let Some(value) = def.default else { continue };
            let mut config = BrokerConfig::default();
            config
                .set(def.name, value)
                .unwrap_or_else(|e| panic!("{}: {}", def.name, e.0));
            assert_eq!(config, default, "{}={value} is not the default", def.name);
        }
        for key in crate::group::GroupConfig::KEYS {
            assert!(broker_config_def(key).is_some(), "{key} not described");
        }
        let mut sorted: Vec<&str> = BROKER_CONFIGS.iter().map(|d| d.name).collect();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            BROKER_CONFIGS.iter().map(|d| d.name).collect::<Vec<_>>()
        );
        assert_eq!(
            TOPIC_CONFIGS.iter().map(|d| d.name).collect::<Vec<_>>(),
            crate::config::TOPIC_CONFIG_NAMES
        );
    }

    #[test]
    fn synonyms_start_at_the_described_name() {
        let static_configs = BTreeMap::new();
        let broker = map(&[("log.retention.ms", "60000")]);
        let cluster = map(&[("log.retention.ms", "120000")]);
        let layers = Layers {
            broker: Some(&broker),
            cluster: &cluster,
            static_configs: &static_configs,
        };
        let entries = describe_broker(&layers, true);
        let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
        let ms = get("log.retention.ms");
        assert_eq!(ms.value.as_deref(), Some("60000"));
        assert_eq!(ms.source, source::DYNAMIC_BROKER_CONFIG);
        let sources: Vec<(&str, i8)> = ms
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.source))
            .collect();
        assert_eq!(
            sources,
            [
                ("log.retention.ms", source::DYNAMIC_BROKER_CONFIG),
                ("log.retention.ms", source::DYNAMIC_DEFAULT_BROKER_CONFIG),
                ("log.retention.hours", source::DEFAULT_CONFIG),
            ]
        );
        let hours = get("log.retention.hours");
        assert_eq!(hours.synonyms.len(), 1);
        assert_eq!(hours.value.as_deref(), Some("168"));
        let minutes = get("log.retention.minutes");
        assert_eq!(
            (minutes.value, minutes.source),
            (None, source::DEFAULT_CONFIG)
        );
        assert!(minutes.read_only && !ms.read_only);
        assert!(
            !entries
                .iter()
                .any(|e| e.name == "producer.id.expiration.check.interval.ms"),
            "internal in Kafka: not described"
        );
        // The cluster-wide resource lists only its own configs, with their own synonyms.
        let defaults = describe_broker(&layers, false);
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].synonyms.len(), 1);
        assert_eq!(defaults[0].source, source::DYNAMIC_DEFAULT_BROKER_CONFIG);
    }

    #[test]
    fn topic_entries_fall_back_to_their_broker_synonyms() {
        let broker_config = BrokerConfig::default();
        let overrides = map(&[("segment.bytes", "2000000")]);
        let mut topic = TopicConfig::new(&broker_config, overrides).unwrap();
        let dynamic = DynamicConfigs {
            cluster: map(&[
                ("message.max.bytes", "2000000"),
                ("log.segment.bytes", "3000000"),
            ]),
            brokers: BTreeMap::from([(1, map(&[("log.retention.ms", "60000")]))]),
        };
        dynamic.apply_to_topic(1, &mut topic);
        assert_eq!(topic.log.retention_ms, 60_000);
        assert_eq!(topic.max_message_bytes, 2_000_000);
        assert_eq!(topic.log.segment_bytes, 2_000_000, "the topic's own wins");
        let layers = Layers {
            broker: dynamic.brokers.get(&1),
            cluster: &dynamic.cluster,
            static_configs: &broker_config.static_configs,
        };
        let entries = describe_topic(&topic, &layers);
        let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
        let segment = get("segment.bytes");
        assert_eq!(segment.source, source::TOPIC_CONFIG);
        assert_eq!(segment.synonyms[1].name, "log.segment.bytes");
        assert_eq!(get("retention.ms").source, source::DYNAMIC_BROKER_CONFIG);
        assert_eq!(get("retention.ms").value.as_deref(), Some("60000"));
        let segment_ms = get("segment.ms");
        assert_eq!(segment_ms.source, source::DEFAULT_CONFIG);
        assert!(
            segment_ms.synonyms.is_empty(),
            "log.roll.hours is not log.roll.ms"
        );
        assert_eq!(get("unclean.leader.election.enable").ty, BOOLEAN);
    }

    #[test]
    fn incremental_ops_follow_kafka() {
        let current = map(&[("retention.ms", "1000")]);
        let ops = [
            ConfigOp {
                name: "cleanup.policy",
                op: op::APPEND,
                value: Some("compact"),
            },
            ConfigOp {
                name: "retention.ms",
                op: op::DELETE,
                value: None,
            },
        ];
        let after = apply_ops(RESOURCE_TOPIC, &current, &ops).unwrap();
        assert_eq!(after, map(&[("cleanup.policy", "delete,compact")]));
        let subtract = [ConfigOp {
            name: "cleanup.policy",
            op: op::SUBTRACT,
            value: Some("delete"),
        }];
        let after = apply_ops(RESOURCE_TOPIC, &after, &subtract).unwrap();
        assert_eq!(after, map(&[("cleanup.policy", "compact")]));
        let bad = [ConfigOp {
            name: "retention.ms",
            op: op::APPEND,
            value: Some("1"),
        }];
        let e = apply_ops(RESOURCE_TOPIC, &current, &bad).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig.code());
        assert_eq!(
            e.message,
            "Can't APPEND to key retention.ms because its type is not LIST."
        );
        let e = apply_ops(RESOURCE_BROKER, &current, &bad).unwrap_err();
        assert_eq!(
            e.message,
            "Config value append is not allowed for config key: retention.ms"
        );
        let unknown = [ConfigOp {
            name: "retention.ms",
            op: 9,
            value: Some("1"),
        }];
        let e = apply_ops(RESOURCE_TOPIC, &current, &unknown).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest.code());
    }

    #[test]
    fn broker_changes_are_checked_as_kafka_checks_them() {
        let config = BrokerConfig::default();
        let check = |id: Option<i32>, pairs: &[(&str, &str)]| {
            check_broker_configs(&config, id, &map(pairs)).map_err(|e| (e.code, e.message))
        };
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(check(Some(1), &[("log.retention.ms", "60000")]), Ok(()));
        assert_eq!(
            check(Some(1), &[("node.id", "5"), ("num.partitions", "2")]),
            Err((
                invalid,
                "Cannot update these configs dynamically: [node.id, num.partitions]".into()
            ))
        );
        assert_eq!(
            check(None, &[("log.retention.ms", "abc")]),
            Err((
                invalid,
                "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            ))
        );
        assert_eq!(
            check(Some(1), &[("log.segment.bytes", "10")]),
            Err((
                invalid,
                "Invalid value 10 for configuration log.segment.bytes: Value must be at least 1048576"
                    .into()
            ))
        );
        assert!(check(Some(1), &[("min.insync.replicas", "2")]).is_err());
        assert_eq!(check(None, &[("min.insync.replicas", "2")]), Ok(()));
        assert!(check(None, &[("max.connections", "10")]).is_err());
        assert!(check(None, &[("foo.bar", "1")]).is_err());
        assert_eq!(resource_broker_id("", 1), Ok(None));
        assert_eq!(resource_broker_id("1", 1), Ok(Some(1)));
        let e = resource_broker_id("2", 1).unwrap_err();
        assert_eq!(
            e.message,
            "Unexpected broker id, expected 1, but received 2"
        );
        assert!(resource_broker_id("x", 1).is_err());
    }
}
