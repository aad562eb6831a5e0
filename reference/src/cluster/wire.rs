//! The APIs a broker of a cluster answers from its replicas and its metadata image rather
//! than from the single broker's state: ApiVersions (adds [`CLUSTER_ONLY`]), Metadata,
//! CreateTopics, CreatePartitions, DeleteTopics and ElectLeaders (through the controller;
//! REQUEST_TIMED_OUT from a broker cut off from it, see `reach_controller`), DescribeConfigs
//! (the cluster's topics), FindCoordinator (the leader of the group's `__consumer_offsets`
//! partition), Produce (leaders only; acks=all parked until the ISR has it), Fetch
//! (followers with `ReplicaState`, consumers below the high watermark, from v11 on also at
//! followers), ListOffsets and OffsetForLeaderEpoch. Every other API falls through to the
//! single broker's handler ([`crate::api::handle`]). The request checks and the answers'
//! shapes are the single broker's (`crate::api`), shared.
//!
//! # References
//! - Kafka protocol guide; `kafka.server.KafkaApis`, `ReplicaManager`, `MetadataCache`
//! - KIP-460 (ElectLeaders' election type); `ControllerApis.handleElectLeaders`,
//!   `ReplicationControlManager.electLeaders`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset as WireEpochEndOffset, PartitionData,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset as WireOffsetForLeaderEpoch, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::produce_response::TopicProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::TopicConfigs;
use super::node::{Node, NodeState};
use crate::api::create_topics::failed;
use crate::api::delete_topics::TopicDeleter;
use crate::api::fetch::{Read, error_partition};
use crate::api::metadata::{AUTHORIZED_OPERATIONS_OMITTED, error_topic};
use crate::api::produce::Appended;
use crate::api::{self, Reply, now_ms};
use crate::broker::{KafkaError, unknown_topic_or_partition};
use crate::config::TopicConfig;
use crate::controller::{ApiError, Controller, ElectionType, MetadataImage, TopicImage};
use crate::replication::{ProduceResult, ReplicaFetch};
use crate::server::Shared;
use crate::shutdown::Shutdown;

/// OffsetForLeaderEpoch, answered by cluster brokers only.
pub const OFFSET_FOR_LEADER_EPOCH_VERSIONS: VersionRange = VersionRange { min: 2, max: 4 };

/// ElectLeaders, answered by cluster brokers only: every version Kafka 4 has (v1 adds the
/// election type, KIP-460; v2 is flexible).
pub const ELECT_LEADERS_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// The APIs a cluster broker answers beyond the single broker's ([`api::SUPPORTED`]).
pub const CLUSTER_ONLY: &[(ApiKey, VersionRange)] = &[
    (
        ApiKey::OffsetForLeaderEpoch,
        OFFSET_FOR_LEADER_EPOCH_VERSIONS,
    ),
    (ApiKey::ElectLeaders, ELECT_LEADERS_VERSIONS),
];

/// Beyond the produce's own timeout (answered by the partition's timer), how long a parked
/// produce waits before giving up on an answer that never comes (a crash).
const PRODUCE_SAFETY_MARGIN: Duration = Duration::from_secs(5);

/// The versions of `key` a cluster broker handles.
pub fn supported_versions(key: ApiKey) -> Option<VersionRange> {
    CLUSTER_ONLY
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .or_else(|| api::supported_versions(key))
}

