//! The runtime over real sockets, from inside the crate: markers reach a partition leader
//! (a stand-in that answers WriteTxnMarkers, as the broker's own handler will) and are
//! retried until written, after which the transaction completes; and `verify_or_add` from
//! the coordinator's broker (a direct call) and from another broker (AddPartitionsToTxn v5).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cluster::client::Client;
use crate::cluster::{Cluster, ClusterOptions};
use crate::txn::TopicPartition;
use crate::txn::runtime::{coordinator_of, verify_or_add};

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const TRANSACTION_ABORTABLE: i16 = 120;
const TIMEOUT: Duration = Duration::from_secs(10);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn cluster(brokers: usize) -> Cluster {
    let configs = [
        ("broker.session.timeout.ms", "1000"),
        ("broker.heartbeat.interval.ms", "100"),
        ("replica.fetch.wait.max.ms", "100"),
        ("transaction.state.log.num.partitions", "3"),
    ];
    Cluster::start_with(ClusterOptions {
        brokers,
        port: 0,
        data_dir: None,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
    .expect("cluster starts")
}

async fn call(client: &mut Client, key: ApiKey, version: i16, req: RequestKind) -> ResponseKind {
    client
        .call(key, version, req, TIMEOUT)
        .await
        .expect("answered")
}

async fn create_topic(client: &mut Client, topic: &str, partitions: i32, rf: i16) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(partitions)
                .with_replication_factor(rf),
        ]);
    let ResponseKind::CreateTopics(r) = call(
        client,
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(req),
    )
    .await
    else {
        panic!("not CreateTopics")
    };
    assert_eq!(r.topics[0].error_code, 0);
}

/// Polls `check` every 20 ms for ten seconds.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A producer of `id` at its coordinator (found through `client`): (producer id, epoch).
async fn init(cluster: &Cluster, id: &str) -> (i32, i64, i16) {
    let node = cluster.node(1).expect("broker 1").clone();
    let leader = eventually("a coordinator", async || {
        let req = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s(id)]);
        let mut c = Client::connect(cluster.address(1).unwrap(), "t".into())
            .await
            .unwrap();
        let _ = call(
            &mut c,
            ApiKey::FindCoordinator,
            4,
            RequestKind::FindCoordinator(req),
        )
        .await;
        coordinator_of(&node, id).ok()
    })
    .await;
    let mut c = Client::connect(cluster.address(leader).unwrap(), "t".into())
        .await
        .unwrap();
    let (pid, epoch) = eventually("InitProducerId", async || {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(r) = call(
            &mut c,
            ApiKey::InitProducerId,
            4,
            RequestKind::InitProducerId(req),
        )
        .await
        else {
            panic!("not InitProducerId")
        };
        (r.error_code == 0).then_some((r.producer_id.0, r.producer_epoch))
    })
    .await;
    (leader, pid, epoch)
}

/// A stand-in partition leader: answers every WriteTxnMarkers, NOT_LEADER_OR_FOLLOWER the
/// first time for partition 1, and keeps each request's (producer id, epoch, coordinator
/// epoch, commit, partitions).
type Seen = Arc<Mutex<Vec<(i64, i16, i32, bool, Vec<i32>)>>>;

async fn stand_in_leader() -> (std::net::SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = kept.clone();
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 4];
                    if socket.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
                    if socket.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let frame = answer(bytes::Bytes::from(body), &seen);
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn answer(mut body: bytes::Bytes, seen: &Seen) -> Vec<u8> {
    let key = ApiKey::try_from((&body[..2]).get_i16()).unwrap();
    let version = (&body[2..4]).get_i16();
    assert_eq!((key, version), (ApiKey::WriteTxnMarkers, 1));
    let header = RequestHeader::decode(&mut body, key.request_header_version(version)).unwrap();
    let req = WriteTxnMarkersRequest::decode(&mut body, version).unwrap();
    let mut results = Vec::new();
    for m in &req.markers {
        let partitions: Vec<i32> = m
            .topics
            .iter()
            .flat_map(|t| t.partition_indexes.clone())
            .collect();
        let first = !seen.lock().unwrap().iter().any(|s| s.4.contains(&1));
        seen.lock().unwrap().push((
            m.producer_id.0,
            m.producer_epoch,
            m.coordinator_epoch,
            m.transaction_result,
            partitions,
        ));
        let topics = m
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partition_indexes
                    .iter()
                    .map(|p| {
                        let code = if *p == 1 && first {
                            NOT_LEADER_OR_FOLLOWER
                        } else {
                            0
                        };
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(*p)
                            .with_error_code(code)
                    })
                    .collect();
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(parts)
            })
            .collect();
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, key.response_header_version(version))
        .unwrap();
    WriteTxnMarkersResponse::default()
        .with_markers(results)
        .encode(&mut out, version)
        .unwrap();
    let mut frame = (out.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&out);
    frame
}

