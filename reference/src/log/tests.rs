//! Tests of the partition log. Most run the same steps against a file log and an in-memory
//! log, which must agree.

use std::fs;
use std::path::Path;

use crate::record_batch::{NewRecord, encode_producer_batch};
use bytes::Bytes;
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use tempfile::TempDir;

use super::storage::{INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, segment_file};
use super::*;
use crate::record_batch::{BatchHeader, record_timestamps, scan_valid_prefix};

const COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn record(offset: i64, timestamp: i64) -> NewRecord {
    NewRecord {
        key: Some(Bytes::from(format!("order-{offset:04}"))),
        value: Some(Bytes::from(format!(
            "payment of {offset:06} for order_processing_group"
        ))),
        timestamp,
    }
}

/// One producer batch (base offset 0) with the given record timestamps.
fn batch_with(timestamps: &[i64], compression: Compression) -> Vec<u8> {
    let records: Vec<NewRecord> = timestamps
        .iter()
        .enumerate()
        .map(|(i, &ts)| record(i as i64, ts))
        .collect();
    encode_producer_batch(&records, compression)
        .expect("encode")
        .to_vec()
}

/// `count` uncompressed records, all stamped `timestamp`.
fn batch(count: usize, timestamp: i64) -> Vec<u8> {
    batch_with(&vec![timestamp; count], Compression::None)
}

fn config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// A file log and an in-memory log with the same config (the temp dir lives as long as the
/// log).
fn logs(config: &LogConfig, now_ms: i64) -> Vec<(&'static str, Log, Option<TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file_log = Log::open(&dir.path().join("orders-0"), config.clone(), now_ms).unwrap();
    vec![
        ("file", file_log, Some(dir)),
        ("memory", Log::in_memory(config.clone(), now_ms), None),
    ]
}

fn append(log: &mut Log, mut bytes: Vec<u8>, now_ms: i64) -> AppendInfo {
    log.append(&mut bytes, now_ms).unwrap()
}

/// (base offset, last offset) of each batch in `bytes`, which must all be valid.
fn batch_ranges(bytes: &[u8]) -> Vec<(i64, i64)> {
    let (headers, len) = scan_valid_prefix(bytes);
    assert_eq!(len, bytes.len(), "read returned a partial or corrupt batch");
    headers
        .iter()
        .map(|h| (h.base_offset, h.last_offset()))
        .collect()
}

/// Reads the whole log from its start, one read per segment, checking that batches come in
/// offset order without gaps and that the reads end at the log end offset.
fn read_all(log: &Log) -> Vec<u8> {
    let mut all = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, true).unwrap();
        let ranges = batch_ranges(&bytes);
        assert!(
            !ranges.is_empty(),
            "nothing read at {offset} below the end {}",
            log.log_end_offset()
        );
        assert!(ranges[0].0 <= offset && offset <= ranges[0].1);
        for (base, last) in ranges {
            assert_eq!(base, offset, "batches are dense and ordered");
            offset = last + 1;
        }
        all.extend_from_slice(&bytes);
    }
    assert_eq!(offset, log.log_end_offset());
    assert!(log.read(offset, 1 << 20, true).unwrap().is_empty());
    all
}

#[test]
fn append_assigns_dense_offsets_and_reads_back() {
    for (mode, mut log, _dir) in logs(&config(), 0) {
        for i in 0..5 {
            let info = append(&mut log, batch(3, 1_000 + i), 1_000);
            assert_eq!(
                (info.base_offset, info.last_offset, info.log_start_offset),
                (3 * i, 3 * i + 2, 0),
                "{mode}"
            );
        }
        assert_eq!(log.log_end_offset(), 15, "{mode}");
        let bytes = log.read(0, 1 << 20, false).unwrap();
        assert_eq!(
            batch_ranges(&bytes),
            vec![(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)],
            "{mode}"
        );
        assert_eq!(log.size_bytes(), bytes.len() as u64, "{mode}");
        assert_eq!(
            record_timestamps(&bytes[..batch(3, 0).len()]).unwrap()[2],
            (2, 1_000)
        );
    }
}

#[test]
fn empty_or_partial_append_writes_nothing() {
    for (mode, mut log, _dir) in logs(&config(), 0) {
        append(&mut log, batch(2, 5), 5);
        let info = log.append(&mut [], 5).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (2, 1), "{mode}");
        let mut torn = batch(2, 5);
        torn.truncate(40);
        let info = log.append(&mut torn, 5).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (2, 1), "{mode}");
        assert_eq!(log.log_end_offset(), 2, "{mode}");
    }
}

