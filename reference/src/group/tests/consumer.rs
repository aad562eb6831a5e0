//! The consumer rebalance protocol (KIP-848) driven with a fake clock: joining, incremental
//! reconciliation, leaving, fencing, static members, errors, offsets with member epochs, and
//! proptest invariants over random member behaviour.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    DescribeGroupsRequest, GroupId, ListGroupsRequest, TopicName,
};
use proptest::prelude::*;
use uuid::Uuid;

use super::super::{GroupConfig, GroupCoordinator, RequestContext, TopicMetadata, TopicsImage};
use super::{COMMIT_V, code, commit_request, config, fetch_request, join_request, s};

const V: i16 = 1;
const INTERVAL_MS: i32 = 5_000;
const CONSUMER_SESSION_MS: i64 = 45_000;

mod err {
    pub const INVALID_REQUEST: i16 = 42;
    pub const FENCED_MEMBER_EPOCH: i16 = 110;
    pub const UNRELEASED_INSTANCE_ID: i16 = 111;
    pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
    pub const STALE_MEMBER_EPOCH: i16 = 113;
    pub const INVALID_REGULAR_EXPRESSION: i16 = 128;
    pub const UNSUPPORTED_VERSION: i16 = 35;
}

pub(super) fn topic_id(name: &str) -> Uuid {
    let mut bytes = [0u8; 16];
    for (i, b) in name.bytes().enumerate().take(16) {
        bytes[i] = b;
    }
    bytes[15] = 1;
    Uuid::from_bytes(bytes)
}

pub(super) fn image(topics: &[(&str, i32)]) -> TopicsImage {
    topics
        .iter()
        .map(|(n, p)| {
            let m = TopicMetadata {
                topic_id: topic_id(n),
                partitions: *p,
            };
            (n.to_string(), m)
        })
        .collect()
}

/// Owned or assigned partitions: (topic, partition).
type Tps = BTreeSet<(String, i32)>;

fn tps(topic: &str, partitions: &[i32]) -> Tps {
    partitions.iter().map(|p| (topic.to_string(), *p)).collect()
}

struct H {
    c: GroupCoordinator,
    now: i64,
    image: TopicsImage,
}

impl H {
    fn new() -> H {
        H::with(config())
    }

    fn with(config: GroupConfig) -> H {
        H {
            c: GroupCoordinator::new(config, 0),
            now: 1_000,
            image: image(&[("orders", 4)]),
        }
    }

    fn heartbeat(&mut self, req: &ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        let ctx = RequestContext {
            api_version: V,
            client_id: "client",
            client_host: "/127.0.0.1",
        };
        let reply = self
            .c
            .consumer_group_heartbeat(self.now, &ctx, req, &self.image);
        reply.response
    }

    fn join(&mut self, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatResponse {
        self.heartbeat(&join_req("g", member, topics))
    }

    /// A heartbeat reporting `owned`.
    fn beat(&mut self, member: &str, epoch: i32, owned: &Tps) -> ConsumerGroupHeartbeatResponse {
        self.heartbeat(&beat_req("g", member, epoch, owned))
    }

    fn tick(&mut self, by_ms: i64) {
        self.now += by_ms;
        self.c.tick(self.now);
    }

    fn names(&self) -> BTreeMap<Uuid, String> {
        self.image
            .iter()
            .map(|(n, m)| (m.topic_id, n.clone()))
            .collect()
    }

    fn assigned(&self, resp: &ConsumerGroupHeartbeatResponse) -> Option<Tps> {
        let names = self.names();
        resp.assignment.as_ref().map(|a| {
            a.topic_partitions
                .iter()
                .flat_map(|tp| {
                    let name = names[&tp.topic_id].clone();
                    tp.partitions.iter().map(move |p| (name.clone(), *p))
                })
                .collect()
        })
    }
}

fn join_req(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(300_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

fn owned_field(owned: &Tps) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in owned {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            TopicPartitions::default()
                .with_topic_id(topic_id(t))
                .with_partitions(ps)
        })
        .collect()
}

fn beat_req(group: &str, member: &str, epoch: i32, owned: &Tps) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(owned_field(owned)))
}

