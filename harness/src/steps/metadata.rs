//! The Metadata view of a topic that the replication steps share, and the steps that check
//! Metadata itself: how many brokers the cluster lists, and that every broker describes a
//! topic alike.
//!
//! Placement ([`super::placement`]), requests to brokers other than the leader
//! ([`super::non_leader`]), failover ([`super::failover`]) and what replicas hold
//! ([`super::replicas`]) all read a topic as one broker's Metadata answer describes it:
//! [`TopicState`] and its [`PartitionState`]s, sorted, with no broker internals. A request
//! that fails because its broker was just stopped is asked once more on a fresh connection;
//! while a step keeps brokers frozen, Metadata is asked of one that still answers (the
//! addresses are kept in [`super::failover::ReplicationState`]), since a frozen broker
//! accepts a connection and then says nothing until a timeout.
//!
//! # References
//!
//! - Kafka protocol guide: Metadata (`leader_epoch` since v7, `replica_nodes`, `isr_nodes`;
//!   error 3, UNKNOWN_TOPIC_OR_PARTITION, for a topic it does not know).
//! - KIP-500 / KRaft: every broker learns the cluster's metadata from the controller's log,
//!   one after another, so that all of them answer alike once caught up.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{given, then};

use super::Deadline;
use crate::observation::Observation;
use crate::raw_client::RawConnection;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartitionState {
    pub(super) partition: i32,
    pub(super) error: i16,
    /// -1 while it has none.
    pub(super) leader: i32,
    pub(super) leader_epoch: i32,
    pub(super) replicas: Vec<i32>,
    pub(super) isr: Vec<i32>,
}

impl TopicState {
    /// One of its partitions, which Metadata must list.
    pub(super) fn partition(
        &self,
        logical: &str,
        partition: i32,
    ) -> anyhow::Result<&PartitionState> {
        self.partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| anyhow!("Metadata lists no partition {partition} of {logical:?}"))
    }
}

impl PartitionState {
    /// Its replicas other than the leader, in Metadata's order.
    pub(super) fn followers(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|id| *id != self.leader)
            .collect()
    }
}

/// A topic as one broker's Metadata describes it: the brokers it lists, the topic's error
/// code and its partitions, sorted by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TopicState {
    pub(super) brokers: Vec<i32>,
    pub(super) error: i16,
    pub(super) partitions: Vec<PartitionState>,
}