#[test]
fn several_batches_in_one_append_and_trailing_bytes_dropped() {
    for (mode, mut log, _dir) in logs(&config(), 0) {
        let mut bytes = batch(2, 7);
        bytes.extend(batch_with(&[8, 9, 10], Compression::Gzip));
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1]);
        let info = append(&mut log, bytes, 10);
        assert_eq!((info.base_offset, info.last_offset), (0, 4), "{mode}");
        assert_eq!(log.size_bytes(), whole, "{mode}");
        assert_eq!(
            batch_ranges(&read_all(&log)),
            vec![(0, 1), (2, 4)],
            "{mode}"
        );
    }
}

#[test]
fn read_returns_the_whole_batch_holding_a_mid_batch_offset() {
    for (mode, mut log, _dir) in logs(&config(), 0) {
        for _ in 0..3 {
            append(&mut log, batch(4, 1), 1);
        }
        assert_eq!(
            batch_ranges(&log.read(5, 1 << 20, false).unwrap()),
            vec![(4, 7), (8, 11)],
            "{mode}"
        );
        assert_eq!(
            batch_ranges(&log.read(11, 1 << 20, false).unwrap()),
            vec![(8, 11)],
            "{mode}"
        );
    }
}

#[test]
fn read_honours_max_bytes_and_min_one() {
    let size = batch(2, 1).len();
    for (mode, mut log, _dir) in logs(&config(), 0) {
        for _ in 0..4 {
            append(&mut log, batch(2, 1), 1);
        }
        let ranges = |max_bytes, min_one| batch_ranges(&log.read(2, max_bytes, min_one).unwrap());
        assert_eq!(ranges(2 * size + 1, false), vec![(2, 3), (4, 5)], "{mode}");
        assert_eq!(ranges(2 * size, false), vec![(2, 3), (4, 5)], "{mode}");
        assert_eq!(ranges(size - 1, false), vec![], "{mode}");
        assert_eq!(ranges(size - 1, true), vec![(2, 3)], "{mode}");
        assert_eq!(ranges(0, true), vec![(2, 3)], "{mode}");
        assert_eq!(ranges(0, false), vec![], "{mode}");
        let below_high_watermark = log.read_up_to(0, 1 << 20, true, 4).unwrap();
        assert_eq!(
            batch_ranges(&below_high_watermark),
            vec![(0, 1), (2, 3)],
            "{mode}"
        );
        assert!(
            log.read_up_to(4, 1 << 20, true, 4).unwrap().is_empty(),
            "{mode}"
        );
    }
}

#[test]
fn read_outside_the_log_is_out_of_range() {
    let config = LogConfig {
        segment_bytes: 1,
        retention_ms: 100,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 0) {
        assert!(
            log.read(0, 100, true).unwrap().is_empty(),
            "{mode}: empty log"
        );
        append(&mut log, batch(2, 0), 0);
        append(&mut log, batch(2, 1_000), 1_000);
        assert!(log.read(4, 100, true).unwrap().is_empty(), "{mode}");
        let out_of_range = ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            log_end_offset: 4,
        };
        assert_eq!(log.read(5, 100, true), Err(out_of_range), "{mode}");
        assert_eq!(log.apply_retention(1_050).unwrap(), 1, "{mode}");
        let out_of_range = ReadError::OffsetOutOfRange {
            log_start_offset: 2,
            log_end_offset: 4,
        };
        assert_eq!(log.read(1, 100, true), Err(out_of_range), "{mode}");
        assert_eq!(
            batch_ranges(&log.read(2, 100, true).unwrap()),
            vec![(2, 3)],
            "{mode}"
        );
    }
}

#[test]
fn rolls_by_size_and_a_read_stays_in_one_segment() {
    let size = batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: 3 * size,
        ..config()
    };
    for (mode, mut log, dir) in logs(&config, 0) {
        for i in 0..10 {
            append(&mut log, batch(3, i), i);
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 9, 18, 27], "{mode}");
        assert_eq!(log.segment_count(), 4, "{mode}");
        assert_eq!(log.size_bytes(), 10 * size, "{mode}");
        assert_eq!(
            batch_ranges(&log.read(0, 1 << 20, false).unwrap()),
            vec![(0, 2), (3, 5), (6, 8)],
            "{mode}"
        );
        assert_eq!(
            batch_ranges(&log.read(8, 1 << 20, false).unwrap()),
            vec![(6, 8)],
            "{mode}"
        );
        assert_eq!(read_all(&log).len() as u64, 10 * size, "{mode}");
        if let Some(dir) = dir {
            let partition = dir.path().join("orders-0");
            for base in [0, 9, 18, 27] {
                assert!(segment_file(&partition, base, LOG_FILE_SUFFIX).exists());
            }
            for base in [0, 9, 18] {
                assert!(
                    segment_file(&partition, base, INDEX_FILE_SUFFIX).exists(),
                    "rolled segment has its index"
                );
                assert!(segment_file(&partition, base, TIME_INDEX_FILE_SUFFIX).exists());
            }
            assert!(
                partition.join("00000000000000000009.log").exists(),
                "Kafka's 20-digit names"
            );
        }
    }
}

