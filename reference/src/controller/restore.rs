//! Restoring topics a previous controller recorded: a whole cluster started again on the
//! same data directory (owned by the cluster's persistence, `cluster::metadata`).
//!
//! Kafka's controller replays its `__cluster_metadata` log; this controller keeps a snapshot
//! of the topics instead, and restores each as its records again: the topic with its id and
//! replication configs, then every partition with its assignment and ISR. No broker is
//! registered yet when that happens, so each partition comes back *leaderless* at the next
//! leader epoch: the first member of its ISR to be unfenced is elected (as
//! [`Controller::heartbeat`] does for leaderless partitions), and a partition whose ISR never
//! comes back stays offline, as in Kafka.
//!
//! # References
//! - Apache Kafka sources: `QuorumController` (replaying the metadata log at startup),
//!   `ReplicationControlManager.replay(TopicRecord / PartitionRecord)`

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::image::{MetadataRecord, TopicReplicationConfig};
use super::partition::{NO_LEADER, PartitionRegistration};
use super::quorum::{ApiError, Controller};

impl Controller {
    /// Records `name` (id `topic_id`) again with its partitions, each leaderless at the next
    /// leader and partition epoch (see the module docs). TOPIC_ALREADY_EXISTS if the name or
    /// the id is taken; INVALID_REQUEST for a partition without replicas or ISR.
    pub fn restore_topic(
        &mut self,
        name: &str,
        topic_id: Uuid,
        config: TopicReplicationConfig,
        partitions: &[PartitionRegistration],
    ) -> Result<(), ApiError> {
        if self.image.topic_id(name).is_some() || self.image.topic(topic_id).is_some() {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists.code(),
                format!("Topic '{name}' already exists."),
            ));
        }
        if partitions
            .iter()
            .any(|p| p.replicas.is_empty() || p.isr.is_empty())
        {
            return Err(ApiError::new(
                ResponseError::InvalidRequest.code(),
                format!("Topic '{name}' has a partition without replicas or ISR."),
            ));
        }
        self.append(MetadataRecord::Topic {
            name: name.to_string(),
            topic_id,
            config,
        });
        for (partition, registration) in partitions.iter().enumerate() {
            self.append(MetadataRecord::Partition {
                topic_id,
                partition: partition as i32,
                registration: PartitionRegistration {
                    leader: NO_LEADER,
                    leader_epoch: registration.leader_epoch + 1,
                    partition_epoch: registration.partition_epoch + 1,
                    ..registration.clone()
                },
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::controller::{BrokerHeartbeat, ControllerConfig};

    #[test]
    fn a_restored_partition_is_led_by_the_first_isr_member_to_come_back() {
        let mut controller = Controller::new(ControllerConfig::default(), 1);
        let id = Uuid::from_u128(9);
        let before = PartitionRegistration {
            replicas: vec![1, 2, 3],
            isr: vec![2, 3],
            leader: 2,
            leader_epoch: 4,
            partition_epoch: 7,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        };
        controller
            .restore_topic("orders", id, TopicReplicationConfig::default(), &[before])
            .unwrap();
        let restored = controller.partition("orders", 0).unwrap().clone();
        assert_eq!(
            (
                restored.leader,
                restored.leader_epoch,
                restored.partition_epoch
            ),
            (NO_LEADER, 5, 8)
        );
        assert_eq!(restored.isr, vec![2, 3]);
        assert_eq!(
            controller
                .restore_topic("orders", id, TopicReplicationConfig::default(), &[])
                .unwrap_err()
                .code,
            ResponseError::TopicAlreadyExists.code()
        );

        // Broker 1 is not in the ISR: it cannot lead. Broker 3 is.
        for broker in [1, 3] {
            let epoch = controller
                .register_broker(broker, Uuid::from_u128(broker as u128), 0)
                .unwrap();
            let heartbeat = BrokerHeartbeat {
                broker_id: broker,
                broker_epoch: epoch,
                current_metadata_offset: controller.metadata_offset(),
                want_fence: false,
            };
            controller.heartbeat(&heartbeat, 0).unwrap();
            let leader = controller.partition("orders", 0).unwrap().leader;
            assert_eq!(leader, if broker == 1 { NO_LEADER } else { 3 });
        }
    }
}