/// ApiVersions of a cluster broker.
pub fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let mut response = api::api_versions::handle(error_code);
    for (key, range) in CLUSTER_ONLY {
        response.api_keys.push(
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(range.min)
                .with_max_version(range.max),
        );
    }
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
        RequestKind::Produce(req) => {
            return Ok(produce(node, shared, req, version, shutdown).await);
        }
        RequestKind::Fetch(req) => {
            ResponseKind::Fetch(fetch(node, shared, req, version, shutdown).await)
        }
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets(node, req, version))
        }
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(create_partitions(node, req).await)
        }
        RequestKind::DeleteTopics(req) => {
            ResponseKind::DeleteTopics(delete_topics(node, shared, req, version).await)
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(describe_configs(node, shared, req, version))
        }
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator(node, shared, req, version))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch(node, req))
        }
        RequestKind::ElectLeaders(req) => {
            ResponseKind::ElectLeaders(elect_leaders(node, req, version).await)
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
    let num_partitions = node.controller.with(|c| c.default_num_partitions());
    let state = node.state();
    let image = &state.image;
    // Bounded as one CreateTopics (see `api::metadata`): over the bounds, nothing is created.
    let allow_create = allow_create
        && requested.as_ref().is_none_or(|wanted| {
            let names = wanted.iter().filter_map(|t| t.name.as_ref());
            let is_new = |name: &str| image.topic_by_name(name).is_none();
            api::metadata::auto_creation_fits(names.map(|n| n.0.as_str()), num_partitions, is_new)
        });
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
    // An isolated broker cannot ask the controller; the client asks again (Kafka's
    // `AutoTopicCreationManager` request would wait in the forwarding channel).
    if !created.is_empty() && node.faults.reaches_controller(node.id) {
        let broker_config = shared.core().config.clone();
        for name in created {
            let outcome = node.controller.with(|c| {
                c.create_topic(&name, -1, -1, &[])?;
                // Under the controller's lock, as CreateTopics: the broker's topic defaults.
                if let Ok(config) = TopicConfig::new(&broker_config, BTreeMap::new()) {
                    node.topic_configs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name.clone(), config);
                }
                Ok::<_, crate::controller::ApiError>(())
            });
            if let Err(e) = outcome {
                tracing::debug!(topic = %name, error = %e.message, "auto-creation failed");
            }
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

/// The coordinator of a group is the leader of its partition of `__consumer_offsets`
/// ([`crate::groups`]). A missing topic is asked of the controller and, as in Kafka,
/// COORDINATOR_NOT_AVAILABLE is the answer until the partition has a live leader.
fn find_coordinator(
    node: &Node,
    shared: &Shared,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let addresses = node
        .addresses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut missing = false;
    let response = {
        let state = node.state();
        let image = &state.image;
        api::find_coordinator::respond(req, version, |group_id| {
            let not_available = ResponseError::CoordinatorNotAvailable;
            let Some(topic) = image.topic_by_name(crate::groups::OFFSETS_TOPIC) else {
                missing = true;
                return Err(not_available);
            };
            let partition = crate::groups::partition_for(group_id, topic.partitions.len() as i32);
            let leader = topic
                .partitions
                .get(partition as usize)
                .filter(|p| p.has_leader())
                .map(|p| p.leader)
                .filter(|leader| image.alive_broker_epoch(*leader).is_some())
                .ok_or(not_available)?;
            let addr = addresses.get(&leader).ok_or(not_available)?;
            Ok(api::find_coordinator::Located {
                node_id: leader,
                host: addr.ip().to_string(),
                port: i32::from(addr.port()),
            })
        })
    };
    if missing && node.faults.reaches_controller(node.id) {
        let config = shared.core().config.clone();
        crate::groups::create_offsets_topic(node, &config);
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
        .with_is_internal(topic.name == crate::groups::OFFSETS_TOPIC)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// CreateTopics through the controller, checked in Kafka's order (`ControllerApis` and
/// `ReplicationControlManager.createTopics`): the request ([`api::create_topics::respond`]:
/// names given twice), then under the controller's lock the name and whether it exists, the
/// configs (INVALID_CONFIG), and last the counts and the placement.
async fn create_topics(
    node: &Node,
    shared: &Shared,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let (validate_only, timeout_ms) = (req.validate_only, req.timeout_ms);
    if !reach_controller(node, timeout_ms).await {
        let topics = req.topics.into_iter().map(|topic| {
            CreatableTopicResult::default()
                .with_name(topic.name)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(None)
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        });
        return CreateTopicsResponse::default().with_topics(topics.collect());
    }
    let size = node.controller.with(|c| {
        let default_partitions = c.default_num_partitions();
        let planned = req.topics.iter();
        let planned = planned.map(|t| api::create_topics::planned(t, default_partitions));
        api::create_topics::check_request_size(planned, |n| c.image().topic_id(n).is_none())
    });
    if let Err(refused) = size {
        return api::create_topics::refuse_all(req, refused);
    }
    let broker_config = shared.core().config.clone();
    let mut created = Vec::new();
    let response = api::create_topics::respond(req, |topic| {
        if !topic.assignments.is_empty() {
            let why = "Manual replica assignment is not supported by the reference broker.";
            return failed(topic, ResponseError::InvalidRequest.code(), why.into());
        }
        let outcome = node.controller.with(|c| {
            create_topic(
                c,
                &node.topic_configs,
                &broker_config,
                &topic,
                validate_only,
            )
        });
        match outcome {
            Err(e) => failed(topic, e.code, e.message),
            Ok((id, image, config)) => {
                if !validate_only {
                    created.push(id);
                }
                let partitions = image.as_ref().map_or(-1, |t| t.partitions.len() as i32);
                let rf = image
                    .as_ref()
                    .and_then(|t| t.partitions.first())
                    .map_or(-1, |p| p.replicas.len() as i16);
                let mut result = CreatableTopicResult::default()
                    .with_name(topic.name)
                    .with_topic_id(if version >= 7 { id } else { Uuid::nil() });
                if version >= 5 {
                    result = result
                        .with_num_partitions(partitions)
                        .with_replication_factor(rf)
                        .with_configs(Some(api::create_topics::configs_of(&config)));
                }
                result
            }
        }
    });
    // Answer once this broker's own image has the new topics, so the client's next request
    // here sees them.
    until_image(node, timeout_ms, |image| {
        created.iter().all(|id| image.topic(*id).is_some())
    })
    .await;
    response
}

/// One topic of a CreateTopics, under the controller's lock: the new topic's id, image and
/// configs (validating only: decided on a copy of the controller, nothing kept).
fn create_topic(
    c: &mut Controller,
    topic_configs: &TopicConfigs,
    broker_config: &crate::config::BrokerConfig,
    topic: &create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<(Uuid, Option<TopicImage>, TopicConfig), ApiError> {
    let name = topic.name.0.as_str();
    c.check_new_topic_name(name)?;
    let invalid_config = |why: String| ApiError::new(ResponseError::InvalidConfig.code(), why);
    let nulls: Vec<&str> = topic
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(invalid_config(format!(
            "Null value not supported for topic configs: {}",
            nulls.join(",")
        )));
    }
    let configs: BTreeMap<String, String> = topic
        .configs
        .iter()
        .map(|c| {
            let value = c.value.as_ref().map_or("", |v| v.as_str());
            (c.name.to_string(), value.to_string())
        })
        .collect();
    let config =
        TopicConfig::new(broker_config, configs.clone()).map_err(|e| invalid_config(e.0))?;
    let pairs: Vec<(&str, &str)> = configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (partitions, rf) = (topic.num_partitions, topic.replication_factor);
    if validate_only {
        let mut scratch = c.clone();
        let id = scratch.create_topic(name, partitions, rf, &pairs)?;
        return Ok((id, scratch.image().topic(id).cloned(), config));
    }
    let id = c.create_topic(name, partitions, rf, &pairs)?;
    // Under the controller's lock: no broker sees the topic before its configs.
    topic_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), config.clone());
    Ok((id, c.image().topic(id).cloned(), config))
}

/// Waits, up to the request's `timeout_ms` (at most 30 s), until this broker's own image
/// satisfies `done`: a topic change is answered once the broker that took it shows it.
async fn until_image(node: &Node, timeout_ms: i32, done: impl Fn(&MetadataImage) -> bool) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.clamp(0, 30_000) as u64);
    while !done(&node.state().image) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long Kafka's broker keeps a request forwarded to an unreachable controller before it
/// gives up: the forwarding channel's `retryTimeoutMs` (`BrokerServer`).
const FORWARDING_RETRY_TIMEOUT_MS: i32 = 60_000;

/// Whether this broker reaches the controller, waiting while it is cut off from it (see
/// [`super::Fault`]) for the request's `timeout_ms` at most (and never beyond
/// [`FORWARDING_RETRY_TIMEOUT_MS`]).
///
/// A Kafka broker forwards CreateTopics, CreatePartitions and DeleteTopics to the controller
/// (`ForwardingManager`, KIP-590); while the controller cannot be reached the forwarded
/// request waits, and when the channel's retry timeout passes the client gets the request's
/// error response for a `TimeoutException`: REQUEST_TIMED_OUT on every topic, without a
/// message (`ForwardingResponseHandler.onTimeout`, `CreateTopicsRequest.getErrorResponse`
/// and its siblings). Kafka's wait is that fixed minute; here the request's own timeout
/// bounds it too, so the answer comes while the client is still waiting for it. A broker
/// that reaches the controller again in time goes on with the request, as Kafka's retries
/// would.
async fn reach_controller(node: &Node, timeout_ms: i32) -> bool {
    if node.faults.reaches_controller(node.id) {
        return true;
    }
    let Some(mut fault) = node.faults.subscribe(node.id) else {
        return true;
    };
    let wait = Duration::from_millis(timeout_ms.clamp(0, FORWARDING_RETRY_TIMEOUT_MS) as u64);
    let healed = tokio::time::timeout(wait, fault.wait_for(|f| !f.isolated)).await;
    matches!(healed, Ok(Ok(_)))
}

/// The cluster's topics as DeleteTopics sees them: the controller's image, under its lock.
struct ClusterTopics<'a> {
    controller: &'a mut Controller,
    topic_configs: &'a TopicConfigs,
    removed: Vec<Uuid>,
}

