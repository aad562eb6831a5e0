//! Controller tests, one rule each: brokers b1..b3 and the `orders` topic.

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::*;

const SESSION_MS: i64 = 9_000;

fn incarnation(broker_id: i32, generation: u64) -> Uuid {
    Uuid::from_u64_pair(broker_id as u64, generation)
}

/// Registers and unfences brokers `ids` at time 0.
fn cluster(ids: &[i32]) -> (Controller, Vec<i64>) {
    let mut controller = Controller::new(ControllerConfig::default(), 42);
    let epochs: Vec<i64> = ids
        .iter()
        .map(|&id| {
            controller
                .register_broker(id, incarnation(id, 0), 0)
                .unwrap()
        })
        .collect();
    for (&id, &epoch) in ids.iter().zip(&epochs) {
        heartbeat(&mut controller, id, epoch, 0).unwrap();
    }
    (controller, epochs)
}

fn heartbeat(
    controller: &mut Controller,
    broker_id: i32,
    broker_epoch: i64,
    now_ms: i64,
) -> Result<HeartbeatReply, ApiError> {
    let offset = controller.metadata_offset();
    controller.heartbeat(
        &BrokerHeartbeat {
            broker_id,
            broker_epoch,
            current_metadata_offset: offset,
            want_fence: false,
        },
        now_ms,
    )
}

fn code(error: ResponseError) -> i16 {
    error.code()
}

#[test]
fn brokers_are_fenced_until_caught_up_and_then_unfenced() {
    let mut controller = Controller::new(ControllerConfig::default(), 1);
    let epoch = controller.register_broker(1, incarnation(1, 0), 0).unwrap();
    assert!(controller.image().broker(1).unwrap().fenced);
    let behind = BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        current_metadata_offset: epoch - 1,
        want_fence: false,
    };
    let reply = controller.heartbeat(&behind, 10).unwrap();
    assert!(reply.is_fenced && !reply.is_caught_up);
    let caught_up = BrokerHeartbeat {
        current_metadata_offset: epoch,
        ..behind
    };
    assert!(!controller.heartbeat(&caught_up, 20).unwrap().is_fenced);
    let stale = BrokerHeartbeat {
        broker_epoch: epoch + 7,
        ..caught_up
    };
    assert_eq!(
        controller.heartbeat(&stale, 30).unwrap_err().code,
        code(ResponseError::StaleBrokerEpoch)
    );
}

#[test]
fn a_new_incarnation_waits_for_the_old_session_to_expire() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    let err = controller
        .register_broker(2, incarnation(2, 1), 1_000)
        .unwrap_err();
    assert_eq!(err.code, code(ResponseError::DuplicateBrokerRegistration));
    // Re-registering the same incarnation is harmless.
    assert_eq!(
        controller.register_broker(2, incarnation(2, 0), 1_000),
        Ok(epochs[1])
    );
    let new_epoch = controller
        .register_broker(2, incarnation(2, 1), 1_000 + SESSION_MS + 1)
        .unwrap();
    assert!(new_epoch > epochs[1]);
    assert!(controller.image().broker(2).unwrap().fenced);
}

#[test]
fn create_topic_spreads_replicas_and_leaders() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 6, 3, &[]).unwrap();
    let mut leaders = [0; 4];
    for p in 0..6 {
        let partition = controller.partition("orders", p).unwrap();
        let mut replicas = partition.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, [1, 2, 3]);
        assert_eq!(partition.isr, partition.replicas);
        assert_eq!(partition.leader, partition.replicas[0]);
        assert_eq!((partition.leader_epoch, partition.partition_epoch), (0, 0));
        leaders[partition.leader as usize] += 1;
    }
    assert_eq!(leaders[1..], [2, 2, 2]);
}

