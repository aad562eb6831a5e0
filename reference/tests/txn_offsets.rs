//! Transactional offset commits over TCP, through the real protocol: a producer gets its id
//! and epoch from InitProducerId (at the transaction coordinator FindCoordinator names for
//! its transactional id), puts the group's `__consumer_offsets` partition in its
//! transaction (AddOffsetsToTxn, or from v5 the TxnOffsetCommit itself, KIP-890), sends
//! TxnOffsetCommit to the group coordinator, and ends the transaction with EndTxn, whose
//! markers (WriteTxnMarkers to the group coordinator) commit or drop the offsets.
//!
//! Checked here: the transaction coordinator's verification that comes first in a
//! TxnOffsetCommit, answered as Kafka 4.3.1 answers it (INVALID_PRODUCER_ID_MAPPING for
//! another producer id, INVALID_PRODUCER_EPOCH for another epoch, INVALID_TXN_STATE at v3 and
//! TRANSACTION_ABORTABLE at v4 without AddOffsetsToTxn); then, within the transaction, the
//! group errors of `OffsetMetadataManager.validateTransactionalOffsetCommit`; OffsetFetch
//! `require_stable` while a transaction holds offsets; the markers' commit and abort (the
//! offsets become visible a little after EndTxn answers, so they are polled), through a
//! restart of the coordinator and a move to another broker (the log replayed). Only the
//! check that another broker refuses the partition's markers calls
//! `GroupRuntime::complete_transaction` directly, as WriteTxnMarkers would on that broker.
//!
//! # References
//! - KIP-98 (transactions), KIP-447 (v3: generation and member), KIP-890 (verification, v5)
//! - `KafkaApis.handleTxnOffsetCommitRequest`, `GroupCoordinatorService.commitTransactionalOffsets`,
//!   `OffsetMetadataManager.validateTransactionalOffsetCommit`

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
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const TRANSACTION_ABORTABLE: i16 = 120;

/// What a coordinator answers while it is being set up, loading or moving: asked again.
const RETRIABLE: [i16; 4] = [
    COORDINATOR_LOAD_IN_PROGRESS,
    COORDINATOR_NOT_AVAILABLE,
    NOT_COORDINATOR,
    CONCURRENT_TRANSACTIONS,
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn cluster(brokers: usize) -> Cluster {
    let partitions = OFFSETS_PARTITIONS.to_string();
    let configs = [
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", partitions.as_str()),
        ("transaction.state.log.num.partitions", "3"),
    ];
    common::cluster::start(brokers, None, &configs).await
}

/// A transactional producer as InitProducerId made it.
#[derive(Debug, Clone)]
struct Producer {
    id: String,
    pid: i64,
    epoch: i16,
}

/// FindCoordinator v4 for a transactional id: (error code, node id, host, port).
async fn find_txn_coordinator(conn: &mut Conn, id: &str) -> (i16, i32, String, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(id)]);
    let r = common::cluster::find_coordinator(conn, 4, req).await;
    let c = &r.coordinators[0];
    (c.error_code, c.node_id.0, c.host.to_string(), c.port)
}

/// A connection to the transaction coordinator of `id` (not `avoid`, a stopped broker),
/// asked through `via` until one is named.
async fn txn_coordinator(via: &mut Conn, id: &str, avoid: Option<i32>) -> (i32, Conn) {
    let (node, host, port) = eventually("a transaction coordinator", async || {
        let (code, node, host, port) = find_txn_coordinator(via, id).await;
        assert!(
            RETRIABLE.contains(&code) || code == NONE,
            "FindCoordinator: {code}"
        );
        (code == NONE && Some(node) != avoid).then_some((node, host, port))
    })
    .await;
    (node, Conn::connect(&format!("{host}:{port}")).await)
}

/// A producer for transactional id `id` (InitProducerId v4, asked again while the
/// coordinator is being set up), and a connection to its transaction coordinator.
async fn producer(via: &mut Conn, id: &str) -> (Conn, Producer) {
    let (_, mut conn) = txn_coordinator(via, id, None).await;
    let (code, pid, epoch) = eventually("InitProducerId answered", async || {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let request = RequestKind::InitProducerId(req);
        let ResponseKind::InitProducerId(r) = conn.call(ApiKey::InitProducerId, 4, request).await
        else {
            panic!("not InitProducerId")
        };
        (!RETRIABLE.contains(&r.error_code)).then_some((
            r.error_code,
            r.producer_id.0,
            r.producer_epoch,
        ))
    })
    .await;
    assert_eq!(code, NONE, "InitProducerId for {id}");
    let id = id.to_string();
    (conn, Producer { id, pid, epoch })
}

