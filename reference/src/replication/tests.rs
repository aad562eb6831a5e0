//! Replica state machine tests, one rule each: brokers b1..b3 replicate `orders-0`.

use std::collections::BTreeMap;

use crate::record_batch::{NewRecord, encode_producer_batch};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::Compression;
use uuid::Uuid;

use super::*;
use crate::controller::{NO_LEADER, PartitionRegistration};
use crate::log::{LeaderEpochCache, Log, LogConfig};

/// Far from 0, so that "caught up within the lag" never holds by accident (Kafka's clock is
/// the wall clock).
const T0: i64 = 1_000_000_000;
const LAG_MS: i64 = 10_000;
const TOPIC: Uuid = Uuid::from_u64_pair(7, 7);

struct Epochs(BTreeMap<i32, i64>);

impl BrokerEpochs for Epochs {
    fn alive_broker_epoch(&self, broker_id: i32) -> Option<i64> {
        self.0.get(&broker_id).copied()
    }
}

fn all_alive() -> Epochs {
    Epochs([1, 2, 3].into_iter().map(|b| (b, epoch_of(b))).collect())
}

fn epoch_of(broker: i32) -> i64 {
    i64::from(broker) * 100
}

fn replica(broker: i32, min_insync_replicas: i32) -> Partition {
    let config = ReplicationConfig {
        replica_lag_time_max_ms: LAG_MS,
        min_insync_replicas,
    };
    let log = Log::in_memory(LogConfig::default(), T0);
    Partition::new(
        TOPIC,
        0,
        broker,
        epoch_of(broker),
        config,
        log,
        LeaderEpochCache::new(),
        0,
    )
}

