//! Idempotent producers over the wire: InitProducerId, a leader's checks of producer ids,
//! epochs and sequence numbers, and DescribeProducers, on one broker and on three, through a restart and a
//! failover.
//!
//! The table in [`SEQUENCE_RULES`] is what Apache Kafka 4.3.1 answered. To check it against
//! a real Kafka again, start one (`ci/kafka/start.sh --nodes 1`) and run
//! `KAFKA_SPEC_BOOTSTRAP=127.0.0.1:<port> cargo test -p kafka-spec-reference --test idempotence
//! -- against_a_bootstrap --nocapture`: the same steps go to that broker and each answer is
//! compared with the table.
//!
//! # References
//! - KIP-98 (idempotence), KIP-360 (unknown producer ids are accepted)
//! - `UnifiedLog.analyzeAndValidateProducerState`, `ProducerAppendInfo`,
//!   `ProducerStateEntry.findDuplicateBatch`

mod common;

use bytes::{Bytes, BytesMut};
use common::Conn;
use common::cluster::{
    batch, connect, create_topic_with, eventually, now_ms, partition0, produce_with, start,
    stop_preferred_leader,
};
use kafka_protocol::messages::*;
use reference::record_batch::compute_crc;

const NONE: i16 = 0;
const INVALID_REQUEST: i16 = 42;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// The attributes bit of a transactional batch.
const TRANSACTIONAL: i16 = 0x10;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// One produce of the rules table: which producer (0: the first InitProducerId's, 1: the
/// second's, 2: an id no broker issued), its epoch, base sequence and record count, and the
/// (error code, base offset) Kafka answered.
struct Step {
    what: &'static str,
    producer: usize,
    epoch: i16,
    sequence: i32,
    records: usize,
    answer: (i16, i64),
}

const fn step(
    what: &'static str,
    producer: usize,
    epoch: i16,
    sequence: i32,
    records: usize,
    answer: (i16, i64),
) -> Step {
    Step {
        what,
        producer,
        epoch,
        sequence,
        records,
        answer,
    }
}

/// What Apache Kafka 4.3.1 answered, acks=all, to these produces in this order on a fresh
/// one-partition topic.
const SEQUENCE_RULES: &[Step] = &[
    step("first batch", 0, 0, 0, 3, (NONE, 0)),
    step("a retry of it: its offset, no error", 0, 0, 0, 3, (NONE, 0)),
    step(
        "a gap in the sequence",
        0,
        0,
        5,
        1,
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1),
    ),
    step("the next batch", 0, 0, 3, 2, (NONE, 3)),
    step(
        "a retry of the first, still among the last five",
        0,
        0,
        0,
        3,
        (NONE, 0),
    ),
    step(
        "a new epoch not starting at 0",
        0,
        1,
        5,
        1,
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1),
    ),
    step("a new epoch at sequence 0", 0, 1, 0, 1, (NONE, 5)),
    step(
        "the old epoch again",
        0,
        0,
        5,
        1,
        (INVALID_PRODUCER_EPOCH, -1),
    ),
    step(
        "a second producer may start anywhere",
        1,
        0,
        7,
        1,
        (NONE, 6),
    ),
    step(
        "an id no broker issued is accepted too",
        2,
        0,
        0,
        1,
        (NONE, 7),
    ),
];

/// A batch of `count` records of producer `producer_id` at `epoch` from `sequence`.
fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, count: usize) -> Bytes {
    let mut bytes = BytesMut::from(&batch(0, count, |_| now_ms())[..]);
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = compute_crc(&bytes);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes.freeze()
}

/// InitProducerId v4 without a transactional id, retried while the broker answers
/// COORDINATOR_LOAD_IN_PROGRESS as clients retry it (Kafka answers that while its first
/// block of ids is on its way): (error, producer id, epoch).
async fn init_producer_id(conn: &mut Conn) -> (i16, i64, i16) {
    eventually("a producer id", async || {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(r) = conn
            .call(ApiKey::InitProducerId, 4, RequestKind::InitProducerId(req))
            .await
        else {
            panic!("not InitProducerId")
        };
        (r.error_code != COORDINATOR_LOAD_IN_PROGRESS).then_some((
            r.error_code,
            r.producer_id.0,
            r.producer_epoch,
        ))
    })
    .await
}

/// Produces `step` as producer `ids[step.producer]`: (error code, base offset).
async fn produce_step(conn: &mut Conn, topic: &str, ids: &[i64; 3], step: &Step) -> (i16, i64) {
    let records = idempotent_batch(ids[step.producer], step.epoch, step.sequence, step.records);
    let r = produce_with(conn, topic, -1, 10_000, records).await;
    (r.error_code, r.base_offset)
}