impl TopicDeleter for ClusterTopics<'_> {
    fn name_of(&self, id: Uuid) -> Option<String> {
        self.controller.image().topic(id).map(|t| t.name.clone())
    }

    fn id_of(&self, name: &str) -> Option<Uuid> {
        self.controller.image().topic_id(name)
    }

    fn delete(&mut self, name: &str, id: Uuid) -> Result<i32, KafkaError> {
        let partitions = self
            .controller
            .image()
            .topic(id)
            .map_or(0, |t| t.partitions.len() as i32);
        self.controller.delete_topic(id).map_err(|e| KafkaError {
            code: e.code,
            message: e.message,
        })?;
        self.topic_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.removed.push(id);
        Ok(partitions)
    }
}

/// DeleteTopics through the controller (one `RemoveTopicRecord` per topic); every broker
/// drops its replicas and their logs as it applies the record. Answered once this broker's
/// own image no longer has the topics, so the client's next request here agrees.
async fn delete_topics(
    node: &Node,
    shared: &Shared,
    req: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let timeout_ms = req.timeout_ms;
    if !reach_controller(node, timeout_ms).await {
        let timed_out = |name: Option<TopicName>, id: Uuid| {
            DeletableTopicResult::default()
                .with_name(name)
                .with_topic_id(id)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(None)
        };
        let responses: Vec<DeletableTopicResult> = if version >= 6 {
            let topics = req.topics.into_iter();
            topics.map(|t| timed_out(t.name, t.topic_id)).collect()
        } else {
            let names = req.topic_names.into_iter();
            names.map(|n| timed_out(Some(n), Uuid::nil())).collect()
        };
        return DeleteTopicsResponse::default().with_responses(responses);
    }
    let (deleted, removed) = node.controller.with(|controller| {
        let mut topics = ClusterTopics {
            controller,
            topic_configs: &node.topic_configs,
            removed: Vec::new(),
        };
        let deleted = api::delete_topics::delete(&mut topics, req, version);
        (deleted, topics.removed)
    });
    // This broker's groups forget the offsets at once; every other broker's coordinator
    // drops them once its image has lost the topic (`groups::timer_loop`'s topic check).
    api::delete_topics::forget_offsets(shared, &deleted.partitions);
    until_image(node, timeout_ms, |image| {
        removed.iter().all(|id| image.topic(*id).is_none())
    })
    .await;
    deleted.response
}

