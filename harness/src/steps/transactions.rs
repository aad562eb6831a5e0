//! Transactions (C-EOS-1): a transactional producer's commits and aborts, and what
//! read_committed and read_uncommitted consumers see of them.
//!
//! A transactional producer is librdkafka with a `transactional.id` (unique per scenario:
//! the name in the feature is logical, like topic names). `init_transactions` finds its
//! transaction coordinator and gets a producer id and epoch; each send step is one
//! transaction: `begin_transaction`, the sends, then `commit_transaction` or
//! `abort_transaction`. The coordinator writes a commit or abort marker, one control record
//! that takes an offset, to every partition of the transaction (KIP-98), so the offsets a
//! consumer sees have gaps. A read_committed consumer reads only below the last stable
//! offset and drops the records of aborted transactions (the broker lists them in each
//! Fetch response); a read_uncommitted consumer reads them all. The trace records the
//! deliveries' offsets, each transaction's outcome, and every record each consumer read with
//! its offset.
//!
//! librdkafka's transactional calls block their thread, so they run on the blocking pool.
//!
//! # References
//! - KIP-98 (transactions); librdkafka `INTRODUCTION.md`, "Transactional Producer"

use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{given, then, when};
use rdkafka::Offset;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureRecord, Producer as _};

use super::consuming::{assigned_consumer, receive_until};
use super::numbered_range;
use super::producing::send_record;
use crate::clients::Producer;
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::world::{Delivery, KafkaWorld};
use crate::{StepResult, check};

/// How long each transactional call may take (librdkafka's own timeouts are shorter).
const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a delivery report of a transactional send may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a blocking transactional call of `producer` on the blocking pool.
async fn txn_call(
    producer: &Producer,
    what: &str,
    call: impl FnOnce(&Producer) -> Result<(), KafkaError> + Send + 'static,
) -> Result<(), ErrorCode> {
    let producer = producer.clone();
    let outcome = tokio::task::spawn_blocking(move || call(&producer)).await;
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "{what} failed");
            Err(error
                .rdkafka_error_code()
                .map_or_else(|| ErrorCode::from_kafka(-1), ErrorCode::from_rdkafka))
        }
        Err(join) => {
            tracing::debug!(%join, "{what} panicked");
            Err(ErrorCode::from_kafka(-1))
        }
    }
}

/// A transactional producer with `transactional.id` unique to the scenario, initialised.
async fn new_transactional(world: &mut KafkaWorld, name: &str) -> anyhow::Result<Producer> {
    let bootstrap = world.bootstrap()?;
    let mut settings = world.producer_settings.clone();
    settings.push(("transactional.id".into(), world.group_id(name)));
    let (producer, _) = crate::clients::producer(&bootstrap, &settings)?;
    txn_call(&producer, "init_transactions", |p| {
        p.init_transactions(TXN_CALL_TIMEOUT)
    })
    .await
    .map_err(|code| anyhow!("init_transactions of {name:?} failed: {code}"))?;
    Ok(producer)
}

#[given(expr = "a transactional producer {string}")]
async fn transactional_producer(world: &mut KafkaWorld, name: String) -> StepResult {
    let producer = new_transactional(world, &name).await?;
    world.transactional.insert(name, producer);
    Ok(())
}

/// Commit or abort, as the step says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Commit,
    Abort,
}

impl std::str::FromStr for Ending {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Ending> {
        match s {
            "commits" => Ok(Ending::Commit),
            "aborts" => Ok(Ending::Abort),
            other => Err(anyhow!("{other:?} is neither \"commits\" nor \"aborts\"")),
        }
    }
}

/// The scenario's transactional producer `name`.
fn transactional(world: &KafkaWorld, name: &str) -> anyhow::Result<Producer> {
    world
        .transactional
        .get(name)
        .cloned()
        .with_context(|| format!("no transactional producer {name:?}"))
}

