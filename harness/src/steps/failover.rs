//! Failover: stopping, freezing and restarting brokers, and what Metadata says of leaders
//! and in-sync replicas meanwhile.
//!
//! Steps stop and freeze brokers through the target's [`crate::target::FaultControl`]
//! (scenarios that use them carry `@requires-fault-control @requires-multiple-brokers
//! @serial`) and keep what they did in [`ReplicationState`], so that later steps can check
//! that the stopped broker left the in-sync replicas, that a follower took over with a
//! higher leader epoch, and start it again. A broker is stopped by its role (the leader or
//! the follower of a partition), never by id. How many sends fail and are retried while
//! leadership moves depends on timing: the failover send step records only what must hold
//! whatever happened; what the partition holds afterwards is checked by
//! [`super::replicas`].
//!
//! # References
//!
//! - Kafka docs, "Replication" (only an in-sync replica is elected, unclean leader election
//!   is off by default; acks=all and `min.insync.replicas`).
//! - Kafka protocol guide: Metadata (`leader_id`, `leader_epoch`, `isr_nodes`), Fetch
//!   (`replica.fetch.wait.max.ms`).
//! - KIP-631 / KRaft: `broker.session.timeout.ms` (a broker that stops heartbeating to the
//!   controller is fenced, loses its leaderships and leaves every ISR).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{then, when};
use futures::future::join_all;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use rdkafka::producer::FutureRecord;

use super::metadata::{
    PartitionState, partition_state, partition_state_until, topic_state, topic_state_until,
};
use super::producing::{Report, send_record};
use super::{Deadline, numbered_range_of};
use crate::clients::Producer;
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::target::{FaultControl, Target};
use crate::world::{Delivery, KafkaWorld};
use crate::{StepResult, check};

/// The longest a delivery report may take while leadership moves (the scenario's
/// `message.timeout.ms` should be shorter).
const FAILOVER_DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The pause between two sends of the failover step after the first part: long enough that
/// sends are still being made while the leader is stopped, short enough to stay quick.
const FAILOVER_SEND_PACE: Duration = Duration::from_millis(20);

/// What replication steps stopped or froze, kept for the steps that follow.
#[derive(Debug, Default)]
pub struct ReplicationState {
    /// In the order they were stopped; a broker started again is removed.
    stopped: Vec<Stopped>,
    /// Brokers a step froze (SIGSTOP) and has not resumed.
    paused: Vec<i32>,
    /// Every broker's address, as Metadata last listed it: while some brokers are frozen,
    /// Metadata is asked of one known to answer (a frozen broker accepts a connection and
    /// then says nothing until a timeout).
    addresses: BTreeMap<i32, String>,
}

/// A broker a step stopped and, if it was stopped as a partition's leader, what that
/// partition looked like then.
#[derive(Debug, Clone)]
struct Stopped {
    broker: i32,
    /// `leader` or `follower`: the role it had when it was stopped.
    role: &'static str,
    led: Option<Led>,
}

/// What a stopped leader led: the partition, its leader epoch then, and its followers.
#[derive(Debug, Clone)]
pub(super) struct Led {
    logical: String,
    partition: i32,
    pub(super) leader_epoch: i32,
    followers: Vec<i32>,
}

impl ReplicationState {
    /// While some broker is frozen, the address of one that is neither frozen nor stopped.
    pub(super) fn answering_address(&self) -> Option<String> {
        if self.paused.is_empty() {
            return None;
        }
        self.addresses
            .iter()
            .find(|(id, _)| {
                !self.paused.contains(id) && !self.stopped.iter().any(|s| s.broker == **id)
            })
            .map(|(_, address)| address.clone())
    }

    /// Keeps every broker's address as a Metadata answer lists them.
    pub(super) fn remember_addresses(&mut self, brokers: &[MetadataResponseBroker]) {
        for broker in brokers {
            self.addresses.insert(
                broker.node_id.0,
                format!("{}:{}", broker.host.as_str(), broker.port),
            );
        }
    }
}

/// The target's fault control, which a scenario tagged `@requires-fault-control` has.
fn fault_control(target: &dyn Target) -> anyhow::Result<&dyn FaultControl> {
    target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))
}

