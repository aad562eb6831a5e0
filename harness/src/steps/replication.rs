//! Replication: where a topic's replicas and leaders are, what a broker that is not the
//! leader answers, what every broker says in Metadata, and failover when a leader stops.
//!
//! Placement is chosen by the cluster (Kafka's controller starts its round-robin at a random
//! broker), so steps check and record its *shape*: how many replicas, on how many brokers,
//! how many leaderships per broker, sorted. A broker a step picks is named by its role (`the
//! leader of payments/0`, `a follower of payments/0`), never by id; when several fit, the
//! step picks by id (the highest follower, the lowest broker without a replica), so that a
//! run is repeatable on a given cluster. A step that sends to a broker other than the leader
//! first waits until that broker's own Metadata knows the partition: brokers learn of a new
//! topic one after another.
//!
//! Failover steps stop and freeze brokers through the target's
//! [`crate::target::FaultControl`] (scenarios that use them carry `@requires-fault-control
//! @requires-multiple-brokers @serial`) and keep what they did in [`ReplicationState`], so
//! that later steps can check that the stopped broker left the in-sync replicas, that a
//! follower took over with a higher leader epoch, and start it again. How many sends fail
//! and are retried while leadership moves depends on timing: the failover send step records
//! only what must hold whatever happened.
//!
//! # References
//!
//! - Kafka protocol guide: Metadata (`leader_epoch` since v7, `isr_nodes`), Produce, Fetch
//!   (v11 `rack_id`: a follower serves consumers, KIP-392), CreateTopics.
//! - KRaft `StripedReplicaPlacer` (how partitions are dealt out to brokers).
//! - Kafka docs, "Replication" (unclean leader election off by default; acks=all and
//!   `min.insync.replicas`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, anyhow};
use cucumber::{given, then, when};
use futures::future::join_all;
use rdkafka::Offset;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::producer::FutureRecord;

use super::consuming::{assigned_consumer, receive_unrecorded};
use super::offsets::{numbered_records, produce_response, query_offset, read_partition};
use super::producing::{Report, send_record};
use super::topics::create_and_wait;
use super::{Deadline, SETTLE_TIMEOUT, comma_list, numbered_range_of};
use crate::clients::Producer;
use crate::kafka_error::ErrorCode;
use crate::observation::{Observation, show_value};
use crate::raw_client::{FetchedPartition, LATEST_TIMESTAMP, RawConnection};
use crate::world::{Delivery, KafkaWorld};
use crate::{StepResult, check};

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a delivery report may take while leadership moves (the scenario's
/// `message.timeout.ms` should be shorter).
const FAILOVER_DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The pause between two sends of the failover step after the first part: long enough that
/// sends are still being made while the leader is stopped, short enough to stay quick.
const FAILOVER_SEND_PACE: Duration = Duration::from_millis(20);

/// How long a step that reads every replica waits for followers to catch up.
const REPLICA_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// What replication steps stopped or froze, kept for the steps that follow.
#[derive(Debug, Default)]
pub struct ReplicationState {
    /// In the order they were stopped; a broker started again is removed.
    stopped: Vec<Stopped>,
    /// Brokers a step froze (SIGSTOP) and has not resumed.
    paused: Vec<i32>,
    /// Every broker's address, as Metadata last listed it: while some brokers are frozen,
    /// Metadata is asked of one known to answer (a frozen broker accepts a connection and
    /// then says nothing until a timeout).
    addresses: BTreeMap<i32, String>,
}

/// A broker a step stopped and, if it was stopped as a partition's leader, what that
/// partition looked like then.
#[derive(Debug, Clone)]
struct Stopped {
    broker: i32,
    /// `leader` or `follower`: the role it had when it was stopped.
    role: &'static str,
    led: Option<Led>,
}

#[derive(Debug, Clone)]
struct Led {
    logical: String,
    partition: i32,
    leader_epoch: i32,
    followers: Vec<i32>,
}

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionState {
    partition: i32,
    error: i16,
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

impl TopicState {
    /// One of its partitions, which Metadata must list.
    fn partition(&self, logical: &str, partition: i32) -> anyhow::Result<&PartitionState> {
        self.partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| anyhow!("Metadata lists no partition {partition} of {logical:?}"))
    }
}

impl PartitionState {
    fn followers(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|id| *id != self.leader)
            .collect()
    }
}

/// A topic as one broker's Metadata describes it: the brokers it lists, the topic's error
/// code and its partitions, sorted by index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicState {
    brokers: Vec<i32>,
    error: i16,
    partitions: Vec<PartitionState>,
}

