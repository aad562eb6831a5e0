//! The cluster controller: brokers, topics, replica placement, leaders, ISRs and epochs, as a
//! synchronous state machine with an explicit clock.
//!
//! It holds what a KRaft controller holds — registered brokers with their liveness, topics
//! with their replica assignment, and for each partition its leader, ISR, leader epoch and
//! partition epoch — and decides what KRaft decides: where replicas go, who leads when a
//! broker is lost or comes back, which ISR changes a leader may make. Like the group
//! coordinator it does no I/O and holds no futures: every method takes `&mut self` (and the
//! time where time matters) and returns its answer. Its decisions are *records* in a metadata
//! log with increasing offsets; brokers apply the same records to a [`MetadataImage`] and act
//! on the partitions that changed. That is KRaft's design (KIP-500, KIP-631), and it makes
//! every failover drivable, step by step, by a test or a seeded simulation
//! (`crate::replication::sim`).
//!
//! # Why it is shaped so
//!
//! Safety in Kafka's replication rests on a few controller rules, each kept here with Kafka's
//! names: the leader epoch is bumped on every leader change, so a deposed leader's requests
//! are recognisably stale (KIP-101, KIP-320); only the leader changes the ISR, and only
//! through the controller, naming the partition epoch it saw (AlterPartition, KIP-497), so a
//! stale leader cannot shrink the ISR to itself and acknowledge alone; a new leader comes
//! from the ISR unless `unclean.leader.election.enable` says otherwise; a restarted broker
//! must be fenced before its new incarnation registers, and joins an ISR only with its
//! current broker epoch (KIP-903).
//!
//! # Driving it (the wire layer's side)
//!
//! | Kafka request | call |
//! | --- | --- |
//! | BrokerRegistration | [`Controller::register_broker`] → broker epoch |
//! | BrokerHeartbeat | [`Controller::heartbeat`], then [`Controller::fetch_metadata`] from the broker's offset (KRaft brokers fetch `__cluster_metadata`; here the reply can carry it) |
//! | (timer) | [`Controller::tick`] at [`Controller::next_deadline_ms`]: fences expired sessions |
//! | CreateTopics | [`Controller::create_topic`] per topic |
//! | DeleteTopics | [`Controller::delete_topic`] per topic id |
//! | IncrementalAlterConfigs, AlterConfigs (topic, broker defaults) | [`Controller::update_topic_config`] per topic touched, [`Controller::set_default_replication_config`] |
//! | AlterPartition | [`Controller::alter_partition`] per partition |
//! | ElectLeaders | [`Controller::elect_leader`] per partition |
//! | AlterPartitionReassignments | [`Controller::alter_partition_reassignment`] per partition (KIP-455: the target replicas added, the move completed by the AlterPartition that brings them all into the ISR) |
//! | ListPartitionReassignments | [`Controller::reassigning_partitions`] |
//! | AllocateProducerIds | [`Controller::allocate_producer_ids`] → a block of producer ids |
//! | (timer) `auto.leader.rebalance.enable` | [`LeaderBalancing::run`]: [`Controller::balance_partition_leaders`] one `leader.imbalance.check.interval.seconds` after leaders became imbalanced |
//! | Metadata, DescribeTopicPartitions | read a broker's [`MetadataImage`] |
//!
//! A broker applies fetched records with [`MetadataImage::apply`] and, for each partition the
//! record changed, looks at [`PartitionRegistration::role_of`] its own id: become leader or
//! follower at the record's leader epoch (`crate::replication::Partition::make_leader` /
//! `make_follower`), or stop; a partition whose topic left the image was deleted.
//!
//! # Not modelled
//!
//! Racks, log directories (JBOD, AlterReplicaLogDirs), replication throttles,
//! controlled shutdown, the
//! controller quorum itself (one controller that never fails: its Raft log is KRaft's
//! concern), leader recovery state (KIP-704) and eligible leader replicas (KIP-966: the ISR
//! here never empties, and its last member may lead again after an unclean shutdown, as in
//! Kafka without ELR).
//!
//! # References
//! - KIP-500 / KIP-631 (KRaft), KIP-497 (AlterPartition), KIP-841 and KIP-903 (ISR
//!   eligibility), KIP-460 (ElectLeaders), KIP-966 (ELR: not modelled)
//! - Apache Kafka sources: `QuorumController`, `ClusterControlManager`,
//!   `ReplicationControlManager`, `PartitionChangeBuilder`, `StripedReplicaPlacer`,
//!   `BrokerHeartbeatManager`, `MetadataImage`

mod balance;
mod cluster;
mod image;
mod names;
mod partition;
mod placement;
mod producer_ids;
mod quorum;
mod restore;
#[cfg(test)]
mod tests;
mod topics;

pub use balance::{BALANCE_AGAIN_MS, LeaderBalancing};
pub use cluster::{BrokerHeartbeat, HeartbeatReply};
pub use image::{
    Applied, BrokerImage, MetadataImage, MetadataLogRecord, MetadataRecord, TopicImage,
    TopicReplicationConfig,
};
pub use names::{MAX_TOPIC_NAME_LEN, check_topic_collision, validate_topic_name};
pub use partition::{Election, NO_LEADER, PartitionRegistration, ReplicaRole};
pub use placement::{SplitMix64, UsableBroker, place_replicas};
pub use producer_ids::{PRODUCER_ID_BLOCK_SIZE, ProducerIdBlock};
pub use quorum::{ApiError, Controller, ControllerConfig, MetadataFetch, ObserverState};
pub use topics::{
    AlterPartition, BrokerState, EXCESSIVE_BATCH_MESSAGE, EXCESSIVE_PARTITIONS_MESSAGE,
    ElectionType, MAX_ELECTIONS_PER_IMBALANCE, MAX_PARTITIONS_PER_BATCH, MAX_RECORDS_PER_USER_OP,
};
