//! Wire behaviour over TCP, with bytes a real client would never send: each bad input gets
//! the protocol's answer (an error code, or the connection closed) and the broker keeps
//! serving every other connection.

mod common;

use bytes::{Bytes, BytesMut};
use common::Conn;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use reference::EmbeddedBroker;
use reference::embedded::BrokerOptions;
use reference::record_batch::{NewRecord, encode_producer_batch};

async fn broker() -> EmbeddedBroker {
    EmbeddedBroker::start().await.expect("broker starts")
}

/// The broker still answers ApiVersions on a fresh connection.
async fn assert_still_serving(broker: &EmbeddedBroker) {
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let response = conn
        .call(
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        )
        .await;
    let ResponseKind::ApiVersions(r) = response else {
        panic!("not ApiVersions")
    };
    assert_eq!(r.error_code, 0);
}

fn batch(count: usize, compression: Compression) -> BytesMut {
    let records: Vec<NewRecord> = (0..count)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect();
    encode_producer_batch(&records, compression).unwrap()
}

async fn create_topic(conn: &mut Conn, name: &'static str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    let ResponseKind::CreateTopics(r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

/// Produces `records` to `topic`/`partition` with acks=1 and returns (error code, base offset).
async fn produce(
    conn: &mut Conn,
    topic: &'static str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let ResponseKind::Produce(r) = conn
        .call(ApiKey::Produce, 9, RequestKind::Produce(req))
        .await
    else {
        panic!("not Produce")
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test]
async fn a_negative_length_closes_only_that_connection() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    conn.write_raw(&(-5i32).to_be_bytes()).await;
    assert!(conn.is_closed_by_broker().await);
    assert_still_serving(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_length_over_socket_request_max_bytes_is_refused() {
    let options = BrokerOptions {
        configs: vec![("socket.request.max.bytes".into(), "1024".into())],
        ..Default::default()
    };
    let broker = EmbeddedBroker::start_with(options).await.unwrap();
    let mut conn = Conn::connect(broker.bootstrap()).await;
    conn.write_raw(&1025i32.to_be_bytes()).await;
    assert!(conn.is_closed_by_broker().await);
    // The default limit (100 MiB) refuses a 2 GiB claim just the same.
    let default = EmbeddedBroker::start().await.unwrap();
    let mut conn = Conn::connect(default.bootstrap()).await;
    conn.write_raw(&i32::MAX.to_be_bytes()).await;
    assert!(conn.is_closed_by_broker().await);
    assert_still_serving(&broker).await;
    assert_still_serving(&default).await;
    broker.shutdown().await;
    default.shutdown().await;
}

#[tokio::test]
async fn a_truncated_frame_closes_the_connection() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    conn.write_raw(&100i32.to_be_bytes()).await;
    conn.write_raw(&[0, 18, 0, 3, 0, 0]).await;
    conn.stream.shutdown().await.ok();
    assert!(conn.is_closed_by_broker().await);
    assert_still_serving(&broker).await;
    broker.shutdown().await;
}

use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn an_unknown_api_key_closes_the_connection() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let mut frame = 10i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff]); // key 9999
    conn.write_raw(&frame).await;
    assert!(conn.is_closed_by_broker().await);
    assert_still_serving(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_unsupported_version_closes_the_connection_but_api_versions_answers_v0() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let mut frame = 10i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 3, 0, 99, 0, 0, 0, 7, 0xff, 0xff]); // Metadata v99
    conn.write_raw(&frame).await;
    assert!(conn.is_closed_by_broker().await);

    // ApiVersions v99: UNSUPPORTED_VERSION in a v0 response that lists what is supported.
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let mut frame = 10i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 18, 0, 99, 0, 0, 0, 42, 0xff, 0xff]);
    conn.write_raw(&frame).await;
    let mut response = conn.read_frame().await.expect("a response");
    let header =
        <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(&mut response, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let body =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut response, 0)
            .unwrap();
    assert_eq!(body.error_code, 35);
    let produce = body
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("Produce listed");
    assert_eq!((produce.min_version, produce.max_version), (3, 13));
    assert!(
        body.api_keys
            .iter()
            .all(|k| k.api_key != ApiKey::DescribeAcls as i16),
        "no unhandled APIs advertised"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn an_undecodable_header_closes_the_connection() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    // Metadata v1 whose client id claims 30000 bytes but the frame ends.
    let mut frame = 10i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 3, 0, 1, 0, 0, 0, 1, 0x75, 0x30]);
    conn.write_raw(&frame).await;
    assert!(conn.is_closed_by_broker().await);
    assert_still_serving(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_batch_with_a_wrong_crc_is_corrupt_message_and_nothing_is_appended() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "crc", 1).await;
    let mut bad = batch(3, Compression::None);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(produce(&mut conn, "crc", 0, bad.freeze()).await.0, 2);
    // The connection is still usable and the log is still empty: the next batch is offset 0.
    assert_eq!(
        produce(&mut conn, "crc", 0, batch(2, Compression::None).freeze()).await,
        (0, 0)
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_batch_claiming_more_records_than_it_holds_is_rejected() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "count", 1).await;
    let mut bad = batch(3, Compression::None);
    bad[57..61].copy_from_slice(&5i32.to_be_bytes()); // recordsCount 3 -> 5
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes()); // a valid CRC over the lie
    let (code, _) = produce(&mut conn, "count", 0, bad.freeze()).await;
    assert_eq!(code, 87, "INVALID_RECORD");
    assert_eq!(
        produce(&mut conn, "count", 0, batch(1, Compression::None).freeze()).await,
        (0, 0)
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn every_compression_is_accepted_and_offsets_follow_on() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "codecs", 1).await;
    let mut next = 0;
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let (code, base) = produce(&mut conn, "codecs", 0, batch(4, compression).freeze()).await;
        assert_eq!((code, base), (0, next), "{compression:?}");
        next += 4;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_partition_that_does_not_exist_is_unknown_topic_or_partition() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "six", 6).await;
    assert_eq!(
        produce(&mut conn, "six", 7, batch(1, Compression::None).freeze())
            .await
            .0,
        3
    );
    assert_eq!(
        produce(&mut conn, "nope", 0, batch(1, Compression::None).freeze())
            .await
            .0,
        3
    );
    broker.shutdown().await;
}

