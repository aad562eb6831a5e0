//! Control batches: the end-transaction markers (COMMIT, ABORT) a transaction coordinator
//! has each partition leader write when a transaction ends (KIP-98).
//!
//! A marker is a v2 batch of one record with the transactional and control attribute bits,
//! the producer's id and epoch, base sequence -1 and no compression. Its record's key is
//! `[version i16 = 0, type i16]` (`ControlRecordType`: 0 ABORT, 1 COMMIT; other types, such
//! as KRaft's leader-change records, are not transaction markers) and its value
//! `[version i16 = 0, coordinator_epoch i32]` (`EndTransactionMarker`). The broker builds
//! these itself, so [`encode_control_batch`] writes the bytes directly rather than through
//! the codec, and [`control_type`] reads them back for the producer state (a marker ends
//! the producer's transaction, and an ABORT adds it to the aborted transactions).
//!
//! Reading is lenient where Kafka's is: a key shorter than 4 bytes, a negative key version
//! or a value shorter than 6 bytes make Kafka throw (`ControlRecordType.parseTypeId`,
//! `EndTransactionMarker.deserializeValue`); here they make the batch "not a marker"
//! (`None`). Compressed control batches, which no Kafka writes, are not read either.
//!
//! # References
//! - KIP-98 (transactional messaging, control records)
//! - Apache Kafka sources: `ControlRecordType`, `EndTransactionMarker`,
//!   `MemoryRecords.withEndTransactionMarker`, `DefaultRecord.writeTo`

use bytes::{BufMut, BytesMut};

use super::{
    ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, BatchHeader, CONTROL_BIT, CRC_OFFSET, LOG_OVERHEAD,
    TRANSACTIONAL_BIT, compute_crc,
};

/// The type of an end-transaction marker (`ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// Key type 0.
    Abort,
    /// Key type 1.
    Commit,
}

impl ControlType {
    /// The key's type field.
    pub fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }

    /// The marker type of a key type; `None` for other control records.
    pub fn from_code(code: i16) -> Option<ControlType> {
        match code {
            0 => Some(ControlType::Abort),
            1 => Some(ControlType::Commit),
            _ => None,
        }
    }

    /// `TransactionResult` of WriteTxnMarkers: `true` = COMMIT.
    pub fn from_commit(commit: bool) -> ControlType {
        if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        }
    }
}

/// `ControlRecordType.CURRENT_CONTROL_RECORD_KEY_VERSION` and
/// `EndTransactionMarker.CURRENT_END_TXN_MARKER_VERSION`.
const MARKER_VERSION: i16 = 0;
/// Key: version i16, type i16.
const KEY_LEN: usize = 4;
/// Value: version i16, coordinator epoch i32.
const VALUE_LEN: usize = 6;
/// The record body after its length: attributes, timestamp delta, offset delta, key length,
/// key, value length, value, header count (every varint here takes one byte).
const RECORD_BODY_LEN: usize = 1 + 1 + 1 + 1 + KEY_LEN + 1 + VALUE_LEN + 1;

