//! A replicated cluster over the raw wire: topics placed by the controller, produces with
//! acks=all answered once the ISR has them, and failover that keeps every acknowledged record.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Conn;
use common::cluster::{
    connect, create_partitions, create_topic_request, deadline, eventually, metadata,
    metadata_topic, now_ms, partition0, produce, read_from,
};
use reference::Cluster;

const TOPIC: &str = "orders";

/// `brokers` brokers that fence a silent broker after `session_timeout_ms`.
async fn cluster(brokers: usize, session_timeout_ms: &str) -> Cluster {
    common::cluster::start(
        brokers,
        None,
        &[("broker.session.timeout.ms", session_timeout_ms)],
    )
    .await
}

/// Records `key-<first>`.., recent: the default retention.ms (7 days) must not delete them.
fn batch(first: usize, count: usize) -> Bytes {
    common::cluster::batch(first, count, |i| now_ms() + i as i64)
}

/// CreateTopics of one partition: (error code, error message).
async fn create_topic(conn: &mut Conn, topic: &str, rf: i16) -> (i16, Option<String>) {
    let t = create_topic_request(conn, topic, 1, rf, &[]).await;
    (t.error_code, t.error_message.map(|m| m.to_string()))
}

/// (error code, leader, leader epoch, replicas, isr, broker ids) of partition 0.
async fn partition_metadata(conn: &mut Conn) -> (i16, i32, i32, Vec<i32>, Vec<i32>, Vec<i32>) {
    let p = partition0(conn, TOPIC).await.expect("a partition");
    (
        p.error_code,
        p.leader,
        p.leader_epoch,
        p.replicas,
        p.isr,
        p.brokers,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_the_loss_of_the_leader() {
    let mut cluster = cluster(3, "1000").await;
    let mut conn = connect(&cluster, 1).await;

    let (code, message) = create_topic(&mut conn, "too-many-replicas", 4).await;
    assert_eq!(code, 38, "INVALID_REPLICATION_FACTOR: {message:?}");
    let (code, message) = create_topic(&mut conn, TOPIC, 3).await;
    assert_eq!(code, 0, "{message:?}");

    let (code, leader, epoch, replicas, isr, brokers) = partition_metadata(&mut conn).await;
    assert_eq!(code, 0);
    assert_eq!(brokers, vec![1, 2, 3]);
    let mut sorted = replicas.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3]);
    assert_eq!(isr.len(), 3, "all replicas start in sync");
    assert!(replicas.contains(&leader));

    let follower = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut to_follower = connect(&cluster, follower).await;
    let (code, _) = produce(&mut to_follower, TOPIC, -1, batch(0, 1)).await;
    assert_eq!(code, 6, "NOT_LEADER_OR_FOLLOWER from a follower");

    let mut to_leader = connect(&cluster, leader).await;
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        let (code, base) = produce(&mut to_leader, TOPIC, -1, batch(round * 10, 10)).await;
        assert_eq!(code, 0, "acks=all produce {round}");
        assert_eq!(base, round as i64 * 10);
        acknowledged.extend((round * 10..round * 10 + 10).map(|i| format!("key-{i}")));
    }
    let (code, high_watermark, _, keys) = read_from(&mut to_leader, TOPIC, 0).await;
    assert_eq!((code, high_watermark), (0, 50));
    assert_eq!(keys, acknowledged);

    cluster.stop(leader).await;
    let survivor = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut conn = connect(&cluster, survivor).await;
    let until = deadline();
    let new_leader = loop {
        let (_, l, e, _, _, brokers) = partition_metadata(&mut conn).await;
        if l != leader && l != -1 && e > epoch && !brokers.contains(&leader) {
            break l;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no new leader with a higher epoch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mut to_new_leader = connect(&cluster, new_leader).await;
    let until = deadline();
    let keys = loop {
        let (code, high_watermark, _, keys) = read_from(&mut to_new_leader, TOPIC, 0).await;
        if code == 0 && high_watermark >= 50 {
            break keys;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the new leader never served the acknowledged records: {code} {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(keys, acknowledged);

    let (code, base) = produce(&mut to_new_leader, TOPIC, -1, batch(50, 10)).await;
    assert_eq!(
        (code, base),
        (0, 50),
        "the new leader takes acks=all writes"
    );

    // The old leader comes back as a follower, truncates to the new leader's log by leader
    // epoch (OffsetForLeaderEpoch), catches up over Fetch and rejoins the ISR.
    cluster.restart(leader).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("back");
    let until = deadline();
    loop {
        let (_, l, _, _, isr, _) = partition_metadata(&mut conn).await;
        if l == new_leader && isr.contains(&leader) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the restarted broker never rejoined the ISR: {isr:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.stop(new_leader).await;
    let mut conn = connect(&cluster, leader).await;
    let until = deadline();
    let (third_leader, mut to_third) = loop {
        let (_, l, _, _, _, _) = partition_metadata(&mut conn).await;
        if l != new_leader && l != -1 {
            break (l, connect(&cluster, l).await);
        }
        assert!(tokio::time::Instant::now() < until, "no third leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let until = deadline();
    loop {
        let (code, high_watermark, _, keys) = read_from(&mut to_third, TOPIC, 0).await;
        if code == 0 && high_watermark >= 60 {
            assert_eq!(
                keys.len(),
                60,
                "broker {third_leader} has every acknowledged record"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "third leader: {code} {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_only_below_the_high_watermark() {
    // Long enough that the stopped follower is surely still in the ISR when the test reads.
    let mut cluster = cluster(2, "3000").await;
    let mut conn = connect(&cluster, 1).await;
    let (code, message) = create_topic(&mut conn, TOPIC, 2).await;
    assert_eq!(code, 0, "{message:?}");
    let (_, leader, _, replicas, _, _) = partition_metadata(&mut conn).await;
    let follower = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut to_leader = connect(&cluster, leader).await;
    assert_eq!(
        produce(&mut to_leader, TOPIC, -1, batch(0, 5)).await,
        (0, 0)
    );

    // With the follower gone but still in the ISR, an acks=1 write is in the leader's log
    // and above the high watermark: consumers do not see it yet.
    cluster.stop(follower).await;
    assert_eq!(produce(&mut to_leader, TOPIC, 1, batch(5, 5)).await, (0, 5));
    let (code, high_watermark, _, keys) = read_from(&mut to_leader, TOPIC, 0).await;
    assert_eq!((code, high_watermark), (0, 5));
    assert_eq!(keys.len(), 5, "nothing above the high watermark");

    // Once the controller fences the follower and the ISR shrinks, it is committed.
    let until = deadline();
    loop {
        let (code, high_watermark, _, keys) = read_from(&mut to_leader, TOPIC, 0).await;
        if high_watermark == 10 {
            assert_eq!((code, keys.len()), (0, 10));
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "high watermark stuck at {high_watermark}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_to_a_topic_get_replicas_and_leaders() {
    let cluster = cluster(2, "3000").await;
    let mut conn = connect(&cluster, 2).await;
    let (code, message) = create_topic(&mut conn, TOPIC, 2).await;
    assert_eq!(code, 0, "{message:?}");
    let answers = create_partitions(&mut conn, &[(TOPIC, 3)], false).await;
    assert_eq!(answers, vec![(TOPIC.to_string(), 0)]);
    let answers = create_partitions(&mut conn, &[(TOPIC, 2)], false).await;
    assert_eq!(
        answers,
        vec![(TOPIC.to_string(), 37)],
        "INVALID_PARTITIONS when shrinking"
    );

    eventually("the partitions appear", async || {
        let t = metadata_topic(&mut conn, TOPIC).await;
        let partitions = &t.partitions;
        if partitions.len() == 3 && partitions.iter().all(|p| p.leader_id.0 > 0) {
            assert!(partitions.iter().all(|p| p.replica_nodes.len() == 2));
            return Some(());
        }
        None
    })
    .await;
    cluster.shutdown().await;
}

/// `unclean.leader.election.enable=true` on a topic: when the only in-sync replica is gone,
/// the controller makes the out-of-sync follower leader, and what only the old leader had,
/// acknowledged or not, is lost. With the default (false) the same partition stays without
/// a leader (features/failover.feature checks that against real Kafka).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclean_election_elects_an_out_of_sync_follower_and_loses_what_it_lacked() {
    let mut cluster = cluster(3, "1000").await;
    let mut conn = connect(&cluster, 1).await;
    let t = create_topic_request(
        &mut conn,
        TOPIC,
        1,
        2,
        &[("unclean.leader.election.enable", "true")],
    )
    .await;
    assert_eq!(t.error_code, 0, "{:?}", t.error_message);
    let (_, leader, epoch, replicas, _, _) = partition_metadata(&mut conn).await;
    let follower = *replicas.iter().find(|b| **b != leader).unwrap();
    let mut to_leader = connect(&cluster, leader).await;
    let (code, _) = produce(&mut to_leader, TOPIC, -1, batch(0, 5)).await;
    assert_eq!(code, 0);
    let until = deadline();
    let mut to_follower = connect(&cluster, follower).await;
    loop {
        let (code, high_watermark, _, _) = read_from(&mut to_follower, TOPIC, 0).await;
        if code == 0 && high_watermark == 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "follower never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The follower stops; the leader alone is the ISR and acknowledges acks=all by itself.
    cluster.stop(follower).await;
    let observer = *[1, 2, 3]
        .iter()
        .find(|b| **b != leader && **b != follower)
        .unwrap();
    let mut conn = connect(&cluster, observer).await;
    eventually("the ISR shrinks to the leader", async || {
        let (_, _, _, _, isr, _) = partition_metadata(&mut conn).await;
        (isr == vec![leader]).then_some(())
    })
    .await;
    let (code, base) = produce(&mut to_leader, TOPIC, -1, batch(5, 5)).await;
    assert_eq!((code, base), (0, 5), "acknowledged by the leader alone");

    // The leader stops and the out-of-sync follower comes back: it is elected anyway.
    cluster.stop(leader).await;
    cluster.start_broker(follower).await.expect("restart");
    let new_epoch = eventually("the out-of-sync follower leads", async || {
        let (_, l, e, _, _, _) = partition_metadata(&mut conn).await;
        (l == follower && e > epoch).then_some(e)
    })
    .await;
    assert!(new_epoch > epoch);
    let mut to_new_leader = connect(&cluster, follower).await;
    let keys = eventually("the new leader serves its log", async || {
        let (code, high_watermark, _, keys) = read_from(&mut to_new_leader, TOPIC, 0).await;
        (code == 0 && high_watermark == 5).then_some(keys)
    })
    .await;
    let expected: Vec<String> = (0..5).map(|i| format!("key-{i}")).collect();
    assert_eq!(keys, expected, "records 5..9, acknowledged, are lost");
    cluster.shutdown().await;
}

/// A cluster balancing leaders every second (`auto.leader.rebalance.enable` as given), with
/// topic [`TOPIC`] of one partition on all three brokers.
async fn balancing_cluster(enable: &str) -> Cluster {
    let cluster = common::cluster::start(
        3,
        None,
        &[
            ("auto.leader.rebalance.enable", enable),
            ("leader.imbalance.check.interval.seconds", "1"),
        ],
    )
    .await;
    let mut conn = connect(&cluster, 1).await;
    let (code, message) = create_topic(&mut conn, TOPIC, 3).await;
    assert_eq!(code, 0, "{message:?}");
    cluster
}

/// `auto.leader.rebalance.enable` (default true): the controller gives leadership back to a
/// partition's preferred replica once it is in the ISR again, at most
/// `leader.imbalance.check.interval.seconds` after it checked last (Kafka's
/// `QuorumController.maybeBalancePartitionLeaders`), with a new leader epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_preferred_replica_leads_again() {
    let mut cluster = balancing_cluster("true").await;
    let (preferred, failover_leader, failover_epoch) =
        common::cluster::stop_preferred_leader(&mut cluster, TOPIC).await;
    let mut conn = connect(&cluster, failover_leader).await;
    let (code, base) = produce(&mut conn, TOPIC, -1, batch(0, 3)).await;
    assert_eq!((code, base), (0, 0), "the failover leader takes writes");

    let back = tokio::time::Instant::now();
    cluster.start_broker(preferred).await.expect("restart");
    let (epoch, isr) = eventually("the preferred replica leads again", async || {
        let p = common::cluster::partition0(&mut conn, TOPIC).await?;
        (p.leader == preferred).then_some((p.leader_epoch, p.isr))
    })
    .await;
    assert!(
        epoch > failover_epoch,
        "a new leader epoch: {epoch} after {failover_epoch}"
    );
    assert!(isr.contains(&preferred) && isr.contains(&failover_leader));
    assert!(back.elapsed() < Duration::from_secs(10));

    // The preferred leader has what the failover leader acknowledged, and takes writes.
    let mut to_preferred = connect(&cluster, preferred).await;
    let (code, base) = produce(&mut to_preferred, TOPIC, -1, batch(3, 2)).await;
    assert_eq!((code, base), (0, 3), "the preferred leader takes writes");
    let (code, high_watermark, _, keys) = read_from(&mut to_preferred, TOPIC, 0).await;
    assert_eq!((code, high_watermark), (0, 5));
    assert_eq!(keys, common::cluster::keys(0..5));
    cluster.shutdown().await;
}

/// `auto.leader.rebalance.enable=false`: the preferred replica comes back into the ISR and
/// stays a follower (three check intervals later too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_rebalance_the_failover_leader_keeps_leading() {
    let mut cluster = balancing_cluster("false").await;
    let (preferred, failover_leader, failover_epoch) =
        common::cluster::stop_preferred_leader(&mut cluster, TOPIC).await;
    let mut conn = connect(&cluster, failover_leader).await;
    let p = common::cluster::restart_into_isr(&mut cluster, &mut conn, preferred, TOPIC).await;
    assert_eq!(
        (p.leader, p.leader_epoch),
        (failover_leader, failover_epoch)
    );
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < until {
        let p = common::cluster::partition0(&mut conn, TOPIC)
            .await
            .expect("a partition");
        assert_eq!(
            (p.leader, p.leader_epoch),
            (failover_leader, failover_epoch),
            "no balancing with auto.leader.rebalance.enable=false"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.shutdown().await;
}

/// The balancing configs are checked as Kafka's `ConfigDef` does: a boolean is `true` or
/// `false` in any case, the interval at least one second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balancing_configs_are_checked_at_start() {
    let start = |key: &str, value: &str| {
        Cluster::start_with(reference::ClusterOptions {
            brokers: 1,
            configs: vec![(key.to_string(), value.to_string())],
            ..Default::default()
        })
    };
    for (key, value) in [
        ("auto.leader.rebalance.enable", "yes"),
        ("leader.imbalance.check.interval.seconds", "0"),
        ("leader.imbalance.check.interval.seconds", "soon"),
    ] {
        let refused = start(key, value).await.err().expect("refused");
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::InvalidInput,
            "{key}={value}"
        );
        assert!(refused.to_string().contains(key), "{refused}");
    }
    for (key, value) in [
        ("auto.leader.rebalance.enable", "FALSE"),
        ("leader.imbalance.check.interval.seconds", "60"),
    ] {
        start(key, value).await.expect("accepted").shutdown().await;
    }
}

/// The cluster ids every broker reports in Metadata.
async fn cluster_ids(cluster: &Cluster) -> Vec<String> {
    let mut ids = Vec::new();
    for broker in cluster.broker_ids() {
        let mut conn = connect(cluster, broker).await;
        let id = metadata(&mut conn, TOPIC).await.cluster_id;
        ids.push(id.map(|s| s.to_string()).unwrap_or_default());
    }
    ids
}

/// Every broker of a cluster reports one cluster id (librdkafka warns "reports different
/// ClusterId" otherwise), kept in each broker's meta.properties across a restart; a broker
/// dir of another cluster is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broker_reports_the_same_cluster_id_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::cluster::start(3, Some(dir.path()), &[]).await;
    let ids = cluster_ids(&cluster).await;
    assert_eq!(ids.len(), 3);
    assert!(!ids[0].is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    cluster.shutdown().await;

    let cluster = common::cluster::start(3, Some(dir.path()), &[]).await;
    let again = cluster_ids(&cluster).await;
    assert_eq!(
        again, ids,
        "the same cluster id after a whole-cluster restart"
    );
    cluster.shutdown().await;

    let meta = dir.path().join("broker-2").join("meta.properties");
    let text = std::fs::read_to_string(&meta).unwrap();
    assert!(text.contains(&format!("cluster.id={}", ids[0])), "{text}");
    std::fs::write(&meta, "version=1\ncluster.id=another-cluster\n").unwrap();
    let refused = reference::Cluster::start_with(reference::ClusterOptions {
        brokers: 3,
        port: 0,
        data_dir: Some(dir.path().to_path_buf()),
        configs: Vec::new(),
    })
    .await;
    let error = refused
        .err()
        .expect("a broker dir of another cluster is refused");
    assert!(error.to_string().contains("another-cluster"), "{error}");
}

/// A broker restarted at once cannot register while its old session lives
/// (`broker.session.timeout.ms`); until it has registered and caught up with the metadata it
/// knows no brokers and no topics, so it must not answer clients yet, as Kafka's broker opens
/// request processing only after that initial catch-up. Answering from its empty image told
/// librdkafka the cluster had 0 brokers and the topic did not exist: librdkafka dropped
/// every broker it knew, and a consumer of the checker stopped fetching for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_answers_clients_only_once_it_has_the_metadata() {
    let mut cluster = cluster(3, "3000").await;
    let mut conn = connect(&cluster, 1).await;
    assert_eq!(create_topic(&mut conn, TOPIC, 3).await.0, 0);
    eventually("partition 0 has three replicas in sync", async || {
        partition0(&mut conn, TOPIC)
            .await
            .filter(|p| p.isr.len() == 3)
    })
    .await;

    cluster.stop(3).await;
    cluster
        .start_broker(3)
        .await
        .expect("broker 3 starts again");
    let asked = tokio::time::Instant::now();
    let mut restarted = connect(&cluster, 3).await;
    let answer = metadata(&mut restarted, TOPIC).await;
    let brokers: Vec<i32> = answer.brokers.iter().map(|b| b.node_id.0).collect();
    let topic = &answer.topics[0];
    assert!(
        !brokers.is_empty(),
        "the restarted broker answered with no brokers"
    );
    assert_eq!(
        (topic.error_code, topic.partitions.len()),
        (0, 1),
        "the restarted broker answered as if {TOPIC} did not exist (brokers {brokers:?})"
    );
    println!(
        "broker 3 answered after {:?}: brokers {brokers:?}",
        asked.elapsed()
    );
    cluster.shutdown().await;
}
