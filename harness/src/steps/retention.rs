//! Retention: filling a partition with known batches, and what consumers see once old
//! segments are gone (where they restart under each `auto.offset.reset`, what they can
//! still read again).
//!
//! The log start offset itself is checked with ListOffsets ([`super::offsets`]); an offset
//! below it with a raw Fetch (`OFFSET_OUT_OF_RANGE`).
//!
//! # References
//!
//! - Kafka topic configs `segment.bytes`, `retention.bytes`, `retention.ms`; broker config
//!   `log.retention.check.interval.ms`.
//! - librdkafka `CONFIGURATION.md`, `auto.offset.reset`; `STATISTICS.md` (`next_offset`).

use anyhow::{Context, anyhow};
use bytes::Bytes;
use cucumber::{then, when};
use rdkafka::Offset;
use rdkafka::consumer::Consumer as _;

use super::consuming::{assigned_consumer, next_record, receive_until};
use super::{Deadline, SETTLE_TIMEOUT};
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::raw_client::OutgoingRecord;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

#[when(
    expr = "the raw client appends {int} batches of {int} records of {int} bytes to partition {int} of {string}"
)]
async fn append_batches(
    world: &mut KafkaWorld,
    batches: usize,
    records_per_batch: usize,
    value_bytes: usize,
    partition: i32,
    logical: String,
) -> StepResult {
    let physical = world.physical(&logical);
    for batch in 0..batches {
        let records: Vec<OutgoingRecord> = (0..records_per_batch)
            .map(|i| {
                // Recognisable, and exactly `value_bytes` long.
                let mut value = format!("batch-{batch}-record-{i}-").into_bytes();
                value.resize(value_bytes, b'.');
                OutgoingRecord {
                    key: None,
                    value: Some(Bytes::from(value)),
                }
            })
            .collect();
        let answer = world
            .raw()?
            .leader_of(&physical, partition)
            .await?
            .produce(&physical, partition, 1, &records)
            .await
            .with_context(|| format!("appending batch {batch} to {logical}/{partition}"))?;
        let error = ErrorCode::from_kafka(answer.error_code);
        world.record(Observation::ProduceResponse {
            topic: logical.clone(),
            partition,
            error: error.clone(),
            base_offset: answer.base_offset,
        });
        let expected = (batch * records_per_batch) as i64;
        check!(
            answer.error_code == 0 && answer.base_offset == expected,
            "batch {batch} answered {error} at base offset {}, expected NONE at {expected}",
            answer.base_offset
        );
    }
    Ok(())
}

#[then(
    expr = "a single fetch of partition {int} of {string} at offset {int} returns a batch starting at offset {int}"
)]
async fn fetch_returns_batch(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    expected_base: i64,
) -> StepResult {
    let fetched = world
        .raw_fetch_recorded(&logical, partition, offset)
        .await?;
    let error = ErrorCode::from_kafka(fetched.error_code);
    check!(
        fetched.error_code == 0,
        "the fetch at {offset} answered {error}"
    );
    check!(
        fetched.batch_base_offsets.first() == Some(&expected_base),
        "the fetch at {offset} returned batches starting at {:?}, expected the first at {expected_base}",
        fetched.batch_base_offsets
    );
    Ok(())
}

fn reset_settings(policy: &str) -> Vec<(String, String)> {
    vec![("auto.offset.reset".to_owned(), policy.to_owned())]
}

#[then(
    expr = "a consumer assigned to partition {int} of {string} at offset {int} with auto.offset.reset {string} first receives offset {int}"
)]
async fn reset_first_receives(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    policy: String,
    expected: i64,
) -> StepResult {
    let consumer = assigned_consumer(
        world,
        &logical,
        &[(partition, Offset::Offset(offset))],
        &reset_settings(&policy),
    )?;
    let what = format!("the first record after asking for {logical}/{partition} at {offset}");
    let received = receive_until(world, &consumer, &logical, &what, |r| !r.is_empty()).await?;
    let first = received.first().map(|r| r.offset);
    check!(
        first == Some(expected),
        "with auto.offset.reset={policy} the first record received was at {first:?}, expected {expected}"
    );
    Ok(())
}

