//! The partition log: an ordered, append-only sequence of record batches, kept in segments.
//!
//! The log stores batches exactly as the producer sent them (see [`crate::record_batch`]):
//! an append stamps base offsets (and `LogAppendTime` where configured) in place and writes
//! the bytes; a read copies whole batches back out. It is synchronous and takes the time as an
//! explicit `now_ms`, so tests drive rolling and retention with a fake clock.
//!
//! It follows Apache Kafka's `UnifiedLog`/`LocalLog`/`LogSegment` where clients can see the
//! difference:
//!
//! - Segments are named by their base offset in 20 digits (`00000000000000000000.log`, with
//!   `.index` and `.timeindex` beside it). A segment rolls before an append when it is
//!   non-empty and the append would take it past `segment.bytes`, when the append's max
//!   timestamp is more than `segment.ms` after the segment's first append's (or, without
//!   timestamps, that long has passed since the segment was created), or when an index is full.
//! - A read starts at the batch holding the offset (a batch whose base is below the offset is
//!   returned whole; clients skip the records before it), returns whole batches up to
//!   `max_bytes`, at least one when `min_one` (KIP-74), and, like Kafka's `LocalLog.read`,
//!   never spans two segments: the next fetch continues in the next one. Kafka may end a read
//!   with part of a batch (clients drop it); this log returns whole batches only.
//! - Retention deletes whole segments, oldest first: those wholly below the log start offset,
//!   then by `retention.bytes` (while the log, less the segment, stays >= the limit), then by
//!   `retention.ms` (the segment's largest timestamp is older than the limit), each pass
//!   stopping at the first segment it keeps, and never past the high watermark. As in Kafka,
//!   when every segment is to go, including a non-empty active one, a new empty active segment
//!   is rolled first, so the log start offset becomes the log end offset. The log start offset
//!   is checkpointed in the partition directory (`log-start-offset`).
//! - Opening a log recovers it: segments are walked batch by batch, the last (active) one with
//!   CRC checks; a torn or corrupt tail is cut at the last good batch (and, for an older
//!   segment, every later segment is dropped, as `LogLoader` does). Indexes are always rebuilt
//!   from the `.log` on open and written out on roll and flush.
//! - `offset_for_timestamp` finds the first segment whose largest timestamp reaches the
//!   target, then the first record (not batch) at or after it; `max_timestamp` finds the
//!   record carrying the log's largest timestamp (KIP-734).
//!
//! - The recovery point is the offset below which everything was flushed (the log end offset
//!   at open, then at each [`Log::flush`]); [`Log::lose_unflushed`] cuts the log back to it,
//!   which is what a power loss (not a process crash) leaves of a log.
//!
//! The in-memory mode keeps each segment as a byte vector and shares every rule above.
//!
//! A file log holds no descriptor of its own: its segments' `.log` files are opened on use and
//! closed when idle by the process's bounded [`OpenFiles`] cache, so the number of partitions
//! a broker holds is not bounded by its descriptor limit (Kafka keeps every segment open).
//!
//! I/O errors on append, roll, retention and flush are [`LogError`]s. The read-only queries
//! (`read`, `offset_for_timestamp`, `max_timestamp`) keep the signatures the broker codes
//! against, so an I/O error there is logged and answered as "nothing".
//!
//! # Layout
//! - `segment`: one segment, its roll rule, reads and recovery.
//! - `index`: the sparse offset and time indexes.
//! - `storage`: a segment's bytes, in a file or in memory; file names.
//! - `open_files`: the bounded, least-recently-used cache of open segment files.
//! - `recovery`: opening a log directory; `retention`: deleting old segments.
//! - `truncation`: cutting the log back for replication (`truncate_to`) and a follower's
//!   append of batches exactly as the leader stamped them (`append_as_follower`).
//! - `producer_state`: the producers that wrote to the log (idempotence, transactions);
//!   `transactions`: their open, ended and aborted transactions, the last stable offset.
//! - `leader_epoch`: the leader epoch cache ([`LeaderEpochCache`]) that decides where a
//!   follower truncates.
//!
//! # References
//! - Apache Kafka sources: `UnifiedLog` (`append`, `maybeRoll`, `deleteOldSegments`,
//!   `deletableSegments`, `deleteSegments`, `fetchOffsetByTimestamp`), `LocalLog` (`read`,
//!   `roll`), `LogSegment`, `LogLoader`, `OffsetIndex`, `TimeIndex`
//! - KIP-74 (fetch at least one batch), KIP-734 (ListOffsets `MAX_TIMESTAMP`)
//! - Kafka topic configs: <https://kafka.apache.org/documentation/#topicconfigs>