fn topic_state_of(
    metadata: &kafka_protocol::messages::MetadataResponse,
    physical: &str,
) -> TopicState {
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort_unstable();
    let topic = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == physical));
    let Some(topic) = topic else {
        return TopicState {
            brokers,
            error: 3,
            partitions: Vec::new(),
        };
    };
    let mut partitions: Vec<PartitionState> = topic
        .partitions
        .iter()
        .map(|p| PartitionState {
            partition: p.partition_index,
            error: p.error_code,
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    TopicState {
        brokers,
        error: topic.error_code,
        partitions,
    }
}

/// The topic as any live broker describes it. A failed request (a connection to a broker
/// that has just been stopped) is tried once more on a fresh connection. While brokers are
/// frozen, it is asked of a broker that is neither frozen nor stopped, on a new connection.
async fn topic_state(world: &mut KafkaWorld, logical: &str) -> anyhow::Result<TopicState> {
    let physical = world.physical(logical);
    let mut last_error = None;
    for _ in 0..2 {
        let answering = answering_address(world);
        let answer = async {
            match answering {
                Some(address) => {
                    RawConnection::connect(&address)
                        .await?
                        .metadata(Some(&[physical.as_str()]), false)
                        .await
                }
                None => {
                    world
                        .raw()?
                        .any_broker()
                        .await?
                        .metadata(Some(&[physical.as_str()]), false)
                        .await
                }
            }
        }
        .await;
        match answer {
            Ok(metadata) => {
                for broker in &metadata.brokers {
                    world.replication.addresses.insert(
                        broker.node_id.0,
                        format!("{}:{}", broker.host.as_str(), broker.port),
                    );
                }
                return Ok(topic_state_of(&metadata, &physical));
            }
            Err(error) => {
                last_error = Some(error);
                world.reconnect();
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| anyhow!("no answer"))
        .context(format!("Metadata for {logical}")))
}

/// While some broker is frozen, the address of one that is neither frozen nor stopped.
fn answering_address(world: &KafkaWorld) -> Option<String> {
    let state = &world.replication;
    if state.paused.is_empty() {
        return None;
    }
    state
        .addresses
        .iter()
        .find(|(id, _)| {
            !state.paused.contains(id) && !state.stopped.iter().any(|s| s.broker == **id)
        })
        .map(|(_, address)| address.clone())
}

/// One partition of a topic, which must exist.
async fn partition_state(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
) -> anyhow::Result<PartitionState> {
    let state = topic_state(world, logical).await?;
    state.partition(logical, partition).cloned()
}

/// The topic as [`topic_state`] gives it, which must have partitions.
async fn partitioned_topic_state(
    world: &mut KafkaWorld,
    logical: &str,
) -> anyhow::Result<TopicState> {
    let state = topic_state(world, logical).await?;
    anyhow::ensure!(
        !state.partitions.is_empty(),
        "{logical:?} has no partitions"
    );
    Ok(state)
}

/// Asks for the topic until every one of its partitions (it must have some) passes `good`.
async fn topic_state_until(
    world: &mut KafkaWorld,
    logical: &str,
    deadline: &Deadline,
    good: impl Fn(&PartitionState) -> bool,
) -> anyhow::Result<TopicState> {
    loop {
        let state = topic_state(world, logical).await?;
        if !state.partitions.is_empty() && state.partitions.iter().all(&good) {
            return Ok(state);
        }
        deadline.wait(format!("{:?}", state.partitions)).await?;
    }
}

/// Asks for one partition of the topic until it passes `good`, for at most `seconds`;
/// `what` names the wait.
async fn partition_state_until(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    seconds: u64,
    what: &str,
    good: impl Fn(&PartitionState) -> bool,
) -> anyhow::Result<PartitionState> {
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{logical}/{partition} to {what}"),
    );
    loop {
        let state = partition_state(world, logical, partition).await?;
        if good(&state) {
            return Ok(state);
        }
        deadline.wait(format!("{state:?}")).await?;
    }
}

/// The node ids of the live brokers, as Metadata lists them.
async fn live_brokers(world: &mut KafkaWorld) -> anyhow::Result<Vec<i32>> {
    let metadata = world
        .raw()?
        .any_broker()
        .await?
        .metadata(Some(&[]), false)
        .await
        .context("Metadata for the broker list")?;
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort_unstable();
    Ok(brokers)
}

// ---- topics and replication factors ---------------------------------------------------

#[given(expr = "a cluster of {int} brokers")]
async fn a_cluster_of(world: &mut KafkaWorld, expected: usize) -> StepResult {
    let brokers = live_brokers(world).await?;
    check!(
        brokers.len() == expected,
        "Metadata lists {} brokers ({brokers:?}), expected {expected}",
        brokers.len()
    );
    world.record(Observation::Checked(format!(
        "the cluster has {expected} brokers"
    )));
    Ok(())
}

#[given(expr = "a topic {string} with {int} partition(s) and replication factor {int}")]
async fn a_replicated_topic(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i32,
) -> StepResult {
    create_and_wait(world, &logical, partitions, replication, &[]).await
}

/// Creates a topic through librdkafka's AdminClient, keeping and recording the error.
async fn admin_create(
    world: &mut KafkaWorld,
    logical: &str,
    partitions: i32,
    replication: i32,
) -> StepResult {
    let physical = world.physical(logical);
    let topic = NewTopic::new(&physical, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    let admin = world.admin()?;
    let results = tokio::time::timeout(ADMIN_TIMEOUT, admin.create_topics([&topic], &options))
        .await
        .map_err(|_| anyhow!("CreateTopics {logical}: no answer within {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("CreateTopics {logical}"))?;
    let error = results
        .into_iter()
        .find_map(|result| result.err())
        .map(|(_, code)| ErrorCode::from_rdkafka(code));
    keep_admin_error(world, logical, error);
    Ok(())
}

fn keep_admin_error(world: &mut KafkaWorld, logical: &str, error: Option<ErrorCode>) {
    if let Some(error) = &error {
        world.record(Observation::AdminError {
            operation: "CreateTopics".to_owned(),
            topic: logical.to_owned(),
            error: error.clone(),
        });
    }
    world.last_admin_error = error;
}

#[when(
    expr = "the admin creates topic {string} with {int} partition(s) and replication factor {int}"
)]
async fn admin_creates(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i32,
) -> StepResult {
    admin_create(world, &logical, partitions, replication).await
}

#[when(
    expr = "the admin creates topic {string} with {int} partition(s) and a replication factor one above the number of brokers"
)]
async fn admin_creates_one_above(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
) -> StepResult {
    let brokers = live_brokers(world).await?;
    let replication = i32::try_from(brokers.len()).context("broker count")? + 1;
    admin_create(world, &logical, partitions, replication).await
}

#[when(
    expr = "the raw client asks to create topic {string} with {int} partition(s) and replication factor {int}"
)]
async fn raw_creates(
    world: &mut KafkaWorld,
    logical: String,
    partitions: i32,
    replication: i16,
) -> StepResult {
    let physical = world.physical(&logical);
    let code = world
        .raw()?
        .any_broker()
        .await?
        .create_topic(&physical, partitions, replication)
        .await
        .with_context(|| format!("raw CreateTopics {logical}"))?;
    let error = (code != 0).then(|| ErrorCode::from_kafka(code));
    if error.is_none() {
        world.partition_counts.insert(logical.clone(), partitions);
    }
    keep_admin_error(world, &logical, error);
    Ok(())
}

