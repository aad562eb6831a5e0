//! N brokers and one controller in one process, each broker on its own port of 127.0.0.1,
//! with fault control for tests: [`Cluster::stop`] crashes a broker (a process crash),
//! [`Cluster::power_loss`] also loses what its logs had not flushed, [`Cluster::start_broker`]
//! brings it back as a new incarnation over the same data; [`Cluster::isolate`] cuts a broker
//! off from the other brokers and the controller (not from clients) until [`Cluster::heal`];
//! [`Cluster::pause`] freezes it (SIGSTOP) until [`Cluster::resume`].
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
//! With a `data_dir`, each broker keeps its replicas in Kafka's layout under
//! `<data_dir>/broker-<id>` (see `cluster::storage`) and opens them from the files when it
//! starts again; without one they wait in memory. Each broker applies its topics' retention
//! to its replicas, leader and followers alike; a follower also takes the leader's log start
//! offset from its Fetch responses.
//!
//! With a `data_dir` the controller also keeps its topics (ids, assignments, ISRs, configs)
//! in `<data_dir>/__cluster_metadata` (see `cluster::metadata`), so a whole cluster started
//! again on the same `data_dir` has its topics and, from the brokers' files, their records.
//!
//! # Not yet
//!
//! Topic configs other than the replication ones are kept beside the controller, not in
//! its records. An isolated broker still reaches the controller for the requests clients send
//! it (CreateTopics, CreatePartitions).
//!
//! # References
//! - KIP-500 / KIP-631 (KRaft brokers and controller), KIP-392 (`ReplicaState` in Fetch)
//! - `kafka.server.BrokerServer`, `BrokerLifecycleManager`, `ReplicaFetcherThread`

pub(crate) mod client;
mod fault;
mod fetcher;
mod metadata;
pub(crate) use metadata::base64_url;
mod node;
mod storage;

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
use crate::config::BrokerConfig;
use crate::controller::{Controller, ControllerConfig, LeaderBalancing};
use crate::server::{self, Shared};

pub use fault::Fault;
use fault::Faults;
use metadata::MetadataStore;
use node::Settings;
pub use node::{Node, NodeState, PartitionKey};
use storage::Disk;

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
    /// Broker configs by Kafka's names, for every broker. Besides the per-broker ones
    /// (`num.partitions`, `default.replication.factor`, `min.insync.replicas`, ...), a cluster
    /// reads `broker.session.timeout.ms`, `broker.heartbeat.interval.ms`,
    /// `replica.lag.time.max.ms`, `auto.leader.rebalance.enable` and
    /// `leader.imbalance.check.interval.seconds`.
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
    /// With a `data_dir`: where the topics are kept, and their configs to keep with them.
    store: Option<(MetadataStore, Arc<TopicConfigs>)>,
    /// The dynamic broker configs (per broker and cluster-wide), as the controller's
    /// ConfigRecords hold them; written under the controller's lock, read by every broker.
    pub(crate) dynamic: Mutex<crate::dynamic_config::DynamicConfigs>,
}

