//! The smallest Kafka client a follower needs: one connection to its leader, one request at
//! a time, each response read under a deadline and with the same frame limit as the server.
//!
//! # References
//! - Kafka protocol guide (request and response headers, framing)

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response frame a follower accepts (`replica.fetch.response.max.bytes` is
/// 10 MiB; batches may exceed it once, so leave room).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("codec: {0}")]
    Codec(String),
    #[error("response frame of {0} bytes")]
    Frame(i64),
    #[error("no response in time")]
    Timeout,
    /// The network between the two brokers is cut (a test's isolation).
    #[error("the link to the peer is down")]
    LinkDown,
    /// The partition has another leader or leader epoch now: the answer is of no use.
    #[error("the request was superseded by new metadata")]
    Superseded,
}

pub struct Client {
    stream: TcpStream,
    correlation_id: i32,
    client_id: StrBytes,
}

impl Client {
    pub async fn connect(addr: SocketAddr, client_id: String) -> Result<Client, ClientError> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout)??;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            stream,
            correlation_id: 0,
            client_id: StrBytes::from_string(client_id),
        })
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub async fn call(
        &mut self,
        key: ApiKey,
        version: i16,
        request: RequestKind,
        timeout: Duration,
    ) -> Result<ResponseKind, ClientError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .map_err(|e| ClientError::Codec(e.to_string()))?;
        request
            .encode(&mut body, version)
            .map_err(|e| ClientError::Codec(e.to_string()))?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(&body);
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = i32::from_be_bytes(len);
            let size = usize::try_from(len)
                .ok()
                .filter(|n| *n <= MAX_RESPONSE_BYTES)
                .ok_or(ClientError::Frame(i64::from(len)))?;
            let mut body = vec![0u8; size];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, ClientError>(bytes::Bytes::from(body))
        };
        let mut body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout)??;
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| ClientError::Codec(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(ClientError::Codec(format!(
                "correlation id {} for request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        ResponseKind::decode(key, &mut body, version).map_err(|e| ClientError::Codec(e.to_string()))
    }
}
