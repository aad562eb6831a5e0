//! The transaction coordinator over the raw wire: FindCoordinator for a transactional id,
//! InitProducerId's epochs and fencing, AddPartitionsToTxn (a client's v3 and a broker's
//! verify-only v5), DescribeTransactions, ListTransactions and EndTxn, on one broker and on
//! a cluster of three, where the coordinator is the leader of the id's partition of
//! `__transaction_state`.
//!
//! [`EXPECTED`] is what Apache Kafka 4.3.1 answered to the steps of [`scenario`]. To check
//! it against a real Kafka again, run
//! `KAFKA_SPEC_BOOTSTRAP=127.0.0.1:<port> cargo test -p kafka-spec-reference --test
//! transactions -- against_a_bootstrap --nocapture`: the same steps go to that broker and
//! each answer is compared with the table.
//!
//! # References
//! - KIP-98 (transactions), KIP-664 (describe, list), KIP-890 (verification, TV2)

mod common;

use std::collections::BTreeMap;

use common::Conn;
use common::cluster::{connect, create_topic_with, eventually, now_ms, start};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
const TRANSACTION_ABORTABLE: i16 = 120;

/// What Apache Kafka 4.3.1 (one KRaft node) answered to each step of [`scenario`].
const EXPECTED: &[(&str, i16)] = &[
    ("find coordinator", NONE),
    ("init", NONE),
    ("init again", NONE),
    ("add with the fenced epoch", PRODUCER_FENCED),
    ("add", NONE),
    ("add an unknown topic", UNKNOWN_TOPIC_OR_PARTITION),
    ("add beside an unknown topic", OPERATION_NOT_ATTEMPTED),
    ("describe", NONE),
    ("describe an unknown id", TRANSACTIONAL_ID_NOT_FOUND),
    ("list", NONE),
    ("end an unknown id", INVALID_PRODUCER_ID_MAPPING),
    ("init with timeout 0", INVALID_TRANSACTION_TIMEOUT),
    ("verify an added partition", NONE),
    ("verify a partition not added", TRANSACTION_ABORTABLE),
    ("commit", NONE),
    ("v5 abort with nothing added", NONE),
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn txn_id(v: &str) -> TransactionalId {
    TransactionalId(s(v))
}

/// FindCoordinator v4 for a transactional id: (error code, node id, host, port).
async fn find_coordinator(conn: &mut Conn, id: &str) -> (i16, i32, String, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(id)]);
    let r = common::cluster::find_coordinator(conn, 4, req).await;
    let c = &r.coordinators[0];
    (c.error_code, c.node_id.0, c.host.to_string(), c.port)
}

/// A connection to the coordinator of `id`, asked through `conn` until one is found.
async fn coordinator(conn: &mut Conn, id: &str) -> (i32, Conn) {
    let (node, host, port) = eventually("a transaction coordinator", async || {
        let (code, node, host, port) = find_coordinator(conn, id).await;
        assert!(
            [NONE, COORDINATOR_NOT_AVAILABLE].contains(&code),
            "FindCoordinator answered {code}"
        );
        (code == NONE).then_some((node, host, port))
    })
    .await;
    (node, Conn::connect(&format!("{host}:{port}")).await)
}

