//! Tests of the transaction coordinator: the happy paths of TV0 and TV2, fencing, EndTxn
//! on Empty, timeouts, expiration, load / unload, the record format, and replay.

use std::collections::BTreeSet;

use super::*;
use kafka_protocol::error::ResponseError;

mod props;
mod wire;

const TXN: &str = "payments-processor";
const TIMEOUT_MS: i32 = 60_000;
const PARTITIONS: i32 = 50;
const START_MS: i64 = 1_000_000;

fn err(e: ResponseError) -> i16 {
    e.code()
}

/// A coordinator leading every partition at leader epoch 7, and a producer id source.
pub(super) struct Fixture {
    coordinator: TransactionCoordinator,
    next_id: i64,
    /// Every record written so far, in order.
    log: Vec<(i32, TransactionRecord)>,
}

impl Fixture {
    fn new(level: TransactionVersion) -> Fixture {
        let config = TransactionConfig {
            transaction_version_level: level,
            ..TransactionConfig::default()
        };
        let mut coordinator = TransactionCoordinator::new(config);
        for p in 0..PARTITIONS {
            assert!(coordinator.begin_load(p, 7));
            assert!(coordinator.complete_load(p, 7).markers.is_empty());
        }
        Fixture {
            coordinator,
            next_id: 4000,
            log: Vec::new(),
        }
    }

    fn keep<R>(&mut self, out: Outcome<R>) -> (R, Vec<TxnMarker>) {
        self.log.extend(out.records);
        (out.response, out.markers)
    }

    fn init(&mut self, id: &str, expected: Option<(i64, i16)>, now: i64) -> InitProducerIdResult {
        let next_id = &mut self.next_id;
        let mut source = || {
            *next_id += 1;
            Ok(*next_id)
        };
        let out = self
            .coordinator
            .init_producer_id(id, TIMEOUT_MS, expected, &mut source, now);
        self.keep(out).0
    }

    fn add(&mut self, pid: i64, epoch: i16, topic: &str, tv: TransactionVersion, now: i64) -> i16 {
        let parts = BTreeSet::from([TopicPartition::new(topic, 0), TopicPartition::new(topic, 3)]);
        let out = self
            .coordinator
            .add_partitions(TXN, pid, epoch, &parts, tv, now);
        self.keep(out).0
    }

    fn end(
        &mut self,
        pid: i64,
        epoch: i16,
        commit: bool,
        tv: TransactionVersion,
        now: i64,
    ) -> (EndTxnResult, Vec<TxnMarker>) {
        let next_id = &mut self.next_id;
        let mut source = || {
            *next_id += 1;
            Ok(*next_id)
        };
        let out = self
            .coordinator
            .end_txn(TXN, pid, epoch, commit, tv, &mut source, now);
        self.keep(out)
    }

    fn complete(&mut self, now: i64) -> bool {
        let out = self.coordinator.complete_markers(TXN, 7, now);
        self.keep(out).0
    }

    fn md(&self) -> TransactionMetadata {
        self.coordinator.metadata(TXN).expect("known").clone()
    }

    /// A fresh coordinator that replayed this one's log.
    fn replayed(&self) -> TransactionCoordinator {
        let mut fresh = TransactionCoordinator::new(self.coordinator.config().clone());
        for p in 0..PARTITIONS {
            fresh.begin_load(p, 8);
        }
        for (p, record) in &self.log {
            let key = record.key();
            let value = record.value();
            let decoded = TransactionRecord::decode(&key, value.as_deref()).expect("decodes");
            assert_eq!(&decoded, record);
            fresh.replay(*p, &decoded).expect("replays");
        }
        for p in 0..PARTITIONS {
            fresh.complete_load(p, 8);
        }
        fresh
    }
}

#[test]
fn partition_of_a_transactional_id_is_javas_hash() {
    // Java: Math.abs("payments-processor".hashCode()) % 50, as for group ids.
    assert_eq!(partition_for(TXN, 50), crate::group::partition_for(TXN, 50));
    assert_eq!(partition_for("a", 50), 47);
}

