//! Group coordination in a replicated cluster, over the raw wire: the coordinator of a group
//! is the leader of the group's partition of `__consumer_offsets`, other brokers answer
//! NOT_COORDINATOR, and when the coordinator's broker dies the next leader of that partition
//! takes over with every acknowledged commit. The last test drives the same failover with a
//! client no one here wrote: kcat's balanced consumer (librdkafka), skipped without kcat on
//! PATH unless `CI` is set.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Conn;
use common::cluster::{connect, create_topic_with, deadline, delete_topics};
use common::kcat;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::Cluster;
use uuid::Uuid;

const TOPIC: &str = "orders";
const GROUP: &str = "order_processing_group";

const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const MEMBER_ID_REQUIRED: i16 = 79;

/// `brokers` brokers that fence a silent broker after a second, with `extra` configs.
async fn cluster(brokers: usize, extra: &[(&str, &str)]) -> Cluster {
    let configs: Vec<(&str, &str)> = [("group.initial.rebalance.delay.ms", "0")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    common::cluster::start(brokers, None, &configs).await
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Creates `name` with `partitions` partitions of three replicas.
async fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    create_topic_with(conn, name, partitions, 3, &[]).await;
}

/// One FindCoordinator request of `version`, and its response.
async fn call_find_coordinator(
    conn: &mut Conn,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let ResponseKind::FindCoordinator(r) = conn
        .call(
            ApiKey::FindCoordinator,
            version,
            RequestKind::FindCoordinator(req),
        )
        .await
    else {
        panic!("not FindCoordinator")
    };
    r
}

/// FindCoordinator v3 for a group: (error code, node id).
async fn find_coordinator(conn: &mut Conn, group: &str) -> (i16, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key(s(group))
        .with_key_type(0);
    let r = call_find_coordinator(conn, 3, req).await;
    (r.error_code, r.node_id.0)
}

/// FindCoordinator v4 (KIP-699) for several groups: (key, error code, node id) each.
async fn find_coordinators(conn: &mut Conn, groups: &[&str]) -> Vec<(String, i16, i32)> {
    let req = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(groups.iter().map(|g| s(g)).collect());
    call_find_coordinator(conn, 4, req)
        .await
        .coordinators
        .iter()
        .map(|c| (c.key.to_string(), c.error_code, c.node_id.0))
        .collect()
}

/// Asks broker `via` until it names a coordinator other than `not`; returns it.
async fn coordinator_other_than(cluster: &Cluster, via: i32, not: Option<i32>) -> i32 {
    let mut conn = connect(cluster, via).await;
    let until = deadline();
    loop {
        let (code, node) = find_coordinator(&mut conn, GROUP).await;
        if code == NONE && Some(node) != not {
            return node;
        }
        assert!(
            code == NONE || code == COORDINATOR_NOT_AVAILABLE,
            "FindCoordinator answered {code}"
        );
        assert!(
            tokio::time::Instant::now() < until,
            "no new coordinator in time (last answer {code}, node {node})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// OffsetCommit v8 of `(partition, offset, metadata)` of "orders": each partition's code.
async fn commit(
    conn: &mut Conn,
    generation: i32,
    member_id: &str,
    offsets: &[(i32, i64, &str)],
) -> Vec<i16> {
    let partitions = offsets
        .iter()
        .map(|(p, offset, metadata)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(s(metadata)))
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(partitions),
        ]);
    let ResponseKind::OffsetCommit(r) = conn
        .call(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(req))
        .await
    else {
        panic!("not OffsetCommit")
    };
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// OffsetFetch v8 of every committed offset of the group: (group error, offsets sorted).
async fn fetch(conn: &mut Conn) -> (i16, Vec<(String, i32, i64, String)>) {
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(None),
    ]);
    let ResponseKind::OffsetFetch(r) = conn
        .call(ApiKey::OffsetFetch, 8, RequestKind::OffsetFetch(req))
        .await
    else {
        panic!("not OffsetFetch")
    };
    let group = &r.groups[0];
    let mut offsets: Vec<(String, i32, i64, String)> = group
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                assert_eq!(p.error_code, NONE);
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata.as_deref().unwrap_or("<null>").to_string(),
                )
            })
        })
        .collect();
    offsets.sort();
    (group.error_code, offsets)
}

