//! Topics as a bounded resource, over the raw wire, on one broker and on a 3-broker cluster:
//!
//! - File descriptors: the test process's soft `RLIMIT_NOFILE` is lowered to
//!   [`SOFT_NOFILE_LIMIT`], and a broker holding three times as many partitions as that still
//!   appends to and reads every one, accepts connections and creates topics, and does so again
//!   after a restart on the same data directory (segment files are opened on demand and
//!   closed when idle, `reference::log::OpenFiles`).
//! - Kafka's bounds on one topic-creating request (`ReplicationControlManager`,
//!   KAFKA-17870; `QuorumController.MAX_RECORDS_PER_USER_OP`): more than 10,000 partitions
//!   or 10,000 metadata records is POLICY_VIOLATION (44) for every topic, nothing created; a
//!   Metadata request naming 100,000 new topics (or 5,001: 10,002 records) auto-creates none
//!   of them (UNKNOWN_TOPIC_OR_PARTITION, as a KRaft broker answers) and one naming a few
//!   hundred creates them all (the exact bound, 5,000, is unit-tested in
//!   `api::create_topics`, as creating 5,000 topics here would take most of the time budget).
//!   No partition directory is left behind (counted in the data directory).
//! - A topic creation that fails on storage (a partition's directory cannot be made) is
//!   KAFKA_STORAGE_ERROR (56) and leaves no directory of the topic behind.
//! - A topic name of Kafka's maximum length, 249 characters, works end to end.
//!
//! Every test lowers the descriptor limit first (the limit is per process, and the segment
//! file cache sizes itself from it at its first use).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use bytes::Bytes;
use common::Conn;
use common::cluster::{batch, connect, decode_keys, eventually, keys, name, now_ms};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use reference::embedded::BrokerOptions;
use reference::{Cluster, EmbeddedBroker};

/// The soft descriptor limit every test here runs under.
const SOFT_NOFILE_LIMIT: u64 = 512;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const POLICY_VIOLATION: i16 = 44;

const EXCESSIVE_PARTITIONS: &str = "Excessively large number of partitions per request.";
const EXCESSIVE_BATCH: &str = "Unable to perform excessively large batch operation.";

/// Held by each test of this file while it runs: they share the process's lowered descriptor
/// limit, and two of them opening thousands of replicas at once made one of them fail to
/// open logs (EMFILE: the replica is not hosted, its produce NOT_LEADER_OR_FOLLOWER) on a
/// loaded machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Lowers this process's soft `RLIMIT_NOFILE` to [`SOFT_NOFILE_LIMIT`] (once).
fn lower_descriptor_limit() {
    static LOWERED: Once = Once::new();
    LOWERED.call_once(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the `rlimit` we pass, which lives
        // for the whole call; RLIMIT_NOFILE is a valid resource.
        let lowered = unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
                limit.rlim_cur = limit.rlim_cur.min(SOFT_NOFILE_LIMIT as libc::rlim_t);
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
            }
        };
        assert!(lowered, "lowering RLIMIT_NOFILE");
        println!(
            "RLIMIT_NOFILE soft {} (hard {})",
            limit.rlim_cur, limit.rlim_max
        );
    });
}

