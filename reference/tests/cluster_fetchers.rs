//! Follower fetching in a 3-broker cluster: one fetcher, and one connection, per (follower
//! broker, leader broker), as Kafka's `ReplicaFetcherManager` runs one fetcher thread per
//! source broker (`num.replica.fetchers` = 1), however many partitions it carries.
//!
//! A topic of [`PARTITIONS`] partitions at replication factor 3 (1,200 follower replicas,
//! which took 2,400 sockets in this process with a fetcher per partition) adds fewer than
//! [`MAX_NEW_SOCKETS`] sockets (counted in `/proc/self/fd`); acks=all produces to every
//! partition complete and every replica catches up (high watermark = log end offset
//! everywhere); when a broker stops, the partitions it led move to the new leaders' fetchers
//! and its fetchers end; when it comes back it follows every partition again over two
//! connections and catches up.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Conn;
use common::cluster::{batch, connect, create_topic_with, metadata_topic, now_ms};
use reference::Cluster;

const TOPIC: &str = "wide";
const PARTITIONS: i32 = 600;
/// Sockets the topic may add to the process: 12 for the six fetcher connections (both ends
/// in this process), the rest for the test's own produce connections.
const MAX_NEW_SOCKETS: usize = 50;

/// The tests of this file run one at a time: sockets are counted for the whole process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const LEADER_NOT_AVAILABLE: i16 = 5;

