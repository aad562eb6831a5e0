//! Manual replica assignments over the wire: CreateTopics v7 with `assignments` and
//! CreatePartitions v3 with `assignments`, on a cluster of three brokers (ids 1, 2, 3), as
//! `kafka-topics --create --replica-assignment` and `kafka-topics --alter --partitions N
//! --replica-assignment` send them (and librdkafka's admin tests 0081 do).
//!
//! [`EXPECTED`] is what Apache Kafka 4.3.1 (three KRaft nodes, ids 1-3) answered to the
//! steps of [`scenario`], code and message. To check it against a real Kafka again, start
//! one (`ci/kafka/start.sh --nodes 3`) and run
//! `KAFKA_SPEC_BOOTSTRAP=127.0.0.1:<port> cargo test -p kafka-spec-reference --test
//! replica_assignment_wire -- against_a_bootstrap --nocapture`.
//!
//! # References
//! - KIP-4 (CreateTopics assignments), KIP-195 (CreatePartitions assignments)
//! - `ReplicationControlManager.createTopic`, `.createPartitions`,
//!   `.validateManualPartitionAssignment`

mod common;

use common::Conn;
use common::cluster::{
    KafkaAnswer, Step, compare_steps, connect, kafka_bootstrap, metadata_topic, now_ms,
    print_steps, start,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::*;

const NONE: i16 = 0;
const INVALID_REQUEST: i16 = 42;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

/// A CreateTopics step that Kafka refuses: (step, partitions, replication factor,
/// assignments).
type RefusedCreate = (&'static str, i32, i16, Vec<(i32, &'static [i32])>);

/// What Apache Kafka 4.3.1 answered to each step of [`scenario`].
const EXPECTED: &[KafkaAnswer] = &[
    ("create assigned", NONE, None),
    (
        "create with a partition count",
        INVALID_REQUEST,
        Some("A manual partition assignment was specified, but numPartitions was not set to -1."),
    ),
    (
        "create with a replication factor",
        INVALID_REQUEST,
        Some(
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ),
    ),
    (
        "create with a partition twice",
        INVALID_REPLICA_ASSIGNMENT,
        Some("Found multiple manual partition assignments for partition 0"),
    ),
    (
        "create with no replicas",
        INVALID_REPLICA_ASSIGNMENT,
        Some("The manual partition assignment includes an empty replica list."),
    ),
    (
        "create on an unknown broker",
        INVALID_REPLICA_ASSIGNMENT,
        Some(
            "The manual partition assignment includes broker 9, but no such broker is registered.",
        ),
    ),
    (
        "create with a broker twice",
        INVALID_REPLICA_ASSIGNMENT,
        Some("The manual partition assignment includes the broker 2 more than once."),
    ),
    (
        "create with uneven replica counts",
        INVALID_REPLICA_ASSIGNMENT,
        Some(
            "The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).",
        ),
    ),
    (
        "create with a gap in the partitions",
        INVALID_REPLICA_ASSIGNMENT,
        Some("partitions should be a consecutive 0-based integer sequence"),
    ),
    ("grow assigned", NONE, None),
    (
        "grow with too few assignments",
        INVALID_REPLICA_ASSIGNMENT,
        Some(
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.",
        ),
    ),
    (
        "grow with another replica count",
        INVALID_REPLICA_ASSIGNMENT,
        Some(
            "The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).",
        ),
    ),
    (
        "grow on an unknown broker",
        INVALID_REPLICA_ASSIGNMENT,
        Some(
            "The manual partition assignment includes broker 7, but no such broker is registered.",
        ),
    ),
];

/// CreateTopics v7 of `topic` with `assignments` (index, brokers) and the given counts.
async fn create(
    conn: &mut Conn,
    topic: &str,
    partitions: i32,
    rf: i16,
    assignments: &[(i32, &[i32])],
) -> create_topics_response::CreatableTopicResult {
    let assignments = assignments.iter().map(|(index, brokers)| {
        CreatableReplicaAssignment::default()
            .with_partition_index(*index)
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    });
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(common::cluster::name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
                .with_assignments(assignments.collect()),
        ]);
    let ResponseKind::CreateTopics(mut r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    r.topics.remove(0)
}

/// CreatePartitions v3 of `topic` to `count` with the new partitions' `assignments`.
async fn grow(
    conn: &mut Conn,
    topic: &str,
    count: i32,
    assignments: &[&[i32]],
) -> create_partitions_response::CreatePartitionsTopicResult {
    let assignments = assignments.iter().map(|brokers| {
        CreatePartitionsAssignment::default()
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    });
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(common::cluster::name(topic))
                .with_count(count)
                .with_assignments(Some(assignments.collect())),
        ]);
    let ResponseKind::CreatePartitions(mut r) = conn
        .call(
            ApiKey::CreatePartitions,
            3,
            RequestKind::CreatePartitions(req),
        )
        .await
    else {
        panic!("not CreatePartitions")
    };
    r.results.remove(0)
}