/// The topic `physical` as a Metadata answer describes it (error 3, no partitions, if the
/// answer does not list it).
pub(super) fn topic_state_of(
    metadata: &kafka_protocol::messages::MetadataResponse,
    physical: &str,
) -> TopicState {
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort_unstable();
    let topic = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == physical));
    let Some(topic) = topic else {
        return TopicState {
            brokers,
            error: 3,
            partitions: Vec::new(),
        };
    };
    let mut partitions: Vec<PartitionState> = topic
        .partitions
        .iter()
        .map(|p| PartitionState {
            partition: p.partition_index,
            error: p.error_code,
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    TopicState {
        brokers,
        error: topic.error_code,
        partitions,
    }
}

/// The topic as any live broker describes it. A failed request (a connection to a broker
/// that has just been stopped) is tried once more on a fresh connection. While brokers are
/// frozen, it is asked of a broker that is neither frozen nor stopped, on a new connection.
pub(super) async fn topic_state(
    world: &mut KafkaWorld,
    logical: &str,
) -> anyhow::Result<TopicState> {
    let physical = world.physical(logical);
    let mut last_error = None;
    for _ in 0..2 {
        let answering = world.replication.answering_address();
        let answer = async {
            match answering {
                Some(address) => {
                    RawConnection::connect(&address)
                        .await?
                        .metadata(Some(&[physical.as_str()]), false)
                        .await
                }
                None => {
                    world
                        .raw()?
                        .any_broker()
                        .await?
                        .metadata(Some(&[physical.as_str()]), false)
                        .await
                }
            }
        }
        .await;
        match answer {
            Ok(metadata) => {
                world.replication.remember_addresses(&metadata.brokers);
                return Ok(topic_state_of(&metadata, &physical));
            }
            Err(error) => {
                last_error = Some(error);
                world.reconnect();
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| anyhow!("no answer"))
        .context(format!("Metadata for {logical}")))
}

/// One partition of a topic, which must exist.
pub(super) async fn partition_state(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
) -> anyhow::Result<PartitionState> {
    let state = topic_state(world, logical).await?;
    state.partition(logical, partition).cloned()
}

/// Asks for the topic until every one of its partitions (it must have some) passes `good`.
pub(super) async fn topic_state_until(
    world: &mut KafkaWorld,
    logical: &str,
    deadline: &Deadline,
    good: impl Fn(&PartitionState) -> bool,
) -> anyhow::Result<TopicState> {
    loop {
        let state = topic_state(world, logical).await?;
        if !state.partitions.is_empty() && state.partitions.iter().all(&good) {
            return Ok(state);
        }
        deadline.wait(format!("{:?}", state.partitions)).await?;
    }
}

/// Asks for one partition of the topic until it passes `good`, for at most `seconds`;
/// `what` names the wait.
pub(super) async fn partition_state_until(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    seconds: u64,
    what: &str,
    good: impl Fn(&PartitionState) -> bool,
) -> anyhow::Result<PartitionState> {
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{logical}/{partition} to {what}"),
    );
    loop {
        let state = partition_state(world, logical, partition).await?;
        if good(&state) {
            return Ok(state);
        }
        deadline.wait(format!("{state:?}")).await?;
    }
}

/// The node ids of the live brokers, as Metadata lists them.
pub(super) async fn live_brokers(world: &mut KafkaWorld) -> anyhow::Result<Vec<i32>> {
    let metadata = world
        .raw()?
        .any_broker()
        .await?
        .metadata(Some(&[]), false)
        .await
        .context("Metadata for the broker list")?;
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort_unstable();
    Ok(brokers)
}

#[given(expr = "a cluster of {int} brokers")]
async fn a_cluster_of(world: &mut KafkaWorld, expected: usize) -> StepResult {
    let brokers = live_brokers(world).await?;
    check!(
        brokers.len() == expected,
        "Metadata lists {} brokers ({brokers:?}), expected {expected}",
        brokers.len()
    );
    world.record(Observation::Checked(format!(
        "the cluster has {expected} brokers"
    )));
    Ok(())
}

#[then(
    expr = "within {int} seconds every broker answers Metadata for {string} with the same leaders, replicas and in-sync replicas"
)]
async fn every_broker_agrees(world: &mut KafkaWorld, seconds: u64, logical: String) -> StepResult {
    let physical = world.physical(&logical);
    let brokers = live_brokers(world).await?;
    check!(brokers.len() > 1, "only {brokers:?} answer");
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("every broker to describe {logical:?} alike"),
    );
    loop {
        let mut answers = BTreeMap::new();
        for broker in &brokers {
            let metadata = world
                .raw()?
                .broker(*broker)
                .await?
                .metadata(Some(&[physical.as_str()]), false)
                .await
                .with_context(|| format!("Metadata for {logical} from broker {broker}"))?;
            answers.insert(*broker, topic_state_of(&metadata, &physical));
        }
        let first = answers.values().next().cloned();
        let all_led = first
            .as_ref()
            .is_some_and(|s| s.error == 0 && s.partitions.iter().all(|p| p.leader >= 0));
        if all_led && answers.values().all(|s| Some(s) == first.as_ref()) {
            break;
        }
        deadline.wait(format!("{answers:?}")).await?;
    }
    world.record(Observation::Checked(format!(
        "all {} brokers answer Metadata for {logical} with the same leaders, replicas and in-sync replicas",
        brokers.len()
    )));
    Ok(())
}
