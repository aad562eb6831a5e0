//! The broker's synchronous state: its topics, their partitions and the partition logs.
//!
//! API handlers lock this state briefly, act on it with an explicit `now_ms`, and unlock
//! before any `.await`; all waiting (fetch long polls, timers) happens outside it. Failures
//! clients must see are Kafka error codes ([`KafkaError`]), carried as data.
//!
//! On disk (when a data directory is given) the layout follows Kafka's: one directory per
//! partition named `<topic>-<partition>` holding the segments, plus a small
//! `<topic>.topic` file per topic under `__topics/` recording its id, partition count and
//! configs (Kafka keeps those in the KRaft metadata log; a single node needs only this).
//!
//! - Every file name fits the file system's 255 bytes for Kafka's longest topic name (249
//!   characters): `<topic>-<partition>` (Kafka's own rule, up to 99,999 partitions) and
//!   `<topic>.topic` (255); the `.topic` file is written through `<topic id>.topic.tmp`, never
//!   `<topic>.topic.tmp`. Nothing is renamed to `-delete` or `-future` names: a deleted topic's
//!   directories are removed at once.
//! - A creation (CreateTopics, auto-creation, CreatePartitions) that cannot make one of its
//!   partitions' directories or files removes the directories it made and answers
//!   KAFKA_STORAGE_ERROR: no orphan directory, no half-created topic to reload at the next start.
//! - Partition logs hold no descriptors of their own (see [`crate::log::OpenFiles`]), so the
//!   number of partitions is not bounded by the process's descriptor limit.
//!
//! # References
//! - `kafka.server.ReplicaManager`, `kafka.log.LogManager` (what lives where)
//! - `org.apache.kafka.common.internals.Topic` (topic name rules)

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::config::{BrokerConfig, TopicConfig};
use crate::controller::{EXCESSIVE_BATCH_MESSAGE, MAX_RECORDS_PER_USER_OP};
use crate::log::{Log, LogError};

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A Kafka error code with the message Kafka would send beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: i16,
    pub message: String,
}

impl KafkaError {
    pub fn new(error: ResponseError, message: impl Into<String>) -> KafkaError {
        KafkaError {
            code: error.code(),
            message: message.into(),
        }
    }
}

/// Failures to open the broker's storage at start-up.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("data directory {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("partition log {path}: {source}")]
    Log { path: PathBuf, source: LogError },
    #[error("topic file {path}: {reason}")]
    TopicFile { path: PathBuf, reason: String },
}

/// One topic: its id, configs and one log per partition.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<Log>,
}

/// What a topic creation made (or, validating only, would make).
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    pub config: TopicConfig,
}

/// Everything one broker holds.
pub struct BrokerCore {
    pub config: BrokerConfig,
    pub cluster_id: String,
    data_dir: Option<PathBuf>,
    topics: BTreeMap<String, Topic>,
    topic_names_by_id: HashMap<Uuid, String>,
    /// Topics whose names hold `.` or `_`, by the name with every `.` read as `_`: the
    /// collision check of a new name is one lookup, not a walk over every topic (Kafka's
    /// `topicsWithCollisionChars`).
    topics_by_unified_name: HashMap<String, String>,
}

impl BrokerCore {
    /// Opens the broker's state: in memory when `data_dir` is `None`, else recovering every
    /// topic and partition log found there.
    pub fn open(
        config: BrokerConfig,
        data_dir: Option<&Path>,
        now_ms: i64,
    ) -> Result<BrokerCore, BrokerError> {
        let mut core = BrokerCore {
            config,
            cluster_id: String::new(),
            data_dir: data_dir.map(Path::to_path_buf),
            topics: BTreeMap::new(),
            topic_names_by_id: HashMap::new(),
            topics_by_unified_name: HashMap::new(),
        };
        match data_dir {
            None => core.cluster_id = new_cluster_id(),
            Some(dir) => {
                core.cluster_id = load_or_create_cluster_id(dir)?;
                core.load_topics(dir, now_ms)?;
            }
        }
        Ok(core)
    }

