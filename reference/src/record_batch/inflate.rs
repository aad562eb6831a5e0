//! The records section of a batch as a byte stream: read in place when uncompressed, through a
//! streaming decoder otherwise, never inflated whole.
//!
//! Validation walks every record of a produced batch, and a compressed batch can be a bomb (a
//! 1 MiB gzip stream inflates to 1 GiB, a 64 KiB zstd stream to 2 GiB). So the decoders hand
//! out bounded chunks ([`CHUNK_BYTES`]) that the record walk reads and skips, and every byte
//! handed out counts against a cap on inflated bytes (`max_inflated_bytes`, chosen by the
//! caller from the topic's `max.message.bytes`, see [`super::max_inflated_bytes`]). A length
//! read from the stream is checked against what the cap still allows *before* anything is
//! skipped, so a record that claims 2 GiB is refused without inflating it.
//!
//! What each codec holds at most, besides the chunk:
//! - gzip (`flate2`'s `MultiGzDecoder`: concatenated members, as Java's `GZIPInputStream`
//!   reads them): the 32 KiB deflate window;
//! - zstd (`zstd::stream::read::Decoder`): the frame's window, at most 2^27 bytes (zstd's
//!   default `ZSTD_WINDOWLOG_LIMIT_DEFAULT`, which zstd-jni and so Kafka also apply), and only
//!   as much of it as has been inflated, so never more than the cap;
//! - lz4 (the `lz4` crate's frame decoder; Kafka's LZ4 is the LZ4 frame format): one block, at
//!   most 4 MiB;
//! - snappy (xerial-framed blocks as snappy-java writes them, or one raw block as librdkafka
//!   writes it): one block, whose inflated length the block states up front; it is checked
//!   against the cap and against snappy's largest expansion before the block is allocated.
//!
//! # References
//! - Apache Kafka `DefaultRecordBatch.compressedIterator` / `RecordIterator` (records read
//!   from a decompressing stream), `GzipCompression`, `ZstdFactory`, `KafkaLZ4BlockInputStream`,
//!   `SnappyFactory` (snappy-java's `SnappyInputStream`)
//! - RFC 1952 (gzip members), RFC 8878 (zstd), the LZ4 frame format, snappy's format
//!   description and snappy-java's framing

use std::io::{self, BufRead, BufReader, Read};

use super::BatchError;

/// Inflated bytes a decoder hands the record walk at a time.
pub(super) const CHUNK_BYTES: usize = 32 * 1024;

/// Snappy never expands more than 64 output bytes per 3-byte copy; a length header claiming
/// more is corrupt, and is refused before the block is allocated.
const SNAPPY_MAX_EXPANSION: u64 = 22;
/// The xerial snappy-java stream header, magic and versions (16 bytes).
const SNAPPY_XERIAL_HEADER: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// Why the stream gave no more bytes.
pub(super) enum Short {
    /// The records section (or its inflated stream) ended.
    End,
    /// The stream was refused: it does not decompress, or it inflates past the cap.
    Refused(BatchError),
}

/// The records section of one batch, read forward.
pub(super) struct Records<'a> {
    source: Box<dyn BufRead + 'a>,
    compression: i16,
    /// Bytes handed out so far.
    consumed_bytes: u64,
    /// Uncompressed: the length of the section (bytes past it are not there). Compressed: the
    /// cap on inflated bytes.
    max_bytes: u64,
}

/// The marker a decoder wraps in an `io::Error` when the cap stops it (snappy knows its block
/// lengths up front, so it refuses before inflating a block that would cross the cap).
#[derive(Debug)]
struct CapReached;

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("inflated records exceed the cap")
    }
}

impl std::error::Error for CapReached {}