/// Begins a transaction of `name` and sends `first` to `last` in it, recording each
/// delivery; returns how many were sent.
async fn begin_and_send(
    world: &mut KafkaWorld,
    name: &str,
    (first, last): (&str, &str),
    partition: i32,
    logical: &str,
) -> anyhow::Result<usize> {
    let values = numbered_range(first, last)?;
    let producer = transactional(world, name)?;
    let physical = world.physical(logical);
    txn_call(&producer, "begin_transaction", |p| p.begin_transaction())
        .await
        .map_err(|code| anyhow!("begin_transaction failed: {code}"))?;
    let reports: Vec<_> = values
        .iter()
        .map(|value| {
            let record = FutureRecord::<str, [u8]>::to(&physical)
                .partition(partition)
                .payload(value.as_bytes());
            send_record(&producer, record, DELIVERY_TIMEOUT)
        })
        .collect();
    for (value, report) in values.iter().zip(reports) {
        let outcome = report.await;
        match &outcome {
            Ok((partition, offset)) => world.record(Observation::Delivered {
                topic: logical.to_owned(),
                partition: Some(*partition),
                offset: Some(*offset),
                value: value.clone(),
            }),
            Err(error) => world.record(Observation::DeliveryFailed {
                topic: logical.to_owned(),
                error: error.clone(),
            }),
        }
        world.deliveries.push(Delivery {
            topic: logical.to_owned(),
            key: None,
            value: value.clone(),
            outcome,
        });
    }
    Ok(values.len())
}

/// Commits or aborts the open transaction of `producer`.
async fn end(producer: &Producer, ending: Ending) -> Result<(), ErrorCode> {
    match ending {
        Ending::Commit => {
            txn_call(producer, "commit_transaction", |p| {
                p.commit_transaction(TXN_CALL_TIMEOUT)
            })
            .await
        }
        Ending::Abort => {
            txn_call(producer, "abort_transaction", |p| {
                p.abort_transaction(TXN_CALL_TIMEOUT)
            })
            .await
        }
    }
}

#[when(
    expr = "the transactional producer {string} sends {string} to {string} to partition {int} of {string} and {word}"
)]
async fn send_in_transaction(
    world: &mut KafkaWorld,
    name: String,
    first: String,
    last: String,
    partition: i32,
    logical: String,
    ending: String,
) -> StepResult {
    let ending: Ending = ending.parse()?;
    let sent = begin_and_send(world, &name, (&first, &last), partition, &logical).await?;
    let producer = transactional(world, &name)?;
    end(&producer, ending)
        .await
        .map_err(|code| anyhow!("{ending:?} of the transaction failed: {code}"))?;
    world.record(Observation::Checked(format!(
        "a transaction of {sent} message(s) to {logical}/{partition} ended: {ending:?}"
    )));
    Ok(())
}

#[when(
    expr = "the transactional producer {string} begins a transaction and sends {string} to {string} to partition {int} of {string}"
)]
async fn send_in_open_transaction(
    world: &mut KafkaWorld,
    name: String,
    first: String,
    last: String,
    partition: i32,
    logical: String,
) -> StepResult {
    begin_and_send(world, &name, (&first, &last), partition, &logical).await?;
    Ok(())
}

/// KIP-98's zombie fencing: initialising a producer with a transactional id bumps the
/// id's epoch, aborts the transaction the previous producer left open and fences that
/// producer.
#[when(expr = "a new transactional producer {string} starts with the transactional id of {string}")]
async fn same_transactional_id(world: &mut KafkaWorld, name: String, of: String) -> StepResult {
    check!(
        world.transactional.contains_key(&of),
        "no transactional producer {of:?}"
    );
    let producer = new_transactional(world, &of).await?;
    world.transactional.insert(name, producer);
    Ok(())
}

