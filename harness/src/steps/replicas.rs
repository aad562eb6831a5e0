//! What a partition's replicas hold and serve once leadership has moved: exactly the
//! messages expected, every acknowledged message at the offset its acknowledgement named,
//! the same messages at the same offsets on every replica, and a leader that fences fetches
//! naming a leader epoch other than its own.
//!
//! Each replica is read by raw Fetches sent to that broker ([`super::non_leader::fetch_at`]),
//! waiting while a follower catches up to the high watermark; the leader is read through the
//! scenario's clients. Traces name a replica by its role or by `replica N` in the step's own
//! text, and a fetch by the leader epoch it named (`the stopped leader's`, `its current`,
//! `a later`), never the epoch's number.
//!
//! # References
//!
//! - Kafka protocol guide: Fetch (`current_leader_epoch`, v9+: FENCED_LEADER_EPOCH for an
//!   older epoch, UNKNOWN_LEADER_EPOCH for a newer one; KIP-320), ListOffsets.
//! - Kafka docs, "Replication" (an acknowledged message with acks=all survives the loss of
//!   the leader; with acks=1 it may not).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use cucumber::then;
use rdkafka::Offset;

use super::consuming::{assigned_consumer, receive_unrecorded};
use super::failover::led_by_stopped;
use super::metadata::partition_state;
use super::non_leader::{fetch_at, record_fetch_at};
use super::offsets::{query_offset, read_partition};
use super::{Deadline, comma_list};
use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::raw_client::FetchedPartition;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long a step that reads every replica waits for followers to catch up.
const REPLICA_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

#[then(expr = "within {int} seconds partition {int} of {string} holds exactly {string}")]
async fn holds_exactly(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    values: String,
) -> StepResult {
    let expected = comma_list(&values);
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{logical}/{partition} to hold exactly {expected:?}"),
    );
    let records = loop {
        match read_partition(world, &logical, partition).await {
            Ok(records) => {
                let got: Vec<String> = records
                    .iter()
                    .map(|r| show_value(r.value.as_deref()))
                    .collect();
                if got == expected {
                    break records;
                }
                deadline.wait(format!("{got:?}")).await?;
            }
            Err(error) => {
                // Leadership is still moving: ask again on fresh connections.
                world.reconnect();
                deadline.wait(format!("{error:#}")).await?;
            }
        }
    };
    for record in records {
        world.record(Observation::Consumed {
            topic: logical.clone(),
            partition,
            offset: record.offset,
            value: show_value(record.value.as_deref()),
        });
    }
    Ok(())
}

#[then(
    expr = "a consumer of partition {int} of {string} reads every acknowledged message at the offset its acknowledgement named"
)]
async fn reads_every_acknowledged(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
) -> StepResult {
    let acknowledged: Vec<(i64, String)> = world
        .deliveries
        .iter()
        .filter(|d| d.topic == logical)
        .filter_map(|d| match d.outcome {
            Ok((p, offset)) if p == partition => Some((offset, d.value.clone())),
            _ => None,
        })
        .collect();
    check!(
        !acknowledged.is_empty(),
        "no message to {logical}/{partition} was acknowledged"
    );
    let end = query_offset(world, &logical, partition, "latest").await?;
    let consumer = assigned_consumer(world, &logical, &[(partition, Offset::Beginning)], &[])?;
    let what = format!("a consumer of {logical}/{partition} to read up to offset {end}");
    let received = receive_unrecorded(&consumer, &what, |records| {
        records.last().is_some_and(|r| r.offset + 1 >= end)
    })
    .await?;
    tracing::info!(
        "{logical}/{partition}: {} acknowledged, {} records read up to offset {end}",
        acknowledged.len(),
        received.len()
    );
    let mut read = BTreeMap::new();
    let mut previous = -1;
    for record in &received {
        check!(
            record.offset > previous,
            "the consumer read offset {} after offset {previous}",
            record.offset
        );
        previous = record.offset;
        read.insert(record.offset, record.value.clone());
    }
    for (offset, value) in &acknowledged {
        match read.get(offset) {
            Some(found) => check!(
                found == value,
                "{value:?} was acknowledged at offset {offset}, which holds {found:?}"
            ),
            None => check!(
                false,
                "{value:?} was acknowledged at offset {offset}, which the consumer did not read \
                 (it read offsets {:?} to {previous})",
                read.keys().next()
            ),
        }
    }
    world.record(Observation::Checked(format!(
        "a consumer of {logical}/{partition} read every acknowledged message at the offset its acknowledgement named"
    )));
    Ok(())
}

