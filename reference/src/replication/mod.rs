//! Replication of one partition between brokers: the replica state machine as a pure core,
//! and a seeded simulation of a replicated cluster that checks Kafka's guarantees.
//!
//! A [`Partition`] is one broker's replica of one partition (Kafka's `kafka.cluster.Partition`
//! with the fetcher's per-partition state): it owns the [`Log`](crate::log::Log) and the
//! [`LeaderEpochCache`](crate::log::LeaderEpochCache), and is either the leader or a follower
//! at a leader epoch the controller decided. Like the other cores it does no I/O beyond the
//! log and holds no futures: calls take `&mut self` and `now_ms` and return responses and
//! [`Effects`].
//!
//! # The rules (Kafka's)
//!
//! Leader:
//! - It tracks each follower's log end offset from its Fetch requests, and when it last was
//!   caught up (`Replica.updateFetchStateOrThrow`): a follower is caught up at a fetch that
//!   reaches the leader's log end offset as it was before the read, or that reaches the log
//!   end offset of the follower's previous fetch (then as of that previous fetch).
//! - The high watermark is the smallest log end offset over the *maximal* ISR (the committed
//!   ISR plus a member whose addition is in flight) and over followers that are caught up and
//!   eligible; it never moves backwards, and it does not move at all while the committed ISR
//!   is smaller than `min.insync.replicas` (Kafka 3.7+, KIP-966's first part).
//! - ISR shrink: a follower that has not been caught up for `replica.lag.time.max.ms` (and is
//!   not at the leader's log end offset) is proposed for removal by [`Partition::tick`]. ISR
//!   expand: a follower whose log end offset reaches the high watermark and the start of the
//!   leader's epoch, and that is unfenced with the broker epoch it fetched with (KIP-903), is
//!   proposed for addition. Either goes to the controller as an AlterPartition (KIP-497),
//!   one at a time; until answered, a shrink still counts the old members and an expansion
//!   already counts the new one.
//! - Produce with acks=all: refused with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//!   `min.insync.replicas` (counting at most the number of replicas); otherwise appended
//!   (each batch stamped with the leader epoch) and answered when the high watermark passes
//!   its last offset — NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the maximal ISR is then
//!   below the minimum — or REQUEST_TIMED_OUT at its deadline, or NOT_LEADER_OR_FOLLOWER if
//!   leadership is lost first. (Because the high watermark stops under the minimum ISR,
//!   modern Kafka answers an ISR shrink during the wait with a timeout, not
//!   NOT_ENOUGH_REPLICAS_AFTER_APPEND; this core does the same.)
//! - Requests carrying a leader epoch are checked against it: older is
//!   FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, and a replica that is not the leader
//!   answers NOT_LEADER_OR_FOLLOWER. A fetch from an older incarnation of a follower (a broker
//!   epoch below the one in metadata) is NOT_LEADER_OR_FOLLOWER.
//! - Consumers read only below the high watermark; `read_committed` consumers only below the
//!   last stable offset, with the aborted transactions of what they read (KIP-98).
//!
//! Follower:
//! - After every new leader epoch it first truncates: it asks the leader where its own latest
//!   epoch ends (OffsetForLeaderEpoch), cuts its log to the smaller of that offset and its own
//!   end of that epoch, and asks again when the leader answered with an epoch it does not know
//!   (KIP-101, KIP-279; `AbstractFetcherThread.getOffsetTruncationState`). Without any epoch
//!   it truncates to its high watermark. A Fetch response with a diverging epoch (Fetch v12+,
//!   sent when a fetch names a last fetched epoch the leader's log disagrees with) truncates
//!   the same way.
//! - Then it fetches from its log end offset, appends the leader's batches unchanged, notes
//!   their epochs, and takes the leader's high watermark (capped at its own log end offset)
//!   and the leader's log start offset (capped at its high watermark:
//!   `maybeIncrementLogStartOffset`).
//!
//! Every replica applies its topic's retention to its own log, never past its high watermark.
//!
//! DeleteRecords (KIP-107): the leader moves its log start offset to the requested offset
//! (-1: the high watermark; beyond the high watermark, or negative, is OFFSET_OUT_OF_RANGE),
//! followers take it from the next Fetch response (as for retention above) and report their
//! own in their next Fetch request, and the request is answered once the *low watermark*,
//! the smallest log start offset over the leader and its alive followers, reaches the
//! offset (`Partition.deleteRecordsOnLeader`, `lowWatermarkIfLeader`, `DelayedDeleteRecords`).
//!
//! # Driving it (the wire layer's side)
//!
//! | Kafka request or event | call |
//! | --- | --- |
//! | metadata record makes this broker leader / follower / not a replica | [`Partition::make_leader`] / [`Partition::make_follower`] / [`Partition::stop`] |
//! | Produce (leader) | [`Partition::append_as_leader`] with a token; park acks=all under it |
//! | WriteTxnMarkers, a coordinator's transactional batch (leader) | [`Partition::append_marker`], [`Partition::append_with_origin`] |
//! | Fetch with `ReplicaState.ReplicaId` ≥ 0 (leader) | [`Partition::fetch_from_follower`] |
//! | Fetch from a consumer (leader) | [`Partition::fetch_from_consumer`] |
//! | OffsetForLeaderEpoch (leader) | [`Partition::last_offset_for_leader_epoch`] |
//! | ListOffsets latest (leader) | [`Partition::latest_offset`] |
//! | follower's fetcher loop | [`Partition::next_follower_request`], then [`Partition::handle_offset_for_leader_epoch`] / [`Partition::handle_fetch_response`] |
//! | AlterPartition response | [`Partition::handle_alter_partition_response`] |
//! | timer (`replica.lag.time.max.ms / 2`, produce deadlines) | [`Partition::tick`] |
//! | retention timer (`log.retention.check.interval.ms`), leader and followers | [`Partition::apply_retention`] |
//! | DeleteRecords (leader), then until the low watermark reaches the offset | [`Partition::delete_records_on_leader`], [`Partition::low_watermark`] |
//!
//! For every [`Effects`]: deliver each completion to the produce request parked under its
//! token (a Produce spanning partitions answers when all its partitions have), and send
//! `alter_partition` to the controller; [`Partition::pending_alter_partition`] is the request
//! to resend if its answer was lost (Kafka's `AlterPartitionManager` retries).
//!
//! # Not modelled
//!
//! Reassignment (adding/removing replicas), leader recovery state (KIP-704)
//! and eligible leader replicas (KIP-966). The producer state (idempotence, transactions)
//! is the log's ([`crate::log::producer_state`]); every move of the high watermark moves
//! the last stable offset with it ([`Partition::last_stable_offset`]).
//!
//! # References
//! - KIP-101 and KIP-279 (truncation by leader epoch), KIP-320 (fencing by leader epoch),
//!   KIP-497 (AlterPartition), KIP-841 and KIP-903 (ISR eligibility), KIP-207 (latest offset
//!   while the high watermark catches up), KIP-595 (diverging epoch in Fetch), KIP-966 (ELR:
//!   not modelled)
//! - Apache Kafka sources: `Partition` (`makeLeader`, `makeFollower`, `appendRecordsToLeader`,
//!   `fetchRecords`, `updateFollowerFetchState`, `maybeExpandIsr`, `maybeShrinkIsr`,
//!   `maybeIncrementLeaderHW`, `checkEnoughReplicasReachOffset`, `lastOffsetForLeaderEpoch`,
//!   `handleAlterPartitionUpdate`, `handleAlterPartitionError`), `Replica`, `ReplicaManager`,
//!   `DelayedProduce`, `AbstractFetcherThread`, `ReplicaFetcherThread`, `LeaderEpochFileCache`

