//! One client connection: read a frame, decode its header and body, hand it to the API
//! handler, write the response; strictly one request at a time, as Kafka processes a
//! connection's requests in order. So a connection holds at most one request (its frame's
//! share of `queued.max.request.bytes`, see [`crate::frame`]), and the next request's bytes
//! wait in the kernel until this one is answered.
//!
//! Anything that cannot be answered by the protocol (a bad length, a truncated frame, an
//! undecodable header, an unknown API key, an unsupported version of anything but
//! ApiVersions, a response too large for a frame) closes this connection with the reason
//! logged; the broker keeps serving every other connection.
//!
//! `connections.max.idle.ms` is measured while the connection waits on its client: from the
//! moment the broker is ready for the next request until that request is complete (budget
//! waits and half-sent frames included), and while a response is being written (a client
//! that stops reading). A request the broker is working on (a Fetch long poll, a parked
//! JoinGroup, acks=all) is not idle: the client is waiting on the broker. Kafka measures
//! idleness from the last byte moved instead; measuring it per request is what lets a peer
//! trickling one byte a minute be closed too.
//!
//! A paused broker of a [`Cluster`](crate::cluster::Cluster) (a test's SIGSTOP) reads
//! nothing and answers nothing until it resumes; the connection stays open.
//!
//! # References
//! - Kafka protocol guide, request and response headers:
//!   <https://kafka.apache.org/protocol.html#protocol_messages>
//! - `kafka.network.SocketServer` / `RequestChannel` (ordering, closing on bad requests)
//! - KIP-511 (ApiVersions answered with v0 when the version is unknown)
//! - Broker config `connections.max.idle.ms`, `org.apache.kafka.common.network.Selector`
//!   (its idle expiry): <https://kafka.apache.org/documentation/#brokerconfigs>

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::api::{self, Reply};
use crate::frame::{self, Frame, FrameError};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("request header: {0}")]
    Header(String),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("cannot decode {key:?} v{version}: {reason}")]
    Body {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("malformed {key:?} v{version}: {reason}")]
    Shape {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode the response to {key:?} v{version}: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{0}")]
    Handler(String),
    #[error("no complete request for {idle_ms} ms (connections.max.idle.ms)")]
    Idle { idle_ms: u128 },
    #[error("the client read no response for {idle_ms} ms (connections.max.idle.ms)")]
    WriteStalled { idle_ms: u128 },
}

impl ConnectionError {
    /// Closed for idleness: routine, not a misbehaving client.
    pub fn is_idle(&self) -> bool {
        matches!(self, ConnectionError::Idle { .. })
    }
}

/// Serves one connection until the peer closes it, it misbehaves, or the broker shuts down.
pub async fn serve(
    mut socket: TcpStream,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) -> Result<(), ConnectionError> {
    loop {
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        let Some(Frame { body, budget }) =
            next_request(&mut socket, &shared, &mut shutdown).await?
        else {
            return Ok(());
        };
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        let response = respond(&shared, peer, body, &mut shutdown).await?;
        // The request is handled and its bytes are dropped: its budget goes back.
        drop(budget);
        let Some(response) = response else {
            continue;
        };
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        let write = socket.write_all(&response);
        let idle = shared.connections_max_idle;
        match within(idle, write).await {
            Some(written) => written.map_err(FrameError::Io)?,
            None => {
                return Err(ConnectionError::WriteStalled {
                    idle_ms: millis(idle),
                });
            }
        }
    }
}

/// The next request frame, waited for at most `connections.max.idle.ms`; `None` if the
/// client closed the connection between requests or the broker is shutting down.
async fn next_request(
    socket: &mut TcpStream,
    shared: &Shared,
    shutdown: &mut Shutdown,
) -> Result<Option<Frame>, ConnectionError> {
    let read = frame::read_frame(socket, shared.max_request_bytes, &shared.request_budget);
    let idle = shared.connections_max_idle;
    tokio::select! {
        read = within(idle, read) => match read {
            Some(frame) => Ok(frame?),
            None => Err(ConnectionError::Idle { idle_ms: millis(idle) }),
        },
        _ = shutdown.recv() => Ok(None),
    }
}

/// `work`'s output, or `None` if `limit` passed first (no limit: waits for ever).
async fn within<T>(limit: Option<Duration>, work: impl Future<Output = T>) -> Option<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

fn millis(limit: Option<Duration>) -> u128 {
    limit.map_or(0, |d| d.as_millis())
}

/// Decodes one request, runs it, and encodes the response (`None`: nothing to send).
async fn respond(
    shared: &Shared,
    peer: std::net::SocketAddr,
    mut frame: Bytes,
    shutdown: &mut Shutdown,
) -> Result<Option<BytesMut>, ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::Header(format!(
            "only {} bytes",
            frame.len()
        )));
    }
    let key_code = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(key_code).map_err(|_| ConnectionError::UnknownApiKey(key_code))?;
    let supported = api::supported_versions(key);
    let in_range = supported.is_some_and(|r| version >= r.min && version <= r.max);
    if !in_range {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 so any client can read the supported ranges.
            let body = api::api_versions::handle(35);
            return encode(key, 0, correlation_id, ResponseKind::ApiVersions(body)).map(Some);
        }
        return Err(ConnectionError::UnsupportedVersion { key, version });
    }
    // Every count and length proven against the frame before the codec allocates for it.
    crate::request_shape::check(key, version, &frame).map_err(|e| ConnectionError::Shape {
        key,
        version,
        reason: e.to_string(),
    })?;
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version))
        .map_err(|e| ConnectionError::Header(e.to_string()))?;
    let request =
        RequestKind::decode(key, &mut frame, version).map_err(|e| ConnectionError::Body {
            key,
            version,
            reason: e.to_string(),
        })?;
    tracing::trace!(?key, version, correlation_id, "request");
    match api::handle(shared, &header, peer, request, shutdown).await {
        Reply::Response(response) => encode(key, version, correlation_id, *response).map(Some),
        Reply::NoResponse => Ok(None),
        Reply::Close(reason) => Err(ConnectionError::Handler(reason)),
    }
}

fn encode(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: ResponseKind,
) -> Result<BytesMut, ConnectionError> {
    let fail = |e: anyhow::Error| ConnectionError::Encode {
        key,
        version,
        reason: e.to_string(),
    };
    // The response is encoded after its length prefix, so it is never copied to be framed.
    let mut out = BytesMut::new();
    frame::begin_frame(&mut out);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, key.response_header_version(version))
        .map_err(fail)?;
    response.encode(&mut out, version).map_err(fail)?;
    frame::finish_frame(&mut out)?;
    Ok(out)
}
