//! N brokers and one controller in one process, each broker on its own port of 127.0.0.1,
//! with fault control for tests: [`Cluster::stop`] crashes a broker, [`Cluster::start`]
//! brings it back as a new incarnation over the same data.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let cluster = reference::Cluster::start(3).await?;
//! println!("bootstrap.servers={}", cluster.bootstrap());
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Why it is shaped so
//!
//! Every broker is a full broker: its own listener and connection tasks, its own [`Shared`]
//! (group coordinator included) and its own replicas. What KRaft does over the network
//! between brokers and the controller (BrokerRegistration, BrokerHeartbeat, fetching
//! `__cluster_metadata`, AlterPartition) is done here by direct calls into one
//! [`Controller`] behind a lock, which a controller task ticks to fence brokers whose
//! sessions expire; a watch tells brokers that the metadata log grew. Replication between
//! brokers, on the other hand, is the real wire protocol: followers send Fetch (with
//! `ReplicaState`) and OffsetForLeaderEpoch to their leader's listener, so a broker that is
//! stopped is gone for its peers exactly as for clients.
//!
//! A stopped broker keeps its partition logs, epoch caches and high watermarks (a process
//! crash: the page cache survives), and a broker started again registers as a new
//! incarnation, catches up with the metadata and only then takes up its replicas again.
//!
//! # Not yet
//!
//! Partition logs of a cluster live in memory (`data_dir` only holds each broker's own
//! `__consumer_offsets`); groups are coordinated by the lowest-numbered live broker with its
//! own, unreplicated `__consumer_offsets` (a coordinator failover loses committed offsets);
//! DeleteTopics and DescribeConfigs still act on the broker's local state (they see no
//! cluster topic); topic configs other than the replication ones are kept beside the
//! controller, not in its records; cutting a broker off from the others and pausing it are
//! not there yet.
//!
//! # References
//! - KIP-500 / KIP-631 (KRaft brokers and controller), KIP-392 (`ReplicaState` in Fetch)
//! - `kafka.server.BrokerServer`, `BrokerLifecycleManager`, `ReplicaFetcherThread`

mod client;
mod fetcher;
mod node;
pub mod wire;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::api::now_ms;
use crate::broker::BrokerCore;
use crate::config::BrokerConfig;
use crate::controller::{Controller, ControllerConfig};
use crate::server::{self, Shared};

pub use node::Node;
use node::{Disk, Settings};

/// How often the controller looks for expired broker sessions.
const CONTROLLER_TICK_MS: u64 = 50;

/// How long a stopped broker's listener may take to close.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of brokers, ids 1..=brokers.
    pub brokers: usize,
    /// Broker `id` listens on 127.0.0.1:`port + id - 1`; 0 picks free ports.
    pub port: u16,
    /// Each broker keeps its own files under `<data_dir>/broker-<id>`; `None`: memory only.
    pub data_dir: Option<PathBuf>,
    /// Broker configs by Kafka's names, for every broker. Besides the single broker's
    /// (`num.partitions`, `default.replication.factor`, `min.insync.replicas`, ...), a cluster
    /// reads `broker.session.timeout.ms`, `broker.heartbeat.interval.ms` and
    /// `replica.lag.time.max.ms`.
    pub configs: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            brokers: 3,
            port: 0,
            data_dir: None,
            configs: Vec::new(),
        }
    }
}

/// The one controller, shared by every broker of the cluster.
pub(crate) struct ControllerHandle {
    inner: Mutex<Controller>,
    /// The offset of the last metadata record: brokers wake up when it moves.
    pub(crate) changed: watch::Sender<i64>,
}

impl ControllerHandle {
    /// Runs `f` on the controller, then tells brokers if the metadata log grew.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Controller) -> R) -> R {
        let mut controller = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(&mut controller);
        let offset = controller.metadata_offset();
        drop(controller);
        self.changed.send_if_modified(|known| {
            let moved = *known != offset;
            *known = offset;
            moved
        });
        result
    }
}

