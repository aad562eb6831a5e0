//! `testcontainers` (cargo feature `testcontainers`): real Apache Kafka in the `apache/kafka`
//! Docker image, one KRaft node, through the `testcontainers` crate.
//!
//! The image's tag is the Kafka version `ci/kafka/pom.xml` pins, and the broker gets the
//! same test-friendly settings `ci/kafka/start.sh` writes (retention checked every second,
//! group minimums low, internal topics with one replica), so a scenario sees what it sees on
//! `kafka-local`. The host port is chosen free beforehand and mapped to the container's
//! 9092, so the broker can advertise `127.0.0.1:<port>` to clients.
//!
//! When no Docker engine answers (no socket, nothing listening on it), nothing is started:
//! the target is an [`UnavailableTarget`] and every scenario is skipped with that reason.
//! Anything failing after that (the image cannot be pulled, Kafka does not start) is an
//! error.
//!
//! # References
//!
//! - Apache Kafka's Docker image documentation (`docker/examples/README.md`: `KAFKA_*`
//!   environment variables become `server.properties` keys).
//! - testcontainers-rs: `GenericImage`, `ImageExt`, `AsyncRunner`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::Mutex;

use super::kafka_local::{default_scripts_dir, pinned_kafka_version};
use super::spec::UnavailableTarget;
use super::{Capability, Target};

/// How long the container may take to log that Kafka started (an image pull included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);

/// How long connecting to the Docker engine may take.
const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Kafka in a container this process started.
pub struct TestcontainersTarget {
    bootstrap: String,
    version: String,
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
}

impl std::fmt::Debug for TestcontainersTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestcontainersTarget")
            .field("bootstrap", &self.bootstrap)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Where the Docker engine should answer: `$DOCKER_HOST`, else the usual sockets.
fn docker_endpoints() -> Vec<String> {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.trim().is_empty()
    {
        return vec![host];
    }
    let mut endpoints = vec!["unix:///var/run/docker.sock".to_owned()];
    if let Some(home) = std::env::var_os("HOME") {
        let socket = PathBuf::from(home).join(".docker/run/docker.sock");
        endpoints.push(format!("unix://{}", socket.display()));
    }
    endpoints
}

/// Whether something accepts connections at a Docker endpoint: `Err` says why not.
async fn probe(endpoint: &str) -> Result<(), String> {
    let connect = async {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            tokio::net::UnixStream::connect(path).await.map(drop)
        } else if let Some(address) = endpoint.strip_prefix("tcp://") {
            tokio::net::TcpStream::connect(address).await.map(drop)
        } else {
            Err(std::io::Error::other("not a unix:// or tcp:// address"))
        }
    };
    match tokio::time::timeout(DOCKER_PROBE_TIMEOUT, connect).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("{endpoint}: {error}")),
        Err(_) => Err(format!(
            "{endpoint}: no answer within {DOCKER_PROBE_TIMEOUT:?}"
        )),
    }
}

/// A free port on 127.0.0.1 for the container's broker.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("finding a free port")?
        .port())
}

/// Starts the container, or an [`UnavailableTarget`] when no Docker engine answers.
pub async fn start() -> anyhow::Result<Arc<dyn Target>> {
    let mut failures = Vec::new();
    for endpoint in docker_endpoints() {
        match probe(&endpoint).await {
            Ok(()) => return start_container().await,
            Err(why) => failures.push(why),
        }
    }
    let reason = format!(
        "no Docker engine answers ({}): the testcontainers target runs the apache/kafka image \
         in Docker; start a Docker engine (or set DOCKER_HOST), or use --target kafka-local",
        failures.join("; ")
    );
    eprintln!("testcontainers: {reason}");
    Ok(Arc::new(UnavailableTarget {
        name: "testcontainers".to_owned(),
        reason,
    }))
}

async fn start_container() -> anyhow::Result<Arc<dyn Target>> {
    let version = pinned_kafka_version(&default_scripts_dir())?;
    let port = free_port()?;
    let settings: &[(&str, String)] = &[
        ("KAFKA_NODE_ID", "1".to_owned()),
        ("KAFKA_PROCESS_ROLES", "broker,controller".to_owned()),
        (
            "KAFKA_LISTENERS",
            "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093".to_owned(),
        ),
        (
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://127.0.0.1:{port}"),
        ),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".to_owned()),
        (
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".to_owned(),
        ),
        (
            "KAFKA_CONTROLLER_QUORUM_VOTERS",
            "1@localhost:9093".to_owned(),
        ),
        ("KAFKA_NUM_PARTITIONS", "1".to_owned()),
        ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true".to_owned()),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".to_owned()),
        ("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS", "3".to_owned()),
        (
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "1".to_owned(),
        ),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".to_owned()),
        (
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
            "1".to_owned(),
        ),
        (
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
            "1".to_owned(),
        ),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".to_owned()),
        ("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "1000".to_owned()),
        (
            "KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS",
            "1000".to_owned(),
        ),
        (
            "KAFKA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS",
            "500".to_owned(),
        ),
        ("KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS", "1000".to_owned()),
        ("KAFKA_LOG_INITIAL_TASK_DELAY_MS", "1000".to_owned()),
    ];
    let mut request = GenericImage::new("apache/kafka", version.as_str())
        .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
        .with_mapped_port(port, 9092.tcp())
        .with_startup_timeout(STARTUP_TIMEOUT);
    for (key, value) in settings {
        request = request.with_env_var(*key, value.as_str());
    }
    eprintln!("testcontainers: starting apache/kafka:{version} on 127.0.0.1:{port}");
    let container = request
        .start()
        .await
        .with_context(|| format!("starting the apache/kafka:{version} container"))?;
    Ok(Arc::new(TestcontainersTarget {
        bootstrap: format!("127.0.0.1:{port}"),
        version,
        container: Mutex::new(Some(container)),
    }))
}

impl Target for TestcontainersTarget {
    fn name(&self) -> String {
        format!("testcontainers (Kafka {}, 1 node)", self.version)
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

    fn kafka_version(&self) -> Option<String> {
        Some(self.version.clone())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        async move {
            if let Some(container) = self.container.lock().await.take()
                && let Err(error) = container.rm().await
            {
                eprintln!("testcontainers: removing the Kafka container failed: {error}");
            }
        }
        .boxed()
    }
}
