//! TxnOffsetCommit, pending transactional offsets, markers, and their replay.

use std::collections::BTreeMap;

use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    OffsetDeleteRequest, ProducerId, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use proptest::prelude::*;

use super::*;
use crate::group::{LoggedRecord, NO_PRODUCER_ID};

const TXN_V: i16 = 5;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn txn_request(
    group: &str,
    producer_id: i64,
    member: Option<(&str, i32)>,
    commits: &[(&str, i32, i64)],
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in commits {
        let p = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(3)
            .with_committed_metadata(Some(s("txn")));
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let (member_id, generation) = member.unwrap_or(("", -1));
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("payments-txn")))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

/// The coordinator and its log, records tagged with their batch's producer.
struct TxnHarness {
    h: Harness,
    log: Vec<LoggedRecord>,
}

impl TxnHarness {
    fn new() -> TxnHarness {
        TxnHarness {
            h: Harness::new(config()),
            log: Vec::new(),
        }
    }

    fn txn_commit(&mut self, request: &TxnOffsetCommitRequest) -> Vec<i16> {
        let reply =
            self.h
                .c
                .txn_offset_commit(self.h.now, &RequestContext::version(TXN_V), request);
        assert!(reply.effects.completions.is_empty());
        for record in reply.effects.records {
            self.log.push(LoggedRecord::Group {
                producer_id: request.producer_id.0,
                record,
            });
        }
        codes(&reply.response)
    }

    /// A TxnOffsetCommit of one partition of "orders" by "order_processing_group".
    fn txn(&mut self, producer_id: i64, partition: i32, offset: i64) {
        let group = "order_processing_group";
        let request = txn_request(group, producer_id, None, &[("orders", partition, offset)]);
        assert_eq!(self.txn_commit(&request), vec![code::NONE]);
    }

    fn plain_commit(&mut self, group: &str, partition: i32, offset: i64) {
        let request = commit_request(group, "", -1, &[("orders", partition, offset, None)]);
        let reply = self.h.c.offset_commit(
            self.h.now,
            &RequestContext::version(COMMIT_V),
            &request,
            &partition_exists,
        );
        self.absorb_plain(reply.effects);
    }

    fn absorb_plain(&mut self, fx: Effects) {
        for record in fx.records {
            self.log.push(LoggedRecord::Group {
                producer_id: NO_PRODUCER_ID,
                record,
            });
        }
    }

    fn marker(&mut self, producer_id: i64, commit: bool) {
        self.log.push(LoggedRecord::EndTransaction {
            producer_id,
            commit,
        });
        self.h
            .c
            .replay_end_transaction_marker(0, producer_id, commit);
    }

    fn committed(&self, group: &str, partition: i32) -> Option<i64> {
        self.h
            .c
            .committed_offset(group, "orders", partition)
            .map(|o| o.committed_offset)
    }

    /// A fresh coordinator loaded from the log, through the records' bytes.
    fn replayed(&self) -> GroupCoordinator {
        let mut fresh = GroupCoordinator::with_seed(config(), self.h.now, 99);
        for logged in &self.log {
            let logged = match logged {
                LoggedRecord::Group {
                    producer_id,
                    record,
                } => {
                    let decoded = GroupRecord::decode(&record.key(), record.value().as_deref())
                        .expect("own records decode");
                    LoggedRecord::Group {
                        producer_id: *producer_id,
                        record: decoded,
                    }
                }
                marker => marker.clone(),
            };
            fresh.replay_logged(0, &logged);
        }
        fresh.on_loaded(self.h.now);
        fresh
    }
}