/// AddOffsetsToTxn v3 of `GROUP` for `producer`, asked again while the previous
/// transaction's markers are being written (CONCURRENT_TRANSACTIONS).
async fn add_offsets(conn: &mut Conn, producer: &Producer) -> i16 {
    eventually("AddOffsetsToTxn answered", async || {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(&producer.id)))
            .with_producer_id(ProducerId(producer.pid))
            .with_producer_epoch(producer.epoch)
            .with_group_id(GroupId(s(GROUP)));
        let request = RequestKind::AddOffsetsToTxn(req);
        let ResponseKind::AddOffsetsToTxn(r) = conn.call(ApiKey::AddOffsetsToTxn, 3, request).await
        else {
            panic!("not AddOffsetsToTxn")
        };
        (r.error_code != CONCURRENT_TRANSACTIONS).then_some(r.error_code)
    })
    .await
}

/// EndTxn v3 of `producer`'s transaction, asked again while the coordinator loads.
async fn end(conn: &mut Conn, producer: &Producer, commit: bool) -> i16 {
    eventually("EndTxn answered", async || {
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(&producer.id)))
            .with_producer_id(ProducerId(producer.pid))
            .with_producer_epoch(producer.epoch)
            .with_committed(commit);
        let request = RequestKind::EndTxn(req);
        let ResponseKind::EndTxn(r) = conn.call(ApiKey::EndTxn, 3, request).await else {
            panic!("not EndTxn")
        };
        (!RETRIABLE.contains(&r.error_code)).then_some(r.error_code)
    })
    .await
}

/// One TxnOffsetCommit of `offset` for `topic`-`partition` by `producer`, with member and
/// generation or none. Returns the partition's error code.
async fn txn_commit(
    conn: &mut Conn,
    version: i16,
    group: &str,
    producer: &Producer,
    member: Option<(&str, i32)>,
    (topic, partition, offset): (&str, i32, i64),
) -> i16 {
    use txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
    let (member_id, generation) = member.unwrap_or(("", -1));
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(&producer.id)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(producer.pid))
        .with_producer_epoch(producer.epoch)
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

/// The stable offset once the ended transaction's marker has reached the group coordinator
/// (until then `require_stable` answers UNSTABLE_OFFSET_COMMIT).
async fn fetch_once_stable(conn: &mut Conn) -> (i64, i16) {
    eventually("the transaction's marker", async || {
        let fetched = fetch(conn, true).await;
        (fetched.1 != UNSTABLE_OFFSET_COMMIT).then_some(fetched)
    })
    .await
}

/// What WriteTxnMarkers asks of broker `broker` as the coordinator of `GROUP`: the end of
/// `producer`'s transaction in the group's `__consumer_offsets` partition.
async fn complete_transaction_at(
    cluster: &Cluster,
    broker: i32,
    producer: &Producer,
    commit: bool,
) -> i16 {
    let shared = cluster.shared(broker).expect("broker runs");
    let partition = partition_for(GROUP, OFFSETS_PARTITIONS);
    shared
        .groups
        .complete_transaction(partition, producer.pid, producer.epoch, 0, commit)
        .await
}

