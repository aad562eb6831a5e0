//! Targets by name, as the command line gives them: `reference`, `reference:3`,
//! `kafka-local`, `kafka-local:3`, `testcontainers`, `bootstrap=host:port[,host:port…]`.
//!
//! Starting a target is where bad input is caught: an address where nothing answers, a
//! Kafka that never becomes ready, a missing Java are errors that say what is missing and
//! how to get it. A target that exists but can run nothing (testcontainers with no Docker
//! engine answering) starts as an [`UnavailableTarget`]: every scenario is skipped with the
//! reason.
//!
//! # References
//!
//! - `DESIGN.md`, "harness/: targets".

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::bail;

use super::kafka_local::{KafkaLocalOptions, KafkaLocalTarget};
use super::reference_cluster::{MAX_BROKERS, ReferenceClusterTarget};
use super::{BootstrapTarget, Capability, ReferenceTarget, Target};

/// A target named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// The in-process reference broker.
    Reference,
    /// The in-process reference cluster of this many brokers, with fault control
    /// (`reference:1` is a one-broker cluster: fault control, unlike `reference`).
    ReferenceCluster { brokers: u8 },
    /// Real Apache Kafka started by `ci/kafka/start.sh` with this many nodes (1 or 3).
    KafkaLocal { nodes: u8 },
    /// The `apache/kafka` image through testcontainers (cargo feature `testcontainers`).
    Testcontainers,
    /// A running cluster, with the capabilities the person running the suite declares.
    Bootstrap {
        address: String,
        capabilities: Vec<Capability>,
    },
}

impl FromStr for TargetSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<TargetSpec, String> {
        let text = text.trim();
        if let Some(address) = text.strip_prefix("bootstrap=") {
            if address.trim().is_empty() {
                return Err("bootstrap= needs host:port".to_owned());
            }
            return Ok(TargetSpec::Bootstrap {
                address: address.trim().to_owned(),
                capabilities: Vec::new(),
            });
        }
        if let Some(count) = text.strip_prefix("reference:") {
            return match count.parse::<u8>() {
                Ok(brokers) if (1..=MAX_BROKERS).contains(&brokers) => {
                    Ok(TargetSpec::ReferenceCluster { brokers })
                }
                _ => Err(format!(
                    "{text:?}: reference:N needs a number of brokers from 1 to {MAX_BROKERS}"
                )),
            };
        }
        match text {
            "reference" => Ok(TargetSpec::Reference),
            "kafka-local" | "kafka-local:1" => Ok(TargetSpec::KafkaLocal { nodes: 1 }),
            "kafka-local:3" => Ok(TargetSpec::KafkaLocal { nodes: 3 }),
            "testcontainers" => Ok(TargetSpec::Testcontainers),
            other => Err(format!(
                "unknown target {other:?}: reference, reference:3, kafka-local, kafka-local:3, \
                 testcontainers or bootstrap=host:port"
            )),
        }
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Reference => f.write_str("reference"),
            TargetSpec::ReferenceCluster { brokers } => write!(f, "reference:{brokers}"),
            TargetSpec::KafkaLocal { nodes: 1 } => f.write_str("kafka-local"),
            TargetSpec::KafkaLocal { nodes } => write!(f, "kafka-local:{nodes}"),
            TargetSpec::Testcontainers => f.write_str("testcontainers"),
            TargetSpec::Bootstrap { address, .. } => write!(f, "bootstrap={address}"),
        }
    }
}

impl TargetSpec {
    /// Adds capabilities a `bootstrap=` cluster has; an error for any other target (they
    /// know their own).
    pub fn with_capabilities(self, declared: &[Capability]) -> anyhow::Result<TargetSpec> {
        if declared.is_empty() {
            return Ok(self);
        }
        match self {
            TargetSpec::Bootstrap {
                address,
                mut capabilities,
            } => {
                capabilities.extend_from_slice(declared);
                Ok(TargetSpec::Bootstrap {
                    address,
                    capabilities,
                })
            }
            other => bail!("--capability describes a bootstrap= cluster, not {other}"),
        }
    }

