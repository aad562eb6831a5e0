//! Properties: records round-trip, hostile bytes never panic, and replaying the records
//! of any sequence of operations rebuilds the coordinator's transactions.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// What a coordinator remembers after a load: all but the last epoch (not in the log).
/// A v0 value (a TV0 cluster) has no previous or next producer id nor client version.
fn loaded_view(
    mds: Vec<&TransactionMetadata>,
    level: TransactionVersion,
) -> Vec<TransactionMetadata> {
    mds.into_iter()
        .map(|m| {
            let mut m = TransactionMetadata {
                last_producer_epoch: NO_PRODUCER_EPOCH,
                ..m.clone()
            };
            if level.log_value_version() == 0 {
                m.previous_producer_id = NO_PRODUCER_ID;
                m.next_producer_id = NO_PRODUCER_ID;
                m.client_transaction_version = TransactionVersion::Tv0;
            }
            m
        })
        .collect()
}

fn arb_value() -> impl Strategy<Value = TransactionLogValue> {
    let parts = proptest::option::of(proptest::collection::vec(
        (
            "[a-z._-]{0,12}",
            proptest::collection::vec(any::<i32>(), 0..4),
        ),
        0..4,
    ));
    (
        0i16..=1,
        any::<(i64, i64, i64, i16, i16)>(),
        any::<(i32, i8, i64, i64, i16)>(),
        parts,
    )
        .prop_map(
            |(
                version,
                (pid, prev, next, epoch, next_epoch),
                (timeout, status, last, start, tv),
                parts,
            )| {
                let flexible = version == 1;
                TransactionLogValue {
                    version,
                    producer_id: pid,
                    previous_producer_id: if flexible { prev } else { -1 },
                    next_producer_id: if flexible { next } else { -1 },
                    producer_epoch: epoch,
                    next_producer_epoch: if flexible { next_epoch } else { -1 },
                    transaction_timeout_ms: timeout,
                    transaction_status: status,
                    transaction_partitions: parts,
                    transaction_last_update_timestamp_ms: last,
                    transaction_start_timestamp_ms: start,
                    client_transaction_version: if flexible { tv } else { 0 },
                }
            },
        )
}

proptest! {
    #[test]
    fn records_round_trip(id in "\\PC{0,20}", value in proptest::option::of(arb_value())) {
        let record = TransactionRecord { transactional_id: id, value };
        let key = record.key();
        let bytes = record.value();
        prop_assert_eq!(TransactionRecord::decode(&key, bytes.as_deref()), Ok(record));
    }

    #[test]
    fn decoding_any_bytes_never_panics(key in proptest::collection::vec(any::<u8>(), 0..40),
                                       value in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = TransactionRecord::decode(&key, Some(&value));
    }

    /// Any sequence of operations, then a fresh coordinator replaying the records written,
    /// holds the same transactions (but the last epoch, which Kafka does not write).
    #[test]
    fn replay_rebuilds_the_same_state(level in 0i16..=2, ops in proptest::collection::vec(arb_op(), 1..40)) {
        let level = TransactionVersion::from_level(level).unwrap();
        let mut f = Fixture::new(level);
        let mut now = START_MS;
        for op in ops {
            now += 1_000;
            run(&mut f, op, &mut now);
        }
        let replayed = f.replayed();
        prop_assert_eq!(
            loaded_view(replayed.all_metadata(), level),
            loaded_view(f.coordinator.all_metadata(), level)
        );
    }
}

/// Values with a known status and client version, and epochs near the edges.
fn arb_loadable_value() -> impl Strategy<Value = TransactionLogValue> {
    let epochs = prop_oneof![
        Just(-1i16),
        Just(0),
        Just(i16::MAX - 1),
        Just(i16::MAX),
        any::<i16>()
    ];
    (arb_value(), 0i8..8, 0i16..3, epochs, 0i64..5000).prop_map(
        |(mut v, status, tv, epoch, pid)| {
            v.transaction_status = status;
            v.producer_epoch = epoch;
            v.producer_id = pid;
            if v.version == 1 {
                v.client_transaction_version = tv;
            }
            v
        },
    )
}

