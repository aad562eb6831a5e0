//! Fetch responses are bounded by the broker's `fetch.max.bytes`, whatever the request asks:
//! min(request `max_bytes`, `fetch.max.bytes`) record bytes, each partition at most its
//! `partition_max_bytes`, the first batch whole if it alone is larger (KIP-74), and
//! `min_bytes` bounded by the same limit (`KafkaApis.handleFetchRequest`). On one broker and
//! on a 3-broker cluster (leader, follower and the followers' own replication), with
//! `fetch.max.bytes` set to 1 MiB so that a few MiB of data stand for GiBs.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Conn;
use common::cluster::{create_topic_with, name, partition0};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use reference::config::BrokerConfig;
use reference::embedded::{BrokerOptions, EmbeddedBroker};
use reference::record_batch::{BatchHeader, NewRecord, encode_producer_batch};

const MIB: usize = 1024 * 1024;
/// The `fetch.max.bytes` every broker here runs with.
const FETCH_MAX_BYTES: usize = MIB;
/// Records of one produced batch, and the bytes of each value: batches of about 257 KiB.
const RECORDS_PER_BATCH: usize = 256;
const VALUE_BYTES: usize = 1024;

fn configs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("fetch.max.bytes", "1048576"),
        // One segment holds all the data: the cap, not a segment's end, stops each read.
        ("log.segment.bytes", "67108864"),
    ]
}

async fn broker() -> EmbeddedBroker {
    let configs = configs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()));
    EmbeddedBroker::start_with(BrokerOptions {
        configs: configs.collect(),
        ..BrokerOptions::default()
    })
    .await
    .expect("broker starts")
}

/// A batch of `records` records whose values are `value_bytes` bytes.
fn batch(records: usize, value_bytes: usize) -> Bytes {
    let value = Bytes::from(vec![b'x'; value_bytes]);
    let records: Vec<NewRecord> = (0..records)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(value.clone()),
            timestamp: common::cluster::now_ms(),
        })
        .collect();
    encode_producer_batch(&records, Compression::None)
        .unwrap()
        .freeze()
}

/// Produces `records` to `partition` of `topic` with `acks`; must succeed.
async fn produce(conn: &mut Conn, topic: &str, partition: i32, acks: i16, records: Bytes) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
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
    assert_eq!(
        p.error_code, 0,
        "produce to {topic}-{partition}: {:?}",
        p.error_message
    );
}

/// Fills `partition` of `topic` with `bytes` or more of ~257 KiB batches.
async fn fill(conn: &mut Conn, topic: &str, partition: i32, acks: i16, bytes: usize) {
    let one = batch(RECORDS_PER_BATCH, VALUE_BYTES);
    for _ in 0..bytes.div_ceil(one.len()) {
        produce(conn, topic, partition, acks, one.clone()).await;
    }
}

/// How a test fetches: which partitions from which offsets, and the request's limits.
struct Ask<'a> {
    version: i16,
    topic: &'a str,
    partitions: Vec<(i32, i64)>,
    max_bytes: i32,
    partition_max_bytes: i32,
    min_bytes: i32,
    max_wait_ms: i32,
}

impl<'a> Ask<'a> {
    /// Everything a client can ask: `max_bytes` and `partition_max_bytes` of 2^31 - 1.
    fn greedy(topic: &'a str, partitions: Vec<(i32, i64)>) -> Ask<'a> {
        Ask {
            version: 12,
            topic,
            partitions,
            max_bytes: i32::MAX,
            partition_max_bytes: i32::MAX,
            min_bytes: 1,
            max_wait_ms: 0,
        }
    }
}

/// The records of each partition in the response, in request order.
async fn fetch(conn: &mut Conn, ask: &Ask<'_>) -> Vec<Bytes> {
    let partitions = ask.partitions.iter().map(|&(partition, offset)| {
        fetch_request::FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_current_leader_epoch(-1)
            .with_partition_max_bytes(ask.partition_max_bytes)
    });
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(ask.max_wait_ms)
        .with_min_bytes(ask.min_bytes)
        .with_max_bytes(ask.max_bytes)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(name(ask.topic))
                .with_partitions(partitions.collect()),
        ]);
    let ResponseKind::Fetch(r) = conn
        .call(ApiKey::Fetch, ask.version, RequestKind::Fetch(req))
        .await
    else {
        panic!("not Fetch")
    };
    assert_eq!(r.error_code, 0);
    let partitions = &r.responses[0].partitions;
    assert_eq!(partitions.len(), ask.partitions.len());
    partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
            p.records.clone().unwrap_or_default()
        })
        .collect()
}

