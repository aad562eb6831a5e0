//! FindCoordinator: which broker coordinates a group. On a single broker it is always this
//! one; the answer for a group also creates `__consumer_offsets` if it is missing, as Kafka
//! does on first use. Transaction coordinators (key type 1) do not exist yet:
//! COORDINATOR_NOT_AVAILABLE, saying so.
//!
//! # References
//! - KIP-699 (v4+: several keys in one request)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };

const KEY_TYPE_GROUP: i8 = 0;

pub fn handle(
    shared: &Shared,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let node_id = shared.core().node_id();
    let answer = |key: StrBytes| {
        let coordinator = Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(node_id));
        if req.key_type != KEY_TYPE_GROUP {
            return coordinator
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "the reference broker has no transaction coordinator yet",
                )));
        }
        coordinator
            .with_host(StrBytes::from_string(shared.advertised_host.clone()))
            .with_port(shared.advertised_port)
    };
    if version >= 4 {
        let coordinators = req.coordinator_keys.iter().cloned().map(answer).collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(req.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(c.error_message.filter(|_| version >= 1))
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}
