//! The partition log's side of transactions over the wire: the last stable offset in Fetch
//! and ListOffsets, `read_committed` fetches and their aborted transactions, INVALID_TXN_STATE
//! and DescribeProducers, on one broker and from a follower (KIP-392).
//!
//! Each transaction goes through the real protocol, as a client's does: FindCoordinator
//! (key type 1) and InitProducerId for a transactional id give the producer id and epoch,
//! AddPartitionsToTxn v3 adds partition 0, the transactional batch (sequence 0) is produced
//! to the partition's leader (which verifies it with the coordinator, KIP-890), and EndTxn
//! v3 ends it; the coordinator then writes the end marker through WriteTxnMarkers, and the
//! test waits until the last stable offset moves past it before observing everything over
//! the wire again, as a client sees it.
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
//!   DescribeProducers shows `current_txn_start_offset` -1 and the marker's coordinator epoch
//!   (0: the first leader epoch of the id's `__transaction_state` partition).
//!
//! # References
//! - KIP-98 (transactions, the LSO, `read_committed`), KIP-392 (fetch from followers),
//!   KIP-890 (the leader's verification of a transactional produce)
//! - `UnifiedLog.read` (`FetchIsolation.TXN_COMMITTED`), `Partition.fetchOffsetForTimestamp`,
//!   `ProducerAppendInfo.appendDataBatch`, `ReplicaManager.activeProducerState`,
//!   `TransactionCoordinator.handleEndTransaction`

mod common;

use bytes::{Bytes, BytesMut};
use common::Conn;
use common::cluster::{
    FetchAs, batch, connect, create_topic_with, describe_producers, eventually,
    fetch_partition_waiting, list_offsets_isolated, name, now_ms, partition0, produce, produce_as,
    start,
};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::record_batch::{self, BatchHeader};
use uuid::Uuid;

const TRANSACTIONAL_ID: &str = "payments-txn";
const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const INVALID_TXN_STATE: i16 = 48;
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
/// The coordinator epoch of a marker written by a fresh single broker's coordinator.
const FIRST_COORDINATOR_EPOCH: i32 = 0;

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// A connection to the transaction coordinator of `id`, asked through `conn` (FindCoordinator
/// v4, key type 1) until one is found.
async fn coordinator(conn: &mut Conn, id: &str) -> Conn {
    let (host, port) = eventually("a transaction coordinator", async || {
        let req = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![StrBytes::from_string(id.to_string())]);
        let r = common::cluster::find_coordinator(conn, 4, req).await;
        let c = &r.coordinators[0];
        assert!(
            [NONE, COORDINATOR_NOT_AVAILABLE].contains(&c.error_code),
            "FindCoordinator answered {}",
            c.error_code
        );
        (c.error_code == NONE).then(|| (c.host.to_string(), c.port))
    })
    .await;
    Conn::connect(&format!("{host}:{port}")).await
}

/// InitProducerId v4 for `id`, asked again while the coordinator loads: (producer id, epoch).
async fn init_when_ready(conn: &mut Conn, id: &str) -> (i64, i16) {
    let (code, producer_id, epoch) = eventually("InitProducerId answered", async || {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id(id)))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(r) = conn
            .call(ApiKey::InitProducerId, 4, RequestKind::InitProducerId(req))
            .await
        else {
            panic!("not InitProducerId")
        };
        let retriable = [COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE];
        (!retriable.contains(&r.error_code)).then_some((
            r.error_code,
            r.producer_id.0,
            r.producer_epoch,
        ))
    })
    .await;
    assert_eq!(code, NONE, "InitProducerId of {id}");
    (producer_id, epoch)
}

/// A transactional producer with an open transaction on partition 0 of a topic, begun
/// through its coordinator.
struct Txn {
    id: String,
    coordinator: Conn,
    producer_id: i64,
    epoch: i16,
}

/// InitProducerId for `id` and AddPartitionsToTxn v3 of partition 0 of `topic`, through
/// the coordinator found via `bootstrap`.
async fn begin(bootstrap: &mut Conn, id: &str, topic: &str) -> Txn {
    let mut coordinator = coordinator(bootstrap, id).await;
    let (producer_id, epoch) = init_when_ready(&mut coordinator, id).await;
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(producer_id))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![0]),
        ]);
    let request = RequestKind::AddPartitionsToTxn(req);
    let ResponseKind::AddPartitionsToTxn(r) = coordinator
        .call(ApiKey::AddPartitionsToTxn, 3, request)
        .await
    else {
        panic!("not AddPartitionsToTxn")
    };
    let codes: Vec<i16> = r
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter())
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, [NONE], "AddPartitionsToTxn of {topic}-0");
    Txn {
        id: id.to_string(),
        coordinator,
        producer_id,
        epoch,
    }
}

