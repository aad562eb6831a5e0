//! Partition reassignments over the wire (KIP-455) on three brokers (ids 1, 2, 3), as
//! `kafka-reassign-partitions --execute`, `--verify` and `--cancel` drive them:
//! AlterPartitionReassignments v0-1 and ListPartitionReassignments v0. A partition on
//! brokers [1, 2] holding records moves to [2, 3]: broker 3 catches up as a follower and
//! joins the ISR, the move completes, broker 2 (the first target replica in the ISR) leads
//! in place of broker 1, and every record is there to read; then Kafka's refusals.
//!
//! [`EXPECTED`] is what Apache Kafka 4.3.1 (three KRaft nodes, ids 1-3) answered to the
//! steps of [`scenario`], code and message. To check it against a real Kafka again, start
//! one (`ci/kafka/start.sh --nodes 3`) and run
//! `KAFKA_SPEC_BOOTSTRAP=127.0.0.1:<port> cargo test -p kafka-spec-reference --test
//! reassignment_wire -- against_a_bootstrap --nocapture`. A reassignment that cannot finish
//! (its new replica's broker is down) and its cancel are tested on the reference only, which
//! can stop a broker.
//!
//! # References
//! - KIP-455 (reassignments), KIP-860 (`allow_replication_factor_change`)
//! - `ReplicationControlManager.alterPartitionReassignment`, `.listPartitionReassignments`,
//!   `PartitionReassignmentReplicas`, `PartitionReassignmentRevert`

mod common;

use common::Conn;
use common::cluster::{
    KafkaAnswer, Step, batch, compare_steps, connect, eventually, kafka_bootstrap, metadata,
    now_ms, partition0, print_steps, produce, read_from, start,
};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::*;

const NONE: i16 = 0;

/// What Apache Kafka 4.3.1 answered to each step of [`scenario`].
const EXPECTED: &[KafkaAnswer] = &[
    ("move to 2,3", NONE, None),
    (
        "an unknown topic",
        3,
        Some("Unable to find a topic named no-such-topic."),
    ),
    (
        "an unknown partition",
        3,
        Some("Unable to find partition {topic}:7."),
    ),
    (
        "no replicas",
        39,
        Some("The manual partition assignment includes an empty replica list."),
    ),
    (
        "an unknown broker",
        39,
        Some(
            "The manual partition assignment includes broker 9, but no such broker is registered.",
        ),
    ),
    (
        "a broker twice",
        39,
        Some("The manual partition assignment includes the broker 3 more than once."),
    ),
    ("cancel with none in progress", 85, None),
    (
        "v1 changing the replication factor, not allowed",
        38,
        Some("The replication factor is changed from 2 to 3"),
    ),
    ("v1 move to 3,1, replication factor kept", NONE, None),
];

/// AlterPartitionReassignments (`version`) of partition `partition` of `topic` to
/// `replicas` (`None`: cancel): that partition's (error code, message).
async fn reassign(
    conn: &mut Conn,
    version: i16,
    allow_rf_change: bool,
    topic: &str,
    partition: i32,
    replicas: Option<&[i32]>,
) -> (i16, Option<String>) {
    let replicas = replicas.map(|r| r.iter().map(|b| BrokerId(*b)).collect());
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(vec![
            ReassignableTopic::default()
                .with_name(common::cluster::name(topic))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(partition)
                        .with_replicas(replicas),
                ]),
        ]);
    let ResponseKind::AlterPartitionReassignments(r) = conn
        .call(
            ApiKey::AlterPartitionReassignments,
            version,
            RequestKind::AlterPartitionReassignments(req),
        )
        .await
    else {
        panic!("not AlterPartitionReassignments")
    };
    assert_eq!((r.error_code, r.error_message.clone()), (NONE, None));
    let p = &r.responses[0].partitions[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// ListPartitionReassignments v0 of partition 0 of `topic`: (replicas, adding, removing) if
/// it is being reassigned.
async fn listed(conn: &mut Conn, topic: &str) -> Option<(Vec<i32>, Vec<i32>, Vec<i32>)> {
    let req = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(Some(vec![
            ListPartitionReassignmentsTopics::default()
                .with_name(common::cluster::name(topic))
                .with_partition_indexes(vec![0]),
        ]));
    let ResponseKind::ListPartitionReassignments(r) = conn
        .call(
            ApiKey::ListPartitionReassignments,
            0,
            RequestKind::ListPartitionReassignments(req),
        )
        .await
    else {
        panic!("not ListPartitionReassignments")
    };
    assert_eq!(r.error_code, NONE);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    let p = r.topics.first()?.partitions.first()?;
    Some((
        ids(&p.replicas),
        ids(&p.adding_replicas),
        ids(&p.removing_replicas),
    ))
}

/// Creates `topic` with one partition on `replicas`.
async fn create_on(conn: &mut Conn, topic: &str, replicas: &[i32]) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(common::cluster::name(topic))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(replicas.iter().map(|b| BrokerId(*b)).collect()),
                ]),
        ]);
    let ResponseKind::CreateTopics(r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    assert_eq!(r.topics[0].error_code, NONE, "{:?}", r.topics[0]);
}