/// Produces each of `steps` in order and checks its answer.
async fn expect_steps(conn: &mut Conn, topic: &str, ids: &[i64; 3], steps: &[Step]) {
    for step in steps {
        let answer = produce_step(conn, topic, ids, step).await;
        assert_eq!(answer, step.answer, "{}", step.what);
    }
}

/// Runs [`SEQUENCE_RULES`] on `topic` through `leader` (InitProducerId through `any`):
/// the producer ids used.
async fn run_rules(any: &mut Conn, leader: &mut Conn, topic: &str) -> [i64; 3] {
    let (error, first, epoch) = init_producer_id(any).await;
    assert_eq!((error, epoch), (NONE, 0));
    let (error, second, epoch) = init_producer_id(any).await;
    assert_eq!((error, epoch), (NONE, 0));
    assert_ne!(first, second, "every InitProducerId gives a new id");
    assert!(first >= 0 && second >= 0);
    let ids = [first, second, 1_000_000_000 + first];
    expect_steps(leader, topic, &ids, SEQUENCE_RULES).await;
    // A transactional batch in a produce without a transactional id: Kafka refuses it before
    // looking at the records, and says nothing more.
    let mut records = BytesMut::from(&idempotent_batch(ids[1], 0, 8, 1)[..]);
    let attributes = i16::from_be_bytes([records[21], records[22]]) | TRANSACTIONAL;
    records[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = compute_crc(&records);
    records[17..21].copy_from_slice(&crc.to_be_bytes());
    let r = produce_with(leader, topic, -1, 10_000, records.freeze()).await;
    assert_eq!(
        (r.error_code, r.base_offset, r.error_message),
        (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, None)
    );
    // What `kafka-transactions describe-producers` shows after those steps: each producer's
    // last epoch and sequence; an unknown partition or topic is UNKNOWN_TOPIC_OR_PARTITION.
    let mut expected = vec![(ids[0], 1, 0), (ids[1], 0, 7), (ids[2], 0, 0)];
    expected.sort_unstable();
    let described = describe_producers(leader, topic).await;
    assert_eq!(
        described,
        vec![
            (topic.to_string(), 0, NONE, expected),
            (topic.to_string(), 7, UNKNOWN_TOPIC_OR_PARTITION, vec![]),
            (
                "no-such-topic".to_string(),
                0,
                UNKNOWN_TOPIC_OR_PARTITION,
                vec![]
            ),
        ]
    );
    ids
}

/// One partition of a DescribeProducers answer: topic, partition, error code, and (producer
/// id, epoch, last sequence) of each producer, sorted.
type Described = (String, i32, i16, Vec<(i64, i32, i32)>);

/// DescribeProducers v0 of partitions 0 and 7 of `topic` and partition 0 of an unknown topic.
async fn describe_producers(conn: &mut Conn, topic: &str) -> Vec<Described> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let req = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(common::cluster::name(topic))
            .with_partition_indexes(vec![0, 7]),
        TopicRequest::default()
            .with_name(common::cluster::name("no-such-topic"))
            .with_partition_indexes(vec![0]),
    ]);
    let r = common::cluster::describe_producers(conn, req).await;
    let mut described = Vec::new();
    for t in r.topics {
        for p in t.partitions {
            let mut producers: Vec<_> = p
                .active_producers
                .iter()
                .map(|a| {
                    assert!(a.last_timestamp > 0, "a last timestamp: {a:?}");
                    assert_eq!((a.coordinator_epoch, a.current_txn_start_offset), (-1, -1));
                    (a.producer_id.0, a.producer_epoch, a.last_sequence)
                })
                .collect();
            producers.sort_unstable();
            described.push((
                t.name.0.to_string(),
                p.partition_index,
                p.error_code,
                producers,
            ));
        }
    }
    described
}