fn fetch_request(topic: &'static str, offset: i64, max_wait_ms: i32) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default()
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str(topic)))
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]),
    )
}

async fn fetch(conn: &mut Conn, request: RequestKind) -> fetch_response::PartitionData {
    let ResponseKind::Fetch(r) = conn.call(ApiKey::Fetch, 12, request).await else {
        panic!("not Fetch")
    };
    r.responses[0].partitions[0].clone()
}

#[tokio::test]
async fn a_long_poll_fetch_wakes_up_when_records_arrive() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "poll", 1).await;
    let bootstrap = broker.bootstrap().to_string();
    let producer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut other = Conn::connect(&bootstrap).await;
        produce(&mut other, "poll", 0, batch(3, Compression::None).freeze()).await
    });
    // max_wait_ms is 60 s: only the append can end this wait within Conn's 10 s deadline.
    let data = fetch(&mut conn, fetch_request("poll", 0, 60_000)).await;
    assert_eq!(producer.await.unwrap(), (0, 0));
    assert_eq!(data.error_code, 0);
    assert_eq!(data.high_watermark, 3);
    let records = data.records.expect("records");
    let header = reference::record_batch::BatchHeader::parse(&records).unwrap();
    assert_eq!((header.base_offset, header.records_count), (0, 3));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_fetch_with_nothing_to_read_returns_empty_after_max_wait() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "idle", 1).await;
    let data = fetch(&mut conn, fetch_request("idle", 0, 200)).await;
    assert_eq!(
        (data.error_code, data.high_watermark, data.log_start_offset),
        (0, 0, 0)
    );
    assert!(data.records.is_none_or(|r| r.is_empty()));
    broker.shutdown().await;
}

#[tokio::test]
async fn fetching_past_the_log_end_is_offset_out_of_range() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "range", 1).await;
    produce(&mut conn, "range", 0, batch(2, Compression::None).freeze()).await;
    let data = fetch(&mut conn, fetch_request("range", 3, 0)).await;
    assert_eq!((data.error_code, data.high_watermark), (1, 2));
    let data = fetch(&mut conn, fetch_request("range", 2, 0)).await;
    assert_eq!(
        data.error_code, 0,
        "the log end itself is in range (nothing to read yet)"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_a_parked_fetch_and_the_broker_stops() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, "parked", 1).await;
    conn.send(ApiKey::Fetch, 12, fetch_request("parked", 0, 60_000))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tokio::time::timeout(common::DEADLINE, broker.shutdown())
        .await
        .expect("shutdown does not wait for the 60 s long poll");
}
