//! A coordinator of a cluster's broker: it serves only the groups of the `__consumer_offsets`
//! partitions it has loaded, answers COORDINATOR_LOAD_IN_PROGRESS while loading and
//! NOT_COORDINATOR elsewhere, and forgets a partition's groups when it stops leading it.

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use super::*;

const PARTITIONS: i32 = 3;

/// A coordinator that loads nothing until told to.
fn partitioned() -> Harness {
    let mut h = Harness::new(config());
    h.c = GroupCoordinator::partitioned(config(), PARTITIONS, 0);
    h
}

/// The first group id `prefix-N` that lands in `partition`.
fn group_in(partition: i32, prefix: &str) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|g| partition_for(g, PARTITIONS) == partition)
        .expect("some id lands in every partition")
}

fn load_empty(h: &mut Harness, partition: i32, epoch: i32) {
    assert!(h.c.begin_load(partition, epoch));
    let fx = h.c.complete_load(partition, epoch, h.now);
    h.absorb(fx);
}

fn fetch_error(h: &Harness, group: &str) -> i16 {
    h.fetch(group, None).groups[0].error_code
}

fn list(h: &Harness) -> ListGroupsResponse {
    h.c.list_groups(&RequestContext::version(5), &ListGroupsRequest::default())
}

#[test]
fn partitions_follow_javas_string_hash_code() {
    // Computed with Java 17: abs(s.hashCode()) % 50.
    assert_eq!(partition_for("order_processing_group", 50), 8);
    assert_eq!(partition_for("", 50), 0);
    assert_eq!(partition_for("a", 50), 47);
    assert_eq!(partition_for("zürich-group", 50), 10);
}

#[test]
fn groups_of_partitions_not_loaded_here_are_not_coordinator() {
    let mut h = partitioned();
    let group = group_in(1, "g");
    assert_eq!(h.c.partition_of(&group), Some(1));
    assert_eq!(h.c.shard_state(1), None);
    assert_eq!(
        h.commit(&group, "", -1, &[("orders", 0, 5, None)]),
        vec![code::NOT_COORDINATOR]
    );
    assert_eq!(fetch_error(&h, &group), code::NOT_COORDINATOR);
    let token = h.join(&join_request(&group, "", None));
    assert_eq!(h.joined(token).error_code, code::NOT_COORDINATOR);
    assert_eq!(h.heartbeat(&group, "m", 1), code::NOT_COORDINATOR);
    // Nothing was written for a group coordinated elsewhere.
    assert!(h.records.is_empty());
    // Loading another partition changes nothing for this one.
    load_empty(&mut h, 0, 0);
    assert_eq!(fetch_error(&h, &group), code::NOT_COORDINATOR);
}

#[test]
fn a_loading_partition_answers_load_in_progress_until_loaded() {
    let mut h = partitioned();
    let group = group_in(2, "g");
    assert!(h.c.begin_load(2, 4));
    assert_eq!(h.c.shard_state(2), Some(ShardState::Loading));
    assert_eq!(
        h.commit(&group, "", -1, &[("orders", 0, 5, None)]),
        vec![14] // COORDINATOR_LOAD_IN_PROGRESS
    );
    assert_eq!(fetch_error(&h, &group), 14);
    assert_eq!(list(&h).error_code, 14);
    let fx = h.c.complete_load(2, 4, h.now);
    h.absorb(fx);
    assert_eq!(h.c.shard_state(2), Some(ShardState::Active));
    assert_eq!(
        h.commit(&group, "", -1, &[("orders", 0, 5, None)]),
        vec![code::NONE]
    );
    let fetched = h.fetch(&group, Some(&[("orders", &[0])]));
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        5
    );
    assert_eq!(list(&h).error_code, code::NONE);
}

