//! Bad input on a replicated cluster over the raw wire: each gets the error code Apache Kafka
//! answers it with, and the cluster keeps serving good requests afterwards.
//!
//! Kafka's answers, from its sources:
//! - Produce to a broker that does not lead the partition: NOT_LEADER_OR_FOLLOWER (6), from
//!   a follower (`Partition.appendRecordsToLeader`) and from a broker without a replica
//!   (`ReplicaManager.getPartitionOrError`: the topic exists, the replica does not).
//! - A consumer's Fetch: before v11, or to a broker without a replica, 6; from v11 on a
//!   follower serves it below its own high watermark (KIP-392, `FetchParams.fetchOnlyLeader`).
//! - `current_leader_epoch` older than the replica's: FENCED_LEADER_EPOCH (74); newer:
//!   UNKNOWN_LEADER_EPOCH (75) (`Partition.localLogWithEpochOrThrow`), on leaders and followers.
//! - A replica Fetch from a broker id that is not a replica of the partition:
//!   UNKNOWN_LEADER_EPOCH when the request names the (current) leader epoch, else 6
//!   (`Partition.followerReplicaOrThrow`).
//! - CreateTopics with replication factor 0 or below -1, or above the number of brokers:
//!   INVALID_REPLICATION_FACTOR (38); -1 takes `default.replication.factor`
//!   (`ReplicationControlManager.createTopic`).
//! - DeleteTopics: the request checks of `ControllerApis.deleteTopics`, then one
//!   `RemoveTopicRecord` per topic; every broker drops its replicas and their files, and the
//!   name can be used again. DescribeConfigs sees the cluster's topics from any broker.
//! - A leader checks produced records as a broker of one does; ListOffsets finds
//!   timestamps only below the high watermark (`Partition.fetchOffsetForTimestamp`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Conn;
use common::cluster::{
    FetchAs, connect, create_partitions, create_topic_request, create_topic_with, decode_keys,
    delete_topics, eventually, fetch_partition, keys, metadata_topic, name, partition0, produce,
    produce_with, start,
};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::Cluster;
use uuid::Uuid;

const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_PARTITIONS: i16 = 37;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_ID: i16 = 100;
const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
const SOURCE_DEFAULT_CONFIG: i8 = 5;
const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;

/// `brokers` brokers that fence a silent broker after a second, in memory.
async fn cluster(brokers: usize) -> Cluster {
    start(brokers, None, &[]).await
}

/// Records `key-<first>`.. stamped 1_700_000_000_000 + i.
fn batch(first: usize, count: usize) -> Bytes {
    common::cluster::batch(first, count, |i| 1_700_000_000_000 + i as i64)
}

/// CreateTopics without configs: (error code, message, replication factor answered).
async fn create_topic(
    conn: &mut Conn,
    topic: &str,
    partitions: i32,
    rf: i16,
) -> (i16, Option<String>, i16) {
    let t = create_topic_request(conn, topic, partitions, rf, &[]).await;
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
        t.replication_factor,
    )
}

/// Fetch of partition 0 from offset 0: (error code, high watermark, keys read).
async fn fetch(
    conn: &mut Conn,
    topic: &str,
    topic_id: Uuid,
    how: FetchAs,
) -> (i16, i64, Vec<String>) {
    let p = fetch_partition(conn, topic, topic_id, 0, how).await;
    let keys = decode_keys(p.records.unwrap_or_default());
    (
        p.error_code,
        p.high_watermark,
        keys.into_iter().map(|(_, k)| k).collect(),
    )
}

