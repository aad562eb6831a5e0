//! The group coordinator's view of a group, from the raw client: FindCoordinator, then
//! DescribeGroups (the group's state and, per member, its `client.id`, `group.instance.id`
//! and the assignment the leader computed) and OffsetFetch (committed offsets).
//!
//! A coordinator may not be ready when asked: in a cluster `__consumer_offsets` is created on
//! the first FindCoordinator (COORDINATOR_NOT_AVAILABLE until its partitions have leaders),
//! a new leader of one of its partitions first loads the groups
//! (COORDINATOR_LOAD_IN_PROGRESS), and a broker that lost that leadership answers
//! NOT_COORDINATOR. Real clients retry all three, finding the coordinator again, until their
//! request deadline; so do these lookups ([`find_coordinator`], and the steps through
//! [`CoordinatorNotReady`]), within [`COORDINATOR_DEADLINE`]. The retries are never recorded:
//! a trace shows what the scenario saw once the coordinator answered, the same on a single
//! broker, a cluster, or real Kafka.
//!
//! # References
//!
//! - Kafka protocol guide: FindCoordinator, DescribeGroups, OffsetFetch; "consumer
//!   protocol" (ConsumerProtocolAssignment).
//! - Kafka `KafkaApis.getCoordinator` (creates the offsets topic, answers
//!   COORDINATOR_NOT_AVAILABLE meanwhile); `CoordinatorRuntime` (NOT_COORDINATOR,
//!   COORDINATOR_LOAD_IN_PROGRESS); Java client `AbstractCoordinator` (re-finds the
//!   coordinator on NOT_COORDINATOR, retries COORDINATOR_LOAD_IN_PROGRESS after
//!   `retry.backoff.ms`, 100 ms by default).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Buf;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerProtocolAssignment, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, OffsetFetchRequest, offset_fetch_request,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::TopicPartition;
use crate::kafka_error::ErrorCode;
use crate::raw_client::{RawConnection, topic_name};

/// A group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`.
    pub state: String,
    /// The agreed assignor (`range`, `roundrobin`, `cooperative-sticky` …).
    pub protocol: String,
    /// The members, in the coordinator's order.
    pub members: Vec<MemberView>,
}

/// One member as the coordinator describes it (no member id: it varies from run to run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Its `client.id` (the logical consumer name for the harness's members).
    pub client_id: String,
    /// Its `group.instance.id`, if static.
    pub instance_id: Option<String>,
    /// The partitions the leader assigned it, by physical topic name.
    pub assignment: BTreeSet<TopicPartition>,
}

impl GroupView {
    /// The member whose `client.id` is `name`.
    pub fn member(&self, name: &str) -> Option<&MemberView> {
        self.members.iter().find(|m| m.client_id == name)
    }
}

/// How long a group lookup keeps retrying a coordinator that is not ready: well within a
/// step's timeout, and far longer than creating `__consumer_offsets` or loading a partition
/// of it takes.
pub const COORDINATOR_DEADLINE: Duration = Duration::from_secs(20);

/// The pause between two tries: clients' `retry.backoff.ms` default.
pub const COORDINATOR_BACKOFF: Duration = Duration::from_millis(100);

/// COORDINATOR_LOAD_IN_PROGRESS (14), COORDINATOR_NOT_AVAILABLE (15), NOT_COORDINATOR (16).
const COORDINATOR_NOT_READY: [i16; 3] = [14, 15, 16];

/// A group request answered with an error that says "not ready yet, ask again (perhaps
/// elsewhere)": COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR.
/// Callers retry on it (finding the coordinator again) until [`COORDINATOR_DEADLINE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorNotReady {
    /// What was asked: `FindCoordinator for group g-1`.
    pub request: String,
    /// The answer.
    pub error: ErrorCode,
}

impl std::fmt::Display for CoordinatorNotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}", self.request, self.error)
    }
}

