//! Placement: creating a topic with a replication factor, and where the cluster puts its
//! replicas and leaders.
//!
//! Placement is chosen by the cluster (Kafka's controller starts its round-robin at a random
//! broker), so steps check and record its *shape*: how many replicas, on how many brokers,
//! how many leaderships per broker, sorted, never which broker holds what. A replication
//! factor the cluster cannot meet is refused at creation, by librdkafka's AdminClient and by
//! the broker to a raw CreateTopics alike; the error is kept for `the admin request fails
//! with …` ([`super::topics`]).
//!
//! # References
//!
//! - Kafka protocol guide: CreateTopics (`replication_factor`, -1 for the broker's
//!   `default.replication.factor`; INVALID_REPLICATION_FACTOR), Metadata (`replica_nodes`).
//! - KRaft `StripedReplicaPlacer` (how partitions are dealt out to brokers).
//! - Kafka docs, "Replication".

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{given, then, when};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};

use super::metadata::{TopicState, live_brokers, topic_state};
use super::topics::create_and_wait;
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

// ---- replication factors at creation -----------------------------------------------------

#[given(expr = "a topic {string} with {int} partition(s) and replication factor {int}")]
async fn a_replicated_topic(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i32,
) -> StepResult {
    create_and_wait(world, &logical, partitions, replication, &[]).await
}

/// Creates a topic through librdkafka's AdminClient, keeping and recording the error.
async fn admin_create(
    world: &mut KafkaWorld,
    logical: &str,
    partitions: i32,
    replication: i32,
) -> StepResult {
    let physical = world.physical(logical);
    let topic = NewTopic::new(&physical, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    let admin = world.admin()?;
    let results = tokio::time::timeout(ADMIN_TIMEOUT, admin.create_topics([&topic], &options))
        .await
        .map_err(|_| anyhow!("CreateTopics {logical}: no answer within {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("CreateTopics {logical}"))?;
    let error = results
        .into_iter()
        .find_map(|result| result.err())
        .map(|(_, code)| ErrorCode::from_rdkafka(code));
    keep_admin_error(world, logical, error);
    Ok(())
}

fn keep_admin_error(world: &mut KafkaWorld, logical: &str, error: Option<ErrorCode>) {
    if let Some(error) = &error {
        world.record(Observation::AdminError {
            operation: "CreateTopics".to_owned(),
            topic: logical.to_owned(),
            error: error.clone(),
        });
    }
    world.last_admin_error = error;
}

#[when(
    expr = "the admin creates topic {string} with {int} partition(s) and replication factor {int}"
)]
async fn admin_creates(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i32,
) -> StepResult {
    admin_create(world, &logical, partitions, replication).await
}

#[when(
    expr = "the admin creates topic {string} with {int} partition(s) and a replication factor one above the number of brokers"
)]
async fn admin_creates_one_above(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
) -> StepResult {
    let brokers = live_brokers(world).await?;
    let replication = i32::try_from(brokers.len()).context("broker count")? + 1;
    admin_create(world, &logical, partitions, replication).await
}

#[when(
    expr = "the raw client asks to create topic {string} with {int} partition(s) and replication factor {int}"
)]
async fn raw_creates(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i16,
) -> StepResult {
    let physical = world.physical(&logical);
    let code = world
        .raw()?
        .any_broker()
        .await?
        .create_topic(&physical, partitions, replication)
        .await
        .with_context(|| format!("raw CreateTopics {logical}"))?;
    let error = (code != 0).then(|| ErrorCode::from_kafka(code));
    if error.is_none() {
        world.partition_counts.insert(logical.clone(), partitions);
    }
    keep_admin_error(world, &logical, error);
    Ok(())
}

#[then(expr = "topic {string} does not exist")]
async fn does_not_exist(world: &mut KafkaWorld, logical: String) -> StepResult {
    let state = topic_state(world, &logical).await?;
    let error = ErrorCode::from_kafka(state.error);
    check!(
        error.is("UNKNOWN_TOPIC_OR_PARTITION", 3) && state.partitions.is_empty(),
        "Metadata for {logical:?} answers {error} with partitions {:?}",
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "topic {logical} does not exist: Metadata answers {error}"
    )));
    Ok(())
}

// ---- placement ------------------------------------------------------------------------

/// The topic as [`topic_state`] gives it, which must have partitions.
async fn partitioned_topic_state(
    world: &mut KafkaWorld,
    logical: &str,
) -> anyhow::Result<TopicState> {
    let state = topic_state(world, logical).await?;
    anyhow::ensure!(
        !state.partitions.is_empty(),
        "{logical:?} has no partitions"
    );
    Ok(state)
}

