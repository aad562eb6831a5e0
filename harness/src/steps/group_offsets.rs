//! Committed offsets of consumer groups: what a member commits, what the coordinator keeps
//! per group and partition, where a restarted member resumes, and where a group without a
//! committed offset starts (`auto.offset.reset`).
//!
//! A member "stops" by closing its consumer (it leaves the group); with
//! `enable.auto.commit=false` nothing is committed on the way out, so what a crash would
//! lose, this loses too. It "starts again" as a new consumer with the same name, group and
//! subscription. Committed offsets are read from the coordinator with OffsetFetch (raw
//! client), not from the member, so what is checked is what the broker keeps.
//!
//! # References
//!
//! - Kafka protocol guide: OffsetCommit, OffsetFetch (`committed_offset`, `-1` for none).
//! - Kafka documentation, "Consumer Position" and `auto.offset.reset`; librdkafka
//!   `CONFIGURATION.md` (`auto.offset.reset`: `smallest`/`earliest`, `largest`/`latest`,
//!   `error`).

use std::time::Duration;

use anyhow::anyhow;
use cucumber::{given, then, when};

use super::Deadline;
use super::groups::{close_member, note, on_coordinator, start_spec, wait_for_error};
use super::numbered_range;
use super::producing::{Outgoing, send_all};
use crate::group_client::{MemberRecord, committed_offsets};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long a step waits for a member to receive records or to be ready to fetch.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(15);

async fn send_to_partition(
    world: &mut KafkaWorld,
    first: &str,
    last: &str,
    partition: i32,
    logical: &str,
) -> anyhow::Result<()> {
    let messages = numbered_range(first, last)?
        .into_iter()
        .map(|value| Outgoing {
            partition: Some(partition),
            ..Outgoing::value(value)
        })
        .collect();
    send_all(world, logical, messages).await
}

#[given(expr = "partition {int} of {string} holds the messages {string} to {string}")]
async fn partition_holds(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    first: String,
    last: String,
) -> StepResult {
    send_to_partition(world, &first, &last, partition, &logical).await?;
    Ok(())
}

#[when(expr = "the messages {string} to {string} are sent to partition {int} of {string}")]
async fn messages_sent(
    world: &mut KafkaWorld,
    first: String,
    last: String,
    partition: i32,
    logical: String,
) -> StepResult {
    send_to_partition(world, &first, &last, partition, &logical).await?;
    Ok(())
}

/// A member's records of one partition, in the order it received them.
fn records_of(
    world: &KafkaWorld,
    name: &str,
    physical: &str,
    partition: i32,
) -> anyhow::Result<Vec<MemberRecord>> {
    Ok(world
        .groups
        .member(name)?
        .state()?
        .records
        .iter()
        .filter(|r| r.topic == physical && r.partition == partition)
        .cloned()
        .collect())
}

/// Waits until a member has received at least `count` records of a partition.
async fn wait_for_records(
    world: &mut KafkaWorld,
    name: &str,
    logical: &str,
    partition: i32,
    count: usize,
) -> anyhow::Result<Vec<MemberRecord>> {
    let physical = world.physical(logical);
    let deadline = Deadline::after(
        RECEIVE_TIMEOUT,
        format!("{name} to receive {count} records of {logical}/{partition}"),
    );
    loop {
        let records = records_of(world, name, &physical, partition)?;
        if records.len() >= count {
            return Ok(records);
        }
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        deadline.wait(format!("offsets {offsets:?}")).await?;
    }
}

fn group_of(world: &KafkaWorld, name: &str) -> anyhow::Result<String> {
    Ok(world.groups.member(name)?.group.clone())
}

#[then(
    expr = "{word} receives {string} to {string} from partition {int} of {string}, at offsets {int} to {int}"
)]
// A step function takes one argument per capture of its expression.
#[allow(clippy::too_many_arguments)]
async fn receives_range(
    world: &mut KafkaWorld,
    name: String,
    first: String,
    last: String,
    partition: i32,
    logical: String,
    first_offset: i64,
    last_offset: i64,
) -> StepResult {
    let values = numbered_range(&first, &last)?;
    let expected: Vec<(i64, String)> = (first_offset..=last_offset).zip(values).collect();
    check!(
        expected.len() as i64 == last_offset - first_offset + 1,
        "{first:?} to {last:?} does not fit offsets {first_offset} to {last_offset}"
    );
    let records = wait_for_records(world, &name, &logical, partition, expected.len()).await?;
    let got: Vec<(i64, String)> = records
        .iter()
        .map(|r| (r.offset, r.value.clone()))
        .collect();
    check!(
        got == expected,
        "{name} received {got:?} from {logical}/{partition}, expected {expected:?}"
    );
    let group = group_of(world, &name)?;
    note(
        world,
        &group,
        format!(
            "{name} received {first} to {last} from {logical}/{partition} at offsets {first_offset} to {last_offset}"
        ),
    );
    Ok(())
}

#[then(
    expr = "the first message {word} receives from partition {int} of {string} is {string} at offset {int}"
)]
async fn first_message(
    world: &mut KafkaWorld,
    name: String,
    partition: i32,
    logical: String,
    value: String,
    offset: i64,
) -> StepResult {
    let records = wait_for_records(world, &name, &logical, partition, 1).await?;
    let first = &records[0];
    check!(
        first.offset == offset && first.value == value,
        "the first message {name} received from {logical}/{partition} is {:?} at offset {}",
        first.value,
        first.offset
    );
    let group = group_of(world, &name)?;
    note(
        world,
        &group,
        format!("{name}'s first message from {logical}/{partition} is {value} at offset {offset}"),
    );
    Ok(())
}

