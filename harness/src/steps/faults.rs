//! Faults: stopping a broker as a crash would, and what Metadata says about in-sync replicas
//! while it is down.
//!
//! Steps act through the target's [`crate::target::FaultControl`]; scenarios that use them
//! carry `@requires-fault-control` (and `@requires-multiple-brokers`), and `@serial`, since
//! a stopped broker affects every scenario sharing the cluster. The runner's `after` hook
//! puts every broker back ([`crate::target::FaultControl::restore`]) whatever the scenario
//! did, so the next one finds a whole cluster. Which broker a step picks depends on where
//! the cluster placed replicas, so the trace names its role, never its id.
//!
//! # References
//!
//! - Kafka protocol guide, Metadata (`replica_nodes`, `isr_nodes`); `broker.session.timeout.ms`
//!   (a broker that stops heartbeating is fenced and leaves every ISR).

use std::time::Duration;

use anyhow::anyhow;
use cucumber::{given, then, when};

use super::Deadline;
use super::failover::stop_broker;
use crate::StepResult;
use crate::observation::Observation;
use crate::world::KafkaWorld;

/// A partition's leader, replicas and in-sync replicas, from Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placement {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

async fn placement(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
) -> anyhow::Result<Placement> {
    let metadata = world.topic_metadata(logical).await?;
    let found = metadata
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| anyhow!("Metadata lists no partition {partition} of {logical:?}"))?;
    Ok(Placement {
        leader: found.leader_id.0,
        replicas: found.replica_nodes.iter().map(|b| b.0).collect(),
        isr: found.isr_nodes.iter().map(|b| b.0).collect(),
    })
}

async fn stop_a_follower(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let placement = placement(world, &logical, partition).await?;
    let follower = placement
        .replicas
        .iter()
        .copied()
        .filter(|id| *id != placement.leader)
        .max()
        .ok_or_else(|| {
            anyhow!("partition {partition} of {logical:?} has no follower: {placement:?}")
        })?;
    stop_broker(world, follower).await?;
    world.record(Observation::Fault {
        action: format!("stopped a follower of {logical}/{partition}"),
    });
    Ok(())
}

#[given(expr = "a follower of partition {int} of {string} has been stopped")]
async fn given_follower_stopped(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
) -> StepResult {
    stop_a_follower(world, partition, logical).await
}

#[when(expr = "a follower of partition {int} of {string} is stopped")]
async fn when_follower_stopped(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
) -> StepResult {
    stop_a_follower(world, partition, logical).await
}

#[given(expr = "within {int} seconds partition {int} of {string} has {int} in-sync replica(s)")]
async fn given_in_sync_replicas(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    expected: usize,
) -> StepResult {
    in_sync_replicas(world, seconds, partition, logical, expected).await
}

#[then(expr = "within {int} seconds partition {int} of {string} has {int} in-sync replica(s)")]
async fn then_in_sync_replicas(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    expected: usize,
) -> StepResult {
    in_sync_replicas(world, seconds, partition, logical, expected).await
}

/// Waits until Metadata shows `expected` in-sync replicas.
async fn in_sync_replicas(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    expected: usize,
) -> StepResult {
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("partition {partition} of {logical:?} to have {expected} in-sync replicas"),
    );
    loop {
        let placement = placement(world, &logical, partition).await?;
        if placement.isr.len() == expected {
            break;
        }
        deadline
            .wait(format!("{} in sync: {placement:?}", placement.isr.len()))
            .await?;
    }
    world.record(Observation::InSyncReplicas {
        topic: logical,
        partition,
        count: expected,
    });
    Ok(())
}
