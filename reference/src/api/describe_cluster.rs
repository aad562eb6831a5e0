//! DescribeCluster (KIP-700): the cluster id, a controller id and the brokers, as the
//! Java admin client's `describeCluster` asks them of a broker.
//!
//! Answered as a Kafka broker answers (`KafkaApis.handleDescribeCluster`,
//! `AuthHelper.computeDescribeClusterResponse`): the unfenced brokers from this broker's
//! metadata image (v2 `include_fenced_brokers`: the fenced ones too, marked `is_fenced`), as
//! controller id an alive broker (this one, as in Metadata: a KRaft broker names a random
//! alive broker, never the controller quorum), and the cluster's authorized operations when
//! asked ([`super::authorized_operations`]: all of them, no authorizer). The endpoint type
//! (v1+) must be 1 (brokers): 2 (controllers) is MISMATCHED_ENDPOINT_TYPE, any other value
//! UNSUPPORTED_ENDPOINT_TYPE, with Kafka's messages and nothing else in the answer (the
//! reference has no controller listener to ask instead).
//!
//! # References
//! - KIP-700 (DescribeCluster), KIP-919 (endpoint type), KIP-1073 (fenced brokers)
//! - `kafka.server.KafkaApis.handleDescribeCluster`, `AuthHelper.computeDescribeClusterResponse`

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::VersionRange;

use super::authorized_operations as operations;
use super::str;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// `EndpointType.BROKER` and `CONTROLLER`.
const BROKER_ENDPOINT: i8 = 1;
const CONTROLLER_ENDPOINT: i8 = 2;

pub fn handle(
    shared: &Shared,
    req: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    if let Err((error, message)) = check_endpoint_type(req.endpoint_type, version) {
        return DescribeClusterResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(str(&message)))
            .with_controller_id(BrokerId(-1));
    }
    let node = &shared.node;
    let brokers = {
        let state = node.state();
        let addresses = node.addresses.lock().unwrap_or_else(|p| p.into_inner());
        state
            .image
            .brokers()
            .filter(|b| !b.fenced || req.include_fenced_brokers)
            .filter_map(|b| {
                let addr = addresses.get(&b.broker_id)?;
                Some(
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(b.broker_id))
                        .with_host(str(&addr.ip().to_string()))
                        .with_port(i32::from(addr.port()))
                        .with_is_fenced(version >= 2 && b.fenced),
                )
            })
            .collect()
    };
    DescribeClusterResponse::default()
        .with_cluster_id(str(&shared.cluster_id))
        .with_controller_id(BrokerId(node.id))
        .with_brokers(brokers)
        .with_endpoint_type(BROKER_ENDPOINT)
        .with_cluster_authorized_operations(operations::if_requested(
            req.include_cluster_authorized_operations,
            operations::CLUSTER,
        ))
}

/// A broker answers for endpoint type 1 only; v0 has no field (1) and says INVALID_REQUEST
/// where later versions have their own codes.
fn check_endpoint_type(endpoint_type: i8, version: i16) -> Result<(), (ResponseError, String)> {
    let pick = |later: ResponseError| {
        if version == 0 {
            ResponseError::InvalidRequest
        } else {
            later
        }
    };
    match endpoint_type {
        BROKER_ENDPOINT => Ok(()),
        CONTROLLER_ENDPOINT => Err((
            pick(ResponseError::MismatchedEndpointType),
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of \
             type CONTROLLER"
                .to_string(),
        )),
        other => Err((
            pick(ResponseError::UnsupportedEndpointType),
            format!("Unsupported endpoint type {other}"),
        )),
    }
}
