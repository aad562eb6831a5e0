//! The partition log: an ordered, append-only sequence of record batches.
//!
//! CONTRACT (to be implemented in this module; the rest of the broker codes against it).

use std::path::Path;

use bytes::Bytes;

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
    OffsetOutOfRange { log_start_offset: i64, log_end_offset: i64 },
}

pub struct Log {}

impl Log {
    /// Opens (creating if needed) a log in `dir`, recovering it: the active segment is scanned,
    /// CRCs verified and a torn tail truncated; indexes are rebuilt when they do not match.
    pub fn open(_dir: &Path, _config: LogConfig, _now_ms: i64) -> Result<Log, LogError> {
        unimplemented!()
    }

    /// A log that lives only in memory (embedded use); same behaviour, no files.
    pub fn in_memory(_config: LogConfig, _now_ms: i64) -> Log {
        unimplemented!()
    }

    /// Appends one or more already validated v2 batches (`records` is a concatenation of
    /// whole batches). Offsets are assigned in place from the log end offset, the segment is
    /// rolled first when needed by size, time or index space.
    pub fn append(&mut self, _records: &mut [u8], _now_ms: i64) -> Result<AppendInfo, LogError> {
        unimplemented!()
    }

    /// Whole batches starting with the one containing `offset`, up to `max_bytes`; at least
    /// one batch when `min_one` is set even if it exceeds `max_bytes` (KIP-74). `offset ==
    /// log_end_offset` gives empty bytes.
    pub fn read(&self, _offset: i64, _max_bytes: usize, _min_one: bool) -> Result<Bytes, ReadError> {
        unimplemented!()
    }

    pub fn log_start_offset(&self) -> i64 {
        unimplemented!()
    }

    pub fn log_end_offset(&self) -> i64 {
        unimplemented!()
    }

    /// Bytes held by all segments.
    pub fn size_bytes(&self) -> u64 {
        unimplemented!()
    }

    pub fn segment_count(&self) -> usize {
        unimplemented!()
    }

    /// The earliest record whose timestamp is >= `timestamp` (ListOffsets by timestamp).
    pub fn offset_for_timestamp(&self, _timestamp: i64) -> Option<TimestampOffset> {
        unimplemented!()
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734).
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        unimplemented!()
    }

    /// Deletes whole segments that retention (time, then size) no longer keeps; never the
    /// active segment. Returns how many segments were deleted.
    pub fn apply_retention(&mut self, _now_ms: i64) -> Result<usize, LogError> {
        unimplemented!()
    }

    /// Replaces the settings (a topic config change); takes effect from the next append.
    pub fn set_config(&mut self, _config: LogConfig) {
        unimplemented!()
    }

    /// Writes buffered data and indexes to disk.
    pub fn flush(&mut self) -> Result<(), LogError> {
        unimplemented!()
    }

    /// Deletes the log and all its files (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        unimplemented!()
    }
}