#[then(expr = "the transactional producer {string} cannot commit: {word}")]
async fn cannot_commit(world: &mut KafkaWorld, name: String, expected: String) -> StepResult {
    let producer = transactional(world, &name)?;
    let outcome = end(&producer, Ending::Commit).await;
    let Err(code) = outcome else {
        return Err(anyhow!("the commit of {name:?} succeeded").into());
    };
    let shown = code.to_string();
    check!(
        shown.contains(&expected),
        "the commit of {name:?} failed with {shown}, expected {expected}"
    );
    world.record(Observation::Checked(format!("a commit failed: {shown}")));
    Ok(())
}

#[then(
    expr = "a {word} consumer of partition {int} of {string} reads exactly {string} to {string} and {string} to {string}"
)]
// A cucumber step takes one argument per capture of its expression.
#[allow(clippy::too_many_arguments)]
async fn reads_exactly_two_ranges(
    world: &mut KafkaWorld,
    isolation: String,
    partition: i32,
    logical: String,
    first_a: String,
    last_a: String,
    first_b: String,
    last_b: String,
) -> StepResult {
    let mut expected = numbered_range(&first_a, &last_a)?;
    expected.extend(numbered_range(&first_b, &last_b)?);
    reads_exactly(world, &isolation, partition, &logical, &expected).await
}

#[then(
    expr = "a {word} consumer of partition {int} of {string} reads exactly {string} to {string}"
)]
async fn reads_exactly_one_range(
    world: &mut KafkaWorld,
    isolation: String,
    partition: i32,
    logical: String,
    first: String,
    last: String,
) -> StepResult {
    let expected = numbered_range(&first, &last)?;
    reads_exactly(world, &isolation, partition, &logical, &expected).await
}

/// Reads the partition from its start with `isolation.level` = `isolation` until the last
/// expected value arrives, and checks that exactly `expected` arrived, in order (every
/// record is in the log before the read, so an unexpected one arrives before the last).
async fn reads_exactly(
    world: &mut KafkaWorld,
    isolation: &str,
    partition: i32,
    logical: &str,
    expected: &[String],
) -> StepResult {
    check!(
        isolation == "read_committed" || isolation == "read_uncommitted",
        "isolation {isolation:?} is neither read_committed nor read_uncommitted"
    );
    let last = expected.last().cloned().context("nothing expected")?;
    let settings = [("isolation.level".to_string(), isolation.to_string())];
    let consumer = assigned_consumer(world, logical, &[(partition, Offset::Beginning)], &settings)?;
    let what = format!("{isolation} reading {logical}/{partition} up to {last:?}");
    let received = receive_until(world, &consumer, logical, &what, |got| {
        got.iter().any(|r| r.value == last)
    })
    .await?;
    let values: Vec<&str> = received.iter().map(|r| r.value.as_str()).collect();
    check!(
        values == expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "{isolation} read {values:?}, expected {expected:?}"
    );
    Ok(())
}

