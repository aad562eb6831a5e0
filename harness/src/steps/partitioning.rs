//! Where messages land: by key hash (checked against [`crate::partitioner`]'s predictions),
//! by explicit partition, and without a key (sticky, not round-robin).
//!
//! # References
//!
//! - KIP-480 (sticky partitioner); librdkafka `CONFIGURATION.md` (`partitioner`,
//!   `sticky.partitioning.linger.ms`).

use cucumber::then;

use crate::observation::Observation;
use crate::partitioner::KeyPartitioner;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// The partitions of the last send step's deliveries, in send order; fails on any failed
/// one.
fn delivered_partitions(world: &KafkaWorld) -> anyhow::Result<Vec<i32>> {
    let sent = &world.deliveries[world.last_sent.clone()];
    anyhow::ensure!(!sent.is_empty(), "nothing was sent");
    sent.iter()
        .map(|d| match &d.outcome {
            Ok((partition, _)) => Ok(*partition),
            Err(error) => Err(anyhow::anyhow!("{:?} failed with {error}", d.value)),
        })
        .collect()
}

#[then(expr = "all of them land in partition {int}")]
async fn all_in_partition(world: &mut KafkaWorld, expected: i32) -> StepResult {
    let partitions = delivered_partitions(world)?;
    check!(
        partitions.iter().all(|p| *p == expected),
        "the messages landed in partitions {partitions:?}, expected all in {expected}"
    );
    Ok(())
}

#[then(expr = "every message landed in the partition {word} of its key predicts")]
async fn landed_as_predicted(world: &mut KafkaWorld, hash: String) -> StepResult {
    let partitioner = match hash.as_str() {
        "murmur2" => KeyPartitioner::Murmur2,
        "crc32" => KeyPartitioner::Crc32,
        other => return Err(anyhow::anyhow!("unknown hash {other:?}: murmur2 or crc32").into()),
    };
    let partitions = delivered_partitions(world)?;
    let mut mismatches = Vec::new();
    for (delivery, partition) in world.deliveries[world.last_sent.clone()]
        .iter()
        .zip(partitions)
    {
        let key = delivery
            .key
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("{:?} had no key", delivery.value))?;
        let count = u32::try_from(world.partition_count(&delivery.topic)?)
            .map_err(|_| anyhow::anyhow!("negative partition count"))?;
        let predicted = partitioner.partition(key.as_bytes(), count) as i32;
        if predicted != partition {
            mismatches.push(format!(
                "{key}: landed in {partition}, {hash} says {predicted}"
            ));
        }
    }
    check!(
        mismatches.is_empty(),
        "keys not where {hash} puts them: {mismatches:?}"
    );
    Ok(())
}

#[then(
    regex = r"^they land in at most (\d+) partitions, changing partition at most once along the burst$"
)]
async fn sticky(world: &mut KafkaWorld, at_most: usize) -> StepResult {
    let partitions = delivered_partitions(world)?;
    let mut distinct = partitions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let changes = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    check!(
        distinct.len() <= at_most && changes <= 1,
        "the burst went to partitions {partitions:?}: {} distinct, {changes} changes",
        distinct.len()
    );
    // Which partitions varies from run to run; that the burst stuck does not.
    world.record(Observation::Checked(format!(
        "{} unkeyed messages landed in at most {at_most} partitions, changing at most once",
        partitions.len()
    )));
    Ok(())
}