    fn load_topics(&mut self, dir: &Path, now_ms: i64) -> Result<(), BrokerError> {
        let topics_dir = dir.join("__topics");
        let entries = match fs::read_dir(&topics_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(BrokerError::Io {
                    path: topics_dir,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| BrokerError::Io {
                path: topics_dir.clone(),
                source,
            })?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("topic") {
                if path
                    .to_str()
                    .is_some_and(|p| p.ends_with(TOPIC_FILE_TMP_SUFFIX))
                {
                    // A write a crash cut short: the `.topic` file it was to replace stands.
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            let stored = StoredTopic::read(&path)?;
            let config = TopicConfig::new(&self.config, stored.overrides).map_err(|e| {
                BrokerError::TopicFile {
                    path: path.clone(),
                    reason: e.0,
                }
            })?;
            let mut partitions = Vec::with_capacity(stored.partitions as usize);
            for p in 0..stored.partitions {
                let log_dir = dir.join(format!("{}-{p}", stored.name));
                let log = Log::open(&log_dir, config.log.clone(), now_ms).map_err(|source| {
                    BrokerError::Log {
                        path: log_dir,
                        source,
                    }
                })?;
                partitions.push(log);
            }
            tracing::info!(topic = %stored.name, partitions = stored.partitions, "loaded topic");
            self.topic_names_by_id
                .insert(stored.id, stored.name.clone());
            if let Some(unified) = unified_name(&stored.name) {
                self.topics_by_unified_name
                    .insert(unified, stored.name.clone());
            }
            self.topics.insert(
                stored.name.clone(),
                Topic {
                    name: stored.name,
                    id: stored.id,
                    config,
                    partitions,
                },
            );
        }
        Ok(())
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    pub fn topic_mut(&mut self, name: &str) -> Option<&mut Topic> {
        self.topics.get_mut(name)
    }

    pub fn topic_name_by_id(&self, id: Uuid) -> Option<&str> {
        self.topic_names_by_id.get(&id).map(String::as_str)
    }

    /// The log of one partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition_mut(&mut self, topic: &str, partition: i32) -> Result<&mut Log, KafkaError> {
        self.topics
            .get_mut(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|p| t.partitions.get_mut(p))
            })
            .ok_or_else(unknown_topic_or_partition)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<&Log, KafkaError> {
        self.topics
            .get(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|p| t.partitions.get(p))
            })
            .ok_or_else(unknown_topic_or_partition)
    }

