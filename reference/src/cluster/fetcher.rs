//! A follower broker's fetchers: one per leader broker, carrying every partition this broker
//! follows from that leader over one connection, as Kafka's `ReplicaFetcherManager` runs
//! `num.replica.fetchers` (default 1, the only value here) fetcher threads per source broker.
//!
//! Each round asks the partition cores what to send
//! ([`Partition::next_follower_request`](crate::replication::Partition::next_follower_request)),
//! sends one OffsetForLeaderEpoch v4 naming every partition that must truncate first, then
//! one Fetch v15 (with `ReplicaState`) naming every partition in fetching state (built after
//! the truncation, so a partition that just truncated fetches in the same round, as
//! `AbstractFetcherThread.doWork` runs `maybeTruncate` before `maybeFetch`), and hands each
//! partition's answer to its core. The leader's long poll answers as soon as any of them has
//! data.
//!
//! # Why it is shaped so
//!
//! A fetcher per partition held a connection per follower replica, two descriptors in one
//! process for the in-process cluster (both ends): 1,000 partitions at replication factor 3
//! took ~700 sockets, so a replicated cluster could not hold many partitions under the
//! descriptor limit. One fetcher per (follower, leader) bounds the connections by the square
//! of the broker count, whatever the partitions.
//!
//! [`Fetchers`] says which partitions each fetcher carries; the node keeps it as it applies
//! metadata (a partition goes to its leader's fetcher when it becomes a follower, moves when
//! its leader changes, leaves when it stops following) and spawns a fetcher for a leader that
//! has none. A fetcher that finds it carries nothing ends.
//!
//! - A partition whose answer has an error (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
//!   NOT_LEADER_OR_FOLLOWER...) backs off for `replica.fetch.backoff.ms` while the others go
//!   on (Kafka's `delayPartitions`); a failed request (i/o, codec, timeout) drops the
//!   connection and backs the whole fetcher off.
//! - A paused broker's fetchers wait; while this broker or the leader is isolated, the link is
//!   down: the connection is dropped (also in the middle of an exchange) and the fetcher waits
//!   for the partition to heal.
//! - A request in flight is abandoned (the connection dropped) when the fetcher gains a
//!   partition, a partition's leader epoch moves, or it carries nothing any more (say its
//!   frozen leader, which would never answer, was replaced): a partition moved to this leader
//!   must not wait for a long poll that does not name it. A partition that leaves the fetcher
//!   is just not handed its answer (the core also drops answers to an older leader epoch).
//! - Each round starts after the last partition that got records, so
//!   `replica.fetch.response.max.bytes` cannot starve the later ones (Kafka moves partitions
//!   with data to the end of its `PartitionStates`).
//!
//! # References
//! - `kafka.server.ReplicaFetcherManager`, `AbstractFetcherManager`, `ReplicaFetcherThread`,
//!   `AbstractFetcherThread` (`doWork`, `maybeTruncate`, `maybeFetch`, `delayPartitions`),
//!   KIP-101, KIP-392, KIP-903

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, RequestKind,
    ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use uuid::Uuid;

use super::client::{Client, ClientError};
use super::node::{Node, NodeState, PartitionKey};
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

/// Which partitions each of a broker's fetchers carries, by leader broker. A leader has an
/// entry exactly while its fetcher runs (it ends, and takes its entry away, once its set is
/// empty); every partition is on at most one fetcher.
#[derive(Debug, Default)]
pub struct Fetchers {
    by_leader: BTreeMap<i32, BTreeSet<PartitionKey>>,
    leader_of: HashMap<PartitionKey, i32>,
}

