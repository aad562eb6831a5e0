//! DeleteRecords, DescribeCluster, DescribeQuorum, DescribeTopicPartitions, DescribeLogDirs
//! and Metadata's authorized operations over the raw wire, on a broker of one and on a
//! cluster of three.
//!
//! What Kafka 4.3.1 answers, seen over the raw wire on a one-node KRaft cluster
//! (`ci/kafka/start.sh --nodes 1`) and read in its sources:
//! - DeleteRecords (`ReplicaManager.deleteRecords`, `DelayedDeleteRecords`): the low
//!   watermark once every alive replica has the new log start offset; -1 is the high
//!   watermark; beyond it OFFSET_OUT_OF_RANGE (1); an unknown topic or partition 3; a
//!   broker that does not lead the partition 6; REQUEST_TIMED_OUT (7) with the low
//!   watermark at the move when the followers do not catch up in time.
//! - Authorized operations without an authorizer: 3576 for topics (also topics answered
//!   with an error), 8096 for the cluster; `i32::MIN` when not asked.
//! - DescribeCluster with endpoint type 2: MISMATCHED_ENDPOINT_TYPE (114), 0 or 7:
//!   UNSUPPORTED_ENDPOINT_TYPE (115).
//! - DescribeTopicPartitions: topics in name order, at most the partition limit per answer,
//!   a next cursor where the limit cut; a cursor not among the topics: INVALID_REQUEST (42)
//!   on every topic; a bad topic name 17, an unknown one 3.
//! - DescribeLogDirs (v1 to v5 advertised; v1 to v4 asked): one result, the node's
//!   `log.dirs` (absolute), error 0, every replica the node holds (followers too; not
//!   `__cluster_metadata`) with `partition_size` the bytes of its `.log` segment files (0
//!   before any record, 142 after ten one-digit console-producer records), `offset_lag` 0,
//!   `is_future_key` false; v4 the volume's total and usable bytes, -1 before (not in the
//!   version); a filter keeps the named partitions the node holds, an unknown topic or
//!   partition is left out, a topic left with none too (`[]` and a topic with no partitions
//!   answer no topics); on three nodes each answers for its own log dir only.

mod common;

use bytes::Bytes;
use common::Conn;
use common::cluster::{
    FetchAs, connect, create_topic_with, eventually, fetch_partition, list_offsets, metadata, name,
    partition0, produce, start,
};
use kafka_protocol::messages::*;
use uuid::Uuid;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const REQUEST_TIMED_OUT: i16 = 7;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;
const TOPIC_OPERATIONS: i32 = 3576;
const CLUSTER_OPERATIONS: i32 = 8096;

fn records(count: usize) -> Bytes {
    common::cluster::batch(0, count, |i| 1_700_000_000_000 + i as i64)
}

/// DeleteRecords of `(topic, partition, offset)`s: `(topic, partition, error, low watermark)`
/// per answer, in order.
async fn delete_records(
    conn: &mut Conn,
    version: i16,
    timeout_ms: i32,
    wanted: &[(&str, i32, i64)],
) -> Vec<(String, i32, i16, i64)> {
    let mut topics: Vec<delete_records_request::DeleteRecordsTopic> = Vec::new();
    for (topic, partition, offset) in wanted {
        let p = delete_records_request::DeleteRecordsPartition::default()
            .with_partition_index(*partition)
            .with_offset(*offset);
        match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(topics);
    let ResponseKind::DeleteRecords(r) = conn
        .call(
            ApiKey::DeleteRecords,
            version,
            RequestKind::DeleteRecords(req),
        )
        .await
    else {
        panic!("not DeleteRecords")
    };
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.error_code,
                    p.low_watermark,
                )
            })
        })
        .collect()
}

