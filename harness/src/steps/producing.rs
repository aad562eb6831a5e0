//! Producing with librdkafka: producer settings, sends, and what the delivery reports say.
//!
//! A send step enqueues all of its messages first and then awaits their delivery reports in
//! order, as an application sending a burst would; librdkafka batches them as it likes.
//! Every report is kept in the world ([`crate::world::Delivery`]) and recorded in the trace.
//!
//! # References
//!
//! - librdkafka `CONFIGURATION.md` (`acks`, `partitioner`, `retries`, `message.timeout.ms`).
//! - Kafka protocol guide: Produce.

use std::time::Duration;

use anyhow::anyhow;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::producer::FutureRecord;

use super::{
    cell, number, numbered_range, numbered_range_of, quoted_list, table_pairs, table_rows,
};
use crate::clients::Producer;
use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::world::{Delivery, KafkaWorld};
use crate::{StepResult, check};

/// The longest a delivery report may take (librdkafka's `message.timeout.ms` is shorter).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// One message a step sends.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// The key; `None` sends a null key.
    pub key: Option<String>,
    /// The value.
    pub value: Vec<u8>,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
}

impl Outgoing {
    /// A message with just a value.
    pub fn value(value: impl Into<Vec<u8>>) -> Outgoing {
        Outgoing {
            value: value.into(),
            ..Outgoing::default()
        }
    }
}

/// A delivery report to come: the partition and offset, or the error the send ended with.
pub(super) type Report = BoxFuture<'static, Result<(i32, i64), ErrorCode>>;

/// Enqueues one record; the future is its delivery report, which gives up after `timeout`.
/// A record librdkafka refuses at once (queue full, unknown partition) is a report that
/// is ready with that error.
pub(super) fn send_record(
    producer: &Producer,
    record: FutureRecord<'_, str, [u8]>,
    timeout: Duration,
) -> Report {
    match producer.send_result(record) {
        Ok(future) => async move {
            match tokio::time::timeout(timeout, future).await {
                Ok(Ok(Ok(delivery))) => Ok((delivery.partition, delivery.offset)),
                Ok(Ok(Err((error, _)))) => Err(error
                    .rdkafka_error_code()
                    .map_or_else(|| local_error(&error.to_string()), ErrorCode::from_rdkafka)),
                Ok(Err(_canceled)) => Err(local_error("delivery report canceled")),
                Err(_) => Err(local_error("no delivery report in time")),
            }
        }
        .boxed(),
        Err((error, _)) => {
            let code = error
                .rdkafka_error_code()
                .map_or_else(|| local_error(&error.to_string()), ErrorCode::from_rdkafka);
            async move { Err(code) }.boxed()
        }
    }
}

/// Sends messages to a topic and waits for every delivery report; a failed delivery is an
/// outcome to check, not a step failure.
pub async fn send_all(
    world: &mut KafkaWorld,
    logical: &str,
    messages: Vec<Outgoing>,
) -> anyhow::Result<()> {
    let physical = world.physical(logical);
    let producer = world.producer()?.clone();
    let first = world.deliveries.len();
    // Where the partitioner puts an unkeyed message among several partitions varies from run
    // to run (sticky, random): such placements stay out of the trace.
    let one_partition = world.partition_counts.get(logical) == Some(&1);
    let mut reports: Vec<Report> = Vec::with_capacity(messages.len());
    for message in &messages {
        let mut record = FutureRecord::<str, [u8]>::to(&physical).payload(&message.value);
        if let Some(key) = &message.key {
            record = record.key(key.as_str());
        }
        if let Some(partition) = message.partition {
            record = record.partition(partition);
        }
        reports.push(send_record(&producer, record, DELIVERY_TIMEOUT));
    }
    for (message, report) in messages.into_iter().zip(reports) {
        let outcome = report.await;
        let value = show_value(Some(&message.value));
        let placed_by_chance =
            message.key.is_none() && message.partition.is_none() && !one_partition;
        world.record(match &outcome {
            Ok(_) if placed_by_chance => Observation::Delivered {
                topic: logical.to_owned(),
                partition: None,
                offset: None,
                value: value.clone(),
            },
            Ok((partition, offset)) => Observation::Delivered {
                topic: logical.to_owned(),
                partition: Some(*partition),
                offset: (*offset >= 0).then_some(*offset),
                value: value.clone(),
            },
            Err(error) => Observation::DeliveryFailed {
                topic: logical.to_owned(),
                error: error.clone(),
            },
        });
        world.deliveries.push(Delivery {
            topic: logical.to_owned(),
            key: message.key,
            value,
            outcome,
        });
    }
    world.last_sent = first..world.deliveries.len();
    Ok(())
}

