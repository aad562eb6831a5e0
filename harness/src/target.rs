//! What a scenario runs against: a cluster reachable over the wire, and what it lets a
//! scenario do to it.
//!
//! Every target gives a bootstrap address and its broker ids. Some scenarios need more: to
//! stop, restart or pause a broker (fault control), more than one broker, or a broker that
//! enforces retention within a second (a test-friendly `log.retention.check.interval.ms`).
//! Those needs are [`Capability`]s; a scenario declares one with a `@requires-<capability>`
//! tag, and a target that lacks it has the scenario reported as skipped *with the reason*,
//! never silently. A target that cannot run anything at all (testcontainers with no Docker
//! engine answering) says why in [`Target::unavailable`], and every scenario is skipped with
//! that reason.
//!
//! Implementations: [`ReferenceTarget`] (the in-process reference broker),
//! [`reference_cluster::ReferenceClusterTarget`] (the in-process reference cluster of N
//! brokers, stopped and started in process), [`BootstrapTarget`]
//! (any running Kafka-compatible broker, no fault control), [`kafka_local::KafkaLocalTarget`]
//! (real Apache Kafka from Maven jars, started by `ci/kafka/` scripts, faults by signals to
//! its processes) and, with the `testcontainers` cargo feature, the `apache/kafka` image.
//! [`spec::TargetSpec`] names them on the command line (`reference`, `reference:3`,
//! `kafka-local:3`, `bootstrap=host:port`, `testcontainers`).
//!
//! # References
//!
//! - `DESIGN.md`, "harness/: specs, targets, differential runs".

pub mod kafka_local;
pub mod reference_cluster;
pub mod spec;
#[cfg(feature = "testcontainers")]
pub mod testcontainers;

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use reference::EmbeddedBroker;
use reference::embedded::BrokerOptions;

/// Something a scenario may need beyond a bootstrap address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Stop, start and isolate brokers ([`FaultControl`]).
    FaultControl,
    /// More than one broker.
    MultipleBrokers,
    /// The broker applies retention within about a second
    /// (`log.retention.check.interval.ms` ≤ 1000; Kafka's default is 5 minutes).
    FastRetention,
    /// Kafka's Java consumer can run here (a JDK 17+, and Kafka's jars or Maven to fetch
    /// them): a property of the machine, not of the target.
    JavaClient,
}

impl Capability {
    /// Every capability, for parsing and listing.
    pub const ALL: [Capability; 4] = [
        Capability::FaultControl,
        Capability::MultipleBrokers,
        Capability::FastRetention,
        Capability::JavaClient,
    ];