async fn delete_one(conn: &mut Conn, topic: &str, offset: i64) -> (i16, i64) {
    let r = delete_records(conn, 2, 5000, &[(topic, 0, offset)]).await;
    assert_eq!(r.len(), 1, "{r:?}");
    (r[0].2, r[0].3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_on_a_broker_of_one() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "orders", 2, 1, &[]).await;
    assert_eq!(produce(&mut conn, "orders", -1, records(5)).await, (0, 0));
    for version in 0..=2 {
        let r = delete_records(
            &mut conn,
            version,
            5000,
            &[("orders", 0, 1 + version as i64)],
        )
        .await;
        assert_eq!(
            r,
            vec![("orders".to_string(), 0, 0, 1 + version as i64)],
            "v{version}"
        );
    }
    assert_eq!(
        fetch_partition(
            &mut conn,
            "orders",
            Uuid::nil(),
            2,
            FetchAs::consumer(12, -1)
        )
        .await
        .error_code,
        OFFSET_OUT_OF_RANGE
    );
    let p = fetch_partition(
        &mut conn,
        "orders",
        Uuid::nil(),
        3,
        FetchAs::consumer(12, -1),
    )
    .await;
    assert_eq!((p.error_code, p.log_start_offset), (0, 3));
    assert_eq!(list_offsets(&mut conn, "orders", 8, -2).await.offset, 3);
    // Below the start: nothing moves, the low watermark is answered.
    assert_eq!(delete_one(&mut conn, "orders", 1).await, (0, 3));
    assert_eq!(
        delete_one(&mut conn, "orders", 6).await,
        (OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        delete_one(&mut conn, "orders", -2).await,
        (OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(list_offsets(&mut conn, "orders", 8, -2).await.offset, 3);
    assert_eq!(delete_one(&mut conn, "orders", -1).await, (0, 5));
    assert_eq!(list_offsets(&mut conn, "orders", 8, -2).await.offset, 5);
    assert_eq!(list_offsets(&mut conn, "orders", 8, -1).await.offset, 5);
    // Unknown topics and partitions; a partition named twice is answered once, for the last
    // offset; the other partition of the topic is untouched.
    let r = delete_records(
        &mut conn,
        2,
        5000,
        &[
            ("nosuch", 0, 0),
            ("orders", 9, 0),
            ("orders", 1, 0),
            ("orders", 1, -1),
        ],
    )
    .await;
    assert_eq!(
        r,
        vec![
            ("nosuch".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION, -1),
            ("orders".to_string(), 9, UNKNOWN_TOPIC_OR_PARTITION, -1),
            ("orders".to_string(), 1, 0, 0),
        ]
    );
    // New records go on from the log end offset.
    assert_eq!(produce(&mut conn, "orders", -1, records(2)).await, (0, 5));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_waits_for_the_followers_of_a_cluster() {
    let cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 1, 3, &[]).await;
    let p = eventually("payments in sync", async || {
        partition0(&mut conn, "payments")
            .await
            .filter(|p| p.isr.len() == 3)
    })
    .await;
    let mut leader = connect(&cluster, p.leader).await;
    assert_eq!(
        produce(&mut leader, "payments", -1, records(6)).await,
        (0, 0)
    );
    let follower = *p.replicas.iter().find(|&&b| b != p.leader).unwrap();
    let mut follower_conn = connect(&cluster, follower).await;
    assert_eq!(
        delete_one(&mut follower_conn, "payments", 2).await,
        (NOT_LEADER_OR_FOLLOWER, -1)
    );
    // Answered once both followers have the new start.
    assert_eq!(delete_one(&mut leader, "payments", 2).await, (0, 2));
    for b in p.replicas.iter().filter(|&&b| b != p.leader) {
        let mut c = connect(&cluster, *b).await;
        let read = fetch_partition(
            &mut c,
            "payments",
            Uuid::nil(),
            1,
            FetchAs::consumer(12, -1),
        )
        .await;
        assert_eq!(
            (read.error_code, read.log_start_offset),
            (OFFSET_OUT_OF_RANGE, 2),
            "follower {b}"
        );
    }
    // A paused follower never learns: timed out, with the low watermark at the move.
    assert!(cluster.pause(follower));
    let r = delete_records(&mut leader, 2, 300, &[("payments", 0, 4)]).await;
    assert_eq!(r, vec![("payments".to_string(), 0, REQUEST_TIMED_OUT, 2)]);
    assert_eq!(list_offsets(&mut leader, "payments", 8, -2).await.offset, 4);
    // Once it is fenced it no longer holds the low watermark back.
    let answer = eventually("the paused follower no longer counts", async || {
        let (code, low) = delete_one(&mut leader, "payments", 4).await;
        (code == 0).then_some(low)
    })
    .await;
    assert_eq!(answer, 4);
    assert!(cluster.resume(follower));
    cluster.shutdown().await;
}

async fn metadata_with_operations(conn: &mut Conn, version: i16, topic: &str) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_include_cluster_authorized_operations(version <= 10)
        .with_include_topic_authorized_operations(true)
        .with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]));
    let ResponseKind::Metadata(r) = conn
        .call(ApiKey::Metadata, version, RequestKind::Metadata(req))
        .await
    else {
        panic!("not Metadata")
    };
    r
}