#[test]
fn commit_and_abort_with_tv0() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    let init = f.init(TXN, None, START_MS);
    assert_eq!(
        (init.error_code, init.producer_id, init.producer_epoch),
        (0, 4001, 0)
    );
    assert_eq!(f.md().state, TransactionState::Empty);

    assert_eq!(f.add(4001, 0, "payments", tv0, START_MS + 1), 0);
    let md = f.md();
    assert_eq!(md.state, TransactionState::Ongoing);
    assert_eq!(md.txn_start_timestamp_ms, START_MS + 1);
    assert_eq!(md.topic_partitions.len(), 2);
    // Adding what is already in the transaction writes nothing.
    let before = f.log.len();
    assert_eq!(f.add(4001, 0, "payments", tv0, START_MS + 2), 0);
    assert_eq!(f.log.len(), before);

    let (end, markers) = f.end(4001, 0, true, tv0, START_MS + 3);
    assert_eq!(
        end,
        EndTxnResult {
            error_code: 0,
            producer_id: -1,
            producer_epoch: -1
        }
    );
    assert_eq!(markers.len(), 1);
    assert!(markers[0].commit);
    assert_eq!(
        (markers[0].producer_id, markers[0].producer_epoch),
        (4001, 0)
    );
    assert_eq!(markers[0].coordinator_epoch, 7);
    assert_eq!(markers[0].partitions.len(), 2);
    assert_eq!(f.md().state, TransactionState::PrepareCommit);
    // While the markers are written: a retry waits, an abort too, AddPartitions too.
    let concurrent = err(ResponseError::ConcurrentTransactions);
    assert_eq!(
        f.end(4001, 0, true, tv0, START_MS + 4).0.error_code,
        concurrent
    );
    assert_eq!(
        f.end(4001, 0, false, tv0, START_MS + 4).0.error_code,
        concurrent
    );
    assert_eq!(f.add(4001, 0, "payments", tv0, START_MS + 4), concurrent);
    assert!(f.complete(START_MS + 5));
    let md = f.md();
    assert_eq!(md.state, TransactionState::CompleteCommit);
    assert!(md.topic_partitions.is_empty());
    assert_eq!(md.producer_epoch, 0);
    // A repeated commit is answered NONE; an abort of it is INVALID_TXN_STATE.
    assert_eq!(f.end(4001, 0, true, tv0, START_MS + 6).0.error_code, 0);
    let invalid = err(ResponseError::InvalidTxnState);
    assert_eq!(
        f.end(4001, 0, false, tv0, START_MS + 6).0.error_code,
        invalid
    );

    // Next transaction, aborted.
    assert_eq!(f.add(4001, 0, "refunds", tv0, START_MS + 10), 0);
    assert_eq!(f.md().txn_start_timestamp_ms, START_MS + 10);
    let (end, markers) = f.end(4001, 0, false, tv0, START_MS + 11);
    assert_eq!(end.error_code, 0);
    assert!(!markers[0].commit);
    assert!(f.complete(START_MS + 12));
    assert_eq!(f.md().state, TransactionState::CompleteAbort);
    assert_eq!(f.md().producer_epoch, 0, "TV0 never bumps at EndTxn");
    // The log holds v0 values at TV0.
    assert!(
        f.log
            .iter()
            .all(|(_, r)| r.value.as_ref().unwrap().version == 0)
    );
}

#[test]
fn commit_and_abort_with_tv2_bump_the_epoch() {
    let tv2 = TransactionVersion::Tv2;
    let mut f = Fixture::new(tv2);
    let init = f.init(TXN, None, START_MS);
    assert_eq!((init.producer_id, init.producer_epoch), (4001, 0));
    assert_eq!(f.add(4001, 0, "payments", tv2, START_MS + 1), 0);
    let (end, markers) = f.end(4001, 0, true, tv2, START_MS + 2);
    // The answer carries the epoch to use next; the markers the bumped one.
    assert_eq!(
        (end.error_code, end.producer_id, end.producer_epoch),
        (0, 4001, 1)
    );
    assert_eq!(markers[0].producer_epoch, 1);
    assert_eq!(f.md().state, TransactionState::PrepareCommit);
    assert!(f.complete(START_MS + 3));
    let md = f.md();
    assert_eq!(
        (md.state, md.producer_epoch, md.last_producer_epoch),
        (TransactionState::CompleteCommit, 1, 0)
    );
    // A retry of that EndTxn (the old epoch) is answered NONE with the current epoch.
    let retry = f.end(4001, 0, true, tv2, START_MS + 4).0;
    assert_eq!((retry.error_code, retry.producer_epoch), (0, 1));
    // An abort with no partition added is allowed in TV2 and completes at once.
    let (end, markers) = f.end(4001, 1, false, tv2, START_MS + 5);
    assert_eq!((end.error_code, end.producer_epoch), (0, 2));
    assert!(markers.is_empty());
    assert_eq!(f.md().state, TransactionState::CompleteAbort);
    // A commit of nothing is not.
    let invalid = err(ResponseError::InvalidTxnState);
    assert_eq!(
        f.end(4001, 2, true, tv2, START_MS + 6).0.error_code,
        invalid
    );
    // An older epoch that is not a retry is fenced.
    let fenced = err(ResponseError::ProducerFenced);
    assert_eq!(
        f.end(4001, 0, false, tv2, START_MS + 6).0.error_code,
        fenced
    );
    assert!(
        f.log
            .iter()
            .all(|(_, r)| r.value.as_ref().unwrap().version == 1)
    );
}

