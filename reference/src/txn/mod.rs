//! The transaction coordinator: transactional producers' ids, epochs and transactions
//! (KIP-98, KIP-890), as a synchronous state machine with an explicit clock.
//!
//! One [`TransactionCoordinator`] per broker holds the transactions of the
//! `__transaction_state` partitions its broker leads, one shard per partition, as Kafka's
//! `TransactionStateManager` keeps one cache entry per partition. It does no I/O and holds
//! no futures, locks or channels: every call takes `&mut self` and the current time `now_ms`
//! and returns an [`Outcome`]: the response (Kafka's error code and the fields the wire
//! layer puts in the response), the records to append to `__transaction_state`, and the
//! transaction markers to send to partition leaders.
//!
//! # Driving it (the wire layer's side)
//!
//! 1. When the broker becomes leader of a `__transaction_state` partition:
//!    [`TransactionCoordinator::begin_load`], [`TransactionCoordinator::replay`] every record
//!    of that partition in order (decoded with [`TransactionRecord::decode`]), then
//!    [`TransactionCoordinator::complete_load`], whose markers (transactions that were
//!    between PrepareCommit/PrepareAbort and their completion) are sent again. While
//!    loading, its transactional ids answer COORDINATOR_LOAD_IN_PROGRESS; ids of partitions
//!    not loaded here answer NOT_COORDINATOR. [`TransactionCoordinator::unload_partition`]
//!    when it stops leading.
//! 2. Requests: [`TransactionCoordinator::init_producer_id`],
//!    [`TransactionCoordinator::add_partitions`] (AddPartitionsToTxn v0-3, and v4+ entries
//!    that are not verify-only), [`TransactionCoordinator::verify_partitions`] (v4+
//!    verify-only), [`TransactionCoordinator::add_offsets`], [`TransactionCoordinator::end_txn`],
//!    [`TransactionCoordinator::describe`], [`TransactionCoordinator::list`]. New producer ids
//!    come from a closure the caller passes (the broker's block of ids), called only when
//!    one is needed.
//! 3. For every [`Outcome`]: append its `records` to their partitions, in order, before the
//!    response goes out (encode with [`TransactionRecord::key`] / [`TransactionRecord::value`];
//!    `None` is a tombstone), then send each [`TxnMarker`] (WriteTxnMarkers, grouped by the
//!    leader of each partition); when all of a transaction's markers are written (or their
//!    partitions are gone), call [`TransactionCoordinator::complete_markers`].
//! 4. Timers: every `transaction.abort.timed.out.transaction.cleanup.interval.ms`,
//!    [`TransactionCoordinator::abort_timed_out`]; every
//!    `transaction.remove.expired.transaction.cleanup.interval.ms`,
//!    [`TransactionCoordinator::expire_transactional_ids`].
//!
//! [`runtime::TxnRuntime`] is that wire layer: it serves `__transaction_state` through
//! [`crate::coordinator_log`], follows the broker's leadership of its partitions, runs the
//! timers, and hands the markers to `markers`, which sends them as WriteTxnMarkers to the
//! partitions' leaders and calls `complete_markers` once all are written;
//! [`runtime::verify_or_add`] is what a partition leader asks of the coordinator (KIP-890).
//!
//! A transition takes effect when the call returns, as if its write succeeded; a write the
//! log refuses is undone by reloading the partition from its log (as the group runtime
//! does). So Kafka's "pending transition" exists here only where it outlives a call: while
//! a transaction's markers are being written (PrepareCommit / PrepareAbort), which answers
//! CONCURRENT_TRANSACTIONS as Kafka's pending CompleteCommit / CompleteAbort does.
//!
//! # Semantics, from Kafka 4
//!
//! - InitProducerId: a new transactional id gets a new producer id at epoch 0; a known one
//!   the next epoch (KIP-360: with the producer's id and epoch, a retry gets the same epoch
//!   again, another epoch is PRODUCER_FENCED); exhausted epochs (`i16::MAX - 1`) move to a
//!   new producer id. An Ongoing transaction is fenced first: it is aborted one epoch up and
//!   the call answers CONCURRENT_TRANSACTIONS; the client retries once the abort completed.
//!   A timeout above `transaction.max.timeout.ms` (or not positive) is
//!   INVALID_TRANSACTION_TIMEOUT.
//! - TV0/TV1 (classic): AddPartitions / EndTxn must name the current epoch
//!   (PRODUCER_FENCED otherwise, INVALID_PRODUCER_ID_MAPPING for another producer id);
//!   EndTxn on Empty is INVALID_TXN_STATE, a repeated commit (abort) of a completed
//!   transaction is answered NONE.
//! - TV2 (KIP-890 part 2): every EndTxn bumps the epoch (a new producer id when exhausted,
//!   taken when the markers complete), a retried EndTxn is recognised by its older epoch,
//!   and an abort is allowed with no partition added (from Empty or a completed
//!   transaction). The response carries the producer id and epoch to use next.
//! - The fence of InitProducerId and the timeout's abort run at the broker's
//!   `transaction.version` ([`TransactionConfig::transaction_version_level`]).
//!
//! # Not modelled
//!
//! KIP-939 two-phase commit (`enable2Pc`, `keepPreparedTxn`: the wire layer refuses them),
//! the authorizer, partial completion of markers (the caller reports all of them at once),
//! a failed write's retry without reloading (Kafka's `hasFailedEpochFence`), and a
//! coordinator-wide "not active" state (COORDINATOR_NOT_AVAILABLE before startup).
//!
//! # References
//! - KIP-98 (transactions), KIP-360 (epoch bumps), KIP-890 (transactions server-side
//!   defence), KIP-664 (DescribeTransactions, ListTransactions), KIP-994 / KIP-1152 (list
//!   filters)
//! - `kafka.coordinator.transaction.TransactionCoordinator`, `TransactionStateManager`,
//!   `TransactionMarkerChannelManager`; `org.apache.kafka.coordinator.transaction`
//!   `TransactionMetadata`, `TransactionState`, `TransactionLog` (Kafka 4.2 sources, the
//!   record writer also read in the 4.3.1 jar; the tests replay two TV2 transactions and
//!   compare every value with the bytes a Kafka 4.3.1 broker wrote for them)

