//! Transactional offset commits (KIP-98, KIP-447): TxnOffsetCommit, the offsets it leaves
//! pending until the transaction's end marker, and how they are replayed from the log.
//!
//! A TxnOffsetCommit's offsets are written to the group's `__consumer_offsets` partition in
//! a transactional batch of the producer (its id and epoch), but they are not committed
//! offsets yet: they wait, per producer id, until the transaction coordinator's marker for
//! that partition commits them (they become the group's committed offsets) or aborts them
//! (they are dropped). A group with pending offsets for a partition answers an OffsetFetch
//! with `require_stable` UNSTABLE_OFFSET_COMMIT for it; its retention keeps those offsets
//! and the group itself while a transaction is open.
//!
//! # Which commit wins
//!
//! Kafka keeps, for each partition, the offset whose record comes *last in the log*: a
//! transaction's offsets that commit replace the committed offset only if their record was
//! written after that offset's record (a plain OffsetCommit after the TxnOffsetCommit but
//! before the marker wins over it). Here every offset record gets a sequence number when it
//! is applied (live or replayed) in log order, standing for Kafka's record offset: only the
//! order within one partition matters, and every record of a partition goes through the
//! coordinator in the order it is appended, both live and on replay.
//!
//! # Why it is shaped so
//!
//! Pending offsets are kept by producer id across every loaded partition; a marker is for one
//! partition, so it completes only the producer's offsets of groups of that partition (Kafka
//! keeps one store per coordinator shard, i.e. per partition: the same thing). The records a
//! TxnOffsetCommit returns in its [`Effects`] are the transactional batch's records; the
//! caller writes them as a batch of the request's producer ([`GroupCoordinator::txn_offset_commit`]).
//!
//! # References
//! - `OffsetMetadataManager` (`commitTransactionalOffset`, `validateTransactionalOffsetCommit`,
//!   `replay`, `replayEndTransactionMarker`, `hasPendingTransactionalOffsets`,
//!   `pendingTransactionalOffsets`, `openTransactionsByGroup`, `deleteAllOffsets`,
//!   `cleanupExpiredOffsets`, `onPartitionsDeleted`)
//! - `ClassicGroup.validateOffsetCommit` (`isTransactional`)
//! - `GroupCoordinatorService.commitTransactionalOffsets`, `CoordinatorLoaderImpl` (control
//!   batches), `KafkaApis.handleTxnOffsetCommitRequest`
//! - KIP-98 (transactions), KIP-447 (producer scalability: generation and member in
//!   TxnOffsetCommit v3), KIP-890 (v5)

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestPartition;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::classic::{ClassicGroup, GroupState};
use super::coordinator::GroupCoordinator;
use super::offsets::{OffsetAndMetadata, offset_value};
use super::record::{GroupRecord, OffsetCommitValue};
use super::{Effects, MAX_GROUP_ID_BYTES, Reply, RequestContext};

/// Kafka's `RecordBatch.NO_PRODUCER_ID`: the producer id of a batch outside transactions.
pub const NO_PRODUCER_ID: i64 = -1;

/// (group, topic, partition).
type Key = (String, String, i32);

/// One record of a `__consumer_offsets` partition as the loader reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedRecord {
    /// A group record, with the producer id of its batch ([`NO_PRODUCER_ID`] outside a
    /// transaction).
    Group {
        producer_id: i64,
        record: GroupRecord,
    },
    /// A control batch's marker: the producer's transaction committed (or aborted).
    EndTransaction { producer_id: i64, commit: bool },
}

/// An offset waiting for its transaction, with the sequence of its record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingOffset {
    offset: OffsetAndMetadata,
    seq: u64,
}

/// The offsets of open transactions: Kafka's `pendingTransactionalOffsets` (by producer id)
/// and `openTransactionsByGroup`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct PendingTxnOffsets {
    by_producer: BTreeMap<i64, BTreeMap<Key, PendingOffset>>,
    open_by_group: BTreeMap<String, BTreeSet<i64>>,
}

impl PendingTxnOffsets {
    fn put(&mut self, producer_id: i64, key: Key, offset: OffsetAndMetadata, seq: u64) {
        self.open_by_group
            .entry(key.0.clone())
            .or_default()
            .insert(producer_id);
        self.by_producer
            .entry(producer_id)
            .or_default()
            .insert(key, PendingOffset { offset, seq });
    }

