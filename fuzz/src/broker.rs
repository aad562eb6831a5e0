//! Fuzz check: request decoding and dispatch against a live in-process broker.
//!
//! One [`EmbeddedBroker`] (in memory, default configs) is started per process on a tokio
//! runtime kept in a `static`; each input goes to it over a fresh TCP connection on
//! 127.0.0.1, as a client would send it. Two things count as a crash:
//!
//! - a panic in any broker task. Tokio catches task panics and the broker would carry on
//!   with a connection or a coordinator silently gone, so a panic hook aborts the process
//!   when the panicking thread is one of the broker's (libFuzzer's own hook aborts on any
//!   panic too, but the replaying regression test runs without it);
//! - the broker no longer answering ApiVersions on a fresh connection after the input (a
//!   deadlock, a dead accept loop, connections exhausted), checked after every input.
//!
//! Responses are read with a short timeout and must be well-framed, with the correlation ids
//! of the requests in order (Kafka answers a connection's requests in order).
//!
//! Input: if the first byte is [`RAW`], the rest is written as is (framing, lengths and
//! headers all fuzzed). Otherwise it is a sequence of up to [`MAX_FRAMES`] requests, each
//! `[api: u8][version: u8][len: u16 BE][len bytes of body]` (the last body may be short):
//! `api` picks from the APIs the broker advertises (`reference::api::SUPPORTED`), `version`
//! picks within that API's range, or, when its top bit is set, is the raw version number
//! (unsupported versions are in reach). The check adds the length prefix and a request
//! header of the version the API and version call for.
//!
//! State carries over between inputs (topics, groups, records), as on a real broker; a crash
//! that needs earlier inputs shows up as one that does not reproduce alone.
//!
//! # References
//! - Kafka protocol guide, request framing and headers:
//!   <https://kafka.apache.org/protocol.html#protocol_common>
//! - `kafka.network.SocketServer` (one response per request, in order)

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use reference::EmbeddedBroker;
use reference::api::SUPPORTED;
use reference::embedded::BrokerOptions;

/// First byte of an input written to the socket unframed.
pub const RAW: u8 = 0xff;
pub const MAX_FRAMES: usize = 8;
/// Waiting for a response that may never come (Produce acks=0, a parked JoinGroup or Fetch).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(20);
/// Generous: the liveness probe fails only on a broker that stopped serving.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(10);
/// No response this broker sends to a fuzz input comes near this (`fetch.max.bytes` is less).
const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;
const BROKER_THREAD_NAME: &str = "fuzz-broker";
const CLIENT_ID: &[u8] = b"fuzz";

struct Broker {
    addr: SocketAddr,
    _broker: EmbeddedBroker,
    _runtime: tokio::runtime::Runtime,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

fn broker() -> &'static Broker {
    BROKER.get_or_init(|| {
        abort_on_broker_panic();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(BROKER_THREAD_NAME)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let broker = runtime
            .block_on(EmbeddedBroker::start_with(BrokerOptions::default()))
            .expect("the broker starts");
        let addr = broker.bootstrap().parse().expect("a socket address");
        Broker {
            addr,
            _broker: broker,
            _runtime: runtime,
        }
    })
}

/// A panic on one of the broker's threads aborts the process after the usual message.
fn abort_on_broker_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if std::thread::current().name() == Some(BROKER_THREAD_NAME) {
            eprintln!("a broker task panicked: aborting");
            std::process::abort();
        }
    }));
}

pub fn check(data: &[u8]) {
    let broker = broker();
    let (wire, correlation_ids) = requests(data);
    exchange(broker.addr, &wire, &correlation_ids);
    if let Err(e) = api_versions_round_trip(broker.addr) {
        panic!("the broker no longer answers ApiVersions on a new connection: {e}");
    }
}