#[test]
fn rolls_by_time_from_the_first_batch_timestamp() {
    let config = LogConfig {
        segment_ms: 1_000,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 0) {
        append(&mut log, batch(1, 5_000), 0);
        append(&mut log, batch(1, 6_000), 99_999); // 6000 - 5000 = segment.ms: not more
        assert_eq!(log.segment_count(), 1, "{mode}");
        append(&mut log, batch(1, 6_001), 0); // message time decides, not the clock
        assert_eq!(log.segment_base_offsets(), vec![0, 2], "{mode}");
    }
}

#[test]
fn rolls_by_the_clock_when_batches_have_no_timestamp() {
    let config = LogConfig {
        segment_ms: 1_000,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 10_000) {
        append(&mut log, batch(1, -1), 10_000);
        append(&mut log, batch(1, -1), 11_000);
        assert_eq!(log.segment_count(), 1, "{mode}");
        append(&mut log, batch(1, -1), 11_001);
        assert_eq!(log.segment_base_offsets(), vec![0, 2], "{mode}");
    }
}

#[test]
fn rolls_when_an_index_is_full() {
    // 16 index bytes: 2 offset index entries, 1 time index entry. With an interval of 0
    // every batch after the first adds an entry, so the time index fills at the 2nd batch.
    let config = LogConfig {
        segment_index_bytes: 16,
        index_interval_bytes: 0,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 0) {
        for i in 0..6 {
            append(&mut log, batch(1, 100 + i), 0);
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4], "{mode}");
        assert_eq!(batch_ranges(&read_all(&log)).len(), 6, "{mode}");
    }
}

/// One batch per segment (`segment.bytes` smaller than a batch), stamped 1000, 2000, ...
fn one_batch_per_segment(
    config: LogConfig,
    batches: i64,
) -> Vec<(&'static str, Log, Option<TempDir>)> {
    let config = LogConfig {
        segment_bytes: 1,
        ..config
    };
    let mut logs = logs(&config, 0);
    for (_, log, _) in &mut logs {
        for i in 1..=batches {
            append(log, batch(3, 1_000 * i), 1_000 * i);
        }
        assert_eq!(log.segment_count(), batches as usize);
    }
    logs
}

#[test]
fn retention_by_time_deletes_whole_segments_and_moves_the_log_start_offset() {
    let config = LogConfig {
        retention_ms: 1_500,
        ..config()
    };
    for (mode, mut log, _dir) in one_batch_per_segment(config, 4) {
        assert_eq!(
            log.apply_retention(3_500).unwrap(),
            1,
            "{mode}: 3500 - 2000 is not more than 1500"
        );
        assert_eq!(log.apply_retention(4_000).unwrap(), 1, "{mode}");
        assert_eq!(log.segment_base_offsets(), vec![6, 9], "{mode}");
        assert_eq!(log.log_start_offset(), 6, "{mode}");
        assert_eq!(
            batch_ranges(&read_all(&log)),
            vec![(6, 8), (9, 11)],
            "{mode}"
        );
        assert_eq!(log.apply_retention(4_000).unwrap(), 0, "{mode}");
    }
}

#[test]
fn retention_of_every_segment_rolls_a_new_empty_active_segment() {
    let config = LogConfig {
        retention_ms: 1_500,
        ..config()
    };
    for (mode, mut log, _dir) in one_batch_per_segment(config, 3) {
        assert_eq!(
            log.apply_retention(10_000).unwrap(),
            3,
            "{mode}: the active segment expired too"
        );
        assert_eq!(log.segment_base_offsets(), vec![9], "{mode}");
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (9, 9),
            "{mode}"
        );
        assert_eq!(log.size_bytes(), 0, "{mode}");
        assert_eq!(
            log.apply_retention(20_000).unwrap(),
            0,
            "{mode}: an empty active segment stays"
        );
        let info = append(&mut log, batch(1, 20_000), 20_000);
        assert_eq!((info.base_offset, info.log_start_offset), (9, 9), "{mode}");
    }
}

