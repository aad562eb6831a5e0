//! Fetch: read record batches, as stored, with long polling.
//!
//! The response is sent once `min_bytes` are available, any partition has an error, or
//! `max_wait_ms` has passed; meanwhile the request waits for appends (or shutdown) without
//! holding the broker lock. Reads honour `max_bytes` and `partition_max_bytes`, but the first
//! partition with data returns at least one whole batch even if larger (KIP-74). Every
//! partition carries the high watermark, last stable offset and log start offset; an offset
//! outside [log start, log end] is OFFSET_OUT_OF_RANGE.
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
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 4, max: 17 };

/// The longest a fetch may be parked, whatever it asks (Kafka bounds it by the request
/// timeout on the client side; a bound here keeps a hostile value harmless).
const MAX_WAIT_LIMIT_MS: i32 = 60_000;

/// The leader epoch of every partition on a single broker.
const LEADER_EPOCH: i32 = 0;

pub async fn handle(
    shared: &Shared,
    req: FetchRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> FetchResponse {
    let mut appended = shared.appended.subscribe();
    long_poll(&req, &mut appended, shutdown, || {
        read_all(&shared.core(), &req, version)
    })
    .await
}

/// What one pass over a Fetch request read.
pub(crate) struct Read {
    pub response: FetchResponse,
    /// Record bytes in the response.
    pub bytes: i64,
    /// Some partition has an error: answer at once.
    pub has_error: bool,
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
        let enough = read.bytes >= i64::from(req.min_bytes.max(0)) || read.has_error;
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
    let (mut bytes, mut has_error) = (0i64, false);
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let min_one = bytes == 0;
            let limit = i64::from(p.partition_max_bytes.max(0)).min(remaining.max(0)) as usize;
            let data = read(topic, p, limit, min_one);
            let size = data.records.as_ref().map_or(0, |r| r.len() as i64);
            has_error |= data.error_code != 0;
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
    }
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
