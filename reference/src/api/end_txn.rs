//! EndTxn: a producer commits or aborts its transaction, at the transaction coordinator
//! ([`crate::txn::runtime`]). The answer comes once PrepareCommit / PrepareAbort is in
//! `__transaction_state`; the markers are written after it, as in Kafka. v5+ is
//! KIP-890's protocol (TV2): every EndTxn bumps the epoch and the response carries the
//! producer id and epoch to use next.
//!
//! # References
//! - KIP-98, KIP-890
//! - `kafka.server.KafkaApis.handleEndTxnRequest`,
//!   `kafka.coordinator.transaction.TransactionCoordinator.handleEndTransaction`

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use crate::server::Shared;
use crate::txn::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TransactionVersion};

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

pub async fn handle(shared: &Shared, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let (id, pid, epoch) = (
        &req.transactional_id.0,
        req.producer_id.0,
        req.producer_epoch,
    );
    let tv = TransactionVersion::for_end_txn(version);
    let written = shared
        .txns
        .write(&shared.producer_ids, |c, new_id, now| {
            c.end_txn(id, pid, epoch, req.committed, tv, new_id, now)
        })
        .await;
    let (code, producer_id, producer_epoch) = match written {
        Ok(r) => (r.error_code, r.producer_id, r.producer_epoch),
        Err(code) => (code, NO_PRODUCER_ID, NO_PRODUCER_EPOCH),
    };
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
}
