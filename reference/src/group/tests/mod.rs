//! Tests of the group coordinator, driven with a fake clock.
//!
//! [`Harness`] plays the wire layer: it hands out tokens, keeps every completion (checking
//! that no token is completed twice), keeps every record, and replays them through their
//! encoded bytes into a fresh coordinator on demand.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::consumer_protocol::subscription;
use super::*;

mod admin;
mod consumer;
mod join;
mod migration;
mod offsets;
mod props;
mod record;
mod shards;
mod sync;
mod txn_offsets;

pub(super) const JOIN_V: i16 = 9;
pub(super) const SYNC_V: i16 = 5;
pub(super) const HEARTBEAT_V: i16 = 4;
pub(super) const LEAVE_V: i16 = 5;
pub(super) const COMMIT_V: i16 = 9;
pub(super) const FETCH_V: i16 = 9;

pub(super) const SESSION_MS: i32 = 10_000;
pub(super) const REBALANCE_MS: i32 = 30_000;

/// Errors by name, to read tests like Kafka's docs.
pub(super) mod code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
}

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A test config: a short initial delay, everything else Kafka's default.
pub(super) fn config() -> GroupConfig {
    GroupConfig {
        group_initial_rebalance_delay_ms: 100,
        ..GroupConfig::default()
    }
}

/// Consumer-protocol members subscribed to `topics`, offering `protocols` in that order.
pub(super) fn protocols(names: &[&str], topics: &[&str]) -> Vec<JoinGroupRequestProtocol> {
    names
        .iter()
        .map(|n| {
            JoinGroupRequestProtocol::default()
                .with_name(s(n))
                .with_metadata(subscription(topics))
        })
        .collect()
}

pub(super) fn join_request(
    group: &str,
    member_id: &str,
    instance: Option<&str>,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_member_id(s(member_id))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(protocols(&["range"], &["orders"]))
}

pub(super) fn sync_request(
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        )
}

pub(super) fn heartbeat_request(group: &str, member_id: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
}

pub(super) fn leave_request(group: &str, members: &[(&str, Option<&str>)]) -> LeaveGroupRequest {
    LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(
            members
                .iter()
                .map(|(m, i)| {
                    MemberIdentity::default()
                        .with_member_id(s(m))
                        .with_group_instance_id(i.map(s))
                })
                .collect(),
        )
}

/// One partition to commit: (topic, partition, offset, metadata).
pub(super) type Commit<'a> = (&'a str, i32, i64, Option<&'a str>);

pub(super) fn commit_request(
    group: &str,
    member_id: &str,
    generation: i32,
    commits: &[Commit<'_>],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset, metadata) in commits {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(7)
            .with_committed_metadata(metadata.map(s));
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

/// Multi-group OffsetFetch (v8+) of one group; `None` topics means all.
pub(super) fn fetch_request(group: &str, topics: Option<&[(&str, &[i32])]>) -> OffsetFetchRequest {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(t)))
                    .with_partition_indexes(ps.to_vec())
            })
            .collect()
    });
    OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(topics),
    ])
}

/// The topic "orders" has 6 partitions, "payments" 3; nothing else exists.
pub(super) fn partition_exists(topic: &str, partition: i32) -> bool {
    match topic {
        "orders" => (0..6).contains(&partition),
        "payments" => (0..3).contains(&partition),
        _ => false,
    }
}

/// The wire layer of the tests.
pub(super) struct Harness {
    pub c: GroupCoordinator,
    pub now: i64,
    next_token: RequestToken,
    pub completions: BTreeMap<RequestToken, Completion>,
    pub records: Vec<GroupRecord>,
    /// The cluster's topics, for groups of the consumer protocol.
    pub image: TopicsImage,
}

impl Harness {
    pub fn new(config: GroupConfig) -> Harness {
        Harness {
            c: GroupCoordinator::with_seed(config, 0, 7),
            now: 0,
            next_token: 1,
            completions: BTreeMap::new(),
            records: Vec::new(),
            image: TopicsImage::new(),
        }
    }