mod delete_records;
mod follower;
mod leader;
mod partition;
pub mod sim;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::controller::{AlterPartition, MetadataImage};
use crate::log::AbortedTxn;

pub use crate::log::AppendOrigin;
pub use delete_records::DeletedRecords;
pub use partition::{FollowerProgress, Partition};

/// The caller's name for a parked acks=all produce.
pub type RequestToken = u64;

/// Replication settings of one partition, by Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower not caught up for longer leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `min.insync.replicas` of the topic.
    pub min_insync_replicas: i32,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
        }
    }
}

/// The answer to one partition of an acks=all produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResult {
    pub error_code: i16,
    /// The offset the batch was given when it was appended.
    pub base_offset: i64,
}

/// What a call changed outside the partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Parked acks=all produces that are now answered.
    pub completions: Vec<(RequestToken, ProduceResult)>,
    /// An AlterPartition to send to the controller.
    pub alter_partition: Option<AlterPartition>,
    /// The high watermark moved: consumer fetches waiting on it may answer.
    pub high_watermark_changed: bool,
    /// A follower reported a new log start offset: the leader's low watermark may have
    /// moved, and DeleteRecords waiting on it may answer.
    pub low_watermark_changed: bool,
}

impl Effects {
    pub fn extend(&mut self, other: Effects) {
        self.completions.extend(other.completions);
        if other.alter_partition.is_some() {
            self.alter_partition = other.alter_partition;
        }
        self.high_watermark_changed |= other.high_watermark_changed;
        self.low_watermark_changed |= other.low_watermark_changed;
    }
}