/// Where each broker listens, for Metadata answers and for followers.
pub(crate) type Addresses = Mutex<BTreeMap<i32, SocketAddr>>;

/// Each topic's configs (`max.message.bytes`, `segment.bytes`, ...) by topic name: the
/// controller's records carry only the replication configs. Written under the controller's
/// lock when a topic is created, so a broker never sees a topic before its configs.
pub(crate) type TopicConfigs = Mutex<BTreeMap<String, crate::config::TopicConfig>>;

struct Running {
    node: Arc<Node>,
    shutdown: broadcast::Sender<()>,
    server: JoinHandle<()>,
}

struct Slot {
    port: u16,
    disk: Arc<Disk>,
    running: Option<Running>,
}

/// A running in-process cluster.
pub struct Cluster {
    controller: Arc<ControllerHandle>,
    controller_task: JoinHandle<()>,
    addresses: Arc<Addresses>,
    topic_configs: Arc<TopicConfigs>,
    slots: BTreeMap<i32, Slot>,
    broker_configs: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    settings: Settings,
}

impl Cluster {
    /// `brokers` in-memory brokers on free ports, with default configs.
    pub async fn start(brokers: usize) -> io::Result<Cluster> {
        Cluster::start_with(ClusterOptions {
            brokers,
            ..ClusterOptions::default()
        })
        .await
    }

    /// Starts every broker and waits until each has registered and caught up.
    pub async fn start_with(options: ClusterOptions) -> io::Result<Cluster> {
        if options.brokers == 0 {
            return Err(invalid("a cluster needs at least one broker"));
        }
        let (settings, broker_configs) = Settings::split(&options.configs).map_err(invalid)?;
        let base = broker_config(&broker_configs, 1)?;
        let controller_config = ControllerConfig {
            broker_session_timeout_ms: settings.broker_session_timeout_ms,
            num_partitions: base.num_partitions,
            default_replication_factor: base.default_replication_factor,
            min_insync_replicas: base.min_insync_replicas,
            ..ControllerConfig::default()
        };
        let controller = Arc::new(ControllerHandle {
            inner: Mutex::new(Controller::new(controller_config, now_ms() as u64)),
            changed: watch::channel(-1).0,
        });
        let controller_task = tokio::spawn(controller_loop(controller.clone()));
        let mut cluster = Cluster {
            controller,
            controller_task,
            addresses: Arc::new(Mutex::new(BTreeMap::new())),
            topic_configs: Arc::new(Mutex::new(BTreeMap::new())),
            slots: BTreeMap::new(),
            broker_configs,
            data_dir: options.data_dir,
            settings,
        };
        for id in 1..=options.brokers as i32 {
            let port = match options.port {
                0 => 0,
                base => u16::try_from(i32::from(base) + id - 1)
                    .map_err(|_| invalid("broker ports above 65535"))?,
            };
            let slot = Slot {
                port,
                disk: Arc::new(Disk::default()),
                running: None,
            };
            cluster.slots.insert(id, slot);
            cluster.start_broker(id).await?;
        }
        cluster.wait_until_unfenced().await?;
        Ok(cluster)
    }

    /// Starts a stopped broker again: a new incarnation over the same data and port.
    pub async fn start_broker(&mut self, broker_id: i32) -> io::Result<()> {
        let config = broker_config(&self.broker_configs, broker_id)?;
        let slot = self
            .slots
            .get(&broker_id)
            .ok_or_else(|| invalid(format!("no broker {broker_id}")))?;
        if slot.running.is_some() {
            return Ok(());
        }
        let data_dir = self
            .data_dir
            .as_ref()
            .map(|d| d.join(format!("broker-{broker_id}")));
        let core = BrokerCore::open(config, data_dir.as_deref(), now_ms())
            .map_err(|e| io::Error::other(e.to_string()))?;
        let listener = TcpListener::bind(("127.0.0.1", slot.port)).await?;
        let addr = listener.local_addr()?;
        let node = Node::new(
            broker_id,
            self.controller.clone(),
            self.addresses.clone(),
            self.topic_configs.clone(),
            self.settings,
            slot.disk.clone(),
        );
        let shared = Arc::new(Shared::new_in_cluster(core, addr, node.clone()));
        let (shutdown, _) = broadcast::channel(1);
        let server = tokio::spawn(server::run(listener, shared, shutdown.clone()));
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(broker_id, addr);
        node.start();
        tracing::info!(broker_id, %addr, "cluster broker listening");
        let slot = self.slots.get_mut(&broker_id).expect("checked above");
        slot.port = addr.port();
        slot.running = Some(Running {
            node,
            shutdown,
            server,
        });
        Ok(())
    }

