//! DeleteRecords (KIP-107): move partitions' log start offsets forward, so that the records
//! below are gone for every reader.
//!
//! Per partition, as Kafka's `KafkaApis.handleDeleteRecordsRequest` and
//! `ReplicaManager.deleteRecords` answer it: a topic or partition the metadata does not have
//! is UNKNOWN_TOPIC_OR_PARTITION; an internal topic (`__consumer_offsets`,
//! `__transaction_state`) INVALID_TOPIC_EXCEPTION; a broker that does not lead the partition
//! NOT_LEADER_OR_FOLLOWER; then the leader moves its log start offset
//! ([`crate::replication`]: -1 is the high watermark, beyond it or below -1 is
//! OFFSET_OUT_OF_RANGE). The request is answered when every partition's low watermark (the
//! smallest log start offset over its alive replicas, which followers report in their
//! fetches) has reached its offset, each with that low watermark; a partition still short of
//! it at `timeout_ms` is REQUEST_TIMED_OUT (with the low watermark it had right after the
//! move), one whose leadership moves meanwhile NOT_LEADER_OR_FOLLOWER, as
//! `DelayedDeleteRecords` answers. Failed partitions carry low watermark -1. A partition
//! named twice is answered once, for the last offset asked (Kafka keeps them in a map).
//!
//! # References
//! - KIP-107; Kafka protocol guide, DeleteRecords API
//! - `kafka.server.KafkaApis.handleDeleteRecordsRequest`, `ReplicaManager.deleteRecords`,
//!   `ReplicaManager.deleteRecordsOnLocalLog`, `DelayedDeleteRecords`,
//!   `Partition.deleteRecordsOnLeader`

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, TopicName};
use kafka_protocol::protocol::VersionRange;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cluster::NodeState;
use crate::coordinator_log::is_internal;
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// The longest a request waits for its low watermarks, whatever its `timeout_ms` says (a
/// hostile value stays harmless; the admin client's default is 60 s).
const MAX_TIMEOUT_MS: i32 = 300_000;

/// How often the wait looks again without being woken (a leadership change).
const RECHECK: Duration = Duration::from_millis(100);

/// `DeleteRecordsResponse.INVALID_LOW_WATERMARK`.
const INVALID_LOW_WATERMARK: i64 = -1;

/// Where one partition of the request stands.
#[derive(Debug, Clone, Copy)]
enum Status {
    Done {
        error_code: i16,
        low_watermark: i64,
    },
    /// Moved on the leader; waiting for the low watermark to reach `requested_offset`.
    Waiting {
        key: (Uuid, i32),
        requested_offset: i64,
        low_watermark: i64,
    },
}

impl Status {
    fn failed(error: ResponseError) -> Status {
        Status::Done {
            error_code: error.code(),
            low_watermark: INVALID_LOW_WATERMARK,
        }
    }
}

pub async fn handle(
    shared: &Shared,
    req: DeleteRecordsRequest,
    shutdown: &mut Shutdown,
) -> DeleteRecordsResponse {
    let node = &shared.node;
    let deadline =
        Instant::now() + Duration::from_millis(req.timeout_ms.clamp(0, MAX_TIMEOUT_MS) as u64);
    let mut topics = requested(req);
    {
        let mut guard = node.state();
        let state = &mut *guard;
        for (name, partitions) in &mut topics {
            for (index, offset, status) in partitions.iter_mut() {
                *status = delete_on_leader(state, name, *index, *offset);
            }
        }
    }
    let mut progress = node.progress.subscribe();
    let mut applied = node.applied.subscribe();
    while has_waiting(&topics) {
        progress.borrow_and_update();
        applied.borrow_and_update();
        {
            let state = node.state();
            for (_, partitions) in &mut topics {
                for (_, _, status) in partitions.iter_mut() {
                    *status = recheck(&state, *status);
                }
            }
        }
        if !has_waiting(&topics) {
            break;
        }
        tokio::select! {
            _ = progress.changed() => {}
            _ = applied.changed() => {}
            _ = tokio::time::sleep(RECHECK) => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = shutdown.recv() => break,
        }
    }
    response(topics)
}

