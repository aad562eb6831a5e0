//! A cluster's replicas on disk, crashes and power losses, retention on every replica, and
//! injected faults (a broker cut off from the others, a frozen broker), over the raw wire.

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::Conn;
use common::cluster::{
    connect, create_topic_request, create_topic_with, decode_keys, delete_topics, eventually, keys,
    now_ms, partition0, produce_with,
};
use kafka_protocol::messages::*;
use reference::Cluster;
use uuid::Uuid;

const TOPIC: &str = "orders";

/// Three brokers that fence a silent broker after one second.
async fn cluster(data_dir: Option<&Path>, extra: &[(&str, &str)]) -> Cluster {
    let configs: Vec<(&str, &str)> = [("replica.lag.time.max.ms", "2000")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    common::cluster::start(3, data_dir, &configs).await
}

/// Records `key-<first>`.. with the given timestamp.
fn batch(first: usize, count: usize, timestamp: i64) -> Bytes {
    common::cluster::batch(first, count, |_| timestamp)
}

/// Creates [`TOPIC`]: one partition, three replicas, `configs`.
async fn create_topic(conn: &mut Conn, configs: &[(&str, &str)]) {
    create_topic_with(conn, TOPIC, 1, 3, configs).await;
}

/// (leader, leader epoch, isr) of partition 0 as `conn`'s broker sees it.
async fn partition_metadata(conn: &mut Conn) -> (i32, i32, Vec<i32>) {
    match partition0(conn, TOPIC).await {
        Some(p) => (p.leader, p.leader_epoch, p.isr),
        None => (-1, -1, vec![]),
    }
}

async fn produce(conn: &mut Conn, acks: i16, timeout_ms: i32, records: Bytes) -> (i16, i64) {
    let p = produce_with(conn, TOPIC, acks, timeout_ms, records).await;
    (p.error_code, p.base_offset)
}

/// A consumer's read of partition 0 from `offset`: (error code, high watermark, log start
/// offset, keys).
async fn read_from(conn: &mut Conn, offset: i64) -> (i16, i64, i64, Vec<String>) {
    common::cluster::read_from(conn, TOPIC, offset).await
}

/// ListOffsets v7 of partition 0 at `timestamp` (-2 earliest, -1 latest): (error code, offset).
async fn list_offset(conn: &mut Conn, timestamp: i64) -> (i16, i64) {
    let p = common::cluster::list_offsets(conn, TOPIC, 7, timestamp).await;
    (p.error_code, p.offset)
}

/// One broker's replica of partition 0, read in-process.
#[derive(Debug, Clone, PartialEq)]
struct Replica {
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    /// (offset, key) of every record in the log.
    records: Vec<(i64, String)>,
}

impl Replica {
    fn below(&self, offset: i64) -> Vec<(i64, String)> {
        self.records
            .iter()
            .filter(|(o, _)| *o < offset)
            .cloned()
            .collect()
    }
}

fn replica(cluster: &Cluster, broker_id: i32) -> Option<Replica> {
    let node = cluster.node(broker_id)?;
    let state = node.state();
    let topic_id = state.image.topic_id(TOPIC)?;
    let partition = state.partitions.get(&(topic_id, 0))?;
    let log = partition.log();
    let mut records = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, true).expect("in range");
        let keys = decode_keys(bytes);
        let Some(last) = keys.last() else { break };
        offset = last.0 + 1;
        records.extend(keys);
    }
    Some(Replica {
        log_start_offset: log.log_start_offset(),
        log_end_offset: log.log_end_offset(),
        high_watermark: partition.high_watermark(),
        records,
    })
}

/// Waits until every broker in `brokers` holds the same records below a common high
/// watermark of at least `at_least`; returns those records.
async fn replicas_agree(cluster: &Cluster, brokers: &[i32], at_least: i64) -> Vec<(i64, String)> {
    eventually("the replicas agree", async || {
        let replicas: Vec<Replica> = brokers
            .iter()
            .map(|id| replica(cluster, *id))
            .collect::<Option<_>>()?;
        let hw = replicas.iter().map(|r| r.high_watermark).min()?;
        if hw < at_least || replicas.iter().any(|r| r.log_end_offset != hw) {
            return None;
        }
        let first = replicas[0].below(hw);
        replicas
            .iter()
            .all(|r| r.below(hw) == first)
            .then_some(first)
    })
    .await
}