#[test]
fn retention_by_size_follows_kafkas_rule() {
    let size = batch(3, 0).len() as i64;
    // (retention.bytes, segments deleted) for a log of 4 equal segments.
    for (retention_bytes, deleted) in [
        (4 * size, 0),
        (4 * size + 1, 0),
        (2 * size + 1, 1),
        (2 * size, 2),
        (1, 3),
        (0, 4),
    ] {
        let config = LogConfig {
            retention_bytes,
            ..config()
        };
        for (mode, mut log, _dir) in one_batch_per_segment(config, 4) {
            assert_eq!(
                log.apply_retention(0).unwrap(),
                deleted,
                "{mode}: retention.bytes {retention_bytes}"
            );
            let remaining = if deleted == 4 {
                vec![12]
            } else {
                vec![0, 3, 6, 9][deleted..].to_vec()
            };
            assert_eq!(log.segment_base_offsets(), remaining, "{mode}");
            assert_eq!(log.log_start_offset(), remaining[0], "{mode}");
        }
    }
}

#[test]
fn retention_never_passes_the_high_watermark() {
    let config = LogConfig {
        retention_ms: 0,
        ..config()
    };
    for (mode, mut log, _dir) in one_batch_per_segment(config, 3) {
        assert_eq!(
            log.apply_retention_below(99_000, 5).unwrap(),
            1,
            "{mode}: segment [3, 6) reaches past 5"
        );
        assert_eq!(log.apply_retention_below(99_000, 6).unwrap(), 1, "{mode}");
        assert_eq!(log.log_start_offset(), 6, "{mode}");
    }
}

#[test]
fn log_start_offset_increment_and_segments_below_it() {
    for (mode, mut log, _dir) in one_batch_per_segment(config(), 3) {
        log.increment_log_start_offset(4).unwrap();
        assert_eq!(log.log_start_offset(), 4, "{mode}");
        log.increment_log_start_offset(2).unwrap();
        assert_eq!(log.log_start_offset(), 4, "{mode}: never moves back");
        assert!(log.read(3, 100, true).is_err(), "{mode}");
        assert_eq!(
            batch_ranges(&log.read(4, 100, true).unwrap()),
            vec![(3, 5)],
            "{mode}"
        );
        assert_eq!(
            log.apply_retention(0).unwrap(),
            1,
            "{mode}: [0, 3) is wholly below 4"
        );
        assert_eq!(log.segment_base_offsets(), vec![3, 6], "{mode}");
        assert_eq!(log.log_start_offset(), 4, "{mode}");
    }
}

fn reopen(log: Log, config: &LogConfig, now_ms: i64) -> Log {
    let dir = log.dir().expect("a file log").to_path_buf();
    drop(log);
    Log::open(&dir, config.clone(), now_ms).unwrap()
}

#[test]
fn reopening_gives_the_same_offsets_bytes_and_answers() {
    let config = LogConfig {
        segment_bytes: 700,
        index_interval_bytes: 50,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
    for i in 0..30 {
        let compression = COMPRESSIONS[i as usize % 5];
        append(
            &mut log,
            batch_with(&[10 * i, 10 * i + 3, 10 * i + 1], compression),
            10 * i,
        );
    }
    log.flush().unwrap();
    let before = (
        log.log_end_offset(),
        log.segment_base_offsets(),
        read_all(&log),
    );
    let answers = |log: &Log| {
        (
            log.offset_for_timestamp(155),
            log.max_timestamp(),
            log.offset_for_timestamp(10_000),
        )
    };
    let before_answers = answers(&log);
    assert_eq!(
        before_answers.0,
        Some(TimestampOffset {
            timestamp: 160,
            offset: 48
        })
    );
    assert_eq!(
        before_answers.1,
        Some(TimestampOffset {
            timestamp: 293,
            offset: 88
        })
    );
    assert_eq!(before_answers.2, None);

    let mut log = reopen(log, &config, 5_000);
    assert_eq!(
        (
            log.log_end_offset(),
            log.segment_base_offsets(),
            read_all(&log)
        ),
        before
    );
    assert_eq!(answers(&log), before_answers);
    let info = append(&mut log, batch(1, 400), 5_000);
    assert_eq!(info.base_offset, before.0);
}

#[test]
fn log_start_offset_survives_reopening() {
    let config = LogConfig {
        segment_bytes: 1,
        retention_ms: 1_500,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
    for i in 1..=4 {
        append(&mut log, batch(3, 1_000 * i), 1_000 * i);
    }
    log.apply_retention(4_000).unwrap();
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(
        fs::read_to_string(dir.path().join("log-start-offset")).unwrap(),
        "6\n"
    );
    let log = reopen(log, &config, 5_000);
    assert_eq!(
        (log.log_start_offset(), log.segment_base_offsets()),
        (6, vec![6, 9])
    );

    log.delete().unwrap();
    assert!(!dir.path().exists());
}

#[test]
fn a_log_emptied_by_retention_reopens_at_its_end() {
    let config = LogConfig {
        retention_ms: 0,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
    append(&mut log, batch(5, 1_000), 1_000);
    log.apply_retention(2_000).unwrap();
    for file in fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            fs::remove_file(path).unwrap(); // as if the empty segment had never been written
        }
    }
    let log = reopen(log, &config, 3_000);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_base_offsets()
        ),
        (5, 5, vec![5])
    );
}

