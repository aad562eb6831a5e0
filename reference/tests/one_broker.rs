//! The single broker (`EmbeddedBroker`, what `kafka-spec serve` runs) is a cluster of one, as
//! Apache Kafka's single node is a KRaft cluster of one: it speaks the APIs a cluster speaks,
//! with the versions a cluster advertises, and answers them as Kafka's single node does.
//!
//! What Kafka answers was observed on Apache Kafka 4.3.1, one node in KRaft combined mode
//! (`ci/kafka/start.sh --nodes 1`, the version pinned in `ci/kafka/pom.xml`), sent the same
//! requests over the raw wire: the codes and messages below are its answers.
//!
//! # References
//! - KIP-320 / KIP-392 (OffsetForLeaderEpoch for consumers, `current_leader_epoch`),
//!   KIP-460 (ElectLeaders, preferred and unclean), KIP-500 (a KRaft cluster of one)
//! - `Topic.validate` (legal topic names: `[a-zA-Z0-9._-]`, at most 249 characters)

mod common;

use common::Conn;
use common::cluster::{
    batch, connect, create_topic_with, elect_leaders, election_results, eventually, name, now_ms,
    produce,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use reference::EmbeddedBroker;

const TOPIC: &str = "orders";
const UNKNOWN_TOPIC: &str = "no-such-topic";

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const ELECTION_NOT_NEEDED: i16 = 84;

/// Kafka's `ElectionNotNeededException` message, for a preferred and an unclean election
/// alike.
const NOT_NEEDED: &str = "Leader election not needed for topic partition.";

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// ApiVersions v3 (with a client name, as Kafka requires from v3 on): (key, min, max) of
/// every API, sorted by key.
async fn api_versions(conn: &mut Conn) -> Vec<(i16, i16, i16)> {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("one-broker-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let ResponseKind::ApiVersions(r) = conn
        .call(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(req))
        .await
    else {
        panic!("not ApiVersions")
    };
    assert_eq!(r.error_code, NONE);
    let mut keys: Vec<_> = r
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_broker_advertises_what_a_cluster_advertises() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    let mut conn = Conn::connect(broker.bootstrap()).await;
    let single = api_versions(&mut conn).await;
    // Kafka 4.3.1's single node advertises the same two ranges.
    let offset_for_leader_epoch = (ApiKey::OffsetForLeaderEpoch as i16, 2, 4);
    let elect_leaders = (ApiKey::ElectLeaders as i16, 0, 2);
    assert!(
        single.contains(&offset_for_leader_epoch),
        "OffsetForLeaderEpoch 2..=4 in {single:?}"
    );
    assert!(
        single.contains(&elect_leaders),
        "ElectLeaders 0..=2 in {single:?}"
    );

    let cluster = common::cluster::start(3, None, &[]).await;
    for id in cluster.broker_ids() {
        let mut conn = connect(&cluster, id).await;
        assert_eq!(
            api_versions(&mut conn).await,
            single,
            "broker {id} of a 3-broker cluster advertises what the single broker does"
        );
    }
    cluster.shutdown().await;
    broker.shutdown().await;
}

/// OffsetForLeaderEpoch v4 of partition 0 of `topic` as a consumer asks it (replica id -1):
/// (error code, leader epoch, end offset).
async fn end_offset_for(
    conn: &mut Conn,
    topic: &str,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(current_leader_epoch)
                        .with_leader_epoch(leader_epoch),
                ]),
        ]);
    let ResponseKind::OffsetForLeaderEpoch(r) = conn
        .call(
            ApiKey::OffsetForLeaderEpoch,
            4,
            RequestKind::OffsetForLeaderEpoch(req),
        )
        .await
    else {
        panic!("not OffsetForLeaderEpoch")
    };
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.partition, 0);
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// The answers Kafka 4.3.1's single node gave, for "orders" (one partition, three records
/// produced at leader epoch 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_broker_answers_offset_for_leader_epoch_as_kafka_does() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, TOPIC, 1, 1, &[]).await;
    assert_eq!(
        produce(&mut conn, TOPIC, -1, batch(0, 3, |_| now_ms())).await,
        (NONE, 0)
    );

    // The consumer's check after a leader change (KIP-320): epoch 0 ends at the log end.
    assert_eq!(end_offset_for(&mut conn, TOPIC, 0, 0).await, (NONE, 0, 3));
    // No current epoch known (-1): not checked.
    assert_eq!(end_offset_for(&mut conn, TOPIC, -1, 0).await, (NONE, 0, 3));
    // A current epoch the leader has not reached: the client's metadata is newer than the
    // leader's, so the leader says so rather than answer.
    assert_eq!(
        end_offset_for(&mut conn, TOPIC, 5, 0).await,
        (UNKNOWN_LEADER_EPOCH, -1, -1)
    );
    // An epoch after every epoch of the log: no error, undefined epoch and offset.
    assert_eq!(end_offset_for(&mut conn, TOPIC, 0, 1).await, (NONE, -1, -1));
    assert_eq!(
        end_offset_for(&mut conn, UNKNOWN_TOPIC, -1, 0).await,
        (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_broker_answers_elect_leaders_as_kafka_does() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    let mut conn = Conn::connect(broker.bootstrap()).await;
    create_topic_with(&mut conn, TOPIC, 1, 1, &[]).await;
    let not_needed = vec![(
        TOPIC.to_string(),
        0,
        ELECTION_NOT_NEEDED,
        Some(NOT_NEEDED.to_string()),
    )];

    // The one broker leads, and is the preferred leader: nothing to elect, at every version.
    for version in 0..=2 {
        let r = elect_leaders(&mut conn, version, PREFERRED, Some(&[(TOPIC, &[0])]), 5000).await;
        assert_eq!(r.error_code, NONE, "v{version}");
        assert_eq!(election_results(&r), not_needed, "v{version}");
    }
    // An unclean election of a partition whose leader is alive: not needed either.
    let r = elect_leaders(&mut conn, 2, UNCLEAN, Some(&[(TOPIC, &[0])]), 5000).await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(election_results(&r), not_needed);

    let r = elect_leaders(
        &mut conn,
        2,
        PREFERRED,
        Some(&[(UNKNOWN_TOPIC, &[0])]),
        5000,
    )
    .await;
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        election_results(&r),
        vec![(
            UNKNOWN_TOPIC.to_string(),
            0,
            UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such topic as {UNKNOWN_TOPIC}"))
        )]
    );
    let r = elect_leaders(&mut conn, 2, PREFERRED, Some(&[(TOPIC, &[7])]), 5000).await;
    assert_eq!(
        election_results(&r),
        vec![(
            TOPIC.to_string(),
            7,
            UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such partition as {TOPIC}-7"))
        )]
    );
    broker.shutdown().await;
}

