//! What a broker that is not a partition's leader answers: a follower, or a broker that
//! holds no replica of it at all.
//!
//! A broker a step picks is named by its role (`a follower of payments/0`, `a broker without
//! a replica of payments/0`), never by id, and traces record it by that role; when several
//! fit, the step picks by id (the highest follower, the lowest broker without a replica), so
//! that a run is repeatable on a given cluster. A step that sends to a broker other than the
//! leader first waits until that broker's own Metadata knows the partition: brokers learn of
//! a new topic one after another, and one that has not yet would answer
//! UNKNOWN_TOPIC_OR_PARTITION, not the answer in question. The raw Fetch at a chosen broker
//! ([`fetch_at`], [`record_fetch_at`]) is also how [`super::replicas`] reads each replica.
//!
//! # References
//!
//! - Kafka protocol guide: Produce and ListOffsets (NOT_LEADER_OR_FOLLOWER from a follower,
//!   UNKNOWN_TOPIC_OR_PARTITION from a broker without a replica), Fetch (v11 `rack_id`: a
//!   follower serves consumers up to its high watermark, KIP-392).

use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{then, when};

use super::metadata::{partition_state, topic_state, topic_state_of};
use super::offsets::{numbered_records, produce_response};
use super::{Deadline, SETTLE_TIMEOUT, comma_list};
use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::raw_client::{FetchedPartition, LATEST_TIMESTAMP};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// A broker in a role relative to a partition: the highest-id follower, or the lowest-id live
/// broker that holds no replica of it; with the role's name for traces.
async fn broker_in_role(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    follower: bool,
) -> anyhow::Result<(i32, String)> {
    let state = topic_state(world, logical).await?;
    let p = state.partition(logical, partition)?;
    let chosen = if follower {
        let id = p
            .followers()
            .into_iter()
            .max()
            .ok_or_else(|| anyhow!("{logical}/{partition} has no follower: {p:?}"))?;
        (id, format!("a follower of {logical}/{partition}"))
    } else {
        let id = state
            .brokers
            .iter()
            .copied()
            .find(|id| !p.replicas.contains(id))
            .ok_or_else(|| {
                anyhow!(
                    "every live broker {:?} holds a replica of {logical}/{partition}",
                    state.brokers
                )
            })?;
        (
            id,
            format!("a broker without a replica of {logical}/{partition}"),
        )
    };
    until_broker_knows(world, chosen.0, logical, partition).await?;
    Ok(chosen)
}

/// Waits until `broker`'s own Metadata shows the partition with the leader the cluster
/// reports: brokers learn of a new topic from the controller one after another, and one
/// that has not yet would answer UNKNOWN_TOPIC_OR_PARTITION, not the answer in question.
async fn until_broker_knows(
    world: &mut KafkaWorld,
    broker: i32,
    logical: &str,
    partition: i32,
) -> anyhow::Result<()> {
    let physical = world.physical(logical);
    let expected = partition_state(world, logical, partition).await?;
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!("broker {broker} to learn the leader of {logical}/{partition}"),
    );
    loop {
        let metadata = world
            .raw()?
            .broker(broker)
            .await?
            .metadata(Some(&[physical.as_str()]), false)
            .await
            .with_context(|| format!("Metadata for {logical} from broker {broker}"))?;
        let seen = topic_state_of(&metadata, &physical);
        let known = seen
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .is_some_and(|p| {
                p.leader == expected.leader && p.leader_epoch == expected.leader_epoch
            });
        if seen.error == 0 && known {
            return Ok(());
        }
        deadline.wait(format!("{seen:?}")).await?;
    }
}

async fn produce_at(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
    follower: bool,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, follower).await?;
    let physical = world.physical(&logical);
    let answer = world
        .raw()?
        .broker(broker)
        .await?
        .produce(&physical, partition, acks, &numbered_records(count))
        .await
        .with_context(|| format!("raw Produce to {logical}/{partition} at {role}"))?;
    let entry = Box::new(produce_response(world, &answer));
    world.record(Observation::At {
        broker: role,
        entry,
    });
    world.last_produce = Some(answer);
    Ok(())
}

