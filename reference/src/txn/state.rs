//! One transactional id's metadata and the transitions between its states.
//!
//! Each `prepare_*` method computes the metadata a transition leads to, as Kafka's
//! `TransactionMetadata.prepare*` compute a `TxnTransitMetadata`, without changing `self`;
//! the coordinator writes the result to the log and then keeps it. A transition from a state
//! that is not among the target's valid previous states is a broken invariant of the
//! coordinator (an `assert!`), as Kafka's `IllegalStateException` is.
//!
//! # References
//! - `org.apache.kafka.coordinator.transaction.TransactionState`, `TransactionMetadata`,
//!   `TxnTransitMetadata`; `org.apache.kafka.server.common.TransactionVersion` (Kafka 4)

use std::collections::BTreeSet;

/// `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Where a transaction stands (`TransactionStatus` in the log, by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    /// No transaction is open (after InitProducerId).
    Empty,
    /// Partitions were added: the transaction is open.
    Ongoing,
    /// EndTxn(commit) was written; the markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout was written; the markers are being written.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// The transactional id is being expired (never written as a value: a tombstone is).
    Dead,
    /// An epoch fence in progress (never a resting state: it becomes PrepareAbort at once).
    PrepareEpochFence,
}

use TransactionState::*;

impl TransactionState {
    pub const ALL: [TransactionState; 8] = [
        Empty,
        Ongoing,
        PrepareCommit,
        PrepareAbort,
        CompleteCommit,
        CompleteAbort,
        Dead,
        PrepareEpochFence,
    ];

    /// The id written as `TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            Empty => 0,
            Ongoing => 1,
            PrepareCommit => 2,
            PrepareAbort => 3,
            CompleteCommit => 4,
            CompleteAbort => 5,
            Dead => 6,
            PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The name DescribeTransactions and ListTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            Empty => "Empty",
            Ongoing => "Ongoing",
            PrepareCommit => "PrepareCommit",
            PrepareAbort => "PrepareAbort",
            CompleteCommit => "CompleteCommit",
            CompleteAbort => "CompleteAbort",
            Dead => "Dead",
            PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The states this one may be entered from (Kafka 4's `VALID_PREVIOUS_STATES`; with
    /// transaction version 2 an abort may start from Empty or a completed transaction).
    pub fn valid_previous_states(self) -> &'static [TransactionState] {
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether the transactional id may expire in this state.
    pub fn is_expiration_allowed(self) -> bool {
        matches!(self, Empty | CompleteCommit | CompleteAbort)
    }
}

/// The transaction protocol a client speaks (`transaction.version`): TV0 and TV1 are the
/// classic protocol (TV1 only makes the log value flexible), TV2 is KIP-890 part 2 (an epoch
/// bump at every EndTxn, implicit AddPartitions by the partition leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionVersion {
    Tv0,
    Tv1,
    Tv2,
}

impl TransactionVersion {
    pub fn level(self) -> i16 {
        match self {
            TransactionVersion::Tv0 => 0,
            TransactionVersion::Tv1 => 1,
            TransactionVersion::Tv2 => 2,
        }
    }

    pub fn from_level(level: i16) -> Option<TransactionVersion> {
        match level {
            0 => Some(TransactionVersion::Tv0),
            1 => Some(TransactionVersion::Tv1),
            2 => Some(TransactionVersion::Tv2),
            _ => None,
        }
    }

    /// EndTxn bumps the epoch (TV2).
    pub fn supports_epoch_bump(self) -> bool {
        self >= TransactionVersion::Tv2
    }

    /// The TransactionLogValue version a coordinator at this level writes.
    pub fn log_value_version(self) -> i16 {
        if self >= TransactionVersion::Tv1 {
            1
        } else {
            0
        }
    }

    /// The version an AddPartitionsToTxn request implies (v4+: TV2).
    pub fn for_add_partitions(api_version: i16) -> TransactionVersion {
        if api_version > 3 {
            TransactionVersion::Tv2
        } else {
            TransactionVersion::Tv0
        }
    }

    /// The version an EndTxn request implies (v5+: TV2).
    pub fn for_end_txn(api_version: i16) -> TransactionVersion {
        if api_version > 4 {
            TransactionVersion::Tv2
        } else {
            TransactionVersion::Tv0
        }
    }
}

/// A partition of a topic, ordered by topic then partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Partitions by topic, in the order given (runs of one topic become one entry), as
    /// requests and responses list them.
    pub fn by_topic<'a>(
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Vec<(String, Vec<i32>)> {
        let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
        for tp in partitions {
            match topics.last_mut() {
                Some((topic, ids)) if *topic == tp.topic => ids.push(tp.partition),
                _ => topics.push((tp.topic.clone(), vec![tp.partition])),
            }
        }
        topics
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last transition (another one only after a rotation).
    pub previous_producer_id: i64,
    /// KIP-890: the producer id an exhausted epoch moves to when the markers are written.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, to recognise a retried InitProducerId or EndTxn. Not
    /// in the log: a loaded transaction has -1, as in Kafka.
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TransactionState,
    pub topic_partitions: BTreeSet<TopicPartition>,
    /// When the first partition was added; -1 when no transaction is open.
    pub txn_start_timestamp_ms: i64,
    pub txn_last_update_timestamp_ms: i64,
    pub client_transaction_version: TransactionVersion,
}