#[then(expr = "topic {string} does not exist")]
async fn does_not_exist(world: &mut KafkaWorld, logical: String) -> StepResult {
    let state = topic_state(world, &logical).await?;
    let error = ErrorCode::from_kafka(state.error);
    check!(
        error.is("UNKNOWN_TOPIC_OR_PARTITION", 3) && state.partitions.is_empty(),
        "Metadata for {logical:?} answers {error} with partitions {:?}",
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "topic {logical} does not exist: Metadata answers {error}"
    )));
    Ok(())
}

// ---- placement ------------------------------------------------------------------------

#[then(expr = "every partition of {string} has {int} replica(s)")]
async fn every_partition_has_replicas(
    world: &mut KafkaWorld,
    logical: String,
    expected: usize,
) -> StepResult {
    let state = partitioned_topic_state(world, &logical).await?;
    for p in &state.partitions {
        check!(
            p.replicas.len() == expected,
            "partition {} of {logical:?} has replicas {:?}, expected {expected}",
            p.partition,
            p.replicas
        );
    }
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {}",
        counted(expected, "replica")
    )));
    Ok(())
}

#[then(
    expr = "every partition of {string} has {int} replicas on different brokers, one of them its leader"
)]
async fn replicas_on_different_brokers(
    world: &mut KafkaWorld,
    logical: String,
    expected: usize,
) -> StepResult {
    let state = partitioned_topic_state(world, &logical).await?;
    for p in &state.partitions {
        let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
        check!(
            p.replicas.len() == expected && distinct.len() == expected,
            "partition {} of {logical:?} has replicas {:?}: expected {expected} on different brokers",
            p.partition,
            p.replicas
        );
        check!(
            distinct.iter().all(|id| state.brokers.contains(id)),
            "partition {} of {logical:?} has replicas {:?} on brokers Metadata does not list ({:?})",
            p.partition,
            p.replicas,
            state.brokers
        );
        check!(
            p.replicas.contains(&p.leader),
            "partition {} of {logical:?} is led by {}, which is not one of its replicas {:?}",
            p.partition,
            p.leader,
            p.replicas
        );
    }
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {expected} replicas on {expected} different brokers, one of them its leader"
    )));
    Ok(())
}

#[then(expr = "each broker leads {int} partition(s) of {string} and follows {int}")]
async fn each_broker_leads_and_follows(
    world: &mut KafkaWorld,
    leads: usize,
    logical: String,
    follows: usize,
) -> StepResult {
    let state = topic_state(world, &logical).await?;
    for broker in &state.brokers {
        let led = state
            .partitions
            .iter()
            .filter(|p| p.leader == *broker)
            .count();
        let followed = state
            .partitions
            .iter()
            .filter(|p| p.leader != *broker && p.replicas.contains(broker))
            .count();
        check!(
            led == leads && followed == follows,
            "broker {broker} leads {led} and follows {followed} partitions of {logical:?}, \
             expected {leads} and {follows}: {:?}",
            state.partitions
        );
    }
    world.record(Observation::Checked(format!(
        "each of the {} brokers leads {} of {logical} and follows {follows}",
        state.brokers.len(),
        counted(leads, "partition")
    )));
    Ok(())
}

/// `3 partitions`, `1 partition`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `"2, 1 and 1"` → `[2, 1, 1]`.
fn and_list(text: &str) -> anyhow::Result<Vec<i64>> {
    text.replace(" and ", ", ")
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<i64>()
                .map_err(|e| anyhow!("{n:?} in {text:?}: {e}"))
        })
        .collect()
}

#[then(regex = r#"^the brokers lead ((?:\d+, )*\d+ and \d+) of the partitions of "([^"]*)"$"#)]
async fn leaderships_per_broker(
    world: &mut KafkaWorld,
    counts: String,
    logical: String,
) -> StepResult {
    let mut expected = and_list(&counts)?;
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let state = topic_state(world, &logical).await?;
    let mut seen: Vec<i64> = state
        .brokers
        .iter()
        .map(|broker| {
            state
                .partitions
                .iter()
                .filter(|p| p.leader == *broker)
                .count() as i64
        })
        .collect();
    seen.sort_unstable_by(|a, b| b.cmp(a));
    check!(
        seen == expected,
        "the brokers {:?} lead {seen:?} partitions of {logical:?} (most first), expected {expected:?}: {:?}",
        state.brokers,
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "the brokers lead {counts} of the partitions of {logical}"
    )));
    Ok(())
}

#[then(
    regex = r#"^partitions ((?:\d+, )*\d+ and \d+) of "([^"]*)" are on (\d+) different brokers$"#
)]
async fn partitions_on_different_brokers(
    world: &mut KafkaWorld,
    which: String,
    logical: String,
    expected: usize,
) -> StepResult {
    let indexes = and_list(&which)?;
    let state = topic_state(world, &logical).await?;
    let mut brokers = BTreeSet::new();
    for index in &indexes {
        let p = state
            .partitions
            .iter()
            .find(|p| i64::from(p.partition) == *index)
            .ok_or_else(|| anyhow!("{logical:?} has no partition {index}"))?;
        brokers.extend(p.replicas.iter().copied());
    }
    check!(
        brokers.len() == expected,
        "partitions {which} of {logical:?} are on brokers {brokers:?}, expected {expected} different ones: {:?}",
        state.partitions
    );
    world.record(Observation::Checked(format!(
        "partitions {which} of {logical} are on {expected} different brokers"
    )));
    Ok(())
}

// ---- requests to a broker that is not the leader ----------------------------------------

