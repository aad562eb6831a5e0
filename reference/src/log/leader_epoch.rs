//! The leader epoch cache: which leader epoch started at which offset of a partition's log.
//!
//! Every batch a leader appends carries its leader epoch (`partitionLeaderEpoch`), and every
//! replica notes the first offset of each epoch it sees. With that history a follower that
//! comes back after a leader change can ask the new leader "where does my last epoch end on
//! your log?" (OffsetForLeaderEpoch) and cut its own log exactly where the two diverge. Cutting
//! to the high watermark instead (Kafka before KIP-101) could lose acknowledged records or
//! leave replicas that disagree below the high watermark; KIP-101 and KIP-279 fixed both.
//!
//! The rules follow Kafka's `LeaderEpochFileCache` exactly, because they decide where a
//! follower truncates:
//!
//! - [`LeaderEpochCache::assign`] ignores an entry for the latest epoch at the same or a later
//!   start offset, and otherwise first removes, from the end, every entry whose epoch or start
//!   offset is not below the new one's (epochs and start offsets both stay increasing).
//! - [`LeaderEpochCache::end_offset_for`] answers OffsetForLeaderEpoch: the log end offset for
//!   the latest epoch; otherwise the start offset of the first later epoch, paired with the
//!   largest epoch at or below the requested one (or the requested epoch itself when every
//!   known epoch is later); `(-1, -1)` for an undefined or unknown epoch.
//! - Truncating the log from the end drops entries starting at or after the new end; deleting
//!   from the start keeps the last entry at or before the new start, moved to it.
//!
//! Kafka checkpoints the cache to `leader-epoch-checkpoint` (synchronously on `assign`); this
//! struct is the in-memory part. A caller that keeps it across a crash applies
//! [`LeaderEpochCache::truncate_from_end`] with the recovered log end offset, as Kafka's log
//! loading does.
//!
//! # References
//! - KIP-101 (leader epochs replace the high watermark for truncation), KIP-279 (follower and
//!   leader walk back epoch by epoch after fast leader changes)
//! - Apache Kafka sources: `LeaderEpochFileCache` (`assign`, `endOffsetFor`,
//!   `truncateFromEndAsyncFlush`, `truncateFromStartAsyncFlush`, `epochForOffset`)