/// DescribeConfigs of the cluster's topics: those in this broker's image, with the configs
/// they were created with (the broker's defaults for the rest) and the replication configs
/// of the metadata records.
fn describe_configs(
    node: &Node,
    shared: &Shared,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let broker_config = shared.core().config.clone();
    let state = node.state();
    api::describe_configs::describe(req, version, |name| {
        let topic = state.image.topic_by_name(name)?;
        let mut config = match node.topic_config(name) {
            Some(config) => config,
            None => TopicConfig::new(&broker_config, BTreeMap::new()).ok()?,
        };
        config.min_insync_replicas = topic.config.min_insync_replicas;
        Some(config)
    })
}

/// CreatePartitions through the controller (validating only: on a copy of it).
async fn create_partitions(node: &Node, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    if !reach_controller(node, req.timeout_ms).await {
        let results = req.topics.into_iter().map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_error_message(None)
        });
        return CreatePartitionsResponse::default().with_results(results.collect());
    }
    let size = node.controller.with(|c| {
        let current = |n: &str| {
            c.image()
                .topic_by_name(n)
                .map(|t| t.partitions.len() as i64)
        };
        api::create_partitions::check_request_size(&req, current)
    });
    if let Err(refused) = size {
        return api::create_partitions::refuse_all(req, refused);
    }
    api::create_partitions::respond(req, |name, count, validate_only| {
        node.controller
            .with(|c| {
                if validate_only {
                    c.clone().create_partitions(name, count)
                } else {
                    c.create_partitions(name, count)
                }
            })
            .map_err(|e| (e.code, e.message))
    })
}

