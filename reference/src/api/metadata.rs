//! Metadata: the brokers, and each topic's partitions with leader, replicas and ISR, from
//! this broker's metadata image. Replicas on fenced brokers are listed as offline, a
//! partition without a leader carries LEADER_NOT_AVAILABLE.
//!
//! Asking for a topic that does not exist creates it through the controller when both the
//! request (`allow_auto_topic_creation`, v4+) and the broker (`auto.create.topics.enable`)
//! allow; like Kafka 4.3.1 (observed over the raw wire at Metadata v4, v9 and v12), that
//! first answer carries UNKNOWN_TOPIC_OR_PARTITION and a later one the partitions. A name Kafka would never create is INVALID_TOPIC_EXCEPTION, whether or not
//! creation is allowed (`AutoTopicCreationManager.filterCreatableTopics`,
//! `KafkaApis.getTopicMetadata`); librdkafka's test 0057 relies on it.
//!
//! Auto-creation is bounded as in Kafka: a KRaft broker sends every missing topic of one
//! Metadata request to the controller in one CreateTopics (`AutoTopicCreationManager`), so the
//! request's bounds apply to them together (`crate::api::create_topics::check_request_size`:
//! 10,000 partitions, 10,000 metadata records, i.e. 5,000 topics at `num.partitions=1`). Over
//! them nothing is created and every missing topic is answered UNKNOWN_TOPIC_OR_PARTITION (what
//! a KRaft broker answers while a creation is in flight; the controller then refuses it whole
//! with POLICY_VIOLATION, which the client never sees). See `auto_creation_fits`.
//!
//! Authorized operations (v8+), when asked for, are every operation ([`operations`]: the
//! reference has no authorizer).
//!
//! # References
//! - Kafka protocol guide, Metadata API
//! - `kafka.server.KafkaApis.handleTopicMetadataRequest`, `DefaultAutoTopicCreationManager`
//!   (`createTopics`, `sendCreateTopicRequest`, `filterCreatableTopics`), `MetadataCache`

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::VersionRange;
use uuid::Uuid;

use super::str;
use crate::cluster::Node;
use crate::config::TopicConfig;
use crate::controller::{MetadataImage, TopicImage, validate_topic_name};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 13 };

use super::authorized_operations as operations;

/// Kafka's "authorized operations not requested" marker.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = operations::OMITTED;

pub fn handle(shared: &Shared, req: MetadataRequest, version: i16) -> MetadataResponse {
    let node = &shared.node;
    // v0: an empty list means all topics; v1+: null means all topics.
    let requested = match req.topics {
        Some(topics) if !(version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    let allow_create =
        (version < 4 || req.allow_auto_topic_creation) && shared.config.auto_create_topics_enable;
    let mut created = Vec::new();
    let state = node.state();
    let image = &state.image;
    // Bounded as one CreateTopics (see the module doc): over the bounds, nothing is created.
    let allow_create = allow_create
        && requested.as_ref().is_none_or(|wanted| {
            let names = wanted.iter().filter_map(|t| t.name.as_ref());
            let is_new = |name: &str| image.topic_by_name(name).is_none();
            auto_creation_fits(
                names.map(|n| n.0.as_str()),
                shared.config.num_partitions,
                is_new,
            )
        });
    let mut topics: Vec<MetadataResponseTopic> = match requested {
        None => image.topics().map(|t| describe(image, t)).collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|t| {
                let name = t.name.map(|n| n.0.to_string());
                lookup(image, name, t.topic_id, allow_create, &mut created)
            })
            .collect(),
    };
    // Without an authorizer every operation is allowed (`authorized_operations`), on topics
    // answered with an error too, as Kafka answers; cluster operations only in v8 to v10.
    let topic_operations =
        operations::if_requested(req.include_topic_authorized_operations, operations::TOPIC);
    for topic in &mut topics {
        topic.topic_authorized_operations = topic_operations;
    }
    let cluster_operations = operations::if_requested(
        (8..=10).contains(&version) && req.include_cluster_authorized_operations,
        operations::CLUSTER,
    );
    let brokers = brokers(node, image);
    drop(state);
    auto_create(shared, created);
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str(&shared.cluster_id)))
        .with_controller_id(BrokerId(node.id))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations);
    fit_to_version(response, version)
}