fn leave_req(group: &str, member: &str, epoch: i32) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
}

/// Kafka 4.3.1 starts a new group at group and assignment epoch 1, so the first member's
/// join is epoch 2 (`kafka-consumer-groups --describe --state --verbose` shows GROUP-EPOCH 3
/// with two members, on Kafka and now on the reference: ci/group-tools.sh).
#[test]
fn the_first_member_gets_every_partition_at_epoch_two() {
    let mut h = H::new();
    let r = h.join("a", &["orders"]);
    assert_eq!(r.error_code, code::NONE);
    assert_eq!(r.member_id.as_deref(), Some("a"));
    assert_eq!(r.member_epoch, 2);
    assert_eq!(r.heartbeat_interval_ms, INTERVAL_MS);
    assert_eq!(h.assigned(&r), Some(tps("orders", &[0, 1, 2, 3])));
    let d = describe(&h, "g");
    assert_eq!((d.group_epoch, d.assignment_epoch), (2, 2));
    assert_eq!(d.members[0].member_epoch, 2);
    // A heartbeat with nothing new carries no assignment.
    let r = h.beat("a", 2, &tps("orders", &[0, 1, 2, 3]));
    assert_eq!((r.error_code, r.member_epoch), (0, 2));
    assert_eq!(r.assignment, None);
}

#[test]
fn a_partition_moves_only_after_its_owner_revoked_it() {
    let mut h = H::new();
    let all = tps("orders", &[0, 1, 2, 3]);
    h.join("a", &["orders"]);
    // b joins: epoch 3, but what it should get is still a's.
    let rb = h.join("b", &["orders"]);
    assert_eq!(rb.member_epoch, 3);
    assert_eq!(h.assigned(&rb), Some(Tps::new()));
    // a is asked to give up two partitions, and stays at epoch 2 until it has.
    let ra = h.beat("a", 2, &all);
    assert_eq!(ra.member_epoch, 2);
    let kept = h.assigned(&ra).expect("a's reduced assignment");
    assert_eq!(kept.len(), 2);
    assert!(kept.is_subset(&all));
    // b asks again before a revoked: still nothing.
    let rb = h.beat("b", 3, &Tps::new());
    assert_eq!(rb.member_epoch, 3);
    assert!(h.assigned(&rb).is_none_or(|a| a.is_empty()));
    // a acknowledges by reporting only what it kept: epoch 3.
    let ra = h.beat("a", 2, &kept);
    assert_eq!(ra.member_epoch, 3);
    // Now b gets the other two.
    let rb = h.beat("b", 3, &Tps::new());
    let got = h.assigned(&rb).expect("b's partitions");
    assert_eq!(got, all.difference(&kept).cloned().collect::<Tps>());
    let described = describe(&h, "g");
    assert_eq!(described.group_state.as_str(), "Stable");
    assert_eq!((described.group_epoch, described.assignment_epoch), (3, 3));
}

fn describe(
    h: &H,
    group: &str,
) -> kafka_protocol::messages::consumer_group_describe_response::DescribedGroup {
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(group))]);
    let mut resp = h.c.consumer_group_describe(&req, &h.image);
    resp.groups.remove(0)
}

