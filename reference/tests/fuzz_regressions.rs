//! Replays the fuzzers' finds on stable Rust, so plain `cargo test` keeps each one fixed.
//!
//! The checks are the fuzz targets' own (`fuzz/src/`, included here file by file): every
//! committed crash reproducer (`fuzz/artifacts/<target>/`) and every corpus input
//! (`fuzz/corpus/<target>/`) goes through the same assertions the fuzzer ran. Each find also
//! has a test of its own below, on the smallest bytes that show it, naming what went wrong.
//!
//! # References
//! - `fuzz/src/lib.rs` (what each check promises), `ci/fuzz.sh` (the bounded fuzzing run)

#[path = "../../fuzz/src/broker.rs"]
mod broker;
#[path = "../../fuzz/src/log_recovery.rs"]
mod log_recovery;
#[path = "../../fuzz/src/record_batch.rs"]
mod record_batch;

use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file of `fuzz/<kind>/<target>/`, sorted; a missing folder has none.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a fuzz directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).expect("a fuzz input");
            (path, bytes)
        })
        .collect()
}

/// Runs `check` on every reproducer and corpus input of `target`; returns how many ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut ran = 0;
    for kind in ["artifacts", "corpus"] {
        for (path, bytes) in inputs(kind, target) {
            eprintln!("replaying {}", path.display());
            check(&bytes);
            ran += 1;
        }
    }
    ran
}

#[test]
fn record_batch_corpus_and_reproducers_pass_the_check() {
    let ran = replay("record_batch", record_batch::check);
    assert!(
        ran >= 10,
        "only {ran} record_batch inputs: the seeds are missing"
    );
}

#[test]
fn log_recovery_corpus_and_reproducers_pass_the_check() {
    let ran = replay("log_recovery", log_recovery::check);
    assert!(
        ran >= 5,
        "only {ran} log_recovery inputs: the seeds are missing"
    );
}

#[test]
fn broker_requests_corpus_and_reproducers_pass_the_check() {
    let ran = replay("broker_requests", broker::check);
    assert!(
        ran >= 40,
        "only {ran} broker_requests inputs: the seeds are missing"
    );
}

/// Found by `log_recovery` (fuzz/artifacts/log_recovery/crash-6322f075...): a
/// `log-start-offset` checkpoint holding bytes that are not UTF-8 made `Log::open` fail with
/// "stream did not contain valid UTF-8", so the partition could not be opened at all. Such a
/// checkpoint is unreadable like any other garbage, and is ignored.
#[test]
fn a_log_start_offset_checkpoint_that_is_not_utf8_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("log-start-offset"), [0xff, b'7']).unwrap();
    let log = reference::log::Log::open(dir.path(), Default::default(), 0)
        .expect("a log opens whatever its checkpoint holds");
    assert_eq!(log.log_start_offset(), 0);
    // The same input as the fuzzer's file format: tag 5 (`log-start-offset`), one byte.
    log_recovery::check(&[5, 1, 0, 0xff]);
}

/// Found by `log_recovery` (fuzz/artifacts/log_recovery/crash-55300e8f...): when an older
/// segment ended in garbage, recovery cut it and dropped the later segments, leaving it last
/// (the active segment) without the CRC checks the last segment gets, so a corrupt batch in
/// it stayed readable and appends went after it.
#[test]
fn a_segment_left_last_by_recovery_has_its_crcs_checked() {
    use bytes::Bytes;
    use reference::record_batch::{NewRecord, encode_producer_batch, set_base_offset};
    let batch = |base_offset: i64| {
        let record = NewRecord {
            key: None,
            value: Some(Bytes::from_static(b"value")),
            timestamp: 0,
        };
        let compression = kafka_protocol::records::Compression::None;
        let mut batch = encode_producer_batch(&[record], compression)
            .unwrap()
            .to_vec();
        set_base_offset(&mut batch, base_offset);
        batch
    };
    let mut corrupt = batch(0);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff; // the CRC no longer matches
    corrupt.extend_from_slice(&[0xa4; 61]); // garbage: the segment is cut after the batch
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(format!("{:020}.log", 0)), &corrupt).unwrap();
    fs::write(dir.path().join(format!("{:020}.log", 1)), batch(1)).unwrap();
    let log = reference::log::Log::open(dir.path(), Default::default(), 0).unwrap();
    assert_eq!(
        log.segment_base_offsets(),
        vec![0],
        "the later segment is dropped"
    );
    assert_eq!(log.log_end_offset(), 0, "the corrupt batch is cut too");
    assert_eq!(log.read(0, 1 << 20, true), Ok(Bytes::new()));
}

/// The broker check's liveness probe fails where no broker answers (else a dead broker
/// would pass every input).
#[test]
fn the_liveness_probe_fails_without_a_broker() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    assert!(broker::api_versions_round_trip(addr).is_err());
}

/// Found by reading what `log_recovery` checks against Kafka's `LogLoader.recoverLog`: with a
/// `log-start-offset` checkpoint past the log end, `Log::open` clamped the start to the end;
/// records appended then were below the start that the next open computed, and vanished.
/// Kafka empties such a log and starts it at the checkpoint.
#[test]
fn a_log_start_offset_checkpoint_past_the_end_starts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("log-start-offset"), "9\n").unwrap();
    let log = reference::log::Log::open(dir.path(), Default::default(), 0).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.log_end_offset(), 9);
    drop(log);
    // The fuzzer's form: `log-start-offset` (tag 5) holding "9"; the check appends, reopens
    // and reads the appended batch back.
    log_recovery::check(&[5, 1, 0, b'9']);
}

/// Found by `log_recovery` in CI's first run (fuzz/artifacts/log_recovery/crash-dc424ebf...):
/// a leader epoch checkpoint whose entries go backwards (`4 0` then `3 1`) was loaded as it
/// stood, an epoch history that is not increasing. It is now loaded through the same rule as
/// at run time (`LeaderEpochCache::open`), keeping a consistent prefix.
#[test]
fn a_leader_epoch_checkpoint_out_of_order_loads_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir
        .path()
        .join(reference::log::LEADER_EPOCH_CHECKPOINT_FILE);
    fs::write(&file, "0\n2\n4 0\n3 1\n").unwrap();
    let cache = reference::log::LeaderEpochCache::open(dir.path()).unwrap();
    let entries = cache.entries();
    assert!(!entries.is_empty());
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset),
        "{entries:?}"
    );
}