fn codes(response: &TxnOffsetCommitResponse) -> Vec<i16> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// (offset, error) of one partition of "orders" in a v8+ fetch that requires stability.
fn stable_fetch(c: &GroupCoordinator, group: &str, partition: i32) -> (i64, i16) {
    let request = fetch_request(group, Some(&[("orders", &[partition])])).with_require_stable(true);
    let response = c.offset_fetch(&RequestContext::version(FETCH_V), &request);
    let p = &response.groups[0].topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

#[test]
fn transactional_offsets_wait_for_the_commit_marker() {
    let mut t = TxnHarness::new();
    t.txn(7, 0, 42);
    assert_eq!(t.committed("order_processing_group", 0), None);
    assert!(
        t.h.c
            .has_pending_transactional_offsets("order_processing_group", "orders", 0)
    );
    assert_eq!(
        stable_fetch(&t.h.c, "order_processing_group", 0),
        (-1, UNSTABLE_OFFSET_COMMIT)
    );
    // Without require_stable the committed offset (none yet) is answered.
    let plain =
        t.h.fetch("order_processing_group", Some(&[("orders", &[0])]));
    assert_eq!(plain.groups[0].topics[0].partitions[0].error_code, 0);
    t.marker(7, true);
    assert_eq!(t.committed("order_processing_group", 0), Some(42));
    assert_eq!(stable_fetch(&t.h.c, "order_processing_group", 0), (42, 0));
    let stored =
        t.h.c
            .committed_offset("order_processing_group", "orders", 0);
    assert_eq!(
        stored.map(|o| (o.leader_epoch, o.metadata.as_str())),
        Some((3, "txn"))
    );
}

#[test]
fn an_abort_marker_drops_the_pending_offsets() {
    let mut t = TxnHarness::new();
    t.plain_commit("order_processing_group", 0, 10);
    t.txn(7, 0, 42);
    // A fetch of all the group's offsets requiring stability: the same per partition.
    let all = fetch_request("order_processing_group", None).with_require_stable(true);
    let response = t.h.c.offset_fetch(&RequestContext::version(FETCH_V), &all);
    let p = &response.groups[0].topics[0].partitions[0];
    assert_eq!(
        (p.committed_offset, p.error_code),
        (-1, UNSTABLE_OFFSET_COMMIT)
    );
    t.marker(7, false);
    assert_eq!(t.committed("order_processing_group", 0), Some(10));
    assert!(
        !t.h.c
            .has_pending_transactional_offsets("order_processing_group", "orders", 0)
    );
    assert_eq!(stable_fetch(&t.h.c, "order_processing_group", 0), (10, 0));
}

#[test]
fn a_plain_commit_written_after_the_transactional_one_wins() {
    let mut t = TxnHarness::new();
    t.txn(7, 0, 42);
    t.plain_commit("order_processing_group", 0, 50);
    t.marker(7, true);
    // Kafka keeps the offset whose record is later in the log.
    assert_eq!(t.committed("order_processing_group", 0), Some(50));
    // And one written before it loses.
    t.plain_commit("order_processing_group", 1, 5);
    t.txn(8, 1, 6);
    t.marker(8, true);
    assert_eq!(t.committed("order_processing_group", 1), Some(6));
    assert_eq!(
        t.replayed().all_committed_offsets(),
        t.h.c.all_committed_offsets()
    );
}

#[test]
fn a_marker_completes_only_its_own_producer() {
    let mut t = TxnHarness::new();
    t.txn(7, 0, 42);
    t.txn(8, 1, 9);
    t.marker(8, true);
    assert_eq!(t.committed("order_processing_group", 0), None);
    assert_eq!(t.committed("order_processing_group", 1), Some(9));
    let replayed = t.replayed();
    assert!(replayed.has_pending_transactional_offsets("order_processing_group", "orders", 0));
    assert_eq!(
        replayed
            .pending_transactional_offset(7, "order_processing_group", "orders", 0)
            .map(|o| o.committed_offset),
        Some(42)
    );
}

#[test]
fn a_marker_completes_only_the_groups_of_its_partition() {
    let mut c = GroupCoordinator::partitioned(config(), 50, 0);
    let (a, b) = ("order_processing_group", "payments_group");
    let (pa, pb) = (super::partition_for(a, 50), super::partition_for(b, 50));
    assert_ne!(pa, pb);
    for p in [pa, pb] {
        assert!(c.begin_load(p, 0));
        c.complete_load(p, 0, 0);
    }
    for group in [a, b] {
        let reply = c.txn_offset_commit(
            0,
            &RequestContext::version(TXN_V),
            &txn_request(group, 7, None, &[("orders", 0, 42)]),
        );
        assert_eq!(codes(&reply.response), vec![code::NONE]);
    }
    c.replay_end_transaction_marker(pa, 7, true);
    assert_eq!(
        c.committed_offset(a, "orders", 0)
            .map(|o| o.committed_offset),
        Some(42)
    );
    assert!(c.committed_offset(b, "orders", 0).is_none());
    assert!(c.has_pending_transactional_offsets(b, "orders", 0));
    c.replay_end_transaction_marker(pb, 7, false);
    assert!(!c.has_pending_transactional_offsets(b, "orders", 0));
}

#[test]
fn txn_offset_commit_checks_the_group_as_kafka_does() {
    let mut t = TxnHarness::new();
    let commit = [("orders", 0, 1)];
    // No such group: a generation is ILLEGAL_GENERATION; none makes a simple group.
    let code = t.txn_commit(&txn_request("nobody", 7, Some(("m", 1)), &commit));
    assert_eq!(code, vec![code::ILLEGAL_GENERATION]);
    assert_eq!(
        t.txn_commit(&txn_request("simple", 7, None, &commit)),
        vec![0]
    );
    assert_eq!(t.h.c.group_state("simple"), Some(GroupState::Empty));
    let empty_id = t.txn_commit(&txn_request("", 7, None, &commit));
    assert_eq!(empty_id, vec![code::INVALID_GROUP_ID]);

    let (members, generation) = t.h.stable_group("order_processing_group", 2);
    let member = members[0].as_str();
    let group = "order_processing_group";
    let unknown = t.txn_commit(&txn_request(group, 7, Some(("ghost", generation)), &commit));
    assert_eq!(unknown, vec![code::UNKNOWN_MEMBER_ID]);
    let stale = t.txn_commit(&txn_request(
        group,
        7,
        Some((member, generation + 1)),
        &commit,
    ));
    assert_eq!(stale, vec![code::ILLEGAL_GENERATION]);
    let ok = t.txn_commit(&txn_request(group, 7, Some((member, generation)), &commit));
    assert_eq!(ok, vec![code::NONE]);
    // Without member and generation (v0-2), any state is accepted.
    assert_eq!(t.txn_commit(&txn_request(group, 8, None, &commit)), vec![0]);

    let mut big = txn_request(group, 7, Some((member, generation)), &commit);
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    assert_eq!(t.txn_commit(&big), vec![code::OFFSET_METADATA_TOO_LARGE]);
}

#[test]
fn a_loading_partition_is_not_available_before_v2() {
    let mut c = GroupCoordinator::partitioned(config(), 50, 0);
    let group = "order_processing_group";
    assert!(c.begin_load(super::partition_for(group, 50), 0));
    let request = txn_request(group, 7, None, &[("orders", 0, 1)]);
    let v1 = c.txn_offset_commit(0, &RequestContext::version(1), &request);
    assert_eq!(codes(&v1.response), vec![code::COORDINATOR_NOT_AVAILABLE]);
    let v2 = c.txn_offset_commit(0, &RequestContext::version(2), &request);
    assert_eq!(codes(&v2.response), vec![14]);
}

#[test]
fn offset_delete_and_retention_respect_pending_offsets() {
    let mut t = TxnHarness::new();
    let group = "order_processing_group";
    t.plain_commit(group, 0, 10);
    t.txn_commit(&txn_request(
        group,
        7,
        None,
        &[("orders", 0, 42), ("orders", 1, 43)],
    ));
    // Retention: the pending partition's offset stays, the group stays.
    t.h.advance(t.h.c.config().offsets_retention_ms + 1);
    assert_eq!(t.committed(group, 0), Some(10));
    assert_eq!(t.h.c.group_state(group), Some(GroupState::Empty));
    // OffsetDelete writes tombstones for committed and pending offsets alike.
    let request = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![
            kafka_protocol::messages::offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s("orders")))
                .with_partitions(vec![
                    kafka_protocol::messages::offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(1),
                ]),
        ]);
    let reply =
        t.h.c
            .offset_delete(&RequestContext::version(0), &request, &partition_exists);
    assert_eq!(reply.effects.records.len(), 1);
    t.absorb_plain(reply.effects);
    assert!(!t.h.c.has_pending_transactional_offsets(group, "orders", 1));
    t.marker(7, true);
    assert_eq!(t.committed(group, 0), Some(42));
    assert_eq!(t.committed(group, 1), None);
    assert_eq!(
        t.replayed().all_committed_offsets(),
        t.h.c.all_committed_offsets()
    );
}