    /// Crashes a broker: its replication tasks are aborted, its listener and connections
    /// closed. Its logs stay (a process crash), for [`Cluster::start_broker`].
    pub async fn stop(&mut self, broker_id: i32) {
        let Some(running) = self
            .slots
            .get_mut(&broker_id)
            .and_then(|s| s.running.take())
        else {
            return;
        };
        running.node.crash();
        let _ = running.shutdown.send(());
        if tokio::time::timeout(STOP_GRACE, running.server)
            .await
            .is_err()
        {
            tracing::warn!(broker_id, "broker did not stop in time");
        }
        running.node.keep_on_disk();
        tracing::info!(broker_id, "cluster broker stopped");
    }

    /// Starts a stopped broker again (alias of [`Cluster::start_broker`]).
    pub async fn restart(&mut self, broker_id: i32) -> io::Result<()> {
        self.start_broker(broker_id).await
    }

    /// `host:port` of every running broker, comma-separated (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.running_ids()
            .iter()
            .filter_map(|id| self.address(*id))
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of one broker (also while it is stopped: it comes back on the same port).
    pub fn address(&self, broker_id: i32) -> Option<SocketAddr> {
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&broker_id)
            .copied()
    }

    /// Every broker id, running or not.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.slots.keys().copied().collect()
    }

    pub fn running_ids(&self) -> Vec<i32> {
        self.slots
            .iter()
            .filter(|(_, s)| s.running.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The running broker `broker_id`, for tests that look inside.
    pub fn node(&self, broker_id: i32) -> Option<&Arc<Node>> {
        self.slots
            .get(&broker_id)?
            .running
            .as_ref()
            .map(|r| &r.node)
    }

    /// Waits until every running broker is registered and unfenced.
    pub async fn wait_until_unfenced(&self) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let running = self.running_ids();
            let unfenced = self.controller.with(|c| {
                running
                    .iter()
                    .all(|id| c.image().alive_broker_epoch(*id).is_some())
            });
            if unfenced {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "brokers did not register in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every broker, then the controller.
    pub async fn shutdown(mut self) {
        for id in self.broker_ids() {
            self.stop(id).await;
        }
        // Drop aborts the controller task.
    }
}

impl Drop for Cluster {
    /// A cluster dropped without [`Cluster::shutdown`] still stops: its brokers' tasks are
    /// aborted and their listeners told to close, and the controller task ends.
    fn drop(&mut self) {
        for slot in self.slots.values_mut() {
            if let Some(running) = slot.running.take() {
                running.node.crash();
                let _ = running.shutdown.send(());
            }
        }
        self.controller_task.abort();
    }
}

/// Fences brokers whose sessions expired.
async fn controller_loop(controller: Arc<ControllerHandle>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(CONTROLLER_TICK_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let fenced = controller.with(|c| c.tick(now_ms()));
        if fenced > 0 {
            tracing::info!(fenced, "controller fenced brokers with expired sessions");
        }
    }
}

fn broker_config(configs: &[(String, String)], broker_id: i32) -> io::Result<BrokerConfig> {
    let id = broker_id.to_string();
    BrokerConfig::from_pairs(
        configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("node.id", id.as_str())]),
    )
    .map_err(|e| invalid(e.to_string()))
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.into())
}
