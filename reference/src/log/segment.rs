//! One log segment: a run of whole batches starting at a base offset, its sparse indexes, and
//! what rolling and retention need to know about it.
//!
//! The shape follows Kafka's `LogSegment` closely because its rules are observable by
//! clients: when a segment rolls (size, the first batch's timestamp, full indexes), which
//! timestamp retention compares (`largestTimestamp`, falling back to the file's modification
//! time when no batch has one), and where a read by offset or by timestamp starts.
//!
//! Appends and recovery feed batches through one function, [`Segment::index_batch`], so a
//! segment rebuilt from its bytes has the same max timestamp and the same kind of index as one
//! built by appends. Reads walk batch headers (61 bytes each) from an index position and copy
//! out whole batches only.
//!
//! # References
//! - Apache Kafka sources: `LogSegment` (`append`, `shouldRoll`, `timeWaitedForRoll`,
//!   `largestTimestamp`, `translateOffset`, `read`, `findOffsetByTimestamp`, `recover`,
//!   `onBecomeInactiveSegment`, `truncateTo`), `FileRecords.searchForTimestamp`,
//!   `RecordBatch.offsetOfMaxTimestamp`

use std::io;

use bytes::Bytes;

use super::index::{NO_TIMESTAMP, OffsetIndex, TimeIndex};
use super::storage::SegmentStore;
use super::{LogConfig, TimestampOffset};
use crate::record_batch::{self, BATCH_HEADER_LEN, BatchHeader};

/// Kafka addresses bytes in a segment with an `int`; positions in the offset index are too.
pub const MAX_SEGMENT_POSITION: u64 = i32::MAX as u64;

/// What `shouldRoll` weighs (Kafka's `RollParams`).
#[derive(Debug, Clone, Copy)]
pub struct RollParams {
    pub max_segment_ms: i64,
    pub max_segment_bytes: u64,
    pub max_timestamp_in_messages: i64,
    pub max_offset_in_messages: i64,
    pub messages_size: u64,
    pub now_ms: i64,
}

#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    store: SegmentStore,
    /// The offset after the last batch; the base offset while empty.
    next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    index_interval_bytes: u64,
    bytes_since_last_index_entry: u64,
    max_timestamp_so_far: i64,
    /// Last offset of the first batch that reached `max_timestamp_so_far` (shallow).
    offset_of_max_timestamp_so_far: i64,
    /// The max timestamp of the first append (or first batch, after recovery).
    rolling_based_timestamp: Option<i64>,
    created_ms: i64,
    last_modified_ms: i64,
    /// The in-memory indexes differ from the index files.
    indexes_unwritten: bool,
}