/// InitProducerId v4: (error code, producer id, epoch).
async fn init(conn: &mut Conn, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(r) = conn
        .call(ApiKey::InitProducerId, 4, RequestKind::InitProducerId(req))
        .await
    else {
        panic!("not InitProducerId")
    };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// InitProducerId asked again while the coordinator is being set up.
async fn init_when_ready(conn: &mut Conn, id: &str) -> (i16, i64, i16) {
    let retriable = [
        COORDINATOR_NOT_AVAILABLE,
        NOT_COORDINATOR,
        COORDINATOR_LOAD_IN_PROGRESS,
        CONCURRENT_TRANSACTIONS,
    ];
    eventually("InitProducerId answered", async || {
        let r = init(conn, id, 60_000).await;
        (!retriable.contains(&r.0)).then_some(r)
    })
    .await
}

async fn call_add_partitions(
    conn: &mut Conn,
    version: i16,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let request = RequestKind::AddPartitionsToTxn(req);
    let ResponseKind::AddPartitionsToTxn(r) = conn
        .call(ApiKey::AddPartitionsToTxn, version, request)
        .await
    else {
        panic!("not AddPartitionsToTxn")
    };
    r
}

/// AddPartitionsToTxn v3 (a client's): each (topic, partition, error code).
async fn add(
    conn: &mut Conn,
    id: &str,
    pid: i64,
    epoch: i16,
    topics: &[(&str, &[i32])],
) -> Vec<(String, i32, i16)> {
    let topics = topics
        .iter()
        .map(|(t, p)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(p.to_vec())
        })
        .collect();
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let r = call_add_partitions(conn, 3, req).await;
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect()
}

/// AddPartitionsToTxn v5 verify-only (a partition leader's): partition -> error code.
async fn verify(
    conn: &mut Conn,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partitions: &[i32],
) -> BTreeMap<i32, i16> {
    let txn = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_verify_only(true)
        .with_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(partitions.to_vec()),
        ]);
    let req = AddPartitionsToTxnRequest::default().with_transactions(vec![txn]);
    let r = call_add_partitions(conn, 5, req).await;
    assert_eq!(r.error_code, NONE);
    r.results_by_transaction[0]
        .topic_results
        .iter()
        .flat_map(|t| t.results_by_partition.iter())
        .map(|p| (p.partition_index, p.partition_error_code))
        .collect()
}

async fn describe(conn: &mut Conn, id: &str) -> describe_transactions_response::TransactionState {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
    let ResponseKind::DescribeTransactions(mut r) = conn
        .call(
            ApiKey::DescribeTransactions,
            0,
            RequestKind::DescribeTransactions(req),
        )
        .await
    else {
        panic!("not DescribeTransactions")
    };
    r.transaction_states.remove(0)
}

async fn list(conn: &mut Conn, states: &[&str]) -> ListTransactionsResponse {
    let req = ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|v| s(v)).collect())
        .with_duration_filter(-1);
    let ResponseKind::ListTransactions(r) = conn
        .call(
            ApiKey::ListTransactions,
            1,
            RequestKind::ListTransactions(req),
        )
        .await
    else {
        panic!("not ListTransactions")
    };
    r
}

