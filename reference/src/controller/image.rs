//! The cluster metadata as records, and the image that applying them builds.
//!
//! KRaft keeps cluster metadata as a log (`__cluster_metadata`): the controller decides a
//! change by writing records, and every broker — and the controller itself — builds its view
//! by applying the same records in offset order. Sharing [`MetadataImage::apply`] between the
//! controller and the brokers makes it impossible for them to read one record two ways.
//!
//! The records carry what Kafka's carry, with one simplification: a partition change carries
//! the whole registration after the change (Kafka's `PartitionChangeRecord` carries only the
//! changed fields and each reader merges them), so a reader never needs the previous state.
//! A broker's epoch is the offset of its registration record, as in KRaft.
//!
//! # References
//! - KIP-631 (the KRaft metadata records), KIP-500
//! - Apache Kafka sources: `MetadataImage`, `MetadataDelta`, `RegisterBrokerRecord`,
//!   `BrokerRegistrationChangeRecord`, `TopicRecord`, `PartitionRecord`,
//!   `PartitionChangeRecord`, `ConfigRecord`

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::partition::PartitionRegistration;

/// The replication configs of one topic, by Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicReplicationConfig {
    /// `min.insync.replicas`: acks=all needs this many in-sync replicas.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: elect an out-of-sync replica rather than none.
    pub unclean_leader_election_enable: bool,
}

impl Default for TopicReplicationConfig {
    fn default() -> Self {
        TopicReplicationConfig {
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
        }
    }
}

/// One metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// `RegisterBrokerRecord`: a broker incarnation, fenced until it has caught up.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        broker_epoch: i64,
    },
    /// `BrokerRegistrationChangeRecord` with `fenced = 1`.
    FenceBroker { broker_id: i32, broker_epoch: i64 },
    /// `BrokerRegistrationChangeRecord` with `fenced = -1`.
    UnfenceBroker { broker_id: i32, broker_epoch: i64 },
    /// `TopicRecord` with its replication `ConfigRecord`s.
    Topic {
        name: String,
        topic_id: Uuid,
        config: TopicReplicationConfig,
    },
    /// `RemoveTopicRecord` (DeleteTopics): the topic and all its partitions are gone.
    RemoveTopic { topic_id: Uuid },
    /// `ConfigRecord`s changing a topic's replication configs.
    TopicConfig {
        topic_id: Uuid,
        config: TopicReplicationConfig,
    },
    /// `PartitionRecord` (a new partition) or `PartitionChangeRecord` (the state after it).
    Partition {
        topic_id: Uuid,
        partition: i32,
        registration: PartitionRegistration,
    },
    /// `ProducerIdsRecord`: a block of producer ids went to `broker_id` (-1: restored at
    /// start); the next block starts at `next_producer_id`.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
}

/// A record and its offset in the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataLogRecord {
    pub offset: i64,
    pub record: MetadataRecord,
}

/// A registered broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerImage {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub fenced: bool,
}

/// A topic, its configs and its partitions (indexed by partition id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub config: TopicReplicationConfig,
    pub partitions: Vec<PartitionRegistration>,
}

/// What applying a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record's offset is not after the image's: already applied, ignored.
    Stale,
    /// The record's offset leaves a gap after the image's: not applied; fetch from the
    /// image's offset (or load a snapshot).
    Gap,
    Broker(i32),
    Topic(Uuid),
    /// A topic was removed with its `partitions` partitions (0..partitions).
    TopicRemoved {
        topic_id: Uuid,
        partitions: i32,
    },
    Partition {
        topic_id: Uuid,
        partition: i32,
    },
    /// The next producer id block moved.
    ProducerIds,
}

/// The metadata as of one offset of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataImage {
    /// Offset of the last applied record; -1 before any.
    offset: i64,
    brokers: BTreeMap<i32, BrokerImage>,
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: BTreeMap<String, Uuid>,
    /// Where the next block of producer ids starts.
    next_producer_id: i64,
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage::new()
    }
}

impl MetadataImage {
    pub fn new() -> MetadataImage {
        MetadataImage {
            offset: -1,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            next_producer_id: 0,
        }
    }

