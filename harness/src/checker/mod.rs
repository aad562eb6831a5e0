//! A Jepsen-style queue checker: a workload of producers and consumers run against any
//! [`Target`](crate::target::Target) while faults are injected, its history recorded, and
//! the anomalies Jepsen's Kafka workload names (lost-write, duplicate, inconsistent-offsets,
//! poll-skip, nonmonotonic-poll, nonmonotonic-send, G1a, precommitted-read) counted.
//!
//! # Layout
//!
//! - [`history`]: the operations (sends with their outcome, polls with their records,
//!   sessions, transaction markers), pure data.
//! - [`analysis`]: the anomalies of a history, pure, with hand-made histories as tests.
//! - [`workload`]: the runner: topic, producers, consumers, a seeded fault schedule, the
//!   drain that makes lost writes decidable, the report (`kafka-spec checker`).
//!
//! # References
//!
//! - Jepsen's Kafka workload (`jepsen.tests.kafka`): operations and analysis.

pub mod analysis;
pub mod history;
pub mod workload;

pub use analysis::{Analysis, Anomaly, analyse};
pub use history::{History, Op, SendOutcome};
pub use workload::{ConsumerMode, WorkloadOptions, WorkloadReport, run};