async fn describe_cluster(
    conn: &mut Conn,
    version: i16,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let ResponseKind::DescribeCluster(r) = conn
        .call(
            ApiKey::DescribeCluster,
            version,
            RequestKind::DescribeCluster(req),
        )
        .await
    else {
        panic!("not DescribeCluster")
    };
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_operations_and_describe_cluster() {
    let cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 2).await;
    create_topic_with(&mut conn, "orders", 1, 1, &[]).await;
    for version in 8..=13 {
        let r = metadata_with_operations(&mut conn, version, "orders").await;
        assert_eq!(
            r.topics[0].topic_authorized_operations, TOPIC_OPERATIONS,
            "v{version}"
        );
        let cluster_operations = if version <= 10 {
            CLUSTER_OPERATIONS
        } else {
            i32::MIN
        };
        assert_eq!(
            r.cluster_authorized_operations, cluster_operations,
            "v{version}"
        );
        let missing = metadata_with_operations(&mut conn, version, "nosuch").await;
        assert_eq!(missing.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(
            missing.topics[0].topic_authorized_operations,
            TOPIC_OPERATIONS
        );
    }
    let plain = metadata(&mut conn, "orders").await;
    assert_eq!(plain.topics[0].topic_authorized_operations, i32::MIN);
    for version in 0..=2 {
        let r = describe_cluster(
            &mut conn,
            version,
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )
        .await;
        assert_eq!(r.error_code, 0, "v{version}");
        assert_eq!(r.cluster_authorized_operations, CLUSTER_OPERATIONS);
        assert_eq!(r.controller_id.0, 2);
        let ids: Vec<i32> = r.brokers.iter().map(|b| b.broker_id.0).collect();
        assert_eq!(ids, vec![1, 2, 3], "v{version}");
        let addr = cluster.address(3).unwrap();
        assert_eq!(r.brokers[2].port, i32::from(addr.port()));
        assert_eq!(
            r.cluster_id.as_str(),
            plain.cluster_id.as_ref().unwrap().as_str()
        );
    }
    let r = describe_cluster(&mut conn, 0, DescribeClusterRequest::default()).await;
    assert_eq!(r.cluster_authorized_operations, i32::MIN);
    for (endpoint_type, code) in [
        (2, MISMATCHED_ENDPOINT_TYPE),
        (0, UNSUPPORTED_ENDPOINT_TYPE),
        (7, UNSUPPORTED_ENDPOINT_TYPE),
    ] {
        let r = describe_cluster(
            &mut conn,
            1,
            DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
        )
        .await;
        assert_eq!(
            (r.error_code, r.brokers.len()),
            (code, 0),
            "type {endpoint_type}"
        );
        assert!(r.error_message.is_some());
    }
    // A fenced broker is listed only when v2 asks for it.
    let mut cluster = cluster;
    cluster.stop(3).await;
    eventually("broker 3 fenced", async || {
        let r = describe_cluster(&mut conn, 2, DescribeClusterRequest::default()).await;
        (r.brokers.len() == 2).then_some(())
    })
    .await;
    let r = describe_cluster(
        &mut conn,
        2,
        DescribeClusterRequest::default().with_include_fenced_brokers(true),
    )
    .await;
    let fenced: Vec<(i32, bool)> = r
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.is_fenced))
        .collect();
    assert_eq!(fenced, vec![(1, false), (2, false), (3, true)]);
    cluster.shutdown().await;
}

