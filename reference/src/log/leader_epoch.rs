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
//! A cache opened with [`LeaderEpochCache::open`] is checkpointed like Kafka's: every change is
//! written at once to `leader-epoch-checkpoint` in the partition directory (a version line `0`,
//! a count line, then one `epoch start_offset` line per entry), through a temporary file and a
//! rename. A caller that opens it after a crash applies
//! [`LeaderEpochCache::truncate_from_end`] with the recovered log end offset, as Kafka's log
//! loading does. [`LeaderEpochCache::new`] is the in-memory cache.
//!
//! # References
//! - KIP-101 (leader epochs replace the high watermark for truncation), KIP-279 (follower and
//!   leader walk back epoch by epoch after fast leader changes)
//! - Apache Kafka sources: `LeaderEpochFileCache` (`assign`, `endOffsetFor`,
//!   `truncateFromEndAsyncFlush`, `truncateFromStartAsyncFlush`, `epochForOffset`),
//!   `LeaderEpochCheckpointFile`, `CheckpointFile`

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The checkpoint file's name in the partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

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
    /// The checkpoint file every change is written to; `None` in memory.
    file: Option<PathBuf>,
}

impl LeaderEpochCache {
    /// An in-memory cache.
    pub fn new() -> LeaderEpochCache {
        LeaderEpochCache::default()
    }

    /// The cache checkpointed in `dir` (a partition directory), read back if the file exists.
    /// An unreadable checkpoint is an error, as in Kafka.
    pub fn open(dir: &Path) -> io::Result<LeaderEpochCache> {
        let file = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let entries = match fs::read_to_string(&file) {
            Ok(text) => parse_checkpoint(&text).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed leader epoch checkpoint {}", file.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // As Kafka's LeaderEpochFileCache loads a checkpoint: every entry goes through the same
        // `assign` rule as at run time, so a checkpoint whose entries go backwards (a torn or
        // hand-edited file) keeps only a consistent, increasing prefix of what it says.
        let mut cache = LeaderEpochCache {
            entries: Vec::with_capacity(entries.len()),
            file: None,
        };
        for entry in &entries {
            cache.assign(entry.epoch, entry.start_offset);
        }
        if cache.entries.len() != entries.len() {
            tracing::warn!(
                file = %file.display(),
                read = entries.len(),
                kept = cache.entries.len(),
                "leader epoch checkpoint had entries out of order; kept the consistent ones"
            );
        }
        cache.file = Some(file);
        Ok(cache)
    }

    /// Writes the checkpoint, if this cache has one (temporary file, then rename).
    fn checkpoint(&self) {
        let Some(file) = &self.file else { return };
        let mut text = format!("0\n{}\n", self.entries.len());
        for entry in &self.entries {
            text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
        }
        let temporary = file.with_extension("tmp");
        let written = fs::write(&temporary, text).and_then(|()| fs::rename(&temporary, file));
        if let Err(error) = written {
            tracing::error!(file = %file.display(), %error, "cannot write the leader epoch checkpoint");
        }
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
        self.checkpoint();
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
        let before = self.entries.len();
        while self
            .entries
            .last()
            .is_some_and(|last| last.start_offset >= end_offset)
        {
            self.entries.pop();
        }
        if self.entries.len() != before {
            self.checkpoint();
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
        let first = EpochEntry {
            epoch,
            start_offset,
        };
        if removed == 1 && self.entries[0] == first {
            return;
        }
        self.entries.drain(..removed);
        self.entries.insert(0, first);
        self.checkpoint();
    }

    /// The epoch of the record at `offset`, if the cache knows one.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let slot = self.entries.partition_point(|e| e.start_offset <= offset);
        slot.checked_sub(1).map(|i| self.entries[i].epoch)
    }
}

/// The entries of a checkpoint file; `None` if it is not Kafka's version 0 format.
fn parse_checkpoint(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    // The count is the file's word: reserve no more than its bytes can hold (an entry is at
    // least "0 0\n"), so a corrupt count cannot turn into a huge allocation.
    let mut entries = Vec::with_capacity(count.min(text.len() / 4));
    for _ in 0..count {
        let mut fields = lines.next()?.split_whitespace();
        let epoch = fields.next()?.parse().ok()?;
        let start_offset = fields.next()?.parse().ok()?;
        entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    Some(entries)
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
    fn a_checkpoint_out_of_order_or_with_a_huge_count_loads_only_what_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        // Found by the log_recovery fuzzer: epoch 4 at 0, then epoch 3 at 1.
        fs::write(&file, "0\n2\n4 0\n3 1\n").unwrap();
        let cache = LeaderEpochCache::open(dir.path()).unwrap();
        assert_eq!(pairs(&cache), vec![(3, 1)]);
        // A count far beyond the file's bytes is malformed, not a huge reservation.
        fs::write(&file, "0\n18446744073709551615\n1 0\n").unwrap();
        assert!(LeaderEpochCache::open(dir.path()).is_err());
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

    #[test]
    fn the_checkpoint_file_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::open(dir.path()).unwrap();
        assert!(cache.entries().is_empty());
        assert!(cache.assign(1, 0));
        assert!(cache.assign(3, 20));
        assert!(cache.assign(6, 50));
        let file = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "0\n3\n1 0\n3 20\n6 50\n"
        );
        cache.truncate_from_end(50);
        cache.truncate_from_start(5);
        assert_eq!(fs::read_to_string(&file).unwrap(), "0\n2\n1 5\n3 20\n");
        let reopened = LeaderEpochCache::open(dir.path()).unwrap();
        assert_eq!(pairs(&reopened), [(1, 5), (3, 20)]);
        fs::write(&file, "0\n2\n1 5\n").unwrap();
        assert!(
            LeaderEpochCache::open(dir.path()).is_err(),
            "a short file is malformed"
        );
    }
}
