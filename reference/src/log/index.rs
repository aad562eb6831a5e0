//! A segment's sparse offset index and time index, kept in memory and written in Kafka's file
//! formats (`.index`, `.timeindex`).
//!
//! Kafka memory-maps preallocated files; here both indexes are small vectors that are written
//! out whole when a segment rolls or the log is flushed, and rebuilt from the `.log` when a log
//! is opened (simple and always consistent with the data). Lookups are binary searches, as in
//! Kafka's `AbstractIndex.largestLowerBoundSlotFor`.
//!
//! - Offset index entry: relative offset (u32) and byte position (u32) of a batch; the offset
//!   is the *last* offset of the batch at that position, as `LogSegment.append` and
//!   `LogSegment.recover` write it. An entry answers "start scanning here".
//! - Time index entry: a timestamp (i64) and the relative offset (u32) of the batch that first
//!   reached it; appended only when the segment's max timestamp grows.
//!
//! Both are full at `segment.index.bytes / entry size` entries; a full index rolls the segment.
//!
//! # References
//! - Apache Kafka sources: `AbstractIndex`, `OffsetIndex`, `TimeIndex`
//!   (`lookup`, `maybeAppend`, `isFull`, entry layouts)

/// Bytes of one offset index entry.
pub const OFFSET_INDEX_ENTRY_LEN: u64 = 8;
/// Bytes of one time index entry.
pub const TIME_INDEX_ENTRY_LEN: u64 = 12;

/// `RecordBatch.NO_TIMESTAMP`.
pub const NO_TIMESTAMP: i64 = -1;

