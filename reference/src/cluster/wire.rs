//! The APIs a broker of a cluster answers from its replicas and its metadata image rather
//! than from the single broker's state: ApiVersions (adds OffsetForLeaderEpoch), Metadata,
//! CreateTopics and CreatePartitions (through the controller), FindCoordinator (the
//! lowest-numbered live broker), Produce (leaders only; acks=all parked until the
//! ISR has it), Fetch (followers with `ReplicaState`, consumers below the high watermark),
//! ListOffsets and OffsetForLeaderEpoch. Every other API falls through to the single broker's
//! handler ([`crate::api::handle`]).
//!
//! # References
//! - Kafka protocol guide; `kafka.server.KafkaApis`, `ReplicaManager`, `MetadataCache`

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset as WireEpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset as WireOffsetForLeaderEpoch, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::node::{Node, NodeState};
use crate::api::{self, Reply, now_ms};
use crate::controller::{MetadataImage, TopicImage};
use crate::record_batch;
use crate::replication::{ProduceResult, ReplicaFetch};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// OffsetForLeaderEpoch, answered by cluster brokers only.
pub const OFFSET_FOR_LEADER_EPOCH_VERSIONS: VersionRange = VersionRange { min: 2, max: 4 };

const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
const MAX_WAIT_LIMIT_MS: i32 = 60_000;
/// Beyond the produce's own timeout (answered by the partition's timer), how long a parked
/// produce waits before giving up on an answer that never comes (a crash).
const PRODUCE_SAFETY_MARGIN: Duration = Duration::from_secs(5);

/// The versions of `key` a cluster broker handles.
pub fn supported_versions(key: ApiKey) -> Option<VersionRange> {
    match key {
        ApiKey::OffsetForLeaderEpoch => Some(OFFSET_FOR_LEADER_EPOCH_VERSIONS),
        key => api::supported_versions(key),
    }
}

/// ApiVersions of a cluster broker.
pub fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let mut response = api::api_versions::handle(error_code);
    response.api_keys.push(
        ApiVersion::default()
            .with_api_key(ApiKey::OffsetForLeaderEpoch as i16)
            .with_min_version(OFFSET_FOR_LEADER_EPOCH_VERSIONS.min)
            .with_max_version(OFFSET_FOR_LEADER_EPOCH_VERSIONS.max),
    );
    response
}

/// Answers `request` if a cluster broker answers it differently; else gives it back.
pub async fn handle(
    node: &Arc<Node>,
    shared: &Shared,
    version: i16,
    request: RequestKind,
    shutdown: &mut Shutdown,
) -> Result<Reply, RequestKind> {
    let response = match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions(0)),
        RequestKind::Metadata(req) => ResponseKind::Metadata(metadata(node, shared, req, version)),
        RequestKind::CreateTopics(req) => {
            ResponseKind::CreateTopics(create_topics(node, shared, req, version).await)
        }
        RequestKind::Produce(req) => return Ok(produce(node, req, version, shutdown).await),
        RequestKind::Fetch(req) => ResponseKind::Fetch(fetch(node, req, version, shutdown).await),
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets(node, req, version))
        }
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(create_partitions(node, req))
        }
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator(node, shared, req, version))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch(node, req))
        }
        other => return Err(other),
    };
    Ok(Reply::Response(Box::new(response)))
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn metadata(node: &Node, shared: &Shared, req: MetadataRequest, version: i16) -> MetadataResponse {
    let addresses = node
        .addresses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let requested = match req.topics {
        Some(topics) if !(version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    let allow_create = (version < 4 || req.allow_auto_topic_creation)
        && shared.core().config.auto_create_topics_enable;
    let mut created = Vec::new();
    let state = node.state();
    let image = &state.image;
    let brokers = image
        .brokers()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let addr = addresses.get(&b.broker_id)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.broker_id))
                    .with_host(str(&addr.ip().to_string()))
                    .with_port(i32::from(addr.port())),
            )
        })
        .collect();
    let topics = match requested {
        None => image.topics().map(|t| describe(image, t)).collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|t| {
                let name = t.name.map(|n| n.0.to_string());
                let topic = match &name {
                    Some(name) => image.topic_by_name(name),
                    None => image.topic(t.topic_id),
                };
                match (topic, name) {
                    (Some(topic), _) => describe(image, topic),
                    (None, None) => {
                        error_topic(None, t.topic_id, ResponseError::UnknownTopicId.code())
                    }
                    (None, Some(name)) => {
                        let code = if allow_create {
                            created.push(name.clone());
                            ResponseError::LeaderNotAvailable.code()
                        } else {
                            ResponseError::UnknownTopicOrPartition.code()
                        };
                        error_topic(Some(name), Uuid::nil(), code)
                    }
                }
            })
            .collect(),
    };
    drop(state);
    for name in created {
        if let Err(e) = node.controller.with(|c| c.create_topic(&name, -1, -1, &[])) {
            tracing::debug!(topic = %name, error = %e.message, "auto-creation failed");
        }
    }
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str(&shared.core().cluster_id)))
        .with_controller_id(BrokerId(node.id))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    api::metadata::fit_to_version(response, version)
}

