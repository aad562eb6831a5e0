//! Fetch: read record batches, as stored, with long polling.
//!
//! The response is sent once `min_bytes` are available, any partition has an error, or
//! `max_wait_ms` has passed; meanwhile the request waits for appends (or shutdown) without
//! holding the broker lock. Reads honour `max_bytes` and `partition_max_bytes`, but the first
//! partition with data returns at least one whole batch even if larger (KIP-74). Every
//! partition carries the high watermark, last stable offset and log start offset; an offset
//! outside [log start, log end] is OFFSET_OUT_OF_RANGE.
//!
//! `isolation_level` 1 (`read_committed`, KIP-98) reads only below the last stable offset
//! and carries the aborted transactions overlapping the records returned (an empty list if
//! none; null for `read_uncommitted` and for partitions in error), as Kafka's
//! `UnifiedLog.read` with `FetchIsolation.TXN_COMMITTED`; the client drops their records.
//!
//! # Response size
//!
//! As in `KafkaApis.handleFetchRequest`, a response carries at most
//! min(request `max_bytes`, broker `fetch.max.bytes`) record bytes, for consumers and
//! followers alike (a follower asks for `replica.fetch.response.max.bytes`), and `min_bytes`
//! is bounded by that (`apply_fetch_max_bytes`); each partition at most its
//! `partition_max_bytes` and what is left of the response's. The one excess is KIP-74's: the
//! first partition with data returns its first batch whole, however large, and every
//! partition after it then gets nothing. A batch is at most what one request could carry
//! (`socket.request.max.bytes`), checked against `max.message.bytes` when it was produced, and a
//! read never spans two segments; so the record bytes of a response are at most the larger of
//! the effective `max_bytes` and one batch. [`MAX_RESPONSE_RECORD_BYTES`] bounds the effective
//! `max_bytes` whatever `fetch.max.bytes` is set to, so that records plus per-partition fields
//! (which grow with the request, itself at most `socket.request.max.bytes`) stay below the
//! 2 GiB frame limit.
//!
//! Incremental fetch sessions (KIP-227) are declined the way Kafka allows: the response's
//! session id is always 0, so clients send full fetch requests. v13+ names topics by id.
//!
//! Consumers read a partition's leader below its high watermark, and from v11 on a follower
//! too (KIP-392); followers (a `replica_id`, from v15 in `ReplicaState`) fetch from the leader,
//! which learns from their fetch offsets how far each has come ([`crate::replication`]).
//! The same long poll serves both: an append or a move of the high watermark wakes it.
//!
//! # References
//! - Kafka protocol guide, Fetch API; KIP-74 (max_bytes), KIP-227 (sessions), KIP-516 (ids)
//! - `kafka.server.ReplicaManager.fetchMessages` / `readFromLog`, `DelayedFetch`
//! - `KafkaApis.handleFetchRequest` (`fetchMaxBytes = min(maxBytes, fetch.max.bytes)`,
//!   `fetchMinBytes = min(minBytes, fetchMaxBytes)`); broker configs `fetch.max.bytes`,
//!   `replica.fetch.response.max.bytes`

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{now_ms, requested_topic};
use crate::cluster::Node;
use crate::record_batch::BatchHeader;
use crate::replication::{ConsumerFetchResponse, IsolationLevel, Partition, ReplicaFetch};
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 4, max: 17 };

/// The longest a fetch may be parked, whatever it asks (Kafka bounds it by the request
/// timeout on the client side; a bound here keeps a hostile value harmless).
const MAX_WAIT_LIMIT_MS: i32 = 60_000;

/// The most record bytes any response asks the logs for, whatever `fetch.max.bytes` says
/// (Kafka allows it up to 2^31 - 1): 1 GiB, so that a response stays below the 2 GiB frame
/// limit with its first batch and per-partition fields (see the module doc).
pub const MAX_RESPONSE_RECORD_BYTES: i32 = 1 << 30;