mod index;
mod leader_epoch;
mod open_files;
pub mod producer_state;
mod recovery;
mod retention;
mod segment;
mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transaction_tests;
mod transactions;
mod truncation;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::record_batch::{self, BatchHeader};
pub use leader_epoch::{
    EpochEntry, LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache, UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
};
pub use open_files::{MAX_OPEN_SEGMENT_FILES, OpenFiles};
pub use producer_state::{AppendOrigin, ProducerCheck, ProducerError, ProducerStates};
use segment::{RollParams, Segment};
use storage::SegmentStore;
pub use transactions::{AbortedTxn, CompletedTxn, Transactions};
pub use truncation::FollowerAppendError;

/// How many bytes one read of the producer-state scan takes (at least one batch).
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Per-partition log settings, with Kafka's topic config names in the field docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment when the active one would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete whole segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest whole segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `segment.index.bytes`: the offset index size limit; a full index rolls the segment.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes appended between two index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps each batch's max timestamp
    /// with the append time (and sets the timestamp-type attribute bit, recomputing the CRC).
    pub log_append_time: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            log_append_time: false,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// A timestamp and the offset of the record that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// Failures of the log's storage (never Kafka error codes: the handler maps these to
/// KAFKA_STORAGE_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a read could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The offset is below the log start offset or above the log end offset.
    OffsetOutOfRange {
        log_start_offset: i64,
        log_end_offset: i64,
    },
}

