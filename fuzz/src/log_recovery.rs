//! Fuzz check: opening a partition directory whose files hold arbitrary bytes.
//!
//! A broker that crashed (or a disk that lied) leaves torn segments, stale indexes and
//! checkpoints behind; `Log::open` must recover from whatever is there, never panic, and leave
//! a log that works. The check writes the input as files of a partition directory, opens the
//! log, and then holds it to:
//!
//! - the log start offset lies between the first segment's base offset and the log end
//!   offset, and every read in that range gives whole, framed batches (the active segment's
//!   batches CRC-valid too: recovery checks CRCs there);
//! - an append of a real batch is given the log end offset and is read back as written;
//! - opening the directory again gives the same segments and log end offset, and the appended
//!   batch is still there, not below a log start offset that moved (recovery after recovery
//!   changes nothing);
//! - the leader epoch checkpoint is read or refused as malformed, never a panic.
//!
//! Input: a sequence of files, each `[tag: u8][len: u16 LE][len bytes]` (the last may be
//! short). `tag & 7` picks the kind (`.log` for 0..=2, where 1 has the CRCs of its framed
//! batches computed and written in first (see `record_batch::fix_crcs`), `.index`, `.timeindex`,
//! `log-start-offset`, `leader-epoch-checkpoint`, an unrelated file), `tag >> 3` the segment's
//! base offset from [`BASE_OFFSETS`].
//!
//! # References
//! - Apache Kafka sources: `LogLoader.recoverLog`, `LogSegment.recover`,
//!   `LeaderEpochCheckpointFile`

use std::fs;
use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use reference::log::{LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache, Log, LogConfig};
use reference::record_batch::{self, BatchHeader, NewRecord};

/// Segment base offsets a file can be named with: small, adjacent, and near the limits.
pub const BASE_OFFSETS: [i64; 10] = [
    0,
    1,
    2,
    3,
    10,
    100,
    1_000_000,
    i32::MAX as i64,
    i64::MAX / 2,
    i64::MAX - 1,
];
const MAX_FILES: usize = 16;
const NOW_MS: i64 = 1_700_000_000_000;
/// More than any input holds: a read of the whole log.
const READ_ALL_BYTES: usize = 1 << 20;

/// Small segments and dense indexes, so that appends roll and index entries are many.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        segment_index_bytes: 1024,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

pub fn check(data: &[u8]) {
    let dir = temporary_dir();
    write_files(dir.path(), data);
    if let Ok(cache) = LeaderEpochCache::open(dir.path()) {
        let entries = cache.entries();
        assert!(
            entries
                .windows(2)
                .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
            "leader epoch checkpoint read out of order: {entries:?}"
        );
    }
    let mut log = open(dir.path());
    check_recovered(&log);
    let appended = append_one(&mut log);
    let segments = log.segment_base_offsets();
    let log_end_offset = log.log_end_offset();
    drop(log);
    let reopened = open(dir.path());
    check_recovered(&reopened);
    assert_eq!(
        reopened.segment_base_offsets(),
        segments,
        "segments after reopen"
    );
    assert_eq!(
        reopened.log_end_offset(),
        log_end_offset,
        "log end after reopen"
    );
    if let Some((base_offset, batch)) = appended {
        let read = reopened
            .read(base_offset, READ_ALL_BYTES, true)
            .unwrap_or_else(|e| panic!("the batch appended at {base_offset} is gone: {e:?}"));
        assert!(read.starts_with(&batch), "appended batch changed by reopen");
    }
}

/// In memory where the machine has a tmpfs (`/dev/shm`): fsync is free there, and the fuzzer
/// runs several times as fast as on a disk.
fn temporary_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory")
}

fn open(dir: &Path) -> Log {
    Log::open(dir, config(), NOW_MS).unwrap_or_else(|e| panic!("recovery failed: {e}"))
}

