//! Topics and partitions: creation, replication configs, ISR changes from leaders
//! (AlterPartition) and leader elections on request.
//!
//! - CreateTopics checks in Kafka's order: the name (INVALID_TOPIC_EXCEPTION, also for a name
//!   that differs from an existing one only in `.` versus `_`), existence
//!   (TOPIC_ALREADY_EXISTS), the replication factor (0 or below -1:
//!   INVALID_REPLICATION_FACTOR), the partition count (0 or below -1: INVALID_PARTITIONS), the replication configs
//!   (INVALID_CONFIG), a record count above Kafka's 10,000 per operation (POLICY_VIOLATION),
//!   then placement (too few registered brokers, or none unfenced: INVALID_REPLICATION_FACTOR).
//!   A new partition's ISR is its replicas that are unfenced now, and the first of them leads.
//!   Manual replica assignments (CreateTopics and CreatePartitions `assignments`) are checked
//!   as Kafka checks them (`validateManualPartitionAssignment`: registered brokers, none
//!   twice, one replication factor, an unfenced replica; INVALID_REPLICA_ASSIGNMENT) and kept
//!   in the order given.
//! - DeleteTopics removes a topic by id with one record; a name is resolved first (the wire
//!   layer does it, with Kafka's request checks). Its partitions leave every image at once.
//! - AlterPartition (KIP-497) is the only way a leader changes its ISR. It is checked in
//!   Kafka's order: the requester's broker epoch (STALE_BROKER_EPOCH), the topic and partition,
//!   epochs newer than the controller's (NOT_CONTROLLER), an older leader epoch
//!   (FENCED_LEADER_EPOCH), a requester that is not the leader (INVALID_REQUEST), an older
//!   partition epoch (INVALID_UPDATE_VERSION), an ISR with strangers, duplicates or without the
//!   leader (INVALID_REQUEST), and members that are unregistered, fenced or of another broker
//!   epoch (INELIGIBLE_REPLICA, KIP-841 and KIP-903: a restarted broker's stale fetch state
//!   must not put it back in the ISR).
//! - ElectLeaders: a preferred election answers ELECTION_NOT_NEEDED when the preferred replica
//!   already leads and PREFERRED_LEADER_NOT_AVAILABLE when it cannot lead; an unclean one is
//!   only for partitions without a leader. [`Controller::balance_partition_leaders`] is what
//!   `auto.leader.rebalance.enable` runs periodically.
//! - Turning `unclean.leader.election.enable` on elects leaders for the topic's leaderless
//!   partitions at once (Kafka does it from a periodic check).
//!
//! # References
//! - Apache Kafka sources: `ReplicationControlManager` (`createTopic`, `deleteTopic`,
//!   `alterPartition`,
//!   `validateAlterPartitionData`, `ineligibleReplicasForIsr`, `electLeader`,
//!   `maybeBalancePartitionLeaders`, `maybeTriggerUncleanLeaderElectionForLeaderlessPartitions`)
//! - KIP-497 (AlterPartition), KIP-841 (fenced replicas out of the ISR), KIP-903 (broker
//!   epochs in AlterPartition), KIP-460 (ElectLeaders)

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::image::{MetadataRecord, TopicReplicationConfig};
use super::partition::{
    Election, PartitionRegistration, change_partition, revert_reassignment, start_reassignment,
};
use super::placement::{UsableBroker, place_replicas};
use super::quorum::{ApiError, Controller};

/// Kafka's `QuorumController.MAX_RECORDS_PER_USER_OP`: the metadata records one user
/// operation may write (one batch of the metadata log). A CreateTopics writes a TopicRecord,
/// a PartitionRecord per partition and a ConfigRecord per config set.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// Kafka's `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH` (KAFKA-17870, Kafka 4.0):
/// the partitions one CreateTopics request may ask for, summed over its topics.
pub const MAX_PARTITIONS_PER_BATCH: u64 = 10_000;

/// The message of the POLICY_VIOLATION for a request over [`MAX_PARTITIONS_PER_BATCH`]
/// (`validateTotalNumberOfPartitions`).
pub const EXCESSIVE_PARTITIONS_MESSAGE: &str =
    "Excessively large number of partitions per request.";