/// Every group is coordinated by the lowest-numbered live broker, with the group state of
/// that broker (until the group coordinator runs on a replicated `__consumer_offsets`).
fn find_coordinator(
    node: &Node,
    shared: &Shared,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let coordinator = node
        .state()
        .image
        .brokers()
        .filter(|b| !b.fenced)
        .map(|b| b.broker_id)
        .min()
        .unwrap_or(node.id);
    let addr = node
        .addresses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&coordinator)
        .copied();
    let mut response = api::find_coordinator::handle(shared, req, version);
    let Some(addr) = addr else {
        return response;
    };
    let (host, port) = (str(&addr.ip().to_string()), i32::from(addr.port()));
    if response.error_code == 0 && response.node_id.0 >= 0 {
        response.node_id = BrokerId(coordinator);
        response.host = host.clone();
        response.port = port;
    }
    for c in &mut response.coordinators {
        if c.error_code == 0 {
            c.node_id = BrokerId(coordinator);
            c.host = host.clone();
            c.port = port;
        }
    }
    response
}

fn describe(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
            let offline: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|b| image.alive_broker_epoch(*b).is_none())
                .collect();
            let code = if p.has_leader() {
                0
            } else {
                ResponseError::LeaderNotAvailable.code()
            };
            MetadataResponsePartition::default()
                .with_error_code(code)
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                .with_offline_replicas(ids(&offline))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str(&topic.name))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(false)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