/// The bytes to write and the correlation ids of the framed requests (none for raw input).
pub fn requests(data: &[u8]) -> (Vec<u8>, Vec<i32>) {
    if let Some(raw) = data.strip_prefix(&[RAW]) {
        return (raw.to_vec(), Vec::new());
    }
    let mut wire = Vec::new();
    let mut correlation_ids = Vec::new();
    let mut rest = data;
    while correlation_ids.len() < MAX_FRAMES {
        let [api, version, high, low, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        let (key, range) = SUPPORTED[usize::from(*api) % SUPPORTED.len()];
        let version = if version & 0x80 == 0 {
            let span = i32::from(range.max) - i32::from(range.min) + 1;
            range.min + (i32::from(*version) % span) as i16
        } else {
            i16::from(version & 0x7f)
        };
        let correlation_id = correlation_ids.len() as i32 + 1;
        put_request(&mut wire, key, version, correlation_id, body);
        correlation_ids.push(correlation_id);
    }
    (wire, correlation_ids)
}

/// A length-prefixed request: header (v1: client id; v2: and no tagged fields), then body.
pub fn put_request(
    wire: &mut Vec<u8>,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &[u8],
) {
    let header_version = key.request_header_version(version);
    let mut frame = Vec::with_capacity(16 + body.len());
    frame.extend_from_slice(&(key as i16).to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    if header_version >= 1 {
        frame.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
        frame.extend_from_slice(CLIENT_ID);
    }
    if header_version >= 2 {
        frame.push(0);
    }
    frame.extend_from_slice(body);
    wire.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    wire.extend_from_slice(&frame);
}

/// Writes the input and reads what comes back: responses in request order, well framed.
fn exchange(addr: SocketAddr, wire: &[u8], correlation_ids: &[i32]) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return; // the liveness probe that follows tells a dead broker from a busy one
    };
    let _ = stream.set_nodelay(true);
    // The broker may close the connection part-way: that is its answer to a bad request.
    if stream.write_all(wire).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(RESPONSE_TIMEOUT));
    let mut expected = correlation_ids.iter();
    loop {
        let response = match read_frame(&mut stream) {
            Ok(Some(response)) => response,
            Ok(None) | Err(_) => return,
        };
        if correlation_ids.is_empty() {
            continue; // raw input: any well-framed answer will do
        }
        let correlation_id = i32::from_be_bytes(response[..4].try_into().expect("4 bytes"));
        assert!(
            expected.any(|&id| id == correlation_id),
            "response with correlation id {correlation_id} out of order (sent {correlation_ids:?})"
        );
        if expected.as_slice().is_empty() {
            return; // every request answered
        }
    }
}

/// One response frame (`None` at end of stream). A frame too short for a correlation id, or
/// larger than any response could be, is a broker bug.
fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0; 4];
    match stream.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size).unwrap_or(usize::MAX);
    assert!(
        (4..=MAX_RESPONSE_BYTES).contains(&len),
        "response frame of size {size}"
    );
    let mut response = vec![0; len];
    stream.read_exact(&mut response)?;
    Ok(Some(response))
}

/// ApiVersions v0 on a new connection, answered with its correlation id.
pub fn api_versions_round_trip(addr: SocketAddr) -> io::Result<()> {
    const PROBE_CORRELATION_ID: i32 = 0x0a11_7e57;
    let mut stream = TcpStream::connect_timeout(&addr, LIVENESS_TIMEOUT)?;
    stream.set_read_timeout(Some(LIVENESS_TIMEOUT))?;
    stream.set_write_timeout(Some(LIVENESS_TIMEOUT))?;
    let mut wire = Vec::new();
    put_request(&mut wire, ApiKey::ApiVersions, 0, PROBE_CORRELATION_ID, &[]);
    stream.write_all(&wire)?;
    let response = read_frame(&mut stream)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed before answering"))?;
    let correlation_id = i32::from_be_bytes(response[..4].try_into().expect("4 bytes"));
    if correlation_id != PROBE_CORRELATION_ID {
        return Err(io::Error::other(format!(
            "answered with correlation id {correlation_id}"
        )));
    }
    Ok(())
}
