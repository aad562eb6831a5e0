//! The coordinator: shards per loaded `__transaction_state` partition, and the requests.
//!
//! Every call takes `&mut self` and `now_ms` and returns an [`Outcome`]: the response, the
//! records to append to `__transaction_state` (in order, each with its partition) and the
//! transaction markers to send. A transition takes effect at once, as if its write
//! succeeded; as with the group coordinator, a write the log refuses is undone by
//! reloading that partition from its log.
//!
//! # References
//! - `kafka.coordinator.transaction.TransactionCoordinator` (`handleInitProducerId`,
//!   `handleAddPartitionsToTransaction`, `handleVerifyPartitionsInTransaction`,
//!   `endTransaction`, `endTransactionWithTV1`, `abortTimedOutTransactions`,
//!   `handleDescribeTransactions`, `handleListTransactions`)
//! - `kafka.coordinator.transaction.TransactionStateManager` (`getAndMaybeAddTransactionState`,
//!   `loadTransactionsForTxnTopicPartition`, `timedOutTransactions`,
//!   `removeExpiredTransactionalIds`, `listTransactionStates`)

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;

use super::end_txn::{EndDecision, end_decision_tv1, end_decision_tv2};
use super::record::TransactionRecord;
use super::state::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TopicPartition, TransactionMetadata, TransactionState,
    TransactionVersion,
};
use super::{Outcome, TransactionConfig, TxnMarker, partition_for};
use crate::group::OFFSETS_TOPIC;

use TransactionState::*;

const NONE: i16 = 0;

/// The longest string a TransactionLogKey (and a v0 value's topic) can hold.
const MAX_KEY_STRING_BYTES: usize = i16::MAX as usize;

fn code(error: ResponseError) -> i16 {
    error.code()
}

/// Where the loading of a `__transaction_state` partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardState {
    Loading,
    Active,
}

#[derive(Debug, Clone)]
struct Shard {
    state: ShardState,
    /// The leader epoch of the partition: the coordinator epoch of its markers.
    coordinator_epoch: i32,
    txns: BTreeMap<String, TransactionMetadata>,
}

/// The transaction coordinator of one broker. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct TransactionCoordinator {
    config: TransactionConfig,
    shards: BTreeMap<i32, Shard>,
}

/// InitProducerId's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResult {
    pub error_code: i16,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl InitProducerIdResult {
    fn error(error: ResponseError) -> Self {
        InitProducerIdResult {
            error_code: code(error),
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        }
    }
}

/// EndTxn's answer (the producer id and epoch matter from EndTxn v5, TV2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnResult {
    pub error_code: i16,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl EndTxnResult {
    fn error(error_code: i16) -> Self {
        EndTxnResult {
            error_code,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        }
    }
}

/// One transaction as DescribeTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedTransaction {
    pub transactional_id: String,
    pub error_code: i16,
    pub state: &'static str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub txn_start_timestamp_ms: i64,
    pub topics: Vec<(String, Vec<i32>)>,
}

/// ListTransactions' filters (empty: no filter).
#[derive(Default)]
pub struct ListFilters<'a> {
    pub producer_ids: BTreeSet<i64>,
    pub states: BTreeSet<String>,
    /// Only transactions running longer than this (`-1`: any).
    pub duration_ms: i64,
    /// The transactional id pattern, compiled by the caller (KIP-1152's regex).
    pub transactional_id_matches: Option<&'a dyn Fn(&str) -> bool>,
}

/// ListTransactions' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedTransactions {
    pub error_code: i16,
    pub unknown_state_filters: Vec<String>,
    /// (transactional id, producer id, state name), sorted by id.
    pub transactions: Vec<(String, i64, &'static str)>,
}

/// A source of new producer ids (the broker's block from the controller).
pub type NewProducerId<'a> = &'a mut dyn FnMut() -> Result<i64, ResponseError>;