/// ElectLeaders through the controller, as a Kafka broker forwards it
/// (`ControllerApis.handleElectLeaders`, `ReplicationControlManager.electLeaders`): per
/// partition NONE, ELECTION_NOT_NEEDED (its preferred replica leads already; for an
/// unclean election, it has a leader), PREFERRED_LEADER_NOT_AVAILABLE (the preferred
/// replica is not in the ISR or not unfenced), ELIGIBLE_LEADERS_NOT_AVAILABLE or
/// UNKNOWN_TOPIC_OR_PARTITION, each with Kafka's message. Null `topic_partitions` means
/// every partition of every topic, and then the partitions that needed no election are left
/// out (each topic is still listed). An election type other than 0 (preferred) and 1
/// (unclean) fails the whole request with INVALID_REQUEST, and a broker cut off from the
/// controller answers REQUEST_TIMED_OUT (`ElectLeadersRequest.getErrorResponse`). Answered
/// once this broker's image has the new leaders.
async fn elect_leaders(
    node: &Node,
    req: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    use elect_leaders_response::{PartitionResult, ReplicaElectionResult};
    let failed = |code: i16, message: Option<String>| {
        let topics = req.topic_partitions.iter().flatten().map(|topic| {
            let partitions = topic.partitions.iter().map(|p| {
                PartitionResult::default()
                    .with_partition_id(*p)
                    .with_error_code(code)
                    .with_error_message(message.as_deref().map(str))
            });
            ReplicaElectionResult::default()
                .with_topic(topic.topic.clone())
                .with_partition_result(partitions.collect())
        });
        // v0 has no top-level error code: its partitions carry it.
        ElectLeadersResponse::default()
            .with_error_code(if version >= 1 { code } else { 0 })
            .with_replica_election_results(topics.collect())
    };
    let election_type = match req.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            let why = format!("Unknown election type {other}");
            return failed(ResponseError::InvalidRequest.code(), Some(why));
        }
    };
    if !reach_controller(node, req.timeout_ms).await {
        return failed(ResponseError::RequestTimedOut.code(), None);
    }
    let result = |partition: i32, outcome: Result<(), ApiError>| {
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err(e) => (e.code, Some(str(&e.message))),
        };
        PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(code)
            .with_error_message(message)
    };
    let (results, offset) = node.controller.with(|c| {
        let results: Vec<ReplicaElectionResult> = match &req.topic_partitions {
            Some(topics) => topics
                .iter()
                .map(|topic| {
                    let name = topic.topic.0.as_str();
                    let partitions = topic
                        .partitions
                        .iter()
                        .map(|p| result(*p, c.elect_leader(name, *p, election_type)));
                    ReplicaElectionResult::default()
                        .with_topic(topic.topic.clone())
                        .with_partition_result(partitions.collect())
                })
                .collect(),
            None => {
                let mut topics: Vec<(String, usize)> = c
                    .image()
                    .topics()
                    .map(|t| (t.name.clone(), t.partitions.len()))
                    .collect();
                topics.sort();
                let not_needed = ResponseError::ElectionNotNeeded.code();
                topics
                    .into_iter()
                    .map(|(name, count)| {
                        let partitions = (0..count as i32)
                            .map(|p| (p, c.elect_leader(&name, p, election_type)))
                            .filter(|(_, outcome)| {
                                outcome.as_ref().err().is_none_or(|e| e.code != not_needed)
                            })
                            .map(|(p, outcome)| result(p, outcome));
                        ReplicaElectionResult::default()
                            .with_topic(TopicName(str(&name)))
                            .with_partition_result(partitions.collect())
                    })
                    .collect()
            }
        };
        (results, c.metadata_offset())
    });
    until_image(node, req.timeout_ms, |image| image.offset() >= offset).await;
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// One partition's produce: answered now, or parked until the ISR has it.
enum Produced {
    Done(Result<Appended, KafkaError>),
    Parked(oneshot::Receiver<ProduceResult>, Appended),
}