/// A connection to broker `id` of the cluster `conn` belongs to (its Metadata address).
async fn connect_to(conn: &mut Conn, topic: &str, id: i32) -> Conn {
    let m = metadata(conn, topic).await;
    let b = m
        .brokers
        .iter()
        .find(|b| b.node_id.0 == id)
        .expect("the broker in Metadata");
    Conn::connect(&format!("{}:{}", b.host, b.port)).await
}

/// Waits until partition 0 of `topic` is no longer being reassigned and Metadata shows
/// `replicas` in sync and `leader` leading.
async fn moved(conn: &mut Conn, topic: &str, replicas: &[i32], leader: i32) {
    eventually("the reassignment completes", async || {
        if listed(conn, topic).await.is_some() {
            return None;
        }
        let p = partition0(conn, topic).await?;
        let mut isr = p.isr.clone();
        isr.sort_unstable();
        let mut expected_isr = replicas.to_vec();
        expected_isr.sort_unstable();
        (p.replicas == replicas && isr == expected_isr && p.leader == leader).then_some(())
    })
    .await;
}

/// The steps, through `conn` to a cluster of brokers 1, 2 and 3.
async fn scenario(conn: &mut Conn, topic: &str) -> Vec<Step> {
    let topic = topic.to_string();
    let mut seen: Vec<Step> = Vec::new();
    create_on(conn, &topic, &[1, 2]).await;
    eventually("broker 1 leads", async || {
        partition0(conn, &topic).await.filter(|p| p.leader == 1)
    })
    .await;
    let mut on_1 = connect_to(conn, &topic, 1).await;
    for i in 0..10 {
        let (code, _) = produce(&mut on_1, &topic, -1, batch(i, 1, |_| now_ms())).await;
        assert_eq!(code, NONE, "record {i}");
    }
    let (code, message) = reassign(conn, 0, true, &topic, 0, Some(&[2, 3])).await;
    seen.push(("move to 2,3", code, message));
    moved(conn, &topic, &[2, 3], 2).await;
    let mut on_2 = connect_to(conn, &topic, 2).await;
    let (code, hw, _, keys) = read_from(&mut on_2, &topic, 0).await;
    assert_eq!((code, hw), (NONE, 10), "every record on the new leader");
    assert_eq!(keys, common::cluster::keys(0..10));
    let refused: [(&'static str, &str, i32, Option<&[i32]>); 6] = [
        ("an unknown topic", "no-such-topic", 0, Some(&[1, 2])),
        ("an unknown partition", &topic, 7, Some(&[1, 2])),
        ("no replicas", &topic, 0, Some(&[])),
        ("an unknown broker", &topic, 0, Some(&[2, 9])),
        ("a broker twice", &topic, 0, Some(&[3, 3])),
        ("cancel with none in progress", &topic, 0, None),
    ];
    for (step, name, partition, replicas) in refused {
        let (code, message) = reassign(conn, 0, true, name, partition, replicas).await;
        let message = message.map(|m| m.replace(&topic, "{topic}"));
        seen.push((step, code, message));
    }
    let (code, message) = reassign(conn, 1, false, &topic, 0, Some(&[1, 2, 3])).await;
    seen.push((
        "v1 changing the replication factor, not allowed",
        code,
        message,
    ));
    let (code, message) = reassign(conn, 1, false, &topic, 0, Some(&[3, 1])).await;
    seen.push(("v1 move to 3,1, replication factor kept", code, message));
    moved(conn, &topic, &[3, 1], 3).await;
    let mut on_3 = connect_to(conn, &topic, 3).await;
    let (code, hw, _, keys) = read_from(&mut on_3, &topic, 0).await;
    assert_eq!((code, hw), (NONE, 10), "every record after the second move");
    assert_eq!(keys, common::cluster::keys(0..10));
    seen
}

#[tokio::test]
async fn three_brokers_move_replicas_as_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(3, Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let seen = scenario(&mut conn, "moving").await;
    compare_steps(&seen, EXPECTED);
    // Now on [3, 1]: broker 2, which left, deleted its log; brokers 3 and 1 hold theirs.
    let log_dir = |broker: i32| cluster.broker_dir(broker).unwrap().join("moving-0");
    eventually(
        "broker 2 deletes the replica it no longer hosts",
        async || (!log_dir(2).exists()).then_some(()),
    )
    .await;
    assert!(log_dir(1).exists() && log_dir(3).exists());
    cluster.shutdown().await;
}

/// A reassignment whose new replica's broker is down stays in progress (the ISR never holds
/// it), is listed with its adding and removing replicas, and a cancel reverts it; the
/// records stay readable throughout.
#[tokio::test]
async fn a_reassignment_that_cannot_finish_is_listed_and_cancelled() {
    let mut cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "stuck";
    create_on(&mut conn, topic, &[1, 2]).await;
    eventually("broker 1 leads", async || {
        partition0(&mut conn, topic).await.filter(|p| p.leader == 1)
    })
    .await;
    for i in 0..5 {
        let (code, _) = produce(&mut conn, topic, -1, batch(i, 1, |_| now_ms())).await;
        assert_eq!(code, NONE);
    }
    cluster.stop(3).await;
    assert_eq!(
        reassign(&mut conn, 0, true, topic, 0, Some(&[3, 1])).await,
        (NONE, None),
        "a fenced broker is still registered: the target is valid"
    );
    assert_eq!(
        listed(&mut conn, topic).await,
        Some((vec![3, 1, 2], vec![3], vec![2])),
        "target first, then the removing replicas"
    );
    let p = partition0(&mut conn, topic).await.unwrap();
    assert_eq!((p.replicas, p.leader), (vec![3, 1, 2], 1));
    assert_eq!(
        reassign(&mut conn, 0, true, topic, 0, None).await,
        (NONE, None),
        "cancelled"
    );
    assert_eq!(listed(&mut conn, topic).await, None);
    let p = partition0(&mut conn, topic).await.unwrap();
    assert_eq!((p.replicas, p.leader), (vec![1, 2], 1), "back where it was");
    let (code, hw, _, keys) = read_from(&mut conn, topic, 0).await;
    assert_eq!((code, hw, keys), (NONE, 5, common::cluster::keys(0..5)));
    cluster.shutdown().await;
}

/// The same steps against a real Kafka of three nodes (ids 1-3) at `KAFKA_SPEC_BOOTSTRAP`
/// (skipped, saying so, when it is not set).
#[tokio::test]
async fn against_a_bootstrap() {
    let Some(bootstrap) = kafka_bootstrap() else {
        return;
    };
    let mut conn = Conn::connect(&bootstrap).await;
    let seen = scenario(&mut conn, &format!("moving-{}", now_ms())).await;
    print_steps(&seen);
    compare_steps(&seen, EXPECTED);
}
