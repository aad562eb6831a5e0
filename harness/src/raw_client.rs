//! A minimal async Kafka client on `kafka-protocol`, for steps where the exact bytes matter.
//!
//! librdkafka hides what the broker said: it retries, maps errors, and fills in offsets it
//! never received. Some claims are about the wire itself: a Produce with `acks=0` gets *no*
//! response at all; a produce to a missing partition answers `UNKNOWN_TOPIC_OR_PARTITION`;
//! a fetch below the log start answers `OFFSET_OUT_OF_RANGE`. This client sends one request
//! at a time on a `TcpStream` and returns the decoded response untouched.
//!
//! Framing: a request is a 4-byte big-endian length, a request header (its version chosen
//! by [`ApiKey::request_header_version`]) and the body; a response is a length, a response
//! header ([`ApiKey::response_header_version`]) and the body. A response length is checked
//! against [`MAX_RESPONSE_BYTES`] before anything is allocated. Every wait has a deadline
//! ([`IO_TIMEOUT`] unless the caller gives one).
//!
//! Versions: on connect the client asks ApiVersions and then speaks, per API, the highest
//! version both sides handle, capped where newer versions name topics by id only
//! (Produce ≥ 13, Fetch ≥ 13), since scenarios speak of topics by name.
//!
//! # References
//!
//! - Kafka protocol guide: <https://kafka.apache.org/protocol> ("Common Request and Response
//!   Structure", "Record Batch").
//! - KIP-511 (ApiVersions v3 client software name), KIP-516 (topic ids).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, FetchRequest,
    ListOffsetsRequest, MetadataRequest, MetadataResponse, ProduceRequest, RequestHeader,
    ResponseHeader, TopicName, create_topics_request, fetch_request, list_offsets_request,
    metadata_request, produce_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use reference::record_batch::{NewRecord, encode_producer_batch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The longest any single network wait may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest response this client accepts (Fetch responses are capped well below).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// `client.id` in every request header.
const CLIENT_ID: &str = "kafka-spec-raw";

/// ListOffsets timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (high watermark).
pub const LATEST_TIMESTAMP: i64 = -1;

/// The highest version this client speaks per API: the codec's range, capped where a newer
/// version identifies topics only by id.
fn highest_spoken(key: ApiKey) -> i16 {
    let codec_max = key.valid_versions().max;
    match key {
        ApiKey::Produce | ApiKey::Fetch => codec_max.min(12),
        _ => codec_max,
    }
}

/// One record as a step wants to send it.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRecord {
    /// `None` is a null key.
    pub key: Option<Bytes>,
    /// `None` is a null value.
    pub value: Option<Bytes>,
}

/// One record as a fetch returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its value.
    pub value: Option<Bytes>,
}

/// What a Fetch said about one partition.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    /// The partition's error code (`0` for none).
    pub error_code: i16,
    /// The high watermark the broker reported.
    pub high_watermark: i64,
    /// The log start offset the broker reported.
    pub log_start_offset: i64,
    /// The complete record batches' records (a trailing partial batch is dropped, as clients
    /// do).
    pub records: Vec<FetchedRecord>,
    /// The base offset of every complete batch returned.
    pub batch_base_offsets: Vec<i64>,
}

/// What a Produce said about one partition.
#[derive(Debug, Clone)]
pub struct ProducedPartition {
    /// The topic name the response carried.
    pub topic: String,
    /// The partition index the response carried.
    pub partition: i32,
    /// The partition's error code.
    pub error_code: i16,
    /// The offset the broker assigned to the batch's first record (`-1` on error).
    pub base_offset: i64,
}

/// One connection to one broker.
pub struct RawConnection {
    address: String,
    stream: TcpStream,
    next_correlation_id: i32,
    /// Per API key, the (min, max) versions the broker advertised.
    broker_versions: BTreeMap<i16, (i16, i16)>,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RawConnection {
    /// Connects and learns the broker's API versions.
    pub async fn connect(address: &str) -> anyhow::Result<RawConnection> {
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| anyhow!("connecting to {address}: no connection within {IO_TIMEOUT:?}"))?
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let mut connection = RawConnection {
            address: address.to_owned(),
            stream,
            next_correlation_id: 1,
            broker_versions: BTreeMap::new(),
        };
        let versions = connection.api_versions().await?;
        ensure!(
            versions.error_code == 0,
            "ApiVersions from {address} answered error code {}",
            versions.error_code
        );
        connection.broker_versions = versions
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(connection)
    }