async fn describe_quorum(
    conn: &mut Conn,
    version: i16,
    topic: &str,
    partitions: &[i32],
) -> DescribeQuorumResponse {
    let req = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        describe_quorum_request::PartitionData::default().with_partition_index(*p)
                    })
                    .collect(),
            ),
    ]);
    let ResponseKind::DescribeQuorum(r) = conn
        .call(
            ApiKey::DescribeQuorum,
            version,
            RequestKind::DescribeQuorum(req),
        )
        .await
    else {
        panic!("not DescribeQuorum")
    };
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_quorum_describes_one_voter() {
    for brokers in [1, 3] {
        let cluster = start(brokers, None, &[]).await;
        let mut conn = connect(&cluster, 1).await;
        for version in 0..=2 {
            let r = describe_quorum(&mut conn, version, "__cluster_metadata", &[0]).await;
            assert_eq!(r.error_code, 0);
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.error_code, p.leader_id.0, p.leader_epoch), (0, 1, 1));
            assert!(p.high_watermark > 0);
            let voters: Vec<i32> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
            assert_eq!(voters, vec![1], "{brokers} brokers, v{version}");
            assert_eq!(p.current_voters[0].log_end_offset, p.high_watermark);
            let observers: Vec<i32> = p.observers.iter().map(|o| o.replica_id.0).collect();
            let expected: Vec<i32> = (2..=brokers as i32).collect();
            assert_eq!(observers, expected, "{brokers} brokers, v{version}");
            for o in &p.observers {
                assert!(o.log_end_offset > 0 && o.log_end_offset <= p.high_watermark);
                if version >= 1 {
                    assert!(o.last_fetch_timestamp > 0);
                }
            }
            let nodes: Vec<i32> = r.nodes.iter().map(|n| n.node_id.0).collect();
            assert_eq!(nodes, if version >= 2 { vec![1] } else { vec![] });
        }
        for (topic, partitions) in [
            ("__cluster_metadata", vec![1]),
            ("orders", vec![0]),
            ("__cluster_metadata", vec![0, 0]),
        ] {
            let r = describe_quorum(&mut conn, 2, topic, &partitions).await;
            let codes: Vec<i16> = r.topics[0]
                .partitions
                .iter()
                .map(|p| p.error_code)
                .collect();
            assert_eq!(
                codes,
                vec![UNKNOWN_TOPIC_OR_PARTITION; partitions.len()],
                "{topic} {partitions:?}"
            );
        }
        cluster.shutdown().await;
    }
}

async fn describe_topic_partitions(
    conn: &mut Conn,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    describe_topic_partitions_request::TopicRequest::default().with_name(name(t))
                })
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            describe_topic_partitions_request::Cursor::default()
                .with_topic_name(name(t))
                .with_partition_index(p)
        }));
    let ResponseKind::DescribeTopicPartitions(r) = conn
        .call(
            ApiKey::DescribeTopicPartitions,
            0,
            RequestKind::DescribeTopicPartitions(req),
        )
        .await
    else {
        panic!("not DescribeTopicPartitions")
    };
    r
}

/// `(topic, error, [partition indexes])` per topic, and the next cursor.
type Page = (Vec<(String, i16, Vec<i32>)>, Option<(String, i32)>);

fn page(r: &DescribeTopicPartitionsResponse) -> Page {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map_or(String::new(), |n| n.0.to_string()),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let cursor = r
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    (topics, cursor)
}