#[test]
fn a_member_that_leaves_hands_its_partitions_to_the_others() {
    let mut h = H::new();
    let ra = h.join("a", &["orders"]);
    let rb = h.join("b", &["orders"]);
    let mut owned_a = h.assigned(&ra).unwrap();
    let ra = h.beat("a", 2, &owned_a);
    owned_a = h.assigned(&ra).unwrap();
    h.beat("a", 2, &owned_a);
    let rb = h.beat("b", rb.member_epoch, &Tps::new());
    let owned_b = h.assigned(&rb).unwrap();
    assert_eq!(owned_b.len(), 2);
    let left = h.heartbeat(&leave_req("g", "a", -1));
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
    assert_eq!(left.member_id.as_deref(), Some("a"));
    let rb = h.beat("b", 3, &owned_b);
    assert_eq!(rb.member_epoch, 4);
    assert_eq!(h.assigned(&rb), Some(tps("orders", &[0, 1, 2, 3])));
    // a is gone.
    let r = h.beat("a", 3, &owned_a);
    assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_silent_member_is_fenced_after_the_session_timeout() {
    let mut h = H::new();
    h.join("a", &["orders"]);
    h.tick(CONSUMER_SESSION_MS - 1);
    assert_eq!(describe(&h, "g").members.len(), 1);
    h.tick(1);
    let d = describe(&h, "g");
    assert!(d.members.is_empty());
    assert_eq!(d.group_state.as_str(), "Empty");
    assert_eq!(d.group_epoch, 3);
    let r = h.beat("a", 2, &tps("orders", &[0, 1, 2, 3]));
    assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_member_slow_to_revoke_is_fenced_after_its_rebalance_timeout() {
    let mut h = H::new();
    let all = tps("orders", &[0, 1, 2, 3]);
    let mut req = join_req("g", "a", &["orders"]);
    req.rebalance_timeout_ms = 10_000;
    h.heartbeat(&req);
    h.join("b", &["orders"]);
    h.beat("a", 2, &all); // asked to revoke two
    h.tick(5_000);
    h.beat("a", 2, &all); // still owns them
    h.beat("b", 3, &Tps::new());
    h.tick(5_000);
    let d = describe(&h, "g");
    let ids: Vec<&str> = d.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, vec!["b"]);
}

#[test]
fn epochs_out_of_step_are_fenced() {
    let mut h = H::new();
    let all = tps("orders", &[0, 1, 2, 3]);
    h.join("a", &["orders"]);
    assert_eq!(h.beat("a", 3, &all).error_code, err::FENCED_MEMBER_EPOCH);
    h.join("b", &["orders"]);
    let ra = h.beat("a", 2, &all);
    let kept = h.assigned(&ra).unwrap();
    assert_eq!(h.beat("a", 2, &kept).member_epoch, 3);
    // The previous epoch with a subset of the assignment is accepted (a lost response)...
    let r = h.beat("a", 2, &kept);
    assert_eq!((r.error_code, r.member_epoch), (0, 3));
    // ...but not with partitions beyond it.
    let r = h.beat("a", 2, &all);
    assert_eq!(r.error_code, err::FENCED_MEMBER_EPOCH);
    assert!(r.error_message.is_some());
    assert_eq!(r.member_id, None);
    // Epoch 0 always rejoins.
    let r = h.join("a", &["orders"]);
    assert_eq!((r.error_code, r.member_epoch), (0, 3));
    assert_eq!(h.assigned(&r), Some(kept));
}

#[test]
fn invalid_heartbeats_get_kafkas_codes_and_messages() {
    let mut h = H::new();
    let cases: Vec<(ConsumerGroupHeartbeatRequest, i16, &str)> = vec![
        (
            join_req("g", "", &["orders"]),
            err::INVALID_REQUEST,
            "MemberId can't be empty.",
        ),
        (
            join_req("", "a", &["orders"]),
            err::INVALID_REQUEST,
            "GroupId can't be empty.",
        ),
        (
            join_req("g", "a", &["orders"]).with_rebalance_timeout_ms(-1),
            err::INVALID_REQUEST,
            "RebalanceTimeoutMs must be provided in first request.",
        ),
        (
            join_req("g", "a", &["orders"]).with_topic_partitions(None),
            err::INVALID_REQUEST,
            "TopicPartitions must be empty when (re-)joining.",
        ),
        (
            join_req("g", "a", &["orders"]).with_subscribed_topic_names(None),
            err::INVALID_REQUEST,
            "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
        ),
        (
            leave_req("g", "a", -3),
            err::INVALID_REQUEST,
            "MemberEpoch is invalid.",
        ),
        (
            leave_req("g", "a", -2),
            err::INVALID_REQUEST,
            "InstanceId can't be null.",
        ),
        (
            join_req("g", "a", &["orders"]).with_server_assignor(Some(s("sticky"))),
            err::UNSUPPORTED_ASSIGNOR,
            "ServerAssignor sticky is not supported. Supported assignors: uniform, range.",
        ),
        (
            join_req("g", "a", &["orders"]).with_subscribed_topic_regex(Some(s("(orders"))),
            err::INVALID_REGULAR_EXPRESSION,
            "",
        ),
        (
            beat_req("nope", "a", 3, &Tps::new()),
            code::GROUP_ID_NOT_FOUND,
            "Consumer group nope not found.",
        ),
    ];
    for (req, want, message) in cases {
        let r = h.heartbeat(&req);
        assert_eq!(r.error_code, want, "{req:?}");
        if !message.is_empty() {
            assert_eq!(r.error_message.as_deref(), Some(message));
        }
    }
    // Nothing of it was kept.
    assert!(h.c.group_ids().is_empty());
    let long = "a".repeat(super::super::MAX_REGEX_BYTES + 1);
    let r = h.heartbeat(&join_req("g", "a", &[]).with_subscribed_topic_regex(Some(s(&long))));
    assert_eq!(r.error_code, err::INVALID_REGULAR_EXPRESSION);
}

#[test]
fn a_full_group_refuses_new_members() {
    let mut h = H::with(GroupConfig {
        consumer_max_size: 1,
        ..config()
    });
    h.join("a", &["orders"]);
    let r = h.join("b", &["orders"]);
    assert_eq!(r.error_code, code::GROUP_MAX_SIZE_REACHED);
    assert_eq!(
        r.error_message.as_deref(),
        Some("The consumer group has reached its maximum capacity of 1 members.")
    );
    assert_eq!(h.join("a", &["orders"]).error_code, code::NONE);
}

#[test]
fn a_static_member_keeps_its_partitions_across_a_restart() {
    let mut h = H::new();
    let join = |member: &str| join_req("g", member, &["orders"]).with_instance_id(Some(s("i1")));
    let r = h.heartbeat(&join("a1"));
    assert_eq!(r.member_epoch, 2);
    h.join("b", &["orders"]);
    let ra = h.beat_static("a1", 2, &tps("orders", &[0, 1, 2, 3]));
    let kept = h.assigned(&ra).unwrap();
    h.beat_static("a1", 2, &kept);
    // Another process with the same instance id while a1 is there.
    assert_eq!(
        h.heartbeat(&join("a2")).error_code,
        err::UNRELEASED_INSTANCE_ID
    );
    // a1 leaves for a while: epoch -2, its partitions stay its own.
    let r = h.heartbeat(&leave_req("g", "a1", -2).with_instance_id(Some(s("i1"))));
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    assert_eq!(describe(&h, "g").group_epoch, 3);
    // The restarted instance, with a new member id, gets them back at once.
    let r = h.heartbeat(&join("a2"));
    assert_eq!(r.error_code, 0);
    assert_eq!(h.assigned(&r), Some(kept));
    // The old member id is fenced by the new one.
    let r = h.beat_static("a1", 3, &Tps::new());
    assert_eq!(r.error_code, code::FENCED_INSTANCE_ID);
}

impl H {
    fn beat_static(
        &mut self,
        member: &str,
        epoch: i32,
        owned: &Tps,
    ) -> ConsumerGroupHeartbeatResponse {
        let req = beat_req("g", member, epoch, owned).with_instance_id(Some(s("i1")));
        self.heartbeat(&req)
    }
}

#[test]
fn range_is_used_when_members_ask_for_it() {
    let mut h = H::new();
    h.image = image(&[("orders", 3)]);
    let req = |m: &str| join_req("g", m, &["orders"]).with_server_assignor(Some(s("range")));
    h.heartbeat(&req("b"));
    let ra = h.heartbeat(&req("a"));
    assert_eq!(describe(&h, "g").assignor_name.as_str(), "range");
    let d = describe(&h, "g");
    let target = |id: &str| {
        let m = d
            .members
            .iter()
            .find(|m| m.member_id.as_str() == id)
            .unwrap();
        m.target_assignment.topic_partitions[0].partitions.clone()
    };
    assert_eq!(target("a"), vec![0, 1]);
    assert_eq!(target("b"), vec![2]);
    assert_eq!(ra.member_epoch, 3);
}

#[test]
fn new_partitions_and_regexes_bump_the_group_epoch() {
    let mut h = H::new();
    let req = join_req("g", "a", &[])
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some(s("ord.*")));
    let r = h.heartbeat(&req);
    assert_eq!(h.assigned(&r), Some(tps("orders", &[0, 1, 2, 3])));
    h.image = image(&[("orders", 4), ("orders-eu", 2), ("xorders", 1)]);
    let r = h.beat("a", 2, &tps("orders", &[0, 1, 2, 3]));
    assert_eq!(r.member_epoch, 3);
    let mut want = tps("orders", &[0, 1, 2, 3]);
    want.extend(tps("orders-eu", &[0, 1]));
    assert_eq!(h.assigned(&r), Some(want));
}

