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
//! A transactional id (transactions) has no coordinator yet: COORDINATOR_NOT_AVAILABLE, as
//! FindCoordinator answers for it. An empty transactional id is INVALID_REQUEST.
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
    fn take(&self) -> Option<i64> {
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
        self.take().ok_or(ResponseError::CoordinatorLoadInProgress)
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
        Some(_) => return refused(ResponseError::CoordinatorNotAvailable),
    }
    match shared.producer_ids.next(&shared.node).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => refused(error),
    }
}