/// The headers of the whole batches in `records`, checking they decode.
fn batches(records: &Bytes) -> Vec<BatchHeader> {
    let mut headers = Vec::new();
    let mut rest = records.clone();
    while !rest.is_empty() {
        headers.push(BatchHeader::parse(&rest).expect("a whole batch"));
        RecordBatchDecoder::decode(&mut rest).expect("batch decodes");
    }
    headers
}

#[test]
fn fetch_max_bytes_is_kafkas_config() {
    assert_eq!(BrokerConfig::default().fetch_max_bytes, 57_671_680);
    let config = BrokerConfig::from_pairs([("fetch.max.bytes", "1048576")]).unwrap();
    assert_eq!(config.fetch_max_bytes, 1_048_576);
    assert!(BrokerConfig::from_pairs([("fetch.max.bytes", "1023")]).is_err());
    assert!(BrokerConfig::from_pairs([("fetch.max.bytes", "many")]).is_err());
}

/// 8 MiB in one partition, asked for with every limit at 2^31 - 1: 1 MiB comes back (whole
/// batches), and reading on from there walks the partition 1 MiB at a time.
#[tokio::test]
async fn a_greedy_fetch_gets_at_most_fetch_max_bytes_on_one_broker() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, "orders", 1, 1, &[]).await;
    fill(&mut conn, "orders", 0, 1, 8 * MIB).await;
    let mut offset = 0;
    let mut rounds = 0;
    loop {
        let records = fetch(&mut conn, &Ask::greedy("orders", vec![(0, offset)])).await;
        let records = &records[0];
        if records.is_empty() {
            break;
        }
        assert!(
            records.len() <= FETCH_MAX_BYTES,
            "{} bytes from offset {offset}",
            records.len()
        );
        assert!(
            records.len() > FETCH_MAX_BYTES / 2,
            "{} bytes",
            records.len()
        );
        let headers = batches(records);
        assert_eq!(headers[0].base_offset, offset);
        offset = headers[headers.len() - 1].next_offset();
        rounds += 1;
        assert!(rounds <= 16, "no end to the partition");
    }
    assert!(rounds >= 8, "8 MiB in {rounds} fetches of at most 1 MiB");
    broker.shutdown().await;
}

/// `min_bytes` above `fetch.max.bytes` is bounded by it (Kafka's `fetchMinBytes`): with 1 MiB
/// there, a fetch asking for 2^31 - 1 bytes within 10 s is answered at once.
#[tokio::test]
async fn min_bytes_is_bounded_by_fetch_max_bytes() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, "payments", 1, 1, &[]).await;
    fill(&mut conn, "payments", 0, 1, 2 * MIB).await;
    let ask = Ask {
        min_bytes: i32::MAX,
        max_wait_ms: 10_000,
        ..Ask::greedy("payments", vec![(0, 0)])
    };
    let started = Instant::now();
    let records = fetch(&mut conn, &ask).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!records[0].is_empty() && records[0].len() <= FETCH_MAX_BYTES);
    broker.shutdown().await;
}