#[test]
fn create_topic_errors_are_kafkas() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    let error = |c: &mut Controller, p: i32, r: i16, configs: &[(&str, &str)]| {
        c.create_topic("payments", p, r, configs).unwrap_err().code
    };
    assert_eq!(
        error(&mut controller, 1, 4, &[]),
        code(ResponseError::InvalidReplicationFactor)
    );
    assert_eq!(
        error(&mut controller, 1, 0, &[]),
        code(ResponseError::InvalidReplicationFactor)
    );
    assert_eq!(
        error(&mut controller, 0, 1, &[]),
        code(ResponseError::InvalidPartitions)
    );
    assert_eq!(
        error(&mut controller, 1, 1, &[("min.insync.replicas", "0")]),
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(
        error(&mut controller, 20_000, 1, &[]),
        code(ResponseError::PolicyViolation)
    );
    controller.create_topic("payments", -1, -1, &[]).unwrap();
    assert_eq!(
        error(&mut controller, 1, 1, &[]),
        code(ResponseError::TopicAlreadyExists)
    );
    assert_eq!(
        controller
            .create_topic("pay/ments", 1, 1, &[])
            .unwrap_err()
            .code,
        code(ResponseError::InvalidTopicException)
    );
}

#[test]
fn a_lost_leader_is_replaced_from_the_isr_with_a_new_leader_epoch() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    let before = controller.partition("orders", 0).unwrap().clone();
    let lost = before.leader;
    // Everyone else keeps heartbeating; the leader goes silent.
    for (i, id) in [1, 2, 3].into_iter().enumerate() {
        if id != lost {
            heartbeat(&mut controller, id, epochs[i], SESSION_MS).unwrap();
        }
    }
    assert_eq!(controller.tick(SESSION_MS), 0);
    assert_eq!(controller.tick(SESSION_MS + 1), 1);
    let after = controller.partition("orders", 0).unwrap();
    assert_ne!(after.leader, lost);
    assert!(before.isr.contains(&after.leader));
    assert!(!after.isr.contains(&lost));
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    assert!(after.partition_epoch > before.partition_epoch);
    assert!(controller.image().broker(lost).unwrap().fenced);
}

#[test]
fn the_last_isr_member_keeps_the_partition_until_it_returns() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    // Everyone is lost: the ISR keeps its last member, and there is no leader.
    controller.tick(SESSION_MS + 1);
    let partition = controller.partition("orders", 0).unwrap().clone();
    assert_eq!(partition.leader, NO_LEADER);
    assert_eq!(partition.isr.len(), 1);
    let last = partition.isr[0];
    let other = partition
        .replicas
        .iter()
        .copied()
        .find(|&r| r != last)
        .unwrap();
    // Another replica returning does not lead: it is not in sync.
    let epoch = controller
        .register_broker(other, incarnation(other, 1), 20_000)
        .unwrap();
    heartbeat(&mut controller, other, epoch, 20_000).unwrap();
    assert_eq!(controller.partition("orders", 0).unwrap().leader, NO_LEADER);
    // The last in-sync replica returning leads again.
    let epoch = controller
        .register_broker(last, incarnation(last, 1), 20_000)
        .unwrap();
    heartbeat(&mut controller, last, epoch, 20_000).unwrap();
    let partition = controller.partition("orders", 0).unwrap();
    assert_eq!(partition.leader, last);
}

#[test]
fn unclean_election_is_off_by_default_and_on_by_config() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    controller.tick(SESSION_MS + 1);
    let last = controller.partition("orders", 0).unwrap().isr[0];
    let other = [1, 2, 3].into_iter().find(|&r| r != last).unwrap();
    let epoch = controller
        .register_broker(other, incarnation(other, 1), 20_000)
        .unwrap();
    heartbeat(&mut controller, other, epoch, 20_000).unwrap();
    assert_eq!(controller.partition("orders", 0).unwrap().leader, NO_LEADER);
    controller
        .set_topic_config("orders", &[("unclean.leader.election.enable", "true")])
        .unwrap();
    let partition = controller.partition("orders", 0).unwrap();
    assert_eq!(
        (partition.leader, partition.isr.as_slice()),
        (other, &[other][..])
    );
}