#[test]
fn without_migration_classic_and_consumer_groups_of_one_id_do_not_coexist() {
    let mut h = H::with(GroupConfig {
        consumer_migration_policy: super::super::MigrationPolicy::Disabled,
        ..config()
    });
    // A non-empty classic group: not a consumer group (no online upgrade).
    let ctx = RequestContext::version(9);
    let fx =
        h.c.join_group(h.now, 1, &ctx, &join_request("c", "", None), &h.image);
    let super::super::Completion::JoinGroup(first) = &fx.completions[0].1 else {
        panic!("a JoinGroup answer");
    };
    let member_id = first.member_id.to_string();
    h.c.join_group(
        h.now,
        2,
        &ctx,
        &join_request("c", &member_id, None),
        &h.image,
    );
    assert_eq!(h.c.group_summary("c").map(|g| g.members.len()), Some(1));
    let r = h.heartbeat(&join_req("c", "a", &["orders"]));
    assert_eq!(r.error_code, code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Group c is not a consumer group.")
    );
    // A consumer group takes classic consumers whatever the policy (a dynamic one is given
    // its member id first), and refuses any other protocol type.
    h.join("a", &["orders"]);
    let fx =
        h.c.join_group(h.now, 3, &ctx, &join_request("g", "", None), &h.image);
    let super::super::Completion::JoinGroup(resp) = &fx.completions[0].1 else {
        panic!("a JoinGroup answer");
    };
    assert_eq!(resp.error_code, code::MEMBER_ID_REQUIRED);
    assert_eq!(
        resp.member_id.len(),
        22,
        "a Kafka Uuid: {:?}",
        resp.member_id
    );
    let connect = join_request("g", "", None).with_protocol_type(s("connect"));
    let fx = h.c.join_group(h.now, 5, &ctx, &connect, &h.image);
    let super::super::Completion::JoinGroup(resp) = &fx.completions[0].1 else {
        panic!("a JoinGroup answer");
    };
    assert_eq!(resp.error_code, code::INCONSISTENT_GROUP_PROTOCOL);
    // DescribeGroups v6 does not describe it; ListGroups lists it as a consumer group.
    let d = h.c.describe_groups(
        &ctx_v(6),
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
    );
    assert_eq!(d.groups[0].error_code, code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        d.groups[0].error_message.as_deref(),
        Some("Group g is not a classic group.")
    );
    let l = h.c.list_groups(
        &ctx_v(5),
        &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
    );
    let listed: Vec<(&str, &str, &str)> = l
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.group_type.as_str(),
                g.group_state.as_str(),
            )
        })
        .collect();
    assert_eq!(listed, vec![("g", "consumer", "Stable")]);
    let l = h.c.list_groups(
        &ctx_v(5),
        &ListGroupsRequest::default().with_states_filter(vec![s("stable")]),
    );
    assert_eq!(l.groups.len(), 1);
    // Once Empty, a classic member turns it into a classic group.
    h.heartbeat(&leave_req("g", "a", -1));
    let fx =
        h.c.join_group(h.now, 4, &ctx, &join_request("g", "", None), &h.image);
    let super::super::Completion::JoinGroup(resp) = &fx.completions[0].1 else {
        panic!("a JoinGroup answer");
    };
    assert_eq!(resp.error_code, code::MEMBER_ID_REQUIRED);
    assert_eq!(describe(&h, "g").error_code, code::GROUP_ID_NOT_FOUND);
}