fn registration(
    leader: i32,
    isr: &[i32],
    leader_epoch: i32,
    partition_epoch: i32,
) -> PartitionRegistration {
    PartitionRegistration {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

fn batch(values: &[&str]) -> Vec<u8> {
    let records: Vec<NewRecord> = values
        .iter()
        .map(|value| NewRecord {
            key: None,
            value: Some(value.as_bytes().to_vec().into()),
            timestamp: T0,
        })
        .collect();
    encode_producer_batch(&records, Compression::None)
        .expect("encode")
        .to_vec()
}

/// Three replicas with b1 leading at epoch 0 and everyone in the ISR.
fn cluster(min_insync_replicas: i32) -> Vec<Partition> {
    let state = registration(1, &[1, 2, 3], 0, 0);
    let mut replicas: Vec<Partition> = (1..=3).map(|b| replica(b, min_insync_replicas)).collect();
    replicas[0].make_leader(&state, &all_alive(), T0);
    replicas[1].make_follower(&state, T0);
    replicas[2].make_follower(&state, T0);
    replicas
}

fn produce(
    leader: &mut Partition,
    values: &[&str],
    acks: i16,
    token: u64,
    now_ms: i64,
) -> Result<(i64, Effects), i16> {
    leader
        .append_as_leader(
            &mut batch(values),
            acks,
            token,
            30_000,
            &all_alive(),
            now_ms,
        )
        .map(|(info, effects)| (info.base_offset, effects))
}

/// One request of `follower` (index) to the leader (index) and its answer.
fn round(replicas: &mut [Partition], leader: usize, follower: usize, now_ms: i64) -> Effects {
    let Some(request) = replicas[follower].next_follower_request(1 << 20) else {
        return Effects::default();
    };
    match request {
        FollowerRequest::OffsetForLeaderEpoch {
            current_leader_epoch,
            leader_epoch,
        } => {
            let answer =
                replicas[leader].last_offset_for_leader_epoch(current_leader_epoch, leader_epoch);
            replicas[follower].handle_offset_for_leader_epoch(&request, answer, now_ms);
            Effects::default()
        }
        FollowerRequest::Fetch(fetch) => {
            let (response, effects) =
                replicas[leader].fetch_from_follower(&fetch, &all_alive(), now_ms);
            replicas[follower].handle_fetch_response(&fetch, &response, now_ms);
            effects
        }
    }
}

fn records_of(partition: &Partition) -> bytes::Bytes {
    partition.log().read(0, usize::MAX, true).unwrap()
}

#[test]
fn acks_all_completes_when_the_whole_isr_has_the_batch() {
    let mut r = cluster(2);
    let (base, effects) = produce(&mut r[0], &["order-1", "order-2"], -1, 7, T0).unwrap();
    assert_eq!(base, 0);
    assert!(effects.completions.is_empty());
    let mut completions = Vec::new();
    for _ in 0..2 {
        completions.extend(round(&mut r, 0, 1, T0 + 1).completions);
        assert!(completions.is_empty(), "b3 has not fetched yet");
    }
    for _ in 0..2 {
        completions.extend(round(&mut r, 0, 2, T0 + 2).completions);
    }
    assert_eq!(
        completions,
        [(
            7,
            ProduceResult {
                error_code: 0,
                base_offset: 0
            }
        )]
    );
    assert_eq!(r[0].high_watermark(), 2);
    // Followers learn the high watermark on their next fetch.
    round(&mut r, 0, 1, T0 + 3);
    assert_eq!(r[1].high_watermark(), 2);
    assert_eq!(records_of(&r[1]), records_of(&r[0]));
}

#[test]
fn acks_all_is_refused_with_fewer_in_sync_replicas_than_the_minimum() {
    let mut r = [replica(1, 2), replica(2, 2), replica(3, 2)];
    r[0].make_leader(&registration(1, &[1], 0, 0), &all_alive(), T0);
    assert_eq!(
        produce(&mut r[0], &["order-1"], -1, 1, T0).unwrap_err(),
        ResponseError::NotEnoughReplicas.code()
    );
    // acks=1 is still appended; the high watermark waits for the ISR to reach the minimum.
    let (base, _) = produce(&mut r[0], &["order-1"], 1, 2, T0).unwrap();
    assert_eq!((base, r[0].high_watermark()), (0, 0));
}

#[test]
fn a_lagging_follower_leaves_the_isr_and_rejoins_when_caught_up() {
    let mut r = cluster(1);
    produce(&mut r[0], &["order-1"], 1, 1, T0).unwrap();
    round(&mut r, 0, 1, T0 + 1);
    round(&mut r, 0, 1, T0 + 2);
    assert_eq!(r[0].high_watermark(), 0, "b3 (in the ISR) has not fetched");
    assert_eq!(r[0].tick(T0 + LAG_MS).alter_partition, None);
    let shrink = r[0].tick(T0 + LAG_MS + 1).alter_partition.expect("shrink");
    let members: Vec<i32> = shrink.new_isr.iter().map(|s| s.broker_id).collect();
    assert_eq!(members, [1, 2]);
    assert_eq!(shrink.new_isr[1].broker_epoch, epoch_of(2));
    // Until the controller answers, b3 still holds the high watermark back.
    assert_eq!(r[0].pending_alter_partition(), Some(&shrink));
    assert_eq!(r[0].high_watermark(), 0);
    let committed = registration(1, &[1, 2], 0, 1);
    let effects =
        r[0].handle_alter_partition_response(&shrink, Ok(committed), &all_alive(), T0 + LAG_MS + 2);
    assert!(effects.high_watermark_changed);
    assert_eq!((r[0].isr(), r[0].high_watermark()), (Some(&[1, 2][..]), 1));
    // b3 comes back: its first fetch reaches the high watermark, so it is proposed again.
    round(&mut r, 0, 2, T0 + LAG_MS + 3);
    let expand = round(&mut r, 0, 2, T0 + LAG_MS + 4)
        .alter_partition
        .expect("expand");
    let members: Vec<i32> = expand.new_isr.iter().map(|s| s.broker_id).collect();
    assert_eq!(
        (members.as_slice(), expand.partition_epoch),
        (&[1, 2, 3][..], 1)
    );
}

#[test]
fn acks_all_times_out_when_the_isr_shrinks_below_the_minimum_while_waiting() {
    let mut r = [replica(1, 2), replica(2, 2), replica(3, 2)];
    let state = registration(1, &[1, 2], 0, 0);
    r[0].make_leader(&state, &all_alive(), T0);
    r[1].make_follower(&state, T0);
    produce(&mut r[0], &["order-1"], -1, 9, T0).unwrap();
    let shrink = r[0]
        .tick(T0 + LAG_MS + 1)
        .alter_partition
        .expect("b2 never fetched");
    let effects = r[0].handle_alter_partition_response(
        &shrink,
        Ok(registration(1, &[1], 0, 1)),
        &all_alive(),
        T0 + LAG_MS + 2,
    );
    assert!(
        effects.completions.is_empty(),
        "the high watermark stops under min ISR"
    );
    let timed_out = r[0].tick(T0 + 30_000);
    assert_eq!(
        timed_out.completions,
        [(
            9,
            ProduceResult {
                error_code: ResponseError::RequestTimedOut.code(),
                base_offset: 0
            }
        )]
    );
    assert_eq!(r[0].high_watermark(), 0);
}

#[test]
fn requests_are_fenced_by_leader_epoch() {
    let mut r = cluster(1);
    let state = registration(1, &[1, 2, 3], 3, 3);
    r[0].make_leader(&state, &all_alive(), T0);
    let fetch = |epoch| ReplicaFetch {
        replica_id: 2,
        replica_epoch: epoch_of(2),
        fetch_offset: 0,
        current_leader_epoch: epoch,
        last_fetched_epoch: -1,
        log_start_offset: 0,
        max_bytes: 1024,
    };
    let code = |r: &mut Partition, epoch| {
        r.fetch_from_follower(&fetch(epoch), &all_alive(), T0)
            .0
            .error_code
    };
    assert_eq!(code(&mut r[0], 2), ResponseError::FencedLeaderEpoch.code());
    assert_eq!(code(&mut r[0], 4), ResponseError::UnknownLeaderEpoch.code());
    assert_eq!(code(&mut r[0], 3), 0);
    assert_eq!(
        code(&mut r[1], 0),
        ResponseError::NotLeaderOrFollower.code()
    );
    assert_eq!(
        produce(&mut r[1], &["order-1"], -1, 1, T0).unwrap_err(),
        ResponseError::NotLeaderOrFollower.code()
    );
    // A fetch from b2's previous incarnation is refused.
    let old = ReplicaFetch {
        replica_epoch: epoch_of(2) - 1,
        ..fetch(3)
    };
    let (response, _) = r[0].fetch_from_follower(&old, &all_alive(), T0);
    assert_eq!(
        response.error_code,
        ResponseError::NotLeaderOrFollower.code()
    );
    let stranger = ReplicaFetch {
        replica_id: 9,
        ..fetch(3)
    };
    let (response, _) = r[0].fetch_from_follower(&stranger, &all_alive(), T0);
    assert_eq!(
        response.error_code,
        ResponseError::UnknownLeaderEpoch.code()
    );
}

/// b1 leads epoch 0 and writes a batch only it has; b2 takes over at epoch 1 and writes
/// another; b1 follows and must replace its unreplicated batch with b2's.
#[test]
fn a_deposed_leader_truncates_its_divergent_suffix_by_leader_epoch() {
    let mut r = cluster(1);
    produce(&mut r[0], &["order-1"], 1, 1, T0).unwrap();
    round(&mut r, 0, 1, T0);
    produce(&mut r[0], &["order-2-lost"], 1, 2, T0).unwrap();
    assert_eq!(r[0].log_end_offset(), 2);
    let epoch1 = registration(2, &[2, 3], 1, 1);
    r[1].make_leader(&epoch1, &all_alive(), T0 + 1);
    produce(&mut r[1], &["order-2", "order-3"], 1, 3, T0 + 1).unwrap();
    let effects = r[0].make_follower(&epoch1, T0 + 1);
    assert!(effects.completions.is_empty());
    let Some(FollowerRequest::OffsetForLeaderEpoch {
        leader_epoch: 0,
        current_leader_epoch: 1,
    }) = r[0].next_follower_request(1024)
    else {
        panic!("a new follower truncates first");
    };
    round(&mut r, 1, 0, T0 + 2);
    assert_eq!(r[0].log_end_offset(), 1, "cut at the end of epoch 0 on b2");
    round(&mut r, 1, 0, T0 + 3);
    assert_eq!(records_of(&r[0]), records_of(&r[1]));
    assert_eq!(r[0].epoch_cache().entries(), r[1].epoch_cache().entries());
}

/// KIP-279: the leader answers with an epoch the follower never saw; the follower cuts to its
/// own end of an earlier epoch and asks again.
#[test]
fn truncation_walks_back_through_epochs_the_follower_does_not_know() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a"], 1, 1, T0).unwrap();
    round(&mut r, 0, 1, T0);
    round(&mut r, 0, 2, T0);
    // b1 writes at epochs 0 and 2 (its epoch 2 entries replicated nowhere).
    let epoch2 = registration(1, &[1], 2, 2);
    r[0].make_leader(&epoch2, &all_alive(), T0);
    produce(&mut r[0], &["b-lost", "c-lost"], 1, 2, T0).unwrap();
    // Meanwhile b2 led epoch 1 and wrote more, then leads again at epoch 3.
    let epoch1 = registration(2, &[2, 3], 1, 1);
    r[1].make_leader(&epoch1, &all_alive(), T0);
    produce(&mut r[1], &["b"], 1, 3, T0).unwrap();
    let epoch3 = registration(2, &[2, 3], 3, 3);
    r[1].make_leader(&epoch3, &all_alive(), T0);
    produce(&mut r[1], &["c"], 1, 4, T0).unwrap();
    r[0].make_follower(&epoch3, T0 + 1);
    // b1 asks for epoch 2; b2 knows epochs 0, 1, 3 and answers (1, 2).
    round(&mut r, 1, 0, T0 + 2);
    assert!(matches!(
        r[0].next_follower_request(1024),
        Some(FollowerRequest::OffsetForLeaderEpoch {
            leader_epoch: 0,
            ..
        })
    ));
    round(&mut r, 1, 0, T0 + 3);
    round(&mut r, 1, 0, T0 + 4);
    assert_eq!(records_of(&r[0]), records_of(&r[1]));
}

#[test]
fn a_fetch_naming_a_diverging_epoch_is_told_where_to_truncate() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a", "b"], 1, 1, T0).unwrap();
    r[0].make_leader(&registration(1, &[1, 2, 3], 1, 1), &all_alive(), T0);
    produce(&mut r[0], &["c"], 1, 2, T0).unwrap();
    let fetch = ReplicaFetch {
        replica_id: 2,
        replica_epoch: epoch_of(2),
        fetch_offset: 3,
        current_leader_epoch: 1,
        last_fetched_epoch: 0,
        log_start_offset: 0,
        max_bytes: 1024,
    };
    let (response, effects) = r[0].fetch_from_follower(&fetch, &all_alive(), T0);
    let diverging = response.diverging_epoch.expect("epoch 0 ends at 2 here");
    assert_eq!((diverging.leader_epoch, diverging.end_offset), (0, 2));
    assert!(response.records.is_empty() && effects == Effects::default());
    assert_eq!(
        r[0].follower_progress(2).unwrap().log_end_offset,
        -1,
        "no progress noted"
    );
}