#[when(expr = "{word} commits the offsets of the messages it received")]
async fn commits_received(world: &mut KafkaWorld, name: String) -> StepResult {
    let outcome = world.groups.member(&name)?.commit_consumed().await?;
    outcome.map_err(|e| anyhow!("{name}'s commit failed with {e}"))?;
    let group = group_of(world, &name)?;
    note(
        world,
        &group,
        format!("{name} committed the offsets librdkafka stored for what it received"),
    );
    Ok(())
}

#[when(expr = "{word} commits offset {int} for partition {int} of {string}")]
async fn commits_offset(
    world: &mut KafkaWorld,
    name: String,
    offset: i64,
    partition: i32,
    logical: String,
) -> StepResult {
    let physical = world.physical(&logical);
    let outcome = world
        .groups
        .member(&name)?
        .commit(vec![(physical, partition, offset)])
        .await?;
    outcome.map_err(|e| anyhow!("{name}'s commit failed with {e}"))?;
    let group = group_of(world, &name)?;
    note(
        world,
        &group,
        format!("{name} committed offset {offset} for {logical}/{partition}"),
    );
    Ok(())
}

/// A group's committed offset for one partition, from its coordinator (`-1`: none).
async fn committed(
    world: &mut KafkaWorld,
    group: &str,
    logical: &str,
    partition: i32,
) -> anyhow::Result<i64> {
    let group_id = world.group_id(group);
    let physical = world.physical(logical);
    on_coordinator(world, group, async |groups, address| {
        committed_offsets(
            groups.coordinator(address).await?,
            &group_id,
            &physical,
            &[partition],
        )
        .await
    })
    .await?
    .get(&partition)
    .copied()
    .ok_or_else(|| anyhow!("OffsetFetch did not answer for {logical}/{partition}"))
}

#[then(expr = "the committed offset of partition {int} of {string} for group {string} is {int}")]
async fn committed_offset_is(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    group: String,
    expected: i64,
) -> StepResult {
    let offset = committed(world, &group, &logical, partition).await?;
    check!(
        offset == expected,
        "group {group} has committed offset {offset} for {logical}/{partition}, expected {expected}"
    );
    note(
        world,
        &group,
        format!("committed offset of {logical}/{partition} is {offset}"),
    );
    Ok(())
}

#[then(expr = "group {string} has no committed offset for partition {int} of {string}")]
async fn no_committed_offset(
    world: &mut KafkaWorld,
    group: String,
    partition: i32,
    logical: String,
) -> StepResult {
    let offset = committed(world, &group, &logical, partition).await?;
    check!(
        offset == -1,
        "group {group} has committed offset {offset} for {logical}/{partition}"
    );
    note(
        world,
        &group,
        format!("no committed offset for {logical}/{partition}"),
    );
    Ok(())
}

#[when(expr = "{word} stops")]
async fn stops(world: &mut KafkaWorld, name: String) -> StepResult {
    let group = group_of(world, &name)?;
    close_member(world, &name).await?;
    note(world, &group, format!("{name} stopped"));
    Ok(())
}

#[when(expr = "{word} starts again")]
async fn starts_again(world: &mut KafkaWorld, name: String) -> StepResult {
    let spec = world
        .groups
        .specs
        .get(&name)
        .cloned()
        .ok_or_else(|| anyhow!("consumer {name} never started"))?;
    check!(
        !world.groups.member(&name)?.is_running(),
        "{name} is still running"
    );
    start_spec(world, spec).await?;
    Ok(())
}

#[then(expr = "{word} fetches partition {int} of {string} from offset {int}")]
async fn fetches_from(
    world: &mut KafkaWorld,
    name: String,
    partition: i32,
    logical: String,
    offset: i64,
) -> StepResult {
    let physical = world.physical(&logical);
    let deadline = Deadline::after(
        RECEIVE_TIMEOUT,
        format!("{name} to fetch {logical}/{partition}"),
    );
    loop {
        let position = world
            .groups
            .member(&name)?
            .fetch_position(&physical, partition)?;
        if let Some(position) = position {
            check!(
                position == offset,
                "{name} fetches {logical}/{partition} from offset {position}, expected {offset}"
            );
            break;
        }
        deadline.wait("no active fetch yet").await?;
    }
    let group = group_of(world, &name)?;
    note(
        world,
        &group,
        format!("{name} fetches {logical}/{partition} from offset {offset}"),
    );
    Ok(())
}

#[then(regex = r"^(\S+) reports (_?[A-Z_]+) \((-?\d+)\)$")]
async fn reports(world: &mut KafkaWorld, name: String, error: String, code: i32) -> StepResult {
    wait_for_error(world, &name, &error, code).await?;
    Ok(())
}

#[then(expr = "{word} has received no message")]
async fn received_nothing(world: &mut KafkaWorld, name: String) -> StepResult {
    let received = world.groups.member(&name)?.state()?.records.len();
    check!(received == 0, "{name} received {received} messages");
    let group = group_of(world, &name)?;
    note(world, &group, format!("{name} received no message"));
    Ok(())
}