/// Everything one replica serves of a partition from offset 0 up to `end`, by raw Fetches
/// to that broker (a follower serves up to the high watermark it knows, so this waits for it
/// to catch up).
async fn read_replica(
    world: &mut KafkaWorld,
    broker: i32,
    logical: &str,
    partition: i32,
    end: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    let role = format!("replica {broker}");
    let deadline = Deadline::after(
        REPLICA_CATCH_UP_TIMEOUT,
        format!("{role} of {logical}/{partition} to serve offsets up to {end}"),
    );
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < end {
        let fetched = fetch_at(world, broker, &role, logical, partition, offset).await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                // A broker that has just started may drop the first connection.
                world.reconnect();
                deadline.wait(format!("{error:#}")).await?;
                continue;
            }
        };
        let before = records.len();
        if fetched.error_code == 0 {
            records.extend(
                fetched
                    .records
                    .iter()
                    .filter(|r| r.offset >= offset && r.offset < end)
                    .map(|r| (r.offset, show_value(r.value.as_deref()))),
            );
        }
        match records.last() {
            Some((last, _)) if records.len() > before => offset = last + 1,
            _ => {
                deadline
                    .wait(format!(
                        "{} at offset {offset}, high watermark {}",
                        ErrorCode::from_kafka(fetched.error_code),
                        fetched.high_watermark
                    ))
                    .await?
            }
        }
    }
    Ok(records)
}

#[then(
    expr = "every replica of partition {int} of {string} holds the same messages at the same offsets"
)]
async fn replicas_agree(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader: {state:?}"
    );
    let end = query_offset(world, &logical, partition, "latest").await?;
    let leader_log = read_replica(world, state.leader, &logical, partition, end).await?;
    let mut offsets = BTreeSet::new();
    for (offset, _) in &leader_log {
        check!(
            offsets.insert(*offset),
            "the leader serves offset {offset} twice"
        );
    }
    for follower in state.followers() {
        let log = read_replica(world, follower, &logical, partition, end).await?;
        if log != leader_log {
            let first_difference = log
                .iter()
                .zip(&leader_log)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("follower {a:?}, leader {b:?}"));
            check!(
                false,
                "a follower of {logical}/{partition} holds {} records, the leader {}; first \
                 difference: {first_difference:?}",
                log.len(),
                leader_log.len()
            );
        }
    }
    world.record(Observation::Checked(format!(
        "all {} replicas of {logical}/{partition} hold the same messages at the same offsets",
        state.replicas.len()
    )));
    Ok(())
}

/// A raw Fetch of a partition from offset 0 at its current leader, naming the leader epoch
/// `which` describes; recorded with the role it was sent to.
async fn fetch_naming_epoch(
    world: &mut KafkaWorld,
    partition: i32,
    logical: &str,
    which: &str,
) -> anyhow::Result<(i32, i32, FetchedPartition)> {
    let state = partition_state(world, logical, partition).await?;
    anyhow::ensure!(
        state.leader >= 0,
        "{logical}/{partition} has no leader: {state:?}"
    );
    let epoch = match which {
        "the stopped leader's" => led_by_stopped(world, logical, partition)?.1.leader_epoch,
        "its current" => state.leader_epoch,
        "a later" => state.leader_epoch + 1,
        other => anyhow::bail!("unknown leader epoch {other:?}"),
    };
    let physical = world.physical(logical);
    let fetched = world
        .raw()?
        .broker(state.leader)
        .await?
        .fetch_in_epoch(&physical, partition, 0, 0, epoch)
        .await
        .with_context(|| format!("Fetch of {logical}/{partition} in leader epoch {epoch}"))?;
    let role = format!("the leader of {logical}/{partition}, naming {which} leader epoch");
    record_fetch_at(world, role, logical, partition, 0, &fetched);
    Ok((epoch, state.leader_epoch, fetched))
}

#[then(
    regex = r#"^a fetch of partition (\d+) of "([^"]*)" from its leader, naming (the stopped leader's|its current|a later) leader epoch, fails with ([A-Z_]+) \((-?\d+)\)$"#
)]
async fn fetch_naming_epoch_fails(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    which: String,
    name: String,
    code: i32,
) -> StepResult {
    let (epoch, current, fetched) = fetch_naming_epoch(world, partition, &logical, &which).await?;
    let error = ErrorCode::from_kafka(fetched.error_code);
    check!(
        error.is(&name, code),
        "the fetch in leader epoch {epoch} (current {current}) answered {error}, expected {name} ({code})"
    );
    Ok(())
}

#[then(
    regex = r#"^a fetch of partition (\d+) of "([^"]*)" from its leader, naming (the stopped leader's|its current|a later) leader epoch, returns "([^"]*)"$"#
)]
async fn fetch_naming_epoch_returns(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    which: String,
    values: String,
) -> StepResult {
    let (epoch, _, fetched) = fetch_naming_epoch(world, partition, &logical, &which).await?;
    let expected = comma_list(&values);
    let got: Vec<String> = fetched
        .records
        .iter()
        .map(|r| show_value(r.value.as_deref()))
        .collect();
    check!(
        fetched.error_code == 0 && got == expected,
        "the fetch in leader epoch {epoch} answered {} with {got:?}, expected {expected:?}",
        ErrorCode::from_kafka(fetched.error_code)
    );
    Ok(())
}
