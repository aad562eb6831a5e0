//! InitProducerId: a producer id and epoch for an idempotent producer.
//!
//! A producer without a `transactional.id` gets a fresh id at epoch 0 from any broker, as
//! Kafka's `TransactionCoordinator.handleInitProducerId` gives one to a null transactional id
//! (whatever id and epoch the request names: KIP-360's bump applies to transactional
//! producers only). Ids come from the broker's current block, and a new block from the
//! controller when that one is used up ([`crate::controller::Controller::allocate_producer_ids`]),
//! so ids are unique across the cluster and its restarts. A broker cut off from the
//! controller with its block used up answers COORDINATOR_LOAD_IN_PROGRESS, which clients
//! retry, as Kafka's `RPCProducerIdManager` does while it waits for a block.
//!
//! A transactional id goes to the transaction coordinator ([`crate::txn::runtime`]): a new
//! id gets a producer id at epoch 0, a known one the next epoch (fencing the older
//! producer), answered once `__transaction_state` has it. While that topic does not exist,
//! it is asked of the controller and the answer is COORDINATOR_NOT_AVAILABLE (the client
//! looks the coordinator up again). An empty transactional id is INVALID_REQUEST.
//!
//! # References
//! - KIP-98 (idempotence), KIP-360 (epoch bumps), KIP-730 (producer id blocks in KRaft)
//! - `kafka.coordinator.transaction.TransactionCoordinator.handleInitProducerId`,
//!   `RPCProducerIdManager`

use std::sync::Mutex;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;

use super::reach_controller;
use crate::cluster::Node;
use crate::controller::ProducerIdBlock;
use crate::server::Shared;

/// The codec decodes requests up to v5 (Kafka 4.3 also has v6, KIP-939's two-phase commit).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// How long a broker waits for the controller before answering that it has no id.
const CONTROLLER_WAIT_MS: i32 = 1_000;

/// The ids a broker hands out: the rest of its current block.
#[derive(Debug, Default)]
pub struct ProducerIds {
    block: Mutex<Option<(i64, i64)>>,
}

impl ProducerIds {
    /// The next id of the current block, if any is left.
    pub(crate) fn take(&self) -> Option<i64> {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        let (next, end) = block.as_mut()?;
        if *next >= *end {
            return None;
        }
        let id = *next;
        *next += 1;
        Some(id)
    }

    fn replace(&self, block: ProducerIdBlock) {
        *self.block.lock().unwrap_or_else(|p| p.into_inner()) = Some((block.first_id, block.end()));
    }

    /// A fresh producer id, from a new block when the current one is used up.
    async fn next(&self, node: &Node) -> Result<i64, ResponseError> {
        if let Some(id) = self.take() {
            return Ok(id);
        }
        self.refill(node).await?;
        self.take().ok_or(ResponseError::CoordinatorLoadInProgress)
    }

    /// A new block from the controller (the current one is used up).
    pub(crate) async fn refill(&self, node: &Node) -> Result<(), ResponseError> {
        if !reach_controller(node, CONTROLLER_WAIT_MS).await {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        let Some(broker_epoch) = node.state().broker_epoch else {
            return Err(ResponseError::CoordinatorLoadInProgress);
        };
        let block = node
            .controller
            .with(|c| c.allocate_producer_ids(node.id, broker_epoch))
            .map_err(|e| {
                tracing::warn!(broker = node.id, error = %e.message, "no producer id block");
                ResponseError::CoordinatorLoadInProgress
            })?;
        self.replace(block);
        Ok(())
    }
}

pub async fn handle(shared: &Shared, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let refused = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    match req.transactional_id.as_ref().map(|t| t.0.as_str()) {
        None => {}
        Some("") => return refused(ResponseError::InvalidRequest),
        Some(id) => return transactional(shared, id, &req).await,
    }
    match shared.producer_ids.next(&shared.node).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => refused(error),
    }
}

/// InitProducerId for a transactional id, at the transaction coordinator.
async fn transactional(
    shared: &Shared,
    transactional_id: &str,
    req: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    let respond = |code: i16, producer_id: i64, producer_epoch: i16| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch)
    };
    if shared
        .node
        .state()
        .image
        .topic_by_name(crate::txn::TRANSACTION_STATE_TOPIC)
        .is_none()
    {
        if shared.node.faults.reaches_controller(shared.node.id) {
            shared.txns.create_topic(&shared.config);
        }
        return respond(ResponseError::CoordinatorNotAvailable.code(), -1, -1);
    }
    // KIP-360: -1/-1 is a new producer; anything else names the producer to bump.
    let expected = (req.producer_id.0 != -1 || req.producer_epoch != -1)
        .then_some((req.producer_id.0, req.producer_epoch));
    let timeout_ms = req.transaction_timeout_ms;
    let written = shared
        .txns
        .write(&shared.producer_ids, |c, new_id, now| {
            c.init_producer_id(transactional_id, timeout_ms, expected, new_id, now)
        })
        .await;
    match written {
        Ok(r) => respond(r.error_code, r.producer_id, r.producer_epoch),
        Err(code) => respond(code, -1, -1),
    }
}
