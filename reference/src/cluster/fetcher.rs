//! A follower's fetcher for one partition: asks the partition core what to send
//! ([`Partition::next_follower_request`](crate::replication::Partition::next_follower_request)),
//! sends it to the leader over the real wire (OffsetForLeaderEpoch v4, or Fetch v15 with
//! `ReplicaState`), and hands the answer back to the core. It ends when the partition is no
//! longer followed by this broker.
//!
//! A paused broker's fetchers wait; while this broker or its leader is isolated, the link is
//! down: the connection is dropped (also in the middle of an exchange) and the fetcher waits
//! for the partition to heal. A request in flight to a leader that the metadata has since
//! replaced (say a frozen one, which would never answer) is abandoned at once, as Kafka's
//! fetcher manager moves a partition to the new leader's fetcher without waiting.
//!
//! # References
//! - `kafka.server.ReplicaFetcherThread`, `AbstractFetcherThread`, KIP-392, KIP-101

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, OffsetForLeaderEpochRequest, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{Client, ClientError};
use super::node::{Node, PartitionKey};
use crate::api::now_ms;
use crate::replication::{EpochEndOffset, FollowerRequest, ReplicaFetch, ReplicaFetchResponse};

/// Fetch v15 is the first with `ReplicaState` (KIP-903).
const FETCH_VERSION: i16 = 15;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
/// `replica.fetch.max.bytes`: a follower's `partition_max_bytes`.
const FETCH_MAX_BYTES: usize = 1024 * 1024;
/// `replica.fetch.response.max.bytes`: a follower's `max_bytes` (the leader bounds it by its
/// own `fetch.max.bytes`).
const FETCH_RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;
/// `replica.fetch.backoff.ms`.
const BACKOFF: Duration = Duration::from_millis(50);

/// What one round asks the leader.
struct Round {
    leader: i32,
    leader_epoch: i32,
    topic: String,
    request: FollowerRequest,
}

