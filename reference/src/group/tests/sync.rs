//! SyncGroup, Heartbeat, LeaveGroup and session expiry.

use super::*;

#[test]
fn followers_wait_for_the_leader_whose_assignment_everyone_gets() {
    let mut h = Harness::new(config());
    let members = h.form_group("order_processing_group", 3);
    let ids: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
    let leader = h.joined(members[0].1).leader.to_string();
    assert_eq!(leader, ids[0]);
    let g = "order_processing_group";
    let t1 = h.sync(&sync_request(g, &ids[1], 1, &[]));
    let t2 = h.sync(&sync_request(g, &ids[2], 1, &[]));
    assert!(h.is_parked(t1) && h.is_parked(t2));
    let records_before = h.records.len();
    // The range assignment of the seeds: P0,P1 / P2,P3 / P4,P5.
    let t0 = h.sync(&sync_request(
        g,
        &ids[0],
        1,
        &[(&ids[0], &[0, 1]), (&ids[1], &[2, 3]), (&ids[2], &[4, 5])],
    ));
    assert_eq!(h.synced(t0).assignment.as_ref(), &[0, 1]);
    assert_eq!(h.synced(t1).assignment.as_ref(), &[2, 3]);
    assert_eq!(h.synced(t2).assignment.as_ref(), &[4, 5]);
    assert_eq!(h.synced(t1).protocol_name.as_deref(), Some("range"));
    assert_eq!(h.synced(t1).protocol_type.as_deref(), Some("consumer"));
    assert_eq!(h.c.group_state(g), Some(GroupState::Stable));
    match &h.records[records_before..] {
        [GroupRecord::GroupMetadata { value: Some(v), .. }] => {
            assert_eq!(
                (v.generation, v.protocol.as_deref(), v.leader.as_deref()),
                (1, Some("range"), Some(leader.as_str()))
            );
            assert_eq!(v.members.len(), 3);
            assert!(
                v.members
                    .iter()
                    .any(|m| m.member_id == ids[2] && m.assignment.as_ref() == [4, 5])
            );
        }
        other => panic!("expected one GroupMetadata record, got {other:?}"),
    }
    // A follower syncing again in Stable gets its assignment at once.
    let t = h.sync(&sync_request(g, &ids[2], 1, &[]));
    assert_eq!(h.synced(t).assignment.as_ref(), &[4, 5]);
}

#[test]
fn members_left_out_by_the_leader_get_an_empty_assignment() {
    let mut h = Harness::new(config());
    let members = h.form_group("g", 2);
    let (a, b) = (members[0].0.clone(), members[1].0.clone());
    let tb = h.sync(&sync_request("g", &b, 1, &[]));
    h.sync(&sync_request("g", &a, 1, &[(&a, &[0, 1, 2])]));
    assert_eq!(h.synced(tb).error_code, code::NONE);
    assert!(h.synced(tb).assignment.is_empty());
}

#[test]
fn sync_errors() {
    let mut h = Harness::new(config());
    let t = h.sync(&sync_request("nope", "m", 1, &[]));
    assert_eq!(h.synced(t).error_code, code::UNKNOWN_MEMBER_ID);
    let t = h.sync(&sync_request("", "m", 1, &[]));
    assert_eq!(h.synced(t).error_code, code::INVALID_GROUP_ID);
    let members = h.form_group("g", 2);
    let (a, b) = (members[0].0.clone(), members[1].0.clone());
    let t = h.sync(&sync_request("g", &a, 2, &[]));
    assert_eq!(h.synced(t).error_code, code::ILLEGAL_GENERATION);
    let t = h.sync(&sync_request("g", "client-unknown", 1, &[]));
    assert_eq!(h.synced(t).error_code, code::UNKNOWN_MEMBER_ID);
    let t = h.sync(&sync_request("g", &a, 1, &[]).with_protocol_name(Some(s("roundrobin"))));
    assert_eq!(h.synced(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    let t = h.sync(&sync_request("g", &a, 1, &[]).with_protocol_type(None));
    assert_eq!(
        h.synced(t).error_code,
        code::INCONSISTENT_GROUP_PROTOCOL,
        "v5 requires the protocol type"
    );
    let ctx = RequestContext::version(4);
    let fx = h.c.sync_group(
        h.now,
        1_000,
        &ctx,
        &sync_request("g", &b, 1, &[]).with_protocol_type(None),
    );
    assert!(
        fx.completions.is_empty(),
        "before v5 the protocol type may be absent: parked"
    );
    // A new member makes the group rebalance: syncs are answered REBALANCE_IN_PROGRESS.
    h.join_dynamic("g");
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let t = h.sync(&sync_request("g", &a, 1, &[]));
    assert_eq!(h.synced(t).error_code, code::REBALANCE_IN_PROGRESS);
}

#[test]
fn a_rebalance_answers_parked_syncs_with_rebalance_in_progress() {
    let mut h = Harness::new(config());
    let members = h.form_group("g", 2);
    let b = members[1].0.clone();
    let tb = h.sync(&sync_request("g", &b, 1, &[]));
    h.join_dynamic("g");
    let response = h.synced(tb);
    assert_eq!(response.error_code, code::REBALANCE_IN_PROGRESS);
    assert_eq!(response.protocol_name, None);
}

#[test]
fn heartbeats_keep_members_and_tell_them_to_rejoin() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 2);
    assert_eq!(h.heartbeat("g", &ids[0], generation), code::NONE);
    assert_eq!(
        h.heartbeat("g", &ids[0], generation + 1),
        code::ILLEGAL_GENERATION
    );
    assert_eq!(
        h.heartbeat("g", "client-unknown", generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        h.heartbeat("nope", &ids[0], generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(h.heartbeat("", &ids[0], generation), code::INVALID_GROUP_ID);
    h.join_dynamic("g");
    assert_eq!(
        h.heartbeat("g", &ids[1], generation),
        code::REBALANCE_IN_PROGRESS
    );
}

#[test]
fn a_member_missing_its_session_timeout_is_removed_and_a_rebalance_starts() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 2);
    // ids[0] heartbeats every 3 s, ids[1] never does.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &ids[0], generation), code::NONE);
    }
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    h.advance(1_000); // 10 s since the last sync: ids[1]'s session is over
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let members: Vec<String> =
        h.c.group_summary("g")
            .unwrap()
            .members
            .into_iter()
            .map(|m| m.member_id)
            .collect();
    assert_eq!(members, vec![ids[0].clone()]);
    assert_eq!(
        h.heartbeat("g", &ids[0], generation),
        code::REBALANCE_IN_PROGRESS
    );
    // The survivor rejoins: it is everyone, so the rebalance completes at once.
    let t = h.join(&join_request("g", &ids[0], None));
    assert_eq!(h.joined(t).generation_id, generation + 1);
    assert_eq!(h.joined(t).members.len(), 1);
}

