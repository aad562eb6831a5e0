//! The partition log's side of transactions over the wire: the last stable offset in Fetch
//! and ListOffsets, `read_committed` fetches and their aborted transactions, INVALID_TXN_STATE
//! and DescribeProducers, on one broker and from a follower (KIP-392).
//!
//! The transaction coordinator and WriteTxnMarkers are not on this branch: a transactional
//! batch is produced with a `transactional_id` (appended without the coordinator's
//! verification), and its end marker is appended through the leader's synchronous core
//! (`Partition::append_marker`, what WriteTxnMarkers will call), after which everything is
//! observed over the wire again, as a client sees it.
//!
//! Every expected answer is what Apache Kafka 4.3.1 gave to the same steps (a plain record
//! at 0, a transaction at 1..=2, aborted by its marker at 3), probed with a transactional id,
//! AddPartitionsToTxn v3 and EndTxn v3:
//! - open: read_committed from 0 has high watermark 3, last stable offset 1, the plain batch
//!   only and an empty aborted list; from 1 nothing and an empty list; read_uncommitted has
//!   both batches, the LSO 1 and a null list; ListOffsets LATEST is 1 read_committed and 3
//!   read_uncommitted; a non-transactional batch of the producer is INVALID_TXN_STATE (48);
//!   DescribeProducers shows `current_txn_start_offset` 1 and `coordinator_epoch` -1;
//! - aborted: read_committed from 0..=3 carries `[(producer, 1)]` and every batch, marker
//!   included, from 4 nothing and `[]`; the LSO and ListOffsets LATEST are 4;
//!   DescribeProducers shows `current_txn_start_offset` -1 and the marker's coordinator epoch.
//!
//! # References
//! - KIP-98 (transactions, the LSO, `read_committed`), KIP-392 (fetch from followers)
//! - `UnifiedLog.read` (`FetchIsolation.TXN_COMMITTED`), `Partition.fetchOffsetForTimestamp`,
//!   `ProducerAppendInfo.appendDataBatch`, `ReplicaManager.activeProducerState`

mod common;

use bytes::{Bytes, BytesMut};
use common::Conn;
use common::cluster::{
    FetchAs, batch, connect, create_topic_with, describe_producers, eventually,
    fetch_partition_waiting, list_offsets_isolated, name, now_ms, partition0, produce, produce_as,
    start,
};
use kafka_protocol::messages::*;
use reference::cluster::Cluster;
use reference::record_batch::{self, BatchHeader, ControlType, encode_control_batch};
use uuid::Uuid;

const PRODUCER: i64 = 4_242;
const TRANSACTIONAL_ID: &str = "payments-txn";
const INVALID_TXN_STATE: i16 = 48;
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;

/// `count` records from key `first` of [`PRODUCER`] at epoch 0 from `sequence`.
fn producer_batch(first: usize, count: usize, sequence: i32, transactional: bool) -> Bytes {
    batch_of(PRODUCER, first, count, sequence, transactional)
}

/// [`producer_batch`] of producer `producer_id`.
fn batch_of(
    producer_id: i64,
    first: usize,
    count: usize,
    sequence: i32,
    transactional: bool,
) -> Bytes {
    let mut bytes = BytesMut::from(&batch(first, count, |_| now_ms())[..]);
    record_batch::set_producer(&mut bytes, producer_id, 0, sequence, transactional);
    bytes.freeze()
}

/// Produce v9 with the transactional id to partition 0: (error code, base offset).
async fn produce_transactional(conn: &mut Conn, topic: &str, records: Bytes) -> (i16, i64) {
    let p = produce_as(conn, Some(TRANSACTIONAL_ID), topic, -1, 10_000, records).await;
    (p.error_code, p.base_offset)
}

/// What a consumer's Fetch of partition 0 answered, in the terms the doc compares.
#[derive(Debug, PartialEq, Eq)]
struct Fetched {
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    /// `(producer id, first offset)`; `None` for a null list.
    aborted: Option<Vec<(i64, i64)>>,
    /// `(base offset, last offset)` of each batch.
    batches: Vec<(i64, i64)>,
}

/// Fetch v12 of partition 0 of `topic` from `offset` at `isolation_level`.
async fn fetch(conn: &mut Conn, topic: &str, offset: i64, isolation_level: i8) -> Fetched {
    fetch_waiting(conn, topic, offset, isolation_level, 0).await
}