/// Keeps that the leader of `logical`/`state.partition` was stopped, with what it led.
fn keep_stopped_leader(world: &mut KafkaWorld, logical: &str, state: &PartitionState) {
    world.replication.stopped.push(Stopped {
        broker: state.leader,
        role: "leader",
        led: Some(Led {
            logical: logical.to_owned(),
            partition: state.partition,
            leader_epoch: state.leader_epoch,
            followers: state.followers(),
        }),
    });
}

/// Enqueues one message for a partition; the future is its delivery report.
fn send_one(producer: &Producer, physical: &str, partition: i32, value: &str) -> Report {
    let record = FutureRecord::<str, [u8]>::to(physical)
        .payload(value.as_bytes())
        .partition(partition);
    send_record(producer, record, FAILOVER_DELIVERY_TIMEOUT)
}

/// Stops a broker through the target's fault control and forgets connections to it: they
/// are dead, and the next request finds a live broker.
pub(super) async fn stop_broker(world: &mut KafkaWorld, broker: i32) -> anyhow::Result<()> {
    let target = world.target()?.clone();
    let faults = fault_control(target.as_ref())?;
    faults
        .stop_broker(broker)
        .await
        .with_context(|| format!("stopping broker {broker}"))?;
    world.reconnect();
    Ok(())
}

#[when(
    expr = "the producer sends {int} messages {string} to {string} to partition {int} of {string}, and the leader is stopped once the first {int} are acknowledged"
)]
#[allow(clippy::too_many_arguments)]
async fn send_through_failover(
    world: &mut KafkaWorld,
    count: usize,
    first: String,
    last: String,
    partition: i32,
    logical: String,
    before: usize,
) -> StepResult {
    let values = numbered_range_of(&first, &last, count)?;
    check!(
        0 < before && before < count,
        "the leader must stop between the first and the last message"
    );
    let physical = world.physical(&logical);
    let producer = world.producer()?.clone();

    let early: Vec<Report> = values[..before]
        .iter()
        .map(|value| send_one(&producer, &physical, partition, value))
        .collect();
    let mut outcomes = join_all(early).await;
    for (value, outcome) in values.iter().zip(&outcomes) {
        check!(
            outcome.is_ok(),
            "{value:?}, sent before the leader stopped, was not acknowledged: {outcome:?}"
        );
    }

    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader to stop: {state:?}"
    );
    let target = world.target()?.clone();
    let faults = fault_control(target.as_ref())?;
    // The rest is sent while the broker goes down: some of it reaches the old leader, some
    // waits for the new one.
    let send_rest = async {
        let mut reports = Vec::new();
        for value in &values[before..] {
            reports.push(send_one(&producer, &physical, partition, value));
            tokio::time::sleep(FAILOVER_SEND_PACE).await;
        }
        reports
    };
    let (stopped, late) = tokio::join!(faults.stop_broker(state.leader), send_rest);
    stopped.with_context(|| format!("stopping the leader of {logical}/{partition}"))?;
    world.reconnect();
    keep_stopped_leader(world, &logical, &state);
    outcomes.extend(join_all(late).await);
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    tracing::info!(
        "{logical}/{partition}: {} of {count} messages acknowledged, {failed} failed, across the \
         stop of broker {}",
        count - failed,
        state.leader
    );
    for (value, outcome) in values.iter().zip(outcomes) {
        world.deliveries.push(Delivery {
            topic: logical.clone(),
            key: None,
            value: value.clone(),
            outcome,
        });
    }
    world.record(Observation::Fault {
        action: format!(
            "stopped the leader of {logical}/{partition} once {before} of {count} messages were acknowledged"
        ),
    });
    Ok(())
}

#[when(expr = "the leader of partition {int} of {string} is stopped")]
async fn leader_stopped(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader to stop: {state:?}"
    );
    stop_broker(world, state.leader).await?;
    keep_stopped_leader(world, &logical, &state);
    world.record(Observation::Fault {
        action: format!("stopped the leader of {logical}/{partition}"),
    });
    Ok(())
}