/// The message of the POLICY_VIOLATION for an operation over [`MAX_RECORDS_PER_USER_OP`]
/// (`EventHandlerExceptionInfo`, for a `BoundedListTooLongException`).
pub const EXCESSIVE_BATCH_MESSAGE: &str = "Unable to perform excessively large batch operation.";

/// One ISR member of an AlterPartition request (`BrokerState`): -1 skips the epoch check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerState {
    pub broker_id: i32,
    pub broker_epoch: i64,
}

/// One partition of an AlterPartition request, with the request's broker id and epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartition {
    pub broker_id: i32,
    pub broker_epoch: i64,
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<BrokerState>,
}

/// INVALID_REPLICA_ASSIGNMENT with `message`.
fn invalid_assignment(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidReplicaAssignment.code(), message)
}

/// How many preferred leader elections one balancing run makes at most (Kafka's
/// `ReplicationControlManager.MAX_ELECTIONS_PER_IMBALANCE`).
pub const MAX_ELECTIONS_PER_IMBALANCE: usize = 1_000;

/// Kafka's default message of ELECTION_NOT_NEEDED (`Errors.ELECTION_NOT_NEEDED`), which
/// `ApiError(Errors)` sends.
const ELECTION_NOT_NEEDED_MESSAGE: &str = "Leader election not needed for topic partition.";