async fn describe_state(client: &mut Client, id: &str) -> String {
    let req =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(id))]);
    let ResponseKind::DescribeTransactions(r) = call(
        client,
        ApiKey::DescribeTransactions,
        0,
        RequestKind::DescribeTransactions(req),
    )
    .await
    else {
        panic!("not DescribeTransactions")
    };
    r.transaction_states[0].transaction_state.to_string()
}

#[tokio::test]
async fn markers_reach_the_leaders_are_retried_and_complete_the_transaction() {
    let cluster = cluster(1).await;
    let addr = cluster.address(1).unwrap();
    let mut client = Client::connect(addr, "t".into()).await.unwrap();
    create_topic(&mut client, "payments", 2, 1).await;
    let id = "payments-processor";
    let (_, pid, epoch) = init(&cluster, id).await;
    let topics = vec![
        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("payments")))
            .with_partitions(vec![0, 1]),
    ];
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics);
    let _ = call(
        &mut client,
        ApiKey::AddPartitionsToTxn,
        3,
        RequestKind::AddPartitionsToTxn(req),
    )
    .await;
    // The leader of `payments` (broker 1) is, for the marker sender, the stand-in now.
    let (fake, seen) = stand_in_leader().await;
    let node = cluster.node(1).unwrap().clone();
    node.addresses.lock().unwrap().insert(1, fake);
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    let ResponseKind::EndTxn(r) =
        call(&mut client, ApiKey::EndTxn, 3, RequestKind::EndTxn(req)).await
    else {
        panic!("not EndTxn")
    };
    assert_eq!(r.error_code, 0);
    eventually("CompleteCommit", async || {
        (describe_state(&mut client, id).await == "CompleteCommit").then_some(())
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let partition = crate::txn::partition_for(id, 3) as usize;
    let epoch_of_partition = node
        .state()
        .image
        .topic_by_name(crate::txn::TRANSACTION_STATE_TOPIC)
        .map(|t| t.partitions[partition].leader_epoch)
        .unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], (pid, epoch, epoch_of_partition, true, vec![0, 1]));
    assert_eq!(
        seen[1],
        (pid, epoch, epoch_of_partition, true, vec![1]),
        "only the refused one again"
    );
}

#[tokio::test]
async fn verify_or_add_asks_the_coordinator_here_or_over_the_network() {
    let cluster = cluster(3).await;
    let addr = cluster.address(1).unwrap();
    let mut client = Client::connect(addr, "t".into()).await.unwrap();
    create_topic(&mut client, "payments", 3, 3).await;
    let id = "payments-verified";
    let (coordinator, pid, epoch) = init(&cluster, id).await;
    let other = (1..=3).find(|b| *b != coordinator).unwrap();
    let p = |i: i32| TopicPartition::new("payments", i);
    let here = cluster.shared(coordinator).unwrap().clone();
    let there = cluster.shared(other).unwrap().clone();
    let verified = verify_or_add(&there, id, pid, epoch, &[p(0)], false).await;
    assert_eq!(verified, vec![(p(0), TRANSACTION_ABORTABLE)]);
    let added = verify_or_add(&there, id, pid, epoch, &[p(0), p(1)], true).await;
    assert_eq!(added, vec![(p(0), 0), (p(1), 0)]);
    let verified = verify_or_add(&here, id, pid, epoch, &[p(1), p(2)], false).await;
    assert_eq!(verified, vec![(p(1), 0), (p(2), TRANSACTION_ABORTABLE)]);
    let added = verify_or_add(&here, id, pid, epoch, &[p(2)], true).await;
    assert_eq!(added, vec![(p(2), 0)]);
    let fenced = verify_or_add(&there, id, pid, epoch + 1, &[p(2)], false).await;
    assert_eq!(
        fenced,
        vec![(p(2), 90)],
        "PRODUCER_FENCED for another epoch"
    );
    let md = here.txns.read(|c, _| c.metadata(id).cloned()).unwrap();
    assert_eq!(md.topic_partitions.len(), 3);
}