mod coordinator;
mod end_txn;
mod markers;
mod record;
pub mod runtime;
mod state;

#[cfg(test)]
mod tests;

pub use coordinator::{
    DescribedTransaction, EndTxnResult, InitProducerIdResult, ListFilters, ListedTransactions,
    NewProducerId, ShardState, TransactionCoordinator,
};
pub use record::{
    TRANSACTION_LOG_KEY_TYPE, TransactionLogValue, TransactionRecord, TxnRecordError,
};
pub use state::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TopicPartition, TransactionMetadata, TransactionState,
    TransactionVersion,
};

/// Kafka's internal topic for transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The `__transaction_state` partition of a transactional id: Kafka's
/// `Utils.abs(transactionalId.hashCode()) % transaction.state.log.num.partitions`, the same
/// hash as groups.
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    crate::group::partition_for(transactional_id, partitions)
}

/// The coordinator's configuration, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionConfig {
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`.
    pub transaction_state_log_num_partitions: i32,
    /// `offsets.topic.num.partitions` (AddOffsetsToTxn's partition of the group).
    pub offsets_topic_num_partitions: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_expired_transaction_cleanup_interval_ms: i64,
    /// The cluster's finalized `transaction.version` feature: the log value version it
    /// writes (TV1+: v1) and the protocol of the aborts it starts itself.
    pub transaction_version_level: TransactionVersion,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_state_log_num_partitions: 50,
            offsets_topic_num_partitions: 50,
            abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            remove_expired_transaction_cleanup_interval_ms: 3_600_000,
            transaction_version_level: TransactionVersion::Tv2,
        }
    }
}

/// A WriteTxnMarkers entry to send: the caller splits `partitions` by their leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMarker {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The leader epoch of the transaction's `__transaction_state` partition.
    pub coordinator_epoch: i32,
    /// Commit (true) or abort marker.
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
}

/// What a call answers and what it asks the caller to do: append `records` first (each
/// to its `__transaction_state` partition), then answer, then send `markers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<R> {
    pub response: R,
    pub records: Vec<(i32, TransactionRecord)>,
    pub markers: Vec<TxnMarker>,
}

impl<R> Outcome<R> {
    fn new(response: R) -> Outcome<R> {
        Outcome {
            response,
            records: Vec::new(),
            markers: Vec::new(),
        }
    }
}