fn alter(
    controller: &Controller,
    broker_epochs: &[i64],
    isr: &[i32],
) -> (AlterPartition, PartitionRegistration) {
    let topic_id = controller.image().topic_id("orders").unwrap();
    let partition = controller.partition("orders", 0).unwrap().clone();
    let leader = partition.leader;
    let request = AlterPartition {
        broker_id: leader,
        broker_epoch: broker_epochs[leader as usize - 1],
        topic_id,
        partition: 0,
        leader_epoch: partition.leader_epoch,
        partition_epoch: partition.partition_epoch,
        new_isr: isr
            .iter()
            .map(|&b| BrokerState {
                broker_id: b,
                broker_epoch: broker_epochs[b as usize - 1],
            })
            .collect(),
    };
    (request, partition)
}

#[test]
fn alter_partition_shrinks_and_expands_the_isr_by_partition_epoch() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    let leader = controller.partition("orders", 0).unwrap().leader;
    let follower = [1, 2, 3].into_iter().find(|&r| r != leader).unwrap();
    let (request, before) = alter(&controller, &epochs, &[leader]);
    let shrunk = controller.alter_partition(&request).unwrap();
    assert_eq!(shrunk.isr, [leader]);
    assert_eq!(shrunk.leader_epoch, before.leader_epoch);
    assert_eq!(shrunk.partition_epoch, before.partition_epoch + 1);
    // The same request again names an old partition epoch.
    assert_eq!(
        controller.alter_partition(&request),
        Err(code(ResponseError::InvalidUpdateVersion))
    );
    let (expand, _) = alter(&controller, &epochs, &[leader, follower]);
    let expanded = controller.alter_partition(&expand).unwrap();
    assert_eq!(expanded.isr, [leader, follower]);
}

#[test]
fn alter_partition_rejections() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    let leader = controller.partition("orders", 0).unwrap().leader;
    let follower = [1, 2, 3].into_iter().find(|&r| r != leader).unwrap();
    let (request, _) = alter(&controller, &epochs, &[leader, follower]);
    let reject = |c: &mut Controller, r: AlterPartition| c.alter_partition(&r).unwrap_err();
    let stale_broker = AlterPartition {
        broker_epoch: 999,
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, stale_broker),
        code(ResponseError::StaleBrokerEpoch)
    );
    let old_leader_epoch = AlterPartition {
        leader_epoch: -1,
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, old_leader_epoch),
        code(ResponseError::FencedLeaderEpoch)
    );
    let future_epoch = AlterPartition {
        leader_epoch: 5,
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, future_epoch),
        code(ResponseError::NotController)
    );
    let not_leader = AlterPartition {
        broker_id: follower,
        broker_epoch: epochs[follower as usize - 1],
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, not_leader),
        code(ResponseError::InvalidRequest)
    );
    let without_leader = AlterPartition {
        new_isr: vec![BrokerState {
            broker_id: follower,
            broker_epoch: -1,
        }],
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, without_leader),
        code(ResponseError::InvalidRequest)
    );
    let stranger = AlterPartition {
        new_isr: [leader, 9]
            .iter()
            .map(|&b| BrokerState {
                broker_id: b,
                broker_epoch: -1,
            })
            .collect(),
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, stranger),
        code(ResponseError::InvalidRequest)
    );
    let stale_follower = AlterPartition {
        new_isr: vec![
            BrokerState {
                broker_id: leader,
                broker_epoch: -1,
            },
            BrokerState {
                broker_id: follower,
                broker_epoch: 12_345,
            },
        ],
        ..request.clone()
    };
    assert_eq!(
        reject(&mut controller, stale_follower),
        code(ResponseError::IneligibleReplica)
    );
    let unknown = AlterPartition {
        topic_id: Uuid::nil(),
        ..request
    };
    assert_eq!(
        reject(&mut controller, unknown),
        code(ResponseError::UnknownTopicId)
    );
}