#[when(expr = "the follower of partition {int} of {string} is stopped")]
async fn follower_stopped(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    let followers = state.followers();
    check!(
        followers.len() == 1,
        "{logical}/{partition} has followers {followers:?}, expected exactly one: {state:?}"
    );
    stop_broker(world, followers[0]).await?;
    world.replication.stopped.push(Stopped {
        broker: followers[0],
        role: "follower",
        led: None,
    });
    world.record(Observation::Fault {
        action: format!("stopped the follower of {logical}/{partition}"),
    });
    Ok(())
}

/// Twice `replica.fetch.wait.max.ms` (500 ms, Kafka's default and the reference's; the test
/// clusters keep it).
const FETCH_IN_FLIGHT_EXPIRY: Duration = Duration::from_millis(1000);

/// Freezes a partition's followers and then waits out the fetch each had in flight. A
/// follower always has a Fetch waiting at the leader (up to `replica.fetch.wait.max.ms`);
/// a message appended meanwhile would complete it, the answer would sit in the frozen
/// follower's socket, and the follower would append the message the moment it runs again
/// (real Kafka does exactly that). Once those fetches are answered, empty, a frozen follower
/// asks for nothing more. Nothing on the wire tells when that happened, hence the one fixed
/// wait of the step modules: twice the longest the leader holds a fetch.
#[when(
    expr = "the followers of partition {int} of {string} are paused, and their fetches in flight have run out"
)]
async fn followers_paused(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    let followers = state.followers();
    check!(
        !followers.is_empty(),
        "{logical}/{partition} has no follower: {state:?}"
    );
    let target = world.target()?.clone();
    let faults = fault_control(target.as_ref())?;
    for follower in followers {
        faults
            .pause_broker(follower)
            .await
            .with_context(|| format!("pausing broker {follower}"))?;
        world.replication.paused.push(follower);
    }
    world.reconnect();
    tokio::time::sleep(FETCH_IN_FLIGHT_EXPIRY).await;
    world.record(Observation::Fault {
        action: format!("paused the followers of {logical}/{partition}"),
    });
    Ok(())
}

#[when("the paused followers are resumed")]
async fn followers_resumed(world: &mut KafkaWorld) -> StepResult {
    check!(
        !world.replication.paused.is_empty(),
        "no broker was paused in this scenario"
    );
    let target = world.target()?.clone();
    let faults = fault_control(target.as_ref())?;
    for broker in std::mem::take(&mut world.replication.paused) {
        faults
            .resume_broker(broker)
            .await
            .with_context(|| format!("resuming broker {broker}"))?;
    }
    world.reconnect();
    world.record(Observation::Fault {
        action: "resumed the paused followers".to_owned(),
    });
    Ok(())
}

/// The broker this scenario stopped last (and has not started again).
fn stopped(world: &KafkaWorld) -> anyhow::Result<Stopped> {
    world
        .replication
        .stopped
        .last()
        .cloned()
        .ok_or_else(|| anyhow!("no step of this scenario stopped a broker"))
}

/// The broker this scenario stopped last, which must have been the leader of
/// `logical`/`partition`, and what it led.
pub(super) fn led_by_stopped(
    world: &KafkaWorld,
    logical: &str,
    partition: i32,
) -> anyhow::Result<(i32, Led)> {
    let stopped = stopped(world)?;
    let led = stopped
        .led
        .filter(|led| led.logical == logical && led.partition == partition)
        .ok_or_else(|| anyhow!("the stopped broker was not the leader of {logical}/{partition}"))?;
    Ok((stopped.broker, led))
}

#[then(
    expr = "within {int} seconds partition {int} of {string} has a new leader, one of its followers, with a higher leader epoch"
)]
async fn new_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    let (stopped, led) = led_by_stopped(world, &logical, partition)?;
    let state = partition_state_until(
        world,
        &logical,
        partition,
        seconds,
        "get a new leader",
        |p| p.leader >= 0 && p.leader != stopped,
    )
    .await?;
    check!(
        led.followers.contains(&state.leader),
        "the new leader {} of {logical}/{partition} was not a follower before ({:?})",
        state.leader,
        led.followers
    );
    check!(
        state.leader_epoch > led.leader_epoch,
        "the leader epoch of {logical}/{partition} is {}, it was {} under the stopped leader",
        state.leader_epoch,
        led.leader_epoch
    );
    world.record(Observation::Checked(format!(
        "{logical}/{partition} has a new leader, one of its followers, with a higher leader epoch"
    )));
    Ok(())
}