/// One thing happening to the offsets of "orders" in one group.
#[derive(Debug, Clone)]
enum Op {
    Txn {
        producer: i64,
        partition: i32,
        offset: i64,
    },
    Plain {
        partition: i32,
        offset: i64,
    },
    Marker {
        producer: i64,
        commit: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..4, 0i32..3, 0i64..1000).prop_map(|(producer, partition, offset)| Op::Txn {
            producer,
            partition,
            offset
        }),
        (0i32..3, 0i64..1000).prop_map(|(partition, offset)| Op::Plain { partition, offset }),
        (1i64..4, any::<bool>()).prop_map(|(producer, commit)| Op::Marker { producer, commit }),
    ]
}

/// What Kafka's rule gives: per partition, the last record in the log among plain commits
/// and transactional ones whose transaction committed; pending, those with no marker yet.
fn model(ops: &[Op]) -> (BTreeMap<i32, i64>, BTreeMap<i32, bool>) {
    let mut committed = BTreeMap::new();
    let mut pending = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        match o {
            Op::Plain { partition, offset } => {
                committed.insert(*partition, (i, *offset));
            }
            Op::Txn {
                producer,
                partition,
                ..
            } => {
                let marker = ops[i + 1..]
                    .iter()
                    .enumerate()
                    .find_map(|(j, later)| match later {
                        Op::Marker {
                            producer: p,
                            commit,
                        } if p == producer => Some((i + 1 + j, *commit)),
                        _ => None,
                    });
                pending.entry(*partition).or_insert(false);
                if marker.is_none() {
                    pending.insert(*partition, true);
                }
            }
            Op::Marker { .. } => {}
        }
    }
    // Committed transactional records: the last record of a producer for a partition in
    // each transaction counts, at its own position.
    for (i, o) in ops.iter().enumerate() {
        let Op::Txn {
            producer,
            partition,
            offset,
        } = o
        else {
            continue;
        };
        let ends = ops[i + 1..].iter().find_map(|later| match later {
            Op::Marker {
                producer: p,
                commit,
            } if p == producer => Some(*commit),
            _ => None,
        });
        if ends == Some(true) && committed.get(partition).is_none_or(|(at, _)| *at < i) {
            committed.insert(*partition, (i, *offset));
        }
    }
    let committed = committed.into_iter().map(|(p, (_, o))| (p, o)).collect();
    (committed, pending)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever order transactional commits, markers and plain commits come in, the committed
    /// offsets are those of the last record in the log among plain commits and committed
    /// transactions, pending offsets are those of open transactions, and a replay of the log
    /// gives the same.
    #[test]
    fn committed_offsets_follow_the_log_order(ops in proptest::collection::vec(op(), 0..40)) {
        let mut t = TxnHarness::new();
        let group = "order_processing_group";
        for o in &ops {
            match o {
                Op::Txn { producer, partition, offset } => {
                    let codes = t.txn_commit(&txn_request(group, *producer, None, &[("orders", *partition, *offset)]));
                    prop_assert_eq!(codes, vec![0]);
                }
                Op::Plain { partition, offset } => t.plain_commit(group, *partition, *offset),
                Op::Marker { producer, commit } => t.marker(*producer, *commit),
            }
        }
        let (committed, pending) = model(&ops);
        let replayed = t.replayed();
        for partition in 0..3 {
            prop_assert_eq!(t.committed(group, partition), committed.get(&partition).copied());
            let open = pending.get(&partition).copied().unwrap_or(false);
            prop_assert_eq!(t.h.c.has_pending_transactional_offsets(group, "orders", partition), open);
            prop_assert_eq!(replayed.has_pending_transactional_offsets(group, "orders", partition), open);
        }
        prop_assert_eq!(replayed.all_committed_offsets(), t.h.c.all_committed_offsets());
    }
}