/// A broker in a role relative to a partition: the highest-id follower, or the lowest-id live
/// broker that holds no replica of it; with the role's name for traces.
async fn broker_in_role(
    world: &mut KafkaWorld,
    logical: &str,
    partition: i32,
    follower: bool,
) -> anyhow::Result<(i32, String)> {
    let state = topic_state(world, logical).await?;
    let p = state.partition(logical, partition)?;
    let chosen = if follower {
        let id = p
            .followers()
            .into_iter()
            .max()
            .ok_or_else(|| anyhow!("{logical}/{partition} has no follower: {p:?}"))?;
        (id, format!("a follower of {logical}/{partition}"))
    } else {
        let id = state
            .brokers
            .iter()
            .copied()
            .find(|id| !p.replicas.contains(id))
            .ok_or_else(|| {
                anyhow!(
                    "every live broker {:?} holds a replica of {logical}/{partition}",
                    state.brokers
                )
            })?;
        (
            id,
            format!("a broker without a replica of {logical}/{partition}"),
        )
    };
    until_broker_knows(world, chosen.0, logical, partition).await?;
    Ok(chosen)
}

/// Waits until `broker`'s own Metadata shows the partition with the leader the cluster
/// reports: brokers learn of a new topic from the controller one after another, and one
/// that has not yet would answer UNKNOWN_TOPIC_OR_PARTITION, not the answer in question.
async fn until_broker_knows(
    world: &mut KafkaWorld,
    broker: i32,
    logical: &str,
    partition: i32,
) -> anyhow::Result<()> {
    let physical = world.physical(logical);
    let expected = partition_state(world, logical, partition).await?;
    let deadline = Deadline::after(
        SETTLE_TIMEOUT,
        format!("broker {broker} to learn the leader of {logical}/{partition}"),
    );
    loop {
        let metadata = world
            .raw()?
            .broker(broker)
            .await?
            .metadata(Some(&[physical.as_str()]), false)
            .await
            .with_context(|| format!("Metadata for {logical} from broker {broker}"))?;
        let seen = topic_state_of(&metadata, &physical);
        let known = seen
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .is_some_and(|p| {
                p.leader == expected.leader && p.leader_epoch == expected.leader_epoch
            });
        if seen.error == 0 && known {
            return Ok(());
        }
        deadline.wait(format!("{seen:?}")).await?;
    }
}

async fn produce_at(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
    follower: bool,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, follower).await?;
    let physical = world.physical(&logical);
    let answer = world
        .raw()?
        .broker(broker)
        .await?
        .produce(&physical, partition, acks, &numbered_records(count))
        .await
        .with_context(|| format!("raw Produce to {logical}/{partition} at {role}"))?;
    let entry = Box::new(produce_response(world, &answer));
    world.record(Observation::At {
        broker: role,
        entry,
    });
    world.last_produce = Some(answer);
    Ok(())
}

#[when(
    expr = "the raw client produces {int} record(s) to partition {int} of {string} with acks {int} at a follower"
)]
async fn produce_at_follower(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
) -> StepResult {
    produce_at(world, count, partition, logical, acks, true).await
}

#[when(
    expr = "the raw client produces {int} record(s) to partition {int} of {string} with acks {int} at a broker that holds no replica of it"
)]
async fn produce_at_stranger(
    world: &mut KafkaWorld,
    count: usize,
    partition: i32,
    logical: String,
    acks: i16,
) -> StepResult {
    produce_at(world, count, partition, logical, acks, false).await
}

async fn fetch_at(
    world: &mut KafkaWorld,
    broker: i32,
    role: &str,
    logical: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<FetchedPartition> {
    let physical = world.physical(logical);
    world
        .raw()?
        .broker(broker)
        .await?
        .fetch(&physical, partition, offset, 0)
        .await
        .with_context(|| format!("Fetch of {logical}/{partition} at {offset} from {role}"))
}

fn record_fetch_at(
    world: &mut KafkaWorld,
    role: String,
    logical: &str,
    partition: i32,
    offset: i64,
    fetched: &FetchedPartition,
) {
    world.record(Observation::At {
        broker: role,
        entry: Box::new(Observation::Fetched {
            topic: logical.to_owned(),
            partition,
            offset,
            error: ErrorCode::from_kafka(fetched.error_code),
            records: fetched.records.len(),
        }),
    });
}

#[when(
    expr = "the raw client fetches partition {int} of {string} at offset {int} from a broker that holds no replica of it"
)]
async fn fetch_at_stranger(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    offset: i64,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, false).await?;
    let fetched = fetch_at(world, broker, &role, &logical, partition, offset).await?;
    record_fetch_at(world, role, &logical, partition, offset, &fetched);
    world.last_fetch = Some((offset, fetched));
    Ok(())
}

#[then(
    expr = "within {int} seconds a fetch of partition {int} of {string} at offset {int} from a follower returns {string}"
)]
async fn follower_fetch_returns(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    offset: i64,
    values: String,
) -> StepResult {
    let expected = comma_list(&values);
    let (broker, role) = broker_in_role(world, &logical, partition, true).await?;
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{role} to serve {expected:?} from offset {offset}"),
    );
    loop {
        let fetched = fetch_at(world, broker, &role, &logical, partition, offset).await?;
        let got: Vec<String> = fetched
            .records
            .iter()
            .filter(|r| r.offset >= offset)
            .map(|r| show_value(r.value.as_deref()))
            .collect();
        if fetched.error_code == 0 && got.len() >= expected.len() {
            record_fetch_at(world, role, &logical, partition, offset, &fetched);
            check!(
                got == expected,
                "{logical}/{partition} at a follower holds {got:?}, expected {expected:?}"
            );
            return Ok(());
        }
        deadline
            .wait(format!(
                "{} with {got:?}",
                ErrorCode::from_kafka(fetched.error_code)
            ))
            .await?;
    }
}