#[test]
fn loading_replays_one_partition_and_unloading_forgets_it() {
    // Broker A coordinates every partition and writes the log.
    let mut a = partitioned();
    for p in 0..PARTITIONS {
        load_empty(&mut a, p, 0);
    }
    let (g1, g2) = (group_in(1, "one"), group_in(2, "two"));
    let (members, generation) = a.stable_group(&g1, 2);
    assert_eq!(
        a.commit(
            &g1,
            &members[0],
            generation,
            &[("orders", 0, 42, Some("m"))]
        ),
        vec![code::NONE]
    );
    assert_eq!(
        a.commit(&g2, "", -1, &[("orders", 1, 7, None)]),
        vec![code::NONE]
    );

    // Broker B becomes leader of partition 1 only and replays its records.
    let mut b = partitioned();
    assert!(b.c.begin_load(1, 3));
    for record in &a.records {
        let group_id = match record {
            GroupRecord::OffsetCommit { group_id, .. }
            | GroupRecord::GroupMetadata { group_id, .. } => group_id,
        };
        if partition_for(group_id, PARTITIONS) == 1 {
            b.c.replay(record);
        }
    }
    let fx = b.c.complete_load(1, 3, b.now);
    b.absorb(fx);
    assert_eq!(b.c.group_state(&g1), Some(GroupState::Stable));
    let fetched = b.fetch(&g1, Some(&[("orders", &[0])]));
    let p = &fetched.groups[0].topics[0].partitions[0];
    assert_eq!((p.committed_offset, p.metadata.as_deref()), (42, Some("m")));
    // The loaded members heartbeat at their generation.
    assert_eq!(b.heartbeat(&g1, &members[1], generation), code::NONE);
    // Partition 2 is someone else's.
    assert_eq!(fetch_error(&b, &g2), code::NOT_COORDINATOR);
    assert_eq!(b.c.group_ids(), vec![g1.clone()]);

    // B loses partition 1 at a newer leader epoch: its groups and offsets leave memory,
    // and with them their timers (only the retention check is left).
    let retention_check = b.c.config().offsets_retention_check_interval_ms;
    assert!(b.c.next_deadline_ms() < Some(retention_check));
    let fx = b.c.unload_partition(1, Some(4), b.now);
    b.absorb(fx);
    assert_eq!(b.c.shard_state(1), None);
    assert!(b.c.group_ids().is_empty());
    assert!(b.c.all_committed_offsets().is_empty());
    assert_eq!(fetch_error(&b, &g1), code::NOT_COORDINATOR);
    assert_eq!(
        b.heartbeat(&g1, &members[1], generation),
        code::NOT_COORDINATOR
    );
    assert_eq!(b.c.next_deadline_ms(), Some(retention_check));
    assert!(list(&b).groups.is_empty());
}

#[test]
fn unloading_answers_the_partitions_parked_requests_and_leaves_the_others() {
    let mut h = partitioned();
    for p in 0..PARTITIONS {
        load_empty(&mut h, p, 0);
    }
    let (ga, gb) = (group_in(0, "a"), group_in(2, "b"));
    // Each group has a JoinGroup parked in its initial rebalance delay.
    let (_, parked_a) = h.join_dynamic(&ga);
    let (_, parked_b) = h.join_dynamic(&gb);
    assert!(h.is_parked(parked_a) && h.is_parked(parked_b));

    let fx = h.c.unload_partition(0, None, h.now);
    h.absorb(fx);
    assert_eq!(h.joined(parked_a).error_code, code::NOT_COORDINATOR);
    assert!(h.is_parked(parked_b));
    // The other partition's rebalance still completes on its timer.
    h.until_answered(&[parked_b]);
    assert_eq!(h.joined(parked_b).error_code, code::NONE);
    assert_eq!(h.c.group_state(&ga), None);
}