/// The unfenced brokers, where they listen.
fn brokers(node: &Node, image: &MetadataImage) -> Vec<MetadataResponseBroker> {
    let addresses = node.addresses.lock().unwrap_or_else(|p| p.into_inner());
    image
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
        .collect()
}

/// One requested topic, by name or (v10+, name null) by id; a missing one that may be
/// created goes to `created`.
fn lookup(
    image: &MetadataImage,
    name: Option<String>,
    id: Uuid,
    allow_create: bool,
    created: &mut Vec<String>,
) -> MetadataResponseTopic {
    let Some(name) = name else {
        return match image.topic(id) {
            Some(topic) => describe(image, topic),
            None => error_topic(None, id, ResponseError::UnknownTopicId.code()),
        };
    };
    if let Some(topic) = image.topic_by_name(&name) {
        return describe(image, topic);
    }
    if let Err(e) = validate_topic_name(&name) {
        return error_topic(Some(name), Uuid::nil(), e.code);
    }
    if !allow_create {
        let code = ResponseError::UnknownTopicOrPartition.code();
        return error_topic(Some(name), Uuid::nil(), code);
    }
    created.push(name.clone());
    error_topic(
        Some(name),
        Uuid::nil(),
        ResponseError::UnknownTopicOrPartition.code(),
    )
}

/// Asks the controller for the topics a Metadata request named and may create, with the
/// broker's topic defaults. An isolated broker cannot ask the controller; the client asks
/// again (Kafka's `AutoTopicCreationManager` request would wait in the forwarding channel).
fn auto_create(shared: &Shared, names: Vec<String>) {
    let node = &shared.node;
    if names.is_empty() || !node.faults.reaches_controller(node.id) {
        return;
    }
    for name in names {
        let outcome = node.controller.with(|c| {
            c.create_topic(&name, -1, -1, &[])?;
            // Under the controller's lock, as CreateTopics: the broker's topic defaults.
            if let Ok(config) = TopicConfig::new(&shared.config, BTreeMap::new()) {
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

/// Clears fields the request's version does not have (the codec refuses to encode them).
pub(crate) fn fit_to_version(mut response: MetadataResponse, version: i16) -> MetadataResponse {
    if version < 1 {
        response.controller_id = BrokerId(-1);
    }
    if version < 2 {
        response.cluster_id = None;
    }
    for topic in &mut response.topics {
        if version < 1 {
            topic.is_internal = false;
        }
        if version < 10 {
            topic.topic_id = Uuid::nil();
        }
        for partition in &mut topic.partitions {
            if version < 7 {
                partition.leader_epoch = -1;
            }
        }
    }
    response
}

/// Whether auto-creating the missing topics among `names` (each once, at `num_partitions`)
/// stays within the bounds of one CreateTopics; `is_new` tells a missing name. Over them
/// nothing is created (see the module docs) and the refusal is logged.
pub(crate) fn auto_creation_fits<'a>(
    names: impl IntoIterator<Item = &'a str>,
    num_partitions: i32,
    is_new: impl Fn(&str) -> bool,
) -> bool {
    let missing: BTreeSet<&str> = names
        .into_iter()
        .filter(|n| validate_topic_name(n).is_ok() && is_new(n))
        .collect();
    let partitions = u64::try_from(num_partitions).unwrap_or(0);
    let planned = missing
        .iter()
        .map(|&name| crate::api::create_topics::PlannedTopic {
            name,
            partitions,
            configs: 0,
        });
    match crate::api::create_topics::check_request_size(planned, |_| true) {
        Ok(()) => true,
        Err((_, reason)) => {
            tracing::info!(topics = missing.len(), reason, "not auto-creating topics");
            false
        }
    }
}

fn describe(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let offline = image.offline_replicas(&p.replicas);
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
        .with_is_internal(crate::coordinator_log::is_internal(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// A topic answered with an error only.
pub(crate) fn error_topic(name: Option<String>, id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(str(&n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