#[test]
fn consumers_read_only_below_the_high_watermark() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a"], 1, 1, T0).unwrap();
    let read = r[0].fetch_from_consumer(0, 0, 1 << 20);
    assert_eq!(
        (read.error_code, read.high_watermark, read.records.len()),
        (0, 0, 0)
    );
    for follower in [1, 2] {
        round(&mut r, 0, follower, T0);
        round(&mut r, 0, follower, T0);
    }
    let read = r[0].fetch_from_consumer(0, 0, 1 << 20);
    assert_eq!((read.high_watermark, read.records), (1, records_of(&r[0])));
    assert_eq!(
        r[0].fetch_from_consumer(5, 0, 1024).error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    assert_eq!(
        r[1].fetch_from_consumer(0, 0, 1024).error_code,
        ResponseError::NotLeaderOrFollower.code()
    );
}

#[test]
fn a_new_leaders_latest_offset_waits_for_its_high_watermark() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a", "b"], 1, 1, T0).unwrap();
    round(&mut r, 0, 1, T0);
    assert_eq!(r[1].high_watermark(), 0);
    r[1].make_leader(&registration(2, &[2, 3], 1, 1), &all_alive(), T0);
    assert_eq!(
        r[1].latest_offset(1),
        Err(ResponseError::OffsetNotAvailable.code())
    );
    r[2].make_follower(&registration(2, &[2, 3], 1, 1), T0);
    for _ in 0..3 {
        round(&mut r, 1, 2, T0 + 1);
    }
    assert_eq!(r[1].latest_offset(1), Ok(2));
}