/// An error the harness itself noticed (no librdkafka code): shown, never matched.
fn local_error(what: &str) -> ErrorCode {
    ErrorCode {
        code: i32::MIN,
        name: format!("HARNESS: {what}"),
    }
}

#[given("a producer with settings:")]
async fn producer_settings(world: &mut KafkaWorld, step: &Step) -> StepResult {
    for (key, value) in table_pairs(step)? {
        world.set_producer_setting(&key, &value);
    }
    Ok(())
}

#[given(expr = "a producer using the {string} partitioner")]
async fn producer_partitioner(world: &mut KafkaWorld, partitioner: String) -> StepResult {
    world.set_producer_setting("partitioner", &partitioner);
    Ok(())
}

#[given(expr = "the producer has already delivered a message to {string}")]
async fn warm_up(world: &mut KafkaWorld, logical: String) -> StepResult {
    // A long-lived producer knows the topic's partitions and leaders; a fresh one partitions
    // its first messages while it is still learning them.
    send_all(world, &logical, vec![Outgoing::value("warm-up")]).await?;
    if let Some(Delivery {
        outcome: Err(error),
        ..
    }) = world.deliveries.last()
    {
        check!(false, "the warm-up message failed with {error}");
    }
    Ok(())
}

#[when(expr = "the producer sends these messages to {string}:")]
async fn send_table(world: &mut KafkaWorld, logical: String, step: &Step) -> StepResult {
    let mut messages = Vec::new();
    for row in table_rows(step)? {
        messages.push(Outgoing {
            key: row.get("key").cloned(),
            value: cell(&row, "value")?.as_bytes().to_vec(),
            partition: match row.get("partition") {
                Some(_) => Some(number(&row, "partition")?),
                None => None,
            },
        });
    }
    send_all(world, &logical, messages).await?;
    Ok(())
}

#[when(expr = "the producer sends {string} to partition {int} of {string}")]
async fn send_one(
    world: &mut KafkaWorld,
    value: String,
    partition: i32,
    logical: String,
) -> StepResult {
    let message = Outgoing {
        partition: Some(partition),
        ..Outgoing::value(value)
    };
    send_all(world, &logical, vec![message]).await?;
    Ok(())
}

#[when(expr = "the producer sends a {int}-byte message to partition {int} of {string}")]
async fn send_sized(
    world: &mut KafkaWorld,
    size: usize,
    partition: i32,
    logical: String,
) -> StepResult {
    let message = Outgoing {
        partition: Some(partition),
        ..Outgoing::value(vec![b'x'; size])
    };
    send_all(world, &logical, vec![message]).await?;
    Ok(())
}

#[when(expr = "the producer sends {int} messages with key {string} to {string}")]
async fn send_keyed(
    world: &mut KafkaWorld,
    count: usize,
    key: String,
    logical: String,
) -> StepResult {
    let messages = (1..=count)
        .map(|i| Outgoing {
            key: Some(key.clone()),
            ..Outgoing::value(format!("{key}-message-{i}"))
        })
        .collect();
    send_all(world, &logical, messages).await?;
    Ok(())
}

#[when(
    expr = "the producer sends one message for each of the keys {string} to {string} to {string}"
)]
async fn send_each_key(
    world: &mut KafkaWorld,
    first: String,
    last: String,
    logical: String,
) -> StepResult {
    let messages = numbered_range(&first, &last)?
        .into_iter()
        .map(|key| Outgoing {
            value: key.as_bytes().to_vec(),
            key: Some(key),
            partition: None,
        })
        .collect();
    send_all(world, &logical, messages).await?;
    Ok(())
}