/// [`fetch`] that waits up to `max_wait_ms` for a byte.
async fn fetch_waiting(
    conn: &mut Conn,
    topic: &str,
    offset: i64,
    isolation_level: i8,
    max_wait_ms: i32,
) -> Fetched {
    let how = FetchAs::consumer(12, -1);
    let p = fetch_partition_waiting(
        conn,
        topic,
        Uuid::nil(),
        offset,
        how,
        isolation_level,
        max_wait_ms,
    )
    .await;
    let (headers, _) = record_batch::scan_valid_prefix(p.records.as_deref().unwrap_or_default());
    Fetched {
        error_code: p.error_code,
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p.aborted_transactions.map(|list| {
            list.iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect()
        }),
        batches: headers
            .iter()
            .map(|h: &BatchHeader| (h.base_offset, h.last_offset()))
            .collect(),
    }
}

fn fetched(hw: i64, lso: i64, aborted: Option<Vec<(i64, i64)>>, batches: &[(i64, i64)]) -> Fetched {
    Fetched {
        error_code: 0,
        high_watermark: hw,
        last_stable_offset: lso,
        aborted,
        batches: batches.to_vec(),
    }
}

/// ListOffsets v5 LATEST of partition 0 at `isolation_level`: (error code, offset).
async fn latest(conn: &mut Conn, topic: &str, isolation_level: i8) -> (i16, i64) {
    let p = list_offsets_isolated(conn, topic, 5, -1, isolation_level).await;
    (p.error_code, p.offset)
}

/// DescribeProducers of partition 0: (producer id, coordinator epoch, current transaction
/// start offset) of each.
async fn producers(conn: &mut Conn, topic: &str) -> Vec<(i64, i32, i64)> {
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(name(topic))
            .with_partition_indexes(vec![0]),
    ]);
    let mut r = describe_producers(conn, req).await;
    let p = r.topics.remove(0).partitions.remove(0);
    assert_eq!(p.error_code, 0);
    p.active_producers
        .iter()
        .map(|s| {
            (
                s.producer_id.0,
                s.coordinator_epoch,
                s.current_txn_start_offset,
            )
        })
        .collect()
}

/// Appends [`PRODUCER`]'s end marker (coordinator epoch 0) to partition 0 of `topic` on
/// its leader `broker`, as WriteTxnMarkers will: its offset.
fn write_marker(cluster: &Cluster, broker: i32, topic: &str, control: ControlType) -> i64 {
    let node = cluster.node(broker).expect("a running broker");
    let mut guard = node.state();
    let state = &mut *guard;
    let topic_id = state.image.topic_id(topic).expect("the topic exists");
    let replica = state
        .partitions
        .get_mut(&(topic_id, 0))
        .expect("the broker has a replica");
    let mut marker = encode_control_batch(PRODUCER, 0, 0, control, now_ms());
    let (info, _) = replica
        .append_marker(&mut marker, 1, 0, 30_000, &state.image, now_ms(), 0)
        .expect("the leader appends the marker");
    info.base_offset
}

/// A plain record at 0 and [`PRODUCER`]'s transaction at 1..=2 on `topic`.
async fn open_a_transaction(conn: &mut Conn, topic: &str) {
    assert_eq!(
        produce(conn, topic, -1, batch(0, 1, |_| now_ms())).await,
        (0, 0)
    );
    let records = producer_batch(1, 2, 0, true);
    assert_eq!(produce_transactional(conn, topic, records).await, (0, 1));
}