/// Descriptors this process holds now.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// What the open descriptors are, by kind (for failure messages).
fn descriptor_kinds() -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        let target = target.to_string_lossy();
        let kind = match target.split_once(':') {
            Some((kind, _)) => kind.to_string(),
            None => target
                .rsplit_once('.')
                .map_or("file", |(_, ext)| ext)
                .to_string(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// Partition directories (`<topic>-<partition>`) directly under `dir`.
fn partition_dirs(dir: &Path) -> usize {
    // A broker of a cluster of one keeps its replicas under `broker-1/`.
    let one = dir.join("broker-1");
    let dir = if one.is_dir() { one.as_path() } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.rsplit_once('-')
                .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

async fn start_broker(dir: &Path) -> EmbeddedBroker {
    EmbeddedBroker::start_with(BrokerOptions {
        data_dir: Some(dir.to_path_buf()),
        ..BrokerOptions::default()
    })
    .await
    .expect("broker starts")
}

/// CreateTopics v7 of `(name, partitions)` with the default replication factor: (name,
/// error code, message) per topic, as answered.
async fn create_topics(conn: &mut Conn, topics: &[(&str, i32)]) -> Vec<(String, i16, String)> {
    create_topics_rf(conn, topics, -1).await
}

/// [`create_topics`] with replication factor `rf`.
async fn create_topics_rf(
    conn: &mut Conn,
    topics: &[(&str, i32)],
    rf: i16,
) -> Vec<(String, i16, String)> {
    let topics = topics.iter().map(|(topic, partitions)| {
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(*partitions)
            .with_replication_factor(rf)
    });
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(topics.collect());
    let ResponseKind::CreateTopics(r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    r.topics
        .into_iter()
        .map(|t| {
            let message = t.error_message.map(|m| m.to_string()).unwrap_or_default();
            (t.name.0.to_string(), t.error_code, message)
        })
        .collect()
}

async fn create_topic(conn: &mut Conn, topic: &str, partitions: i32) {
    let answer = create_topics(conn, &[(topic, partitions)]).await;
    assert_eq!(
        answer[0].1,
        0,
        "creating {}: {}",
        &topic[..topic.len().min(20)],
        answer[0].2
    );
}

/// CreatePartitions v3 of one topic to `count`: (error code, message).
async fn create_partitions(conn: &mut Conn, topic: &str, count: i32) -> (i16, String) {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(count)
                .with_assignments(None),
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
    let result = r.results.remove(0);
    let message = result
        .error_message
        .map(|m| m.to_string())
        .unwrap_or_default();
    (result.error_code, message)
}

/// Metadata v12 of `names`, allowing auto-creation: each topic's error code by name, and
/// the leader of each partition of the topics that have partitions.
async fn metadata(
    conn: &mut Conn,
    names: impl IntoIterator<Item = String>,
) -> (BTreeMap<String, i16>, BTreeMap<(String, i32), i32>) {
    metadata_with(conn, names, true).await
}

/// [`metadata`], creating missing topics only when `auto_create`.
async fn metadata_with(
    conn: &mut Conn,
    names: impl IntoIterator<Item = String>,
    auto_create: bool,
) -> (BTreeMap<String, i16>, BTreeMap<(String, i32), i32>) {
    let topics = names
        .into_iter()
        .map(|n| MetadataRequestTopic::default().with_name(Some(name(&n))));
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(auto_create)
        .with_topics(Some(topics.collect()));
    let ResponseKind::Metadata(r) = conn
        .call(ApiKey::Metadata, 12, RequestKind::Metadata(req))
        .await
    else {
        panic!("not Metadata")
    };
    let mut codes = BTreeMap::new();
    let mut leaders = BTreeMap::new();
    for t in r.topics {
        let topic = t.name.map(|n| n.0.to_string()).unwrap_or_default();
        for p in &t.partitions {
            leaders.insert((topic.clone(), p.partition_index), p.leader_id.0);
        }
        codes.insert(topic, t.error_code);
    }
    (codes, leaders)
}

/// Produce v9 (acks=1) of one batch to each of `partitions` of `topic`: the error codes.
async fn produce_to(conn: &mut Conn, topic: &str, partitions: &[i32], records: Bytes) -> Vec<i16> {
    produce_acks(conn, topic, partitions, records, 1).await
}

/// [`produce_to`] with `acks`.
async fn produce_acks(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
    records: Bytes,
    acks: i16,
) -> Vec<i16> {
    common::cluster::produce_partitions(conn, topic, partitions, &records, acks)
        .await
        .into_iter()
        .map(|(_, code)| code)
        .collect()
}

/// Fetch v12 of `partitions` of `topic` from offset 0: the keys read from each partition
/// (an error code is a panic).
async fn fetch_from(conn: &mut Conn, topic: &str, partitions: &[i32]) -> Vec<Vec<String>> {
    let wanted = partitions.iter().map(|&p| {
        FetchPartition::default()
            .with_partition(p)
            .with_fetch_offset(0)
            .with_partition_max_bytes(4096)
    });
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(wanted.collect()),
        ]);
    let ResponseKind::Fetch(r) = conn.call(ApiKey::Fetch, 12, RequestKind::Fetch(req)).await else {
        panic!("not Fetch")
    };
    assert_eq!(r.error_code, 0);
    let mut by_partition = BTreeMap::new();
    for p in r.responses.into_iter().flat_map(|t| t.partitions) {
        assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
        let records = p.records.unwrap_or_default();
        let read = decode_keys(records).into_iter().map(|(_, k)| k).collect();
        by_partition.insert(p.partition_index, read);
    }
    partitions
        .iter()
        .map(|p| by_partition.remove(p).unwrap_or_default())
        .collect()
}

/// Twenty new connections, each answered (ApiVersions), held open together.
async fn accepts_connections(bootstrap: &str) {
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut conn = Conn::connect(bootstrap).await;
        let req = ApiVersionsRequest::default();
        let ResponseKind::ApiVersions(r) = conn
            .call(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(req))
            .await
        else {
            panic!("not ApiVersions")
        };
        assert_eq!(r.error_code, 0);
        conns.push(conn);
    }
}

const TOPICS: [&str; 3] = ["orders", "payments", "shipments"];
const PARTITIONS_EACH: i32 = 500;

/// One broker with three times as many partitions as descriptors: every partition appends
/// and reads, connections and topic creations go on, before and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_holds_more_partitions_than_descriptors_and_restarts() {
    let _alone = ONE_AT_A_TIME.lock().await;
    lower_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let all: Vec<i32> = (0..PARTITIONS_EACH).collect();
    let started = std::time::Instant::now();
    let topics: Vec<(&str, i32)> = TOPICS.iter().map(|t| (*t, PARTITIONS_EACH)).collect();
    for (topic, code, message) in create_topics(&mut conn, &topics).await {
        assert_eq!(code, 0, "{topic}: {message}");
    }
    let created_ms = started.elapsed().as_millis();
    for (round, topic) in TOPICS.iter().enumerate() {
        let codes = produce_to(&mut conn, topic, &all, batch(round, 1, |_| now_ms())).await;
        assert!(codes.iter().all(|&c| c == 0), "{topic}: {codes:?}");
    }
    let total = TOPICS.len() * PARTITIONS_EACH as usize;
    assert_eq!(partition_dirs(dir.path()), total);
    let descriptors = open_descriptors();
    assert!(
        descriptors < SOFT_NOFILE_LIMIT as usize,
        "{descriptors} descriptors open"
    );
    accepts_connections(broker.bootstrap()).await;
    create_topic(&mut conn, "after-many", 1).await;
    for (round, topic) in TOPICS.iter().enumerate() {
        let read = fetch_from(&mut conn, topic, &all).await;
        assert!(read.iter().all(|r| *r == keys(round..round + 1)), "{topic}");
    }
    println!(
        "{total} partitions created in {created_ms} ms, written and read with {descriptors} \
         descriptors open (soft limit {SOFT_NOFILE_LIMIT})"
    );
    drop(conn);
    broker.shutdown().await;

    let started = std::time::Instant::now();
    let broker = start_broker(dir.path()).await;
    let restarted_ms = started.elapsed().as_millis();
    let mut conn = Conn::connect(broker.bootstrap()).await;
    accepts_connections(broker.bootstrap()).await;
    for (round, topic) in TOPICS.iter().enumerate() {
        let read = fetch_from(&mut conn, topic, &all).await;
        assert!(
            read.iter().all(|r| *r == keys(round..round + 1)),
            "{topic} after restart"
        );
    }
    let codes = produce_to(&mut conn, TOPICS[0], &all, batch(9, 1, |_| now_ms())).await;
    assert!(
        codes.iter().all(|&c| c == 0),
        "appends after restart: {codes:?}"
    );
    create_topic(&mut conn, "after-restart", 1).await;
    let descriptors = open_descriptors();
    assert!(
        descriptors < SOFT_NOFILE_LIMIT as usize,
        "{descriptors} descriptors open"
    );
    println!("restarted over {total} partitions in {restarted_ms} ms, {descriptors} descriptors");
    broker.shutdown().await;
}

