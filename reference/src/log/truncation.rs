//! What replication needs from the log beyond appends and reads: cutting it back, and appending
//! a leader's batches unchanged.
//!
//! A follower truncates when its log diverges from a new leader's (see
//! [`super::LeaderEpochCache`]) and after an unclean shutdown; it appends what it fetched with
//! the offsets, timestamps and leader epochs the leader gave each batch, so every replica holds
//! the same bytes. Both follow `UnifiedLog`:
//!
//! - `truncate_to(target)` does nothing at or past the log end offset. Below the first
//!   segment's base offset the whole log is replaced by one empty segment starting at the
//!   target (`truncateFullyAndStartAt`). Otherwise segments starting after the target are
//!   deleted and the one holding it is cut before the batch holding the target
//!   (`LocalLog.truncateTo`, `LogSegment.truncateTo`). Whole batches only: a target inside a
//!   batch leaves the log end offset at that batch's base offset.
//! - `append_as_follower` checks each batch's CRC and that the batches continue the log end
//!   offset without gaps (`UnexpectedAppendOffsetException` otherwise), then stores them with
//!   the same roll rules as a leader append, but never assigns offsets or stamps times.
//!
//! # References
//! - Apache Kafka sources: `UnifiedLog.truncateTo`, `UnifiedLog.truncateFullyAndStartAt`,
//!   `UnifiedLog.appendAsFollower`, `LocalLog.truncateTo`, `LogSegment.truncateTo`

use super::segment::Segment;
use super::storage::SegmentStore;
use super::{AppendInfo, Log, LogError, recovery};
use crate::record_batch;