impl Fetchers {
    /// Puts `key` on `leader`'s fetcher (`None`: on none), off any other. True when `leader`
    /// had no fetcher: the caller spawns one ([`run`]).
    pub(super) fn assign(&mut self, key: PartitionKey, leader: Option<i32>) -> bool {
        let current = self.leader_of.get(&key).copied();
        if current == leader {
            return false;
        }
        if let Some(old) = current {
            self.leader_of.remove(&key);
            if let Some(set) = self.by_leader.get_mut(&old) {
                set.remove(&key);
            }
        }
        let Some(leader) = leader else {
            return false;
        };
        self.leader_of.insert(key, leader);
        let mut spawn = false;
        self.by_leader
            .entry(leader)
            .or_insert_with(|| {
                spawn = true;
                BTreeSet::new()
            })
            .insert(key);
        spawn
    }

    /// How many partitions each running fetcher carries, by leader broker.
    pub fn carried(&self) -> BTreeMap<i32, usize> {
        self.by_leader
            .iter()
            .map(|(leader, set)| (*leader, set.len()))
            .collect()
    }

    fn partitions(&self, leader: i32) -> Option<&BTreeSet<PartitionKey>> {
        self.by_leader.get(&leader)
    }

    /// Takes `key` off `leader`'s fetcher (only from that one).
    fn drop_from(&mut self, leader: i32, key: PartitionKey) {
        if self.leader_of.get(&key) == Some(&leader) {
            self.assign(key, None);
        }
    }

    /// Called by `leader`'s fetcher: true (and its entry gone) when it carries nothing.
    fn finish_if_idle(&mut self, leader: i32) -> bool {
        match self.by_leader.get(&leader) {
            Some(set) if !set.is_empty() => false,
            _ => {
                self.by_leader.remove(&leader);
                true
            }
        }
    }
}

/// A partition that must truncate first, with the topic name OffsetForLeaderEpoch v4 needs.
struct Truncation {
    key: PartitionKey,
    topic: String,
    request: FollowerRequest,
}

/// What one round asks the leader.
struct Round {
    /// Every partition this fetcher carries at round start, with its leader epoch: a change
    /// that adds to it supersedes the round.
    members: BTreeMap<PartitionKey, i32>,
    /// The members in this round's order (starting after the last one that got records).
    order: Vec<PartitionKey>,
    truncations: Vec<Truncation>,
    /// Whether a member is in fetching state (and not backing off).
    fetching: bool,
}

/// What a round did.
#[derive(Default)]
struct Outcome {
    /// Some partition appended or truncated: go again at once.
    progressed: bool,
    /// Partitions answered with an error: they back off.
    failed: Vec<PartitionKey>,
    /// The last partition that got records.
    last_with_records: Option<PartitionKey>,
}