#[test]
fn tv2_epoch_overflow_moves_to_the_next_producer_id() {
    let tv2 = TransactionVersion::Tv2;
    let mut f = Fixture::new(tv2);
    f.init(TXN, None, START_MS);
    // Bring the producer to the last usable epoch through the log, as a reload would.
    let mut md = f.md();
    md.producer_epoch = i16::MAX - 1;
    let mut c = TransactionCoordinator::new(f.coordinator.config().clone());
    let p = c.partition_of(TXN);
    c.begin_load(p, 7);
    c.replay(p, &TransactionRecord::of(&md, 1)).unwrap();
    c.complete_load(p, 7);
    f.coordinator = c;
    assert_eq!(f.add(4001, i16::MAX - 1, "payments", tv2, START_MS + 1), 0);
    let (end, _) = f.end(4001, i16::MAX - 1, true, tv2, START_MS + 2);
    assert_eq!(
        (end.error_code, end.producer_id, end.producer_epoch),
        (0, 4002, 0)
    );
    assert_eq!(f.md().next_producer_id, 4002);
    assert!(f.complete(START_MS + 3));
    let md = f.md();
    assert_eq!(
        (md.producer_id, md.producer_epoch, md.previous_producer_id),
        (4002, 0, 4001)
    );
    assert_eq!(md.next_producer_id, NO_PRODUCER_ID);
    // A retry from the old id at its last epoch is recognised.
    let retry = f.end(4001, i16::MAX - 1, true, tv2, START_MS + 4).0;
    assert_eq!(
        (retry.error_code, retry.producer_id, retry.producer_epoch),
        (0, 4002, 0)
    );
}

#[test]
fn a_second_init_fences_the_first_producer() {
    for level in [TransactionVersion::Tv0, TransactionVersion::Tv2] {
        let tv0 = TransactionVersion::Tv0;
        let mut f = Fixture::new(level);
        f.init(TXN, None, START_MS);
        assert_eq!(f.add(4001, 0, "payments", tv0, START_MS + 1), 0);
        // A new instance with the same transactional id: the open transaction is aborted
        // first, one epoch up, and the new instance is told to retry.
        let second = f.init(TXN, None, START_MS + 2);
        assert_eq!(
            second.error_code,
            err(ResponseError::ConcurrentTransactions)
        );
        let md = f.md();
        assert_eq!(
            (md.state, md.producer_epoch),
            (TransactionState::PrepareAbort, 1)
        );
        let last = f.log.last().unwrap().1.value.clone().unwrap();
        assert_eq!(last.transaction_status, TransactionState::PrepareAbort.id());
        // Still aborting: the retry waits.
        let again = f.init(TXN, None, START_MS + 3);
        assert_eq!(again.error_code, err(ResponseError::ConcurrentTransactions));
        assert!(f.complete(START_MS + 4));
        let third = f.init(TXN, None, START_MS + 5);
        assert_eq!(
            (third.error_code, third.producer_id, third.producer_epoch),
            (0, 4001, 2)
        );
        // The old producer, at epoch 0, is fenced everywhere.
        let fenced = err(ResponseError::ProducerFenced);
        assert_eq!(f.add(4001, 0, "payments", tv0, START_MS + 6), fenced);
        assert_eq!(f.end(4001, 0, true, tv0, START_MS + 6).0.error_code, fenced);
        let tv2 = TransactionVersion::Tv2;
        assert_eq!(f.end(4001, 0, true, tv2, START_MS + 6).0.error_code, fenced);
        // ... and so is its KIP-360 InitProducerId with its old epoch.
        assert_eq!(
            f.init(TXN, Some((4001, 0)), START_MS + 7).error_code,
            fenced
        );
        // Another producer id is not this transaction's.
        let mapping = err(ResponseError::InvalidProducerIdMapping);
        assert_eq!(f.add(9999, 2, "payments", tv0, START_MS + 8), mapping);
        assert_eq!(
            f.init(TXN, Some((9999, 2)), START_MS + 8).error_code,
            fenced
        );
    }
}

