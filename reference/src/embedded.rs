//! Start a broker in-process: a port on 127.0.0.1 (0 picks a free one), a handle with the
//! bootstrap address, and a clean shutdown. This is what `kafka-spec serve` runs and what
//! anyone's tests can call.
//!
//! The broker is a [`Cluster`] of one, as Kafka's single node is a KRaft cluster of one in
//! combined mode: the same broker, controller, replicas and `__consumer_offsets` as every
//! broker of a bigger cluster, and the same data directory layout.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = reference::EmbeddedBroker::start().await?;
//! println!("bootstrap.servers={}", broker.bootstrap());
//! broker.shutdown().await;
//! # Ok(()) }
//! ```

use std::io;
use std::path::PathBuf;

use crate::cluster::{Cluster, ClusterOptions};

/// How to start a broker.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where the broker keeps its files (`broker-1/`, `__cluster_metadata`, as a cluster's);
    /// `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Broker configs by Kafka's names (`auto.create.topics.enable`, `num.partitions`,
    /// `log.retention.check.interval.ms`, `socket.request.max.bytes`, ...).
    pub configs: Vec<(String, String)>,
}

/// A running in-process broker: a cluster of one.
pub struct EmbeddedBroker {
    bootstrap: String,
    cluster: Cluster,
}

impl EmbeddedBroker {
    /// An in-memory broker on a free port with default configs.
    pub async fn start() -> io::Result<EmbeddedBroker> {
        Self::start_with(BrokerOptions::default()).await
    }

    /// Starts a broker; a bad config or unreadable data directory is an `InvalidInput` /
    /// I/O error naming the problem.
    pub async fn start_with(options: BrokerOptions) -> io::Result<EmbeddedBroker> {
        let cluster = Cluster::start_with(ClusterOptions {
            brokers: 1,
            port: options.port,
            data_dir: options.data_dir,
            configs: options.configs,
        })
        .await?;
        let bootstrap = cluster.bootstrap();
        tracing::info!(%bootstrap, "broker listening");
        Ok(EmbeddedBroker { bootstrap, cluster })
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The cluster of one this broker is, for tests that look inside.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Stops accepting, closes connections, flushes logs, and waits until all is done.
    pub async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}