    /// The broker's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends ApiVersions v3 and reads its answer (on any connection, at any time).
    pub async fn api_versions(&mut self) -> anyhow::Result<ApiVersionsResponse> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-spec"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let correlation_id = self.take_correlation_id();
        self.send(&request, 3, correlation_id).await?;
        let (got, response) = self.receive::<ApiVersionsRequest>(3).await?;
        ensure!(
            got == correlation_id,
            "ApiVersions answered correlation id {got}, expected {correlation_id}"
        );
        Ok(response)
    }

    /// The version to speak for `R`: the highest both sides handle.
    pub fn version_for<R: Request>(&self) -> anyhow::Result<i16> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))?;
        let (broker_min, broker_max) = *self
            .broker_versions
            .get(&R::KEY)
            .ok_or_else(|| anyhow!("{} does not advertise {key:?}", self.address))?;
        let ours = R::VERSIONS;
        let version = broker_max.min(highest_spoken(key));
        ensure!(
            version >= broker_min.max(ours.min),
            "no common {key:?} version: broker {broker_min}..={broker_max}, client {}..={}",
            ours.min,
            highest_spoken(key)
        );
        Ok(version)
    }

    /// A fresh correlation id.
    pub fn take_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        id
    }

    /// Writes one request frame.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        correlation_id: i32,
    ) -> anyhow::Result<()> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, key.request_header_version(version))
            .with_context(|| format!("encoding a {key:?} v{version} request header"))?;
        request
            .encode(&mut frame, version)
            .with_context(|| format!("encoding a {key:?} v{version} request"))?;
        let length = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&length.to_be_bytes());
        timeout(IO_TIMEOUT, self.stream.write_all(&frame))
            .await
            .map_err(|_| anyhow!("writing {key:?} to {}: timed out", self.address))?
            .with_context(|| format!("writing {key:?} to {}", self.address))
    }

    /// Reads one response frame, waiting at most `wait` for it to start; `None` if none came.
    pub async fn read_frame(&mut self, wait: Duration) -> anyhow::Result<Option<Bytes>> {
        let mut length = [0u8; 4];
        match timeout(wait, self.stream.read_exact(&mut length)).await {
            Err(_) => return Ok(None),
            Ok(result) => {
                result.with_context(|| format!("reading a response from {}", self.address))?;
            }
        }
        let length = i32::from_be_bytes(length);
        let length = usize::try_from(length)
            .map_err(|_| anyhow!("{} sent a negative frame length {length}", self.address))?;
        ensure!(
            length <= MAX_RESPONSE_BYTES,
            "{} sent a {length}-byte frame, over the {MAX_RESPONSE_BYTES}-byte limit",
            self.address
        );
        let mut body = vec![0u8; length];
        timeout(IO_TIMEOUT, self.stream.read_exact(&mut body))
            .await
            .map_err(|_| anyhow!("reading a {length}-byte response body: timed out"))?
            .with_context(|| format!("reading a response body from {}", self.address))?;
        Ok(Some(Bytes::from(body)))
    }

    /// Reads and decodes the next response, as the response to an `R` of `version`.
    pub async fn receive<R: Request>(
        &mut self,
        version: i16,
    ) -> anyhow::Result<(i32, R::Response)> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))?;
        let mut frame = self.read_frame(IO_TIMEOUT).await?.ok_or_else(|| {
            anyhow!(
                "no {key:?} response from {} within {IO_TIMEOUT:?}",
                self.address
            )
        })?;
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .with_context(|| format!("decoding a {key:?} v{version} response header"))?;
        let response = R::Response::decode(&mut frame, version)
            .with_context(|| format!("decoding a {key:?} v{version} response"))?;
        Ok((header.correlation_id, response))
    }

    /// Sends a request at the negotiated version and reads its response.
    pub async fn call<R: Request>(&mut self, request: &R) -> anyhow::Result<R::Response> {
        let version = self.version_for::<R>()?;
        let correlation_id = self.take_correlation_id();
        self.send(request, version, correlation_id).await?;
        let (got, response) = self.receive::<R>(version).await?;
        ensure!(
            got == correlation_id,
            "response carries correlation id {got}, expected {correlation_id}"
        );
        Ok(response)
    }

    /// Metadata for some topics (or all, with `None`).
    pub async fn metadata(
        &mut self,
        topics: Option<&[&str]>,
        allow_auto_topic_creation: bool,
    ) -> anyhow::Result<MetadataResponse> {
        let topics = topics.map(|names| {
            names
                .iter()
                .map(|name| {
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(topic_name(name)))
                })
                .collect()
        });
        let request = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(allow_auto_topic_creation);
        self.call(&request).await
    }

    /// CreateTopics for one topic, exactly as given (no client-side checks: librdkafka and
    /// Kafka's own tools refuse a replication factor below -1 before sending anything), and
    /// the error code the broker answered for it (`0` for none).
    pub async fn create_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> anyhow::Result<i16> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(IO_TIMEOUT.as_millis() as i32)
            .with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor),
            ]);
        let response = self.call(&request).await?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == topic)
            .ok_or_else(|| anyhow!("CreateTopics response lacks topic {topic:?}"))?;
        Ok(result.error_code)
    }

    /// Builds a Produce request of one uncompressed v2 batch for one partition.
    pub fn produce_request(
        topic: &str,
        partition: i32,
        acks: i16,
        records: &[OutgoingRecord],
    ) -> anyhow::Result<ProduceRequest> {
        let batch = encode_batch(records)?;
        let partition_data = produce_request::PartitionProduceData::default()
            .with_index(partition)
            .with_records(Some(batch));
        let topic_data = produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![partition_data]);
        Ok(ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(IO_TIMEOUT.as_millis() as i32)
            .with_topic_data(vec![topic_data]))
    }

    /// Produces one batch with acks 1 or -1 and returns what the broker said about it.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        acks: i16,
        records: &[OutgoingRecord],
    ) -> anyhow::Result<ProducedPartition> {
        ensure!(
            acks != 0,
            "acks=0 has no response: use send_produce_without_response"
        );
        let request = Self::produce_request(topic, partition, acks, records)?;
        let response = self.call(&request).await?;
        let (name, partition_response) = response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(move |p| (&t.name, p)))
            .next()
            .ok_or_else(|| anyhow!("Produce response has no partition"))?;
        Ok(ProducedPartition {
            topic: name.0.as_str().to_owned(),
            partition: partition_response.index,
            error_code: partition_response.error_code,
            base_offset: partition_response.base_offset,
        })
    }

    /// Sends a Produce with `acks=0` and the given correlation id, and reads nothing.
    pub async fn send_produce_without_response(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[OutgoingRecord],
        correlation_id: i32,
    ) -> anyhow::Result<()> {
        let request = Self::produce_request(topic, partition, 0, records)?;
        let version = self.version_for::<ProduceRequest>()?;
        self.send(&request, version, correlation_id).await
    }

    /// One ListOffsets lookup: `(error code, offset)`.
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<(i16, i64)> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_timeout_ms(IO_TIMEOUT.as_millis() as i32)
            .with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp),
                    ]),
            ]);
        let response = self.call(&request).await?;
        let answer = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| anyhow!("ListOffsets response lacks partition {partition}"))?;
        Ok((answer.error_code, answer.offset))
    }

    /// One Fetch of one partition from `offset`, waiting at most `max_wait_ms` for data.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
    ) -> anyhow::Result<FetchedPartition> {
        self.fetch_in_epoch(topic, partition, offset, max_wait_ms, -1)
            .await
    }

    /// [`Self::fetch`] naming the leader epoch the client believes current
    /// (`current_leader_epoch`; -1 names none). A broker whose epoch is higher answers
    /// FENCED_LEADER_EPOCH, one whose epoch is lower UNKNOWN_LEADER_EPOCH (KIP-320).
    pub async fn fetch_in_epoch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        current_leader_epoch: i32,
    ) -> anyhow::Result<FetchedPartition> {
        const PARTITION_MAX_BYTES: i32 = 4 * 1024 * 1024;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(PARTITION_MAX_BYTES)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_partition(partition)
                            .with_current_leader_epoch(current_leader_epoch)
                            .with_fetch_offset(offset)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(PARTITION_MAX_BYTES),
                    ]),
            ]);
        let response = self.call(&request).await?;
        ensure!(
            response.error_code == 0,
            "Fetch answered top-level error code {}",
            response.error_code
        );
        let data = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| anyhow!("Fetch response lacks partition {partition}"))?;
        let (records, batch_base_offsets) = match &data.records {
            Some(bytes) => decode_complete_batches(bytes.clone())?,
            None => (Vec::new(), Vec::new()),
        };
        Ok(FetchedPartition {
            error_code: data.error_code,
            high_watermark: data.high_watermark,
            log_start_offset: data.log_start_offset,
            records,
            batch_base_offsets,
        })
    }
}