    /// Whether an open transaction has an offset for this partition of the group.
    pub(super) fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.open_by_group.get(group_id).is_some_and(|producers| {
            producers.iter().any(|p| {
                self.by_producer
                    .get(p)
                    .is_some_and(|o| o.contains_key(&key))
            })
        })
    }

    /// Whether the group has an open transaction (even one whose offsets were deleted).
    pub(super) fn has_open_transactions(&self, group_id: &str) -> bool {
        self.open_by_group.contains_key(group_id)
    }

    /// The partitions of the group with a pending offset, sorted, without duplicates.
    pub(super) fn partitions_of(&self, group_id: &str) -> BTreeSet<(String, i32)> {
        let mut out = BTreeSet::new();
        for producer_id in self.open_by_group.get(group_id).into_iter().flatten() {
            let Some(offsets) = self.by_producer.get(producer_id) else {
                continue;
            };
            for (g, topic, partition) in offsets.keys() {
                if g == group_id {
                    out.insert((topic.clone(), *partition));
                }
            }
        }
        out
    }

    /// A tombstone: every open transaction's offset of the partition goes (the transaction
    /// itself stays open).
    fn remove_partition(&mut self, group_id: &str, topic: &str, partition: i32) {
        let key = (group_id.to_string(), topic.to_string(), partition);
        for producer_id in self.open_by_group.get(group_id).into_iter().flatten() {
            if let Some(offsets) = self.by_producer.get_mut(producer_id) {
                offsets.remove(&key);
            }
        }
    }

    /// Takes the producer's offsets of the groups `in_partition` accepts, closing its
    /// transaction in those groups.
    fn take(
        &mut self,
        producer_id: i64,
        in_partition: &dyn Fn(&str) -> bool,
    ) -> Vec<(Key, PendingOffset)> {
        let closed_groups: Vec<String> = self
            .open_by_group
            .iter()
            .filter(|(g, producers)| producers.contains(&producer_id) && in_partition(g))
            .map(|(g, _)| g.clone())
            .collect();
        for group_id in &closed_groups {
            if let Some(producers) = self.open_by_group.get_mut(group_id) {
                producers.remove(&producer_id);
                if producers.is_empty() {
                    self.open_by_group.remove(group_id);
                }
            }
        }
        let Some(offsets) = self.by_producer.get_mut(&producer_id) else {
            return Vec::new();
        };
        let keys: Vec<Key> = offsets
            .keys()
            .filter(|(g, _, _)| in_partition(g))
            .cloned()
            .collect();
        let taken = keys
            .into_iter()
            .filter_map(|k| offsets.remove(&k).map(|o| (k, o)))
            .collect();
        if offsets.is_empty() {
            self.by_producer.remove(&producer_id);
        }
        taken
    }

    /// The groups with an open transaction.
    pub(super) fn group_ids(&self) -> impl Iterator<Item = &String> {
        self.open_by_group.keys()
    }

    /// Forgets everything of a group (its coordinator moved away).
    pub(super) fn forget_group(&mut self, group_id: &str) {
        let Some(producers) = self.open_by_group.remove(group_id) else {
            return;
        };
        for producer_id in producers {
            if let Some(offsets) = self.by_producer.get_mut(&producer_id) {
                offsets.retain(|(g, _, _), _| g != group_id);
                if offsets.is_empty() {
                    self.by_producer.remove(&producer_id);
                }
            }
        }
    }

    /// The pending offset of one producer for a partition (for tests and tools).
    fn get(&self, producer_id: i64, key: &Key) -> Option<&OffsetAndMetadata> {
        Some(&self.by_producer.get(&producer_id)?.get(key)?.offset)
    }
}