#[test]
fn kip_360_init_with_current_epoch_bumps_and_a_retry_keeps_it() {
    let mut f = Fixture::new(TransactionVersion::Tv2);
    f.init(TXN, None, START_MS);
    let bumped = f.init(TXN, Some((4001, 0)), START_MS + 1);
    assert_eq!((bumped.error_code, bumped.producer_epoch), (0, 1));
    // The same request again (its answer was lost): the same epoch.
    let retry = f.init(TXN, Some((4001, 0)), START_MS + 2);
    assert_eq!((retry.error_code, retry.producer_epoch), (0, 1));
}

#[test]
fn end_txn_on_empty_and_unknown_ids() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    f.init(TXN, None, START_MS);
    let invalid = err(ResponseError::InvalidTxnState);
    assert_eq!(
        f.end(4001, 0, true, tv0, START_MS + 1).0.error_code,
        invalid
    );
    assert_eq!(
        f.end(4001, 0, false, tv0, START_MS + 1).0.error_code,
        invalid
    );
    let out = f
        .coordinator
        .add_partitions("nobody", 1, 0, &BTreeSet::new(), tv0, START_MS);
    assert_eq!(out.response, err(ResponseError::InvalidProducerIdMapping));
    let out = f
        .coordinator
        .add_partitions("", 1, 0, &BTreeSet::new(), tv0, START_MS);
    assert_eq!(out.response, err(ResponseError::InvalidRequest));
    let mut none = || Err(ResponseError::UnknownServerError);
    let out = f
        .coordinator
        .init_producer_id(TXN, 900_001, None, &mut none, START_MS);
    assert_eq!(
        out.response.error_code,
        err(ResponseError::InvalidTransactionTimeout)
    );
    let out = f
        .coordinator
        .init_producer_id(TXN, 0, None, &mut none, START_MS);
    assert_eq!(
        out.response.error_code,
        err(ResponseError::InvalidTransactionTimeout)
    );
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut f = Fixture::new(TransactionVersion::Tv0);
    f.init(TXN, None, START_MS);
    let out = f
        .coordinator
        .add_offsets(TXN, 4001, 0, "order_processing_group", START_MS + 1);
    assert_eq!(out.response, 0);
    let expected = TopicPartition::new(crate::group::OFFSETS_TOPIC, 8);
    assert!(f.md().topic_partitions.contains(&expected));
}

#[test]
fn verify_partitions_reports_what_is_in_the_transaction() {
    let tv2 = TransactionVersion::Tv2;
    let mut f = Fixture::new(tv2);
    f.init(TXN, None, START_MS);
    f.add(4001, 0, "payments", tv2, START_MS + 1);
    let asked = BTreeSet::from([
        TopicPartition::new("payments", 0),
        TopicPartition::new("payments", 1),
    ]);
    let got = f.coordinator.verify_partitions(TXN, 4001, 0, &asked);
    let abortable = err(ResponseError::TransactionAbortable);
    assert_eq!(
        got,
        vec![
            (TopicPartition::new("payments", 0), 0),
            (TopicPartition::new("payments", 1), abortable)
        ]
    );
    let got = f.coordinator.verify_partitions(TXN, 4001, 5, &asked);
    assert!(
        got.iter()
            .all(|(_, e)| *e == err(ResponseError::ProducerFenced))
    );
}