/// An end-transaction marker as the leader appends it: an unstamped v2 batch (base offset 0,
/// partition leader epoch -1) of one control record, attributes transactional + control,
/// base sequence -1, CRC set (`MemoryRecords.withEndTransactionMarker`).
pub fn encode_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    control: ControlType,
    timestamp_ms: i64,
) -> BytesMut {
    let total_len = BATCH_HEADER_LEN + 1 + RECORD_BODY_LEN;
    let mut buf = BytesMut::with_capacity(total_len);
    buf.put_i64(0); // base offset
    buf.put_i32((total_len - LOG_OVERHEAD) as i32);
    buf.put_i32(-1); // partition leader epoch
    buf.put_i8(2); // magic
    buf.put_u32(0); // crc, set below
    buf.put_i16(TRANSACTIONAL_BIT | CONTROL_BIT);
    buf.put_i32(0); // last offset delta
    buf.put_i64(timestamp_ms); // base timestamp
    buf.put_i64(timestamp_ms); // max timestamp
    buf.put_i64(producer_id);
    buf.put_i16(producer_epoch);
    buf.put_i32(-1); // base sequence
    buf.put_i32(1); // records count
    buf.put_u8(zigzag(RECORD_BODY_LEN as i32));
    buf.put_u8(0); // attributes
    buf.put_u8(0); // timestamp delta
    buf.put_u8(0); // offset delta
    buf.put_u8(zigzag(KEY_LEN as i32));
    buf.put_i16(MARKER_VERSION);
    buf.put_i16(control.code());
    buf.put_u8(zigzag(VALUE_LEN as i32));
    buf.put_i16(MARKER_VERSION);
    buf.put_i32(coordinator_epoch);
    buf.put_u8(0); // header count
    debug_assert_eq!(buf.len(), total_len);
    let crc = compute_crc(&buf);
    buf[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// The marker of a control batch at the start of `batch`: its type and coordinator epoch.
/// `None` for a data batch, a control record that is not a marker, or bytes that do not
/// hold one (see the module docs).
pub fn control_type(batch: &[u8]) -> Option<(ControlType, i32)> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() || header.compression() != 0 || header.records_count < 1 {
        return None;
    }
    let end = header.total_len().min(batch.len());
    let mut reader = Reader {
        buf: batch.get(BATCH_HEADER_LEN..end)?,
    };
    let size = usize::try_from(reader.varint()?).ok()?;
    let mut record = Reader {
        buf: reader.take(size)?,
    };
    record.take(1)?; // attributes
    record.varint64()?; // timestamp delta
    record.varint()?; // offset delta
    let key_len = usize::try_from(record.varint()?).ok()?;
    let key = record.take(key_len)?;
    if key.len() < KEY_LEN {
        return None;
    }
    let key_version = i16::from_be_bytes([key[0], key[1]]);
    if key_version < 0 {
        return None;
    }
    let control = ControlType::from_code(i16::from_be_bytes([key[2], key[3]]))?;
    let value_len = usize::try_from(record.varint()?).ok()?;
    let value = record.take(value_len)?;
    if value.len() < VALUE_LEN {
        return None;
    }
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Some((control, coordinator_epoch))
}

/// Zig-zag encoding of a small non-negative value that fits one varint byte.
fn zigzag(value: i32) -> u8 {
    debug_assert!((0..64).contains(&value));
    (value << 1) as u8
}

/// A cursor over a record's bytes; every read is bounded by what is left.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Some(head)
    }

    fn unsigned(&mut self, max_bytes: usize) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let byte = *self.take(1)?.first()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i32> {
        let raw = self.unsigned(5)? as u32;
        Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    fn varint64(&mut self) -> Option<i64> {
        let raw = self.unsigned(10)?;
        Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batch::{scan_valid_prefix, set_base_offset};

    #[test]
    fn a_marker_round_trips_with_its_type_and_coordinator_epoch() {
        for control in [ControlType::Abort, ControlType::Commit] {
            let batch = encode_control_batch(4_000, 7, 12, control, 1_700_000_000_000);
            assert_eq!(control_type(&batch), Some((control, 12)));
            let header = BatchHeader::parse(&batch).unwrap();
            assert_eq!(header.total_len(), batch.len());
            assert_eq!(
                (header.producer_id, header.producer_epoch),
                (4_000, 7),
                "{header:?}"
            );
            assert_eq!((header.base_sequence, header.records_count), (-1, 1));
            assert_eq!((header.base_offset, header.last_offset_delta), (0, 0));
            assert_eq!(header.max_timestamp, 1_700_000_000_000);
        }
    }

    #[test]
    fn a_marker_is_transactional_control_and_uncompressed() {
        let batch = encode_control_batch(1, 0, 0, ControlType::Commit, 5);
        let header = BatchHeader::parse(&batch).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!(header.compression(), 0);
        assert!(!header.is_log_append_time());
        assert_eq!(header.attributes, 0x30);
    }

    #[test]
    fn a_marker_passes_the_crc_check_before_and_after_stamping() {
        let mut batch = encode_control_batch(9, 2, 3, ControlType::Abort, 10);
        let (headers, len) = scan_valid_prefix(&batch);
        assert_eq!((headers.len(), len), (1, batch.len()));
        // The base offset is outside the CRC: a stamped marker still verifies and reads.
        set_base_offset(&mut batch, 41);
        let (headers, _) = scan_valid_prefix(&batch);
        assert_eq!(headers[0].base_offset, 41);
        assert_eq!(control_type(&batch), Some((ControlType::Abort, 3)));
        // The produce path refuses it: clients may not write control batches.
        set_base_offset(&mut batch, 0);
        assert_eq!(
            crate::record_batch::validate_produce(&batch),
            Err(crate::record_batch::BatchError::ControlBatch)
        );
    }

    #[test]
    fn data_batches_and_other_control_records_are_not_markers() {
        let data = crate::record_batch::encode_producer_batch(
            &[crate::record_batch::NewRecord {
                key: None,
                value: Some(bytes::Bytes::from_static(b"payment")),
                timestamp: 1,
            }],
            kafka_protocol::records::Compression::None,
        )
        .unwrap();
        assert_eq!(control_type(&data), None);
        // Key type 2 (KRaft's LEADER_CHANGE) is a control record, not a marker.
        let mut other = encode_control_batch(1, 0, 0, ControlType::Commit, 5);
        let type_at = BATCH_HEADER_LEN + 1 + 4 + 2;
        other[type_at..type_at + 2].copy_from_slice(&2i16.to_be_bytes());
        assert_eq!(control_type(&other), None);
        // Cut short: not read.
        let marker = encode_control_batch(1, 0, 0, ControlType::Commit, 5);
        for len in [0, 20, BATCH_HEADER_LEN, marker.len() - 1] {
            assert_eq!(control_type(&marker[..len]), None, "{len} bytes");
        }
    }
}
