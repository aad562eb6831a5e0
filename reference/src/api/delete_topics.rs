//! DeleteTopics: by name (v0-5) or by name or topic id (v6+).
//!
//! The request is checked as Kafka's `ControllerApis.deleteTopics` checks it, entry by entry,
//! before anything is deleted: an entry with neither a name nor an id, or with both, is
//! INVALID_REQUEST, and so is every entry of a name or id given twice ("Duplicate topic
//! name." / "Duplicate topic id.") and a name whose topic's id another entry already gave.
//! Then an unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID, and
//! every other topic is deleted through the controller (one `RemoveTopicRecord` per topic);
//! every broker drops its replicas and their logs as it applies the record. Committed offsets
//! of its partitions go too. Answered once this broker's own image no longer has the topics,
//! so the client's next request here agrees; a broker cut off from the controller answers
//! REQUEST_TIMED_OUT (`super::reach_controller`).
//!
//! The checks ([`delete`]) are written against [`TopicDeleter`], so that they are tested on
//! their own.
//!
//! # References
//! - KIP-4 (DeleteTopics), KIP-516 (topic ids)
//! - `kafka.server.ControllerApis.deleteTopics`, `ReplicationControlManager.deleteTopics`

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use uuid::Uuid;

use super::{KafkaError, reach_controller, unknown_topic_or_partition, until_image};
use crate::cluster::TopicConfigs;
use crate::controller::Controller;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

/// Where the topics a DeleteTopics request names live.
pub trait TopicDeleter {
    /// The name of the topic with this id.
    fn name_of(&self, id: Uuid) -> Option<String>;
    /// The id of the topic with this name.
    fn id_of(&self, name: &str) -> Option<Uuid>;
    /// Deletes the topic (it exists: the two lookups above said so). Returns how many
    /// partitions it had.
    fn delete(&mut self, name: &str, id: Uuid) -> Result<i32, KafkaError>;
}

/// The answer to a DeleteTopics request, and the partitions it deleted.
pub struct Deleted {
    pub response: DeleteTopicsResponse,
    pub partitions: Vec<(String, i32)>,
}

pub async fn handle(
    shared: &Shared,
    req: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let node = &shared.node;
    let timeout_ms = req.timeout_ms;
    if !reach_controller(node, timeout_ms).await {
        return timed_out(req, version);
    }
    let (deleted, removed) = node.controller.with(|controller| {
        let mut topics = ControllerTopics {
            controller,
            topic_configs: &node.topic_configs,
            removed: Vec::new(),
        };
        let deleted = delete(&mut topics, req, version);
        (deleted, topics.removed)
    });
    // This broker's groups forget the offsets at once; every other broker's coordinator
    // drops them once its image has lost the topic (the runtime's topic check).
    forget_offsets(shared, &deleted.partitions);
    until_image(node, timeout_ms, |image| {
        removed.iter().all(|id| image.topic(*id).is_none())
    })
    .await;
    deleted.response
}

/// Every topic REQUEST_TIMED_OUT, without a message: the controller was out of reach.
fn timed_out(req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
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
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The cluster's topics as DeleteTopics sees them: the controller's image, under its lock.
struct ControllerTopics<'a> {
    controller: &'a mut Controller,
    topic_configs: &'a TopicConfigs,
    removed: Vec<Uuid>,
}

impl TopicDeleter for ControllerTopics<'_> {
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

/// Drops the committed offsets of deleted partitions (`GroupCoordinator.onPartitionsDeleted`).
pub fn forget_offsets(shared: &Shared, partitions: &[(String, i32)]) {
    if !partitions.is_empty() {
        shared
            .groups
            .run(|c, _, _| ((), c.on_partitions_deleted(partitions)));
    }
}