fn ctx_v(v: i16) -> RequestContext<'static> {
    RequestContext::version(v)
}

#[test]
fn offsets_are_committed_and_fetched_with_the_member_epoch() {
    let mut h = H::new();
    let r = h.join("a", &["orders"]);
    assert_eq!(r.member_epoch, 2);
    let exists = |t: &str, p: i32| t == "orders" && (0..4).contains(&p);
    let ctx = ctx_v(COMMIT_V);
    let commit = |h: &mut H, epoch: i32, member: &str| {
        let req = commit_request("g", member, epoch, &[("orders", 0, 42, None)]);
        h.c.offset_commit(h.now, &ctx, &req, &exists)
            .response
            .topics[0]
            .partitions[0]
            .error_code
    };
    assert_eq!(commit(&mut h, 2, "a"), code::NONE);
    assert_eq!(commit(&mut h, 3, "a"), err::STALE_MEMBER_EPOCH);
    assert_eq!(commit(&mut h, 2, "x"), code::UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut h, -1, ""), code::UNKNOWN_MEMBER_ID);
    // v8 is too old for a consumer-protocol member.
    let req = commit_request("g", "a", 2, &[("orders", 0, 42, None)]);
    let old = h.c.offset_commit(h.now, &ctx_v(8), &req, &exists);
    assert_eq!(
        old.response.topics[0].partitions[0].error_code,
        err::UNSUPPORTED_VERSION
    );
    // b joins; a, still at epoch 2, gives up two partitions and moves to epoch 3.
    h.join("b", &["orders"]);
    let ra = h.beat("a", 2, &tps("orders", &[0, 1, 2, 3]));
    let kept = h.assigned(&ra).unwrap();
    h.beat("a", 2, &kept);
    // A commit at the older epoch 2 is fine for a partition a still has (assigned at 2)...
    let (t, p) = kept.iter().next().unwrap().clone();
    let req = commit_request("g", "a", 2, &[(t.as_str(), p, 43, None)]);
    let resp = h.c.offset_commit(h.now, &ctx, &req, &exists);
    assert_eq!(resp.response.topics[0].partitions[0].error_code, code::NONE);
    // ...not for one it gave up.
    let gone = (0..4)
        .find(|p| !kept.contains(&("orders".to_string(), *p)))
        .unwrap();
    let req = commit_request("g", "a", 2, &[("orders", gone, 43, None)]);
    let resp = h.c.offset_commit(h.now, &ctx, &req, &exists);
    assert_eq!(
        resp.response.topics[0].partitions[0].error_code,
        err::STALE_MEMBER_EPOCH
    );
    // OffsetFetch v9 with the member's epoch, a stale one, and as an admin.
    let fetch = |h: &H, member: Option<&str>, epoch: i32| {
        let mut req = fetch_request("g", Some(&[("orders", &[0])]));
        req.groups[0].member_id = member.map(s);
        req.groups[0].member_epoch = epoch;
        h.c.offset_fetch(&ctx_v(9), &req).groups.remove(0)
    };
    let g = fetch(&h, Some("a"), 3);
    assert_eq!(g.error_code, 0);
    let want = if (t.as_str(), p) == ("orders", 0) {
        43
    } else {
        42
    };
    assert_eq!(g.topics[0].partitions[0].committed_offset, want);
    assert_eq!(fetch(&h, Some("a"), 2).error_code, err::STALE_MEMBER_EPOCH);
    assert_eq!(fetch(&h, Some("zz"), 2).error_code, code::UNKNOWN_MEMBER_ID);
    assert_eq!(fetch(&h, None, -1).error_code, 0);
    // The offsets are the consumer group's: no classic group was made for them.
    assert_eq!(h.c.group_state("g"), None);
    assert_eq!(h.c.group_ids(), vec!["g".to_string()]);
}