/// Connections to a cluster's brokers, one per node, with requests for a partition sent to
/// that partition's leader (found by Metadata), as a real client does.
#[derive(Debug)]
pub struct RawClient {
    bootstrap: String,
    bootstrap_connection: Option<RawConnection>,
    /// Per node id, its connection.
    nodes: BTreeMap<i32, RawConnection>,
}

impl RawClient {
    /// A client for the cluster at `bootstrap` (`host:port[,…]`); connects lazily.
    pub fn new(bootstrap: &str) -> RawClient {
        RawClient {
            bootstrap: bootstrap.to_owned(),
            bootstrap_connection: None,
            nodes: BTreeMap::new(),
        }
    }

    /// A connection to any broker: the first bootstrap address that answers (a stopped
    /// broker refuses connections at once, so the next one is tried).
    pub async fn any_broker(&mut self) -> anyhow::Result<&mut RawConnection> {
        if self.bootstrap_connection.is_none() {
            let mut failures = Vec::new();
            for address in self.bootstrap.split(',').map(str::trim) {
                match RawConnection::connect(address).await {
                    Ok(connection) => {
                        self.bootstrap_connection = Some(connection);
                        break;
                    }
                    Err(error) => failures.push(format!("{error:#}")),
                }
            }
            ensure!(
                self.bootstrap_connection.is_some(),
                "no broker of {} answers: {}",
                self.bootstrap,
                failures.join("; ")
            );
        }
        self.bootstrap_connection
            .as_mut()
            .ok_or_else(|| anyhow!("no bootstrap connection"))
    }

