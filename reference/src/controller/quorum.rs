//! The controller itself: its metadata log, its image, and the broker sessions.
//!
//! Every decision goes through [`Controller::append`]: the record gets the next offset, is
//! applied to the controller's own [`MetadataImage`] (the same code brokers run), and is kept
//! in the log for brokers to fetch. The log keeps at most `metadata_max_retained_records`
//! records; a broker that falls further behind gets a snapshot (the image) instead, as a KRaft
//! broker loads a snapshot when the log it needs was cleaned.
//!
//! The request handlers live beside this file: `cluster.rs` (registration, heartbeats,
//! fencing) and `topics.rs` (topic creation, configs, AlterPartition, elections).
//!
//! # References
//! - Apache Kafka sources: `QuorumController`, `ClusterControlManager`,
//!   `ReplicationControlManager`, `BrokerHeartbeatManager`

use std::collections::{BTreeMap, VecDeque};

use uuid::Uuid;

use super::image::{MetadataImage, MetadataLogRecord, MetadataRecord};
use super::partition::PartitionRegistration;
use super::placement::SplitMix64;

/// Controller settings, by Kafka's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`: a broker that has not heartbeated for longer is fenced.
    pub broker_session_timeout_ms: i64,
    /// `num.partitions`: partitions of a topic created with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`: replicas of a topic created with -1.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` of topics that do not set it.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` of topics that do not set it.
    pub unclean_leader_election_enable: bool,
    /// Records kept for brokers to fetch; older ones are served as a snapshot.
    pub metadata_max_retained_records: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            broker_session_timeout_ms: 9_000,
            num_partitions: 1,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            metadata_max_retained_records: 100_000,
        }
    }
}

/// A Kafka error code and the message Kafka sends with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i16,
    pub message: String,
}

impl ApiError {
    pub fn new(code: i16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// What a broker fetching metadata gets.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataFetch {
    /// The records after the offset asked for (possibly none).
    Records(Vec<MetadataLogRecord>),
    /// The log no longer reaches back that far: replace the image with this one.
    Snapshot(Box<MetadataImage>),
}

/// The cluster controller. See the [module docs](super) for how to drive it.
#[derive(Debug, Clone)]
pub struct Controller {
    pub(super) config: ControllerConfig,
    pub(super) image: MetadataImage,
    log: VecDeque<MetadataLogRecord>,
    /// Last heartbeat (or registration) time of each registered broker.
    pub(super) last_contact_ms: BTreeMap<i32, i64>,
    /// How far each broker has read the metadata log, from its heartbeats: the quorum's
    /// observers (DescribeQuorum).
    pub(super) observers: BTreeMap<i32, ObserverState>,
    pub(super) rng: SplitMix64,
}

/// A broker's progress through the metadata log, as a KRaft leader tracks an observer
/// (`LeaderState.ReplicaState`), from the `current_metadata_offset` of its heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverState {
    /// The next offset it will read (its last applied offset + 1).
    pub log_end_offset: i64,
    /// Its last heartbeat.
    pub last_fetch_timestamp_ms: i64,
    /// Its last heartbeat that had read the whole log; -1 if none has.
    pub last_caught_up_timestamp_ms: i64,
}

impl Controller {
    /// An empty cluster. `seed` drives replica placement and topic ids.
    pub fn new(config: ControllerConfig, seed: u64) -> Controller {
        Controller {
            config,
            image: MetadataImage::new(),
            log: VecDeque::new(),
            last_contact_ms: BTreeMap::new(),
            observers: BTreeMap::new(),
            rng: SplitMix64::new(seed),
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The controller's view: what every broker converges to.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Offset of the last metadata record (-1 before any).
    pub fn metadata_offset(&self) -> i64 {
        self.image.offset()
    }

    /// Every broker that has heartbeated, with how far it has read the metadata log.
    pub fn observers(&self) -> impl Iterator<Item = (i32, ObserverState)> + '_ {
        self.observers.iter().map(|(id, state)| (*id, *state))
    }

    /// Up to `max_records` records after `after_offset`, or a snapshot when the log no
    /// longer reaches back that far.
    pub fn fetch_metadata(&self, after_offset: i64, max_records: usize) -> MetadataFetch {
        let first = self.log.front().map_or(0, |r| r.offset);
        if after_offset + 1 < first {
            return MetadataFetch::Snapshot(Box::new(self.image.clone()));
        }
        let skip = usize::try_from(after_offset + 1 - first).unwrap_or(0);
        MetadataFetch::Records(
            self.log
                .iter()
                .skip(skip)
                .take(max_records)
                .cloned()
                .collect(),
        )
    }

    /// The records from `after_offset` on that the log still holds (tests and tools).
    pub fn records_since(&self, after_offset: i64) -> Vec<MetadataLogRecord> {
        self.log
            .iter()
            .filter(|r| r.offset > after_offset)
            .cloned()
            .collect()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRegistration> {
        let topic_id = self.image.topic_id(topic)?;
        self.image.partition(topic_id, partition)
    }

    /// The offset the next record will get.
    pub(super) fn next_offset(&self) -> i64 {
        self.image.offset() + 1
    }

    /// Writes one record: applies it to the image and keeps it for brokers.
    pub(super) fn append(&mut self, record: MetadataRecord) {
        let entry = MetadataLogRecord {
            offset: self.next_offset(),
            record,
        };
        let applied = self.image.apply(&entry);
        assert!(
            !matches!(
                applied,
                super::image::Applied::Stale | super::image::Applied::Gap
            ),
            "the controller's own record {} must apply",
            entry.offset
        );
        self.log.push_back(entry);
        while self.log.len() > self.config.metadata_max_retained_records.max(1) {
            self.log.pop_front();
        }
    }

    /// A version 4 UUID from the seeded generator.
    pub(super) fn random_uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Partitions (topic id, partition) matching `filter`, in a stable order.
    pub(super) fn partitions_where(
        &self,
        filter: impl Fn(&PartitionRegistration) -> bool,
    ) -> Vec<(Uuid, i32)> {
        self.image
            .topics()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| filter(p))
                    .map(|(i, _)| (t.topic_id, i as i32))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