fn write_files(dir: &Path, data: &[u8]) {
    let mut rest = data;
    for _ in 0..MAX_FILES {
        let Some((&tag, tail)) = rest.split_first() else {
            break;
        };
        let (len, tail) = match tail {
            [low, high, tail @ ..] => (usize::from(u16::from_le_bytes([*low, *high])), tail),
            _ => (tail.len(), &[][..]),
        };
        let (contents, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let mut contents = contents.to_vec();
        if tag & 7 == 1 {
            super::record_batch::fix_crcs(&mut contents);
        }
        fs::write(dir.join(file_name(tag)), contents).expect("write a fuzz file");
    }
}

pub fn file_name(tag: u8) -> String {
    let base_offset = BASE_OFFSETS[usize::from(tag >> 3) % BASE_OFFSETS.len()];
    match tag & 7 {
        0..=2 => format!("{base_offset:020}.log"),
        3 => format!("{base_offset:020}.index"),
        4 => format!("{base_offset:020}.timeindex"),
        5 => "log-start-offset".to_string(),
        6 => LEADER_EPOCH_CHECKPOINT_FILE.to_string(),
        _ => format!("{base_offset:020}.log.deleted"),
    }
}

/// The invariants of a freshly opened log.
fn check_recovered(log: &Log) {
    let log_start_offset = log.log_start_offset();
    let log_end_offset = log.log_end_offset();
    let segments = log.segment_base_offsets();
    assert!(!segments.is_empty(), "a log without segments");
    assert!(
        segments.windows(2).all(|w| w[0] < w[1]),
        "segments out of order: {segments:?}"
    );
    assert!(
        segments[0] <= log_start_offset && log_start_offset <= log_end_offset,
        "log start {log_start_offset} outside [{}, {log_end_offset}]",
        segments[0]
    );
    let end = log.read(log_end_offset, READ_ALL_BYTES, true);
    assert_eq!(end, Ok(Bytes::new()), "read at the log end offset");
    for &base_offset in &segments {
        let offset = base_offset.max(log_start_offset);
        if offset < log_end_offset {
            let bytes = log
                .read(offset, READ_ALL_BYTES, true)
                .unwrap_or_else(|e| panic!("read at {offset} in range: {e:?}"));
            assert_framed(&bytes, offset);
        }
    }
    let active = segments[segments.len() - 1].max(log_start_offset);
    if active < log_end_offset {
        let bytes = log.read(active, READ_ALL_BYTES, true).expect("read active");
        assert_eq!(
            record_batch::scan_valid_prefix(&bytes).1,
            bytes.len(),
            "the active segment kept a batch that fails its CRC"
        );
    }
    let _ = log.offset_for_timestamp(0);
    let _ = log.max_timestamp();
}

/// `bytes` are whole batches, the first ending at or after `offset` (offsets may have gaps,
/// and a read may find nothing when only empty segments follow).
fn assert_framed(bytes: &[u8], offset: i64) {
    let mut position = 0;
    let mut first = true;
    while position < bytes.len() {
        let header = BatchHeader::parse(&bytes[position..])
            .unwrap_or_else(|e| panic!("read a batch that does not parse: {e}"));
        if first {
            assert!(
                offset <= header.last_offset(),
                "read at {offset} began with batch {}..={}",
                header.base_offset,
                header.last_offset()
            );
            first = false;
        }
        position += header.total_len();
    }
    assert_eq!(position, bytes.len(), "read ended inside a batch");
}

/// Appends a two-record batch; returns its base offset and bytes as stored. Logs whose end
/// offset leaves no room for two more offsets are left alone.
fn append_one(log: &mut Log) -> Option<(i64, Vec<u8>)> {
    let log_end_offset = log.log_end_offset();
    if log_end_offset > i64::MAX - 2 {
        return None;
    }
    let records = [b"a".as_slice(), b"b".as_slice()].map(|value| NewRecord {
        key: None,
        value: Some(Bytes::from_static(value)),
        timestamp: NOW_MS,
    });
    let mut batch = record_batch::encode_producer_batch(&records, Compression::None)
        .expect("encode a batch")
        .to_vec();
    let info = log
        .append(&mut batch, NOW_MS)
        .unwrap_or_else(|e| panic!("append after recovery failed: {e}"));
    assert_eq!(info.base_offset, log_end_offset, "append base offset");
    assert_eq!(
        log.log_end_offset(),
        log_end_offset + 2,
        "log end after append"
    );
    let read = log
        .read(log_end_offset, READ_ALL_BYTES, true)
        .expect("read the appended batch");
    assert!(read.starts_with(&batch), "appended batch not read back");
    Some((log_end_offset, batch))
}