impl TransactionCoordinator {
    /// A coordinator serving no partition yet.
    pub fn new(config: TransactionConfig) -> TransactionCoordinator {
        TransactionCoordinator {
            config,
            shards: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_of(&self, transactional_id: &str) -> i32 {
        partition_for(
            transactional_id,
            self.config.transaction_state_log_num_partitions,
        )
    }

    pub fn shard_state(&self, partition: i32) -> Option<ShardState> {
        self.shards.get(&partition).map(|s| s.state)
    }

    /// The metadata of a transactional id served here.
    pub fn metadata(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        let shard = self.shards.get(&self.partition_of(transactional_id))?;
        shard.txns.get(transactional_id)
    }

    /// Every transaction of the loaded partitions, by partition then id.
    pub fn all_metadata(&self) -> Vec<&TransactionMetadata> {
        self.shards.values().flat_map(|s| s.txns.values()).collect()
    }

    /// This broker leads `partition` at `leader_epoch`: true if its records are now to be
    /// replayed ([`TransactionCoordinator::replay`]) and then
    /// [`TransactionCoordinator::complete_load`] called. A newer epoch of a partition
    /// already here loads it again from its log, as Kafka's `onElection` does (its
    /// markers then carry the new coordinator epoch); an epoch no newer is ignored.
    pub fn begin_load(&mut self, partition: i32, leader_epoch: i32) -> bool {
        if let Some(shard) = self.shards.get(&partition)
            && shard.coordinator_epoch >= leader_epoch
        {
            return false;
        }
        let shard = Shard {
            state: ShardState::Loading,
            coordinator_epoch: leader_epoch,
            txns: BTreeMap::new(),
        };
        self.shards.insert(partition, shard);
        true
    }

    /// Applies one record of a loading partition. Records of a partition not loading here
    /// are ignored; a value that cannot be read, or that Kafka never writes (state Dead or
    /// PrepareEpochFence, a negative producer id, next producer id or epoch), is an error and changes nothing,
    /// so every loaded transaction is one the coordinator can move on from.
    pub fn replay(
        &mut self,
        partition: i32,
        record: &TransactionRecord,
    ) -> Result<(), super::TxnRecordError> {
        let Some(shard) = self.shards.get_mut(&partition) else {
            return Ok(());
        };
        if shard.state != ShardState::Loading {
            return Ok(());
        }
        let id = &record.transactional_id;
        match &record.value {
            None => {
                shard.txns.remove(id);
            }
            Some(value) => {
                let md = value.to_metadata(id)?;
                check_loadable(&md)?;
                shard.txns.insert(id.clone(), md);
            }
        }
        Ok(())
    }

    /// The partition is replayed: its transactions are served, and those that were writing
    /// their markers (PrepareCommit / PrepareAbort) send them again.
    pub fn complete_load(&mut self, partition: i32, leader_epoch: i32) -> Outcome<()> {
        let mut out = Outcome::new(());
        match self.shards.get_mut(&partition) {
            Some(shard)
                if shard.state == ShardState::Loading
                    && shard.coordinator_epoch >= leader_epoch =>
            {
                shard.state = ShardState::Active;
                for md in shard.txns.values() {
                    if matches!(md.state, PrepareCommit | PrepareAbort) {
                        out.markers.push(TxnMarker::of(md, shard.coordinator_epoch));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// This broker stopped leading `partition` (`None`: whatever the epoch): its
    /// transactions leave memory and answer NOT_COORDINATOR. An older epoch is ignored.
    pub fn unload_partition(&mut self, partition: i32, leader_epoch: Option<i32>) {
        if let Some(shard) = self.shards.get(&partition)
            && leader_epoch.is_none_or(|e| shard.coordinator_epoch < e)
        {
            self.shards.remove(&partition);
        }
    }

    /// The shard serving `transactional_id`, or why none does.
    fn shard_mut(&mut self, transactional_id: &str) -> Result<(i32, &mut Shard), ResponseError> {
        let partition = self.partition_of(transactional_id);
        match self.shards.get_mut(&partition) {
            Some(shard) if shard.state == ShardState::Active => Ok((partition, shard)),
            Some(_) => Err(ResponseError::CoordinatorLoadInProgress),
            None => Err(ResponseError::NotCoordinator),
        }
    }

    /// Keeps `md` as the transaction's metadata and queues its record.
    fn write<R>(&mut self, partition: i32, md: TransactionMetadata, out: &mut Outcome<R>) {
        let version = self.config.transaction_version_level.log_value_version();
        out.records
            .push((partition, TransactionRecord::of(&md, version)));
        if let Some(shard) = self.shards.get_mut(&partition) {
            shard.txns.insert(md.transactional_id.clone(), md);
        }
    }

    fn coordinator_epoch(&self, partition: i32) -> i32 {
        self.shards
            .get(&partition)
            .map_or(-1, |s| s.coordinator_epoch)
    }

    /// InitProducerId for a transactional id (the null id never reaches the coordinator).
    /// `expected`: the producer id and epoch the request names (KIP-360), `None` for -1/-1.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        txn_timeout_ms: i32,
        expected: Option<(i64, i16)>,
        new_producer_id: NewProducerId<'_>,
        now_ms: i64,
    ) -> Outcome<InitProducerIdResult> {
        let fail = |e| Outcome::new(InitProducerIdResult::error(e));
        // An id the record key cannot hold (Kafka fails to serialize it) is refused here.
        if transactional_id.is_empty() || transactional_id.len() > MAX_KEY_STRING_BYTES {
            return fail(ResponseError::InvalidRequest);
        }
        if txn_timeout_ms <= 0 || txn_timeout_ms > self.config.transaction_max_timeout_ms {
            return fail(ResponseError::InvalidTransactionTimeout);
        }
        let (partition, shard) = match self.shard_mut(transactional_id) {
            Ok(found) => found,
            Err(e) => return fail(e),
        };
        let md = match shard.txns.get(transactional_id) {
            Some(md) => md.clone(),
            None => match new_producer_id() {
                Ok(id) => TransactionMetadata::new(transactional_id, id, txn_timeout_ms, now_ms),
                Err(e) => return fail(e),
            },
        };
        let valid_id = |(id, epoch): (i64, i16)| {
            md.producer_epoch == NO_PRODUCER_EPOCH
                || id == md.producer_id
                || (id == md.previous_producer_id && TransactionMetadata::is_epoch_exhausted(epoch))
        };
        // Markers in flight are Kafka's pending transition, checked before the producer.
        if matches!(md.state, PrepareAbort | PrepareCommit) {
            return fail(ResponseError::ConcurrentTransactions);
        }
        if !expected.is_none_or(valid_id) {
            return fail(ResponseError::ProducerFenced);
        }
        let next = match md.state {
            PrepareAbort | PrepareCommit => unreachable!("answered above"),
            Ongoing => {
                // Fence the producer: abort its transaction; the client retries.
                let mut out = fail(ResponseError::ConcurrentTransactions);
                if !self.fence_and_abort(partition, &md, now_ms, &mut out) {
                    // Kafka's IllegalStateException, answered as UNKNOWN_SERVER_ERROR.
                    return fail(ResponseError::UnknownServerError);
                }
                return out;
            }
            Dead | PrepareEpochFence => unreachable!("{:?} is never a resting state", md.state),
            Empty | CompleteAbort | CompleteCommit => {
                let expected_epoch = expected.map(|(_, e)| e);
                if md.is_producer_epoch_exhausted()
                    && expected_epoch.is_none_or(|e| e == md.producer_epoch)
                {
                    match new_producer_id() {
                        Ok(id) => md.prepare_producer_id_rotation(
                            id,
                            txn_timeout_ms,
                            now_ms,
                            expected.is_some(),
                        ),
                        Err(e) => return fail(e),
                    }
                } else if md.is_producer_epoch_exhausted() {
                    // Kafka's IllegalStateException, answered as UNKNOWN_SERVER_ERROR.
                    return fail(ResponseError::UnknownServerError);
                } else {
                    match md.prepare_increment_epoch(txn_timeout_ms, expected_epoch, now_ms) {
                        Some(next) => next,
                        None => return fail(ResponseError::ProducerFenced),
                    }
                }
            }
        };
        let mut out = Outcome::new(InitProducerIdResult {
            error_code: NONE,
            producer_id: next.producer_id,
            producer_epoch: next.producer_epoch,
        });
        self.write(partition, next, &mut out);
        out
    }

    /// Kafka's `prepareFenceProducerEpoch` followed by an abort that is not from the client,
    /// at the broker's transaction version: PrepareAbort one epoch up, and its markers.
    /// False (nothing done) at epoch `i16::MAX`, where Kafka's fence throws.
    fn fence_and_abort<R>(
        &mut self,
        partition: i32,
        md: &TransactionMetadata,
        now_ms: i64,
        out: &mut Outcome<R>,
    ) -> bool {
        assert!(md.state == Ongoing, "only an Ongoing transaction is fenced");
        if md.producer_epoch == i16::MAX {
            return false;
        }
        let version = self.config.transaction_version_level;
        let prepared = if version.supports_epoch_bump() {
            md.prepare_abort_or_commit(PrepareAbort, version, NO_PRODUCER_ID, now_ms, false)
        } else {
            let mut fenced = md.clone();
            fenced.producer_epoch = md.producer_epoch + 1;
            fenced.last_producer_epoch = NO_PRODUCER_EPOCH;
            let tv0 = TransactionVersion::Tv0;
            fenced.prepare_abort_or_commit(PrepareAbort, tv0, NO_PRODUCER_ID, now_ms, false)
        };
        self.prepared(partition, prepared, now_ms, out);
        true
    }

    /// A PrepareCommit / PrepareAbort is written: send its markers, or complete at once
    /// when it has no partitions. Returns what the transaction becomes once complete.
    fn prepared<R>(
        &mut self,
        partition: i32,
        md: TransactionMetadata,
        now_ms: i64,
        out: &mut Outcome<R>,
    ) -> TransactionMetadata {
        let complete = md.prepare_complete(now_ms);
        if md.topic_partitions.is_empty() {
            self.write(partition, md, out);
            self.write(partition, complete.clone(), out);
        } else {
            out.markers
                .push(TxnMarker::of(&md, self.coordinator_epoch(partition)));
            self.write(partition, md, out);
        }
        complete
    }

    /// AddPartitionsToTxn v0-3 (and v4+ entries that are not verify-only), with the
    /// transaction version the request implies ([`TransactionVersion::for_add_partitions`]).
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
        version: TransactionVersion,
        now_ms: i64,
    ) -> Outcome<i16> {
        let too_long = partitions
            .iter()
            .any(|p| p.topic.len() > MAX_KEY_STRING_BYTES);
        if transactional_id.is_empty() || too_long {
            return Outcome::new(code(ResponseError::InvalidRequest));
        }
        let (partition, shard) = match self.shard_mut(transactional_id) {
            Ok(found) => found,
            Err(e) => return Outcome::new(code(e)),
        };
        let Some(md) = shard.txns.get(transactional_id) else {
            return Outcome::new(code(ResponseError::InvalidProducerIdMapping));
        };
        let error = if matches!(md.state, PrepareCommit | PrepareAbort) {
            // Kafka checks its pending transition first; markers in flight are one.
            Some(ResponseError::ConcurrentTransactions)
        } else if md.producer_id != producer_id {
            Some(ResponseError::InvalidProducerIdMapping)
        } else if md.producer_epoch != producer_epoch {
            Some(ResponseError::ProducerFenced)
        } else {
            None
        };
        if let Some(e) = error {
            return Outcome::new(code(e));
        }
        if md.state == Ongoing && partitions.is_subset(&md.topic_partitions) {
            return Outcome::new(NONE);
        }
        let next = md.prepare_add_partitions(partitions, now_ms, version);
        let mut out = Outcome::new(NONE);
        self.write(partition, next, &mut out);
        out
    }

    /// AddPartitionsToTxn v4+ verify-only entries: which partitions are in the transaction
    /// (TRANSACTION_ABORTABLE for those that are not).
    pub fn verify_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<TopicPartition>,
    ) -> Vec<(TopicPartition, i16)> {
        let all = |e: ResponseError| partitions.iter().map(|p| (p.clone(), code(e))).collect();
        if transactional_id.is_empty() {
            return all(ResponseError::InvalidRequest);
        }
        let md = match self.shard_mut(transactional_id) {
            Ok((_, shard)) => match shard.txns.get(transactional_id) {
                Some(md) => md,
                None => return all(ResponseError::InvalidProducerIdMapping),
            },
            Err(e) => return all(e),
        };
        if md.producer_id != producer_id {
            return all(ResponseError::InvalidProducerIdMapping);
        }
        if md.producer_epoch != producer_epoch {
            return all(ResponseError::ProducerFenced);
        }
        if matches!(md.state, PrepareCommit | PrepareAbort) {
            return all(ResponseError::ConcurrentTransactions);
        }
        let abortable = code(ResponseError::TransactionAbortable);
        partitions
            .iter()
            .map(|p| {
                let error = if md.topic_partitions.contains(p) {
                    NONE
                } else {
                    abortable
                };
                (p.clone(), error)
            })
            .collect()
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction
    /// (always the classic protocol, as Kafka's handler passes TV0).
    pub fn add_offsets(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
        now_ms: i64,
    ) -> Outcome<i16> {
        let p = crate::group::partition_for(group_id, self.config.offsets_topic_num_partitions);
        let partitions = BTreeSet::from([TopicPartition::new(OFFSETS_TOPIC, p)]);
        let tv0 = TransactionVersion::Tv0;
        self.add_partitions(
            transactional_id,
            producer_id,
            producer_epoch,
            &partitions,
            tv0,
            now_ms,
        )
    }

    /// EndTxn from the client, with the version its request implies
    /// ([`TransactionVersion::for_end_txn`]).
    #[allow(clippy::too_many_arguments)]
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        version: TransactionVersion,
        new_producer_id: NewProducerId<'_>,
        now_ms: i64,
    ) -> Outcome<EndTxnResult> {
        if transactional_id.is_empty() {
            return Outcome::new(EndTxnResult::error(code(ResponseError::InvalidRequest)));
        }
        let (partition, md) = match self.shard_mut(transactional_id) {
            Ok((p, shard)) => match shard.txns.get(transactional_id) {
                Some(md) => (p, md.clone()),
                None => {
                    let e = code(ResponseError::InvalidProducerIdMapping);
                    return Outcome::new(EndTxnResult::error(e));
                }
            },
            Err(e) => return Outcome::new(EndTxnResult::error(code(e))),
        };
        let decision = if version.supports_epoch_bump() {
            end_decision_tv2(&md, producer_id, producer_epoch, commit)
        } else {
            end_decision_tv1(&md, producer_id, producer_epoch, commit)
        };
        let (to, no_partition_added) = match decision {
            EndDecision::Answer(error_code) => {
                let mut result = EndTxnResult::error(error_code);
                if error_code == NONE && version.supports_epoch_bump() {
                    result.producer_id = md.producer_id;
                    result.producer_epoch = md.producer_epoch;
                }
                return Outcome::new(result);
            }
            EndDecision::Prepare(to, no_partition_added) => (to, no_partition_added),
        };
        if version.supports_epoch_bump() && md.producer_epoch == i16::MAX {
            // The bump would overflow: Kafka's IllegalArgumentException.
            let e = code(ResponseError::UnknownServerError);
            return Outcome::new(EndTxnResult::error(e));
        }
        let exhausted = md.is_producer_epoch_exhausted();
        let next_producer_id = if version.supports_epoch_bump() && exhausted {
            match new_producer_id() {
                Ok(id) => id,
                Err(e) => return Outcome::new(EndTxnResult::error(code(e))),
            }
        } else {
            NO_PRODUCER_ID
        };
        let prepared =
            md.prepare_abort_or_commit(to, version, next_producer_id, now_ms, no_partition_added);
        let mut out = Outcome::new(EndTxnResult::error(NONE));
        let complete = self.prepared(partition, prepared, now_ms, &mut out);
        if version.supports_epoch_bump() {
            out.response.producer_id = complete.producer_id;
            out.response.producer_epoch = complete.producer_epoch;
        }
        out
    }

    /// Every marker of the transaction is written (the caller's WriteTxnMarkers calls all
    /// answered, or their partitions are gone): CompleteCommit / CompleteAbort. Ignored
    /// (false) unless the transaction is still writing markers at `coordinator_epoch`.
    pub fn complete_markers(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Outcome<bool> {
        let mut out = Outcome::new(false);
        let Ok((partition, shard)) = self.shard_mut(transactional_id) else {
            return out;
        };
        if shard.coordinator_epoch != coordinator_epoch {
            return out;
        }
        let Some(md) = shard.txns.get(transactional_id) else {
            return out;
        };
        if !matches!(md.state, PrepareCommit | PrepareAbort) {
            return out;
        }
        let complete = md.prepare_complete(now_ms);
        out.response = true;
        self.write(partition, complete, &mut out);
        out
    }

    /// Whether the transaction is still writing the markers of `producer_epoch` at
    /// `coordinator_epoch` (PrepareCommit / PrepareAbort on a loaded partition): the
    /// marker sender's test that it still has work, as Kafka's channel manager checks the
    /// coordinator epoch before each send.
    pub fn is_writing_markers(
        &self,
        transactional_id: &str,
        coordinator_epoch: i32,
        producer_epoch: i16,
    ) -> bool {
        let Some(shard) = self.shards.get(&self.partition_of(transactional_id)) else {
            return false;
        };
        shard.state == ShardState::Active
            && shard.coordinator_epoch == coordinator_epoch
            && shard.txns.get(transactional_id).is_some_and(|md| {
                matches!(md.state, PrepareCommit | PrepareAbort)
                    && md.producer_epoch == producer_epoch
            })
    }

    /// The `transaction.timeout.ms` timer: every Ongoing transaction open longer than its
    /// timeout is fenced and aborted.
    pub fn abort_timed_out(&mut self, now_ms: i64) -> Outcome<Vec<String>> {
        let mut due = Vec::new();
        for (partition, shard) in self
            .shards
            .iter()
            .filter(|(_, s)| s.state == ShardState::Active)
        {
            for md in shard.txns.values() {
                let deadline = md
                    .txn_start_timestamp_ms
                    .saturating_add(i64::from(md.txn_timeout_ms));
                if md.state == Ongoing && deadline < now_ms {
                    due.push((*partition, md.clone()));
                }
            }
        }
        let mut out = Outcome::new(Vec::new());
        for (partition, md) in due {
            if self.fence_and_abort(partition, &md, now_ms, &mut out) {
                out.response.push(md.transactional_id.clone());
            }
        }
        out
    }

    /// The `transactional.id.expiration.ms` timer: ids idle that long with no open
    /// transaction are removed and tombstoned.
    pub fn expire_transactional_ids(&mut self, now_ms: i64) -> Outcome<Vec<String>> {
        let expiration_ms = self.config.transactional_id_expiration_ms;
        let mut out = Outcome::new(Vec::new());
        for (partition, shard) in self.shards.iter_mut() {
            if shard.state != ShardState::Active {
                continue;
            }
            let expired: Vec<String> = shard
                .txns
                .values()
                .filter(|md| {
                    md.state.is_expiration_allowed()
                        && md.txn_last_update_timestamp_ms <= now_ms.saturating_sub(expiration_ms)
                })
                .map(|md| md.transactional_id.clone())
                .collect();
            for id in expired {
                if let Some(md) = shard.txns.remove(&id) {
                    let _dead = md.prepare_dead();
                }
                out.records
                    .push((*partition, TransactionRecord::tombstone(&id)));
                out.response.push(id);
            }
        }
        out
    }

    /// DescribeTransactions, one answer per id, in the order asked.
    pub fn describe(&mut self, transactional_ids: &[&str]) -> Vec<DescribedTransaction> {
        transactional_ids
            .iter()
            .map(|id| {
                let mut d = DescribedTransaction {
                    transactional_id: (*id).to_owned(),
                    error_code: NONE,
                    state: "",
                    producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                    txn_timeout_ms: 0,
                    txn_start_timestamp_ms: -1,
                    topics: Vec::new(),
                };
                if id.is_empty() {
                    d.error_code = code(ResponseError::InvalidRequest);
                    return d;
                }
                match self.shard_mut(id) {
                    Err(e) => d.error_code = code(e),
                    Ok((_, shard)) => match shard.txns.get(*id) {
                        None => d.error_code = code(ResponseError::TransactionalIdNotFound),
                        Some(md) => describe_into(md, &mut d),
                    },
                }
                d
            })
            .collect()
    }

    /// ListTransactions over every loaded partition (COORDINATOR_LOAD_IN_PROGRESS while one
    /// is loading).
    pub fn list(&self, filters: &ListFilters<'_>, now_ms: i64) -> ListedTransactions {
        let mut listed = ListedTransactions::default();
        if self.shards.values().any(|s| s.state == ShardState::Loading) {
            listed.error_code = code(ResponseError::CoordinatorLoadInProgress);
            return listed;
        }
        let mut states = BTreeSet::new();
        for name in &filters.states {
            match TransactionState::from_name(name) {
                Some(s) => {
                    states.insert(s);
                }
                None => listed.unknown_state_filters.push(name.clone()),
            }
        }
        for md in self.shards.values().flat_map(|s| s.txns.values()) {
            let include = md.state != Dead
                && (filters.producer_ids.is_empty()
                    || filters.producer_ids.contains(&md.producer_id))
                && (filters.states.is_empty() || states.contains(&md.state))
                && (filters.duration_ms < 0
                    || now_ms.saturating_sub(md.txn_start_timestamp_ms) > filters.duration_ms)
                && filters
                    .transactional_id_matches
                    .is_none_or(|m| m(&md.transactional_id));
            if include {
                let entry = (md.transactional_id.clone(), md.producer_id, md.state.name());
                listed.transactions.push(entry);
            }
        }
        listed.transactions.sort();
        listed
    }
}

fn check_loadable(md: &TransactionMetadata) -> Result<(), super::TxnRecordError> {
    let never = super::TxnRecordError::NeverWritten;
    if matches!(md.state, Dead | PrepareEpochFence) {
        return Err(never("a transient state"));
    }
    if md.producer_id < 0 || md.producer_epoch < 0 || md.next_producer_id < NO_PRODUCER_ID {
        return Err(never("a negative producer id or epoch"));
    }
    Ok(())
}

fn describe_into(md: &TransactionMetadata, d: &mut DescribedTransaction) {
    d.state = md.state.name();
    d.producer_id = md.producer_id;
    d.producer_epoch = md.producer_epoch;
    d.txn_timeout_ms = md.txn_timeout_ms;
    d.txn_start_timestamp_ms = md.txn_start_timestamp_ms;
    d.topics = TopicPartition::by_topic(&md.topic_partitions);
}

impl TxnMarker {
    fn of(md: &TransactionMetadata, coordinator_epoch: i32) -> TxnMarker {
        TxnMarker {
            transactional_id: md.transactional_id.clone(),
            producer_id: md.producer_id,
            producer_epoch: md.producer_epoch,
            coordinator_epoch,
            commit: md.state == PrepareCommit,
            partitions: md.topic_partitions.iter().cloned().collect(),
        }
    }
}