#[test]
fn a_member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new(config());
    let members = h.form_group("g", 2);
    let (a, b) = (members[0].0.clone(), members[1].0.clone());
    h.sync(&sync_request("g", &a, 1, &[(&a, &[0]), (&b, &[1])]));
    // b heartbeats (alive) but never sends SyncGroup.
    for _ in 0..(REBALANCE_MS / 5_000) {
        h.heartbeat("g", &b, 1);
        h.heartbeat("g", &a, 1);
        h.advance(5_000);
    }
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(h.heartbeat("g", &b, 1), code::UNKNOWN_MEMBER_ID);
}

#[test]
fn leave_group_batches_members_by_id_and_by_instance_id() {
    let mut h = Harness::new(config());
    let ts = h.join(&join_request("g", "", Some("instance-1")));
    let (d1, t1) = h.join_dynamic("g");
    let (d2, t2) = h.join_dynamic("g");
    h.until_answered(&[ts, t1, t2]);
    let response = h.leave_v(
        LEAVE_V,
        &leave_request(
            "g",
            &[
                (&d1, None),
                ("", Some("instance-1")),
                ("client-nope", None),
                ("", Some("nope")),
            ],
        ),
    );
    let codes: Vec<i16> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(
        codes,
        vec![
            code::NONE,
            code::NONE,
            code::UNKNOWN_MEMBER_ID,
            code::UNKNOWN_MEMBER_ID
        ]
    );
    assert_eq!(
        response.members[1].group_instance_id.as_deref(),
        Some("instance-1")
    );
    // Two left: the group rebalances with d2 alone.
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let t = h.join(&join_request("g", &d2, None));
    assert_eq!(h.joined(t).members.len(), 1);
    // An unknown group: every member is unknown.
    let response = h.leave_v(LEAVE_V, &leave_request("nope", &[(&d2, None)]));
    assert_eq!(response.members[0].error_code, code::UNKNOWN_MEMBER_ID);
    // An instance id that is no longer known: UNKNOWN_MEMBER_ID.
    let response = h.leave_v(LEAVE_V, &leave_request("g", &[(&d2, Some("instance-1"))]));
    assert_eq!(response.members[0].error_code, code::UNKNOWN_MEMBER_ID);
}

#[test]
fn leave_group_before_v3_carries_one_error() {
    let mut h = Harness::new(config());
    let (ids, _) = h.stable_group("g", 2);
    let v2 = |m: &str| {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s(m))
    };
    let response = h.leave_v(2, &v2("client-nope"));
    assert_eq!(
        (response.error_code, response.members.len()),
        (code::UNKNOWN_MEMBER_ID, 0)
    );
    let response = h.leave_v(2, &v2(&ids[1]));
    assert_eq!(response.error_code, code::NONE);
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let response = h.leave_v(2, &v2(""));
    assert_eq!(response.error_code, code::UNKNOWN_MEMBER_ID);
    let response = h.leave_v(3, &leave_request("", &[]));
    assert_eq!(response.error_code, code::INVALID_GROUP_ID);
}

#[test]
fn the_last_member_leaving_makes_the_group_empty() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 1);
    let before = h.records.len();
    h.leave_v(LEAVE_V, &leave_request("g", &[(&ids[0], None)]));
    assert_eq!(h.c.group_state("g"), Some(GroupState::Empty));
    let summary = h.c.group_summary("g").unwrap();
    assert_eq!(summary.generation_id, generation + 1);
    assert!(matches!(
        &h.records[before..],
        [GroupRecord::GroupMetadata { value: Some(v), .. }] if v.members.is_empty() && v.generation == generation + 1
    ));
}

#[test]
fn a_pending_member_can_leave() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("g", "", None));
    let id = h.joined(t).member_id.to_string();
    let response = h.leave_v(LEAVE_V, &leave_request("g", &[(&id, None)]));
    assert_eq!(response.members[0].error_code, code::NONE);
    assert!(h.c.groups["g"].pending_members.is_empty());
}

#[test]
fn leaving_while_others_wait_in_join_completes_the_rebalance() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 3);
    let t0 = h.join(&join_request("g", &ids[0], None));
    let t1 = h.join(&join_request("g", &ids[1], None));
    assert!(h.is_parked(t0) && h.is_parked(t1));
    h.leave_v(LEAVE_V, &leave_request("g", &[(&ids[2], None)]));
    assert_eq!(h.joined(t0).generation_id, generation + 1);
    assert_eq!(h.joined(t1).generation_id, generation + 1);
}