impl GroupCoordinator {
    /// Handles a TxnOffsetCommit (after the caller checked the topics exist and the
    /// transaction includes the group's `__consumer_offsets` partition). The records of the
    /// returned effects are the offsets, already pending here: the caller appends them as
    /// one transactional batch of `request.producer_id` / `producer_epoch`.
    pub fn txn_offset_commit(
        &mut self,
        now_ms: i64,
        ctx: &RequestContext<'_>,
        request: &TxnOffsetCommitRequest,
    ) -> Reply<TxnOffsetCommitResponse> {
        let mut fx = Effects::default();
        let group_error = self.validate_txn_offset_commit(request).err();
        let producer_id = request.producer_id.0;
        let group_id = request.group_id.as_str();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let code = if let Some(code) = group_error {
                    code
                } else if self.metadata_too_large(p.committed_metadata.as_deref()) {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    let record = GroupRecord::OffsetCommit {
                        group_id: group_id.to_string(),
                        topic: topic.name.to_string(),
                        partition: p.partition_index,
                        value: Some(txn_commit_value(p, now_ms)),
                    };
                    self.replay_from(producer_id, &record);
                    fx.records.push(record);
                    0
                };
                partitions.push(
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code),
                );
            }
            topics.push(
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        // Before v2 a client does not know COORDINATOR_LOAD_IN_PROGRESS (KAFKA-7296).
        if ctx.api_version < 2 {
            let loading = ResponseError::CoordinatorLoadInProgress.code();
            for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if p.error_code == loading {
                    p.error_code = ResponseError::CoordinatorNotAvailable.code();
                }
            }
        }
        Reply {
            response: TxnOffsetCommitResponse::default().with_topics(topics),
            effects: fx,
        }
    }

    /// `GroupCoordinatorService.commitTransactionalOffsets` and
    /// `OffsetMetadataManager.validateTransactionalOffsetCommit`: like an OffsetCommit's
    /// check, but the group's state is not enforced (no REBALANCE_IN_PROGRESS) and a commit
    /// without member id and generation is accepted in any state (v0-2 carry neither).
    fn validate_txn_offset_commit(&self, request: &TxnOffsetCommitRequest) -> Result<(), i16> {
        let group_id = request.group_id.as_str();
        if !self.active {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_BYTES {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if let Some(error) = self.shard_error(group_id) {
            return Err(error.code());
        }
        let generation_id = request.generation_id;
        if let Some(group) = self.consumer_groups.get(group_id) {
            // The member epoch as generation; an older epoch is accepted (Kafka checks it
            // per partition, as for OffsetCommit).
            let member_id = request.member_id.as_str();
            return super::offsets::consumer_commit_check(group, member_id, generation_id, true, 0)
                .map(|_| ());
        }
        let Some(group) = self.groups.get(group_id) else {
            // A simple group is made for these offsets (when they are replayed).
            return if generation_id < 0 {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration.code())
            };
        };
        validate_classic(group, request)
    }

    /// The transaction of `producer_id` ended with a marker in `partition` of
    /// `__consumer_offsets`: its pending offsets of that partition's groups become committed
    /// offsets (`commit`, where their record is later than the committed one's) or are
    /// dropped. Live (after the marker is appended) and on replay alike. An unscoped
    /// coordinator takes every group as the partition's.
    pub fn replay_end_transaction_marker(
        &mut self,
        partition: i32,
        producer_id: i64,
        commit: bool,
    ) {
        let groups: BTreeSet<String> = self
            .pending_txn
            .group_ids()
            .filter(|g| self.partition_of(g).is_none_or(|p| p == partition))
            .cloned()
            .collect();
        let taken = self
            .pending_txn
            .take(producer_id, &|g: &str| groups.contains(g));
        if !commit {
            return;
        }
        for ((group_id, topic, p), pending) in taken {
            let newer = self
                .offsets
                .seq_of(&group_id, &topic, p)
                .is_none_or(|seq| pending.seq > seq);
            if newer {
                self.offsets
                    .put_at(&group_id, &topic, p, pending.offset, pending.seq);
            }
        }
    }

    /// Applies one record of a `__consumer_offsets` partition while loading it.
    pub fn replay_logged(&mut self, partition: i32, record: &LoggedRecord) {
        match record {
            LoggedRecord::Group {
                producer_id,
                record,
            } => self.replay_from(*producer_id, record),
            LoggedRecord::EndTransaction {
                producer_id,
                commit,
            } => self.replay_end_transaction_marker(partition, *producer_id, *commit),
        }
    }

    /// Kafka's `replay(recordOffset, producerId, key, value)`: an offset of a transactional
    /// batch waits for its marker; anything else is replayed as usual.
    pub fn replay_from(&mut self, producer_id: i64, record: &GroupRecord) {
        match record {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                value: Some(value),
            } if producer_id != NO_PRODUCER_ID => {
                self.ensure_group(group_id, value.commit_timestamp_ms);
                let seq = self.next_record_seq();
                let key = (group_id.clone(), topic.clone(), *partition);
                let offset = OffsetAndMetadata::from_record(value);
                self.pending_txn.put(producer_id, key, offset, seq);
            }
            _ => self.replay(record),
        }
    }

    /// Whether an open transaction of the group has an offset for the partition.
    pub fn has_pending_transactional_offsets(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> bool {
        self.pending_txn.has_pending(group_id, topic, partition)
    }

    /// The offset `producer_id`'s open transaction holds for a partition of a group.
    pub fn pending_transactional_offset(
        &self,
        producer_id: i64,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&OffsetAndMetadata> {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.pending_txn.get(producer_id, &key)
    }

    /// A tombstone's effect on open transactions: their offsets of the partition go.
    pub(super) fn drop_pending_partition(&mut self, group_id: &str, topic: &str, partition: i32) {
        self.pending_txn
            .remove_partition(group_id, topic, partition);
    }
}

/// `ClassicGroup.validateOffsetCommit` with `isTransactional = true`.
fn validate_classic(group: &ClassicGroup, request: &TxnOffsetCommitRequest) -> Result<(), i16> {
    if group.is_in(GroupState::Dead) {
        return Err(ResponseError::CoordinatorNotAvailable.code());
    }
    let generation_id = request.generation_id;
    if generation_id < 0 && group.is_in(GroupState::Empty) {
        return Ok(());
    }
    let member_id = request.member_id.as_str();
    let instance_id = request.group_instance_id.as_deref();
    if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
        group.validate_member(member_id, instance_id)?;
        if generation_id != group.generation_id {
            return Err(ResponseError::IllegalGeneration.code());
        }
    }
    Ok(())
}

/// What a transactional offset stores: a null metadata is `""`, the time is the broker's,
/// no explicit expiry (`OffsetAndMetadata.fromRequest`).
fn txn_commit_value(p: &TxnOffsetCommitRequestPartition, now_ms: i64) -> OffsetCommitValue {
    let (offset, epoch) = (p.committed_offset, p.committed_leader_epoch);
    offset_value(offset, epoch, p.committed_metadata.as_deref(), now_ms, None)
}