async fn produce(
    node: &Node,
    shared: &Shared,
    req: ProduceRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> Reply {
    // The configs of a topic created without any (the broker's), taken before the node lock.
    let defaults = TopicConfig::new(&shared.core().config, BTreeMap::new())
        .expect("no topic overrides to refuse");
    let acks = req.acks;
    let timeout_ms = i64::from(req.timeout_ms.max(0));
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut alters = Vec::new();
    {
        let mut guard = node.state();
        let state = &mut *guard;
        for topic in &req.topic_data {
            let topic_id = requested_topic(&state.image, version, topic.topic_id, &topic.name.0);
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
                    &defaults,
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
        .any(|(_, p)| matches!(p, Produced::Done(Err(_))));
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
            let outcome = match produced {
                Produced::Done(outcome) => outcome,
                Produced::Parked(rx, appended) => {
                    let code = tokio::select! {
                        answer = tokio::time::timeout_at(deadline, rx) => match answer {
                            Ok(Ok(result)) if result.error_code == 0 => {
                                Ok(result.base_offset)
                            }
                            Ok(Ok(result)) => Err(result.error_code),
                            Ok(Err(_)) => Err(ResponseError::NotLeaderOrFollower.code()),
                            Err(_) => Err(ResponseError::RequestTimedOut.code()),
                        },
                        _ = shutdown.recv() => Err(ResponseError::NotLeaderOrFollower.code()),
                    };
                    code.map(|base_offset| Appended {
                        base_offset,
                        ..appended
                    })
                    .map_err(api::produce::error_of)
                }
            };
            let answer = api::produce::partition_response(index, outcome);
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
        api::produce::fit_to_version(
            ProduceResponse::default().with_responses(responses),
            version,
        ),
    )))
}