impl Txn {
    /// `count` records from key `first` of this producer at its epoch from `sequence`.
    fn batch(&self, first: usize, count: usize, sequence: i32, transactional: bool) -> Bytes {
        let mut bytes = BytesMut::from(&batch(first, count, |_| now_ms())[..]);
        record_batch::set_producer(
            &mut bytes,
            self.producer_id,
            self.epoch,
            sequence,
            transactional,
        );
        bytes.freeze()
    }

    /// Produce v9 of `records` with this transactional id to partition 0 of `topic` on its
    /// leader `conn`: (error code, base offset).
    async fn produce(&self, conn: &mut Conn, topic: &str, records: Bytes) -> (i16, i64) {
        let p = produce_as(conn, Some(&self.id), topic, -1, 10_000, records).await;
        (p.error_code, p.base_offset)
    }

    /// EndTxn v3 (the classic protocol: the epoch stays) aborting the transaction; the
    /// coordinator writes the markers afterwards.
    async fn abort(&mut self) {
        let req = EndTxnRequest::default()
            .with_transactional_id(txn_id(&self.id))
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.epoch)
            .with_committed(false);
        let ResponseKind::EndTxn(r) = self
            .coordinator
            .call(ApiKey::EndTxn, 3, RequestKind::EndTxn(req))
            .await
        else {
            panic!("not EndTxn")
        };
        assert_eq!(r.error_code, NONE, "EndTxn of {}", self.id);
    }
}