    /// The name used in `@requires-<name>` tags and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Capability::FaultControl => "fault-control",
            Capability::MultipleBrokers => "multiple-brokers",
            Capability::FastRetention => "fast-retention",
            Capability::JavaClient => "java-client",
        }
    }

    /// The capability with this name.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The capability a scenario tag (without `@`) asks for; `Err` names an unknown one.
    pub fn from_tag(tag: &str) -> Option<Result<Capability, String>> {
        let name = tag.strip_prefix("requires-")?;
        Some(Capability::from_name(name).ok_or_else(|| name.to_owned()))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fault injection on a target's brokers. Futures are boxed so that the trait stays usable as
/// `dyn FaultControl`. Every call returns once the fault is in place (a stopped broker's
/// process is gone, a started one is registered again), or fails at a deadline.
pub trait FaultControl: Send + Sync {
    /// Stops a broker as a crash would (SIGKILL: unflushed data may be lost).
    fn stop_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Starts a stopped broker again with its data, and waits until it is registered.
    fn start_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Freezes a broker (SIGSTOP): its connections stay open and nothing answers.
    fn pause_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Lets a frozen broker run again (SIGCONT).
    fn resume_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Cuts a broker off from the other brokers (clients can still reach it).
    fn isolate_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Undoes every isolation.
    fn heal(&self) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Puts every broker back as it was before any fault (resumed, restarted, healed), so the
    /// next scenario finds a whole cluster. A no-op when nothing was done.
    fn restore(&self) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// A Kafka cluster that scenarios can be run against.
pub trait Target: fmt::Debug + Send + Sync {
    /// A short name for reports (`reference`, `kafka-local (Kafka 4.3.1, 1 node)`,
    /// `bootstrap=host:port`).
    fn name(&self) -> String;
    /// `host:port[,host:port…]` for clients' `bootstrap.servers`.
    fn bootstrap(&self) -> String;
    /// The node ids of the cluster's brokers.
    fn broker_ids(&self) -> Vec<i32>;
    /// Whether the target has a capability.
    fn supports(&self, capability: Capability) -> bool;
    /// Fault control, where the target has it.
    fn faults(&self) -> Option<&dyn FaultControl> {
        None
    }

    /// Why no scenario can run on this target at all (every one is skipped with this
    /// reason), or `None` when it is usable.
    fn unavailable(&self) -> Option<String> {
        None
    }

    /// The Apache Kafka version the target runs, when it is known to be Apache Kafka.
    fn kafka_version(&self) -> Option<String> {
        None
    }

    /// Stops whatever the target started (brokers, processes, containers). Idempotent; a
    /// target that started nothing does nothing.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }

    /// Why a scenario that needs `capability` cannot run here, or `None` if it can.
    fn lacks(&self, capability: Capability) -> Option<String> {
        if capability == Capability::JavaClient {
            return crate::group_client::java_member::java_client_missing();
        }
        if self.supports(capability) {
            None
        } else {
            Some(format!(
                "needs {capability}, which {} does not have",
                self.name()
            ))
        }
    }
}

/// Broker configs that make the reference broker quick to observe in tests. Each one is a
/// real Kafka broker config; `ci/kafka/start.sh` sets the same for real Kafka (its retention
/// check runs every 1000 ms rather than 100, well within the scenarios' deadlines).
pub const TEST_FRIENDLY_CONFIGS: &[(&str, &str)] = &[
    ("num.partitions", "1"),
    ("auto.create.topics.enable", "true"),
    ("log.retention.check.interval.ms", "100"),
    // A group's first rebalance completes at once rather than waiting 3 s for more members,
    // and consumers may ask for session timeouts down to 1 s (Kafka's floor is 6 s), so that
    // group scenarios see rebalances and failure detection within seconds.
    ("group.initial.rebalance.delay.ms", "0"),
    ("group.min.session.timeout.ms", "1000"),
];

/// The in-process reference broker on a temporary data directory.
pub struct ReferenceTarget {
    bootstrap: String,
    broker: Mutex<Option<EmbeddedBroker>>,
    // Dropped (and deleted) after the broker shuts down.
    data_dir: Mutex<Option<tempfile::TempDir>>,
    data_path: PathBuf,
}

impl ReferenceTarget {
    /// Starts a broker on a free port with [`TEST_FRIENDLY_CONFIGS`] and a fresh data dir.
    pub async fn start() -> anyhow::Result<ReferenceTarget> {
        let data_dir = tempfile::Builder::new()
            .prefix("kafka-spec-reference-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("creating a data dir for the reference broker: {e}"))?;
        let options = BrokerOptions {
            port: 0,
            data_dir: Some(data_dir.path().to_path_buf()),
            configs: TEST_FRIENDLY_CONFIGS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let broker = EmbeddedBroker::start_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("starting the reference broker: {e}"))?;
        Ok(ReferenceTarget {
            bootstrap: broker.bootstrap().to_owned(),
            data_path: data_dir.path().to_path_buf(),
            broker: Mutex::new(Some(broker)),
            data_dir: Mutex::new(Some(data_dir)),
        })
    }

    /// Shuts the broker down and deletes its data dir. Idempotent.
    pub async fn shutdown(&self) {
        let broker = self.broker.lock().ok().and_then(|mut b| b.take());
        if let Some(broker) = broker {
            broker.shutdown().await;
        }
        if let Ok(mut dir) = self.data_dir.lock() {
            dir.take();
        }
    }
}

impl fmt::Debug for ReferenceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferenceTarget")
            .field("bootstrap", &self.bootstrap)
            .field("data_dir", &self.data_path)
            .finish()
    }
}

impl Target for ReferenceTarget {
    fn name(&self) -> String {
        "reference".to_owned()
    }

    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    fn broker_ids(&self) -> Vec<i32> {
        vec![1]
    }

    fn supports(&self, capability: Capability) -> bool {
        match capability {
            Capability::FastRetention | Capability::JavaClient => true,
            Capability::FaultControl | Capability::MultipleBrokers => false,
        }
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        // The inherent method (inherent methods win over trait methods of the same name).
        ReferenceTarget::shutdown(self).boxed()
    }
}

/// Any running Kafka-compatible cluster at `host:port`. It has no fault control; other
/// capabilities are whatever the person running the suite says the cluster has.
#[derive(Debug, Clone)]
pub struct BootstrapTarget {
    bootstrap: String,
    capabilities: Vec<Capability>,
}

impl BootstrapTarget {
    /// A target at `bootstrap` with no capabilities.
    pub fn new(bootstrap: impl Into<String>) -> BootstrapTarget {
        BootstrapTarget {
            bootstrap: bootstrap.into(),
            capabilities: Vec::new(),
        }
    }

    /// Checks that a broker answers at one of the addresses (a TCP connection and an
    /// ApiVersions exchange, each with a deadline), so that a wrong address fails at once
    /// with a message saying so rather than as a failure of every scenario.
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for address in self.bootstrap.split(',').map(str::trim) {
            if address.is_empty() {
                continue;
            }
            match crate::raw_client::RawConnection::connect(address).await {
                Ok(_) => return Ok(()),
                Err(error) => failures.push(format!("{address}: {error:#}")),
            }
        }
        anyhow::bail!(
            "no Kafka broker answers at {} ({}). Start one there (the reference broker: \
             `cargo run --release -- serve --port 9092`; real Kafka: `ci/kafka/start.sh`, which \
             prints its bootstrap address), or pass the address of a running one",
            self.bootstrap,
            failures.join("; ")
        )
    }

    /// Declares that the cluster has a capability (e.g. `fast-retention` for a Kafka run with
    /// `log.retention.check.interval.ms=100`). Fault control cannot be declared: it needs a
    /// target that owns the brokers.
    pub fn with_capability(mut self, capability: Capability) -> anyhow::Result<BootstrapTarget> {
        anyhow::ensure!(
            capability != Capability::FaultControl,
            "a bootstrap target cannot control faults: it does not own the brokers"
        );
        self.capabilities.push(capability);
        Ok(self)
    }
}

impl Target for BootstrapTarget {
    fn name(&self) -> String {
        format!("bootstrap={}", self.bootstrap)
    }

    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    fn broker_ids(&self) -> Vec<i32> {
        // Unknown until asked; scenarios that need ids learn them from Metadata.
        Vec::new()
    }

    fn supports(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_tags_parse() {
        assert_eq!(
            Capability::from_tag("requires-fault-control"),
            Some(Ok(Capability::FaultControl))
        );
        assert_eq!(
            Capability::from_tag("requires-teleport"),
            Some(Err("teleport".to_owned()))
        );
        assert_eq!(Capability::from_tag("C-OFF-1"), None);
    }

    #[test]
    fn a_bootstrap_target_skips_with_a_reason() {
        let target = BootstrapTarget::new("127.0.0.1:9092");
        let reason = target.lacks(Capability::FaultControl);
        assert_eq!(
            reason.as_deref(),
            Some("needs fault-control, which bootstrap=127.0.0.1:9092 does not have")
        );
        let target = target
            .with_capability(Capability::FastRetention)
            .expect("declarable");
        assert_eq!(target.lacks(Capability::FastRetention), None);
    }
}