/// One partition of a Produce on this broker: the checks the single broker makes (shared,
/// `api::produce`), then the leader's append.
#[allow(clippy::too_many_arguments)]
fn produce_partition(
    node: &Node,
    state: &mut NodeState,
    topic_id: Option<Uuid>,
    data: &produce_request::PartitionProduceData,
    acks: i16,
    timeout_ms: i64,
    version: i16,
    defaults: &TopicConfig,
    alters: &mut Vec<crate::controller::AlterPartition>,
) -> Produced {
    if let Err(e) = api::produce::check_acks(acks) {
        return Produced::Done(Err(e));
    }
    let Some(topic) = topic_id.and_then(|id| state.image.topic(id)) else {
        return Produced::Done(Err(api::produce::unknown_topic(version)));
    };
    let topic_id = topic.topic_id;
    if state.image.partition(topic_id, data.index).is_none() {
        return Produced::Done(Err(unknown_topic_or_partition()));
    }
    let config = node.topic_config(&topic.name);
    let config = config.as_ref().unwrap_or(defaults);
    let (records, header) = match api::produce::check_records(&topic.name, data, config, version) {
        Ok(checked) => checked,
        Err(e) => return Produced::Done(Err(e)),
    };
    let log_append_time = config.log.log_append_time;
    let mut bytes = BytesMut::from(&records[..header.total_len()]);
    let token = node.next_token();
    let parked = (acks == -1).then(|| Node::park(state, token));
    let Some(partition) = state.partitions.get_mut(&(topic_id, data.index)) else {
        Node::unpark(state, token);
        return Produced::Done(Err(api::produce::error_of(
            ResponseError::NotLeaderOrFollower.code(),
        )));
    };
    let now = now_ms();
    match partition.append_as_leader(&mut bytes, acks, token, timeout_ms, &state.image, now) {
        Err(code) => {
            Node::unpark(state, token);
            Produced::Done(Err(api::produce::error_of(code)))
        }
        Ok((info, effects)) => {
            alters.extend(node.route(state, effects));
            let appended = Appended {
                base_offset: info.base_offset,
                log_append_time_ms: if log_append_time { now } else { -1 },
                log_start_offset: info.log_start_offset,
            };
            match parked {
                Some(rx) => Produced::Parked(rx, appended),
                None => Produced::Done(Ok(appended)),
            }
        }
    }
}

/// A cluster broker's Fetch, bounded by `fetch.max.bytes` as a single broker's is
/// (`api::fetch::apply_fetch_max_bytes`), for consumers and followers alike.
async fn fetch(
    node: &Node,
    shared: &Shared,
    mut req: FetchRequest,
    version: i16,
    shutdown: &mut Shutdown,
) -> FetchResponse {
    let fetch_max_bytes = shared.core().config.fetch_max_bytes;
    api::fetch::apply_fetch_max_bytes(&mut req, fetch_max_bytes);
    let mut progress = node.progress.subscribe();
    api::fetch::long_poll(&req, &mut progress, shutdown, || {
        read_all(node, &req, version)
    })
    .await
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
    let read = api::fetch::read_each(req, version, |topic, p, limit, min_one| {
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
                max_bytes: limit,
            };
            let (answer, effects) = replica.fetch_from_follower(&fetch, &state.image, now_ms());
            alters.extend(node.route(state, effects));
            let mut data = partition_data(
                p.partition,
                crate::replication::ConsumerFetchResponse {
                    error_code: answer.error_code,
                    high_watermark: answer.high_watermark,
                    log_start_offset: answer.log_start_offset,
                    records: within(answer.records, limit, min_one),
                },
            );
            if let Some(d) = answer.diverging_epoch.filter(|_| version >= 12) {
                data = data.with_diverging_epoch(
                    WireEpochEndOffset::default()
                        .with_epoch(d.leader_epoch)
                        .with_end_offset(d.end_offset),
                );
            }
            return data;
        }
        let answer = if version >= 11 && replica.is_follower() {
            fetch_from_follower_replica(replica, p.fetch_offset, p.current_leader_epoch, limit)
        } else {
            replica.fetch_from_consumer(p.fetch_offset, p.current_leader_epoch, limit)
        };
        let answer = crate::replication::ConsumerFetchResponse {
            records: within(answer.records, limit, min_one),
            ..answer
        };
        // read_committed consumers get an (empty) aborted-transactions list, others null.
        partition_data(p.partition, answer)
            .with_aborted_transactions((req.isolation_level == 1).then(Vec::new))
    });
    drop(guard);
    node.send_alters(alters);
    read
}