impl Segment {
    pub fn new(store: SegmentStore, base_offset: i64, config: &LogConfig, now_ms: i64) -> Segment {
        Segment {
            base_offset,
            store,
            next_offset: base_offset,
            offset_index: OffsetIndex::new(base_offset, config.segment_index_bytes),
            time_index: TimeIndex::new(base_offset, config.segment_index_bytes),
            index_interval_bytes: config.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: NO_TIMESTAMP,
            offset_of_max_timestamp_so_far: -1,
            rolling_based_timestamp: None,
            created_ms: now_ms,
            last_modified_ms: now_ms,
            indexes_unwritten: true,
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    pub fn max_timestamp_so_far(&self) -> i64 {
        self.max_timestamp_so_far
    }

    /// The timestamp retention compares: the max timestamp, or the last modification time
    /// when no batch carried one (`LogSegment.largestTimestamp`).
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far >= 0 {
            self.max_timestamp_so_far
        } else {
            self.last_modified_ms
        }
    }

    /// Appends whole batches (already offset-stamped) and indexes them.
    pub fn append(
        &mut self,
        batches: &[u8],
        headers: &[BatchHeader],
        largest_timestamp: i64,
        now_ms: i64,
    ) -> io::Result<()> {
        let mut position = self.size_bytes();
        self.store.append(batches)?;
        if position == 0 {
            self.rolling_based_timestamp = Some(largest_timestamp);
        }
        for header in headers {
            self.index_batch(position, header);
            position += header.total_len() as u64;
        }
        self.last_modified_ms = now_ms;
        Ok(())
    }

    /// Notes one batch stored at `position`: max timestamp, and an index entry once more than
    /// `index.interval.bytes` were stored since the last one (`LogSegment.append`/`recover`).
    fn index_batch(&mut self, position: u64, header: &BatchHeader) {
        if header.max_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = header.max_timestamp;
            self.offset_of_max_timestamp_so_far = header.last_offset();
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            self.offset_index.append(header.last_offset(), position);
            self.time_index.maybe_append(
                self.max_timestamp_so_far,
                self.offset_of_max_timestamp_so_far,
                false,
            );
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.total_len() as u64;
        self.next_offset = header.next_offset();
        self.indexes_unwritten = true;
    }

    /// `LogSegment.shouldRoll`, for a non-empty segment (Kafka "rolls" an empty active
    /// segment by recreating it at the same offset, which changes nothing).
    pub fn should_roll(&self, params: &RollParams) -> bool {
        let size = self.size_bytes();
        if size == 0 {
            return false;
        }
        let max_bytes = params.max_segment_bytes.min(MAX_SEGMENT_POSITION);
        let full = size.saturating_add(params.messages_size) > max_bytes;
        let waited_ms = self.time_waited_for_roll(params.now_ms, params.max_timestamp_in_messages);
        let offset_overflow = params
            .max_offset_in_messages
            .saturating_sub(self.base_offset)
            > i64::from(i32::MAX);
        full || waited_ms > params.max_segment_ms
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || offset_overflow
    }

    /// Measured from the first append's max timestamp to the new batches' max timestamp, or
    /// by the clock since creation when the segment has no timestamp.
    fn time_waited_for_roll(&self, now_ms: i64, message_timestamp: i64) -> i64 {
        match self.rolling_based_timestamp {
            Some(first) if first >= 0 => message_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// A rolled segment's time index gets the final max timestamp; its indexes are written.
    pub fn on_become_inactive(&mut self) -> io::Result<()> {
        let (max_timestamp, offset) = (
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
        );
        if max_timestamp > NO_TIMESTAMP {
            self.time_index.maybe_append(max_timestamp, offset, true);
            self.indexes_unwritten = true;
        }
        self.write_indexes()
    }

    /// Writes the index files if they are stale (files only).
    pub fn write_indexes(&mut self) -> io::Result<()> {
        if self.indexes_unwritten {
            self.store
                .write_indexes(&self.offset_index.to_bytes(), &self.time_index.to_bytes())?;
            self.indexes_unwritten = false;
        }
        Ok(())
    }

    /// fsyncs the data and writes the indexes.
    pub fn flush(&mut self) -> io::Result<()> {
        self.store.sync()?;
        self.write_indexes()
    }

    pub fn delete(self) -> io::Result<()> {
        self.store.delete()
    }

    /// The header of the batch at `position`; `None` at the end of the segment.
    fn header_at(&self, position: u64) -> io::Result<Option<BatchHeader>> {
        if position >= self.size_bytes() {
            return Ok(None);
        }
        let mut buf = [0; BATCH_HEADER_LEN];
        self.store.read_at(position, &mut buf)?;
        let header =
            BatchHeader::parse(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if position + header.total_len() as u64 > self.size_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "batch runs past the segment end",
            ));
        }
        Ok(Some(header))
    }

    fn read_bytes(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.store.read_at(position, &mut buf)?;
        Ok(buf)
    }

    /// Position and header of the first batch whose last offset is >= `offset`
    /// (`LogSegment.translateOffset`).
    fn translate_offset(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let (_, position) = self.offset_index.lookup(offset);
        let mut position = u64::from(position);
        while let Some(header) = self.header_at(position)? {
            if header.last_offset() >= offset {
                return Ok(Some((position, header)));
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Whole batches from the one holding `offset`, ending before any batch reaching
    /// `max_offset`, at most `max_bytes` of them but at least one when `min_one`. `None` when
    /// no batch here reaches `offset` (the caller goes on to the next segment).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> io::Result<Option<Bytes>> {
        let Some((start, first)) = self.translate_offset(offset)? else {
            return Ok(None);
        };
        let mut end = start;
        let mut next = Some(first);
        while let Some(header) = next {
            let len = header.total_len() as u64;
            let fits = end - start + len <= max_bytes as u64 || (min_one && end == start);
            if header.last_offset() >= max_offset || !fits {
                break;
            }
            end += len;
            next = self.header_at(end)?;
        }
        Ok(Some(Bytes::from(
            self.read_bytes(start, (end - start) as usize)?,
        )))
    }

    /// The first record with timestamp >= `timestamp` and offset >= `starting_offset`
    /// (`LogSegment.findOffsetByTimestamp`, `FileRecords.searchForTimestamp`).
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> io::Result<Option<TimestampOffset>> {
        let (_, indexed_offset) = self.time_index.lookup(timestamp);
        let (_, position) = self
            .offset_index
            .lookup(indexed_offset.max(starting_offset));
        let mut position = u64::from(position);
        while let Some(header) = self.header_at(position)? {
            if header.max_timestamp >= timestamp {
                let found = self.find_record(position, &header, |offset, ts| {
                    ts >= timestamp && offset >= starting_offset
                })?;
                if let Some((offset, timestamp)) = found {
                    return Ok(Some(TimestampOffset { timestamp, offset }));
                }
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }

    /// The first record carrying the max timestamp of the first batch that reached this
    /// segment's max timestamp (ListOffsets `MAX_TIMESTAMP`, KIP-734).
    pub fn max_timestamp_record(&self) -> io::Result<Option<TimestampOffset>> {
        let (_, position) = self
            .offset_index
            .lookup(self.offset_of_max_timestamp_so_far);
        let mut position = u64::from(position);
        while let Some(header) = self.header_at(position)? {
            if header.max_timestamp == self.max_timestamp_so_far {
                let max = header.max_timestamp;
                let found = self.find_record(position, &header, |_, ts| ts == max)?;
                return Ok(found.map(|(offset, timestamp)| TimestampOffset { timestamp, offset }));
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }

    /// The first record of the batch at `position` whose (offset, timestamp) is `wanted`,
    /// read as a stream (`record_batch::find_record`).
    fn find_record(
        &self,
        position: u64,
        header: &BatchHeader,
        wanted: impl FnMut(i64, i64) -> bool,
    ) -> io::Result<Option<(i64, i64)>> {
        let batch = self.read_bytes(position, header.total_len())?;
        record_batch::find_record(&batch, wanted)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Cuts the segment before the first batch whose last offset is >= `offset`
    /// (`LogSegment.truncateTo`): a batch holding `offset` goes whole. The indexes and the max
    /// timestamp are rebuilt from the bytes that remain, the way recovery builds them. Returns
    /// whether anything was cut.
    pub fn truncate_to(&mut self, offset: i64, config: &LogConfig) -> io::Result<bool> {
        let Some((position, _)) = self.translate_offset(offset)? else {
            return Ok(false);
        };
        self.store.truncate(position)?;
        self.offset_index = OffsetIndex::new(self.base_offset, config.segment_index_bytes);
        self.time_index = TimeIndex::new(self.base_offset, config.segment_index_bytes);
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp_so_far = NO_TIMESTAMP;
        self.offset_of_max_timestamp_so_far = -1;
        self.rolling_based_timestamp = None;
        self.next_offset = self.base_offset;
        let mut position = 0;
        while let Some(header) = self.header_at(position)? {
            if position == 0 {
                self.rolling_based_timestamp = Some(header.max_timestamp);
            }
            self.index_batch(position, &header);
            position += header.total_len() as u64;
        }
        self.indexes_unwritten = true;
        Ok(true)
    }

    /// Rebuilds a segment from its bytes (`LogSegment.recover`): walks the batches, checking
    /// framing and offsets (and CRCs when `verify_crc`), and cuts everything after the last
    /// good batch. Returns the segment and the number of bytes cut.
    pub fn recover(
        store: SegmentStore,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        verify_crc: bool,
    ) -> io::Result<(Segment, u64)> {
        let mut segment = Segment::new(store, base_offset, config, now_ms);
        segment.last_modified_ms = segment.store.file_modified_ms().unwrap_or(now_ms);
        let stored_len = segment.size_bytes();
        let mut position = 0;
        while let Some(header) = segment.recoverable_batch(position, verify_crc)? {
            if position == 0 {
                segment.rolling_based_timestamp = Some(header.max_timestamp);
            }
            segment.index_batch(position, &header);
            position += header.total_len() as u64;
        }
        if position < stored_len {
            segment.store.truncate(position)?;
        }
        Ok((segment, stored_len - position))
    }

    /// The batch at `position` if it is whole, well framed, offset after the previous one
    /// and (when asked) CRC-valid.
    fn recoverable_batch(
        &self,
        position: u64,
        verify_crc: bool,
    ) -> io::Result<Option<BatchHeader>> {
        let stored_len = self.size_bytes();
        if position + BATCH_HEADER_LEN as u64 > stored_len {
            return Ok(None);
        }
        let mut buf = [0; BATCH_HEADER_LEN];
        self.store.read_at(position, &mut buf)?;
        let Ok(header) = BatchHeader::parse(&buf) else {
            return Ok(None);
        };
        let end = position + header.total_len() as u64;
        let offsets_ok = header.base_offset >= self.next_offset
            && header.last_offset_delta >= 0
            && header.last_offset() >= header.base_offset
            && header.last_offset().saturating_sub(self.base_offset) <= i64::from(i32::MAX);
        if end > stored_len || end > MAX_SEGMENT_POSITION || !offsets_ok {
            return Ok(None);
        }
        if verify_crc {
            let batch = self.read_bytes(position, header.total_len())?;
            if record_batch::scan_valid_prefix(&batch).1 != batch.len() {
                return Ok(None);
            }
        }
        Ok(Some(header))
    }
}
