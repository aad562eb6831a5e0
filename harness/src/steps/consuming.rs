//! Consuming with librdkafka: what a consumer of a topic or a partition receives, in which
//! order, and what it reads again after seeking back.
//!
//! Consumers are assigned partitions explicitly (no group yet) and read with `recv()` under
//! a deadline. "Everything" means up to the log end offset the partition had when the step
//! began (asked by ListOffsets), so a step knows when it is done.
//!
//! # References
//!
//! - librdkafka `INTRODUCTION.md`, "Consumer" (assign, seek, `auto.offset.reset`).

use std::collections::BTreeMap;

use anyhow::{Context, anyhow};
use cucumber::gherkin::Step;
use cucumber::then;
use rdkafka::consumer::Consumer as _;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::offsets::{query_offset, read_partition};
use super::{Deadline, SETTLE_TIMEOUT, cell, comma_list, numbered_range, table_rows};
use crate::clients::Consumer;
use crate::observation::{Observation, show_value};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// One record a consumer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, as text.
    pub key: Option<String>,
    /// Its value, as traces show it.
    pub value: String,
}

/// The next record, or `None` once the deadline passes. Client-side errors (a broker
/// connection dropping, an offset reset) are not records: they are remembered and shown
/// only if nothing arrives.
pub async fn next_record(
    consumer: &Consumer,
    deadline: &Deadline,
) -> anyhow::Result<Option<Consumed>> {
    let mut last_error = None;
    loop {
        match tokio::time::timeout_at(deadline.instant(), consumer.recv()).await {
            Err(_) => {
                if let Some(error) = last_error {
                    tracing::debug!("consumer saw {error} and no record");
                }
                return Ok(None);
            }
            Ok(Ok(message)) => {
                return Ok(Some(Consumed {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message
                        .key()
                        .map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: show_value(message.payload()),
                }));
            }
            Ok(Err(error)) => last_error = Some(error),
        }
    }
}

/// A consumer assigned to `partitions` of a topic, each from the given offset.
pub fn assigned_consumer(
    world: &mut KafkaWorld,
    logical: &str,
    partitions: &[(i32, Offset)],
    settings: &[(String, String)],
) -> anyhow::Result<Consumer> {
    let physical = world.physical(logical);
    let consumer = world.new_consumer(settings)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in partitions {
        assignment
            .add_partition_offset(&physical, *partition, *offset)
            .with_context(|| format!("assigning {logical}/{partition} at {offset:?}"))?;
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("assigning {logical}"))?;
    Ok(consumer)
}

/// Records what a consumer received, in the order given.
pub fn record_consumed(world: &mut KafkaWorld, logical: &str, records: &[Consumed]) {
    for record in records {
        world.record(Observation::Consumed {
            topic: logical.to_owned(),
            partition: record.partition,
            offset: record.offset,
            value: record.value.clone(),
        });
    }
}

/// Receives until `done` says so and records what arrived, in arrival order (for one
/// partition: offset order); fails at the deadline with what was received.
pub async fn receive_until(
    world: &mut KafkaWorld,
    consumer: &Consumer,
    logical: &str,
    what: &str,
    done: impl FnMut(&[Consumed]) -> bool,
) -> anyhow::Result<Vec<Consumed>> {
    let received = receive_unrecorded(consumer, what, done).await?;
    record_consumed(world, logical, &received);
    Ok(received)
}

/// Receives until `done` says so, without recording; fails at the deadline with what was
/// received.
pub async fn receive_unrecorded(
    consumer: &Consumer,
    what: &str,
    mut done: impl FnMut(&[Consumed]) -> bool,
) -> anyhow::Result<Vec<Consumed>> {
    let deadline = Deadline::after(SETTLE_TIMEOUT, what);
    let mut received = Vec::new();
    while !done(&received) {
        match next_record(consumer, &deadline).await? {
            Some(record) => {
                received.push(record);
            }
            None => {
                let seen: Vec<(i32, i64)> =
                    received.iter().map(|r| (r.partition, r.offset)).collect();
                deadline
                    .wait(format!("{} records: {seen:?}", received.len()))
                    .await?;
            }
        }
    }
    Ok(received)
}

/// Everything in every partition of a topic, read by one consumer from the beginning.
async fn consume_topic(world: &mut KafkaWorld, logical: &str) -> anyhow::Result<Vec<Consumed>> {
    let partitions = world.partition_count(logical)?;
    let mut ends = BTreeMap::new();
    for partition in 0..partitions {
        ends.insert(
            partition,
            query_offset(world, logical, partition, "latest").await?,
        );
    }
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    let consumer = assigned_consumer(world, logical, &assignment, &[])?;
    let what = format!("a consumer of {logical:?} to read up to the log ends {ends:?}");
    let mut received = receive_unrecorded(&consumer, &what, |records| {
        ends.iter().all(|(partition, end)| {
            *end == 0
                || records
                    .iter()
                    .any(|r| r.partition == *partition && r.offset + 1 >= *end)
        })
    })
    .await?;
    // Partitions' batches arrive in no particular order: the trace lists them sorted.
    received.sort_by_key(|r| (r.partition, r.offset));
    record_consumed(world, logical, &received);
    Ok(received)
}

#[then(expr = "a consumer of {string} receives exactly:")]
async fn consumer_receives(world: &mut KafkaWorld, logical: String, step: &Step) -> StepResult {
    let expected = table_rows(step)?
        .iter()
        .map(|row| cell(row, "value").map(str::to_owned))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let received = consume_topic(world, &logical).await?;
    let values: Vec<&str> = received.iter().map(|r| r.value.as_str()).collect();
    check!(
        values == expected,
        "a consumer of {logical:?} received {values:?}, expected {expected:?}"
    );
    Ok(())
}

