//! Producer ids: the controller hands them out to brokers in blocks, as KRaft's
//! `ProducerIdControlManager` does for `AllocateProducerIds`, so that no two producers of the
//! cluster ever get the same id, across restarts of any broker or of the whole cluster.
//!
//! Each block is recorded (`ProducerIdsRecord`: the next block's first id), so a broker's
//! image knows how far ids have gone, and the cluster's metadata snapshot keeps it for a
//! restart on the same data directory ([`Controller::restore_producer_ids`]). A broker takes
//! a new block when its current one is used up; ids of a block it held when it stopped are
//! never reused.
//!
//! # References
//! - KIP-730 (producer id generation in KRaft)
//! - Apache Kafka sources: `ProducerIdControlManager`, `ProducerIdsBlock`,
//!   `RPCProducerIdManager`

use kafka_protocol::error::ResponseError;

use super::image::MetadataRecord;
use super::quorum::{ApiError, Controller};

/// Ids per block (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// A block of producer ids: `first_id..first_id + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdBlock {
    pub broker_id: i32,
    pub first_id: i64,
    pub size: i64,
}

impl ProducerIdBlock {
    /// The id after the block's last.
    pub fn end(&self) -> i64 {
        self.first_id + self.size
    }
}

impl Controller {
    /// AllocateProducerIds from `broker_id` at `broker_epoch`: the next block, recorded.
    /// STALE_BROKER_EPOCH for an epoch that is not the broker's current registration, and
    /// UNKNOWN_SERVER_ERROR once ids are exhausted (as Kafka answers).
    pub fn allocate_producer_ids(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<ProducerIdBlock, ApiError> {
        let registered = self
            .image
            .broker(broker_id)
            .is_some_and(|b| b.broker_epoch == broker_epoch);
        if !registered {
            return Err(ApiError::new(
                ResponseError::StaleBrokerEpoch.code(),
                format!("Broker {broker_id} at epoch {broker_epoch} is not registered."),
            ));
        }
        let first_id = self.image.next_producer_id();
        let Some(next_producer_id) = first_id.checked_add(PRODUCER_ID_BLOCK_SIZE) else {
            return Err(ApiError::new(
                ResponseError::UnknownServerError.code(),
                "Exhausted all producerIds as the next block's end producerId would overflow",
            ));
        };
        self.append(MetadataRecord::ProducerIds {
            broker_id,
            broker_epoch,
            next_producer_id,
        });
        Ok(ProducerIdBlock {
            broker_id,
            first_id,
            size: PRODUCER_ID_BLOCK_SIZE,
        })
    }

    /// At start, before any broker registers: ids below `next_producer_id` were handed out
    /// by a previous run on the same data directory and are never given again.
    pub fn restore_producer_ids(&mut self, next_producer_id: i64) {
        if next_producer_id > self.image.next_producer_id() {
            self.append(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::ControllerConfig;

    #[test]
    fn blocks_never_overlap_and_survive_a_restore() {
        let mut controller = Controller::new(ControllerConfig::default(), 1);
        let epoch = controller
            .register_broker(1, uuid::Uuid::from_u128(1), 0)
            .unwrap();
        let stale = controller.allocate_producer_ids(1, epoch + 1).unwrap_err();
        assert_eq!(stale.code, ResponseError::StaleBrokerEpoch.code());
        let first = controller.allocate_producer_ids(1, epoch).unwrap();
        let second = controller.allocate_producer_ids(1, epoch).unwrap();
        assert_eq!((first.first_id, first.end()), (0, 1000));
        assert_eq!(second.first_id, first.end());
        assert_eq!(controller.image().next_producer_id(), 2000);

        let mut restarted = Controller::new(ControllerConfig::default(), 2);
        restarted.restore_producer_ids(controller.image().next_producer_id());
        restarted.restore_producer_ids(5); // never backwards
        let epoch = restarted
            .register_broker(1, uuid::Uuid::from_u128(2), 0)
            .unwrap();
        assert_eq!(
            restarted.allocate_producer_ids(1, epoch).unwrap().first_id,
            2000
        );
    }
}