/// Fetches from `conn` until the coordinator is loaded; fails on any other error.
async fn fetch_when_loaded(conn: &mut Conn) -> Vec<(String, i32, i64, String)> {
    let until = deadline();
    loop {
        let (code, offsets) = fetch(conn).await;
        match code {
            NONE => return offsets,
            COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
                if tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("OffsetFetch answered {other}"),
        }
    }
}

/// JoinGroup v9 of a consumer member (first with an empty member id).
async fn join(conn: &mut Conn, member_id: &str) -> JoinGroupResponse {
    join_for(conn, member_id, 10_000).await
}

/// [`join`] with a session timeout of `session_timeout_ms`.
async fn join_for(conn: &mut Conn, member_id: &str, session_timeout_ms: i32) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            [join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription"))]
            .into_iter()
            .collect(),
        );
    let ResponseKind::JoinGroup(r) = conn
        .call(ApiKey::JoinGroup, 9, RequestKind::JoinGroup(req))
        .await
    else {
        panic!("not JoinGroup")
    };
    r
}

/// A first JoinGroup (empty member id), asked again until the coordinator has loaded the
/// group's partition: the MEMBER_ID_REQUIRED answer with the member id to join with.
async fn join_when_loaded(conn: &mut Conn, session_timeout_ms: i32) -> JoinGroupResponse {
    let until = deadline();
    loop {
        let r = join_for(conn, "", session_timeout_ms).await;
        if r.error_code == MEMBER_ID_REQUIRED {
            return r;
        }
        assert!(
            matches!(r.error_code, COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR)
                && tokio::time::Instant::now() < until,
            "JoinGroup answered {}",
            r.error_code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sync(conn: &mut Conn, generation: i32, member_id: &str) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s(member_id))
                .with_assignment(Bytes::from_static(b"orders-0,orders-1")),
        ]);
    let ResponseKind::SyncGroup(r) = conn
        .call(ApiKey::SyncGroup, 5, RequestKind::SyncGroup(req))
        .await
    else {
        panic!("not SyncGroup")
    };
    r
}

/// DescribeGroups v5 of the group: (error, state, member ids).
async fn describe(conn: &mut Conn) -> (i16, String, Vec<String>) {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(GROUP))]);
    let ResponseKind::DescribeGroups(r) = conn
        .call(ApiKey::DescribeGroups, 5, RequestKind::DescribeGroups(req))
        .await
    else {
        panic!("not DescribeGroups")
    };
    let g = &r.groups[0];
    (
        g.error_code,
        g.group_state.to_string(),
        g.members.iter().map(|m| m.member_id.to_string()).collect(),
    )
}

