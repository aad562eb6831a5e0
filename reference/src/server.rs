//! The accept loop: one task per connection, a cap on open connections, a retention timer,
//! and a graceful shutdown that stops accepting, lets each connection finish the request it
//! is on, and flushes every log.
//!
//! # References
//! - tokio's mini-redis `server.rs` (the same shape: `Semaphore`, broadcast shutdown,
//!   an mpsc whose closing tells that every task is done)
//! - `kafka.network.SocketServer`, `kafka.log.LogManager` (retention on a timer)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc, watch};

use crate::api::now_ms;
use crate::broker::BrokerCore;
use crate::connection;
use crate::groups::{self, GroupService};
use crate::shutdown::Shutdown;

/// At most this many open connections; the next waits for one to close.
pub const MAX_CONNECTIONS: usize = 4096;

/// What every connection task shares.
pub struct Shared {
    core: Mutex<BrokerCore>,
    /// The group coordinator and the requests parked on it.
    pub groups: GroupService,
    /// Bumped after every append, so fetch long polls wake up.
    pub appended: watch::Sender<u64>,
    /// `socket.request.max.bytes`.
    pub max_request_bytes: i32,
    /// Host and port clients are told to connect to (Metadata).
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Set when this broker is one of a [`Cluster`](crate::cluster::Cluster)'s: its replicas
    /// and metadata image answer Metadata, CreateTopics, Produce, Fetch and ListOffsets.
    pub cluster: Option<Arc<crate::cluster::Node>>,
}

impl Shared {
    /// Shares `core`, with a group coordinator rebuilt from its `__consumer_offsets` log.
    pub fn new(mut core: BrokerCore, advertised: SocketAddr) -> Shared {
        let groups = GroupService::load(&mut core, now_ms());
        Shared::with(core, groups, advertised, None)
    }

    /// Shares `core` of a broker that is `node` of a cluster. Its group coordinator serves
    /// the groups of the `__consumer_offsets` partitions the node leads (the replicated
    /// topic, not the broker's own log).
    pub fn new_in_cluster(
        core: BrokerCore,
        advertised: SocketAddr,
        node: Arc<crate::cluster::Node>,
    ) -> Shared {
        let groups = GroupService::for_cluster(&core.config, node.clone(), now_ms());
        Shared::with(core, groups, advertised, Some(node))
    }

    fn with(
        core: BrokerCore,
        groups: GroupService,
        advertised: SocketAddr,
        cluster: Option<Arc<crate::cluster::Node>>,
    ) -> Shared {
        Shared {
            max_request_bytes: core.config.socket_request_max_bytes,
            core: Mutex::new(core),
            groups,
            appended: watch::channel(0).0,
            advertised_host: advertised.ip().to_string(),
            advertised_port: i32::from(advertised.port()),
            cluster,
        }
    }

    /// Waits while this broker is paused (a cluster test's SIGSTOP: nothing of the broker
    /// runs, see [`crate::cluster::Fault`]); false if the broker shuts down meanwhile. A
    /// broker outside a cluster is never paused.
    pub async fn wait_unpaused(&self, shutdown: &mut Shutdown) -> bool {
        let Some(node) = &self.cluster else {
            return true;
        };
        if !node.faults.get(node.id).paused {
            return true;
        }
        tokio::select! {
            _ = node.faults.wait_unpaused(node.id) => true,
            _ = shutdown.recv() => false,
        }
    }

    /// Locks the broker state. Never hold the guard across an `.await`.
    pub fn core(&self) -> MutexGuard<'_, BrokerCore> {
        // A handler that panicked while holding the lock must not take the broker down:
        // the state it guards is only ever changed by whole, checked operations.
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Runs the broker on `listener` until `shutdown` fires; returns once every connection task
/// has ended and the logs are flushed.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: broadcast::Sender<()>) {
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let retention = tokio::spawn(retention_loop(
        shared.clone(),
        Shutdown::new(shutdown.subscribe()),
        done_tx.clone(),
    ));
    let group_timer = tokio::spawn(groups::timer_loop(
        shared.clone(),
        Shutdown::new(shutdown.subscribe()),
    ));
    let mut stop = Shutdown::new(shutdown.subscribe());
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
            _ = stop.recv() => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.recv() => break,
        };
        let _ = socket.set_nodelay(true);
        let (shared, conn_shutdown, done) = (
            shared.clone(),
            Shutdown::new(shutdown.subscribe()),
            done_tx.clone(),
        );
        tokio::spawn(async move {
            tracing::debug!(%peer, "connection opened");
            if let Err(e) = connection::serve(socket, peer, shared, conn_shutdown).await {
                tracing::warn!(%peer, reason = %e, "closing connection");
            }
            drop(permit);
            drop(done);
        });
    }
    drop(listener);
    // Parked JoinGroup/SyncGroup requests hear NOT_COORDINATOR, as when Kafka moves a group.
    shared.groups.unload(&shared);
    drop(done_tx);
    // Every task holds a `done` sender; recv returns None once all have finished.
    let _ = done_rx.recv().await;
    let _ = retention.await;
    let _ = group_timer.await;
    shared.core().flush_all();
    tracing::info!("broker stopped");
}

/// Applies retention every `log.retention.check.interval.ms`.
async fn retention_loop(shared: Arc<Shared>, mut shutdown: Shutdown, _done: mpsc::Sender<()>) {
    let interval_ms = shared.core().config.log_retention_check_interval_ms;
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.recv() => return,
        }
        // A paused cluster broker (a test's SIGSTOP) runs no timer.
        if !shared.wait_unpaused(&mut shutdown).await {
            return;
        }
        let deleted = shared.core().apply_retention(now_ms());
        if deleted > 0 {
            tracing::info!(segments = deleted, "retention deleted segments");
        }
    }
}