/// ListOffsets v7 latest for partition 0: (error code, offset).
async fn latest_offset(conn: &mut Conn, topic: &str) -> (i16, i64) {
    let p = common::cluster::list_offsets(conn, topic, 7, -1).await;
    (p.error_code, p.offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_refuses_bad_replication_factors_as_kafka_does() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 2).await;
    for rf in [0, -2, i16::MIN, 4] {
        let (code, message, answered_rf) = create_topic(&mut conn, "bad-rf", 1, rf).await;
        assert_eq!(
            (code, answered_rf),
            (INVALID_REPLICATION_FACTOR, -1),
            "replication factor {rf}: {message:?}"
        );
        assert!(message.is_some_and(|m| !m.is_empty()), "a message for {rf}");
    }
    for partitions in [0, -2] {
        let (code, message, _) = create_topic(&mut conn, "bad-partitions", partitions, 1).await;
        assert_eq!(
            code, INVALID_PARTITIONS,
            "{partitions} partitions: {message:?}"
        );
    }
    // None of them was created.
    for topic in ["bad-rf", "bad-partitions"] {
        let described = partition0(&mut conn, topic).await;
        assert!(described.is_none(), "{topic} must not exist: {described:?}");
    }
    // -1: `default.replication.factor` (1 here).
    let (code, message, rf) = create_topic(&mut conn, "default-rf", 1, -1).await;
    assert_eq!((code, rf), (0, 1), "{message:?}");
    let (code, message, rf) = create_topic(&mut conn, "all-three", 1, 3).await;
    assert_eq!((code, rf), (0, 3), "{message:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_the_wrong_broker_or_epoch_get_kafkas_answers() {
    let mut cluster = cluster(3).await;
    let mut conn = connect(&cluster, 1).await;
    let (code, message, _) = create_topic(&mut conn, "orders", 1, 3).await;
    assert_eq!(code, 0, "{message:?}");
    let (code, message, _) = create_topic(&mut conn, "single", 1, 1).await;
    assert_eq!(code, 0, "{message:?}");

    // A broker without a replica of `single`: 6 for produce and fetch, whatever the epoch.
    let single = partition0(&mut conn, "single").await.expect("single");
    let stranger = (1..=3).find(|b| *b != single.leader).unwrap();
    let mut to_stranger = connect(&cluster, stranger).await;
    assert_eq!(
        produce(&mut to_stranger, "single", -1, batch(0, 1)).await.0,
        NOT_LEADER_OR_FOLLOWER
    );
    for how in [
        FetchAs::consumer(12, -1),
        FetchAs::consumer(12, single.leader_epoch),
        FetchAs::consumer(4, -1),
    ] {
        let (code, _, _) = fetch(&mut to_stranger, "single", single.topic_id, how).await;
        assert_eq!(code, NOT_LEADER_OR_FOLLOWER);
    }

    // `orders`: ten acknowledged records, then the leader is stopped so the epoch moves on.
    let first = partition0(&mut conn, "orders").await.expect("orders");
    let mut to_leader = connect(&cluster, first.leader).await;
    assert_eq!(
        produce(&mut to_leader, "orders", -1, batch(0, 10)).await,
        (0, 0)
    );
    cluster.stop(first.leader).await;
    let survivor = *first.replicas.iter().find(|b| **b != first.leader).unwrap();
    let mut conn = connect(&cluster, survivor).await;
    let now = eventually("a new leader", async || {
        partition0(&mut conn, "orders")
            .await
            .filter(|p| p.leader > 0 && p.leader != first.leader && p.isr.len() == 2)
    })
    .await;
    assert!(now.leader_epoch > first.leader_epoch);
    let epoch = now.leader_epoch;
    let follower = *now.isr.iter().find(|b| **b != now.leader).unwrap();
    let mut to_leader = connect(&cluster, now.leader).await;
    let mut to_follower = connect(&cluster, follower).await;
    let id = now.topic_id;

    // The leader: epochs checked before anything else.
    for version in [12, 13, 17] {
        let (code, _, _) = fetch(
            &mut to_leader,
            "orders",
            id,
            FetchAs::consumer(version, epoch - 1),
        )
        .await;
        assert_eq!(code, FENCED_LEADER_EPOCH, "stale epoch, v{version}");
        let (code, _, _) = fetch(
            &mut to_leader,
            "orders",
            id,
            FetchAs::consumer(version, epoch + 1),
        )
        .await;
        assert_eq!(code, UNKNOWN_LEADER_EPOCH, "future epoch, v{version}");
    }
    let (code, high_watermark, read) =
        fetch(&mut to_leader, "orders", id, FetchAs::consumer(12, epoch)).await;
    assert_eq!((code, high_watermark, read), (0, 10, keys(0..10)));

    // A follower: produce is 6; a consumer's fetch is 6 before v11, served from v11 on (once
    // the follower's high watermark has caught up), with the same epoch checks.
    assert_eq!(
        produce(&mut to_follower, "orders", -1, batch(10, 1))
            .await
            .0,
        NOT_LEADER_OR_FOLLOWER
    );
    assert_eq!(
        latest_offset(&mut to_follower, "orders").await.0,
        NOT_LEADER_OR_FOLLOWER
    );
    let (code, _, _) = fetch(&mut to_follower, "orders", id, FetchAs::consumer(10, -1)).await;
    assert_eq!(code, NOT_LEADER_OR_FOLLOWER, "v10 to a follower");
    let (code, _, _) = fetch(
        &mut to_follower,
        "orders",
        id,
        FetchAs::consumer(12, epoch - 1),
    )
    .await;
    assert_eq!(code, FENCED_LEADER_EPOCH, "stale epoch at a follower");
    let (code, _, _) = fetch(
        &mut to_follower,
        "orders",
        id,
        FetchAs::consumer(12, epoch + 1),
    )
    .await;
    assert_eq!(code, UNKNOWN_LEADER_EPOCH, "future epoch at a follower");
    let read = eventually("the follower serves what is committed", async || {
        let (code, hw, read) =
            fetch(&mut to_follower, "orders", id, FetchAs::consumer(12, epoch)).await;
        assert_eq!(code, 0);
        (hw == 10).then_some(read)
    })
    .await;
    assert_eq!(read, keys(0..10));

    // A replica fetch from a broker id that is no replica (99), at v12 and v15.
    for version in [12, 15] {
        let stranger = |current_leader_epoch| FetchAs {
            version,
            replica_id: 99,
            current_leader_epoch,
        };
        let (code, _, read) = fetch(&mut to_leader, "orders", id, stranger(epoch)).await;
        assert_eq!(
            (code, read.len()),
            (UNKNOWN_LEADER_EPOCH, 0),
            "v{version} unknown replica"
        );
        let (code, _, read) = fetch(&mut to_leader, "orders", id, stranger(-1)).await;
        assert_eq!(
            (code, read.len()),
            (NOT_LEADER_OR_FOLLOWER, 0),
            "v{version} unknown replica without an epoch"
        );
        let (code, _, _) = fetch(&mut to_leader, "orders", id, stranger(epoch - 1)).await;
        assert_eq!(code, FENCED_LEADER_EPOCH, "the epoch is checked first");
        // A real replica fetching from a follower, as if it were the leader.
        let misdirected = FetchAs {
            version,
            replica_id: now.leader,
            current_leader_epoch: epoch,
        };
        let (code, _, _) = fetch(&mut to_follower, "orders", id, misdirected).await;
        assert_eq!(
            code, NOT_LEADER_OR_FOLLOWER,
            "v{version} replica fetch at a follower"
        );
    }

    // After all of it the cluster serves: the old leader comes back and rejoins the ISR, an
    // acks=all produce is acknowledged and every record reads back.
    cluster.restart(first.leader).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("unfenced");
    eventually("the old leader back in the ISR", async || {
        partition0(&mut conn, "orders")
            .await
            .filter(|p| p.isr.len() == 3)
    })
    .await;
    assert_eq!(
        produce(&mut to_leader, "orders", -1, batch(10, 5)).await,
        (0, 10)
    );
    let (code, high_watermark, read) =
        fetch(&mut to_leader, "orders", id, FetchAs::consumer(12, epoch)).await;
    assert_eq!((code, high_watermark, read), (0, 15, keys(0..15)));
    // `single` lost its only replica while the old leader was down; it leads again.
    let mut single_leader = connect(&cluster, single.leader).await;
    let base = eventually("`single` writable again", async || {
        let (code, base) = produce(&mut single_leader, "single", -1, batch(0, 3)).await;
        (code == 0).then_some(base)
    })
    .await;
    assert_eq!(base, 0);
    cluster.shutdown().await;
}

/// The topic-level error code Metadata v12 gives `topic` (never creating it).
async fn topic_error(conn: &mut Conn, topic: &str) -> i16 {
    metadata_topic(conn, topic).await.error_code
}

/// DescribeConfigs v4 of one topic: (error code, [(name, value, source)]).
async fn describe_configs(conn: &mut Conn, topic: &str) -> (i16, Vec<(String, String, i8)>) {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None),
    ]);
    let ResponseKind::DescribeConfigs(r) = conn
        .call(
            ApiKey::DescribeConfigs,
            4,
            RequestKind::DescribeConfigs(req),
        )
        .await
    else {
        panic!("not DescribeConfigs")
    };
    let result = &r.results[0];
    let configs = result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map_or(String::new(), |v| v.to_string()),
                c.config_source,
            )
        })
        .collect();
    (result.error_code, configs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_answers_from_the_cluster_topics() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(
        &mut conn,
        "described",
        2,
        3,
        &[("min.insync.replicas", "2"), ("retention.ms", "3600000")],
    )
    .await;
    // Asked of another broker than the one that created it.
    let mut other = connect(&cluster, 3).await;
    let (code, configs) = describe_configs(&mut other, "described").await;
    assert_eq!(code, 0);
    let find = |key: &str| {
        configs
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, s)| (v.clone(), *s))
    };
    assert_eq!(
        find("min.insync.replicas"),
        Some(("2".into(), SOURCE_DYNAMIC_TOPIC_CONFIG))
    );
    assert_eq!(
        find("retention.ms"),
        Some(("3600000".into(), SOURCE_DYNAMIC_TOPIC_CONFIG))
    );
    let (value, source) = find("max.message.bytes").expect("listed");
    assert_eq!(source, SOURCE_DEFAULT_CONFIG);
    assert!(value.parse::<i32>().unwrap() > 0);

    let (code, configs) = describe_configs(&mut other, "absent").await;
    assert_eq!((code, configs.len()), (UNKNOWN_TOPIC_OR_PARTITION, 0));
    assert_eq!(
        topic_error(&mut other, "absent").await,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_topics_leave_every_broker() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 2).await;
    create_topic_with(&mut conn, "doomed", 2, 3, &[("min.insync.replicas", "2")]).await;
    create_topic_with(&mut conn, "kept", 1, 2, &[]).await;
    let doomed = partition0(&mut conn, "doomed").await.expect("doomed");
    let kept = partition0(&mut conn, "kept").await.expect("kept");
    let mut to_leader = connect(&cluster, doomed.leader).await;
    assert_eq!(
        produce(&mut to_leader, "doomed", -1, batch(0, 5)).await,
        (0, 0)
    );
    let holds = |broker: i32, id: Uuid| {
        cluster
            .node(broker)
            .expect("running")
            .state()
            .partitions
            .keys()
            .any(|(topic_id, _)| *topic_id == id)
    };
    assert!((1..=3).all(|b| holds(b, doomed.topic_id)), "three replicas");

    // Kafka's request checks first, entry by entry; then the one good entry is deleted.
    let answers = delete_topics(
        &mut conn,
        vec![
            (None, Uuid::nil()),
            (Some("kept"), kept.topic_id),
            (Some("twice"), Uuid::nil()),
            (Some("twice"), Uuid::nil()),
            (None, Uuid::from_u128(7)),
            (Some("nope"), Uuid::nil()),
            (Some("doomed"), Uuid::nil()),
        ],
    )
    .await;
    let mut sorted = answers.clone();
    sorted.sort_by_key(|(n, id, _)| (n.clone(), *id));
    assert_eq!(
        sorted,
        vec![
            (None, Uuid::nil(), INVALID_REQUEST),
            (None, Uuid::from_u128(7), UNKNOWN_TOPIC_ID),
            (Some("doomed".into()), doomed.topic_id, 0),
            (Some("kept".into()), kept.topic_id, INVALID_REQUEST),
            (Some("nope".into()), Uuid::nil(), UNKNOWN_TOPIC_OR_PARTITION),
            (Some("twice".into()), Uuid::nil(), INVALID_REQUEST),
        ]
    );

    // Gone from every broker: metadata, replicas, produce, fetch, configs.
    for broker in 1..=3 {
        let mut c = connect(&cluster, broker).await;
        eventually("the topic leaves every image", async || {
            (topic_error(&mut c, "doomed").await == UNKNOWN_TOPIC_OR_PARTITION).then_some(())
        })
        .await;
        eventually("the replicas are dropped", async || {
            (!holds(broker, doomed.topic_id)).then_some(())
        })
        .await;
        assert_eq!(
            describe_configs(&mut c, "doomed").await.0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    assert_eq!(
        produce(&mut to_leader, "doomed", -1, batch(5, 1)).await.0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let (code, _, _) = fetch(
        &mut to_leader,
        "doomed",
        doomed.topic_id,
        FetchAs::consumer(12, -1),
    )
    .await;
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        delete_topics(&mut conn, vec![(None, doomed.topic_id)]).await,
        vec![(None, doomed.topic_id, UNKNOWN_TOPIC_ID)],
        "deleted once"
    );
    assert!((1..=3).all(|b| holds(b, kept.topic_id) == kept.replicas.contains(&b)));

    // The name can be used again: another topic, with an empty log of its own.
    create_topic_with(&mut conn, "doomed", 1, 3, &[]).await;
    let again = partition0(&mut conn, "doomed").await.expect("re-created");
    assert_ne!(again.topic_id, doomed.topic_id);
    let mut to_leader = connect(&cluster, again.leader).await;
    assert_eq!(
        produce(&mut to_leader, "doomed", -1, batch(100, 2)).await,
        (0, 0)
    );
    let (code, high_watermark, read) = fetch(
        &mut to_leader,
        "doomed",
        again.topic_id,
        FetchAs::consumer(12, -1),
    )
    .await;
    assert_eq!((code, high_watermark, read), (0, 2, keys(100..102)));
    let (code, configs) = describe_configs(&mut conn, "doomed").await;
    assert_eq!(code, 0);
    assert!(
        configs
            .iter()
            .any(|(k, _, s)| k == "min.insync.replicas"
                && *s == SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG),
        "the old topic's configs went with it (the cluster's min.insync.replicas, as Kafka 4.x \
         formats it): {configs:?}"
    );
    cluster.shutdown().await;
}

/// (error code, error message, log append time) of a produce to partition 0.
async fn produce_checked(
    conn: &mut Conn,
    topic: &str,
    acks: i16,
    records: Bytes,
) -> (i16, Option<String>, i64) {
    let p = produce_with(conn, topic, acks, 5000, records).await;
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
        p.log_append_time_ms,
    )
}

