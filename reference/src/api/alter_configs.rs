//! AlterConfigs (the legacy, non-incremental API): replaces every dynamic config of a topic or
//! a broker resource with the request's. Also the core both config-altering APIs share
//! ([`alter`]), which IncrementalAlterConfigs (`super::incremental_alter_configs`) calls with
//! its operations.
//!
//! Kafka splits the work between the broker that receives the request and the controller
//! (`ConfigAdminManager`): the broker checks the request ([`preprocess`]: a resource given
//! twice, a config key given twice, a null value, the resource type, a BROKER resource that
//! names another broker), then the controller, under its lock, works out the resource's new
//! configs, validates them (topic configs: INVALID_CONFIG; broker configs: INVALID_REQUEST,
//! as `DynamicBrokerConfig.validate` answers), checks that the resource exists
//! (UNKNOWN_TOPIC_OR_PARTITION, BROKER_ID_NOT_REGISTERED) and, unless `validate_only`,
//! stores them. A failure leaves everything as it was. Each resource succeeds or fails on
//! its own.
//!
//! A change takes effect at once: the controller writes a `TopicConfig` record for every topic
//! it touches (for a broker default, every topic), and each broker reloads that topic's
//! replicas (`min.insync.replicas`, segment and retention settings) when it applies it. The
//! request is answered once this broker's image has the change, so that a DescribeConfigs
//! here next sees it. A broker cut off from the controller answers REQUEST_TIMED_OUT
//! (`super::reach_controller`), as a forwarded request that times out does.
//!
//! # References
//! - KIP-133 (AlterConfigs), KIP-226 (dynamic broker configs), KIP-339 (its successor)
//! - `kafka.server.ConfigAdminManager` (`preprocess`, `reassembleLegacyResponse`),
//!   `ConfigurationControlManager.legacyAlterConfigs`, `ControllerConfigurationValidator`,
//!   `QuorumController.ConfigResourceExistenceChecker`

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{KafkaError, reach_controller, until_image};
use crate::config::TopicConfig;
use crate::controller::{Controller, TopicReplicationConfig, validate_topic_name};
use crate::dynamic_config::{
    self, ConfigOp, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC,
};
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// How long a change waits for the controller and for this broker's image: a client's
/// default `request.timeout.ms`. The request has no timeout of its own.
const CONTROLLER_WAIT_MS: i32 = 30_000;

/// `ConfigResource.Type` ids the reference does not implement configs for.
const RESOURCE_CLIENT_METRICS: i8 = 16;
const RESOURCE_GROUP: i8 = 32;

/// What a request asks of one resource.
pub(crate) enum Change<'a> {
    /// AlterConfigs: these configs, and no others.
    Replace(Vec<(&'a str, Option<&'a str>)>),
    /// IncrementalAlterConfigs: these operations on the configs there are.
    Ops(Vec<ConfigOp<'a>>),
}

impl Change<'_> {
    fn names(&self) -> Vec<&str> {
        match self {
            Change::Replace(configs) => configs.iter().map(|(n, _)| *n).collect(),
            Change::Ops(ops) => ops.iter().map(|o| o.name).collect(),
        }
    }

    /// Names whose value is null where one is needed (all but DELETE).
    fn nulls(&self) -> Vec<&str> {
        match self {
            Change::Replace(configs) => configs
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect(),
            Change::Ops(ops) => ops
                .iter()
                .filter(|o| o.op != dynamic_config::op::DELETE && o.value.is_none())
                .map(|o| o.name)
                .collect(),
        }
    }

    /// The resource's configs after the change, from `current`.
    fn apply(
        &self,
        resource_type: i8,
        current: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        match self {
            Change::Replace(configs) => Ok(configs
                .iter()
                .map(|(n, v)| (n.to_string(), v.unwrap_or("").to_string()))
                .collect()),
            Change::Ops(ops) => dynamic_config::apply_ops(resource_type, current, ops),
        }
    }
}

/// One resource of a request.
pub(crate) struct Resource<'a> {
    pub resource_type: i8,
    pub name: &'a str,
    pub change: Change<'a>,
}

pub async fn handle(shared: &Shared, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let resources: Vec<Resource<'_>> = req
        .resources
        .iter()
        .map(|r| Resource {
            resource_type: r.resource_type,
            name: r.resource_name.as_str(),
            change: Change::Replace(
                r.configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.as_ref().map(|v| v.as_str())))
                    .collect(),
            ),
        })
        .collect();
    let outcomes = alter(shared, &resources, req.validate_only, false).await;
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
    AlterConfigsResponse::default().with_responses(responses)
}

/// A resource's error code and message (none on success; none for a timeout, as Kafka's
/// forwarding timeout answers).
pub(crate) fn answer(outcome: Result<(), KafkaError>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(e) if e.code == ResponseError::RequestTimedOut.code() => (e.code, None),
        Err(e) => (e.code, Some(StrBytes::from_string(e.message))),
    }
}