/// A consume-transform-produce loop (KIP-98's use case): it reads partition 0 of `from`
/// with a read_committed consumer of its own group (from the group's committed offset, or
/// the start), and writes each message, "order" replaced by "invoice" in its value, to
/// partition 0 of `to`, `per_transaction` messages per transaction, committing the
/// consumer's offsets in the same transaction (`send_offsets_to_transaction`). With
/// `crash_after`, it stops dead after that many messages: the open transaction is neither
/// committed nor aborted, as when the process is killed. Otherwise it copies until the
/// source's end offset as the step began.
async fn copy(
    world: &mut KafkaWorld,
    copier: &str,
    (from, to): (&str, &str),
    per_transaction: usize,
    crash_after: Option<usize>,
) -> StepResult {
    check!(per_transaction > 0, "transactions of 0 messages");
    let end = super::offsets::query_offset(world, from, 0, "latest").await?;
    let producer = new_transactional(world, copier).await?;
    let settings = [
        ("isolation.level".to_string(), "read_committed".to_string()),
        ("enable.auto.commit".to_string(), "false".to_string()),
        ("auto.offset.reset".to_string(), "earliest".to_string()),
    ];
    let consumer =
        crate::clients::consumer(&world.bootstrap()?, &world.group_id(copier), &settings)?;
    let target = world.physical(to);
    let source = world.physical(from);
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(&source, 0, Offset::Stored)
        .context("assigning the copier")?;
    {
        use rdkafka::consumer::Consumer as _;
        consumer
            .assign(&assignment)
            .context("assigning the copier")?;
    }
    let deadline = super::Deadline::after(Duration::from_secs(60), "copying");
    let (mut copied, mut in_transaction) = (0usize, 0usize);
    let mut next_offset = None;
    loop {
        if crash_after == Some(copied) {
            // Killed: the producer goes without ending its transaction.
            drop(producer);
            world.record(Observation::Checked(format!(
                "copier {copier} crashed after copying {copied} message(s)"
            )));
            return Ok(());
        }
        let done = next_offset.is_some_and(|n| n >= end) || (next_offset.is_none() && end == 0);
        if in_transaction == per_transaction || (done && in_transaction > 0) {
            commit_with_offsets(&producer, &consumer, &source, next_offset).await?;
            in_transaction = 0;
        }
        if done {
            break;
        }
        let Some(record) = super::consuming::next_record(&consumer, &deadline).await? else {
            return Err(anyhow!("{copier} received nothing more before {end}").into());
        };
        if in_transaction == 0 {
            txn_call(&producer, "begin_transaction", |p| p.begin_transaction())
                .await
                .map_err(|code| anyhow!("begin_transaction failed: {code}"))?;
        }
        let value = record.value.replacen("order", "invoice", 1);
        let sent = FutureRecord::<str, [u8]>::to(&target)
            .partition(0)
            .payload(value.as_bytes());
        let (partition, offset) = send_record(&producer, sent, DELIVERY_TIMEOUT)
            .await
            .map_err(|code| anyhow!("{copier} could not send {value}: {code}"))?;
        world.record(Observation::Delivered {
            topic: to.to_owned(),
            partition: Some(partition),
            offset: Some(offset),
            value,
        });
        next_offset = Some(record.offset + 1);
        copied += 1;
        in_transaction += 1;
    }
    world.record(Observation::Checked(format!(
        "copier {copier} copied {copied} message(s)"
    )));
    Ok(())
}

/// Adds the consumer's position (`next_offset` of the source's partition 0) to the open
/// transaction and commits it.
async fn commit_with_offsets(
    producer: &Producer,
    consumer: &crate::clients::Consumer,
    source: &str,
    next_offset: Option<i64>,
) -> anyhow::Result<()> {
    use rdkafka::consumer::Consumer as _;
    let next = next_offset.context("no message to commit")?;
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets.add_partition_offset(source, 0, Offset::Offset(next))?;
    let metadata = consumer
        .group_metadata()
        .context("the consumer has no group metadata")?;
    txn_call(producer, "send_offsets_to_transaction", move |p| {
        p.send_offsets_to_transaction(&offsets, &metadata, TXN_CALL_TIMEOUT)
    })
    .await
    .map_err(|code| anyhow!("send_offsets_to_transaction failed: {code}"))?;
    end(producer, Ending::Commit)
        .await
        .map_err(|code| anyhow!("commit failed: {code}"))
}

#[when(
    expr = "copier {string} copies {string} to {string} in transactions of {int} messages and is killed after {int} messages"
)]
async fn copier_killed(
    world: &mut KafkaWorld,
    copier: String,
    from: String,
    to: String,
    per_transaction: usize,
    killed_after: usize,
) -> StepResult {
    copy(
        world,
        &copier,
        (&from, &to),
        per_transaction,
        Some(killed_after),
    )
    .await
}

#[when(
    expr = "copier {string} restarts and copies the rest of {string} to {string} in transactions of {int} messages"
)]
async fn copier_restarts(
    world: &mut KafkaWorld,
    copier: String,
    from: String,
    to: String,
    per_transaction: usize,
) -> StepResult {
    copy(world, &copier, (&from, &to), per_transaction, None).await
}
