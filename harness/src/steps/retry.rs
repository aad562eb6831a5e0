//! Producer retries, as the producer's own statistics count them.
//!
//! A delivery report says only how a message ended; whether librdkafka retried on the way
//! is in its statistics (`brokers.*.txretries`, emitted every `statistics.interval.ms`).
//!
//! # References
//!
//! - librdkafka `STATISTICS.md` (`txretries`), `CONFIGURATION.md` (`retries`,
//!   `retry.backoff.ms`, `message.timeout.ms`); Kafka protocol guide, error codes
//!   (retriable or not).

use std::time::Duration;

use cucumber::then;

use super::Deadline;
use crate::observation::Observation;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long to wait for statistics emitted after the delivery report.
const STATS_TIMEOUT: Duration = Duration::from_secs(3);

#[then(expr = "the producer retried at least {int} time(s)")]
async fn retried_at_least(world: &mut KafkaWorld, at_least: u64) -> StepResult {
    let context = world
        .producer_context()
        .ok_or_else(|| anyhow::anyhow!("no producer was used"))?
        .clone();
    let deadline = Deadline::after(
        STATS_TIMEOUT,
        format!("statistics to show {at_least} retries"),
    );
    loop {
        let retries = context.request_retries();
        if retries.is_some_and(|r| r >= at_least) {
            break;
        }
        deadline.wait(format!("{retries:?} retries")).await?;
    }
    world.record(Observation::Retried { at_least });
    Ok(())
}

#[then("the producer did not retry")]
async fn did_not_retry(world: &mut KafkaWorld) -> StepResult {
    let context = world
        .producer_context()
        .ok_or_else(|| anyhow::anyhow!("no producer was used"))?
        .clone();
    // Statistics come every 100 ms: look at several snapshots taken after the failure.
    let deadline = Deadline::after(Duration::from_millis(500), "");
    while !deadline.passed() {
        let retries = context.request_retries();
        check!(
            retries.unwrap_or(0) == 0,
            "the producer retried {retries:?} times"
        );
        tokio::time::sleep(super::POLL_INTERVAL).await;
    }
    check!(
        context.request_retries().is_some(),
        "the producer emitted no statistics: set statistics.interval.ms"
    );
    world.record(Observation::Retried { at_least: 0 });
    Ok(())
}
