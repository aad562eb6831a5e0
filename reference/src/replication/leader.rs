//! The leader's side of a partition: appends, follower fetches, the ISR and the high
//! watermark, acks=all, and reads by consumers. The rules are in the [module docs](super).
//!
//! # References
//! - Apache Kafka sources: `Partition` (`appendRecordsToLeader`, `fetchRecords`,
//!   `readRecords`, `followerReplicaOrThrow`, `updateFollowerFetchState`, `maybeExpandIsr`,
//!   `isFollowerInSync`, `isReplicaIsrEligible`, `maybeShrinkIsr`, `getOutOfSyncReplicas`,
//!   `maybeIncrementLeaderHW`, `checkEnoughReplicasReachOffset`, `lastOffsetForLeaderEpoch`,
//!   `fetchOffsetForTimestamp` (KIP-207), `prepareIsrExpand`, `prepareIsrShrink`,
//!   `addBrokerEpochToIsr`, `handleAlterPartitionUpdate`, `handleAlterPartitionError`),
//!   `Replica.updateFetchStateOrThrow`, `DelayedProduce`

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::partition::{IsrState, PendingProduce, Role};
use super::{
    BrokerEpochs, ConsumerFetchResponse, Effects, EpochEndOffset, IsolationLevel, Partition,
    ProduceResult, ReplicaFetch, ReplicaFetchResponse, RequestToken,
};
use crate::controller::{AlterPartition, BrokerState, PartitionRegistration};
use crate::log::{
    AbortedTxn, AppendInfo, AppendOrigin, ProducerCheck, ProducerError, UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
};
use crate::record_batch::{self, BatchHeader};

/// How a leader append was asked for.
struct Append {
    required_acks: i16,
    token: RequestToken,
    timeout_ms: i64,
    origin: AppendOrigin,
    /// The coordinator's transaction version, for markers (0 otherwise).
    transaction_version: i8,
}

/// What a follower's fetch reads.
enum FollowerRead {
    Records(Bytes),
    Diverging(EpochEndOffset),
}

