//! Tests of the log's transactions: open transactions, the last stable offset and the
//! aborted transactions, through appends, reopening, truncation and retention. Producers 1..3
//! write to `payments-0`.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::records::Compression;
use proptest::prelude::*;

use super::*;
use crate::record_batch::{
    ControlType, NewRecord, control_type, encode_control_batch, encode_producer_batch,
    scan_valid_prefix, set_producer,
};

/// `count` records of producer `pid` (epoch 0) from `sequence`, transactional or not.
fn data(pid: i64, sequence: i32, count: usize, transactional: bool) -> Vec<u8> {
    data_at(pid, 0, sequence, count, transactional)
}

/// [`data`] at `epoch`.
fn data_at(pid: i64, epoch: i16, sequence: i32, count: usize, transactional: bool) -> Vec<u8> {
    let records: Vec<NewRecord> = (0..count)
        .map(|i| NewRecord {
            key: None,
            value: Some(format!("payment {pid}-{sequence}-{i}").into_bytes().into()),
            timestamp: 1_000,
        })
        .collect();
    let mut bytes = encode_producer_batch(&records, Compression::None)
        .unwrap()
        .to_vec();
    set_producer(&mut bytes, pid, epoch, sequence, transactional);
    bytes
}

fn marker(pid: i64, control: ControlType) -> Vec<u8> {
    encode_control_batch(pid, 0, 5, control, 1_000).to_vec()
}

fn append(log: &mut Log, mut bytes: Vec<u8>) -> i64 {
    log.append(&mut bytes, 1_000).unwrap().base_offset
}

/// (producer id, first offset) of each aborted transaction in the whole log.
fn aborted(log: &Log) -> Vec<(i64, i64)> {
    log.aborted_transactions(log.log_start_offset(), log.log_end_offset())
        .iter()
        .map(|a| (a.producer_id, a.first_offset))
        .collect()
}

/// Producer 1 aborts 0..=1 (marker 4), producer 2 writes 2..=3 outside any transaction,
/// producer 3 opens a transaction at 5.
fn abort_then_open(log: &mut Log) {
    assert_eq!(append(log, data(1, 0, 2, true)), 0);
    assert_eq!(append(log, data(2, 0, 2, false)), 2);
    assert_eq!(append(log, marker(1, ControlType::Abort)), 4);
    assert_eq!(append(log, data(3, 0, 3, true)), 5);
}

fn memory_and_file() -> Vec<(Log, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = Log::open(&dir.path().join("payments-0"), LogConfig::default(), 0).unwrap();
    vec![
        (file, Some(dir)),
        (Log::in_memory(LogConfig::default(), 0), None),
    ]
}

#[test]
fn open_and_ended_transactions_bound_the_last_stable_offset() {
    for (mut log, _dir) in memory_and_file() {
        abort_then_open(&mut log);
        assert_eq!(log.ongoing_transaction(1), None);
        assert_eq!(log.ongoing_transaction(2), None);
        assert_eq!(log.ongoing_transaction(3), Some(5));
        // Producer 1's aborted transaction is unstable until its marker is replicated.
        log.on_high_watermark_updated(4);
        assert_eq!(log.last_stable_offset(4), 0);
        log.on_high_watermark_updated(5);
        assert_eq!(log.last_stable_offset(5), 5);
        log.on_high_watermark_updated(8);
        assert_eq!(
            log.last_stable_offset(8),
            5,
            "producer 3's transaction is open"
        );
        assert_eq!(aborted(&log), [(1, 0)]);
        let entry = log.producers().entry(3).unwrap();
        assert_eq!(entry.current_txn_first_offset, Some(5));
        assert_eq!(log.producers().entry(1).unwrap().coordinator_epoch, 5);
        // Its commit makes everything stable once replicated.
        assert_eq!(append(&mut log, marker(3, ControlType::Commit)), 8);
        assert_eq!(log.last_stable_offset(8), 5);
        log.on_high_watermark_updated(9);
        assert_eq!(log.last_stable_offset(9), 9);
        assert_eq!(aborted(&log), [(1, 0)], "a commit is not an abort");
    }
}

