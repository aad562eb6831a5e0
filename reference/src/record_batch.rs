//! Record batches (message format v2) as the producer sent them.
//!
//! The broker never re-encodes records: it checks a batch (magic, length, CRC-32C, record
//! count), rewrites the base offset in place (the CRC does not cover it), and stores the bytes.
//! Only `LogAppendTime` topics change covered bytes (the max timestamp and the attributes), and
//! then the CRC is computed again.
//!
//! Checking a produce goes in the order Kafka checks it, because the order decides which error
//! code a doubly broken batch gets:
//!
//! 1. framing, as `ByteBufferLogInputStream.nextBatchSize` does it: a batch length below 14 or
//!    a magic outside 0..=2 is `CORRUPT_MESSAGE` (2); a batch that does not fit in the buffer
//!    is *no batch at all*, so `ProduceRequest.validateRecords` answers `INVALID_RECORD` (87,
//!    "must have at least one record batch"). A truncated batch is therefore 87, not 2;
//! 2. `ProduceRequest.validateRecords`: magic 0 or 1 in produce v3+ is `INVALID_RECORD` (87);
//!    zstd before produce v7 is `UNSUPPORTED_COMPRESSION_TYPE` (76); a second complete batch is
//!    `INVALID_RECORD` (87). Bytes after the batch that do not make a complete batch are
//!    ignored, and `UnifiedLog.trimInvalidBytes` later drops them;
//! 3. `UnifiedLog.analyzeAndValidateRecords`: a base offset other than 0 is `INVALID_RECORD`;
//!    a batch shorter than its 61-byte header or a CRC mismatch is `CORRUPT_MESSAGE`
//!    (`DefaultRecordBatch.isValid`); an unknown compression id makes `CompressionType.forId`
//!    throw `IllegalArgumentException`, which Kafka answers as `UNKNOWN_SERVER_ERROR` (-1);
//! 4. `LogValidator.validateBatch`: `lastOffsetDelta + 1` must be positive and equal the
//!    record count, which must be positive; clients may not write control batches; a producer
//!    id needs a base sequence >= 0. All `INVALID_RECORD`;
//! 5. the records themselves, as `DefaultRecord.readFrom` reads them: sizes, varints, header
//!    counts, no bytes left over. All `INVALID_RECORD`. A compressed payload that does not
//!    decompress is a `KafkaException` in Kafka, which reaches the client as
//!    `UNKNOWN_SERVER_ERROR` (-1). Records that inflate past the cap below are
//!    `INVALID_RECORD`.
//!
//! One deliberate difference: Kafka renumbers a compressed batch whose inner offset deltas are
//! not 0, 1, 2 … (it re-encodes it); this broker never re-encodes, so it rejects such a batch
//! with `INVALID_RECORD`. Real clients always write consecutive deltas.
//!
//! Timestamp checks (`message.timestamp.*.max.ms`, `INVALID_TIMESTAMP`) and size limits
//! (`max.message.bytes`, `MESSAGE_TOO_LARGE`) depend on topic configs, so the caller makes them.
//!
//! # Bounded memory
//!
//! Records are read from a stream (`inflate`): in place when uncompressed, through a
//! streaming decoder when compressed, in chunks of 32 KiB; a batch is never inflated whole.
//! Every count and length read from a record (its size, key and value lengths, header count and
//! header lengths) is checked against the bytes that can still be there (the record's declared
//! size, the section, or the inflation cap) before it is skipped or looped over, and nothing
//! is allocated per record. The record count from the header only bounds a loop in which each
//! turn consumes at least one byte.
//!
//! The inflated records of one compressed batch may be at most [`max_inflated_bytes`]: 64 times
//! the topic's `max.message.bytes` (counted as at least 1 MiB), at most 2^31 - 1 bytes; with
//! the default `max.message.bytes` that is 64 MiB. A batch over it is `INVALID_RECORD` (87),
//! the code Kafka gives a record its decompressing reader refuses (`InvalidRecordException`
//! from `DefaultRecord.readFrom`, `Errors.forException`). This is a deliberate difference:
//! Kafka streams the records too (`DefaultRecordBatch.RecordIterator`, bounded memory) but puts
//! no cap on a batch's inflated total (trunk added a per-record one,
//! `max.decompressed.message.bytes`, apache/kafka#23429, default `Records.SOFT_MAX_ARRAY_LENGTH`),
//! so a 1 MiB gzip batch costs it the CPU time of inflating 1 GiB. A cap tied to
//! `max.message.bytes` keeps the broker's time per request bounded too, and an honest batch
//! (whose compressed size is at most `max.message.bytes`) would need a compression ratio over
//! 64 to reach it. Stored batches (ListOffsets by timestamp) are read under the ceiling,
//! [`MAX_INFLATED_BYTES_CEILING`]: they were checked when they were produced.
//!
//! # References
//! - Kafka protocol guide, "Record Batch": <https://kafka.apache.org/documentation/#recordbatch>
//! - KIP-98 (the v2 format; control batches: `control`)
//! - Apache Kafka sources: `ProduceRequest.validateRecords`, `ByteBufferLogInputStream`,
//!   `UnifiedLog.analyzeAndValidateRecords` / `trimInvalidBytes`, `LogValidator.validateBatch`,
//!   `DefaultRecordBatch.ensureValid` / `setMaxTimestamp`, `DefaultRecord.readFrom`,
//!   `ReplicaManager.appendToLocalLog` (which exceptions become which error codes)
//! - apache/kafka#23429 (`max.decompressed.message.bytes`, per-record `InvalidRecordException`)

mod control;
mod inflate;

use std::ops::ControlFlow;

pub use control::{ControlType, control_type, encode_control_batch};
use inflate::{Records, Short};

/// Bytes of the v2 batch header, up to and including `recordsCount`.
pub const BATCH_HEADER_LEN: usize = 61;

/// `baseOffset` and `batchLength`: the bytes before what `batchLength` counts (`LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = 12;

/// The newest Produce version the codec knows; [`validate_produce`] checks as of it.
pub const LATEST_PRODUCE_VERSION: i16 = 13;

const BATCH_LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;
/// `LegacyRecord.RECORD_OVERHEAD_V0`: the smallest batch length Kafka's framing accepts.
const MIN_FRAMED_BATCH_LENGTH: i32 = 14;

/// Kafka's default `message.max.bytes` (1 MiB and a 12-byte log overhead).
const DEFAULT_MESSAGE_MAX_BYTES: i32 = 1024 * 1024 + 12;
/// How many times `max.message.bytes` the records of one compressed batch may inflate to.
pub const INFLATION_RATIO_LIMIT: u64 = 64;
/// The least `max.message.bytes` counted for the inflation cap: a topic with tiny messages
/// still takes batches that inflate to 64 MiB.
pub const MIN_INFLATION_BASE_BYTES: u64 = 1024 * 1024;
/// The most any batch may inflate to, whatever `max.message.bytes` is (Kafka's own ceiling on
/// one record is `Records.SOFT_MAX_ARRAY_LENGTH`, just under 2^31).
pub const MAX_INFLATED_BYTES_CEILING: u64 = i32::MAX as u64;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// Kafka error codes a produce can get from this module.
const UNKNOWN_SERVER_ERROR: i16 = -1;
const CORRUPT_MESSAGE: i16 = 2;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const INVALID_RECORD: i16 = 87;

