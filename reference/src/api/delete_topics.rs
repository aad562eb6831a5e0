//! DeleteTopics: by name (v0-5) or by name or topic id (v6+).
//!
//! An unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID; the
//! topic's logs are deleted with it.
//!
//! # References
//! - KIP-4 (DeleteTopics), KIP-516 (topic ids)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use uuid::Uuid;

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

pub fn handle(shared: &Shared, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let mut core = shared.core();
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut deleted = Vec::new();
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(name) => name,
                None => match core.topic_name_by_id(id) {
                    Some(name) => name.to_string(),
                    None => {
                        return DeletableTopicResult::default()
                            .with_topic_id(id)
                            .with_error_code(ResponseError::UnknownTopicId.code());
                    }
                },
            };
            let result = DeletableTopicResult::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
            let partitions = core.topic(&name).map_or(0, |t| t.partitions.len() as i32);
            match core.delete_topic(&name) {
                Ok(id) => {
                    deleted.extend((0..partitions).map(|p| (name.clone(), p)));
                    result.with_topic_id(if version >= 6 { id } else { Uuid::nil() })
                }
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message((version >= 5).then(|| StrBytes::from_string(e.message))),
            }
        })
        .collect();
    drop(core);
    // Committed offsets of deleted partitions go too, as in Kafka.
    if !deleted.is_empty() {
        shared
            .groups
            .run(shared, |c, _, _| ((), c.on_partitions_deleted(&deleted)));
    }
    shared.notify_appended();
    DeleteTopicsResponse::default().with_responses(responses)
}