#[test]
fn reopening_and_truncation_rebuild_the_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments-0");
    let mut log = Log::open(&path, LogConfig::default(), 0).unwrap();
    abort_then_open(&mut log);
    log.flush().unwrap();
    drop(log);
    let mut log = Log::open(&path, LogConfig::default(), 0).unwrap();
    assert_eq!(log.ongoing_transaction(3), Some(5));
    assert_eq!(aborted(&log), [(1, 0)]);
    log.on_high_watermark_updated(8);
    assert_eq!(log.last_stable_offset(8), 5);
    // Cutting the abort marker reopens producer 1's transaction and forgets the abort.
    assert!(log.truncate_to(4, 0).unwrap());
    assert_eq!(log.ongoing_transaction(1), Some(0));
    assert_eq!(log.ongoing_transaction(3), None);
    assert_eq!(aborted(&log), []);
    assert_eq!(log.last_stable_offset(4), 0);
}

#[test]
fn moving_the_log_start_forgets_aborts_below_it() {
    for (mut log, _dir) in memory_and_file() {
        abort_then_open(&mut log);
        log.on_high_watermark_updated(8);
        log.increment_log_start_offset(4).unwrap();
        assert_eq!(aborted(&log), [(1, 0)], "its marker is still in the log");
        log.increment_log_start_offset(5).unwrap();
        assert_eq!(aborted(&log), []);
        assert_eq!(log.last_stable_offset(8), 5);
        // An open transaction starting below the log start: the LSO is not below the start.
        log.increment_log_start_offset(6).unwrap();
        assert_eq!(log.last_stable_offset(8), 6);
    }
}

#[test]
fn a_producer_with_an_open_transaction_does_not_expire() {
    let mut log = Log::in_memory(LogConfig::default(), 0);
    abort_then_open(&mut log);
    // Every batch is stamped 1_000: all are idle for long enough, but producer 3 is open.
    assert_eq!(log.expire_producers(10_000, 1_000), 2);
    assert!(log.producers().entry(3).is_some());
}

#[test]
fn only_transactional_batches_while_a_transaction_is_open() {
    let mut log = Log::in_memory(LogConfig::default(), 0);
    append(&mut log, data(1, 0, 2, true));
    let header = crate::record_batch::BatchHeader::parse(&data(1, 2, 1, false)).unwrap();
    assert_eq!(
        log.check_producer(&header).map_err(|e| e.code()),
        Err(kafka_protocol::error::ResponseError::InvalidTxnState.code())
    );
    let header = crate::record_batch::BatchHeader::parse(&data(1, 2, 1, true)).unwrap();
    assert_eq!(log.check_producer(&header), Ok(ProducerCheck::Append));
    // A new epoch (at sequence 0) does not end the transaction either: only a marker does.
    let header = crate::record_batch::BatchHeader::parse(&data_at(1, 1, 0, 1, false)).unwrap();
    assert_eq!(
        log.check_producer(&header).map_err(|e| e.code()),
        Err(kafka_protocol::error::ResponseError::InvalidTxnState.code())
    );
    // A coordinator's batch is held to the same rule.
    assert_eq!(
        log.check_producer_with_origin(&header, AppendOrigin::Coordinator)
            .map_err(|e| e.code()),
        Err(kafka_protocol::error::ResponseError::InvalidTxnState.code())
    );
    append(&mut log, marker(1, ControlType::Commit));
    assert_eq!(log.check_producer(&header), Ok(ProducerCheck::Append));
}

/// One step of a partition's history in the property below.
#[derive(Debug, Clone)]
enum Op {
    /// Producer (0..3) writes `1..=3` records, transactional or not.
    Data(i64, usize, bool),
    /// Producer ends its transaction: commit (`true`) or abort.
    End(i64, bool),
    /// The high watermark moves to a batch boundary this share (0..=100 %) of the way to
    /// the log end.
    HighWatermark(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0i64..3, 1usize..=3, any::<bool>()).prop_map(|(p, n, t)| Op::Data(p, n, t)),
        2 => (0i64..3, any::<bool>()).prop_map(|(p, c)| Op::End(p, c)),
        2 => (0u8..=100).prop_map(Op::HighWatermark),
    ]
}