#[test]
fn timed_out_transactions_are_aborted() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    f.init(TXN, None, START_MS);
    f.add(4001, 0, "payments", tv0, START_MS);
    let out = f
        .coordinator
        .abort_timed_out(START_MS + i64::from(TIMEOUT_MS));
    assert!(out.response.is_empty(), "not past the timeout yet");
    let out = f
        .coordinator
        .abort_timed_out(START_MS + i64::from(TIMEOUT_MS) + 1);
    let (aborted, markers) = f.keep(out);
    assert_eq!(aborted, vec![TXN.to_owned()]);
    assert_eq!((markers[0].commit, markers[0].producer_epoch), (false, 1));
    assert_eq!(f.md().state, TransactionState::PrepareAbort);
    // The producer that timed out is fenced.
    let fenced = err(ResponseError::ProducerFenced);
    assert_eq!(
        f.end(4001, 0, true, tv0, START_MS + 70_000).0.error_code,
        fenced
    );
    assert!(f.complete(START_MS + 70_001));
    assert_eq!(f.md().state, TransactionState::CompleteAbort);
}

#[test]
fn idle_transactional_ids_expire_with_a_tombstone() {
    let mut f = Fixture::new(TransactionVersion::Tv2);
    f.init(TXN, None, START_MS);
    let expiration = f.coordinator.config().transactional_id_expiration_ms;
    assert!(
        f.coordinator
            .expire_transactional_ids(START_MS + expiration - 1)
            .response
            .is_empty()
    );
    let out = f
        .coordinator
        .expire_transactional_ids(START_MS + expiration);
    let (expired, _) = f.keep(out);
    assert_eq!(expired, vec![TXN.to_owned()]);
    assert!(f.coordinator.metadata(TXN).is_none());
    assert_eq!(f.log.last().unwrap().1, TransactionRecord::tombstone(TXN));
    assert!(f.replayed().metadata(TXN).is_none());
    let described = f.coordinator.describe(&[TXN]);
    assert_eq!(
        described[0].error_code,
        err(ResponseError::TransactionalIdNotFound)
    );
}

#[test]
fn load_unload_and_markers_resent_after_load() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    f.init(TXN, None, START_MS);
    f.add(4001, 0, "payments", tv0, START_MS + 1);
    f.end(4001, 0, true, tv0, START_MS + 2);
    let p = f.coordinator.partition_of(TXN);
    // Another broker takes over: it loads, and sends the commit markers again.
    let mut other = TransactionCoordinator::new(f.coordinator.config().clone());
    let mut none = || Err(ResponseError::UnknownServerError);
    let out = other.init_producer_id(TXN, TIMEOUT_MS, None, &mut none, START_MS);
    assert_eq!(out.response.error_code, err(ResponseError::NotCoordinator));
    assert!(other.begin_load(p, 8));
    let out = other.init_producer_id(TXN, TIMEOUT_MS, None, &mut none, START_MS);
    assert_eq!(
        out.response.error_code,
        err(ResponseError::CoordinatorLoadInProgress)
    );
    let listed = other.list(&ListFilters::default(), START_MS);
    assert_eq!(
        listed.error_code,
        err(ResponseError::CoordinatorLoadInProgress)
    );
    for (rp, record) in &f.log {
        other.replay(*rp, record).unwrap();
    }
    let markers = other.complete_load(p, 8).markers;
    assert_eq!(markers.len(), 1);
    assert!(markers[0].commit);
    assert_eq!(markers[0].coordinator_epoch, 8);
    // Markers of the old epoch complete nothing; of the new one they do.
    assert!(!other.complete_markers(TXN, 7, START_MS + 3).response);
    assert!(other.complete_markers(TXN, 8, START_MS + 3).response);
    // An unload at an older epoch is ignored; at a newer one the ids leave.
    other.unload_partition(p, Some(8));
    assert_eq!(other.shard_state(p), Some(ShardState::Active));
    other.unload_partition(p, Some(9));
    assert_eq!(other.shard_state(p), None);
    assert!(other.metadata(TXN).is_none());
}