impl std::error::Error for CoordinatorNotReady {}

impl CoordinatorNotReady {
    /// Whether `error` is (or wraps) a [`CoordinatorNotReady`].
    pub fn is(error: &anyhow::Error) -> bool {
        error.downcast_ref::<CoordinatorNotReady>().is_some()
    }
}

/// Fails unless `code` is NONE: with a [`CoordinatorNotReady`] for the codes that ask for a
/// retry, with a plain error naming the code otherwise.
pub(super) fn check_group_answer(
    code: i16,
    request: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if code == 0 {
        return Ok(());
    }
    let error = ErrorCode::from_kafka(code);
    if COORDINATOR_NOT_READY.contains(&code) {
        return Err(CoordinatorNotReady {
            request: request(),
            error,
        }
        .into());
    }
    bail!("{} answered {error}", request())
}

/// The coordinator of a group: FindCoordinator (key type 0, a group) on any broker, asked
/// again after [`COORDINATOR_BACKOFF`] while it answers COORDINATOR_NOT_AVAILABLE or
/// COORDINATOR_LOAD_IN_PROGRESS, until `until` (then the last answer is the error).
pub async fn find_coordinator(
    connection: &mut RawConnection,
    group_id: &str,
    until: Instant,
) -> anyhow::Result<String> {
    loop {
        match find_coordinator_once(connection, group_id).await {
            Err(error) if CoordinatorNotReady::is(&error) && Instant::now() < until => {
                tokio::time::sleep(COORDINATOR_BACKOFF).await;
            }
            answer => return answer,
        }
    }
}

/// One FindCoordinator.
async fn find_coordinator_once(
    connection: &mut RawConnection,
    group_id: &str,
) -> anyhow::Result<String> {
    // v0–3 name one key; v4+ batch them (`coordinator_keys`). One key is all we need.
    let version = connection.version_for::<FindCoordinatorRequest>()?.min(3);
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group_id.to_owned()))
        .with_key_type(0);
    let correlation_id = connection.take_correlation_id();
    connection.send(&request, version, correlation_id).await?;
    let (_, response) = connection
        .receive::<FindCoordinatorRequest>(version)
        .await?;
    check_group_answer(response.error_code, || {
        format!("FindCoordinator for group {group_id}")
    })?;
    Ok(format!("{}:{}", response.host.as_str(), response.port))
}

/// DescribeGroups for one group on its coordinator.
pub async fn describe_group(
    coordinator: &mut RawConnection,
    group_id: &str,
) -> anyhow::Result<GroupView> {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_string(group_id.to_owned()))]);
    let response = coordinator.call(&request).await?;
    let group = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("DescribeGroups answered no group"))?;
    if group.error_code == GROUP_ID_NOT_FOUND {
        // Kafka 4 describes only classic groups with DescribeGroups: a KIP-848 consumer
        // group ("Group g is not a classic group.") is described by ConsumerGroupDescribe.
        return describe_consumer_group(coordinator, group_id).await;
    }
    check_group_answer(group.error_code, || {
        format!("DescribeGroups for {group_id}")
    })?;
    let members = group
        .members
        .into_iter()
        .map(|m| {
            Ok(MemberView {
                client_id: m.client_id.to_string(),
                instance_id: m.group_instance_id.map(|i| i.to_string()),
                assignment: decode_assignment(m.member_assignment)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(GroupView {
        state: group.group_state.to_string(),
        protocol: group.protocol_data.to_string(),
        members,
    })
}

/// GROUP_ID_NOT_FOUND: DescribeGroups' answer for a group that is not a classic one.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// A KIP-848 consumer group (ConsumerGroupDescribe): its state, assignor and members with
/// their current assignments, as [`describe_group`] gives a classic group's.
async fn describe_consumer_group(
    coordinator: &mut RawConnection,
    group_id: &str,
) -> anyhow::Result<GroupView> {
    let request = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(StrBytes::from_string(group_id.to_owned()))]);
    let response = coordinator.call(&request).await?;
    let group = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("ConsumerGroupDescribe answered no group"))?;
    check_group_answer(group.error_code, || {
        format!("ConsumerGroupDescribe for {group_id}")
    })?;
    let members = group
        .members
        .into_iter()
        .map(|m| MemberView {
            client_id: m.client_id.to_string(),
            instance_id: m.instance_id.map(|i| i.to_string()),
            assignment: m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    let topic = t.topic_name.0.to_string();
                    t.partitions.iter().map(move |p| (topic.clone(), *p))
                })
                .collect(),
        })
        .collect();
    Ok(GroupView {
        state: group.group_state.to_string(),
        protocol: group.assignor_name.to_string(),
        members,
    })
}