fn s(name: &str) -> String {
    name.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_topic_partitions_pages_by_cursor() {
    let cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "probe", 2, 3, &[]).await;
    create_topic_with(&mut conn, "alpha", 3, 1, &[]).await;
    // The same requests as seen answered by Kafka 4.3.1 (see the module doc).
    let r = describe_topic_partitions(&mut conn, &["probe", "alpha", "nosuch"], 2, None).await;
    assert_eq!(
        page(&r),
        (vec![(s("alpha"), 0, vec![0, 1])], Some((s("alpha"), 2)))
    );
    assert!(
        r.topics
            .iter()
            .all(|t| t.topic_authorized_operations == TOPIC_OPERATIONS)
    );
    let r = describe_topic_partitions(
        &mut conn,
        &["probe", "alpha", "nosuch"],
        2,
        Some(("alpha", 2)),
    )
    .await;
    assert_eq!(
        page(&r),
        (
            vec![
                (s("alpha"), 0, vec![2]),
                (s("nosuch"), UNKNOWN_TOPIC_OR_PARTITION, vec![]),
                (s("probe"), 0, vec![0])
            ],
            Some((s("probe"), 1))
        )
    );
    let r = describe_topic_partitions(&mut conn, &["probe", "alpha"], 2, Some(("probe", 1))).await;
    assert_eq!(page(&r), (vec![(s("probe"), 0, vec![1])], None));
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.replica_nodes.len(), p.isr_nodes.len()), (3, 3));
    assert_eq!(p.eligible_leader_replicas, Some(vec![]));
    assert!(!r.topics[0].topic_id.is_nil());
    let r = describe_topic_partitions(&mut conn, &["probe", "alpha"], 2, Some(("zeta", 1))).await;
    // In the request's order, as Kafka's `getErrorResponse` lists them.
    assert_eq!(
        page(&r),
        (
            vec![
                (s("probe"), INVALID_REQUEST, vec![]),
                (s("alpha"), INVALID_REQUEST, vec![])
            ],
            None
        )
    );
    assert!(
        r.topics
            .iter()
            .all(|t| t.topic_authorized_operations == i32::MIN)
    );
    let r = describe_topic_partitions(&mut conn, &["alpha"], 5, Some(("alpha", -1))).await;
    assert_eq!(
        page(&r),
        (vec![(s("alpha"), INVALID_REQUEST, vec![])], None)
    );
    let r = describe_topic_partitions(
        &mut conn,
        &["alpha", "probe", "bad name!"],
        5,
        Some(("alpha", 7)),
    )
    .await;
    assert_eq!(
        page(&r),
        (
            vec![
                (s("alpha"), 0, vec![]),
                (s("bad name!"), INVALID_TOPIC_EXCEPTION, vec![]),
                (s("probe"), 0, vec![0, 1])
            ],
            None
        )
    );
    // Every topic, a page of one partition at a time (limit 0 means 1), in name order.
    let mut seen = Vec::new();
    let mut cursor: Option<(String, i32)> = None;
    for _ in 0..500 {
        let r = describe_topic_partitions(
            &mut conn,
            &[],
            0,
            cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
        )
        .await;
        let (topics, next) = page(&r);
        for (topic, code, partitions) in topics {
            assert_eq!(code, 0);
            seen.extend(partitions.into_iter().map(|p| (topic.clone(), p)));
        }
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    let user: Vec<(String, i32)> = seen
        .into_iter()
        .filter(|(t, _)| !t.starts_with("__"))
        .collect();
    assert_eq!(
        user,
        vec![
            (s("alpha"), 0),
            (s("alpha"), 1),
            (s("alpha"), 2),
            (s("probe"), 0),
            (s("probe"), 1)
        ]
    );
    // A limit above max.request.partition.size.limit is that limit.
    let r = describe_topic_partitions(&mut conn, &[], i32::MAX, None).await;
    assert!(r.next_cursor.is_none());
    cluster.shutdown().await;
}

/// DescribeLogDirs of `topics` (`None`: every replica), at `version`.
async fn describe_log_dirs(
    conn: &mut Conn,
    version: i16,
    topics: Option<&[(&str, &[i32])]>,
) -> DescribeLogDirsResponse {
    let topics = topics.map(|topics| {
        topics
            .iter()
            .map(|(topic, partitions)| {
                describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(partitions.to_vec())
            })
            .collect()
    });
    let req = DescribeLogDirsRequest::default().with_topics(topics);
    let ResponseKind::DescribeLogDirs(r) = conn
        .call(
            ApiKey::DescribeLogDirs,
            version,
            RequestKind::DescribeLogDirs(req),
        )
        .await
    else {
        panic!("not DescribeLogDirs")
    };
    r
}

/// The one log dir of an answer, which must carry no error.
fn only_dir(r: &DescribeLogDirsResponse) -> &describe_log_dirs_response::DescribeLogDirsResult {
    assert_eq!(r.error_code, 0);
    let [dir] = &r.results[..] else {
        panic!("one log dir per broker, got {r:?}")
    };
    assert_eq!(dir.error_code, 0, "{dir:?}");
    dir
}

/// `(topic, partition, size)` of every replica in a log dir, each checked to be a current
/// replica (no lag, not a future log).
fn replica_sizes(
    dir: &describe_log_dirs_response::DescribeLogDirsResult,
) -> Vec<(String, i32, i64)> {
    dir.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                assert_eq!((p.offset_lag, p.is_future_key), (0, false), "{p:?}");
                (s(t.name.0.as_str()), p.partition_index, p.partition_size)
            })
        })
        .collect()
}

