//! Classic members in consumer groups and the online migration between group types
//! (KIP-848's upgrade and downgrade), driven with a fake clock through the coordinator's
//! request handlers, as a rolling upgrade of consumers would drive them.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    GroupId, TopicName,
};

use super::super::consumer_protocol::{assignment_of, encode_assignment, subscription_owning};
use super::consumer::image;
use super::*;

const GROUP: &str = "g";
const PARTITIONS: i32 = 4;

fn harness(config: GroupConfig) -> Harness {
    let mut h = Harness::new(config);
    h.image = image(&[("orders", PARTITIONS)]);
    h
}

/// A classic consumer's JoinGroup reporting the partitions it owns (subscription v1).
fn classic_join(member_id: &str, owned: &[i32]) -> JoinGroupRequest {
    join_request(GROUP, member_id, None).with_protocols(vec![
        JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription_owning(&["orders"], &[("orders", owned)])),
    ])
}

fn orders(partitions: &[i32]) -> Bytes {
    encode_assignment(0, &[("orders".to_string(), partitions.to_vec())])
}

fn partitions_of(assignment: &[u8]) -> BTreeSet<i32> {
    assignment_of(assignment)
        .expect("a ConsumerProtocolAssignment")
        .into_iter()
        .flat_map(|(topic, ps)| {
            assert_eq!(topic, "orders");
            ps
        })
        .collect()
}

/// A Stable classic group of two members, the leader giving 0 and 2 to the first member
/// and 1 and 3 to the second; returns the member ids and the generation.
fn classic_group(h: &mut Harness) -> (Vec<String>, i32) {
    let members = h.form_group(GROUP, 2);
    let generation = h.joined(members[0].1).generation_id;
    let leader = h.joined(members[0].1).leader.to_string();
    let ids: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
    let follower = ids.iter().find(|id| **id != leader).expect("two members");
    let follower_sync = h.sync(&sync_request(GROUP, follower, generation, &[]));
    let (a, b) = (orders(&[0, 2]), orders(&[1, 3]));
    let refs: Vec<(&str, &[u8])> = vec![(ids[0].as_str(), &a[..]), (ids[1].as_str(), &b[..])];
    h.sync(&sync_request(GROUP, &leader, generation, &refs));
    assert_eq!(h.synced(follower_sync).error_code, code::NONE);
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::Stable));
    (ids, generation)
}

fn consumer_heartbeat(
    h: &mut Harness,
    req: &ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let ctx = RequestContext {
        api_version: 1,
        client_id: "new-consumer",
        client_host: "/127.0.0.1",
    };
    let reply =
        h.c.consumer_group_heartbeat(h.now, &ctx, req, &h.image.clone());
    h.absorb(reply.effects);
    reply.response
}

fn consumer_join(h: &mut Harness, member_id: &str) -> ConsumerGroupHeartbeatResponse {
    consumer_heartbeat(
        h,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(member_id))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(REBALANCE_MS)
            .with_subscribed_topic_names(Some(vec![TopicName(s("orders"))]))
            .with_topic_partitions(Some(Vec::new())),
    )
}

fn consumer_beat(
    h: &mut Harness,
    member_id: &str,
    epoch: i32,
    owned: &BTreeSet<i32>,
) -> ConsumerGroupHeartbeatResponse {
    let topic_id = h.image["orders"].topic_id;
    let owned =
        kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions::default()
            .with_topic_id(topic_id)
            .with_partitions(owned.iter().copied().collect());
    consumer_heartbeat(
        h,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(member_id))
            .with_member_epoch(epoch)
            .with_topic_partitions(Some(vec![owned])),
    )
}

/// Member id, epoch and member type of each member ConsumerGroupDescribe reports.
fn described(h: &Harness) -> Vec<(String, i32, i8)> {
    let d = h.c.consumer_group_describe(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(GROUP))]),
        &h.image,
    );
    let group = &d.groups[0];
    assert_eq!(group.error_code, code::NONE, "{:?}", group.error_message);
    group
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.member_epoch, m.member_type))
        .collect()
}

/// One classic member as its client behaves: it heartbeats, and when told to rebalance it
/// rejoins with what it owns and syncs; returns whether it had to rejoin.
fn classic_step(h: &mut Harness, member_id: &str, state: &mut (i32, BTreeSet<i32>)) -> bool {
    let error = h.heartbeat(GROUP, member_id, state.0);
    if error == code::NONE {
        return false;
    }
    assert_eq!(error, code::REBALANCE_IN_PROGRESS);
    let owned: Vec<i32> = state.1.iter().copied().collect();
    let token = h.join(&classic_join(member_id, &owned));
    let joined = h.joined(token).clone();
    assert_eq!(joined.error_code, code::NONE, "{joined:?}");
    assert_eq!(
        joined.leader.as_str(),
        "",
        "the coordinator assigns, not a leader"
    );
    assert!(joined.members.is_empty());
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    let token = h.sync(&sync_request(GROUP, member_id, joined.generation_id, &[]));
    let synced = h.synced(token).clone();
    if synced.error_code == code::REBALANCE_IN_PROGRESS {
        state.0 = joined.generation_id;
        return true;
    }
    assert_eq!(synced.error_code, code::NONE);
    *state = (joined.generation_id, partitions_of(&synced.assignment));
    true
}