#[then(expr = "every partition of {string} has {int} replica(s)")]
async fn every_partition_has_replicas(
    world: &mut KafkaWorld,
    logical: String,
    expected: usize,
) -> StepResult {
    let state = partitioned_topic_state(world, &logical).await?;
    for p in &state.partitions {
        check!(
            p.replicas.len() == expected,
            "partition {} of {logical:?} has replicas {:?}, expected {expected}",
            p.partition,
            p.replicas
        );
    }
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {}",
        counted(expected, "replica")
    )));
    Ok(())
}

#[then(
    expr = "every partition of {string} has {int} replicas on different brokers, one of them its leader"
)]
async fn replicas_on_different_brokers(
    world: &mut KafkaWorld,
    logical: String,
    expected: usize,
) -> StepResult {
    let state = partitioned_topic_state(world, &logical).await?;
    for p in &state.partitions {
        let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
        check!(
            p.replicas.len() == expected && distinct.len() == expected,
            "partition {} of {logical:?} has replicas {:?}: expected {expected} on different brokers",
            p.partition,
            p.replicas
        );
        check!(
            distinct.iter().all(|id| state.brokers.contains(id)),
            "partition {} of {logical:?} has replicas {:?} on brokers Metadata does not list ({:?})",
            p.partition,
            p.replicas,
            state.brokers
        );
        check!(
            p.replicas.contains(&p.leader),
            "partition {} of {logical:?} is led by {}, which is not one of its replicas {:?}",
            p.partition,
            p.leader,
            p.replicas
        );
    }
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {expected} replicas on {expected} different brokers, one of them its leader"
    )));
    Ok(())
}

#[then(expr = "each broker leads {int} partition(s) of {string} and follows {int}")]
async fn each_broker_leads_and_follows(
    world: &mut KafkaWorld,
    leads: usize,
    logical: String,
    follows: usize,
) -> StepResult {
    let state = topic_state(world, &logical).await?;
    for broker in &state.brokers {
        let led = state
            .partitions
            .iter()
            .filter(|p| p.leader == *broker)
            .count();
        let followed = state
            .partitions
            .iter()
            .filter(|p| p.leader != *broker && p.replicas.contains(broker))
            .count();
        check!(
            led == leads && followed == follows,
            "broker {broker} leads {led} and follows {followed} partitions of {logical:?}, \
             expected {leads} and {follows}: {:?}",
            state.partitions
        );
    }
    world.record(Observation::Checked(format!(
        "each of the {} brokers leads {} of {logical} and follows {follows}",
        state.brokers.len(),
        counted(leads, "partition")
    )));
    Ok(())
}

/// `3 partitions`, `1 partition`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `"2, 1 and 1"` → `[2, 1, 1]`.
fn and_list(text: &str) -> anyhow::Result<Vec<i64>> {
    text.replace(" and ", ", ")
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<i64>()
                .map_err(|e| anyhow!("{n:?} in {text:?}: {e}"))
        })
        .collect()
}

#[then(regex = r#"^the brokers lead ((?:\d+, )*\d+ and \d+) of the partitions of "([^"]*)"$"#)]
async fn leaderships_per_broker(
    world: &mut KafkaWorld,
    counts: String,
    logical: String,
) -> StepResult {
    let mut expected = and_list(&counts)?;
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let state = topic_state(world, &logical).await?;
    let mut seen: Vec<i64> = state
        .brokers
        .iter()
        .map(|broker| {
            state
                .partitions
                .iter()
                .filter(|p| p.leader == *broker)
                .count() as i64
        })
        .collect();
    seen.sort_unstable_by(|a, b| b.cmp(a));
    check!(
        seen == expected,
        "the brokers {:?} lead {seen:?} partitions of {logical:?} (most first), expected {expected:?}: {:?}",
        state.brokers,
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "the brokers lead {counts} of the partitions of {logical}"
    )));
    Ok(())
}

#[then(
    regex = r#"^partitions ((?:\d+, )*\d+ and \d+) of "([^"]*)" are on (\d+) different brokers$"#
)]
async fn partitions_on_different_brokers(
    world: &mut KafkaWorld,
    which: String,
    logical: String,
    expected: usize,
) -> StepResult {
    let indexes = and_list(&which)?;
    let state = topic_state(world, &logical).await?;
    let mut brokers = BTreeSet::new();
    for index in &indexes {
        let p = state
            .partitions
            .iter()
            .find(|p| i64::from(p.partition) == *index)
            .ok_or_else(|| anyhow!("{logical:?} has no partition {index}"))?;
        brokers.extend(p.replicas.iter().copied());
    }
    check!(
        brokers.len() == expected,
        "partitions {which} of {logical:?} are on brokers {brokers:?}, expected {expected} different ones: {:?}",
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "partitions {which} of {logical} are on {expected} different brokers"
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_lists_parse() {
        assert_eq!(and_list("2, 1 and 1").expect("list"), vec![2, 1, 1]);
        assert_eq!(and_list("0 and 1").expect("list"), vec![0, 1]);
        assert!(and_list("two and one").is_err());
    }
}
