//! The decoded-size model of [`reference::request_shape`] against the bytes `kafka-protocol`
//! really allocates, measured by a counting allocator; and, through the wire, 100 MiB frames
//! that would decode to GiBs closed without being decoded.
//!
//! The allocator counts per thread (live bytes and their peak), so tests running in parallel
//! do not disturb each other: a measure covers the header and body decode of one request on
//! the test's own thread. The estimate must be at least the peak (the model is an upper
//! bound), and for large requests within a few percent of it (the model is not so loose that
//! it refuses honest requests early).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use common::Conn;
use common::memory::peak_rss_bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::Decodable;
use reference::EmbeddedBroker;
use reference::request_shape::large::{Amplifier, Large, honest_requests};
use reference::request_shape::sample::{request_frame, valid_body};
use reference::request_shape::{MESSAGES, ShapeError, check, check_within};

struct Counting;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE_BYTES.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counting touches only
// thread-locals with const initialisers (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak of bytes allocated on this thread while decoding the header and body of
/// `frame` (after its 4-byte length), with the decoded request still held.
fn decoded_peak_bytes(key: ApiKey, version: i16, frame: &[u8]) -> usize {
    // Unshared, as the broker's frames are (`Bytes::from(Vec)`): the first slice taken while
    // decoding makes it shared, a small allocation measured with the rest.
    let mut buf = Bytes::copy_from_slice(frame);
    let start = LIVE_BYTES.with(Cell::get);
    PEAK_BYTES.with(|peak| peak.set(start));
    let header = RequestHeader::decode(&mut buf, key.request_header_version(version));
    let request = RequestKind::decode(key, &mut buf, version);
    let peak = PEAK_BYTES.with(Cell::get) - start;
    assert!(
        header.is_ok() && request.is_ok(),
        "{key:?} v{version}: does not decode"
    );
    drop((header, request));
    peak as usize
}

/// Random valid bodies of every table (with unknown tags now and then): decoding them never
/// allocates more than the walk's estimate.
#[test]
fn decoding_never_allocates_more_than_the_estimate() {
    let (mut bodies, mut allocated, mut estimated) = (0, 0, 0);
    for message in MESSAGES {
        for version in message.versions.min..=message.versions.max {
            for seed in 0..100 {
                let body = valid_body(message, version, seed);
                let frame = request_frame(message.key, version, 1, "c", &body);
                let estimate = check_within(message.key, version, &frame[4..], usize::MAX)
                    .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", message.key));
                let peak = decoded_peak_bytes(message.key, version, &frame[4..]);
                assert!(
                    peak <= estimate,
                    "{:?} v{version} seed {seed}: allocated {peak} > estimate {estimate}",
                    message.key
                );
                bodies += 1;
                allocated += peak;
                estimated += estimate;
            }
        }
    }
    println!("{bodies} bodies: {allocated} bytes allocated, {estimated} estimated");
    assert!(bodies > 10_000 && allocated > 0);
}

/// Measures `large` against its estimate: the estimate bounds the peak, and is at most
/// `slack` above it (plus 4 KiB).
fn assert_estimate_close(large: &Large, slack: f64) -> (usize, usize) {
    let estimate = check_within(large.key, large.version, large.body(), usize::MAX)
        .unwrap_or_else(|e| panic!("{}: {e}", large.what));
    let peak = decoded_peak_bytes(large.key, large.version, large.body());
    println!(
        "{}: frame {} KiB, allocated {} KiB, estimated {} KiB",
        large.what,
        large.body().len() >> 10,
        peak >> 10,
        estimate >> 10
    );
    assert!(peak <= estimate, "{}: {peak} > {estimate}", large.what);
    assert!(
        estimate as f64 <= peak as f64 * slack + 4096.0,
        "{}: estimate {estimate} far above {peak}",
        large.what
    );
    (peak, estimate)
}

/// The big honest requests: the estimate is within 1% of what decoding allocates (records
/// are not copied: a 100 MiB Produce allocates a few hundred bytes).
#[test]
fn big_honest_requests_allocate_what_is_estimated() {
    for large in honest_requests() {
        let (peak, _) = assert_estimate_close(&large, 1.01);
        assert!(peak < 64 << 20, "{}: {peak}", large.what);
    }
}

/// The amplifying frames below the floor decode to what is estimated; with unknown tags the
/// B-tree nodes are estimated from above (a node per buffer, a share of one per tag).
#[test]
fn amplifying_frames_allocate_at_most_what_is_estimated() {
    for amplifier in Amplifier::ALL {
        let large = amplifier.frame(128 << 10);
        assert_eq!(check(large.key, large.version, large.body()), Ok(()));
        let slack = match amplifier {
            Amplifier::MetadataV9UnknownTags => 2.0,
            _ => 1.01,
        };
        assert_estimate_close(&large, slack);
    }
}

/// One tagged buffer with many distinct unknown tags, in ascending and descending order
/// (B-tree splits on either side): the per-tag share of nodes bounds the real nodes.
#[test]
fn many_unknown_tags_in_one_buffer_stay_under_the_estimate() {
    for tags in [1u32, 11, 12, 100, 5_000] {
        for descending in [false, true] {
            // Metadata v12: no topics (compact array of 0), two booleans, then the tags.
            let mut body = vec![1, 0, 0];
            uvarint(&mut body, tags);
            for i in 0..tags {
                let tag = if descending { tags - 1 - i } else { i };
                uvarint(&mut body, tag);
                body.push(0);
            }
            let frame = request_frame(ApiKey::Metadata, 12, 1, "c", &body);
            let large = Large {
                what: format!("Metadata v12 with {tags} unknown tags (descending: {descending})"),
                key: ApiKey::Metadata,
                version: 12,
                frame,
            };
            assert_estimate_close(&large, 3.0);
        }
    }
}

fn uvarint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Through the wire: a frame of `socket.request.max.bytes` (100 MiB) of each amplifier, which
/// would decode to 1.8 to 3.6 GiB, closes its connection; the process's peak RSS grows by
/// about the frame (the client's copy and the broker's buffer), not by GiBs; an honest
/// client is served right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_100_mib_that_would_decode_to_gibs_close_their_connection() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    for amplifier in Amplifier::ALL {
        let large = amplifier.frame(100 << 20);
        assert!(matches!(
            check(large.key, large.version, large.body()),
            Err(ShapeError::DecodedTooLarge { .. })
        ));
        let before = peak_rss_bytes();
        let mut conn = Conn::connect(broker.bootstrap()).await;
        conn.write_raw(&large.frame).await;
        drop(large);
        assert!(
            conn.is_closed_by_broker().await,
            "{amplifier:?}: not closed"
        );
        let growth = peak_rss_bytes().saturating_sub(before);
        println!("{amplifier:?}: closed; peak RSS grew {} MiB", growth >> 20);
        assert!(growth < 512 << 20, "{amplifier:?}: peak RSS grew {growth}");
        let mut honest = Conn::connect(broker.bootstrap()).await;
        let request = RequestKind::ApiVersions(ApiVersionsRequest::default());
        let ResponseKind::ApiVersions(versions) =
            honest.call(ApiKey::ApiVersions, 3, request).await
        else {
            panic!("not an ApiVersions response");
        };
        assert_eq!(versions.error_code, 0);
    }
    broker.shutdown().await;
}