#[then(
    regex = r#"^a ListOffsets of the latest offset of partition (\d+) of "([^"]*)" at a follower fails with ([A-Z_]+) \((-?\d+)\)$"#
)]
async fn list_offsets_at_follower(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    name: String,
    code: i32,
) -> StepResult {
    let (broker, role) = broker_in_role(world, &logical, partition, true).await?;
    let physical = world.physical(&logical);
    let (error, offset) = world
        .raw()?
        .broker(broker)
        .await?
        .list_offset(&physical, partition, LATEST_TIMESTAMP)
        .await
        .with_context(|| format!("ListOffsets of {logical}/{partition} at {role}"))?;
    let error = ErrorCode::from_kafka(error);
    world.record(Observation::At {
        broker: role,
        entry: Box::new(Observation::OffsetError {
            topic: logical.clone(),
            partition,
            which: "latest".to_owned(),
            error: error.clone(),
        }),
    });
    check!(
        error.is(&name, code),
        "ListOffsets at a follower answered {error} (offset {offset}), expected {name} ({code})"
    );
    Ok(())
}

// ---- Metadata from every broker ---------------------------------------------------------

#[then(
    expr = "within {int} seconds every broker answers Metadata for {string} with the same leaders, replicas and in-sync replicas"
)]
async fn every_broker_agrees(world: &mut KafkaWorld, seconds: u64, logical: String) -> StepResult {
    let physical = world.physical(&logical);
    let brokers = live_brokers(world).await?;
    check!(brokers.len() > 1, "only {brokers:?} answer");
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("every broker to describe {logical:?} alike"),
    );
    loop {
        let mut answers = BTreeMap::new();
        for broker in &brokers {
            let metadata = world
                .raw()?
                .broker(*broker)
                .await?
                .metadata(Some(&[physical.as_str()]), false)
                .await
                .with_context(|| format!("Metadata for {logical} from broker {broker}"))?;
            answers.insert(*broker, topic_state_of(&metadata, &physical));
        }
        let first = answers.values().next().cloned();
        let all_led = first
            .as_ref()
            .is_some_and(|s| s.error == 0 && s.partitions.iter().all(|p| p.leader >= 0));
        if all_led && answers.values().all(|s| Some(s) == first.as_ref()) {
            break;
        }
        deadline.wait(format!("{answers:?}")).await?;
    }
    world.record(Observation::Checked(format!(
        "all {} brokers answer Metadata for {logical} with the same leaders, replicas and in-sync replicas",
        brokers.len()
    )));
    Ok(())
}

// ---- failover -----------------------------------------------------------------------------

/// Enqueues one message for a partition; the future is its delivery report.
fn send_one(producer: &Producer, physical: &str, partition: i32, value: &str) -> Report {
    let record = FutureRecord::<str, [u8]>::to(physical)
        .payload(value.as_bytes())
        .partition(partition);
    send_record(producer, record, FAILOVER_DELIVERY_TIMEOUT)
}

/// Stops a broker through the target's fault control and forgets connections to it.
async fn stop_broker(world: &mut KafkaWorld, broker: i32) -> anyhow::Result<()> {
    let target = world.target()?.clone();
    let faults = target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))?;
    faults
        .stop_broker(broker)
        .await
        .with_context(|| format!("stopping broker {broker}"))?;
    world.reconnect();
    Ok(())
}

#[when(
    expr = "the producer sends {int} messages {string} to {string} to partition {int} of {string}, and the leader is stopped once the first {int} are acknowledged"
)]
#[allow(clippy::too_many_arguments)]
async fn send_through_failover(
    world: &mut KafkaWorld,
    count: usize,
    first: String,
    last: String,
    partition: i32,
    logical: String,
    before: usize,
) -> StepResult {
    let values = numbered_range_of(&first, &last, count)?;
    check!(
        0 < before && before < count,
        "the leader must stop between the first and the last message"
    );
    let physical = world.physical(&logical);
    let producer = world.producer()?.clone();

    let early: Vec<Report> = values[..before]
        .iter()
        .map(|value| send_one(&producer, &physical, partition, value))
        .collect();
    let mut outcomes = join_all(early).await;
    for (value, outcome) in values.iter().zip(&outcomes) {
        check!(
            outcome.is_ok(),
            "{value:?}, sent before the leader stopped, was not acknowledged: {outcome:?}"
        );
    }

    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader to stop: {state:?}"
    );
    let target = world.target()?.clone();
    let faults = target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))?;
    // The rest is sent while the broker goes down: some of it reaches the old leader, some
    // waits for the new one.
    let send_rest = async {
        let mut reports = Vec::new();
        for value in &values[before..] {
            reports.push(send_one(&producer, &physical, partition, value));
            tokio::time::sleep(FAILOVER_SEND_PACE).await;
        }
        reports
    };
    let (stopped, late) = tokio::join!(faults.stop_broker(state.leader), send_rest);
    stopped.with_context(|| format!("stopping the leader of {logical}/{partition}"))?;
    world.reconnect();
    world.replication.stopped.push(Stopped {
        broker: state.leader,
        role: "leader",
        led: Some(Led {
            logical: logical.clone(),
            partition,
            leader_epoch: state.leader_epoch,
            followers: state.followers(),
        }),
    });
    outcomes.extend(join_all(late).await);
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    tracing::info!(
        "{logical}/{partition}: {} of {count} messages acknowledged, {failed} failed, across the \
         stop of broker {}",
        count - failed,
        state.leader
    );
    for (value, outcome) in values.iter().zip(outcomes) {
        world.deliveries.push(Delivery {
            topic: logical.clone(),
            key: None,
            value: value.clone(),
            outcome,
        });
    }
    world.record(Observation::Fault {
        action: format!(
            "stopped the leader of {logical}/{partition} once {before} of {count} messages were acknowledged"
        ),
    });
    Ok(())
}