/// `count` names `<prefix>-<i>` (new topics).
fn names(prefix: &str, count: usize) -> impl Iterator<Item = String> + '_ {
    (0..count).map(move |i| format!("{prefix}-{i:06}"))
}

/// The hostile requests of issue 9 and Kafka's bounds, on any broker `conn` reaches; `dirs`
/// counts the partition directories the brokers hold.
async fn creation_is_bounded(conn: &mut Conn, dirs: impl Fn() -> usize, auto_create: usize) {
    let before = dirs();
    let started = std::time::Instant::now();
    let (codes, _) = metadata(conn, names("wanted", 100_000)).await;
    assert_eq!(codes.len(), 100_000);
    assert!(
        codes.values().all(|&c| c == UNKNOWN_TOPIC_OR_PARTITION),
        "nothing auto-created"
    );
    let refused_ms = started.elapsed().as_millis();
    assert_eq!(
        dirs(),
        before,
        "no partition directory for 100,000 refused topics"
    );

    let (codes, _) = metadata(conn, names("asked", auto_create)).await;
    assert!(
        codes.values().all(|&c| c == UNKNOWN_TOPIC_OR_PARTITION),
        "being auto-created: UNKNOWN_TOPIC_OR_PARTITION, as Kafka 4.3.1 answers"
    );
    // A cluster's brokers learn of the created topics from the controller a moment later.
    eventually("described once created", async || {
        let (codes, _) = metadata(conn, names("asked", auto_create)).await;
        codes.values().all(|&c| c == 0).then_some(())
    })
    .await;

    let answer = create_topics(conn, &[("huge", 1_000_000)]).await;
    assert_eq!(
        answer,
        [("huge".into(), POLICY_VIOLATION, EXCESSIVE_PARTITIONS.into())]
    );
    let answer = create_topics(
        conn,
        &[("big-a", 4_000), ("big-b", 4_000), ("big-c", 4_000)],
    )
    .await;
    assert!(
        answer
            .iter()
            .all(|t| (t.1, t.2.as_str()) == (POLICY_VIOLATION, EXCESSIVE_PARTITIONS))
    );
    let many: Vec<String> = names("tiny", 6_000).collect();
    let many: Vec<(&str, i32)> = many.iter().map(|n| (n.as_str(), 1)).collect();
    let answer = create_topics(conn, &many).await;
    assert_eq!(answer.len(), 6_000);
    assert!(
        answer
            .iter()
            .all(|t| (t.1, t.2.as_str()) == (POLICY_VIOLATION, EXCESSIVE_BATCH))
    );
    let (code, message) = create_partitions(conn, "asked-000000", 1_000_000).await;
    assert_eq!(
        (code, message.as_str()),
        (POLICY_VIOLATION, EXCESSIVE_PARTITIONS)
    );
    let grown = dirs();
    assert!(grown >= before + auto_create, "{grown} directories");
    println!(
        "100,000 names refused in {refused_ms} ms; {auto_create} auto-created; \
         {} partition directories",
        grown
    );
    create_topic(conn, "still-creating", 2).await;
    assert_eq!(create_partitions(conn, "still-creating", 4).await.0, 0);
}