    /// Where the next block of producer ids starts (`ProducerIdControlManager`).
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Offset of the last applied record (the broker's `currentMetadataOffset`).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Applies the next record; records must come in offset order without gaps.
    pub fn apply(&mut self, entry: &MetadataLogRecord) -> Applied {
        if entry.offset <= self.offset {
            return Applied::Stale;
        }
        if entry.offset != self.offset + 1 {
            return Applied::Gap;
        }
        self.offset = entry.offset;
        self.apply_record(&entry.record)
    }

    /// Applies a fetched batch of records in order, up to the first gap, and returns the
    /// partitions it changed, a removed topic's included (KRaft's `MetadataDelta`): a broker
    /// acts once per changed
    /// partition, on its latest state, never on the intermediate ones.
    pub fn apply_batch(&mut self, records: &[MetadataLogRecord]) -> BTreeSet<(Uuid, i32)> {
        let mut changed = BTreeSet::new();
        for record in records {
            match self.apply(record) {
                Applied::Gap => break,
                Applied::Partition {
                    topic_id,
                    partition,
                } => {
                    changed.insert((topic_id, partition));
                }
                Applied::TopicRemoved {
                    topic_id,
                    partitions,
                } => changed.extend((0..partitions).map(|p| (topic_id, p))),
                Applied::Stale | Applied::Broker(_) | Applied::Topic(_) | Applied::ProducerIds => {}
            }
        }
        changed
    }

    fn apply_record(&mut self, record: &MetadataRecord) -> Applied {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
            } => {
                let broker = BrokerImage {
                    broker_id: *broker_id,
                    incarnation_id: *incarnation_id,
                    broker_epoch: *broker_epoch,
                    fenced: true,
                };
                self.brokers.insert(*broker_id, broker);
                Applied::Broker(*broker_id)
            }
            MetadataRecord::FenceBroker { broker_id, .. }
            | MetadataRecord::UnfenceBroker { broker_id, .. } => {
                let fenced = matches!(record, MetadataRecord::FenceBroker { .. });
                if let Some(broker) = self.brokers.get_mut(broker_id) {
                    broker.fenced = fenced;
                }
                Applied::Broker(*broker_id)
            }
            MetadataRecord::Topic {
                name,
                topic_id,
                config,
            } => {
                let topic = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    config: *config,
                    partitions: Vec::new(),
                };
                self.topics.insert(*topic_id, topic);
                self.topic_ids.insert(name.clone(), *topic_id);
                Applied::Topic(*topic_id)
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let partitions = match self.topics.remove(topic_id) {
                    Some(topic) => {
                        self.topic_ids.remove(&topic.name);
                        topic.partitions.len() as i32
                    }
                    None => 0,
                };
                Applied::TopicRemoved {
                    topic_id: *topic_id,
                    partitions,
                }
            }
            MetadataRecord::TopicConfig { topic_id, config } => {
                if let Some(topic) = self.topics.get_mut(topic_id) {
                    topic.config = *config;
                }
                Applied::Topic(*topic_id)
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                registration,
            } => {
                self.apply_partition(*topic_id, *partition, registration);
                Applied::Partition {
                    topic_id: *topic_id,
                    partition: *partition,
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
                Applied::ProducerIds
            }
        }
    }

    fn apply_partition(&mut self, topic_id: Uuid, partition: i32, state: &PartitionRegistration) {
        let Some(topic) = self.topics.get_mut(&topic_id) else {
            return;
        };
        let Ok(index) = usize::try_from(partition) else {
            return;
        };
        if index < topic.partitions.len() {
            topic.partitions[index] = state.clone();
        } else if index == topic.partitions.len() {
            topic.partitions.push(state.clone());
        }
    }

    pub fn broker(&self, broker_id: i32) -> Option<&BrokerImage> {
        self.brokers.get(&broker_id)
    }

    pub fn brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values()
    }

    /// Registered and unfenced (`ClusterControlManager.isActive`).
    pub fn is_active(&self, broker_id: i32) -> bool {
        self.brokers.get(&broker_id).is_some_and(|b| !b.fenced)
    }

    /// The replicas in `replicas` whose broker is not alive: a partition's offline replicas
    /// as Metadata and DescribeTopicPartitions answer them.
    pub fn offline_replicas(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|b| self.alive_broker_epoch(*b).is_none())
            .collect()
    }

    /// The epoch of an unfenced broker (`KRaftMetadataCache.getAliveBrokerEpoch`).
    pub fn alive_broker_epoch(&self, broker_id: i32) -> Option<i64> {
        self.brokers
            .get(&broker_id)
            .filter(|b| !b.fenced)
            .map(|b| b.broker_epoch)
    }

    pub fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.topic_ids.get(name).copied()
    }

    pub fn topic(&self, topic_id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&topic_id)
    }

    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic_id(name).and_then(|id| self.topics.get(&id))
    }

    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    pub fn partition(&self, topic_id: Uuid, partition: i32) -> Option<&PartitionRegistration> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(&topic_id)?.partitions.get(index)
    }
}
