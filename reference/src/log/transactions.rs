//! The transactions of one partition log: which are open, which have ended but whose marker
//! is not yet replicated, and which were aborted. They decide the last stable offset (LSO)
//! and what a `read_committed` consumer must drop.
//!
//! Kafka's `ProducerStateManager` keeps the first two (`ongoingTxns`, `unreplicatedTxns`,
//! both by first offset) and each segment's `.txnindex` the third. Here all three live in
//! memory and are rebuilt with the producer state by the scan of the log on open and after a
//! truncation ([`super::producer_state`]), so there is no index file; the answers are the
//! same:
//!
//! - A transaction begins at its producer's first transactional data batch and ends at its
//!   marker (`ProducerAppendInfo.appendDataBatch` / `appendEndTxnMarker`). A marker of a
//!   producer with no open transaction ends nothing.
//! - The first unstable offset is the smallest first offset of an open transaction or of an
//!   ended one whose marker is not yet below the high watermark
//!   (`ProducerStateManager.firstUnstableOffset`); the high watermark moving past a marker
//!   forgets that transaction (`onHighWatermarkUpdated`). The LSO is the smaller of it
//!   (never below the log start offset) and the high watermark
//!   (`UnifiedLog.updateFirstUnstableOffset`, `lastStableOffset`).
//! - An aborted transaction is kept with its producer, first offset, marker offset and the
//!   LSO its abort left (`ProducerStateManager.lastStableOffset(CompletedTxn)`: the first
//!   offset of the oldest transaction still open of another producer, or the offset after
//!   the marker). A fetch asks for those that overlap the range it returns
//!   (`TransactionIndex.collectAbortedTxns`): marker at or after the fetch offset, first
//!   offset before the upper bound; the walk stops at the first whose LSO reaches the upper
//!   bound, since every later abort then starts beyond it.
//! - Retention forgets aborted transactions whose marker was in a deleted segment (Kafka
//!   deletes the segment's `.txnindex`) and ended transactions below the new log start
//!   offset (`onLogStartOffsetIncremented`).
//!
//! # References
//! - KIP-98 (transactions, the LSO, aborted transaction index)
//! - Apache Kafka sources: `ProducerStateManager` (`firstUnstableOffset`, `completeTxn`,
//!   `lastStableOffset`, `onHighWatermarkUpdated`, `onLogStartOffsetIncremented`),
//!   `TransactionIndex.collectAbortedTxns`, `AbortedTxn`, `CompletedTxn`,
//!   `UnifiedLog.collectAbortedTransactions`

use std::collections::BTreeMap;

/// An aborted transaction as a Fetch response carries it (`FetchResponse.AbortedTransaction`):
/// a `read_committed` consumer drops this producer's records from `first_offset` up to its
/// abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// A transaction that ended with its marker at `last_offset` (`CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub aborted: bool,
}

/// One entry of Kafka's `.txnindex` (`AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AbortedRange {
    producer_id: i64,
    first_offset: i64,
    /// The offset of the abort marker.
    last_offset: i64,
    /// The LSO right after the abort was appended.
    last_stable_offset: i64,
}

/// The transactions of one log. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transactions {
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Ended, marker not yet below the high watermark: first offset -> (producer id, marker).
    unreplicated: BTreeMap<i64, (i64, i64)>,
    /// Aborted transactions in marker order.
    aborted: Vec<AbortedRange>,
}

impl Transactions {
    /// A transaction of `producer_id` begins at `first_offset`.
    pub(super) fn begin(&mut self, producer_id: i64, first_offset: i64) {
        self.ongoing.insert(first_offset, producer_id);
    }

    /// `ProducerStateManager.completeTxn`, after noting an abort in the index.
    pub(super) fn complete(&mut self, txn: CompletedTxn) {
        if txn.aborted {
            let last_stable_offset = self
                .ongoing
                .iter()
                .find(|&(_, &producer_id)| producer_id != txn.producer_id)
                .map_or(txn.last_offset + 1, |(&first_offset, _)| first_offset);
            self.aborted.push(AbortedRange {
                producer_id: txn.producer_id,
                first_offset: txn.first_offset,
                last_offset: txn.last_offset,
                last_stable_offset,
            });
        }
        self.ongoing.remove(&txn.first_offset);
        self.unreplicated
            .insert(txn.first_offset, (txn.producer_id, txn.last_offset));
    }

