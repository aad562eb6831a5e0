//! The follower's side of a partition: what to send the leader next, truncation by leader
//! epoch, and appending what was fetched. The rules are in the [module docs](super).
//!
//! A response is acted on only if it answers what this replica would send now: the same
//! leader epoch, the same phase (truncating or fetching) and, for a fetch, the same fetch
//! offset. Anything else is a late answer to an older request and is dropped, as Kafka's
//! fetcher drops responses for partitions whose fetch state moved on.
//!
//! # References
//! - Apache Kafka sources: `AbstractFetcherThread` (`maybeTruncate`,
//!   `getOffsetTruncationState`, `truncateOnFetchResponse`, `processFetchRequest`,
//!   `fetchOffsetAndTruncate`), `ReplicaFetcherThread.processPartitionData`,
//!   `UnifiedLog.appendAsFollower`, `UnifiedLog.updateHighWatermark`

use kafka_protocol::error::ResponseError;

use super::partition::{FollowerState, Role};
use super::{
    EpochEndOffset, FollowerOutcome, FollowerRequest, Partition, ReplicaFetch, ReplicaFetchResponse,
};
use crate::controller::NO_LEADER;
use crate::log::{FollowerAppendError, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
use crate::record_batch;

impl Partition {
    /// What this follower sends its leader next (`None`: not a follower, or no leader).
    pub fn next_follower_request(&self, max_bytes: usize) -> Option<FollowerRequest> {
        let Role::Follower(state) = &self.role else {
            return None;
        };
        if self.leader_id == NO_LEADER {
            return None;
        }
        let latest_epoch = self.epoch_cache.latest_epoch();
        match (state.truncating, latest_epoch) {
            (true, Some(leader_epoch)) => Some(FollowerRequest::OffsetForLeaderEpoch {
                current_leader_epoch: self.leader_epoch,
                leader_epoch,
            }),
            _ => Some(FollowerRequest::Fetch(ReplicaFetch {
                replica_id: self.local_broker_id,
                replica_epoch: self.local_broker_epoch,
                fetch_offset: self.log.log_end_offset(),
                current_leader_epoch: self.leader_epoch,
                last_fetched_epoch: latest_epoch.unwrap_or(UNDEFINED_EPOCH),
                log_start_offset: self.log.log_start_offset(),
                max_bytes,
            })),
        }
    }

    /// The leader's OffsetForLeaderEpoch answer to `sent`: truncate, then fetch (or ask again
    /// for an earlier epoch). Errors leave the follower truncating, to retry.
    pub fn handle_offset_for_leader_epoch(
        &mut self,
        sent: &FollowerRequest,
        response: EpochEndOffset,
        now_ms: i64,
    ) -> FollowerOutcome {
        let FollowerRequest::OffsetForLeaderEpoch {
            current_leader_epoch,
            ..
        } = *sent
        else {
            return FollowerOutcome::default();
        };
        let current = matches!(
            self.role,
            Role::Follower(FollowerState { truncating: true })
        );
        if !current || current_leader_epoch != self.leader_epoch || response.error_code != 0 {
            return FollowerOutcome::default();
        }
        self.truncate_to_leader(response, now_ms)
    }

    /// The leader's Fetch answer to `sent`: append and take the high watermark, or truncate
    /// where the leader says the logs diverge.
    pub fn handle_fetch_response(
        &mut self,
        sent: &ReplicaFetch,
        response: &ReplicaFetchResponse,
        now_ms: i64,
    ) -> FollowerOutcome {
        let current = matches!(
            self.role,
            Role::Follower(FollowerState { truncating: false })
        ) && sent.current_leader_epoch == self.leader_epoch
            && sent.fetch_offset == self.log.log_end_offset();
        if !current {
            return FollowerOutcome::default();
        }
        if response.error_code == ResponseError::OffsetOutOfRange.code() {
            return self.handle_out_of_range(response, now_ms);
        }
        if response.error_code != 0 {
            return FollowerOutcome::default();
        }
        if let Some(diverging) = response.diverging_epoch {
            return self.truncate_to_leader(diverging, now_ms);
        }
        let mut outcome = FollowerOutcome::default();
        if !response.records.is_empty() {
            match self.log.append_as_follower(&response.records, now_ms) {
                Ok(info) => {
                    let (headers, _) = record_batch::scan_valid_prefix(&response.records);
                    for header in headers {
                        self.epoch_cache
                            .assign(header.partition_leader_epoch, header.base_offset);
                    }
                    outcome.appended = Some((info.base_offset, info.last_offset));
                }
                Err(error) => {
                    tracing::warn!(%error, partition = self.partition, "follower append refused");
                    if !matches!(error, FollowerAppendError::Log(_)) {
                        self.role = Role::Follower(FollowerState { truncating: true });
                    }
                    return outcome;
                }
            }
        }
        self.set_high_watermark(
            response
                .high_watermark
                .min(self.log.log_end_offset())
                .max(self.log.log_start_offset()),
        );
        // `maybeIncrementLogStartOffset(leaderLogStartOffset)`: the leader's retention moves
        // this replica's start too (never past its high watermark); the segments below it go
        // at this replica's next retention pass.
        let leader_start = response.log_start_offset.min(self.high_watermark);
        if leader_start > self.log.log_start_offset() {
            match self.log.increment_log_start_offset(leader_start) {
                Ok(()) => self.epoch_cache.truncate_from_start(leader_start),
                Err(error) => {
                    tracing::warn!(%error, partition = self.partition, "log start offset not moved")
                }
            }
        }
        outcome
    }

    /// Cuts the log where the leader's epoch history says, and fetches if that settled it.
    fn truncate_to_leader(&mut self, leader: EpochEndOffset, now_ms: i64) -> FollowerOutcome {
        let (offset, completed) = self.offset_truncation_state(leader);
        let truncated_to = self.truncate(offset, now_ms);
        self.role = Role::Follower(FollowerState {
            truncating: !completed,
        });
        FollowerOutcome {
            truncated_to,
            appended: None,
        }
    }

    /// `AbstractFetcherThread.getOffsetTruncationState`: (offset, truncation completed).
    fn offset_truncation_state(&self, leader: EpochEndOffset) -> (i64, bool) {
        let log_end_offset = self.log.log_end_offset();
        if leader.end_offset == UNDEFINED_EPOCH_OFFSET {
            return (self.high_watermark, true);
        }
        if leader.leader_epoch == UNDEFINED_EPOCH {
            return (leader.end_offset.min(log_end_offset), true);
        }
        let (follower_epoch, follower_end_offset) = self
            .epoch_cache
            .end_offset_for(leader.leader_epoch, log_end_offset);
        if follower_epoch == UNDEFINED_EPOCH {
            (leader.end_offset.min(log_end_offset), true)
        } else if follower_epoch != leader.leader_epoch {
            (follower_end_offset.min(log_end_offset), false)
        } else {
            let offset = follower_end_offset.min(leader.end_offset);
            (offset.min(log_end_offset), true)
        }
    }

    /// `fetchOffsetAndTruncate`: behind the leader's end, cut to it; before the leader's
    /// start, start over at it.
    fn handle_out_of_range(
        &mut self,
        response: &ReplicaFetchResponse,
        now_ms: i64,
    ) -> FollowerOutcome {
        let log_end_offset = self.log.log_end_offset();
        if response.log_end_offset < log_end_offset {
            return FollowerOutcome {
                truncated_to: self.truncate(response.log_end_offset, now_ms),
                appended: None,
            };
        }
        if response.log_start_offset > log_end_offset {
            let start = response.log_start_offset;
            if let Err(error) = self.log.truncate_fully_and_start_at(start, now_ms) {
                tracing::error!(%error, partition = self.partition, "truncation failed");
                return FollowerOutcome::default();
            }
            self.epoch_cache.truncate_from_start(start);
            self.epoch_cache.truncate_from_end(start);
            self.set_high_watermark(start);
            return FollowerOutcome {
                truncated_to: Some(start),
                appended: None,
            };
        }
        FollowerOutcome::default()
    }
}
