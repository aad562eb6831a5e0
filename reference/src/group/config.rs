//! The group coordinator's settings, by Kafka's broker config names.
//!
//! Kept apart from [`crate::config::BrokerConfig`] so the coordinator can be built and tested
//! alone; [`GroupConfig::set`] accepts exactly the keys listed in [`GroupConfig::KEYS`], so
//! the broker's config parser can hand them over unchanged.
//!
//! # References
//! - `org.apache.kafka.coordinator.group.GroupCoordinatorConfig` (names and defaults)
//! - <https://kafka.apache.org/documentation/#brokerconfigs>

use crate::config::{ConfigError, parse_at_least as parse};

/// Settings of the group coordinator, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: a JoinGroup asking for less is INVALID_SESSION_TIMEOUT.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: a JoinGroup asking for more is INVALID_SESSION_TIMEOUT.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an Empty group
    /// waits for more members; each new member extends it, up to the rebalance timeout.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: members beyond this get GROUP_MAX_SIZE_REACHED.
    pub group_max_size: i32,
    /// `offset.metadata.max.bytes`: longer commit metadata is OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: i32,
    /// `offsets.retention.minutes`, in milliseconds: how long offsets of an Empty group (or
    /// of a group without a protocol) live after the group became Empty / the commit.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// How long a new member's JoinGroup may stay parked before the member is dropped.
    /// A constant in Kafka (`CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS`, 5 minutes).
    pub new_member_join_timeout_ms: i32,
    /// `offsets.topic.replication.factor`: replicas of each `__consumer_offsets` partition in
    /// a cluster. As in Kafka 4, a cluster with fewer brokers cannot create the topic, and
    /// FindCoordinator stays COORDINATOR_NOT_AVAILABLE. A single broker keeps one copy.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms`: how long a group write waits for the replicas of its
    /// `__consumer_offsets` partition before the request fails (COORDINATOR_NOT_AVAILABLE,
    /// Kafka's mapping of REQUEST_TIMED_OUT).
    pub offsets_commit_timeout_ms: i64,
    /// `group.consumer.session.timeout.ms`: a consumer-protocol member (KIP-848) that sends
    /// no ConsumerGroupHeartbeat for this long is fenced from its group.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: the heartbeat interval given to consumer-protocol
    /// members.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: members beyond this get GROUP_MAX_SIZE_REACHED.
    pub consumer_max_size: i32,
    /// `group.consumer.migration.policy`: whether a group with members converts between the
    /// classic and the consumer protocol (`bidirectional`, `upgrade`, `downgrade`,
    /// `disabled`).
    pub consumer_migration_policy: super::MigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offset_metadata_max_bytes: 4_096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
            offsets_retention_check_interval_ms: 600_000,
            new_member_join_timeout_ms: 5 * 60 * 1_000,
            offsets_topic_replication_factor: 3,
            offsets_commit_timeout_ms: 5_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: i32::MAX,
            consumer_migration_policy: super::MigrationPolicy::Bidirectional,
        }
    }
}

impl GroupConfig {
    /// The broker config keys [`GroupConfig::set`] accepts.
    pub const KEYS: &'static [&'static str] = &[
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.initial.rebalance.delay.ms",
        "group.max.size",
        "offset.metadata.max.bytes",
        "offsets.retention.minutes",
        "offsets.retention.check.interval.ms",
        "offsets.topic.replication.factor",
        "offsets.commit.timeout.ms",
        "group.consumer.session.timeout.ms",
        "group.consumer.heartbeat.interval.ms",
        "group.consumer.max.size",
        "group.consumer.migration.policy",
    ];

    /// Sets one broker config by its Kafka name. `Ok(false)` means the key is not a group
    /// coordinator config (the caller tries its own keys); a bad value is an error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "group.min.session.timeout.ms" => {
                self.group_min_session_timeout_ms = parse(key, value, 0)?
            }
            "group.max.session.timeout.ms" => {
                self.group_max_session_timeout_ms = parse(key, value, 0)?
            }
            "group.initial.rebalance.delay.ms" => {
                self.group_initial_rebalance_delay_ms = parse(key, value, 0)?
            }
            "group.max.size" => self.group_max_size = parse(key, value, 1)?,
            "offset.metadata.max.bytes" => self.offset_metadata_max_bytes = parse(key, value, 0)?,
            "offsets.retention.minutes" => {
                self.offsets_retention_ms = parse::<i64>(key, value, 1)?.saturating_mul(60_000)
            }
            "offsets.retention.check.interval.ms" => {
                self.offsets_retention_check_interval_ms = parse(key, value, 1)?
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor = parse(key, value, 1)?
            }
            "offsets.commit.timeout.ms" => self.offsets_commit_timeout_ms = parse(key, value, 1)?,
            "group.consumer.session.timeout.ms" => {
                self.consumer_session_timeout_ms = parse(key, value, 1)?
            }
            "group.consumer.heartbeat.interval.ms" => {
                self.consumer_heartbeat_interval_ms = parse(key, value, 1)?
            }
            "group.consumer.max.size" => self.consumer_max_size = parse(key, value, 1)?,
            "group.consumer.migration.policy" => {
                self.consumer_migration_policy =
                    super::MigrationPolicy::parse(value).ok_or_else(|| {
                        ConfigError(format!(
                            "Invalid value {value} for configuration {key}: String must be one \
                             of (case insensitive): DISABLED, DOWNGRADE, UPGRADE, BIDIRECTIONAL"
                        ))
                    })?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