#[test]
fn preferred_leader_election() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    let preferred = controller
        .partition("orders", 0)
        .unwrap()
        .preferred_leader();
    assert_eq!(
        controller
            .elect_leader("orders", 0, ElectionType::Preferred)
            .unwrap_err()
            .code,
        code(ResponseError::ElectionNotNeeded)
    );
    // The preferred leader is lost, then comes back and catches up.
    for id in [1, 2, 3] {
        if id != preferred {
            heartbeat(&mut controller, id, epochs[id as usize - 1], SESSION_MS).unwrap();
        }
    }
    controller.tick(SESSION_MS + 1);
    assert_ne!(controller.partition("orders", 0).unwrap().leader, preferred);
    let epoch = controller
        .register_broker(preferred, incarnation(preferred, 1), SESSION_MS + 2)
        .unwrap();
    heartbeat(&mut controller, preferred, epoch, SESSION_MS + 2).unwrap();
    assert_eq!(
        controller
            .elect_leader("orders", 0, ElectionType::Preferred)
            .unwrap_err()
            .code,
        code(ResponseError::PreferredLeaderNotAvailable)
    );
    assert!(controller.are_partition_leaders_imbalanced());
    assert_eq!(controller.balance_partition_leaders(), 0);
    let unknown = controller
        .elect_leader("orders", 7, ElectionType::Preferred)
        .unwrap_err();
    assert_eq!(
        (unknown.code, unknown.message.as_str()),
        (
            code(ResponseError::UnknownTopicOrPartition),
            "No such partition as orders-7"
        )
    );
    let unknown = controller
        .elect_leader("nope", 0, ElectionType::Preferred)
        .unwrap_err();
    assert_eq!(unknown.message, "No such topic as nope");
    let mut epochs = epochs;
    epochs[preferred as usize - 1] = epoch;
    let partition = controller.partition("orders", 0).unwrap().clone();
    let mut isr = partition.isr.clone();
    isr.push(preferred);
    let (request, _) = alter(&controller, &epochs, &isr);
    controller.alter_partition(&request).unwrap();
    assert_eq!(controller.balance_partition_leaders(), 1);
    let partition = controller.partition("orders", 0).unwrap();
    assert!(partition.has_preferred_leader());
    assert!(!controller.are_partition_leaders_imbalanced());
}

#[test]
fn brokers_rebuild_the_controllers_image_from_records_or_a_snapshot() {
    let config = ControllerConfig {
        metadata_max_retained_records: 8,
        ..ControllerConfig::default()
    };
    let mut controller = Controller::new(config, 3);
    for id in [1, 2, 3] {
        let epoch = controller
            .register_broker(id, incarnation(id, 0), 0)
            .unwrap();
        heartbeat(&mut controller, id, epoch, 0).unwrap();
    }
    let mut early = MetadataImage::new();
    let MetadataFetch::Records(records) = controller.fetch_metadata(-1, 2) else {
        panic!("the log still starts at 0");
    };
    for record in &records {
        assert!(!matches!(
            early.apply(record),
            Applied::Stale | Applied::Gap
        ));
    }
    assert_eq!(early.offset(), 1);
    controller.create_topic("orders", 4, 3, &[]).unwrap();
    assert!(matches!(
        controller.fetch_metadata(early.offset(), 100),
        MetadataFetch::Snapshot(_)
    ));
    let mut late = MetadataImage::new();
    for record in controller.records_since(-1) {
        late.apply(&record);
    }
    // The log was trimmed: a fresh image sees a gap and needs the snapshot.
    assert!(late.offset() < controller.metadata_offset());
    let MetadataFetch::Snapshot(snapshot) = controller.fetch_metadata(-1, 100) else {
        panic!("trimmed log");
    };
    assert_eq!(*snapshot, *controller.image());
    let mut caught_up = (*snapshot).clone();
    let record = MetadataLogRecord {
        offset: caught_up.offset(),
        record: MetadataRecord::FenceBroker {
            broker_id: 1,
            broker_epoch: 0,
        },
    };
    assert_eq!(caught_up.apply(&record), Applied::Stale);
}

#[test]
fn a_batch_of_records_is_one_delta_per_partition() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    let before = controller.metadata_offset();
    let topic_id = controller.create_topic("orders", 2, 3, &[]).unwrap();
    controller.tick(SESSION_MS + 1);
    let mut image = MetadataImage::new();
    image.apply_batch(&controller.records_since(-1)[..=before as usize]);
    let changed = image.apply_batch(&controller.records_since(before));
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        [(topic_id, 0), (topic_id, 1)]
    );
    assert_eq!(image, *controller.image());
    let leader = image.partition(topic_id, 0).unwrap().leader;
    assert_eq!(leader, NO_LEADER, "every broker was lost");
}

