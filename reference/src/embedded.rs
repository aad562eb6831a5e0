//! Start a broker in-process: a port on 127.0.0.1 (0 picks a free one), a handle with the
//! bootstrap address, and a clean shutdown. This is what `kafka-spec serve` runs and what
//! anyone's tests can call.
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
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::api::now_ms;
use crate::broker::BrokerCore;
use crate::config::BrokerConfig;
use crate::server::{self, Shared};

/// How to start a broker.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where partition logs live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Broker configs by Kafka's names (`auto.create.topics.enable`, `num.partitions`,
    /// `log.retention.check.interval.ms`, `socket.request.max.bytes`, ...).
    pub configs: Vec<(String, String)>,
}

/// A running in-process broker.
pub struct EmbeddedBroker {
    bootstrap: String,
    shutdown: broadcast::Sender<()>,
    task: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// An in-memory broker on a free port with default configs.
    pub async fn start() -> io::Result<EmbeddedBroker> {
        Self::start_with(BrokerOptions::default()).await
    }

    /// Starts a broker; a bad config or unreadable data directory is an `InvalidInput` /
    /// I/O error naming the problem.
    pub async fn start_with(options: BrokerOptions) -> io::Result<EmbeddedBroker> {
        let config = BrokerConfig::from_pairs(
            options
                .configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let core = BrokerCore::open(config, options.data_dir.as_deref(), now_ms())
            .map_err(|e| io::Error::other(e.to_string()))?;
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(core, addr));
        let (shutdown, _) = broadcast::channel(1);
        let task = tokio::spawn(server::run(listener, shared, shutdown.clone()));
        tracing::info!(%addr, "broker listening");
        Ok(EmbeddedBroker {
            bootstrap: addr.to_string(),
            shutdown,
            task,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Stops accepting, closes connections, flushes logs, and waits until all is done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "broker task failed");
        }
    }
}