impl Partition {
    /// Produce to the leader. `required_acks` -1 parks the produce under `token` until the
    /// ISR has it (answered in some call's [`Effects`], possibly this one's); 0 and 1 are
    /// answered by the returned append. Errors: NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
    /// KAFKA_STORAGE_ERROR, and the producer-state checks' codes.
    pub fn append_as_leader(
        &mut self,
        records: &mut [u8],
        required_acks: i16,
        token: RequestToken,
        timeout_ms: i64,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> Result<(AppendInfo, Effects), i16> {
        self.append_with_origin(
            records,
            required_acks,
            token,
            timeout_ms,
            epochs,
            now_ms,
            AppendOrigin::Client,
        )
    }

    /// [`Partition::append_as_leader`] for a batch from `origin`: a client's batch gets every
    /// producer-state check and may not be a control batch (INVALID_RECORD); a coordinator's
    /// (a WriteTxnMarkers marker, a transactional offset commit) is checked for its producer
    /// epoch only, and a marker also for its coordinator epoch
    /// (`UnifiedLog.analyzeAndValidateProducerState`), as of transaction version 0/1.
    #[allow(clippy::too_many_arguments)]
    pub fn append_with_origin(
        &mut self,
        records: &mut [u8],
        required_acks: i16,
        token: RequestToken,
        timeout_ms: i64,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<(AppendInfo, Effects), i16> {
        let request = Append {
            required_acks,
            token,
            timeout_ms,
            origin,
            transaction_version: 0,
        };
        self.append_checked(records, request, epochs, now_ms)
    }

    /// An end-transaction marker ([`crate::record_batch::encode_control_batch`]) from the
    /// transaction coordinator, whose WriteTxnMarkers (v2+) says its `transaction_version`:
    /// from version 2 on a marker must carry a bumped producer epoch
    /// ([`crate::log::ProducerStates::check_marker`]).
    #[allow(clippy::too_many_arguments)]
    pub fn append_marker(
        &mut self,
        records: &mut [u8],
        required_acks: i16,
        token: RequestToken,
        timeout_ms: i64,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
        transaction_version: i8,
    ) -> Result<(AppendInfo, Effects), i16> {
        let request = Append {
            required_acks,
            token,
            timeout_ms,
            origin: AppendOrigin::Coordinator,
            transaction_version,
        };
        self.append_checked(records, request, epochs, now_ms)
    }

    fn append_checked(
        &mut self,
        records: &mut [u8],
        request: Append,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> Result<(AppendInfo, Effects), i16> {
        let Append {
            required_acks,
            token,
            timeout_ms,
            ..
        } = request;
        let Role::Leader(leader) = &self.role else {
            return Err(ResponseError::NotLeaderOrFollower.code());
        };
        let in_sync = leader.isr.isr().len();
        if required_acks == -1 && (in_sync as i32) < self.effective_min_isr() {
            return Err(ResponseError::NotEnoughReplicas.code());
        }
        if let Ok(header) = BatchHeader::parse(records) {
            match self.check_producer(&header, records, &request) {
                Ok(ProducerCheck::Append) => {}
                Ok(ProducerCheck::Duplicate(original)) => {
                    let info = AppendInfo {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_start_offset: self.log.log_start_offset(),
                    };
                    return Ok(self.park_until_replicated(
                        info,
                        required_acks,
                        token,
                        timeout_ms,
                        epochs,
                        now_ms,
                    ));
                }
                Err(error) => {
                    tracing::debug!(partition = self.partition, %error, "produce refused");
                    return Err(error.code());
                }
            }
        }
        stamp_leader_epoch(records, self.leader_epoch);
        let info = self.log.append(records, now_ms).map_err(|error| {
            tracing::error!(%error, partition = self.partition, "append failed");
            ResponseError::KafkaStorageError.code()
        })?;
        if info.last_offset >= info.base_offset {
            self.epoch_cache.assign(self.leader_epoch, info.base_offset);
        }
        Ok(self.park_until_replicated(info, required_acks, token, timeout_ms, epochs, now_ms))
    }

    /// The producer-state checks of a batch (`header` of `records`) from `request.origin`.
    fn check_producer(
        &self,
        header: &BatchHeader,
        records: &[u8],
        request: &Append,
    ) -> Result<ProducerCheck, ProducerError> {
        if header.is_control() && request.origin == AppendOrigin::Coordinator {
            let batch = records.get(..header.total_len()).unwrap_or(records);
            self.log
                .check_marker(header, batch, request.transaction_version)?;
            return Ok(ProducerCheck::Append);
        }
        self.log.check_producer_with_origin(header, request.origin)
    }

    /// After an append (or a retry of one already in the log, whose offsets `info` gives):
    /// acks=-1 waits under `token` until the high watermark passes `info.last_offset`, as
    /// Kafka's `DelayedProduce` waits on the append's (or the original's) last offset.
    fn park_until_replicated(
        &mut self,
        info: AppendInfo,
        required_acks: i16,
        token: RequestToken,
        timeout_ms: i64,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> (AppendInfo, Effects) {
        if let (-1, Role::Leader(leader)) = (required_acks, &mut self.role) {
            leader.pending.push(PendingProduce {
                token,
                base_offset: info.base_offset,
                required_offset: info.last_offset + 1,
                deadline_ms: now_ms.saturating_add(timeout_ms),
            });
        }
        (info, self.after_progress(epochs, now_ms))
    }

    /// One partition of a Fetch from follower `fetch.replica_id`: reads from its fetch offset,
    /// or reports where its log diverges, and records its progress.
    pub fn fetch_from_follower(
        &mut self,
        fetch: &ReplicaFetch,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> (ReplicaFetchResponse, Effects) {
        let log_end_offset = self.log.log_end_offset();
        let mut response = ReplicaFetchResponse {
            error_code: 0,
            high_watermark: self.high_watermark,
            log_start_offset: self.log.log_start_offset(),
            log_end_offset,
            diverging_epoch: None,
            records: Bytes::new(),
        };
        match self.check_follower_fetch(fetch, log_end_offset, epochs) {
            Err(code) => response.error_code = code,
            Ok(FollowerRead::Diverging(epoch)) => response.diverging_epoch = Some(epoch),
            Ok(FollowerRead::Records(records)) => {
                response.records = records;
                let effects =
                    self.update_follower_fetch_state(fetch, log_end_offset, epochs, now_ms);
                return (response, effects);
            }
        }
        (response, Effects::default())
    }

    /// Everything a follower's fetch is checked for, and its read.
    fn check_follower_fetch(
        &self,
        fetch: &ReplicaFetch,
        log_end_offset: i64,
        epochs: &dyn BrokerEpochs,
    ) -> Result<FollowerRead, i16> {
        self.check_leader(fetch.current_leader_epoch)?;
        let id = fetch.replica_id;
        if id == self.local_broker_id || !self.replicas.contains(&id) {
            return Err(if fetch.current_leader_epoch >= 0 {
                ResponseError::UnknownLeaderEpoch.code()
            } else {
                ResponseError::NotLeaderOrFollower.code()
            });
        }
        let read = self.read_for_follower(fetch, log_end_offset)?;
        let stale = epochs
            .alive_broker_epoch(id)
            .is_some_and(|current| fetch.replica_epoch != -1 && current > fetch.replica_epoch);
        if stale && matches!(read, FollowerRead::Records(_)) {
            return Err(ResponseError::NotLeaderOrFollower.code());
        }
        Ok(read)
    }

    /// The divergence check of Fetch v12+ and the read up to the log end offset.
    fn read_for_follower(
        &self,
        fetch: &ReplicaFetch,
        log_end_offset: i64,
    ) -> Result<FollowerRead, i16> {
        let out_of_range = ResponseError::OffsetOutOfRange.code();
        if fetch.last_fetched_epoch >= 0 {
            let (epoch, end_offset) = self
                .epoch_cache
                .end_offset_for(fetch.last_fetched_epoch, log_end_offset);
            if epoch == UNDEFINED_EPOCH || end_offset == UNDEFINED_EPOCH_OFFSET {
                return Err(out_of_range);
            }
            if fetch.fetch_offset < self.log.log_start_offset() {
                return Err(out_of_range);
            }
            if epoch < fetch.last_fetched_epoch || end_offset < fetch.fetch_offset {
                return Ok(FollowerRead::Diverging(EpochEndOffset {
                    error_code: 0,
                    leader_epoch: epoch,
                    end_offset,
                }));
            }
        }
        self.log
            .read(fetch.fetch_offset, fetch.max_bytes, true)
            .map(FollowerRead::Records)
            .map_err(|_| out_of_range)
    }

    /// `Partition.updateFollowerFetchState`: progress, then ISR expansion, then the HW.
    fn update_follower_fetch_state(
        &mut self,
        fetch: &ReplicaFetch,
        leader_end_offset: i64,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> Effects {
        let Role::Leader(leader) = &mut self.role else {
            return Effects::default();
        };
        let Some(progress) = leader.followers.get_mut(&fetch.replica_id) else {
            return Effects::default();
        };
        let previous_end_offset = progress.log_end_offset;
        let follower_end_offset = fetch.fetch_offset;
        if follower_end_offset >= leader_end_offset {
            progress.last_caught_up_time_ms = progress.last_caught_up_time_ms.max(now_ms);
        } else if follower_end_offset >= progress.last_fetch_leader_log_end_offset {
            progress.last_caught_up_time_ms = progress
                .last_caught_up_time_ms
                .max(progress.last_fetch_time_ms);
        }
        progress.log_end_offset = follower_end_offset;
        progress.last_fetch_leader_log_end_offset = progress
            .last_fetch_leader_log_end_offset
            .max(leader_end_offset);
        progress.last_fetch_time_ms = now_ms;
        progress.broker_epoch = Some(fetch.replica_epoch);
        let low_watermark_changed = progress.log_start_offset != fetch.log_start_offset;
        progress.log_start_offset = fetch.log_start_offset;
        let mut effects = Effects {
            alter_partition: self.maybe_expand_isr(fetch.replica_id, epochs),
            low_watermark_changed,
            ..Effects::default()
        };
        if previous_end_offset != follower_end_offset {
            effects.extend(self.after_progress(epochs, now_ms));
        }
        effects
    }

    /// Proposes adding a caught-up, eligible follower to the ISR (`maybeExpandIsr`).
    fn maybe_expand_isr(
        &mut self,
        follower: i32,
        epochs: &dyn BrokerEpochs,
    ) -> Option<AlterPartition> {
        let Role::Leader(leader) = &self.role else {
            return None;
        };
        let progress = leader.followers.get(&follower)?;
        let committed = match &leader.isr {
            IsrState::Committed(isr) if !isr.contains(&follower) => isr.clone(),
            _ => return None,
        };
        let in_sync = progress.log_end_offset >= self.high_watermark
            && progress.log_end_offset >= leader.epoch_start_offset;
        if !in_sync || !is_isr_eligible(progress.broker_epoch, epochs.alive_broker_epoch(follower))
        {
            return None;
        }
        let mut new_isr = committed.clone();
        new_isr.push(follower);
        new_isr.sort_unstable();
        let sent = self.alter_partition_request(&new_isr);
        if let Role::Leader(leader) = &mut self.role {
            leader.isr = IsrState::PendingExpand {
                committed,
                new_member: follower,
                sent: sent.clone(),
            };
        }
        Some(sent)
    }

    /// An AlterPartition for `isr`, each member with the broker epoch it fetched with
    /// (`addBrokerEpochToIsr`; -1 when unknown).
    fn alter_partition_request(&self, isr: &[i32]) -> AlterPartition {
        let epoch_of = |id: i32| {
            if id == self.local_broker_id {
                return self.local_broker_epoch;
            }
            self.follower_progress(id)
                .and_then(|p| p.broker_epoch)
                .unwrap_or(-1)
        };
        AlterPartition {
            broker_id: self.local_broker_id,
            broker_epoch: self.local_broker_epoch,
            topic_id: self.topic_id,
            partition: self.partition,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr: isr
                .iter()
                .map(|&broker_id| BrokerState {
                    broker_id,
                    broker_epoch: epoch_of(broker_id),
                })
                .collect(),
        }
    }

    /// Timers: parked produces past their deadline answer REQUEST_TIMED_OUT, and followers
    /// lagging longer than `replica.lag.time.max.ms` are proposed for removal from the ISR.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        let Role::Leader(leader) = &mut self.role else {
            return effects;
        };
        let timed_out = ResponseError::RequestTimedOut.code();
        leader.pending.retain(|pending| {
            if pending.deadline_ms > now_ms {
                return true;
            }
            let result = ProduceResult {
                error_code: timed_out,
                base_offset: pending.base_offset,
            };
            effects.completions.push((pending.token, result));
            false
        });
        effects.alter_partition = self.maybe_shrink_isr(now_ms);
        effects
    }

    /// `maybeShrinkIsr`: one AlterPartition without the out-of-sync followers.
    fn maybe_shrink_isr(&mut self, now_ms: i64) -> Option<AlterPartition> {
        let Role::Leader(leader) = &self.role else {
            return None;
        };
        let IsrState::Committed(committed) = &leader.isr else {
            return None;
        };
        let leader_end_offset = self.log.log_end_offset();
        let max_lag_ms = self.config.replica_lag_time_max_ms;
        let in_sync = |id: &i32| {
            *id == self.local_broker_id
                || leader
                    .followers
                    .get(id)
                    .is_some_and(|p| p.is_caught_up(leader_end_offset, now_ms, max_lag_ms))
        };
        let new_isr: Vec<i32> = committed.iter().copied().filter(in_sync).collect();
        if new_isr.len() == committed.len() {
            return None;
        }
        let committed = committed.clone();
        let sent = self.alter_partition_request(&new_isr);
        if let Role::Leader(leader) = &mut self.role {
            leader.isr = IsrState::PendingShrink {
                committed,
                sent: sent.clone(),
            };
        }
        Some(sent)
    }

    /// The controller's answer to the AlterPartition `sent`. Answers to an older request, or
    /// arriving after a role change, are ignored.
    pub fn handle_alter_partition_response(
        &mut self,
        sent: &AlterPartition,
        result: Result<PartitionRegistration, i16>,
        epochs: &dyn BrokerEpochs,
        now_ms: i64,
    ) -> Effects {
        let Role::Leader(leader) = &mut self.role else {
            return Effects::default();
        };
        if leader.isr.sent() != Some(sent) {
            return Effects::default();
        }
        match result {
            Ok(registration) => {
                if registration.leader_epoch != self.leader_epoch
                    || registration.partition_epoch < self.partition_epoch
                {
                    return Effects::default();
                }
                leader.isr = IsrState::Committed(registration.isr);
                self.partition_epoch = registration.partition_epoch;
                self.after_progress(epochs, now_ms)
            }
            Err(code) if is_rejection(code) => {
                leader.isr = IsrState::Committed(leader.isr.isr().to_vec());
                Effects::default()
            }
            Err(code) if awaits_metadata(code) => Effects::default(),
            Err(_) => Effects {
                alter_partition: Some(sent.clone()),
                ..Effects::default()
            },
        }
    }

    /// After anything that can move the high watermark: move it, and answer the parked
    /// produces it passed.
    pub(super) fn after_progress(&mut self, epochs: &dyn BrokerEpochs, now_ms: i64) -> Effects {
        let high_watermark_changed = self.maybe_increment_high_watermark(epochs, now_ms);
        let min_isr = self.effective_min_isr();
        let high_watermark = self.high_watermark;
        let mut effects = Effects {
            high_watermark_changed,
            ..Effects::default()
        };
        let Role::Leader(leader) = &mut self.role else {
            return effects;
        };
        let maximal_isr_len = leader.isr.maximal_isr_len() as i32;
        leader.pending.retain(|pending| {
            if high_watermark < pending.required_offset {
                return true;
            }
            let error_code = if min_isr <= maximal_isr_len {
                0
            } else {
                ResponseError::NotEnoughReplicasAfterAppend.code()
            };
            let result = ProduceResult {
                error_code,
                base_offset: pending.base_offset,
            };
            effects.completions.push((pending.token, result));
            false
        });
        effects
    }

    /// `maybeIncrementLeaderHW`; returns whether the high watermark moved.
    fn maybe_increment_high_watermark(&mut self, epochs: &dyn BrokerEpochs, now_ms: i64) -> bool {
        let Role::Leader(leader) = &self.role else {
            return false;
        };
        if (leader.isr.isr().len() as i32) < self.effective_min_isr() {
            return false;
        }
        let leader_end_offset = self.log.log_end_offset();
        let max_lag_ms = self.config.replica_lag_time_max_ms;
        let mut new_high_watermark = leader_end_offset;
        for (&id, progress) in &leader.followers {
            let waits_to_join = || {
                progress.is_caught_up(leader_end_offset, now_ms, max_lag_ms)
                    && is_isr_eligible(progress.broker_epoch, epochs.alive_broker_epoch(id))
            };
            if progress.log_end_offset < new_high_watermark
                && (leader.isr.is_in_maximal_isr(id) || waits_to_join())
            {
                new_high_watermark = progress.log_end_offset;
            }
        }
        if new_high_watermark > self.high_watermark {
            self.set_high_watermark(new_high_watermark);
            return true;
        }
        false
    }

    /// `min.insync.replicas`, at most the number of replicas.
    pub(super) fn effective_min_isr(&self) -> i32 {
        self.config
            .min_insync_replicas
            .min(self.replicas.len().max(1) as i32)
    }

    /// Leader epoch fencing, then leadership (`Partition.getLocalLog` with `requireLeader`).
    fn check_leader(&self, current_leader_epoch: i32) -> Result<(), i16> {
        if current_leader_epoch >= 0 {
            if self.leader_epoch > current_leader_epoch {
                return Err(ResponseError::FencedLeaderEpoch.code());
            }
            if self.leader_epoch < current_leader_epoch {
                return Err(ResponseError::UnknownLeaderEpoch.code());
            }
        }
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower.code());
        }
        Ok(())
    }

    /// One partition of a consumer's Fetch: records below the high watermark only.
    pub fn fetch_from_consumer(
        &self,
        fetch_offset: i64,
        current_leader_epoch: i32,
        max_bytes: usize,
    ) -> ConsumerFetchResponse {
        self.fetch_from_consumer_with_isolation(
            fetch_offset,
            current_leader_epoch,
            max_bytes,
            IsolationLevel::ReadUncommitted,
        )
    }

    /// One partition of a consumer's Fetch at `isolation` (`Partition.fetchRecords` with
    /// `FetchIsolation.HIGH_WATERMARK` or `TXN_COMMITTED`).
    pub fn fetch_from_consumer_with_isolation(
        &self,
        fetch_offset: i64,
        current_leader_epoch: i32,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> ConsumerFetchResponse {
        let read = self
            .check_leader(current_leader_epoch)
            .and_then(|()| self.read_for_consumer(fetch_offset, max_bytes, isolation));
        self.consumer_response(read)
    }

    /// A consumer's read of this replica's log, leader or follower (KIP-392), without the
    /// epoch checks: below the high watermark, or for `read_committed` below the last stable
    /// offset with the aborted transactions overlapping what it returns
    /// (`UnifiedLog.read`, `LocalLog.addAbortedTransactions`: up to the offset after the
    /// last batch returned; none when nothing is returned).
    pub fn read_for_consumer(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<(Bytes, Option<Vec<AbortedTxn>>), i16> {
        let max_offset = match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark,
            IsolationLevel::ReadCommitted => self.last_stable_offset(),
        };
        let records = self
            .log
            .read_up_to(fetch_offset, max_bytes, true, max_offset)
            .map_err(|_| ResponseError::OffsetOutOfRange.code())?;
        let aborted =
            (isolation == IsolationLevel::ReadCommitted).then(
                || match record_batch::end_offset_of(&records) {
                    Some(end) => self.log.aborted_transactions(fetch_offset, end),
                    None => Vec::new(),
                },
            );
        Ok((records, aborted))
    }

    /// The consumer's answer for `read` ([`Partition::read_for_consumer`] or an error code).
    pub fn consumer_response(
        &self,
        read: Result<(Bytes, Option<Vec<AbortedTxn>>), i16>,
    ) -> ConsumerFetchResponse {
        let (error_code, records, aborted_transactions) = match read {
            Ok((records, aborted)) => (0, records, aborted),
            Err(code) => (code, Bytes::new(), None),
        };
        ConsumerFetchResponse {
            error_code,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.log.log_start_offset(),
            records,
            aborted_transactions,
        }
    }

    /// OffsetForLeaderEpoch on the leader: where `leader_epoch` ends in this log.
    pub fn last_offset_for_leader_epoch(
        &self,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> EpochEndOffset {
        if let Err(error_code) = self.check_leader(current_leader_epoch) {
            return EpochEndOffset {
                error_code,
                leader_epoch: UNDEFINED_EPOCH,
                end_offset: UNDEFINED_EPOCH_OFFSET,
            };
        }
        let (epoch, end_offset) = self
            .epoch_cache
            .end_offset_for(leader_epoch, self.log.log_end_offset());
        let (leader_epoch, end_offset) = if epoch == UNDEFINED_EPOCH {
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        } else {
            (epoch, end_offset)
        };
        EpochEndOffset {
            error_code: 0,
            leader_epoch,
            end_offset,
        }
    }

    /// ListOffsets latest: the high watermark, or OFFSET_NOT_AVAILABLE while a new leader's
    /// high watermark is still below the start of its epoch (KIP-207).
    pub fn latest_offset(&self, current_leader_epoch: i32) -> Result<i64, i16> {
        self.check_leader(current_leader_epoch)?;
        match &self.role {
            Role::Leader(leader) if leader.epoch_start_offset > self.high_watermark => {
                Err(ResponseError::OffsetNotAvailable.code())
            }
            _ => Ok(self.high_watermark),
        }
    }
}

/// Unfenced, and fetching with the broker epoch the metadata has (or -1, unchecked).
fn is_isr_eligible(stored: Option<i64>, cached: Option<i64>) -> bool {
    match (stored, cached) {
        (Some(stored), Some(cached)) => stored == -1 || stored == cached,
        _ => false,
    }
}

/// The controller says the request was not applied: go back to the committed ISR.
fn is_rejection(code: i16) -> bool {
    code == ResponseError::OperationNotAttempted.code()
        || code == ResponseError::IneligibleReplica.code()
}

/// The leader's view is out of date: wait for the metadata that says what happened.
fn awaits_metadata(code: i16) -> bool {
    [
        ResponseError::UnknownTopicOrPartition,
        ResponseError::UnknownTopicId,
        ResponseError::FencedLeaderEpoch,
        ResponseError::InvalidUpdateVersion,
        ResponseError::InvalidRequest,
        ResponseError::NewLeaderElected,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// Stamps every whole batch with the leader epoch (`LogValidator` on a leader append).
fn stamp_leader_epoch(records: &mut [u8], leader_epoch: i32) {
    let mut position = 0;
    while let Ok(header) = BatchHeader::parse(&records[position..]) {
        let end = position + header.total_len();
        if end > records.len() {
            break;
        }
        record_batch::set_partition_leader_epoch(&mut records[position..end], leader_epoch);
        position = end;
    }
}