#[test]
fn alter_partition_answers() {
    let mut r = cluster(1);
    let shrink = r[0]
        .tick(T0 + LAG_MS + 1)
        .alter_partition
        .expect("nobody fetched");
    // The controller has moved on: wait for metadata, keep the request in flight.
    let effects = r[0].handle_alter_partition_response(
        &shrink,
        Err(ResponseError::InvalidUpdateVersion.code()),
        &all_alive(),
        T0,
    );
    assert_eq!(
        (effects, r[0].pending_alter_partition()),
        (Effects::default(), Some(&shrink))
    );
    // A transport-level or unexpected error: send again.
    let effects = r[0].handle_alter_partition_response(
        &shrink,
        Err(ResponseError::NotController.code()),
        &all_alive(),
        T0,
    );
    assert_eq!(effects.alter_partition.as_ref(), Some(&shrink));
    // Rejected outright: back to the committed ISR.
    r[0].handle_alter_partition_response(
        &shrink,
        Err(ResponseError::IneligibleReplica.code()),
        &all_alive(),
        T0,
    );
    assert_eq!(
        (r[0].pending_alter_partition(), r[0].isr()),
        (None, Some(&[1, 2, 3][..]))
    );
    // New metadata at the same epochs also settles a pending change.
    let shrink = r[0]
        .tick(T0 + LAG_MS + 1)
        .alter_partition
        .expect("still lagging");
    r[0].make_leader(
        &registration(1, &[1, 2], 0, 1),
        &all_alive(),
        T0 + LAG_MS + 2,
    );
    assert_eq!(
        (r[0].pending_alter_partition(), r[0].isr()),
        (None, Some(&[1, 2][..]))
    );
    let late = r[0].handle_alter_partition_response(
        &shrink,
        Ok(registration(1, &[1], 0, 1)),
        &all_alive(),
        T0,
    );
    assert_eq!((late, r[0].isr()), (Effects::default(), Some(&[1, 2][..])));
}