#[test]
fn partitions_added_to_a_topic_are_placed_with_its_replication_factor() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 2, 2, &[]).unwrap();
    controller.create_partitions("orders", 5).unwrap();
    let topic = controller.image().topic_by_name("orders").unwrap();
    assert_eq!(topic.partitions.len(), 5);
    for p in &topic.partitions {
        assert_eq!(p.replicas.len(), 2);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
    }
    let shrink = controller.create_partitions("orders", 4).unwrap_err();
    assert_eq!(shrink.code, code(ResponseError::InvalidPartitions));
    let same = controller.create_partitions("orders", 5).unwrap_err();
    assert_eq!(same.code, code(ResponseError::InvalidPartitions));
    let unknown = controller.create_partitions("payments", 3).unwrap_err();
    assert_eq!(unknown.code, code(ResponseError::UnknownTopicOrPartition));
}

#[test]
fn a_deleted_topic_leaves_every_image_with_all_its_partitions() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    let kept = controller.create_topic("kept", 1, 3, &[]).unwrap();
    let topic_id = controller.create_topic("orders", 3, 2, &[]).unwrap();
    let mut broker = MetadataImage::new();
    broker.apply_batch(&controller.records_since(-1));
    let before = controller.metadata_offset();

    assert_eq!(controller.delete_topic(topic_id).unwrap(), "orders");
    let changed = broker.apply_batch(&controller.records_since(before));
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        [(topic_id, 0), (topic_id, 1), (topic_id, 2)],
        "every partition of the topic changed: brokers drop their replicas"
    );
    assert_eq!(broker, *controller.image());
    assert!(broker.topic(topic_id).is_none());
    assert!(broker.topic_id("orders").is_none());
    assert!(controller.partition("orders", 0).is_none());
    assert!(broker.topic(kept).is_some(), "other topics stay");

    let again = controller.delete_topic(topic_id).unwrap_err();
    assert_eq!(again.code, code(ResponseError::UnknownTopicId));
    // The name is free again; the new topic is another topic (another id).
    let recreated = controller.create_topic("orders", 1, 1, &[]).unwrap();
    assert_ne!(recreated, topic_id);
    // Broker sessions and fencing never touch a deleted topic's partitions.
    controller.tick(SESSION_MS + 1);
    assert!(controller.image().topic(topic_id).is_none());
}

#[test]
fn a_new_topic_name_may_not_collide_with_another_in_dots_and_underscores() {
    let (mut controller, _) = cluster(&[1, 2, 3]);
    controller.create_topic("orders.eu", 1, 1, &[]).unwrap();
    let collides = controller.create_topic("orders_eu", 1, 1, &[]).unwrap_err();
    assert_eq!(collides.code, code(ResponseError::InvalidTopicException));
    assert_eq!(
        collides.message,
        "Topic 'orders_eu' collides with existing topic: orders.eu"
    );
    let exists = controller.create_topic("orders.eu", 1, 1, &[]).unwrap_err();
    assert_eq!(exists.code, code(ResponseError::TopicAlreadyExists));
    controller.create_topic("orders-eu", 1, 1, &[]).unwrap();
    controller.create_topic("orderseu", 1, 1, &[]).unwrap();
}

