//! A group coordinator's write (an OffsetCommit, a leader's SyncGroup) is answered once every
//! replica of its `__consumer_offsets` partition has it. On an idle cluster the followers'
//! fetches are parked at the leader for up to `replica.fetch.wait.max.ms`; the append must
//! wake them, as a produce does (Kafka's `ReplicaManager.appendRecords` completes delayed
//! fetches), or every group write waits out the whole fetch wait. The cluster here waits
//! 5 s, so a write that wakes the followers takes milliseconds and one that does not takes
//! ~5 s: the p50 bound of half that tells the two apart without being a tight timing test.
//! Run with `--nocapture` to see the figures.
//!
//! # References
//! - KIP-392 and `ReplicaManager.appendRecords` / `DelayedFetch` (a produce completes parked
//!   fetches); `GroupCoordinatorShard` writes with acks=all to `__consumer_offsets`

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Conn;
use common::cluster::{
    create_topic_with, group_coordinator, join_group, offset_commit, sync_group,
};
use kafka_protocol::messages::JoinGroupResponse;
use reference::Cluster;

const TOPIC: &str = "orders";
const FETCH_WAIT_MS: u64 = 5_000;
const COMMITS: usize = 20;
const SYNCS: usize = 10;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const MEMBER_ID_REQUIRED: i16 = 79;

/// Three brokers whose followers park their fetches for [`FETCH_WAIT_MS`], every
/// `__consumer_offsets` partition on all three, no delay before a first rebalance.
async fn idle_cluster() -> Cluster {
    let wait = FETCH_WAIT_MS.to_string();
    let configs = [
        ("replica.fetch.wait.max.ms", wait.as_str()),
        ("offsets.topic.replication.factor", "3"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    common::cluster::start(3, None, &configs).await
}

/// (p50, max) in milliseconds, p50 by nearest rank.
fn p50_max_ms(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p50 = samples[samples.len().div_ceil(2) - 1];
    (ms(p50), ms(*samples.last().expect("samples")))
}

/// Prints the figures, then holds every answer to error 0 and the p50 under half the fetch
/// wait. The codes are checked after the print: a write that waits out the fetch wait may
/// also run into the coordinator's own timeout (COORDINATOR_NOT_AVAILABLE), and the figures
/// say why.
fn report(what: &str, unit: &str, samples: Vec<(Duration, i16)>) {
    let count = samples.len();
    let codes: Vec<i16> = samples.iter().map(|(_, code)| *code).collect();
    let (p50, max) = p50_max_ms(samples.into_iter().map(|(took, _)| took).collect());
    println!("{what} on 3 brokers: p50 {p50:.1} ms, max {max:.1} ms ({count} {unit})");
    assert!(
        codes.iter().all(|code| *code == 0),
        "{what}: every answer is error 0, not {codes:?}"
    );
    let bound_ms = FETCH_WAIT_MS as f64 / 2.0;
    assert!(
        p50 < bound_ms,
        "{what}: p50 {p50:.1} ms is not below {bound_ms} ms: the write waited for the followers' \
         parked fetches (replica.fetch.wait.max.ms={FETCH_WAIT_MS}) instead of waking them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_commits_do_not_wait_out_the_followers_fetch_wait() {
    let cluster = idle_cluster().await;
    let mut admin = common::cluster::connect(&cluster, 1).await;
    create_topic_with(&mut admin, TOPIC, 1, 3, &[]).await;
    let group = "latency_commit_group";
    let (coordinator, mut conn) = group_coordinator(&cluster, 1, group).await;
    let mut samples = Vec::with_capacity(COMMITS);
    for offset in 0..COMMITS as i64 {
        let started = Instant::now();
        let code = offset_commit(&mut conn, group, TOPIC, offset).await;
        samples.push((started.elapsed(), code));
    }
    println!("offset commits went to coordinator {coordinator}");
    report("offset commit", "commits", samples);
    cluster.shutdown().await;
}

/// A JoinGroup with an empty member id, asked again while the coordinator answers
/// COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE (said on stdout): the
/// MEMBER_ID_REQUIRED answer. Untimed, and fails after ten seconds.
async fn first_join(conn: &mut Conn, group: &str) -> JoinGroupResponse {
    let until = common::cluster::deadline();
    loop {
        let r = join_group(conn, group, "").await;
        match r.error_code {
            MEMBER_ID_REQUIRED => return r,
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE
                if tokio::time::Instant::now() < until =>
            {
                println!(
                    "first JoinGroup of {group} answered {}, asking again",
                    r.error_code
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("first JoinGroup of {group} answered {other}"),
        }
    }
}

/// Each round a new group (so each is a one-member group from its first JoinGroup, and the
/// rounds spread over several coordinators): JoinGroup with an empty member id, again with
/// the MEMBER_ID_REQUIRED id, then the timed SyncGroup of that leader's assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_do_not_wait_out_the_followers_fetch_wait() {
    let cluster = idle_cluster().await;
    let mut samples = Vec::with_capacity(SYNCS);
    let mut coordinators = Vec::with_capacity(SYNCS);
    for round in 0..SYNCS {
        let group = format!("latency_sync_group_{round}");
        let (coordinator, mut conn) = group_coordinator(&cluster, 1, &group).await;
        let required = first_join(&mut conn, &group).await;
        let member = required.member_id.to_string();
        let joined = join_group(&mut conn, &group, &member).await;
        assert_eq!(joined.error_code, 0, "{group}");
        assert_eq!(
            joined.leader.as_str(),
            member,
            "{group}: a one-member group"
        );
        let assignment = Bytes::from(format!("{TOPIC}-0"));
        let started = Instant::now();
        let synced = sync_group(
            &mut conn,
            &group,
            joined.generation_id,
            &member,
            assignment.clone(),
        )
        .await;
        samples.push((started.elapsed(), synced.error_code));
        if synced.error_code == 0 {
            assert_eq!(synced.assignment, assignment, "{group}");
        }
        coordinators.push(coordinator);
    }
    println!("syncs went to coordinators {coordinators:?}");
    report("sync group", "syncs", samples);
    cluster.shutdown().await;
}
