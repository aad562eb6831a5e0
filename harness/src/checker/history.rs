//! What a queue workload did and saw, as a history of operations: every send with its
//! outcome, every poll with the records it returned, the consumer sessions they belong to,
//! and transaction markers grouping sends.
//!
//! # Why it is shaped so
//!
//! The analysis ([`super::analysis`]) is pure: it takes a [`History`] and nothing else, so
//! that hand-made histories test it and a recorded one can be analysed again. A history is
//! ordered *per process* (one producer, one consumer): the order of a producer's sends is
//! the order it invoked them, the order of a consumer's polls the order they returned.
//! Nothing is inferred from the interleaving of different processes, except where an
//! operation carries its own time (`at_ms`, for precommitted reads).
//!
//! Values are strings, unique per send (the workload writes `"<producer>-<sequence>"`).
//! A send's outcome is what the client could know: [`SendOutcome::Acked`] with the offset
//! the broker assigned, [`SendOutcome::Failed`] only when the record certainly never
//! reached a broker, and [`SendOutcome::Unknown`] for anything else (a delivery timeout, an
//! error after retries: the record may or may not have been written).
//!
//! # References
//!
//! - Jepsen's Kafka workload, `jepsen.tests.kafka` (sends as `[:send k [offset value]]`,
//!   polls as `[:poll {k [[offset value] ...]}]`, assign and subscribe ops).

use std::fmt;

/// A producer or consumer of the workload (Jepsen's "process").
pub type ProcessId = u32;

/// A transaction of one producer.
pub type TxnId = u64;

/// What a send came to, as far as its producer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// The broker acknowledged the record at this offset.
    Acked {
        /// The offset in the partition.
        offset: i64,
    },
    /// The record certainly was not written (it never left the client).
    Failed,
    /// It may or may not have been written (a timeout, an error after retries).
    Unknown,
}

/// One record sent to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// Who sent it.
    pub producer: ProcessId,
    /// Where to.
    pub partition: i32,
    /// The record's (unique) value.
    pub value: String,
    /// What came of it.
    pub outcome: SendOutcome,
    /// The transaction it was sent in, if any.
    pub txn: Option<TxnId>,
}

/// What one consumer's poll returned from one partition, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Who polled.
    pub consumer: ProcessId,
    /// From which partition.
    pub partition: i32,
    /// `(offset, value)` pairs.
    pub records: Vec<(i64, String)>,
    /// When the poll returned, in milliseconds since the workload started.
    pub at_ms: u64,
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// `commitTransaction` succeeded.
    Committed,
    /// `abortTransaction` succeeded (or the transaction certainly aborted).
    Aborted,
    /// The end was attempted but its result is not known.
    Unknown,
}

/// One operation of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A send and its outcome.
    Send(Send),
    /// A poll and what it returned.
    Poll(Poll),
    /// A consumer assigned itself these partitions: a new session, where the next poll of
    /// each partition may start anywhere.
    Assign {
        /// The consumer.
        consumer: ProcessId,
        /// Its partitions from now on.
        partitions: Vec<i32>,
    },
    /// The group rebalanced this consumer (or it sought): a new session, as for `Assign`.
    Rebalance {
        /// The consumer.
        consumer: ProcessId,
        /// Its partitions after the rebalance.
        partitions: Vec<i32>,
    },
    /// A producer began a transaction; its sends carry the id until it ends.
    TxnBegin {
        /// The producer.
        producer: ProcessId,
        /// The transaction.
        txn: TxnId,
    },
    /// A producer ended a transaction.
    TxnEnd {
        /// The producer.
        producer: ProcessId,
        /// The transaction.
        txn: TxnId,
        /// How it ended.
        outcome: TxnOutcome,
        /// When the commit (or abort) was invoked, in milliseconds since the start.
        invoked_ms: u64,
    },
    /// The partition's end (its high watermark, or last stable offset for read_committed)
    /// observed after every send had its outcome: no acknowledged record can lie at or
    /// beyond it.
    LogEnd {
        /// The partition.
        partition: i32,
        /// The offset after its last record.
        end_offset: i64,
    },
}

/// The operations of one workload run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    ops: Vec<Op>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Adds an operation.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Adds a send.
    pub fn send(
        &mut self,
        producer: ProcessId,
        partition: i32,
        value: impl Into<String>,
        outcome: SendOutcome,
    ) {
        self.push(Op::Send(Send {
            producer,
            partition,
            value: value.into(),
            outcome,
            txn: None,
        }));
    }

    /// Adds a poll.
    pub fn poll(
        &mut self,
        consumer: ProcessId,
        partition: i32,
        records: &[(i64, &str)],
        at_ms: u64,
    ) {
        self.push(Op::Poll(Poll {
            consumer,
            partition,
            records: records.iter().map(|(o, v)| (*o, (*v).to_owned())).collect(),
            at_ms,
        }));
    }

    /// Every operation, in the order added.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Every send.
    pub fn sends(&self) -> impl Iterator<Item = &Send> {
        self.ops.iter().filter_map(|op| match op {
            Op::Send(send) => Some(send),
            _ => None,
        })
    }

    /// Every poll.
    pub fn polls(&self) -> impl Iterator<Item = &Poll> {
        self.ops.iter().filter_map(|op| match op {
            Op::Poll(poll) => Some(poll),
            _ => None,
        })
    }
}

impl Extend<Op> for History {
    fn extend<I: IntoIterator<Item = Op>>(&mut self, ops: I) {
        self.ops.extend(ops);
    }
}

impl fmt::Display for SendOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendOutcome::Acked { offset } => write!(f, "acked at {offset}"),
            SendOutcome::Failed => f.write_str("failed"),
            SendOutcome::Unknown => f.write_str("unknown"),
        }
    }
}
