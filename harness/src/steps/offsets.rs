//! Offsets on the wire: what a raw Produce answers (topic, partition, base offset), what
//! ListOffsets says a partition's earliest and latest offsets are, what a raw Fetch answers,
//! and what a partition holds, read record by record.
//!
//! # References
//!
//! - Kafka protocol guide: Produce, ListOffsets (timestamps -2 earliest, -1 latest), Fetch.

use anyhow::{Context, anyhow};
use bytes::Bytes;
use cucumber::gherkin::Step;
use cucumber::{then, when};

use super::{Deadline, SETTLE_TIMEOUT, cell, number, table_rows};
use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::raw_client::{
    EARLIEST_TIMESTAMP, FetchedRecord, LATEST_TIMESTAMP, OutgoingRecord, ProducedPartition,
};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// "earliest" / "latest" as ListOffsets timestamps.
fn timestamp_of(which: &str) -> anyhow::Result<i64> {
    match which {
        "earliest" => Ok(EARLIEST_TIMESTAMP),
        "latest" => Ok(LATEST_TIMESTAMP),
        other => Err(anyhow!("unknown offset {other:?}: earliest or latest")),
    }
}

/// A partition's earliest or latest offset by ListOffsets to its leader (not recorded).
pub async fn query_offset(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    which: &str,
) -> anyhow::Result<i64> {
    let timestamp = timestamp_of(which)?;
    let physical = world.physical(logical);
    let (error, offset) = world
        .raw()?
        .leader_of(&physical, partition)
        .await?
        .list_offset(&physical, partition, timestamp)
        .await
        .with_context(|| format!("ListOffsets {which} of {logical}/{partition}"))?;
    anyhow::ensure!(
        error == 0,
        "ListOffsets {which} of {logical}/{partition} answered {}",
        ErrorCode::from_kafka(error)
    );
    Ok(offset)
}

/// [`query_offset`], recorded in the trace.
pub async fn observe_offset(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    which: &str,
) -> anyhow::Result<i64> {
    let offset = query_offset(world, logical, partition, which).await?;
    world.record(Observation::Offset {
        topic: logical.to_owned(),
        partition,
        which: which.to_owned(),
        offset,
    });
    Ok(offset)
}

/// Every record from the log start to the log end, by raw Fetches.
pub async fn read_partition(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
) -> anyhow::Result<Vec<FetchedRecord>> {
    let physical = world.physical(logical);
    let mut offset = query_offset(world, logical, partition, "earliest").await?;
    let end = query_offset(world, logical, partition, "latest").await?;
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!("{logical}/{partition} to be read up to offset {end}"),
    );
    let mut records = Vec::new();
    while offset < end {
        let fetched = world
            .raw()?
            .leader_of(&physical, partition)
            .await?
            .fetch(&physical, partition, offset, 100)
            .await?;
        anyhow::ensure!(
            fetched.error_code == 0,
            "Fetch of {logical}/{partition} at {offset} answered {}",
            ErrorCode::from_kafka(fetched.error_code)
        );
        let before = records.len();
        // A fetch returns whole batches, which may start before the offset asked for.
        records.extend(fetched.records.into_iter().filter(|r| r.offset >= offset));
        match records.last() {
            Some(last) if records.len() > before => offset = last.offset + 1,
            _ => deadline.wait(format!("nothing at offset {offset}")).await?,
        }
    }
    Ok(records)
}

fn text(value: &Option<Bytes>) -> String {
    show_value(value.as_deref())
}