#[test]
fn describe_and_list() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    f.init(TXN, None, START_MS);
    f.add(4001, 0, "payments", tv0, START_MS + 1);
    f.init("other", None, START_MS);
    let d = f.coordinator.describe(&[TXN, "", "missing"]);
    assert_eq!(d[0].state, "Ongoing");
    assert_eq!(d[0].topics, vec![("payments".to_owned(), vec![0, 3])]);
    assert_eq!(d[0].txn_start_timestamp_ms, START_MS + 1);
    assert_eq!(d[1].error_code, err(ResponseError::InvalidRequest));
    assert_eq!(d[2].error_code, err(ResponseError::TransactionalIdNotFound));
    let filters = ListFilters {
        states: BTreeSet::from(["Ongoing".to_owned(), "Bogus".to_owned()]),
        duration_ms: -1,
        ..ListFilters::default()
    };
    let listed = f.coordinator.list(&filters, START_MS + 2);
    assert_eq!(listed.transactions, vec![(TXN.to_owned(), 4001, "Ongoing")]);
    assert_eq!(listed.unknown_state_filters, vec!["Bogus".to_owned()]);
    let all = f.coordinator.list(
        &ListFilters {
            duration_ms: -1,
            ..ListFilters::default()
        },
        START_MS,
    );
    assert_eq!(all.transactions.len(), 2);
    let starts_with_o = |id: &str| id.starts_with('o');
    let filters = ListFilters {
        duration_ms: -1,
        transactional_id_matches: Some(&starts_with_o),
        ..ListFilters::default()
    };
    assert_eq!(
        f.coordinator.list(&filters, START_MS).transactions[0].0,
        "other"
    );
}

#[test]
fn record_bytes_are_kafkas() {
    let md = TransactionMetadata {
        transactional_id: "t".to_owned(),
        producer_id: 5,
        previous_producer_id: 5,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: 2,
        last_producer_epoch: 1,
        txn_timeout_ms: 60_000,
        state: TransactionState::Ongoing,
        topic_partitions: BTreeSet::from([TopicPartition::new("a", 1)]),
        txn_start_timestamp_ms: 10,
        txn_last_update_timestamp_ms: 11,
        client_transaction_version: TransactionVersion::Tv2,
    };
    let record = TransactionRecord::of(&md, 1);
    assert_eq!(&record.key()[..], &[0, 0, 0, 1, b't']);
    let mut expected = vec![0, 1];
    expected.extend_from_slice(&5i64.to_be_bytes());
    expected.extend_from_slice(&2i16.to_be_bytes());
    expected.extend_from_slice(&60_000i32.to_be_bytes());
    expected.push(1); // Ongoing
    expected.extend_from_slice(&[2, 2, b'a', 2, 0, 0, 0, 1, 0]); // [{a, [1]}], compact
    expected.extend_from_slice(&11i64.to_be_bytes());
    expected.extend_from_slice(&10i64.to_be_bytes());
    // Tagged: 0 = previous producer id 5, 2 = client transaction version 2.
    expected.extend_from_slice(&[2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 5, 2, 2, 0, 2]);
    assert_eq!(&record.value().unwrap()[..], &expected[..]);
    // v0: classic strings and arrays, no tagged fields.
    let v0 = TransactionRecord::of(&md, 0).value().unwrap();
    assert_eq!(&v0[..2], &[0, 0]);
    assert_eq!(
        &v0[17..32],
        &[0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 1]
    );
    assert_eq!(v0.len(), 2 + 8 + 2 + 4 + 1 + 4 + 2 + 1 + 4 + 4 + 8 + 8);
}

#[test]
fn hostile_values_are_refused_without_allocating() {
    let mut v = vec![0, 0];
    v.extend_from_slice(&[0; 15]);
    v.extend_from_slice(&i32::MAX.to_be_bytes()); // two billion topics, no bytes for them
    assert_eq!(
        TransactionRecord::decode(&[0, 0, 0, 1, b't'], Some(&v)),
        Err(TxnRecordError::InvalidLength(i64::from(i32::MAX)))
    );
    assert_eq!(
        TransactionRecord::decode(&[0, 1, 0, 0], None),
        Err(TxnRecordError::UnknownKeyType(1))
    );
    assert_eq!(
        TransactionRecord::decode(&[0, 0, 0, 9, b't'], None),
        Err(TxnRecordError::Truncated)
    );
    assert_eq!(
        TransactionRecord::decode(&[0, 0, 0, 0], Some(&[0, 2])),
        Err(TxnRecordError::UnknownValueVersion(2))
    );
}