impl ControllerHandle {
    /// Runs `f` on the controller, then tells brokers if the metadata log grew (and, with a
    /// `data_dir`, writes the topics down before anyone can act on the change).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Controller) -> R) -> R {
        let mut controller = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(&mut controller);
        let offset = controller.metadata_offset();
        if let Some((store, configs)) = &self.store
            && *self.changed.borrow() != offset
        {
            let configs = configs.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(error) = store.write(controller.image(), &configs) {
                tracing::error!(%error, "cannot write the cluster metadata");
            }
        }
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
    shared: Arc<Shared>,
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
    faults: Arc<Faults>,
    /// One `cluster.id` for every broker, as in Kafka (each broker's `meta.properties` holds
    /// the same one); clients warn when brokers of one cluster report different ids.
    cluster_id: String,
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
        if let Some(dir) = &options.data_dir {
            refuse_single_broker_layout(dir)?;
        }
        let (mut settings, broker_configs) = Settings::split(&options.configs).map_err(invalid)?;
        let base = broker_config(&broker_configs, 1)?;
        settings.log_retention_check_interval_ms = base.log_retention_check_interval_ms;
        settings.producer_id_expiration_ms = base.producer_id_expiration_ms;
        settings.producer_id_expiration_check_interval_ms =
            base.producer_id_expiration_check_interval_ms;
        let controller_config = ControllerConfig {
            broker_session_timeout_ms: settings.broker_session_timeout_ms,
            num_partitions: base.num_partitions,
            default_replication_factor: base.default_replication_factor,
            min_insync_replicas: base.min_insync_replicas,
            unclean_leader_election_enable: base.unclean_leader_election_enable,
            ..ControllerConfig::default()
        };
        let mut controller = Controller::new(controller_config, now_ms() as u64);
        let topic_configs: Arc<TopicConfigs> = Arc::new(Mutex::new(BTreeMap::new()));
        let store = match &options.data_dir {
            Some(dir) => {
                let store = MetadataStore::new(dir);
                restore_topics(&store, &mut controller, &topic_configs, &base)?;
                Some((store, topic_configs.clone()))
            }
            None => None,
        };
        let controller = Arc::new(ControllerHandle {
            inner: Mutex::new(controller),
            changed: watch::channel(-1).0,
            store,
            dynamic: Mutex::new(crate::dynamic_config::DynamicConfigs::new(&base)),
        });
        let balancing = settings
            .auto_leader_rebalance_enable
            .then_some(settings.leader_imbalance_check_interval_ms);
        let controller_task = tokio::spawn(controller_loop(controller.clone(), balancing));
        let cluster_id = match &options.data_dir {
            Some(dir) => metadata::load_or_create_cluster_id(dir)?,
            None => metadata::new_cluster_id(),
        };
        let mut cluster = Cluster {
            controller,
            controller_task,
            addresses: Arc::new(Mutex::new(BTreeMap::new())),
            topic_configs,
            slots: BTreeMap::new(),
            broker_configs,
            data_dir: options.data_dir,
            settings,
            faults: Arc::new(Faults::new(1..=options.brokers as i32)),
            cluster_id,
        };
        for id in 1..=options.brokers as i32 {
            let port = match options.port {
                0 => 0,
                base => u16::try_from(i32::from(base) + id - 1)
                    .map_err(|_| invalid("broker ports above 65535"))?,
            };
            let disk = match &cluster.data_dir {
                Some(dir) => Disk::at(dir.join(format!("broker-{id}"))),
                None => Disk::memory(),
            };
            let slot = Slot {
                port,
                disk: Arc::new(disk),
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
        let data_dir = self.broker_dir(broker_id);
        if let Some(dir) = &data_dir {
            metadata::claim_cluster_id(dir, &self.cluster_id)?;
        }
        slot.disk.load()?;
        let listener = TcpListener::bind(("127.0.0.1", slot.port)).await?;
        let addr = listener.local_addr()?;
        // A new process is not frozen; a cut network stays cut.
        self.faults.update(broker_id, |f| f.paused = false);
        let node = Node::new(
            broker_id,
            self.controller.clone(),
            self.addresses.clone(),
            self.topic_configs.clone(),
            self.settings,
            slot.disk.clone(),
            self.faults.clone(),
        );
        let shared = Arc::new(Shared::new(config, self.cluster_id.clone(), node.clone()));
        let (shutdown, _) = broadcast::channel(1);
        let server = tokio::spawn(server::run(listener, shared.clone(), shutdown.clone()));
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
            shared,
            shutdown,
            server,
        });
        Ok(())
    }

    /// Crashes a broker: its replication tasks are aborted, its listener and connections
    /// closed. Its logs stay (a process crash: everything appended is in the page cache), its
    /// offset checkpoints are written, for [`Cluster::start_broker`].
    pub async fn stop(&mut self, broker_id: i32) {
        if let Some(node) = self.halt(broker_id).await {
            node.keep_on_disk();
            tracing::info!(broker_id, "cluster broker stopped");
        }
    }

    /// Cuts a broker's power: as [`Cluster::stop`], but each of its replica logs loses what
    /// was appended since it was last flushed (its recovery point: the log end offset when it
    /// was opened, or at its last flush; replicas are flushed only at open), and the offset
    /// checkpoints keep their last periodic values. Acknowledged records survive only on the
    /// other replicas, as in Kafka, which leaves durability to replication.
    pub async fn power_loss(&mut self, broker_id: i32) {
        if let Some(node) = self.halt(broker_id).await {
            node.lose_power();
            tracing::info!(broker_id, "cluster broker lost power");
        }
    }

    /// Aborts a broker's tasks and closes its listener; its node, if it was running.
    async fn halt(&mut self, broker_id: i32) -> Option<Arc<Node>> {
        let running = self
            .slots
            .get_mut(&broker_id)
            .and_then(|s| s.running.take())?;
        running.node.crash();
        let _ = running.shutdown.send(());
        if tokio::time::timeout(STOP_GRACE, running.server)
            .await
            .is_err()
        {
            tracing::warn!(broker_id, "broker did not stop in time");
        }
        Some(running.node)
    }

    /// Cuts broker `broker_id` off from the other brokers and the controller (a network
    /// partition between brokers; clients still reach it). Its fetchers and the other
    /// brokers' fetches to it fail, its heartbeats are lost, so the controller fences it after
    /// `broker.session.timeout.ms`. Returns false for an unknown broker.
    pub fn isolate(&self, broker_id: i32) -> bool {
        let known = self.faults.update(broker_id, |f| f.isolated = true);
        tracing::info!(broker_id, "cluster broker isolated");
        known
    }

    /// Undoes every [`Cluster::isolate`].
    pub fn heal(&self) {
        self.faults.heal();
        tracing::info!("cluster network healed");
    }

    /// Freezes broker `broker_id` as SIGSTOP would: its connections stay open but no request
    /// is answered, and it sends no heartbeat and fetches nothing, until [`Cluster::resume`].
    /// Returns false for an unknown broker.
    pub fn pause(&self, broker_id: i32) -> bool {
        let known = self.faults.update(broker_id, |f| f.paused = true);
        tracing::info!(broker_id, "cluster broker paused");
        known
    }

    /// Lets a paused broker run again; requests read while it was paused are answered now.
    pub fn resume(&self, broker_id: i32) -> bool {
        let known = self.faults.update(broker_id, |f| f.paused = false);
        tracing::info!(broker_id, "cluster broker resumed");
        known
    }

    /// The faults injected into broker `broker_id` now.
    pub fn fault(&self, broker_id: i32) -> Fault {
        self.faults.get(broker_id)
    }

    /// The directory broker `broker_id` keeps its files in (`None` without a `data_dir`).
    pub fn broker_dir(&self, broker_id: i32) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|d| d.join(format!("broker-{broker_id}")))
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

    /// What the connections of running broker `broker_id` share (its coordinators), for
    /// tests that look inside or ask what a broker asks of another.
    pub fn shared(&self, broker_id: i32) -> Option<&Arc<Shared>> {
        self.slots
            .get(&broker_id)?
            .running
            .as_ref()
            .map(|r| &r.shared)
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

    /// Stops every broker cleanly (each flushes its logs and writes its checkpoints, as
    /// Kafka's controlled shutdown does), then the controller.
    pub async fn shutdown(mut self) {
        for id in self.broker_ids() {
            if let Some(node) = self.halt(id).await {
                node.flush_logs();
                node.keep_on_disk();
                tracing::info!(broker_id = id, "cluster broker shut down");
            }
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

/// Fences brokers whose sessions expired and, with `balance_interval_ms` (Some when
/// `auto.leader.rebalance.enable`), balances partition leaders as [`LeaderBalancing`] says.
async fn controller_loop(controller: Arc<ControllerHandle>, balance_interval_ms: Option<u64>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(CONTROLLER_TICK_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut balancing = LeaderBalancing::new(balance_interval_ms);
    loop {
        ticker.tick().await;
        let (fenced, moved) = controller.with(|c| {
            let now = now_ms();
            let fenced = c.tick(now);
            let moved = balancing.run(c, now as u64);
            (fenced, moved)
        });
        if fenced > 0 {
            tracing::info!(fenced, "controller fenced brokers with expired sessions");
        }
        match moved {
            Some(0) => tracing::debug!("no preferred leader to move back yet"),
            Some(moved) => tracing::info!(moved, "controller balanced partition leaders"),
            None => {}
        }
    }
}

/// Gives the controller the topics a previous cluster on the same `data_dir` had.
fn restore_topics(
    store: &MetadataStore,
    controller: &mut Controller,
    topic_configs: &TopicConfigs,
    broker: &BrokerConfig,
) -> io::Result<()> {
    let stored = store.read()?;
    controller.restore_producer_ids(stored.next_producer_id);
    let mut configs = topic_configs.lock().unwrap_or_else(|p| p.into_inner());
    for topic in stored.topics {
        controller
            .restore_topic(&topic.name, topic.topic_id, topic.config, &topic.partitions)
            .map_err(|e| io::Error::other(e.message))?;
        match crate::config::TopicConfig::new(broker, topic.overrides) {
            Ok(config) => {
                configs.insert(topic.name.clone(), config);
            }
            Err(e) => {
                tracing::warn!(topic = %topic.name, error = %e.0, "restored topic configs refused; using the defaults")
            }
        }
        tracing::info!(topic = %topic.name, "restored topic");
    }
    Ok(())
}

/// Refuses a data directory written by the single broker of kafka-spec before it became a
/// cluster of one (its topics in `<dir>/__topics`, its partitions in `<dir>/<topic>-<n>`):
/// read as a cluster's, its topics would silently be lost.
fn refuse_single_broker_layout(dir: &std::path::Path) -> io::Result<()> {
    let old = dir.join("__topics");
    if !old.is_dir() {
        return Ok(());
    }
    Err(invalid(format!(
        "data directory {} holds the single-broker layout of an older kafka-spec ({} and \
         <topic>-<partition> directories beside it), which this version does not read: every \
         broker, a single one too, now keeps a cluster's layout (broker-<id>/ and \
         __cluster_metadata). Start on an empty directory, or move this one away.",
        dir.display(),
        old.display()
    )))
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
