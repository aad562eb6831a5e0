//! The cluster's topics on disk, so that a whole cluster started again on the same
//! `data_dir` still has them.
//!
//! Kafka's controllers keep the metadata log in `__cluster_metadata-0` and replay it at start.
//! This cluster keeps, in `<data_dir>/__cluster_metadata/topics`, a snapshot of what it needs
//! to replay: every topic's name, id and replication configs, each partition's registration
//! (replicas, ISR, leader and epochs) and the topic's config overrides (`retention.ms`, ...).
//! It is rewritten (temporary file, then rename) whenever the controller's metadata moves,
//! under the controller's lock, so it never holds a topic without its configs. At start the
//! topics are restored with [`Controller::restore_topic`] (leaderless, at the next leader
//! epoch: the first ISR member to come back leads) and the configs rebuilt over the broker's
//! defaults. Broker registrations are not kept: every broker registers anew.
//!
//! The format is text, one item per line: `version 0`, then per topic
//! `topic <name> <id> <min.insync.replicas> <unclean.leader.election.enable>`, one
//! `partition <leader> <leader epoch> <partition epoch> <replicas> <isr>` line per partition in
//! order (broker lists comma-separated; a partition being reassigned adds `<adding>
//! <removing>`, `-` for an empty list) and one `config <name> <value>` line per override.
//! Once producer ids have been handed out, a `producer_ids <next id>` line comes first, so a
//! restarted cluster never hands out an id twice ([`Controller::restore_producer_ids`]).
//!
//! # References
//! - Apache Kafka sources: `QuorumController` (metadata log replay), `MetadataImage`

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::config::TopicConfig;
use crate::controller::{MetadataImage, PartitionRegistration, TopicReplicationConfig};

/// The directory under the cluster's `data_dir`.
pub const METADATA_DIR: &str = "__cluster_metadata";
const TOPICS_FILE: &str = "topics";

/// One topic as the snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub config: TopicReplicationConfig,
    pub partitions: Vec<PartitionRegistration>,
    pub overrides: BTreeMap<String, String>,
}

/// What the snapshot keeps: the topics, and where producer ids go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredMetadata {
    pub topics: Vec<StoredTopic>,
    /// The first producer id never handed out (0 if none was).
    pub next_producer_id: i64,
}

/// The snapshot file of a cluster's topics.
pub struct MetadataStore {
    dir: PathBuf,
}

impl MetadataStore {
    pub fn new(data_dir: &std::path::Path) -> MetadataStore {
        MetadataStore {
            dir: data_dir.join(METADATA_DIR),
        }
    }

    /// Writes every topic of `image`, with its overrides from `configs`.
    pub fn write(
        &self,
        image: &MetadataImage,
        configs: &BTreeMap<String, TopicConfig>,
    ) -> io::Result<()> {
        let mut text = String::from("version 0\n");
        if image.next_producer_id() > 0 {
            text.push_str(&format!("producer_ids {}\n", image.next_producer_id()));
        }
        for topic in image.topics() {
            text.push_str(&format!(
                "topic {} {} {} {}\n",
                topic.name,
                topic.topic_id,
                topic.config.min_insync_replicas,
                topic.config.unclean_leader_election_enable
            ));
            for p in &topic.partitions {
                text.push_str(&format!(
                    "partition {} {} {} {} {}",
                    p.leader,
                    p.leader_epoch,
                    p.partition_epoch,
                    ids(&p.replicas),
                    ids(&p.isr)
                ));
                if p.is_reassigning() {
                    text.push_str(&format!(
                        " {} {}",
                        optional_ids(&p.adding_replicas),
                        optional_ids(&p.removing_replicas)
                    ));
                }
                text.push('\n');
            }
            let overrides = configs.get(&topic.name).map(|c| &c.overrides);
            for (key, value) in overrides.into_iter().flatten() {
                if !value.contains('\n') {
                    text.push_str(&format!("config {key} {value}\n"));
                }
            }
        }
        fs::create_dir_all(&self.dir)?;
        let file = self.dir.join(TOPICS_FILE);
        let temporary = file.with_extension("tmp");
        fs::write(&temporary, text)?;
        fs::rename(&temporary, &file)
    }

