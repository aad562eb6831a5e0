//! Properties over random sequences of joins, syncs, heartbeats, leaves, commits and time.
//!
//! Four clients behave like real consumers (rejoin with the member id they were given, the
//! leader assigns the 6 partitions of "orders" round-robin over the member list, cooperative
//! clients put their owned partitions in their metadata so every assignment changes it),
//! while a model checks after every step:
//! - within one generation no partition is assigned to two members, and each member gets
//!   exactly what that generation's leader assigned it;
//! - every member of a Stable group holds its assignment from the current generation;
//! - a member silent for longer than its session (and not waiting in a rebalance) is gone,
//!   and if the group was Stable a rebalance started;
//! - committed offsets come back exactly as committed, metadata included;
//! - no parked request is lost or answered twice;
//! - replaying the records written so far yields the same offsets and groups.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const GROUP: &str = "order_processing_group";
const PARTITIONS: i32 = 6;
const CLIENTS: usize = 4;
/// Longer than the session, short enough that slow rejoins happen in a run.
const REBALANCE_TIMEOUT_MS: i32 = 12_000;

#[derive(Debug, Clone)]
enum Op {
    /// What a consumer's poll loop does next: join, sync or heartbeat.
    Poll(usize),
    /// Rejoin now (as after a subscription or metadata change).
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Leave(usize),
    Commit {
        client: usize,
        partition: i32,
        offset: i64,
        metadata: u8,
    },
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..CLIENTS).prop_map(Op::Poll),
        1 => (0..CLIENTS).prop_map(Op::Join),
        1 => (0..CLIENTS).prop_map(Op::Sync),
        3 => (0..CLIENTS).prop_map(Op::Heartbeat),
        1 => (0..CLIENTS).prop_map(Op::Leave),
        3 => (0..CLIENTS, 0..PARTITIONS, 0..1_000i64, 0..3u8)
            .prop_map(|(client, partition, offset, metadata)| Op::Commit { client, partition, offset, metadata }),
        4 => prop_oneof![4 => 0..1_000i64, 4 => 1_000..4_000i64, 1 => 9_000..12_000i64].prop_map(Op::Advance),
    ]
}

/// What a client learnt from its last successful JoinGroup.
#[derive(Debug, Clone)]
struct Joined {
    generation: i32,
    protocol: String,
    leader: bool,
    members: Vec<String>,
    synced: bool,
}

#[derive(Debug, Clone, Default)]
struct Client {
    member_id: String,
    /// The last generation joined: a background heartbeat thread keeps using it even when
    /// the poll loop is slow to rejoin.
    generation: Option<i32>,
    join: Option<RequestToken>,
    sync: Option<(RequestToken, i32)>,
    joined: Option<Joined>,
    owned: Vec<u8>,
    last_contact_ms: i64,
}

struct Model {
    h: Harness,
    clients: Vec<Client>,
    /// The leader's assignment of each generation.
    plans: BTreeMap<i32, BTreeMap<String, Vec<u8>>>,
    /// What members received, per generation.
    received: BTreeMap<i32, BTreeMap<String, Vec<u8>>>,
    /// partition -> (offset, metadata) as last committed successfully.
    offsets: BTreeMap<i32, (i64, String)>,
    /// Members answered for each generation, and the leader's member list of it.
    answered: BTreeMap<i32, BTreeSet<String>>,
    member_lists: BTreeMap<i32, Vec<String>>,
}

fn protocols_of(client: usize, owned: &[u8]) -> Vec<JoinGroupRequestProtocol> {
    let names: &[&str] = match client % 3 {
        0 => &["range"],
        1 => &["cooperative-sticky", "range"],
        _ => &["range", "roundrobin"],
    };
    names
        .iter()
        .map(|n| {
            let mut metadata = subscription(&["orders"]).to_vec();
            if *n == "cooperative-sticky" {
                metadata.extend_from_slice(owned);
            }
            JoinGroupRequestProtocol::default()
                .with_name(s(n))
                .with_metadata(Bytes::from(metadata))
        })
        .collect()
}

