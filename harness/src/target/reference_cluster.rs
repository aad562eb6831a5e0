//! `reference:N`: the in-process reference cluster ([`reference::Cluster`]) of N brokers and
//! one controller, with fault control, so that scenarios that stop a broker run on
//! `cargo test` without Java.
//!
//! # Why it is shaped so
//!
//! Stopping and starting a broker needs `&mut Cluster`, and fault steps of concurrent
//! scenarios reach the target through `&self`: the cluster sits behind a tokio mutex, held
//! across the (awaited) stop and start. The bootstrap address names every broker, stopped or
//! not: a stopped broker comes back on the same port, and clients skip an address that does
//! not answer, as they do with real Kafka.
//!
//! Every fault of [`FaultControl`] maps onto the cluster's own: stop ([`Cluster::stop`], a
//! process crash: what was appended stays, as in the page cache after SIGKILL), start,
//! pause and resume (a frozen process), isolate and heal (cut off from the other brokers
//! and the controller, not from clients). [`FaultControl::restore`] undoes all of them.
//!
//! A started broker is only "up" for a scenario once the controller has it registered and
//! unfenced ([`reference::Cluster::wait_until_unfenced`]); `kafka-local` waits the same way
//! for a restarted node to be registered. The timing configs ([`CLUSTER_TIMING_CONFIGS`])
//! are shorter than Kafka's defaults so that a stopped broker leaves the ISR within seconds,
//! but not so short that a busy two-core CI machine gets brokers fenced spuriously.
//!
//! # References
//!
//! - `reference/src/cluster.rs` (what the cluster does and does not do yet).
//! - `ci/kafka/start.sh` (the same settings for real Kafka).

use std::fmt;

use anyhow::{Context, anyhow, bail};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use reference::cluster::Fault;
use reference::{Cluster, ClusterOptions};
use tokio::sync::Mutex;

use super::{Capability, FaultControl, TEST_FRIENDLY_CONFIGS, Target};

/// Most brokers a `reference:N` target starts (as `kafka-spec serve --brokers`).
pub const MAX_BROKERS: u8 = 64;

/// Failure detection for fault scenarios. `ci/kafka/start.sh` gives real Kafka a 4 s session
/// and 1 s heartbeats (Kafka: 9 s and 2 s); heartbeats here are calls inside one process, so
/// 3 s with 500 ms heartbeats leaves six missed beats of slack and still shrinks the ISR of a
/// stopped follower well within the scenarios' 20 s. `replica.lag.time.max.ms` is real
/// Kafka's CI value: a follower that is merely slow on a loaded machine stays in sync.
pub const CLUSTER_TIMING_CONFIGS: &[(&str, &str)] = &[
    ("broker.session.timeout.ms", "3000"),
    ("broker.heartbeat.interval.ms", "500"),
    ("replica.lag.time.max.ms", "10000"),
];

/// `offsets.topic.replication.factor` for a cluster of `brokers`: Kafka's default of 3, or
/// every broker when there are fewer. With the default, a cluster of one or two brokers could
/// never create `__consumer_offsets` and every FindCoordinator would stay
/// COORDINATOR_NOT_AVAILABLE, in the reference as in Kafka; `ci/kafka/start.sh` sizes real
/// Kafka's internal topics to its node count the same way.
pub fn offsets_topic_replication_factor(brokers: u8) -> u8 {
    brokers.min(3)
}

/// The reference cluster on a temporary data directory.
pub struct ReferenceClusterTarget {
    brokers: u8,
    bootstrap: String,
    ids: Vec<i32>,
    cluster: Mutex<Option<Cluster>>,
    // Deleted after the cluster shuts down.
    data_dir: Mutex<Option<tempfile::TempDir>>,
}