    pub fn absorb(&mut self, fx: Effects) {
        self.records.extend(fx.records);
        for (token, completion) in fx.completions {
            let previous = self.completions.insert(token, completion);
            assert!(previous.is_none(), "token {token} completed twice");
        }
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        self.next_token
    }

    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
        let fx = self.c.tick(self.now);
        self.absorb(fx);
    }

    pub fn join_v(&mut self, version: i16, request: &JoinGroupRequest) -> RequestToken {
        let token = self.token();
        let ctx = RequestContext {
            api_version: version,
            client_id: "client",
            client_host: "/127.0.0.1",
        };
        let fx = self
            .c
            .join_group(self.now, token, &ctx, request, &self.image);
        self.absorb(fx);
        token
    }

    pub fn join(&mut self, request: &JoinGroupRequest) -> RequestToken {
        self.join_v(JOIN_V, request)
    }

    pub fn sync(&mut self, request: &SyncGroupRequest) -> RequestToken {
        let token = self.token();
        let fx = self
            .c
            .sync_group(self.now, token, &RequestContext::version(SYNC_V), request);
        self.absorb(fx);
        token
    }

    pub fn heartbeat(&mut self, group: &str, member_id: &str, generation: i32) -> i16 {
        let request = heartbeat_request(group, member_id, generation);
        self.c
            .heartbeat(self.now, &RequestContext::version(HEARTBEAT_V), &request)
            .error_code
    }

    pub fn leave_v(&mut self, version: i16, request: &LeaveGroupRequest) -> LeaveGroupResponse {
        let reply = self
            .c
            .leave_group(self.now, &RequestContext::version(version), request);
        self.absorb(reply.effects);
        reply.response
    }

    pub fn commit_v(
        &mut self,
        version: i16,
        request: &OffsetCommitRequest,
    ) -> OffsetCommitResponse {
        let reply = self.c.offset_commit(
            self.now,
            &RequestContext::version(version),
            request,
            &partition_exists,
        );
        self.absorb(reply.effects);
        reply.response
    }

    pub fn commit(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        commits: &[Commit<'_>],
    ) -> Vec<i16> {
        let response = self.commit_v(
            COMMIT_V,
            &commit_request(group, member_id, generation, commits),
        );
        response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }

    pub fn fetch(&self, group: &str, topics: Option<&[(&str, &[i32])]>) -> OffsetFetchResponse {
        self.c.offset_fetch(
            &RequestContext::version(FETCH_V),
            &fetch_request(group, topics),
        )
    }

    /// The completion of `token`, which must exist.
    pub fn completion(&self, token: RequestToken) -> &Completion {
        self.completions
            .get(&token)
            .unwrap_or_else(|| panic!("token {token} not completed"))
    }

    pub fn joined(&self, token: RequestToken) -> &JoinGroupResponse {
        match self.completion(token) {
            Completion::JoinGroup(r) => r,
            other => panic!("token {token}: expected a JoinGroup answer, got {other:?}"),
        }
    }

    pub fn synced(&self, token: RequestToken) -> &SyncGroupResponse {
        match self.completion(token) {
            Completion::SyncGroup(r) => r,
            other => panic!("token {token}: expected a SyncGroup answer, got {other:?}"),
        }
    }

    pub fn is_parked(&self, token: RequestToken) -> bool {
        !self.completions.contains_key(&token)
    }

    /// A dynamic member's two-step join (MEMBER_ID_REQUIRED, then the real join); returns
    /// the member id and the token of the parked second JoinGroup.
    pub fn join_dynamic(&mut self, group: &str) -> (String, RequestToken) {
        let first = self.join(&join_request(group, "", None));
        let response = self.joined(first);
        assert_eq!(response.error_code, code::MEMBER_ID_REQUIRED);
        let member_id = response.member_id.to_string();
        let token = self.join(&join_request(group, &member_id, None));
        (member_id, token)
    }

    /// Members join `group` and the initial delay passes: every join is answered.
    pub fn form_group(&mut self, group: &str, n: usize) -> Vec<(String, RequestToken)> {
        let members: Vec<_> = (0..n).map(|_| self.join_dynamic(group)).collect();
        let tokens: Vec<RequestToken> = members.iter().map(|(_, t)| *t).collect();
        self.until_answered(&tokens);
        members
    }

    /// Lets time pass in steps of the initial delay (which members joining during it
    /// extend) until every token is answered.
    pub fn until_answered(&mut self, tokens: &[RequestToken]) {
        let step = i64::from(self.c.config().group_initial_rebalance_delay_ms.max(1));
        for _ in 0..100 {
            if tokens.iter().all(|t| !self.is_parked(*t)) {
                return;
            }
            self.advance(step);
        }
        panic!("tokens {tokens:?} never answered");
    }

    /// Forms a group of `n` and completes its first SyncGroup (leader assigns partition i of
    /// "orders" to member i); returns the member ids and the generation.
    pub fn stable_group(&mut self, group: &str, n: usize) -> (Vec<String>, i32) {
        let members = self.form_group(group, n);
        let generation = self.joined(members[0].1).generation_id;
        let leader = self.joined(members[0].1).leader.to_string();
        let ids: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
        for id in ids.iter().filter(|id| **id != leader) {
            self.sync(&sync_request(group, id, generation, &[]));
        }
        let assignment: Vec<(String, Vec<u8>)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), vec![i as u8]))
            .collect();
        let refs: Vec<(&str, &[u8])> = assignment
            .iter()
            .map(|(m, a)| (m.as_str(), a.as_slice()))
            .collect();
        self.sync(&sync_request(group, &leader, generation, &refs));
        assert_eq!(self.c.group_state(group), Some(GroupState::Stable));
        (ids, generation)
    }

    /// A fresh coordinator loaded from the records, through their encoded bytes.
    pub fn replayed(&self) -> GroupCoordinator {
        let mut fresh = GroupCoordinator::with_seed(self.c.config().clone(), self.now, 99);
        for record in &self.records {
            let key = record.key();
            let value = record.value();
            let decoded = GroupRecord::decode(&key, value.as_deref()).expect("own records decode");
            assert_eq!(&decoded, record);
            fresh.replay(&decoded);
        }
        let fx = fresh.on_loaded(self.now);
        assert!(fx.completions.is_empty());
        fresh
    }
}
