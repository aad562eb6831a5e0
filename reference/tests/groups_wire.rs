//! Bad input to the group coordinator over TCP: wrong generation, unknown member, an
//! inconsistent protocol, oversized metadata, commits for unknown topics. Each gets Kafka's
//! error code, and the group (and other groups) keep working with nothing committed lost.

mod common;

use bytes::Bytes;
use common::Conn;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::EmbeddedBroker;
use reference::embedded::BrokerOptions;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn group(id: &str) -> GroupId {
    GroupId(s(id))
}

fn join(group_id: &str, member_id: &str, protocol_type: &str) -> RequestKind {
    RequestKind::JoinGroup(
        JoinGroupRequest::default()
            .with_group_id(group(group_id))
            .with_member_id(s(member_id))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s(protocol_type))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::new()),
            ]),
    )
}

async fn join_group(conn: &mut Conn, request: RequestKind) -> JoinGroupResponse {
    let ResponseKind::JoinGroup(r) = conn.call(ApiKey::JoinGroup, 7, request).await else {
        panic!("not JoinGroup")
    };
    r
}

fn commit(
    group_id: &str,
    generation: i32,
    member: &str,
    topic: &str,
    metadata: &str,
) -> RequestKind {
    RequestKind::OffsetCommit(
        OffsetCommitRequest::default()
            .with_group_id(group(group_id))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(42)
                            .with_committed_metadata(Some(s(metadata))),
                    ]),
            ]),
    )
}

async fn commit_error(conn: &mut Conn, request: RequestKind) -> i16 {
    let ResponseKind::OffsetCommit(r) = conn.call(ApiKey::OffsetCommit, 8, request).await else {
        panic!("not OffsetCommit")
    };
    r.topics[0].partitions[0].error_code
}

async fn heartbeat_error(conn: &mut Conn, generation: i32, member: &str) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(group("g1"))
        .with_generation_id(generation)
        .with_member_id(s(member));
    let ResponseKind::Heartbeat(r) = conn
        .call(ApiKey::Heartbeat, 4, RequestKind::Heartbeat(request))
        .await
    else {
        panic!("not Heartbeat")
    };
    r.error_code
}

#[tokio::test]
async fn bad_group_requests_get_kafkas_error_codes_and_groups_keep_working() {
    let options = BrokerOptions {
        configs: vec![("group.initial.rebalance.delay.ms".into(), "0".into())],
        ..Default::default()
    };
    let broker = EmbeddedBroker::start_with(options).await.unwrap();
    // As every client does: find the coordinators first (the first FindCoordinator creates
    // `__consumer_offsets`; until a group's partition is loaded, Kafka answers its group
    // requests NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS).
    let _ = common::cluster::group_coordinator(broker.cluster(), 1, "g2").await;
    let (_, mut conn) = common::cluster::group_coordinator(broker.cluster(), 1, "g1").await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("orders")))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    conn.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(create))
        .await;

    // Member id required (v4+), then a real join: leader of generation 1.
    let first = join_group(&mut conn, join("g1", "", "consumer")).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.to_string();
    let joined = join_group(&mut conn, join("g1", &member, "consumer")).await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!(joined.leader.as_str(), member);

    // In CompletingRebalance a commit is REBALANCE_IN_PROGRESS; the leader's SyncGroup makes
    // the group Stable.
    assert_eq!(
        commit_error(&mut conn, commit("g1", 1, &member, "orders", "early")).await,
        27
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(group("g1"))
        .with_generation_id(1)
        .with_member_id(s(&member))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"assignment")),
        ]);
    let ResponseKind::SyncGroup(synced) = conn
        .call(ApiKey::SyncGroup, 5, RequestKind::SyncGroup(sync))
        .await
    else {
        panic!("not SyncGroup")
    };
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"assignment"[..])
    );

    let mut other = Conn::connect(broker.bootstrap()).await;
    let inconsistent = join_group(&mut other, join("g1", "", "connect")).await;
    assert_eq!(inconsistent.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    assert_eq!(
        heartbeat_error(&mut conn, 7, &member).await,
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        heartbeat_error(&mut conn, 1, "nobody").await,
        25,
        "UNKNOWN_MEMBER_ID"
    );

    // g1 is still a group at generation 1 whose member can commit: the errors changed nothing.
    let big = "m".repeat(5000);
    assert_eq!(
        commit_error(&mut conn, commit("g1", 1, &member, "orders", &big)).await,
        12,
        "OFFSET_METADATA_TOO_LARGE"
    );
    assert_eq!(
        commit_error(&mut conn, commit("g1", 1, &member, "nope", "")).await,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        commit_error(&mut conn, commit("g1", 1, &member, "orders", "kept")).await,
        0
    );
    assert_eq!(
        commit_error(&mut conn, commit("g2", -1, "", "orders", "other group")).await,
        0
    );
    assert_eq!(
        commit_error(&mut conn, commit("g1", 0, &member, "orders", "stale")).await,
        22
    );

    for (group_id, metadata) in [("g1", "kept"), ("g2", "other group")] {
        let fetch = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group(group_id))
                .with_topics(None),
        ]);
        let ResponseKind::OffsetFetch(r) = conn
            .call(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(fetch))
            .await
        else {
            panic!("not OffsetFetch")
        };
        let p = &r.groups[0].topics[0].partitions[0];
        assert_eq!(
            (p.committed_offset, p.metadata.as_ref().map(|m| m.as_str())),
            (42, Some(metadata))
        );
    }
    broker.shutdown().await;
}