fn active_log_file(dir: &Path, log: &Log) -> std::path::PathBuf {
    segment_file(
        dir,
        *log.segment_base_offsets().last().unwrap(),
        LOG_FILE_SUFFIX,
    )
}

#[test]
fn a_torn_tail_is_cut_at_the_last_good_batch() {
    let config = config();
    let size = batch(2, 0).len() as u64;
    // How each case damages the active segment file (given its path and the batch size),
    // and how many of the 3 batches survive.
    type Damage = fn(&Path, u64);
    let damages: [(&str, Damage, u64); 3] = [
        (
            "truncated mid-batch",
            |path, size| {
                let file = fs::OpenOptions::new().write(true).open(path).unwrap();
                file.set_len(2 * size + size / 2).unwrap();
            },
            2,
        ),
        (
            "garbage appended",
            |path, _| {
                let mut bytes = fs::read(path).unwrap();
                bytes.extend_from_slice(&[0x55; 100]);
                fs::write(path, bytes).unwrap();
            },
            3,
        ),
        (
            "last batch corrupt",
            |path, _| {
                let mut bytes = fs::read(path).unwrap();
                let last = bytes.len() - 2;
                bytes[last] ^= 0xff;
                fs::write(path, bytes).unwrap();
            },
            2,
        ),
    ];
    for (case, damage, kept) in damages {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
        for i in 0..3 {
            append(&mut log, batch(2, i), i);
        }
        let good = log.read(0, (kept * size) as usize, false).unwrap();
        damage(&active_log_file(dir.path(), &log), size);
        let mut log = reopen(log, &config, 10);
        assert_eq!(log.log_end_offset(), 2 * kept as i64, "{case}");
        assert_eq!(read_all(&log), good.to_vec(), "{case}");
        assert_eq!(
            fs::metadata(active_log_file(dir.path(), &log))
                .unwrap()
                .len(),
            kept * size,
            "{case}"
        );
        assert_eq!(
            append(&mut log, batch(1, 3), 10).base_offset,
            2 * kept as i64,
            "{case}"
        );
    }
}

