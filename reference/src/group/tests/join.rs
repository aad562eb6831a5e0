//! JoinGroup: member ids, validation, protocol selection, the initial delay, rebalance
//! timeouts, static membership and `group.max.size`.

use super::*;

#[test]
fn first_join_without_member_id_gets_member_id_required() {
    let mut h = Harness::new(config());
    let token = h.join(&join_request("order_processing_group", "", None));
    let response = h.joined(token).clone();
    assert_eq!(response.error_code, code::MEMBER_ID_REQUIRED);
    assert!(
        response.member_id.starts_with("client-"),
        "{:?}",
        response.member_id
    );
    assert_eq!(response.member_id.len(), "client-".len() + 36);
    // The group exists (Empty) and its creation was written.
    assert_eq!(
        h.c.group_state("order_processing_group"),
        Some(GroupState::Empty)
    );
    assert!(
        matches!(&h.records[..], [GroupRecord::GroupMetadata { value: Some(v), .. }] if v.generation == 0)
    );
    // Coming back with the id parks the join until the initial delay passes.
    let second = h.join(&join_request(
        "order_processing_group",
        &response.member_id,
        None,
    ));
    assert!(h.is_parked(second));
    h.advance(99);
    assert!(h.is_parked(second));
    h.advance(1);
    let joined = h.joined(second);
    assert_eq!((joined.error_code, joined.generation_id), (code::NONE, 1));
    assert_eq!(joined.leader.as_str(), response.member_id.as_str());
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(joined.members.len(), 1);
}

#[test]
fn join_before_v4_is_admitted_without_member_id_round_trip() {
    let mut h = Harness::new(config());
    let token = h.join_v(3, &join_request("g", "", None));
    assert!(h.is_parked(token));
    h.advance(100);
    let joined = h.joined(token);
    assert_eq!(joined.error_code, code::NONE);
    assert!(joined.member_id.starts_with("client-"));
    // v3 has a non-null protocol name field and no protocol type.
    assert_eq!(joined.protocol_type, None);
}

#[test]
fn invalid_group_id_and_session_timeouts_are_rejected() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("", "", None));
    assert_eq!(h.joined(t).error_code, code::INVALID_GROUP_ID);
    let t = h.join(&join_request("g", "", None).with_session_timeout_ms(5_999));
    assert_eq!(h.joined(t).error_code, code::INVALID_SESSION_TIMEOUT);
    let t = h.join(&join_request("g", "", None).with_session_timeout_ms(1_800_001));
    assert_eq!(h.joined(t).error_code, code::INVALID_SESSION_TIMEOUT);
    let t = h.join(&join_request("g", "", None).with_session_timeout_ms(6_000));
    assert_eq!(h.joined(t).error_code, code::MEMBER_ID_REQUIRED);
    // A rejected join creates no group.
    assert_eq!(h.c.group_ids(), vec!["g".to_string()]);
}

#[test]
fn join_with_a_member_id_to_an_unknown_group_is_unknown_member() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("g", "client-made-up", None));
    let response = h.joined(t);
    assert_eq!(response.error_code, code::UNKNOWN_MEMBER_ID);
    assert_eq!(response.member_id.as_str(), "client-made-up");
    assert!(h.c.group_ids().is_empty());
}

