//! The spec harness: Kafka's behaviour as Gherkin scenarios, run with real clients against
//! the reference broker or any Kafka-compatible cluster.
//!
//! A scenario speaks only the Kafka wire protocol: through librdkafka (`rdkafka`) for what an
//! application does, and through a small raw client on `kafka-protocol` where an exact error
//! code, a protocol version or the absence of a response is the point. It never reaches into a
//! broker's internals, so the same scenario runs unchanged against Apache Kafka.
//!
//! Each step records what it observed (offsets, partitions, error codes, records) into a
//! per-scenario trace with logical names and no timings, so that the differential run can
//! compare the reference broker's traces with real Kafka's, live or as recorded.
//!
//! # Layout
//!
//! - [`target`]: what a scenario runs against ([`target::Target`]): the in-process reference
//!   broker ([`target::ReferenceTarget`]), any `host:port` ([`target::BootstrapTarget`]),
//!   real Apache Kafka from Maven jars ([`target::kafka_local`], with fault control by
//!   signals), the `apache/kafka` image ([`target::testcontainers`], cargo feature
//!   `testcontainers`), and their names on the command line ([`target::spec`]).
//! - [`world`]: the cucumber `World` of one scenario ([`world::KafkaWorld`]): logical to
//!   physical topic names, the clients, the last outcomes, the trace.
//! - [`observation`]: the normalised trace entries a step records.
//! - [`raw_client`]: a minimal async Kafka client on `kafka-protocol` over a `TcpStream`.
//! - [`group_client`]: consumer group members (subscribed librdkafka consumers, each on its
//!   own thread) and the coordinator's view of a group (DescribeGroups, OffsetFetch).
//! - [`clients`]: how the scenarios' librdkafka producers, consumers and admin clients are
//!   configured, and the statistics they report.
//! - [`kafka_error`]: Kafka's error codes by name, for broker and librdkafka errors alike.
//! - [`partitioner`]: the two default key partitioners (Java's murmur2, librdkafka's CRC32)
//!   re-implemented to predict where a key lands.
//! - [`steps`]: the step definitions, one module per concept.
//! - [`report`]: the per-scenario results, the conformance table and the closing line.
//! - [`runner`]: [`runner::run_features`], used by `tests/features.rs` and every command.
//! - [`commands`]: what `kafka-spec check`, `diff` and `record` do.
//! - [`recording`]: traces of real Kafka recorded under `fixtures/traces/`, and comparing a
//!   run with them (what plain `cargo test` does).
//! - [`diff`]: the differential run: two targets' results compared scenario by scenario.
//! - [`conformance`]: the Markdown conformance report, claim by claim.
//! - [`checker`]: a Jepsen-style queue checker: a workload of producers and consumers under
//!   injected faults, its history, and the anomalies by Jepsen's names (`kafka-spec checker`).

pub mod checker;
pub mod clients;
pub mod commands;
pub mod conformance;
pub mod diff;
pub mod group_client;
pub mod kafka_error;
pub mod observation;
pub mod partitioner;
pub mod raw_client;
pub mod recording;
pub mod report;
pub mod runner;
pub mod steps;
pub mod target;
pub mod world;

use std::fmt;

pub use report::Summary;
pub use runner::{RunOptions, run_features};
pub use target::{BootstrapTarget, Capability, ReferenceTarget, Target};
pub use world::KafkaWorld;

/// The workspace's directory, as seen when this crate was compiled.
pub fn workspace_dir() -> std::path::PathBuf {
    let harness = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.parent().unwrap_or(harness).to_path_buf()
}

/// The workspace's `features/` directory, as seen when this crate was compiled.
pub fn default_features_dir() -> std::path::PathBuf {
    workspace_dir().join("features")
}

/// The error a step returns.
///
/// cucumber shows a failed step's error with `{}`; this prints the whole `anyhow` chain (the
/// step's context and the underlying cause) on one line.
pub struct Failure(anyhow::Error);

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

/// What every step returns.
pub type StepResult = Result<(), Failure>;

/// Fails the step with a formatted message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::Failure::from(::anyhow::anyhow!($($arg)+)));
        }
    };
}