impl TransactionMetadata {
    /// A transactional id seen for the first time: Empty, no epoch yet.
    pub fn new(transactional_id: &str, producer_id: i64, txn_timeout_ms: i32, now_ms: i64) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms,
            state: Empty,
            topic_partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            txn_last_update_timestamp_ms: now_ms,
            client_transaction_version: TransactionVersion::Tv0,
        }
    }

    /// Kafka never hands out `i16::MAX`, so that a producer can always be fenced.
    pub fn is_epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    pub fn is_producer_epoch_exhausted(&self) -> bool {
        Self::is_epoch_exhausted(self.producer_epoch)
    }

    /// A transaction is open or completing.
    pub fn has_pending_transaction(&self) -> bool {
        matches!(self.state, Ongoing | PrepareAbort | PrepareCommit)
    }

    /// The metadata after a transition to `to`, made by `change` on a copy.
    fn transition(&self, to: TransactionState, change: impl FnOnce(&mut Self)) -> Self {
        assert!(
            to.valid_previous_states().contains(&self.state),
            "transactional id {}: no transition from {:?} to {to:?}",
            self.transactional_id,
            self.state
        );
        let mut next = self.clone();
        change(&mut next);
        next.state = to;
        next.previous_producer_id = self.producer_id;
        assert!(
            next.producer_id >= 0,
            "illegal producer id {}",
            next.producer_id
        );
        assert!(
            to == Dead || next.producer_epoch >= 0,
            "illegal producer epoch {}",
            next.producer_epoch
        );
        next
    }

    /// InitProducerId with the same producer id: the next epoch (KIP-360 rules for
    /// `expected_epoch`), an Empty transaction. `None`: the producer is fenced.
    pub fn prepare_increment_epoch(
        &self,
        txn_timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Option<Self> {
        assert!(
            !self.is_producer_epoch_exhausted(),
            "producer epochs exhausted"
        );
        let bumped = self.producer_epoch + 1;
        let (epoch, last_epoch) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            // A retry of a bump whose answer was lost.
            Some(e) if e == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return None,
        };
        Some(self.transition(Empty, |m| {
            m.producer_epoch = epoch;
            m.last_producer_epoch = last_epoch;
            m.txn_timeout_ms = txn_timeout_ms;
            m.topic_partitions.clear();
            m.txn_start_timestamp_ms = -1;
            m.txn_last_update_timestamp_ms = now_ms;
        }))
    }

    /// InitProducerId on exhausted epochs: a new producer id at epoch 0.
    pub fn prepare_producer_id_rotation(
        &self,
        new_producer_id: i64,
        txn_timeout_ms: i32,
        now_ms: i64,
        record_last_epoch: bool,
    ) -> Self {
        assert!(
            !self.has_pending_transaction(),
            "rotation with a pending transaction"
        );
        self.transition(Empty, |m| {
            m.producer_id = new_producer_id;
            m.producer_epoch = 0;
            m.last_producer_epoch = if record_last_epoch {
                self.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            };
            m.txn_timeout_ms = txn_timeout_ms;
            m.topic_partitions.clear();
            m.txn_start_timestamp_ms = -1;
            m.txn_last_update_timestamp_ms = now_ms;
        })
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: Ongoing with `added` in the transaction.
    pub fn prepare_add_partitions(
        &self,
        added: &BTreeSet<TopicPartition>,
        now_ms: i64,
        version: TransactionVersion,
    ) -> Self {
        let starts = matches!(self.state, Empty | CompleteAbort | CompleteCommit);
        self.transition(Ongoing, |m| {
            if starts {
                m.txn_start_timestamp_ms = now_ms;
            }
            m.topic_partitions.extend(added.iter().cloned());
            m.txn_last_update_timestamp_ms = now_ms;
            m.client_transaction_version = version;
        })
    }

    /// EndTxn (or a fence's abort): PrepareCommit / PrepareAbort; TV2 bumps the epoch.
    pub fn prepare_abort_or_commit(
        &self,
        to: TransactionState,
        version: TransactionVersion,
        next_producer_id: i64,
        now_ms: i64,
        no_partition_added: bool,
    ) -> Self {
        self.transition(to, |m| {
            if version.supports_epoch_bump() {
                m.producer_epoch = self.producer_epoch + 1;
                m.last_producer_epoch = self.producer_epoch;
            }
            if no_partition_added {
                m.txn_start_timestamp_ms = now_ms;
            }
            m.next_producer_id = next_producer_id;
            m.txn_last_update_timestamp_ms = now_ms;
            m.client_transaction_version = version;
        })
    }

    /// The markers are written: CompleteCommit / CompleteAbort (TV2 with an exhausted epoch
    /// moves to `next_producer_id` at epoch 0).
    pub fn prepare_complete(&self, now_ms: i64) -> Self {
        let to = if self.state == PrepareCommit {
            CompleteCommit
        } else {
            CompleteAbort
        };
        let rotate = self.client_transaction_version.supports_epoch_bump()
            && self.next_producer_id != NO_PRODUCER_ID;
        self.transition(to, |m| {
            if rotate {
                m.producer_id = self.next_producer_id;
                m.producer_epoch = 0;
            }
            m.next_producer_id = NO_PRODUCER_ID;
            m.topic_partitions.clear();
            m.txn_last_update_timestamp_ms = now_ms;
        })
    }

    /// The transactional id expires.
    pub fn prepare_dead(&self) -> Self {
        self.transition(Dead, |m| m.topic_partitions.clear())
    }
}
