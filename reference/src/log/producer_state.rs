//! Producer state of one partition log: what idempotence (KIP-98) checks a producer's batch
//! against.
//!
//! For every producer id that has written to the log, the entry keeps the producer's epoch,
//! the metadata of its last [`BATCHES_TO_RETAIN`] batches (first and last sequence, first and
//! last offset, max timestamp) and the last timestamp. Every appended batch with a producer
//! id updates it, the leader's and the follower's alike ([`ProducerStates::update`]), so a
//! follower that becomes leader already has it. Only a leader *checks* a client's batch
//! ([`ProducerStates::check`]), by Kafka 4's rules (`UnifiedLog.analyzeAndValidateProducerState`,
//! `ProducerAppendInfo`, `ProducerStateEntry`):
//!
//! 1. A batch equal (same epoch, first and last sequence) to one of the producer's last five
//!    is a retry of it: [`ProducerCheck::Duplicate`] with the original's offsets, and nothing
//!    is appended. The client gets the first attempt's offset and no error.
//! 2. An epoch older than the producer's: INVALID_PRODUCER_EPOCH.
//! 3. A newer epoch must start at sequence 0, unless the log knows no epoch for the producer
//!    at all: OUT_OF_ORDER_SEQUENCE_NUMBER.
//! 4. The same epoch must continue the sequence (last + 1, wrapping after `i32::MAX` to 0):
//!    OUT_OF_ORDER_SEQUENCE_NUMBER. A producer the log has no entry for may start at any
//!    sequence (KIP-360: its state may have expired or gone with retention), so Kafka 4 never
//!    answers UNKNOWN_PRODUCER_ID to a produce, and neither does this.
//!
//! Transactions (KIP-98) add to each entry the first offset of the producer's open
//! transaction (`currentTxnFirstOffset`) and the coordinator epoch of its last marker, and to
//! the log its [`Transactions`] (open, ended, aborted: the last stable offset). A leader
//! checks a coordinator's batches ([`AppendOrigin::Coordinator`]) for their epoch only, and
//! a marker also for its coordinator epoch ([`ProducerStates::check_marker`]); while a
//! transaction is open, the producer's data batches must be transactional
//! (INVALID_TXN_STATE).
//!
//! The state is rebuilt by scanning the batches of the log when it is opened and after
//! a truncation ([`ProducerStates::scan`]), not read from snapshot files as Kafka does: the
//! answer is the same, the cost is one pass over the headers (the records are not read,
//! except the one record of each control batch, its marker).
//! A producer whose batches all went with retention is therefore forgotten by a restart,
//! which makes its next batch acceptable at any sequence (as rule 4 says for an unknown
//! producer); Kafka's snapshots would still know it. A producer not heard from for
//! `producer.id.expiration.ms` (measured from its batches' max timestamps, as Kafka does) is
//! dropped by [`ProducerStates::expire`].
//!
//! # References
//! - KIP-98 (idempotence, transactions), KIP-360 (unknown producer ids), KIP-890 (epoch
//!   bumps with transaction version 2)
//! - Apache Kafka sources: `ProducerStateManager`, `ProducerStateEntry`,
//!   `ProducerAppendInfo` (`checkProducerEpoch`, `checkSequence`, `inSequence`,
//!   `appendDataBatch`, `appendEndTxnMarker`, `checkCoordinatorEpoch`),
//!   `DefaultRecordBatch.incrementSequence`

use std::collections::{BTreeMap, VecDeque};

use kafka_protocol::error::ResponseError;

use super::transactions::{CompletedTxn, Transactions};
use crate::record_batch::{self, BatchHeader, ControlType};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: how many batches of a producer a
/// retry is recognised among (the Java client keeps at most five in flight).
pub const BATCHES_TO_RETAIN: usize = 5;

/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

/// What the log knows of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// The last batches, oldest first, at most [`BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    /// The max timestamp of its last batch.
    pub last_timestamp: i64,
    /// The offset of the last batch it wrote, data or control (a marker is not kept in
    /// `batches`).
    pub last_offset: i64,
    /// The first offset of its open transaction (Kafka's `currentTxnFirstOffset`).
    pub current_txn_first_offset: Option<i64>,
    /// The coordinator epoch of its last marker (-1 before any).
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    /// The sequence of its last record (-1 if it has written only markers).
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_epoch != self.epoch || header.is_control() {
            return None;
        }
        let last_seq = last_sequence(header);
        self.batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq)
            .copied()
    }
}