/// Why a follower append was refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowerAppendError {
    /// The batches do not start at the log end offset or are not contiguous
    /// (`UnexpectedAppendOffsetException`): the follower must truncate or refetch.
    #[error("unexpected append offset {first_offset}, the log end offset is {log_end_offset}")]
    UnexpectedOffset {
        first_offset: i64,
        log_end_offset: i64,
    },
    /// A batch failed its CRC or framing (`CorruptRecordException`).
    #[error("corrupt record batch at byte {position} of a follower append")]
    Corrupt { position: usize },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Log {
    /// Cuts the log back to `target_offset` (see the module docs). Returns whether anything
    /// was removed. A negative target is ignored.
    pub fn truncate_to(&mut self, target_offset: i64, now_ms: i64) -> Result<bool, LogError> {
        if target_offset < 0 || target_offset >= self.log_end_offset() {
            return Ok(false);
        }
        if target_offset < self.segments[0].base_offset() {
            self.truncate_fully_and_start_at(target_offset, now_ms)?;
            return Ok(true);
        }
        while self.segments.len() > 1
            && self
                .segments
                .last()
                .is_some_and(|s| s.base_offset() > target_offset)
        {
            if let Some(segment) = self.segments.pop() {
                segment.delete()?;
            }
        }
        let config = self.config.clone();
        self.active_mut().truncate_to(target_offset, &config)?;
        if target_offset < self.log_start_offset {
            self.set_log_start_offset(target_offset)?;
        }
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        if self.producers.has_batch_from(target_offset) {
            self.rebuild_producers();
        }
        Ok(true)
    }

    /// Deletes every segment and starts an empty log at `new_offset`, which becomes the log
    /// start offset (`UnifiedLog.truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(
        &mut self,
        new_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let new_offset = new_offset.max(0);
        for segment in self.segments.drain(..) {
            segment.delete()?;
        }
        let store = match &self.dir {
            Some(dir) => SegmentStore::create_file(dir, new_offset, &self.files)?,
            None => SegmentStore::Memory(Vec::new()),
        };
        self.segments
            .push(Segment::new(store, new_offset, &self.config, now_ms));
        self.recovery_point = new_offset;
        self.producers = super::ProducerStates::new();
        self.set_log_start_offset(new_offset)
    }

    /// Appends batches fetched from the leader exactly as they are (see the module docs).
    pub fn append_as_follower(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, FollowerAppendError> {
        let (headers, valid_len) = record_batch::scan_valid_prefix(records);
        if valid_len != records.len() {
            return Err(FollowerAppendError::Corrupt {
                position: valid_len,
            });
        }
        let mut expected = self.log_end_offset();
        for header in &headers {
            if header.base_offset != expected || header.last_offset_delta < 0 {
                return Err(FollowerAppendError::UnexpectedOffset {
                    first_offset: header.base_offset,
                    log_end_offset: self.log_end_offset(),
                });
            }
            expected = header.next_offset();
        }
        Ok(self.append_batches(records, &headers, now_ms)?)
    }

    fn set_log_start_offset(&mut self, offset: i64) -> Result<(), LogError> {
        self.log_start_offset = offset;
        if let Some(dir) = &self.dir {
            recovery::write_log_start_offset(dir, offset)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::record_batch::{NewRecord, encode_producer_batch};
    use kafka_protocol::records::Compression;

    use super::*;
    use crate::log::LogConfig;
    use crate::record_batch::BatchHeader;

    fn batch(count: usize, timestamp: i64) -> Vec<u8> {
        let records: Vec<NewRecord> = (0..count)
            .map(|i| NewRecord {
                key: None,
                value: Some(format!("payment-{timestamp}-{i}").into_bytes().into()),
                timestamp: timestamp + i as i64,
            })
            .collect();
        encode_producer_batch(&records, Compression::None)
            .expect("encode")
            .to_vec()
    }

    fn small_segments() -> LogConfig {
        LogConfig {
            segment_bytes: 300,
            retention_ms: -1,
            index_interval_bytes: 1,
            ..LogConfig::default()
        }
    }

    fn logs() -> Vec<(Log, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let file = Log::open(&dir.path().join("orders-0"), small_segments(), 0).unwrap();
        vec![
            (file, Some(dir)),
            (Log::in_memory(small_segments(), 0), None),
        ]
    }

    fn bases(bytes: &[u8]) -> Vec<i64> {
        let (headers, _) = record_batch::scan_valid_prefix(bytes);
        headers
            .iter()
            .map(|h: &BatchHeader| h.base_offset)
            .collect()
    }

    #[test]
    fn truncate_to_cuts_whole_batches_across_segments() {
        for (mut log, _dir) in logs() {
            for i in 0..10 {
                log.append(&mut batch(3, 1_000 + i), 1_000 + i).unwrap();
            }
            assert_eq!(log.log_end_offset(), 30);
            assert!(log.segment_count() > 2, "{:?}", log.segment_base_offsets());
            assert!(!log.truncate_to(30, 2_000).unwrap());
            // Inside the batch 12..=14: the whole batch goes.
            assert!(log.truncate_to(13, 2_000).unwrap());
            assert_eq!(log.log_end_offset(), 12);
            assert!(log.segment_base_offsets().iter().all(|&b| b <= 12));
            let all = log.read(0, usize::MAX, true).unwrap();
            let mut seen = Vec::new();
            let mut offset = 0;
            while offset < log.log_end_offset() {
                let bytes = log.read(offset, usize::MAX, true).unwrap();
                seen.extend(bases(&bytes));
                offset = *seen.last().unwrap() + 3;
            }
            assert_eq!(seen, [0, 3, 6, 9]);
            assert!(!all.is_empty());
            // Appends continue at the new end, and indexes still find every batch.
            let info = log.append(&mut batch(2, 3_000), 3_000).unwrap();
            assert_eq!((info.base_offset, info.last_offset), (12, 13));
            assert_eq!(bases(&log.read(7, 1, true).unwrap()), [6]);
            assert_eq!(log.offset_for_timestamp(3_000).unwrap().offset, 12);
        }
    }

    #[test]
    fn truncate_below_the_first_segment_starts_over() {
        for (mut log, _dir) in logs() {
            for i in 0..4 {
                log.append(&mut batch(3, i), i).unwrap();
            }
            log.increment_log_start_offset(6).unwrap();
            log.apply_retention(10).unwrap();
            assert_eq!(log.segment_base_offsets()[0], 6);
            assert!(log.truncate_to(2, 10).unwrap());
            assert_eq!(log.log_start_offset(), 2);
            assert_eq!(log.log_end_offset(), 2);
            assert_eq!(log.segment_base_offsets(), [2]);
        }
    }

    #[test]
    fn follower_append_keeps_the_leaders_offsets_and_bytes() {
        let mut leader = Log::in_memory(LogConfig::default(), 0);
        let mut first = batch(2, 5);
        crate::record_batch::set_partition_leader_epoch(&mut first, 7);
        leader.append(&mut first, 1).unwrap();
        leader.append(&mut batch(3, 9), 2).unwrap();
        let fetched = leader.read(0, usize::MAX, true).unwrap();
        for (mut follower, _dir) in logs() {
            let info = follower.append_as_follower(&fetched, 50).unwrap();
            assert_eq!((info.base_offset, info.last_offset), (0, 4));
            assert_eq!(follower.read(0, usize::MAX, true).unwrap(), fetched);
            // Again: not at the log end offset.
            assert!(matches!(
                follower.append_as_follower(&fetched, 51),
                Err(FollowerAppendError::UnexpectedOffset {
                    first_offset: 0,
                    log_end_offset: 5
                })
            ));
            let mut corrupt = fetched.to_vec();
            let last = corrupt.len() - 1;
            corrupt[last] ^= 0xff;
            follower.truncate_to(0, 52).unwrap();
            assert!(matches!(
                follower.append_as_follower(&corrupt, 52),
                Err(FollowerAppendError::Corrupt { .. })
            ));
            assert_eq!(follower.log_end_offset(), 0);
        }
    }
}