    /// The topics and producer ids of the last snapshot (none if there is no snapshot).
    pub fn read(&self) -> io::Result<StoredMetadata> {
        let file = self.dir.join(TOPICS_FILE);
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(StoredMetadata::default()),
            Err(e) => return Err(e),
        };
        parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed cluster metadata {}", file.display()),
            )
        })
    }
}

fn ids(brokers: &[i32]) -> String {
    brokers
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A list that may be empty (a reassignment's adding or removing replicas): `-` if so.
fn optional_ids(brokers: &[i32]) -> String {
    if brokers.is_empty() {
        "-".to_string()
    } else {
        ids(brokers)
    }
}

fn parse_optional_ids(text: &str) -> Option<Vec<i32>> {
    if text == "-" {
        Some(Vec::new())
    } else {
        parse_ids(text)
    }
}

fn parse_ids(text: &str) -> Option<Vec<i32>> {
    text.split(',').map(|id| id.parse().ok()).collect()
}

fn parse(text: &str) -> Option<StoredMetadata> {
    let mut lines = text.lines();
    if lines.next()? != "version 0" {
        return None;
    }
    let mut topics: Vec<StoredTopic> = Vec::new();
    let mut next_producer_id = 0;
    for line in lines {
        let (kind, rest) = line.split_once(' ')?;
        match kind {
            "producer_ids" => next_producer_id = rest.parse().ok().filter(|&id: &i64| id >= 0)?,
            "topic" => {
                let fields: Vec<&str> = rest.split(' ').collect();
                let [name, id, min_isr, unclean] = fields[..] else {
                    return None;
                };
                topics.push(StoredTopic {
                    name: name.to_string(),
                    topic_id: id.parse().ok()?,
                    config: TopicReplicationConfig {
                        min_insync_replicas: min_isr.parse().ok()?,
                        unclean_leader_election_enable: unclean.parse().ok()?,
                    },
                    partitions: Vec::new(),
                    overrides: BTreeMap::new(),
                });
            }
            "partition" => {
                let fields: Vec<&str> = rest.split(' ').collect();
                let (head, reassignment) = fields.split_at(fields.len().min(5));
                let [leader, leader_epoch, partition_epoch, replicas, isr] = head[..] else {
                    return None;
                };
                let (adding, removing) = match reassignment {
                    [] => (Vec::new(), Vec::new()),
                    [adding, removing] => {
                        (parse_optional_ids(adding)?, parse_optional_ids(removing)?)
                    }
                    _ => return None,
                };
                topics.last_mut()?.partitions.push(PartitionRegistration {
                    replicas: parse_ids(replicas)?,
                    isr: parse_ids(isr)?,
                    leader: leader.parse().ok()?,
                    leader_epoch: leader_epoch.parse().ok()?,
                    partition_epoch: partition_epoch.parse().ok()?,
                    adding_replicas: adding,
                    removing_replicas: removing,
                });
            }
            "config" => {
                let (key, value) = rest.split_once(' ')?;
                topics
                    .last_mut()?
                    .overrides
                    .insert(key.to_string(), value.to_string());
            }
            _ => return None,
        }
    }
    Some(StoredMetadata {
        topics,
        next_producer_id,
    })
}

/// A new `cluster.id` in Kafka's form: a random UUID as 22 characters of URL-safe base64
/// without padding (`org.apache.kafka.common.Uuid.toString`, what `kafka-storage
/// random-uuid` prints and `kafka-metadata-quorum describe` shows), never starting with `-`
/// (Kafka draws again, so that the id is never read as a command-line option).
pub(crate) fn new_cluster_id() -> String {
    loop {
        let id = base64_url(Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// URL-safe base64 without padding (RFC 4648 section 5).
pub(crate) fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

pub(crate) fn load_or_create_cluster_id(dir: &Path) -> io::Result<String> {
    load_or_create_cluster_id_as(dir, &new_cluster_id())
}

/// The `cluster.id` in `dir/meta.properties`, written as `new_id` if there is none.
fn load_or_create_cluster_id_as(dir: &Path, new_id: &str) -> io::Result<String> {
    let io_err = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    fs::create_dir_all(dir).map_err(io_err)?;
    let path = dir.join("meta.properties");
    match fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .map(|s| s.trim().to_string())
            .ok_or_else(|| io::Error::other(format!("{}: no cluster.id", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::write(&path, format!("version=1\ncluster.id={new_id}\n")).map_err(io_err)?;
            Ok(new_id.to_string())
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Makes `dir` (a broker's data dir) belong to cluster `cluster_id`: writes its
/// `meta.properties` if there is none, and refuses a dir of another cluster, as Kafka refuses
/// to start on a log dir whose `cluster.id` differs from the cluster's.
pub(crate) fn claim_cluster_id(dir: &Path, cluster_id: &str) -> io::Result<()> {
    let found = load_or_create_cluster_id_as(dir, cluster_id)?;
    if found == cluster_id {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{}: belongs to cluster {found}, not to this cluster ({cluster_id}): \
             refusing to start on another cluster's data",
            dir.join("meta.properties").display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{Controller, ControllerConfig};

    #[test]
    fn cluster_ids_are_kafkas_22_character_url_safe_base64() {
        // RFC 4648's test vectors, unpadded, and a UUID as Kafka's Uuid.toString writes it.
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
        let uuid = Uuid::parse_str("00010203-0405-0607-0809-0a0b0c0d0e0f").unwrap();
        assert_eq!(base64_url(uuid.as_bytes()), "AAECAwQFBgcICQoLDA0ODw");
        for _ in 0..100 {
            let id = new_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id}"
            );
        }
    }

    #[test]
    fn topics_and_their_configs_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(dir.path());
        assert_eq!(
            store.read().unwrap(),
            StoredMetadata::default(),
            "no snapshot yet"
        );
        let mut controller = Controller::new(ControllerConfig::default(), 3);
        let registration = PartitionRegistration {
            replicas: vec![3, 1, 2],
            isr: vec![3, 1],
            leader: 3,
            leader_epoch: 2,
            partition_epoch: 5,
            adding_replicas: vec![2],
            removing_replicas: Vec::new(),
        };
        let id = Uuid::from_u128(77);
        let config = TopicReplicationConfig {
            min_insync_replicas: 2,
            unclean_leader_election_enable: false,
        };
        controller
            .restore_topic("orders.v1", id, config, std::slice::from_ref(&registration))
            .unwrap();
        let broker = crate::config::BrokerConfig::from_pairs([("node.id", "1")]).unwrap();
        let overrides = BTreeMap::from([
            ("retention.ms".to_string(), "60000".to_string()),
            ("cleanup.policy".to_string(), "delete".to_string()),
        ]);
        let configs = BTreeMap::from([(
            "orders.v1".to_string(),
            TopicConfig::new(&broker, overrides.clone()).unwrap(),
        )]);
        controller.restore_producer_ids(3000);
        store.write(controller.image(), &configs).unwrap();
        let stored = store.read().unwrap();
        assert_eq!(stored.next_producer_id, 3000);
        let topics = stored.topics;
        assert_eq!(topics.len(), 1);
        let topic = &topics[0];
        assert_eq!(
            (topic.name.as_str(), topic.topic_id, topic.config),
            ("orders.v1", id, config)
        );
        // As restored: leaderless at the next epochs.
        assert_eq!(topic.partitions[0].replicas, registration.replicas);
        assert_eq!(topic.partitions[0].isr, registration.isr);
        assert_eq!(
            (
                topic.partitions[0].leader,
                topic.partitions[0].leader_epoch,
                topic.partitions[0].partition_epoch
            ),
            (-1, 3, 6)
        );
        assert_eq!(topic.overrides, overrides);
        fs::write(
            dir.path().join(METADATA_DIR).join(TOPICS_FILE),
            "version 0\npartition 1",
        )
        .unwrap();
        assert!(store.read().is_err(), "a partition before any topic");
    }
}