/// The fixed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

/// Why a batch was refused. Each carries the Kafka error code a produce gets
/// ([`BatchError::error_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The buffer holds no complete batch (Kafka: no batch at all, `INVALID_RECORD`).
    #[error("no complete record batch: {available} bytes where {needed} are needed")]
    Truncated { needed: usize, available: usize },
    /// A batch length too small for the header (`CORRUPT_MESSAGE`).
    #[error("invalid record batch length {batch_length}")]
    InvalidBatchLength { batch_length: i32 },
    /// A magic byte outside 0..=2 (`CORRUPT_MESSAGE`).
    #[error("invalid magic {magic} in record batch")]
    InvalidMagic { magic: i8 },
    /// Magic 0 or 1: produce v3+ takes only v2 batches (`INVALID_RECORD`).
    #[error("record batches with magic {magic} are not allowed, only magic 2")]
    UnsupportedMagic { magic: i8 },
    /// zstd in a produce older than v7 (`UNSUPPORTED_COMPRESSION_TYPE`).
    #[error("produce requests before version 7 may not use ZStandard compression")]
    ZstdBeforeV7,
    /// A second complete batch for one partition (`INVALID_RECORD`).
    #[error("produce requests may contain exactly one record batch per partition")]
    MoreThanOneBatch,
    /// Clients send base offset 0; the broker assigns offsets (`INVALID_RECORD`).
    #[error("the base offset of a produced record batch must be 0, not {base_offset}")]
    NonZeroBaseOffset { base_offset: i64 },
    /// The stored CRC-32C does not match the bytes (`CORRUPT_MESSAGE`).
    #[error("record batch is corrupt (stored crc {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch { stored: u32, computed: u32 },
    /// Compression bits 5, 6 or 7 (Kafka: `UNKNOWN_SERVER_ERROR`).
    #[error("unknown compression type id {id}")]
    UnknownCompression { id: i16 },
    /// `lastOffsetDelta + 1 <= 0` (`INVALID_RECORD`).
    #[error("record batch has an invalid offset range (last offset delta {last_offset_delta})")]
    InvalidOffsetRange { last_offset_delta: i32 },
    /// A record count that is not positive (`INVALID_RECORD`).
    #[error("invalid record count {records_count}")]
    InvalidRecordCount { records_count: i32 },
    /// `lastOffsetDelta + 1 != recordsCount` (`INVALID_RECORD`).
    #[error("last offset delta {last_offset_delta} disagrees with record count {records_count}")]
    InconsistentRecordCount {
        last_offset_delta: i32,
        records_count: i32,
    },
    /// Clients may not write control batches (`INVALID_RECORD`).
    #[error("clients are not allowed to write control records")]
    ControlBatch,
    /// An idempotent batch without a sequence number (`INVALID_RECORD`).
    #[error("invalid base sequence {base_sequence} for producer id {producer_id}")]
    InvalidSequence {
        producer_id: i64,
        base_sequence: i32,
    },
    /// The compressed payload does not decompress (Kafka: `UNKNOWN_SERVER_ERROR`).
    #[error("cannot decompress records (compression {compression}): {reason}")]
    Decompression { compression: i16, reason: String },
    /// A record that does not parse, or records that disagree with the header
    /// (`INVALID_RECORD`).
    #[error("record {index} is malformed: {reason}")]
    MalformedRecord { index: usize, reason: &'static str },
    /// The records of a compressed batch inflate past [`max_inflated_bytes`]
    /// (`INVALID_RECORD`).
    #[error(
        "records of the compressed batch (compression {compression}) inflate to more than {max_inflated_bytes} bytes"
    )]
    InflatedTooLarge {
        compression: i16,
        max_inflated_bytes: u64,
    },
}

impl BatchError {
    /// The Kafka error code a Produce partition response carries for this failure.
    pub fn error_code(&self) -> i16 {
        match self {
            BatchError::InvalidBatchLength { .. }
            | BatchError::InvalidMagic { .. }
            | BatchError::CrcMismatch { .. } => CORRUPT_MESSAGE,
            BatchError::ZstdBeforeV7 => UNSUPPORTED_COMPRESSION_TYPE,
            BatchError::UnknownCompression { .. } | BatchError::Decompression { .. } => {
                UNKNOWN_SERVER_ERROR
            }
            BatchError::Truncated { .. }
            | BatchError::UnsupportedMagic { .. }
            | BatchError::MoreThanOneBatch
            | BatchError::NonZeroBaseOffset { .. }
            | BatchError::InvalidOffsetRange { .. }
            | BatchError::InvalidRecordCount { .. }
            | BatchError::InconsistentRecordCount { .. }
            | BatchError::ControlBatch
            | BatchError::InvalidSequence { .. }
            | BatchError::MalformedRecord { .. }
            | BatchError::InflatedTooLarge { .. } => INVALID_RECORD,
        }
    }
}

impl BatchHeader {
    /// Reads the header at the start of `buf`. Needs the 61 header bytes (not the records),
    /// magic 2 and a batch length that covers the header.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        match magic {
            2 => {}
            0 | 1 => return Err(BatchError::UnsupportedMagic { magic }),
            _ => return Err(BatchError::InvalidMagic { magic }),
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, BATCH_LENGTH_OFFSET),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        };
        if header.batch_length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidBatchLength {
                batch_length: header.batch_length,
            });
        }
        Ok(header)
    }

    /// Bytes of the whole batch: `baseOffset`, `batchLength` and what `batchLength` counts.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the batch's last record (`baseOffset + lastOffsetDelta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch: where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Compression id (attribute bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether the producer is idempotent (`DefaultRecordBatch.hasProducerId`).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Validates the records of one partition in a Produce request at the newest version (v3+:
/// exactly one v2 batch). See the module doc for the order of checks and their error codes.
/// On success the batch is `records[..header.total_len()]`; bytes after it are to be ignored.
pub fn validate_produce(records: &[u8]) -> Result<BatchHeader, BatchError> {
    validate_produce_for_version(records, LATEST_PRODUCE_VERSION)
}

/// [`validate_produce`] for a given Produce request version (only v7+ may carry zstd), with
/// the inflation cap of the default `max.message.bytes`.
pub fn validate_produce_for_version(
    records: &[u8],
    produce_version: i16,
) -> Result<BatchHeader, BatchError> {
    let max_inflated = max_inflated_bytes(DEFAULT_MESSAGE_MAX_BYTES);
    validate_produce_with_limit(records, produce_version, max_inflated)
}