/// `batch` with a producer id, its CRC made right again (an idempotent producer's batch).
fn with_producer_id(records: Bytes, producer_id: i64) -> Bytes {
    let mut bytes = records.to_vec();
    // baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4, attributes 2,
    // lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8: the producer id starts at 43.
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    let crc = reference::record_batch::compute_crc(&bytes);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_checks_produced_records_as_the_single_broker_does() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(
        &mut conn,
        "checked",
        1,
        3,
        &[
            ("max.message.bytes", "200"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    )
    .await;
    let leader = partition0(&mut conn, "checked")
        .await
        .expect("checked")
        .leader;
    let mut to_leader = connect(&cluster, leader).await;

    let (code, message, _) = produce_checked(&mut to_leader, "checked", 2, batch(0, 1)).await;
    assert_eq!(code, 21, "INVALID_REQUIRED_ACKS: {message:?}");
    let (code, message, _) = produce_checked(&mut to_leader, "checked", -1, batch(0, 20)).await;
    assert_eq!(code, 10, "MESSAGE_TOO_LARGE: {message:?}");
    assert!(
        message.is_some_and(|m| m.contains("200")),
        "the limit is named"
    );
    let idempotent = with_producer_id(batch(0, 1), 42);
    let (code, message, _) = produce_checked(&mut to_leader, "checked", -1, idempotent).await;
    assert_eq!(code, 87, "INVALID_RECORD: {message:?}");
    let mut corrupt = batch(0, 1).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let (code, message, _) =
        produce_checked(&mut to_leader, "checked", -1, Bytes::from(corrupt)).await;
    assert_eq!(code, 2, "CORRUPT_MESSAGE: {message:?}");

    // A good batch: acknowledged by all, stamped with the log append time.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (code, message, log_append_time) =
        produce_checked(&mut to_leader, "checked", -1, batch(0, 1)).await;
    assert_eq!((code, message), (0, None));
    assert!(
        log_append_time >= before,
        "LogAppendTime topic: {log_append_time}"
    );
    let (code, high_watermark, read) = fetch(
        &mut to_leader,
        "checked",
        Uuid::nil(),
        FetchAs::consumer(12, -1),
    )
    .await;
    assert_eq!(
        (code, high_watermark, read),
        (0, 1, keys(0..1)),
        "only the good batch"
    );
    cluster.shutdown().await;
}

/// ListOffsets v8 of partition 0 at `timestamp`: (error code, timestamp, offset, epoch).
async fn list_offsets(conn: &mut Conn, topic: &str, timestamp: i64) -> (i16, i64, i64, i32) {
    let p = common::cluster::list_offsets(conn, topic, 8, timestamp).await;
    (p.error_code, p.timestamp, p.offset, p.leader_epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_on_a_leader_finds_timestamps_below_the_high_watermark() {
    // A session long enough that the stopped follower stays in the ISR while the test reads.
    let mut cluster = start(2, None, &[("broker.session.timeout.ms", "5000")]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "timed", 1, 2, &[]).await;
    let p = partition0(&mut conn, "timed").await.expect("timed");
    let mut to_leader = connect(&cluster, p.leader).await;
    assert_eq!(
        produce(&mut to_leader, "timed", -1, batch(0, 10)).await,
        (0, 0)
    );
    let t = |i: i64| 1_700_000_000_000 + i;
    let epoch = p.leader_epoch;

    assert_eq!(
        list_offsets(&mut to_leader, "timed", -2).await,
        (0, -1, 0, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", -1).await,
        (0, -1, 10, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", t(5)).await,
        (0, t(5), 5, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", -3).await,
        (0, t(9), 9, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", t(10)).await,
        (0, -1, -1, -1),
        "no record that late"
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", -5).await.0,
        INVALID_REQUEST
    );

    // Records above the high watermark are not found yet; MAX_TIMESTAMP's record is the
    // newest one, above it, so it is not found at all (Kafka filters, it does not fall back).
    let follower = *p.replicas.iter().find(|b| **b != p.leader).unwrap();
    cluster.stop(follower).await;
    assert_eq!(
        produce(&mut to_leader, "timed", 1, batch(10, 5)).await,
        (0, 10)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", -1).await,
        (0, -1, 10, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", -3).await,
        (0, -1, -1, -1)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", t(5)).await,
        (0, t(5), 5, epoch)
    );
    assert_eq!(
        list_offsets(&mut to_leader, "timed", t(12)).await,
        (0, -1, -1, -1)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_leaves_no_files_and_its_name_starts_afresh() {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoints = [("replica.high.watermark.checkpoint.interval.ms", "50")];
    let cluster = start(2, Some(dir.path()), &checkpoints).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "files", 1, 2, &[]).await;
    let p = partition0(&mut conn, "files").await.expect("files");
    let mut to_leader = connect(&cluster, p.leader).await;
    assert_eq!(
        produce(&mut to_leader, "files", -1, batch(0, 7)).await,
        (0, 0)
    );
    let partition_dir = |broker: i32| dir.path().join(format!("broker-{broker}/files-0"));
    assert!(
        (1..=2).all(|b| partition_dir(b).is_dir()),
        "a log per replica"
    );
    // Let the high watermark checkpoints record 7.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let answers = delete_topics(&mut conn, vec![(Some("files"), Uuid::nil())]).await;
    assert_eq!(answers, vec![(Some("files".into()), p.topic_id, 0)]);
    for broker in 1..=2 {
        eventually("the replica's files are deleted", async || {
            (!partition_dir(broker).exists()).then_some(())
        })
        .await;
    }

    create_topic_with(&mut conn, "files", 1, 2, &[]).await;
    let again = partition0(&mut conn, "files").await.expect("re-created");
    let mut to_leader = connect(&cluster, again.leader).await;
    let (code, high_watermark, read) = fetch(
        &mut to_leader,
        "files",
        again.topic_id,
        FetchAs::consumer(12, -1),
    )
    .await;
    assert_eq!(
        (code, high_watermark, read.len()),
        (0, 0, 0),
        "nothing of the old topic"
    );
    assert_eq!(
        produce(&mut to_leader, "files", -1, batch(0, 2)).await,
        (0, 0)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_checks_names_then_configs_then_counts_as_kafka_does() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 3).await;
    let bad_config = [("retention.ms", "soon")];

    // A name given twice: one answer, after the others, and it is not created; nor may a
    // client create the metadata log's topic.
    let topic = |n: &str| {
        CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(1)
            .with_replication_factor(1)
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            topic("twice"),
            topic("__cluster_metadata"),
            topic("once"),
            topic("twice"),
        ]);
    let ResponseKind::CreateTopics(r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    let answers: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("once".to_string(), 0),
            ("twice".to_string(), INVALID_REQUEST),
            ("__cluster_metadata".to_string(), INVALID_REQUEST),
        ]
    );
    assert_eq!(
        topic_error(&mut conn, "twice").await,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // The name before the configs, the configs before the counts.
    create_topic_with(&mut conn, "taken", 1, 1, &[]).await;
    let t = create_topic_request(&mut conn, "taken", 1, 0, &bad_config).await;
    assert_eq!(
        t.error_code, 36,
        "TOPIC_ALREADY_EXISTS: {:?}",
        t.error_message
    );
    let t = create_topic_request(&mut conn, "bad name!", 1, 0, &bad_config).await;
    assert_eq!(
        t.error_code, 17,
        "INVALID_TOPIC_EXCEPTION: {:?}",
        t.error_message
    );
    let t = create_topic_request(&mut conn, "taken_", 1, 0, &bad_config).await;
    assert_eq!(t.error_code, 40, "INVALID_CONFIG: {:?}", t.error_message);
    let t = create_topic_request(&mut conn, "fine", 0, 0, &[]).await;
    assert_eq!(
        t.error_code, INVALID_REPLICATION_FACTOR,
        "{:?}",
        t.error_message
    );

    // `.` and `_` collide.
    create_topic_with(&mut conn, "orders.eu", 1, 1, &[]).await;
    let t = create_topic_request(&mut conn, "orders_eu", 1, 1, &[]).await;
    assert_eq!(t.error_code, 17, "{:?}", t.error_message);

    // v5+: the configs in force come back with the new topic.
    let t = create_topic_request(&mut conn, "configured", 2, 3, &[("retention.ms", "60000")]).await;
    assert_eq!(
        (t.error_code, t.num_partitions, t.replication_factor),
        (0, 2, 3)
    );
    let configs = t.configs.expect("configs in v5+");
    let retention = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .expect("retention.ms");
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("60000"), SOURCE_DYNAMIC_TOPIC_CONFIG)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_refuses_duplicates_and_validates_without_growing() {
    let cluster = cluster(3).await;
    let mut conn = connect(&cluster, 2).await;
    create_topic_with(&mut conn, "grown", 1, 2, &[]).await;
    let count = async |conn: &mut Conn| metadata_topic(conn, "grown").await.partitions.len();

    let answers =
        create_partitions(&mut conn, &[("grown", 3), ("grown", 4), ("nope", 2)], false).await;
    assert_eq!(
        answers,
        vec![
            ("grown".to_string(), INVALID_REQUEST),
            ("nope".to_string(), UNKNOWN_TOPIC_OR_PARTITION),
        ],
        "one answer for the name given twice, and it is not grown"
    );
    assert_eq!(count(&mut conn).await, 1);

    let answers = create_partitions(&mut conn, &[("grown", 3)], true).await;
    assert_eq!(answers, vec![("grown".to_string(), 0)]);
    assert_eq!(count(&mut conn).await, 1, "validate_only grows nothing");

    let answers = create_partitions(&mut conn, &[("grown", 3)], false).await;
    assert_eq!(answers, vec![("grown".to_string(), 0)]);
    eventually("three partitions, each led", async || {
        let t = metadata_topic(&mut conn, "grown").await;
        (t.partitions.len() == 3 && t.partitions.iter().all(|p| p.leader_id.0 > 0)).then_some(())
    })
    .await;
    let answers = create_partitions(&mut conn, &[("grown", 3)], false).await;
    assert_eq!(answers, vec![("grown".to_string(), INVALID_PARTITIONS)]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_partition_with_data_may_exceed_the_fetch_max_bytes() {
    let cluster = cluster(1).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "wide", 2, 1, &[]).await;
    for partition in 0..2 {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(name("wide"))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch(0, 20))),
                    ]),
            ]);
        let ResponseKind::Produce(r) = conn
            .call(ApiKey::Produce, 9, RequestKind::Produce(req))
            .await
        else {
            panic!("not Produce")
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    // (partition, records bytes) for a fetch of both partitions with max_bytes 100.
    let fetch_both = async |conn: &mut Conn, from: [i64; 2]| {
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(100)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(name("wide"))
                    .with_partitions(
                        (0..2)
                            .map(|p| {
                                fetch_request::FetchPartition::default()
                                    .with_partition(p)
                                    .with_fetch_offset(from[p as usize])
                                    .with_partition_max_bytes(1 << 20)
                            })
                            .collect(),
                    ),
            ]);
        let ResponseKind::Fetch(r) = conn.call(ApiKey::Fetch, 12, RequestKind::Fetch(req)).await
        else {
            panic!("not Fetch")
        };
        r.responses[0]
            .partitions
            .iter()
            .map(|p| {
                assert_eq!(p.error_code, 0);
                p.records.as_ref().map_or(0, |r| r.len())
            })
            .collect::<Vec<_>>()
    };
    let sizes = fetch_both(&mut conn, [0, 0]).await;
    assert!(
        sizes[0] > 100,
        "the first partition's batch comes whole: {sizes:?}"
    );
    assert_eq!(
        sizes[1], 0,
        "nothing more once max_bytes is spent: {sizes:?}"
    );
    let sizes = fetch_both(&mut conn, [20, 0]).await;
    assert_eq!(sizes[0], 0, "partition 0 has nothing after offset 20");
    assert!(
        sizes[1] > 100,
        "the first partition with data comes whole: {sizes:?}"
    );
    cluster.shutdown().await;
}

const REQUEST_TIMED_OUT: i16 = 7;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELECTION_NOT_NEEDED: i16 = 84;

/// ElectLeaders (`ReplicationControlManager.electLeaders`): per partition, NONE when the
/// preferred replica was elected, ELECTION_NOT_NEEDED (84) when it leads already (or, for an
/// unclean election, when there is a leader), PREFERRED_LEADER_NOT_AVAILABLE (80) while it
/// is away, UNKNOWN_TOPIC_OR_PARTITION for a partition or topic that does not exist; with
/// null partitions every partition is tried and only those that needed an election are
/// listed. An unknown election type is INVALID_REQUEST for the whole request, and a broker
/// cut off from the controller answers REQUEST_TIMED_OUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_moves_leadership_back_to_the_preferred_replica() {
    use common::cluster::{
        elect_leaders, election_results, restart_into_isr, stop_preferred_leader,
    };
    let mut cluster = start(3, None, &[("auto.leader.rebalance.enable", "false")]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "orders", 1, 3, &[]).await;
    let not_needed = Some("Leader election not needed for topic partition.".to_string());

    let named: &[(&str, &[i32])] = &[("orders", &[0, 5]), ("nope", &[0])];
    let r = elect_leaders(&mut conn, 2, 0, Some(named), 5000).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        election_results(&r),
        vec![
            ("orders".into(), 0, ELECTION_NOT_NEEDED, not_needed.clone()),
            (
                "orders".into(),
                5,
                UNKNOWN_TOPIC_OR_PARTITION,
                Some("No such partition as orders-5".into())
            ),
            (
                "nope".into(),
                0,
                UNKNOWN_TOPIC_OR_PARTITION,
                Some("No such topic as nope".into())
            ),
        ]
    );
    let r = elect_leaders(&mut conn, 1, 0, None, 5000).await;
    assert_eq!(
        r.replica_election_results
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partition_result.len()))
            .collect::<Vec<_>>(),
        vec![("orders".to_string(), 0)],
        "every topic listed, no partition that needed no election"
    );

    let (preferred, failover_leader, failover_epoch) =
        stop_preferred_leader(&mut cluster, "orders").await;
    let mut conn = connect(&cluster, failover_leader).await;
    let r = elect_leaders(&mut conn, 2, 0, Some(&[("orders", &[0])]), 5000).await;
    assert_eq!(
        election_results(&r),
        vec![(
            "orders".into(),
            0,
            PREFERRED_LEADER_NOT_AVAILABLE,
            Some("The preferred leader was not available.".into())
        )]
    );
    let p = restart_into_isr(&mut cluster, &mut conn, preferred, "orders").await;
    assert_eq!(
        (p.leader, p.leader_epoch),
        (failover_leader, failover_epoch),
        "no automatic balancing"
    );
    let r = elect_leaders(&mut conn, 1, 1, Some(&[("orders", &[0])]), 5000).await;
    assert_eq!(
        election_results(&r),
        vec![("orders".into(), 0, ELECTION_NOT_NEEDED, not_needed.clone())],
        "an unclean election where there is a leader"
    );

    let r = elect_leaders(&mut conn, 2, 0, None, 5000).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(election_results(&r), vec![("orders".into(), 0, 0, None)]);
    // Answered once the broker asked has the new leader.
    let p = partition0(&mut conn, "orders").await.expect("a partition");
    assert_eq!(p.leader, preferred);
    assert!(p.leader_epoch > failover_epoch);
    let mut to_preferred = connect(&cluster, preferred).await;
    let (code, _) = produce(&mut to_preferred, "orders", -1, batch(0, 1)).await;
    assert_eq!(code, 0, "the preferred replica leads");
    let r = elect_leaders(&mut conn, 0, 0, Some(&[("orders", &[0])]), 5000).await;
    assert_eq!(
        election_results(&r),
        vec![("orders".into(), 0, ELECTION_NOT_NEEDED, not_needed)]
    );

    let r = elect_leaders(&mut conn, 2, 2, Some(&[("orders", &[0])]), 5000).await;
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert_eq!(
        election_results(&r),
        vec![(
            "orders".into(),
            0,
            INVALID_REQUEST,
            Some("Unknown election type 2".into())
        )]
    );

    cluster.isolate(failover_leader);
    let r = elect_leaders(&mut conn, 2, 0, Some(&[("orders", &[0])]), 300).await;
    assert_eq!(r.error_code, REQUEST_TIMED_OUT);
    assert_eq!(
        election_results(&r),
        vec![("orders".into(), 0, REQUEST_TIMED_OUT, None)]
    );
    cluster.heal();
    cluster.shutdown().await;
}
