//! Topics: creating them (with and without a partition count, by first use), how many
//! partitions they have, and growing or shrinking them.
//!
//! Topics are created through librdkafka's AdminClient (CreateTopics, CreatePartitions) and
//! observed through the raw client's Metadata, which shows exactly what the broker says.
//!
//! # References
//!
//! - Kafka protocol guide: CreateTopics, CreatePartitions, Metadata.
//! - Kafka broker config `num.partitions`; KIP-195 (CreatePartitions).

use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication};

use super::{Deadline, SETTLE_TIMEOUT, table_pairs};
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::raw_client::LATEST_TIMESTAMP;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT))
}

/// Creates a topic (`partitions` and `replication` -1: the broker's defaults) and returns
/// the error the broker answered, if any.
async fn create_topic(
    world: &mut KafkaWorld,
    logical: &str,
    partitions: i32,
    replication: i32,
    configs: &[(String, String)],
) -> anyhow::Result<Option<ErrorCode>> {
    let physical = world.physical(logical);
    let mut topic = NewTopic::new(&physical, partitions, TopicReplication::Fixed(replication));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let admin = world.admin()?;
    let results = tokio::time::timeout(
        ADMIN_TIMEOUT,
        admin.create_topics([&topic], &admin_options()),
    )
    .await
    .map_err(|_| anyhow!("CreateTopics {logical}: no answer within {ADMIN_TIMEOUT:?}"))?
    .with_context(|| format!("CreateTopics {logical}"))?;
    Ok(results
        .into_iter()
        .find_map(|result| result.err())
        .map(|(_, code)| ErrorCode::from_rdkafka(code)))
}

/// The partition count Metadata shows for a topic whose partitions all have a leader that
/// already acts as one (answers ListOffsets) and all their replicas in sync, or a
/// description of why not yet. On a cluster of several brokers Metadata names a new leader
/// a moment before that broker has taken the partition on: a produce sent in that moment
/// would answer NOT_LEADER_OR_FOLLOWER.
async fn settled_partition_count(
    world: &mut KafkaWorld,
    logical: &str,
) -> anyhow::Result<Result<i32, String>> {
    let physical = world.physical(logical);
    let metadata = world.topic_metadata(logical).await?;
    let Some(topic) = metadata.topics.first() else {
        return Ok(Err("no topic in the Metadata response".to_owned()));
    };
    if topic.error_code != 0 {
        return Ok(Err(format!(
            "topic error {}",
            ErrorCode::from_kafka(topic.error_code)
        )));
    }
    if let Some(p) = topic.partitions.iter().find(|p| p.leader_id.0 < 0) {
        return Ok(Err(format!(
            "partition {} has no leader",
            p.partition_index
        )));
    }
    if let Some(p) = topic
        .partitions
        .iter()
        .find(|p| p.isr_nodes.len() < p.replica_nodes.len())
    {
        return Ok(Err(format!(
            "partition {} has {} of its {} replicas in sync",
            p.partition_index,
            p.isr_nodes.len(),
            p.replica_nodes.len()
        )));
    }
    let count = topic.partitions.len() as i32;
    for partition in 0..count {
        let (error, _) = world
            .raw()?
            .leader_of(&physical, partition)
            .await?
            .list_offset(&physical, partition, LATEST_TIMESTAMP)
            .await
            .with_context(|| format!("ListOffsets of {logical}/{partition}"))?;
        if error != 0 {
            return Ok(Err(format!(
                "the leader of partition {partition} answers {}",
                ErrorCode::from_kafka(error)
            )));
        }
    }
    Ok(Ok(count))
}

/// Waits until Metadata shows `expected` partitions, all led.
async fn wait_for_partitions(
    world: &mut KafkaWorld,
    logical: &str,
    expected: i32,
) -> anyhow::Result<()> {
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!("topic {logical:?} to have {expected} led partitions"),
    );
    loop {
        let seen = settled_partition_count(world, logical).await?;
        match seen {
            Ok(count) if count == expected => return Ok(()),
            Ok(count) => deadline.wait(format!("{count} partitions")).await?,
            Err(why) => deadline.wait(why).await?,
        }
    }
}

pub(crate) async fn create_and_wait(
    world: &mut KafkaWorld,
    logical: &str,
    partitions: i32,
    replication: i32,
    configs: &[(String, String)],
) -> StepResult {
    if let Some(error) = create_topic(world, logical, partitions, replication, configs).await? {
        check!(false, "CreateTopics {logical:?} answered {error}");
    }
    world
        .partition_counts
        .insert(logical.to_owned(), partitions);
    wait_for_partitions(world, logical, partitions).await?;
    Ok(())
}