/// `RecordBatch.NO_PARTITION_LEADER_EPOCH` / `EpochEndOffset` "no epoch".
pub const UNDEFINED_EPOCH: i32 = -1;
/// `EpochEndOffset` "no offset".
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// A partition's leader epoch history; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// Epochs and start offsets both strictly increasing.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn new() -> LeaderEpochCache {
        LeaderEpochCache::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Notes that `epoch` starts at `start_offset`. Negative values are ignored (Kafka throws).
    /// Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self
            .entries
            .last()
            .is_none_or(|last| epoch != last.epoch || start_offset < last.start_offset);
        if !needed {
            return false;
        }
        while self
            .entries
            .last()
            .is_some_and(|last| last.epoch >= epoch || last.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// The OffsetForLeaderEpoch answer for `requested_epoch` on a log ending at
    /// `log_end_offset`: `(epoch, end offset)`, see the module docs.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        const UNDEFINED: (i32, i64) = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested_epoch == UNDEFINED_EPOCH {
            return UNDEFINED;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested_epoch);
        let Some(higher_entry) = self.entries.get(higher) else {
            return UNDEFINED;
        };
        match higher.checked_sub(1).map(|floor| self.entries[floor]) {
            None => (requested_epoch, higher_entry.start_offset),
            Some(floor_entry) => (floor_entry.epoch, higher_entry.start_offset),
        }
    }

    /// Drops entries starting at or after `end_offset` (the log was cut there).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        if end_offset < 0 {
            return;
        }
        while self
            .entries
            .last()
            .is_some_and(|last| last.start_offset >= end_offset)
        {
            self.entries.pop();
        }
    }

    /// The log now starts at `start_offset`: entries at or before it collapse into the last
    /// of them, moved to `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let removed = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        if removed == 0 {
            return;
        }
        let epoch = self.entries[removed - 1].epoch;
        self.entries.drain(..removed);
        self.entries.insert(
            0,
            EpochEntry {
                epoch,
                start_offset,
            },
        );
    }

    /// The epoch of the record at `offset`, if the cache knows one.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let slot = self.entries.partition_point(|e| e.start_offset <= offset);
        slot.checked_sub(1).map(|i| self.entries[i].epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::new();
        for &(epoch, offset) in entries {
            assert!(cache.assign(epoch, offset));
        }
        cache
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_ignores_the_same_epoch_at_a_later_offset() {
        let mut cache = cache(&[(2, 10)]);
        assert!(!cache.assign(2, 10));
        assert!(!cache.assign(2, 15));
        assert!(!cache.assign(-1, 20));
        assert_eq!(pairs(&cache), [(2, 10)]);
    }

    #[test]
    fn assign_removes_entries_that_would_break_monotonicity() {
        let mut cache = cache(&[(2, 10), (3, 20), (4, 30)]);
        // An older epoch at a later offset removes the later epochs.
        assert!(cache.assign(3, 25));
        assert_eq!(pairs(&cache), [(2, 10), (3, 25)]);
        // The same epoch at an earlier offset replaces it.
        assert!(cache.assign(3, 15));
        assert_eq!(pairs(&cache), [(2, 10), (3, 15)]);
        // A newer epoch at an earlier offset removes everything not below it.
        assert!(cache.assign(5, 10));
        assert_eq!(pairs(&cache), [(5, 10)]);
    }

    #[test]
    fn end_offset_for_follows_leader_epoch_file_cache() {
        let cache = cache(&[(1, 0), (3, 20), (6, 50)]);
        // The latest epoch ends at the log end offset.
        assert_eq!(cache.end_offset_for(6, 73), (6, 73));
        // A known epoch ends where the next one starts.
        assert_eq!(cache.end_offset_for(1, 73), (1, 20));
        assert_eq!(cache.end_offset_for(3, 73), (3, 50));
        // An unknown epoch between two: the largest epoch below it, and the next start.
        assert_eq!(cache.end_offset_for(2, 73), (1, 20));
        assert_eq!(cache.end_offset_for(5, 73), (3, 50));
        // An epoch below every known one: itself, and the first start offset.
        assert_eq!(cache.end_offset_for(0, 73), (0, 0));
        // Undefined, or newer than any known epoch.
        assert_eq!(cache.end_offset_for(UNDEFINED_EPOCH, 73), (-1, -1));
        assert_eq!(cache.end_offset_for(7, 73), (-1, -1));
        assert_eq!(LeaderEpochCache::new().end_offset_for(0, 5), (-1, -1));
    }

    #[test]
    fn truncation_from_either_end() {
        let mut cache = cache(&[(1, 0), (3, 20), (6, 50)]);
        cache.truncate_from_end(51);
        assert_eq!(pairs(&cache), [(1, 0), (3, 20), (6, 50)]);
        cache.truncate_from_end(50);
        assert_eq!(pairs(&cache), [(1, 0), (3, 20)]);
        cache.truncate_from_end(-1);
        assert_eq!(pairs(&cache), [(1, 0), (3, 20)]);
        let mut cache = self::cache(&[(1, 0), (3, 20), (6, 50)]);
        cache.truncate_from_start(25);
        assert_eq!(pairs(&cache), [(3, 25), (6, 50)]);
        cache.truncate_from_start(10);
        assert_eq!(pairs(&cache), [(3, 25), (6, 50)]);
        assert_eq!(cache.epoch_for_offset(24), None);
        assert_eq!(cache.epoch_for_offset(49), Some(3));
        assert_eq!(cache.epoch_for_offset(50), Some(6));
    }
}