/// Metadata v12 of `topics` (`None`: all topics), creating missing ones when
/// `allow_auto_topic_creation`: (name, error code, partition count) of each topic listed.
async fn metadata_of(
    conn: &mut Conn,
    topics: Option<&[&str]>,
    allow_auto_topic_creation: bool,
) -> Vec<(String, i16, usize)> {
    let topics = topics.map(|topics| {
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
            .collect()
    });
    let req = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(allow_auto_topic_creation);
    let ResponseKind::Metadata(r) = conn
        .call(ApiKey::Metadata, 12, RequestKind::Metadata(req))
        .await
    else {
        panic!("not Metadata")
    };
    r.topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            (name, t.error_code, t.partitions.len())
        })
        .collect()
}

/// Names Kafka's `Topic.validate` refuses: a character outside `[a-zA-Z0-9._-]`, and one
/// character over the 249 it allows.
fn invalid_names() -> [String; 2] {
    ["invalid$#!".to_string(), "a".repeat(250)]
}

/// A Metadata that may create topics, for each invalid name, answers INVALID_TOPIC_EXCEPTION
/// (17) with no partitions, as Kafka 4.3.1's single node does (librdkafka's test 0057,
/// `invalid_topic`, relies on that error). Then a valid topic is auto-created the same way
/// (its first answer UNKNOWN_TOPIC_OR_PARTITION, no partitions yet) and waited for in the
/// all-topics Metadata: once it is listed, anything the invalid names
/// had started would be listed too, and nothing else is new.
async fn refuses_invalid_names(conn: &mut Conn, sentinel: &str) {
    let before = metadata_of(conn, None, false).await;
    for invalid in invalid_names() {
        assert_eq!(
            metadata_of(conn, Some(&[invalid.as_str()]), true).await,
            vec![(invalid.clone(), INVALID_TOPIC_EXCEPTION, 0)],
            "{invalid:.20}"
        );
    }
    // The Metadata that starts the creation answers UNKNOWN_TOPIC_OR_PARTITION, as Kafka
    // 4.3.1 answered at v4, v9 and v12 (not LEADER_NOT_AVAILABLE).
    assert_eq!(
        metadata_of(conn, Some(&[sentinel]), true).await,
        vec![(sentinel.to_string(), UNKNOWN_TOPIC_OR_PARTITION, 0)],
    );
    let after = eventually("the valid topic is auto-created", async || {
        let all = metadata_of(conn, None, false).await;
        all.iter().any(|(t, _, _)| t == sentinel).then_some(all)
    })
    .await;
    let new: Vec<&String> = after
        .iter()
        .map(|(t, _, _)| t)
        .filter(|t| !before.iter().any(|(b, _, _)| b == *t))
        .collect();
    assert_eq!(new, vec![sentinel], "only the valid topic is new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_broker_refuses_to_auto_create_invalid_topic_names() {
    let broker = EmbeddedBroker::start().await.expect("broker starts");
    let mut conn = Conn::connect(broker.bootstrap()).await;
    refuses_invalid_names(&mut conn, "valid-after").await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broker_of_a_cluster_refuses_to_auto_create_invalid_topic_names() {
    let cluster = common::cluster::start(3, None, &[]).await;
    let mut created: Vec<String> = Vec::new();
    for id in cluster.broker_ids() {
        let mut conn = connect(&cluster, id).await;
        // The sentinels created through the brokers before must have reached this one's
        // metadata first, or one arriving meanwhile would count as new.
        eventually("the earlier sentinels reach this broker", async || {
            let all = metadata_of(&mut conn, None, false).await;
            created
                .iter()
                .all(|c| all.iter().any(|(t, _, _)| t == c))
                .then_some(())
        })
        .await;
        let sentinel = format!("valid-after-{id}");
        refuses_invalid_names(&mut conn, &sentinel).await;
        created.push(sentinel);
    }
    for id in cluster.broker_ids() {
        let mut conn = connect(&cluster, id).await;
        let all = metadata_of(&mut conn, None, false).await;
        for invalid in invalid_names() {
            assert!(
                !all.iter().any(|(t, _, _)| *t == invalid),
                "broker {id} lists {invalid:.20}"
            );
        }
    }
    cluster.shutdown().await;
}