/// A classic consumer's JoinGroup protocol: `range`, subscription version 1 to `topic`,
/// owning nothing (the consumer's embedded protocol: an int16 version, then the message).
fn classic_consumer_protocol(topic: &str) -> join_group_request::JoinGroupRequestProtocol {
    use kafka_protocol::protocol::Encodable as _;
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(vec![s(topic)])
        .with_owned_partitions(Vec::new());
    let mut metadata = bytes::BytesMut::new();
    metadata.extend_from_slice(&1i16.to_be_bytes());
    subscription.encode(&mut metadata, 1).expect("encodes");
    join_group_request::JoinGroupRequestProtocol::default()
        .with_name(s("range"))
        .with_metadata(metadata.freeze())
}

/// KIP-848's online migration over TCP: a classic consumer joins a consumer group that a
/// consumer-protocol member started, as a classic member (Kafka 4.3.1 answers it so; the
/// Java client's rolling upgrade is `ci/clients.sh`'s java-group-migration).
#[tokio::test]
async fn a_classic_consumer_joins_a_consumer_group_as_a_classic_member() {
    let broker = EmbeddedBroker::start().await.unwrap();
    let (_, mut conn) = common::cluster::group_coordinator(broker.cluster(), 1, "mixed").await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("orders")))
            .with_num_partitions(4)
            .with_replication_factor(1),
    ]);
    conn.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(create))
        .await;
    let heartbeat = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group("mixed"))
        .with_member_id(s("new-member"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("orders"))]))
        .with_topic_partitions(Some(Vec::new()));
    let ResponseKind::ConsumerGroupHeartbeat(r) = conn
        .call(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            RequestKind::ConsumerGroupHeartbeat(heartbeat),
        )
        .await
    else {
        panic!("not ConsumerGroupHeartbeat")
    };
    assert_eq!((r.error_code, r.member_epoch), (0, 2));

    let classic = |member_id: &str| {
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(group("mixed"))
                .with_member_id(s(member_id))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![classic_consumer_protocol("orders")]),
        )
    };
    let ResponseKind::JoinGroup(first) = conn.call(ApiKey::JoinGroup, 9, classic("")).await else {
        panic!("not JoinGroup")
    };
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    assert_eq!(
        first.member_id.len(),
        22,
        "a Kafka Uuid: {:?}",
        first.member_id
    );
    let member = first.member_id.to_string();
    // Answered at once: the coordinator assigns, so there is no leader and no member list.
    let ResponseKind::JoinGroup(joined) = conn.call(ApiKey::JoinGroup, 9, classic(&member)).await
    else {
        panic!("not JoinGroup")
    };
    assert_eq!(joined.error_code, 0);
    assert_eq!(
        joined.generation_id, 3,
        "its member epoch: the group epoch after it joined"
    );
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.leader.as_str(), "");
    assert!(joined.members.is_empty());
    // Its partitions are still the first member's: it gets nothing yet, and is told to
    // rejoin once they are released.
    let sync = SyncGroupRequest::default()
        .with_group_id(group("mixed"))
        .with_member_id(s(&member))
        .with_generation_id(joined.generation_id)
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")));
    let ResponseKind::SyncGroup(synced) = conn
        .call(ApiKey::SyncGroup, 5, RequestKind::SyncGroup(sync))
        .await
    else {
        panic!("not SyncGroup")
    };
    assert_eq!(synced.error_code, 0);
    assert_eq!(
        &synced.assignment[..],
        &[0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        "an empty ConsumerProtocolAssignment v1"
    );
    let describe = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group("mixed")]);
    let ResponseKind::ConsumerGroupDescribe(d) = conn
        .call(
            ApiKey::ConsumerGroupDescribe,
            1,
            RequestKind::ConsumerGroupDescribe(describe),
        )
        .await
    else {
        panic!("not ConsumerGroupDescribe")
    };
    let mut types: Vec<(String, i8)> = d.groups[0]
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.member_type))
        .collect();
    types.sort();
    let mut want = vec![(member, 0), ("new-member".to_string(), 1)];
    want.sort();
    assert_eq!(types, want, "member types: 0 classic, 1 consumer");
    broker.shutdown().await;
}