/// Creates [`TOPIC`] (no configs) through `conn` and waits until its partition has a leader
/// and all three replicas in sync: (leader, leader epoch, a connection to the leader).
async fn create_led_topic(cluster: &Cluster, conn: &mut Conn) -> (i32, i32, Conn) {
    create_topic(conn, &[]).await;
    let (leader, epoch, _) = eventually("a leader with a full ISR", async || {
        Some(partition_metadata(conn).await).filter(|m| m.0 > 0 && m.2.len() == 3)
    })
    .await;
    (leader, epoch, connect(cluster, leader).await)
}

/// Creates [`TOPIC`] with `configs` through broker 1 and waits until its partition has a
/// leader: (the connection to broker 1, leader, leader epoch, a connection to the leader).
async fn create_topic_with_leader(
    cluster: &Cluster,
    configs: &[(&str, &str)],
) -> (Conn, i32, i32, Conn) {
    let mut conn = connect(cluster, 1).await;
    create_topic(&mut conn, configs).await;
    let (leader, epoch, _) = eventually("a leader", async || {
        Some(partition_metadata(&mut conn).await).filter(|m| m.0 > 0)
    })
    .await;
    let to_leader = connect(cluster, leader).await;
    (conn, leader, epoch, to_leader)
}

/// A fresh cluster with [`TOPIC`] led, all three replicas in sync, holding the acks=all
/// records `key-0`..`key-<count>`: (cluster, leader, leader epoch, a connection to the leader).
async fn led_topic_holding(count: usize) -> (Cluster, i32, i32, Conn) {
    let cluster = cluster(None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    let (leader, epoch, mut to_leader) = create_led_topic(&cluster, &mut conn).await;
    assert_eq!(
        produce(&mut to_leader, -1, 5000, batch(0, count, now_ms())).await,
        (0, 0)
    );
    (cluster, leader, epoch, to_leader)
}

/// Once `leader` (of `epoch`) is gone, waits until the lowest-id other broker sees a new
/// leader with a higher epoch: (a connection to that broker, the new leader, the ISR).
async fn new_leader_after(cluster: &Cluster, leader: i32, epoch: i32) -> (Conn, i32, Vec<i32>) {
    let survivor = [1, 2, 3].into_iter().find(|b| *b != leader).unwrap();
    let mut conn = connect(cluster, survivor).await;
    let (new_leader, _, isr) = eventually("a new leader", async || {
        Some(partition_metadata(&mut conn).await)
            .filter(|m| m.0 > 0 && m.0 != leader && m.1 > epoch)
    })
    .await;
    (conn, new_leader, isr)
}

/// A cluster on `dir` that applies retention and writes its checkpoints every 100 ms, with
/// [`TOPIC`] keeping records for a minute: three batches of five ten minutes old (offsets
/// 0..15), then `recent` batches of five stamped now. A segment rolls when a batch is more
/// than a minute younger than the segment's first: the old batches share one segment, the
/// recent ones another. Returns the cluster, a connection to broker 1 and one to the leader.
async fn with_expired_records(dir: &Path, recent: usize) -> (Cluster, Conn, Conn) {
    let cluster = cluster(
        Some(dir),
        &[
            ("log.retention.check.interval.ms", "100"),
            ("replica.high.watermark.checkpoint.interval.ms", "100"),
        ],
    )
    .await;
    let (conn, _, _, mut to_leader) = create_topic_with_leader(
        &cluster,
        &[("retention.ms", "60000"), ("segment.ms", "60000")],
    )
    .await;
    let old = now_ms() - 10 * 60 * 1000;
    for round in 0..3 {
        let (code, _) = produce(&mut to_leader, -1, 5000, batch(round * 5, 5, old)).await;
        assert_eq!(code, 0, "old batch {round}");
    }
    for round in 3..3 + recent {
        let (code, _) = produce(&mut to_leader, -1, 5000, batch(round * 5, 5, now_ms())).await;
        assert_eq!(code, 0, "recent batch {round}");
    }
    (cluster, conn, to_leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_reads_its_replicas_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(Some(dir.path()), &[]).await;
    let (_conn, _, _, mut to_leader) = create_topic_with_leader(&cluster, &[]).await;
    for round in 0..5 {
        let (code, base) = produce(&mut to_leader, -1, 5000, batch(round * 10, 10, now_ms())).await;
        assert_eq!((code, base), (0, round as i64 * 10));
    }
    let before = replicas_agree(&cluster, &[1, 2, 3], 50).await;
    assert_eq!(
        before.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>(),
        keys(0..50)
    );

    // Kafka's layout: one directory per replica, with its epoch checkpoint and topic id.
    for id in [1, 2, 3] {
        let partition_dir = dir.path().join(format!("broker-{id}/{TOPIC}-0"));
        let log_file = partition_dir.join("00000000000000000000.log");
        assert!(
            std::fs::metadata(&log_file).unwrap().len() > 0,
            "{log_file:?} holds the records"
        );
        let epochs =
            std::fs::read_to_string(partition_dir.join("leader-epoch-checkpoint")).unwrap();
        assert!(epochs.starts_with("0\n1\n"), "one epoch: {epochs:?}");
        let metadata = std::fs::read_to_string(partition_dir.join("partition.metadata")).unwrap();
        assert!(
            metadata.starts_with("version: 0\ntopic_id: "),
            "{metadata:?}"
        );
    }

    // Every broker stops (each a process crash that writes its checkpoints), then all start
    // again: the only copy of the records is in the files.
    for id in [1, 2, 3] {
        cluster.stop(id).await;
    }
    for id in [1, 2, 3] {
        let checkpoint = std::fs::read_to_string(
            dir.path()
                .join(format!("broker-{id}/replication-offset-checkpoint")),
        )
        .unwrap();
        assert_eq!(checkpoint, format!("0\n1\n{TOPIC} 0 50\n"), "broker {id}");
    }
    for id in [1, 2, 3] {
        cluster.start_broker(id).await.expect("restart");
    }
    cluster.wait_until_unfenced().await.expect("back");
    let after = replicas_agree(&cluster, &[1, 2, 3], 50).await;
    assert_eq!(after, before, "every record at the same offset");

    let mut conn = connect(&cluster, 1).await;
    let (leader, _, _) = eventually("a leader after the restart", async || {
        Some(partition_metadata(&mut conn).await).filter(|m| m.0 > 0)
    })
    .await;
    let mut to_leader = connect(&cluster, leader).await;
    let (code, _, _, read) = eventually("the leader serves the records", async || {
        Some(read_from(&mut to_leader, 0).await).filter(|r| r.0 == 0 && r.1 == 50)
    })
    .await;
    assert_eq!((code, read), (0, keys(0..50)));
    let (code, base) = produce(&mut to_leader, -1, 5000, batch(50, 10, now_ms())).await;
    assert_eq!((code, base), (0, 50), "the log goes on where it was");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_loss_drops_what_was_not_flushed_and_replication_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(
        Some(dir.path()),
        &[("replica.high.watermark.checkpoint.interval.ms", "100")],
    )
    .await;
    let (_conn, leader, epoch, mut to_leader) = create_topic_with_leader(&cluster, &[]).await;
    let (code, _) = produce(&mut to_leader, -1, 5000, batch(0, 20, now_ms())).await;
    assert_eq!(code, 0);
    replicas_agree(&cluster, &[1, 2, 3], 20).await;
    // The periodic checkpoint has the high watermark.
    let checkpoint = dir
        .path()
        .join(format!("broker-{leader}/replication-offset-checkpoint"));
    eventually("the high watermark checkpointed", async || {
        (std::fs::read_to_string(&checkpoint).ok()? == format!("0\n1\n{TOPIC} 0 20\n"))
            .then_some(())
    })
    .await;

    // The leader loses power: nothing of its replica was flushed, so its log is empty on
    // disk (its checkpointed high watermark is now past its log end, and is cut to it). The
    // acknowledged records live on the two other replicas.
    cluster.power_loss(leader).await;
    let log_file = dir.path().join(format!(
        "broker-{leader}/{TOPIC}-0/00000000000000000000.log"
    ));
    assert_eq!(std::fs::metadata(&log_file).unwrap().len(), 0);
    let (_conn, new_leader, _) = new_leader_after(&cluster, leader, epoch).await;
    let mut to_new_leader = connect(&cluster, new_leader).await;
    let (code, _, _, read) = eventually("the new leader serves the records", async || {
        Some(read_from(&mut to_new_leader, 0).await).filter(|r| r.0 == 0 && r.1 >= 20)
    })
    .await;
    assert_eq!((code, read), (0, keys(0..20)));

    // Back again, the old leader fetches everything anew and all three agree.
    cluster.start_broker(leader).await.expect("restart");
    let (code, _) = produce(&mut to_new_leader, -1, 5000, batch(20, 5, now_ms())).await;
    assert_eq!(code, 0);
    let records = replicas_agree(&cluster, &[1, 2, 3], 25).await;
    assert_eq!(
        records.into_iter().map(|(_, k)| k).collect::<Vec<_>>(),
        keys(0..25)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_applies_on_every_replica_and_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _, mut to_leader) = with_expired_records(dir.path(), 2).await;

    // The old segment goes on every replica; the recent one stays.
    eventually("retention on every replica", async || {
        [1, 2, 3]
            .iter()
            .all(|id| {
                replica(&cluster, *id).is_some_and(|r| {
                    r.log_start_offset == 15 && r.records.first().map(|k| k.0) == Some(15)
                })
            })
            .then_some(())
    })
    .await;
    assert_eq!(list_offset(&mut to_leader, -2).await, (0, 15), "earliest");
    assert_eq!(list_offset(&mut to_leader, -1).await, (0, 25), "latest");
    let (code, _, log_start, _) = read_from(&mut to_leader, 0).await;
    assert_eq!(
        (code, log_start),
        (1, 15),
        "OFFSET_OUT_OF_RANGE below the start"
    );
    let (code, hw, log_start, read) = read_from(&mut to_leader, 15).await;
    assert_eq!((code, hw, log_start, read), (0, 25, 15, keys(15..25)));
    // On disk: the old segment is gone and the log start offset is checkpointed.
    for id in [1, 2, 3] {
        let broker_dir = dir.path().join(format!("broker-{id}"));
        let partition_dir = broker_dir.join(format!("{TOPIC}-0"));
        assert!(!partition_dir.join("00000000000000000000.log").exists());
        assert!(partition_dir.join("00000000000000000015.log").exists());
        let checkpoint = broker_dir.join("log-start-offset-checkpoint");
        eventually("the log start offset checkpointed", async || {
            (std::fs::read_to_string(&checkpoint).ok()? == format!("0\n1\n{TOPIC} 0 15\n"))
                .then_some(())
        })
        .await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_is_replaced_and_rejoins_after_healing() {
    let (cluster, leader, epoch, mut to_leader) = led_topic_holding(10).await;

    assert!(cluster.isolate(leader));
    assert!(cluster.fault(leader).isolated);
    // The isolated leader cannot commit anything: an acks=all produce is appended to its log
    // but never acknowledged.
    let (code, _) = produce(&mut to_leader, -1, 1500, batch(100, 1, now_ms())).await;
    assert!(
        code == 7 || code == 6,
        "REQUEST_TIMED_OUT or NOT_LEADER_OR_FOLLOWER, got {code}"
    );
    // The controller fences it and elects another leader, which takes writes.
    let (mut conn, new_leader, isr) = new_leader_after(&cluster, leader, epoch).await;
    assert!(
        !isr.contains(&leader),
        "the isolated broker left the ISR: {isr:?}"
    );
    let mut to_new_leader = connect(&cluster, new_leader).await;
    assert_eq!(
        produce(&mut to_new_leader, -1, 5000, batch(10, 10, now_ms())).await,
        (0, 10)
    );
    // Clients still reach the isolated broker; it still believes it leads, and commits
    // nothing.
    let (code, hw, _, _) = read_from(&mut to_leader, 0).await;
    assert_eq!(
        (code, hw),
        (0, 10),
        "nothing committed on the isolated side"
    );

    cluster.heal();
    let (_, _, isr) = eventually("the old leader back in the ISR", async || {
        Some(partition_metadata(&mut conn).await)
            .filter(|m| m.0 == new_leader && m.2.contains(&leader))
    })
    .await;
    assert_eq!(isr.len(), 3);
    // It truncated the record it alone had and holds what the new leader committed.
    let records = replicas_agree(&cluster, &[1, 2, 3], 20).await;
    assert_eq!(
        records.into_iter().map(|(_, k)| k).collect::<Vec<_>>(),
        keys(0..20)
    );
    let (code, _) = produce(&mut to_leader, -1, 5000, batch(20, 1, now_ms())).await;
    assert_eq!(
        code, 6,
        "the old leader now follows: NOT_LEADER_OR_FOLLOWER"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_broker_answers_nothing_until_resumed() {
    let cluster = cluster(None, &[]).await;
    let mut conn = connect(&cluster, 2).await;
    let (leader, _, _) = partition_metadata(&mut conn).await;
    assert_eq!(leader, -1, "no topic yet");

    assert!(cluster.pause(2));
    let sent = conn
        .send(
            ApiKey::Metadata,
            12,
            RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
        )
        .await;
    let early = tokio::time::timeout(Duration::from_secs(1), conn.read_frame()).await;
    assert!(early.is_err(), "a paused broker answered");
    // Frozen long enough, it is fenced like a crashed broker.
    let mut to_other = connect(&cluster, 1).await;
    eventually("the paused broker fenced", async || {
        let ResponseKind::Metadata(r) = to_other
            .call(
                ApiKey::Metadata,
                12,
                RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
            )
            .await
        else {
            panic!("not Metadata")
        };
        (!r.brokers.iter().any(|b| b.node_id.0 == 2)).then_some(())
    })
    .await;

    assert!(cluster.resume(2));
    let frame = tokio::time::timeout(Duration::from_secs(5), conn.read_frame())
        .await
        .expect("answered after resuming")
        .expect("a response, not a close");
    assert_eq!(
        i32::from_be_bytes(frame[..4].try_into().unwrap()),
        sent,
        "the request sent while paused"
    );
    // Its heartbeats go on: it is unfenced again.
    cluster.wait_until_unfenced().await.expect("unfenced");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_started_again_keeps_its_topics_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let cluster1 = cluster(Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster1, 1).await;
    create_topic(&mut conn, &[("retention.ms", "86400000")]).await;
    let (leader, epoch, _) = eventually("a leader", async || {
        Some(partition_metadata(&mut conn).await).filter(|m| m.0 > 0)
    })
    .await;
    let topic_id = cluster1
        .node(1)
        .unwrap()
        .state()
        .image
        .topic_id(TOPIC)
        .unwrap();
    let mut to_leader = connect(&cluster1, leader).await;
    for round in 0..3 {
        let (code, _) = produce(&mut to_leader, -1, 5000, batch(round * 10, 10, now_ms())).await;
        assert_eq!(code, 0);
    }
    let before = replicas_agree(&cluster1, &[1, 2, 3], 30).await;
    cluster1.shutdown().await;
    assert!(dir.path().join("__cluster_metadata/topics").exists());

    // A new cluster on the same directory: same topic, same id, same configs, same records.
    let cluster2 = cluster(Some(dir.path()), &[]).await;
    let mut conn = connect(&cluster2, 2).await;
    let (leader, new_epoch, isr) = eventually("a leader again", async || {
        Some(partition_metadata(&mut conn).await).filter(|m| m.0 > 0 && m.2.len() == 3)
    })
    .await;
    assert!(
        new_epoch > epoch,
        "a new leader epoch: {new_epoch} after {epoch}"
    );
    assert_eq!(isr.len(), 3);
    let node = cluster2.node(2).unwrap();
    assert_eq!(node.state().image.topic_id(TOPIC), Some(topic_id));
    let after = replicas_agree(&cluster2, &[1, 2, 3], 30).await;
    assert_eq!(after, before, "every record at the same offset");
    let retention_ms = {
        let state = node.state();
        state.partitions[&(topic_id, 0)].log().config().retention_ms
    };
    assert_eq!(retention_ms, 86_400_000, "the topic's configs are back");

    let mut to_leader = connect(&cluster2, leader).await;
    let (code, hw, _, read) = eventually("the records served", async || {
        Some(read_from(&mut to_leader, 0).await).filter(|r| r.0 == 0 && r.1 == 30)
    })
    .await;
    assert_eq!((code, hw, read), (0, 30, keys(0..30)));
    assert_eq!(
        produce(&mut to_leader, -1, 5000, batch(30, 1, now_ms())).await,
        (0, 30)
    );
    // Creating it again is refused: it exists.
    let t = create_topic_request(&mut conn, TOPIC, 1, 3, &[]).await;
    assert_eq!(t.error_code, 36, "TOPIC_ALREADY_EXISTS");
    cluster2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_while_its_topic_was_deleted_deletes_its_stray_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(Some(dir.path()), &[]).await;
    let (mut conn, _, _, mut to_leader) = create_topic_with_leader(&cluster, &[]).await;
    assert_eq!(
        produce(&mut to_leader, -1, 5000, batch(0, 5, now_ms()))
            .await
            .0,
        0
    );
    replicas_agree(&cluster, &[1, 2, 3], 5).await;
    let down = [1, 2, 3].into_iter().find(|b| *b != 1).unwrap();
    let stray = dir.path().join(format!("broker-{down}/{TOPIC}-0"));
    cluster.stop(down).await;
    assert!(stray.exists());

    let answers = delete_topics(&mut conn, vec![(Some(TOPIC), Uuid::nil())]).await;
    assert_eq!(answers[0].2, 0);
    assert!(stray.exists(), "the stopped broker's files are untouched");

    cluster.start_broker(down).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("back");
    eventually("the stray replica deleted", async || {
        (!stray.exists()).then_some(())
    })
    .await;
    for id in [1, 2, 3] {
        let live = dir.path().join(format!("broker-{id}/{TOPIC}-0"));
        assert!(!live.exists(), "broker {id} deleted its replica");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_leave_a_frozen_leader_at_once_for_the_new_one() {
    let (cluster, leader, epoch, _to_leader) = led_topic_holding(5).await;

    // Frozen, the leader answers no fetch; the controller fences it after a second.
    assert!(cluster.pause(leader));
    let survivors: Vec<i32> = [1, 2, 3].into_iter().filter(|b| *b != leader).collect();
    let (mut conn, new_leader, _) = new_leader_after(&cluster, leader, epoch).await;
    // The other survivor's fetch to the frozen leader is abandoned as soon as it learns of
    // the new leader, so an acks=all produce is committed by both survivors well before
    // `replica.lag.time.max.ms` (2 s) could drop the follower from the ISR.
    let mut to_new_leader = connect(&cluster, new_leader).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        produce(&mut to_new_leader, -1, 5000, batch(5, 5, now_ms())).await,
        (0, 5)
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1800), "acks=all took {took:?}");
    let (_, _, isr) = partition_metadata(&mut conn).await;
    let mut isr = isr;
    isr.sort();
    assert_eq!(isr, survivors, "both survivors stay in sync");

    assert!(cluster.resume(leader));
    let records = replicas_agree(&cluster, &[1, 2, 3], 10).await;
    assert_eq!(
        records.into_iter().map(|(_, k)| k).collect::<Vec<_>>(),
        keys(0..10)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_deleted_and_created_again_forgets_the_old_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    // Retention moves the old topic's log start offset to 15 on every replica (as in
    // `retention_applies_on_every_replica_and_moves_the_log_start`), and it is checkpointed.
    let (mut cluster, mut conn, _) = with_expired_records(dir.path(), 1).await;
    for id in [1, 2, 3] {
        let checkpoint = dir
            .path()
            .join(format!("broker-{id}/log-start-offset-checkpoint"));
        eventually("the log start offset checkpointed", async || {
            (std::fs::read_to_string(&checkpoint).ok()? == format!("0\n1\n{TOPIC} 0 15\n"))
                .then_some(())
        })
        .await;
    }

    // Deleted, then created again with the same name: a new log from offset 0.
    let answers = delete_topics(&mut conn, vec![(Some(TOPIC), Uuid::nil())]).await;
    assert_eq!(answers[0].2, 0);
    eventually("every replica deleted", async || {
        [1, 2, 3]
            .iter()
            .all(|id| replica(&cluster, *id).is_none())
            .then_some(())
    })
    .await;
    let (_, _, mut to_leader) = create_led_topic(&cluster, &mut conn).await;
    assert_eq!(
        produce(&mut to_leader, -1, 5000, batch(0, 5, now_ms())).await,
        (0, 0)
    );
    replicas_agree(&cluster, &[1, 2, 3], 5).await;

    // Every broker starts again from its files: nothing of the old topic's log start offset.
    for id in [1, 2, 3] {
        cluster.stop(id).await;
    }
    for id in [1, 2, 3] {
        cluster.start_broker(id).await.expect("restart");
    }
    cluster.wait_until_unfenced().await.expect("back");
    let records = replicas_agree(&cluster, &[1, 2, 3], 5).await;
    assert_eq!(
        records,
        keys(0..5)
            .into_iter()
            .enumerate()
            .map(|(i, k)| (i as i64, k))
            .collect::<Vec<_>>()
    );
    let mut conn = connect(&cluster, 1).await;
    let (leader, _, _) = eventually("a leader after the restart", async || {
        Some(partition_metadata(&mut conn).await).filter(|m| m.0 > 0)
    })
    .await;
    let mut to_leader = connect(&cluster, leader).await;
    assert_eq!(list_offset(&mut to_leader, -2).await, (0, 0), "earliest");
    let (code, hw, log_start, read) = eventually("the records served", async || {
        Some(read_from(&mut to_leader, 0).await).filter(|r| r.0 == 0 && r.1 == 5)
    })
    .await;
    assert_eq!((code, hw, log_start, read), (0, 5, 0, keys(0..5)));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_broker_cannot_forward_topic_changes_to_the_controller() {
    let cluster = cluster(None, &[]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic(&mut conn, &[]).await;
    let isolated = 2;
    let mut to_isolated = connect(&cluster, isolated).await;
    assert!(cluster.isolate(isolated));

    // Kafka forwards these to the controller; cut off from it, the request waits (here at
    // most its timeout) and is answered REQUEST_TIMED_OUT on every topic, unchanged.
    const REQUEST_TIMED_OUT: i16 = 7;
    let create = |name: &str, timeout_ms: i32| {
        RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(timeout_ms)
                .with_topics(vec![
                    create_topics_request::CreatableTopic::default()
                        .with_name(common::cluster::name(name))
                        .with_num_partitions(1)
                        .with_replication_factor(3),
                ]),
        )
    };
    let started = tokio::time::Instant::now();
    let ResponseKind::CreateTopics(r) = to_isolated
        .call(ApiKey::CreateTopics, 7, create("cut-off", 800))
        .await
    else {
        panic!("not CreateTopics")
    };
    let waited = started.elapsed();
    let t = &r.topics[0];
    assert_eq!(
        (t.name.as_str(), t.error_code, t.error_message.as_deref()),
        ("cut-off", REQUEST_TIMED_OUT, None)
    );
    assert!(
        waited >= Duration::from_millis(700),
        "answered after {waited:?}, before the request's timeout"
    );

    let grow = CreatePartitionsRequest::default()
        .with_timeout_ms(300)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(common::cluster::name(TOPIC))
                .with_count(3)
                .with_assignments(None),
        ]);
    let ResponseKind::CreatePartitions(r) = to_isolated
        .call(
            ApiKey::CreatePartitions,
            3,
            RequestKind::CreatePartitions(grow),
        )
        .await
    else {
        panic!("not CreatePartitions")
    };
    assert_eq!(r.results[0].error_code, REQUEST_TIMED_OUT);

    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(300)
        .with_topic_names(vec![common::cluster::name(TOPIC)]);
    let ResponseKind::DeleteTopics(r) = to_isolated
        .call(ApiKey::DeleteTopics, 4, RequestKind::DeleteTopics(delete))
        .await
    else {
        panic!("not DeleteTopics")
    };
    assert_eq!(
        (
            r.responses[0].name.as_ref().map(|n| n.0.as_str()),
            r.responses[0].error_code
        ),
        (Some(TOPIC), REQUEST_TIMED_OUT)
    );

    // Nothing changed at the controller: the rest of the cluster agrees.
    assert!(
        partition0(&mut conn, "cut-off").await.is_none(),
        "never created"
    );
    let orders = common::cluster::metadata_topic(&mut conn, TOPIC).await;
    assert_eq!(
        (orders.error_code, orders.partitions.len()),
        (0, 1),
        "neither grown nor deleted"
    );

    // Healed while a request waits, the request goes on to the controller.
    let (answer, ()) = tokio::join!(
        to_isolated.call(ApiKey::CreateTopics, 7, create("healed", 5000)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cluster.heal();
        }
    );
    let ResponseKind::CreateTopics(r) = answer else {
        panic!("not CreateTopics")
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    eventually("the topic created after healing", async || {
        partition0(&mut conn, "healed")
            .await
            .filter(|p| p.leader > 0)
    })
    .await;
    cluster.shutdown().await;
}