#[when(expr = "the producer sends {int} messages without a key to {string} in one burst")]
async fn send_unkeyed_burst(world: &mut KafkaWorld, count: usize, logical: String) -> StepResult {
    let messages = (1..=count)
        .map(|i| Outgoing::value(format!("unkeyed-{i}")))
        .collect();
    send_all(world, &logical, messages).await?;
    Ok(())
}

#[when(
    regex = r#"^the producer sends (\d+) messages "([^"]*)" to "([^"]*)" to "([^"]*)", with keys cycling through (.+)$"#
)]
async fn send_cycling_keys(
    world: &mut KafkaWorld,
    count: usize,
    first: String,
    last: String,
    logical: String,
    keys: String,
) -> StepResult {
    let values = numbered_range_of(&first, &last, count)?;
    let keys = quoted_list(&keys)?;
    let messages = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Outgoing {
            key: Some(keys[i % keys.len()].clone()),
            ..Outgoing::value(value)
        })
        .collect();
    send_all(world, &logical, messages).await?;
    Ok(())
}

#[when(
    expr = "the producer sends {int} messages {string} to {string} to partition {int} of {string}, flushing every {int}"
)]
async fn send_in_batches(
    world: &mut KafkaWorld,
    count: usize,
    first: String,
    last: String,
    partition: i32,
    logical: String,
    every: usize,
) -> StepResult {
    let values = numbered_range_of(&first, &last, count)?;
    check!(every > 0, "cannot flush every 0 messages");
    for chunk in values.chunks(every) {
        let messages = chunk
            .iter()
            .map(|value| Outgoing {
                partition: Some(partition),
                ..Outgoing::value(value.as_str())
            })
            .collect();
        // Awaiting every report before the next chunk makes each chunk its own batch(es).
        send_all(world, &logical, messages).await?;
    }
    Ok(())
}

#[then("the deliveries were acknowledged as:")]
async fn deliveries_acknowledged(world: &mut KafkaWorld, step: &Step) -> StepResult {
    let expected = table_rows(step)?;
    check!(
        expected.len() == world.deliveries.len(),
        "{} deliveries reported, the table lists {}: {:?}",
        world.deliveries.len(),
        expected.len(),
        world.deliveries
    );
    for (row, delivery) in expected.iter().zip(&world.deliveries) {
        let value = cell(row, "value")?;
        let partition: i32 = number(row, "partition")?;
        let offset: i64 = number(row, "offset")?;
        check!(
            delivery.value == value,
            "deliveries out of order: expected {value:?}, got {:?}",
            delivery.value
        );
        check!(
            delivery.outcome == Ok((partition, offset)),
            "{value:?} was acknowledged as {:?}, expected partition {partition} offset {offset}",
            delivery.outcome
        );
    }
    Ok(())
}

#[then(regex = r"^the delivery fails with (_?[A-Z_]+) \((-?\d+)\)$")]
async fn delivery_fails(world: &mut KafkaWorld, name: String, code: i32) -> StepResult {
    let last = world
        .deliveries
        .last()
        .ok_or_else(|| anyhow!("nothing was sent"))?;
    match &last.outcome {
        Err(error) => check!(
            error.is(&name, code),
            "the delivery of {:?} failed with {error}, expected {name} ({code})",
            last.value
        ),
        Ok((partition, offset)) => check!(
            false,
            "{:?} was delivered to partition {partition} at offset {offset}, expected {name} ({code})",
            last.value
        ),
    }
    Ok(())
}

#[then("every delivery succeeded without an offset")]
async fn delivered_without_offset(world: &mut KafkaWorld) -> StepResult {
    check!(!world.deliveries.is_empty(), "nothing was sent");
    for delivery in &world.deliveries {
        match delivery.outcome {
            Ok((_, offset)) => check!(
                offset < 0,
                "{:?} reports offset {offset}: an acks=0 producer cannot know it",
                delivery.value
            ),
            Err(ref error) => check!(false, "{:?} failed with {error}", delivery.value),
        }
    }
    Ok(())
}