/// EndTxn at `version`: (error code, producer id, epoch).
async fn end(
    conn: &mut Conn,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> (i16, i64, i16) {
    let req = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = conn
        .call(ApiKey::EndTxn, version, RequestKind::EndTxn(req))
        .await
    else {
        panic!("not EndTxn")
    };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// The steps, through `bootstrap` to a broker with topic `topic` (3 partitions): each
/// step's error code, in [`EXPECTED`]'s order.
async fn scenario(bootstrap: &mut Conn, topic: &str) -> Vec<(&'static str, i16)> {
    let id = format!("payments-processor-{}", now_ms());
    let mut seen = Vec::new();
    let (_, mut conn) = coordinator(bootstrap, &id).await;
    seen.push(("find coordinator", NONE));
    let (code, pid, epoch) = init_when_ready(&mut conn, &id).await;
    seen.push(("init", code));
    let (code, pid2, epoch2) = init_when_ready(&mut conn, &id).await;
    seen.push(("init again", code));
    assert_eq!(
        (pid2, epoch2),
        (pid, epoch + 1),
        "the second init bumps the epoch"
    );
    let fenced = add(&mut conn, &id, pid, epoch, &[(topic, &[0])]).await;
    seen.push(("add with the fenced epoch", fenced[0].2));
    let added = add(&mut conn, &id, pid, epoch2, &[(topic, &[0, 1])]).await;
    assert!(added.iter().all(|r| r.2 == added[0].2), "{added:?}");
    seen.push(("add", added[0].2));
    let unknown = add(
        &mut conn,
        &id,
        pid,
        epoch2,
        &[("no-such-topic", &[0]), (topic, &[2])],
    )
    .await;
    let code_of = |t: &str| unknown.iter().find(|r| r.0 == t).map_or(-1, |r| r.2);
    seen.push(("add an unknown topic", code_of("no-such-topic")));
    seen.push(("add beside an unknown topic", code_of(topic)));
    let d = describe(&mut conn, &id).await;
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch2));
    let topics: Vec<_> = d
        .topics
        .iter()
        .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
        .collect();
    assert_eq!(topics, vec![(topic.to_string(), vec![0, 1])]);
    seen.push(("describe", d.error_code));
    seen.push((
        "describe an unknown id",
        describe(&mut conn, &format!("{id}-unknown"))
            .await
            .error_code,
    ));
    let listed = list(&mut conn, &["Ongoing", "Bogus"]).await;
    let mine: Vec<_> = listed
        .transaction_states
        .iter()
        .filter(|t| t.transactional_id.0.as_str() == id)
        .map(|t| (t.producer_id.0, t.transaction_state.to_string()))
        .collect();
    assert_eq!(mine, vec![(pid, "Ongoing".to_string())]);
    assert_eq!(listed.unknown_state_filters, vec![s("Bogus")]);
    seen.push(("list", listed.error_code));
    let unknown_end = end(&mut conn, 3, &format!("{id}-unknown"), pid, 0, true).await;
    seen.push(("end an unknown id", unknown_end.0));
    seen.push(("init with timeout 0", init(&mut conn, &id, 0).await.0));
    let verified = verify(&mut conn, &id, pid, epoch2, topic, &[0, 2]).await;
    seen.push(("verify an added partition", verified[&0]));
    seen.push(("verify a partition not added", verified[&2]));
    seen.push(("commit", end(&mut conn, 3, &id, pid, epoch2, true).await.0));
    let empty_id = format!("{id}-empty");
    let (_, mut empty_conn) = coordinator(bootstrap, &empty_id).await;
    let (_, epid, eepoch) = init_when_ready(&mut empty_conn, &empty_id).await;
    let aborted = end(&mut empty_conn, 5, &empty_id, epid, eepoch, false).await;
    assert_eq!(
        (aborted.1, aborted.2),
        (epid, eepoch + 1),
        "TV2 bumps the epoch"
    );
    seen.push(("v5 abort with nothing added", aborted.0));
    // Kafka writes PrepareAbort, then CompleteAbort at once (no markers to write).
    eventually("the empty abort completes", async || {
        let state = describe(&mut empty_conn, &empty_id).await.transaction_state;
        assert!(
            ["PrepareAbort", "CompleteAbort"].contains(&state.as_str()),
            "{state}"
        );
        (state.as_str() == "CompleteAbort").then_some(())
    })
    .await;
    seen
}

fn compare(seen: &[(&'static str, i16)]) {
    for ((what, code), (expected_what, expected)) in seen.iter().zip(EXPECTED) {
        assert_eq!(what, expected_what);
        assert_eq!(code, expected, "{what}");
    }
    assert_eq!(seen.len(), EXPECTED.len());
}

#[tokio::test]
async fn one_broker_answers_as_kafka() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 3, 1, &[]).await;
    let seen = scenario(&mut conn, "payments").await;
    compare(&seen);
    internal_topic(&mut conn).await;
}

/// The coordinator's topic is internal, as Kafka's is: marked so, and no client writes it.
async fn internal_topic(conn: &mut Conn) {
    let topic = "__transaction_state";
    let m = common::cluster::metadata(conn, topic).await;
    assert!(m.topics[0].is_internal);
    let records = common::cluster::batch(0, 1, |_| now_ms());
    let (code, _) = common::cluster::produce(conn, topic, -1, records).await;
    assert_eq!(code, INVALID_TOPIC_EXCEPTION);
}