/// The transaction coordinator's verification, before any offset of `producer` is written
/// (once the producer's transaction is in the partition's log, it is not asked again).
async fn verification_errors(conn: &mut Conn, txn: &mut Conn, producer: &Producer) {
    let orders = (TOPIC, 0, 10);
    // Without AddOffsetsToTxn the partition is not in the transaction.
    let v3 = txn_commit(conn, 3, GROUP, producer, None, orders).await;
    assert_eq!(v3, INVALID_TXN_STATE);
    let v4 = txn_commit(conn, 4, GROUP, producer, None, orders).await;
    assert_eq!(v4, TRANSACTION_ABORTABLE);
    assert_eq!(add_offsets(txn, producer).await, NONE);
    let other_id = Producer {
        pid: producer.pid + 1,
        ..producer.clone()
    };
    let code = txn_commit(conn, 3, GROUP, &other_id, None, orders).await;
    assert_eq!(code, INVALID_PRODUCER_ID_MAPPING);
    let other_epoch = Producer {
        epoch: producer.epoch + 1,
        ..producer.clone()
    };
    let code = txn_commit(conn, 5, GROUP, &other_epoch, None, orders).await;
    assert_eq!(code, INVALID_PRODUCER_EPOCH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_offset_commit_checks_the_group_as_kafka_does() {
    let cluster = cluster(1).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 1, &[]).await;
    let (_, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    let (mut txn, p) = producer(&mut admin, "payments-txn").await;
    let orders = (TOPIC, 0, 10);
    verification_errors(&mut conn, &mut txn, &p).await;

    // No such group: a generation is ILLEGAL_GENERATION (v3+); none makes a simple group.
    let code = txn_commit(&mut conn, 3, GROUP, &p, Some(("m", 1)), orders).await;
    assert_eq!(code, ILLEGAL_GENERATION);
    let unknown_topic = txn_commit(&mut conn, 3, GROUP, &p, None, ("payments", 0, 1)).await;
    assert_eq!(unknown_topic, UNKNOWN_TOPIC_OR_PARTITION);
    let beyond = txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 1, 1)).await;
    assert_eq!(beyond, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        txn_commit(&mut conn, 3, "", &p, None, orders).await,
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
    let ghost = Some(("ghost", generation));
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, ghost, orders).await,
        UNKNOWN_MEMBER_ID
    );
    let stale = Some((member.as_str(), generation + 1));
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, stale, orders).await,
        ILLEGAL_GENERATION
    );
    // v5 puts the partition in the transaction itself: no AddOffsetsToTxn (KIP-890).
    let (_, v5) = producer(&mut admin, "payments-txn-v5").await;
    let current = Some((member.as_str(), generation));
    assert_eq!(
        txn_commit(&mut conn, 5, GROUP, &v5, current, orders).await,
        NONE
    );
    // v0-2 carry no member: accepted whatever the group's state.
    assert_eq!(
        txn_commit(&mut conn, 2, GROUP, &p, None, orders).await,
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
    let (mut txn, p) = producer(&mut admin, "payments-txn").await;

    // Pending: invisible, and unstable for a consumer that requires stable offsets.
    assert_eq!(add_offsets(&mut txn, &p).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 0, 42)).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(fetch(&mut conn, false).await, (-1, NONE));
    // The commit marker makes them the group's committed offsets.
    assert_eq!(end(&mut txn, &p, true).await, NONE);
    assert_eq!(fetch_once_stable(&mut conn).await, (42, NONE));

    // An aborted transaction leaves nothing.
    assert_eq!(add_offsets(&mut txn, &p).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 0, 77)).await,
        NONE
    );
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(end(&mut txn, &p, false).await, NONE);
    assert_eq!(fetch_once_stable(&mut conn).await, (42, NONE));

    // A transaction still open when the coordinator restarts is open after the replay.
    assert_eq!(add_offsets(&mut txn, &p).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 0, 99)).await,
        NONE
    );
    cluster.stop(coordinator).await;
    cluster.restart(coordinator).await.expect("restarts");
    let (_, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    assert_eq!(fetch(&mut conn, true).await, (-1, UNSTABLE_OFFSET_COMMIT));
    assert_eq!(fetch(&mut conn, false).await, (42, NONE));
    let mut admin = connect(&cluster, 1).await;
    let (_, mut txn) = txn_coordinator(&mut admin, &p.id, None).await;
    assert_eq!(end(&mut txn, &p, true).await, NONE);
    assert_eq!(fetch_once_stable(&mut conn).await, (99, NONE));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_offsets_move_with_the_coordinator() {
    let mut cluster = cluster(3).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 3, &[]).await;
    let (first, mut conn) = group_coordinator(&cluster, 1, GROUP).await;
    let (mut txn, p) = producer(&mut admin, "payments-txn").await;
    assert_eq!(add_offsets(&mut txn, &p).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 0, 42)).await,
        NONE
    );
    assert_eq!(end(&mut txn, &p, true).await, NONE);
    assert_eq!(fetch_once_stable(&mut conn).await, (42, NONE));
    assert_eq!(add_offsets(&mut txn, &p).await, NONE);
    assert_eq!(
        txn_commit(&mut conn, 3, GROUP, &p, None, (TOPIC, 0, 50)).await,
        NONE
    );

    // Another broker does not serve the partition's markers.
    let other = cluster
        .broker_ids()
        .into_iter()
        .find(|b| *b != first)
        .expect("three brokers");
    assert_eq!(
        complete_transaction_at(&cluster, other, &p, true).await,
        NOT_COORDINATOR
    );
    let mut elsewhere = connect(&cluster, other).await;
    let commit = (TOPIC, 0, 1);
    assert_eq!(
        txn_commit(&mut elsewhere, 3, GROUP, &p, None, commit).await,
        NOT_COORDINATOR
    );

    // The coordinator's broker dies: the new leader of the partition replays both the
    // committed transaction and the open one, and the open one's commit marker reaches it.
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
    let (_, mut txn) = txn_coordinator(&mut via, &p.id, Some(first)).await;
    assert_eq!(end(&mut txn, &p, true).await, NONE);
    assert_eq!(fetch_once_stable(&mut conn).await, (50, NONE));
    cluster.shutdown().await;
}
