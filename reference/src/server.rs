//! The accept loop of one broker: one task per connection, Kafka's connection quotas, the
//! group and transaction coordinators' timers, and a graceful shutdown that stops accepting and lets each
//! connection finish the request it is on. The broker's replicas, their retention and their
//! flushing on shutdown are its [`Node`]'s ([`crate::cluster`]).
//!
//! A connection over `max.connections` or `max.connections.per.ip` is accepted and closed at
//! once (see `quotas`): nothing waits in the listen backlog, and the connections the broker
//! has keep being served.
//!
//! The loop survives running out of file descriptors (EMFILE/ENFILE), which a broker with
//! many partitions can reach: it keeps one descriptor in reserve (an open `/dev/null`), and
//! when `accept` fails for want of descriptors it gives the reserve up to accept the waiting
//! connections and close them at once (the clients see a close, not a hang), takes the
//! reserve back, and waits before trying again, 10 ms doubling to at most 1 s. Without that,
//! the pending connection stays in the backlog and `accept` fails again at once: a spin. The
//! episode is logged when it begins and when it ends, not on every try.
//!
//! # References
//! - tokio's mini-redis `server.rs` (the same shape: broadcast shutdown, an mpsc whose
//!   closing tells that every task is done)
//! - `kafka.network.SocketServer` (`Acceptor`, `ConnectionQuotas`)
//! - The reserved-descriptor way out of EMFILE: libev's documentation of `ev_io`
//!   ("The special problem of accept()ing when you can't")

mod quotas;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

pub use self::quotas::{ConnectionQuotas, ConnectionSlot, Refused};
use crate::api::now_ms;
use crate::cluster::Node;
use crate::config::BrokerConfig;
use crate::connection;
use crate::frame::RequestBudget;
use crate::group::runtime::{self, GroupRuntime};
use crate::shutdown::Shutdown;
use crate::txn::runtime::{self as txn_runtime, TxnRuntime};

/// What every connection task shares: one broker of a cluster (of one, or more).
pub struct Shared {
    /// The broker's configs, by Kafka's names.
    pub config: BrokerConfig,
    /// The cluster's `cluster.id`, the same on every broker.
    pub cluster_id: String,
    /// The broker's metadata image and replicas, and its way to the controller.
    pub node: Arc<Node>,
    /// The group coordinator and the requests parked on it.
    pub groups: Arc<GroupRuntime>,
    /// The transaction coordinator, over `__transaction_state`.
    pub txns: Arc<TxnRuntime>,
    /// `socket.request.max.bytes`.
    pub max_request_bytes: i32,
    /// `queued.max.request.bytes`: taken by every request frame while it is read and handled.
    pub request_budget: Arc<RequestBudget>,
    /// `connections.max.idle.ms` (`None`: never).
    pub connections_max_idle: Option<Duration>,
    /// `max.connections`, `max.connections.per.ip` and its overrides.
    pub connection_quotas: Arc<ConnectionQuotas>,
    /// The producer ids this broker hands out (InitProducerId).
    pub producer_ids: crate::api::init_producer_id::ProducerIds,
}

impl Shared {
    /// Shares broker `node` (with `config`), whose group coordinator serves the groups of the
    /// `__consumer_offsets` partitions the node leads.
    pub fn new(config: BrokerConfig, cluster_id: String, node: Arc<Node>) -> Shared {
        let groups = Arc::new(GroupRuntime::new(&config, node.clone(), now_ms()));
        let txns = Arc::new(TxnRuntime::new(&config, node.clone()));
        let max_frame_bytes = usize::try_from(config.socket_request_max_bytes).unwrap_or(0);
        let queued_limit = usize::try_from(config.queued_max_request_bytes)
            .ok()
            .filter(|n| *n > 0);
        Shared {
            max_request_bytes: config.socket_request_max_bytes,
            request_budget: RequestBudget::new(queued_limit, max_frame_bytes),
            connections_max_idle: u64::try_from(config.connections_max_idle_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            connection_quotas: ConnectionQuotas::from_config(&config),
            config,
            cluster_id,
            node,
            groups,
            txns,
            producer_ids: Default::default(),
        }
    }

    /// Waits while this broker is paused (a cluster test's SIGSTOP: nothing of the broker
    /// runs, see [`crate::cluster::Fault`]); false if the broker shuts down meanwhile.
    pub async fn wait_unpaused(&self, shutdown: &mut Shutdown) -> bool {
        let node = &self.node;
        if !node.faults.get(node.id).paused {
            return true;
        }
        tokio::select! {
            _ = node.faults.wait_unpaused(node.id) => true,
            _ = shutdown.recv() => false,
        }
    }
}

/// Runs the broker on `listener` until `shutdown` fires; returns once every connection task
/// has ended and the logs are flushed.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: broadcast::Sender<()>) {
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let group_timer = tokio::spawn(runtime::timer_loop(
        shared.clone(),
        Shutdown::new(shutdown.subscribe()),
    ));
    let txn_timer = tokio::spawn(txn_runtime::timer_loop(
        shared.clone(),
        Shutdown::new(shutdown.subscribe()),
    ));
    let mut stop = Shutdown::new(shutdown.subscribe());
    // Connections wait in the listen backlog until the broker has its metadata, as Kafka's
    // acceptors start only once the broker has caught up (KRaft `BrokerServer.startup`).
    let ready = tokio::select! {
        _ = shared.node.wait_ready_to_serve() => true,
        _ = stop.recv() => false,
    };
    let mut acceptor = Acceptor::new(listener);
    if ready {
        loop {
            let (socket, peer) = tokio::select! {
                accepted = acceptor.accept() => accepted,
                _ = stop.recv() => break,
            };
            match shared.connection_quotas.try_open(peer.ip()) {
                Ok(slot) => spawn_connection(socket, peer, slot, &shared, &shutdown, &done_tx),
                Err(refused) => {
                    // Dropping the socket closes it: the client sees the close at once.
                    tracing::info!(%peer, reason = %refused, "connection refused and closed");
                    drop(socket);
                }
            }
        }
    }
    drop(acceptor);
    // Parked JoinGroup/SyncGroup requests hear NOT_COORDINATOR, as when Kafka moves a group.
    shared.groups.unload();
    drop(done_tx);
    // Every task holds a `done` sender; recv returns None once all have finished.
    let _ = done_rx.recv().await;
    let _ = group_timer.await;
    let _ = txn_timer.await;
    tracing::info!(broker = shared.node.id, "broker stopped serving");
}