#[test]
fn deleting_a_group_or_a_topic_drops_its_pending_offsets() {
    let mut t = TxnHarness::new();
    let group = "order_processing_group";
    t.plain_commit(group, 0, 10);
    t.txn_commit(&txn_request(
        group,
        7,
        None,
        &[("orders", 0, 11), ("orders", 2, 12)],
    ));
    let request = kafka_protocol::messages::DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(s(group))]);
    let reply = t.h.c.delete_groups(&RequestContext::version(2), &request);
    assert_eq!(reply.response.results[0].error_code, code::NONE);
    // Kafka's `deleteAllOffsets`: one tombstone per committed offset, one per partition only
    // pending, then the group's.
    assert_eq!(reply.effects.records.len(), 3);
    t.absorb_plain(reply.effects);
    assert!(!t.h.c.has_pending_transactional_offsets(group, "orders", 0));
    assert!(!t.h.c.has_pending_transactional_offsets(group, "orders", 2));
    t.marker(7, true);
    assert_eq!(t.h.c.all_committed_offsets(), BTreeMap::new());
    assert_eq!(t.replayed().all_committed_offsets(), BTreeMap::new());

    // A topic gone from the metadata takes the pending offsets of its partitions along.
    t.txn_commit(&txn_request("payments_group", 8, None, &[("orders", 1, 5)]));
    let fx = t.h.c.on_topics_missing(&|topic| topic != "orders");
    assert_eq!(fx.records.len(), 1);
    t.absorb_plain(fx);
    assert!(
        !t.h.c
            .has_pending_transactional_offsets("payments_group", "orders", 1)
    );
    t.marker(8, true);
    assert!(
        t.h.c
            .committed_offset("payments_group", "orders", 1)
            .is_none()
    );
}