/// A Fetch, bounded by `fetch.max.bytes` for consumers and followers alike.
pub async fn handle(
    shared: &Shared,
    mut req: FetchRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> FetchResponse {
    apply_fetch_max_bytes(&mut req, shared.config.fetch_max_bytes);
    let node = &shared.node;
    let mut progress = node.progress.subscribe();
    long_poll(&req, &mut progress, shutdown, || {
        read_all(node, &req, version)
    })
    .await
}

/// `KafkaApis.handleFetchRequest`: the request's `max_bytes` bounded by the broker's
/// `fetch.max.bytes` (and [`MAX_RESPONSE_RECORD_BYTES`]), its `min_bytes` by the result.
/// Applied to every Fetch, from consumers and followers, before anything is read.
pub(crate) fn apply_fetch_max_bytes(req: &mut FetchRequest, fetch_max_bytes: i32) {
    let limit = fetch_max_bytes.clamp(0, MAX_RESPONSE_RECORD_BYTES);
    req.max_bytes = req.max_bytes.clamp(0, limit);
    req.min_bytes = req.min_bytes.min(req.max_bytes);
}

/// What one pass over a Fetch request read.
pub(crate) struct Read {
    pub response: FetchResponse,
    /// Record bytes in the response.
    pub bytes: i64,
    /// Some partition has an error: answer at once.
    pub has_error: bool,
    /// Some partition has records below its high watermark past what this read returned
    /// (cut by a byte limit or a segment's end): waiting cannot add them to this response,
    /// so answer at once, as Kafka's `DelayedFetch` counts them towards `min_bytes`.
    pub has_more: bool,
}

/// Kafka's `DelayedFetch`: `read`
/// passes over the request until `min_bytes` are there, a partition has an error,
/// `max_wait_ms` has passed or the broker shuts down, reading again whenever `changed`
/// moves (appends, high watermarks). A fetch session id is refused first: sessions are never
/// handed out, so any id is one the broker does not know.
pub(crate) async fn long_poll<T>(
    req: &FetchRequest,
    changed: &mut watch::Receiver<T>,
    shutdown: &mut Shutdown,
    mut read: impl FnMut() -> Read,
) -> FetchResponse {
    if req.session_id != 0 {
        return FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code());
    }
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, MAX_WAIT_LIMIT_MS) as u64);
    let deadline = Instant::now() + wait;
    loop {
        changed.borrow_and_update();
        let read = read();
        let enough =
            read.bytes >= i64::from(req.min_bytes.max(0)) || read.has_error || read.has_more;
        if enough || wait.is_zero() || Instant::now() >= deadline || shutdown.is_shutdown() {
            return read.response;
        }
        tokio::select! {
            moved = changed.changed() => if moved.is_err() { return read.response },
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.recv() => {}
        }
    }
}

fn read_all(node: &Node, req: &FetchRequest, version: i16) -> Read {
    let (replica_id, replica_epoch) = if version >= 15 {
        (
            req.replica_state.replica_id.0,
            req.replica_state.replica_epoch,
        )
    } else {
        (req.replica_id.0, -1)
    };
    let mut alters = Vec::new();
    let mut guard = node.state();
    let state = &mut *guard;
    let read = read_each(req, version, |topic, p, limit, min_one| {
        let topic_id = requested_topic(&state.image, version, topic.topic_id, &topic.topic.0);
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId.code()
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        };
        let Some(topic_id) = topic_id else {
            return error_partition(p.partition, unknown);
        };
        let Some(replica) = state.partitions.get_mut(&(topic_id, p.partition)) else {
            return error_partition(p.partition, ResponseError::NotLeaderOrFollower.code());
        };
        if replica_id >= 0 {
            let fetch = ReplicaFetch {
                replica_id,
                replica_epoch,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
                log_start_offset: p.log_start_offset,
                max_bytes: limit,
            };
            let (answer, effects) = replica.fetch_from_follower(&fetch, &state.image, now_ms());
            let last_stable_offset = replica.last_stable_offset();
            alters.extend(node.route(state, effects));
            let mut data = partition_data(
                p.partition,
                ConsumerFetchResponse {
                    error_code: answer.error_code,
                    high_watermark: answer.high_watermark,
                    last_stable_offset,
                    log_start_offset: answer.log_start_offset,
                    records: within(answer.records, limit, min_one),
                    aborted_transactions: None,
                },
            );
            if let Some(d) = answer.diverging_epoch.filter(|_| version >= 12) {
                data = data.with_diverging_epoch(
                    EpochEndOffset::default()
                        .with_epoch(d.leader_epoch)
                        .with_end_offset(d.end_offset),
                );
            }
            return data;
        }
        let isolation = IsolationLevel::from_request(req.isolation_level);
        let answer = if version >= 11 && replica.is_follower() {
            fetch_from_follower_replica(replica, p, limit, isolation)
        } else {
            replica.fetch_from_consumer_with_isolation(
                p.fetch_offset,
                p.current_leader_epoch,
                limit,
                isolation,
            )
        };
        partition_data(p.partition, trim_consumer_read(answer, limit, min_one))
    });
    drop(guard);
    node.send_alters(alters);
    read
}

/// One partition of a Fetch response. `read_committed` consumers get the aborted
/// transactions of what they read (an empty list if none), others null.
fn partition_data(index: i32, answer: ConsumerFetchResponse) -> PartitionData {
    let aborted = answer.aborted_transactions.map(|aborted| {
        aborted
            .iter()
            .map(|a| {
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(a.producer_id))
                    .with_first_offset(a.first_offset)
            })
            .collect()
    });
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(answer.error_code)
        .with_high_watermark(answer.high_watermark)
        .with_last_stable_offset(answer.last_stable_offset)
        .with_log_start_offset(answer.log_start_offset)
        .with_aborted_transactions(aborted)
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(answer.records))
}