/// What one simulated consumer does in the property test.
#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    /// A heartbeat of member `n` reporting what it owns (as the Java client does).
    Beat(usize),
    Leave(usize),
    /// Time passes (sessions may expire).
    Wait(i64),
    /// The topic gets more partitions.
    Grow,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..5usize).prop_map(Op::Join),
        8 => (0..5usize).prop_map(Op::Beat),
        1 => (0..5usize).prop_map(Op::Leave),
        1 => (1_000..50_000i64).prop_map(Op::Wait),
        1 => Just(Op::Grow),
    ]
}

/// A client: its member epoch and owned partitions, as it last heard.
#[derive(Debug, Clone, Default)]
struct Client {
    epoch: Option<i32>,
    owned: Tps,
}

impl H {
    fn client_beat(&mut self, clients: &mut [Client], n: usize) {
        let id = format!("m{n}");
        let Some(epoch) = clients[n].epoch else {
            return;
        };
        let r = self.beat(&id, epoch, &clients[n].owned.clone());
        if r.error_code != 0 {
            // Fenced or unknown: the client drops everything and rejoins later.
            clients[n] = Client::default();
            return;
        }
        clients[n].epoch = Some(r.member_epoch);
        if let Some(assigned) = self.assigned(&r) {
            clients[n].owned = assigned;
        }
    }