    /// Starts (or reaches) the target. Everything it starts is stopped by
    /// [`Target::shutdown`], or when the last reference to it is dropped.
    pub async fn start(&self) -> anyhow::Result<Arc<dyn Target>> {
        match self {
            TargetSpec::Reference => Ok(Arc::new(ReferenceTarget::start().await?)),
            TargetSpec::ReferenceCluster { brokers } => {
                Ok(Arc::new(ReferenceClusterTarget::start(*brokers).await?))
            }
            TargetSpec::KafkaLocal { nodes } => Ok(Arc::new(
                KafkaLocalTarget::start(KafkaLocalOptions::new(*nodes)).await?,
            )),
            TargetSpec::Bootstrap {
                address,
                capabilities,
            } => {
                let mut target = BootstrapTarget::new(address.clone());
                for capability in capabilities {
                    target = target.with_capability(*capability)?;
                }
                target.check_reachable().await?;
                Ok(Arc::new(target))
            }
            TargetSpec::Testcontainers => start_testcontainers().await,
        }
    }
}

#[cfg(feature = "testcontainers")]
async fn start_testcontainers() -> anyhow::Result<Arc<dyn Target>> {
    super::testcontainers::start().await
}

#[cfg(not(feature = "testcontainers"))]
async fn start_testcontainers() -> anyhow::Result<Arc<dyn Target>> {
    bail!(
        "this kafka-spec was built without the `testcontainers` feature: \
         `cargo run --release --features testcontainers -- check --target testcontainers` \
         (needs a Docker engine), or use `--target kafka-local` (needs Java 17+)"
    )
}

/// A target that can run nothing, and says why: every scenario is skipped with the reason.
#[derive(Debug, Clone)]
pub struct UnavailableTarget {
    /// The target's name.
    pub name: String,
    /// Why nothing can run on it.
    pub reason: String,
}

impl Target for UnavailableTarget {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn bootstrap(&self) -> String {
        String::new()
    }

    fn broker_ids(&self) -> Vec<i32> {
        Vec::new()
    }

    fn supports(&self, _capability: Capability) -> bool {
        false
    }

    fn unavailable(&self) -> Option<String> {
        Some(self.reason.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_name() {
        assert_eq!("reference".parse(), Ok(TargetSpec::Reference));
        assert_eq!(
            "kafka-local".parse(),
            Ok(TargetSpec::KafkaLocal { nodes: 1 })
        );
        assert_eq!(
            "kafka-local:3".parse(),
            Ok(TargetSpec::KafkaLocal { nodes: 3 })
        );
        assert_eq!(
            "bootstrap=127.0.0.1:9092".parse(),
            Ok(TargetSpec::Bootstrap {
                address: "127.0.0.1:9092".to_owned(),
                capabilities: vec![]
            })
        );
        assert!("kafka-local:2".parse::<TargetSpec>().is_err());
        assert_eq!(
            "reference:3".parse(),
            Ok(TargetSpec::ReferenceCluster { brokers: 3 })
        );
        assert_eq!(
            " reference:1 ".parse(),
            Ok(TargetSpec::ReferenceCluster { brokers: 1 })
        );
        for bad in [
            "reference:0",
            "reference:65",
            "reference:",
            "reference:x",
            "reference:-1",
        ] {
            let error = bad.parse::<TargetSpec>().expect_err(bad);
            assert!(error.contains("from 1 to 64"), "{bad}: {error}");
        }
        assert_eq!(
            TargetSpec::ReferenceCluster { brokers: 3 }.to_string(),
            "reference:3"
        );
        for text in ["reference", "reference:3", "kafka-local", "kafka-local:3"] {
            let spec: TargetSpec = text.parse().expect(text);
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            TargetSpec::KafkaLocal { nodes: 3 }.to_string(),
            "kafka-local:3"
        );
    }

    #[tokio::test]
    async fn a_bootstrap_address_with_nothing_listening_fails_at_once_and_says_so() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let spec: TargetSpec = format!("bootstrap=127.0.0.1:{port}")
            .parse()
            .expect("parses");
        let started = std::time::Instant::now();
        let error = spec.start().await.expect_err("nothing listens there");
        let message = format!("{error:#}");
        assert!(message.contains("no Kafka broker answers at"), "{message}");
        assert!(message.contains("ci/kafka/start.sh"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[tokio::test]
    async fn an_unavailable_target_says_why() {
        let target = UnavailableTarget {
            name: "testcontainers".to_owned(),
            reason: "no Docker engine answers".to_owned(),
        };
        assert_eq!(
            target.unavailable().as_deref(),
            Some("no Docker engine answers")
        );
    }
}