/// Several partitions share the one limit; `partition_max_bytes` bounds each.
#[tokio::test]
async fn partitions_share_fetch_max_bytes_and_each_keeps_its_partition_max_bytes() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, "orders", 3, 1, &[]).await;
    for partition in 0..3 {
        fill(&mut conn, "orders", partition, 1, 2 * MIB).await;
    }
    let all = vec![(0, 0), (1, 0), (2, 0)];
    let records = fetch(&mut conn, &Ask::greedy("orders", all.clone())).await;
    let total: usize = records.iter().map(Bytes::len).sum();
    assert!(
        total <= FETCH_MAX_BYTES && total > FETCH_MAX_BYTES / 2,
        "{total} bytes"
    );
    assert!(
        records[2].is_empty(),
        "the first partition used up the limit"
    );

    let per_partition = 300 * 1024;
    let ask = Ask {
        partition_max_bytes: per_partition as i32,
        ..Ask::greedy("orders", all)
    };
    let records = fetch(&mut conn, &ask).await;
    for (partition, records) in records.iter().enumerate() {
        assert!(
            !records.is_empty() && records.len() <= per_partition,
            "partition {partition}: {} bytes",
            records.len()
        );
    }
    broker.shutdown().await;
}

/// KIP-74: a batch larger than `fetch.max.bytes` comes whole when it is the first, and then
/// nothing else does.
#[tokio::test]
async fn a_first_batch_over_the_limit_comes_whole_and_alone() {
    let broker = broker().await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, "big", 2, 1, &[("max.message.bytes", "4194304")]).await;
    let big = batch(3 * 512, VALUE_BYTES); // about 1.5 MiB
    assert!(big.len() > FETCH_MAX_BYTES);
    produce(&mut conn, "big", 0, 1, big.clone()).await;
    fill(&mut conn, "big", 0, 1, MIB).await;
    fill(&mut conn, "big", 1, 1, MIB).await;
    let records = fetch(&mut conn, &Ask::greedy("big", vec![(0, 0), (1, 0)])).await;
    // Whole: the same length and offsets (the broker stamps the leader epoch, outside the CRC).
    let headers = batches(&records[0]);
    assert_eq!(records[0].len(), big.len(), "the first batch, whole");
    assert_eq!((headers.len(), headers[0].records_count), (1, 3 * 512));
    assert!(
        records[1].is_empty(),
        "{} bytes after the first batch",
        records[1].len()
    );
    broker.shutdown().await;
}

/// A 3-broker cluster with `fetch.max.bytes` 1 MiB: the followers still replicate 4 MiB
/// (acks=all), and a greedy fetch gets at most 1 MiB from the leader and from a follower
/// (Fetch v11+, KIP-392).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_fetch_gets_at_most_fetch_max_bytes_on_a_cluster() {
    let cluster = common::cluster::start(3, None, &configs()).await;
    let mut conn = common::cluster::connect(&cluster, 1).await;
    create_topic_with(&mut conn, "orders", 1, 3, &[]).await;
    let p = partition0(&mut conn, "orders").await.expect("partition 0");
    let mut leader = common::cluster::connect(&cluster, p.leader).await;
    fill(&mut leader, "orders", 0, -1, 4 * MIB).await;
    let records = fetch(&mut leader, &Ask::greedy("orders", vec![(0, 0)])).await;
    assert!(
        records[0].len() <= FETCH_MAX_BYTES && records[0].len() > FETCH_MAX_BYTES / 2,
        "leader: {} bytes",
        records[0].len()
    );
    assert_eq!(batches(&records[0])[0].base_offset, 0);

    let follower = p.replicas.iter().copied().find(|&b| b != p.leader).unwrap();
    let mut follower = common::cluster::connect(&cluster, follower).await;
    let ask = Ask {
        version: 11,
        ..Ask::greedy("orders", vec![(0, 0)])
    };
    // The follower serves below its high watermark, which reaches it with its next fetch.
    let records = common::cluster::eventually("the follower serves the records", async || {
        let records = fetch(&mut follower, &ask).await.remove(0);
        (records.len() > FETCH_MAX_BYTES / 2).then_some(records)
    })
    .await;
    assert!(
        records.len() <= FETCH_MAX_BYTES,
        "follower: {} bytes",
        records.len()
    );
}
