//! A replicated cluster over the raw wire: topics placed by the controller, produces with
//! acks=all answered once the ISR has them, and failover that keeps every acknowledged record.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Conn;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use reference::record_batch::{NewRecord, encode_producer_batch};
use reference::{Cluster, ClusterOptions};

const TOPIC: &str = "orders";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `brokers` brokers that fence a silent broker after `session_timeout_ms`.
async fn cluster(brokers: usize, session_timeout_ms: &str) -> Cluster {
    let configs = [
        ("broker.session.timeout.ms", session_timeout_ms),
        ("broker.heartbeat.interval.ms", "100"),
        ("replica.fetch.wait.max.ms", "100"),
    ];
    Cluster::start_with(ClusterOptions {
        brokers,
        port: 0,
        data_dir: None,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
    .expect("cluster starts")
}

async fn connect(cluster: &Cluster, broker_id: i32) -> Conn {
    let addr = cluster
        .address(broker_id)
        .expect("known broker")
        .to_string();
    Conn::connect(&addr).await
}

fn batch(first: usize, count: usize) -> Bytes {
    let records: Vec<NewRecord> = (first..first + count)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("order-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            // Recent: the default retention.ms (7 days) must not delete them.
            timestamp: now_ms() + i as i64,
        })
        .collect();
    encode_producer_batch(&records, Compression::None)
        .unwrap()
        .freeze()
}

async fn create_topic(conn: &mut Conn, name: &'static str, rf: i16) -> (i16, Option<String>) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_num_partitions(1)
                .with_replication_factor(rf),
        ]);
    let ResponseKind::CreateTopics(r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    let t = &r.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// (error code, leader, leader epoch, replicas, isr, broker ids) of partition 0.
async fn partition_metadata(conn: &mut Conn) -> (i16, i32, i32, Vec<i32>, Vec<i32>, Vec<i32>) {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC)))),
    ]));
    let ResponseKind::Metadata(r) = conn
        .call(ApiKey::Metadata, 12, RequestKind::Metadata(req))
        .await
    else {
        panic!("not Metadata")
    };
    let brokers = r.brokers.iter().map(|b| b.node_id.0).collect();
    let t = &r.topics[0];
    let Some(p) = t.partitions.first() else {
        return (t.error_code, -1, -1, vec![], vec![], brokers);
    };
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    (
        p.error_code,
        p.leader_id.0,
        p.leader_epoch,
        ids(&p.replica_nodes),
        ids(&p.isr_nodes),
        brokers,
    )
}