#[test]
fn leader_balancing_runs_one_check_interval_after_leaders_became_imbalanced() {
    let (mut controller, mut epochs) = cluster(&[1, 2, 3]);
    controller.create_topic("orders", 1, 3, &[]).unwrap();
    let mut balancing = LeaderBalancing::new(Some(1_000));
    let mut disabled = LeaderBalancing::new(None);
    assert_eq!(balancing.run(&mut controller, 0), None);
    let preferred = controller
        .partition("orders", 0)
        .unwrap()
        .preferred_leader();
    for id in [1, 2, 3] {
        if id != preferred {
            heartbeat(&mut controller, id, epochs[id as usize - 1], SESSION_MS).unwrap();
        }
    }
    let lost = SESSION_MS + 1;
    controller.tick(lost);
    assert!(controller.are_partition_leaders_imbalanced());
    // Imbalanced: the first check is due one interval later, and finds nothing to move.
    assert_eq!(balancing.run(&mut controller, lost as u64), None);
    assert_eq!(balancing.run(&mut controller, lost as u64 + 999), None);
    assert_eq!(balancing.run(&mut controller, lost as u64 + 1_000), Some(0));
    // The preferred replica is back in the ISR; the next check is one interval after the last.
    let back = lost + 1_100;
    let epoch = controller
        .register_broker(preferred, incarnation(preferred, 1), back)
        .unwrap();
    heartbeat(&mut controller, preferred, epoch, back).unwrap();
    epochs[preferred as usize - 1] = epoch;
    let mut isr = controller.partition("orders", 0).unwrap().isr.clone();
    isr.push(preferred);
    let (request, _) = alter(&controller, &epochs, &isr);
    controller.alter_partition(&request).unwrap();
    let before = controller.partition("orders", 0).unwrap().clone();
    assert_ne!(before.leader, preferred);
    assert_eq!(balancing.run(&mut controller, lost as u64 + 1_999), None);
    for now in [lost as u64 + 2_000, lost as u64 + 60_000] {
        assert_eq!(disabled.run(&mut controller, now), None);
    }
    assert_eq!(controller.partition("orders", 0).unwrap(), &before);
    assert_eq!(balancing.run(&mut controller, lost as u64 + 2_000), Some(1));
    let after = controller.partition("orders", 0).unwrap();
    assert_eq!(after.leader, preferred);
    assert!(after.leader_epoch > before.leader_epoch);
    // Balanced: nothing is scheduled any more.
    assert_eq!(balancing.run(&mut controller, lost as u64 + 10_000), None);
    assert_eq!(balancing, LeaderBalancing::new(Some(1_000)));
}

#[test]
fn manual_assignments_keep_their_order_and_need_an_unfenced_replica() {
    let (mut controller, epochs) = cluster(&[1, 2, 3]);
    // Broker 3 goes silent and is fenced; brokers 1 and 2 keep their sessions.
    for (i, id) in [1, 2].into_iter().enumerate() {
        heartbeat(&mut controller, id, epochs[i], SESSION_MS).unwrap();
    }
    assert_eq!(controller.tick(SESSION_MS + 1), 1);
    let assigned = [(0, vec![3, 1]), (1, vec![2, 3])];
    controller
        .create_topic_assigned("orders", -1, -1, &assigned, &[])
        .unwrap();
    let p0 = controller.partition("orders", 0).unwrap();
    assert_eq!(
        (p0.replicas.clone(), p0.isr.clone(), p0.leader),
        (vec![3, 1], vec![1], 1)
    );
    let p1 = controller.partition("orders", 1).unwrap();
    assert_eq!(
        (p1.replicas.clone(), p1.isr.clone(), p1.leader),
        (vec![2, 3], vec![2], 2)
    );
    // Only the fenced broker: refused, as Kafka refuses it, and nothing recorded.
    let before = controller.metadata_offset();
    let fenced = controller
        .create_topic_assigned("payments", -1, -1, &[(0, vec![3])], &[])
        .unwrap_err();
    assert_eq!(fenced.code, code(ResponseError::InvalidReplicaAssignment));
    assert_eq!(
        fenced.message,
        "All brokers specified in the manual partition assignment for partition 0 are fenced or in controlled shutdown."
    );
    assert_eq!(controller.metadata_offset(), before, "nothing recorded");
    let grown = controller
        .create_partitions_assigned("orders", 3, Some(&[vec![3, 2]]))
        .map(|()| controller.partition("orders", 2).unwrap().clone())
        .unwrap();
    assert_eq!((grown.replicas, grown.leader), (vec![3, 2], 2));
    let growth_offset = controller.metadata_offset();
    assert!(growth_offset > before);
    let refused = controller
        .create_partitions_assigned("orders", 4, Some(&[vec![3, 3]]))
        .unwrap_err();
    assert_eq!(refused.code, code(ResponseError::InvalidReplicaAssignment));
    assert_eq!(
        controller.metadata_offset(),
        growth_offset,
        "nothing recorded"
    );
}
