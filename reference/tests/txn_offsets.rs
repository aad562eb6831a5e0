//! Transactional offset commits over TCP: TxnOffsetCommit's errors, OffsetFetch
//! `require_stable` while a transaction holds offsets, and the end markers that commit or
//! drop them (driven the way WriteTxnMarkers drives the group coordinator:
//! `GroupRuntime::complete_transaction` on the coordinator's broker), through a restart of
//! the coordinator and a move to another broker (the log replayed, markers included).
//!
//! Real Kafka 4.3.1 answers a TxnOffsetCommit only within a transaction that holds the
//! group's offsets partition (its verification comes first), so the group errors here are
//! those of `OffsetMetadataManager.validateTransactionalOffsetCommit` for such a request.

mod common;

use common::Conn;
use common::cluster::{
    connect, create_topic_with, eventually, find_group_coordinator, group_coordinator, join_group,
    sync_group,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::Cluster;
use reference::group::partition_for;

const GROUP: &str = "order_processing_group";
const TOPIC: &str = "orders";
const OFFSETS_PARTITIONS: i32 = 5;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn cluster(brokers: usize) -> Cluster {
    let partitions = OFFSETS_PARTITIONS.to_string();
    let configs = [
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", partitions.as_str()),
    ];
    common::cluster::start(brokers, None, &configs).await
}

/// One TxnOffsetCommit of `offset` for `topic`-`partition`: (producer id, member and
/// generation or none). Returns the partition's error code.
async fn txn_commit(
    conn: &mut Conn,
    version: i16,
    group: &str,
    producer_id: i64,
    member: Option<(&str, i32)>,
    (topic, partition, offset): (&str, i32, i64),
) -> i16 {
    use txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
    let (member_id, generation) = member.unwrap_or(("", -1));
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("payments-txn")))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s("in a transaction"))),
                ]),
        ]);
    let ResponseKind::TxnOffsetCommit(r) = conn
        .call(
            ApiKey::TxnOffsetCommit,
            version,
            RequestKind::TxnOffsetCommit(req),
        )
        .await
    else {
        panic!("not TxnOffsetCommit")
    };
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of partition 0 of "orders": (offset, partition error).
async fn fetch(conn: &mut Conn, require_stable: bool) -> (i64, i16) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![0]),
        ]));
    let ResponseKind::OffsetFetch(r) = conn
        .call(ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(req))
        .await
    else {
        panic!("not OffsetFetch")
    };
    assert_eq!(r.error_code, NONE);
    let p = &r.topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