type Requested = Vec<(TopicName, Vec<(i32, i64, Status)>)>;

/// The request's partitions by topic, in the order first named, each once with the last
/// offset asked for it.
fn requested(req: DeleteRecordsRequest) -> Requested {
    let mut topics: Requested = Vec::new();
    let mut seen: HashMap<(TopicName, i32), (usize, usize)> = HashMap::new();
    let mut topic_index: HashMap<TopicName, usize> = HashMap::new();
    let unanswered = Status::failed(ResponseError::UnknownServerError);
    for topic in req.topics {
        let t = *topic_index.entry(topic.name.clone()).or_insert_with(|| {
            topics.push((topic.name.clone(), Vec::new()));
            topics.len() - 1
        });
        for p in topic.partitions {
            match seen.get(&(topic.name.clone(), p.partition_index)) {
                Some(&(t, i)) => topics[t].1[i].1 = p.offset,
                None => {
                    topics[t].1.push((p.partition_index, p.offset, unanswered));
                    seen.insert(
                        (topic.name.clone(), p.partition_index),
                        (t, topics[t].1.len() - 1),
                    );
                }
            }
        }
    }
    topics
}

/// The checks of `KafkaApis` and `ReplicaManager`, then the leader's move.
fn delete_on_leader(state: &mut NodeState, topic: &str, index: i32, offset: i64) -> Status {
    let Some(topic_id) = state
        .image
        .topic_id(topic)
        .filter(|&id| state.image.partition(id, index).is_some())
    else {
        return Status::failed(ResponseError::UnknownTopicOrPartition);
    };
    if is_internal(topic) {
        return Status::failed(ResponseError::InvalidTopicException);
    }
    let key = (topic_id, index);
    let Some(partition) = state.partitions.get_mut(&key) else {
        return Status::failed(ResponseError::NotLeaderOrFollower);
    };
    match partition.delete_records_on_leader(offset, &state.image) {
        Err(error_code) => Status::Done {
            error_code,
            low_watermark: INVALID_LOW_WATERMARK,
        },
        Ok(deleted) if deleted.low_watermark >= deleted.requested_offset => Status::Done {
            error_code: 0,
            low_watermark: deleted.low_watermark,
        },
        Ok(deleted) => Status::Waiting {
            key,
            requested_offset: deleted.requested_offset,
            low_watermark: deleted.low_watermark,
        },
    }
}

/// `DelayedDeleteRecords.tryComplete` for one partition.
fn recheck(state: &NodeState, status: Status) -> Status {
    let Status::Waiting {
        key,
        requested_offset,
        ..
    } = status
    else {
        return status;
    };
    let Some(partition) = state.partitions.get(&key) else {
        return Status::failed(ResponseError::UnknownTopicOrPartition);
    };
    match partition.low_watermark(&state.image) {
        Err(error_code) => Status::Done {
            error_code,
            low_watermark: INVALID_LOW_WATERMARK,
        },
        Ok(low_watermark) if low_watermark >= requested_offset => Status::Done {
            error_code: 0,
            low_watermark,
        },
        Ok(_) => status,
    }
}

fn has_waiting(topics: &Requested) -> bool {
    topics
        .iter()
        .flat_map(|(_, partitions)| partitions)
        .any(|(_, _, status)| matches!(status, Status::Waiting { .. }))
}

/// The answer; a partition still waiting timed out.
fn response(topics: Requested) -> DeleteRecordsResponse {
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, _, status)| {
                    let (error_code, low_watermark) = match status {
                        Status::Done {
                            error_code,
                            low_watermark,
                        } => (error_code, low_watermark),
                        Status::Waiting { low_watermark, .. } => {
                            (ResponseError::RequestTimedOut.code(), low_watermark)
                        }
                    };
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(error_code)
                        .with_low_watermark(low_watermark)
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