#[tokio::test]
async fn one_broker_checks_sequences_as_kafka_does() {
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "idem", 1, 1, &[]).await;
    let mut leader = connect(&cluster, 1).await;
    run_rules(&mut conn, &mut leader, "idem").await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn every_broker_of_three_hands_out_its_own_ids() {
    let cluster = start(3, None, &[]).await;
    let mut ids = Vec::new();
    for broker in 1..=3 {
        let mut conn = connect(&cluster, broker).await;
        for _ in 0..3 {
            let (error, id, _) = init_producer_id(&mut conn).await;
            assert_eq!(error, NONE);
            ids.push(id);
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids given twice: {ids:?}");
    cluster.shutdown().await;
}

/// A whole cluster restarted on its data directory: the producer state comes back from the
/// log (a retry is still a duplicate, a gap still refused), and no id is handed out twice.
#[tokio::test]
async fn producer_state_and_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "idem", 1, 1, &[]).await;
    let mut leader = connect(&cluster, 1).await;
    let ids = run_rules(&mut conn, &mut leader, "idem").await;
    cluster.shutdown().await;

    let cluster = start(1, Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster, 1).await;
    eventually("the topic is led again", async || {
        partition0(&mut conn, "idem")
            .await
            .filter(|p| p.leader == 1)
    })
    .await;
    let after_restart = [
        step("the epoch-1 batch again", 0, 1, 0, 1, (NONE, 5)),
        step("a gap", 0, 1, 9, 1, (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)),
        step("the next", 0, 1, 1, 1, (NONE, 8)),
    ];
    expect_steps(&mut conn, "idem", &ids, &after_restart).await;
    let (error, id, _) = init_producer_id(&mut conn).await;
    assert_eq!(error, NONE);
    assert!(
        id > ids[1],
        "a restarted cluster hands out new ids: {id} after {ids:?}"
    );
    cluster.shutdown().await;
}

/// The new leader after a failover knows the producers its followers' fetches brought: a
/// retry of a batch the old leader acknowledged gets the original offset, not a second copy.
#[tokio::test]
async fn a_retry_after_failover_is_not_written_twice() {
    let mut cluster = start(3, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "idem", 1, 3, &[("min.insync.replicas", "2")]).await;
    let first = partition0(&mut conn, "idem").await.unwrap().leader;
    let mut leader = connect(&cluster, first).await;
    let (error, id, _) = init_producer_id(&mut conn).await;
    assert_eq!(error, NONE);
    let ids = [id, id, id];
    let sent = [step(
        "acknowledged by the first leader",
        0,
        0,
        0,
        4,
        (NONE, 0),
    )];
    expect_steps(&mut leader, "idem", &ids, &sent).await;
    let (_, new_leader, _) = stop_preferred_leader(&mut cluster, "idem").await;
    let mut leader = connect(&cluster, new_leader).await;
    let after_failover = [
        step("the same batch to the new leader", 0, 0, 0, 4, (NONE, 0)),
        step("the next batch", 0, 0, 4, 1, (NONE, 4)),
    ];
    expect_steps(&mut leader, "idem", &ids, &after_failover).await;
    cluster.shutdown().await;
}

/// The same steps against the broker at `KAFKA_SPEC_BOOTSTRAP` (a real Kafka, to check the
/// table); skipped without it.
#[tokio::test]
async fn against_a_bootstrap() {
    let Ok(bootstrap) = std::env::var("KAFKA_SPEC_BOOTSTRAP") else {
        eprintln!("KAFKA_SPEC_BOOTSTRAP not set: nothing to compare with");
        return;
    };
    let mut conn = Conn::connect(&bootstrap).await;
    let topic = format!("idem-{}", now_ms());
    create_topic_with(&mut conn, &topic, 1, 1, &[]).await;
    eventually("the topic has a leader", async || {
        partition0(&mut conn, &topic)
            .await
            .filter(|p| p.leader >= 0)
    })
    .await;
    let mut leader = Conn::connect(&bootstrap).await;
    run_rules(&mut conn, &mut leader, &topic).await;
    println!("{bootstrap} answered every step as the table says");
}

/// A partition named twice in one DescribeProducers: the second is INVALID_REQUEST without
/// producers, so a few bytes per repeat cannot multiply the answer (Kafka answers each
/// repeat in full; no client repeats one).
#[tokio::test]
async fn describe_producers_answers_a_repeated_partition_once() {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let cluster = start(1, None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "idem", 1, 1, &[]).await;
    let (_, id, _) = init_producer_id(&mut conn).await;
    let first = [step("one batch", 0, 0, 0, 2, (NONE, 0))];
    expect_steps(&mut conn, "idem", &[id, id, id], &first).await;
    let topic = TopicRequest::default()
        .with_name(common::cluster::name("idem"))
        .with_partition_indexes(vec![0; 10_000]);
    let req = DescribeProducersRequest::default().with_topics(vec![topic.clone(), topic]);
    let r = common::cluster::describe_producers(&mut conn, req).await;
    let answers: Vec<(i16, usize)> = r
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.error_code, p.active_producers.len()))
        .collect();
    assert_eq!(answers.len(), 20_000);
    assert_eq!(answers[0], (NONE, 1));
    assert!(answers[1..].iter().all(|a| *a == (INVALID_REQUEST, 0)));
    cluster.shutdown().await;
}