#[tokio::test]
async fn read_committed_stops_at_an_open_transaction_and_drops_an_aborted_one() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    open_a_transaction(&mut conn, topic).await;
    // While it is open the producer writes transactionally only.
    let plain = producer_batch(3, 1, 2, false);
    assert_eq!(
        produce_transactional(&mut conn, topic, plain).await.0,
        INVALID_TXN_STATE
    );
    let empty = Some(Vec::new());
    assert_eq!(
        fetch(&mut conn, topic, 0, READ_COMMITTED).await,
        fetched(3, 1, empty.clone(), &[(0, 0)])
    );
    assert_eq!(
        fetch(&mut conn, topic, 1, READ_COMMITTED).await,
        fetched(3, 1, empty.clone(), &[])
    );
    assert_eq!(
        fetch(&mut conn, topic, 0, READ_UNCOMMITTED).await,
        fetched(3, 1, None, &[(0, 0), (1, 2)])
    );
    assert_eq!(latest(&mut conn, topic, READ_COMMITTED).await, (0, 1));
    assert_eq!(latest(&mut conn, topic, READ_UNCOMMITTED).await, (0, 3));
    assert_eq!(producers(&mut conn, topic).await, [(PRODUCER, -1, 1)]);

    assert_eq!(write_marker(&cluster, 1, topic, ControlType::Abort), 3);
    let all = [(0, 0), (1, 2), (3, 3)];
    let aborted = Some(vec![(PRODUCER, 1)]);
    for from in 0..=3 {
        let expected = all.iter().copied().filter(|&(_, last)| last >= from);
        let expected: Vec<(i64, i64)> = expected.collect();
        assert_eq!(
            fetch(&mut conn, topic, from, READ_COMMITTED).await,
            fetched(4, 4, aborted.clone(), &expected),
            "read_committed from {from}"
        );
    }
    assert_eq!(
        fetch(&mut conn, topic, 4, READ_COMMITTED).await,
        fetched(4, 4, empty, &[])
    );
    assert_eq!(
        fetch(&mut conn, topic, 0, READ_UNCOMMITTED).await,
        fetched(4, 4, None, &all)
    );
    assert_eq!(latest(&mut conn, topic, READ_COMMITTED).await, (0, 4));
    assert_eq!(producers(&mut conn, topic).await, [(PRODUCER, 0, -1)]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_follower_serves_read_committed_from_its_own_producer_state() {
    let cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments-replicated";
    create_topic_with(&mut conn, topic, 1, 3, &[]).await;
    let p = eventually("a leader", async || {
        partition0(&mut conn, topic).await.filter(|p| p.leader >= 0)
    })
    .await;
    let mut leader = connect(&cluster, p.leader).await;
    open_a_transaction(&mut leader, topic).await;
    let follower_id = *p.replicas.iter().find(|&&b| b != p.leader).unwrap();
    let mut follower = connect(&cluster, follower_id).await;
    let open = eventually("the follower has the transaction", async || {
        let f = fetch(&mut follower, topic, 0, READ_COMMITTED).await;
        (f.high_watermark == 3).then_some(f)
    })
    .await;
    assert_eq!(open, fetched(3, 1, Some(Vec::new()), &[(0, 0)]));
    assert_eq!(
        write_marker(&cluster, p.leader, topic, ControlType::Abort),
        3
    );
    let aborted = eventually("the follower has the marker", async || {
        let f = fetch(&mut follower, topic, 1, READ_COMMITTED).await;
        (f.last_stable_offset == 4).then_some(f)
    })
    .await;
    assert_eq!(
        aborted,
        fetched(4, 4, Some(vec![(PRODUCER, 1)]), &[(1, 2), (3, 3)])
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_read_committed_fetch_at_the_lso_waits_like_one_at_the_log_end() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments-waiting";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    open_a_transaction(&mut conn, topic).await;
    // Kafka's DelayedFetch counts a read_committed fetch's bytes only up to the LSO: Kafka
    // 4.3.1 waited the whole 800 ms asked for at the LSO, and answered at once from 0.
    let started = std::time::Instant::now();
    let f = fetch_waiting(&mut conn, topic, 1, READ_COMMITTED, 400).await;
    assert!(
        started.elapsed().as_millis() >= 350,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f, fetched(3, 1, Some(Vec::new()), &[]));
    let started = std::time::Instant::now();
    let f = fetch_waiting(&mut conn, topic, 1, READ_UNCOMMITTED, 5_000).await;
    assert!(
        started.elapsed().as_millis() < 2_000,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.batches, [(1, 2)]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_restart_rebuilds_open_and_aborted_transactions_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(1, Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments-durable";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    open_a_transaction(&mut conn, topic).await;
    assert_eq!(write_marker(&cluster, 1, topic, ControlType::Abort), 3);
    let other = batch_of(PRODUCER + 1, 4, 2, 0, true);
    assert_eq!(produce_transactional(&mut conn, topic, other).await, (0, 4));
    let before = fetch(&mut conn, topic, 0, READ_COMMITTED).await;
    let expected = fetched(6, 4, Some(vec![(PRODUCER, 1)]), &[(0, 0), (1, 2), (3, 3)]);
    assert_eq!(before, expected);
    cluster.stop(1).await;
    cluster.start_broker(1).await.expect("restart");
    let mut conn = connect(&cluster, 1).await;
    let after = eventually("the partition is back", async || {
        let f = fetch(&mut conn, topic, 0, READ_COMMITTED).await;
        (f.error_code == 0 && f.high_watermark == 6).then_some(f)
    })
    .await;
    assert_eq!(after, expected);
    assert_eq!(
        producers(&mut conn, topic).await,
        [(PRODUCER, 0, -1), (PRODUCER + 1, -1, 4)]
    );
    cluster.shutdown().await;
}
