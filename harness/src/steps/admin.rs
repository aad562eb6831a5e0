//! Admin requests that change what a topic holds or how it is kept, sent by the raw client as
//! Kafka's admin client sends them: DeleteRecords to each partition's leader,
//! IncrementalAlterConfigs to any broker (Kafka forwards it to the controller).
//!
//! # References
//! - Kafka protocol guide: DeleteRecords, IncrementalAlterConfigs (KIP-339)
//! - `kafka-delete-records`, `kafka-configs --alter --add-config`

use anyhow::{Context, anyhow};
use cucumber::{then, when};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DeleteRecordsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::raw_client::topic_name;
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long the leader may take to move the log start offset (DeleteRecords' `timeout_ms`).
const DELETE_RECORDS_TIMEOUT_MS: i32 = 30_000;

/// DeleteRecords of one partition: its error and the low watermark it answered.
async fn delete_records(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    before: i64,
) -> anyhow::Result<(ErrorCode, i64)> {
    let physical = world.physical(logical);
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(DELETE_RECORDS_TIMEOUT_MS)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic_name(&physical))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(before),
                ]),
        ]);
    let response = world
        .raw()?
        .leader_of(&physical, partition)
        .await?
        .call(&request)
        .await
        .with_context(|| format!("DeleteRecords of {logical}/{partition}"))?;
    let answer = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| anyhow!("DeleteRecords answered without partition {partition}"))?;
    Ok((
        ErrorCode::from_kafka(answer.error_code),
        answer.low_watermark,
    ))
}

#[when(expr = "the records of partition {int} of {string} before offset {int} are deleted")]
async fn records_deleted(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    before: i64,
) -> StepResult {
    let (error, low_watermark) = delete_records(world, &logical, partition, before).await?;
    check!(
        error.code == 0,
        "DeleteRecords of {logical}/{partition} before {before} answered {error}"
    );
    world.record(Observation::Checked(format!(
        "records of {logical}/{partition} before offset {before} deleted: low watermark {low_watermark}"
    )));
    Ok(())
}

#[then(
    regex = r#"^deleting the records of partition (\d+) of "([^"]*)" before offset (-?\d+) fails with ([A-Z_]+) \((-?\d+)\)$"#
)]
async fn deleting_records_fails(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    before: i64,
    name: String,
    code: i32,
) -> StepResult {
    let (error, _) = delete_records(world, &logical, partition, before).await?;
    check!(
        error.is(&name, code),
        "DeleteRecords of {logical}/{partition} before {before} answered {error}, expected {name} ({code})"
    );
    world.record(Observation::AdminError {
        operation: "DeleteRecords".to_owned(),
        topic: logical,
        error,
    });
    Ok(())
}

#[when(expr = "the config {string} of topic {string} is set to {string}")]
async fn topic_config_set(
    world: &mut KafkaWorld,
    name: String,
    logical: String,
    value: String,
) -> StepResult {
    const TOPIC: i8 = 2;
    const SET: i8 = 0;
    let physical = world.physical(&logical);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(physical))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_config_operation(SET)
                    .with_value(Some(StrBytes::from_string(value.clone()))),
            ]),
    ]);
    let response = world
        .raw()?
        .any_broker()
        .await?
        .call(&request)
        .await
        .with_context(|| format!("IncrementalAlterConfigs of topic {logical}"))?;
    let error = response
        .responses
        .first()
        .map(|r| ErrorCode::from_kafka(r.error_code))
        .ok_or_else(|| anyhow!("IncrementalAlterConfigs answered no resource"))?;
    check!(
        error.code == 0,
        "setting {name}={value} on topic {logical} answered {error}"
    );
    world.record(Observation::Checked(format!(
        "config {name} of topic {logical} set to {value}"
    )));
    Ok(())
}