    /// Creates a topic as CreateTopics (or auto-creation) asks. `partitions` and
    /// `replication_factor` of -1 mean the broker defaults.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<CreatedTopic, KafkaError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(KafkaError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        if let Some(unified) = unified_name(name) {
            let colliding = self.topics_by_unified_name.get(&unified);
            check_topic_collision(name, colliding.map(String::as_str))?;
        }
        let partitions = self.new_partition_count(partitions)?;
        let rf = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        self.check_replication_factor(rf)?;
        let config = TopicConfig::new(&self.config, overrides)
            .map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e.0))?;
        if config.min_insync_replicas < 1 {
            return Err(KafkaError::new(
                ResponseError::InvalidConfig,
                "min.insync.replicas below 1",
            ));
        }
        let id = Uuid::new_v4();
        let created = CreatedTopic {
            id,
            partitions,
            replication_factor: rf,
            config: config.clone(),
        };
        if validate_only {
            return Ok(created);
        }
        let logs = self.open_partition_logs(name, 0..partitions, &config, now_ms)?;
        let topic = Topic {
            name: name.to_string(),
            id,
            config,
            partitions: logs,
        };
        if let Err(e) = self.persist_topic(&topic) {
            delete_logs(name, topic.partitions);
            return Err(e);
        }
        tracing::info!(topic = name, partitions, "created topic");
        self.topic_names_by_id.insert(id, name.to_string());
        if let Some(unified) = unified_name(name) {
            self.topics_by_unified_name
                .insert(unified, name.to_string());
        }
        self.topics.insert(name.to_string(), topic);
        Ok(created)
    }

    /// The partition count of a new topic (-1: `num.partitions`), or why it cannot be: not
    /// positive, or more records than one operation may write (a TopicRecord and a
    /// PartitionRecord each, `MAX_RECORDS_PER_USER_OP`).
    fn new_partition_count(&self, partitions: i32) -> Result<i32, KafkaError> {
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err(KafkaError::new(
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        if partitions as usize + 1 > MAX_RECORDS_PER_USER_OP {
            return Err(KafkaError::new(
                ResponseError::PolicyViolation,
                EXCESSIVE_BATCH_MESSAGE,
            ));
        }
        Ok(partitions)
    }

    fn check_replication_factor(&self, rf: i16) -> Result<(), KafkaError> {
        if rf < 1 {
            return Err(KafkaError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        // One broker: a larger factor cannot be placed.
        if rf > 1 {
            return Err(KafkaError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                ),
            ));
        }
        Ok(())
    }

    /// Opens (creating) the logs of partitions `range` of topic `name`. When one cannot be
    /// made, the directories this call made are removed again, so that a failed creation
    /// leaves nothing behind (the topic is not half-created), and the error is
    /// KAFKA_STORAGE_ERROR.
    fn open_partition_logs(
        &self,
        name: &str,
        range: std::ops::Range<i32>,
        config: &TopicConfig,
        now_ms: i64,
    ) -> Result<Vec<Log>, KafkaError> {
        let Some(dir) = &self.data_dir else {
            let logs = range.map(|_| Log::in_memory(config.log.clone(), now_ms));
            return Ok(logs.collect());
        };
        let mut logs = Vec::with_capacity(range.len());
        for p in range {
            let log_dir = dir.join(format!("{name}-{p}"));
            let existed = log_dir.exists();
            match Log::open(&log_dir, config.log.clone(), now_ms) {
                Ok(log) => logs.push(log),
                Err(e) => {
                    if !existed {
                        remove_partition_dir(&log_dir);
                    }
                    delete_logs(name, logs);
                    return Err(storage_error(e));
                }
            }
        }
        Ok(logs)
    }

    fn persist_topic(&self, topic: &Topic) -> Result<(), KafkaError> {
        let Some(dir) = &self.data_dir else {
            return Ok(());
        };
        let stored = StoredTopic {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            overrides: topic.config.overrides.clone(),
        };
        stored
            .write(dir)
            .map_err(|e| storage_error(LogError::Io(e)))
    }

    /// Grows a topic to `count` partitions (CreatePartitions). Shrinking is refused.
    pub fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<(), KafkaError> {
        let Some(topic) = self.topics.get(name) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
        };
        let current = topic.partitions.len() as i32;
        if count < current {
            return Err(KafkaError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "The topic {name} currently has {current} partition(s); {count} would not be an increase."
                ),
            ));
        }
        if count == current {
            return Err(KafkaError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {current} partition(s)."),
            ));
        }
        if (count - current) as usize > MAX_RECORDS_PER_USER_OP {
            return Err(KafkaError::new(
                ResponseError::PolicyViolation,
                EXCESSIVE_BATCH_MESSAGE,
            ));
        }
        if validate_only {
            return Ok(());
        }
        let config = topic.config.clone();
        let logs = self.open_partition_logs(name, current..count, &config, now_ms)?;
        let topic = self.topics.get_mut(name).expect("checked above");
        topic.partitions.extend(logs);
        let topic = self.topics.get(name).expect("checked above");
        if let Err(e) = self.persist_topic(topic) {
            // The topic keeps the partitions it had, on disk as in memory.
            let topic = self.topics.get_mut(name).expect("checked above");
            let added = topic.partitions.split_off(current as usize);
            delete_logs(name, added);
            return Err(e);
        }
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Deletes a topic and its logs (DeleteTopics).
    pub fn delete_topic(&mut self, name: &str) -> Result<Uuid, KafkaError> {
        let topic = self
            .topics
            .remove(name)
            .ok_or_else(unknown_topic_or_partition)?;
        self.topic_names_by_id.remove(&topic.id);
        if let Some(unified) = unified_name(name)
            && self
                .topics_by_unified_name
                .get(&unified)
                .map(String::as_str)
                == Some(name)
        {
            self.topics_by_unified_name.remove(&unified);
        }
        if let Some(dir) = &self.data_dir {
            let _ = fs::remove_file(dir.join("__topics").join(format!("{name}.topic")));
        }
        for log in topic.partitions {
            if let Err(e) = log.delete() {
                tracing::warn!(topic = name, error = %e, "could not delete a partition's files");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Runs retention on every partition; returns the number of segments deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for topic in self.topics.values_mut() {
            for (p, log) in topic.partitions.iter_mut().enumerate() {
                match log.apply_retention(now_ms) {
                    Ok(n) => deleted += n,
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p, error = %e, "retention failed")
                    }
                }
            }
        }
        deleted
    }

    /// Flushes every log (clean shutdown).
    pub fn flush_all(&mut self) {
        for topic in self.topics.values_mut() {
            for (p, log) in topic.partitions.iter_mut().enumerate() {
                if let Err(e) = log.flush() {
                    tracing::warn!(topic = %topic.name, partition = p, error = %e, "flush failed");
                }
            }
        }
    }
}