/// The cap on the inflated records of one compressed batch for a topic whose
/// `max.message.bytes` is `max_message_bytes` (see the module doc).
pub fn max_inflated_bytes(max_message_bytes: i32) -> u64 {
    u64::try_from(max_message_bytes)
        .unwrap_or(0)
        .max(MIN_INFLATION_BASE_BYTES)
        .saturating_mul(INFLATION_RATIO_LIMIT)
        .min(MAX_INFLATED_BYTES_CEILING)
}

/// [`validate_produce_for_version`] with the records of a compressed batch allowed to inflate
/// to `max_inflated_bytes` ([`max_inflated_bytes`] of the topic's `max.message.bytes`).
pub fn validate_produce_with_limit(
    records: &[u8],
    produce_version: i16,
    max_inflated_bytes: u64,
) -> Result<BatchHeader, BatchError> {
    let batch = check_produce_request_rules(records, produce_version)?;
    // `UnifiedLog.analyzeAndValidateRecords`
    let base_offset = be_i64(batch, 0);
    if base_offset != 0 {
        return Err(BatchError::NonZeroBaseOffset { base_offset });
    }
    if batch.len() < BATCH_HEADER_LEN {
        let batch_length = be_i32(batch, BATCH_LENGTH_OFFSET);
        return Err(BatchError::InvalidBatchLength { batch_length });
    }
    let header = BatchHeader::parse(batch)?;
    check_crc(&header, batch)?;
    if header.compression() > 4 {
        return Err(BatchError::UnknownCompression {
            id: header.compression(),
        });
    }
    // `LogValidator`
    check_batch_fields(&header)?;
    let mut expected_delta = 0;
    walk_records(&header, batch, max_inflated_bytes, |index, record| {
        if record.offset_delta != expected_delta {
            return Err(BatchError::MalformedRecord {
                index,
                reason: "offset deltas are not 0, 1, 2, ...",
            });
        }
        expected_delta += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(header)
}

/// The framing and `ProduceRequest.validateRecords`: exactly one complete batch, magic 2,
/// no zstd before v7. Returns the batch (without any trailing partial bytes).
fn check_produce_request_rules(records: &[u8], produce_version: i16) -> Result<&[u8], BatchError> {
    let Some(total_len) = frame(records)? else {
        let needed = framed_need(records);
        return Err(BatchError::Truncated {
            needed,
            available: records.len(),
        });
    };
    let magic = records[MAGIC_OFFSET] as i8;
    if magic != 2 {
        return Err(BatchError::UnsupportedMagic { magic });
    }
    let batch = &records[..total_len];
    let zstd = batch.len() > ATTRIBUTES_OFFSET + 1
        && be_i16(batch, ATTRIBUTES_OFFSET) & COMPRESSION_MASK == 4;
    if produce_version < 7 && zstd {
        return Err(BatchError::ZstdBeforeV7);
    }
    if frame(&records[total_len..])?.is_some() {
        return Err(BatchError::MoreThanOneBatch);
    }
    Ok(batch)
}

/// Kafka's framing of the next batch (`ByteBufferLogInputStream.nextBatchSize` and
/// `nextBatch`): `Ok(None)` when the buffer holds no complete batch.
fn frame(buf: &[u8]) -> Result<Option<usize>, BatchError> {
    if buf.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let batch_length = be_i32(buf, BATCH_LENGTH_OFFSET);
    if batch_length < MIN_FRAMED_BATCH_LENGTH {
        return Err(BatchError::InvalidBatchLength { batch_length });
    }
    if buf.len() <= MAGIC_OFFSET {
        return Ok(None);
    }
    let magic = buf[MAGIC_OFFSET] as i8;
    if !(0..=2).contains(&magic) {
        return Err(BatchError::InvalidMagic { magic });
    }
    let total_len = LOG_OVERHEAD + batch_length as usize;
    Ok((buf.len() >= total_len).then_some(total_len))
}

/// How many bytes the first batch in `buf` needs, for the `Truncated` message.
fn framed_need(buf: &[u8]) -> usize {
    if buf.len() < LOG_OVERHEAD {
        return LOG_OVERHEAD;
    }
    LOG_OVERHEAD + be_i32(buf, BATCH_LENGTH_OFFSET).max(0) as usize
}

/// `LogValidator.validateBatch` for a client append of a v2 batch.
fn check_batch_fields(header: &BatchHeader) -> Result<(), BatchError> {
    let count_from_offsets = i64::from(header.last_offset_delta) + 1;
    if count_from_offsets <= 0 {
        return Err(BatchError::InvalidOffsetRange {
            last_offset_delta: header.last_offset_delta,
        });
    }
    if header.records_count <= 0 {
        return Err(BatchError::InvalidRecordCount {
            records_count: header.records_count,
        });
    }
    if count_from_offsets != i64::from(header.records_count) {
        return Err(BatchError::InconsistentRecordCount {
            last_offset_delta: header.last_offset_delta,
            records_count: header.records_count,
        });
    }
    if header.is_control() {
        return Err(BatchError::ControlBatch);
    }
    if header.has_producer_id() && header.base_sequence < 0 {
        return Err(BatchError::InvalidSequence {
            producer_id: header.producer_id,
            base_sequence: header.base_sequence,
        });
    }
    Ok(())
}

/// The CRC-32C over `batch[21..]`, as `DefaultRecordBatch.computeChecksum`.
pub fn compute_crc(batch: &[u8]) -> u32 {
    batch.get(ATTRIBUTES_OFFSET..).map_or(0, crc32c::crc32c)
}

fn check_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// Walks whole batches in a buffer of concatenated batches (log recovery, reads): returns the
/// headers of every complete v2 batch whose CRC verifies, up to the first that does not, and
/// the byte length of that valid prefix.
pub fn scan_valid_prefix(buf: &[u8]) -> (Vec<BatchHeader>, usize) {
    let mut headers = Vec::new();
    let mut position = 0;
    while let Ok(header) = BatchHeader::parse(&buf[position..]) {
        let end = position + header.total_len();
        if end > buf.len() || check_crc(&header, &buf[position..end]).is_err() {
            break;
        }
        headers.push(header);
        position = end;
    }
    (headers, position)
}

/// The offset after the last whole batch in `buf` (concatenated stored batches, headers
/// only, no CRC check); `None` if it holds no whole batch.
pub fn end_offset_of(buf: &[u8]) -> Option<i64> {
    let mut end = None;
    let mut position = 0;
    while let Ok(header) = BatchHeader::parse(&buf[position..]) {
        let next = position + header.total_len();
        if next > buf.len() {
            break;
        }
        end = Some(header.next_offset());
        position = next;
    }
    end
}

/// Rewrites the base offset of the batch at the start of `batch`. The CRC does not cover it.
///
/// # Panics
/// If `batch` is shorter than a batch header: callers pass validated batches only.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    assert!(
        batch.len() >= BATCH_HEADER_LEN,
        "set_base_offset on {} bytes, not a batch",
        batch.len()
    );
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch of the batch at the start of `batch` (not covered by
/// the CRC), as `LogValidator` does on every leader append.
///
/// # Panics
/// If `batch` is shorter than a batch header.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    assert!(
        batch.len() >= BATCH_HEADER_LEN,
        "set_partition_leader_epoch on {} bytes",
        batch.len()
    );
    batch[PARTITION_LEADER_EPOCH_OFFSET..MAGIC_OFFSET].copy_from_slice(&epoch.to_be_bytes());
}