/// One partition of a Fetch response (the last stable offset is the high watermark: no
/// transactions).
fn partition_data(index: i32, answer: crate::replication::ConsumerFetchResponse) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(answer.error_code)
        .with_high_watermark(answer.high_watermark)
        .with_last_stable_offset(answer.high_watermark)
        .with_log_start_offset(answer.log_start_offset)
        .with_preferred_read_replica(BrokerId(-1))
        .with_records(Some(answer.records))
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

/// The topic a Produce or Fetch names: by id from v13 on, else by name.
fn requested_topic(image: &MetadataImage, version: i16, id: Uuid, name: &str) -> Option<Uuid> {
    if version >= 13 {
        image.topic(id).map(|t| t.topic_id)
    } else {
        image.topic_id(name)
    }
}

/// A consumer's Fetch (v11+) sent to a follower: served from the follower's own log below
/// its high watermark, after the same leader epoch checks as on the leader. Kafka lets
/// consumers fetch from followers once they send client metadata (v11 added the rack id,
/// KIP-392): `FetchParams.fetchOnlyLeader` is false for them, so `Partition.fetchRecords`
/// checks the epoch (`localLogWithEpochOrThrow` without `requireLeader`) and reads.
/// Older versions, and replicas that are neither leader nor follower, stay
/// NOT_LEADER_OR_FOLLOWER.
fn fetch_from_follower_replica(
    replica: &crate::replication::Partition,
    fetch_offset: i64,
    current_leader_epoch: i32,
    max_bytes: usize,
) -> crate::replication::ConsumerFetchResponse {
    let high_watermark = replica.high_watermark();
    let log = replica.log();
    let checked = if current_leader_epoch < 0 || current_leader_epoch == replica.leader_epoch() {
        log.read_up_to(fetch_offset, max_bytes, true, high_watermark)
            .map_err(|_| ResponseError::OffsetOutOfRange.code())
    } else if current_leader_epoch < replica.leader_epoch() {
        Err(ResponseError::FencedLeaderEpoch.code())
    } else {
        Err(ResponseError::UnknownLeaderEpoch.code())
    };
    let (error_code, records) = match checked {
        Ok(records) => (0, records),
        Err(code) => (code, Bytes::new()),
    };
    crate::replication::ConsumerFetchResponse {
        error_code,
        high_watermark,
        log_start_offset: log.log_start_offset(),
        records,
    }
}

/// ListOffsets on a leader: checked as a consumer fetch (leader only, leader epoch), then
/// looked up below the high watermark (`Partition.fetchOffsetForTimestamp`). While a new
/// leader's high watermark is below the start of its epoch, LATEST, and a lookup that finds
/// nothing, are OFFSET_NOT_AVAILABLE (KIP-207). Found records carry their batch's epoch.
fn list_offsets(node: &Node, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    use api::list_offsets::{Found, LATEST_TIMESTAMP, offset_for};
    let not_available = ResponseError::OffsetNotAvailable.code();
    let state = node.state();
    api::list_offsets::respond(req, |topic, p| {
        let topic_id = state
            .image
            .topic_id(topic)
            .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
        let replica = state
            .partitions
            .get(&(topic_id, p.partition_index))
            .ok_or(ResponseError::NotLeaderOrFollower.code())?;
        let (high_watermark, pending) = match replica.latest_offset(p.current_leader_epoch) {
            Ok(high_watermark) => (high_watermark, false),
            Err(code) if code == not_available => (replica.high_watermark(), true),
            Err(code) => return Err(code),
        };
        if pending && p.timestamp == LATEST_TIMESTAMP {
            return Err(not_available);
        }
        let (timestamp, offset) = offset_for(replica.log(), p.timestamp, high_watermark)?;
        if pending && offset < 0 {
            return Err(not_available);
        }
        let leader_epoch = if p.timestamp == LATEST_TIMESTAMP {
            replica.leader_epoch()
        } else {
            replica.epoch_cache().epoch_for_offset(offset).unwrap_or(-1)
        };
        Ok(Found {
            timestamp,
            offset,
            leader_epoch: if version >= 4 { leader_epoch } else { -1 },
        })
    })
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