/// Kafka's topic name rules: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), KafkaError> {
    let invalid = |why: String| Err(KafkaError::new(ResponseError::InvalidTopicException, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka's `.`/`_` collision rule for a new topic (`Topic.hasCollisionChars` and
/// `unifyCollisionChars`, checked in `ReplicationControlManager.validateNewTopicNames`): a
/// name equal to an existing topic's once every `.` reads as `_` is INVALID_TOPIC_EXCEPTION,
/// as both topics would have the same metric names. `existing` excludes `name` itself (an
/// existing name is TOPIC_ALREADY_EXISTS first).
pub fn check_topic_collision<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<(), KafkaError> {
    let unify = |n: &str| n.replace('.', "_");
    let has_collision_chars = |n: &str| n.contains('.') || n.contains('_');
    if !has_collision_chars(name) {
        return Ok(());
    }
    let unified = unify(name);
    match existing
        .into_iter()
        .find(|other| has_collision_chars(other) && unify(other) == unified)
    {
        Some(other) => Err(KafkaError::new(
            ResponseError::InvalidTopicException,
            format!("Topic '{name}' collides with existing topic: {other}"),
        )),
        None => Ok(()),
    }
}

/// The name with every `.` read as `_`, for names that hold either (`Topic.unifyCollisionChars`).
fn unified_name(name: &str) -> Option<String> {
    (name.contains('.') || name.contains('_')).then(|| name.replace('.', "_"))
}

pub fn unknown_topic_or_partition() -> KafkaError {
    KafkaError::new(
        ResponseError::UnknownTopicOrPartition,
        "This server does not host this topic-partition.",
    )
}

/// Deletes the logs of a topic creation that failed (their directories go with them).
fn delete_logs(topic: &str, logs: Vec<Log>) {
    for log in logs {
        if let Err(e) = log.delete() {
            tracing::warn!(topic, error = %e, "could not remove a partition's files");
        }
    }
}

/// Removes a partition directory a failed creation made (a missing one is fine).
fn remove_partition_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a partition directory");
        }
        _ => {}
    }
}

fn storage_error(e: LogError) -> KafkaError {
    tracing::error!(error = %e, "storage error");
    KafkaError::new(ResponseError::KafkaStorageError, e.to_string())
}

pub(crate) fn new_cluster_id() -> String {
    // Kafka's cluster ids are 22-character URL-safe base64 UUIDs; a hex UUID serves the
    // same purpose and clients treat it as opaque.
    Uuid::new_v4().simple().to_string()
}

pub(crate) fn load_or_create_cluster_id(dir: &Path) -> Result<String, BrokerError> {
    load_or_create_cluster_id_as(dir, &new_cluster_id())
}

/// The `cluster.id` in `dir/meta.properties`, written as `new_id` if there is none.
fn load_or_create_cluster_id_as(dir: &Path, new_id: &str) -> Result<String, BrokerError> {
    let io_err = |source| BrokerError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_err)?;
    let path = dir.join("meta.properties");
    match fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .map(|s| s.trim().to_string())
            .ok_or_else(|| BrokerError::TopicFile {
                path,
                reason: "no cluster.id".into(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::write(&path, format!("version=1\ncluster.id={new_id}\n")).map_err(io_err)?;
            Ok(new_id.to_string())
        }
        Err(source) => Err(BrokerError::Io { path, source }),
    }
}