/// The kind of an ElectLeaders request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl Controller {
    /// CreateTopics for one topic (`num_partitions` and `replication_factor` may be -1 for
    /// the defaults). `configs` are topic configs; this core reads `min.insync.replicas` and
    /// `unclean.leader.election.enable` and leaves the others to the broker's config checks.
    pub fn create_topic(
        &mut self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Result<Uuid, ApiError> {
        self.check_new_topic_name(name)?;
        if replication_factor < -1 || replication_factor == 0 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor.code(),
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if num_partitions < -1 || num_partitions == 0 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions.code(),
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        let config =
            self.replication_config(TopicReplicationConfig::default_from(self), configs)?;
        let num_partitions = match num_partitions {
            -1 => self.config.num_partitions,
            n => n,
        };
        let replication_factor = match replication_factor {
            -1 => self.config.default_replication_factor,
            r => r,
        };
        if num_partitions as usize + 1 > MAX_RECORDS_PER_USER_OP {
            return Err(ApiError::new(
                ResponseError::PolicyViolation.code(),
                EXCESSIVE_BATCH_MESSAGE,
            ));
        }
        let placements = self.place(num_partitions, replication_factor)?;
        Ok(self.append_new_topic(name, config, placements))
    }

    /// CreateTopics for one topic with a manual replica assignment: `(partition index,
    /// replicas)` pairs, the first replica of each its preferred leader. Checked as Kafka's
    /// `ReplicationControlManager.createTopic` checks it: the name, the partition count and
    /// replication factor left at -1 (INVALID_REQUEST otherwise), then each assignment in
    /// request order ([`Controller::validate_manual_assignment`]; an index given twice, or
    /// every replica of one fenced, is INVALID_REPLICA_ASSIGNMENT), the indexes 0..n
    /// (INVALID_REPLICA_ASSIGNMENT), the replication configs and the record count.
    pub fn create_topic_assigned(
        &mut self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        assignments: &[(i32, Vec<i32>)],
        configs: &[(&str, &str)],
    ) -> Result<Uuid, ApiError> {
        self.check_new_topic_name(name)?;
        let invalid_request = |why: &str| ApiError::new(ResponseError::InvalidRequest.code(), why);
        if replication_factor != -1 {
            return Err(invalid_request(
                "A manual partition assignment was specified, but replication factor was not set to -1.",
            ));
        }
        if num_partitions != -1 {
            return Err(invalid_request(
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        let mut by_index: std::collections::BTreeMap<i32, Vec<i32>> = Default::default();
        let mut factor = None;
        for (index, replicas) in assignments {
            if by_index.contains_key(index) {
                return Err(invalid_assignment(format!(
                    "Found multiple manual partition assignments for partition {index}"
                )));
            }
            self.validate_manual_assignment(replicas, factor)?;
            factor = Some(replicas.len());
            self.check_some_replica_active(replicas, *index)?;
            by_index.insert(*index, replicas.clone());
        }
        // Consecutive from 0: the indexes are exactly 0..n.
        let consecutive = by_index.keys().copied().eq(0..by_index.len() as i32);
        if !consecutive {
            return Err(invalid_assignment(
                "partitions should be a consecutive 0-based integer sequence".to_string(),
            ));
        }
        let config =
            self.replication_config(TopicReplicationConfig::default_from(self), configs)?;
        if by_index.len() + 1 > MAX_RECORDS_PER_USER_OP {
            return Err(ApiError::new(
                ResponseError::PolicyViolation.code(),
                EXCESSIVE_BATCH_MESSAGE,
            ));
        }
        Ok(self.append_new_topic(name, config, by_index.into_values().collect()))
    }

    /// Records a new topic and its partitions with their placed replicas.
    fn append_new_topic(
        &mut self,
        name: &str,
        config: TopicReplicationConfig,
        placements: Vec<Vec<i32>>,
    ) -> Uuid {
        let topic_id = self.random_uuid();
        self.append(MetadataRecord::Topic {
            name: name.to_string(),
            topic_id,
            config,
        });
        self.append_new_partitions(topic_id, 0, placements);
        topic_id
    }

    /// Kafka's `validateManualPartitionAssignment` for one partition's replicas: not empty,
    /// every broker registered (fenced or not), none twice (brokers checked in id order, as
    /// Kafka sorts them first), and as many replicas as the partitions before it (`factor`).
    /// Each failure is INVALID_REPLICA_ASSIGNMENT with Kafka's message.
    pub fn validate_manual_assignment(
        &self,
        replicas: &[i32],
        factor: Option<usize>,
    ) -> Result<(), ApiError> {
        if replicas.is_empty() {
            return Err(invalid_assignment(
                "The manual partition assignment includes an empty replica list.".to_string(),
            ));
        }
        let mut sorted = replicas.to_vec();
        sorted.sort_unstable();
        let mut previous = None;
        for &broker in &sorted {
            if self.image.broker(broker).is_none() {
                return Err(invalid_assignment(format!(
                    "The manual partition assignment includes broker {broker}, but no such broker is registered."
                )));
            }
            if previous == Some(broker) {
                return Err(invalid_assignment(format!(
                    "The manual partition assignment includes the broker {broker} more than once."
                )));
            }
            previous = Some(broker);
        }
        match factor {
            Some(factor) if factor != sorted.len() => Err(invalid_assignment(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {factor} replica(s).",
                sorted.len()
            ))),
            _ => Ok(()),
        }
    }

    /// A manually assigned partition needs one unfenced replica to lead it.
    fn check_some_replica_active(&self, replicas: &[i32], partition: i32) -> Result<(), ApiError> {
        if replicas.iter().any(|&r| self.image.is_active(r)) {
            return Ok(());
        }
        Err(invalid_assignment(format!(
            "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
        )))
    }

    /// `num.partitions`: the partition count of a topic created with -1 (and auto-created).
    pub fn default_num_partitions(&self) -> i32 {
        self.config.num_partitions
    }

    /// The name checks of CreateTopics with Kafka's answers (`validateNewTopicNames`, whose
    /// errors an existing topic's TOPIC_ALREADY_EXISTS replaces): not taken already, a legal
    /// name (INVALID_TOPIC_EXCEPTION), no collision with an existing topic whose name differs
    /// only in `.` versus `_` (INVALID_TOPIC_EXCEPTION: both map to the same metric names).
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), ApiError> {
        if self.image.topic_id(name).is_some() {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists.code(),
                format!("Topic '{name}' already exists."),
            ));
        }
        super::validate_topic_name(name).map_err(|e| ApiError::new(e.code, e.message))?;
        let existing = self.image.topics().map(|t| t.name.as_str());
        super::check_topic_collision(name, existing)
            .map_err(|e| ApiError::new(e.code, e.message))?;
        Ok(())
    }

    /// CreatePartitions for one topic: grows it to `count` partitions, placing the new ones
    /// as [`Controller::create_topic`] does, with the replication factor of its first
    /// partition. Shrinking, or asking for the current count, is INVALID_PARTITIONS.
    pub fn create_partitions(&mut self, name: &str, count: i32) -> Result<(), ApiError> {
        self.create_partitions_assigned(name, count, None)
    }

    /// CreatePartitions for one topic, with the new partitions' replicas given
    /// (`assignments`, one per new partition, in order) or placed (`None`). Kafka's checks
    /// (`ReplicationControlManager.createPartitions`): the topic, the count, then as many
    /// assignments as new partitions, each a valid manual assignment with the topic's
    /// replication factor and an unfenced replica (INVALID_REPLICA_ASSIGNMENT).
    pub fn create_partitions_assigned(
        &mut self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
    ) -> Result<(), ApiError> {
        let Some(topic) = self.image.topic_by_name(name) else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition.code(),
                format!("The topic '{name}' does not exist."),
            ));
        };
        let topic_id = topic.topic_id;
        let current = topic.partitions.len() as i32;
        let replication_factor = topic
            .partitions
            .first()
            .map_or(1, |p| p.replicas.len() as i16);
        if count < current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions.code(),
                format!(
                    "The topic {name} currently has {current} partition(s); {count} would not be an increase."
                ),
            ));
        }
        if count == current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions.code(),
                format!("Topic already has {current} partition(s)."),
            ));
        }
        let additional = count - current;
        if let Some(assignments) = assignments
            && assignments.len() != additional as usize
        {
            return Err(invalid_assignment(format!(
                "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                assignments.len()
            )));
        }
        if additional as usize > MAX_RECORDS_PER_USER_OP {
            return Err(ApiError::new(
                ResponseError::PolicyViolation.code(),
                EXCESSIVE_BATCH_MESSAGE,
            ));
        }
        let placements = match assignments {
            None => self.place(additional, replication_factor)?,
            Some(assignments) => {
                let factor = usize::try_from(replication_factor).unwrap_or(0);
                for (i, replicas) in assignments.iter().enumerate() {
                    self.validate_manual_assignment(replicas, Some(factor))?;
                    self.check_some_replica_active(replicas, current + i as i32)?;
                }
                assignments.to_vec()
            }
        };
        self.append_new_partitions(topic_id, current, placements);
        Ok(())
    }

    /// DeleteTopics for one topic, by id (`ReplicationControlManager.deleteTopic`): one
    /// `RemoveTopicRecord`; brokers stop their replicas and delete their logs when they
    /// apply it. Returns the topic's name. An unknown id is UNKNOWN_TOPIC_ID.
    pub fn delete_topic(&mut self, topic_id: Uuid) -> Result<String, ApiError> {
        let Some(topic) = self.image.topic(topic_id) else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicId.code(),
                "This server does not host this topic ID.",
            ));
        };
        let name = topic.name.clone();
        self.append(MetadataRecord::RemoveTopic { topic_id });
        Ok(name)
    }

    /// Records new partitions `first..` of a topic with their placed replicas: the ISR is
    /// the replicas unfenced now, and the first of them leads.
    fn append_new_partitions(&mut self, topic_id: Uuid, first: i32, placements: Vec<Vec<i32>>) {
        for (offset, replicas) in placements.into_iter().enumerate() {
            let isr = replicas
                .iter()
                .copied()
                .filter(|&r| self.image.is_active(r))
                .collect();
            self.append(MetadataRecord::Partition {
                topic_id,
                partition: first + offset as i32,
                registration: PartitionRegistration::new(replicas, isr),
            });
        }
    }

    fn place(
        &mut self,
        num_partitions: i32,
        replication_factor: i16,
    ) -> Result<Vec<Vec<i32>>, ApiError> {
        let brokers: Vec<UsableBroker> = self
            .image
            .brokers()
            .map(|b| UsableBroker {
                broker_id: b.broker_id,
                fenced: b.fenced,
            })
            .collect();
        let partitions = usize::try_from(num_partitions).unwrap_or(0);
        let replicas = usize::try_from(replication_factor).unwrap_or(0);
        place_replicas(&brokers, partitions, replicas, &mut self.rng).map_err(|why| {
            ApiError::new(
                ResponseError::InvalidReplicationFactor.code(),
                format!("Unable to replicate the partition {replication_factor} time(s): {why}"),
            )
        })
    }

    /// IncrementalAlterConfigs for a topic's replication configs.
    pub fn set_topic_config(
        &mut self,
        name: &str,
        configs: &[(&str, &str)],
    ) -> Result<(), ApiError> {
        let Some(topic) = self.image.topic_by_name(name) else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition.code(),
                format!("Topic {name} does not exist"),
            ));
        };
        let (topic_id, old) = (topic.topic_id, topic.config);
        let config = self.replication_config(old, configs)?;
        if config != old {
            self.append(MetadataRecord::TopicConfig { topic_id, config });
        }
        if config.unclean_leader_election_enable && !old.unclean_leader_election_enable {
            self.elect_leaderless(|t| t == topic_id);
        }
        Ok(())
    }

    /// The cluster-wide `min.insync.replicas` and `unclean.leader.election.enable` changed
    /// (dynamic broker configs): topics created from now on take them.
    pub fn set_default_replication_config(&mut self, config: TopicReplicationConfig) {
        self.config.min_insync_replicas = config.min_insync_replicas;
        self.config.unclean_leader_election_enable = config.unclean_leader_election_enable;
    }

    /// A topic's configs changed (IncrementalAlterConfigs or AlterConfigs of the topic, or
    /// of a broker default it follows): records its replication configs, changed or not, so
    /// that every broker reloads the topic's configs (Kafka writes a `ConfigRecord` per
    /// changed config). Turning `unclean.leader.election.enable` on elects leaders for the
    /// topic's leaderless partitions at once.
    pub fn update_topic_config(&mut self, topic_id: Uuid, config: TopicReplicationConfig) {
        let Some(old) = self.image.topic(topic_id).map(|t| t.config) else {
            return;
        };
        self.append(MetadataRecord::TopicConfig { topic_id, config });
        if config.unclean_leader_election_enable && !old.unclean_leader_election_enable {
            self.elect_leaderless(|t| t == topic_id);
        }
    }

    fn replication_config(
        &self,
        mut config: TopicReplicationConfig,
        configs: &[(&str, &str)],
    ) -> Result<TopicReplicationConfig, ApiError> {
        let invalid = |key: &str, value: &str| {
            ApiError::new(
                ResponseError::InvalidConfig.code(),
                format!("Invalid value {value} for configuration {key}"),
            )
        };
        for &(key, value) in configs {
            match key {
                "min.insync.replicas" => {
                    config.min_insync_replicas = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|&n: &i32| n >= 1)
                        .ok_or_else(|| invalid(key, value))?;
                }
                "unclean.leader.election.enable" => {
                    config.unclean_leader_election_enable =
                        match value.trim().to_ascii_lowercase().as_str() {
                            "true" => true,
                            "false" => false,
                            _ => return Err(invalid(key, value)),
                        };
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// AlterPartition for one partition: the partition after the change, or the error code.
    pub fn alter_partition(
        &mut self,
        request: &AlterPartition,
    ) -> Result<PartitionRegistration, i16> {
        let broker = self.image.broker(request.broker_id);
        if broker.is_none_or(|b| b.broker_epoch != request.broker_epoch) {
            return Err(ResponseError::StaleBrokerEpoch.code());
        }
        if self.image.topic(request.topic_id).is_none() {
            return Err(ResponseError::UnknownTopicId.code());
        }
        let Some(current) = self.image.partition(request.topic_id, request.partition) else {
            return Err(ResponseError::UnknownTopicOrPartition.code());
        };
        validate_alter_partition(current, request)?;
        if let Some(ineligible) = request.new_isr.iter().find(|s| !self.is_isr_eligible(s)) {
            tracing::info!(
                broker = ineligible.broker_id,
                "AlterPartition with an ineligible replica"
            );
            return Err(ResponseError::IneligibleReplica.code());
        }
        let target_isr: Vec<i32> = request.new_isr.iter().map(|s| s.broker_id).collect();
        let election = self.election_for(request.topic_id);
        let acceptable = |r: i32| self.image.is_active(r);
        let Some(registration) = change_partition(current, &target_isr, election, &acceptable)
        else {
            return Ok(current.clone());
        };
        self.append(MetadataRecord::Partition {
            topic_id: request.topic_id,
            partition: request.partition,
            registration: registration.clone(),
        });
        if registration.leader != request.broker_id {
            return Err(ResponseError::NewLeaderElected.code());
        }
        Ok(registration)
    }

    /// Registered, unfenced, and (unless -1) of the broker epoch the leader saw.
    fn is_isr_eligible(&self, state: &BrokerState) -> bool {
        self.image.broker(state.broker_id).is_some_and(|b| {
            !b.fenced && (state.broker_epoch == -1 || state.broker_epoch == b.broker_epoch)
        })
    }

    /// ElectLeaders for one partition.
    pub fn elect_leader(
        &mut self,
        topic: &str,
        partition: i32,
        election_type: ElectionType,
    ) -> Result<(), ApiError> {
        let unknown =
            |what: String| ApiError::new(ResponseError::UnknownTopicOrPartition.code(), what);
        let topic_id = self
            .image
            .topic_id(topic)
            .ok_or_else(|| unknown(format!("No such topic as {topic}")))?;
        let current = self
            .image
            .partition(topic_id, partition)
            .ok_or_else(|| unknown(format!("No such partition as {topic}-{partition}")))?;
        let not_needed = match election_type {
            ElectionType::Preferred => current.has_preferred_leader(),
            ElectionType::Unclean => current.has_leader(),
        };
        if not_needed {
            return Err(ApiError::new(
                ResponseError::ElectionNotNeeded.code(),
                ELECTION_NOT_NEEDED_MESSAGE,
            ));
        }
        let election = match election_type {
            ElectionType::Preferred => Election::Preferred,
            ElectionType::Unclean => Election::Unclean,
        };
        let acceptable = |r: i32| self.image.is_active(r);
        let Some(registration) = change_partition(current, &current.isr, election, &acceptable)
        else {
            let (error, message) = match election_type {
                ElectionType::Preferred => (
                    ResponseError::PreferredLeaderNotAvailable,
                    "The preferred leader was not available.",
                ),
                ElectionType::Unclean => (
                    ResponseError::EligibleLeadersNotAvailable,
                    "Eligible topic partition leaders are not available.",
                ),
            };
            return Err(ApiError::new(error.code(), message));
        };
        self.append(MetadataRecord::Partition {
            topic_id,
            partition,
            registration,
        });
        Ok(())
    }

    /// AlterPartitionReassignments for one partition (`alterPartitionReassignment`): moves
    /// it to `target` replicas, or cancels the reassignment in progress (`None`). The target
    /// is checked as a manual assignment ([`Controller::validate_manual_assignment`], any
    /// replication factor). The first change adds the target replicas, which catch up as
    /// followers; the leader's AlterPartition that brings the last of them into the ISR
    /// completes it ([`super::partition`]'s `finish_change`), dropping the removed replicas,
    /// whose brokers then delete their logs. Errors: an unknown topic or partition
    /// UNKNOWN_TOPIC_OR_PARTITION, a cancel with none in progress NO_REASSIGNMENT_IN_PROGRESS,
    /// a cancel that would need an unclean election INVALID_REPLICA_ASSIGNMENT.
    pub fn alter_partition_reassignment(
        &mut self,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
    ) -> Result<(), ApiError> {
        let unknown =
            |what: String| ApiError::new(ResponseError::UnknownTopicOrPartition.code(), what);
        let topic_id = self
            .image
            .topic_id(topic)
            .ok_or_else(|| unknown(format!("Unable to find a topic named {topic}.")))?;
        let current = self
            .image
            .partition(topic_id, partition)
            .ok_or_else(|| unknown(format!("Unable to find partition {topic}:{partition}.")))?
            .clone();
        let acceptable = |r: i32| self.image.is_active(r);
        let changed = match target {
            None => {
                if !current.is_reassigning() {
                    // Kafka 4.3.1 answers it without a message.
                    return Err(ApiError::new(
                        ResponseError::NoReassignmentInProgress.code(),
                        "",
                    ));
                }
                revert_reassignment(&current, &acceptable).map_err(|()| {
                    invalid_assignment(format!(
                        "Unable to revert partition assignment for {topic}:{partition} because it would require an unclean leader election."
                    ))
                })?
            }
            Some(target) => {
                self.validate_manual_assignment(target, None)?;
                start_reassignment(&current, target, &acceptable)
            }
        };
        if let Some(registration) = changed {
            self.append(MetadataRecord::Partition {
                topic_id,
                partition,
                registration,
            });
        }
        Ok(())
    }

    /// ListPartitionReassignments: the partitions being reassigned, of every topic (`None`)
    /// or of the topics and partitions asked for (unknown ones left out, as Kafka does):
    /// `(topic, partition, registration)`.
    pub fn reassigning_partitions<'a>(
        &'a self,
        asked: Option<&'a [(String, Vec<i32>)]>,
    ) -> Vec<(&'a str, i32, &'a PartitionRegistration)> {
        let mut out = Vec::new();
        match asked {
            None => {
                for topic in self.image.topics() {
                    for (i, p) in topic.partitions.iter().enumerate() {
                        if p.is_reassigning() {
                            out.push((topic.name.as_str(), i as i32, p));
                        }
                    }
                }
            }
            Some(asked) => {
                for (name, partitions) in asked {
                    let Some(topic) = self.image.topic_by_name(name) else {
                        continue;
                    };
                    for &i in partitions {
                        let p = usize::try_from(i)
                            .ok()
                            .and_then(|i| topic.partitions.get(i));
                        if let Some(p) = p.filter(|p| p.is_reassigning()) {
                            out.push((topic.name.as_str(), i, p));
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether some partition is not led by its preferred replica (Kafka's
    /// `arePartitionLeadersImbalanced`): the controller then schedules
    /// [`Controller::balance_partition_leaders`] (`auto.leader.rebalance.enable`).
    pub fn are_partition_leaders_imbalanced(&self) -> bool {
        self.image
            .topics()
            .any(|t| t.partitions.iter().any(|p| !p.has_preferred_leader()))
    }

    /// Moves leadership back to preferred replicas where they are in the ISR and unfenced
    /// (`auto.leader.rebalance.enable`), at most [`MAX_ELECTIONS_PER_IMBALANCE`] partitions
    /// at a time (`maybeBalancePartitionLeaders`). Returns how many partitions changed
    /// leader: at the maximum, the caller runs it again soon, as Kafka reschedules it
    /// "immediately" (10 ms).
    pub fn balance_partition_leaders(&mut self) -> usize {
        let imbalanced = self.partitions_where(|p| !p.has_preferred_leader());
        let mut moved = 0;
        for (topic_id, partition) in imbalanced {
            if moved >= MAX_ELECTIONS_PER_IMBALANCE {
                break;
            }
            let Some(current) = self.image.partition(topic_id, partition) else {
                continue;
            };
            let acceptable = |r: i32| self.image.is_active(r);
            let Some(registration) =
                change_partition(current, &current.isr, Election::Preferred, &acceptable)
            else {
                continue;
            };
            if registration.has_preferred_leader() {
                self.append(MetadataRecord::Partition {
                    topic_id,
                    partition,
                    registration,
                });
                moved += 1;
            }
        }
        moved
    }
}

impl TopicReplicationConfig {
    /// The cluster defaults of a controller.
    fn default_from(controller: &Controller) -> TopicReplicationConfig {
        TopicReplicationConfig {
            min_insync_replicas: controller.config.min_insync_replicas,
            unclean_leader_election_enable: controller.config.unclean_leader_election_enable,
        }
    }
}

/// The epoch and ISR checks of `validateAlterPartitionData`, in Kafka's order.
fn validate_alter_partition(
    current: &PartitionRegistration,
    request: &AlterPartition,
) -> Result<(), i16> {
    if request.leader_epoch > current.leader_epoch
        || request.partition_epoch > current.partition_epoch
    {
        return Err(ResponseError::NotController.code());
    }
    if request.leader_epoch < current.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch.code());
    }
    if request.broker_id != current.leader {
        return Err(ResponseError::InvalidRequest.code());
    }
    if request.partition_epoch < current.partition_epoch {
        return Err(ResponseError::InvalidUpdateVersion.code());
    }
    let ids: Vec<i32> = request.new_isr.iter().map(|s| s.broker_id).collect();
    let strangers = ids.iter().any(|r| !current.replicas.contains(r));
    let duplicates = ids.iter().enumerate().any(|(i, r)| ids[..i].contains(r));
    if strangers || duplicates || !ids.contains(&current.leader) {
        return Err(ResponseError::InvalidRequest.code());
    }
    Ok(())
}