#[test]
fn different_protocol_type_or_no_common_assignor_is_inconsistent() {
    let mut h = Harness::new(config());
    let (_, _) = h.join_dynamic("g");
    // Another protocol type.
    let t = h.join(&join_request("g", "", None).with_protocol_type(s("connect")));
    assert_eq!(h.joined(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    // Same type, no protocol in common with the member already there.
    let t = h
        .join(&join_request("g", "", None).with_protocols(protocols(&["roundrobin"], &["orders"])));
    assert_eq!(h.joined(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    // An empty protocol type is never accepted, even by an Empty group.
    let t = h.join(&join_request("other", "", None).with_protocol_type(s("")));
    assert_eq!(h.joined(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    let t = h.join(&join_request("other2", "", None).with_protocols(vec![]));
    assert_eq!(h.joined(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn the_most_voted_common_protocol_is_chosen() {
    let mut h = Harness::new(config());
    let both =
        |order: &[&str]| join_request("g", "", None).with_protocols(protocols(order, &["orders"]));
    let mut tokens = Vec::new();
    for order in [
        &["roundrobin", "range"][..],
        &["roundrobin", "range"],
        &["range", "roundrobin"],
    ] {
        let t = h.join(&both(order));
        let id = h.joined(t).member_id.to_string();
        tokens.push(h.join(&both(order).with_member_id(s(&id))));
    }
    h.until_answered(&tokens);
    assert_eq!(
        h.joined(tokens[0]).protocol_name.as_deref(),
        Some("roundrobin")
    );
    // A member that only offers range leaves range as the only candidate.
    let t = h.join(&join_request("g", "", None));
    let id = h.joined(t).member_id.to_string();
    let late = h.join(&join_request("g", &id, None));
    let leader = h.joined(tokens[0]).member_id.to_string();
    let generation = h.joined(tokens[0]).generation_id;
    assert_eq!(
        h.heartbeat("g", &leader, generation),
        code::REBALANCE_IN_PROGRESS
    );
    let rejoins: Vec<_> = tokens
        .iter()
        .map(|t| {
            let member = h.joined(*t).member_id.to_string();
            h.join(&both(&["roundrobin", "range"]).with_member_id(s(&member)))
        })
        .collect();
    assert_eq!(h.joined(late).generation_id, 2);
    assert_eq!(h.joined(late).protocol_name.as_deref(), Some("range"));
    assert!(
        rejoins
            .iter()
            .all(|t| h.joined(*t).protocol_name.as_deref() == Some("range"))
    );
}

#[test]
fn initial_delay_is_extended_by_new_members_up_to_the_rebalance_timeout() {
    let cfg = GroupConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::new(cfg);
    let request = |m: &str| join_request("g", m, None).with_rebalance_timeout_ms(5_000);
    let t = h.join(&request(""));
    let a = h.joined(t).member_id.to_string();
    let ta = h.join(&request(&a));
    h.advance(2_000);
    let t = h.join(&request(""));
    let b = h.joined(t).member_id.to_string();
    let tb = h.join(&request(&b));
    h.advance(999);
    assert!(h.is_parked(ta), "completed before the first delay");
    h.advance(1); // t=3000: extended by min(3000, 5000-3000) = 2000
    assert!(
        h.is_parked(ta),
        "a member arrived during the delay: it must be extended"
    );
    h.advance(1_999);
    assert!(h.is_parked(ta));
    h.advance(1); // t=5000: the rebalance timeout is used up
    assert_eq!(h.joined(ta).generation_id, 1);
    assert_eq!(h.joined(tb).generation_id, 1);
    assert_eq!(h.joined(ta).leader.as_str(), a);
    assert_eq!(h.joined(ta).members.len(), 2);
    assert!(
        h.joined(tb).members.is_empty(),
        "only the leader gets the member list"
    );
}

#[test]
fn rejoin_with_same_metadata_during_completing_rebalance_gets_the_generation_again() {
    let mut h = Harness::new(config());
    let members = h.form_group("g", 2);
    let (leader, follower) = (members[0].0.clone(), members[1].0.clone());
    assert_eq!(h.c.group_state("g"), Some(GroupState::CompletingRebalance));
    let t = h.join(&join_request("g", &follower, None));
    assert_eq!(h.joined(t).generation_id, 1);
    assert!(h.joined(t).members.is_empty());
    let t = h.join(&join_request("g", &leader, None));
    assert_eq!(h.joined(t).members.len(), 2);
    assert_eq!(h.c.group_state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn leader_rejoin_in_stable_rebalances_but_unchanged_follower_does_not() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 2);
    let leader = h.c.group_summary("g").unwrap().leader_id.unwrap();
    let follower = ids.iter().find(|i| **i != leader).unwrap().clone();
    let t = h.join(&join_request("g", &follower, None));
    assert_eq!(h.joined(t).generation_id, generation);
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    let t_leader = h.join(&join_request("g", &leader, None));
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let t_follower = h.join(&join_request("g", &follower, None));
    assert_eq!(h.joined(t_leader).generation_id, generation + 1);
    assert_eq!(h.joined(t_follower).generation_id, generation + 1);
}

#[test]
fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_removed() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 2);
    let leader = h.c.group_summary("g").unwrap().leader_id.unwrap();
    let follower = ids.iter().find(|i| **i != leader).unwrap().clone();
    let t = h.join(&join_request("g", &leader, None));
    // The follower keeps heartbeating (told to rejoin) but never rejoins.
    for _ in 0..(REBALANCE_MS / 5_000 - 1) {
        h.advance(5_000);
        assert_eq!(
            h.heartbeat("g", &follower, generation),
            code::REBALANCE_IN_PROGRESS
        );
        assert!(h.is_parked(t));
    }
    h.advance(5_000);
    let joined = h.joined(t);
    assert_eq!(joined.generation_id, generation + 1);
    assert_eq!(joined.members.len(), 1, "the follower was dropped");
    assert_eq!(
        h.heartbeat("g", &follower, generation),
        code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn a_pending_member_id_expires_after_the_session_timeout() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("g", "", None));
    let id = h.joined(t).member_id.to_string();
    h.advance(i64::from(SESSION_MS) - 1);
    assert!(h.c.groups["g"].pending_members.contains_key(&id));
    h.advance(1);
    assert!(h.c.groups["g"].pending_members.is_empty());
    let t = h.join(&join_request("g", &id, None));
    assert_eq!(h.joined(t).error_code, code::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_new_member_whose_join_stays_parked_too_long_is_dropped() {
    let mut h = Harness::new(config());
    let (ids, generation) = h.stable_group("g", 1);
    // A second member joins; the first never rejoins but keeps heartbeating (a rebalance
    // timeout far beyond the new member join timeout).
    let request = |m: &str| join_request("g", m, None).with_rebalance_timeout_ms(600_000);
    let t = h.join(&request(""));
    let new_id = h.joined(t).member_id.to_string();
    let t = h.join(&request(&new_id));
    for _ in 0..(300_000 / 5_000) {
        h.advance(5_000);
        h.heartbeat("g", &ids[0], generation);
    }
    let response = h.joined(t);
    assert_eq!(
        (response.error_code, response.member_id.as_str()),
        (code::UNKNOWN_MEMBER_ID, "")
    );
}

#[test]
fn static_member_rejoin_replaces_its_member_id_and_fences_the_old_one() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("g", "", Some("payments-1")));
    assert!(h.is_parked(t), "static members skip MEMBER_ID_REQUIRED");
    h.advance(100);
    let old = h.joined(t).member_id.to_string();
    assert!(old.starts_with("payments-1-"));
    h.sync(&sync_request("g", &old, 1, &[(&old, &[1, 2])]));
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    let records_before = h.records.len();
    // The instance restarts and rejoins without its member id: no rebalance.
    let t = h.join(&join_request("g", "", Some("payments-1")));
    let joined = h.joined(t).clone();
    let new = joined.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(joined.generation_id, 1);
    assert!(
        joined.skip_assignment,
        "v9: the leader keeps the assignment"
    );
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    assert_eq!(
        h.records.len(),
        records_before + 1,
        "the new member id is written"
    );
    // The old member id is fenced.
    let hb = heartbeat_request("g", &old, 1).with_group_instance_id(Some(s("payments-1")));
    let response =
        h.c.heartbeat(h.now, &RequestContext::version(HEARTBEAT_V), &hb);
    assert_eq!(response.error_code, code::FENCED_INSTANCE_ID);
    let t = h.sync(&sync_request("g", &old, 1, &[]).with_group_instance_id(Some(s("payments-1"))));
    assert_eq!(h.synced(t).error_code, code::FENCED_INSTANCE_ID);
    // The new one gets the old assignment.
    let t = h.sync(&sync_request("g", &new, 1, &[]).with_group_instance_id(Some(s("payments-1"))));
    assert_eq!(h.synced(t).assignment.as_ref(), &[1, 2]);
}

#[test]
fn static_member_replacement_fences_the_old_members_parked_join() {
    let mut h = Harness::new(config());
    let t = h.join(&join_request("g", "", Some("i1")));
    let (d, td) = h.join_dynamic("g");
    h.until_answered(&[t, td]);
    let old = h.joined(t).member_id.to_string();
    assert_eq!(h.joined(t).leader.as_str(), old);
    h.sync(&sync_request("g", &d, 1, &[]));
    h.sync(&sync_request("g", &old, 1, &[(&old, &[0]), (&d, &[1])]));
    // The static leader rejoins: rebalance; it waits for the dynamic member.
    let parked = h.join(&join_request("g", &old, Some("i1")));
    assert!(h.is_parked(parked));
    // A second process with the same instance id shows up before the rebalance completes.
    let t = h.join(&join_request("g", "", Some("i1")));
    let fenced = h.joined(parked);
    assert_eq!(
        (fenced.error_code, fenced.member_id.as_str()),
        (code::FENCED_INSTANCE_ID, old.as_str())
    );
    assert!(h.is_parked(t));
    // The new member id takes part in the rebalance.
    h.join(&join_request("g", &d, None));
    let joined = h.joined(t);
    assert_eq!(joined.error_code, code::NONE);
    assert_eq!(joined.generation_id, 2);
}

#[test]
fn static_member_old_versions_are_told_the_previous_leader() {
    let mut h = Harness::new(config());
    let t = h.join_v(5, &join_request("g", "", Some("i1")));
    h.advance(100);
    let old = h.joined(t).member_id.to_string();
    h.sync(&sync_request("g", &old, 1, &[(&old, &[3])]));
    let t = h.join_v(5, &join_request("g", "", Some("i1")));
    let joined = h.joined(t);
    assert_eq!(
        joined.leader.as_str(),
        old,
        "the client must act as a follower and SyncGroup"
    );
    assert!(!joined.skip_assignment);
}

#[test]
fn group_max_size_turns_away_extra_members() {
    let cfg = GroupConfig {
        group_max_size: 2,
        ..config()
    };
    let mut h = Harness::new(cfg);
    h.stable_group("g", 2);
    let t = h.join(&join_request("g", "", None));
    let response = h.joined(t);
    assert_eq!(
        (response.error_code, response.member_id.as_str()),
        (code::GROUP_MAX_SIZE_REACHED, "")
    );
    // While rebalancing, only as many as the limit may wait in JoinGroup.
    let mut h = Harness::new(GroupConfig {
        group_max_size: 1,
        ..config()
    });
    let (_a, ta) = h.join_dynamic("g");
    let tb = h.join(&join_request("g", "", None));
    assert!(h.is_parked(ta));
    assert_eq!(h.joined(tb).error_code, code::GROUP_MAX_SIZE_REACHED);
}

#[test]
fn cooperative_members_rebalance_twice_in_a_row() {
    // Cooperative-sticky clients rejoin with their owned partitions in the metadata, and
    // rejoin again right after the first rebalance to get revoked partitions reassigned.
    let mut h = Harness::new(config());
    let coop = |m: &str, owned: u8| {
        let mut meta = subscription(&["orders"]).to_vec();
        meta.push(owned);
        join_request("g", m, None).with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("cooperative-sticky"))
                .with_metadata(Bytes::from(meta)),
        ])
    };
    let t = h.join(&coop("", 0));
    let a = h.joined(t).member_id.to_string();
    let ta = h.join(&coop(&a, 0));
    h.advance(100);
    assert_eq!(
        h.joined(ta).protocol_name.as_deref(),
        Some("cooperative-sticky")
    );
    h.sync(
        &sync_request("g", &a, 1, &[(&a, &[0, 1, 2, 3, 4, 5])])
            .with_protocol_name(Some(s("cooperative-sticky"))),
    );
    // B joins: first rebalance (A keeps everything it still owns, gives up some).
    let t = h.join(&coop("", 0));
    let b = h.joined(t).member_id.to_string();
    let tb = h.join(&coop(&b, 0));
    let ta = h.join(&coop(&a, 6));
    assert_eq!(h.joined(ta).generation_id, 2);
    assert_eq!(h.joined(tb).generation_id, 2);
    let sync = |m: &str, g: i32, a: &[(&str, &[u8])]| {
        sync_request("g", m, g, a).with_protocol_name(Some(s("cooperative-sticky")))
    };
    let tsb = h.sync(&sync(&b, 2, &[]));
    let tsa = h.sync(&sync(&a, 2, &[(&a, &[0, 1, 2]), (&b, &[])]));
    assert_eq!(h.synced(tsa).assignment.as_ref(), &[0, 1, 2]);
    assert_eq!(h.synced(tsb).assignment.as_ref(), &[] as &[u8]);
    // Second rebalance right away: both rejoin with what they own now.
    let ta = h.join(&coop(&a, 3));
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let tb = h.join(&coop(&b, 0));
    assert_eq!(h.joined(ta).generation_id, 3);
    let tsa = h.sync(&sync(&a, 3, &[(&a, &[0, 1, 2]), (&b, &[3, 4, 5])]));
    let tsb = h.sync(&sync(&b, 3, &[]));
    assert_eq!(h.synced(tsa).error_code, code::NONE);
    assert_eq!(h.synced(tsb).assignment.as_ref(), &[3, 4, 5]);
    assert_eq!(h.joined(tb).generation_id, 3);
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
}

#[test]
fn a_second_join_from_the_same_member_abandons_the_first() {
    let mut h = Harness::new(config());
    let (a, ta) = h.join_dynamic("g");
    let (_b, _tb) = h.join_dynamic("g");
    let again = h.join(&join_request("g", &a, None));
    assert_eq!(h.completion(ta), &Completion::Abandoned);
    assert!(h.is_parked(again));
    h.until_answered(&[again]);
    assert_eq!(h.joined(again).generation_id, 1);
}

#[test]
fn unload_answers_parked_requests_with_not_coordinator() {
    let mut h = Harness::new(config());
    let (_a, ta) = h.join_dynamic("g");
    let fx = h.c.unload(h.now);
    h.absorb(fx);
    assert_eq!(h.joined(ta).error_code, code::NOT_COORDINATOR);
    assert_eq!(h.c.group_state("g"), Some(GroupState::Dead));
    assert_eq!(h.c.next_deadline_ms(), None);
    let t = h.join(&join_request("g", "", None));
    assert_eq!(h.joined(t).error_code, code::COORDINATOR_NOT_AVAILABLE);
}
