//! Metadata: the brokers, and each topic's partitions with leader, replicas and ISR.
//!
//! A single broker leads every partition. Asking for a topic that does not exist creates it
//! when both the request (`allow_auto_topic_creation`, v4+) and the broker
//! (`auto.create.topics.enable`) allow; like Kafka, that first answer carries
//! LEADER_NOT_AVAILABLE and the next one the partitions.
//!
//! Auto-creation is bounded as in Kafka: a KRaft broker sends every missing topic of one
//! Metadata request to the controller in one CreateTopics (`AutoTopicCreationManager`), so the
//! request's bounds apply to them together ([`crate::api::create_topics::check_request_size`]:
//! 10,000 partitions, 10,000 metadata records, i.e. 5,000 topics at `num.partitions=1`). Over
//! them nothing is created and every missing topic is answered UNKNOWN_TOPIC_OR_PARTITION (what
//! a KRaft broker answers while a creation is in flight; the controller then refuses it whole
//! with POLICY_VIOLATION, which the client never sees). See [`auto_creation_fits`].
//!
//! # References
//! - Kafka protocol guide, Metadata API
//! - `kafka.server.KafkaApis.handleTopicMetadataRequest`, `DefaultAutoTopicCreationManager`
//!   (`createTopics`, `sendCreateTopicRequest`, `filterCreatableTopics`)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::now_ms;
use crate::broker::{BrokerCore, Topic, validate_topic_name};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 13 };

/// Kafka's "authorized operations not requested" marker.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn handle(shared: &Shared, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut core = shared.core();
    let node_id = core.node_id();
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(node_id))
        .with_host(StrBytes::from_string(shared.advertised_host.clone()))
        .with_port(shared.advertised_port);
    // v0: an empty list means all topics; v1+: null means all topics.
    let requested = match req.topics {
        Some(topics) if !(version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    let topics = match requested {
        None => core.topics().map(|t| describe(t, node_id)).collect(),
        Some(wanted) => {
            let allow_create = (version < 4 || req.allow_auto_topic_creation)
                && core.config.auto_create_topics_enable
                && auto_creation_fits(
                    wanted
                        .iter()
                        .filter_map(|t| t.name.as_ref())
                        .map(|n| n.0.as_str()),
                    core.config.num_partitions,
                    |name| core.topic(name).is_none(),
                );
            wanted
                .into_iter()
                .map(|t| {
                    lookup(
                        &mut core,
                        t.name.map(|n| n.0.to_string()),
                        t.topic_id,
                        allow_create,
                    )
                })
                .collect()
        }
    };
    let response = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_string(core.cluster_id.clone())))
        .with_controller_id(BrokerId(node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    fit_to_version(response, version)
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

fn lookup(
    core: &mut BrokerCore,
    name: Option<String>,
    id: Uuid,
    allow_create: bool,
) -> MetadataResponseTopic {
    let node_id = core.node_id();
    let name = match name {
        Some(name) => name,
        None => match core.topic_name_by_id(id) {
            Some(name) => name.to_string(),
            None => return error_topic(None, id, ResponseError::UnknownTopicId.code()),
        },
    };
    if let Some(topic) = core.topic(&name) {
        return describe(topic, node_id);
    }
    if let Err(e) = validate_topic_name(&name) {
        return error_topic(Some(name), Uuid::nil(), e.code);
    }
    if !allow_create {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::UnknownTopicOrPartition.code(),
        );
    }
    match core.create_topic(&name, -1, -1, BTreeMap::new(), false, now_ms()) {
        Ok(created) => error_topic(
            Some(name),
            created.id,
            ResponseError::LeaderNotAvailable.code(),
        ),
        Err(e) => error_topic(Some(name), Uuid::nil(), e.code),
    }
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

fn describe(topic: &Topic, node_id: i32) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions.len() as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(BrokerId(node_id))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node_id)])
                .with_isr_nodes(vec![BrokerId(node_id)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name == crate::groups::OFFSETS_TOPIC)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// A topic answered with an error only (also a cluster broker's answer).
pub(crate) fn error_topic(name: Option<String>, id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