#[test]
fn a_rolling_upgrade_converts_the_group_both_ways_and_no_partition_has_two_owners() {
    let mut h = harness(config());
    let (classic, generation) = classic_group(&mut h);
    // A consumer-protocol member joins the live classic group: it becomes a consumer group
    // at the classic generation, the classic members keep their partitions, and the new
    // member waits for partitions that are still theirs.
    let r = consumer_join(&mut h, "new");
    assert_eq!(r.error_code, code::NONE, "{:?}", r.error_message);
    assert_eq!(r.member_epoch, generation + 1);
    let tombstone = GroupRecord::GroupMetadata {
        group_id: GROUP.to_string(),
        value: None,
    };
    assert_eq!(h.records.last(), Some(&tombstone));
    let mut members = described(&h);
    members.sort();
    let mut want = vec![
        (classic[0].clone(), generation, 0),
        (classic[1].clone(), generation, 0),
        ("new".to_string(), generation + 1, 1),
    ];
    want.sort();
    assert_eq!(members, want);

    // The classic members are told to rejoin; they give up partitions by rejoining without
    // them, and the new member takes them as they are released.
    let mut states: BTreeMap<String, (i32, BTreeSet<i32>)> = BTreeMap::new();
    states.insert(classic[0].clone(), (generation, [0, 2].into()));
    states.insert(classic[1].clone(), (generation, [1, 3].into()));
    let mut new_owned = BTreeSet::new();
    let mut new_epoch = r.member_epoch;
    for _ in 0..10 {
        let mut moved = false;
        for id in &classic {
            let state = states.get_mut(id).expect("a classic member");
            moved |= classic_step(&mut h, id, state);
        }
        let r = consumer_beat(&mut h, "new", new_epoch, &new_owned);
        assert_eq!(r.error_code, code::NONE);
        new_epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            new_owned = a
                .topic_partitions
                .iter()
                .flat_map(|tp| tp.partitions.clone())
                .collect();
            moved = true;
        }
        // Never two owners, whatever the step.
        let mut seen = new_owned.clone();
        for (_, owned) in states.values() {
            for p in owned {
                assert!(
                    seen.insert(*p),
                    "partition {p} owned twice: {states:?} {new_owned:?}"
                );
            }
        }
        h.advance(1_000);
        if !moved {
            break;
        }
    }
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    let mut owned = new_owned.clone();
    for (_, o) in states.values() {
        owned.extend(o);
    }
    assert_eq!(owned, all, "every partition has an owner at the end");
    assert!(!new_owned.is_empty(), "the new member got partitions");
    assert!(states.values().all(|(_, o)| !o.is_empty()));
    let mut epochs: Vec<i32> = described(&h).iter().map(|(_, e, _)| *e).collect();
    epochs.dedup();
    assert_eq!(
        epochs,
        vec![generation + 1],
        "everyone reconciled to one epoch"
    );

    // A classic member commits offsets with its generation, which is its member epoch.
    let member = classic[0].as_str();
    let generation_now = states[member].0;
    assert_eq!(
        h.commit(GROUP, member, generation_now, &[("orders", 0, 5, None)]),
        vec![code::NONE]
    );
    assert_eq!(
        h.commit(GROUP, member, generation_now - 1, &[("orders", 0, 6, None)]),
        vec![code::ILLEGAL_GENERATION]
    );

    // The last consumer-protocol member leaves: only classic members remain, and the group
    // becomes a classic group that rebalances, each member holding its target meanwhile.
    let r = consumer_heartbeat(
        &mut h,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s("new"))
            .with_member_epoch(-1),
    );
    assert_eq!(r.error_code, code::NONE);
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::PreparingRebalance));
    let Some(GroupRecord::GroupMetadata {
        value: Some(value), ..
    }) = h.records.last().cloned()
    else {
        panic!("the classic group is written: {:?}", h.records.last());
    };
    // Kafka converts at the group epoch the leave would have bumped (not bumped: the group
    // goes), then starts a rebalance, whose generation is the next.
    assert_eq!(
        value.generation,
        generation + 1,
        "the group epoch before the leave"
    );
    assert_eq!(value.members.len(), 2);
    for id in &classic {
        assert_eq!(
            h.heartbeat(GROUP, id, value.generation),
            code::REBALANCE_IN_PROGRESS
        );
    }
    let tokens: Vec<RequestToken> = classic
        .iter()
        .map(|id| h.join(&join_request(GROUP, id, None)))
        .collect();
    h.until_answered(&tokens);
    let joined: Vec<&JoinGroupResponse> = tokens.iter().map(|t| h.joined(*t)).collect();
    assert!(joined.iter().all(|j| j.error_code == code::NONE));
    assert_eq!(joined[0].generation_id, value.generation + 1);
    assert_eq!(
        h.c.group_state(GROUP),
        Some(GroupState::CompletingRebalance)
    );
}

