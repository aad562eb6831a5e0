//! One broker of a [`Cluster`](super::Cluster): its metadata image, its replicas as
//! [`Partition`] cores, the acks=all produces parked on them, and the tasks that drive them
//! (metadata and heartbeats, partition timers, one fetcher per followed partition).
//!
//! Metadata is acted on as Kafka's `MetadataLoader` publishes it: nothing until the image has
//! caught up with the end of the metadata log once, then each fetched batch as one delta, so
//! every changed partition goes straight to its latest state (as `replication::sim` does).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::{Addresses, ControllerHandle, TopicConfigs, fetcher};
use crate::api::now_ms;
use crate::controller::{
    AlterPartition, BrokerHeartbeat, MetadataFetch, MetadataImage, ReplicaRole,
};
use crate::log::{LeaderEpochCache, Log, LogConfig};
use crate::replication::{Effects, Partition, ProduceResult, ReplicationConfig, RequestToken};

/// A partition: its topic id and index.
pub type PartitionKey = (Uuid, i32);

/// Timing settings of a cluster, by Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: i64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max_ms: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
        }
    }
}

impl Settings {
    /// Takes the cluster's own configs out of `configs`; the rest are broker configs.
    pub fn split(
        configs: &[(String, String)],
    ) -> Result<(Settings, Vec<(String, String)>), String> {
        let mut settings = Settings::default();
        let mut rest = Vec::new();
        for (key, value) in configs {
            let number = || {
                value
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| format!("invalid value `{value}` for `{key}`"))
            };
            match key.trim() {
                "broker.session.timeout.ms" => settings.broker_session_timeout_ms = number()?,
                "broker.heartbeat.interval.ms" => {
                    settings.broker_heartbeat_interval_ms = number()? as u64
                }
                "replica.lag.time.max.ms" => settings.replica_lag_time_max_ms = number()?,
                "replica.fetch.wait.max.ms" => {
                    settings.replica_fetch_wait_max_ms = number()?.min(i64::from(i32::MAX)) as i32
                }
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        Ok((settings, rest))
    }
}

/// What a replica keeps across a crash.
pub struct Durable {
    log: Log,
    cache: LeaderEpochCache,
    high_watermark: i64,
}

/// The replicas of a stopped broker, waiting for its next incarnation.
#[derive(Default)]
pub struct Disk(Mutex<BTreeMap<PartitionKey, Durable>>);

impl Disk {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Durable>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A broker's replication state. Locked briefly; never across an `.await`.
pub struct NodeState {
    pub broker_epoch: Option<i64>,
    pub image: MetadataImage,
    pub partitions: BTreeMap<PartitionKey, Partition>,
    parked: HashMap<RequestToken, oneshot::Sender<ProduceResult>>,
    fetchers: BTreeSet<PartitionKey>,
    caught_up: bool,
    changed_before_caught_up: BTreeSet<PartitionKey>,
    crashed: bool,
}

/// One broker of the cluster.
pub struct Node {
    pub id: i32,
    incarnation_id: Uuid,
    pub(crate) controller: Arc<ControllerHandle>,
    pub(crate) addresses: Arc<Addresses>,
    pub(crate) topic_configs: Arc<TopicConfigs>,
    pub(crate) settings: Settings,
    state: Mutex<NodeState>,
    /// Bumped on every leader append and high watermark move: long polls wake up.
    pub(crate) progress: watch::Sender<u64>,
    next_token: AtomicU64,
    disk: Arc<Disk>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Node {
    pub(super) fn new(
        id: i32,
        controller: Arc<ControllerHandle>,
        addresses: Arc<Addresses>,
        topic_configs: Arc<TopicConfigs>,
        settings: Settings,
        disk: Arc<Disk>,
    ) -> Arc<Node> {
        Arc::new(Node {
            id,
            incarnation_id: Uuid::new_v4(),
            controller,
            addresses,
            topic_configs,
            settings,
            state: Mutex::new(NodeState {
                broker_epoch: None,
                image: MetadataImage::new(),
                partitions: BTreeMap::new(),
                parked: HashMap::new(),
                fetchers: BTreeSet::new(),
                caught_up: false,
                changed_before_caught_up: BTreeSet::new(),
                crashed: false,
            }),
            progress: watch::channel(0).0,
            next_token: AtomicU64::new(1),
            disk,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Locks the replication state. Never hold the guard across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configs `topic` was created with (`None`: the broker's defaults).
    pub(crate) fn topic_config(&self, topic: &str) -> Option<crate::config::TopicConfig> {
        self.topic_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .cloned()
    }

    pub(crate) fn next_token(&self) -> RequestToken {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn notify_progress(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Spawns the metadata loop and the partition timer.
    pub(super) fn start(self: &Arc<Self>) {
        let metadata = tokio::spawn(metadata_loop(self.clone()));
        let timer = tokio::spawn(tick_loop(self.clone()));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(metadata.abort_handle());
        tasks.push(timer.abort_handle());
    }

    /// Aborts every task of this incarnation and answers parked produces with nothing.
    pub(super) fn crash(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let mut state = self.state();
        state.crashed = true;
        state.parked.clear();
    }

    /// Moves the replicas to the slot's disk for the next incarnation.
    pub(super) fn keep_on_disk(&self) {
        let partitions = std::mem::take(&mut self.state().partitions);
        let mut disk = self.disk.lock();
        for (key, partition) in partitions {
            let (log, cache, high_watermark) = partition.into_parts();
            disk.insert(
                key,
                Durable {
                    log,
                    cache,
                    high_watermark,
                },
            );
        }
    }

    /// Registers a parked acks=all produce; its answer arrives on the receiver.
    pub(crate) fn park(
        state: &mut NodeState,
        token: RequestToken,
    ) -> oneshot::Receiver<ProduceResult> {
        let (tx, rx) = oneshot::channel();
        state.parked.insert(token, tx);
        rx
    }

    pub(crate) fn unpark(state: &mut NodeState, token: RequestToken) {
        state.parked.remove(&token);
    }

    /// Delivers a partition's effects; returns the AlterPartition to send, if any.
    pub(crate) fn route(&self, state: &mut NodeState, effects: Effects) -> Option<AlterPartition> {
        for (token, result) in effects.completions {
            if let Some(tx) = state.parked.remove(&token) {
                let _ = tx.send(result);
            }
        }
        if effects.high_watermark_changed {
            self.notify_progress();
        }
        effects.alter_partition
    }

    /// Sends AlterPartition requests to the controller and hands each answer to its
    /// partition (which may ask again).
    pub(crate) fn send_alters(&self, alters: impl IntoIterator<Item = AlterPartition>) {
        let mut queue: Vec<AlterPartition> = alters.into_iter().collect();
        while let Some(request) = queue.pop() {
            let result = self.controller.with(|c| c.alter_partition(&request));
            let mut state = self.state();
            if state.crashed {
                return;
            }
            let state = &mut *state;
            let key = (request.topic_id, request.partition);
            let Some(partition) = state.partitions.get_mut(&key) else {
                continue;
            };
            let effects =
                partition.handle_alter_partition_response(&request, result, &state.image, now_ms());
            queue.extend(self.route(state, effects));
        }
    }

    /// Registers if needed, applies new metadata, heartbeats.
    fn sync_metadata(self: &Arc<Self>) {
        let now = now_ms();
        let epoch = self.state().broker_epoch;
        let broker_epoch = match epoch {
            Some(epoch) => epoch,
            None => {
                let registered = self
                    .controller
                    .with(|c| c.register_broker(self.id, self.incarnation_id, now));
                match registered {
                    Ok(epoch) => {
                        self.state().broker_epoch = Some(epoch);
                        epoch
                    }
                    Err(e) => {
                        tracing::debug!(broker = self.id, error = %e.message, "registration refused");
                        return;
                    }
                }
            }
        };
        self.fetch_metadata();
        let offset = self.state().image.offset();
        let heartbeat = BrokerHeartbeat {
            broker_id: self.id,
            broker_epoch,
            current_metadata_offset: offset,
            want_fence: false,
        };
        let reply = self.controller.with(|c| c.heartbeat(&heartbeat, now));
        if reply.is_err_and(|e| e.code == ResponseError::StaleBrokerEpoch.code()) {
            self.state().broker_epoch = None;
        }
    }

    /// Fetches and applies every metadata record the controller has for this broker.
    fn fetch_metadata(self: &Arc<Self>) {
        let offset = self.state().image.offset();
        let (fetch, end) = self
            .controller
            .with(|c| (c.fetch_metadata(offset, usize::MAX), c.metadata_offset()));
        let now = now_ms();
        let mut guard = self.state();
        if guard.crashed {
            return;
        }
        let state = &mut *guard;
        let mut changed = std::mem::take(&mut state.changed_before_caught_up);
        match fetch {
            MetadataFetch::Snapshot(image) => {
                state.image = *image;
                for topic in state.image.topics() {
                    changed.extend((0..topic.partitions.len() as i32).map(|p| (topic.topic_id, p)));
                }
            }
            MetadataFetch::Records(records) => changed.extend(state.image.apply_batch(&records)),
        }
        state.caught_up |= state.image.offset() >= end;
        if !state.caught_up || state.broker_epoch.is_none() {
            state.changed_before_caught_up = changed;
            return;
        }
        let mut alters = Vec::new();
        for key in changed {
            let effects = self.reconcile(state, key, now);
            alters.extend(self.route(state, effects));
        }
        drop(guard);
        self.send_alters(alters);
    }

    /// Becomes leader, follower or nothing for one partition, as the image now says.
    fn reconcile(self: &Arc<Self>, state: &mut NodeState, key: PartitionKey, now: i64) -> Effects {
        let Some(topic) = state.image.topic(key.0) else {
            return Effects::default();
        };
        let Some(registration) = topic.partitions.get(key.1 as usize).cloned() else {
            return Effects::default();
        };
        let config = ReplicationConfig {
            replica_lag_time_max_ms: self.settings.replica_lag_time_max_ms,
            min_insync_replicas: topic.config.min_insync_replicas,
        };
        let broker_epoch = state.broker_epoch.unwrap_or(-1);
        let log_config = self
            .topic_config(&topic.name)
            .map_or_else(LogConfig::default, |c| c.log);
        let role = registration.role_of(self.id);
        if role != ReplicaRole::None && !state.partitions.contains_key(&key) {
            let durable = self.disk.lock().remove(&key).unwrap_or_else(|| Durable {
                log: Log::in_memory(log_config, now),
                cache: LeaderEpochCache::new(),
                high_watermark: 0,
            });
            let partition = Partition::new(
                key.0,
                key.1,
                self.id,
                broker_epoch,
                config,
                durable.log,
                durable.cache,
                durable.high_watermark,
            );
            state.partitions.insert(key, partition);
        }
        let Some(partition) = state.partitions.get_mut(&key) else {
            return Effects::default();
        };
        partition.set_config(config);
        tracing::debug!(
            broker = self.id,
            partition = key.1,
            leader = registration.leader,
            leader_epoch = registration.leader_epoch,
            isr = ?registration.isr,
            "applying partition"
        );
        match role {
            ReplicaRole::Leader => partition.make_leader(&registration, &state.image, now),
            ReplicaRole::Follower { .. } => {
                let effects = partition.make_follower(&registration, now);
                if state.fetchers.insert(key) {
                    let task = tokio::spawn(fetcher::run(self.clone(), key));
                    self.tasks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(task.abort_handle());
                }
                effects
            }
            ReplicaRole::None => partition.stop(),
        }
    }

    /// Called by a fetcher under the lock when it finds its partition is no longer followed.
    pub(super) fn fetcher_done(state: &mut NodeState, key: PartitionKey) {
        state.fetchers.remove(&key);
    }

    /// Runs every partition's timer (ISR shrink, produce deadlines).
    fn tick(&self) {
        let now = now_ms();
        let mut guard = self.state();
        let state = &mut *guard;
        let keys: Vec<PartitionKey> = state.partitions.keys().copied().collect();
        let mut alters = Vec::new();
        for key in keys {
            let Some(partition) = state.partitions.get_mut(&key) else {
                continue;
            };
            let effects = partition.tick(now);
            alters.extend(self.route(state, effects));
        }
        drop(guard);
        self.send_alters(alters);
    }
}

async fn metadata_loop(node: Arc<Node>) {
    let mut changed = node.controller.changed.subscribe();
    let interval = Duration::from_millis(node.settings.broker_heartbeat_interval_ms);
    loop {
        changed.borrow_and_update();
        node.sync_metadata();
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn tick_loop(node: Arc<Node>) {
    let period = (node.settings.replica_lag_time_max_ms / 4).clamp(10, 1_000) as u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(period));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        node.tick();
    }
}