#[test]
fn epochs_order_loads_and_unloads() {
    let mut h = partitioned();
    assert!(h.c.begin_load(1, 5));
    // Leader again at a newer epoch while loading: noted, no second load.
    assert!(!h.c.begin_load(1, 6));
    // Completing at the first epoch still works (the load began then).
    let fx = h.c.complete_load(1, 5, h.now);
    h.absorb(fx);
    assert_eq!(h.c.loaded_partitions(), vec![(1, ShardState::Active, 6)]);
    // An unload from an epoch not newer than the loaded one is stale.
    let fx = h.c.unload_partition(1, Some(6), h.now);
    assert!(fx.is_empty());
    assert_eq!(h.c.shard_state(1), Some(ShardState::Active));
    let fx = h.c.unload_partition(1, Some(7), h.now);
    h.absorb(fx);
    assert_eq!(h.c.shard_state(1), None);
    // A load completed after its partition was unloaded does nothing.
    let fx = h.c.complete_load(1, 5, h.now);
    assert!(fx.is_empty());
    assert_eq!(h.c.shard_state(1), None);
}

#[test]
fn a_single_broker_coordinator_serves_every_group_and_loads_nothing() {
    let mut h = Harness::new(config());
    assert!(!h.c.begin_load(0, 1));
    assert_eq!(h.c.partition_of("g"), None);
    assert_eq!(h.c.shard_state(0), Some(ShardState::Active));
    assert_eq!(
        h.commit("g", "", -1, &[("orders", 0, 1, None)]),
        vec![code::NONE]
    );
    let fx = h.c.unload_partition(0, None, h.now);
    assert!(fx.is_empty());
    assert_eq!(fetch_error(&h, "g"), code::NONE);
}

#[test]
fn a_failed_write_answers_the_requests_it_would_have_completed_with_its_error() {
    let mut h = Harness::new(config());
    let (member, token) = h.join_dynamic("g");
    h.until_answered(&[token]);
    let joined = h.joined(token).clone();
    assert_eq!(joined.error_code, code::NONE);
    let Completion::JoinGroup(failed) = Completion::JoinGroup(joined).failed(code::NOT_COORDINATOR)
    else {
        panic!("a JoinGroup stays a JoinGroup")
    };
    assert_eq!(failed.error_code, code::NOT_COORDINATOR);
    assert_eq!(failed.member_id.as_str(), member);
    assert_eq!(failed.generation_id, -1);
    assert!(failed.members.is_empty() && failed.leader.is_empty());
    // v7+ (the harness joins with v9): a null protocol name, as Kafka's error answers.
    assert_eq!(failed.protocol_name, None);

    let synced = SyncGroupResponse::default().with_assignment(Bytes::from_static(b"p0"));
    let Completion::SyncGroup(failed) =
        Completion::SyncGroup(synced).failed(code::COORDINATOR_NOT_AVAILABLE)
    else {
        panic!("a SyncGroup stays a SyncGroup")
    };
    assert_eq!(failed.error_code, code::COORDINATOR_NOT_AVAILABLE);
    assert!(failed.assignment.is_empty());
    assert_eq!(
        Completion::Abandoned.failed(code::NOT_COORDINATOR),
        Completion::Abandoned
    );
}

#[test]
fn offsets_of_topics_gone_from_the_metadata_are_tombstoned_in_served_groups_only() {
    let mut h = partitioned();
    load_empty(&mut h, 0, 0);
    let (served, elsewhere) = (group_in(0, "s"), group_in(1, "e"));
    assert_eq!(
        h.commit(
            &served,
            "",
            -1,
            &[("orders", 0, 3, None), ("payments", 1, 4, None)]
        ),
        vec![code::NONE, code::NONE]
    );
    h.records.clear();
    // Nothing missing: nothing written.
    let fx = h.c.on_topics_missing(&|_| true);
    assert!(fx.is_empty());
    let fx = h.c.on_topics_missing(&|topic| topic != "orders");
    h.absorb(fx);
    assert_eq!(
        h.records,
        vec![GroupRecord::OffsetCommit {
            group_id: served.clone(),
            topic: "orders".into(),
            partition: 0,
            value: None,
        }]
    );
    let left: Vec<_> = h.c.all_committed_offsets().into_keys().collect();
    assert_eq!(left, vec![(served, "payments".to_string(), 1)]);
    // A group of a partition not loaded here is not this coordinator's to clean.
    assert_eq!(fetch_error(&h, &elsewhere), code::NOT_COORDINATOR);
}