pub async fn run(node: Arc<Node>, key: PartitionKey) {
    let mut conn: Option<(i32, Client)> = None;
    loop {
        node.faults.wait_unpaused(node.id).await;
        let Some(round) = next_round(&node, key) else {
            return;
        };
        let Some(round) = round else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        if !node.faults.linked(node.id, round.leader) {
            conn = None;
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if conn
            .as_ref()
            .is_none_or(|(leader, _)| *leader != round.leader)
        {
            conn = None;
            let addr = node
                .addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&round.leader)
                .copied();
            let Some(addr) = addr else {
                tokio::time::sleep(BACKOFF).await;
                continue;
            };
            match Client::connect(addr, format!("broker-{}-fetcher", node.id)).await {
                Ok(client) => conn = Some((round.leader, client)),
                Err(e) => {
                    tracing::debug!(broker = node.id, leader = round.leader, error = %e, "fetcher cannot connect");
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let (_, client) = conn.as_mut().expect("connected above");
        let outcome = tokio::select! {
            outcome = exchange(&node, client, key, &round) => outcome,
            _ = node.faults.link_lost(node.id, round.leader) => Err(ClientError::LinkDown),
            _ = superseded(&node, key, &round) => Err(ClientError::Superseded),
        };
        let progressed = match outcome {
            Ok(progressed) => progressed,
            Err(e) => {
                tracing::debug!(broker = node.id, leader = round.leader, error = %e, "fetch failed");
                conn = None;
                false
            }
        };
        if !progressed {
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

/// `None`: stop (no longer a follower); `Some(None)`: nothing to send yet.
fn next_round(node: &Node, key: PartitionKey) -> Option<Option<Round>> {
    let mut guard = node.state();
    let state = &mut *guard;
    let following = state.partitions.get(&key).is_some_and(|p| p.is_follower());
    if !following {
        Node::fetcher_done(state, key);
        return None;
    }
    let partition = state.partitions.get(&key).expect("checked above");
    let Some(request) = partition.next_follower_request(FETCH_MAX_BYTES) else {
        return Some(None);
    };
    let topic = state.image.topic(key.0)?.name.clone();
    Some(Some(Round {
        leader: partition.leader_id(),
        leader_epoch: partition.leader_epoch(),
        topic,
        request,
    }))
}

/// Resolves once the metadata no longer has `round.leader` lead this follower's partition at
/// `round.leader_epoch`.
async fn superseded(node: &Node, key: PartitionKey, round: &Round) {
    let mut applied = node.applied.subscribe();
    loop {
        let current = {
            let state = node.state();
            state
                .partitions
                .get(&key)
                .filter(|p| p.is_follower())
                .map(|p| (p.leader_id(), p.leader_epoch()))
        };
        if current != Some((round.leader, round.leader_epoch)) {
            return;
        }
        if applied.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// One request and its answer; true if the follower moved (fetch again at once).
async fn exchange(
    node: &Node,
    client: &mut Client,
    key: PartitionKey,
    round: &Round,
) -> Result<bool, ClientError> {
    let wait = node.settings.replica_fetch_wait_max_ms;
    let timeout = Duration::from_millis(wait as u64) + Duration::from_secs(10);
    match round.request {
        FollowerRequest::OffsetForLeaderEpoch {
            current_leader_epoch,
            leader_epoch,
        } => {
            let request = OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(node.id))
                .with_topics(vec![
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(round.topic.clone())))
                        .with_partitions(vec![
                            OffsetForLeaderPartition::default()
                                .with_partition(key.1)
                                .with_current_leader_epoch(current_leader_epoch)
                                .with_leader_epoch(leader_epoch),
                        ]),
                ]);
            let response = client
                .call(
                    ApiKey::OffsetForLeaderEpoch,
                    OFFSET_FOR_LEADER_EPOCH_VERSION,
                    RequestKind::OffsetForLeaderEpoch(request),
                    timeout,
                )
                .await?;
            let ResponseKind::OffsetForLeaderEpoch(response) = response else {
                return Err(ClientError::Codec("not OffsetForLeaderEpoch".into()));
            };
            let answer = response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition == key.1)
                .map(|p| EpochEndOffset {
                    error_code: p.error_code,
                    leader_epoch: p.leader_epoch,
                    end_offset: p.end_offset,
                })
                .ok_or_else(|| ClientError::Codec("partition missing".into()))?;
            let mut state = node.state();
            let Some(partition) = state.partitions.get_mut(&key) else {
                return Ok(false);
            };
            partition.handle_offset_for_leader_epoch(&round.request, answer, now_ms());
            Ok(answer.error_code == 0)
        }
        FollowerRequest::Fetch(fetch) => {
            let response = client
                .call(
                    ApiKey::Fetch,
                    FETCH_VERSION,
                    RequestKind::Fetch(fetch_request(key, &fetch, wait)),
                    timeout,
                )
                .await?;
            let ResponseKind::Fetch(response) = response else {
                return Err(ClientError::Codec("not Fetch".into()));
            };
            if response.error_code != 0 {
                return Ok(false);
            }
            let data = response
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == key.1)
                .ok_or_else(|| ClientError::Codec("partition missing".into()))?;
            let diverging = (data.diverging_epoch.epoch >= 0).then_some(EpochEndOffset {
                error_code: 0,
                leader_epoch: data.diverging_epoch.epoch,
                end_offset: data.diverging_epoch.end_offset,
            });
            let reply = ReplicaFetchResponse {
                error_code: data.error_code,
                high_watermark: data.high_watermark,
                log_start_offset: data.log_start_offset,
                // Not on the wire; Kafka's follower asks ListOffsets. The high watermark is
                // a safe stand-in: everything below it is committed.
                log_end_offset: data.high_watermark,
                diverging_epoch: diverging,
                records: data.records.clone().unwrap_or_default(),
            };
            let mut state = node.state();
            let Some(partition) = state.partitions.get_mut(&key) else {
                return Ok(false);
            };
            let outcome = partition.handle_fetch_response(&fetch, &reply, now_ms());
            Ok(data.error_code == 0
                && (outcome.appended.is_some() || outcome.truncated_to.is_some()))
        }
    }
}

fn fetch_request(key: PartitionKey, fetch: &ReplicaFetch, wait_ms: i32) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(key.1)
        .with_current_leader_epoch(fetch.current_leader_epoch)
        .with_fetch_offset(fetch.fetch_offset)
        .with_last_fetched_epoch(fetch.last_fetched_epoch)
        .with_log_start_offset(-1)
        .with_partition_max_bytes(i32::try_from(fetch.max_bytes).unwrap_or(i32::MAX));
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(fetch.replica_id))
                .with_replica_epoch(fetch.replica_epoch),
        )
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_RESPONSE_MAX_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic_id(key.0)
                .with_partitions(vec![partition]),
        ])
}