#[when(
    expr = "the raw client produces {int} record(s) to partition {int} of {string} with acks {int} at a follower"
)]
async fn produce_at_follower(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
) -> StepResult {
    produce_at(world, count, partition, logical, acks, true).await
}

#[when(
    expr = "the raw client produces {int} record(s) to partition {int} of {string} with acks {int} at a broker that holds no replica of it"
)]
async fn produce_at_stranger(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
) -> StepResult {
    produce_at(world, count, partition, logical, acks, false).await
}

/// A raw Fetch of a partition from `offset` at `broker`, named `role` in the error.
pub(super) async fn fetch_at(
    world: &mut KafkaWorld,
    broker: i32,
    role: &str,
    logical: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<FetchedPartition> {
    let physical = world.physical(logical);
    world
        .raw()?
        .broker(broker)
        .await?
        .fetch(&physical, partition, offset, 0)
        .await
        .with_context(|| format!("Fetch of {logical}/{partition} at {offset} from {role}"))
}

/// Records a raw Fetch's answer under the role of the broker it was sent to.
pub(super) fn record_fetch_at(
    world: &mut KafkaWorld,
    role: String,
    logical: &str,
    partition: i32,
    offset: i64,
    fetched: &FetchedPartition,
) {
    world.record(Observation::At {
        broker: role,
        entry: Box::new(Observation::Fetched {
            topic: logical.to_owned(),
            partition,
            offset,
            error: ErrorCode::from_kafka(fetched.error_code),
            records: fetched.records.len(),
        }),
    });
}

#[when(
    expr = "the raw client fetches partition {int} of {string} at offset {int} from a broker that holds no replica of it"
)]
async fn fetch_at_stranger(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, false).await?;
    let fetched = fetch_at(world, broker, &role, &logical, partition, offset).await?;
    record_fetch_at(world, role, &logical, partition, offset, &fetched);
    world.last_fetch = Some((offset, fetched));
    Ok(())
}

#[then(
    expr = "within {int} seconds a fetch of partition {int} of {string} at offset {int} from a follower returns {string}"
)]
async fn follower_fetch_returns(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    offset: i64,
    values: String,
) -> StepResult {
    let expected = comma_list(&values);
    let (broker, role) = broker_in_role(world, &logical, partition, true).await?;
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{role} to serve {expected:?} from offset {offset}"),
    );
    loop {
        let fetched = fetch_at(world, broker, &role, &logical, partition, offset).await?;
        let got: Vec<String> = fetched
            .records
            .iter()
            .filter(|r| r.offset >= offset)
            .map(|r| show_value(r.value.as_deref()))
            .collect();
        if fetched.error_code == 0 && got.len() >= expected.len() {
            record_fetch_at(world, role, &logical, partition, offset, &fetched);
            check!(
                got == expected,
                "{logical}/{partition} at a follower holds {got:?}, expected {expected:?}"
            );
            return Ok(());
        }
        deadline
            .wait(format!(
                "{} with {got:?}",
                ErrorCode::from_kafka(fetched.error_code)
            ))
            .await?;
    }
}

#[then(
    regex = r#"^a ListOffsets of the latest offset of partition (\d+) of "([^"]*)" at a follower fails with ([A-Z_]+) \((-?\d+)\)$"#
)]
async fn list_offsets_at_follower(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    name: String,
    code: i32,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, true).await?;
    let physical = world.physical(&logical);
    let (error, offset) = world
        .raw()?
        .broker(broker)
        .await?
        .list_offset(&physical, partition, LATEST_TIMESTAMP)
        .await
        .with_context(|| format!("ListOffsets of {logical}/{partition} at {role}"))?;
    let error = ErrorCode::from_kafka(error);
    world.record(Observation::At {
        broker: role,
        entry: Box::new(Observation::OffsetError {
            topic: logical.clone(),
            partition,
            which: "latest".to_owned(),
            error: error.clone(),
        }),
    });
    check!(
        error.is(&name, code),
        "ListOffsets at a follower answered {error} (offset {offset}), expected {name} ({code})"
    );
    Ok(())
}
