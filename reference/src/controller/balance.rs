//! Automatic preferred leader balancing (`auto.leader.rebalance.enable`,
//! `leader.imbalance.check.interval.seconds`): when the controller runs
//! [`Controller::balance_partition_leaders`], with an explicit clock like the rest of the
//! controller.
//!
//! # References
//! - Apache Kafka sources: `QuorumController.maybeScheduleNextBalancePartitionLeaders`,
//!   `ReplicationControlManager.maybeBalancePartitionLeaders`, `ControllerServer` (the
//!   interval is unset when `auto.leader.rebalance.enable=false`)

use super::quorum::Controller;
use super::topics::MAX_ELECTIONS_PER_IMBALANCE;

/// When the controller moves leadership back to preferred replicas: Kafka's
/// `QuorumController.maybeScheduleNextBalancePartitionLeaders`.
///
/// After every write, if no balancing is scheduled and some partition is not led by its
/// preferred replica, Kafka schedules one `leader.imbalance.check.interval.seconds` later
/// (10 ms later if the previous one stopped at `MAX_ELECTIONS_PER_IMBALANCE`). The run elects
/// the preferred replica of every imbalanced partition where it is in the ISR and unfenced;
/// a partition whose preferred replica is still away stays imbalanced, so the next check is
/// one interval after that run. Kafka 4 balances whenever one partition is imbalanced:
/// `leader.imbalance.per.broker.percentage` is read only by the ZooKeeper-era controller
/// (`KafkaController.checkAndTriggerAutoLeaderRebalance`), so it is not a config here.
/// Here the cluster's controller task calls [`LeaderBalancing::run`] every few tens of
/// milliseconds instead of after each write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderBalancing {
    /// `None`: `auto.leader.rebalance.enable=false`.
    interval_ms: Option<u64>,
    /// When the scheduled run is due; `None` while none is scheduled.
    due_ms: Option<u64>,
    /// The last run stopped at the maximum: the next one follows at once.
    immediately: bool,
}

/// Kafka's delay for a balancing rescheduled "immediately".
pub const BALANCE_AGAIN_MS: u64 = 10;

impl LeaderBalancing {
    /// `interval_ms`: `leader.imbalance.check.interval.seconds` in milliseconds, `None` when
    /// `auto.leader.rebalance.enable=false` (then [`LeaderBalancing::run`] never runs one).
    pub fn new(interval_ms: Option<u64>) -> LeaderBalancing {
        LeaderBalancing {
            interval_ms,
            due_ms: None,
            immediately: false,
        }
    }

    /// Runs a due balancing, then schedules the next one if leaders are imbalanced. Returns
    /// how many partitions a run moved, if one ran.
    pub fn run(&mut self, controller: &mut Controller, now_ms: u64) -> Option<usize> {
        let interval_ms = self.interval_ms?;
        let mut moved = None;
        if self.due_ms.is_some_and(|due| now_ms >= due) {
            let count = controller.balance_partition_leaders();
            self.due_ms = None;
            self.immediately = count >= MAX_ELECTIONS_PER_IMBALANCE;
            moved = Some(count);
        }
        if self.due_ms.is_none() && controller.are_partition_leaders_imbalanced() {
            let delay = if self.immediately {
                BALANCE_AGAIN_MS
            } else {
                interval_ms
            };
            self.due_ms = Some(now_ms.saturating_add(delay));
        }
        moved
    }
}