#[test]
fn epoch_max_and_oversized_ids_are_errors_not_panics() {
    let tv2 = TransactionVersion::Tv2;
    let mut f = Fixture::new(tv2);
    f.init(TXN, None, START_MS);
    // A transaction left at epoch i16::MAX (a TV2 fence at the last usable epoch).
    let mut md = f.md();
    md.producer_epoch = i16::MAX;
    md.state = TransactionState::CompleteAbort;
    md.txn_start_timestamp_ms = START_MS;
    let p = f.coordinator.partition_of(TXN);
    assert!(f.coordinator.begin_load(p, 8), "a newer epoch loads again");
    assert_eq!(f.coordinator.shard_state(p), Some(ShardState::Loading));
    f.coordinator
        .replay(p, &TransactionRecord::of(&md, 1))
        .unwrap();
    f.coordinator.complete_load(p, 8);
    assert!(!f.coordinator.begin_load(p, 8), "the same epoch does not");
    let unknown = err(ResponseError::UnknownServerError);
    assert_eq!(
        f.end(4001, i16::MAX, false, tv2, START_MS + 1).0.error_code,
        unknown
    );
    assert_eq!(f.add(4001, i16::MAX, "payments", tv2, START_MS + 1), 0);
    assert_eq!(f.init(TXN, None, START_MS + 2).error_code, unknown);
    let out = f
        .coordinator
        .abort_timed_out(START_MS + 10 * i64::from(TIMEOUT_MS));
    assert!(out.response.is_empty() && out.records.is_empty());
    // Ids and topics a record cannot hold.
    let long = "t".repeat(40_000);
    assert_eq!(
        f.init(&long, None, START_MS).error_code,
        err(ResponseError::InvalidRequest)
    );
    let parts = BTreeSet::from([TopicPartition::new(long, 0)]);
    let out = f
        .coordinator
        .add_partitions(TXN, 4001, i16::MAX, &parts, tv2, START_MS);
    assert_eq!(out.response, err(ResponseError::InvalidRequest));
}

#[test]
fn values_kafka_never_writes_are_refused_at_load() {
    let mut c = TransactionCoordinator::new(TransactionConfig::default());
    let p = c.partition_of(TXN);
    c.begin_load(p, 1);
    let mut md = TransactionMetadata::new(TXN, 5, TIMEOUT_MS, START_MS);
    md.producer_epoch = 0;
    for (state, epoch, pid) in [
        (TransactionState::Dead, 0, 5),
        (TransactionState::PrepareEpochFence, 0, 5),
        (TransactionState::CompleteAbort, -3, 5),
        (TransactionState::CompleteAbort, 0, -2),
    ] {
        let bad = TransactionMetadata {
            state,
            producer_epoch: epoch,
            producer_id: pid,
            ..md.clone()
        };
        let refused = c.replay(p, &TransactionRecord::of(&bad, 1));
        assert!(
            matches!(refused, Err(TxnRecordError::NeverWritten(_))),
            "{state:?}"
        );
    }
    c.replay(p, &TransactionRecord::of(&md, 1)).unwrap();
    c.complete_load(p, 1);
    assert_eq!(c.metadata(TXN), Some(&md));
}

