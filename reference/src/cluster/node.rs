//! One broker of a [`Cluster`](super::Cluster): its metadata image, its replicas as
//! [`Partition`] cores, the acks=all produces parked on them, and the tasks that drive them
//! (metadata and heartbeats, partition timers, one fetcher per leader broker it follows
//! partitions from, carrying all of them: [`fetcher`]).
//!
//! Metadata is acted on as Kafka's `MetadataLoader` publishes it: nothing until the image has
//! caught up with the end of the metadata log once, then each fetched batch as one delta, so
//! every changed partition goes straight to its latest state (as `replication::sim` does).
//!
//! Replicas are opened from the broker's [`Disk`] (files under its data directory, or what the
//! last incarnation left in memory). A log task applies the topics' retention to every replica
//! every `log.retention.check.interval.ms` (`LogManager.cleanupLogs`) and checkpoints the high
//! watermarks and log start offsets every `replica.high.watermark.checkpoint.interval.ms`.
//! Every task checks the broker's [`Fault`](super::fault::Fault)s: a paused broker runs
//! nothing, an isolated one does not reach the controller.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::fault::Faults;
use super::storage::{Disk, Durable, ReplicaOffsets};
use super::{Addresses, ControllerHandle, TopicConfigs, fetcher};
use crate::api::now_ms;
use crate::controller::{
    AlterPartition, BrokerHeartbeat, MetadataFetch, MetadataImage, MetadataRecord, ReplicaRole,
};
use crate::coordinator_log::Leadership;
use crate::log::LogConfig;
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
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub high_watermark_checkpoint_interval_ms: u64,
    /// `log.retention.check.interval.ms` (a broker config, also read by the cluster).
    pub log_retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms` and `producer.id.expiration.check.interval.ms` (broker
    /// configs, also read by the cluster).
    pub producer_id_expiration_ms: i64,
    pub producer_id_expiration_check_interval_ms: u64,
    /// `auto.leader.rebalance.enable`: the controller moves leadership back to preferred
    /// replicas.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`, in milliseconds: how long after leaders
    /// became imbalanced the controller balances them.
    pub leader_imbalance_check_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            high_watermark_checkpoint_interval_ms: 5_000,
            log_retention_check_interval_ms: 5 * 60 * 1000,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
            producer_id_expiration_check_interval_ms: 10 * 60 * 1000,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_ms: 300 * 1000,
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
                "replica.high.watermark.checkpoint.interval.ms" => {
                    settings.high_watermark_checkpoint_interval_ms = number()? as u64
                }
                // Kafka's `ConfigDef` booleans: `true` or `false`, any case.
                "auto.leader.rebalance.enable" => {
                    settings.auto_leader_rebalance_enable = match value.trim() {
                        v if v.eq_ignore_ascii_case("true") => true,
                        v if v.eq_ignore_ascii_case("false") => false,
                        _ => return Err(format!("invalid value `{value}` for `{key}`")),
                    }
                }
                "leader.imbalance.check.interval.seconds" => {
                    settings.leader_imbalance_check_interval_ms =
                        (number()? as u64).saturating_mul(1000)
                }
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        Ok((settings, rest))
    }
}

/// A broker's replication state. Locked briefly; never across an `.await`.
pub struct NodeState {
    pub broker_epoch: Option<i64>,
    pub image: MetadataImage,
    pub partitions: BTreeMap<PartitionKey, Partition>,
    parked: HashMap<RequestToken, oneshot::Sender<ProduceResult>>,
    /// Which partitions each fetcher carries, by leader broker.
    pub(super) fetchers: fetcher::Fetchers,
    caught_up: bool,
    changed_before_caught_up: BTreeSet<PartitionKey>,
    crashed: bool,
    /// Partitions whose AlterPartition was lost to an isolation: resent once it heals.
    unsent_alters: BTreeSet<PartitionKey>,
}