/// Offset → position, sparse.
#[derive(Debug, Clone)]
pub struct OffsetIndex {
    base_offset: i64,
    max_entries: usize,
    /// (relative offset, position), both strictly increasing.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn new(base_offset: i64, max_index_bytes: u64) -> OffsetIndex {
        let max_entries =
            usize::try_from(max_index_bytes / OFFSET_INDEX_ENTRY_LEN).unwrap_or(usize::MAX);
        OffsetIndex {
            base_offset,
            max_entries,
            entries: Vec::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Adds an entry if there is room and `offset` is past the last entry (Kafka throws on
    /// the latter; the log never asks for it).
    pub fn append(&mut self, offset: i64, position: u32) {
        let Some(relative) = self.relative(offset) else {
            return;
        };
        let ordered = self
            .entries
            .last()
            .is_none_or(|&(last, last_pos)| relative > last && position > last_pos);
        if !self.is_full() && ordered {
            self.entries.push((relative, position));
        }
    }

    /// The entry with the largest offset <= `target`, or (base offset, 0).
    pub fn lookup(&self, target: i64) -> (i64, u32) {
        let Some(relative) = self.relative(target.max(self.base_offset)) else {
            return self
                .entries
                .last()
                .map_or((self.base_offset, 0), |&(r, p)| (self.absolute(r), p));
        };
        let slot = self.entries.partition_point(|&(r, _)| r <= relative);
        match slot {
            0 => (self.base_offset, 0),
            _ => {
                let (r, p) = self.entries[slot - 1];
                (self.absolute(r), p)
            }
        }
    }

    /// The file contents: big-endian (relative offset i32, position i32) pairs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_INDEX_ENTRY_LEN as usize);
        for &(relative, position) in &self.entries {
            out.extend_from_slice(&relative.to_be_bytes());
            out.extend_from_slice(&position.to_be_bytes());
        }
        out
    }

    fn relative(&self, offset: i64) -> Option<u32> {
        let delta = offset.checked_sub(self.base_offset)?;
        u32::try_from(delta).ok().filter(|&d| d <= i32::MAX as u32)
    }

    fn absolute(&self, relative: u32) -> i64 {
        self.base_offset + i64::from(relative)
    }
}

/// Timestamp → offset, sparse, timestamps strictly increasing.
#[derive(Debug, Clone)]
pub struct TimeIndex {
    base_offset: i64,
    max_entries: usize,
    /// (timestamp, relative offset).
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn new(base_offset: i64, max_index_bytes: u64) -> TimeIndex {
        let max_entries =
            usize::try_from(max_index_bytes / TIME_INDEX_ENTRY_LEN).unwrap_or(usize::MAX);
        TimeIndex {
            base_offset,
            max_entries,
            entries: Vec::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// The last entry, or (NO_TIMESTAMP, base offset) when empty (`TimeIndex.lastEntry`).
    pub fn last_entry(&self) -> (i64, i64) {
        self.entries
            .last()
            .map_or((NO_TIMESTAMP, self.base_offset), |&(ts, r)| {
                (ts, self.base_offset + i64::from(r))
            })
    }

    /// Appends when `timestamp` is larger than the last entry's (`TimeIndex.maybeAppend`); a
    /// segment becoming inactive appends its final entry even into a full index.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) {
        if !skip_full_check && self.is_full() {
            return;
        }
        let (last_timestamp, last_offset) = self.last_entry();
        let Some(relative) = offset
            .checked_sub(self.base_offset)
            .and_then(|d| u32::try_from(d).ok())
        else {
            return;
        };
        if timestamp > last_timestamp && offset >= last_offset {
            self.entries.push((timestamp, relative));
        }
    }

    /// The entry with the largest timestamp <= `target`, or (NO_TIMESTAMP, base offset).
    pub fn lookup(&self, target: i64) -> (i64, i64) {
        let slot = self.entries.partition_point(|&(ts, _)| ts <= target);
        match slot {
            0 => (NO_TIMESTAMP, self.base_offset),
            _ => {
                let (ts, r) = self.entries[slot - 1];
                (ts, self.base_offset + i64::from(r))
            }
        }
    }

    /// The file contents: big-endian (timestamp i64, relative offset i32) pairs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_INDEX_ENTRY_LEN as usize);
        for &(timestamp, relative) in &self.entries {
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(&relative.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_the_largest_lower_bound() {
        let mut index = OffsetIndex::new(100, 8 * 3);
        assert_eq!(index.lookup(150), (100, 0));
        index.append(104, 500);
        index.append(109, 1_000);
        index.append(109, 1_500); // not past the last entry: ignored
        assert_eq!(index.to_bytes().len(), 16);
        assert_eq!(index.lookup(99), (100, 0));
        assert_eq!(index.lookup(103), (100, 0));
        assert_eq!(index.lookup(104), (104, 500));
        assert_eq!(index.lookup(108), (104, 500));
        assert_eq!(index.lookup(10_000), (109, 1_000));
        index.append(120, 2_000);
        assert!(index.is_full());
        index.append(130, 2_500);
        assert_eq!(index.to_bytes().len(), 24);
        assert_eq!(index.to_bytes()[..8], [0, 0, 0, 4, 0, 0, 1, 244]);
    }

    #[test]
    fn time_index_appends_only_growing_timestamps() {
        let mut index = TimeIndex::new(10, 12 * 2);
        assert_eq!(index.last_entry(), (NO_TIMESTAMP, 10));
        index.maybe_append(1_000, 12, false);
        index.maybe_append(900, 14, false);
        index.maybe_append(1_000, 15, false);
        index.maybe_append(1_200, 20, false);
        assert!(index.is_full());
        index.maybe_append(1_300, 25, false);
        assert_eq!(index.last_entry(), (1_200, 20));
        index.maybe_append(1_300, 25, true);
        assert_eq!(index.last_entry(), (1_300, 25));
        assert_eq!(index.lookup(999), (NO_TIMESTAMP, 10));
        assert_eq!(index.lookup(1_000), (1_000, 12));
        assert_eq!(index.lookup(1_250), (1_200, 20));
        assert_eq!(index.to_bytes().len(), 36);
    }
}