#[test]
fn losing_leadership_answers_parked_produces_and_old_metadata_is_ignored() {
    let mut r = cluster(2);
    r[0].make_leader(&registration(1, &[1, 2, 3], 0, 2), &all_alive(), T0);
    produce(&mut r[0], &["a"], -1, 5, T0).unwrap();
    let stale = r[0].make_follower(&registration(2, &[2, 3], 1, 1), T0);
    assert!(
        stale.completions.is_empty() && r[0].is_leader(),
        "partition epoch 1 is older"
    );
    let effects = r[0].make_follower(&registration(2, &[2, 3], 1, 3), T0);
    assert_eq!(
        effects.completions,
        [(
            5,
            ProduceResult {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                base_offset: 0
            }
        )]
    );
    assert_eq!(r[0].leader_id(), 2);
    r[0].make_follower(&registration(NO_LEADER, &[2], 2, 4), T0);
    assert_eq!(
        r[0].next_follower_request(1024),
        None,
        "no leader to fetch from"
    );
}

#[test]
fn retention_on_the_leader_moves_the_followers_log_start() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a", "b"], 1, 1, T0).unwrap();
    produce(&mut r[0], &["c"], 1, 2, T0).unwrap();
    for _ in 0..2 {
        for follower in [1, 2] {
            round(&mut r, 0, follower, T0);
        }
    }
    assert_eq!(r[0].high_watermark(), 3);
    // Only the leader's retention is short: the followers keep everything by their own.
    r[0].set_log_config(LogConfig {
        retention_ms: 1_000,
        ..LogConfig::default()
    });
    assert!(r[0].apply_retention(T0 + 10_000).unwrap() > 0);
    assert_eq!(r[0].log().log_start_offset(), 3);
    assert_eq!(r[1].apply_retention(T0 + 10_000).unwrap(), 0);
    assert_eq!(r[1].log().log_start_offset(), 0);
    // The next fetch response carries the leader's log start offset.
    round(&mut r, 0, 1, T0 + 10_000);
    assert_eq!(r[1].log().log_start_offset(), 3);
    assert_eq!(
        r[1].epoch_cache().entries().first().map(|e| e.start_offset),
        Some(3)
    );
    assert_eq!(
        r[1].fetch_from_consumer(0, 0, 1024).error_code,
        ResponseError::NotLeaderOrFollower.code()
    );
}

/// A batch of producer 7 at `epoch` from `sequence`, transactional or not.
fn producer_batch(values: &[&str], epoch: i16, sequence: i32, transactional: bool) -> Vec<u8> {
    let mut bytes = batch(values);
    crate::record_batch::set_producer(&mut bytes, 7, epoch, sequence, transactional);
    bytes
}

fn append_from(
    leader: &mut Partition,
    mut records: Vec<u8>,
    origin: AppendOrigin,
) -> Result<i64, i16> {
    leader
        .append_with_origin(&mut records, 1, 0, 30_000, &all_alive(), T0, origin)
        .map(|(info, _)| info.base_offset)
}

#[test]
fn a_coordinators_batches_skip_the_sequence_check_but_not_the_epoch_check() {
    use crate::record_batch::{ControlType, encode_control_batch};
    let mut replicas = cluster(1);
    let leader = &mut replicas[0];
    let client = AppendOrigin::Client;
    let coordinator = AppendOrigin::Coordinator;
    assert_eq!(
        append_from(leader, producer_batch(&["a", "b"], 3, 0, true), client),
        Ok(0)
    );
    // A client's gap is refused; a coordinator's batch without a sequence is appended.
    assert_eq!(
        append_from(leader, producer_batch(&["c"], 3, 5, true), client),
        Err(ResponseError::OutOfOrderSequenceNumber.code())
    );
    assert_eq!(
        append_from(leader, producer_batch(&["c"], 3, -1, true), coordinator),
        Ok(2)
    );
    // Both are fenced by an older epoch.
    assert_eq!(
        append_from(leader, producer_batch(&["d"], 2, -1, true), coordinator),
        Err(ResponseError::InvalidProducerEpoch.code())
    );
    let marker = encode_control_batch(7, 2, 0, ControlType::Commit, T0).to_vec();
    assert_eq!(
        append_from(leader, marker, coordinator),
        Err(ResponseError::InvalidProducerEpoch.code())
    );
    // Clients may not write markers; coordinators may.
    let marker = encode_control_batch(7, 3, 0, ControlType::Commit, T0).to_vec();
    assert_eq!(
        append_from(leader, marker.clone(), client),
        Err(ResponseError::InvalidRecord.code())
    );
    assert_eq!(append_from(leader, marker, coordinator), Ok(3));
    assert_eq!(leader.log_end_offset(), 4);
}