#[then(expr = "partition {int} of {string} holds:")]
async fn partition_holds(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    step: &Step,
) -> StepResult {
    let expected = table_rows(step)?
        .iter()
        .map(|row| {
            Ok((
                number::<i64>(row, "offset")?,
                cell(row, "value")?.to_owned(),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // A producer that did not wait for the broker (acks=0) may see its delivery report
    // before the broker has appended: while the partition holds fewer records than
    // expected, look again until the deadline. Logs only grow, so once it holds as many,
    // what it holds is the answer.
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!(
            "partition {partition} of {logical:?} to hold {} records",
            expected.len()
        ),
    );
    let got = loop {
        let records = read_partition(world, &logical, partition).await?;
        let got: Vec<(i64, String)> = records.iter().map(|r| (r.offset, text(&r.value))).collect();
        if got.len() >= expected.len() {
            break got;
        }
        deadline.wait(format!("{got:?}")).await?;
    };
    for (offset, value) in &got {
        world.record(Observation::Consumed {
            topic: logical.clone(),
            partition,
            offset: *offset,
            value: value.clone(),
        });
    }
    check!(
        got == expected,
        "partition {partition} of {logical:?} holds {got:?}, expected {expected:?}"
    );
    Ok(())
}

#[then(expr = "partition {int} of {string} holds no messages")]
async fn partition_empty(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let latest = observe_offset(world, &logical, partition, "latest").await?;
    check!(
        latest == 0,
        "partition {partition} of {logical:?} has log end offset {latest}: something was appended"
    );
    Ok(())
}

#[then(expr = "{string} holds no messages in any of its {int} partitions")]
async fn topic_empty(world: &mut KafkaWorld, logical: String, partitions: i32) -> StepResult {
    for partition in 0..partitions {
        let latest = observe_offset(world, &logical, partition, "latest").await?;
        check!(
            latest == 0,
            "partition {partition} of {logical:?} has log end offset {latest}: something was appended"
        );
    }
    Ok(())
}

#[then(expr = "the {word} offset of partition {int} of {string} is {int}")]
async fn offset_is(
    world: &mut KafkaWorld,
    which: String,
    partition: i32,
    logical: String,
    expected: i64,
) -> StepResult {
    let offset = observe_offset(world, &logical, partition, &which).await?;
    check!(
        offset == expected,
        "the {which} offset of partition {partition} of {logical:?} is {offset}, expected {expected}"
    );
    Ok(())
}

#[then(expr = "within {int} seconds the {word} offset of partition {int} of {string} is {int}")]
async fn offset_becomes(
    world: &mut KafkaWorld,
    seconds: u64,
    which: String,
    partition: i32,
    logical: String,
    expected: i64,
) -> StepResult {
    let deadline = Deadline::after(
        std::time::Duration::from_secs(seconds),
        format!("the {which} offset of {logical}/{partition} to be {expected}"),
    );
    loop {
        let offset = query_offset(world, &logical, partition, &which).await?;
        if offset == expected {
            break;
        }
        // The log start only moves forward: past the expected offset means it skipped it.
        check!(
            which != "earliest" || offset < expected,
            "the earliest offset of {logical}/{partition} moved to {offset}, past {expected}"
        );
        deadline.wait(format!("offset {offset}")).await?;
    }
    observe_offset(world, &logical, partition, &which).await?;
    Ok(())
}

#[when(
    expr = "the raw client produces {int} record(s) to partition {int} of {string} with acks {int}"
)]
async fn raw_produce(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
) -> StepResult {
    let physical = world.physical(&logical);
    let answer = world
        .raw()?
        .leader_of(&physical, partition)
        .await?
        .produce(&physical, partition, acks, &numbered_records(count))
        .await
        .with_context(|| format!("raw Produce to {logical}/{partition}"))?;
    let response = produce_response(world, &answer);
    world.record(response);
    world.last_produce = Some(answer);
    Ok(())
}

/// `count` unkeyed records with the values `record-0`, `record-1`, … for a raw Produce.
pub(super) fn numbered_records(count: usize) -> Vec<OutgoingRecord> {
    (0..count)
        .map(|i| OutgoingRecord {
            key: None,
            value: Some(Bytes::from(format!("record-{i}"))),
        })
        .collect()
}

/// The trace entry for a raw Produce's answer, with the topic under its logical name.
pub(super) fn produce_response(world: &KafkaWorld, answer: &ProducedPartition) -> Observation {
    Observation::ProduceResponse {
        topic: world.logical(&answer.topic),
        partition: answer.partition,
        error: ErrorCode::from_kafka(answer.error_code),
        base_offset: answer.base_offset,
    }
}

#[then(
    regex = r#"^the produce response names topic "([^"]*)", partition (\d+), error ([A-Z_]+) \((-?\d+)\) and base offset (-?\d+)$"#
)]
async fn produce_response_is(
    world: &mut KafkaWorld,
    logical: String,
    partition: i32,
    name: String,
    code: i32,
    base_offset: i64,
) -> StepResult {
    let physical = world.physical(&logical);
    let answer = world
        .last_produce
        .as_ref()
        .ok_or_else(|| anyhow!("no raw Produce was answered"))?;
    let error = ErrorCode::from_kafka(answer.error_code);
    check!(
        answer.topic == physical,
        "the response names topic {:?}, expected {physical:?}",
        answer.topic
    );
    check!(
        answer.partition == partition,
        "the response names partition {}, expected {partition}",
        answer.partition
    );
    check!(
        error.is(&name, code),
        "the response carries error {error}, expected {name} ({code})"
    );
    check!(
        answer.base_offset == base_offset,
        "the response carries base offset {}, expected {base_offset}",
        answer.base_offset
    );
    Ok(())
}

#[when(expr = "the raw client fetches partition {int} of {string} at offset {int}")]
async fn raw_fetch(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
) -> StepResult {
    let fetched = world
        .raw_fetch_recorded(&logical, partition, offset)
        .await?;
    world.last_fetch = Some((offset, fetched));
    Ok(())
}

#[then(regex = r"^the fetch fails with ([A-Z_]+) \((-?\d+)\)$")]
async fn fetch_fails(world: &mut KafkaWorld, name: String, code: i32) -> StepResult {
    let (offset, fetched) = world
        .last_fetch
        .as_ref()
        .ok_or_else(|| anyhow!("no raw Fetch was answered"))?;
    let error = ErrorCode::from_kafka(fetched.error_code);
    check!(
        error.is(&name, code),
        "the fetch at offset {offset} answered {error} with {} records, expected {name} ({code})",
        fetched.records.len()
    );
    Ok(())
}