/// Checks and applies every resource of a request (see the module docs); one outcome per
/// resource, in the request's order. `incremental` tells IncrementalAlterConfigs, which
/// Kafka lets change BROKER_LOGGER resources too.
pub(crate) async fn alter(
    shared: &Shared,
    resources: &[Resource<'_>],
    validate_only: bool,
    incremental: bool,
) -> Vec<Result<(), KafkaError>> {
    let node = &shared.node;
    let mut outcomes = preprocess(resources, node.id, incremental);
    if outcomes.iter().all(Option::is_some) {
        return outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect();
    }
    if !reach_controller(node, CONTROLLER_WAIT_MS).await {
        let timed_out = || Err(KafkaError::new(ResponseError::RequestTimedOut, ""));
        return outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(timed_out))
            .collect();
    }
    let mut target_offset = None;
    for (resource, outcome) in resources.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        let done = node.controller.with(|c| {
            let result = alter_in_controller(shared, c, resource, validate_only);
            (result, c.metadata_offset())
        });
        if done.0.is_ok() && !validate_only {
            target_offset = Some(done.1);
        }
        *outcome = Some(done.0);
    }
    if let Some(offset) = target_offset {
        until_image(node, CONTROLLER_WAIT_MS, |image| image.offset() >= offset).await;
    }
    outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect()
}

/// The receiving broker's checks (`ConfigAdminManager.preprocess`): `Some` outcome for a
/// resource answered here, `None` for one that goes on to the controller.
fn preprocess(
    resources: &[Resource<'_>],
    this_broker: i32,
    incremental: bool,
) -> Vec<Option<Result<(), KafkaError>>> {
    let invalid = |m: String| Some(Err(KafkaError::new(ResponseError::InvalidRequest, m)));
    // Hashed: a request may name a hundred thousand resources.
    let mut seen: HashMap<(i8, &str), usize> = HashMap::new();
    for r in resources {
        *seen.entry((r.resource_type, r.name)).or_insert(0) += 1;
    }
    resources
        .iter()
        .map(|r| {
            if seen.get(&(r.resource_type, r.name)).copied().unwrap_or(0) > 1 {
                return invalid("Each resource must appear at most once.".into());
            }
            let names = r.change.names();
            let mut distinct = HashSet::with_capacity(names.len());
            if !names.iter().all(|n| distinct.insert(*n)) {
                return invalid("Error due to duplicate config keys".into());
            }
            let nulls = r.change.nulls();
            if !nulls.is_empty() {
                return invalid(format!(
                    "Null value not supported for : {}",
                    nulls.join(", ")
                ));
            }
            match r.resource_type {
                RESOURCE_TOPIC => None,
                RESOURCE_BROKER => match dynamic_config::resource_broker_id(r.name, this_broker) {
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                },
                RESOURCE_BROKER_LOGGER if incremental => invalid(
                    "The reference broker does not change logger levels at run time \
                     (set RUST_LOG when it starts)"
                        .into(),
                ),
                RESOURCE_GROUP => {
                    invalid("The reference broker does not implement group configs".into())
                }
                RESOURCE_CLIENT_METRICS => {
                    invalid("The reference broker does not implement client metrics configs".into())
                }
                other => invalid(format!("Unknown resource type {other}")),
            }
        })
        .collect()
}

/// One resource, under the controller's lock (see the module docs).
fn alter_in_controller(
    shared: &Shared,
    c: &mut Controller,
    resource: &Resource<'_>,
    validate_only: bool,
) -> Result<(), KafkaError> {
    match resource.resource_type {
        RESOURCE_TOPIC => alter_topic(shared, c, resource, validate_only),
        _ => alter_broker(shared, c, resource, validate_only),
    }
}

fn alter_topic(
    shared: &Shared,
    c: &mut Controller,
    resource: &Resource<'_>,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let name = resource.name;
    if name.is_empty() {
        return Err(KafkaError::new(
            ResponseError::InvalidRequest,
            "Default topic resources are not allowed.",
        ));
    }
    validate_topic_name(name)?;
    let topic_configs = &shared.node.topic_configs;
    let current = topic_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .map(|t| t.overrides.clone())
        .unwrap_or_default();
    let overrides = resource.change.apply(RESOURCE_TOPIC, &current)?;
    let config = TopicConfig::new(&shared.config, overrides)
        .map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e.0))?;
    let Some(topic_id) = c.image().topic_id(name) else {
        return Err(KafkaError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ));
    };
    if validate_only {
        return Ok(());
    }
    let mut in_force = config.clone();
    let dynamic = shared
        .node
        .controller
        .dynamic
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    dynamic.apply_to_topic(shared.node.id, &mut in_force);
    drop(dynamic);
    topic_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), config);
    c.update_topic_config(topic_id, replication_of(&in_force));
    Ok(())
}