#[test]
fn the_last_stable_offset_waits_for_open_transactions_and_replicated_markers() {
    use crate::record_batch::{ControlType, encode_control_batch};
    let mut replicas = cluster(1);
    let client = AppendOrigin::Client;
    assert_eq!(
        append_from(&mut replicas[0], batch(&["plain"]), client),
        Ok(0)
    );
    let txn = producer_batch(&["a", "b"], 0, 0, true);
    assert_eq!(append_from(&mut replicas[0], txn, client), Ok(1));
    for follower in [1, 2] {
        round(&mut replicas, 0, follower, T0);
        round(&mut replicas, 0, follower, T0);
    }
    assert_eq!(replicas[0].high_watermark(), 3);
    assert_eq!(
        replicas[0].last_stable_offset(),
        1,
        "the transaction is open"
    );
    assert_eq!(replicas[0].log().ongoing_transaction(7), Some(1));
    // The commit marker: stable only once the high watermark passes it.
    let mut marker = encode_control_batch(7, 0, 1, ControlType::Commit, T0).to_vec();
    let appended = replicas[0].append_marker(&mut marker, 1, 0, 30_000, &all_alive(), T0, 0);
    assert_eq!(appended.map(|(info, _)| info.base_offset), Ok(3));
    assert_eq!(replicas[0].last_stable_offset(), 1);
    round(&mut replicas, 0, 1, T0);
    round(&mut replicas, 0, 2, T0);
    round(&mut replicas, 0, 1, T0);
    assert_eq!(replicas[0].high_watermark(), 3);
    assert_eq!(
        replicas[0].last_stable_offset(),
        1,
        "b3 has not fetched past the marker"
    );
    round(&mut replicas, 0, 2, T0);
    assert_eq!(replicas[0].high_watermark(), 4);
    assert_eq!(replicas[0].last_stable_offset(), 4);
    // A follower's LSO comes from its own producer state and the leader's high watermark.
    assert_eq!(
        replicas[1].last_stable_offset(),
        1,
        "b2 has high watermark 3"
    );
    round(&mut replicas, 0, 1, T0);
    assert_eq!(replicas[1].high_watermark(), 4);
    assert_eq!(replicas[1].last_stable_offset(), 4);
    assert_eq!(
        replicas[2].last_stable_offset(),
        1,
        "b3 has not learnt the new HW"
    );
    round(&mut replicas, 0, 2, T0);
    assert_eq!(replicas[2].last_stable_offset(), 4);
}

#[test]
fn markers_are_fenced_by_producer_and_coordinator_epochs() {
    use crate::record_batch::{ControlType, encode_control_batch};
    let mut replicas = cluster(1);
    let leader = &mut replicas[0];
    let mut marker_of = |epoch: i16, coordinator_epoch: i32, tv: i8| {
        let mut bytes = encode_control_batch(7, epoch, coordinator_epoch, ControlType::Abort, T0);
        leader
            .append_marker(&mut bytes, 1, 0, 30_000, &all_alive(), T0, tv)
            .map(|(info, _)| info.base_offset)
    };
    assert_eq!(marker_of(2, 5, 0), Ok(0));
    assert_eq!(
        marker_of(2, 4, 0),
        Err(ResponseError::TransactionCoordinatorFenced.code())
    );
    assert_eq!(
        marker_of(1, 5, 0),
        Err(ResponseError::InvalidProducerEpoch.code())
    );
    // Transaction version 2: a marker bumps the epoch; the same epoch is a retry only
    // while no transaction is open.
    assert_eq!(marker_of(2, 5, 2), Ok(1));
    let leader = &mut replicas[0];
    let txn = producer_batch(&["a"], 2, 0, true);
    assert_eq!(append_from(leader, txn, AppendOrigin::Client), Ok(2));
    let mut same = encode_control_batch(7, 2, 5, ControlType::Commit, T0);
    assert_eq!(
        leader
            .append_marker(&mut same, 1, 0, 30_000, &all_alive(), T0, 2)
            .map(|(info, _)| info.base_offset),
        Err(ResponseError::InvalidProducerEpoch.code())
    );
    let mut bumped = encode_control_batch(7, 3, 5, ControlType::Commit, T0);
    assert_eq!(
        leader
            .append_marker(&mut bumped, 1, 0, 30_000, &all_alive(), T0, 2)
            .map(|(info, _)| info.base_offset),
        Ok(3)
    );
    assert_eq!(leader.log().ongoing_transaction(7), None);
}