/// Waits on the leader `conn` until partition 0's last stable offset (ListOffsets LATEST,
/// read_committed) is `lso`: the coordinator's marker is written.
async fn marker_written(conn: &mut Conn, topic: &str, lso: i64) {
    eventually("the coordinator's marker", async || {
        let (code, offset) = latest(conn, topic, READ_COMMITTED).await;
        assert_eq!(code, NONE);
        assert!(offset <= lso, "the LSO {offset} passed {lso}");
        (offset == lso).then_some(())
    })
    .await;
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

/// A plain record at 0 on `topic`, then a transaction of `id` at 1..=2, produced to the
/// partition's leader `conn` (the coordinator found through it): the open transaction.
async fn open_a_transaction(conn: &mut Conn, id: &str, topic: &str) -> Txn {
    assert_eq!(
        produce(conn, topic, -1, batch(0, 1, |_| now_ms())).await,
        (0, 0)
    );
    let txn = begin(conn, id, topic).await;
    let records = txn.batch(1, 2, 0, true);
    assert_eq!(txn.produce(conn, topic, records).await, (0, 1));
    txn
}

#[tokio::test]
async fn read_committed_stops_at_an_open_transaction_and_drops_an_aborted_one() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    let mut txn = open_a_transaction(&mut conn, TRANSACTIONAL_ID, topic).await;
    let producer = txn.producer_id;
    // While it is open the producer writes transactionally only.
    let plain = txn.batch(3, 1, 2, false);
    assert_eq!(
        txn.produce(&mut conn, topic, plain).await.0,
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
    assert_eq!(producers(&mut conn, topic).await, [(producer, -1, 1)]);

    txn.abort().await;
    marker_written(&mut conn, topic, 4).await;
    let all = [(0, 0), (1, 2), (3, 3)];
    let aborted = Some(vec![(producer, 1)]);
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
    assert_eq!(
        producers(&mut conn, topic).await,
        [(producer, FIRST_COORDINATOR_EPOCH, -1)]
    );
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
    let mut txn = open_a_transaction(&mut leader, TRANSACTIONAL_ID, topic).await;
    let follower_id = *p.replicas.iter().find(|&&b| b != p.leader).unwrap();
    let mut follower = connect(&cluster, follower_id).await;
    let open = eventually("the follower has the transaction", async || {
        let f = fetch(&mut follower, topic, 0, READ_COMMITTED).await;
        (f.high_watermark == 3).then_some(f)
    })
    .await;
    assert_eq!(open, fetched(3, 1, Some(Vec::new()), &[(0, 0)]));
    txn.abort().await;
    marker_written(&mut leader, topic, 4).await;
    let aborted = eventually("the follower has the marker", async || {
        let f = fetch(&mut follower, topic, 1, READ_COMMITTED).await;
        (f.last_stable_offset == 4).then_some(f)
    })
    .await;
    assert_eq!(
        aborted,
        fetched(4, 4, Some(vec![(txn.producer_id, 1)]), &[(1, 2), (3, 3)])
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_read_committed_fetch_at_the_lso_waits_like_one_at_the_log_end() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments-waiting";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    open_a_transaction(&mut conn, TRANSACTIONAL_ID, topic).await;
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
    let mut txn = open_a_transaction(&mut conn, TRANSACTIONAL_ID, topic).await;
    txn.abort().await;
    marker_written(&mut conn, topic, 4).await;
    let other = begin(&mut conn, "payments-txn-other", topic).await;
    let records = other.batch(4, 2, 0, true);
    assert_eq!(other.produce(&mut conn, topic, records).await, (0, 4));
    let before = fetch(&mut conn, topic, 0, READ_COMMITTED).await;
    let aborted = Some(vec![(txn.producer_id, 1)]);
    let expected = fetched(6, 4, aborted, &[(0, 0), (1, 2), (3, 3)]);
    assert_eq!(before, expected);
    let mut states = vec![
        (txn.producer_id, FIRST_COORDINATOR_EPOCH, -1),
        (other.producer_id, -1, 4),
    ];
    states.sort_unstable();
    assert_eq!(producers(&mut conn, topic).await, states);
    cluster.stop(1).await;
    cluster.start_broker(1).await.expect("restart");
    let mut conn = connect(&cluster, 1).await;
    let after = eventually("the partition is back", async || {
        let f = fetch(&mut conn, topic, 0, READ_COMMITTED).await;
        (f.error_code == 0 && f.high_watermark == 6).then_some(f)
    })
    .await;
    assert_eq!(after, expected);
    assert_eq!(producers(&mut conn, topic).await, states);
    cluster.shutdown().await;
}

/// Produce v13 (KIP-516) of `records` with transactional id `id` to partition 0 of the
/// topic `topic_id`, named by id only, as the Java 4.x client sends it: (error code, base
/// offset).
async fn produce_by_id(conn: &mut Conn, id: &str, topic_id: Uuid, records: Bytes) -> (i16, i64) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let req = ProduceRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_topic_id(topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let ResponseKind::Produce(mut r) = conn
        .call(ApiKey::Produce, 13, RequestKind::Produce(req))
        .await
    else {
        panic!("not Produce")
    };
    let p = r.responses.remove(0).partition_responses.remove(0);
    (p.error_code, p.base_offset)
}

/// A transactional batch named by topic id (Produce v13) is verified with the coordinator
/// exactly as one named by topic name: a batch at an epoch the coordinator does not hold is
/// refused (PRODUCER_FENCED from the coordinator, answered INVALID_PRODUCER_EPOCH) and
/// nothing is appended; at the transaction's epoch it is appended. (The leader once looked
/// the failures up by the request's topic name, empty in v13, and appended such batches
/// unverified: the Java 4.3 producer on three brokers then wrote into partitions its
/// transaction did not hold, or into the one before it, and the abort marker never came.)
#[tokio::test]
async fn a_transactional_produce_by_topic_id_is_verified_like_one_by_name() {
    const INVALID_PRODUCER_EPOCH: i16 = 47;
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let topic = "payments-by-id";
    create_topic_with(&mut conn, topic, 1, 1, &[]).await;
    let topic_id = common::cluster::metadata_topic(&mut conn, topic)
        .await
        .topic_id;
    let txn = begin(&mut conn, "payments-by-id-txn", topic).await;
    let fenced = || {
        let mut bytes = BytesMut::from(&batch(0, 1, |_| now_ms())[..]);
        record_batch::set_producer(&mut bytes, txn.producer_id, txn.epoch + 1, 0, true);
        bytes.freeze()
    };
    let by_name = produce_as(&mut conn, Some(&txn.id), topic, -1, 10_000, fenced()).await;
    assert_eq!(by_name.error_code, INVALID_PRODUCER_EPOCH, "by name (v9)");
    assert_eq!(
        produce_by_id(&mut conn, &txn.id, topic_id, fenced())
            .await
            .0,
        INVALID_PRODUCER_EPOCH,
        "by id (v13)"
    );
    assert_eq!(
        latest(&mut conn, topic, READ_UNCOMMITTED).await,
        (NONE, 0),
        "nothing appended"
    );
    assert_eq!(
        produce_by_id(&mut conn, &txn.id, topic_id, txn.batch(0, 2, 0, true)).await,
        (NONE, 0)
    );
    assert_eq!(latest(&mut conn, topic, READ_UNCOMMITTED).await, (NONE, 2));
    assert_eq!(latest(&mut conn, topic, READ_COMMITTED).await, (NONE, 0));
    cluster.shutdown().await;
}