async fn produce(conn: &mut Conn, acks: i16, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
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

/// Reads every record of partition 0 from `offset` on; (error code, high watermark, keys).
async fn read_from(conn: &mut Conn, offset: i64) -> (i16, i64, Vec<String>) {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let ResponseKind::Fetch(r) = conn.call(ApiKey::Fetch, 12, RequestKind::Fetch(req)).await else {
        panic!("not Fetch")
    };
    let p = &r.responses[0].partitions[0];
    let mut keys = Vec::new();
    if let Some(records) = &p.records {
        let mut bytes = records.clone();
        while !bytes.is_empty() {
            let decoded = RecordBatchDecoder::decode(&mut bytes).expect("batches decode");
            for record in decoded.records {
                let key = record.key.expect("keyed");
                keys.push(String::from_utf8_lossy(&key).to_string());
            }
        }
    }
    (p.error_code, p.high_watermark, keys)
}

/// Ten seconds from now: how long a step may poll for what it waits on.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_the_loss_of_the_leader() {
    let mut cluster = cluster(3, "1000").await;
    let mut conn = connect(&cluster, 1).await;

    let (code, message) = create_topic(&mut conn, "too-many-replicas", 4).await;
    assert_eq!(code, 38, "INVALID_REPLICATION_FACTOR: {message:?}");
    let (code, message) = create_topic(&mut conn, TOPIC, 3).await;
    assert_eq!(code, 0, "{message:?}");

    let (code, leader, epoch, replicas, isr, brokers) = partition_metadata(&mut conn).await;
    assert_eq!(code, 0);
    assert_eq!(brokers, vec![1, 2, 3]);
    let mut sorted = replicas.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3]);
    assert_eq!(isr.len(), 3, "all replicas start in sync");
    assert!(replicas.contains(&leader));

    let follower = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut to_follower = connect(&cluster, follower).await;
    let (code, _) = produce(&mut to_follower, -1, batch(0, 1)).await;
    assert_eq!(code, 6, "NOT_LEADER_OR_FOLLOWER from a follower");

    let mut to_leader = connect(&cluster, leader).await;
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        let (code, base) = produce(&mut to_leader, -1, batch(round * 10, 10)).await;
        assert_eq!(code, 0, "acks=all produce {round}");
        assert_eq!(base, round as i64 * 10);
        acknowledged.extend((round * 10..round * 10 + 10).map(|i| format!("order-{i}")));
    }
    let (code, high_watermark, keys) = read_from(&mut to_leader, 0).await;
    assert_eq!((code, high_watermark), (0, 50));
    assert_eq!(keys, acknowledged);

    cluster.stop(leader).await;
    let survivor = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut conn = connect(&cluster, survivor).await;
    let until = deadline();
    let new_leader = loop {
        let (_, l, e, _, _, brokers) = partition_metadata(&mut conn).await;
        if l != leader && l != -1 && e > epoch && !brokers.contains(&leader) {
            break l;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no new leader with a higher epoch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mut to_new_leader = connect(&cluster, new_leader).await;
    let until = deadline();
    let keys = loop {
        let (code, high_watermark, keys) = read_from(&mut to_new_leader, 0).await;
        if code == 0 && high_watermark >= 50 {
            break keys;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the new leader never served the acknowledged records: {code} {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(keys, acknowledged);

    let (code, base) = produce(&mut to_new_leader, -1, batch(50, 10)).await;
    assert_eq!(
        (code, base),
        (0, 50),
        "the new leader takes acks=all writes"
    );

    // The old leader comes back as a follower, truncates to the new leader's log by leader
    // epoch (OffsetForLeaderEpoch), catches up over Fetch and rejoins the ISR.
    cluster.restart(leader).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("back");
    let until = deadline();
    loop {
        let (_, l, _, _, isr, _) = partition_metadata(&mut conn).await;
        if l == new_leader && isr.contains(&leader) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the restarted broker never rejoined the ISR: {isr:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.stop(new_leader).await;
    let mut conn = connect(&cluster, leader).await;
    let until = deadline();
    let (third_leader, mut to_third) = loop {
        let (_, l, _, _, _, _) = partition_metadata(&mut conn).await;
        if l != new_leader && l != -1 {
            break (l, connect(&cluster, l).await);
        }
        assert!(tokio::time::Instant::now() < until, "no third leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let until = deadline();
    loop {
        let (code, high_watermark, keys) = read_from(&mut to_third, 0).await;
        if code == 0 && high_watermark >= 60 {
            assert_eq!(
                keys.len(),
                60,
                "broker {third_leader} has every acknowledged record"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "third leader: {code} {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_only_below_the_high_watermark() {
    // Long enough that the stopped follower is surely still in the ISR when the test reads.
    let mut cluster = cluster(2, "3000").await;
    let mut conn = connect(&cluster, 1).await;
    let (code, message) = create_topic(&mut conn, TOPIC, 2).await;
    assert_eq!(code, 0, "{message:?}");
    let (_, leader, _, replicas, _, _) = partition_metadata(&mut conn).await;
    let follower = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut to_leader = connect(&cluster, leader).await;
    assert_eq!(produce(&mut to_leader, -1, batch(0, 5)).await, (0, 0));

    // With the follower gone but still in the ISR, an acks=1 write is in the leader's log
    // and above the high watermark: consumers do not see it yet.
    cluster.stop(follower).await;
    assert_eq!(produce(&mut to_leader, 1, batch(5, 5)).await, (0, 5));
    let (code, high_watermark, keys) = read_from(&mut to_leader, 0).await;
    assert_eq!((code, high_watermark), (0, 5));
    assert_eq!(keys.len(), 5, "nothing above the high watermark");

    // Once the controller fences the follower and the ISR shrinks, it is committed.
    let until = deadline();
    loop {
        let (code, high_watermark, keys) = read_from(&mut to_leader, 0).await;
        if high_watermark == 10 {
            assert_eq!((code, keys.len()), (0, 10));
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "high watermark stuck at {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_to_a_topic_get_replicas_and_leaders() {
    let cluster = cluster(2, "3000").await;
    let mut conn = connect(&cluster, 2).await;
    let (code, message) = create_topic(&mut conn, TOPIC, 2).await;
    assert_eq!(code, 0, "{message:?}");
    let grow = |count: i32| {
        RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                        .with_count(count)
                        .with_assignments(None),
                ]),
        )
    };
    let ResponseKind::CreatePartitions(r) = conn.call(ApiKey::CreatePartitions, 3, grow(3)).await
    else {
        panic!("not CreatePartitions")
    };
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    let ResponseKind::CreatePartitions(r) = conn.call(ApiKey::CreatePartitions, 3, grow(2)).await
    else {
        panic!("not CreatePartitions")
    };
    assert_eq!(
        r.results[0].error_code, 37,
        "INVALID_PARTITIONS when shrinking"
    );

    let until = deadline();
    loop {
        let req = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC)))),
        ]));
        let ResponseKind::Metadata(r) = conn
            .call(ApiKey::Metadata, 12, RequestKind::Metadata(req))
            .await
        else {
            panic!("not Metadata")
        };
        let partitions = &r.topics[0].partitions;
        if partitions.len() == 3 && partitions.iter().all(|p| p.leader_id.0 > 0) {
            assert!(partitions.iter().all(|p| p.replica_nodes.len() == 2));
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "partitions never appeared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.shutdown().await;
}