#[test]
fn read_committed_consumers_read_below_the_lso_with_the_aborted_transactions() {
    use crate::record_batch::{ControlType, encode_control_batch};
    let mut replicas = cluster(1);
    let client = AppendOrigin::Client;
    let leader = &mut replicas[0];
    assert_eq!(
        append_from(leader, producer_batch(&["a", "b"], 0, 0, true), client),
        Ok(0)
    );
    let mut abort = encode_control_batch(7, 0, 0, ControlType::Abort, T0);
    let appended = leader.append_marker(&mut abort, 1, 0, 30_000, &all_alive(), T0, 0);
    assert_eq!(appended.map(|(info, _)| info.base_offset), Ok(2));
    assert_eq!(
        append_from(leader, producer_batch(&["c"], 0, 2, true), client),
        Ok(3)
    );
    for follower in [1, 2] {
        round(&mut replicas, 0, follower, T0);
        round(&mut replicas, 0, follower, T0);
    }
    let leader = &replicas[0];
    assert_eq!(
        (leader.high_watermark(), leader.last_stable_offset()),
        (4, 3)
    );
    let committed = IsolationLevel::ReadCommitted;
    let read = leader.fetch_from_consumer_with_isolation(0, 0, 1 << 20, committed);
    let aborted = vec![crate::log::AbortedTxn {
        producer_id: 7,
        first_offset: 0,
    }];
    assert_eq!(read.aborted_transactions, Some(aborted.clone()));
    assert_eq!(crate::record_batch::end_offset_of(&read.records), Some(3));
    assert_eq!(read.last_stable_offset, 3);
    // At the LSO nothing is read, and no aborted transaction comes with nothing.
    let read = leader.fetch_from_consumer_with_isolation(3, 0, 1 << 20, committed);
    assert_eq!(
        (read.records.len(), read.aborted_transactions),
        (0, Some(vec![]))
    );
    // read_uncommitted reads to the high watermark, without the list.
    let read = leader.fetch_from_consumer(0, 0, 1 << 20);
    assert_eq!(crate::record_batch::end_offset_of(&read.records), Some(4));
    assert_eq!(read.aborted_transactions, None);
    // A follower answers from its own state, once it has learnt the high watermark.
    round(&mut replicas, 0, 1, T0);
    let follower = &replicas[1];
    let read = follower.read_for_consumer(0, 1 << 20, committed);
    assert_eq!(read.map(|(_, aborted)| aborted), Ok(Some(aborted)));
    assert_eq!(follower.last_stable_offset(), 3);
}

/// One step of the replicated history below.
#[derive(Debug, Clone)]
enum TxnStep {
    /// Producer 0..2 writes a batch, transactional or not (transactional while it is open).
    Data(usize, bool),
    /// Its end marker, commit or abort.
    End(usize, bool),
    /// Follower b2 or b3 fetches once.
    Fetch(usize),
}

fn txn_step() -> impl proptest::strategy::Strategy<Value = TxnStep> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0usize..2, any::<bool>()).prop_map(|(p, t)| TxnStep::Data(p, t)),
        1 => (0usize..2, any::<bool>()).prop_map(|(p, c)| TxnStep::End(p, c)),
        4 => (1usize..=2).prop_map(TxnStep::Fetch),
    ]
}

proptest::proptest! {
    /// On the leader and on each follower, whatever the interleaving of appends, markers and
    /// fetches: the last stable offset never decreases, is never above that replica's high
    /// watermark, and never above the first offset of a transaction still open.
    #[test]
    fn every_replicas_lso_stays_below_its_high_watermark_and_open_transactions(
        steps in proptest::collection::vec(txn_step(), 1..60),
    ) {
        use crate::record_batch::{ControlType, encode_control_batch, set_producer};
        let mut replicas = cluster(1);
        let mut sequences = [0i32; 2];
        let mut open: [Option<i64>; 2] = [None, None];
        let mut last_lso = [0i64; 3];
        for step in steps {
            match step {
                TxnStep::Data(p, transactional) => {
                    let transactional = transactional || open[p].is_some();
                    let mut bytes = batch(&["payment"]);
                    set_producer(&mut bytes, 7 + p as i64, 0, sequences[p], transactional);
                    let base = append_from(&mut replicas[0], bytes, AppendOrigin::Client);
                    proptest::prop_assert!(base.is_ok(), "{:?}", base);
                    sequences[p] += 1;
                    if transactional && open[p].is_none() {
                        open[p] = base.ok();
                    }
                }
                TxnStep::End(p, commit) => {
                    let control = ControlType::from_commit(commit);
                    let mut marker = encode_control_batch(7 + p as i64, 0, 0, control, T0);
                    let leader = &mut replicas[0];
                    let appended =
                        leader.append_marker(&mut marker, 1, 0, 30_000, &all_alive(), T0, 0);
                    proptest::prop_assert!(appended.is_ok());
                    open[p] = None;
                }
                TxnStep::Fetch(follower) => {
                    round(&mut replicas, 0, follower, T0);
                }
            }
            for (i, replica) in replicas.iter().enumerate() {
                let lso = replica.last_stable_offset();
                proptest::prop_assert!(lso >= last_lso[i], "b{} lso went back", i + 1);
                proptest::prop_assert!(lso <= replica.high_watermark());
                for first in open.iter().flatten() {
                    proptest::prop_assert!(lso <= *first, "b{} lso {} above {}", i + 1, lso, first);
                }
                last_lso[i] = lso;
            }
        }
    }
}

