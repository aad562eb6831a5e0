//! The librdkafka clients scenarios use, configured once here.
//!
//! Producers are `FutureProducer`s (each delivery is a future, so a step can send a burst
//! and then await the reports in order); consumers are `StreamConsumer`s driven by `recv()`
//! under a deadline, so no step blocks the executor that runs concurrent scenarios. Until
//! the reference broker has consumer groups, consumers are *assigned* partitions
//! explicitly; `group.id` is set only because librdkafka requires one, and nothing commits.
//!
//! Both share an [`ObservingContext`] that keeps the latest librdkafka statistics, so that a
//! step can see what the client did behind the application's back (how many Produce
//! requests it sent).
//!
//! # References
//!
//! - librdkafka `CONFIGURATION.md` and `STATISTICS.md` (`brokers.*.req`).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext, Statistics};

/// A client context that keeps the latest statistics and stays quiet otherwise.
#[derive(Clone, Default)]
pub struct ObservingContext {
    latest: Arc<Mutex<Option<Statistics>>>,
}

impl ObservingContext {
    /// Produce requests sent so far, summed over brokers; `None` before the first
    /// statistics. librdkafka retries a retriable produce error by sending the messages
    /// again in a new Produce request (its `txretries` counts only requests that failed
    /// in transport), so this is how many times a lone message was sent.
    pub fn produce_requests(&self) -> Option<i64> {
        let latest = self.latest.lock().ok()?;
        let stats = latest.as_ref()?;
        Some(
            stats
                .brokers
                .values()
                .filter_map(|b| b.req.get("Produce"))
                .sum(),
        )
    }

    /// A consumer's view of one partition from its latest statistics: the fetch state
    /// (`active`, `offset-query` …) and the next offset it will fetch.
    pub fn fetch_position(&self, topic: &str, partition: i32) -> Option<(String, i64)> {
        let latest = self.latest.lock().ok()?;
        let stats = latest.as_ref()?;
        let partition = stats.topics.get(topic)?.partitions.get(&partition)?;
        Some((partition.fetch_state.clone(), partition.next_offset))
    }
}

impl ClientContext for ObservingContext {
    fn stats(&self, statistics: Statistics) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(statistics);
        }
    }
}

impl ConsumerContext for ObservingContext {}

/// The producer steps use.
pub type Producer = FutureProducer<ObservingContext>;
/// The consumer steps use.
pub type Consumer = StreamConsumer<ObservingContext>;
/// The admin client steps use.
pub type Admin = AdminClient<DefaultClientContext>;

/// Producer settings every scenario starts from; a scenario's own settings override them.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "kafka-spec-producer"),
    // Fail fast: scenarios wait seconds, not librdkafka's default five minutes.
    ("message.timeout.ms", "5000"),
    ("statistics.interval.ms", "100"),
];

/// Consumer settings every scenario starts from.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "kafka-spec-consumer"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("auto.offset.reset", "earliest"),
    ("fetch.wait.max.ms", "100"),
    ("statistics.interval.ms", "100"),
];

fn config(
    bootstrap: &str,
    defaults: &[(&str, &str)],
    settings: &[(String, String)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in settings {
        config.set(key, value);
    }
    config
}

/// A producer with the scenario's settings (librdkafka names).
pub fn producer(
    bootstrap: &str,
    settings: &[(String, String)],
) -> anyhow::Result<(Producer, ObservingContext)> {
    let context = ObservingContext::default();
    let producer = Producer::from_config_and_context(
        &config(bootstrap, PRODUCER_DEFAULTS, settings),
        context.clone(),
    )
    .with_context(|| format!("creating a producer with {settings:?}"))?;
    Ok((producer, context))
}

/// A consumer for manual assignment, in its own (unused) group.
pub fn consumer(
    bootstrap: &str,
    group_id: &str,
    settings: &[(String, String)],
) -> anyhow::Result<Consumer> {
    let mut config = config(bootstrap, CONSUMER_DEFAULTS, settings);
    config.set("group.id", group_id);
    Consumer::from_config_and_context(&config, ObservingContext::default())
        .with_context(|| format!("creating a consumer with {settings:?}"))
}

/// An admin client.
pub fn admin(bootstrap: &str) -> anyhow::Result<Admin> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config.set("client.id", "kafka-spec-admin");
    config.create().context("creating an admin client")
}