    /// A fresh, unshared connection to any broker (for steps that reason about one
    /// connection's sequence of responses).
    pub async fn new_connection(&self) -> anyhow::Result<RawConnection> {
        let first = self
            .bootstrap
            .split(',')
            .next()
            .ok_or_else(|| anyhow!("empty bootstrap address"))?;
        RawConnection::connect(first.trim()).await
    }

    /// The connection to one broker by node id (its address from Metadata), as a client
    /// that sends a request to a broker of its choosing, right or wrong, does.
    pub async fn broker(&mut self, node_id: i32) -> anyhow::Result<&mut RawConnection> {
        if !self.nodes.contains_key(&node_id) {
            let metadata = self.any_broker().await?.metadata(Some(&[]), false).await?;
            let broker = metadata
                .brokers
                .iter()
                .find(|b| b.node_id.0 == node_id)
                .ok_or_else(|| anyhow!("Metadata lists no broker {node_id}"))?;
            let address = format!("{}:{}", broker.host.as_str(), broker.port);
            let connection = RawConnection::connect(&address).await?;
            self.nodes.insert(node_id, connection);
        }
        self.nodes
            .get_mut(&node_id)
            .ok_or_else(|| anyhow!("no connection to broker {node_id}"))
    }

    /// The address of a partition's leader; `None` when Metadata knows no leader for it
    /// (e.g. the partition does not exist).
    pub async fn leader_address(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<Option<(i32, String)>> {
        let metadata = self
            .any_broker()
            .await?
            .metadata(Some(&[topic]), false)
            .await?;
        let leader = metadata
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.leader_id.0)
            .filter(|id| *id >= 0);
        let Some(leader) = leader else {
            return Ok(None);
        };
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == leader)
            .ok_or_else(|| anyhow!("Metadata names leader {leader} but not its address"))?;
        Ok(Some((
            leader,
            format!("{}:{}", broker.host.as_str(), broker.port),
        )))
    }

    /// The connection to the leader of a partition. A partition without a known leader (one
    /// that does not exist, say) is asked of any broker, which answers with the error a
    /// client would see.
    pub async fn leader_of(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<&mut RawConnection> {
        let Some((leader, address)) = self.leader_address(topic, partition).await? else {
            return self.any_broker().await;
        };
        match self.nodes.entry(leader) {
            std::collections::btree_map::Entry::Occupied(known) => Ok(known.into_mut()),
            std::collections::btree_map::Entry::Vacant(new) => {
                Ok(new.insert(RawConnection::connect(&address).await?))
            }
        }
    }
}