/// Sockets this process holds now.
fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// The partitions of [`TOPIC`] by leader, as the broker behind `conn` describes them, once
/// every one has a leader among `brokers`.
async fn leaders(conn: &mut Conn, brokers: &[i32]) -> BTreeMap<i32, Vec<i32>> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let topic = metadata_topic(conn, TOPIC).await;
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in &topic.partitions {
            if brokers.contains(&p.leader_id.0) {
                by_leader
                    .entry(p.leader_id.0)
                    .or_default()
                    .push(p.partition_index);
            }
        }
        if by_leader.values().map(Vec::len).sum::<usize>() == PARTITIONS as usize {
            return by_leader;
        }
        assert!(
            Instant::now() < until,
            "never led by {brokers:?}: {topic:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Produce v9 acks=all of `records` to each of `partitions`: the partitions answered
/// NOT_LEADER_OR_FOLLOWER or LEADER_NOT_AVAILABLE (nothing appended: to send again); any
/// other error fails the test.
async fn produce_all(conn: &mut Conn, partitions: &[i32], records: &Bytes) -> Vec<i32> {
    let mut again = Vec::new();
    for (partition, code) in
        common::cluster::produce_partitions(conn, TOPIC, partitions, records, -1).await
    {
        match code {
            0 => {}
            NOT_LEADER_OR_FOLLOWER | LEADER_NOT_AVAILABLE => again.push(partition),
            code => panic!("partition {partition}: error {code}"),
        }
    }
    again
}

/// One record (acks=all) to every partition at its leader among `brokers`, until all are
/// acknowledged.
async fn produce_everywhere(cluster: &Cluster, via: &mut Conn, brokers: &[i32], first: usize) {
    let records = batch(first, 1, |_| now_ms());
    let mut left: Vec<i32> = (0..PARTITIONS).collect();
    let until = Instant::now() + Duration::from_secs(30);
    while !left.is_empty() {
        assert!(Instant::now() < until, "{} never acknowledged", left.len());
        let mut again = Vec::new();
        for (leader, partitions) in leaders(via, brokers).await {
            let mine: Vec<i32> = partitions
                .into_iter()
                .filter(|p| left.contains(p))
                .collect();
            if !mine.is_empty() {
                let mut conn = connect(cluster, leader).await;
                again.extend(produce_all(&mut conn, &mine, &records).await);
            }
        }
        left = again;
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Replicas of [`TOPIC`] on `brokers` that do not yet hold exactly `records` records with
/// the high watermark at the log end offset (a missing replica counts too).
fn lagging(cluster: &Cluster, brokers: &[i32], records: i64) -> usize {
    brokers
        .iter()
        .map(|&id| {
            let Some(node) = cluster.node(id) else {
                return PARTITIONS as usize;
            };
            let state = node.state();
            let Some(topic_id) = state.image.topic_id(TOPIC) else {
                return PARTITIONS as usize;
            };
            let done = (0..PARTITIONS)
                .filter(|p| {
                    state.partitions.get(&(topic_id, *p)).is_some_and(|r| {
                        r.log_end_offset() == records && r.high_watermark() == records
                    })
                })
                .count();
            PARTITIONS as usize - done
        })
        .sum()
}

/// How long until every replica on `brokers` holds `records` records, all committed.
async fn catch_up(cluster: &Cluster, brokers: &[i32], records: i64) -> Duration {
    let start = Instant::now();
    loop {
        let behind = lagging(cluster, brokers, records);
        if behind == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{behind} replicas never caught up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Broker `id`'s fetchers: partitions carried, by leader.
fn fetchers(cluster: &Cluster, id: i32) -> BTreeMap<i32, usize> {
    cluster.node(id).expect("running").state().fetchers()
}

/// What each broker of `brokers` should carry: every partition led by another broker of
/// `brokers`, on that leader's fetcher (replication factor 3: every broker follows all).
fn expected_fetchers(led: &BTreeMap<i32, Vec<i32>>, id: i32) -> BTreeMap<i32, usize> {
    led.iter()
        .filter(|(leader, _)| **leader != id)
        .map(|(leader, partitions)| (*leader, partitions.len()))
        .collect()
}

/// Waits until each broker of `brokers` has exactly its fetchers for the leaders in `led`.
async fn fetchers_settle(cluster: &Cluster, led: &BTreeMap<i32, Vec<i32>>, brokers: &[i32]) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let actual: Vec<_> = brokers.iter().map(|&id| fetchers(cluster, id)).collect();
        let wanted: Vec<_> = brokers
            .iter()
            .map(|&id| expected_fetchers(led, id))
            .collect();
        if actual == wanted {
            return;
        }
        assert!(
            Instant::now() < until,
            "fetchers {actual:?}, wanted {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_fetch_over_one_connection_per_leader_and_move_on_failover() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut cluster = common::cluster::start(3, None, &[]).await;
    let mut conn = connect(&cluster, 2).await;
    let before = sockets();
    create_topic_with(&mut conn, TOPIC, PARTITIONS, 3, &[]).await;
    let all = [1, 2, 3];
    let start = Instant::now();
    produce_everywhere(&cluster, &mut conn, &all, 0).await;
    let produced = start.elapsed();
    let caught_up = catch_up(&cluster, &all, 1).await;
    let led = leaders(&mut conn, &all).await;
    fetchers_settle(&cluster, &led, &all).await;
    let after = sockets();
    println!(
        "{PARTITIONS} partitions x 3 replicas: sockets {before} before, {after} after \
         (a fetcher per partition: +{}); acks=all to all in {produced:?}, followers caught up \
         {caught_up:?} later; fetchers {:?}",
        2 * 2 * PARTITIONS,
        all.map(|id| fetchers(&cluster, id))
    );
    assert!(
        after < before + MAX_NEW_SOCKETS,
        "{after} sockets, {before} before the topic"
    );

    // Broker 1 goes: what it led moves to the new leaders' fetchers, its own fetchers end.
    let old_leader_of: BTreeMap<i32, i32> = led
        .iter()
        .flat_map(|(l, ps)| ps.iter().map(move |p| (*p, *l)))
        .collect();
    cluster.stop(1).await;
    let start = Instant::now();
    let rest = [2, 3];
    let led = leaders(&mut conn, &rest).await;
    produce_everywhere(&cluster, &mut conn, &rest, 1).await;
    let caught_up = catch_up(&cluster, &rest, 2).await;
    fetchers_settle(&cluster, &led, &rest).await;
    let moved = led
        .values()
        .flatten()
        .filter(|p| old_leader_of[p] == 1)
        .count();
    println!(
        "broker 1 stopped: {moved} partitions changed leader; acks=all to all and followers \
         caught up {caught_up:?} ({:?} since the stop); fetchers {:?}; sockets {}",
        start.elapsed(),
        rest.map(|id| fetchers(&cluster, id)),
        sockets()
    );
    assert!(moved > 0, "broker 1 led some partitions");
    assert!(sockets() < before + MAX_NEW_SOCKETS);

    // Broker 1 comes back: it follows every partition from the two leaders, and catches up.
    cluster.start_broker(1).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("registered");
    let start = Instant::now();
    let caught_up = catch_up(&cluster, &all, 2).await;
    let led = leaders(&mut conn, &all).await;
    fetchers_settle(&cluster, &led, &all).await;
    let carried: usize = fetchers(&cluster, 1).values().sum();
    println!(
        "broker 1 back: caught up in {caught_up:?} ({:?} with its fetchers settled); \
         fetchers {:?}; sockets {}",
        start.elapsed(),
        fetchers(&cluster, 1),
        sockets()
    );
    assert_eq!(
        carried, PARTITIONS as usize,
        "broker 1 follows every partition"
    );
    assert!(sockets() < before + MAX_NEW_SOCKETS);
    cluster.shutdown().await;
}

/// A partition added to a fetcher whose long poll is in flight fetches at once: the poll is
/// abandoned rather than waited out (`replica.fetch.wait.max.ms` is 5 s here; an acks=all
/// produce to the new partition needs its followers, and completes well within half that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_added_to_a_polling_fetcher_does_not_wait_for_the_poll() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let wait_ms = 5_000;
    let cluster = common::cluster::start(3, None, &[("replica.fetch.wait.max.ms", "5000")]).await;
    let mut conn = connect(&cluster, 1).await;
    create_topic_with(&mut conn, "idle", 3, 3, &[]).await;
    // Every broker follows one partition of "idle" from each other broker: its fetchers
    // to both are in a long poll that nothing will end early.
    let until = Instant::now() + Duration::from_secs(10);
    while [1, 2, 3]
        .iter()
        .any(|&id| fetchers(&cluster, id).len() != 2)
    {
        assert!(Instant::now() < until, "fetchers never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    create_topic_with(&mut conn, TOPIC, 1, 3, &[]).await;
    let start = Instant::now();
    let until = start + Duration::from_secs(10);
    loop {
        let topic = metadata_topic(&mut conn, TOPIC).await;
        let leader = topic.partitions.first().map_or(-1, |p| p.leader_id.0);
        if leader > 0 {
            let mut to_leader = connect(&cluster, leader).await;
            if produce_all(&mut to_leader, &[0], &batch(0, 1, |_| now_ms()))
                .await
                .is_empty()
            {
                break;
            }
        }
        assert!(Instant::now() < until, "never acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    println!("acks=all to a partition new to polling fetchers: {took:?} (poll {wait_ms} ms)");
    assert!(
        took < Duration::from_millis(wait_ms / 2),
        "waited {took:?} for a {wait_ms} ms long poll"
    );
    cluster.shutdown().await;
}