/// Who asks the leader to append (Kafka's `AppendOrigin`, less `REPLICATION`: a follower's
/// append is never checked, see [`ProducerStates::update`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's Produce: every check, sequence numbers included; no control batches.
    Client,
    /// A coordinator of this cluster: end-transaction markers from WriteTxnMarkers, and the
    /// group coordinator's transactional offset commits (base sequence -1). Epochs are
    /// checked, sequences are not (`ProducerAppendInfo.maybeValidateDataBatch`).
    Coordinator,
}

/// What a leader does with a client's batch that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log: answer with its offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// Why a leader refuses a client's batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error(
        "Epoch of producer {producer_id} is {epoch}, which is smaller than the last seen epoch {current}"
    )]
    InvalidEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "Invalid sequence number for new epoch of producer {producer_id}: {epoch} (request epoch), {first_seq} (seq. number), {current} (current producer epoch)"
    )]
    NewEpochNotAtZero {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        current: i16,
    },
    #[error(
        "Out of order sequence number for producer {producer_id}: {first_seq} (incoming seq. number), {last_seq} (current end sequence number)"
    )]
    OutOfOrder {
        producer_id: i64,
        first_seq: i32,
        last_seq: i32,
    },
    /// `LogValidator.validateBatch`: only coordinators write control batches.
    #[error("Clients are not allowed to write control records")]
    ControlBatchFromClient,
    /// A non-transactional batch while the producer's transaction is open.
    #[error("Expected transactional write from producer {producer_id} at offset {offset}")]
    NonTransactionalInTransaction { producer_id: i64, offset: i64 },
    /// A marker of an older coordinator (`checkCoordinatorEpoch`).
    #[error(
        "Invalid coordinator epoch for producerId {producer_id}: {coordinator_epoch} (zombie), {current} (current)"
    )]
    CoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
    },
    /// A control batch that is not a readable end-transaction marker.
    #[error("control batch of producer {producer_id} is not a transaction marker")]
    NotAMarker { producer_id: i64 },
}

impl ProducerError {
    /// The Kafka error code a Produce answers.
    pub fn code(&self) -> i16 {
        match self {
            ProducerError::ControlBatchFromClient | ProducerError::NotAMarker { .. } => {
                ResponseError::InvalidRecord.code()
            }
            ProducerError::NonTransactionalInTransaction { .. } => {
                ResponseError::InvalidTxnState.code()
            }
            ProducerError::CoordinatorFenced { .. } => {
                ResponseError::TransactionCoordinatorFenced.code()
            }
            ProducerError::InvalidEpoch { .. } => ResponseError::InvalidProducerEpoch.code(),
            ProducerError::NewEpochNotAtZero { .. } | ProducerError::OutOfOrder { .. } => {
                ResponseError::OutOfOrderSequenceNumber.code()
            }
        }
    }
}

/// The producers of one log. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: BTreeMap<i64, ProducerEntry>,
    /// Their transactions: open, ended above the high watermark, aborted.
    txns: Transactions,
}

impl ProducerStates {
    pub fn new() -> ProducerStates {
        ProducerStates::default()
    }

    /// The state the whole batches in `records` (in offset order) leave, markers read from
    /// their records.
    pub fn scan(records: &[u8]) -> ProducerStates {
        let mut states = ProducerStates::new();
        states.update_all(records);
        states
    }

    /// [`ProducerStates::update`] for each whole batch of `records`, reading each control
    /// batch's marker.
    pub fn update_all(&mut self, records: &[u8]) {
        let mut position = 0;
        while let Ok(header) = BatchHeader::parse(&records[position..]) {
            let end = position + header.total_len();
            if end > records.len() {
                break;
            }
            let marker = header
                .is_control()
                .then(|| record_batch::control_type(&records[position..end]))
                .flatten();
            self.update_with_marker(&header, marker);
            position = end;
        }
    }