#[then(
    expr = "within {int} seconds every partition of {string} has {int} in-sync replicas, none of them the stopped broker"
)]
async fn in_sync_without_stopped(
    world: &mut KafkaWorld,
    seconds: u64,
    logical: String,
    expected: usize,
) -> StepResult {
    let stopped = stopped(world)?;
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!(
            "every partition of {logical:?} to have {expected} in-sync replicas without the stopped broker {}",
            stopped.broker
        ),
    );
    topic_state_until(world, &logical, &deadline, |p| {
        p.isr.len() == expected && !p.isr.contains(&stopped.broker)
    })
    .await?;
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {expected} in-sync replicas, none of them the stopped broker"
    )));
    Ok(())
}

#[then(expr = "within {int} seconds every partition of {string} has {int} in-sync replicas")]
async fn every_partition_in_sync(
    world: &mut KafkaWorld,
    seconds: u64,
    logical: String,
    expected: usize,
) -> StepResult {
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("every partition of {logical:?} to have {expected} in-sync replicas"),
    );
    let state = topic_state_until(world, &logical, &deadline, |p| p.isr.len() == expected).await?;
    for p in state.partitions {
        world.record(Observation::InSyncReplicas {
            topic: logical.clone(),
            partition: p.partition,
            count: expected,
        });
    }
    Ok(())
}

#[then(expr = "the stopped broker leads no partition of {string}")]
async fn stopped_leads_nothing(world: &mut KafkaWorld, logical: String) -> StepResult {
    let stopped = stopped(world)?;
    let state = topic_state(world, &logical).await?;
    check!(
        state.partitions.iter().all(|p| p.leader != stopped.broker),
        "the stopped broker {} still leads partitions of {logical:?}: {:?}",
        stopped.broker,
        state.partitions
    );
    check!(
        !state.brokers.contains(&stopped.broker),
        "Metadata still lists the stopped broker {} among {:?}",
        stopped.broker,
        state.brokers
    );
    world.record(Observation::Checked(format!(
        "the stopped broker leads no partition of {logical}, and Metadata no longer lists it"
    )));
    Ok(())
}

#[then(expr = "within {int} seconds partition {int} of {string} has no leader")]
async fn no_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    let state = partition_state_until(world, &logical, partition, seconds, "have no leader", |p| {
        p.leader < 0
    })
    .await?;
    world.record(Observation::NoLeader {
        topic: logical,
        partition,
        error: ErrorCode::from_kafka(state.error),
    });
    Ok(())
}

#[then(expr = "within {int} seconds partition {int} of {string} has a leader")]
async fn has_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    partition_state_until(world, &logical, partition, seconds, "have a leader", |p| {
        p.leader >= 0 && p.error == 0
    })
    .await?;
    world.record(Observation::Checked(format!(
        "{logical}/{partition} has a leader"
    )));
    Ok(())
}

#[when("the stopped broker is started again")]
async fn start_stopped(world: &mut KafkaWorld) -> StepResult {
    let stopped = stopped(world)?;
    start_again(world, stopped, "the stopped broker").await
}

#[when(regex = r"^the stopped (leader|follower) is started again$")]
async fn start_stopped_in_role(world: &mut KafkaWorld, role: String) -> StepResult {
    let stopped = world
        .replication
        .stopped
        .iter()
        .rev()
        .find(|s| s.role == role)
        .cloned()
        .ok_or_else(|| anyhow!("no {role} was stopped in this scenario"))?;
    start_again(world, stopped, &format!("the stopped {role}")).await
}

async fn start_again(world: &mut KafkaWorld, stopped: Stopped, what: &str) -> StepResult {
    let target = world.target()?.clone();
    let faults = fault_control(target.as_ref())?;
    faults
        .start_broker(stopped.broker)
        .await
        .with_context(|| format!("starting broker {} again", stopped.broker))?;
    world.reconnect();
    world
        .replication
        .stopped
        .retain(|s| s.broker != stopped.broker);
    world.record(Observation::Fault {
        action: format!("started {what} again"),
    });
    Ok(())
}
