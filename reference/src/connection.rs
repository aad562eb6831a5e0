//! One client connection: read a frame, decode its header and body, hand it to the API
//! handler, write the response; strictly one request at a time, as Kafka processes a
//! connection's requests in order.
//!
//! Anything that cannot be answered by the protocol (a bad length, a truncated frame, an
//! undecodable header, an unknown API key, an unsupported version of anything but
//! ApiVersions) closes this connection with the reason logged; the broker keeps serving
//! every other connection.
//!
//! A paused broker of a [`Cluster`](crate::cluster::Cluster) (a test's SIGSTOP) reads
//! nothing and answers nothing until it resumes; the connection stays open.
//!
//! # References
//! - Kafka protocol guide, request and response headers:
//!   <https://kafka.apache.org/protocol.html#protocol_messages>
//! - `kafka.network.SocketServer` / `RequestChannel` (ordering, closing on bad requests)
//! - KIP-511 (ApiVersions answered with v0 when the version is unknown)

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{self, Reply};
use crate::frame::{self, FrameError};
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
    #[error("cannot encode the response to {key:?} v{version}: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{0}")]
    Handler(String),
}

/// Serves one connection until the peer closes it, it misbehaves, or the broker shuts down.
pub async fn serve(
    mut socket: TcpStream,
    peer: std::net::SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) -> Result<(), ConnectionError> {
    let max_request_bytes = shared.max_request_bytes;
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::with_capacity(4096);
    loop {
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        let frame = loop {
            if let Some(frame) = frame::take_frame(&mut buf, max_request_bytes)? {
                break frame;
            }
            let read = tokio::select! {
                read = socket.read_buf(&mut buf) => read.map_err(FrameError::Io)?,
                _ = shutdown.recv() => return Ok(()),
            };
            if read == 0 {
                if buf.is_empty() {
                    return Ok(());
                }
                return Err(FrameError::Truncated {
                    buffered: buf.len(),
                }
                .into());
            }
        };
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        let Some(response) = respond(&shared, peer, frame.freeze(), &mut shutdown).await? else {
            continue;
        };
        if !shared.wait_unpaused(&mut shutdown).await {
            return Ok(());
        }
        out.clear();
        frame::put_frame(&mut out, &response);
        socket.write_all(&out).await.map_err(FrameError::Io)?;
    }
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
    let supported = api::supported_versions_for(shared, key);
    let in_range = supported.is_some_and(|r| version >= r.min && version <= r.max);
    if !in_range {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 so any client can read the supported ranges.
            let body = match shared.cluster {
                Some(_) => crate::cluster::wire::api_versions(35),
                None => api::api_versions::handle(35),
            };
            return encode(key, 0, correlation_id, ResponseKind::ApiVersions(body)).map(Some);
        }
        return Err(ConnectionError::UnsupportedVersion { key, version });
    }
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
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, key.response_header_version(version))
        .map_err(fail)?;
    response.encode(&mut out, version).map_err(fail)?;
    Ok(out)
}