/// Stamps a `LogAppendTime` topic's append time: the timestamp-type attribute bit is set, the
/// max timestamp becomes `now_ms` and the CRC is computed again
/// (`DefaultRecordBatch.setMaxTimestamp`). Records then all read as `now_ms`.
///
/// # Panics
/// If `batch` does not hold the whole batch its header describes.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let header = BatchHeader::parse(batch).expect("stamp_log_append_time on a validated batch");
    let total_len = header.total_len();
    assert!(
        total_len <= batch.len(),
        "batch of {total_len} bytes in a {}-byte buffer",
        batch.len()
    );
    let attributes = header.attributes | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(&batch[..total_len]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

/// `(offset, timestamp)` of every record in one batch, decompressing when needed. In a
/// `LogAppendTime` batch every record has the batch's max timestamp, as `DefaultRecordBatch`'s
/// iterators report it. Allocates an entry per record: lookups use [`find_record`].
pub fn record_timestamps(batch: &[u8]) -> Result<Vec<(i64, i64)>, BatchError> {
    let mut out = Vec::new();
    for_each_record(batch, |offset, timestamp| {
        out.push((offset, timestamp));
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The first record of a stored batch whose `(offset, timestamp)` satisfies `wanted`
/// (ListOffsets by timestamp is answered at record precision), reading the records as a stream
/// and stopping there. Timestamps as in [`record_timestamps`].
pub fn find_record(
    batch: &[u8],
    mut wanted: impl FnMut(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, BatchError> {
    let mut found = None;
    for_each_record(batch, |offset, timestamp| {
        if wanted(offset, timestamp) {
            found = Some((offset, timestamp));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok(found)
}

/// Visits `(offset, timestamp)` of the records of a stored batch, under
/// [`MAX_INFLATED_BYTES_CEILING`], until `visit` breaks.
fn for_each_record(
    batch: &[u8],
    mut visit: impl FnMut(i64, i64) -> ControlFlow<()>,
) -> Result<(), BatchError> {
    let header = BatchHeader::parse(batch)?;
    let total_len = header.total_len();
    if batch.len() < total_len {
        return Err(BatchError::Truncated {
            needed: total_len,
            available: batch.len(),
        });
    }
    let batch = &batch[..total_len];
    walk_records(&header, batch, MAX_INFLATED_BYTES_CEILING, |_, record| {
        let offset = header
            .base_offset
            .wrapping_add(i64::from(record.offset_delta));
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(record.timestamp_delta)
        };
        Ok(visit(offset, timestamp))
    })
}

/// What the broker needs of one record.
#[derive(Debug, Clone, Copy)]
struct RecordMeta {
    offset_delta: i32,
    timestamp_delta: i64,
}

/// Reads the batch's records as a stream (decompressing, with compressed records allowed to
/// inflate to `max_inflated_bytes`) and visits each, checking that exactly `recordsCount`
/// well-formed records are there, until `visit` breaks.
fn walk_records(
    header: &BatchHeader,
    batch: &[u8],
    max_inflated_bytes: u64,
    mut visit: impl FnMut(usize, RecordMeta) -> Result<ControlFlow<()>, BatchError>,
) -> Result<(), BatchError> {
    if header.records_count < 0 {
        return Err(BatchError::InvalidRecordCount {
            records_count: header.records_count,
        });
    }
    if header.records_count == 0 {
        return Ok(());
    }
    let payload = batch.get(BATCH_HEADER_LEN..).unwrap_or_default();
    let mut records = Records::open(header.compression(), payload, max_inflated_bytes)?;
    // Each turn consumes at least one byte of the section or of the inflated stream, so the
    // count (up to 2^31 - 1) bounds nothing that the bytes do not bound already.
    for index in 0..header.records_count as usize {
        let record = read_record(&mut records).map_err(|bad| bad.at(index))?;
        if visit(index, record)?.is_break() {
            return Ok(());
        }
    }
    if !records.is_at_end()? {
        return Err(BatchError::MalformedRecord {
            index: header.records_count as usize,
            reason: "bytes remain after the declared records",
        });
    }
    Ok(())
}

/// Why a record could not be read: it is malformed, or the stream was refused.
enum Bad {
    Malformed(&'static str),
    Refused(BatchError),
}

impl Bad {
    fn at(self, index: usize) -> BatchError {
        match self {
            Bad::Malformed(reason) => BatchError::MalformedRecord { index, reason },
            Bad::Refused(e) => e,
        }
    }

    /// A short stream: the end is `end_reason`.
    fn from_short(short: Short, end_reason: &'static str) -> Bad {
        match short {
            Short::End => Bad::Malformed(end_reason),
            Short::Refused(e) => Bad::Refused(e),
        }
    }
}

/// Reads one record as `DefaultRecord.readFrom` does, keeping only what the broker needs.
/// The size is claimed from the stream before the body is read, and every length inside is
/// checked against what is left of the size before it is skipped or looped over.
fn read_record(records: &mut Records<'_>) -> Result<RecordMeta, Bad> {
    let size = varint(5, || {
        records
            .byte()
            .map_err(|s| Bad::from_short(s, "varint runs past the end"))
    })?;
    let size = u64::try_from(size).map_err(|_| Bad::Malformed("negative record size"))?;
    records
        .claim(size)
        .map_err(|s| Bad::from_short(s, "record size exceeds the batch"))?;
    let mut body = Body {
        records,
        remaining: size,
    };
    body.skip(1, "record too short")?; // attributes, unused in v2
    let timestamp_delta = body.varlong()?;
    let offset_delta = body.varint()?;
    for _ in 0..2 {
        let len = body.varint()?; // key, then value; negative means null
        if let Ok(len) = u64::try_from(len) {
            body.skip(len, "key or value exceeds the record")?;
        }
    }
    let header_count = body.varint()?;
    let header_count =
        u64::try_from(header_count).map_err(|_| Bad::Malformed("negative header count"))?;
    if header_count > body.remaining {
        return Err(Bad::Malformed("header count exceeds the record"));
    }
    for _ in 0..header_count {
        let key_len = u64::try_from(body.varint()?)
            .map_err(|_| Bad::Malformed("negative header key size"))?;
        body.skip(key_len, "header key exceeds the record")?;
        if let Ok(value_len) = u64::try_from(body.varint()?) {
            body.skip(value_len, "header value exceeds the record")?;
        }
    }
    if body.remaining != 0 {
        return Err(Bad::Malformed("record size disagrees with its contents"));
    }
    Ok(RecordMeta {
        offset_delta,
        timestamp_delta,
    })
}

/// One record's body: reads from the stream, never past the record's declared size.
struct Body<'r, 'a> {
    records: &'r mut Records<'a>,
    remaining: u64,
}

impl Body<'_, '_> {
    fn byte(&mut self) -> Result<u8, Bad> {
        if self.remaining == 0 {
            return Err(Bad::Malformed("varint runs past the end of the record"));
        }
        self.remaining -= 1;
        self.records
            .byte()
            .map_err(|s| Bad::from_short(s, "record size exceeds the batch"))
    }

    fn skip(&mut self, len: u64, too_long: &'static str) -> Result<(), Bad> {
        if len > self.remaining {
            return Err(Bad::Malformed(too_long));
        }
        self.remaining -= len;
        self.records
            .skip(len)
            .map_err(|s| Bad::from_short(s, "record size exceeds the batch"))
    }

    fn varint(&mut self) -> Result<i32, Bad> {
        varint(5, || self.byte())
    }

    fn varlong(&mut self) -> Result<i64, Bad> {
        let raw = unsigned_varint(10, || self.byte())?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

/// Kafka's zig-zag varint (`ByteUtils.readVarint`), at most `max_bytes` bytes.
fn varint(max_bytes: usize, next: impl FnMut() -> Result<u8, Bad>) -> Result<i32, Bad> {
    let raw = unsigned_varint(max_bytes, next)? as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Up to `max_bytes` bytes of an unsigned LEB128 value; more is an illegal varint.
fn unsigned_varint(
    max_bytes: usize,
    mut next: impl FnMut() -> Result<u8, Bad>,
) -> Result<u64, Bad> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let byte = next()?;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Bad::Malformed("illegal varint"))
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(bytes)
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(bytes)
}

/// Makes a batch built by [`encode_producer_batch`] a producer's: its id, epoch and base
/// sequence, transactional or not; the CRC is computed again. For tests and tools.
///
/// # Panics
/// If `batch` is not a whole batch.
pub fn set_producer(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
) {
    let header = BatchHeader::parse(batch).expect("set_producer on a batch");
    let total_len = header.total_len();
    assert!(total_len <= batch.len(), "set_producer on a partial batch");
    let attributes = if transactional {
        header.attributes | TRANSACTIONAL_BIT
    } else {
        header.attributes & !TRANSACTIONAL_BIT
    };
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = compute_crc(&batch[..total_len]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

/// A record to put in a batch built by [`encode_producer_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<bytes::Bytes>,
    pub value: Option<bytes::Bytes>,
    pub timestamp: i64,
}

/// Encodes `records` as one v2 batch the way a non-idempotent producer sends it: base offset
/// 0, offset deltas 0, 1, 2, ..., no producer id, base sequence -1, CreateTime. The broker's
/// own records (`__consumer_offsets`) and the tests' batches are built here.
pub fn encode_producer_batch(
    records: &[NewRecord],
    compression: kafka_protocol::records::Compression,
) -> anyhow::Result<bytes::BytesMut> {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever `offset - sequence` changes; -1 + i keeps
            // one batch whose base sequence is -1 (no idempotence).
            sequence: i as i32 - 1,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)?;
    Ok(buf)
}

/// Encodes `records` as one transactional v2 batch of a producer the way the group
/// coordinator writes a TxnOffsetCommit's offsets to `__consumer_offsets` (Kafka's
/// `MemoryRecords.withTransactionalRecords` with `RecordBatch.NO_SEQUENCE`): the producer's
/// id and epoch, base sequence -1, the transactional attribute; appended with
/// [`crate::log::AppendOrigin::Coordinator`], which does not check sequences.
pub fn encode_transactional_batch(
    records: &[NewRecord],
    compression: kafka_protocol::records::Compression,
    producer_id: i64,
    producer_epoch: i16,
) -> anyhow::Result<bytes::BytesMut> {
    let mut batch = encode_producer_batch(records, compression)?;
    set_producer(&mut batch, producer_id, producer_epoch, -1, true);
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_transactional_batch_carries_its_producer_and_no_sequence() {
        let records = [NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            timestamp: 5,
        }];
        let batch = encode_transactional_batch(&records, Compression::None, 42, 3).unwrap();
        let header = BatchHeader::parse(&batch).unwrap();
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
        assert_eq!(header.base_sequence, -1);
        assert_eq!(compute_crc(&batch), header.crc);
    }

    const ALL_COMPRESSIONS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn record(offset: i64, timestamp: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            // The encoder starts a new batch where `offset - sequence` changes; this keeps one
            // batch with base sequence -1, as a non-idempotent producer writes it.
            sequence: offset as i32 - 1,
            timestamp,
            key: Some(Bytes::from(format!("key-{offset}"))),
            value: Some(Bytes::from(format!(
                "order {offset} for the payments topic"
            ))),
            headers: Default::default(),
        }
    }

    fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, records, &options).expect("encode");
        buf.to_vec()
    }

    /// A batch of `count` records, timestamps 1000, 1010, ...
    fn batch(count: i64, compression: Compression) -> Vec<u8> {
        let records: Vec<Record> = (0..count).map(|i| record(i, 1000 + 10 * i)).collect();
        encode(&records, compression)
    }

    fn fix_crc(batch: &mut [u8]) {
        let total_len = BatchHeader::parse(batch).unwrap().total_len();
        let crc = compute_crc(&batch[..total_len]);
        batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    }

    fn put_i32(batch: &mut [u8], at: usize, value: i32) {
        batch[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn every_compression_validates_and_yields_record_timestamps() {
        for compression in ALL_COMPRESSIONS {
            let bytes = batch(3, compression);
            let header =
                validate_produce(&bytes).unwrap_or_else(|e| panic!("{compression:?}: {e}"));
            assert_eq!(header.records_count, 3);
            assert_eq!(header.last_offset(), 2);
            assert_eq!(header.compression(), compression as i16);
            assert_eq!(header.total_len(), bytes.len());
            assert_eq!(
                record_timestamps(&bytes).unwrap(),
                vec![(0, 1000), (1, 1010), (2, 1020)]
            );
        }
    }

    #[test]
    fn flipped_byte_is_corrupt_message() {
        let mut bytes = batch(2, Compression::None);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let err = validate_produce(&bytes).unwrap_err();
        assert!(matches!(err, BatchError::CrcMismatch { .. }), "{err}");
        assert_eq!(err.error_code(), 2);
    }

    #[test]
    fn claiming_more_records_than_held_is_invalid_record() {
        let mut bytes = batch(2, Compression::None);
        put_i32(&mut bytes, 23, 2); // lastOffsetDelta
        put_i32(&mut bytes, 57, 3); // recordsCount
        fix_crc(&mut bytes);
        let err = validate_produce(&bytes).unwrap_err();
        assert!(
            matches!(err, BatchError::MalformedRecord { index: 2, .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), 87);
    }

    #[test]
    fn fewer_records_claimed_than_held_is_invalid_record() {
        let mut bytes = batch(3, Compression::Lz4);
        put_i32(&mut bytes, 23, 1);
        put_i32(&mut bytes, 57, 2);
        fix_crc(&mut bytes);
        let err = validate_produce(&bytes).unwrap_err();
        assert!(
            matches!(err, BatchError::MalformedRecord { index: 2, .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), 87);
    }

    #[test]
    fn count_disagreeing_with_last_offset_delta_is_invalid_record() {
        let mut bytes = batch(2, Compression::None);
        put_i32(&mut bytes, 57, 5);
        fix_crc(&mut bytes);
        let err = validate_produce(&bytes).unwrap_err();
        assert!(
            matches!(err, BatchError::InconsistentRecordCount { .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), 87);
    }

    #[test]
    fn out_of_order_offset_deltas_are_invalid_record() {
        let bytes = encode(&[record(1, 5), record(0, 6)], Compression::Gzip);
        let err = validate_produce(&bytes).unwrap_err();
        assert!(
            matches!(err, BatchError::MalformedRecord { index: 0, .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), 87);
    }

    #[test]
    fn two_batches_are_invalid_record() {
        let mut bytes = batch(2, Compression::None);
        bytes.extend(batch(1, Compression::None));
        let err = validate_produce(&bytes).unwrap_err();
        assert_eq!(err, BatchError::MoreThanOneBatch);
        assert_eq!(err.error_code(), 87);
    }

    /// Kafka's framing sees a batch that does not fit as no batch at all, and
    /// `ProduceRequest.validateRecords` then answers INVALID_RECORD.
    #[test]
    fn truncated_batch_is_no_batch_at_all() {
        let bytes = batch(2, Compression::None);
        for len in [0, 5, 11, 12, 16, 40, bytes.len() - 1] {
            let err = validate_produce(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, BatchError::Truncated { .. }),
                "len {len}: {err}"
            );
            assert_eq!(err.error_code(), 87);
        }
    }

    #[test]
    fn trailing_partial_bytes_are_ignored_like_trim_invalid_bytes() {
        let mut bytes = batch(2, Compression::None);
        let len = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99, 0]);
        assert_eq!(validate_produce(&bytes).unwrap().total_len(), len);
    }

    #[test]
    fn framing_errors_are_corrupt_message() {
        let mut short = batch(1, Compression::None);
        put_i32(&mut short, 8, 13);
        assert_eq!(validate_produce(&short).unwrap_err().error_code(), 2);

        let mut header_only = batch(1, Compression::None);
        put_i32(&mut header_only, 8, 30); // frames, but shorter than a v2 header
        header_only.truncate(42);
        let err = validate_produce(&header_only).unwrap_err();
        assert!(
            matches!(err, BatchError::InvalidBatchLength { batch_length: 30 }),
            "{err}"
        );
        assert_eq!(err.error_code(), 2);

        let mut bad_magic = batch(1, Compression::None);
        bad_magic[MAGIC_OFFSET] = 3;
        assert_eq!(
            validate_produce(&bad_magic).unwrap_err(),
            BatchError::InvalidMagic { magic: 3 }
        );
        assert_eq!(BatchError::InvalidMagic { magic: 3 }.error_code(), 2);

        let mut second_corrupt = batch(1, Compression::None);
        second_corrupt.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            validate_produce(&second_corrupt).unwrap_err().error_code(),
            2
        );
    }

    #[test]
    fn old_magic_in_a_v3_produce_is_invalid_record() {
        let mut bytes = batch(1, Compression::None);
        bytes[MAGIC_OFFSET] = 1;
        let err = validate_produce(&bytes).unwrap_err();
        assert_eq!(err, BatchError::UnsupportedMagic { magic: 1 });
        assert_eq!(err.error_code(), 87);
    }

    #[test]
    fn header_rules_of_log_validator() {
        let mut nonzero_base = batch(1, Compression::None);
        set_base_offset(&mut nonzero_base, 7);
        assert_eq!(
            validate_produce(&nonzero_base).unwrap_err(),
            BatchError::NonZeroBaseOffset { base_offset: 7 }
        );

        let mut control = batch(1, Compression::None);
        control[ATTRIBUTES_OFFSET + 1] |= CONTROL_BIT as u8;
        fix_crc(&mut control);
        assert_eq!(
            validate_produce(&control).unwrap_err(),
            BatchError::ControlBatch
        );

        let mut no_sequence = batch(1, Compression::None);
        no_sequence[43..51].copy_from_slice(&5i64.to_be_bytes()); // producerId 5, baseSequence -1
        fix_crc(&mut no_sequence);
        let err = validate_produce(&no_sequence).unwrap_err();
        assert!(
            matches!(err, BatchError::InvalidSequence { producer_id: 5, .. }),
            "{err}"
        );

        let mut negative_delta = batch(1, Compression::None);
        put_i32(&mut negative_delta, 23, -1);
        fix_crc(&mut negative_delta);
        let err = validate_produce(&negative_delta).unwrap_err();
        assert!(
            matches!(err, BatchError::InvalidOffsetRange { .. }),
            "{err}"
        );
        for err in [
            err,
            BatchError::ControlBatch,
            BatchError::InvalidRecordCount { records_count: 0 },
        ] {
            assert_eq!(err.error_code(), 87);
        }
    }

    #[test]
    fn compression_errors_carry_kafkas_codes() {
        let mut unknown = batch(1, Compression::None);
        unknown[ATTRIBUTES_OFFSET + 1] |= 5;
        fix_crc(&mut unknown);
        let err = validate_produce(&unknown).unwrap_err();
        assert_eq!(err, BatchError::UnknownCompression { id: 5 });
        assert_eq!(err.error_code(), -1);

        let zstd = batch(1, Compression::Zstd);
        assert_eq!(
            validate_produce_for_version(&zstd, 6).unwrap_err(),
            BatchError::ZstdBeforeV7
        );
        assert_eq!(BatchError::ZstdBeforeV7.error_code(), 76);
        assert!(validate_produce_for_version(&zstd, 7).is_ok());

        let mut garbage = batch(2, Compression::Gzip);
        for byte in &mut garbage[BATCH_HEADER_LEN..] {
            *byte = 0xAB;
        }
        fix_crc(&mut garbage);
        let err = validate_produce(&garbage).unwrap_err();
        assert!(
            matches!(err, BatchError::Decompression { compression: 1, .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), -1);
    }

    #[test]
    fn snappy_length_beyond_any_expansion_is_refused() {
        let mut bomb = batch(1, Compression::None);
        bomb.truncate(BATCH_HEADER_LEN);
        bomb.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]); // raw snappy: "4 GiB"
        let batch_length = (bomb.len() - LOG_OVERHEAD) as i32;
        put_i32(&mut bomb, 8, batch_length);
        bomb[ATTRIBUTES_OFFSET + 1] |= 2;
        fix_crc(&mut bomb);
        let err = validate_produce(&bomb).unwrap_err();
        assert!(
            matches!(err, BatchError::Decompression { compression: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn stamping_log_append_time_keeps_the_batch_valid() {
        for compression in [Compression::None, Compression::Zstd] {
            let mut bytes = batch(3, compression);
            stamp_log_append_time(&mut bytes, 99_000);
            let header = validate_produce(&bytes).unwrap();
            assert!(header.is_log_append_time());
            assert_eq!(header.max_timestamp, 99_000);
            assert_eq!(
                record_timestamps(&bytes).unwrap(),
                vec![(0, 99_000), (1, 99_000), (2, 99_000)]
            );
        }
    }

    #[test]
    fn base_offset_and_leader_epoch_are_outside_the_crc() {
        let mut bytes = batch(4, Compression::Snappy);
        set_base_offset(&mut bytes, 1_000);
        set_partition_leader_epoch(&mut bytes, 3);
        let (headers, len) = scan_valid_prefix(&bytes);
        assert_eq!(len, bytes.len());
        assert_eq!(headers[0].base_offset, 1_000);
        assert_eq!(headers[0].last_offset(), 1_003);
        assert_eq!(headers[0].partition_leader_epoch, 3);
        assert_eq!(record_timestamps(&bytes).unwrap()[3], (1_003, 1_030));
    }

    #[test]
    fn scan_stops_at_the_first_bad_batch() {
        let mut log = Vec::new();
        for (i, compression) in ALL_COMPRESSIONS.into_iter().enumerate() {
            let mut one = batch(2, compression);
            set_base_offset(&mut one, 2 * i as i64);
            log.extend(one);
        }
        let good_len = log.len();
        let (headers, len) = scan_valid_prefix(&log);
        assert_eq!((headers.len(), len), (5, good_len));

        let mut torn = log.clone();
        torn.extend_from_slice(&batch(1, Compression::None)[..30]);
        assert_eq!(scan_valid_prefix(&torn).1, good_len);

        let mut corrupt = log.clone();
        corrupt[good_len - 3] ^= 0xff;
        let (headers, len) = scan_valid_prefix(&corrupt);
        assert_eq!(headers.len(), 4);
        assert_eq!(len, good_len - batch(2, Compression::Zstd).len());
    }

    #[test]
    fn header_parse_rejects_what_is_not_a_v2_header() {
        let bytes = batch(1, Compression::None);
        assert!(matches!(
            BatchHeader::parse(&bytes[..60]),
            Err(BatchError::Truncated { needed: 61, .. })
        ));
        let mut short_length = bytes.clone();
        put_i32(&mut short_length, 8, 48);
        assert!(matches!(
            BatchHeader::parse(&short_length),
            Err(BatchError::InvalidBatchLength { .. })
        ));
        let header = BatchHeader::parse(&bytes).unwrap();
        assert!(!header.is_transactional() && !header.is_control() && !header.is_log_append_time());
        assert!(!header.has_producer_id());
    }

    // Batches built byte by byte, for records no honest encoder writes.

    fn put_varint(out: &mut Vec<u8>, value: i64) {
        let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// One record's body (attributes, deltas, key, value, headers), not yet framed by its size.
    fn record_body(offset_delta: i64, value: &[u8], headers: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut body = vec![0]; // attributes
        put_varint(&mut body, 0); // timestamp delta
        put_varint(&mut body, offset_delta);
        put_varint(&mut body, -1); // null key
        put_varint(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        put_varint(&mut body, headers.len() as i64);
        for (key, value) in headers {
            put_varint(&mut body, key.len() as i64);
            body.extend_from_slice(key);
            put_varint(&mut body, value.len() as i64);
            body.extend_from_slice(value);
        }
        body
    }

    /// `body` preceded by its size, as it sits in the records section.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i64);
        out.extend_from_slice(body);
        out
    }

    /// The records section compressed the way each codec's producers write it.
    fn compress(compression: i16, section: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match compression {
            0 => section.to_vec(),
            1 => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(section).unwrap();
                e.finish().unwrap()
            }
            2 => {
                let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
                for block in section.chunks(32 * 1024) {
                    let compressed = snap::raw::Encoder::new().compress_vec(block).unwrap();
                    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                    out.extend_from_slice(&compressed);
                }
                out
            }
            3 => {
                let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                e.write_all(section).unwrap();
                let (out, result) = e.finish();
                result.unwrap();
                out
            }
            4 => zstd::encode_all(section, 3).unwrap(),
            id => panic!("no codec {id}"),
        }
    }

    /// A valid v2 batch header (CRC included) around a records section of `records_count`
    /// records, compressed with `compression`.
    fn raw_batch(records_count: i32, compression: i16, section: &[u8]) -> Vec<u8> {
        let payload = compress(compression, section);
        let mut out = Vec::with_capacity(BATCH_HEADER_LEN + payload.len());
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(
            &((BATCH_HEADER_LEN - LOG_OVERHEAD + payload.len()) as i32).to_be_bytes(),
        );
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out.push(2);
        out.extend_from_slice(&[0; 4]); // crc
        out.extend_from_slice(&compression.to_be_bytes());
        out.extend_from_slice(&(records_count - 1).to_be_bytes());
        out.extend_from_slice(&1_000i64.to_be_bytes());
        out.extend_from_slice(&1_000i64.to_be_bytes());
        out.extend_from_slice(&(-1i64).to_be_bytes());
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out.extend_from_slice(&records_count.to_be_bytes());
        out.extend_from_slice(&payload);
        fix_crc(&mut out);
        out
    }

    const CODECS: [i16; 5] = [0, 1, 2, 3, 4];
    const MIB: u64 = 1024 * 1024;

    #[test]
    fn records_inflating_past_the_cap_are_invalid_record_for_every_codec() {
        let value = vec![0u8; 64 * 1024];
        let section: Vec<u8> = (0..32)
            .flat_map(|i| framed(&record_body(i, &value, &[])))
            .collect();
        assert!(section.len() as u64 > 2 * MIB);
        for compression in CODECS {
            let bytes = raw_batch(32, compression, &section);
            let err = validate_produce_with_limit(&bytes, 13, MIB);
            if compression == 0 {
                // The cap is on inflation: an uncompressed section is all there already.
                assert!(err.is_ok(), "{err:?}");
                continue;
            }
            let err = err.unwrap_err();
            assert_eq!(
                err,
                BatchError::InflatedTooLarge {
                    compression,
                    max_inflated_bytes: MIB
                }
            );
            assert_eq!(err.error_code(), 87);
            let header = validate_produce_with_limit(&bytes, 13, 4 * MIB)
                .unwrap_or_else(|e| panic!("compression {compression}: {e}"));
            assert_eq!(header.records_count, 32);
        }
    }

    #[test]
    fn the_cap_is_tied_to_max_message_bytes() {
        assert_eq!(max_inflated_bytes(1024 * 1024 + 12), 64 * (MIB + 12));
        assert_eq!(max_inflated_bytes(1_000), 64 * MIB);
        assert_eq!(max_inflated_bytes(-1), 64 * MIB);
        assert_eq!(
            max_inflated_bytes(100 * 1024 * 1024),
            MAX_INFLATED_BYTES_CEILING
        );
        assert_eq!(max_inflated_bytes(i32::MAX), MAX_INFLATED_BYTES_CEILING);
    }

    /// A record claiming 1 GiB is refused when its size is read, before anything is inflated
    /// (compressed) or when the section cannot hold it (uncompressed).
    #[test]
    fn a_record_size_beyond_what_can_be_there_is_refused_at_once() {
        let mut section = Vec::new();
        put_varint(&mut section, 1 << 30);
        section.extend_from_slice(&[0; 64]);
        for compression in CODECS {
            let bytes = raw_batch(1, compression, &section);
            let err = validate_produce(&bytes).unwrap_err();
            if compression == 0 {
                assert_eq!(
                    err,
                    BatchError::MalformedRecord {
                        index: 0,
                        reason: "record size exceeds the batch"
                    }
                );
            } else {
                assert!(matches!(err, BatchError::InflatedTooLarge { .. }), "{err}");
            }
            assert_eq!(err.error_code(), 87);
        }
    }

    /// Counts and lengths read from the records are bounded by the bytes actually there
    /// before anything loops over them or skips them: each of these claims 2^31 - 1 and is
    /// answered at once, whatever the codec.
    #[test]
    fn counts_and_lengths_inside_records_are_bounded_by_the_bytes_present() {
        let huge = i64::from(i32::MAX);
        let one = framed(&record_body(0, b"v", &[]));
        let mut key_len = vec![0, 0, 0]; // attributes, timestamp delta, offset delta
        put_varint(&mut key_len, huge);
        let mut value_len = vec![0, 0, 0, 1]; // key null (-1 zigzag is 1)
        put_varint(&mut value_len, huge);
        let mut header_count = vec![0, 0, 0, 1, 1];
        put_varint(&mut header_count, huge);
        let mut header_key = header_count[..5].to_vec();
        put_varint(&mut header_key, 1);
        put_varint(&mut header_key, huge);
        let mut header_value = header_key[..6].to_vec();
        put_varint(&mut header_value, 0);
        put_varint(&mut header_value, huge);
        let cases: [(&[u8], &str); 5] = [
            (&key_len, "key or value exceeds the record"),
            (&value_len, "key or value exceeds the record"),
            (&header_count, "header count exceeds the record"),
            (&header_key, "header key exceeds the record"),
            (&header_value, "header value exceeds the record"),
        ];
        for compression in CODECS {
            for (body, reason) in cases {
                let mut body = body.to_vec();
                body.resize(body.len() + 16, 0);
                let bytes = raw_batch(1, compression, &framed(&body));
                let err = validate_produce(&bytes).unwrap_err();
                assert_eq!(
                    err,
                    BatchError::MalformedRecord { index: 0, reason },
                    "compression {compression}"
                );
            }
            // recordsCount 2^31 - 1 over one record: the walk ends where the bytes do.
            let bytes = raw_batch(i32::MAX, compression, &one);
            let err = validate_produce(&bytes).unwrap_err();
            assert!(
                matches!(err, BatchError::MalformedRecord { index: 1, .. }),
                "compression {compression}: {err}"
            );
            assert_eq!(err.error_code(), 87);
        }
    }

    #[test]
    fn find_record_stops_at_the_first_match() {
        for compression in ALL_COMPRESSIONS {
            let bytes = batch(5, compression);
            assert_eq!(
                find_record(&bytes, |_, ts| ts >= 1025).unwrap(),
                Some((3, 1030))
            );
            assert_eq!(
                find_record(&bytes, |o, ts| o >= 1 && ts >= 1000).unwrap(),
                Some((1, 1010))
            );
            assert_eq!(find_record(&bytes, |_, ts| ts > 5_000).unwrap(), None);
        }
    }

    /// Java's `GZIPInputStream` reads concatenated gzip members as one stream; so does this.
    #[test]
    fn gzip_members_read_as_one_stream() {
        let section: Vec<u8> = (0..4)
            .flat_map(|i| framed(&record_body(i, b"v", &[])))
            .collect();
        let (first, second) = section.split_at(section.len() / 2 + 1);
        let mut bytes = raw_batch(4, 0, &[]);
        bytes.truncate(BATCH_HEADER_LEN);
        bytes[ATTRIBUTES_OFFSET + 1] = 1;
        bytes.extend(compress(1, first));
        bytes.extend(compress(1, second));
        let batch_length = (bytes.len() - LOG_OVERHEAD) as i32;
        put_i32(&mut bytes, 8, batch_length);
        fix_crc(&mut bytes);
        assert_eq!(validate_produce(&bytes).unwrap().records_count, 4);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validate_produce(&bytes);
            let _ = validate_produce_for_version(&bytes, 3);
            let _ = scan_valid_prefix(&bytes);
            let _ = BatchHeader::parse(&bytes);
            let _ = record_timestamps(&bytes);
        }

        #[test]
        fn mutated_batches_never_panic(
            compression in 0usize..5,
            count in 1i64..5,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            keep_crc_valid in any::<bool>(),
        ) {
            let mut bytes = batch(count, ALL_COMPRESSIONS[compression]);
            for (at, value) in flips {
                let at = BATCH_HEADER_LEN + at % (bytes.len() - BATCH_HEADER_LEN);
                bytes[at] = value;
            }
            if keep_crc_valid {
                fix_crc(&mut bytes);
            }
            let _ = validate_produce(&bytes);
            let _ = record_timestamps(&bytes);
            let (headers, _) = scan_valid_prefix(&bytes);
            if keep_crc_valid {
                prop_assert_eq!(headers.len(), 1);
            }
        }

        #[test]
        fn mutated_headers_never_panic(
            count in 1i64..4,
            at in 0usize..BATCH_HEADER_LEN,
            value in any::<u8>(),
        ) {
            let mut bytes = batch(count, Compression::None);
            bytes[at] = value;
            let _ = validate_produce(&bytes);
            let _ = record_timestamps(&bytes);
            let _ = scan_valid_prefix(&bytes);
        }
    }
}
