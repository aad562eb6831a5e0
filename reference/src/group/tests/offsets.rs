//! OffsetCommit, OffsetFetch, OffsetDelete and offset retention.

use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::*;

/// (partition, offset, leader epoch, metadata, error) of a v8+ fetch of one topic.
fn fetched(response: &OffsetFetchResponse, topic: &str) -> Vec<(i32, i64, i32, String, i16)> {
    response.groups[0]
        .topics
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let metadata = p.metadata.as_deref().unwrap_or("<null>").to_string();
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    metadata,
                    p.error_code,
                )
            })
        })
        .collect()
}

fn delete_request(group: &str, topic: &str, partitions: &[i32]) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p))
                        .collect(),
                ),
        ])
}

fn delete(h: &mut Harness, request: &OffsetDeleteRequest) -> OffsetDeleteResponse {
    let reply =
        h.c.offset_delete(&RequestContext::version(0), request, &partition_exists);
    h.absorb(reply.effects);
    reply.response
}

#[test]
fn committed_offsets_come_back_exactly_with_their_metadata() {
    let mut h = Harness::new(config());
    // "Processed offset 15": the consumer commits 16, the next offset to read.
    let codes = h.commit(
        "order_processing_group",
        "",
        -1,
        &[("orders", 0, 16, Some("host-a")), ("orders", 1, 4, None)],
    );
    assert_eq!(codes, vec![code::NONE, code::NONE]);
    let response = h.fetch("order_processing_group", Some(&[("orders", &[0, 1, 2])]));
    assert_eq!(response.groups[0].error_code, code::NONE);
    assert_eq!(
        fetched(&response, "orders"),
        vec![
            (0, 16, 7, "host-a".to_string(), 0),
            (1, 4, 7, String::new(), 0),
            (2, -1, -1, String::new(), 0), // never committed: the consumer applies auto.offset.reset
        ]
    );
    // A simple group now exists, Empty, without protocol type.
    let summary = h.c.group_summary("order_processing_group").unwrap();
    assert_eq!(
        (summary.state, summary.protocol_type),
        (GroupState::Empty, None)
    );
    // Groups are independent.
    let other = h.fetch("another_group", Some(&[("orders", &[0])]));
    assert_eq!(
        fetched(&other, "orders"),
        vec![(0, -1, -1, String::new(), 0)]
    );
}