proptest! {
    /// Whatever a log holds, loading it and then serving any requests never panics.
    #[test]
    fn any_loaded_value_then_any_requests_never_panic(
        level in 0i16..=2,
        values in proptest::collection::vec((0..3usize, arb_loadable_value()), 0..4),
        ops in proptest::collection::vec(arb_op(), 0..20),
    ) {
        let mut f = Fixture::new(TransactionVersion::from_level(level).unwrap());
        for (id, value) in values {
            let p = f.coordinator.partition_of(IDS[id]);
            f.coordinator.unload_partition(p, None);
            f.coordinator.begin_load(p, 7);
            let record = TransactionRecord { transactional_id: IDS[id].to_owned(), value: Some(value) };
            let _ = f.coordinator.replay(p, &record);
            f.coordinator.complete_load(p, 7);
        }
        let mut now = START_MS;
        for op in ops {
            run(&mut f, op, &mut now);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Any epoch (a hostile or confused client), for AddPartitions, EndTxn and KIP-360's
    /// InitProducerId at once.
    Hostile {
        id: usize,
        epoch: i16,
        commit: bool,
        tv2: bool,
    },
    Init {
        id: usize,
        with_epoch: bool,
    },
    Add {
        id: usize,
        tv2: bool,
        stale: bool,
    },
    End {
        id: usize,
        commit: bool,
        tv2: bool,
        stale: bool,
    },
    Complete {
        id: usize,
    },
    Wait {
        ms: i64,
    },
    Timeouts,
    Expire,
}

const IDS: [&str; 3] = [TXN, "orders-tx", "x"];

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, any::<bool>()).prop_map(|(id, with_epoch)| Op::Init { id, with_epoch }),
        (0..3usize, any::<bool>(), any::<bool>()).prop_map(|(id, tv2, stale)| Op::Add {
            id,
            tv2,
            stale
        }),
        (0..3usize, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(id, commit, tv2, stale)| Op::End {
                id,
                commit,
                tv2,
                stale
            }
        ),
        (0..3usize).prop_map(|id| Op::Complete { id }),
        (0..3usize, any::<i16>(), any::<bool>(), any::<bool>()).prop_map(
            |(id, epoch, commit, tv2)| Op::Hostile {
                id,
                epoch,
                commit,
                tv2
            }
        ),
        (0..120_000i64).prop_map(|ms| Op::Wait { ms }),
        Just(Op::Timeouts),
        Just(Op::Expire),
    ]
}

fn run(f: &mut Fixture, op: Op, now: &mut i64) {
    let current = |f: &Fixture, id: usize| {
        f.coordinator
            .metadata(IDS[id])
            .map_or((1, 0), |m| (m.producer_id, m.producer_epoch))
    };
    let tv = |tv2: bool| {
        if tv2 {
            TransactionVersion::Tv2
        } else {
            TransactionVersion::Tv0
        }
    };
    match op {
        Op::Init { id, with_epoch } => {
            let expected = with_epoch.then(|| current(f, id));
            let next_id = &mut f.next_id;
            let mut source = || {
                *next_id += 1;
                Ok(*next_id)
            };
            let out =
                f.coordinator
                    .init_producer_id(IDS[id], TIMEOUT_MS, expected, &mut source, *now);
            f.keep(out);
        }
        Op::Add { id, tv2, stale } => {
            let (pid, epoch) = current(f, id);
            let epoch = if stale {
                epoch.saturating_sub(1)
            } else {
                epoch
            };
            let parts = BTreeSet::from([TopicPartition::new("orders", id as i32)]);
            let out = f
                .coordinator
                .add_partitions(IDS[id], pid, epoch, &parts, tv(tv2), *now);
            f.keep(out);
        }
        Op::End {
            id,
            commit,
            tv2,
            stale,
        } => {
            let (pid, epoch) = current(f, id);
            let epoch = if stale {
                epoch.saturating_sub(1)
            } else {
                epoch
            };
            let mut next_id = f.next_id;
            let mut source = || {
                next_id += 1;
                Ok(next_id)
            };
            let out =
                f.coordinator
                    .end_txn(IDS[id], pid, epoch, commit, tv(tv2), &mut source, *now);
            f.next_id = next_id;
            f.keep(out);
        }
        Op::Complete { id } => {
            let out = f.coordinator.complete_markers(IDS[id], 7, *now);
            f.keep(out);
        }
        Op::Hostile {
            id,
            epoch,
            commit,
            tv2,
        } => {
            let (pid, _) = current(f, id);
            let parts = BTreeSet::from([TopicPartition::new("orders", 9)]);
            let out = f
                .coordinator
                .add_partitions(IDS[id], pid, epoch, &parts, tv(tv2), *now);
            f.keep(out);
            let mut next_id = f.next_id;
            let mut source = || {
                next_id += 1;
                Ok(next_id)
            };
            let ended =
                f.coordinator
                    .end_txn(IDS[id], pid, epoch, commit, tv(tv2), &mut source, *now);
            let expected = Some((pid, epoch));
            let inited =
                f.coordinator
                    .init_producer_id(IDS[id], TIMEOUT_MS, expected, &mut source, *now);
            f.next_id = next_id;
            f.keep(ended);
            f.keep(inited);
        }
        Op::Wait { ms } => *now += ms,
        Op::Timeouts => {
            let out = f.coordinator.abort_timed_out(*now);
            f.keep(out);
        }
        Op::Expire => {
            *now += f.coordinator.config().transactional_id_expiration_ms;
            let out = f.coordinator.expire_transactional_ids(*now);
            f.keep(out);
        }
    }
}