#[test]
fn a_cut_older_segment_drops_every_later_segment() {
    let size = batch(2, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: 2 * size,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
    for i in 0..6 {
        append(&mut log, batch(2, i), i);
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    let first = segment_file(dir.path(), 0, LOG_FILE_SUFFIX);
    fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(size + 10)
        .unwrap();
    let log = reopen(log, &config, 10);
    assert_eq!(
        (log.segment_base_offsets(), log.log_end_offset()),
        (vec![0], 2)
    );
    assert!(!segment_file(dir.path(), 4, LOG_FILE_SUFFIX).exists());
    assert!(!segment_file(dir.path(), 8, INDEX_FILE_SUFFIX).exists());
}

#[test]
fn missing_or_garbage_index_files_are_rebuilt() {
    let config = LogConfig {
        segment_bytes: 2_000,
        index_interval_bytes: 0,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
    for i in 0..40 {
        append(&mut log, batch(2, 100 * i), 0);
    }
    log.flush().unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() > 2);
    let before = (
        read_all(&log),
        log.offset_for_timestamp(1_650),
        log.max_timestamp(),
    );
    fs::remove_file(segment_file(dir.path(), bases[0], INDEX_FILE_SUFFIX)).unwrap();
    fs::write(
        segment_file(dir.path(), bases[1], TIME_INDEX_FILE_SUFFIX),
        [0xff; 30],
    )
    .unwrap();
    fs::write(segment_file(dir.path(), 999_999, INDEX_FILE_SUFFIX), [1; 8]).unwrap(); // orphan
    let log = reopen(log, &config, 0);
    assert_eq!(
        (
            read_all(&log),
            log.offset_for_timestamp(1_650),
            log.max_timestamp()
        ),
        before
    );
    assert_eq!(
        before.1,
        Some(TimestampOffset {
            timestamp: 1_700,
            offset: 34
        })
    );
    assert!(segment_file(dir.path(), bases[0], INDEX_FILE_SUFFIX).exists());
    assert_eq!(
        fs::metadata(segment_file(dir.path(), bases[1], TIME_INDEX_FILE_SUFFIX))
            .unwrap()
            .len()
            % 12,
        0
    );
    assert!(!segment_file(dir.path(), 999_999, INDEX_FILE_SUFFIX).exists());
}

#[test]
fn garbage_files_never_panic_on_open() {
    let config = config();
    for garbage in [
        vec![],
        vec![0; 10],
        vec![0xff; 200],
        batch(2, 1)[..70].to_vec(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_file(dir.path(), 0, LOG_FILE_SUFFIX), &garbage).unwrap();
        fs::write(segment_file(dir.path(), 0, INDEX_FILE_SUFFIX), &garbage).unwrap();
        fs::write(dir.path().join("log-start-offset"), "not a number").unwrap();
        let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        assert_eq!(append(&mut log, batch(1, 1), 1).base_offset, 0);
    }
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    // The third batch's max timestamp is more than segment.ms after the first's: it rolls.
    let config = LogConfig {
        segment_ms: 150,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 0) {
        append(&mut log, batch_with(&[100, 105, 110], Compression::Zstd), 0);
        append(&mut log, batch_with(&[200, 190, 210], Compression::Zstd), 0);
        append(&mut log, batch_with(&[150, 300], Compression::Lz4), 0);
        append(&mut log, batch_with(&[210, 205], Compression::None), 0);
        assert_eq!(log.segment_count(), 2, "{mode}");
        let found = |ts| {
            log.offset_for_timestamp(ts)
                .map(|t| (t.timestamp, t.offset))
        };
        assert_eq!(found(0), Some((100, 0)), "{mode}");
        assert_eq!(found(106), Some((110, 2)), "{mode}");
        assert_eq!(found(195), Some((200, 3)), "{mode}");
        assert_eq!(found(205), Some((210, 5)), "{mode}");
        assert_eq!(found(211), Some((300, 7)), "{mode}: in the second segment");
        assert_eq!(found(301), None, "{mode}");
        assert_eq!(
            log.max_timestamp(),
            Some(TimestampOffset {
                timestamp: 300,
                offset: 7
            }),
            "{mode}"
        );
    }
}

#[test]
fn max_timestamp_is_the_first_record_carrying_it() {
    for (mode, mut log, _dir) in logs(&config(), 0) {
        assert_eq!(log.max_timestamp(), None, "{mode}: empty log");
        append(&mut log, batch_with(&[5, 9, 7], Compression::Snappy), 0);
        append(&mut log, batch_with(&[9, 1], Compression::None), 0);
        assert_eq!(
            log.max_timestamp(),
            Some(TimestampOffset {
                timestamp: 9,
                offset: 1
            }),
            "{mode}"
        );
    }
}

#[test]
fn log_append_time_stamps_every_batch() {
    let config = LogConfig {
        log_append_time: true,
        ..config()
    };
    for (mode, mut log, _dir) in logs(&config, 0) {
        append(&mut log, batch_with(&[5, 6], Compression::Gzip), 42_000);
        append(&mut log, batch_with(&[7], Compression::None), 43_000);
        let bytes = read_all(&log);
        let (headers, _) = scan_valid_prefix(&bytes);
        assert!(
            headers.iter().all(BatchHeader::is_log_append_time),
            "{mode}"
        );
        assert_eq!(
            record_timestamps(&bytes).unwrap(),
            vec![(0, 42_000), (1, 42_000)],
            "{mode}"
        );
        assert_eq!(
            log.max_timestamp(),
            Some(TimestampOffset {
                timestamp: 43_000,
                offset: 2
            }),
            "{mode}"
        );
        assert_eq!(
            log.offset_for_timestamp(42_500).map(|t| t.offset),
            Some(2),
            "{mode}"
        );
    }
}

#[test]
fn in_memory_log_has_no_directory_and_deletes_quietly() {
    let mut log = Log::in_memory(config(), 0);
    append(&mut log, batch(1, 1), 1);
    assert!(log.dir().is_none());
    log.flush().unwrap();
    log.set_config(LogConfig {
        segment_bytes: 1,
        ..config()
    });
    append(&mut log, batch(1, 1), 1);
    assert_eq!(log.segment_count(), 2);
    assert!(format!("{log:?}").contains("log_end_offset: 2"));
    log.delete().unwrap();
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Append {
        batches: usize,
        records: usize,
        compression: usize,
    },
    Tick(i64),
    Retain,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..3usize, 1..5usize, 0..5usize)
            .prop_map(|(batches, records, compression)| Op::Append { batches, records, compression }),
        2 => (0..4_000i64).prop_map(Op::Tick),
        1 => Just(Op::Retain),
        1 => Just(Op::Reopen),
    ]
}