/// The fetcher of the partitions `node` follows from `leader`; ends when it carries none.
pub async fn run(node: Arc<Node>, leader: i32) {
    let mut conn: Option<Client> = None;
    let mut delayed: BTreeMap<PartitionKey, Instant> = BTreeMap::new();
    let mut cursor: Option<PartitionKey> = None;
    loop {
        node.faults.wait_unpaused(node.id).await;
        let Some(round) = next_round(&node, leader, &mut delayed, cursor) else {
            return;
        };
        if round.truncations.is_empty() && !round.fetching {
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if !node.faults.linked(node.id, leader) {
            conn = None;
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if conn.is_none() {
            conn = connect(&node, leader).await;
        }
        let Some(client) = conn.as_mut() else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        let outcome = tokio::select! {
            outcome = exchange(&node, leader, client, &round, &delayed) => outcome,
            _ = node.faults.link_lost(node.id, leader) => Err(ClientError::LinkDown),
            _ = superseded(&node, leader, &round.members) => Err(ClientError::Superseded),
        };
        match outcome {
            Ok(outcome) => {
                let until = Instant::now() + BACKOFF;
                delayed.extend(outcome.failed.iter().map(|key| (*key, until)));
                cursor = outcome.last_with_records.or(cursor);
                if !outcome.progressed {
                    tokio::time::sleep(BACKOFF).await;
                }
            }
            Err(ClientError::Superseded) => conn = None,
            Err(e) => {
                tracing::debug!(broker = node.id, leader, error = %e, "fetch failed");
                conn = None;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

async fn connect(node: &Node, leader: i32) -> Option<Client> {
    let addr = node
        .addresses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&leader)
        .copied()?;
    match Client::connect(addr, format!("broker-{}-fetcher", node.id)).await {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::debug!(broker = node.id, leader, error = %e, "fetcher cannot connect");
            None
        }
    }
}

/// The partition `key` as a follower of `leader`, if it is one.
fn followed<'a>(
    state: &'a NodeState,
    leader: i32,
    key: &PartitionKey,
) -> Option<&'a crate::replication::Partition> {
    state
        .partitions
        .get(key)
        .filter(|p| p.is_follower() && p.leader_id() == leader)
}

/// `None`: stop (this fetcher carries nothing). Partitions it carries that no longer follow
/// `leader` are taken off; back-offs that ran out are forgotten.
fn next_round(
    node: &Node,
    leader: i32,
    delayed: &mut BTreeMap<PartitionKey, Instant>,
    cursor: Option<PartitionKey>,
) -> Option<Round> {
    let mut guard = node.state();
    let state = &mut *guard;
    if state.fetchers.finish_if_idle(leader) {
        return None;
    }
    let set = state.fetchers.partitions(leader)?;
    let order: Vec<PartitionKey> = match cursor {
        Some(c) => set
            .range((Bound::Excluded(c), Bound::Unbounded))
            .chain(set.range(..=c))
            .copied()
            .collect(),
        None => set.iter().copied().collect(),
    };
    let now = Instant::now();
    delayed.retain(|_, until| *until > now);
    let mut round = Round {
        members: BTreeMap::new(),
        order: Vec::with_capacity(order.len()),
        truncations: Vec::new(),
        fetching: false,
    };
    let mut stale = Vec::new();
    for key in order {
        let Some(partition) = followed(state, leader, &key) else {
            stale.push(key);
            continue;
        };
        round.members.insert(key, partition.leader_epoch());
        round.order.push(key);
        if delayed.contains_key(&key) {
            continue;
        }
        match partition.next_follower_request(FETCH_MAX_BYTES) {
            Some(request @ FollowerRequest::OffsetForLeaderEpoch { .. }) => {
                if let Some(topic) = state.image.topic(key.0) {
                    let topic = topic.name.clone();
                    round.truncations.push(Truncation {
                        key,
                        topic,
                        request,
                    });
                }
            }
            Some(FollowerRequest::Fetch(_)) => round.fetching = true,
            None => {}
        }
    }
    delayed.retain(|key, _| round.members.contains_key(key));
    for key in stale {
        state.fetchers.drop_from(leader, key);
    }
    Some(round)
}

/// Resolves once this fetcher carries a partition not in `members` or at another leader
/// epoch, or carries nothing.
async fn superseded(node: &Node, leader: i32, members: &BTreeMap<PartitionKey, i32>) {
    let mut applied = node.applied.subscribe();
    loop {
        if gained(node, leader, members) {
            return;
        }
        if applied.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

fn gained(node: &Node, leader: i32, members: &BTreeMap<PartitionKey, i32>) -> bool {
    let state = node.state();
    let Some(set) = state.fetchers.partitions(leader) else {
        return true;
    };
    set.is_empty()
        || set.iter().any(|key| {
            followed(&state, leader, key)
                .is_some_and(|p| members.get(key) != Some(&p.leader_epoch()))
        })
}

/// One round: the truncations, then the fetches.
async fn exchange(
    node: &Node,
    leader: i32,
    client: &mut Client,
    round: &Round,
    delayed: &BTreeMap<PartitionKey, Instant>,
) -> Result<Outcome, ClientError> {
    let mut outcome = Outcome::default();
    if !round.truncations.is_empty() {
        truncate(node, client, &round.truncations, &mut outcome).await?;
    }
    for fetches in fetches_by_replica_epoch(node, leader, round, delayed, &outcome.failed) {
        fetch(node, leader, client, &fetches, &mut outcome).await?;
    }
    Ok(outcome)
}

fn timeout(node: &Node) -> Duration {
    let wait = node.settings.replica_fetch_wait_max_ms.max(0);
    Duration::from_millis(wait as u64) + Duration::from_secs(10)
}

/// One OffsetForLeaderEpoch for every partition that must truncate, each answer to its core.
async fn truncate(
    node: &Node,
    client: &mut Client,
    truncations: &[Truncation],
    outcome: &mut Outcome,
) -> Result<(), ClientError> {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for t in truncations {
        let FollowerRequest::OffsetForLeaderEpoch {
            current_leader_epoch,
            leader_epoch,
        } = t.request
        else {
            continue;
        };
        let partition = OffsetForLeaderPartition::default()
            .with_partition(t.key.1)
            .with_current_leader_epoch(current_leader_epoch)
            .with_leader_epoch(leader_epoch);
        match topics
            .iter_mut()
            .find(|topic| topic.topic.0.as_str() == t.topic)
        {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(node.id))
        .with_topics(topics);
    let response = client
        .call(
            ApiKey::OffsetForLeaderEpoch,
            OFFSET_FOR_LEADER_EPOCH_VERSION,
            RequestKind::OffsetForLeaderEpoch(request),
            timeout(node),
        )
        .await?;
    let ResponseKind::OffsetForLeaderEpoch(response) = response else {
        return Err(ClientError::Codec("not OffsetForLeaderEpoch".into()));
    };
    let mut answers: HashMap<(&str, i32), EpochEndOffset> = HashMap::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let answer = EpochEndOffset {
                error_code: p.error_code,
                leader_epoch: p.leader_epoch,
                end_offset: p.end_offset,
            };
            answers.insert((topic.topic.0.as_str(), p.partition), answer);
        }
    }
    for t in truncations {
        let Some(answer) = answers.get(&(t.topic.as_str(), t.key.1)).copied() else {
            outcome.failed.push(t.key);
            continue;
        };
        let mut state = node.state();
        let Some(partition) = state.partitions.get_mut(&t.key) else {
            continue;
        };
        partition.handle_offset_for_leader_epoch(&t.request, answer, now_ms());
        if answer.error_code == 0 {
            outcome.progressed = true;
        } else {
            outcome.failed.push(t.key);
        }
    }
    Ok(())
}

/// The fetches to send now, in the round's order, one group per broker epoch the replicas
/// carry (a replica opened before this broker registered again keeps its older epoch; each
/// Fetch names one in `ReplicaState`).
fn fetches_by_replica_epoch(
    node: &Node,
    leader: i32,
    round: &Round,
    delayed: &BTreeMap<PartitionKey, Instant>,
    failed: &[PartitionKey],
) -> Vec<Vec<(PartitionKey, ReplicaFetch)>> {
    let state = node.state();
    let mut groups: Vec<Vec<(PartitionKey, ReplicaFetch)>> = Vec::new();
    for key in &round.order {
        if delayed.contains_key(key) || failed.contains(key) {
            continue;
        }
        let Some(partition) = followed(&state, leader, key) else {
            continue;
        };
        let Some(FollowerRequest::Fetch(fetch)) = partition.next_follower_request(FETCH_MAX_BYTES)
        else {
            continue;
        };
        let group = groups.iter_mut().find(|g| {
            g.first()
                .is_some_and(|(_, f)| f.replica_epoch == fetch.replica_epoch)
        });
        match group {
            Some(group) => group.push((*key, fetch)),
            None => groups.push(vec![(*key, fetch)]),
        }
    }
    groups
}

/// One Fetch for `fetches` (all of one broker epoch), each partition's answer to its core.
async fn fetch(
    node: &Node,
    leader: i32,
    client: &mut Client,
    fetches: &[(PartitionKey, ReplicaFetch)],
    outcome: &mut Outcome,
) -> Result<(), ClientError> {
    let wait = node.settings.replica_fetch_wait_max_ms;
    let response = client
        .call(
            ApiKey::Fetch,
            FETCH_VERSION,
            RequestKind::Fetch(fetch_request(fetches, wait)),
            timeout(node),
        )
        .await?;
    let ResponseKind::Fetch(response) = response else {
        return Err(ClientError::Codec("not Fetch".into()));
    };
    if response.error_code != 0 {
        return Ok(());
    }
    let sent: HashMap<PartitionKey, &ReplicaFetch> =
        fetches.iter().map(|(key, fetch)| (*key, fetch)).collect();
    for (key, reply) in replies(&response) {
        let Some(fetch) = sent.get(&key) else {
            continue;
        };
        let mut guard = node.state();
        let state = &mut *guard;
        if followed(state, leader, &key).is_none() {
            continue;
        }
        let Some(partition) = state.partitions.get_mut(&key) else {
            continue;
        };
        let moved = partition.handle_fetch_response(fetch, &reply, now_ms());
        if reply.error_code != 0 {
            outcome.failed.push(key);
        } else if moved.appended.is_some() || moved.truncated_to.is_some() {
            outcome.progressed = true;
            if !reply.records.is_empty() {
                outcome.last_with_records = Some(key);
            }
        }
    }
    Ok(())
}

/// Every partition's answer in a Fetch response, as the partition core takes it.
fn replies(response: &FetchResponse) -> impl Iterator<Item = (PartitionKey, ReplicaFetchResponse)> {
    response.responses.iter().flat_map(|topic| {
        topic.partitions.iter().map(move |data| {
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
            ((topic.topic_id, data.partition_index), reply)
        })
    })
}

/// Fetch v15 for `fetches` in their order, topics grouped by id (in order of first
/// appearance).
fn fetch_request(fetches: &[(PartitionKey, ReplicaFetch)], wait_ms: i32) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for (key, fetch) in fetches {
        let partition = FetchPartition::default()
            .with_partition(key.1)
            .with_current_leader_epoch(fetch.current_leader_epoch)
            .with_fetch_offset(fetch.fetch_offset)
            .with_last_fetched_epoch(fetch.last_fetched_epoch)
            .with_log_start_offset(fetch.log_start_offset)
            .with_partition_max_bytes(i32::try_from(fetch.max_bytes).unwrap_or(i32::MAX));
        let i = *index.entry(key.0).or_insert_with(|| {
            topics.push(FetchTopic::default().with_topic_id(key.0));
            topics.len() - 1
        });
        topics[i].partitions.push(partition);
    }
    let (replica_id, replica_epoch) = fetches
        .first()
        .map_or((-1, -1), |(_, f)| (f.replica_id, f.replica_epoch));
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(replica_id))
                .with_replica_epoch(replica_epoch),
        )
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_RESPONSE_MAX_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128, p: i32) -> PartitionKey {
        (Uuid::from_u128(n), p)
    }

    #[test]
    fn a_partition_is_on_one_fetcher_and_moves_with_its_leader() {
        let mut fetchers = Fetchers::default();
        assert!(
            fetchers.assign(key(1, 0), Some(2)),
            "first for leader 2: spawn"
        );
        assert!(
            !fetchers.assign(key(1, 1), Some(2)),
            "leader 2 has a fetcher"
        );
        assert!(!fetchers.assign(key(1, 1), Some(2)), "already there");
        assert!(
            fetchers.assign(key(1, 0), Some(3)),
            "moved: leader 3 gets a fetcher"
        );
        assert_eq!(fetchers.carried(), BTreeMap::from([(2, 1), (3, 1)]));
        fetchers.drop_from(2, key(1, 0));
        assert_eq!(
            fetchers.carried()[&3],
            1,
            "only its own fetcher takes it off"
        );
        assert!(!fetchers.assign(key(1, 1), None));
        assert!(!fetchers.finish_if_idle(3), "still carries one");
        assert!(fetchers.finish_if_idle(2), "carries nothing: ends");
        assert_eq!(fetchers.carried(), BTreeMap::from([(3, 1)]));
        assert!(
            fetchers.assign(key(1, 1), Some(2)),
            "a new fetcher for leader 2"
        );
    }
}
