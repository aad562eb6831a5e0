//! DescribeTopicPartitions (KIP-966): topics and their partitions, paginated by a cursor,
//! as Kafka 4's `kafka-topics --describe` and the admin client's `describeTopics` ask.
//!
//! Answered as Kafka's `DescribeTopicPartitionsRequestHandler` and
//! `KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse` answer, from this broker's
//! metadata image:
//!
//! - The topics are the ones named (each once), or every topic when none is named, those
//!   sorting before the cursor's topic left out, in name order.
//! - A response holds at most `max(min(response_partition_limit,
//!   max.request.partition.size.limit = 2000), 1)` partitions. The cursor's topic starts at
//!   the cursor's partition, every other at 0; when a topic does not fit, its partitions up
//!   to the limit are given and `next_cursor` names the topic and the first partition left;
//!   when the limit is used up exactly before a topic, `next_cursor` names that topic at 0.
//! - A named topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION, or
//!   INVALID_TOPIC_EXCEPTION when its name is not a legal topic name (it takes no room in
//!   the limit); when every topic is asked for, there are none such.
//! - A cursor whose topic is not among the named topics, or with a negative partition, is
//!   INVALID_REQUEST on every named topic and nothing else (Kafka's `getErrorResponse`).
//! - Each partition has its leader, epoch, replicas, ISR and the replicas on fenced or
//!   unknown brokers as offline; eligible leader replicas are empty lists (the reference
//!   has no ELR). Authorized operations are every topic operation
//!   ([`super::authorized_operations`]), on error topics too.
//!
//! # References
//! - KIP-966 (DescribeTopicPartitions), Kafka protocol guide
//! - `kafka.server.handlers.DescribeTopicPartitionsRequestHandler`,
//!   `KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse`,
//!   `DescribeTopicPartitionsRequest.getErrorResponse`

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::VersionRange;
use uuid::Uuid;

use super::authorized_operations as operations;
use super::str;
use crate::controller::{MetadataImage, TopicImage, validate_topic_name};
use crate::coordinator_log::is_internal;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

/// `max.request.partition.size.limit` (Kafka's default): the most partitions one response
/// holds, whatever the request asks.
pub const MAX_REQUEST_PARTITION_SIZE_LIMIT: i32 = 2000;

pub fn handle(
    shared: &Shared,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let state = shared.node.state();
    let image = &state.image;
    let cursor = req
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index));
    let cursor_topic = cursor.as_ref().map_or("", |(t, _)| t.as_str());
    let all_topics = req.topics.is_empty();
    let topics: BTreeSet<String> = if all_topics {
        image
            .topics()
            .map(|t| t.name.clone())
            .filter(|name| name.as_str() >= cursor_topic)
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|name| name.as_str() >= cursor_topic)
            .collect()
    };
    let bad_cursor = match &cursor {
        Some((topic, _)) if !all_topics && !topics.contains(topic) => true,
        Some((_, partition)) => *partition < 0,
        None => false,
    };
    if bad_cursor {
        return invalid_request(&req);
    }
    let limit = req
        .response_partition_limit
        .clamp(1, MAX_REQUEST_PARTITION_SIZE_LIMIT) as usize;
    let start_of = |name: &str| match &cursor {
        Some((topic, partition)) if topic == name => *partition as usize,
        _ => 0,
    };
    let mut response = DescribeTopicPartitionsResponse::default();
    let mut remaining = limit;
    for name in &topics {
        if remaining == 0 {
            response.next_cursor = Some(cursor_at(name, 0));
            break;
        }
        let Some(topic) = image.topic_by_name(name) else {
            if !all_topics {
                response.topics.push(missing_topic(name));
            }
            continue;
        };
        let start = start_of(name);
        let end = topic.partitions.len().min(start.saturating_add(remaining));
        let partitions: Vec<_> = (start..end).map(|i| partition(image, topic, i)).collect();
        remaining -= partitions.len();
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(str(name))))
                .with_topic_id(topic.topic_id)
                .with_is_internal(is_internal(name))
                .with_partitions(partitions),
        );
        if end < topic.partitions.len() {
            response.next_cursor = Some(cursor_at(name, end as i32));
            break;
        }
    }
    for topic in &mut response.topics {
        topic.topic_authorized_operations = operations::TOPIC;
    }
    response
}

fn partition(
    image: &MetadataImage,
    topic: &TopicImage,
    index: usize,
) -> DescribeTopicPartitionsResponsePartition {
    let p = &topic.partitions[index];
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let offline = image.offline_replicas(&p.replicas);
    DescribeTopicPartitionsResponsePartition::default()
        .with_partition_index(index as i32)
        .with_leader_id(BrokerId(p.leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(ids(&p.replicas))
        .with_isr_nodes(ids(&p.isr))
        .with_eligible_leader_replicas(Some(Vec::new()))
        .with_last_known_elr(Some(Vec::new()))
        .with_offline_replicas(ids(&offline))
}

/// A named topic the image does not have.
fn missing_topic(name: &str) -> DescribeTopicPartitionsResponseTopic {
    let error = match validate_topic_name(name) {
        Ok(()) => ResponseError::UnknownTopicOrPartition,
        Err(_) => ResponseError::InvalidTopicException,
    };
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error.code())
        .with_name(Some(TopicName(str(name))))
        .with_topic_id(Uuid::nil())
        .with_is_internal(is_internal(name))
}

fn cursor_at(topic: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str(topic)))
        .with_partition_index(partition_index)
}

/// INVALID_REQUEST on every named topic, as Kafka answers a request it throws on.
fn invalid_request(req: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_name(Some(t.name.clone()))
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}