/// Serves one accepted connection on its own task, which holds its quota slot until it ends.
fn spawn_connection(
    socket: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    shared: &Arc<Shared>,
    shutdown: &broadcast::Sender<()>,
    done: &mpsc::Sender<()>,
) {
    let _ = socket.set_nodelay(true);
    let (shared, conn_shutdown, done) = (
        shared.clone(),
        Shutdown::new(shutdown.subscribe()),
        done.clone(),
    );
    tokio::spawn(async move {
        tracing::debug!(%peer, "connection opened");
        match connection::serve(socket, peer, shared, conn_shutdown).await {
            Ok(()) => {}
            Err(e) if e.is_idle() => tracing::debug!(%peer, reason = %e, "closing connection"),
            Err(e) => tracing::warn!(%peer, reason = %e, "closing connection"),
        }
        drop(slot);
        drop(done);
    });
}

/// First wait after an accept failure; it doubles on each failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest wait between accept attempts while accepting fails.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most this many waiting connections are accepted and closed per attempt while the
/// process is out of descriptors; the rest wait for the next attempt.
const SHED_PER_ATTEMPT: usize = 64;

/// The listener, its reserved descriptor, and the accept-failure episode under way.
struct Acceptor {
    listener: TcpListener,
    reserve: Option<std::fs::File>,
    backoff: Duration,
    episode: Option<AcceptEpisode>,
}

/// A run of accept failures, logged once when it starts and once when it ends.
struct AcceptEpisode {
    since: Instant,
    failures: u64,
    closed: u64,
}

impl Acceptor {
    fn new(listener: TcpListener) -> Acceptor {
        Acceptor {
            listener,
            reserve: reserve_descriptor(),
            backoff: ACCEPT_BACKOFF_MIN,
            episode: None,
        }
    }

    /// The next connection; waits through accept failures with a bounded backoff.
    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let error = match self.listener.accept().await {
                Ok(pair) => {
                    self.end_episode();
                    return pair;
                }
                Err(e) => e,
            };
            if is_gone_before_accept(&error) {
                tracing::debug!(%error, "connection gone before it was accepted");
                continue;
            }
            self.note_failure(&error);
            if is_out_of_descriptors(&error) {
                let closed = self.shed().await;
                if let Some(episode) = &mut self.episode {
                    episode.closed += closed;
                }
            }
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
        }
    }

    /// Accepts and closes the connections waiting while the process is out of descriptors,
    /// each with the reserved one; returns how many.
    async fn shed(&mut self) -> u64 {
        let mut closed = 0;
        for _ in 0..SHED_PER_ATTEMPT {
            self.reserve = None;
            let accepted = accept_now(&self.listener).await;
            let took_one = matches!(accepted, Some(Ok(_)));
            // Closes the connection, then takes its descriptor back as the reserve.
            drop(accepted);
            self.reserve = reserve_descriptor();
            if !took_one {
                break;
            }
            closed += 1;
        }
        closed
    }

    fn note_failure(&mut self, error: &std::io::Error) {
        match &mut self.episode {
            Some(episode) => episode.failures += 1,
            None => {
                tracing::warn!(
                    %error,
                    out_of_descriptors = is_out_of_descriptors(error),
                    "accept failing: retrying with a backoff of up to 1 s; while descriptors \
                     are short, waiting connections are accepted and closed at once"
                );
                self.episode = Some(AcceptEpisode {
                    since: Instant::now(),
                    failures: 1,
                    closed: 0,
                });
            }
        }
    }

    fn end_episode(&mut self) {
        self.backoff = ACCEPT_BACKOFF_MIN;
        if let Some(episode) = self.episode.take() {
            tracing::info!(
                after_ms = episode.since.elapsed().as_millis() as u64,
                failures = episode.failures,
                closed_at_once = episode.closed,
                "accepting connections again"
            );
        }
        if self.reserve.is_none() {
            self.reserve = reserve_descriptor();
        }
    }
}

/// One descriptor held back for accepting (and closing) when there are none left.
fn reserve_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// A connection already waiting in the backlog, without waiting for one.
async fn accept_now(listener: &TcpListener) -> Option<std::io::Result<(TcpStream, SocketAddr)>> {
    tokio::select! {
        biased;
        accepted = listener.accept() => Some(accepted),
        () = std::future::ready(()) => None,
    }
}

/// EMFILE (the process's descriptor limit) or ENFILE (the system's): the same numbers on
/// Linux and the BSDs.
fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// The peer reset or aborted the connection before it was accepted: nothing to wait for.
fn is_gone_before_accept(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    )
}
