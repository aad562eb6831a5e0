//! Kafka's rules for topic names (`org.apache.kafka.common.internals.Topic`): which names
//! are legal, and which new names collide with existing ones.

use kafka_protocol::error::ResponseError;

use crate::api::KafkaError;

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Kafka's topic name rules: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), KafkaError> {
    let invalid = |why: String| Err(KafkaError::new(ResponseError::InvalidTopicException, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka's `.`/`_` collision rule for a new topic (`Topic.hasCollisionChars` and
/// `unifyCollisionChars`, checked in `ReplicationControlManager.validateNewTopicNames`): a
/// name equal to an existing topic's once every `.` reads as `_` is INVALID_TOPIC_EXCEPTION,
/// as both topics would have the same metric names. `existing` excludes `name` itself (an
/// existing name is TOPIC_ALREADY_EXISTS first).
pub fn check_topic_collision<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<(), KafkaError> {
    let unify = |n: &str| n.replace('.', "_");
    let has_collision_chars = |n: &str| n.contains('.') || n.contains('_');
    if !has_collision_chars(name) {
        return Ok(());
    }
    let unified = unify(name);
    match existing
        .into_iter()
        .find(|other| has_collision_chars(other) && unify(other) == unified)
    {
        Some(other) => Err(KafkaError::new(
            ResponseError::InvalidTopicException,
            format!("Topic '{name}' collides with existing topic: {other}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate_topic_name("orders").is_ok());
        assert!(validate_topic_name("a.b_c-1").is_ok());
        for bad in ["", ".", "..", "has space", "ü", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code, 17, "{bad:?}");
        }
    }

    #[test]
    fn a_new_name_may_not_collide_with_another_in_dots_and_underscores() {
        let err = check_topic_collision("orders_eu", ["orders.eu"]).unwrap_err();
        assert_eq!(err.code, 17, "INVALID_TOPIC_EXCEPTION");
        assert_eq!(
            err.message,
            "Topic 'orders_eu' collides with existing topic: orders.eu"
        );
        assert!(check_topic_collision("orders-eu", ["orders.eu"]).is_ok());
        assert!(check_topic_collision("ordersXeu", ["orders.eu"]).is_ok());
        assert!(check_topic_collision("orders_eu", ["orders-eu"]).is_ok());
    }
}