fn offsets(expected: &[(i32, i64, &str)]) -> Vec<(String, i32, i64, String)> {
    expected
        .iter()
        .map(|(p, o, m)| (TOPIC.to_string(), *p, *o, m.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_move_with_the_coordinator_when_its_broker_dies() {
    let mut cluster = cluster(3, &[("offsets.topic.num.partitions", "5")]).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic(&mut admin, TOPIC, 2).await;

    // The first FindCoordinator finds no `__consumer_offsets`: it asks for it and answers
    // COORDINATOR_NOT_AVAILABLE, as Kafka does; the client asks again.
    assert_eq!(
        find_coordinator(&mut admin, GROUP).await,
        (COORDINATOR_NOT_AVAILABLE, -1)
    );
    let first = coordinator_other_than(&cluster, 1, None).await;
    // Every broker names the same coordinator.
    for via in cluster.broker_ids() {
        let mut conn = connect(&cluster, via).await;
        assert_eq!(find_coordinator(&mut conn, GROUP).await, (NONE, first));
    }

    // A member joins and syncs at its coordinator (GroupMetadata goes to the log), then
    // commits; the commit is answered once the offsets partition's replicas have it.
    let mut conn = connect(&cluster, first).await;
    let required = join_when_loaded(&mut conn, 10_000).await;
    let member = required.member_id.to_string();
    let joined = join(&mut conn, &member).await;
    assert_eq!(joined.error_code, NONE);
    assert_eq!(joined.leader.as_str(), member);
    let generation = joined.generation_id;
    let synced = sync(&mut conn, generation, &member).await;
    assert_eq!(synced.error_code, NONE);
    assert_eq!(synced.assignment.as_ref(), b"orders-0,orders-1");
    let committed = [(0, 42, "after order 41"), (1, 7, "")];
    assert_eq!(
        commit(&mut conn, generation, &member, &committed).await,
        vec![NONE, NONE]
    );
    assert_eq!(fetch_when_loaded(&mut conn).await, offsets(&committed));

    // Another broker does not coordinate the group.
    let other = cluster
        .broker_ids()
        .into_iter()
        .find(|b| *b != first)
        .unwrap();
    let mut elsewhere = connect(&cluster, other).await;
    assert_eq!(fetch(&mut elsewhere).await, (NOT_COORDINATOR, vec![]));
    assert_eq!(
        commit(&mut elsewhere, generation, &member, &[(0, 1, "")]).await,
        vec![NOT_COORDINATOR]
    );
    assert_eq!(join(&mut elsewhere, "").await.error_code, NOT_COORDINATOR);
    assert_eq!(describe(&mut elsewhere).await.0, NOT_COORDINATOR);

    // The coordinator's broker dies: the partition gets a new leader, which is the new
    // coordinator, with the committed offsets and the group as last written.
    cluster.stop(first).await;
    let second = coordinator_other_than(&cluster, other, Some(first)).await;
    let mut conn = connect(&cluster, second).await;
    assert_eq!(fetch_when_loaded(&mut conn).await, offsets(&committed));
    let (code, state, members) = describe(&mut conn).await;
    assert_eq!(code, NONE);
    assert_eq!(state, "Stable");
    assert_eq!(members, vec![member.clone()]);

    // The member carries on at the new coordinator.
    let moved = [(0, 50, "after order 49"), (1, 7, "")];
    assert_eq!(
        commit(&mut conn, generation, &member, &moved[..1]).await,
        vec![NONE]
    );

    // The old broker comes back as a follower of the partition: every broker agrees on one
    // coordinator, which has the latest commit, and the others answer NOT_COORDINATOR.
    cluster.restart(first).await.expect("restarts");
    cluster.wait_until_unfenced().await.expect("rejoins");
    let coordinator = coordinator_other_than(&cluster, first, None).await;
    let mut serving = Vec::new();
    for id in cluster.broker_ids() {
        let mut conn = connect(&cluster, id).await;
        assert_eq!(
            find_coordinator(&mut conn, GROUP).await,
            (NONE, coordinator)
        );
        if id == coordinator {
            assert_eq!(fetch_when_loaded(&mut conn).await, offsets(&moved));
            serving.push(id);
        } else {
            assert_eq!(fetch(&mut conn).await, (NOT_COORDINATOR, vec![]));
        }
    }
    assert_eq!(serving, vec![coordinator]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_coordinator_while_the_offsets_topic_cannot_have_its_replicas() {
    // offsets.topic.replication.factor defaults to 3: two brokers cannot host the topic, and
    // Kafka 4 then keeps answering COORDINATOR_NOT_AVAILABLE.
    let cluster = cluster(2, &[("offsets.topic.num.partitions", "3")]).await;
    let mut conn = connect(&cluster, 2).await;
    for _ in 0..3 {
        assert_eq!(
            find_coordinator(&mut conn, GROUP).await,
            (COORDINATOR_NOT_AVAILABLE, -1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answers = find_coordinators(&mut conn, &[GROUP, "other"]).await;
    assert_eq!(
        answers,
        vec![
            (GROUP.to_string(), COORDINATOR_NOT_AVAILABLE, -1),
            ("other".to_string(), COORDINATOR_NOT_AVAILABLE, -1),
        ]
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_spread_over_the_leaders_of_the_offsets_partitions() {
    // With a replication factor the cluster can meet, each group's coordinator is the
    // leader of its own partition, and several keys are answered at once (v4).
    let cluster = cluster(
        3,
        &[
            ("offsets.topic.num.partitions", "6"),
            ("offsets.topic.replication.factor", "1"),
        ],
    )
    .await;
    let mut conn = connect(&cluster, 3).await;
    let groups: Vec<String> = (0..12).map(|i| format!("group-{i}")).collect();
    let keys: Vec<&str> = groups.iter().map(String::as_str).collect();
    let until = deadline();
    let answers = loop {
        let answers = find_coordinators(&mut conn, &keys).await;
        if answers.iter().all(|(_, code, _)| *code == NONE) {
            break answers;
        }
        assert!(tokio::time::Instant::now() < until, "{answers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let coordinators: std::collections::BTreeSet<i32> =
        answers.iter().map(|(_, _, node)| *node).collect();
    assert!(
        coordinators.len() > 1,
        "one topic's 6 single-replica partitions spread over 3 brokers: {answers:?}"
    );
    // Each group's own coordinator serves it; the others do not.
    for (group, _, node) in answers.iter().take(4) {
        for id in cluster.broker_ids() {
            let mut c = connect(&cluster, id).await;
            let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
            let ResponseKind::DescribeGroups(r) = c
                .call(ApiKey::DescribeGroups, 5, RequestKind::DescribeGroups(req))
                .await
            else {
                panic!("not DescribeGroups")
            };
            let code = r.groups[0].error_code;
            if id == *node {
                assert!(
                    code == NONE || code == COORDINATOR_LOAD_IN_PROGRESS,
                    "{group} at its coordinator {id}: {code}"
                );
            } else {
                assert_eq!(code, NOT_COORDINATOR, "{group} at broker {id}");
            }
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_acknowledged_only_once_the_in_sync_replicas_have_it() {
    // Three replicas of the offsets partition must have a commit before it is acknowledged
    // (min.insync.replicas=3): with one broker down, the commit times out after
    // offsets.commit.timeout.ms with COORDINATOR_NOT_AVAILABLE (Kafka's mapping of
    // REQUEST_TIMED_OUT), and succeeds again once the broker is back in sync.
    let mut cluster = cluster(
        3,
        &[
            ("offsets.topic.num.partitions", "1"),
            ("min.insync.replicas", "3"),
            ("offsets.commit.timeout.ms", "1000"),
        ],
    )
    .await;
    let mut admin = connect(&cluster, 1).await;
    create_topic(&mut admin, TOPIC, 2).await;
    let coordinator = coordinator_other_than(&cluster, 1, None).await;
    let mut conn = connect(&cluster, coordinator).await;
    let until = deadline();
    loop {
        match commit(&mut conn, -1, "", &[(0, 5, "")]).await[..] {
            [NONE] => break,
            [COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR]
                if tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            ref other => panic!("OffsetCommit answered {other:?}"),
        }
    }

    let follower = cluster
        .broker_ids()
        .into_iter()
        .find(|b| *b != coordinator)
        .unwrap();
    cluster.stop(follower).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        commit(&mut conn, -1, "", &[(0, 6, "")]).await,
        vec![COORDINATOR_NOT_AVAILABLE]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered after {:?}, before the commit timeout",
        started.elapsed()
    );

    cluster.restart(follower).await.expect("restarts");
    let until = deadline();
    loop {
        match commit(&mut conn, -1, "", &[(0, 7, "")]).await[..] {
            [NONE] => break,
            [COORDINATOR_NOT_AVAILABLE] if tokio::time::Instant::now() < until => {}
            ref other => panic!("OffsetCommit answered {other:?}"),
        }
    }
    assert_eq!(fetch_when_loaded(&mut conn).await, offsets(&[(0, 7, "")]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_a_deleted_topic_are_dropped_by_the_coordinator_wherever_it_was_deleted() {
    let cluster = cluster(3, &[("offsets.topic.num.partitions", "1")]).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic(&mut admin, TOPIC, 2).await;
    let coordinator = coordinator_other_than(&cluster, 1, None).await;
    let mut conn = connect(&cluster, coordinator).await;
    let until = deadline();
    loop {
        match commit(&mut conn, -1, "", &[(0, 5, ""), (1, 9, "")]).await[..] {
            [NONE, NONE] => break,
            [COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR, _]
                if tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            ref other => panic!("OffsetCommit answered {other:?}"),
        }
    }
    assert_eq!(
        fetch_when_loaded(&mut conn).await,
        offsets(&[(0, 5, ""), (1, 9, "")])
    );

    // The topic is deleted through another broker than the group's coordinator.
    let other = cluster
        .broker_ids()
        .into_iter()
        .find(|b| *b != coordinator)
        .unwrap();
    let mut elsewhere = connect(&cluster, other).await;
    let answers = delete_topics(&mut elsewhere, vec![(Some(TOPIC), Uuid::nil())]).await;
    assert_eq!(answers[0].2, NONE);

    let until = deadline();
    loop {
        let left = fetch_when_loaded(&mut conn).await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the coordinator kept {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

async fn kcat_produce(bootstrap: &str, values: &[String]) {
    let input = values.join("\n") + "\n";
    let args = [
        "-P", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-X", "acks=all",
    ];
    let run = kcat::run(&args, &input).await;
    assert!(
        run.success && !run.stderr.contains("failed"),
        "kcat -P: {}",
        run.stderr
    );
}

/// kcat's balanced consumer in `GROUP`: reads from the committed offset (or the earliest)
/// to the end of "orders", commits on close, and prints each value on a line.
async fn kcat_group_consume(bootstrap: &str) -> Vec<String> {
    let args = [
        "-b",
        bootstrap,
        "-G",
        GROUP,
        "-X",
        "auto.offset.reset=earliest",
        "-e",
        "-f",
        "%s\\n",
        TOPIC,
    ];
    let run = kcat::run(&args, "").await;
    assert!(run.success, "kcat -G failed: {}", run.stderr);
    run.stdout.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kcat_group_resumes_from_its_commit_after_the_coordinator_dies() {
    if !kcat::available() {
        return;
    }
    let mut cluster = cluster(3, &[("offsets.topic.num.partitions", "3")]).await;
    let mut admin = connect(&cluster, 1).await;
    create_topic(&mut admin, TOPIC, 1).await;
    let values = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!("order-{i}")).collect()
    };
    kcat_produce(&cluster.bootstrap(), &values(0..10)).await;
    assert_eq!(
        kcat_group_consume(&cluster.bootstrap()).await,
        values(0..10)
    );

    // The group committed 10 at its coordinator; then that broker dies.
    let coordinator = coordinator_other_than(&cluster, 1, None).await;
    let mut conn = connect(&cluster, coordinator).await;
    assert_eq!(fetch_when_loaded(&mut conn).await, offsets(&[(0, 10, "")]));
    cluster.stop(coordinator).await;
    let survivor = cluster.running_ids()[0];
    let moved = coordinator_other_than(&cluster, survivor, Some(coordinator)).await;
    assert_ne!(moved, coordinator);

    // The group carries on where it committed: only what was produced since.
    kcat_produce(&cluster.bootstrap(), &values(10..15)).await;
    assert_eq!(
        kcat_group_consume(&cluster.bootstrap()).await,
        values(10..15)
    );
    cluster.shutdown().await;
}

/// The log end offset of this broker's replica of `__consumer_offsets` partition 0.
fn offsets_log_end(cluster: &Cluster, broker_id: i32) -> i64 {
    let node = cluster.node(broker_id).expect("running");
    let state = node.state();
    let id = state
        .image
        .topic_id("__consumer_offsets")
        .expect("offsets topic");
    state.partitions[&(id, 0)].log().log_end_offset()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_coordinator_expires_no_member_until_it_runs_again() {
    // The brokers' own sessions outlast the pause: the coordinator's broker stays the
    // partition's leader, frozen.
    let cluster = cluster(
        3,
        &[
            ("offsets.topic.num.partitions", "1"),
            ("broker.session.timeout.ms", "30000"),
            ("group.min.session.timeout.ms", "500"),
        ],
    )
    .await;
    let coordinator = coordinator_other_than(&cluster, 1, None).await;
    let mut conn = connect(&cluster, coordinator).await;
    let required = join_when_loaded(&mut conn, 800).await;
    let member = required.member_id.to_string();
    let joined = join_for(&mut conn, &member, 800).await;
    assert_eq!(joined.error_code, NONE);
    assert_eq!(
        sync(&mut conn, joined.generation_id, &member)
            .await
            .error_code,
        NONE
    );
    let (_, state, _) = describe(&mut conn).await;
    assert_eq!(state, "Stable");
    let written = offsets_log_end(&cluster, coordinator);

    // Frozen for three session timeouts: no timer runs, so the member is not expired and
    // nothing is written to the group's log.
    assert!(cluster.pause(coordinator));
    tokio::time::sleep(Duration::from_millis(2400)).await;
    assert_eq!(
        offsets_log_end(&cluster, coordinator),
        written,
        "a paused coordinator wrote to its log"
    );

    // Running again, it finds the session long gone (the time passed, as for a stopped
    // process): the member leaves and the group is empty.
    assert!(cluster.resume(coordinator));
    let until = deadline();
    loop {
        let (code, state, members) = describe(&mut conn).await;
        assert_eq!(code, NONE);
        if state == "Empty" && members.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the member never expired: {state} {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(offsets_log_end(&cluster, coordinator) > written);
    cluster.shutdown().await;
}