/// As Kafka 4.3.1's single node answers (`ReplicaManager.describeLogDirs`): its one log dir
/// (`log.dirs`, absolute), every replica in it with the bytes of its `.log` files, v4 with the
/// volume's total and usable bytes; a filter keeps only the named partitions the broker holds
/// and drops a topic left empty, without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_log_dirs_on_a_broker_of_one() {
    let data = tempfile::tempdir().unwrap();
    let cluster = start(1, Some(data.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "orders", 2, 1, &[]).await;
    let log_dir = std::path::absolute(data.path().join("broker-1")).unwrap();
    let segment = log_dir.join("orders-0/00000000000000000000.log");
    let on_disk = || std::fs::metadata(&segment).unwrap().len() as i64;
    let volume = reference::api::describe_log_dirs::volume_space(&log_dir).unwrap();
    let mut last_size = 0;
    for version in 1..=4 {
        assert_eq!(produce(&mut conn, "orders", -1, records(3)).await.0, 0);
        let r = describe_log_dirs(&mut conn, version, None).await;
        let dir = only_dir(&r);
        assert_eq!(dir.log_dir.as_str(), log_dir.display().to_string());
        let sizes = replica_sizes(dir);
        let size = sizes[0].2;
        assert_eq!(
            sizes,
            vec![(s("orders"), 0, size), (s("orders"), 1, 0)],
            "v{version}"
        );
        assert!(
            size > last_size,
            "v{version}: grew from {last_size} to {size}"
        );
        assert_eq!(size, on_disk(), "v{version}: the bytes of the segment file");
        last_size = size;
        if version >= 4 {
            assert_eq!(dir.total_bytes, volume.total_bytes);
            assert!((0..=dir.total_bytes).contains(&dir.usable_bytes), "{dir:?}");
        } else {
            assert_eq!(
                (dir.total_bytes, dir.usable_bytes),
                (-1, -1),
                "not in v{version}"
            );
        }
    }
    let filtered = [("orders", &[1, 9, 1][..]), ("nosuch", &[0][..])];
    let r = describe_log_dirs(&mut conn, 4, Some(&filtered)).await;
    assert_eq!(replica_sizes(only_dir(&r)), vec![(s("orders"), 1, 0)]);
    for nothing in [&[][..], &[("orders", &[][..])][..]] {
        let r = describe_log_dirs(&mut conn, 4, Some(nothing)).await;
        let dir = only_dir(&r);
        assert!(dir.topics.is_empty(), "{nothing:?}: {dir:?}");
        assert_eq!(dir.total_bytes, volume.total_bytes);
    }
    cluster.shutdown().await;
}

/// On three brokers each answers for its own log dir only: the replicas it holds, leader or
/// follower, a follower's size growing as it replicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_log_dirs_answers_for_each_broker_of_a_cluster() {
    let data = tempfile::tempdir().unwrap();
    let cluster = start(3, Some(data.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 1, 3, &[]).await;
    create_topic_with(&mut conn, "orders", 3, 1, &[]).await;
    let p = eventually("payments in sync", async || {
        partition0(&mut conn, "payments")
            .await
            .filter(|p| p.isr.len() == 3)
    })
    .await;
    let mut leader = connect(&cluster, p.leader).await;
    assert_eq!(
        produce(&mut leader, "payments", -1, records(4)).await,
        (0, 0)
    );
    let orders = metadata(&mut conn, "orders").await.topics.remove(0);
    let mut orders_seen = Vec::new();
    for broker in 1..=3 {
        let mut c = connect(&cluster, broker).await;
        let log_dir = std::path::absolute(data.path().join(format!("broker-{broker}"))).unwrap();
        let held: Vec<i32> = orders
            .partitions
            .iter()
            .filter(|p| p.replica_nodes.iter().any(|b| b.0 == broker))
            .map(|p| p.partition_index)
            .collect();
        for version in 1..=4 {
            let r = describe_log_dirs(&mut c, version, None).await;
            let dir = only_dir(&r);
            assert_eq!(dir.log_dir.as_str(), log_dir.display().to_string());
            let sizes = replica_sizes(dir);
            let expected: Vec<(String, i32, i64)> = held
                .iter()
                .map(|&i| (s("orders"), i, 0))
                .chain(sizes.iter().filter(|r| r.0 == "payments").cloned())
                .collect();
            assert_eq!(sizes, expected, "broker {broker} v{version}");
            let payments: Vec<&(String, i32, i64)> =
                sizes.iter().filter(|r| r.0 == "payments").collect();
            assert_eq!(payments.len(), 1, "broker {broker} holds payments-0");
            assert_eq!(
                version >= 4,
                dir.total_bytes > 0,
                "broker {broker} v{version}"
            );
        }
        eventually("the replica of payments-0 has the records", async || {
            let r = describe_log_dirs(&mut c, 4, Some(&[("payments", &[0][..])])).await;
            let sizes = replica_sizes(only_dir(&r));
            (sizes.len() == 1 && sizes[0].2 > 0).then_some(())
        })
        .await;
        orders_seen.extend(held);
    }
    orders_seen.sort();
    assert_eq!(
        orders_seen,
        [0, 1, 2],
        "each orders partition on one broker"
    );
    cluster.shutdown().await;
}
