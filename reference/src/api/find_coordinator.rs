//! FindCoordinator: which broker coordinates a group (key type 0: the leader of the group's
//! partition of `__consumer_offsets`, [`crate::group::runtime`]) or a transactional id (key
//! type 1: the leader of its partition of `__transaction_state`, [`crate::txn::runtime`]).
//! A missing topic is asked of the controller and, as in Kafka, COORDINATOR_NOT_AVAILABLE
//! is the answer until the partition has a live leader. Other key types (share groups)
//! are INVALID_REQUEST, as Kafka answers a key type it does not know.
//!
//! # References
//! - KIP-699 (v4+: several keys in one request)
//! - `kafka.server.KafkaApis.getCoordinator`, `AutoTopicCreationManager`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::coordinator_log::{NoCoordinator, coordinator_for};
use crate::group::OFFSETS_TOPIC;
use crate::group::runtime::create_offsets_topic;
use crate::server::Shared;
use crate::txn::TRANSACTION_STATE_TOPIC;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where a coordinator listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

pub fn handle(
    shared: &Shared,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let node = &shared.node;
    let addresses = node
        .addresses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let topic = match req.key_type {
        KEY_TYPE_GROUP => OFFSETS_TOPIC,
        KEY_TYPE_TRANSACTION => TRANSACTION_STATE_TOPIC,
        _ => "",
    };
    let mut missing = false;
    let response = {
        let state = node.state();
        let image = &state.image;
        respond(req, version, |key| {
            let located = coordinator_for(image, topic, key);
            missing |= located == Err(NoCoordinator::Topic);
            let leader = located.map_err(|_| ResponseError::CoordinatorNotAvailable)?;
            let addr = addresses
                .get(&leader)
                .ok_or(ResponseError::CoordinatorNotAvailable)?;
            Ok(Located {
                node_id: leader,
                host: addr.ip().to_string(),
                port: i32::from(addr.port()),
            })
        })
    };
    if missing && node.faults.reaches_controller(node.id) {
        if topic == OFFSETS_TOPIC {
            create_offsets_topic(node, &shared.config);
        } else {
            shared.txns.create_topic(&shared.config);
        }
    }
    response
}

/// The response, with `locate` naming the coordinator of each group key (or the error to
/// answer for it), shaped for `version`: one key before v4, several from v4 (KIP-699).
pub fn respond(
    req: FindCoordinatorRequest,
    version: i16,
    mut locate: impl FnMut(&str) -> Result<Located, ResponseError>,
) -> FindCoordinatorResponse {
    let mut answer = |key: StrBytes| {
        let coordinator = Coordinator::default().with_key(key.clone());
        let failed = |code: i16, message: StrBytes| {
            Coordinator::default()
                .with_key(key.clone())
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(code)
                .with_error_message(Some(message))
        };
        if req.key_type != KEY_TYPE_GROUP && req.key_type != KEY_TYPE_TRANSACTION {
            let error = ResponseError::InvalidRequest;
            return failed(error.code(), StrBytes::from_string(message(error)));
        }
        match locate(key.as_str()) {
            Ok(at) => coordinator
                .with_node_id(BrokerId(at.node_id))
                .with_host(StrBytes::from_string(at.host))
                .with_port(at.port),
            Err(error) => failed(error.code(), StrBytes::from_string(message(error))),
        }
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

/// Kafka's default message of the errors FindCoordinator answers.
fn message(error: ResponseError) -> String {
    match error {
        ResponseError::CoordinatorNotAvailable => "The coordinator is not available.".into(),
        other => other.to_string(),
    }
}
