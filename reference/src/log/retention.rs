//! Retention: deleting whole old segments by log start offset, size and time.
//!
//! Kafka's `UnifiedLog.deleteOldSegments` runs three passes in this order: segments wholly
//! below the log start offset, then `retention.bytes`, then `retention.ms`. Each pass walks
//! from the oldest segment and stops at the first one it keeps (`deletableSegments`), never
//! takes a segment reaching past the high watermark, and never counts an empty active
//! segment. A non-empty active segment *can* be deleted: when every segment is to go,
//! `deleteSegments` first rolls a new empty active segment, so the log start offset moves to
//! the log end offset and the partition keeps one (empty) segment.
//!
//! - Size: with `size` the log's bytes, nothing happens unless `size >= retention.bytes`;
//!   then `diff = size - retention.bytes` and segments go while `diff - segment size >= 0`.
//! - Moving the log start offset (retention or DeleteRecords) forgets the ended and aborted
//!   transactions whose markers are below it (`onLogStartOffsetIncremented`, and the
//!   deleted segments' `.txnindex`).
//! - Time: a segment goes when `now - largestTimestamp > retention.ms`, where the largest
//!   timestamp falls back to the file's modification time for a segment without timestamps.
//!
//! # References
//! - Apache Kafka sources: `UnifiedLog.deleteOldSegments`, `deleteRetentionSizeBreachedSegments`,
//!   `deleteRetentionMsBreachedSegments`, `deleteLogStartOffsetBreachedSegments`,
//!   `deletableSegments`, `deleteSegments`, `maybeIncrementLogStartOffset`

use super::segment::Segment;
use super::{Log, LogError, recovery};

impl Log {
    /// Deletes whole segments that retention no longer keeps, in Kafka's passes: below the log
    /// start offset, then `retention.bytes`, then `retention.ms`. Returns how many segments
    /// were deleted. The active segment goes only when every segment does, and then a new
    /// empty active segment is rolled first (see the module doc).
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.apply_retention_below(now_ms, self.log_end_offset())
    }

    /// [`Log::apply_retention`] that keeps every segment reaching `high_watermark` or beyond.
    pub fn apply_retention_below(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, LogError> {
        let log_start_offset = self.log_start_offset;
        let below_start = self.deletable_segments(high_watermark, |_, next| {
            next.is_some_and(|next| next.base_offset() <= log_start_offset)
        });
        let mut deleted = self.delete_oldest(below_start, now_ms)?;
        deleted += self.delete_retention_size_breached(now_ms, high_watermark)?;
        deleted += self.delete_retention_ms_breached(now_ms, high_watermark)?;
        Ok(deleted)
    }

    /// Moves the log start offset forward (never back, never past the log end offset) and
    /// checkpoints it; segments wholly below it go at the next retention pass. This is what
    /// a DeleteRecords request does.
    pub fn increment_log_start_offset(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.min(self.log_end_offset());
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.producers.on_log_start_offset_incremented(offset);
            if let Some(dir) = &self.dir {
                recovery::write_log_start_offset(dir, offset)?;
            }
        }
        Ok(())
    }

    fn delete_retention_size_breached(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, LogError> {
        let retention_bytes = self.config.retention_bytes;
        let size = i64::try_from(self.size_bytes()).unwrap_or(i64::MAX);
        if retention_bytes < 0 || size < retention_bytes {
            return Ok(0);
        }
        let mut diff = size - retention_bytes;
        let count = self.deletable_segments(high_watermark, |segment, _| {
            let segment_size = i64::try_from(segment.size_bytes()).unwrap_or(i64::MAX);
            let delete = diff - segment_size >= 0;
            if delete {
                diff -= segment_size;
            }
            delete
        });
        self.delete_oldest(count, now_ms)
    }

    fn delete_retention_ms_breached(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, LogError> {
        let retention_ms = self.config.retention_ms;
        if retention_ms < 0 {
            return Ok(0);
        }
        let count = self.deletable_segments(high_watermark, |segment, _| {
            now_ms.saturating_sub(segment.largest_timestamp()) > retention_ms
        });
        self.delete_oldest(count, now_ms)
    }

    /// How many of the oldest segments `predicate` lets go (`UnifiedLog.deletableSegments`).
    fn deletable_segments(
        &self,
        high_watermark: i64,
        mut predicate: impl FnMut(&Segment, Option<&Segment>) -> bool,
    ) -> usize {
        let log_end_offset = self.log_end_offset();
        let mut count = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let next = self.segments.get(i + 1);
            let is_last_and_empty = next.is_none() && segment.is_empty();
            let upper_bound_offset = next.map_or(log_end_offset, Segment::base_offset);
            let deletable = high_watermark >= upper_bound_offset && predicate(segment, next);
            if !deletable || is_last_and_empty {
                break;
            }
            count += 1;
        }
        count
    }

    /// Deletes the `count` oldest segments, rolling first when that is all of them, and moves
    /// the log start offset to the first segment left (`UnifiedLog.deleteSegments`).
    fn delete_oldest(&mut self, count: usize, now_ms: i64) -> Result<usize, LogError> {
        if count == 0 {
            return Ok(0);
        }
        if count == self.segments.len() {
            self.roll(now_ms)?;
        }
        assert!(
            count < self.segments.len(),
            "retention would delete every segment"
        );
        let new_start_offset = self.segments[count].base_offset();
        self.increment_log_start_offset(new_start_offset)?;
        for segment in self.segments.drain(..count) {
            segment.delete()?;
        }
        Ok(count)
    }
}