    /// The first offset of the oldest open transaction, if any.
    pub fn first_ongoing_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The smallest first offset of a transaction open or ended above the high watermark.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let unreplicated = self.unreplicated.keys().next().copied();
        match (unreplicated, self.first_ongoing_offset()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Open transactions, oldest first: (first offset, producer id).
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing
            .iter()
            .map(|(&first, &producer)| (first, producer))
    }

    /// The high watermark moved to `high_watermark`: transactions whose marker is below it
    /// are stable.
    pub(super) fn on_high_watermark_updated(&mut self, high_watermark: i64) {
        self.unreplicated
            .retain(|_, &mut (_, last_offset)| last_offset >= high_watermark);
    }

    /// Retention moved the log start offset to `log_start_offset`, deleting the segments
    /// below it.
    pub(super) fn on_log_start_offset_incremented(&mut self, log_start_offset: i64) {
        self.unreplicated
            .retain(|_, &mut (_, last_offset)| last_offset >= log_start_offset);
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }

    /// The aborted transactions overlapping `[fetch_offset, upper_bound_offset)`
    /// (`UnifiedLog.collectAbortedTransactions`), in marker order.
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let start = self
            .aborted
            .partition_point(|a| a.last_offset < fetch_offset);
        let mut found = Vec::new();
        for aborted in &self.aborted[start..] {
            if aborted.first_offset < upper_bound_offset {
                found.push(AbortedTxn {
                    producer_id: aborted.producer_id,
                    first_offset: aborted.first_offset,
                });
            }
            if aborted.last_stable_offset >= upper_bound_offset {
                break;
            }
        }
        found
    }

    /// Whether a transaction opens at or ends at `offset` or beyond (a truncation there
    /// changes them).
    pub(super) fn has_offset_from(&self, offset: i64) -> bool {
        self.ongoing.range(offset..).next().is_some()
            || self.unreplicated.values().any(|&(_, last)| last >= offset)
            || self.aborted.last().is_some_and(|a| a.last_offset >= offset)
    }

    /// How many aborted transactions are remembered.
    pub fn aborted_len(&self) -> usize {
        self.aborted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(producer_id: i64, first_offset: i64, last_offset: i64) -> CompletedTxn {
        CompletedTxn {
            producer_id,
            first_offset,
            last_offset,
            aborted: true,
        }
    }

    #[test]
    fn the_first_unstable_offset_waits_for_open_and_unreplicated_transactions() {
        let mut txns = Transactions::default();
        assert_eq!(txns.first_unstable_offset(), None);
        txns.begin(1, 10);
        txns.begin(2, 12);
        assert_eq!(txns.first_unstable_offset(), Some(10));
        txns.complete(CompletedTxn {
            aborted: false,
            ..completed(1, 10, 15)
        });
        // Ended, but its marker is not replicated yet.
        assert_eq!(txns.first_unstable_offset(), Some(10));
        txns.on_high_watermark_updated(15);
        assert_eq!(txns.first_unstable_offset(), Some(10));
        txns.on_high_watermark_updated(16);
        assert_eq!(txns.first_unstable_offset(), Some(12));
        assert_eq!(txns.aborted_len(), 0, "a commit is not an abort");
    }

    #[test]
    fn aborted_transactions_overlapping_a_fetch_are_found() {
        let mut txns = Transactions::default();
        txns.begin(1, 0);
        txns.complete(completed(1, 0, 4)); // lso 5
        txns.begin(2, 10);
        txns.begin(3, 11);
        txns.complete(completed(2, 10, 20)); // producer 3 still open: lso 11
        txns.complete(completed(3, 11, 21)); // lso 22
        let pids = |txns: &Transactions, fetch, upper| -> Vec<i64> {
            txns.aborted_transactions(fetch, upper)
                .iter()
                .map(|a| a.producer_id)
                .collect()
        };
        assert_eq!(pids(&txns, 0, 5), [1]);
        assert_eq!(pids(&txns, 5, 10), Vec::<i64>::new());
        assert_eq!(pids(&txns, 5, 11), [2]);
        assert_eq!(pids(&txns, 0, 100), [1, 2, 3]);
        assert_eq!(pids(&txns, 21, 22), [3]);
        assert_eq!(pids(&txns, 22, 30), Vec::<i64>::new());
        txns.on_log_start_offset_incremented(20);
        assert_eq!(pids(&txns, 0, 100), [2, 3]);
    }
}
