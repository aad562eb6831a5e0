//! Compression bombs, through the wire and through the unit API: a 1 MiB gzip batch that
//! inflates to 1 GiB and a 64 KiB zstd batch that inflates to 2 GiB are refused with
//! INVALID_RECORD after inflating at most the cap (`record_batch::max_inflated_bytes`), on one
//! broker and on a 3-broker cluster, and the process's resident memory stays small throughout.
//!
//! One test in its own binary, so that nothing else runs in the process while its memory is
//! measured. The bombs are built by streaming compressors (or, for gzip, from one compressed
//! member repeated) reading a generator of records: nothing here ever holds a GiB.

mod common;

use std::io::{self, Read, Write};
use std::time::Instant;

use bytes::Bytes;
use common::Conn;
use common::cluster::{create_topic_with, produce};
use common::memory::{peak_rss_bytes, reset_peak, rss_bytes};
use reference::embedded::{BrokerOptions, EmbeddedBroker};
use reference::record_batch::{self, BatchError};

const MIB: usize = 1024 * 1024;
/// What the process may hold at its peak while the bombs are refused.
const PEAK_RSS_LIMIT_BYTES: u64 = 128 * MIB as u64;

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

/// Everything of record `offset_delta` before its `value_len` value bytes (no key, no
/// headers: the header count, 0, follows the value).
fn record_head(offset_delta: i64, value_len: usize) -> Vec<u8> {
    let mut body = vec![0, 0]; // attributes, timestamp delta
    put_varint(&mut body, offset_delta);
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, value_len as i64);
    let size = body.len() + value_len + 1;
    let mut head = Vec::new();
    put_varint(&mut head, size as i64);
    head.extend(body);
    head
}

/// The records section of `records` records with values of `value_len` zero bytes, read as a
/// stream and never held.
struct Records {
    records: usize,
    value_len: usize,
    next: usize,
    /// What is left of the current record: its head, then zeros, then the header count.
    head: Vec<u8>,
    zeros_left: usize,
    tail_left: bool,
}

impl Records {
    fn new(records: usize, value_len: usize) -> Records {
        Records {
            records,
            value_len,
            next: 0,
            head: Vec::new(),
            zeros_left: 0,
            tail_left: false,
        }
    }

    fn inflated_len(records: usize, value_len: usize) -> u64 {
        (0..records)
            .map(|i| (record_head(i as i64, value_len).len() + value_len + 1) as u64)
            .sum()
    }
}

impl Read for Records {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.head.is_empty() && self.zeros_left == 0 && !self.tail_left {
            if self.next == self.records {
                return Ok(0);
            }
            self.head = record_head(self.next as i64, self.value_len);
            self.head.reverse();
            self.zeros_left = self.value_len;
            self.tail_left = true;
            self.next += 1;
        }
        if let Some(byte) = self.head.pop() {
            buf[0] = byte;
            return Ok(1);
        }
        if self.zeros_left > 0 {
            let n = buf.len().min(self.zeros_left);
            buf[..n].fill(0);
            self.zeros_left -= n;
            return Ok(n);
        }
        self.tail_left = false;
        buf[0] = 0; // header count
        Ok(1)
    }
}