impl NodeState {
    /// How many partitions each of this broker's fetchers carries, by leader broker: one
    /// fetcher (and one connection) per leader it follows partitions from.
    pub fn fetchers(&self) -> BTreeMap<i32, usize> {
        self.fetchers.carried()
    }
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
    /// Bumped each time a metadata batch has been applied to the replicas: a fetcher waiting
    /// on a leader that is no longer its leader gives up at once.
    pub(crate) applied: watch::Sender<u64>,
    next_token: AtomicU64,
    disk: Arc<Disk>,
    /// The faults injected into every broker of the cluster.
    pub(crate) faults: Arc<Faults>,
    tasks: Mutex<Vec<AbortHandle>>,
    /// Where changes of this broker's leadership of a coordinator's internal topic go
    /// (`__consumer_offsets`: [`crate::group::runtime`], `__transaction_state`:
    /// [`crate::txn::runtime`]), by topic name.
    leadership_watchers: Mutex<BTreeMap<String, mpsc::UnboundedSender<Leadership>>>,
}

impl Node {
    pub(super) fn new(
        id: i32,
        controller: Arc<ControllerHandle>,
        addresses: Arc<Addresses>,
        topic_configs: Arc<TopicConfigs>,
        settings: Settings,
        disk: Arc<Disk>,
        faults: Arc<Faults>,
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
                fetchers: fetcher::Fetchers::default(),
                caught_up: false,
                changed_before_caught_up: BTreeSet::new(),
                crashed: false,
                unsent_alters: BTreeSet::new(),
            }),
            progress: watch::channel(0).0,
            applied: watch::channel(0).0,
            next_token: AtomicU64::new(1),
            disk,
            faults,
            tasks: Mutex::new(Vec::new()),
            leadership_watchers: Mutex::new(BTreeMap::new()),
        })
    }
    /// Whether the broker may serve clients: registered with the controller and its metadata
    /// image caught up with the controller's log as of the registration. Until then its
    /// image is empty (no brokers, no topics), and an answer from it would tell a client the
    /// cluster has no brokers and its topics do not exist (librdkafka then drops every
    /// broker it knows, and a consumer can stop fetching for good).
    pub fn ready_to_serve(&self) -> bool {
        let state = self.state();
        state.caught_up && state.broker_epoch.is_some()
    }

    /// Resolves once [`Node::ready_to_serve`]: Kafka's `BrokerServer` enables request
    /// processing only after this initial catch-up (`initialCatchUpFuture`), before the
    /// controller unfences it.
    pub async fn wait_ready_to_serve(&self) {
        let mut applied = self.applied.subscribe();
        while !self.ready_to_serve() {
            if applied.changed().await.is_err() {
                return;
            }
        }
    }

    /// The broker's one log directory (Kafka's `log.dirs`), `None` in memory mode.
    pub fn log_dir(&self) -> Option<&std::path::Path> {
        self.disk.dir()
    }

    /// Locks the replication state. Never hold the guard across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configs in force for `topic` on this broker (`None`: the broker's defaults): the
    /// topic's own, then the dynamic broker configs (this broker's, then the cluster's),
    /// then the static ones.
    pub(crate) fn topic_config(&self, topic: &str) -> Option<crate::config::TopicConfig> {
        let mut config = self
            .topic_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .cloned()?;
        self.controller
            .dynamic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply_to_topic(self.id, &mut config);
        Some(config)
    }

    /// A topic's configs changed (its `TopicConfig` record was applied): every replica of it
    /// here takes the new ones at once, `min.insync.replicas` and the log's.
    fn reload_topic_configs(&self, state: &mut NodeState, topics: &BTreeSet<Uuid>) {
        for (key, partition) in state.partitions.iter_mut() {
            if !topics.contains(&key.0) {
                continue;
            }
            let Some(topic) = state.image.topic(key.0) else {
                continue;
            };
            partition.set_config(ReplicationConfig {
                replica_lag_time_max_ms: self.settings.replica_lag_time_max_ms,
                min_insync_replicas: topic.config.min_insync_replicas,
            });
            if let Some(config) = self.topic_config(&topic.name) {
                partition.set_log_config(config.log);
            }
        }
    }

    pub(crate) fn next_token(&self) -> RequestToken {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn notify_progress(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Spawns the metadata loop, the partition timer and the log task.
    pub(super) fn start(self: &Arc<Self>) {
        let metadata = tokio::spawn(metadata_loop(self.clone()));
        let timer = tokio::spawn(tick_loop(self.clone()));
        let logs = tokio::spawn(log_loop(self.clone()));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(metadata.abort_handle());
        tasks.push(timer.abort_handle());
        tasks.push(logs.abort_handle());
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

    /// After [`Node::crash`]: checkpoints the high watermarks and leaves the replicas to the
    /// slot's disk for the next incarnation (a process crash: whatever was appended stays).
    pub(super) fn keep_on_disk(&self) {
        self.checkpoint();
        self.release_replicas(false);
    }

    /// After [`Node::crash`], on a clean shutdown: flushes every replica's log.
    pub(super) fn flush_logs(&self) {
        let mut state = self.state();
        for partition in state.partitions.values_mut() {
            if let Err(error) = partition.flush() {
                tracing::warn!(broker = self.id, %error, "flush failed");
            }
        }
    }

    /// After [`Node::crash`]: a power loss. Each log loses what was not flushed (its
    /// recovery point), and the checkpoints keep their last written values.
    pub(super) fn lose_power(&self) {
        self.release_replicas(true);
    }

    fn release_replicas(&self, lose_unflushed: bool) {
        let partitions = std::mem::take(&mut self.state().partitions);
        let now = now_ms();
        for (key, partition) in partitions {
            let (mut log, cache, high_watermark) = partition.into_parts();
            if lose_unflushed && let Err(error) = log.lose_unflushed(now) {
                tracing::error!(broker = self.id, %error, "cannot drop unflushed data");
            }
            self.disk.keep(
                key,
                Durable {
                    log,
                    cache,
                    high_watermark,
                },
            );
        }
    }

    /// Writes the high watermark and log start offset checkpoints (files only).
    pub(super) fn checkpoint(&self) {
        let replicas: Vec<ReplicaOffsets> = {
            let state = self.state();
            state
                .partitions
                .iter()
                .filter_map(|(key, partition)| {
                    Some(ReplicaOffsets {
                        topic: state.image.topic(key.0)?.name.clone(),
                        partition: key.1,
                        high_watermark: partition.high_watermark(),
                        log_start_offset: partition.log().log_start_offset(),
                    })
                })
                .collect()
        };
        if let Err(error) = self.disk.checkpoint(replicas) {
            tracing::error!(broker = self.id, %error, "cannot write the offset checkpoints");
        }
    }

    /// Retention on every replica, with its topic's current log configs.
    fn apply_retention(&self) -> usize {
        let now = now_ms();
        let mut guard = self.state();
        let state = &mut *guard;
        let mut deleted = 0;
        for (key, partition) in state.partitions.iter_mut() {
            let Some(topic) = state.image.topic(key.0) else {
                continue;
            };
            if let Some(config) = self.topic_config(&topic.name) {
                partition.set_log_config(config.log);
            }
            match partition.apply_retention(now) {
                Ok(n) => deleted += n,
                Err(error) => {
                    tracing::warn!(broker = self.id, topic = %topic.name, partition = key.1, %error, "retention failed")
                }
            }
        }
        deleted
    }

    /// Forgets, on every replica, the producers idle for `producer.id.expiration.ms`.
    fn expire_producers(&self) {
        let now = now_ms();
        let expiration_ms = self.settings.producer_id_expiration_ms;
        let mut state = self.state();
        let expired: usize = state
            .partitions
            .values_mut()
            .map(|p| p.expire_producers(now, expiration_ms))
            .sum();
        if expired > 0 {
            tracing::debug!(broker = self.id, expired, "expired producer ids");
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
        if effects.high_watermark_changed || effects.low_watermark_changed {
            self.notify_progress();
        }
        effects.alter_partition
    }

    /// Sends AlterPartition requests to the controller and hands each answer to its
    /// partition (which may ask again).
    pub(crate) fn send_alters(&self, alters: impl IntoIterator<Item = AlterPartition>) {
        let mut queue: Vec<AlterPartition> = alters.into_iter().collect();
        while let Some(request) = queue.pop() {
            if !self.faults.reaches_controller(self.id) {
                // Lost on the way; the partition keeps it pending and resends after healing.
                let mut state = self.state();
                state.unsent_alters.extend(
                    std::iter::once(&request)
                        .chain(&queue)
                        .map(|r| (r.topic_id, r.partition)),
                );
                return;
            }
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
                // Replicas of topics the snapshot no longer has were deleted meanwhile.
                changed.extend(state.partitions.keys().copied());
                for topic in state.image.topics() {
                    changed.extend((0..topic.partitions.len() as i32).map(|p| (topic.topic_id, p)));
                }
            }
            MetadataFetch::Records(records) => {
                changed.extend(state.image.apply_batch(&records));
                let reconfigured: BTreeSet<Uuid> = records
                    .iter()
                    .filter_map(|r| match r.record {
                        MetadataRecord::TopicConfig { topic_id, .. } => Some(topic_id),
                        _ => None,
                    })
                    .collect();
                if !reconfigured.is_empty() {
                    self.reload_topic_configs(state, &reconfigured);
                }
            }
        }
        let was_caught_up = state.caught_up;
        state.caught_up |= state.image.offset() >= end;
        if state.caught_up && !was_caught_up {
            // Replicas of topics deleted while this broker was down are stray (KIP-858).
            let known = state.image.topics().map(|t| t.topic_id).collect();
            match self.disk.remove_strays(&known) {
                Ok(0) => {}
                Ok(n) => tracing::info!(broker = self.id, replicas = n, "deleted stray replicas"),
                Err(error) => {
                    tracing::warn!(broker = self.id, %error, "cannot delete stray replicas")
                }
            }
        }
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
        self.applied.send_modify(|n| *n = n.wrapping_add(1));
        self.send_alters(alters);
    }

    /// Becomes leader, follower or nothing for one partition, as the image now says.
    fn reconcile(self: &Arc<Self>, state: &mut NodeState, key: PartitionKey, now: i64) -> Effects {
        let Some(topic) = state.image.topic(key.0) else {
            return self.delete_replica(state, key);
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
        let watched = self
            .leadership_watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&topic.name);
        let watched_partitions = watched.then(|| {
            (
                topic.name.clone(),
                topic.partitions.len() as i32,
                registration.leader_epoch,
            )
        });
        if role != ReplicaRole::None && !state.partitions.contains_key(&key) {
            let durable = match self.disk.open_replica(key, &topic.name, log_config, now) {
                Ok(durable) => durable,
                Err(error) => {
                    // Kafka takes the log directory offline; this broker just cannot host it.
                    tracing::error!(broker = self.id, topic = %topic.name, partition = key.1, %error, "cannot open the replica's log");
                    return Effects::default();
                }
            };
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
        if role == ReplicaRole::None && state.partitions.contains_key(&key) {
            // A reassignment moved the partition away from this broker: as Kafka's broker
            // does for a partition it no longer hosts, stop the replica and delete its log.
            tracing::info!(broker = self.id, topic = %topic.name, partition = key.1, "no longer a replica: deleting the log");
            let effects = self.delete_replica(state, key);
            if let Some((topic, partitions, leader_epoch)) = watched_partitions {
                self.tell_leadership(state, &topic, key, partitions, leader_epoch);
            }
            return effects;
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
        let effects = match role {
            ReplicaRole::Leader => partition.make_leader(&registration, &state.image, now),
            ReplicaRole::Follower { .. } => partition.make_follower(&registration, now),
            ReplicaRole::None => unreachable!("a replica no longer assigned was deleted above"),
        };
        self.assign_fetcher(state, key);
        if let Some((topic, partitions, leader_epoch)) = watched_partitions {
            self.tell_leadership(state, &topic, key, partitions, leader_epoch);
        }
        effects
    }

    /// A receiver of every later change of this broker's leadership of a
    /// `__consumer_offsets` partition, for the group coordinator ([`crate::group::runtime`]).
    pub(crate) fn watch_offsets_leadership(&self) -> mpsc::UnboundedReceiver<Leadership> {
        self.watch_leadership(crate::group::OFFSETS_TOPIC)
    }

    /// A receiver of every later change of this broker's leadership of a partition of
    /// `topic` (a coordinator's internal topic); replaces an earlier watcher of it.
    pub(crate) fn watch_leadership(&self, topic: &str) -> mpsc::UnboundedReceiver<Leadership> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.leadership_watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string(), tx);
        rx
    }

    /// Tells a coordinator whether this broker now leads a partition of its topic.
    fn tell_leadership(
        &self,
        state: &NodeState,
        topic: &str,
        key: PartitionKey,
        partitions: i32,
        leader_epoch: i32,
    ) {
        let watchers = self
            .leadership_watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = watchers.get(topic) {
            let _ = tx.send(Leadership {
                partition: key.1,
                partitions,
                leader_epoch,
                is_leader: state.partitions.get(&key).is_some_and(|p| p.is_leader()),
            });
        }
    }

    /// The partition's topic was deleted: stops the replica (parked produces are answered
    /// NOT_LEADER_OR_FOLLOWER, it leaves its fetcher) and deletes its log
    /// (`ReplicaManager.stopPartitions` with `deleteLocalLog`).
    fn delete_replica(&self, state: &mut NodeState, key: PartitionKey) -> Effects {
        state.fetchers.assign(key, None);
        let Some(mut partition) = state.partitions.remove(&key) else {
            return Effects::default();
        };
        let effects = partition.stop();
        let (log, _, _) = partition.into_parts();
        if let Err(error) = self.disk.delete_replica(log) {
            tracing::warn!(broker = self.id, partition = key.1, %error, "cannot delete a deleted topic's log");
        }
        effects
    }

    /// Puts the partition on its leader's fetcher if it follows one (spawning that fetcher if
    /// it has none), else on none (`ReplicaFetcherManager.addFetcherForPartitions` /
    /// `removeFetcherForPartitions`).
    fn assign_fetcher(self: &Arc<Self>, state: &mut NodeState, key: PartitionKey) {
        let leader = state
            .partitions
            .get(&key)
            .filter(|p| p.is_follower())
            .map(|p| p.leader_id())
            .filter(|&leader| leader >= 0 && leader != self.id);
        if state.fetchers.assign(key, leader)
            && let Some(leader) = leader
        {
            let task = tokio::spawn(fetcher::run(self.clone(), leader));
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.retain(|t| !t.is_finished());
            tasks.push(task.abort_handle());
        }
    }

    /// Runs every partition's timer (ISR shrink, produce deadlines), and resends the
    /// AlterPartition requests an isolation lost.
    fn tick(&self) {
        let now = now_ms();
        let mut guard = self.state();
        let state = &mut *guard;
        let keys: Vec<PartitionKey> = state.partitions.keys().copied().collect();
        let mut alters = Vec::new();
        if self.faults.reaches_controller(self.id) {
            for key in std::mem::take(&mut state.unsent_alters) {
                let pending = state
                    .partitions
                    .get(&key)
                    .and_then(|p| p.pending_alter_partition().cloned());
                alters.extend(pending);
            }
        }
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

/// Registers, fetches metadata and heartbeats; an isolated broker reaches no controller.
async fn metadata_loop(node: Arc<Node>) {
    let mut changed = node.controller.changed.subscribe();
    let mut fault = node
        .faults
        .subscribe(node.id)
        .expect("every broker of the cluster has faults");
    let interval = Duration::from_millis(node.settings.broker_heartbeat_interval_ms);
    loop {
        node.faults.wait_unpaused(node.id).await;
        changed.borrow_and_update();
        fault.borrow_and_update();
        if node.faults.reaches_controller(node.id) {
            node.sync_metadata();
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = fault.changed() => {}
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
        node.faults.wait_unpaused(node.id).await;
        node.tick();
    }
}

/// Retention every `log.retention.check.interval.ms`, offset checkpoints every
/// `replica.high.watermark.checkpoint.interval.ms`.
async fn log_loop(node: Arc<Node>) {
    // Like Kafka's `LogManager`, the first pass comes one period after the start.
    let every = |ms: u64| {
        let period = Duration::from_millis(ms.max(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    };
    let mut retention = every(node.settings.log_retention_check_interval_ms);
    let mut checkpoint = every(node.settings.high_watermark_checkpoint_interval_ms);
    let mut producers = every(node.settings.producer_id_expiration_check_interval_ms);
    loop {
        tokio::select! {
            _ = producers.tick() => {
                node.faults.wait_unpaused(node.id).await;
                node.expire_producers();
            }
            _ = retention.tick() => {
                node.faults.wait_unpaused(node.id).await;
                let deleted = node.apply_retention();
                if deleted > 0 {
                    tracing::info!(broker = node.id, segments = deleted, "retention deleted segments");
                    node.notify_progress();
                }
            }
            _ = checkpoint.tick() => {
                node.faults.wait_unpaused(node.id).await;
                node.checkpoint();
            }
        }
    }
}