/// A topic name on the wire.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One uncompressed v2 batch, offsets 0.. relative (the broker assigns the real ones).
pub fn encode_batch(records: &[OutgoingRecord]) -> anyhow::Result<Bytes> {
    ensure!(!records.is_empty(), "a batch needs at least one record");
    let timestamp = now_ms();
    let records: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord {
            key: r.key.clone(),
            value: r.value.clone(),
            timestamp,
        })
        .collect();
    let batch =
        encode_producer_batch(&records, Compression::None).context("encoding a record batch")?;
    Ok(batch.freeze())
}

/// Decodes every complete v2 batch; a trailing partial batch (a fetch may end mid-batch) is
/// ignored.
fn decode_complete_batches(mut bytes: Bytes) -> anyhow::Result<(Vec<FetchedRecord>, Vec<i64>)> {
    // baseOffset (8) + batchLength (4): batchLength counts the bytes after itself.
    const LENGTH_END: usize = 12;
    let mut records = Vec::new();
    let mut bases = Vec::new();
    while bytes.len() >= LENGTH_END {
        let batch_length = (&bytes[8..LENGTH_END]).get_i32();
        let Ok(batch_length) = usize::try_from(batch_length) else {
            bail!("negative batch length {batch_length} in a fetch response");
        };
        let total = LENGTH_END + batch_length;
        if bytes.len() < total {
            break;
        }
        let mut batch = bytes.split_to(total);
        bases.push((&batch[..8]).get_i64());
        let set = RecordBatchDecoder::decode(&mut batch).context("decoding a fetched batch")?;
        records.extend(set.records.into_iter().map(|r| FetchedRecord {
            offset: r.offset,
            key: r.key,
            value: r.value,
        }));
    }
    Ok((records, bases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_a_partial_tail_is_dropped() {
        let records = vec![
            OutgoingRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v1")),
            },
            OutgoingRecord {
                key: None,
                value: Some(Bytes::from_static(b"v2")),
            },
        ];
        let batch = encode_batch(&records).expect("encodes");
        let mut two = BytesMut::new();
        two.extend_from_slice(&batch);
        two.extend_from_slice(&batch[..batch.len() - 3]);
        let (decoded, bases) = decode_complete_batches(two.freeze()).expect("decodes");
        assert_eq!(bases, vec![0]);
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[1].value.as_deref(), Some(&b"v2"[..]));
        assert_eq!(decoded[1].offset, 1);
    }

    #[test]
    fn produce_and_fetch_are_capped_below_topic_id_versions() {
        assert_eq!(highest_spoken(ApiKey::Produce), 12);
        assert_eq!(highest_spoken(ApiKey::Fetch), 12);
    }
}