/// One broker: the bounds, then a restart on the same data (nothing half-made to reload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_bounds_topic_creation_as_kafka_does() {
    let _alone = ONE_AT_A_TIME.lock().await;
    lower_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    // Kafka's exact bound: 5,000 topics of one partition are 10,000 records; one more is not.
    let (codes, _) = metadata(&mut conn, names("edge", 5_001)).await;
    assert!(codes.values().all(|&c| c == UNKNOWN_TOPIC_OR_PARTITION));
    assert_eq!(partition_dirs(dir.path()), 0);
    creation_is_bounded(&mut conn, || partition_dirs(dir.path()), 500).await;
    accepts_connections(broker.bootstrap()).await;
    let held = partition_dirs(dir.path());
    broker.shutdown().await;

    let broker = start_broker(dir.path()).await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    accepts_connections(broker.bootstrap()).await;
    create_topic(&mut conn, "after-restart", 1).await;
    assert_eq!(partition_dirs(dir.path()), held + 1);
    broker.shutdown().await;
}

/// Kafka's longest topic name: 249 characters (`<topic>-<partition>` then fits in the file
/// system's 255 bytes for up to 99,999 partitions); 250 is INVALID_TOPIC_EXCEPTION.
fn longest_name(c: char) -> String {
    std::iter::repeat_n(c, 249).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_name_of_249_characters_works_on_one_broker() {
    let _alone = ONE_AT_A_TIME.lock().await;
    lower_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let topic = longest_name('x');
    let broker = start_broker(dir.path()).await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic(&mut conn, &topic, 3).await;
    let too_long = format!("{topic}y");
    assert_eq!(
        create_topics(&mut conn, &[(&too_long, 1)]).await[0].1,
        INVALID_TOPIC_EXCEPTION
    );
    assert_eq!(
        produce_to(&mut conn, &topic, &[0, 1, 2], batch(0, 2, |_| now_ms())).await,
        [0, 0, 0]
    );
    assert_eq!(fetch_from(&mut conn, &topic, &[2]).await, [keys(0..2)]);
    let auto = longest_name('a');
    let (codes, _) = metadata(&mut conn, [auto.clone()]).await;
    assert_eq!(
        codes[&auto], UNKNOWN_TOPIC_OR_PARTITION,
        "being auto-created"
    );
    broker.shutdown().await;

    let broker = start_broker(dir.path()).await;
    let mut conn = Conn::connect(broker.bootstrap()).await;
    assert_eq!(
        fetch_from(&mut conn, &topic, &[0, 1, 2]).await,
        vec![keys(0..2); 3]
    );
    assert_eq!(
        produce_to(&mut conn, &topic, &[1], batch(2, 1, |_| now_ms())).await,
        [0]
    );
    assert_eq!(fetch_from(&mut conn, &topic, &[1]).await, [keys(0..3)]);
    let (codes, _) = metadata(&mut conn, [auto.clone()]).await;
    assert_eq!(codes[&auto], 0, "the auto-created one is back too");
    broker.shutdown().await;
}

async fn start_cluster(dir: &Path) -> Cluster {
    common::cluster::start(3, Some(dir), &[("replica.lag.time.max.ms", "5000")]).await
}

/// Partition directories of every broker of a cluster in `dir`.
fn cluster_partition_dirs(dir: &Path) -> usize {
    (1..=3)
        .map(|id| partition_dirs(&dir.join(format!("broker-{id}"))))
        .sum()
}

/// The leader of each partition of `topic`, once every one has one.
async fn leaders(conn: &mut Conn, topic: &str, partitions: i32) -> BTreeMap<i32, Vec<i32>> {
    eventually("every partition led", async || {
        let (_, leaders) = metadata(conn, [topic.to_string()]).await;
        let led: Vec<(i32, i32)> = leaders
            .iter()
            .filter(|(_, l)| **l >= 0)
            .map(|((_, p), l)| (*p, *l))
            .collect();
        (led.len() == partitions as usize).then(|| {
            let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
            for (p, l) in led {
                by_leader.entry(l).or_default().push(p);
            }
            by_leader
        })
    })
    .await
}

/// Partitions of the cluster's big topic: three times the descriptor limit. Its replication
/// factor is 1 to keep the test quick: creating 1,500 x 3 replicas on disk takes longer than
/// the test connection's deadline on 2 shared cores. Follower connections are bounded by
/// brokers, not partitions (one fetcher per leader, `tests/cluster_fetchers.rs`).
const MANY_PARTITIONS: i32 = 1_500;

/// Produces `records` (acks=all) to every partition of `topic`, each to its leader.
async fn produce_to_leaders(
    cluster: &Cluster,
    conn: &mut Conn,
    topic: &str,
    count: i32,
    records: Bytes,
) {
    for (leader, partitions) in &leaders(conn, topic, count).await {
        let mut to_leader = connect(cluster, *leader).await;
        let codes = produce_acks(&mut to_leader, topic, partitions, records.clone(), -1).await;
        assert!(codes.iter().all(|&c| c == 0), "{codes:?}");
    }
}

/// Reads every partition of `topic` from its leader until each holds `expected`.
async fn read_from_leaders(
    cluster: &Cluster,
    conn: &mut Conn,
    topic: &str,
    count: i32,
    expected: &[String],
) {
    for (leader, partitions) in &leaders(conn, topic, count).await {
        let mut to_leader = connect(cluster, *leader).await;
        eventually("every partition read back", async || {
            let read = fetch_from(&mut to_leader, topic, partitions).await;
            read.iter().all(|r| r == expected).then_some(())
        })
        .await;
    }
}

/// A 3-broker cluster: three times as many replicas as descriptors, a 249-character topic
/// name replicated three times, the bounds, and a whole-cluster restart on the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_holds_many_replicas_bounds_creation_and_takes_long_names() {
    let _alone = ONE_AT_A_TIME.lock().await;
    lower_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path()).await;
    let mut conn = connect(&cluster, 1).await;
    let (long, many) = (longest_name('z'), "many");
    let answer = create_topics_rf(&mut conn, &[(&long, 3)], 3).await;
    assert_eq!(answer[0].1, 0, "{}", answer[0].2);
    let answer = create_topics_rf(&mut conn, &[(many, MANY_PARTITIONS)], 1).await;
    assert_eq!(answer[0].1, 0, "{}", answer[0].2);
    produce_to_leaders(
        &cluster,
        &mut conn,
        many,
        MANY_PARTITIONS,
        batch(0, 1, |_| now_ms()),
    )
    .await;
    produce_to_leaders(&cluster, &mut conn, &long, 3, batch(0, 2, |_| now_ms())).await;
    let replicas = eventually("every replica on disk", async || {
        let dirs = cluster_partition_dirs(dir.path());
        (dirs == MANY_PARTITIONS as usize + 3 * 3).then_some(dirs)
    })
    .await;
    let descriptors = open_descriptors();
    assert!(
        descriptors < SOFT_NOFILE_LIMIT as usize,
        "{descriptors} descriptors open: {:?}",
        descriptor_kinds()
    );
    println!("cluster: {replicas} replica directories, {descriptors} descriptors open");
    creation_is_bounded(&mut conn, || cluster_partition_dirs(dir.path()), 100).await;
    let held = cluster_partition_dirs(dir.path());
    drop(conn);
    cluster.shutdown().await;

    let cluster = start_cluster(dir.path()).await;
    let mut conn = connect(&cluster, 2).await;
    read_from_leaders(&cluster, &mut conn, &long, 3, &keys(0..2)).await;
    read_from_leaders(&cluster, &mut conn, many, MANY_PARTITIONS, &keys(0..1)).await;
    accepts_connections(&cluster.address(3).expect("broker 3").to_string()).await;
    create_topic(&mut conn, "after-restart", 1).await;
    // CreateTopics is answered once broker 2 has the topic; its replica's broker makes the
    // directory when it applies the record, possibly a moment later.
    eventually("the new topic's replica directory", async || {
        (cluster_partition_dirs(dir.path()) == held + 1).then_some(())
    })
    .await;
    let descriptors = open_descriptors();
    assert!(
        descriptors < SOFT_NOFILE_LIMIT as usize,
        "{descriptors} descriptors open"
    );
    println!("cluster restarted: {descriptors} descriptors open");
    cluster.shutdown().await;
}