/// Each partition's (replicas, leader) as Metadata answers, once every partition has a
/// leader (Kafka's brokers learn a new topic asynchronously).
async fn placement(conn: &mut Conn, topic: &str, partitions: usize) -> Vec<(Vec<i32>, i32)> {
    common::cluster::eventually("the assigned partitions in Metadata", async || {
        let t = metadata_topic(conn, topic).await;
        let mut seen: Vec<(i32, Vec<i32>, i32)> = t
            .partitions
            .iter()
            .map(|p| {
                let replicas = p.replica_nodes.iter().map(|b| b.0).collect();
                (p.partition_index, replicas, p.leader_id.0)
            })
            .collect();
        seen.sort();
        let ready = t.error_code == NONE
            && seen.len() == partitions
            && seen.iter().all(|(_, _, leader)| *leader >= 0);
        ready.then(|| seen.into_iter().map(|(_, r, l)| (r, l)).collect())
    })
    .await
}

fn message(m: &Option<kafka_protocol::protocol::StrBytes>) -> Option<String> {
    m.as_ref().map(|s| s.to_string())
}

/// The steps, through `conn` to a cluster of brokers 1, 2 and 3.
async fn scenario(conn: &mut Conn) -> Vec<Step> {
    let prefix = format!("assigned-{}", now_ms());
    let topic = format!("{prefix}-payments");
    let mut seen: Vec<Step> = Vec::new();
    let created = create(
        conn,
        &topic,
        -1,
        -1,
        &[(0, &[3, 1]), (1, &[1, 2]), (2, &[2, 3])],
    )
    .await;
    assert_eq!(
        (created.num_partitions, created.replication_factor),
        (3, 2),
        "{created:?}"
    );
    seen.push((
        "create assigned",
        created.error_code,
        message(&created.error_message),
    ));
    assert_eq!(
        placement(conn, &topic, 3).await,
        vec![(vec![3, 1], 3), (vec![1, 2], 1), (vec![2, 3], 2)],
        "the replicas in the order given, the first leading"
    );
    let refused: [RefusedCreate; 8] = [
        ("create with a partition count", 2, -1, vec![(0, &[1, 2])]),
        (
            "create with a replication factor",
            -1,
            2,
            vec![(0, &[1, 2])],
        ),
        (
            "create with a partition twice",
            -1,
            -1,
            vec![(0, &[1, 2]), (0, &[2, 3])],
        ),
        ("create with no replicas", -1, -1, vec![(0, &[])]),
        ("create on an unknown broker", -1, -1, vec![(0, &[1, 9])]),
        ("create with a broker twice", -1, -1, vec![(0, &[2, 1, 2])]),
        (
            "create with uneven replica counts",
            -1,
            -1,
            vec![(0, &[1, 2]), (1, &[3])],
        ),
        (
            "create with a gap in the partitions",
            -1,
            -1,
            vec![(0, &[1, 2]), (2, &[2, 3])],
        ),
    ];
    for (i, (step, partitions, rf, assignments)) in refused.into_iter().enumerate() {
        let name = format!("{prefix}-refused-{i}");
        let r = create(conn, &name, partitions, rf, &assignments).await;
        seen.push((step, r.error_code, message(&r.error_message)));
        let m = metadata_topic(conn, &name).await;
        assert_ne!(m.error_code, NONE, "{step}: nothing created");
    }
    let grown = grow(conn, &topic, 4, &[&[2, 1]]).await;
    seen.push((
        "grow assigned",
        grown.error_code,
        message(&grown.error_message),
    ));
    let placed = placement(conn, &topic, 4).await;
    assert_eq!(placed[3], (vec![2, 1], 2), "the new partition as assigned");
    let refused: [(&'static str, i32, Vec<&[i32]>); 3] = [
        ("grow with too few assignments", 6, vec![&[1, 2]]),
        ("grow with another replica count", 5, vec![&[1]]),
        ("grow on an unknown broker", 5, vec![&[7, 1]]),
    ];
    for (step, count, assignments) in refused {
        let r = grow(conn, &topic, count, &assignments).await;
        seen.push((step, r.error_code, message(&r.error_message)));
    }
    assert_eq!(
        metadata_topic(conn, &topic).await.partitions.len(),
        4,
        "no refused growth took effect"
    );
    seen
}

#[tokio::test]
async fn three_brokers_answer_manual_assignments_as_kafka() {
    let cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let seen = scenario(&mut conn).await;
    compare_steps(&seen, EXPECTED);
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
    let seen = scenario(&mut conn).await;
    print_steps(&seen);
    compare_steps(&seen, EXPECTED);
}
