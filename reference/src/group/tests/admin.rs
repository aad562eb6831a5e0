//! ListGroups, DescribeGroups, DeleteGroups, and every API once the coordinator is gone.

use kafka_protocol::messages::offset_delete_request::OffsetDeleteRequestTopic;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest, OffsetDeleteRequest,
};

use super::*;

fn listed(
    h: &Harness,
    version: i16,
    states: &[&str],
    types: &[&str],
) -> Vec<(String, String, String)> {
    let request = ListGroupsRequest::default()
        .with_states_filter(states.iter().map(|v| s(v)).collect())
        .with_types_filter(types.iter().map(|v| s(v)).collect());
    let response = h.c.list_groups(&RequestContext::version(version), &request);
    assert_eq!(response.error_code, code::NONE);
    response
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.group_state.to_string(),
                g.protocol_type.to_string(),
            )
        })
        .collect()
}

#[test]
fn list_groups_filters_by_state_and_type() {
    let mut h = Harness::new(config());
    h.stable_group("stable", 1);
    h.join_dynamic("joining");
    h.commit("simple", "", -1, &[("orders", 0, 1, None)]);
    let all = listed(&h, 5, &[], &[]);
    assert_eq!(
        all,
        vec![
            (
                "joining".into(),
                "PreparingRebalance".into(),
                "consumer".into()
            ),
            ("simple".into(), "Empty".into(), "".into()),
            ("stable".into(), "Stable".into(), "consumer".into()),
        ]
    );
    let names = |v: Vec<(String, String, String)>| v.into_iter().map(|g| g.0).collect::<Vec<_>>();
    assert_eq!(
        names(listed(&h, 4, &["stable", " EMPTY "], &[])),
        vec!["simple", "stable"]
    );
    assert_eq!(names(listed(&h, 5, &[], &["Classic"])).len(), 3);
    assert!(listed(&h, 5, &[], &["consumer"]).is_empty());
    // Before v4 the filters do not exist.
    assert_eq!(listed(&h, 3, &["stable"], &["consumer"]).len(), 3);
}

#[test]
fn describe_groups_shows_metadata_only_when_stable() {
    let mut h = Harness::new(config());
    let (ids, _) = h.stable_group("g", 1);
    h.join_dynamic("joining");
    let request = DescribeGroupsRequest::default().with_groups(vec![
        GroupId(s("g")),
        GroupId(s("joining")),
        GroupId(s("nope")),
    ]);
    let response = h.c.describe_groups(&RequestContext::version(5), &request);
    let [g, joining, nope] = &response.groups[..] else {
        panic!("three groups")
    };
    assert_eq!(
        (
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    let member = &g.members[0];
    assert_eq!(member.member_id.as_str(), ids[0]);
    assert_eq!(
        (member.client_id.as_str(), member.client_host.as_str()),
        ("client", "/127.0.0.1")
    );
    assert_eq!(member.member_metadata, subscription(&["orders"]));
    assert_eq!(member.member_assignment.as_ref(), &[0]);
    assert_eq!(
        (joining.group_state.as_str(), joining.protocol_data.as_str()),
        ("PreparingRebalance", "")
    );
    assert!(joining.members[0].member_metadata.is_empty());
    assert_eq!(
        (nope.group_state.as_str(), nope.error_code),
        ("Dead", code::NONE)
    );
    // v6 reports the unknown group.
    let response = h.c.describe_groups(&RequestContext::version(6), &request);
    let nope = &response.groups[2];
    assert_eq!(nope.error_code, code::GROUP_ID_NOT_FOUND);
    assert_eq!(nope.error_message.as_deref(), Some("Group nope not found."));
}

#[test]
fn delete_groups_deletes_only_empty_groups_with_their_offsets() {
    let mut h = Harness::new(config());
    h.stable_group("busy", 1);
    h.commit(
        "idle",
        "",
        -1,
        &[("orders", 0, 1, None), ("payments", 2, 3, None)],
    );
    let request = DeleteGroupsRequest::default().with_groups_names(vec![
        GroupId(s("busy")),
        GroupId(s("idle")),
        GroupId(s("nope")),
        GroupId(s("idle")),
    ]);
    let reply = h.c.delete_groups(&RequestContext::version(2), &request);
    let codes: Vec<(String, i16)> = reply
        .response
        .results
        .iter()
        .map(|r| (r.group_id.to_string(), r.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("busy".into(), code::NON_EMPTY_GROUP),
            ("idle".into(), code::NONE),
            ("nope".into(), code::GROUP_ID_NOT_FOUND),
        ]
    );
    assert_eq!(
        reply.effects.records.len(),
        3,
        "two offset tombstones and the group's"
    );
    h.absorb(reply.effects);
    assert_eq!(h.c.group_ids(), vec!["busy".to_string()]);
    assert!(h.fetch("idle", None).groups[0].topics.is_empty());
    // The deletion survives a restart.
    assert_eq!(h.replayed().group_ids(), vec!["busy".to_string()]);
}

#[test]
fn every_api_answers_coordinator_not_available_after_unload() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 1);
    let fx = h.c.unload(h.now);
    h.absorb(fx);
    assert_eq!(
        h.heartbeat("g", &ids[0], generation),
        code::COORDINATOR_NOT_AVAILABLE
    );
    let t = h.sync(&sync_request("g", &ids[0], generation, &[]));
    assert_eq!(h.synced(t).error_code, code::COORDINATOR_NOT_AVAILABLE);
    let response = h.leave_v(LEAVE_V, &leave_request("g", &[(&ids[0], None)]));
    assert_eq!(response.error_code, code::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(
        h.commit("g", &ids[0], generation, &[("orders", 0, 1, None)]),
        vec![code::COORDINATOR_NOT_AVAILABLE]
    );
    assert_eq!(
        h.fetch("g", None).groups[0].error_code,
        code::COORDINATOR_NOT_AVAILABLE
    );
    let ctx = RequestContext::version(5);
    assert_eq!(
        h.c.list_groups(&ctx, &ListGroupsRequest::default())
            .error_code,
        code::COORDINATOR_NOT_AVAILABLE
    );
    let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]);
    assert_eq!(
        h.c.describe_groups(&ctx, &describe).groups[0].error_code,
        code::COORDINATOR_NOT_AVAILABLE
    );
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    assert_eq!(
        h.c.delete_groups(&ctx, &delete).response.results[0].error_code,
        code::COORDINATOR_NOT_AVAILABLE
    );
    let offset_delete = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default().with_name(TopicName(s("orders"))),
        ]);
    let reply = h.c.offset_delete(&ctx, &offset_delete, &partition_exists);
    assert_eq!(reply.response.error_code, code::COORDINATOR_NOT_AVAILABLE);
    assert!(h.c.tick(h.now + 1_000_000).is_empty());
}