/// What Kafka's consumer keeps of `records` with `read_committed`
/// (`CompletedFetch.nextFetchedRecord`): the offsets of data records not in an aborted
/// transaction, control batches dropped.
fn read_committed(records: &[u8], aborted: &[AbortedTxn]) -> BTreeSet<i64> {
    let mut pending: Vec<AbortedTxn> = aborted.to_vec();
    pending.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut aborted_producers = BTreeSet::new();
    let mut kept = BTreeSet::new();
    let mut position = 0;
    let (headers, _) = scan_valid_prefix(records);
    for header in headers {
        let end = position + header.total_len();
        let batch = &records[position..end];
        position = end;
        if header.has_producer_id() {
            while pending
                .last()
                .is_some_and(|a| a.first_offset <= header.last_offset())
            {
                let a = pending.pop().unwrap();
                aborted_producers.insert(a.producer_id);
            }
        }
        if header.is_control() {
            if let Some((ControlType::Abort, _)) = control_type(batch) {
                aborted_producers.remove(&header.producer_id);
            }
            continue;
        }
        if header.is_transactional() && aborted_producers.contains(&header.producer_id) {
            continue;
        }
        kept.extend(header.base_offset..=header.last_offset());
    }
    kept
}

proptest! {
    /// Whatever producers 1..3 write, commit and abort: the last stable offset is never
    /// above the high watermark nor above an open transaction's first offset, and a
    /// `read_committed` consumer that reads up to it with the aborted transactions the log
    /// gives keeps exactly the records outside transactions and in committed ones.
    #[test]
    fn the_lso_and_the_aborted_transactions_give_exactly_the_committed_records(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut log = Log::in_memory(LogConfig::default(), 0);
        let mut high_watermark = 0;
        let mut sequences = [0i32; 3];
        // Model: each producer's open transaction's offsets; the offsets a consumer keeps.
        let mut open: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut committed = BTreeSet::new();
        let mut boundaries = Vec::new();
        for op in ops {
            match op {
                Op::Data(p, count, transactional) => {
                    let transactional = transactional || open.contains_key(&p);
                    let base = append(&mut log, data(p, sequences[p as usize], count, transactional));
                    sequences[p as usize] += count as i32;
                    boundaries.push(log.log_end_offset());
                    let offsets = base..base + count as i64;
                    if transactional {
                        open.entry(p).or_default().extend(offsets);
                    } else {
                        committed.extend(offsets);
                    }
                }
                Op::End(p, commit) => {
                    append(&mut log, marker(p, ControlType::from_commit(commit)));
                    boundaries.push(log.log_end_offset());
                    let offsets = open.remove(&p).unwrap_or_default();
                    if commit {
                        committed.extend(offsets);
                    }
                }
                Op::HighWatermark(share) => {
                    let ahead: Vec<i64> = boundaries
                        .iter()
                        .copied()
                        .filter(|&b| b > high_watermark)
                        .collect();
                    if let Some(&to) = ahead.get(ahead.len() * usize::from(share) / 101) {
                        high_watermark = to;
                        log.on_high_watermark_updated(high_watermark);
                    }
                }
            }
            let lso = log.last_stable_offset(high_watermark);
            prop_assert!(lso <= high_watermark);
            for (p, offsets) in &open {
                prop_assert!(lso <= offsets[0], "lso {} above open {}", lso, offsets[0]);
                prop_assert_eq!(log.ongoing_transaction(*p), Some(offsets[0]));
            }
            let records = log.read_up_to(0, usize::MAX, true, lso).unwrap();
            let kept = read_committed(&records, &log.aborted_transactions(0, lso));
            let expected: BTreeSet<i64> = committed.range(..lso).copied().collect();
            prop_assert_eq!(kept, expected);
        }
    }
}
