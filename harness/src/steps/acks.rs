//! What `acks` means on the wire: with `acks=0` the broker writes no Produce response at
//! all (the next response on the connection answers the *next* request), and with `acks=1`
//! an acknowledged message is readable by the very next fetch.
//!
//! # References
//!
//! - Kafka protocol guide, Produce: "acks … 0 for no acknowledgments" (the server sends no
//!   response); librdkafka `CONFIGURATION.md`, `acks`.

use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::{Buf, Bytes};
use cucumber::{then, when};
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::StrBytes;

use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::raw_client::{IO_TIMEOUT, OutgoingRecord, RawConnection};
use crate::world::KafkaWorld;
use crate::{StepResult, check};

/// How long a step listens for a response that must not come.
const SILENCE: Duration = Duration::from_millis(500);

#[when(
    expr = "the raw client sends a Produce of {int} records to partition {int} of {string} with acks 0 and correlation id {int}, then an ApiVersions request with correlation id {int} on the same connection"
)]
async fn produce_acks0_then_api_versions(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    produce_correlation_id: i32,
    api_versions_correlation_id: i32,
) -> StepResult {
    let physical = world.physical(&logical);
    let leader = world.raw()?.leader_address(&physical, partition).await?;
    let (_, address) = leader.ok_or_else(|| anyhow!("{logical}/{partition} has no leader"))?;
    let mut connection = RawConnection::connect(&address).await?;
    let records: Vec<OutgoingRecord> = (0..count)
        .map(|i| OutgoingRecord {
            key: None,
            value: Some(Bytes::from(format!("fire-and-forget-{i}"))),
        })
        .collect();
    connection
        .send_produce_without_response(&physical, partition, &records, produce_correlation_id)
        .await
        .context("sending the acks=0 Produce")?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafka-spec"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    connection
        .send(&request, 3, api_versions_correlation_id)
        .await
        .context("sending ApiVersions after the acks=0 Produce")?;
    world.connection = Some(connection);
    Ok(())
}

/// The correlation id of a response frame: the first field of every response header.
fn correlation_id(mut frame: Bytes) -> anyhow::Result<i32> {
    anyhow::ensure!(
        frame.len() >= 4,
        "a {}-byte response has no header",
        frame.len()
    );
    Ok(frame.get_i32())
}

#[then(expr = "the next response on that connection carries correlation id {int}")]
async fn next_response(world: &mut KafkaWorld, expected: i32) -> StepResult {
    let connection = world
        .connection
        .as_mut()
        .ok_or_else(|| anyhow!("no connection was kept open"))?;
    let frame = connection
        .read_frame(IO_TIMEOUT)
        .await?
        .ok_or_else(|| anyhow!("no response at all within {IO_TIMEOUT:?}"))?;
    let got = correlation_id(frame)?;
    world.record(Observation::NextResponse {
        api: "any".to_owned(),
        correlation_id: got,
    });
    check!(
        got == expected,
        "the next response carries correlation id {got}, expected {expected}: \
         the broker answered a request it should not have"
    );
    Ok(())
}

#[then("no other response arrives on that connection")]
async fn silence(world: &mut KafkaWorld) -> StepResult {
    let connection = world
        .connection
        .as_mut()
        .ok_or_else(|| anyhow!("no connection was kept open"))?;
    if let Some(frame) = connection.read_frame(SILENCE).await? {
        let got = correlation_id(frame)?;
        check!(
            false,
            "an unexpected response with correlation id {got} arrived"
        );
    }
    Ok(())
}

#[then(
    expr = "a single fetch of partition {int} of {string} at offset {int}, without waiting, returns {string} at offset {int}"
)]
async fn single_fetch_returns(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
    value: String,
    expected_offset: i64,
) -> StepResult {
    // max_wait_ms 0: whatever the leader has now; no polling, no second chance.
    let fetched = world
        .raw_fetch_recorded(&logical, partition, offset)
        .await?;
    let error = ErrorCode::from_kafka(fetched.error_code);
    check!(fetched.error_code == 0, "the fetch answered {error}");
    let first = fetched
        .records
        .iter()
        .find(|r| r.offset >= offset)
        .ok_or_else(|| {
            anyhow!(
                "the fetch returned no record (high watermark {}): the acknowledged message is not readable",
                fetched.high_watermark
            )
        })?;
    let got = show_value(first.value.as_deref());
    check!(
        first.offset == expected_offset && got == value,
        "the fetch returned {got:?} at offset {}, expected {value:?} at {expected_offset}",
        first.offset
    );
    Ok(())
}