#[given(expr = "a topic {string} with {int} partition(s)")]
async fn a_topic(world: &mut KafkaWorld, logical: String, partitions: i32) -> StepResult {
    create_and_wait(world, &logical, partitions, 1, &[]).await
}

#[given(expr = "a topic {string} with {int} partition(s) and configs:")]
async fn a_topic_with_configs(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    step: &Step,
) -> StepResult {
    let configs = table_pairs(step)?;
    create_and_wait(world, &logical, partitions, 1, &configs).await
}

#[given(expr = "a topic {string} with {int} partition(s), replication factor {int} and configs:")]
async fn a_replicated_topic_with_configs(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i32,
    step: &Step,
) -> StepResult {
    let configs = table_pairs(step)?;
    create_and_wait(world, &logical, partitions, replication, &configs).await
}

#[when(expr = "the admin creates topic {string} without a partition count")]
async fn create_without_count(world: &mut KafkaWorld, logical: String) -> StepResult {
    // -1 partitions and -1 replicas: CreateTopics v4+ lets the broker apply its defaults.
    if let Some(error) = create_topic(world, &logical, -1, -1, &[]).await? {
        check!(false, "CreateTopics {logical:?} answered {error}");
    }
    Ok(())
}

#[when(expr = "a client asks for metadata of the unknown topic {string}, allowing auto-creation")]
async fn auto_create(world: &mut KafkaWorld, logical: String) -> StepResult {
    let physical = world.physical(&logical);
    // The first answer may be LEADER_NOT_AVAILABLE while the topic is being created; the
    // partition count is checked by a later step.
    world
        .raw()?
        .any_broker()
        .await?
        .metadata(Some(&[physical.as_str()]), true)
        .await
        .with_context(|| format!("Metadata for {logical} with auto-creation"))?;
    Ok(())
}

#[then(expr = "topic {string} has {int} partition(s)")]
async fn has_partitions(world: &mut KafkaWorld, logical: String, expected: i32) -> StepResult {
    // Topic creation and growth propagate to Metadata asynchronously in Kafka: wait for it.
    let result = wait_for_partitions(world, &logical, expected).await;
    if let Ok(Ok(count)) = settled_partition_count(world, &logical).await {
        world.record(Observation::Partitions {
            topic: logical.clone(),
            count,
        });
    }
    result?;
    Ok(())
}

/// Sends CreatePartitions and keeps the answer for a later step.
async fn create_partitions(
    world: &mut KafkaWorld,
    logical: &str,
    count: usize,
) -> anyhow::Result<Option<ErrorCode>> {
    let physical = world.physical(logical);
    let request = NewPartitions::new(&physical, count);
    let admin = world.admin()?;
    let results = tokio::time::timeout(
        ADMIN_TIMEOUT,
        admin.create_partitions([&request], &admin_options()),
    )
    .await
    .map_err(|_| anyhow!("CreatePartitions {logical}: no answer within {ADMIN_TIMEOUT:?}"))?
    .with_context(|| format!("CreatePartitions {logical}"))?;
    let error = results
        .into_iter()
        .find_map(|result| result.err())
        .map(|(_, code)| ErrorCode::from_rdkafka(code));
    if let Some(error) = &error {
        world.record(Observation::AdminError {
            operation: "CreatePartitions".to_owned(),
            topic: logical.to_owned(),
            error: error.clone(),
        });
    }
    world.last_admin_error = error.clone();
    Ok(error)
}

#[when(expr = "the admin grows topic {string} to {int} partitions")]
async fn grow(world: &mut KafkaWorld, logical: String, count: usize) -> StepResult {
    if let Some(error) = create_partitions(world, &logical, count).await? {
        check!(
            false,
            "CreatePartitions {logical:?} to {count} answered {error}"
        );
    }
    world.partition_counts.insert(logical, count as i32);
    Ok(())
}

#[when(expr = "the admin asks to shrink topic {string} to {int} partitions")]
async fn shrink(world: &mut KafkaWorld, logical: String, count: usize) -> StepResult {
    create_partitions(world, &logical, count).await?;
    Ok(())
}

#[then(regex = r"^the admin request fails with ([A-Z_]+) \((-?\d+)\)$")]
async fn admin_fails(world: &mut KafkaWorld, name: String, code: i32) -> StepResult {
    match &world.last_admin_error {
        Some(error) => check!(
            error.is(&name, code),
            "the admin request failed with {error}, expected {name} ({code})"
        ),
        None => check!(
            false,
            "the admin request succeeded, expected {name} ({code})"
        ),
    }
    Ok(())
}