/// Which brokers are alive, with their epochs (the broker's metadata cache).
pub trait BrokerEpochs {
    /// The epoch of an unfenced broker; `None` if fenced or unknown.
    fn alive_broker_epoch(&self, broker_id: i32) -> Option<i64>;
}

impl BrokerEpochs for MetadataImage {
    fn alive_broker_epoch(&self, broker_id: i32) -> Option<i64> {
        MetadataImage::alive_broker_epoch(self, broker_id)
    }
}

/// One partition of a Fetch request from a follower (Fetch v15+ `ReplicaState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaFetch {
    /// `ReplicaState.ReplicaId`.
    pub replica_id: i32,
    /// `ReplicaState.ReplicaEpoch`: the follower's broker epoch (-1: unchecked).
    pub replica_epoch: i64,
    pub fetch_offset: i64,
    /// `CurrentLeaderEpoch` (-1: unchecked).
    pub current_leader_epoch: i32,
    /// `LastFetchedEpoch` (-1: none; no divergence check).
    pub last_fetched_epoch: i32,
    /// `LogStartOffset`: the follower's own log start offset (the leader's low watermark,
    /// DeleteRecords, is the smallest over the replicas).
    pub log_start_offset: i64,
    pub max_bytes: usize,
}

/// `EpochEndOffset` of OffsetForLeaderEpoch (also a Fetch response's `DivergingEpoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub error_code: i16,
    pub leader_epoch: i32,
    pub end_offset: i64,
}

/// One partition of a Fetch response to a follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaFetchResponse {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Not in Kafka's Fetch response: on OFFSET_OUT_OF_RANGE a Kafka follower asks ListOffsets
    /// for it; this core hands it over with the error.
    pub log_end_offset: i64,
    pub diverging_epoch: Option<EpochEndOffset>,
    pub records: Bytes,
}

/// One partition of a Fetch response to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerFetchResponse {
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub records: Bytes,
    /// `read_committed`: the aborted transactions overlapping `records` (empty if none);
    /// `None` for `read_uncommitted` and errors.
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}

/// A consumer's Fetch `IsolationLevel` (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// 0: up to the high watermark.
    #[default]
    ReadUncommitted,
    /// 1: up to the last stable offset, with the aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// The request field: 1 is `read_committed`, anything else `read_uncommitted`
    /// (Kafka's `IsolationLevel.forId` refuses other values; the codec already read them).
    pub fn from_request(isolation_level: i8) -> IsolationLevel {
        if isolation_level == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        }
    }
}

/// What a follower sends its leader next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerRequest {
    /// OffsetForLeaderEpoch for the follower's latest epoch.
    OffsetForLeaderEpoch {
        current_leader_epoch: i32,
        leader_epoch: i32,
    },
    Fetch(ReplicaFetch),
}

/// What a follower did with a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowerOutcome {
    /// The log was cut to this offset.
    pub truncated_to: Option<i64>,
    /// Offsets appended, `(base, last)`.
    pub appended: Option<(i64, i64)>,
}