#[then(
    expr = "a consumer assigned to partition {int} of {string} at offset {int} with auto.offset.reset {string} moves to offset {int}"
)]
async fn reset_moves_to(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    policy: String,
    expected: i64,
) -> StepResult {
    let physical = world.physical(&logical);
    let consumer = assigned_consumer(
        world,
        &logical,
        &[(partition, Offset::Offset(offset))],
        &reset_settings(&policy),
    )?;
    // Nothing arrives to show where the consumer went: its own statistics say which offset
    // it will fetch next.
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!("the consumer of {logical}/{partition} to reset to {expected}"),
    );
    loop {
        let position = consumer.context().fetch_position(&physical, partition);
        if let Some((state, next)) = &position
            && state == "active"
            && *next == expected
        {
            break;
        }
        if let Some(record) =
            next_record(&consumer, &Deadline::after(super::POLL_INTERVAL, "")).await?
        {
            check!(
                false,
                "with auto.offset.reset={policy} the consumer received offset {} before anything was appended",
                record.offset
            );
        }
        deadline
            .wait(format!("fetch state and next offset {position:?}"))
            .await?;
    }
    world.consumer = Some((consumer, logical, partition));
    Ok(())
}

#[then(
    expr = "when {string} is then appended to partition {int} of {string}, that consumer receives it at offset {int}"
)]
async fn append_then_receive(
    world: &mut KafkaWorld,
    value: String,
    partition: i32,
    logical: String,
    expected: i64,
) -> StepResult {
    let physical = world.physical(&logical);
    let record = OutgoingRecord {
        key: None,
        value: Some(Bytes::from(value.clone())),
    };
    let answer = world
        .raw()?
        .leader_of(&physical, partition)
        .await?
        .produce(&physical, partition, 1, &[record])
        .await
        .with_context(|| format!("appending {value:?} to {logical}/{partition}"))?;
    check!(
        answer.error_code == 0,
        "appending {value:?} answered {}",
        ErrorCode::from_kafka(answer.error_code)
    );
    let (consumer, kept_topic, kept_partition) = world
        .consumer
        .take()
        .ok_or_else(|| anyhow!("no consumer was kept from an earlier step"))?;
    check!(
        kept_topic == logical && kept_partition == partition,
        "the kept consumer reads {kept_topic}/{kept_partition}"
    );
    let what = format!("{value:?} to reach the consumer");
    let received = receive_until(world, &consumer, &logical, &what, |r| !r.is_empty()).await?;
    let first = &received[0];
    check!(
        first.value == value && first.offset == expected,
        "the consumer received {:?} at {}, expected {value:?} at {expected}",
        first.value,
        first.offset
    );
    Ok(())
}

#[then(
    expr = "a consumer assigned to partition {int} of {string} at offset {int} reads offsets {int} to {int}, seeks back to {int} and reads offset {int} again"
)]
// A step function takes one argument per capture of its expression.
#[allow(clippy::too_many_arguments)]
async fn read_seek_reread(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    first: i64,
    last: i64,
    seek_to: i64,
    again: i64,
) -> StepResult {
    let physical = world.physical(&logical);
    let consumer = assigned_consumer(world, &logical, &[(partition, Offset::Offset(offset))], &[])?;
    let count = (last - first + 1) as usize;
    let what = format!("offsets {first} to {last}");
    let received = receive_until(world, &consumer, &logical, &what, |r| r.len() >= count).await?;
    let offsets: Vec<i64> = received.iter().map(|r| r.offset).collect();
    check!(
        offsets == (first..=last).collect::<Vec<_>>(),
        "read offsets {offsets:?}, expected {first} to {last}"
    );
    consumer
        .seek(
            &physical,
            partition,
            Offset::Offset(seek_to),
            std::time::Duration::from_secs(5),
        )
        .with_context(|| format!("seeking {logical}/{partition} to {seek_to}"))?;
    let what = format!("offset {again} after seeking back");
    let replay = receive_until(world, &consumer, &logical, &what, |r| !r.is_empty()).await?;
    let replayed = replay.first().map(|r| (r.offset, r.value.clone()));
    check!(
        replayed.as_ref().map(|(o, _)| *o) == Some(again),
        "after seeking back to {seek_to} the consumer read {replayed:?}, expected offset {again}"
    );
    Ok(())
}
