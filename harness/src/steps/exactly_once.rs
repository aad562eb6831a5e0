//! Exactly-once (C-EOS-1): what a partition holds of the messages a scenario sent.
//!
//! Without idempotence a send whose acknowledgement was lost is sent again and may be stored
//! twice; with it the leader recognises the retry by its producer id, epoch and sequence
//! numbers and answers with the first copy's offset (KIP-98). The step here reads the whole
//! partition from its leader and checks that every acknowledged message is there once and
//! that no message is there twice. The trace records only that check, never how many sends
//! were retried (which varies from run to run).
//!
//! # References
//! - KIP-98 (idempotent producer); Kafka docs, "Message Delivery Semantics"

use std::collections::BTreeMap;

use cucumber::then;

use super::offsets::read_partition;
use crate::observation::{Observation, show_value};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

#[then(expr = "partition {int} of {string} holds every acknowledged message exactly once")]
async fn each_acknowledged_once(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
) -> StepResult {
    let sent: Vec<(String, bool)> = world
        .deliveries
        .iter()
        .filter(|d| d.topic == logical)
        .map(|d| (d.value.clone(), d.outcome.is_ok()))
        .collect();
    check!(!sent.is_empty(), "nothing was sent to {logical}");
    let records = read_partition(world, &logical, partition).await?;
    let mut copies: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in &records {
        copies
            .entry(show_value(record.value.as_deref()))
            .or_default()
            .push(record.offset);
    }
    let twice: Vec<_> = copies.iter().filter(|(_, at)| at.len() > 1).collect();
    check!(
        twice.is_empty(),
        "{logical}/{partition} holds {} message(s) more than once, e.g. {:?}",
        twice.len(),
        twice.iter().take(3).collect::<Vec<_>>()
    );
    let missing: Vec<&String> = sent
        .iter()
        .filter(|(value, acked)| *acked && !copies.contains_key(value))
        .map(|(value, _)| value)
        .collect();
    check!(
        missing.is_empty(),
        "{logical}/{partition} lacks {} acknowledged message(s), e.g. {:?}",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>()
    );
    let unknown = copies
        .keys()
        .filter(|value| !sent.iter().any(|(v, _)| v == *value))
        .count();
    check!(
        unknown == 0,
        "{logical}/{partition} holds {unknown} message(s) the scenario never sent"
    );
    world.record(Observation::Checked(format!(
        "{logical}/{partition} holds every acknowledged message exactly once"
    )));
    Ok(())
}
