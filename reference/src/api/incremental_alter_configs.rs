//! IncrementalAlterConfigs (KIP-339): SET, DELETE, APPEND and SUBTRACT on the dynamic configs
//! of a topic or a broker resource (a broker id, or "" for the cluster-wide defaults), the
//! others left as they are. The checks, the controller's part and when a change takes
//! effect are AlterConfigs' ([`super::alter_configs::alter`]); APPEND and SUBTRACT need a
//! LIST config (`cleanup.policy`), INVALID_CONFIG otherwise.
//!
//! BROKER_LOGGER resources (KIP-412: log4j levels) are refused with INVALID_REQUEST: the
//! reference's logging is set when it starts.
//!
//! # References
//! - KIP-339 (IncrementalAlterConfigs), KIP-226, KIP-412
//! - `kafka.server.ConfigAdminManager.preprocess`,
//!   `ConfigurationControlManager.incrementalAlterConfigs`

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::VersionRange;

use super::alter_configs::{Change, Resource, alter, answer};
use crate::dynamic_config::ConfigOp;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };

pub async fn handle(
    shared: &Shared,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let resources: Vec<Resource<'_>> = req
        .resources
        .iter()
        .map(|r| Resource {
            resource_type: r.resource_type,
            name: r.resource_name.as_str(),
            change: Change::Ops(
                r.configs
                    .iter()
                    .map(|c| ConfigOp {
                        name: c.name.as_str(),
                        op: c.config_operation,
                        value: c.value.as_ref().map(|v| v.as_str()),
                    })
                    .collect(),
            ),
        })
        .collect();
    let outcomes = alter(shared, &resources, req.validate_only, true).await;
    let responses = req
        .resources
        .iter()
        .zip(outcomes)
        .map(|(r, outcome)| {
            let (code, message) = answer(outcome);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