fn model_config() -> impl Strategy<Value = LogConfig> {
    (
        200..2_000u64,
        1_000..20_000i64,
        prop_oneof![Just(-1i64), 2_000..30_000i64],
    )
        .prop_flat_map(|(segment_bytes, segment_ms, retention_ms)| {
            (
                prop_oneof![Just(-1i64), 500..5_000i64],
                0..500u64,
                16..200u64,
                any::<bool>(),
            )
                .prop_map(
                    move |(
                        retention_bytes,
                        index_interval_bytes,
                        segment_index_bytes,
                        log_append_time,
                    )| LogConfig {
                        segment_bytes,
                        segment_ms,
                        retention_ms,
                        retention_bytes,
                        segment_index_bytes,
                        index_interval_bytes,
                        log_append_time,
                    },
                )
        })
}

/// Every offset in [log start, log end) reads back inside the first batch returned.
fn check_every_offset(log: &Log) {
    for offset in log.log_start_offset()..log.log_end_offset() {
        let bytes = log.read(offset, 1, true).unwrap();
        let first = BatchHeader::parse(&bytes).unwrap();
        assert!(
            first.base_offset <= offset && offset <= first.last_offset(),
            "offset {offset}"
        );
    }
}

fn apply(op: &Op, file: Log, memory: &mut Log, config: &LogConfig, now_ms: &mut i64) -> Log {
    let mut file = file;
    match *op {
        Op::Append {
            batches,
            records,
            compression,
        } => {
            let mut bytes = Vec::new();
            for _ in 0..batches {
                bytes.extend(batch_with(
                    &vec![*now_ms; records],
                    COMPRESSIONS[compression],
                ));
            }
            let file_info = append(&mut file, bytes.clone(), *now_ms);
            assert_eq!(file_info, append(memory, bytes, *now_ms));
        }
        Op::Tick(ms) => *now_ms += ms,
        Op::Retain => assert_eq!(
            file.apply_retention(*now_ms).unwrap(),
            memory.apply_retention(*now_ms).unwrap()
        ),
        Op::Reopen => file = reopen(file, config, *now_ms),
    }
    file
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn file_and_memory_logs_agree_and_stay_readable(
        config in model_config(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut now_ms = 1_000_000;
        let mut file = Log::open(dir.path(), config.clone(), now_ms).unwrap();
        let mut memory = Log::in_memory(config.clone(), now_ms);
        for op in &ops {
            file = apply(op, file, &mut memory, &config, &mut now_ms);
            prop_assert_eq!(file.log_start_offset(), memory.log_start_offset());
            prop_assert_eq!(file.log_end_offset(), memory.log_end_offset());
            prop_assert_eq!(file.segment_base_offsets(), memory.segment_base_offsets());
            prop_assert_eq!(file.size_bytes(), memory.size_bytes());
            prop_assert_eq!(read_all(&file), read_all(&memory));
            prop_assert_eq!(file.max_timestamp(), memory.max_timestamp());
            prop_assert_eq!(file.offset_for_timestamp(now_ms - 2_000), memory.offset_for_timestamp(now_ms - 2_000));
        }
        check_every_offset(&file);
        check_every_offset(&memory);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_cut_anywhere_in_the_active_segment_keeps_the_whole_batches_before_it(
        records in proptest::collection::vec(1..4usize, 1..8),
        cut_permille in 0..1_000u64,
        garbage in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = config();
        let mut log = Log::open(dir.path(), config.clone(), 0).unwrap();
        let mut ends = vec![(0u64, 0i64)];
        for (i, &count) in records.iter().enumerate() {
            let bytes = batch_with(&vec![i as i64; count], COMPRESSIONS[i % 5]);
            let end = ends.last().unwrap().0 + bytes.len() as u64;
            let info = append(&mut log, bytes, 0);
            ends.push((end, info.last_offset + 1));
        }
        let path = active_log_file(dir.path(), &log);
        let cut = ends.last().unwrap().0 * cut_permille / 1_000;
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(cut as usize);
        bytes.extend_from_slice(&garbage);
        fs::write(&path, bytes).unwrap();

        let log = reopen(log, &config, 0);
        let &(kept_bytes, kept_end) = ends.iter().rev().find(|&&(end, _)| end <= cut).unwrap();
        prop_assert_eq!(log.log_end_offset(), kept_end);
        prop_assert_eq!(log.size_bytes(), kept_bytes);
        prop_assert_eq!(read_all(&log).len() as u64, kept_bytes);
    }

    #[test]
    fn arbitrary_segment_files_never_panic(
        older in proptest::collection::vec(any::<u8>(), 0..400),
        active in proptest::collection::vec(any::<u8>(), 0..400),
        valid_prefix in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut older = older;
        if valid_prefix {
            let mut prefix = batch_with(&[1, 2], Compression::Gzip);
            prefix.extend(older);
            older = prefix;
        }
        fs::write(segment_file(dir.path(), 0, LOG_FILE_SUFFIX), &older).unwrap();
        fs::write(segment_file(dir.path(), 2, LOG_FILE_SUFFIX), &active).unwrap();
        let mut log = Log::open(dir.path(), config(), 0).unwrap();
        let start = log.log_start_offset();
        for offset in start..=log.log_end_offset().min(start + 50) {
            let _ = log.read(offset, 1_000, true).unwrap();
        }
        let _ = (log.offset_for_timestamp(0), log.max_timestamp());
        let end = log.log_end_offset();
        prop_assert_eq!(append(&mut log, batch(1, 5), 5).base_offset, end);
        prop_assert!(log.apply_retention(1 << 40).is_ok());
    }
}

#[test]
fn a_power_loss_keeps_what_was_flushed() {
    for (mode, mut log, dir) in logs(&config(), 0) {
        append(&mut log, batch(3, 10), 10);
        assert_eq!(log.recovery_point(), 0, "{mode}: nothing flushed yet");
        log.flush().unwrap();
        assert_eq!(log.recovery_point(), 3, "{mode}");
        append(&mut log, batch(2, 20), 20);
        assert!(log.lose_unflushed(30).unwrap(), "{mode}");
        assert_eq!(
            log.log_end_offset(),
            3,
            "{mode}: the unflushed batch is gone"
        );
        assert!(
            !log.lose_unflushed(30).unwrap(),
            "{mode}: nothing more to lose"
        );
        append(&mut log, batch(1, 40), 40);
        assert_eq!(append(&mut log, batch(1, 50), 50).base_offset, 4, "{mode}");
        if let Some(dir) = dir {
            drop(log);
            let reopened = Log::open(&dir.path().join("orders-0"), config(), 60).unwrap();
            assert_eq!(
                reopened.recovery_point(),
                5,
                "{mode}: open recovers everything"
            );
        }
    }
}

/// More logs (and segments) than the open-file bound: every one appends, reads, flushes,
/// truncates and reopens as if its files were open, and the cache never holds more than its
/// bound. Kafka would hold one descriptor per segment here (60 or more).
#[test]
fn logs_beyond_the_open_file_bound_append_read_and_reopen() {
    const BOUND: usize = 8;
    const PARTITIONS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let files = OpenFiles::new(BOUND);
    let size = batch(2, 1_000).len() as u64;
    let config = LogConfig {
        segment_bytes: 2 * size,
        ..config()
    };
    let path = |p: usize| dir.path().join(format!("orders-{p}"));
    let open = |p: usize| Log::open_with_files(&path(p), config.clone(), 0, &files).unwrap();
    let mut logs: Vec<Log> = (0..PARTITIONS).map(open).collect();
    let mut most_open = files.open_count();
    for round in 0..5 {
        for log in &mut logs {
            append(log, batch(2, 1_000 + round), 1_000 + round);
            most_open = most_open.max(files.open_count());
        }
    }
    for log in &mut logs {
        assert_eq!(log.log_end_offset(), 10);
        assert!(log.segment_count() >= 3, "{:?}", log.segment_base_offsets());
        assert_eq!(batch_ranges(&read_all(log)).len(), 5);
        log.flush().unwrap();
        most_open = most_open.max(files.open_count());
    }
    let before_truncation = files.opened_count();
    for log in &mut logs {
        assert!(log.truncate_to(6, 2_000).unwrap());
        append(log, batch(2, 3_000), 3_000);
        most_open = most_open.max(files.open_count());
    }
    assert!(
        files.opened_count() > before_truncation,
        "closed files were reopened"
    );
    drop(logs);
    assert_eq!(files.open_count(), 0, "a dropped log closes its files");
    let logs: Vec<Log> = (0..PARTITIONS).map(open).collect();
    for log in &logs {
        assert_eq!(log.log_end_offset(), 8, "recovered after reopening");
        assert_eq!(batch_ranges(&read_all(log)).len(), 4);
        most_open = most_open.max(files.open_count());
    }
    assert!(most_open <= BOUND, "{most_open} files open, bound {BOUND}");
    assert_eq!(most_open, BOUND, "the cache fills up to its bound");
    println!(
        "{PARTITIONS} logs, {} segments, at most {most_open} files open, {} opens",
        logs.iter().map(Log::segment_count).sum::<usize>(),
        files.opened_count()
    );
}