#[test]
fn commits_to_unknown_topics_or_partitions_are_refused() {
    let mut h = Harness::new(config());
    let codes = h.commit(
        "g",
        "",
        -1,
        &[
            ("orders", 5, 1, None),
            ("orders", 6, 1, None),
            ("nope", 0, 1, None),
        ],
    );
    assert_eq!(
        codes,
        vec![
            code::NONE,
            code::UNKNOWN_TOPIC_OR_PARTITION,
            code::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    // Only unknown partitions: the group is not even created.
    let codes = h.commit("g2", "", -1, &[("nope", 0, 1, None)]);
    assert_eq!(codes, vec![code::UNKNOWN_TOPIC_OR_PARTITION]);
    assert_eq!(h.c.group_ids(), vec!["g".to_string()]);
}

#[test]
fn simple_commits_are_refused_while_the_group_has_members() {
    let mut h = Harness::new(config());
    h.stable_group("g", 1);
    assert_eq!(
        h.commit("g", "", -1, &[("orders", 0, 1, None)]),
        vec![code::UNKNOWN_MEMBER_ID]
    );
}

#[test]
fn member_commits_need_the_current_generation() {
    let mut h = Harness::new(config());
    let members = h.form_group("g", 2);
    let (a, b) = (members[0].0.clone(), members[1].0.clone());
    // Joined but not synced: the generation is not settled yet.
    assert_eq!(
        h.commit("g", &a, 1, &[("orders", 0, 1, None)]),
        vec![code::REBALANCE_IN_PROGRESS]
    );
    h.sync(&sync_request("g", &b, 1, &[]));
    h.sync(&sync_request("g", &a, 1, &[(&a, &[0]), (&b, &[1])]));
    assert_eq!(
        h.commit("g", &a, 1, &[("orders", 0, 10, None)]),
        vec![code::NONE]
    );
    assert_eq!(
        h.commit("g", &a, 0, &[("orders", 0, 11, None)]),
        vec![code::ILLEGAL_GENERATION]
    );
    assert_eq!(
        h.commit("g", "client-x", 1, &[("orders", 0, 12, None)]),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        h.c.committed_offset("g", "orders", 0)
            .unwrap()
            .committed_offset,
        10
    );
    // While rebalancing (PreparingRebalance) a member of the old generation still commits.
    h.join_dynamic("g");
    assert_eq!(
        h.commit("g", &b, 1, &[("orders", 1, 20, None)]),
        vec![code::NONE]
    );
}

#[test]
fn commits_to_an_unknown_group_with_a_generation() {
    let mut h = Harness::new(config());
    assert_eq!(
        h.commit("g", "m", 3, &[("orders", 0, 1, None)]),
        vec![code::GROUP_ID_NOT_FOUND]
    );
    let response = h.commit_v(8, &commit_request("g", "m", 3, &[("orders", 0, 1, None)]));
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        code::ILLEGAL_GENERATION
    );
}

#[test]
fn metadata_longer_than_offset_metadata_max_bytes_is_refused() {
    let mut h = Harness::new(config());
    let at_limit = "m".repeat(4_096);
    let over = "m".repeat(4_097);
    let codes = h.commit(
        "g",
        "",
        -1,
        &[
            ("orders", 0, 1, Some(&at_limit)),
            ("orders", 1, 1, Some(&over)),
        ],
    );
    assert_eq!(codes, vec![code::NONE, code::OFFSET_METADATA_TOO_LARGE]);
    // Java counts UTF-16 units: 4000 'é' are 8000 bytes but 4000 units, within the limit.
    let accents = "é".repeat(4_000);
    assert_eq!(
        h.commit("g", "", -1, &[("orders", 2, 1, Some(&accents))]),
        vec![code::NONE]
    );
    assert_eq!(
        h.c.committed_offset("g", "orders", 2).unwrap().metadata,
        accents
    );
}

#[test]
fn fetch_all_partitions_and_the_single_group_form() {
    let mut h = Harness::new(config());
    h.commit(
        "g",
        "",
        -1,
        &[("orders", 3, 30, Some("x")), ("payments", 0, 5, None)],
    );
    let all = h.fetch("g", None);
    assert_eq!(
        fetched(&all, "orders"),
        vec![(3, 30, 7, "x".to_string(), 0)]
    );
    assert_eq!(fetched(&all, "payments"), vec![(0, 5, 7, String::new(), 0)]);
    assert!(h.fetch("unknown", None).groups[0].topics.is_empty());
    // v7: one group, at the top level.
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes(vec![3, 4]),
        ]));
    let response = h.c.offset_fetch(&RequestContext::version(7), &request);
    assert!(response.groups.is_empty());
    let partitions = &response.topics[0].partitions;
    assert_eq!(
        (
            partitions[0].committed_offset,
            partitions[1].committed_offset
        ),
        (30, -1)
    );
    let response = h.c.offset_fetch(
        &RequestContext::version(7),
        &request.clone().with_topics(None),
    );
    assert_eq!(response.topics.len(), 2);
    // v8: several groups in one request.
    let mut request = fetch_request("g", None);
    request.groups.push(
        fetch_request("unknown", Some(&[("orders", &[0])]))
            .groups
            .remove(0),
    );
    let response = h.c.offset_fetch(&RequestContext::version(8), &request);
    assert_eq!(response.groups.len(), 2);
    assert_eq!(
        response.groups[1].topics[0].partitions[0].committed_offset,
        -1
    );
}

#[test]
fn offset_delete_refuses_groups_that_consume_the_topic() {
    let mut h = Harness::new(config());
    assert_eq!(
        delete(&mut h, &delete_request("nope", "orders", &[0])).error_code,
        code::GROUP_ID_NOT_FOUND
    );
    assert_eq!(
        delete(&mut h, &delete_request("", "orders", &[0])).error_code,
        code::INVALID_GROUP_ID
    );
    let (ids, generation) = h.stable_group("g", 1);
    h.commit(
        "g",
        &ids[0],
        generation,
        &[("orders", 0, 1, None), ("payments", 0, 2, None)],
    );
    // The members subscribe to "orders" (consumer protocol metadata).
    let response = delete(&mut h, &delete_request("g", "orders", &[0]));
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        code::GROUP_SUBSCRIBED_TO_TOPIC
    );
    let response = delete(&mut h, &delete_request("g", "payments", &[0, 7]));
    let codes: Vec<i16> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![code::NONE, code::UNKNOWN_TOPIC_OR_PARTITION]);
    assert!(h.c.committed_offset("g", "payments", 0).is_none());
    assert!(h.c.committed_offset("g", "orders", 0).is_some());
    // A non-consumer group that is not Empty keeps all its offsets.
    let connect = join_request("c", "", None).with_protocol_type(s("connect"));
    let t = h.join(&connect);
    let id = h.joined(t).member_id.to_string();
    h.join(&connect.with_member_id(s(&id)));
    assert_eq!(
        delete(&mut h, &delete_request("c", "orders", &[0])).error_code,
        code::NON_EMPTY_GROUP
    );
    // An Empty group loses the offsets asked for.
    h.commit("simple", "", -1, &[("orders", 0, 9, None)]);
    let response = delete(&mut h, &delete_request("simple", "orders", &[0]));
    assert_eq!(response.topics[0].partitions[0].error_code, code::NONE);
    assert!(h.c.committed_offset("simple", "orders", 0).is_none());
}