/// One partition's log. See the module doc for the rules it follows.
pub struct Log {
    /// The partition directory; `None` in memory.
    dir: Option<PathBuf>,
    config: LogConfig,
    /// Ascending base offsets, never empty; the last is the active segment.
    segments: Vec<Segment>,
    log_start_offset: i64,
    /// Everything below this offset has been flushed (Kafka's `recoveryPoint`): what a power
    /// loss keeps. The log end offset at open, moved by [`Log::flush`].
    recovery_point: i64,
    /// Where the segments' files are opened (file logs).
    files: OpenFiles,
    /// The producers that wrote to this log, kept with every append and rebuilt by a scan
    /// on open and after a truncation ([`producer_state`]), with their transactions.
    producers: ProducerStates,
    /// The high watermark last given to [`Log::on_high_watermark_updated`]: a rebuilt
    /// producer state forgets the ended transactions below it.
    high_watermark: i64,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset)
            .field("log_end_offset", &self.log_end_offset())
            .field("segment_base_offsets", &self.segment_base_offsets())
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) a log in `dir`, recovering it: the active segment is scanned,
    /// CRCs verified and a torn tail truncated; indexes are rebuilt when they do not match.
    /// Its segment files are held open by the process's [`OpenFiles::process_wide`] cache.
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> Result<Log, LogError> {
        recovery::open(dir, config, now_ms, OpenFiles::process_wide())
    }

    /// [`Log::open`] with the segment files held open by `files`.
    pub fn open_with_files(
        dir: &Path,
        config: LogConfig,
        now_ms: i64,
        files: &OpenFiles,
    ) -> Result<Log, LogError> {
        recovery::open(dir, config, now_ms, files.clone())
    }

    /// A log that lives only in memory (embedded use); same behaviour, no files.
    pub fn in_memory(config: LogConfig, now_ms: i64) -> Log {
        let segment = Segment::new(SegmentStore::Memory(Vec::new()), 0, &config, now_ms);
        Log {
            dir: None,
            config,
            segments: vec![segment],
            log_start_offset: 0,
            recovery_point: 0,
            files: OpenFiles::process_wide(),
            producers: ProducerStates::new(),
            high_watermark: 0,
        }
    }

    /// The partition directory, `None` for an in-memory log.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Appends one or more already validated v2 batches (`records` is a concatenation of
    /// whole batches). Offsets are assigned in place from the log end offset, the segment is
    /// rolled first when needed by size, time or index space. Bytes after the last whole
    /// batch are dropped, as Kafka's `UnifiedLog.trimInvalidBytes` drops them.
    pub fn append(&mut self, records: &mut [u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let (headers, valid_len) = self.assign_offsets(records, now_ms);
        self.append_batches(&records[..valid_len], &headers, now_ms)
    }

    /// Appends whole batches whose headers are `headers` (offsets already assigned from the
    /// log end offset), rolling the active segment first when needed.
    fn append_batches(
        &mut self,
        records: &[u8],
        headers: &[BatchHeader],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let base_offset = self.log_end_offset();
        let valid_len = records.len();
        let Some(last) = headers.last() else {
            let log_start_offset = self.log_start_offset;
            return Ok(AppendInfo {
                base_offset,
                last_offset: base_offset - 1,
                log_start_offset,
            });
        };
        let last_offset = last.last_offset();
        let largest_timestamp = headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1);
        let params = RollParams {
            max_segment_ms: self.config.segment_ms,
            max_segment_bytes: self.config.segment_bytes,
            max_timestamp_in_messages: largest_timestamp,
            max_offset_in_messages: last_offset,
            messages_size: valid_len as u64,
            now_ms,
        };
        if self.active().should_roll(&params) {
            self.roll(now_ms)?;
        }
        self.active_mut()
            .append(records, headers, largest_timestamp, now_ms)?;
        self.producers.update_all(records);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_start_offset: self.log_start_offset,
        })
    }

    /// Walks the whole batches at the front of `records`, giving them offsets from the log end
    /// offset and stamping `LogAppendTime` where configured.
    fn assign_offsets(&self, records: &mut [u8], now_ms: i64) -> (Vec<BatchHeader>, usize) {
        let mut next_offset = self.log_end_offset();
        let mut headers = Vec::new();
        let mut position = 0;
        while let Ok(header) = BatchHeader::parse(&records[position..]) {
            let end = position + header.total_len();
            if end > records.len() || header.last_offset_delta < 0 {
                break;
            }
            let batch = &mut records[position..end];
            record_batch::set_base_offset(batch, next_offset);
            if self.config.log_append_time {
                record_batch::stamp_log_append_time(batch, now_ms);
            }
            let Ok(header) = BatchHeader::parse(batch) else {
                break;
            };
            next_offset = header.next_offset();
            headers.push(header);
            position = end;
        }
        (headers, position)
    }

    /// Starts a new active segment at the log end offset (`LocalLog.roll`); a no-op while the
    /// active segment is empty.
    fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let base_offset = self.log_end_offset();
        let active = self.active_mut();
        if active.is_empty() {
            return Ok(());
        }
        active.on_become_inactive()?;
        let store = match &self.dir {
            Some(dir) => SegmentStore::create_file(dir, base_offset, &self.files)?,
            None => SegmentStore::Memory(Vec::new()),
        };
        self.segments
            .push(Segment::new(store, base_offset, &self.config, now_ms));
        Ok(())
    }

    /// Whole batches starting with the one containing `offset`, up to `max_bytes`; at least
    /// one batch when `min_one` is set even if it exceeds `max_bytes` (KIP-74). `offset ==
    /// log_end_offset` gives empty bytes.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes, ReadError> {
        self.read_up_to(offset, max_bytes, min_one, self.log_end_offset())
    }

    /// [`Log::read`] that stops before any batch reaching `max_offset` (a high watermark or
    /// last stable offset). The range check is still against the log end offset.
    pub fn read_up_to(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes, ReadError> {
        let log_end_offset = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        if offset >= max_offset {
            return Ok(Bytes::new());
        }
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for segment in &self.segments[first..] {
            match segment.read(offset, max_bytes, min_one, max_offset) {
                Ok(Some(bytes)) => return Ok(bytes),
                Ok(None) => continue,
                Err(error) => {
                    tracing::error!(dir = ?self.dir, offset, %error, "log read failed");
                    return Ok(Bytes::new());
                }
            }
        }
        Ok(Bytes::new())
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// Bytes held by all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size_bytes).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first (the last is the active segment).
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    /// The earliest record whose timestamp is >= `timestamp` (ListOffsets by timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<TimestampOffset> {
        let segment = self
            .segments
            .iter()
            .find(|s| s.largest_timestamp() >= timestamp)?;
        segment
            .find_offset_by_timestamp(timestamp, self.log_start_offset)
            .unwrap_or_else(|error| {
                tracing::error!(dir = ?self.dir, timestamp, %error, "log search by timestamp failed");
                None
            })
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734).
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let segment = self.segments.iter().reduce(|best, s| {
            if s.max_timestamp_so_far() > best.max_timestamp_so_far() {
                s
            } else {
                best
            }
        })?;
        segment.max_timestamp_record().unwrap_or_else(|error| {
            tracing::error!(dir = ?self.dir, %error, "log max timestamp search failed");
            None
        })
    }

    /// Replaces the settings (a topic config change); takes effect from the next append.
    /// Index sizes and intervals apply to segments created afterwards, as in Kafka.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Writes buffered data and indexes to disk; the recovery point becomes the log end offset.
    pub fn flush(&mut self) -> Result<(), LogError> {
        for segment in &mut self.segments {
            segment.flush()?;
        }
        if let Some(dir) = &self.dir {
            fs::File::open(dir)?.sync_all()?;
        }
        self.recovery_point = self.log_end_offset();
        Ok(())
    }

    /// Everything below this offset was flushed ([`Log::flush`], or present at open).
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Drops what was appended since the last flush, as a power loss would (the page cache
    /// is gone; only flushed data is on the disk). Returns whether anything was dropped.
    pub fn lose_unflushed(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let target = self.recovery_point.max(self.log_start_offset);
        self.truncate_to(target, now_ms)
    }

    /// The producers of this log (idempotence: [`producer_state`]).
    pub fn producers(&self) -> &ProducerStates {
        &self.producers
    }

    /// A leader's producer-state check of a client's batch (`header` as the client sent it).
    pub fn check_producer(&self, header: &BatchHeader) -> Result<ProducerCheck, ProducerError> {
        self.producers.check(header)
    }

    /// [`Log::check_producer`] for a batch from `origin` (a coordinator's batches are checked
    /// for their epoch only).
    pub fn check_producer_with_origin(
        &self,
        header: &BatchHeader,
        origin: AppendOrigin,
    ) -> Result<ProducerCheck, ProducerError> {
        self.producers.check_with_origin(header, origin)
    }

    /// A leader's check of an end-transaction marker from a coordinator (`batch` is the
    /// whole control batch): [`ProducerStates::check_marker`].
    pub fn check_marker(
        &self,
        header: &BatchHeader,
        batch: &[u8],
        transaction_version: i8,
    ) -> Result<(), ProducerError> {
        let marker = record_batch::control_type(batch);
        self.producers
            .check_marker(header, marker, transaction_version)
    }

    /// The first offset of `producer_id`'s open transaction in this log, if it has one
    /// (what a leader asks before it has the transaction coordinator verify a produce).
    pub fn ongoing_transaction(&self, producer_id: i64) -> Option<i64> {
        self.producers.ongoing_transaction(producer_id)
    }

    /// Whether `producer_id` has a transaction open here at `producer_epoch`
    /// (`ProducerStateManager.hasOngoingTransaction`): only then may a leader append its
    /// transactional batch without asking the transaction coordinator (KIP-890).
    pub fn has_ongoing_transaction(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.ongoing_transaction(producer_id).is_some()
            && self
                .producers
                .entry(producer_id)
                .is_some_and(|e| e.epoch == producer_epoch)
    }

    /// The aborted transactions a `read_committed` fetch of `[fetch_offset,
    /// upper_bound_offset)` must carry (`UnifiedLog.collectAbortedTransactions`).
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        self.producers
            .transactions()
            .aborted_transactions(fetch_offset, upper_bound_offset)
    }

    /// The last stable offset under `high_watermark`: the first offset of the oldest
    /// transaction still open or whose marker is not below the high watermark (never below
    /// the log start offset), or the high watermark (`UnifiedLog.lastStableOffset`).
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        match self.producers.transactions().first_unstable_offset() {
            Some(first) => first.max(self.log_start_offset).min(high_watermark),
            None => high_watermark,
        }
    }

    /// The high watermark moved: ended transactions whose marker is below it are stable
    /// (`UnifiedLog.updateHighWatermarkMetadata`).
    pub fn on_high_watermark_updated(&mut self, high_watermark: i64) {
        self.high_watermark = high_watermark;
        self.producers.on_high_watermark_updated(high_watermark);
    }

    /// Drops producers idle for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.expire(now_ms, expiration_ms)
    }

    /// Rebuilds the producer state from the batch headers from the log start offset on.
    fn rebuild_producers(&mut self) {
        let mut producers = ProducerStates::new();
        let mut offset = self.log_start_offset;
        let log_end_offset = self.log_end_offset();
        while offset < log_end_offset {
            let Ok(bytes) = self.read(offset, SCAN_CHUNK_BYTES, true) else {
                break;
            };
            let (batch_headers, valid_len) = record_batch::scan_valid_prefix(&bytes);
            let Some(last) = batch_headers.last() else {
                break;
            };
            offset = last.next_offset();
            producers.update_all(&bytes[..valid_len]);
        }
        producers.on_high_watermark_updated(self.high_watermark);
        self.producers = producers;
    }

    /// Deletes the log and all its files (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        let Some(dir) = self.dir else { return Ok(()) };
        drop(self.segments);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }
}
