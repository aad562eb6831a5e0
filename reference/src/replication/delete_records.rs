//! DeleteRecords on the leader (KIP-107): the log start offset moved forward, and the low
//! watermark the request waits for.
//!
//! The leader moves its own log start offset at once; records below it are gone for every
//! reader (Fetch below it is OFFSET_OUT_OF_RANGE, ListOffsets `EARLIEST` answers it) and
//! whole segments below it go at the next retention pass. Followers learn it from the
//! `LogStartOffset` of their next Fetch response and report their own in their next Fetch
//! request; the request is answered once the low watermark, the smallest log start offset
//! over the leader and every follower on an alive broker, reaches the offset (or at its
//! timeout, REQUEST_TIMED_OUT: the caller's [`Partition::low_watermark`] loop).
//!
//! # References
//! - KIP-107 (DeleteRecords)
//! - Apache Kafka sources: `Partition.deleteRecordsOnLeader`, `Partition.lowWatermarkIfLeader`,
//!   `UnifiedLog.maybeIncrementLogStartOffset`, `ReplicaManager.deleteRecords`,
//!   `DelayedDeleteRecords`

use kafka_protocol::error::ResponseError;

use super::partition::Role;
use super::{BrokerEpochs, Partition};

/// `DeleteRecordsRequest.HIGH_WATERMARK`: delete everything below the high watermark.
pub const HIGH_WATERMARK: i64 = -1;

/// What the leader did with a DeleteRecords partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedRecords {
    /// The offset asked for, with -1 replaced by the high watermark: the request is done
    /// when the low watermark reaches it.
    pub requested_offset: i64,
    /// The low watermark right after the leader moved its log start offset.
    pub low_watermark: i64,
}

impl Partition {
    /// Moves the leader's log start offset to `offset` (`-1`: the high watermark); never
    /// back. Errors: NOT_LEADER_OR_FOLLOWER off the leader, OFFSET_OUT_OF_RANGE for an offset
    /// below -1 or beyond the high watermark, KAFKA_STORAGE_ERROR when the new start cannot be
    /// checkpointed. Nothing changes on an error.
    pub fn delete_records_on_leader(
        &mut self,
        offset: i64,
        epochs: &dyn BrokerEpochs,
    ) -> Result<DeletedRecords, i16> {
        if !matches!(self.role, Role::Leader(_)) {
            return Err(ResponseError::NotLeaderOrFollower.code());
        }
        let requested_offset = if offset == HIGH_WATERMARK {
            self.high_watermark
        } else {
            offset
        };
        if requested_offset < 0 || requested_offset > self.high_watermark {
            return Err(ResponseError::OffsetOutOfRange.code());
        }
        if requested_offset > self.log.log_start_offset() {
            if let Err(error) = self.log.increment_log_start_offset(requested_offset) {
                tracing::error!(%error, partition = self.partition, "log start offset not moved");
                return Err(ResponseError::KafkaStorageError.code());
            }
            self.epoch_cache.truncate_from_start(requested_offset);
        }
        Ok(DeletedRecords {
            requested_offset,
            low_watermark: self.low_watermark(epochs)?,
        })
    }

    /// The smallest log start offset over this leader and its followers on alive brokers
    /// (a follower that has not fetched from this leader yet counts as -1); the leader only:
    /// NOT_LEADER_OR_FOLLOWER elsewhere.
    pub fn low_watermark(&self, epochs: &dyn BrokerEpochs) -> Result<i64, i16> {
        let Role::Leader(leader) = &self.role else {
            return Err(ResponseError::NotLeaderOrFollower.code());
        };
        let own = self.log.log_start_offset();
        Ok(leader
            .followers
            .iter()
            .filter(|(id, _)| epochs.alive_broker_epoch(**id).is_some())
            .map(|(_, progress)| progress.log_start_offset)
            .fold(own, i64::min))
    }
}