/// The highest ConsumerProtocolAssignment version this codec reads; newer versions only add
/// fields at the end, so a newer one is read as this one.
const ASSIGNMENT_VERSION_READ: i16 = 3;

/// A member's assignment bytes (`ConsumerProtocolAssignment`, version first) as partitions.
pub(super) fn decode_assignment(
    mut bytes: bytes::Bytes,
) -> anyhow::Result<BTreeSet<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(BTreeSet::new());
    }
    ensure!(bytes.remaining() >= 2, "a {}-byte assignment", bytes.len());
    let version = bytes.get_i16();
    ensure!(version >= 0, "assignment version {version}");
    let assignment =
        ConsumerProtocolAssignment::decode(&mut bytes, version.min(ASSIGNMENT_VERSION_READ))
            .context("decoding a ConsumerProtocolAssignment")?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic.0.to_string();
            t.partitions.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect())
}

/// The highest OffsetFetch version asked: v1–7 name one group and its topics by name (v8
/// batches groups, v10 names topics by id).
const OFFSET_FETCH_MAX_VERSION: i16 = 7;

/// A group's committed offsets for partitions of one topic (`-1`: none committed).
pub async fn committed_offsets(
    coordinator: &mut RawConnection,
    group_id: &str,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let version = coordinator
        .version_for::<OffsetFetchRequest>()?
        .min(OFFSET_FETCH_MAX_VERSION);
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id.to_owned())))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec()),
        ]));
    let correlation_id = coordinator.take_correlation_id();
    coordinator.send(&request, version, correlation_id).await?;
    let (_, response) = coordinator.receive::<OffsetFetchRequest>(version).await?;
    check_group_answer(response.error_code, || {
        format!("OffsetFetch for group {group_id}")
    })?;
    let mut offsets = BTreeMap::new();
    for t in response.topics {
        for p in t.partitions {
            // Before v2 a coordinator's errors come per partition.
            check_group_answer(p.error_code, || {
                format!("OffsetFetch of {topic}/{}", p.partition_index)
            })?;
            offsets.insert(p.partition_index, p.committed_offset);
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn assignments_decode_with_their_version_first() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            Assigned::default()
                .with_topic(topic_name("orders-1"))
                .with_partitions(vec![4, 5]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        assignment.encode(&mut buf, 1).expect("encodes");
        let decoded = decode_assignment(buf.freeze()).expect("decodes");
        let expected: BTreeSet<TopicPartition> =
            [("orders-1".to_owned(), 4), ("orders-1".to_owned(), 5)].into();
        assert_eq!(decoded, expected);
        assert!(
            decode_assignment(bytes::Bytes::new())
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn only_a_coordinator_that_is_not_ready_is_retried() {
        for code in [14, 15, 16] {
            let error = check_group_answer(code, || "DescribeGroups for g".to_owned())
                .expect_err("an error");
            assert!(CoordinatorNotReady::is(&error), "{code}: {error}");
        }
        let error =
            check_group_answer(69, || "DescribeGroups for g".to_owned()).expect_err("an error");
        assert!(!CoordinatorNotReady::is(&error));
        assert_eq!(
            error.to_string(),
            "DescribeGroups for g answered GROUP_ID_NOT_FOUND (69)"
        );
        check_group_answer(0, || unreachable!()).expect("NONE is no error");
    }

    /// A new cluster creates `__consumer_offsets` on the first FindCoordinator and answers
    /// COORDINATOR_NOT_AVAILABLE until it has leaders: one lookup finds the coordinator anyway.
    /// With too few brokers for the topic's replication factor it never exists: the lookup
    /// gives up at its deadline with Kafka's answer.
    #[tokio::test]
    async fn find_coordinator_waits_for_the_offsets_topic_within_its_deadline() {
        let cluster = reference::Cluster::start_with(reference::ClusterOptions {
            brokers: 3,
            port: 0,
            data_dir: None,
            configs: Vec::new(),
        })
        .await
        .expect("starts");
        let address = cluster.address(1).expect("broker 1").to_string();
        let mut connection = RawConnection::connect(&address).await.expect("connects");
        let first = find_coordinator_once(&mut connection, "g-1")
            .await
            .expect_err("not created yet");
        let not_ready = first
            .downcast_ref::<CoordinatorNotReady>()
            .expect("retried");
        assert!(
            not_ready.error.is("COORDINATOR_NOT_AVAILABLE", 15),
            "{first}"
        );
        let until = Instant::now() + COORDINATOR_DEADLINE;
        let coordinator = find_coordinator(&mut connection, "g-1", until)
            .await
            .expect("found once the topic has leaders");
        let brokers: Vec<String> = cluster
            .broker_ids()
            .iter()
            .filter_map(|id| cluster.address(*id).map(|a| a.to_string()))
            .collect();
        assert!(
            brokers.contains(&coordinator),
            "{coordinator} in {brokers:?}"
        );
        // Any other broker answers the group's requests with NOT_COORDINATOR: ask again.
        let elsewhere = brokers
            .iter()
            .find(|a| **a != coordinator)
            .expect("3 brokers");
        let mut elsewhere = RawConnection::connect(elsewhere).await.expect("connects");
        let error = describe_group(&mut elsewhere, "g-1")
            .await
            .expect_err("not the coordinator");
        let not_ready = error
            .downcast_ref::<CoordinatorNotReady>()
            .expect("retried");
        assert!(not_ready.error.is("NOT_COORDINATOR", 16), "{error}");
        let error = committed_offsets(&mut elsewhere, "g-1", "t", &[0])
            .await
            .expect_err("not the coordinator");
        assert!(CoordinatorNotReady::is(&error), "{error}");
        let mut at_coordinator = RawConnection::connect(&coordinator)
            .await
            .expect("connects");
        // The coordinator itself answers for the group (unknown to it: Dead, or
        // GROUP_ID_NOT_FOUND from DescribeGroups v6 on, KIP-1043): nothing to retry.
        if let Err(error) = describe_group(&mut at_coordinator, "g-1").await {
            assert!(!CoordinatorNotReady::is(&error), "{error}");
        }
        cluster.shutdown().await;

        let cluster = reference::Cluster::start_with(reference::ClusterOptions {
            brokers: 2,
            port: 0,
            data_dir: None,
            configs: vec![(
                "offsets.topic.replication.factor".to_owned(),
                "3".to_owned(),
            )],
        })
        .await
        .expect("starts");
        let address = cluster.address(1).expect("broker 1").to_string();
        let mut connection = RawConnection::connect(&address).await.expect("connects");
        let started = Instant::now();
        let error = find_coordinator(&mut connection, "g-1", started + Duration::from_secs(1))
            .await
            .expect_err("never available");
        assert!(CoordinatorNotReady::is(&error), "{error}");
        assert!(
            error.to_string().contains("COORDINATOR_NOT_AVAILABLE (15)"),
            "{error}"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        cluster.shutdown().await;
    }
}
