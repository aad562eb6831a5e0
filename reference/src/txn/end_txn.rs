//! EndTxn's decision: what a client's EndTxn does to a transaction, before anything is
//! written. Two rule sets, chosen by the request's version: the classic one (TV0/TV1,
//! `endTransactionWithTV1`) and KIP-890's (TV2, `endTransaction`), where every EndTxn bumps
//! the epoch and so a retry is recognised by an epoch one below the transaction's. TV2's
//! table for the states without an open transaction (Kafka's comment, by the request's
//! epoch: "retry" one below, "current" equal):
//!
//! | state          | abort, retry | abort, current | commit, retry | commit, current |
//! |----------------|--------------|----------------|---------------|-----------------|
//! | Empty          | FENCED       | bump           | FENCED        | INVALID_TXN_STATE |
//! | CompleteAbort  | NONE         | bump           | INVALID_TXN_STATE | INVALID_TXN_STATE |
//! | CompleteCommit | INVALID_TXN_STATE | bump      | NONE          | INVALID_TXN_STATE |
//!
//! # References
//! - `kafka.coordinator.transaction.TransactionCoordinator` (`endTransaction`,
//!   `endTransactionWithTV1`)

use kafka_protocol::error::ResponseError;

use super::state::{TransactionMetadata, TransactionState};

use TransactionState::*;

const NONE: i16 = 0;

fn code(error: ResponseError) -> i16 {
    error.code()
}

/// What an EndTxn does.
pub(super) enum EndDecision {
    /// Answer with this error code (NONE: a retry of a completed EndTxn), write nothing.
    Answer(i16),
    /// Write PrepareCommit / PrepareAbort (`true`: no partition was added, TV2).
    Prepare(TransactionState, bool),
}

fn invalid_state() -> EndDecision {
    EndDecision::Answer(code(ResponseError::InvalidTxnState))
}

/// `endTransactionWithTV1` for a client's request.
pub(super) fn end_decision_tv1(
    md: &TransactionMetadata,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> EndDecision {
    if md.producer_id != pid {
        return EndDecision::Answer(code(ResponseError::InvalidProducerIdMapping));
    }
    if epoch != md.producer_epoch {
        return EndDecision::Answer(code(ResponseError::ProducerFenced));
    }
    match (md.state, commit) {
        // Markers in flight: Kafka's pending transition answers first.
        (PrepareCommit | PrepareAbort, _) => {
            EndDecision::Answer(code(ResponseError::ConcurrentTransactions))
        }
        (Ongoing, true) => EndDecision::Prepare(PrepareCommit, false),
        (Ongoing, false) => EndDecision::Prepare(PrepareAbort, false),
        (CompleteCommit, true) | (CompleteAbort, false) => EndDecision::Answer(NONE),
        (CompleteCommit | CompleteAbort | Empty, _) => invalid_state(),
        (Dead | PrepareEpochFence, _) => unreachable!("{:?} is never a resting state", md.state),
    }
}

/// `endTransaction` (TV2) for a client's request: retries are recognised by the epoch.
pub(super) fn end_decision_tv2(
    md: &TransactionMetadata,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> EndDecision {
    if matches!(md.state, PrepareCommit | PrepareAbort) {
        return EndDecision::Answer(code(ResponseError::ConcurrentTransactions));
    }
    let retry_on_overflow =
        md.previous_producer_id == pid && epoch == i16::MAX - 1 && md.producer_epoch == 0;
    let retry_on_epoch_bump = i32::from(md.producer_epoch) == i32::from(epoch) + 1;
    let valid_epoch = match md.state {
        CompleteCommit | CompleteAbort => {
            retry_on_epoch_bump || retry_on_overflow || epoch == md.producer_epoch
        }
        _ => epoch == md.producer_epoch,
    };
    let is_retry = retry_on_epoch_bump || retry_on_overflow;
    if md.producer_id != pid && !retry_on_overflow {
        return EndDecision::Answer(code(ResponseError::InvalidProducerIdMapping));
    }
    if !valid_epoch {
        return EndDecision::Answer(code(ResponseError::ProducerFenced));
    }
    match (md.state, commit) {
        (Ongoing, true) => EndDecision::Prepare(PrepareCommit, false),
        (Ongoing, false) => EndDecision::Prepare(PrepareAbort, false),
        (CompleteCommit, true) | (CompleteAbort, false) if is_retry => EndDecision::Answer(NONE),
        (CompleteCommit, true) => invalid_state(),
        (CompleteCommit, false) if is_retry => invalid_state(),
        (CompleteCommit | CompleteAbort | Empty, false) => EndDecision::Prepare(PrepareAbort, true),
        (CompleteAbort | Empty, true) => invalid_state(),
        (PrepareCommit | PrepareAbort | Dead | PrepareEpochFence, _) => {
            unreachable!("{:?} is never a resting state", md.state)
        }
    }
}