#[when(expr = "the leader of partition {int} of {string} is stopped")]
async fn leader_stopped(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader to stop: {state:?}"
    );
    stop_broker(world, state.leader).await?;
    world.replication.stopped.push(Stopped {
        broker: state.leader,
        role: "leader",
        led: Some(Led {
            logical: logical.clone(),
            partition,
            leader_epoch: state.leader_epoch,
            followers: state.followers(),
        }),
    });
    world.record(Observation::Fault {
        action: format!("stopped the leader of {logical}/{partition}"),
    });
    Ok(())
}

#[when(expr = "the follower of partition {int} of {string} is stopped")]
async fn follower_stopped(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    let followers = state.followers();
    check!(
        followers.len() == 1,
        "{logical}/{partition} has followers {followers:?}, expected exactly one: {state:?}"
    );
    stop_broker(world, followers[0]).await?;
    world.replication.stopped.push(Stopped {
        broker: followers[0],
        role: "follower",
        led: None,
    });
    world.record(Observation::Fault {
        action: format!("stopped the follower of {logical}/{partition}"),
    });
    Ok(())
}

/// Twice `replica.fetch.wait.max.ms` (500 ms, Kafka's default and the reference's; the test
/// clusters keep it).
const FETCH_IN_FLIGHT_EXPIRY: Duration = Duration::from_millis(1000);

/// Freezes a partition's followers and then waits out the fetch each had in flight. A
/// follower always has a Fetch waiting at the leader (up to `replica.fetch.wait.max.ms`);
/// a message appended meanwhile would complete it, the answer would sit in the frozen
/// follower's socket, and the follower would append the message the moment it runs again
/// (real Kafka does exactly that). Once those fetches are answered, empty, a frozen follower
/// asks for nothing more. Nothing on the wire tells when that happened, hence the one fixed
/// wait of the step modules: twice the longest the leader holds a fetch.
#[when(
    expr = "the followers of partition {int} of {string} are paused, and their fetches in flight have run out"
)]
async fn followers_paused(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    let followers = state.followers();
    check!(
        !followers.is_empty(),
        "{logical}/{partition} has no follower: {state:?}"
    );
    let target = world.target()?.clone();
    let faults = target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))?;
    for follower in followers {
        faults
            .pause_broker(follower)
            .await
            .with_context(|| format!("pausing broker {follower}"))?;
        world.replication.paused.push(follower);
    }
    world.reconnect();
    tokio::time::sleep(FETCH_IN_FLIGHT_EXPIRY).await;
    world.record(Observation::Fault {
        action: format!("paused the followers of {logical}/{partition}"),
    });
    Ok(())
}

#[when("the paused followers are resumed")]
async fn followers_resumed(world: &mut KafkaWorld) -> StepResult {
    check!(
        !world.replication.paused.is_empty(),
        "no broker was paused in this scenario"
    );
    let target = world.target()?.clone();
    let faults = target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))?;
    for broker in std::mem::take(&mut world.replication.paused) {
        faults
            .resume_broker(broker)
            .await
            .with_context(|| format!("resuming broker {broker}"))?;
    }
    world.reconnect();
    world.record(Observation::Fault {
        action: "resumed the paused followers".to_owned(),
    });
    Ok(())
}

#[then(expr = "within {int} seconds partition {int} of {string} holds exactly {string}")]
async fn holds_exactly(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
    values: String,
) -> StepResult {
    let expected = comma_list(&values);
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("{logical}/{partition} to hold exactly {expected:?}"),
    );
    let records = loop {
        match read_partition(world, &logical, partition).await {
            Ok(records) => {
                let got: Vec<String> = records
                    .iter()
                    .map(|r| show_value(r.value.as_deref()))
                    .collect();
                if got == expected {
                    break records;
                }
                deadline.wait(format!("{got:?}")).await?;
            }
            Err(error) => {
                // Leadership is still moving: ask again on fresh connections.
                world.reconnect();
                deadline.wait(format!("{error:#}")).await?;
            }
        }
    };
    for record in records {
        world.record(Observation::Consumed {
            topic: logical.clone(),
            partition,
            offset: record.offset,
            value: show_value(record.value.as_deref()),
        });
    }
    Ok(())
}

/// The broker this scenario stopped last (and has not started again).
fn stopped(world: &KafkaWorld) -> anyhow::Result<Stopped> {
    world
        .replication
        .stopped
        .last()
        .cloned()
        .ok_or_else(|| anyhow!("no step of this scenario stopped a broker"))
}

#[then(
    expr = "within {int} seconds partition {int} of {string} has a new leader, one of its followers, with a higher leader epoch"
)]
async fn new_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    let stopped = stopped(world)?;
    let led = stopped
        .led
        .clone()
        .filter(|led| led.logical == logical && led.partition == partition)
        .ok_or_else(|| anyhow!("the stopped broker was not the leader of {logical}/{partition}"))?;
    let state = partition_state_until(
        world,
        &logical,
        partition,
        seconds,
        "get a new leader",
        |p| p.leader >= 0 && p.leader != stopped.broker,
    )
    .await?;
    check!(
        led.followers.contains(&state.leader),
        "the new leader {} of {logical}/{partition} was not a follower before ({:?})",
        state.leader,
        led.followers
    );
    check!(
        state.leader_epoch > led.leader_epoch,
        "the leader epoch of {logical}/{partition} is {}, it was {} under the stopped leader",
        state.leader_epoch,
        led.leader_epoch
    );
    world.record(Observation::Checked(format!(
        "{logical}/{partition} has a new leader, one of its followers, with a higher leader epoch"
    )));
    Ok(())
}

#[then(
    expr = "within {int} seconds every partition of {string} has {int} in-sync replicas, none of them the stopped broker"
)]
async fn in_sync_without_stopped(
    world: &mut KafkaWorld,
    seconds: u64,
    logical: String,
    expected: usize,
) -> StepResult {
    let stopped = stopped(world)?;
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!(
            "every partition of {logical:?} to have {expected} in-sync replicas without the stopped broker {}",
            stopped.broker
        ),
    );
    topic_state_until(world, &logical, &deadline, |p| {
        p.isr.len() == expected && !p.isr.contains(&stopped.broker)
    })
    .await?;
    world.record(Observation::Checked(format!(
        "every partition of {logical} has {expected} in-sync replicas, none of them the stopped broker"
    )));
    Ok(())
}