/// A commit is answered once PrepareCommit is written; the markers follow (WriteTxnMarkers
/// to the partition's leader, here the same broker) and the transaction reaches
/// CompleteCommit, while the coordinator serves other transactional ids meanwhile. Until
/// then a new AddPartitionsToTxn of the id answers CONCURRENT_TRANSACTIONS, as in Kafka.
#[tokio::test]
async fn a_commit_completes_once_its_markers_are_written() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 1, 1, &[]).await;
    let id = "payments-committer";
    let (_, mut conn) = coordinator(&mut conn, id).await;
    let (_, pid, epoch) = init_when_ready(&mut conn, id).await;
    assert_eq!(
        add(&mut conn, id, pid, epoch, &[("payments", &[0])]).await[0].2,
        NONE
    );
    assert_eq!(end(&mut conn, 3, id, pid, epoch, true).await.0, NONE);
    let (code, _, _) = init_when_ready(&mut conn, "another-producer").await;
    assert_eq!(code, NONE, "another transactional id is served meanwhile");
    common::cluster::eventually("the commit's markers", async || {
        let state = describe(&mut conn, id).await.transaction_state.to_string();
        assert!(
            ["PrepareCommit", "CompleteCommit"].contains(&state.as_str()),
            "{state}"
        );
        (state == "CompleteCommit").then_some(())
    })
    .await;
    let (code, lso) = last_stable_offset(&mut conn, "payments").await;
    assert_eq!(
        (code, lso),
        (NONE, 1),
        "the marker at 0 is below the high watermark"
    );
}

/// Partition 0's error code and last stable offset, as a read_committed Fetch answers.
async fn last_stable_offset(conn: &mut Conn, topic: &str) -> (i16, i64) {
    let how = common::cluster::FetchAs::consumer(12, -1);
    let fetched =
        common::cluster::fetch_partition_waiting(conn, topic, uuid::Uuid::nil(), 0, how, 1, 0)
            .await;
    (fetched.error_code, fetched.last_stable_offset)
}

#[tokio::test]
async fn three_brokers_one_coordinator_per_id() {
    let configs = [("transaction.state.log.num.partitions", "5")];
    let cluster = start(3, None, &configs).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 3, 3, &[]).await;
    let id = "payments-processor";
    let (leader, mut coord) = coordinator(&mut conn, id).await;
    assert!(cluster.address(leader).is_some(), "a live broker: {leader}");
    let (code, pid, epoch) = init_when_ready(&mut coord, id).await;
    assert_eq!(code, NONE);
    for other in (1..=3).filter(|b| *b != leader) {
        let mut elsewhere = connect(&cluster, other).await;
        assert_eq!(init(&mut elsewhere, id, 60_000).await.0, NOT_COORDINATOR);
    }
    let (_, _, epoch2) = init_when_ready(&mut coord, id).await;
    assert_eq!(epoch2, epoch + 1);
    let fenced = add(&mut coord, id, pid, epoch, &[("payments", &[1])]).await;
    assert_eq!(fenced[0].2, PRODUCER_FENCED);
    assert_eq!(
        add(&mut coord, id, pid, epoch2, &[("payments", &[1])]).await[0].2,
        NONE
    );
    let d = describe(&mut coord, id).await;
    assert_eq!(
        (d.error_code, d.transaction_state.as_str()),
        (NONE, "Ongoing")
    );
    let listed = list(&mut coord, &[]).await;
    assert!(
        listed
            .transaction_states
            .iter()
            .any(|t| t.transactional_id.0.as_str() == id)
    );
}