/// Checks the request as Kafka does, then deletes what it may from `topics`.
pub fn delete(topics: &mut dyn TopicDeleter, req: DeleteTopicsRequest, version: i16) -> Deleted {
    let mut responses = Vec::new();
    let respond =
        |responses: &mut Vec<_>, name: Option<&str>, id: Uuid, error: Option<KafkaError>| {
            let mut result = DeletableTopicResult::default()
                .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
                .with_topic_id(if version >= 6 { id } else { Uuid::nil() });
            if let Some(e) = error {
                result = result
                    .with_error_code(e.code)
                    .with_error_message((version >= 5).then(|| StrBytes::from_string(e.message)));
            }
            responses.push(result);
        };
    let invalid = |why: &str| Some(KafkaError::new(ResponseError::InvalidRequest, why));

    // Names and ids as given, each with how often it was given.
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut ids: Vec<(Uuid, usize)> = Vec::new();
    fn provide<T: PartialEq>(seen: &mut Vec<(T, usize)>, value: T) {
        match seen.iter_mut().find(|(v, _)| *v == value) {
            Some((_, n)) => *n += 1,
            None => seen.push((value, 1)),
        }
    }
    if version < 6 {
        for name in req.topic_names {
            provide(&mut names, name.0.to_string());
        }
    } else {
        for topic in req.topics {
            match (topic.name, topic.topic_id.is_nil()) {
                (None, true) => respond(
                    &mut responses,
                    None,
                    Uuid::nil(),
                    invalid("Neither topic name nor id were specified."),
                ),
                (None, false) => provide(&mut ids, topic.topic_id),
                (Some(name), true) => provide(&mut names, name.0.to_string()),
                (Some(name), false) => respond(
                    &mut responses,
                    Some(&name.0),
                    topic.topic_id,
                    invalid("You may not specify both topic name and topic id."),
                ),
            }
        }
    }
    for (name, _) in names.iter().filter(|(_, n)| *n > 1) {
        respond(
            &mut responses,
            Some(name),
            Uuid::nil(),
            invalid("Duplicate topic name."),
        );
    }
    for (id, _) in ids.iter().filter(|(_, n)| *n > 1) {
        respond(&mut responses, None, *id, invalid("Duplicate topic id."));
    }

    // Resolve ids to names, then names to ids; what is left is deleted.
    let mut to_delete: BTreeMap<Uuid, String> = BTreeMap::new();
    let mut order: Vec<Uuid> = Vec::new();
    for (id, _) in ids.into_iter().filter(|(_, n)| *n == 1) {
        match topics.name_of(id) {
            Some(name) => {
                to_delete.insert(id, name);
                order.push(id);
            }
            None => respond(
                &mut responses,
                None,
                id,
                Some(KafkaError::new(
                    ResponseError::UnknownTopicId,
                    "This server does not host this topic ID.",
                )),
            ),
        }
    }
    for (name, _) in names.into_iter().filter(|(_, n)| *n == 1) {
        match topics.id_of(&name) {
            None => respond(
                &mut responses,
                Some(&name),
                Uuid::nil(),
                Some(unknown_topic_or_partition()),
            ),
            Some(id) if to_delete.remove(&id).is_some() => {
                order.retain(|o| *o != id);
                respond(
                    &mut responses,
                    Some(&name),
                    id,
                    invalid("The provided topic name maps to an ID that was already supplied."),
                );
            }
            Some(id) => {
                to_delete.insert(id, name);
                order.push(id);
            }
        }
    }
    let mut partitions = Vec::new();
    for id in order {
        let name = &to_delete[&id];
        match topics.delete(name, id) {
            Ok(count) => {
                partitions.extend((0..count).map(|p| (name.clone(), p)));
                respond(&mut responses, Some(name), id, None);
            }
            Err(e) => respond(&mut responses, Some(name), id, Some(e)),
        }
    }
    Deleted {
        response: DeleteTopicsResponse::default().with_responses(responses),
        partitions,
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;

    use super::*;

    /// Topics by name and id; deletions recorded.
    struct Fake(Vec<(String, Uuid, i32)>);

    impl TopicDeleter for Fake {
        fn name_of(&self, id: Uuid) -> Option<String> {
            self.0.iter().find(|t| t.1 == id).map(|t| t.0.clone())
        }
        fn id_of(&self, name: &str) -> Option<Uuid> {
            self.0.iter().find(|t| t.0 == name).map(|t| t.1)
        }
        fn delete(&mut self, name: &str, _id: Uuid) -> Result<i32, KafkaError> {
            let at = self.0.iter().position(|t| t.0 == name).unwrap();
            Ok(self.0.remove(at).2)
        }
    }

    fn topics() -> Fake {
        Fake(vec![
            ("a".into(), Uuid::from_u128(1), 2),
            ("b".into(), Uuid::from_u128(2), 1),
            ("c".into(), Uuid::from_u128(3), 1),
        ])
    }

    fn entry(name: Option<&str>, id: u128) -> DeleteTopicState {
        DeleteTopicState::default()
            .with_name(name.map(|n| TopicName(StrBytes::from_string(n.into()))))
            .with_topic_id(Uuid::from_u128(id))
    }

    fn answers(deleted: &Deleted) -> Vec<(Option<String>, u128, i16, Option<String>)> {
        deleted
            .response
            .responses
            .iter()
            .map(|r| {
                (
                    r.name.as_ref().map(|n| n.0.to_string()),
                    r.topic_id.as_u128(),
                    r.error_code,
                    r.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn the_request_is_checked_as_kafkas_controller_apis_checks_it() {
        let mut fake = topics();
        let req = DeleteTopicsRequest::default().with_topics(vec![
            entry(None, 0),
            entry(Some("a"), 1),
            entry(Some("c"), 0),
            entry(Some("c"), 0),
            entry(None, 2),
            entry(Some("b"), 0),
            entry(None, 9),
            entry(Some("zz"), 0),
        ]);
        let deleted = delete(&mut fake, req, 6);
        let invalid = |name: Option<&str>, id, why: &str| {
            (
                name.map(str::to_string),
                id,
                ResponseError::InvalidRequest.code(),
                Some(why.to_string()),
            )
        };
        assert_eq!(
            answers(&deleted),
            vec![
                invalid(None, 0, "Neither topic name nor id were specified."),
                invalid(
                    Some("a"),
                    1,
                    "You may not specify both topic name and topic id."
                ),
                invalid(Some("c"), 0, "Duplicate topic name."),
                (
                    None,
                    9,
                    ResponseError::UnknownTopicId.code(),
                    Some("This server does not host this topic ID.".into())
                ),
                invalid(
                    Some("b"),
                    2,
                    "The provided topic name maps to an ID that was already supplied."
                ),
                (
                    Some("zz".into()),
                    0,
                    ResponseError::UnknownTopicOrPartition.code(),
                    Some("This server does not host this topic-partition.".into())
                ),
            ]
        );
        assert!(deleted.partitions.is_empty(), "nothing was deleted");
        assert_eq!(fake.0.len(), 3);
    }

    #[test]
    fn good_entries_are_deleted_by_name_or_id_and_old_versions_carry_no_ids() {
        let mut fake = topics();
        let req = DeleteTopicsRequest::default().with_topics(vec![
            entry(None, 1),
            entry(None, 3),
            entry(None, 3),
            entry(Some("b"), 0),
        ]);
        let deleted = delete(&mut fake, req, 6);
        assert_eq!(
            answers(&deleted),
            vec![
                (
                    None,
                    3,
                    ResponseError::InvalidRequest.code(),
                    Some("Duplicate topic id.".into())
                ),
                (Some("a".into()), 1, 0, None),
                (Some("b".into()), 2, 0, None),
            ]
        );
        assert_eq!(
            deleted.partitions,
            vec![("a".into(), 0), ("a".into(), 1), ("b".into(), 0)]
        );

        let req = DeleteTopicsRequest::default().with_topic_names(vec![
            TopicName(StrBytes::from_static_str("c")),
            TopicName(StrBytes::from_static_str("nope")),
        ]);
        let deleted = delete(&mut fake, req, 4);
        assert_eq!(
            answers(&deleted),
            vec![
                (
                    Some("nope".into()),
                    0,
                    ResponseError::UnknownTopicOrPartition.code(),
                    None
                ),
                (Some("c".into()), 0, 0, None),
            ],
            "v4: no topic ids, no error messages"
        );
        assert!(fake.0.is_empty());
    }
}
