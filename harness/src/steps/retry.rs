//! Producer retries, as the producer's own statistics count them.
//!
//! A delivery report says only how a message ended; whether librdkafka retried on the way
//! is in its statistics, emitted every `statistics.interval.ms`. A retriable error in a
//! Produce response makes librdkafka send the messages again in a *new* Produce request
//! (`brokers.*.txretries` stays 0: it counts transport retries), so a scenario that sends
//! one message counts its retries as the Produce requests beyond the first.
//!
//! # References
//!
//! - librdkafka `STATISTICS.md` (`brokers.*.req`), `CONFIGURATION.md` (`retries`,
//!   `retry.backoff.ms`, `message.timeout.ms`); Kafka protocol guide, error codes
//!   (retriable or not).

use std::time::Duration;

use anyhow::anyhow;
use cucumber::then;

use super::{Deadline, POLL_INTERVAL};
use crate::clients::ObservingContext;
use crate::observation::Observation;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long to wait for statistics emitted after the delivery report.
const STATS_TIMEOUT: Duration = Duration::from_secs(3);

/// The producer's statistics view, for a scenario that sent exactly one message.
fn lone_message_producer(world: &KafkaWorld) -> anyhow::Result<ObservingContext> {
    anyhow::ensure!(
        world.deliveries.len() == 1,
        "retries are counted for a scenario that sends one message; this one sent {}",
        world.deliveries.len()
    );
    world
        .producer_context()
        .cloned()
        .ok_or_else(|| anyhow!("no producer was used"))
}

#[then(expr = "the producer retried at least {int} time(s)")]
async fn retried_at_least(world: &mut KafkaWorld, at_least: i64) -> StepResult {
    let context = lone_message_producer(world)?;
    let deadline = Deadline::after(
        STATS_TIMEOUT,
        format!("statistics to show {} Produce requests", at_least + 1),
    );
    loop {
        let requests = context.produce_requests();
        if requests.is_some_and(|r| r > at_least) {
            break;
        }
        deadline
            .wait(format!("{requests:?} Produce requests"))
            .await?;
    }
    world.record(Observation::Retried {
        at_least: at_least as u64,
    });
    Ok(())
}

#[then("the producer did not retry")]
async fn did_not_retry(world: &mut KafkaWorld) -> StepResult {
    let context = lone_message_producer(world)?;
    // Statistics come every 100 ms: look at several snapshots taken after the failure.
    let deadline = Deadline::after(Duration::from_millis(500), "no retry");
    while !deadline.passed() {
        let requests = context.produce_requests();
        check!(
            requests.unwrap_or(0) <= 1,
            "the producer sent {requests:?} Produce requests for one message"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let requests = context.produce_requests();
    check!(
        requests == Some(1),
        "the producer's statistics show {requests:?} Produce requests, expected exactly 1"
    );
    world.record(Observation::Retried { at_least: 0 });
    Ok(())
}