impl ReferenceClusterTarget {
    /// Starts `brokers` brokers on free ports with [`TEST_FRIENDLY_CONFIGS`],
    /// [`CLUSTER_TIMING_CONFIGS`] and [`offsets_topic_replication_factor`], and waits until
    /// every one is registered and unfenced.
    pub async fn start(brokers: u8) -> anyhow::Result<ReferenceClusterTarget> {
        anyhow::ensure!(
            (1..=MAX_BROKERS).contains(&brokers),
            "a reference cluster has 1 to {MAX_BROKERS} brokers, not {brokers}"
        );
        let data_dir = tempfile::Builder::new()
            .prefix("kafka-spec-reference-cluster-")
            .tempdir()
            .context("creating a data dir for the reference cluster")?;
        let options = ClusterOptions {
            brokers: usize::from(brokers),
            port: 0,
            data_dir: Some(data_dir.path().to_path_buf()),
            configs: TEST_FRIENDLY_CONFIGS
                .iter()
                .chain(CLUSTER_TIMING_CONFIGS)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .chain([(
                    "offsets.topic.replication.factor".to_owned(),
                    offsets_topic_replication_factor(brokers).to_string(),
                )])
                .collect(),
        };
        let cluster = Cluster::start_with(options)
            .await
            .with_context(|| format!("starting a reference cluster of {brokers} brokers"))?;
        let ids = cluster.broker_ids();
        let bootstrap =
            ids.iter()
                .map(|id| {
                    cluster.address(*id).map(|a| a.to_string()).ok_or_else(|| {
                        anyhow!("broker {id} of the reference cluster has no address")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(",");
        Ok(ReferenceClusterTarget {
            brokers,
            bootstrap,
            ids,
            cluster: Mutex::new(Some(cluster)),
            data_dir: Mutex::new(Some(data_dir)),
        })
    }

    /// Stops every broker and the controller, and deletes the data dir. Idempotent.
    pub async fn shutdown(&self) {
        let cluster = self.cluster.lock().await.take();
        if let Some(cluster) = cluster {
            cluster.shutdown().await;
        }
        self.data_dir.lock().await.take();
    }

    /// The brokers running now (none once shut down).
    pub async fn running_ids(&self) -> Vec<i32> {
        self.cluster
            .lock()
            .await
            .as_ref()
            .map(Cluster::running_ids)
            .unwrap_or_default()
    }

    /// The faults injected into a broker now (none once shut down).
    pub async fn fault(&self, broker_id: i32) -> Fault {
        self.cluster
            .lock()
            .await
            .as_ref()
            .map(|c| c.fault(broker_id))
            .unwrap_or_default()
    }

    fn check_id(&self, broker_id: i32) -> anyhow::Result<()> {
        if self.ids.contains(&broker_id) {
            Ok(())
        } else {
            bail!(
                "{} has no broker {broker_id} (its brokers: {:?})",
                self.name(),
                self.ids
            )
        }
    }
}

/// Runs `f` on the cluster, or fails if the target was shut down.
macro_rules! with_cluster {
    ($self:ident, $cluster:ident => $body:expr) => {{
        let mut guard = $self.cluster.lock().await;
        let $cluster = guard
            .as_mut()
            .ok_or_else(|| anyhow!("{} has been shut down", $self.name()))?;
        $body
    }};
}

impl ReferenceClusterTarget {
    /// Injects (or undoes) a fault that takes effect at once: pause, resume, isolate.
    fn at_once(
        &self,
        broker_id: i32,
        fault: fn(&Cluster, i32) -> bool,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            self.check_id(broker_id)?;
            with_cluster!(self, cluster => fault(cluster, broker_id));
            Ok(())
        }
        .boxed()
    }
}

impl fmt::Debug for ReferenceClusterTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferenceClusterTarget")
            .field("brokers", &self.brokers)
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl Target for ReferenceClusterTarget {
    fn name(&self) -> String {
        format!("reference:{}", self.brokers)
    }

    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    fn broker_ids(&self) -> Vec<i32> {
        self.ids.clone()
    }

    fn supports(&self, capability: Capability) -> bool {
        match capability {
            Capability::FastRetention | Capability::FaultControl | Capability::JavaClient => true,
            Capability::MultipleBrokers => self.brokers > 1,
        }
    }

    fn faults(&self) -> Option<&dyn FaultControl> {
        Some(self)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        ReferenceClusterTarget::shutdown(self).boxed()
    }
}

impl FaultControl for ReferenceClusterTarget {
    fn stop_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            self.check_id(broker_id)?;
            with_cluster!(self, cluster => cluster.stop(broker_id).await);
            Ok(())
        }
        .boxed()
    }

    fn start_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            self.check_id(broker_id)?;
            with_cluster!(self, cluster => {
                cluster
                    .start_broker(broker_id)
                    .await
                    .with_context(|| format!("starting broker {broker_id} again"))?;
                cluster
                    .wait_until_unfenced()
                    .await
                    .with_context(|| format!("broker {broker_id} registering again"))?;
            });
            Ok(())
        }
        .boxed()
    }

    fn pause_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        self.at_once(broker_id, Cluster::pause)
    }

    fn resume_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        self.at_once(broker_id, Cluster::resume)
    }

    fn isolate_broker(&self, broker_id: i32) -> BoxFuture<'_, anyhow::Result<()>> {
        self.at_once(broker_id, Cluster::isolate)
    }

    fn heal(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            with_cluster!(self, cluster => cluster.heal());
            Ok(())
        }
        .boxed()
    }

    fn restore(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        async move {
            with_cluster!(self, cluster => {
                let running = cluster.running_ids();
                let mut faulted = Vec::new();
                for broker_id in cluster.broker_ids() {
                    let fault = cluster.fault(broker_id);
                    if fault.paused {
                        cluster.resume(broker_id);
                    }
                    if fault != Fault::default() {
                        faulted.push(broker_id);
                    }
                }
                cluster.heal();
                for broker_id in cluster.broker_ids() {
                    if !running.contains(&broker_id) {
                        cluster
                            .start_broker(broker_id)
                            .await
                            .with_context(|| format!("starting broker {broker_id} again"))?;
                        faulted.push(broker_id);
                    }
                }
                // A paused, isolated or stopped broker was fenced (or is new): it counts
                // again once the controller has it registered and unfenced.
                if !faulted.is_empty() {
                    cluster
                        .wait_until_unfenced()
                        .await
                        .with_context(|| format!("brokers {faulted:?} registering again"))?;
                }
            });
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_fault_takes_effect_and_restore_undoes_them_all() {
        let target = ReferenceClusterTarget::start(3).await.expect("starts");
        assert_eq!(target.broker_ids(), vec![1, 2, 3]);
        assert_eq!(target.bootstrap().split(',').count(), 3);
        assert!(target.supports(Capability::MultipleBrokers));
        let faults = target.faults().expect("fault control");

        faults.stop_broker(2).await.expect("stops");
        faults.stop_broker(3).await.expect("stops");
        assert_eq!(target.running_ids().await, vec![1]);
        faults.start_broker(2).await.expect("starts again");
        assert_eq!(target.running_ids().await, vec![1, 2]);
        faults.restore().await.expect("restores");
        assert_eq!(target.running_ids().await, vec![1, 2, 3]);
        // Nothing to do: still fine.
        faults.restore().await.expect("restores");

        faults.pause_broker(1).await.expect("pauses");
        faults.isolate_broker(2).await.expect("isolates");
        assert!(target.fault(1).await.paused);
        assert!(target.fault(2).await.isolated);
        faults.restore().await.expect("restores");
        for id in [1, 2, 3] {
            assert_eq!(target.fault(id).await, Fault::default(), "broker {id}");
        }
        faults.isolate_broker(3).await.expect("isolates");
        faults.heal().await.expect("heals");
        assert_eq!(target.fault(3).await, Fault::default());

        let error = faults.stop_broker(7).await.expect_err("no broker 7");
        assert!(error.to_string().contains("no broker 7"), "{error}");
        target.shutdown().await;
        let error = faults.stop_broker(1).await.expect_err("shut down");
        assert!(error.to_string().contains("shut down"), "{error}");
    }

    #[tokio::test]
    async fn one_broker_has_fault_control_but_is_not_multiple_brokers() {
        let target = ReferenceClusterTarget::start(1).await.expect("starts");
        assert!(target.supports(Capability::FaultControl));
        assert!(!target.supports(Capability::MultipleBrokers));
        assert_eq!(target.name(), "reference:1");
        // `__consumer_offsets` gets one replica, not Kafka's default 3: groups work.
        let mut connection = crate::raw_client::RawConnection::connect(&target.bootstrap())
            .await
            .expect("connects");
        let until = std::time::Instant::now() + crate::group_client::COORDINATOR_DEADLINE;
        let coordinator = crate::group_client::find_coordinator(&mut connection, "g-1", until)
            .await
            .expect("a coordinator");
        assert_eq!(coordinator, target.bootstrap());
        target.shutdown().await;
        assert!(ReferenceClusterTarget::start(0).await.is_err());
    }
}