impl Model {
    fn new() -> Model {
        let config = GroupConfig {
            group_initial_rebalance_delay_ms: 3_000,
            offsets_retention_check_interval_ms: 1_000_000_000_000,
            ..GroupConfig::default()
        };
        Model {
            h: Harness::new(config),
            clients: vec![Client::default(); CLIENTS],
            plans: BTreeMap::new(),
            received: BTreeMap::new(),
            offsets: BTreeMap::new(),
            answered: BTreeMap::new(),
            member_lists: BTreeMap::new(),
        }
    }

    fn reset(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.member_id.clear();
        c.generation = None;
        c.joined = None;
        c.owned.clear();
    }

    fn send_join(&mut self, i: usize) {
        let c = &self.clients[i];
        let request = join_request(GROUP, &c.member_id, None)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_protocols(protocols_of(i, &c.owned));
        let token = self.h.join(&request);
        self.clients[i].join = Some(token);
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Poll(i) => {
                let c = &self.clients[i];
                if c.join.is_some() || c.sync.is_some() {
                    // Waiting for the coordinator.
                } else if c.member_id.is_empty() || c.joined.is_none() {
                    self.send_join(i);
                } else if c.joined.as_ref().is_some_and(|j| !j.synced) {
                    self.sync(i);
                } else {
                    self.heartbeat(i);
                }
            }
            Op::Join(i) => {
                let c = &self.clients[i];
                if c.join.is_none() && c.sync.is_none() {
                    self.send_join(i);
                }
            }
            Op::Sync(i) => self.sync(i),
            Op::Heartbeat(i) => self.heartbeat(i),
            Op::Leave(i) => {
                let c = &self.clients[i];
                if !c.member_id.is_empty() && c.join.is_none() && c.sync.is_none() {
                    let member_id = c.member_id.clone();
                    self.h
                        .leave_v(LEAVE_V, &leave_request(GROUP, &[(&member_id, None)]));
                    self.reset(i);
                }
            }
            Op::Commit {
                client,
                partition,
                offset,
                metadata,
            } => self.commit(client, partition, offset, metadata),
            Op::Advance(ms) => self.advance(ms),
        }
        self.drain();
    }

    fn sync(&mut self, i: usize) {
        let c = &self.clients[i];
        let Some(joined) = c.joined.clone().filter(|j| !j.synced) else {
            return;
        };
        if c.join.is_some() || c.sync.is_some() {
            return;
        }
        let member_id = c.member_id.clone();
        let mut plan: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if joined.leader {
            let n = joined.members.len();
            for p in 0..PARTITIONS {
                plan.entry(joined.members[p as usize % n].clone())
                    .or_default()
                    .push(p as u8);
            }
            let previous = self.plans.insert(joined.generation, plan.clone());
            assert!(
                previous.is_none(),
                "two leaders assigned generation {}",
                joined.generation
            );
        }
        let refs: Vec<(&str, &[u8])> = plan
            .iter()
            .map(|(m, a)| (m.as_str(), a.as_slice()))
            .collect();
        let request = sync_request(GROUP, &member_id, joined.generation, &refs)
            .with_protocol_name(Some(s(&joined.protocol)));
        let token = self.h.sync(&request);
        self.clients[i].sync = Some((token, joined.generation));
    }

    fn heartbeat(&mut self, i: usize) {
        let c = &self.clients[i];
        let Some(generation) = c.generation else {
            return;
        };
        if c.member_id.is_empty() || c.join.is_some() || c.sync.is_some() {
            return;
        }
        let member_id = c.member_id.clone();
        match self.h.heartbeat(GROUP, &member_id, generation) {
            code::NONE => self.clients[i].last_contact_ms = self.h.now,
            code::REBALANCE_IN_PROGRESS => {
                self.clients[i].last_contact_ms = self.h.now;
                self.clients[i].joined = None;
            }
            _ => self.reset(i),
        }
    }

    fn commit(&mut self, i: usize, partition: i32, offset: i64, metadata: u8) {
        let c = &self.clients[i];
        let (member_id, generation) = match &c.joined {
            Some(j) if !c.member_id.is_empty() => (c.member_id.clone(), j.generation),
            _ => (String::new(), -1),
        };
        let metadata = match metadata {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("committed {offset} by {i}")),
        };
        let codes = self.h.commit(
            GROUP,
            &member_id,
            generation,
            &[("orders", partition, offset, metadata.as_deref())],
        );
        if codes == [code::NONE] {
            self.offsets
                .insert(partition, (offset, metadata.unwrap_or_default()));
            if !member_id.is_empty() {
                self.clients[i].last_contact_ms = self.h.now;
            }
        }
    }

    fn advance(&mut self, ms: i64) {
        let before = self.h.c.group_summary(GROUP);
        self.h.advance(ms);
        self.check_sessions();
        let (Some(before), Some(after)) = (before, self.h.c.group_summary(GROUP)) else {
            return;
        };
        let now: BTreeSet<&String> = after.members.iter().map(|m| &m.member_id).collect();
        let someone_left = before.members.iter().any(|m| !now.contains(&m.member_id));
        if before.state == GroupState::Stable && someone_left {
            let same =
                after.state == GroupState::Stable && after.generation_id == before.generation_id;
            assert!(
                !same,
                "a member expired from a Stable group and no rebalance started"
            );
        }
    }

    /// Answers that arrived for the clients' parked requests.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            for i in 0..CLIENTS {
                let joined = self.clients[i]
                    .join
                    .and_then(|t| self.h.completions.get(&t).cloned());
                if let Some(completion) = joined {
                    self.clients[i].join = None;
                    self.on_join(i, completion);
                    progressed = true;
                }
                let synced = self.clients[i]
                    .sync
                    .and_then(|(t, g)| Some((self.h.completions.get(&t).cloned()?, g)));
                if let Some((completion, generation)) = synced {
                    self.clients[i].sync = None;
                    self.on_sync(i, generation, completion);
                    progressed = true;
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_join(&mut self, i: usize, completion: Completion) {
        let Completion::JoinGroup(r) = completion else {
            panic!("client {i}: join answered {completion:?}")
        };
        match r.error_code {
            code::NONE => {
                let members: Vec<String> =
                    r.members.iter().map(|m| m.member_id.to_string()).collect();
                let leader = r.leader == r.member_id;
                assert_eq!(
                    leader,
                    !members.is_empty(),
                    "only the leader gets the members"
                );
                self.answered
                    .entry(r.generation_id)
                    .or_default()
                    .insert(r.member_id.to_string());
                if leader {
                    self.member_lists.insert(r.generation_id, members.clone());
                }
                let c = &mut self.clients[i];
                c.member_id = r.member_id.to_string();
                c.generation = Some(r.generation_id);
                let protocol = r.protocol_name.as_deref().unwrap_or_default().to_string();
                c.joined = Some(Joined {
                    generation: r.generation_id,
                    protocol,
                    leader,
                    members,
                    synced: false,
                });
                c.last_contact_ms = self.h.now;
            }
            code::MEMBER_ID_REQUIRED => {
                self.clients[i].member_id = r.member_id.to_string();
                self.send_join(i);
            }
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => self.reset(i),
            other => panic!("client {i}: unexpected JoinGroup error {other}"),
        }
    }

    fn on_sync(&mut self, i: usize, generation: i32, completion: Completion) {
        let Completion::SyncGroup(r) = completion else {
            panic!("client {i}: sync answered {completion:?}")
        };
        self.clients[i].last_contact_ms = self.h.now;
        match r.error_code {
            code::NONE => {
                let member_id = self.clients[i].member_id.clone();
                let planned = self
                    .plans
                    .get(&generation)
                    .and_then(|p| p.get(&member_id))
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    self.plans.contains_key(&generation),
                    "an assignment without a leader's plan"
                );
                assert_eq!(
                    r.assignment.to_vec(),
                    planned,
                    "member {member_id} got another assignment"
                );
                self.received
                    .entry(generation)
                    .or_default()
                    .insert(member_id, planned.clone());
                let c = &mut self.clients[i];
                c.owned = planned;
                if let Some(j) = c.joined.as_mut() {
                    j.synced = true;
                }
            }
            code::REBALANCE_IN_PROGRESS => self.clients[i].joined = None,
            code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => self.reset(i),
            other => panic!("client {i}: unexpected SyncGroup error {other}"),
        }
    }

    fn check_sessions(&self) {
        let Some(summary) = self.h.c.group_summary(GROUP) else {
            return;
        };
        for c in &self.clients {
            let silent = c.last_contact_ms + i64::from(SESSION_MS) < self.h.now;
            if c.member_id.is_empty() || c.join.is_some() || c.sync.is_some() || !silent {
                continue;
            }
            assert!(
                summary.members.iter().all(|m| m.member_id != c.member_id),
                "member {} silent since {} is still in the group at {}",
                c.member_id,
                c.last_contact_ms,
                self.h.now
            );
        }
    }

    fn check(&self) {
        // A generation is made of the members that rejoined for it (dynamic members that did
        // not are dropped): each one on the leader's list got its JoinGroup answer.
        for (generation, members) in &self.member_lists {
            let answered = &self.answered[generation];
            for m in members {
                assert!(
                    answered.contains(m),
                    "{m} is in generation {generation} without having joined it"
                );
            }
        }
        // Within a generation, no partition twice.
        for (generation, members) in &self.received {
            let mut seen = BTreeSet::new();
            for partitions in members.values() {
                for p in partitions {
                    assert!(
                        seen.insert(*p),
                        "partition {p} assigned twice in generation {generation}"
                    );
                }
            }
        }
        // A Stable group's members hold the current generation's assignment.
        if let Some(summary) = self
            .h
            .c
            .group_summary(GROUP)
            .filter(|s| s.state == GroupState::Stable)
        {
            let plan = self
                .plans
                .get(&summary.generation_id)
                .expect("Stable without the leader's plan");
            for m in &summary.members {
                let planned = plan.get(&m.member_id).cloned().unwrap_or_default();
                assert_eq!(
                    m.assignment.to_vec(),
                    planned,
                    "member {} holds a stale assignment",
                    m.member_id
                );
            }
        }
        self.check_offsets();
        self.check_parked();
        self.check_replay();
    }

    fn check_offsets(&self) {
        let partitions: Vec<i32> = (0..PARTITIONS).collect();
        let response = self.h.fetch(GROUP, Some(&[("orders", &partitions)]));
        for p in &response.groups[0].topics[0].partitions {
            let (offset, metadata) = self
                .offsets
                .get(&p.partition_index)
                .cloned()
                .unwrap_or((-1, String::new()));
            assert_eq!(p.committed_offset, offset);
            assert_eq!(p.metadata.as_deref(), Some(metadata.as_str()));
            assert_eq!(p.committed_leader_epoch, if offset == -1 { -1 } else { 7 });
        }
        let all = self.h.fetch(GROUP, None);
        let committed: BTreeMap<i32, i64> = all.groups[0]
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        let expected: BTreeMap<i32, i64> =
            self.offsets.iter().map(|(p, (o, _))| (*p, *o)).collect();
        assert_eq!(committed, expected);
    }

    /// The requests the coordinator holds are exactly those the clients wait on.
    fn check_parked(&self) {
        let mut held = BTreeSet::new();
        for group in self.h.c.groups.values() {
            for member in group.members.values() {
                held.extend(member.awaiting_join.map(|p| p.token));
                held.extend(member.awaiting_sync.map(|p| p.token));
            }
        }
        let waiting: BTreeSet<RequestToken> = self
            .clients
            .iter()
            .flat_map(|c| c.join.into_iter().chain(c.sync.map(|s| s.0)))
            .collect();
        assert_eq!(held, waiting);
    }

    fn check_replay(&self) {
        let fresh = self.h.replayed();
        assert_eq!(
            fresh.all_committed_offsets(),
            self.h.c.all_committed_offsets()
        );
        assert_eq!(fresh.group_ids(), self.h.c.group_ids());
        for group_id in self.h.c.group_ids() {
            let live = self.h.c.group_summary(&group_id);
            if live
                .as_ref()
                .is_some_and(|g| matches!(g.state, GroupState::Stable | GroupState::Empty))
            {
                assert_eq!(
                    fresh.group_summary(&group_id),
                    live,
                    "replayed group {group_id}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_operations_keep_the_group_invariants(ops in proptest::collection::vec(op(), 1..150)) {
        let mut model = Model::new();
        for op in &ops {
            model.step(op);
            model.check();
        }
    }
}
