//! Fuzz check: record batch validation and decompression, on bytes a client sent.
//!
//! The produce path runs `validate_produce_for_version` on each partition's `records`; the
//! fetch, ListOffsets and recovery paths run `scan_valid_prefix` and `record_timestamps` on
//! stored bytes. This check runs all three on the same bytes and holds them to what the
//! broker relies on:
//!
//! - nothing panics, and every refusal carries one of the error codes a produce can get
//!   (`UNKNOWN_SERVER_ERROR`, `CORRUPT_MESSAGE`, `UNSUPPORTED_COMPRESSION_TYPE`,
//!   `INVALID_RECORD`);
//! - a batch that validates is whole, CRC-valid (`scan_valid_prefix` takes exactly it), has
//!   its records readable with offsets 0, 1, 2 ..., and no zstd before Produce v7;
//! - an accepted batch goes through a log unchanged: appended to an in-memory log (also a
//!   `LogAppendTime` one, which rewrites covered bytes and the CRC) and read back, it is the
//!   same batch, still CRC-valid.
//!
//! Input: the first byte chooses the Produce version (its low 7 bits, modulo 14: v0..=13) and,
//! with its top bit set, has the CRC of every framed batch in the rest computed and written
//! in before the checks (so that the fuzzer reaches decompression and record parsing instead
//! of stopping at CRC-32C, which it cannot solve); the rest is the `records` field of one
//! partition.
//!
//! # References
//! - Kafka protocol guide, "Record Batch": <https://kafka.apache.org/documentation/#recordbatch>
//! - Apache Kafka sources: `ProduceRequest.validateRecords`, `LogValidator`,
//!   `DefaultRecordBatch.ensureValid`

use reference::log::{Log, LogConfig};
use reference::record_batch::{self, BatchHeader};

/// The error codes `BatchError::error_code` may give (see `reference::record_batch`).
const PRODUCE_ERROR_CODES: [i16; 4] = [-1, 2, 76, 87];
/// Produce v0..=13: the versions the codec knows.
const PRODUCE_VERSIONS: u8 = 14;
const NOW_MS: i64 = 1_700_000_000_000;

pub fn check(data: &[u8]) {
    let Some((&selector, records)) = data.split_first() else {
        return;
    };
    let produce_version = i16::from((selector & 0x7f) % PRODUCE_VERSIONS);
    let mut fixed;
    let records = if selector & 0x80 != 0 {
        fixed = records.to_vec();
        fix_crcs(&mut fixed);
        &fixed[..]
    } else {
        records
    };
    check_stored_bytes_readers(records);
    match record_batch::validate_produce_for_version(records, produce_version) {
        Err(error) => {
            let code = error.error_code();
            assert!(
                PRODUCE_ERROR_CODES.contains(&code),
                "{error} gave error code {code}"
            );
            let _ = error.to_string();
        }
        Ok(header) => check_accepted(records, header, produce_version),
    }
}

/// `scan_valid_prefix` and `record_timestamps` on any bytes: no panic, and answers that
/// agree with the headers they report.
fn check_stored_bytes_readers(bytes: &[u8]) {
    let (headers, valid_len) = record_batch::scan_valid_prefix(bytes);
    assert!(valid_len <= bytes.len(), "valid prefix past the end");
    let framed: usize = headers.iter().map(BatchHeader::total_len).sum();
    assert_eq!(
        framed, valid_len,
        "valid prefix is not the sum of its batches"
    );
    if let Ok(timestamps) = record_batch::record_timestamps(bytes) {
        let header = BatchHeader::parse(bytes).expect("record_timestamps read a header");
        assert_eq!(
            timestamps.len(),
            usize::try_from(header.records_count).expect("a readable batch has a count >= 0"),
            "record_timestamps disagrees with recordsCount"
        );
    }
}

fn check_accepted(records: &[u8], header: BatchHeader, produce_version: i16) {
    let total_len = header.total_len();
    assert!(total_len <= records.len(), "accepted a batch past the end");
    let batch = &records[..total_len];
    assert_eq!(
        record_batch::scan_valid_prefix(batch),
        (vec![header], total_len),
        "an accepted batch is not one CRC-valid batch"
    );
    assert!(
        produce_version >= 7 || header.compression() != 4,
        "zstd accepted in produce v{produce_version}"
    );
    let timestamps = record_batch::record_timestamps(batch).expect("accepted batch readable");
    let offsets: Vec<i64> = timestamps.iter().map(|&(offset, _)| offset).collect();
    let expected: Vec<i64> = (0..i64::from(header.records_count)).collect();
    assert_eq!(
        offsets, expected,
        "accepted batch offsets are not 0, 1, 2, ..."
    );
    check_log_round_trip(batch, &header, false);
    check_log_round_trip(batch, &header, true);
}

/// Appends the batch twice to an in-memory log and reads both back.
fn check_log_round_trip(batch: &[u8], header: &BatchHeader, log_append_time: bool) {
    let config = LogConfig {
        log_append_time,
        ..LogConfig::default()
    };
    let mut log = Log::in_memory(config, NOW_MS);
    let count = i64::from(header.records_count);
    for round in 0..2 {
        let mut appended = batch.to_vec();
        let info = log.append(&mut appended, NOW_MS).expect("in-memory append");
        assert_eq!(info.base_offset, round * count, "append base offset");
        assert_eq!(
            info.last_offset,
            (round + 1) * count - 1,
            "append last offset"
        );
        let read = log
            .read(info.base_offset, batch.len(), true)
            .expect("read what was appended");
        assert_eq!(
            &read[..],
            &appended[..],
            "the log changed the batch it stored"
        );
        assert_eq!(
            record_batch::scan_valid_prefix(&read).1,
            read.len(),
            "a stored batch fails its CRC"
        );
        if !log_append_time {
            // Only the base offset differs from what the producer sent.
            assert_eq!(&read[8..], &batch[8..], "covered bytes changed");
        }
    }
    assert_eq!(log.log_end_offset(), 2 * count);
}

/// Writes the right CRC-32C into every batch framed in `buf` (a `batchLength` that covers the
/// header and fits), from the front, stopping at the first that is not framed.
pub fn fix_crcs(buf: &mut [u8]) {
    const CRC_OFFSET: usize = 17;
    let mut position = 0;
    while let Some(header) = buf.get(position..position + record_batch::BATCH_HEADER_LEN) {
        let batch_length = i32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
        let header_rest = (record_batch::BATCH_HEADER_LEN - record_batch::LOG_OVERHEAD) as i32;
        if batch_length < header_rest {
            return;
        }
        let end = position + record_batch::LOG_OVERHEAD + batch_length as usize;
        let Some(batch) = buf.get_mut(position..end) else {
            return;
        };
        let crc = record_batch::compute_crc(batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        position = end;
    }
}