#[test]
fn a_classic_member_that_does_not_rejoin_within_its_rebalance_timeout_is_fenced() {
    let mut h = harness(config());
    let (classic, generation) = classic_group(&mut h);
    assert_eq!(consumer_join(&mut h, "new").error_code, code::NONE);
    // It keeps heartbeating (its session lives) but never rejoins.
    let mut waited = 0;
    while waited <= i64::from(REBALANCE_MS) {
        let error = h.heartbeat(GROUP, &classic[1], generation);
        if described(&h).iter().all(|(id, _, _)| *id != classic[1]) {
            break;
        }
        assert_eq!(error, code::REBALANCE_IN_PROGRESS);
        // The other one follows the protocol.
        let mut state = (generation, [0, 2].into());
        if waited == 0 {
            classic_step(&mut h, &classic[0], &mut state);
        }
        h.advance(3_000);
        waited += 3_000;
    }
    let ids: Vec<String> = described(&h).into_iter().map(|(id, _, _)| id).collect();
    assert!(
        !ids.contains(&classic[1]),
        "fenced after the rebalance timeout: {ids:?}"
    );
    assert!(
        waited >= i64::from(REBALANCE_MS) - 3_000,
        "not before it: {waited}"
    );
    assert_eq!(
        h.heartbeat(GROUP, &classic[1], generation),
        code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn groups_that_cannot_be_upgraded_stay_classic() {
    // Assignments that are not the consumer protocol's (this harness's leader sends bytes).
    let mut h = harness(config());
    h.stable_group(GROUP, 2);
    let r = consumer_join(&mut h, "new");
    assert_eq!(r.error_code, code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        r.error_message.as_deref(),
        Some(
            "Cannot upgrade the classic group g to consumer group because the embedded \
             consumer protocol is malformed."
        )
    );
    assert_eq!(h.c.group_state(GROUP), Some(GroupState::Stable));
    // A group of another protocol type is not a consumer group at all.
    let mut h = harness(config());
    let connect = join_request("c", "", None).with_protocol_type(s("connect"));
    let first = h.join(&connect);
    let member_id = h.joined(first).member_id.to_string();
    h.join(&join_request("c", &member_id, None).with_protocol_type(s("connect")));
    let r = consumer_heartbeat(
        &mut h,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("c")))
            .with_member_id(s("new"))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(REBALANCE_MS)
            .with_subscribed_topic_names(Some(vec![TopicName(s("orders"))]))
            .with_topic_partitions(Some(Vec::new())),
    );
    assert_eq!(r.error_code, code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Group c is not a consumer group.")
    );
}

#[test]
fn classic_requests_to_a_consumer_group_are_checked_like_kafka() {
    let mut h = harness(config());
    let (classic, generation) = classic_group(&mut h);
    assert_eq!(consumer_join(&mut h, "new").error_code, code::NONE);
    // A consumer-protocol member is not a classic member.
    assert_eq!(h.heartbeat(GROUP, "new", 2), code::UNKNOWN_MEMBER_ID);
    assert_eq!(
        h.heartbeat(GROUP, &classic[0], generation - 1),
        code::ILLEGAL_GENERATION
    );
    let t = h.sync(
        &sync_request(GROUP, &classic[0], generation, &[])
            .with_protocol_name(Some(s("roundrobin"))),
    );
    assert_eq!(h.synced(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    // A classic member whose protocols the others lack is refused.
    let other = join_request(GROUP, "", None).with_protocols(protocols(&["sticky"], &["orders"]));
    let t = h.join(&other);
    assert_eq!(h.joined(t).error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    // LeaveGroup removes classic members only.
    let left = h.leave_v(
        LEAVE_V,
        &leave_request(GROUP, &[(&classic[1], None), ("new", None)]),
    );
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![code::NONE, code::UNKNOWN_MEMBER_ID]);
    let ids: Vec<String> = described(&h).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&classic[1]));
}