    /// The transactions of these producers.
    pub fn transactions(&self) -> &Transactions {
        &self.txns
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer, by id.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// Whether any producer's last batch (data or marker) reaches `offset` or beyond: only
    /// then does cutting the log at `offset` change this state (a truncation that removes no
    /// producer's batch leaves it as it is, and needs no rescan).
    pub fn has_batch_from(&self, offset: i64) -> bool {
        self.producers
            .values()
            .any(|entry| entry.last_offset >= offset)
            || self.txns.has_offset_from(offset)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// A leader's check of a client's batch (the rules of the module docs). A batch without
    /// a producer id is always appended.
    pub fn check(&self, header: &BatchHeader) -> Result<ProducerCheck, ProducerError> {
        self.check_with_origin(header, AppendOrigin::Client)
    }

    /// A leader's check of a batch from `origin`: a client's as [`ProducerStates::check`]
    /// says; a coordinator's for its epoch only (no sequence, no duplicate detection).
    pub fn check_with_origin(
        &self,
        header: &BatchHeader,
        origin: AppendOrigin,
    ) -> Result<ProducerCheck, ProducerError> {
        if origin == AppendOrigin::Client && header.is_control() {
            return Err(ProducerError::ControlBatchFromClient);
        }
        if !header.has_producer_id() {
            return Ok(ProducerCheck::Append);
        }
        if origin == AppendOrigin::Coordinator {
            self.check_epoch(header)?;
            return self.check_txn_state(header).map(|()| ProducerCheck::Append);
        }
        let producer_id = header.producer_id;
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(ProducerCheck::Append);
        };
        if let Some(original) = entry.find_duplicate(header) {
            return Ok(ProducerCheck::Duplicate(original));
        }
        let epoch = header.producer_epoch;
        if epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        let first_seq = header.base_sequence;
        if epoch != entry.epoch {
            if first_seq != 0 && entry.epoch != NO_PRODUCER_EPOCH {
                return Err(ProducerError::NewEpochNotAtZero {
                    producer_id,
                    epoch,
                    first_seq,
                    current: entry.epoch,
                });
            }
            return self.check_txn_state(header).map(|()| ProducerCheck::Append);
        }
        let last_seq = entry.last_seq();
        if last_seq != NO_SEQUENCE && !in_sequence(last_seq, first_seq) {
            return Err(ProducerError::OutOfOrder {
                producer_id,
                first_seq,
                last_seq,
            });
        }
        self.check_txn_state(header)?;
        Ok(ProducerCheck::Append)
    }

    /// `ProducerAppendInfo.appendDataBatch`: while a producer's transaction is open, its
    /// data batches must be transactional (INVALID_TXN_STATE).
    fn check_txn_state(&self, header: &BatchHeader) -> Result<(), ProducerError> {
        let open = self
            .producers
            .get(&header.producer_id)
            .is_some_and(|entry| entry.current_txn_first_offset.is_some());
        if open && !header.is_transactional() {
            return Err(ProducerError::NonTransactionalInTransaction {
                producer_id: header.producer_id,
                offset: header.base_offset,
            });
        }
        Ok(())
    }

    /// A leader's check of an end-transaction marker from a coordinator
    /// (`ProducerAppendInfo.appendEndTxnMarker`): `marker` is what the batch holds, and
    /// `transaction_version` the coordinator's (WriteTxnMarkers v2; 0 before). An older
    /// producer epoch is INVALID_PRODUCER_EPOCH, and from transaction version 2 on (where
    /// every marker carries the epoch the coordinator bumped) the same epoch too, unless
    /// the producer has no open transaction (a retried marker) or the epoch is at its
    /// largest; an older coordinator epoch is TRANSACTION_COORDINATOR_FENCED.
    pub fn check_marker(
        &self,
        header: &BatchHeader,
        marker: Option<(ControlType, i32)>,
        transaction_version: i8,
    ) -> Result<(), ProducerError> {
        let producer_id = header.producer_id;
        let Some((_, coordinator_epoch)) = marker else {
            return Err(ProducerError::NotAMarker { producer_id });
        };
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        let epoch = header.producer_epoch;
        let stale = if transaction_version >= 2 {
            epoch <= entry.epoch
        } else {
            epoch < entry.epoch
        };
        let retry = transaction_version >= 2
            && epoch == entry.epoch
            && (entry.current_txn_first_offset.is_none() || epoch == i16::MAX);
        if stale && !retry {
            return Err(ProducerError::InvalidEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if entry.coordinator_epoch > coordinator_epoch {
            return Err(ProducerError::CoordinatorFenced {
                producer_id,
                coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// `ProducerAppendInfo.checkProducerEpoch` for a data batch: an epoch older than the
    /// producer's is INVALID_PRODUCER_EPOCH.
    fn check_epoch(&self, header: &BatchHeader) -> Result<(), ProducerError> {
        match self.producers.get(&header.producer_id) {
            Some(entry) if header.producer_epoch < entry.epoch => {
                Err(ProducerError::InvalidEpoch {
                    producer_id: header.producer_id,
                    epoch: header.producer_epoch,
                    current: entry.epoch,
                })
            }
            _ => Ok(()),
        }
    }

    /// Records an appended data batch (stamped with its offsets), the leader's or a
    /// follower's; a control batch through this is taken as unreadable (it ends nothing).
    /// A batch without a producer id changes nothing.
    pub fn update(&mut self, header: &BatchHeader) {
        self.update_with_marker(header, None);
    }

    /// Records an appended batch, data or control, with the marker a control batch holds
    /// ([`record_batch::control_type`]): a producer's first transactional batch opens its
    /// transaction, its marker ends it (`ProducerAppendInfo.append`,
    /// `ProducerStateManager.update`).
    pub fn update_with_marker(&mut self, header: &BatchHeader, marker: Option<(ControlType, i32)>) {
        if !header.has_producer_id() {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: NO_PRODUCER_EPOCH,
                batches: VecDeque::new(),
                last_timestamp: -1,
                last_offset: -1,
                current_txn_first_offset: None,
                coordinator_epoch: -1,
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = header.max_timestamp;
        entry.last_offset = header.last_offset();
        if header.is_control() {
            if let Some((control, coordinator_epoch)) = marker {
                entry.coordinator_epoch = coordinator_epoch;
                if let Some(first_offset) = entry.current_txn_first_offset.take() {
                    self.txns.complete(CompletedTxn {
                        producer_id: header.producer_id,
                        first_offset,
                        last_offset: header.base_offset,
                        aborted: control == ControlType::Abort,
                    });
                }
            }
            return;
        }
        if header.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(header.base_offset);
            self.txns.begin(header.producer_id, header.base_offset);
        }
        if entry.batches.len() == BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: last_sequence(header),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp: header.max_timestamp,
        });
    }

    /// Drops the producers without an open transaction whose last timestamp is
    /// `expiration_ms` or more before `now_ms` (`producer.id.expiration.ms`,
    /// `ProducerStateManager.isProducerExpired`). Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(entry.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// The first offset of `producer_id`'s open transaction.
    pub fn ongoing_transaction(&self, producer_id: i64) -> Option<i64> {
        self.producers
            .get(&producer_id)
            .and_then(|entry| entry.current_txn_first_offset)
    }

    /// The high watermark moved (`ProducerStateManager.onHighWatermarkUpdated`).
    pub fn on_high_watermark_updated(&mut self, high_watermark: i64) {
        self.txns.on_high_watermark_updated(high_watermark);
    }

    /// Retention moved the log start offset past deleted segments.
    pub fn on_log_start_offset_incremented(&mut self, log_start_offset: i64) {
        self.txns.on_log_start_offset_incremented(log_start_offset);
    }
}

/// The sequence of the batch's last record (`DefaultRecordBatch.incrementSequence`).
pub fn last_sequence(header: &BatchHeader) -> i32 {
    increment_sequence(header.base_sequence, header.last_offset_delta)
}

/// `sequence + increment`, wrapping after `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Whether `next` follows `last` (`ProducerAppendInfo.inSequence`).
fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A stamped batch header of producer `pid` at `epoch`: `count` records from sequence
    /// `seq`, at `offset`.
    fn batch(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000 + offset,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    fn code(result: Result<ProducerCheck, ProducerError>) -> i16 {
        result.map_or_else(|e| e.code(), |_| 0)
    }

    #[test]
    fn a_new_producer_may_start_at_any_sequence() {
        let states = ProducerStates::new();
        assert_eq!(
            states.check(&batch(7, 0, 42, 1, 0)),
            Ok(ProducerCheck::Append)
        );
    }

    #[test]
    fn a_retry_of_one_of_the_last_five_batches_is_a_duplicate_with_its_offsets() {
        let mut states = ProducerStates::new();
        for i in 0..6 {
            states.update(&batch(7, 0, i * 2, 2, 10 + i64::from(i) * 2));
        }
        // The oldest (seq 0..1) fell out of the last five: a retry of it is out of order.
        assert_eq!(
            code(states.check(&batch(7, 0, 0, 2, 99))),
            ResponseError::OutOfOrderSequenceNumber.code()
        );
        let Ok(ProducerCheck::Duplicate(original)) = states.check(&batch(7, 0, 2, 2, 99)) else {
            panic!("seq 2..3 is among the last five");
        };
        assert_eq!((original.first_offset, original.last_offset), (12, 13));
        // Same first sequence, other length: not the same batch.
        assert_eq!(
            code(states.check(&batch(7, 0, 2, 3, 99))),
            ResponseError::OutOfOrderSequenceNumber.code()
        );
        assert_eq!(
            states.check(&batch(7, 0, 12, 1, 22)),
            Ok(ProducerCheck::Append)
        );
    }

    #[test]
    fn gaps_and_stale_epochs_are_refused_with_kafkas_codes() {
        let mut states = ProducerStates::new();
        states.update(&batch(7, 3, 0, 5, 0));
        assert_eq!(
            code(states.check(&batch(7, 3, 6, 1, 5))),
            ResponseError::OutOfOrderSequenceNumber.code()
        );
        assert_eq!(
            code(states.check(&batch(7, 2, 5, 1, 5))),
            ResponseError::InvalidProducerEpoch.code()
        );
        // A new epoch starts at 0, and only at 0.
        assert_eq!(
            code(states.check(&batch(7, 4, 5, 1, 5))),
            ResponseError::OutOfOrderSequenceNumber.code()
        );
        assert_eq!(
            states.check(&batch(7, 4, 0, 1, 5)),
            Ok(ProducerCheck::Append)
        );
        // Another producer is not affected.
        assert_eq!(
            states.check(&batch(8, 0, 9, 1, 5)),
            Ok(ProducerCheck::Append)
        );
    }

    #[test]
    fn sequences_wrap_after_the_largest_int() {
        let mut states = ProducerStates::new();
        states.update(&batch(7, 0, i32::MAX - 1, 2, 0));
        assert_eq!(
            states.check(&batch(7, 0, 0, 1, 2)),
            Ok(ProducerCheck::Append)
        );
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        let mut header = batch(7, 0, i32::MAX, 3, 2);
        assert_eq!(last_sequence(&header), 1);
        header.base_sequence = 5;
        assert_eq!(last_sequence(&header), 7);
    }

    #[test]
    fn producers_expire_by_their_last_timestamp() {
        let mut states = ProducerStates::new();
        states.update(&batch(1, 0, 0, 1, 0)); // last timestamp 1_000
        states.update(&batch(2, 0, 0, 1, 500)); // 1_500
        assert_eq!(states.expire(2_000, 1_000), 1);
        assert!(states.entry(1).is_none());
        assert!(states.entry(2).is_some());
        assert_eq!(states.expire(2_499, 1_000), 0);
    }

    #[test]
    fn only_a_cut_through_a_remembered_batch_changes_the_state() {
        let mut states = ProducerStates::new();
        assert!(!states.has_batch_from(0), "no producer: nothing to rescan");
        states.update(&batch(7, 0, 0, 3, 10)); // offsets 10..=12
        assert!(states.has_batch_from(12));
        assert!(!states.has_batch_from(13));
    }

    #[test]
    fn batches_without_a_producer_id_are_not_tracked() {
        let mut states = ProducerStates::new();
        let header = batch(-1, -1, -1, 3, 0);
        states.update(&header);
        assert!(states.is_empty());
        assert_eq!(states.check(&header), Ok(ProducerCheck::Append));
    }

    proptest! {
        /// Whatever retries, reorderings and duplicates a producer's batches go through, the
        /// leader appends each sequence range at most once, and only in order: the appended
        /// batches are exactly 0, 1, 2, ... without gaps or repeats.
        #[test]
        fn a_leader_appends_each_batch_once_and_in_order(
            sends in proptest::collection::vec(0usize..12, 1..80),
        ) {
            // Twelve batches of 1..=3 records; `sends` picks which one the network delivers
            // next (a retry, a reordering or a duplicate).
            let sizes = [1, 3, 2, 1, 1, 2, 3, 3, 1, 2, 1, 2];
            let firsts: Vec<i32> = sizes
                .iter()
                .scan(0, |seq, n| { let first = *seq; *seq += n; Some(first) })
                .collect();
            let mut states = ProducerStates::new();
            let mut log_end = 0i64;
            let mut appended = Vec::new();
            for i in sends {
                let header = batch(9, 0, firsts[i], sizes[i], log_end);
                match states.check(&header) {
                    Ok(ProducerCheck::Append) => {
                        states.update(&header);
                        log_end = header.next_offset();
                        appended.push(i);
                    }
                    Ok(ProducerCheck::Duplicate(original)) => {
                        prop_assert!(appended.contains(&i));
                        prop_assert_eq!(original.first_seq, firsts[i]);
                    }
                    Err(_) => {}
                }
            }
            // The first batch may start anywhere (a new producer), the rest follow it.
            if let Some(&start) = appended.first() {
                let expected: Vec<usize> = (start..start + appended.len()).collect();
                prop_assert_eq!(appended, expected);
            }
        }
    }
}