fn alter_broker(
    shared: &Shared,
    c: &mut Controller,
    resource: &Resource<'_>,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let broker_id = dynamic_config::resource_broker_id(resource.name, shared.node.id)?;
    if let Some(id) = broker_id
        && c.image().broker(id).is_none()
    {
        return Err(KafkaError::new(
            ResponseError::BrokerIdNotRegistered,
            format!("No node with id {id} found."),
        ));
    }
    let dynamic = &shared.node.controller.dynamic;
    let current = dynamic
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .of(broker_id);
    let configs = resource.change.apply(RESOURCE_BROKER, &current)?;
    dynamic_config::check_broker_configs(&shared.config, broker_id, &configs)?;
    if validate_only {
        return Ok(());
    }
    let mut defaults = TopicConfig::new(&shared.config, BTreeMap::new())
        .map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e.0))?;
    let mut dynamic = dynamic.lock().unwrap_or_else(|p| p.into_inner());
    dynamic.replace(broker_id, configs);
    // Every topic follows the defaults it does not set itself: its replication configs are
    // the cluster's (per-broker ones are refused), and each broker reloads its replicas.
    let topic_configs = shared
        .node
        .topic_configs
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    dynamic.apply_to_topic(shared.node.id, &mut defaults);
    c.set_default_replication_config(replication_of(&defaults));
    let topics: Vec<_> = c
        .image()
        .topics()
        .map(|t| {
            let mut config = topic_configs
                .get(&t.name)
                .cloned()
                .unwrap_or_else(|| defaults.clone());
            dynamic.apply_to_topic(shared.node.id, &mut config);
            (t.topic_id, replication_of(&config))
        })
        .collect();
    drop(topic_configs);
    drop(dynamic);
    for (topic_id, config) in topics {
        c.update_topic_config(topic_id, config);
    }
    Ok(())
}

fn replication_of(config: &TopicConfig) -> TopicReplicationConfig {
    TopicReplicationConfig {
        min_insync_replicas: config.min_insync_replicas,
        unclean_leader_election_enable: config.unclean_leader_election_enable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource<'a>(
        resource_type: i8,
        name: &'a str,
        configs: &[(&'a str, Option<&'a str>)],
    ) -> Resource<'a> {
        Resource {
            resource_type,
            name,
            change: Change::Replace(configs.to_vec()),
        }
    }

    fn codes(outcomes: Vec<Option<Result<(), KafkaError>>>) -> Vec<Option<(i16, String)>> {
        outcomes
            .into_iter()
            .map(|o| o.map(|r| r.map_or_else(|e| (e.code, e.message), |()| (0, String::new()))))
            .collect()
    }

    #[test]
    fn the_receiving_broker_checks_the_request_first() {
        let invalid = ResponseError::InvalidRequest.code();
        let resources = [
            resource(RESOURCE_TOPIC, "a", &[("retention.ms", Some("1"))]),
            resource(RESOURCE_TOPIC, "a", &[]),
            resource(RESOURCE_TOPIC, "b", &[("x", Some("1")), ("x", Some("2"))]),
            resource(RESOURCE_TOPIC, "c", &[("x", None), ("y", None)]),
            resource(RESOURCE_BROKER, "2", &[]),
            resource(RESOURCE_BROKER, "1", &[]),
            resource(RESOURCE_BROKER, "", &[]),
            resource(RESOURCE_BROKER_LOGGER, "1", &[]),
            resource(99, "x", &[]),
            resource(RESOURCE_TOPIC, "d", &[]),
        ];
        let outcomes = codes(preprocess(&resources, 1, false));
        let once = Some((
            invalid,
            "Each resource must appear at most once.".to_string(),
        ));
        assert_eq!(outcomes[0], once);
        assert_eq!(outcomes[1], once);
        assert_eq!(
            outcomes[2],
            Some((invalid, "Error due to duplicate config keys".into()))
        );
        assert_eq!(
            outcomes[3],
            Some((invalid, "Null value not supported for : x, y".into()))
        );
        assert_eq!(
            outcomes[4],
            Some((
                invalid,
                "Unexpected broker id, expected 1, but received 2".into()
            ))
        );
        assert_eq!(outcomes[5], None);
        assert_eq!(outcomes[6], None);
        assert_eq!(
            outcomes[7],
            Some((invalid, "Unknown resource type 8".into())),
            "AlterConfigs has no BROKER_LOGGER"
        );
        assert_eq!(
            outcomes[8],
            Some((invalid, "Unknown resource type 99".into()))
        );
        assert_eq!(outcomes[9], None);
        let deletes = [Resource {
            resource_type: RESOURCE_TOPIC,
            name: "t",
            change: Change::Ops(vec![ConfigOp {
                name: "retention.ms",
                op: dynamic_config::op::DELETE,
                value: None,
            }]),
        }];
        assert_eq!(
            codes(preprocess(&deletes, 1, true)),
            [None],
            "DELETE needs no value"
        );
    }
}