impl<'a> Records<'a> {
    /// Opens `payload` (the bytes after the 61-byte header) with codec `compression`.
    pub(super) fn open(
        compression: i16,
        payload: &'a [u8],
        max_inflated_bytes: u64,
    ) -> Result<Records<'a>, BatchError> {
        let failed = |e: io::Error| BatchError::Decompression {
            compression,
            reason: e.to_string(),
        };
        let chunked = |reader: Box<dyn Read + 'a>| -> Box<dyn BufRead + 'a> {
            Box::new(BufReader::with_capacity(CHUNK_BYTES, reader))
        };
        let source: Box<dyn BufRead + 'a> = match compression {
            0 => Box::new(payload),
            1 => chunked(Box::new(flate2::bufread::MultiGzDecoder::new(payload))),
            2 => Box::new(SnappyBlocks::new(payload, max_inflated_bytes)),
            3 => chunked(Box::new(lz4::Decoder::new(payload).map_err(failed)?)),
            4 => chunked(Box::new(
                zstd::stream::read::Decoder::with_buffer(payload).map_err(failed)?,
            )),
            id => return Err(BatchError::UnknownCompression { id }),
        };
        let max_bytes = if compression == 0 {
            payload.len() as u64
        } else {
            max_inflated_bytes
        };
        Ok(Records {
            source,
            compression,
            consumed_bytes: 0,
            max_bytes,
        })
    }

    /// Checks that `len` more bytes may be read: within the section (uncompressed) or within
    /// the cap (compressed). Called with a length read from the stream before acting on it.
    pub(super) fn claim(&self, len: u64) -> Result<(), Short> {
        if len <= self.max_bytes - self.consumed_bytes {
            return Ok(());
        }
        Err(self.past_max())
    }

    /// The next byte.
    pub(super) fn byte(&mut self) -> Result<u8, Short> {
        self.claim(1)?;
        let chunk = match self.source.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) => return Err(refused(self.compression, self.max_bytes, e)),
        };
        let Some(&byte) = chunk.first() else {
            return Err(Short::End);
        };
        self.source.consume(1);
        self.consumed_bytes += 1;
        Ok(byte)
    }

    /// Reads past `len` bytes without keeping them.
    pub(super) fn skip(&mut self, len: u64) -> Result<(), Short> {
        self.claim(len)?;
        let mut left = len;
        while left > 0 {
            let chunk = match self.source.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) => return Err(refused(self.compression, self.max_bytes, e)),
            };
            if chunk.is_empty() {
                return Err(Short::End);
            }
            let step = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            self.source.consume(step);
            self.consumed_bytes += step as u64;
            left -= step as u64;
        }
        Ok(())
    }

    /// Whether the stream has ended (a decoder checks its trailer here: gzip's CRC and
    /// length, lz4's and zstd's checksums when present).
    pub(super) fn is_at_end(&mut self) -> Result<bool, BatchError> {
        match self.source.fill_buf() {
            Ok(chunk) => Ok(chunk.is_empty()),
            Err(e) => match refused(self.compression, self.max_bytes, e) {
                Short::Refused(e) => Err(e),
                Short::End => Ok(true),
            },
        }
    }

    fn past_max(&self) -> Short {
        past_max(self.compression, self.max_bytes)
    }
}

/// What reading past `max_bytes` is: the end of an uncompressed section, or a refusal.
fn past_max(compression: i16, max_bytes: u64) -> Short {
    if compression == 0 {
        Short::End
    } else {
        Short::Refused(BatchError::InflatedTooLarge {
            compression,
            max_inflated_bytes: max_bytes,
        })
    }
}

/// A decoder's error: the cap (snappy), or a stream that does not decompress.
fn refused(compression: i16, max_bytes: u64, e: io::Error) -> Short {
    if e.get_ref().is_some_and(|inner| inner.is::<CapReached>()) {
        return past_max(compression, max_bytes);
    }
    Short::Refused(BatchError::Decompression {
        compression,
        reason: e.to_string(),
    })
}

/// Snappy as Kafka's clients write it: snappy-java's xerial framing (a 16-byte header, then
/// blocks of a 4-byte big-endian length and a raw snappy block), or one raw block.
struct SnappyBlocks<'a> {
    rest: &'a [u8],
    framed: bool,
    /// The raw form is one block: it has been read.
    raw_read: bool,
    block: Vec<u8>,
    position: usize,
    inflated_bytes: u64,
    max_inflated_bytes: u64,
}

impl<'a> SnappyBlocks<'a> {
    fn new(payload: &'a [u8], max_inflated_bytes: u64) -> SnappyBlocks<'a> {
        let (rest, framed) = match payload.strip_prefix(SNAPPY_XERIAL_HEADER) {
            Some(rest) => (rest, true),
            None => (payload, false),
        };
        SnappyBlocks {
            rest,
            framed,
            raw_read: false,
            block: Vec::new(),
            position: 0,
            inflated_bytes: 0,
            max_inflated_bytes,
        }
    }

    /// The next compressed block, or `None` at the end.
    fn next_compressed(&mut self) -> io::Result<Option<&'a [u8]>> {
        if !self.framed {
            if self.raw_read {
                return Ok(None);
            }
            self.raw_read = true;
            return Ok(Some(std::mem::take(&mut self.rest)));
        }
        if self.rest.is_empty() {
            return Ok(None);
        }
        let corrupt = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        let Some((len_bytes, rest)) = self.rest.split_first_chunk::<4>() else {
            return Err(corrupt("truncated snappy block length"));
        };
        let len = u32::from_be_bytes(*len_bytes) as usize;
        let Some(block) = rest.get(..len) else {
            return Err(corrupt("truncated snappy block"));
        };
        self.rest = &rest[len..];
        Ok(Some(block))
    }

    /// Inflates the next block into `self.block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        let Some(compressed) = self.next_compressed()? else {
            return Ok(false);
        };
        let len = snap::raw::decompress_len(compressed).map_err(io::Error::other)? as u64;
        if len > (compressed.len() as u64).saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snappy length exceeds what the block can hold",
            ));
        }
        if len > self.max_inflated_bytes - self.inflated_bytes {
            return Err(io::Error::other(CapReached));
        }
        self.block.clear();
        self.block.resize(len as usize, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(io::Error::other)?;
        self.position = 0;
        self.inflated_bytes += len;
        Ok(true)
    }
}

impl Read for SnappyBlocks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for SnappyBlocks<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.position == self.block.len() {
            if !self.next_block()? {
                break;
            }
        }
        Ok(&self.block[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.block.len());
    }
}