/// The same steps against a real Kafka at `KAFKA_SPEC_BOOTSTRAP` (skipped, saying so,
/// when it is not set). The broker needs a topic `txn-probe` with 3 partitions; it is
/// created if missing.
#[tokio::test]
async fn against_a_bootstrap() {
    let Ok(bootstrap) = std::env::var("KAFKA_SPEC_BOOTSTRAP") else {
        eprintln!("skipped: KAFKA_SPEC_BOOTSTRAP is not set");
        return;
    };
    let mut conn = Conn::connect(&bootstrap).await;
    let created = common::cluster::create_topic_request(&mut conn, "txn-probe", 3, 1, &[]).await;
    assert!([NONE, 36].contains(&created.error_code), "{created:?}");
    let seen = scenario(&mut conn, "txn-probe").await;
    for (what, code) in &seen {
        eprintln!("{what}: {code}");
    }
    compare(&seen);
    internal_topic(&mut conn).await;
}

/// `transaction.timeout.ms` passes: the coordinator's timer fences the producer (the epoch
/// goes up) and aborts its transaction; an idle id expires after
/// `transactional.id.expiration.ms` and is no longer found.
#[tokio::test]
async fn timers_abort_timed_out_transactions_and_expire_idle_ids() {
    let configs = [
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "50",
        ),
        (
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "50",
        ),
        ("transactional.id.expiration.ms", "300"),
    ];
    let cluster = start(1, None, &configs).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 1, 1, &[]).await;
    let id = "payments-slow";
    let (_, mut conn) = coordinator(&mut conn, id).await;
    let (code, pid, epoch) = eventually("InitProducerId", async || {
        let r = init(&mut conn, id, 200).await;
        (r.0 != COORDINATOR_NOT_AVAILABLE && r.0 != COORDINATOR_LOAD_IN_PROGRESS).then_some(r)
    })
    .await;
    assert_eq!(code, NONE);
    assert_eq!(
        add(&mut conn, id, pid, epoch, &[("payments", &[0])]).await[0].2,
        NONE
    );
    let d = eventually("the timeout's abort", async || {
        let d = describe(&mut conn, id).await;
        (d.transaction_state.as_str() != "Ongoing").then_some(d)
    })
    .await;
    assert!(
        ["PrepareAbort", "CompleteAbort"].contains(&d.transaction_state.as_str()),
        "{d:?}"
    );
    assert_eq!(d.producer_epoch, epoch + 1, "the producer is fenced");
    let fenced = add(&mut conn, id, pid, epoch, &[("payments", &[0])]).await;
    assert!([PRODUCER_FENCED, CONCURRENT_TRANSACTIONS].contains(&fenced[0].2));

    let idle = "payments-idle";
    let (code, _, _) = init_when_ready(&mut conn, idle).await;
    assert_eq!(code, NONE);
    eventually("the idle id expires", async || {
        let d = describe(&mut conn, idle).await;
        (d.error_code == TRANSACTIONAL_ID_NOT_FOUND).then_some(())
    })
    .await;
}

/// The coordinator's broker stops: the next leader of the id's `__transaction_state`
/// partition loads it and serves the open transaction as it was.
#[tokio::test]
async fn a_new_coordinator_takes_over_the_open_transaction() {
    let configs = [("transaction.state.log.num.partitions", "3")];
    let mut cluster = start(3, None, &configs).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "payments", 2, 3, &[]).await;
    let id = "payments-failover";
    let (leader, mut coord) = coordinator(&mut conn, id).await;
    let (_, pid, epoch) = init_when_ready(&mut coord, id).await;
    assert_eq!(
        add(&mut coord, id, pid, epoch, &[("payments", &[0, 1])]).await[0].2,
        NONE
    );
    cluster.stop(leader).await;
    let survivor = (1..=3).find(|b| *b != leader).unwrap();
    let mut via = connect(&cluster, survivor).await;
    let d = eventually("a new coordinator with the transaction", async || {
        let (code, node, host, port) = find_coordinator(&mut via, id).await;
        if code != NONE || node == leader {
            return None;
        }
        let mut c = Conn::connect(&format!("{host}:{port}")).await;
        let d = describe(&mut c, id).await;
        (d.error_code == NONE).then_some(d)
    })
    .await;
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
    assert_eq!(d.topics[0].partitions, vec![0, 1]);
}