    /// Every partition owned (assigned or pending revocation) by each member, per the
    /// coordinator's own describe: no partition twice.
    fn check_no_double_ownership(&self, clients: &[Client]) -> Result<(), TestCaseError> {
        let mut seen: BTreeSet<(String, i32)> = BTreeSet::new();
        for c in clients {
            for tp in &c.owned {
                prop_assert!(seen.insert(tp.clone()), "{tp:?} owned by two clients");
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn no_partition_has_two_owners_and_every_partition_is_eventually_assigned(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut h = H::new();
        let mut clients = vec![Client::default(); 5];
        let mut partitions = 4;
        for op in ops {
            match op {
                Op::Join(n) => {
                    if clients[n].epoch.is_none() {
                        let r = h.join(&format!("m{n}"), &["orders"]);
                        prop_assert_eq!(r.error_code, 0);
                        clients[n].epoch = Some(r.member_epoch);
                        clients[n].owned = h.assigned(&r).unwrap_or_default();
                    }
                }
                Op::Beat(n) => h.client_beat(&mut clients, n),
                Op::Leave(n) => {
                    if clients[n].epoch.is_some() {
                        let r = h.heartbeat(&leave_req("g", &format!("m{n}"), -1));
                        prop_assert!(r.error_code == 0 || r.error_code == code::UNKNOWN_MEMBER_ID);
                        clients[n] = Client::default();
                    }
                }
                Op::Wait(ms) => {
                    h.tick(ms);
                    // A fenced member finds out on its next heartbeat; until then the
                    // client still thinks it owns its partitions, which may meanwhile go to
                    // another member: so only members the coordinator still has count.
                    let d = describe(&h, "g");
                    let alive: BTreeSet<String> =
                        d.members.iter().map(|m| m.member_id.to_string()).collect();
                    for (n, c) in clients.iter_mut().enumerate() {
                        if !alive.contains(&format!("m{n}")) {
                            *c = Client::default();
                        }
                    }
                }
                Op::Grow => {
                    partitions += 1;
                    h.image = image(&[("orders", partitions)]);
                }
            }
            h.check_no_double_ownership(&clients)?;
        }
        // Quiescence: every live client heartbeats a few rounds.
        for _ in 0..6 {
            for n in 0..clients.len() {
                h.client_beat(&mut clients, n);
                h.check_no_double_ownership(&clients)?;
            }
        }
        let live = clients.iter().filter(|c| c.epoch.is_some()).count();
        let owned: usize = clients.iter().map(|c| c.owned.len()).sum();
        if live > 0 {
            prop_assert_eq!(owned, partitions as usize);
            let d = describe(&h, "g");
            prop_assert_eq!(d.group_state.as_str(), "Stable");
            let counts: Vec<usize> = clients.iter().filter(|c| c.epoch.is_some()).map(|c| c.owned.len()).collect();
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(max - min <= 1, "unbalanced: {:?}", counts);
        }
    }
}