/// The values Apache Kafka 4.3.1 (transaction.version 2, three `__transaction_state`
/// partitions) wrote to partition 0 for two committed transactions of `payments-processor`
/// (ProducerPerformance with a transactional id, one partition of `payments` each), read
/// from its segment file.
const KAFKA_4_3_1_VALUES: [&str; 7] = [
    "0001000000000000000000000000ea600000000001a237114af9ffffffffffffffff0100080000000000000000",
    "0001000000000000000000000000ea600102097061796d656e7473020000000100000001a237114bf7000001a237114bf7020008000000000000000002020002",
    "0001000000000000000000010000ea600202097061796d656e7473020000000100000001a237114c7f000001a237114bf7020008000000000000000002020002",
    "0001000000000000000000010000ea600401000001a237114c86000001a237114bf7020008000000000000000002020002",
    "0001000000000000000000010000ea600102097061796d656e7473020000000100000001a237114cce000001a237114cce020008000000000000000002020002",
    "0001000000000000000000020000ea600202097061796d656e7473020000000100000001a237114dfe000001a237114cce020008000000000000000002020002",
    "0001000000000000000000020000ea600401000001a237114e01000001a237114cce020008000000000000000002020002",
];
/// Its key for `payments-processor`.
const KAFKA_4_3_1_KEY: &str = "000000127061796d656e74732d70726f636573736f72";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_same_requests_write_the_bytes_kafka_4_3_1_wrote() {
    let config = TransactionConfig {
        transaction_state_log_num_partitions: 3,
        ..TransactionConfig::default()
    };
    let mut c = TransactionCoordinator::new(config);
    assert_eq!(c.partition_of(TXN), 0, "Kafka put it in partition 0");
    c.begin_load(0, 0);
    c.complete_load(0, 0);
    let times: [i64; 7] = [
        0x1a2_3711_4af9,
        0x1a2_3711_4bf7,
        0x1a2_3711_4c7f,
        0x1a2_3711_4c86,
        0x1a2_3711_4cce,
        0x1a2_3711_4dfe,
        0x1a2_3711_4e01,
    ];
    let tv2 = TransactionVersion::Tv2;
    let parts = BTreeSet::from([TopicPartition::new("payments", 1)]);
    let mut first_id = || Ok(0);
    let mut records = Vec::new();
    let init = c.init_producer_id(TXN, TIMEOUT_MS, None, &mut first_id, times[0]);
    assert_eq!(
        (init.response.producer_id, init.response.producer_epoch),
        (0, 0)
    );
    records.extend(init.records);
    for (round, epoch) in [(0usize, 0i16), (1, 1)] {
        let t = &times[1 + 3 * round..4 + 3 * round];
        let added = c.add_partitions(TXN, 0, epoch, &parts, tv2, t[0]);
        assert_eq!(added.response, 0);
        records.extend(added.records);
        let mut no_id = || Err(ResponseError::UnknownServerError);
        let ended = c.end_txn(TXN, 0, epoch, true, tv2, &mut no_id, t[1]);
        assert_eq!(ended.response.producer_epoch, epoch + 1);
        records.extend(ended.records);
        records.extend(c.complete_markers(TXN, 0, t[2]).records);
    }
    assert_eq!(records.len(), KAFKA_4_3_1_VALUES.len());
    for ((partition, record), kafka) in records.iter().zip(KAFKA_4_3_1_VALUES) {
        assert_eq!(*partition, 0);
        assert_eq!(record.key().to_vec(), hex(KAFKA_4_3_1_KEY));
        assert_eq!(record.value().unwrap().to_vec(), hex(kafka), "{record:?}");
        // And Kafka's bytes decode to the same record.
        let decoded = TransactionRecord::decode(&hex(KAFKA_4_3_1_KEY), Some(&hex(kafka)));
        assert_eq!(decoded.as_ref(), Ok(record));
    }
}

#[test]
fn is_writing_markers_only_while_the_markers_are_due() {
    let tv0 = TransactionVersion::Tv0;
    let mut f = Fixture::new(tv0);
    let init = f.init(TXN, None, START_MS);
    assert_eq!(f.add(init.producer_id, 0, "payments", tv0, START_MS + 1), 0);
    assert!(!f.coordinator.is_writing_markers(TXN, 7, 0), "Ongoing");
    let (_, markers) = f.end(init.producer_id, 0, true, tv0, START_MS + 2);
    let m = &markers[0];
    assert!(
        f.coordinator
            .is_writing_markers(TXN, m.coordinator_epoch, m.producer_epoch)
    );
    assert!(
        !f.coordinator.is_writing_markers(TXN, 8, m.producer_epoch),
        "another epoch"
    );
    assert!(
        !f.coordinator
            .is_writing_markers(TXN, 7, m.producer_epoch + 1),
        "another producer epoch"
    );
    assert!(!f.coordinator.is_writing_markers("unknown", 7, 0));
    assert!(f.complete(START_MS + 3));
    assert!(
        !f.coordinator.is_writing_markers(TXN, 7, m.producer_epoch),
        "completed"
    );
    f.coordinator
        .unload_partition(f.coordinator.partition_of(TXN), None);
    assert!(
        !f.coordinator.is_writing_markers(TXN, 7, m.producer_epoch),
        "unloaded"
    );
}