fn retention_config() -> GroupConfig {
    GroupConfig {
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..config()
    }
}

#[test]
fn offsets_of_an_empty_group_expire_after_the_retention_since_it_became_empty() {
    let mut h = Harness::new(retention_config());
    let (ids, generation) = h.stable_group("g", 1);
    h.commit("g", &ids[0], generation, &[("orders", 0, 42, None)]);
    // Stable and subscribed: the offset stays however old it gets.
    for _ in 0..20 {
        h.advance(5_000);
        assert_eq!(h.heartbeat("g", &ids[0], generation), code::NONE);
    }
    assert!(h.c.committed_offset("g", "orders", 0).is_some());
    h.leave_v(LEAVE_V, &leave_request("g", &[(&ids[0], None)]));
    let empty_since = h.now;
    assert_eq!(h.c.group_state("g"), Some(GroupState::Empty));
    while h.now < empty_since + 59_000 {
        h.advance(1_000);
    }
    assert!(
        h.c.committed_offset("g", "orders", 0).is_some(),
        "expired before the retention"
    );
    let before = h.records.len();
    h.advance(1_000);
    h.advance(1_000);
    assert!(h.c.committed_offset("g", "orders", 0).is_none());
    // The offset's tombstone, then the group's: nothing is left of it.
    assert!(matches!(
        &h.records[before..],
        [
            GroupRecord::OffsetCommit { value: None, .. },
            GroupRecord::GroupMetadata { value: None, .. }
        ]
    ));
    assert_eq!(h.c.group_state("g"), None);
}

#[test]
fn offsets_of_a_simple_group_expire_after_the_retention_since_their_commit() {
    let mut h = Harness::new(retention_config());
    h.commit("simple", "", -1, &[("orders", 0, 1, None)]);
    h.advance(30_000);
    h.commit("simple", "", -1, &[("orders", 1, 1, None)]);
    h.advance(31_000);
    assert!(h.c.committed_offset("simple", "orders", 0).is_none());
    assert!(h.c.committed_offset("simple", "orders", 1).is_some());
    h.advance(30_000);
    assert!(h.c.committed_offset("simple", "orders", 1).is_none());
    assert_eq!(h.c.group_state("simple"), None);
}

#[test]
fn a_commit_with_its_own_retention_expires_then() {
    let mut h = Harness::new(retention_config());
    let request =
        commit_request("g", "", -1, &[("orders", 0, 1, None)]).with_retention_time_ms(5_000);
    h.commit_v(2, &request);
    assert_eq!(
        h.c.committed_offset("g", "orders", 0)
            .unwrap()
            .expire_timestamp_ms,
        Some(5_000)
    );
    h.advance(5_000);
    assert!(h.c.committed_offset("g", "orders", 0).is_none());
}

#[test]
fn a_stable_consumer_group_loses_offsets_of_topics_it_no_longer_reads() {
    let mut h = Harness::new(retention_config());
    let (ids, generation) = h.stable_group("g", 1);
    h.commit(
        "g",
        &ids[0],
        generation,
        &[("orders", 0, 1, None), ("payments", 0, 1, None)],
    );
    for _ in 0..14 {
        h.advance(5_000);
        assert_eq!(h.heartbeat("g", &ids[0], generation), code::NONE);
    }
    assert!(h.c.committed_offset("g", "orders", 0).is_some());
    assert!(h.c.committed_offset("g", "payments", 0).is_none());
}

#[test]
fn an_empty_group_without_offsets_is_deleted_by_the_retention_check() {
    let mut h = Harness::new(retention_config());
    let t = h.join(&join_request("g", "", None));
    assert_eq!(h.joined(t).error_code, code::MEMBER_ID_REQUIRED);
    assert_eq!(h.c.group_state("g"), Some(GroupState::Empty));
    h.advance(1_000);
    assert_eq!(h.c.group_state("g"), None);
}

#[test]
fn deleted_partitions_lose_their_offsets() {
    let mut h = Harness::new(config());
    h.commit(
        "a",
        "",
        -1,
        &[("orders", 0, 1, None), ("orders", 1, 1, None)],
    );
    h.commit("b", "", -1, &[("orders", 0, 1, None)]);
    let fx = h.c.on_partitions_deleted(&[("orders".to_string(), 0)]);
    assert_eq!(fx.records.len(), 2);
    h.absorb(fx);
    assert!(h.c.committed_offset("a", "orders", 0).is_none());
    assert!(h.c.committed_offset("b", "orders", 0).is_none());
    assert!(h.c.committed_offset("a", "orders", 1).is_some());
}