/// Makes `dir` (a broker's data dir) belong to cluster `cluster_id`: writes its
/// `meta.properties` if there is none, and refuses a dir of another cluster, as Kafka refuses
/// to start on a log dir whose `cluster.id` differs from the cluster's.
pub(crate) fn claim_cluster_id(dir: &Path, cluster_id: &str) -> Result<(), BrokerError> {
    let found = load_or_create_cluster_id_as(dir, cluster_id)?;
    if found == cluster_id {
        Ok(())
    } else {
        Err(BrokerError::TopicFile {
            path: dir.join("meta.properties"),
            reason: format!(
                "belongs to cluster {found}, not to this cluster ({cluster_id}): \
                 refusing to start on another cluster's data"
            ),
        })
    }
}

/// The suffix of a `.topic` file being written (see [`StoredTopic::write`]).
const TOPIC_FILE_TMP_SUFFIX: &str = ".topic.tmp";

/// What `__topics/<name>.topic` holds.
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    overrides: BTreeMap<String, String>,
}

impl StoredTopic {
    fn write(&self, dir: &Path) -> io::Result<()> {
        let topics_dir = dir.join("__topics");
        fs::create_dir_all(&topics_dir)?;
        let mut text = format!(
            "name={}\ntopic.id={}\npartitions={}\n",
            self.name, self.id, self.partitions
        );
        for (k, v) in &self.overrides {
            text.push_str(&format!("config.{k}={v}\n"));
        }
        // Write then rename, so a crash never leaves half a file. The temporary file is named
        // by the topic id: `<name>.topic.tmp` would pass the file system's 255-byte name limit
        // for a name of Kafka's maximum length (249 + 10), while `<name>.topic` fits (255).
        let tmp = topics_dir.join(format!("{}{TOPIC_FILE_TMP_SUFFIX}", self.id.simple()));
        fs::write(&tmp, text)?;
        fs::rename(&tmp, topics_dir.join(format!("{}.topic", self.name)))
    }

    fn read(path: &Path) -> Result<StoredTopic, BrokerError> {
        let bad = |reason: &str| BrokerError::TopicFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        let text = fs::read_to_string(path).map_err(|source| BrokerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (mut name, mut id, mut partitions) = (None, None, None);
        let mut overrides = BTreeMap::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "name" => name = Some(value.to_string()),
                "topic.id" => id = Some(Uuid::parse_str(value).map_err(|_| bad("bad topic.id"))?),
                "partitions" => {
                    partitions = Some(value.parse::<i32>().map_err(|_| bad("bad partitions"))?)
                }
                _ => {
                    if let Some(config) = key.strip_prefix("config.") {
                        overrides.insert(config.to_string(), value.to_string());
                    }
                }
            }
        }
        Ok(StoredTopic {
            name: name.ok_or_else(|| bad("no name"))?,
            id: id.ok_or_else(|| bad("no topic.id"))?,
            partitions: partitions
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("no partitions"))?,
            overrides,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate_topic_name("orders").is_ok());
        assert!(validate_topic_name("a.b_c-1").is_ok());
        for bad in ["", ".", "..", "has space", "ü", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code, 17, "{bad:?}");
        }
    }

    #[test]
    fn a_new_topic_may_not_collide_with_another_in_dots_and_underscores() {
        let mut core = BrokerCore::open(BrokerConfig::default(), None, 0).unwrap();
        let create = |core: &mut BrokerCore, name: &str| {
            core.create_topic(name, 1, 1, BTreeMap::new(), false, 0)
                .map(|_| ())
                .map_err(|e| (e.code, e.message))
        };
        create(&mut core, "orders.eu").unwrap();
        let (code, message) = create(&mut core, "orders_eu").unwrap_err();
        assert_eq!(code, 17, "INVALID_TOPIC_EXCEPTION: {message}");
        assert_eq!(
            message,
            "Topic 'orders_eu' collides with existing topic: orders.eu"
        );
        assert_eq!(create(&mut core, "orders.eu").unwrap_err().0, 36);
        create(&mut core, "orders-eu").unwrap();
        create(&mut core, "ordersXeu").unwrap();
        assert!(!core.topics.contains_key("orders_eu"), "not created");
    }
}