#[then(expr = "within {int} seconds every partition of {string} has {int} in-sync replicas")]
async fn every_partition_in_sync(
    world: &mut KafkaWorld,
    seconds: u64,
    logical: String,
    expected: usize,
) -> StepResult {
    let deadline = Deadline::after(
        Duration::from_secs(seconds),
        format!("every partition of {logical:?} to have {expected} in-sync replicas"),
    );
    let state = topic_state_until(world, &logical, &deadline, |p| p.isr.len() == expected).await?;
    for p in state.partitions {
        world.record(Observation::InSyncReplicas {
            topic: logical.clone(),
            partition: p.partition,
            count: expected,
        });
    }
    Ok(())
}

#[then(expr = "the stopped broker leads no partition of {string}")]
async fn stopped_leads_nothing(world: &mut KafkaWorld, logical: String) -> StepResult {
    let stopped = stopped(world)?;
    let state = topic_state(world, &logical).await?;
    check!(
        state.partitions.iter().all(|p| p.leader != stopped.broker),
        "the stopped broker {} still leads partitions of {logical:?}: {:?}",
        stopped.broker,
        state.partitions
    );
    check!(
        !state.brokers.contains(&stopped.broker),
        "Metadata still lists the stopped broker {} among {:?}",
        stopped.broker,
        state.brokers
    );
    world.record(Observation::Checked(format!(
        "the stopped broker leads no partition of {logical}, and Metadata no longer lists it"
    )));
    Ok(())
}

#[then(expr = "within {int} seconds partition {int} of {string} has no leader")]
async fn no_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    let state = partition_state_until(world, &logical, partition, seconds, "have no leader", |p| {
        p.leader < 0
    })
    .await?;
    world.record(Observation::NoLeader {
        topic: logical,
        partition,
        error: ErrorCode::from_kafka(state.error),
    });
    Ok(())
}

#[then(expr = "within {int} seconds partition {int} of {string} has a leader")]
async fn has_leader(
    world: &mut KafkaWorld,
    seconds: u64,
    partition: i32,
    logical: String,
) -> StepResult {
    partition_state_until(world, &logical, partition, seconds, "have a leader", |p| {
        p.leader >= 0 && p.error == 0
    })
    .await?;
    world.record(Observation::Checked(format!(
        "{logical}/{partition} has a leader"
    )));
    Ok(())
}

#[when("the stopped broker is started again")]
async fn start_stopped(world: &mut KafkaWorld) -> StepResult {
    let stopped = stopped(world)?;
    start_again(world, stopped, "the stopped broker").await
}

#[when(regex = r"^the stopped (leader|follower) is started again$")]
async fn start_stopped_in_role(world: &mut KafkaWorld, role: String) -> StepResult {
    let stopped = world
        .replication
        .stopped
        .iter()
        .rev()
        .find(|s| s.role == role)
        .cloned()
        .ok_or_else(|| anyhow!("no {role} was stopped in this scenario"))?;
    start_again(world, stopped, &format!("the stopped {role}")).await
}

async fn start_again(world: &mut KafkaWorld, stopped: Stopped, what: &str) -> StepResult {
    let target = world.target()?.clone();
    let faults = target
        .faults()
        .ok_or_else(|| anyhow!("{} has no fault control", target.name()))?;
    faults
        .start_broker(stopped.broker)
        .await
        .with_context(|| format!("starting broker {} again", stopped.broker))?;
    world.reconnect();
    world
        .replication
        .stopped
        .retain(|s| s.broker != stopped.broker);
    world.record(Observation::Fault {
        action: format!("started {what} again"),
    });
    Ok(())
}

#[then(
    expr = "a consumer of partition {int} of {string} reads every acknowledged message at the offset its acknowledgement named"
)]
async fn reads_every_acknowledged(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
) -> StepResult {
    let acknowledged: Vec<(i64, String)> = world
        .deliveries
        .iter()
        .filter(|d| d.topic == logical)
        .filter_map(|d| match d.outcome {
            Ok((p, offset)) if p == partition => Some((offset, d.value.clone())),
            _ => None,
        })
        .collect();
    check!(
        !acknowledged.is_empty(),
        "no message to {logical}/{partition} was acknowledged"
    );
    let end = query_offset(world, &logical, partition, "latest").await?;
    let consumer = assigned_consumer(world, &logical, &[(partition, Offset::Beginning)], &[])?;
    let what = format!("a consumer of {logical}/{partition} to read up to offset {end}");
    let received = receive_unrecorded(&consumer, &what, |records| {
        records.last().is_some_and(|r| r.offset + 1 >= end)
    })
    .await?;
    tracing::info!(
        "{logical}/{partition}: {} acknowledged, {} records read up to offset {end}",
        acknowledged.len(),
        received.len()
    );
    let mut read = BTreeMap::new();
    let mut previous = -1;
    for record in &received {
        check!(
            record.offset > previous,
            "the consumer read offset {} after offset {previous}",
            record.offset
        );
        previous = record.offset;
        read.insert(record.offset, record.value.clone());
    }
    for (offset, value) in &acknowledged {
        match read.get(offset) {
            Some(found) => check!(
                found == value,
                "{value:?} was acknowledged at offset {offset}, which holds {found:?}"
            ),
            None => check!(
                false,
                "{value:?} was acknowledged at offset {offset}, which the consumer did not read \
                 (it read offsets {:?} to {previous})",
                read.keys().next()
            ),
        }
    }
    world.record(Observation::Checked(format!(
        "a consumer of {logical}/{partition} read every acknowledged message at the offset its acknowledgement named"
    )));
    Ok(())
}

