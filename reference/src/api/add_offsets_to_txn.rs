//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins a producer's
//! transaction (before TxnOffsetCommit sends the offsets to the group coordinator), at the
//! transaction coordinator ([`crate::txn::runtime`]), always with the classic protocol as
//! Kafka's handler passes it.
//!
//! # References
//! - KIP-98
//! - `kafka.server.KafkaApis.handleAddOffsetsToTxnRequest`

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kafka_protocol::protocol::VersionRange;

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

pub async fn handle(shared: &Shared, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let (id, pid, epoch) = (
        &req.transactional_id.0,
        req.producer_id.0,
        req.producer_epoch,
    );
    let group = &req.group_id.0;
    let code = shared
        .txns
        .write(&shared.producer_ids, |c, _, now| {
            c.add_offsets(id, pid, epoch, group, now)
        })
        .await
        .unwrap_or_else(|code| code);
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
