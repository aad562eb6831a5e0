//! A bare connection for wire tests: encode a request with `kafka-protocol`, or write any
//! bytes at all, and read back frames. Every read has a deadline.
#![allow(dead_code)]

pub mod cluster;
pub mod kcat;
pub mod memory;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Conn {
    pub stream: TcpStream,
    correlation_id: i32,
}

impl Conn {
    pub async fn connect(addr: &str) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            correlation_id: 0,
        }
    }

    /// Writes raw bytes, exactly as given.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Encodes and sends a request; returns its correlation id.
    pub async fn send(&mut self, key: ApiKey, version: i16, request: RequestKind) -> i32 {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .expect("header");
        request.encode(&mut body, version).expect("body");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.write_raw(&frame).await;
        self.correlation_id
    }

    /// Reads one frame; `None` if the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .expect("no frame and no close before the deadline")
    }

    /// Sends a request and decodes its response (header checked against the correlation id).
    pub async fn call(&mut self, key: ApiKey, version: i16, request: RequestKind) -> ResponseKind {
        let id = self.send(key, version, request).await;
        let mut frame = self
            .read_frame()
            .await
            .expect("connection closed instead of a response");
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .expect("header");
        assert_eq!(header.correlation_id, id);
        ResponseKind::decode(key, &mut frame, version).expect("response body")
    }

    /// True when the broker has closed this connection (EOF within the deadline).
    pub async fn is_closed_by_broker(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(DEADLINE, self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