#[then(expr = "a consumer of {string} reads the messages of each key in the order they were sent")]
async fn per_key_order(world: &mut KafkaWorld, logical: String) -> StepResult {
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for delivery in world.deliveries.iter().filter(|d| d.topic == logical) {
        let key = delivery
            .key
            .clone()
            .ok_or_else(|| anyhow!("{:?} had no key", delivery.value))?;
        sent.entry(key).or_default().push(delivery.value.clone());
    }
    check!(!sent.is_empty(), "nothing keyed was sent to {logical:?}");
    let received = consume_topic(world, &logical).await?;
    let mut read: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut partition_of: BTreeMap<String, i32> = BTreeMap::new();
    for record in &received {
        let key = record.key.clone().unwrap_or_default();
        let partition = *partition_of.entry(key.clone()).or_insert(record.partition);
        check!(
            partition == record.partition,
            "key {key:?} is in partitions {partition} and {}",
            record.partition
        );
        read.entry(key).or_default().push(record.value.clone());
    }
    check!(
        read == sent,
        "per key, a consumer read {read:?}; they were sent as {sent:?}"
    );
    Ok(())
}

#[then(expr = "each partition of {string} numbers its messages 0, 1, 2, … without gaps")]
async fn offsets_dense(world: &mut KafkaWorld, logical: String) -> StepResult {
    let partitions = world.partition_count(&logical)?;
    let mut total = 0;
    for partition in 0..partitions {
        let offsets: Vec<i64> = read_partition(world, &logical, partition)
            .await?
            .iter()
            .map(|r| r.offset)
            .collect();
        let dense: Vec<i64> = (0..offsets.len() as i64).collect();
        check!(
            offsets == dense,
            "partition {partition} of {logical:?} numbers its messages {offsets:?}"
        );
        total += offsets.len();
    }
    check!(total > 0, "{logical:?} holds nothing");
    Ok(())
}

#[then(
    expr = "partition {int} of {string} holds {int} messages {string} to {string} at offsets {int} to {int}"
)]
// A step function takes one argument per capture of its expression.
#[allow(clippy::too_many_arguments)]
async fn partition_holds_range(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    count: usize,
    first: String,
    last: String,
    first_offset: i64,
    last_offset: i64,
) -> StepResult {
    let values = numbered_range(&first, &last)?;
    check!(
        values.len() == count,
        "{first:?} to {last:?} is not {count} messages"
    );
    let records = read_partition(world, &logical, partition).await?;
    let got: Vec<(i64, String)> = records
        .iter()
        .map(|r| (r.offset, show_value(r.value.as_deref())))
        .collect();
    let expected: Vec<(i64, String)> = (first_offset..=last_offset).zip(values).collect();
    check!(
        got == expected,
        "partition {partition} of {logical:?} holds {} records; first differences: {:?}",
        got.len(),
        got.iter().zip(&expected).find(|(g, e)| g != e)
    );
    Ok(())
}

#[then(
    expr = "a consumer assigned to partition {int} of {string} at offset {int} reads {string} to {string} in order"
)]
async fn consumer_reads_range(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    first: String,
    last: String,
) -> StepResult {
    let expected = numbered_range(&first, &last)?;
    let consumer = assigned_consumer(world, &logical, &[(partition, Offset::Offset(offset))], &[])?;
    let count = expected.len();
    let what = format!("{count} records of {logical}/{partition} from offset {offset}");
    let received = receive_until(world, &consumer, &logical, &what, |r| r.len() >= count).await?;
    let values: Vec<&str> = received.iter().map(|r| r.value.as_str()).collect();
    check!(
        values == expected,
        "from offset {offset} a consumer read {values:?}, expected {expected:?}"
    );
    let offsets: Vec<i64> = received.iter().map(|r| r.offset).collect();
    let in_order: Vec<i64> = (offset..offset + count as i64).collect();
    check!(
        offsets == in_order,
        "offsets read out of order: {offsets:?}"
    );
    Ok(())
}

#[then(
    expr = "a consumer of partition {int} of {string} reads {string}, seeks back to offset {int} and reads {string} again"
)]
async fn seek_back_and_replay(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    first_read: String,
    seek_offset: i64,
    second_read: String,
) -> StepResult {
    let first_read = comma_list(&first_read);
    let second_read = comma_list(&second_read);
    let physical = world.physical(&logical);
    let consumer = assigned_consumer(world, &logical, &[(partition, Offset::Beginning)], &[])?;
    let n = first_read.len();
    let got = receive_until(world, &consumer, &logical, "the first read", |r| {
        r.len() >= n
    })
    .await?;
    let values: Vec<&str> = got.iter().map(|r| r.value.as_str()).collect();
    check!(
        values == first_read,
        "first read {values:?}, expected {first_read:?}"
    );
    consumer
        .seek(
            &physical,
            partition,
            Offset::Offset(seek_offset),
            std::time::Duration::from_secs(5),
        )
        .with_context(|| format!("seeking {logical}/{partition} to {seek_offset}"))?;
    let n = second_read.len();
    let again = receive_until(world, &consumer, &logical, "the read after seeking", |r| {
        r.len() >= n
    })
    .await?;
    let values: Vec<&str> = again.iter().map(|r| r.value.as_str()).collect();
    check!(
        values == second_read,
        "after seeking to {seek_offset} read {values:?}, expected {second_read:?}"
    );
    check!(
        again.first().map(|r| r.offset) == Some(seek_offset),
        "after seeking to {seek_offset} the first record read was at {:?}",
        again.first().map(|r| r.offset)
    );
    Ok(())
}
