//! Broker and topic configuration, by Kafka's own names.
//!
//! Only configs the reference really honours are accepted: an unknown broker config is a
//! start-up error, and an unknown or invalid topic config is INVALID_CONFIG. A config that is
//! accepted but silently ignored would make the spec lie.
//!
//! Topic configs default to the broker's `log.*` settings, exactly as Kafka derives them
//! (`retention.ms` from `log.retention.ms`, `segment.bytes` from `log.segment.bytes`, ...).
//!
//! # References
//! - Broker configs: <https://kafka.apache.org/documentation/#brokerconfigs>
//! - Topic configs: <https://kafka.apache.org/documentation/#topicconfigs>
//! - KIP-1030 (4.x: `segment.bytes` at least 1 MiB)

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::group::GroupConfig;
use crate::log::LogConfig;

/// Kafka 4.x: `segment.bytes` / `log.segment.bytes` must be at least 1 MiB (KIP-1030).
pub const MIN_SEGMENT_BYTES: u64 = 1024 * 1024;

/// A config that could not be accepted, with a message for the client or the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Settings of one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// `num.partitions`: partitions of a topic created without a count.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub socket_request_max_bytes: i32,
    /// `queued.max.request.bytes`: bytes all connections together may hold in requests being
    /// read or handled; -1 (or 0) unbounded. See [`DEFAULT_QUEUED_MAX_REQUEST_BYTES`].
    pub queued_max_request_bytes: i64,
    /// `connections.max.idle.ms`: a connection that sends no complete request for this long
    /// is closed, half-sent frames included; -1 never.
    pub connections_max_idle_ms: i64,
    /// `max.connections`: open connections to this broker. See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: i32,
    /// `max.connections.per.ip` (Kafka's default, unbounded: every local client and every
    /// broker of an in-process cluster shares 127.0.0.1).
    pub max_connections_per_ip: i32,
    /// `max.connections.per.ip.overrides`: `host:count,host:count`, hosts resolved at start.
    pub max_connections_per_ip_overrides: BTreeMap<IpAddr, i32>,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: a producer id not heard from for this long is forgotten
    /// by every partition it wrote to (its next batch may start at any sequence).
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`: how often that is checked.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `min.insync.replicas` default for topics.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: a cluster may elect a replica that is not in sync
    /// (and lose acknowledged records) rather than leave a partition without a leader.
    pub unclean_leader_election_enable: bool,
    /// `message.max.bytes`: default `max.message.bytes` of topics.
    pub message_max_bytes: i32,
    /// `fetch.max.bytes`: the most record bytes one Fetch response carries, whatever the
    /// request's `max_bytes` (the first batch still comes whole if it is larger, KIP-74).
    pub fetch_max_bytes: i32,
    /// Defaults for every topic's log (`log.retention.ms`, `log.segment.bytes`, ...).
    pub log_defaults: LogConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// The group coordinator's configs (`group.*`, `offsets.retention.*`, ...).
    pub group: GroupConfig,
    /// The transaction coordinator's configs (`transaction.*`, `transactional.id.*`;
    /// its `offsets_topic_num_partitions` follows `offsets.topic.num.partitions`).
    pub transaction: crate::txn::TransactionConfig,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr`.
    pub transaction_state_log_min_isr: i32,
    /// The `key=value` pairs the broker was started with (`node.id` included), by name:
    /// DescribeConfigs reports them as STATIC_BROKER_CONFIG.
    pub static_configs: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            queued_max_request_bytes: DEFAULT_QUEUED_MAX_REQUEST_BYTES,
            connections_max_idle_ms: 600_000,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: i32::MAX,
            max_connections_per_ip_overrides: BTreeMap::new(),
            log_retention_check_interval_ms: 5 * 60 * 1000,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
            producer_id_expiration_check_interval_ms: 10 * 60 * 1000,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            message_max_bytes: 1024 * 1024 + 12,
            fetch_max_bytes: 55 * 1024 * 1024,
            log_defaults: LogConfig::default(),
            offsets_topic_num_partitions: 50,
            group: GroupConfig::default(),
            transaction: crate::txn::TransactionConfig::default(),
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: 2,
            static_configs: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// Builds a config from `key=value` pairs with Kafka's broker config names.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        let mut queued_set = false;
        for (key, value) in pairs {
            queued_set |= key.trim() == "queued.max.request.bytes";
            config.set(key.trim(), value.trim())?;
            config
                .static_configs
                .insert(key.trim().to_string(), value.trim().to_string());
        }
        config.check_connection_configs(queued_set)?;
        Ok(config)
    }

    /// Sets one broker config by its Kafka name (a dynamic change is checked with it too).
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let log = &mut self.log_defaults;
        match key {
            "node.id" => self.node_id = parse_at_least(key, value, 0)?,
            "num.partitions" => self.num_partitions = parse_at_least(key, value, 1)?,
            "default.replication.factor" => {
                self.default_replication_factor = parse_at_least(key, value, 1)?
            }
            "auto.create.topics.enable" => self.auto_create_topics_enable = parse_bool(key, value)?,
            "socket.request.max.bytes" => {
                self.socket_request_max_bytes = parse_at_least(key, value, 1)?
            }
            "queued.max.request.bytes"
            | "connections.max.idle.ms"
            | "max.connections"
            | "max.connections.per.ip"
            | "max.connections.per.ip.overrides" => self.set_connection_config(key, value)?,
            "log.retention.check.interval.ms" => {
                self.log_retention_check_interval_ms = parse_at_least(key, value, 1)?
            }
            "producer.id.expiration.ms" => {
                self.producer_id_expiration_ms = parse_at_least(key, value, 1)?
            }
            "producer.id.expiration.check.interval.ms" => {
                self.producer_id_expiration_check_interval_ms = parse_at_least(key, value, 1)?
            }
            "min.insync.replicas" => self.min_insync_replicas = parse_at_least(key, value, 1)?,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = parse_bool(key, value)?
            }
            "message.max.bytes" => self.message_max_bytes = parse_at_least(key, value, 0)?,
            // Kafka: INT, default 57671680, `atLeast(1024)`.
            "fetch.max.bytes" => self.fetch_max_bytes = parse_at_least(key, value, 1024)?,
            "log.retention.ms" => log.retention_ms = parse_at_least(key, value, -1)?,
            "log.retention.minutes" => {
                log.retention_ms = parse_at_least::<i64>(key, value, -1)?.saturating_mul(60_000)
            }
            "log.retention.hours" => {
                log.retention_ms = parse_at_least::<i64>(key, value, -1)?.saturating_mul(3_600_000)
            }
            "log.retention.bytes" => log.retention_bytes = parse_at_least(key, value, -1)?,
            "log.segment.bytes" => {
                log.segment_bytes = parse_at_least(key, value, MIN_SEGMENT_BYTES)?
            }
            "log.roll.ms" => log.segment_ms = parse_at_least(key, value, 1)?,
            "log.roll.hours" => {
                log.segment_ms = parse_at_least::<i64>(key, value, 1)?.saturating_mul(3_600_000)
            }
            "log.index.interval.bytes" => log.index_interval_bytes = parse_at_least(key, value, 0)?,
            "log.index.size.max.bytes" => log.segment_index_bytes = parse_at_least(key, value, 4)?,
            "log.message.timestamp.type" => log.log_append_time = parse_timestamp_type(key, value)?,
            "log.cleanup.policy" => parse_cleanup_policy(key, value)?,
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions = parse_at_least(key, value, 1)?
            }
            "transaction.state.log.num.partitions"
            | "transaction.state.log.replication.factor"
            | "transaction.state.log.min.isr"
            | "transaction.max.timeout.ms"
            | "transactional.id.expiration.ms"
            | "transaction.abort.timed.out.transaction.cleanup.interval.ms"
            | "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                self.set_transaction_config(key, value)?
            }
            _ => {
                if !self.group.set(key, value)? {
                    return Err(ConfigError(format!(
                        "unknown or unsupported broker config `{key}`"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl BrokerConfig {
    /// The transaction coordinator's configs, with Kafka's names and lower bounds.
    fn set_transaction_config(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let txn = &mut self.transaction;
        match key {
            "transaction.state.log.num.partitions" => {
                txn.transaction_state_log_num_partitions = parse_at_least(key, value, 1)?
            }
            "transaction.state.log.replication.factor" => {
                self.transaction_state_log_replication_factor = parse_at_least(key, value, 1)?
            }
            "transaction.state.log.min.isr" => {
                self.transaction_state_log_min_isr = parse_at_least(key, value, 1)?
            }
            "transaction.max.timeout.ms" => {
                txn.transaction_max_timeout_ms = parse_at_least(key, value, 1)?
            }
            "transactional.id.expiration.ms" => {
                txn.transactional_id_expiration_ms = parse_at_least(key, value, 1)?
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                txn.abort_timed_out_transaction_cleanup_interval_ms = parse_at_least(key, value, 1)?
            }
            "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                txn.remove_expired_transaction_cleanup_interval_ms = parse_at_least(key, value, 1)?
            }
            _ => return Err(ConfigError(format!("unknown transaction config `{key}`"))),
        }
        Ok(())
    }
}

/// Default `queued.max.request.bytes`: 256 MiB (or `socket.request.max.bytes` if larger).
/// Kafka's default is -1 (unbounded), which leaves `max.connections` x
/// `socket.request.max.bytes` as the only bound: terabytes. 256 MiB still admits two
/// requests of the default 100 MiB `socket.request.max.bytes` at once beside hundreds of
/// ordinary ones (producers send at most `max.request.size`, 1 MiB by default), and is memory
/// any machine that runs a test broker can spare.
pub const DEFAULT_QUEUED_MAX_REQUEST_BYTES: i64 = 256 * 1024 * 1024;

/// Default `max.connections`. Kafka's is `Integer.MAX_VALUE`, which leaves the process's
/// descriptor limit as the bound, and running out of descriptors breaks far more than new
/// connections (segment files, the log directory). 4,096 stays well under common limits
/// even for a 3-broker in-process cluster (12,288 of this project's 20,000), leaving room
/// for files; a connection over it is closed at once, and idle ones are closed after
/// `connections.max.idle.ms`, so idle clients cannot hold the slots for ever.
pub const DEFAULT_MAX_CONNECTIONS: i32 = 4096;

impl BrokerConfig {
    /// The connection limits, by Kafka's names.
    fn set_connection_config(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "queued.max.request.bytes" => {
                self.queued_max_request_bytes = parse_at_least(key, value, -1)?
            }
            "connections.max.idle.ms" => {
                let ms = parse_at_least(key, value, -1)?;
                if ms == 0 {
                    return Err(ConfigError(format!(
                        "Invalid value {value} for configuration {key}: Value must be -1 (never) or at least 1"
                    )));
                }
                self.connections_max_idle_ms = ms;
            }
            "max.connections" => self.max_connections = parse_at_least(key, value, 0)?,
            "max.connections.per.ip" => {
                self.max_connections_per_ip = parse_at_least(key, value, 0)?
            }
            "max.connections.per.ip.overrides" => {
                self.max_connections_per_ip_overrides = parse_per_ip_overrides(key, value)?
            }
            _ => return Err(ConfigError(format!("unknown connection config `{key}`"))),
        }
        Ok(())
    }

    /// Kafka's cross-checks of the connection configs (`KafkaConfig.validateValues`).
    fn check_connection_configs(&mut self, queued_set: bool) -> Result<(), ConfigError> {
        let max_frame = i64::from(self.socket_request_max_bytes);
        if !queued_set {
            self.queued_max_request_bytes = self.queued_max_request_bytes.max(max_frame);
        }
        if self.queued_max_request_bytes > 0 && self.queued_max_request_bytes < max_frame {
            return Err(ConfigError(
                "queued.max.request.bytes must be larger or equal to socket.request.max.bytes"
                    .into(),
            ));
        }
        if self.max_connections_per_ip == 0 && self.max_connections_per_ip_overrides.is_empty() {
            return Err(ConfigError(
                "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set."
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Parses Kafka's `host:count,host:count`. A host is an IP address (IPv6 with or without
/// brackets) or a name, resolved once here as Kafka resolves it when the broker starts.
fn parse_per_ip_overrides(key: &str, value: &str) -> Result<BTreeMap<IpAddr, i32>, ConfigError> {
    let mut overrides = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let invalid = || ConfigError(format!("{key} contains invalid addresses : {entry}"));
        let (host, count) = entry.rsplit_once(':').ok_or_else(invalid)?;
        let count: i32 = parse_at_least(key, count, 0)?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) if is_host_name(host) => {
                use std::net::ToSocketAddrs;
                (host, 0)
                    .to_socket_addrs()
                    .map_err(|e| ConfigError(format!("{key}: cannot resolve {host}: {e}")))?
                    .map(|a| a.ip())
                    .collect()
            }
            Err(_) => return Err(invalid()),
        };
        for ip in ips {
            overrides.insert(ip.to_canonical(), count);
        }
    }
    Ok(overrides)
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A topic's own settings: the log's, plus those the produce path checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub log: LogConfig,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: i32,
    /// `min.insync.replicas`: with acks=all, fewer in-sync replicas is NOT_ENOUGH_REPLICAS.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (the controller elects; with one broker there is no other replica to elect).
    pub unclean_leader_election_enable: bool,
    /// The configs set explicitly on the topic (DescribeConfigs reports them as
    /// DYNAMIC_TOPIC_CONFIG; the rest come from the broker).
    pub overrides: BTreeMap<String, String>,
}

/// The topic configs the reference honours, in the order DescribeConfigs lists them.
pub const TOPIC_CONFIG_NAMES: &[&str] = &[
    "cleanup.policy",
    "index.interval.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.ms",
    "unclean.leader.election.enable",
];

impl TopicConfig {
    /// The broker's defaults with `overrides` (topic config names) applied.
    pub fn new(
        broker: &BrokerConfig,
        overrides: BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut config = TopicConfig {
            log: broker.log_defaults.clone(),
            max_message_bytes: broker.message_max_bytes,
            min_insync_replicas: broker.min_insync_replicas,
            unclean_leader_election_enable: broker.unclean_leader_election_enable,
            overrides: BTreeMap::new(),
        };
        for (key, value) in &overrides {
            config.set(key, value)?;
        }
        config.overrides = overrides;
        Ok(config)
    }

    /// Sets one topic config by its Kafka name.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let log = &mut self.log;
        match key {
            "cleanup.policy" => parse_cleanup_policy(key, value)?,
            "index.interval.bytes" => log.index_interval_bytes = parse_at_least(key, value, 0)?,
            "max.message.bytes" => self.max_message_bytes = parse_at_least(key, value, 0)?,
            "message.timestamp.type" => log.log_append_time = parse_timestamp_type(key, value)?,
            "min.insync.replicas" => self.min_insync_replicas = parse_at_least(key, value, 1)?,
            "retention.bytes" => log.retention_bytes = parse_at_least(key, value, -1)?,
            "retention.ms" => log.retention_ms = parse_at_least(key, value, -1)?,
            "segment.bytes" => log.segment_bytes = parse_at_least(key, value, MIN_SEGMENT_BYTES)?,
            "segment.index.bytes" => log.segment_index_bytes = parse_at_least(key, value, 4)?,
            "segment.ms" => log.segment_ms = parse_at_least(key, value, 1)?,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = parse_bool(key, value)?
            }
            _ => return Err(ConfigError(format!("Unknown topic config name: {key}"))),
        }
        Ok(())
    }

    /// The value in force for `name` and whether it was set on the topic itself.
    pub fn value_of(&self, name: &str) -> Option<(String, bool)> {
        if let Some(v) = self.overrides.get(name) {
            return Some((v.clone(), true));
        }
        let log = &self.log;
        let value = match name {
            "cleanup.policy" => "delete".to_string(),
            "index.interval.bytes" => log.index_interval_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => timestamp_type_name(log.log_append_time).to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "retention.bytes" => log.retention_bytes.to_string(),
            "retention.ms" => log.retention_ms.to_string(),
            "segment.bytes" => log.segment_bytes.to_string(),
            "segment.index.bytes" => log.segment_index_bytes.to_string(),
            "segment.ms" => log.segment_ms.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            _ => return None,
        };
        Some((value, false))
    }
}

/// `cleanup.policy` / `log.cleanup.policy`: a list of `delete` and `compact`; the reference
/// deletes only (compaction is not implemented), so anything else is refused.
fn parse_cleanup_policy(key: &str, value: &str) -> Result<(), ConfigError> {
    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if policies.iter().all(|p| *p == "delete") {
        return Ok(());
    }
    if let Some(bad) = policies
        .iter()
        .find(|p| !matches!(**p, "delete" | "compact"))
    {
        return Err(ConfigError(format!(
            "Invalid value {bad} for configuration {key}: String must be one of: compact, delete"
        )));
    }
    Err(ConfigError(format!(
        "{key}={value} is not supported by the reference broker (only delete)"
    )))
}

fn timestamp_type_name(log_append_time: bool) -> &'static str {
    if log_append_time {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

fn parse_timestamp_type(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(false),
        "LogAppendTime" => Ok(true),
        _ => Err(ConfigError(format!(
            "Invalid value {value} for configuration {key}: String must be one of: CreateTime, LogAppendTime"
        ))),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError(format!(
            "Invalid value {value} for configuration {key}: Expected value to be either true or false"
        ))),
    }
}

/// A number type of a config, with Kafka's name for it (`ConfigDef.Type`).
pub(crate) trait ConfigNumber:
    std::str::FromStr + PartialOrd + std::fmt::Display + Copy
{
    const KAFKA_TYPE: &'static str;
}

impl ConfigNumber for i16 {
    const KAFKA_TYPE: &'static str = "SHORT";
}
impl ConfigNumber for i32 {
    const KAFKA_TYPE: &'static str = "INT";
}
impl ConfigNumber for i64 {
    const KAFKA_TYPE: &'static str = "LONG";
}
impl ConfigNumber for u64 {
    const KAFKA_TYPE: &'static str = "LONG";
}

/// Parses a number config that must be at least `min`, with Kafka's error wording
/// (`ConfigDef.parseType`, `ConfigDef.Range.atLeast`).
pub(crate) fn parse_at_least<T: ConfigNumber>(
    key: &str,
    value: &str,
    min: T,
) -> Result<T, ConfigError> {
    let parsed: T = value.trim().parse().map_err(|_| {
        ConfigError(format!(
            "Invalid value {value} for configuration {key}: Not a number of type {}",
            T::KAFKA_TYPE
        ))
    })?;
    if parsed < min {
        return Err(ConfigError(format!(
            "Invalid value {value} for configuration {key}: Value must be at least {min}"
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_configs_default_to_broker_log_settings() {
        let broker =
            BrokerConfig::from_pairs([("log.retention.ms", "1000"), ("num.partitions", "3")])
                .unwrap();
        assert_eq!(broker.num_partitions, 3);
        let topic = TopicConfig::new(&broker, BTreeMap::new()).unwrap();
        assert_eq!(topic.log.retention_ms, 1000);
        assert_eq!(topic.value_of("retention.ms"), Some(("1000".into(), false)));
    }

    #[test]
    fn overrides_are_reported_as_set_on_the_topic() {
        let broker = BrokerConfig::default();
        let overrides = BTreeMap::from([("retention.bytes".to_string(), "2048".to_string())]);
        let topic = TopicConfig::new(&broker, overrides).unwrap();
        assert_eq!(topic.log.retention_bytes, 2048);
        assert_eq!(
            topic.value_of("retention.bytes"),
            Some(("2048".into(), true))
        );
    }

    #[test]
    fn bad_configs_are_rejected_with_kafka_style_messages() {
        let broker = BrokerConfig::default();
        for (key, value) in [
            ("segment.bytes", "1000"),
            ("retention.ms", "-2"),
            ("cleanup.policy", "compact"),
            ("no.such.config", "1"),
            ("max.message.bytes", "lots"),
        ] {
            let overrides = BTreeMap::from([(key.to_string(), value.to_string())]);
            assert!(
                TopicConfig::new(&broker, overrides).is_err(),
                "{key}={value} accepted"
            );
        }
        assert!(BrokerConfig::from_pairs([("log.segment.bytes", "10")]).is_err());
        assert!(BrokerConfig::from_pairs([("no.such", "1")]).is_err());
    }
}