/// A consumer's read cut to its byte limit ([`within`]); the aborted transactions then
/// those that start before the end of what is left (none when nothing is), which is what
/// collecting them for the shorter range gives.
fn trim_consumer_read(
    answer: ConsumerFetchResponse,
    limit: usize,
    min_one: bool,
) -> ConsumerFetchResponse {
    let records = within(answer.records, limit, min_one);
    let end = crate::record_batch::end_offset_of(&records);
    let aborted_transactions = answer.aborted_transactions.map(|mut aborted| {
        aborted.retain(|a| end.is_some_and(|end| a.first_offset < end));
        aborted
    });
    ConsumerFetchResponse {
        records,
        aborted_transactions,
        ..answer
    }
}

/// KIP-74: only the first partition with data may go over its byte limit (by its first
/// batch); the replicas read at least one batch, so others keep the whole batches that fit.
fn within(records: Bytes, limit: usize, min_one: bool) -> Bytes {
    if min_one || records.len() <= limit {
        return records;
    }
    let mut end = 0;
    while let Ok(header) = crate::record_batch::BatchHeader::parse(&records[end..]) {
        let next = end + header.total_len();
        if next > limit || next > records.len() {
            break;
        }
        end = next;
    }
    records.slice(..end)
}

/// One pass over every partition of the request, in order: `read` gets the partition, how many bytes it may return
/// (`partition_max_bytes`, bounded by what is left of `max_bytes`) and whether it must
/// return a whole batch even if larger (the first partition with data, KIP-74).
pub(crate) fn read_each(
    req: &FetchRequest,
    version: i16,
    mut read: impl FnMut(&FetchTopic, &FetchPartition, usize, bool) -> PartitionData,
) -> Read {
    let mut remaining = i64::from(req.max_bytes.max(0));
    let (mut bytes, mut has_error, mut has_more) = (0i64, false, false);
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let min_one = bytes == 0;
            let limit = i64::from(p.partition_max_bytes.max(0)).min(remaining.max(0)) as usize;
            let data = read(topic, p, limit, min_one);
            let size = data.records.as_ref().map_or(0, |r| r.len() as i64);
            has_error |= data.error_code != 0;
            // A read_committed consumer can read no further than the last stable offset.
            let readable = if req.isolation_level == 1 {
                data.last_stable_offset
            } else {
                data.high_watermark
            };
            has_more |= data.error_code == 0 && end_offset(&data, p.fetch_offset) < readable;
            bytes += size;
            remaining -= size;
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    Read {
        response: fit_to_version(
            FetchResponse::default()
                .with_session_id(0)
                .with_responses(topics),
            version,
        ),
        bytes,
        has_error,
        has_more,
    }
}

/// The offset after the last record `data` returns (`fetch_offset` when it returns none).
fn end_offset(data: &PartitionData, fetch_offset: i64) -> i64 {
    let records = data.records.as_deref().unwrap_or_default();
    let (mut end, mut position) = (fetch_offset, 0);
    while let Ok(header) = BatchHeader::parse(&records[position..]) {
        end = end.max(header.next_offset());
        position += header.total_len();
        if position >= records.len() {
            break;
        }
    }
    end
}

/// Clears fields the request's version does not have (the codec refuses to encode them).
pub(crate) fn fit_to_version(mut response: FetchResponse, version: i16) -> FetchResponse {
    for topic in &mut response.responses {
        for partition in &mut topic.partitions {
            if version < 5 {
                partition.log_start_offset = -1;
            }
        }
    }
    response
}

/// A consumer's Fetch (v11+) sent to a follower: served from the follower's own log below
/// its high watermark (or its last stable offset, from its own producer state), after the
/// same leader epoch checks as on the leader. Kafka lets consumers fetch from followers once
/// they send client metadata (v11 added the rack id, KIP-392): `FetchParams.fetchOnlyLeader`
/// is false for them, so `Partition.fetchRecords` checks the epoch
/// (`localLogWithEpochOrThrow` without `requireLeader`) and reads. Older versions, and
/// replicas that are neither leader nor follower, stay NOT_LEADER_OR_FOLLOWER.
fn fetch_from_follower_replica(
    replica: &Partition,
    p: &FetchPartition,
    max_bytes: usize,
    isolation: IsolationLevel,
) -> ConsumerFetchResponse {
    let current_leader_epoch = p.current_leader_epoch;
    let read = if current_leader_epoch < 0 || current_leader_epoch == replica.leader_epoch() {
        replica.read_for_consumer(p.fetch_offset, max_bytes, isolation)
    } else if current_leader_epoch < replica.leader_epoch() {
        Err(ResponseError::FencedLeaderEpoch.code())
    } else {
        Err(ResponseError::UnknownLeaderEpoch.code())
    };
    replica.consumer_response(read)
}

/// A partition answered with an error only (no aborted transactions: a null list, as
/// Kafka 4.3.1 answers).
pub(crate) fn error_partition(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_aborted_transactions(None)
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(Bytes::new()))
}