/// Everything one replica serves of a partition from offset 0 up to `end`, by raw Fetches
/// to that broker (a follower serves up to the high watermark it knows, so this waits for it
/// to catch up).
async fn read_replica(
    world: &mut KafkaWorld,
    broker: i32,
    logical: &str,
    partition: i32,
    end: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    let role = format!("replica {broker}");
    let deadline = Deadline::after(
        REPLICA_CATCH_UP_TIMEOUT,
        format!("{role} of {logical}/{partition} to serve offsets up to {end}"),
    );
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < end {
        let fetched = fetch_at(world, broker, &role, logical, partition, offset).await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                // A broker that has just started may drop the first connection.
                world.reconnect();
                deadline.wait(format!("{error:#}")).await?;
                continue;
            }
        };
        let before = records.len();
        if fetched.error_code == 0 {
            records.extend(
                fetched
                    .records
                    .iter()
                    .filter(|r| r.offset >= offset && r.offset < end)
                    .map(|r| (r.offset, show_value(r.value.as_deref()))),
            );
        }
        match records.last() {
            Some((last, _)) if records.len() > before => offset = last + 1,
            _ => {
                deadline
                    .wait(format!(
                        "{} at offset {offset}, high watermark {}",
                        ErrorCode::from_kafka(fetched.error_code),
                        fetched.high_watermark
                    ))
                    .await?
            }
        }
    }
    Ok(records)
}

#[then(
    expr = "every replica of partition {int} of {string} holds the same messages at the same offsets"
)]
async fn replicas_agree(world: &mut KafkaWorld, partition: i32, logical: String) -> StepResult {
    let state = partition_state(world, &logical, partition).await?;
    check!(
        state.leader >= 0,
        "{logical}/{partition} has no leader: {state:?}"
    );
    let end = query_offset(world, &logical, partition, "latest").await?;
    let leader_log = read_replica(world, state.leader, &logical, partition, end).await?;
    let mut offsets = BTreeSet::new();
    for (offset, _) in &leader_log {
        check!(
            offsets.insert(*offset),
            "the leader serves offset {offset} twice"
        );
    }
    for follower in state.followers() {
        let log = read_replica(world, follower, &logical, partition, end).await?;
        if log != leader_log {
            let first_difference = log
                .iter()
                .zip(&leader_log)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("follower {a:?}, leader {b:?}"));
            check!(
                false,
                "a follower of {logical}/{partition} holds {} records, the leader {}; first \
                 difference: {first_difference:?}",
                log.len(),
                leader_log.len()
            );
        }
    }
    world.record(Observation::Checked(format!(
        "all {} replicas of {logical}/{partition} hold the same messages at the same offsets",
        state.replicas.len()
    )));
    Ok(())
}

/// A raw Fetch of a partition from offset 0 at its current leader, naming the leader epoch
/// `which` describes; recorded with the role it was sent to.
async fn fetch_naming_epoch(
    world: &mut KafkaWorld,
    partition: i32,
    logical: &str,
    which: &str,
) -> anyhow::Result<(i32, i32, FetchedPartition)> {
    let state = partition_state(world, logical, partition).await?;
    anyhow::ensure!(
        state.leader >= 0,
        "{logical}/{partition} has no leader: {state:?}"
    );
    let epoch = match which {
        "the stopped leader's" => {
            stopped(world)?
                .led
                .filter(|led| led.logical == logical && led.partition == partition)
                .ok_or_else(|| {
                    anyhow!("the stopped broker was not the leader of {logical}/{partition}")
                })?
                .leader_epoch
        }
        "its current" => state.leader_epoch,
        "a later" => state.leader_epoch + 1,
        other => anyhow::bail!("unknown leader epoch {other:?}"),
    };
    let physical = world.physical(logical);
    let fetched = world
        .raw()?
        .broker(state.leader)
        .await?
        .fetch_in_epoch(&physical, partition, 0, 0, epoch)
        .await
        .with_context(|| format!("Fetch of {logical}/{partition} in leader epoch {epoch}"))?;
    let role = format!("the leader of {logical}/{partition}, naming {which} leader epoch");
    record_fetch_at(world, role, logical, partition, 0, &fetched);
    Ok((epoch, state.leader_epoch, fetched))
}

#[then(
    regex = r#"^a fetch of partition (\d+) of "([^"]*)" from its leader, naming (the stopped leader's|its current|a later) leader epoch, fails with ([A-Z_]+) \((-?\d+)\)$"#
)]
async fn fetch_naming_epoch_fails(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    which: String,
    name: String,
    code: i32,
) -> StepResult {
    let (epoch, current, fetched) = fetch_naming_epoch(world, partition, &logical, &which).await?;
    let error = ErrorCode::from_kafka(fetched.error_code);
    check!(
        error.is(&name, code),
        "the fetch in leader epoch {epoch} (current {current}) answered {error}, expected {name} ({code})"
    );
    Ok(())
}

#[then(
    regex = r#"^a fetch of partition (\d+) of "([^"]*)" from its leader, naming (the stopped leader's|its current|a later) leader epoch, returns "([^"]*)"$"#
)]
async fn fetch_naming_epoch_returns(
    world: &mut KafkaWorld,
    partition: i32,
    logical: String,
    which: String,
    values: String,
) -> StepResult {
    let (epoch, _, fetched) = fetch_naming_epoch(world, partition, &logical, &which).await?;
    let expected = comma_list(&values);
    let got: Vec<String> = fetched
        .records
        .iter()
        .map(|r| show_value(r.value.as_deref()))
        .collect();
    check!(
        fetched.error_code == 0 && got == expected,
        "the fetch in leader epoch {epoch} answered {} with {got:?}, expected {expected:?}",
        ErrorCode::from_kafka(fetched.error_code)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_lists_parse() {
        assert_eq!(and_list("2, 1 and 1").expect("list"), vec![2, 1, 1]);
        assert_eq!(and_list("0 and 1").expect("list"), vec![0, 1]);
        assert!(and_list("two and one").is_err());
    }
}
