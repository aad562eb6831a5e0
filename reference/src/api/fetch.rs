//! Fetch: read record batches, as stored, with long polling.
//!
//! The response is sent once `min_bytes` are available, any partition has an error, or
//! `max_wait_ms` has passed; meanwhile the request waits for appends (or shutdown) without
//! holding the broker lock. Reads honour `max_bytes` and `partition_max_bytes`, but the first
//! partition with data returns at least one whole batch even if larger (KIP-74). Every
//! partition carries the high watermark, last stable offset and log start offset; an offset
//! outside [log start, log end] is OFFSET_OUT_OF_RANGE.
//!
//! # Response size
//!
//! As in `KafkaApis.handleFetchRequest`, a response carries at most
//! min(request `max_bytes`, broker `fetch.max.bytes`) record bytes, for consumers and
//! followers alike (a follower asks for `replica.fetch.response.max.bytes`), and `min_bytes`
//! is bounded by that ([`apply_fetch_max_bytes`]); each partition at most its
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
//! A cluster's brokers (`cluster::wire`) share the waiting ([`long_poll`]) and the walk over
//! the request's partitions ([`read_each`]); they read from their replicas instead.
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
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::protocol::VersionRange;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::BrokerCore;
use crate::log::ReadError;
use crate::record_batch::BatchHeader;
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 4, max: 17 };

/// The longest a fetch may be parked, whatever it asks (Kafka bounds it by the request
/// timeout on the client side; a bound here keeps a hostile value harmless).
const MAX_WAIT_LIMIT_MS: i32 = 60_000;

/// The leader epoch of every partition on a single broker.
const LEADER_EPOCH: i32 = 0;

/// The most record bytes any response asks the logs for, whatever `fetch.max.bytes` says
/// (Kafka allows it up to 2^31 - 1): 1 GiB, so that a response stays below the 2 GiB frame
/// limit with its first batch and per-partition fields (see the module doc).
pub const MAX_RESPONSE_RECORD_BYTES: i32 = 1 << 30;

pub async fn handle(
    shared: &Shared,
    mut req: FetchRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> FetchResponse {
    let fetch_max_bytes = shared.core().config.fetch_max_bytes;
    apply_fetch_max_bytes(&mut req, fetch_max_bytes);
    let mut appended = shared.appended.subscribe();
    long_poll(&req, &mut appended, shutdown, || {
        read_all(&shared.core(), &req, version)
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

/// Kafka's `DelayedFetch`, shared by the single broker and a cluster's brokers: `read`
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

fn read_all(core: &BrokerCore, req: &FetchRequest, version: i16) -> Read {
    read_each(req, version, |topic, p, limit, min_one| {
        let name = if version >= 13 {
            core.topic_name_by_id(topic.topic_id)
        } else {
            Some(topic.topic.0.as_str())
        };
        match name {
            None => error_partition(p.partition, ResponseError::UnknownTopicId.code()),
            Some(name) => read_partition(core, name, p, limit, min_one, req.isolation_level),
        }
    })
}

/// One pass over every partition of the request, in order, shared by the single broker and a
/// cluster's brokers: `read` gets the partition, how many bytes it may return
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
            has_more |=
                data.error_code == 0 && end_offset(&data, p.fetch_offset) < data.high_watermark;
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

fn read_partition(
    core: &BrokerCore,
    topic: &str,
    p: &FetchPartition,
    limit: usize,
    min_one: bool,
    isolation_level: i8,
) -> PartitionData {
    let log = match core.partition(topic, p.partition) {
        Ok(log) => log,
        Err(e) => return error_partition(p.partition, e.code),
    };
    // -1 means the client does not know the epoch; a newer one than ours is unknown here.
    // (The epoch never changes on a single broker, so none can be older: no FENCED case.)
    if p.current_leader_epoch > LEADER_EPOCH {
        return error_partition(p.partition, ResponseError::UnknownLeaderEpoch.code());
    }
    let end = log.log_end_offset();
    let data = PartitionData::default()
        .with_partition_index(p.partition)
        .with_high_watermark(end)
        .with_last_stable_offset(end)
        .with_log_start_offset(log.log_start_offset())
        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
        // read_committed consumers get an (empty) aborted-transactions list, others null.
        .with_aborted_transactions((isolation_level == 1).then(Vec::new));
    match log.read(p.fetch_offset, limit, min_one) {
        Ok(records) => data.with_records(Some(records)),
        Err(ReadError::OffsetOutOfRange { .. }) => data
            .with_error_code(ResponseError::OffsetOutOfRange.code())
            .with_records(Some(Bytes::new())),
    }
}

/// A partition answered with an error only.
pub(crate) fn error_partition(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
        .with_records(Some(Bytes::new()))
}