/// b1 leads offsets 0..3, replicated to b2 and b3 (high watermark 3).
fn replicated_three_records() -> Vec<Partition> {
    let mut r = cluster(1);
    produce(&mut r[0], &["a", "b", "c"], 1, 1, T0).unwrap();
    for _ in 0..2 {
        for follower in [1, 2] {
            round(&mut r, 0, follower, T0);
        }
    }
    assert_eq!(r[0].high_watermark(), 3);
    r
}

#[test]
fn delete_records_moves_the_leaders_start_and_waits_for_the_followers() {
    let mut r = replicated_three_records();
    let deleted = r[0].delete_records_on_leader(2, &all_alive()).unwrap();
    assert_eq!(deleted.requested_offset, 2);
    assert_eq!(deleted.low_watermark, 0, "the followers still start at 0");
    assert_eq!(r[0].log().log_start_offset(), 2);
    assert_eq!(
        r[0].fetch_from_consumer(1, -1, 1024).error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    assert_eq!(r[0].fetch_from_consumer(2, -1, 1024).error_code, 0);
    // b2 learns the new start from its next fetch response, and reports it in the one after.
    round(&mut r, 0, 1, T0);
    assert_eq!(r[1].log().log_start_offset(), 2);
    let effects = round(&mut r, 0, 1, T0);
    assert!(effects.low_watermark_changed);
    assert_eq!(r[0].follower_progress(2).unwrap().log_start_offset, 2);
    assert_eq!(r[0].low_watermark(&all_alive()), Ok(0), "b3 still at 0");
    // A follower on a dead broker does not hold the low watermark back.
    let b3_dead = Epochs([(1, epoch_of(1)), (2, epoch_of(2))].into_iter().collect());
    assert_eq!(r[0].low_watermark(&b3_dead), Ok(2));
    round(&mut r, 0, 2, T0);
    round(&mut r, 0, 2, T0);
    assert_eq!(r[0].low_watermark(&all_alive()), Ok(2));
    // The same request again is answered at once, and never moves the start back.
    let again = r[0].delete_records_on_leader(1, &all_alive()).unwrap();
    assert_eq!((again.requested_offset, again.low_watermark), (1, 2));
    assert_eq!(r[0].log().log_start_offset(), 2);
}

#[test]
fn delete_records_at_the_high_watermark_and_beyond() {
    let mut r = replicated_three_records();
    produce(&mut r[0], &["d"], 1, 2, T0).unwrap();
    assert_eq!((r[0].high_watermark(), r[0].log_end_offset()), (3, 4));
    let out_of_range = ResponseError::OffsetOutOfRange.code();
    for offset in [4, 5, -2, i64::MIN, i64::MAX] {
        assert_eq!(
            r[0].delete_records_on_leader(offset, &all_alive()),
            Err(out_of_range),
            "offset {offset}"
        );
    }
    assert_eq!(r[0].log().log_start_offset(), 0, "errors change nothing");
    let deleted = r[0].delete_records_on_leader(-1, &all_alive()).unwrap();
    assert_eq!(deleted.requested_offset, 3, "-1 is the high watermark");
    assert_eq!(r[0].log().log_start_offset(), 3);
    assert_eq!(
        r[1].delete_records_on_leader(1, &all_alive()),
        Err(ResponseError::NotLeaderOrFollower.code())
    );
    assert_eq!(
        r[1].low_watermark(&all_alive()),
        Err(ResponseError::NotLeaderOrFollower.code())
    );
}

#[test]
fn a_follower_that_never_fetched_holds_the_low_watermark_at_minus_one() {
    let mut r = cluster(1);
    produce(&mut r[0], &["a"], 1, 1, T0).unwrap();
    assert_eq!(r[0].high_watermark(), 0);
    let deleted = r[0].delete_records_on_leader(0, &all_alive()).unwrap();
    assert_eq!((deleted.requested_offset, deleted.low_watermark), (0, -1));
}