/// A v2 batch header (CRC included) around `payload`, the compressed section of `records`.
fn batch(records: usize, compression: i16, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(61 + payload.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((61 - 12 + payload.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(2);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&compression.to_be_bytes());
    out.extend_from_slice(&(records as i32 - 1).to_be_bytes());
    out.extend_from_slice(&1_000i64.to_be_bytes());
    out.extend_from_slice(&1_000i64.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.extend_from_slice(&(records as i32).to_be_bytes());
    out.extend_from_slice(payload);
    let crc = record_batch::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

/// 1024 records of 1 MiB zeros (1 GiB inflated) in about 1 MiB of gzip: each record's head is
/// its own gzip member, and its value one member of 1 MiB zeros compressed once and repeated
/// (a gzip stream may be a run of members; Java's `GZIPInputStream` reads them as one).
fn gzip_bomb() -> (Bytes, u64) {
    let (records, value_len) = (1024, MIB);
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let zeros = gzip(&vec![0; value_len]);
    let mut payload = Vec::new();
    for i in 0..records {
        payload.extend(gzip(&record_head(i as i64, value_len)));
        payload.extend_from_slice(&zeros);
        payload.extend(gzip(&[0]));
    }
    (
        batch(records, 1, &payload),
        Records::inflated_len(records, value_len),
    )
}

/// 128 records of 16 MiB zeros (2 GiB inflated), zstd-compressed as a stream.
fn zstd_bomb() -> (Bytes, u64) {
    let (records, value_len) = (128, 16 * MIB);
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    io::copy(&mut Records::new(records, value_len), &mut encoder).unwrap();
    let payload = encoder.finish().unwrap();
    (
        batch(records, 4, &payload),
        Records::inflated_len(records, value_len),
    )
}

fn honest() -> Bytes {
    common::cluster::batch(0, 3, |_| common::cluster::now_ms())
}

/// Produces both bombs to `conn`'s broker (`topic` must exist there): INVALID_RECORD each,
/// then an honest batch is appended at offset 0.
async fn refuse_over_the_wire(conn: &mut Conn, topic: &str, bombs: &[(&str, Bytes)]) {
    for (codec, bomb) in bombs {
        let started = Instant::now();
        let (code, _) = produce(conn, topic, 1, bomb.clone()).await;
        println!(
            "{topic}: {codec} bomb -> error {code} in {:?}",
            started.elapsed()
        );
        assert_eq!(code, 87, "{codec} bomb over the wire");
    }
    assert_eq!(produce(conn, topic, 1, honest()).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_bombs_are_refused_with_little_memory() {
    let (gzip, gzip_inflated) = gzip_bomb();
    let (zstd, zstd_inflated) = zstd_bomb();
    println!(
        "gzip bomb: {} bytes inflating to {gzip_inflated}; zstd bomb: {} bytes inflating to {zstd_inflated}",
        gzip.len(),
        zstd.len()
    );
    assert!(gzip.len() < 11 * MIB / 10 && gzip_inflated >= 1 << 30);
    assert!(zstd.len() < 128 * 1024 && zstd_inflated >= 2 << 30);
    let peak_reset = reset_peak();
    let rss_before = rss_bytes();

    let default_cap = record_batch::max_inflated_bytes(1024 * 1024 + 12);
    for (bomb, compression) in [(&gzip, 1), (&zstd, 4)] {
        let started = Instant::now();
        let err = record_batch::validate_produce_with_limit(bomb, 13, default_cap).unwrap_err();
        println!(
            "unit API: compression {compression} -> {err} in {:?}",
            started.elapsed()
        );
        assert_eq!(
            err,
            BatchError::InflatedTooLarge {
                compression,
                max_inflated_bytes: default_cap
            }
        );
        assert_eq!(err.error_code(), 87);
    }

    let bombs = [("gzip", gzip.clone()), ("zstd", zstd.clone())];
    // max.message.bytes 2 MiB: the 1 MiB gzip batch is within it, so the cap (128 MiB
    // inflated) is what refuses it.
    let topic_configs = [("max.message.bytes", "2097152")];
    let broker = EmbeddedBroker::start_with(BrokerOptions::default())
        .await
        .unwrap();
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, "bombs", 1, 1, &topic_configs).await;
    refuse_over_the_wire(&mut conn, "bombs", &bombs).await;
    broker.shutdown().await;

    let cluster = common::cluster::start(3, None, &[]).await;
    let mut conn = common::cluster::connect(&cluster, 1).await;
    create_topic_with(&mut conn, "bombs", 1, 3, &topic_configs).await;
    let leader = common::cluster::partition0(&mut conn, "bombs")
        .await
        .expect("partition 0")
        .leader;
    let mut conn = common::cluster::connect(&cluster, leader).await;
    refuse_over_the_wire(&mut conn, "bombs", &bombs).await;

    let (rss_after, peak) = (rss_bytes(), peak_rss_bytes());
    println!(
        "RSS before {} MiB, after {} MiB, peak {} MiB (peak reset: {peak_reset})",
        rss_before >> 20,
        rss_after >> 20,
        peak >> 20
    );
    assert!(
        peak < PEAK_RSS_LIMIT_BYTES,
        "peak RSS {peak} bytes while refusing bombs"
    );
    assert!(rss_after < rss_before + 64 * MIB as u64);
}