/// What WriteTxnMarkers asks of the coordinator of `GROUP`: the end of `producer_id`'s
/// transaction in the group's `__consumer_offsets` partition.
async fn end_transaction(
    cluster: &Cluster,
    coordinator: i32,
    producer_id: i64,
    commit: bool,
) -> i16 {
    let shared = cluster.shared(coordinator).expect("coordinator runs");
    let partition = partition_for(GROUP, OFFSETS_PARTITIONS);
    shared
        .groups
        .complete_transaction(partition, producer_id, 0, 0, commit)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_offset_commit_checks_the_group_as_kafka_does() {
    let cluster = cluster(1).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 1, &[]).await;
    let (_, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    let orders = (TOPIC, 0, 10);

    // No such group: a generation is ILLEGAL_GENERATION (v3+); none makes a simple group.
    let code = txn_commit(&mut conn, 3, GROUP, 1000, Some(("m", 1)), orders).await;
    assert_eq!(code, ILLEGAL_GENERATION);
    let unknown_topic = txn_commit(&mut conn, 3, GROUP, 1000, None, ("payments", 0, 1)).await;
    assert_eq!(unknown_topic, UNKNOWN_TOPIC_OR_PARTITION);
    let beyond = txn_commit(&mut conn, 3, GROUP, 1000, None, (TOPIC, 1, 1)).await;
    assert_eq!(beyond, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        txn_commit(&mut conn, 3, "", 1000, None, orders).await,
        INVALID_GROUP_ID
    );

    // A group with a member: only that member at that generation commits.
    let required = join_group(&mut conn, GROUP, "").await;
    let member = required.member_id.to_string();
    let joined = join_group(&mut conn, GROUP, &member).await;
    assert_eq!(joined.error_code, NONE);
    let generation = joined.generation_id;
    let synced = sync_group(&mut conn, GROUP, generation, &member, Default::default()).await;
    assert_eq!(synced.error_code, NONE);
    let ghost = txn_commit(
        &mut conn,
        3,
        GROUP,
        1000,
        Some(("ghost", generation)),
        orders,
    )
    .await;
    assert_eq!(ghost, UNKNOWN_MEMBER_ID);
    let stale = Some((member.as_str(), generation + 1));
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1000, stale, orders).await,
        ILLEGAL_GENERATION
    );
    let current = Some((member.as_str(), generation));
    assert_eq!(
        txn_commit(&mut conn, 5, GROUP, 1000, current, orders).await,
        NONE
    );
    // v0-2 carry no member: accepted whatever the group's state.
    assert_eq!(
        txn_commit(&mut conn, 2, GROUP, 1001, None, orders).await,
        NONE
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_commit_or_drop_transactional_offsets_and_survive_a_restart() {
    let mut cluster = cluster(1).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 1, &[]).await;
    let (coordinator, mut conn) = group_coordinator(&cluster, 1, GROUP).await;

    // Pending: invisible, and unstable for a consumer that requires stable offsets.
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1000, None, (TOPIC, 0, 42)).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(fetch(&mut conn, false).await, (-1, NONE));
    // The commit marker makes them the group's committed offsets.
    assert_eq!(
        end_transaction(&cluster, coordinator, 1000, true).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (42, NONE));

    // An aborted transaction leaves nothing.
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1001, None, (TOPIC, 0, 77)).await,
        NONE
    );
    assert_eq!(
        end_transaction(&cluster, coordinator, 1001, false).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (42, NONE));

    // A transaction still open when the coordinator restarts is open after the replay.
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1002, None, (TOPIC, 0, 99)).await,
        NONE
    );
    cluster.stop(coordinator).await;
    cluster.restart(coordinator).await.expect("restarts");
    let (coordinator, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(fetch(&mut conn, false).await, (42, NONE));
    assert_eq!(
        end_transaction(&cluster, coordinator, 1002, true).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (99, NONE));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_offsets_move_with_the_coordinator() {
    let mut cluster = cluster(3).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 3, &[]).await;
    let (first, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1000, None, (TOPIC, 0, 42)).await,
        NONE
    );
    assert_eq!(end_transaction(&cluster, first, 1000, true).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, 1001, None, (TOPIC, 0, 50)).await,
        NONE
    );

    // Another broker does not serve the partition's markers.
    let other = cluster
        .broker_ids()
        .into_iter()
        .find(|b| *b != first)
        .expect("three brokers");
    assert_eq!(
        end_transaction(&cluster, other, 1001, true).await,
        NOT_COORDINATOR
    );
    let mut elsewhere = connect(&cluster, other).await;
    let commit = (TOPIC, 0, 1);
    assert_eq!(
        txn_commit(&mut elsewhere, 3, GROUP, 1001, None, commit).await,
        NOT_COORDINATOR
    );

    // The coordinator's broker dies: the new leader of the partition replays both the
    // committed transaction and the open one.
    cluster.stop(first).await;
    let mut via = connect(&cluster, other).await;
    let moved_to = eventually("a new coordinator", async || match find_group_coordinator(
        &mut via, GROUP,
    )
    .await
    {
        (NONE, node) if node != first => Some(node),
        _ => None,
    })
    .await;
    let (second, mut conn) = group_coordinator(&cluster, moved_to, GROUP).await;
    assert_ne!(second, first);
    assert_eq!(fetch(&mut conn, false).await, (42, NONE));
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(end_transaction(&cluster, second, 1001, true).await, NONE);
    assert_eq!(fetch(&mut conn, true).await, (50, NONE));
    cluster.shutdown().await;
}
