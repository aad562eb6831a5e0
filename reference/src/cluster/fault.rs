//! Faults a test injects into a [`Cluster`](super::Cluster): a network partition between
//! brokers, and a frozen process.
//!
//! Each broker has a [`Fault`] in a `watch` channel that every task of every broker can see,
//! so a fault takes effect at once and is undone at once, with no sleeps:
//!
//! - *Isolated*: the broker is cut off from the other brokers and from the controller, but
//!   not from clients. Its fetchers fail and the other brokers' fetchers to it fail (both ends
//!   check the link), its registrations, heartbeats, metadata fetches and AlterPartition
//!   requests are lost, so the controller fences it after `broker.session.timeout.ms` and it
//!   keeps acting on its last metadata until the partition heals.
//! - *Paused*: the process is frozen, as by SIGSTOP. Connections stay open but nothing is
//!   answered (a request read while paused is answered after resuming), no heartbeat, no
//!   fetch, no timer runs.
//!
//! # References
//! - Jepsen-style faults: network partitions (`iptables` between brokers) and process pauses
//!   (`SIGSTOP`/`SIGCONT`)

use std::collections::BTreeMap;

use tokio::sync::watch;

/// The faults injected into one broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fault {
    /// Cut off from the other brokers and the controller.
    pub isolated: bool,
    /// Frozen: answers nothing, runs nothing.
    pub paused: bool,
}

/// The faults of every broker of a cluster (a fixed set of broker ids).
pub struct Faults(BTreeMap<i32, watch::Sender<Fault>>);

impl Faults {
    pub fn new(broker_ids: impl IntoIterator<Item = i32>) -> Faults {
        Faults(
            broker_ids
                .into_iter()
                .map(|id| (id, watch::channel(Fault::default()).0))
                .collect(),
        )
    }

    /// The faults of `broker_id` now (none for an unknown broker).
    pub fn get(&self, broker_id: i32) -> Fault {
        self.0
            .get(&broker_id)
            .map(|tx| *tx.borrow())
            .unwrap_or_default()
    }

    /// Changes the faults of `broker_id`; returns whether it was a known broker.
    pub fn update(&self, broker_id: i32, change: impl FnOnce(&mut Fault)) -> bool {
        let Some(tx) = self.0.get(&broker_id) else {
            return false;
        };
        tx.send_if_modified(|fault| {
            let before = *fault;
            change(fault);
            *fault != before
        });
        true
    }

    /// Undoes every isolation.
    pub fn heal(&self) {
        for id in self.0.keys() {
            self.update(*id, |f| f.isolated = false);
        }
    }

    /// Whether brokers `a` and `b` can talk (neither is isolated).
    pub fn linked(&self, a: i32, b: i32) -> bool {
        !self.get(a).isolated && !self.get(b).isolated
    }

    /// Whether `broker_id` can reach the controller.
    pub fn reaches_controller(&self, broker_id: i32) -> bool {
        !self.get(broker_id).isolated
    }

    /// Waits until `broker_id` is not paused.
    pub async fn wait_unpaused(&self, broker_id: i32) {
        let Some(tx) = self.0.get(&broker_id) else {
            return;
        };
        let mut rx = tx.subscribe();
        let _ = rx.wait_for(|f| !f.paused).await;
    }

    /// A receiver of `broker_id`'s faults (`None` for an unknown broker).
    pub fn subscribe(&self, broker_id: i32) -> Option<watch::Receiver<Fault>> {
        self.0.get(&broker_id).map(watch::Sender::subscribe)
    }

    /// Resolves once `a` and `b` can no longer talk.
    pub async fn link_lost(&self, a: i32, b: i32) {
        loop {
            if !self.linked(a, b) {
                return;
            }
            let mut receivers: Vec<watch::Receiver<Fault>> = [a, b]
                .iter()
                .filter_map(|id| self.0.get(id).map(watch::Sender::subscribe))
                .collect();
            if receivers.is_empty() {
                return std::future::pending().await;
            }
            if !self.linked(a, b) {
                return;
            }
            let waits = receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
            let _ = futures_select_all(waits).await;
        }
    }
}

/// The first of `futures` to complete (no `futures` crate needed: polls them in turn).
async fn futures_select_all<F: std::future::Future + Unpin>(
    futures: impl IntoIterator<Item = F>,
) -> F::Output {
    let mut futures: Vec<F> = futures.into_iter().collect();
    std::future::poll_fn(move |cx| {
        for future in &mut futures {
            if let std::task::Poll::Ready(output) = std::pin::Pin::new(future).poll(cx) {
                return std::task::Poll::Ready(output);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn links_follow_isolation_and_heal() {
        let faults = Faults::new([1, 2, 3]);
        assert!(faults.linked(1, 2));
        assert!(faults.update(2, |f| f.isolated = true));
        assert!(!faults.update(9, |f| f.isolated = true), "unknown broker");
        assert!(!faults.linked(1, 2) && !faults.linked(2, 3) && faults.linked(1, 3));
        assert!(!faults.reaches_controller(2));
        // Already lost: returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), faults.link_lost(1, 2))
            .await
            .expect("link already lost");
        faults.heal();
        assert!(faults.linked(1, 2));
    }

    #[tokio::test]
    async fn waiting_for_a_pause_to_end() {
        let faults = std::sync::Arc::new(Faults::new([1]));
        faults.update(1, |f| f.paused = true);
        let waiter = tokio::spawn({
            let faults = faults.clone();
            async move { faults.wait_unpaused(1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "still paused");
        faults.update(1, |f| f.paused = false);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("resumed")
            .unwrap();
    }
}