fn error_topic(name: Option<String>, id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(str(&n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

async fn create_topics(
    node: &Node,
    shared: &Shared,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let broker_config = shared.core().config.clone();
    let mut results = Vec::with_capacity(req.topics.len());
    let mut created = Vec::new();
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if !topic.assignments.is_empty() {
            results.push(failed(
                result,
                ResponseError::InvalidRequest.code(),
                "Manual replica assignment is not supported by the reference broker.".into(),
            ));
            continue;
        }
        if let Some(c) = topic.configs.iter().find(|c| c.value.is_none()) {
            let why = format!(
                "Null value not supported for topic configs: {}",
                c.name.as_str()
            );
            results.push(failed(result, ResponseError::InvalidConfig.code(), why));
            continue;
        }
        let configs: std::collections::BTreeMap<String, String> = topic
            .configs
            .iter()
            .map(|c| {
                let value = c.value.as_ref().map_or("", |v| v.as_str());
                (c.name.to_string(), value.to_string())
            })
            .collect();
        let topic_config = match crate::config::TopicConfig::new(&broker_config, configs.clone()) {
            Ok(config) => config,
            Err(e) => {
                results.push(failed(result, ResponseError::InvalidConfig.code(), e.0));
                continue;
            }
        };
        let pairs: Vec<(&str, &str)> = configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let outcome = node.controller.with(|c| {
            if req.validate_only {
                // Validating only: decide on a copy, keep nothing.
                let mut scratch = c.clone();
                scratch
                    .create_topic(
                        &name,
                        topic.num_partitions,
                        topic.replication_factor,
                        &pairs,
                    )
                    .map(|id| (id, scratch.image().topic(id).cloned()))
            } else {
                let id = c.create_topic(
                    &name,
                    topic.num_partitions,
                    topic.replication_factor,
                    &pairs,
                )?;
                // Under the controller's lock: no broker sees the topic before its configs.
                node.topic_configs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.clone(), topic_config);
                Ok((id, c.image().topic(id).cloned()))
            }
        });
        match outcome {
            Err(e) => results.push(failed(result, e.code, e.message)),
            Ok((id, image)) => {
                if !req.validate_only {
                    created.push(id);
                }
                let partitions = image.as_ref().map_or(-1, |t| t.partitions.len() as i32);
                let rf = image
                    .as_ref()
                    .and_then(|t| t.partitions.first())
                    .map_or(-1, |p| p.replicas.len() as i16);
                let mut result = result.with_topic_id(if version >= 7 { id } else { Uuid::nil() });
                if version >= 5 {
                    result = result
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf);
                }
                results.push(result);
            }
        }
    }
    // Answer once this broker's own image has the new topics, so the client's next request
    // here sees them.
    let deadline = Instant::now() + Duration::from_millis(req.timeout_ms.clamp(0, 30_000) as u64);
    while !created.is_empty() && Instant::now() < deadline {
        if created
            .iter()
            .all(|id| node.state().image.topic(*id).is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn failed(result: CreatableTopicResult, code: i16, message: String) -> CreatableTopicResult {
    result
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

fn create_partitions(node: &Node, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|topic| {
            let result = create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone());
            let outcome = if topic.assignments.is_some() {
                Err(crate::controller::ApiError::new(
                    ResponseError::InvalidRequest.code(),
                    "Manual replica assignment is not supported by the reference broker.",
                ))
            } else {
                node.controller.with(|c| {
                    if req.validate_only {
                        c.clone().create_partitions(&topic.name.0, topic.count)
                    } else {
                        c.create_partitions(&topic.name.0, topic.count)
                    }
                })
            };
            match outcome {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message(Some(StrBytes::from_string(e.message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// One partition's produce: answered now, or parked until the ISR has it.
enum Produced {
    Done(i16, i64, i64),
    Parked(oneshot::Receiver<ProduceResult>, i64),
}

async fn produce(node: &Node, req: ProduceRequest, version: i16, shutdown: &mut Shutdown) -> Reply {
    let acks = req.acks;
    let timeout_ms = i64::from(req.timeout_ms.max(0));
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut alters = Vec::new();
    {
        let mut guard = node.state();
        let state = &mut *guard;
        for topic in &req.topic_data {
            let topic_id = if version >= 13 {
                state.image.topic(topic.topic_id).map(|t| t.topic_id)
            } else {
                state.image.topic_id(&topic.name.0)
            };
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for data in &topic.partition_data {
                let outcome = produce_partition(
                    node,
                    state,
                    topic_id,
                    data,
                    acks,
                    timeout_ms,
                    version,
                    &mut alters,
                );
                partitions.push((data.index, outcome));
            }
            topics.push((topic.name.clone(), topic.topic_id, partitions));
        }
    }
    node.notify_progress();
    node.send_alters(alters);
    let failed = topics
        .iter()
        .flat_map(|t| t.2.iter())
        .any(|(_, p)| matches!(p, Produced::Done(code, ..) if *code != 0));
    if acks == 0 {
        if failed {
            return Reply::Close("a produce request with acks=0 failed".into());
        }
        return Reply::NoResponse;
    }
    let deadline =
        Instant::now() + Duration::from_millis(timeout_ms as u64) + PRODUCE_SAFETY_MARGIN;
    let mut responses = Vec::with_capacity(topics.len());
    for (name, topic_id, partitions) in topics {
        let mut answers = Vec::with_capacity(partitions.len());
        for (index, produced) in partitions {
            let (code, base_offset, log_start) = match produced {
                Produced::Done(code, base, start) => (code, base, start),
                Produced::Parked(rx, start) => {
                    let (code, base) = tokio::select! {
                        answer = tokio::time::timeout_at(deadline, rx) => match answer {
                            Ok(Ok(result)) => (result.error_code, result.base_offset),
                            Ok(Err(_)) => (ResponseError::NotLeaderOrFollower.code(), -1),
                            Err(_) => (ResponseError::RequestTimedOut.code(), -1),
                        },
                        _ = shutdown.recv() => (ResponseError::NotLeaderOrFollower.code(), -1),
                    };
                    (code, base, start)
                }
            };
            let mut answer = PartitionProduceResponse::default()
                .with_index(index)
                .with_error_code(code)
                .with_base_offset(if code == 0 { base_offset } else { -1 })
                .with_log_append_time_ms(-1)
                .with_log_start_offset(if code == 0 && version >= 5 {
                    log_start
                } else {
                    -1
                });
            if code != 0 && version >= 8 {
                answer = answer.with_error_message(
                    ResponseError::try_from_code(code).map(|e| str(&e.to_string())),
                );
            }
            answers.push(answer);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_topic_id(topic_id)
                .with_partition_responses(answers),
        );
    }
    Reply::Response(Box::new(ResponseKind::Produce(
        ProduceResponse::default().with_responses(responses),
    )))
}

#[allow(clippy::too_many_arguments)]
fn produce_partition(
    node: &Node,
    state: &mut NodeState,
    topic_id: Option<Uuid>,
    data: &produce_request::PartitionProduceData,
    acks: i16,
    timeout_ms: i64,
    version: i16,
    alters: &mut Vec<crate::controller::AlterPartition>,
) -> Produced {
    let fail = |code: i16| Produced::Done(code, -1, -1);
    if !matches!(acks, -1..=1) {
        return fail(ResponseError::InvalidRequiredAcks.code());
    }
    let Some(topic_id) = topic_id else {
        return fail(if version >= 13 {
            ResponseError::UnknownTopicId.code()
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        });
    };
    if state.image.partition(topic_id, data.index).is_none() {
        return fail(ResponseError::UnknownTopicOrPartition.code());
    }
    let Some(records) = data.records.as_ref() else {
        return fail(ResponseError::InvalidRecord.code());
    };
    let header = match record_batch::validate_produce_for_version(records, version) {
        Ok(header) => header,
        Err(e) => return fail(e.error_code()),
    };
    if header.producer_id >= 0 {
        return fail(ResponseError::InvalidRecord.code());
    }
    let batch_size = header.total_len();
    let config = state
        .image
        .topic(topic_id)
        .and_then(|t| node.topic_config(&t.name));
    if let Some(config) = config {
        if batch_size > usize::try_from(config.max_message_bytes).unwrap_or(0) {
            return fail(ResponseError::MessageTooLarge.code());
        }
        if batch_size as u64 > config.log.segment_bytes {
            return fail(ResponseError::RecordListTooLarge.code());
        }
    }
    let mut bytes = BytesMut::from(&records[..header.total_len()]);
    let token = node.next_token();
    let parked = (acks == -1).then(|| Node::park(state, token));
    let Some(partition) = state.partitions.get_mut(&(topic_id, data.index)) else {
        Node::unpark(state, token);
        return fail(ResponseError::NotLeaderOrFollower.code());
    };
    match partition.append_as_leader(&mut bytes, acks, token, timeout_ms, &state.image, now_ms()) {
        Err(code) => {
            Node::unpark(state, token);
            fail(code)
        }
        Ok((info, effects)) => {
            alters.extend(node.route(state, effects));
            match parked {
                Some(rx) => Produced::Parked(rx, info.log_start_offset),
                None => Produced::Done(0, info.base_offset, info.log_start_offset),
            }
        }
    }
}

/// What one pass over a Fetch request read.
struct Read {
    response: FetchResponse,
    bytes: i64,
    has_error: bool,
}

async fn fetch(
    node: &Node,
    req: FetchRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> FetchResponse {
    if req.session_id != 0 {
        return FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code());
    }
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, MAX_WAIT_LIMIT_MS) as u64);
    let deadline = Instant::now() + wait;
    let mut progress = node.progress.subscribe();
    loop {
        progress.borrow_and_update();
        let read = read_all(node, &req, version);
        let enough = read.bytes >= i64::from(req.min_bytes.max(0)) || read.has_error;
        if enough || wait.is_zero() || Instant::now() >= deadline || shutdown.is_shutdown() {
            return read.response;
        }
        tokio::select! {
            changed = progress.changed() => if changed.is_err() { return read.response },
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
    let mut remaining = i64::from(req.max_bytes.max(0));
    let (mut bytes, mut has_error) = (0i64, false);
    let mut alters = Vec::new();
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut guard = node.state();
    let state = &mut *guard;
    for topic in &req.topics {
        let topic_id = if version >= 13 {
            state.image.topic(topic.topic_id).map(|t| t.topic_id)
        } else {
            state.image.topic_id(&topic.topic.0)
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let limit = i64::from(p.partition_max_bytes.max(0)).min(remaining.max(0)) as usize;
            let unknown = if version >= 13 {
                ResponseError::UnknownTopicId.code()
            } else {
                ResponseError::UnknownTopicOrPartition.code()
            };
            let key = topic_id.map(|id| (id, p.partition));
            let data = match key.and_then(|k| state.partitions.get_mut(&k).map(|r| (k, r))) {
                None if topic_id.is_none() => error_partition(p.partition, unknown),
                None => error_partition(p.partition, ResponseError::NotLeaderOrFollower.code()),
                Some((_, replica)) if replica_id >= 0 => {
                    let fetch = ReplicaFetch {
                        replica_id,
                        replica_epoch,
                        fetch_offset: p.fetch_offset,
                        current_leader_epoch: p.current_leader_epoch,
                        last_fetched_epoch: p.last_fetched_epoch,
                        max_bytes: limit,
                    };
                    let (answer, effects) =
                        replica.fetch_from_follower(&fetch, &state.image, now_ms());
                    alters.extend(node.route(state, effects));
                    let mut data = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(answer.error_code)
                        .with_high_watermark(answer.high_watermark)
                        .with_last_stable_offset(answer.high_watermark)
                        .with_log_start_offset(answer.log_start_offset)
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_records(Some(answer.records));
                    if let Some(d) = answer.diverging_epoch.filter(|_| version >= 12) {
                        data = data.with_diverging_epoch(
                            WireEpochEndOffset::default()
                                .with_epoch(d.leader_epoch)
                                .with_end_offset(d.end_offset),
                        );
                    }
                    data
                }
                Some((_, replica)) => {
                    let answer =
                        replica.fetch_from_consumer(p.fetch_offset, p.current_leader_epoch, limit);
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(answer.error_code)
                        .with_high_watermark(answer.high_watermark)
                        .with_last_stable_offset(answer.high_watermark)
                        .with_log_start_offset(answer.log_start_offset)
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_aborted_transactions((req.isolation_level == 1).then(Vec::new))
                        .with_records(Some(answer.records))
                }
            };
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
    drop(guard);
    node.send_alters(alters);
    let mut response = FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics);
    if version < 5 {
        for t in &mut response.responses {
            for p in &mut t.partitions {
                p.log_start_offset = -1;
            }
        }
    }
    Read {
        response,
        bytes,
        has_error,
    }
}

fn error_partition(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(Bytes::new()))
}

fn list_offsets(node: &Node, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let state = node.state();
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let topic_id = state.image.topic_id(&topic.name.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1);
                    let replica =
                        topic_id.and_then(|id| state.partitions.get(&(id, p.partition_index)));
                    let outcome = match replica {
                        None if topic_id.is_none() => {
                            Err(ResponseError::UnknownTopicOrPartition.code())
                        }
                        None => Err(ResponseError::NotLeaderOrFollower.code()),
                        Some(r) => match p.timestamp {
                            api::list_offsets::LATEST_TIMESTAMP => {
                                r.latest_offset(p.current_leader_epoch)
                            }
                            api::list_offsets::EARLIEST_TIMESTAMP
                            | api::list_offsets::EARLIEST_LOCAL_TIMESTAMP => r
                                .latest_offset(p.current_leader_epoch)
                                .map(|_| r.log().log_start_offset()),
                            _ => Err(ResponseError::InvalidRequest.code()),
                        },
                    };
                    match outcome {
                        Ok(offset) => {
                            response
                                .with_offset(offset)
                                .with_leader_epoch(if version >= 4 {
                                    state.partitions[&(topic_id.expect("found"), p.partition_index)]
                                        .leader_epoch()
                                } else {
                                    -1
                                })
                        }
                        Err(code) => response.with_error_code(code).with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn offset_for_leader_epoch(
    node: &Node,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let state = node.state();
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let topic_id = state.image.topic_id(&topic.topic.0);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = match topic_id
                        .and_then(|id| state.partitions.get(&(id, p.partition)))
                    {
                        Some(r) => {
                            r.last_offset_for_leader_epoch(p.current_leader_epoch, p.leader_epoch)
                        }
                        None => crate::replication::EpochEndOffset {
                            error_code: if topic_id.is_some() {
                                ResponseError::NotLeaderOrFollower.code()
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            },
                            leader_epoch: -1,
                            end_offset: -1,
                        },
                    };
                    WireOffsetForLeaderEpoch::default()
                        .with_partition(p.partition)
                        .with_error_code(answer.error_code)
                        .with_leader_epoch(answer.leader_epoch)
                        .with_end_offset(answer.end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
