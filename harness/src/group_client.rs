//! Consumer group members for scenarios, and the coordinator's view of a group.
//!
//! A member is a librdkafka consumer that *subscribes* (classic group protocol), owned by a
//! thread of its own that polls it in a loop. A thread rather than a task because librdkafka
//! serves rebalances only inside `poll`, and closing a consumer blocks until it has left its
//! group: neither may stall the executor that runs concurrent scenarios. Steps talk to the
//! thread through commands (commit, stop polling, close) and read what it saw from shared
//! state: the partitions it owns, every rebalance callback in order, the records it received
//! and the errors librdkafka reported.
//!
//! A [`RawMember`] is the other kind: a member the scenario drives over the raw protocol
//! (JoinGroup, SyncGroup) that then goes silent, sending no heartbeat, with its connection
//! left open: a dynamic member failing without a word, which a librdkafka consumer cannot
//! be made to do (closing one always sends LeaveGroup).
//!
//! The group coordinator's view comes from the raw client: FindCoordinator, then
//! DescribeGroups (the group's state and, per member, its `client.id`, `group.instance.id`
//! and the assignment the leader computed) and OffsetFetch (committed offsets). Each member
//! runs with `client.id` set to its logical name (`C1`), so that a DescribeGroups member is
//! matched to the consumer it is without ever showing the member ids the broker generates.
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
//! Who computes an assignment: in the classic protocol the group's *leader* (a client) runs
//! the assignor the members agreed on (`partition.assignment.strategy`) and sends the result
//! in SyncGroup; the coordinator hands each member its part. librdkafka's assignors, like
//! Java's, sort members by member id, or by `group.instance.id` when every member is static
//! (librdkafka `rd_kafka_group_member_cmp`, Java `AbstractPartitionAssignor.MemberInfo`).
//!
//! # References
//!
//! - Kafka protocol guide: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//!   FindCoordinator, OffsetFetch; "consumer protocol" (ConsumerProtocolAssignment).
//! - Kafka `KafkaApis.getCoordinator` (creates the offsets topic, answers
//!   COORDINATOR_NOT_AVAILABLE meanwhile); `CoordinatorRuntime` (NOT_COORDINATOR,
//!   COORDINATOR_LOAD_IN_PROGRESS); Java client `AbstractCoordinator` (re-finds the
//!   coordinator on NOT_COORDINATOR, retries COORDINATOR_LOAD_IN_PROGRESS after
//!   `retry.backoff.ms`, 100 ms by default).
//! - KIP-62 (background heartbeats, `max.poll.interval.ms`), KIP-345 (static membership: a
//!   static member sends no LeaveGroup when it shuts down), KIP-429 (cooperative rebalancing).
//! - librdkafka `CONFIGURATION.md` (`partition.assignment.strategy`, `session.timeout.ms`,
//!   `heartbeat.interval.ms`, `max.poll.interval.ms`, `auto.offset.reset`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Buf;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, OffsetFetchRequest,
    SyncGroupRequest, offset_fetch_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, Statistics, TopicPartitionList};
use tokio::sync::oneshot;

use crate::kafka_error::ErrorCode;
use crate::observation::show_value;
use crate::raw_client::{RawConnection, topic_name};

/// A topic (physical name) and partition.
pub type TopicPartition = (String, i32);

/// Settings every member starts from; a group's or a consumer's own settings override them.
///
/// Short timeouts so that rebalances and failure detection take seconds, within the broker's
/// `group.min.session.timeout.ms` of the test targets (1000). Offsets are committed only
/// when a step says so (`enable.auto.commit=false`); librdkafka still *stores* the offset
/// after each message it returns (`enable.auto.offset.store`), which a "commit what it
/// processed" step commits.
pub const MEMBER_DEFAULTS: &[(&str, &str)] = &[
    ("session.timeout.ms", "3000"),
    ("heartbeat.interval.ms", "300"),
    // Also the rebalance timeout librdkafka sends in JoinGroup: a rebalance waiting on a
    // member that will not come back ends within this.
    ("max.poll.interval.ms", "10000"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "true"),
    ("enable.partition.eof", "false"),
    ("auto.offset.reset", "earliest"),
    ("fetch.wait.max.ms", "100"),
    ("statistics.interval.ms", "200"),
    ("topic.metadata.refresh.interval.ms", "1000"),
];

/// How long a member thread may take to create its consumer, or to close it.
const MEMBER_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one `poll` of a member's thread blocks.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// The largest number of records a member keeps (scenarios read tens).
const MAX_KEPT_RECORDS: usize = 100_000;

/// One rebalance callback librdkafka made, with its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// Partitions assigned (eager: the whole new assignment; cooperative: the added ones).
    Assign(BTreeSet<TopicPartition>),
    /// Partitions revoked (eager: everything owned; cooperative: only those that move).
    Revoke(BTreeSet<TopicPartition>),
    /// librdkafka reported a rebalance error.
    Error(String),
}

/// A record a member received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Physical topic name.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its value, as traces show it.
    pub value: String,
}

/// What a member's thread has seen so far.
#[derive(Debug, Default)]
pub struct MemberState {
    /// The partitions the consumer owns after the last rebalance callback.
    pub assignment: BTreeSet<TopicPartition>,
    /// Every rebalance callback, in order.
    pub rebalances: Vec<RebalanceEvent>,
    /// Every record `poll` returned, in order.
    pub records: Vec<MemberRecord>,
    /// Every error `poll` returned, in order.
    pub errors: Vec<ErrorCode>,
    /// The latest librdkafka statistics.
    pub statistics: Option<Statistics>,
}

/// The context of a member's consumer: records rebalances and statistics into its state.
struct MemberContext {
    state: Arc<Mutex<MemberState>>,
}

impl MemberContext {
    fn state(&self) -> Option<MutexGuard<'_, MemberState>> {
        self.state.lock().ok()
    }
}

impl ClientContext for MemberContext {
    // librdkafka's own log lines and global errors (a broker connection dropping while a
    // member closes after its scenario ended) go to `tracing` at debug level: what a step
    // needs from them, it reads from the member's state, and says so when it fails.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, "librdkafka: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!("librdkafka error {error}: {reason}");
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(mut state) = self.state() {
            state.statistics = Some(statistics);
        }
    }
}

impl ConsumerContext for MemberContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let event = match rebalance {
            Rebalance::Assign(list) => RebalanceEvent::Assign(partitions_of(list)),
            Rebalance::Revoke(list) => RebalanceEvent::Revoke(partitions_of(list)),
            Rebalance::Error(error) => RebalanceEvent::Error(error.to_string()),
        };
        // The whole assignment after librdkafka applied this callback (eager or incremental).
        let assignment = consumer.assignment().map(|list| partitions_of(&list));
        if let Some(mut state) = self.state() {
            state.rebalances.push(event);
            if let Ok(assignment) = assignment {
                state.assignment = assignment;
            }
        }
    }
}

fn partitions_of(list: &TopicPartitionList) -> BTreeSet<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

type Reply<T> = oneshot::Sender<T>;

/// What a step asks of a member's thread.
enum Command {
    /// Commit the offsets librdkafka stored for the records `poll` returned (each record's
    /// offset + 1): `rd_kafka_commit(rk, NULL, sync)`.
    CommitConsumed(Reply<Result<(), ErrorCode>>),
    /// Commit exactly these offsets.
    Commit(Vec<(String, i32, i64)>, Reply<Result<(), ErrorCode>>),
    /// Stop or resume calling `poll`.
    Polling(bool),
    /// Close the consumer (librdkafka's consumer close) and end the thread.
    Close(Reply<()>),
}

/// One member of a group: a subscribed librdkafka consumer on its own thread.
pub struct Member {
    /// The logical consumer name (`C1`), also its `client.id`.
    pub name: String,
    /// The logical group name.
    pub group: String,
    /// The logical topics it subscribed to.
    pub topics: Vec<String>,
    /// Whether it runs with `group.instance.id` (static membership).
    pub is_static: bool,
    state: Arc<Mutex<MemberState>>,
    commands: Option<mpsc::Sender<Command>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// How to start a member.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// Logical consumer name (`client.id`, and `group.instance.id` when static).
    pub name: String,
    /// Logical group name.
    pub group: String,
    /// Physical group id.
    pub group_id: String,
    /// Logical and physical names of the topics to subscribe to.
    pub topics: Vec<(String, String)>,
    /// librdkafka settings over [`MEMBER_DEFAULTS`].
    pub settings: Vec<(String, String)>,
    /// Static membership (`group.instance.id` = the name).
    pub is_static: bool,
}

impl Member {
    /// Creates the consumer on a new thread, subscribes it and starts polling; returns once
    /// the subscription is in place (joining the group happens in the background).
    pub async fn start(bootstrap: &str, spec: MemberSpec) -> anyhow::Result<Member> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        for (key, value) in MEMBER_DEFAULTS {
            config.set(*key, *value);
        }
        for (key, value) in &spec.settings {
            config.set(key, value);
        }
        config.set("group.id", &spec.group_id);
        config.set("client.id", &spec.name);
        if spec.is_static {
            config.set("group.instance.id", &spec.name);
        }
        let physical_topics: Vec<String> = spec.topics.iter().map(|(_, p)| p.clone()).collect();
        let state = Arc::new(Mutex::new(MemberState::default()));
        let (commands, inbox) = mpsc::channel();
        let (ready, started) = oneshot::channel();
        let thread_state = state.clone();
        thread::Builder::new()
            .name(format!("member-{}", spec.name))
            .spawn(move || drive(config, physical_topics, thread_state, inbox, ready))
            .context("spawning a member thread")?;
        tokio::time::timeout(MEMBER_COMMAND_TIMEOUT, started)
            .await
            .map_err(|_| anyhow!("consumer {} was not created in time", spec.name))?
            .map_err(|_| anyhow!("consumer {}'s thread ended early", spec.name))?
            .with_context(|| format!("starting consumer {} with {:?}", spec.name, spec.settings))?;
        Ok(Member {
            name: spec.name,
            group: spec.group,
            topics: spec.topics.into_iter().map(|(l, _)| l).collect(),
            is_static: spec.is_static,
            state,
            commands: Some(commands),
        })
    }

    /// Whether its consumer is still open.
    pub fn is_running(&self) -> bool {
        self.commands.is_some()
    }

    /// A look at what it has seen so far.
    pub fn state(&self) -> anyhow::Result<MutexGuard<'_, MemberState>> {
        self.state
            .lock()
            .map_err(|_| anyhow!("consumer {}'s state is poisoned", self.name))
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands
            .as_ref()
            .ok_or_else(|| anyhow!("consumer {} was already closed", self.name))?
            .send(command)
            .map_err(|_| anyhow!("consumer {}'s thread has ended", self.name))
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        tokio::time::timeout(MEMBER_COMMAND_TIMEOUT, answer)
            .await
            .map_err(|_| anyhow!("consumer {} did not answer in time", self.name))?
            .map_err(|_| anyhow!("consumer {}'s thread ended before answering", self.name))
    }

    /// Commits what librdkafka stored for the records it returned (offset + 1 each).
    pub async fn commit_consumed(&self) -> anyhow::Result<Result<(), ErrorCode>> {
        self.ask(Command::CommitConsumed).await
    }

    /// Commits exactly these `(physical topic, partition, offset)`s.
    pub async fn commit(
        &self,
        offsets: Vec<(String, i32, i64)>,
    ) -> anyhow::Result<Result<(), ErrorCode>> {
        self.ask(|reply| Command::Commit(offsets, reply)).await
    }

    /// Stops or resumes calling `poll` (librdkafka keeps heartbeating from its own thread).
    pub fn set_polling(&self, polling: bool) -> anyhow::Result<()> {
        self.send(Command::Polling(polling))
    }

    /// Closes the consumer as librdkafka's consumer close does (revoke, then LeaveGroup for
    /// a dynamic member; no LeaveGroup for a static one) and waits until it is closed.
    pub async fn close(&mut self) -> anyhow::Result<()> {
        self.ask(Command::Close).await?;
        self.commands = None;
        Ok(())
    }

    /// The next offset librdkafka will fetch for a partition, once its fetcher is active
    /// (from the latest statistics).
    pub fn fetch_position(&self, topic: &str, partition: i32) -> anyhow::Result<Option<i64>> {
        let state = self.state()?;
        Ok(state.statistics.as_ref().and_then(|stats| {
            let p = stats.topics.get(topic)?.partitions.get(&partition)?;
            (p.fetch_state == "active" && p.next_offset >= 0).then_some(p.next_offset)
        }))
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // The thread sees its channel close, closes the consumer and ends; nobody waits.
        self.commands = None;
    }
}

/// The body of a member's thread.
fn drive(
    config: ClientConfig,
    topics: Vec<String>,
    state: Arc<Mutex<MemberState>>,
    inbox: mpsc::Receiver<Command>,
    ready: oneshot::Sender<anyhow::Result<()>>,
) {
    let context = MemberContext {
        state: state.clone(),
    };
    let consumer: BaseConsumer<MemberContext> = match config.create_with_context(context) {
        Ok(consumer) => consumer,
        Err(error) => {
            let _ = ready.send(Err(anyhow!(error).context("creating the consumer")));
            return;
        }
    };
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    if let Err(error) = consumer.subscribe(&topic_refs) {
        let _ = ready.send(Err(
            anyhow!(error).context(format!("subscribing to {topics:?}"))
        ));
        return;
    }
    let _ = ready.send(Ok(()));
    let mut polling = true;
    loop {
        let command = if polling {
            match inbox.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            match inbox.recv_timeout(POLL_SLICE) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
        match command {
            Some(Command::CommitConsumed(reply)) => {
                let result = consumer
                    .commit_consumer_state(CommitMode::Sync)
                    .map_err(|e| error_code(&e));
                let _ = reply.send(result);
            }
            Some(Command::Commit(offsets, reply)) => {
                let _ = reply.send(commit_exactly(&consumer, &offsets));
            }
            Some(Command::Polling(on)) => polling = on,
            Some(Command::Close(reply)) => {
                drop(consumer);
                let _ = reply.send(());
                return;
            }
            None => {}
        }
        if polling {
            poll_once(&consumer, &state);
        }
    }
    // The member was dropped: closing (a blocking wait for LeaveGroup) happens here.
    drop(consumer);
}

fn poll_once(consumer: &BaseConsumer<MemberContext>, state: &Mutex<MemberState>) {
    let Some(result) = consumer.poll(POLL_SLICE) else {
        return;
    };
    let Ok(mut state) = state.lock() else {
        return;
    };
    match result {
        Ok(message) => {
            if state.records.len() < MAX_KEPT_RECORDS {
                state.records.push(MemberRecord {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    value: show_value(message.payload()),
                });
            }
        }
        Err(error) => state.errors.push(error_code(&error)),
    }
}

fn commit_exactly(
    consumer: &BaseConsumer<MemberContext>,
    offsets: &[(String, i32, i64)],
) -> Result<(), ErrorCode> {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| error_code(&e))?;
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(|e| error_code(&e))
}

/// librdkafka's error as Kafka's (or librdkafka's local) error code.
pub fn error_code(error: &KafkaError) -> ErrorCode {
    match error.rdkafka_error_code() {
        Some(code) => ErrorCode::from_rdkafka(code),
        None => ErrorCode {
            code: i32::MIN,
            name: format!("HARNESS: {error}"),
        },
    }
}

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
fn check_group_answer(code: i16, request: impl FnOnce() -> String) -> anyhow::Result<()> {
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

/// The highest ConsumerProtocolAssignment version this codec reads; newer versions only add
/// fields at the end, so a newer one is read as this one.
const ASSIGNMENT_VERSION_READ: i16 = 3;

/// A member's assignment bytes (`ConsumerProtocolAssignment`, version first) as partitions.
fn decode_assignment(mut bytes: bytes::Bytes) -> anyhow::Result<BTreeSet<TopicPartition>> {
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

/// The `client.id` the raw client puts in every request header, and so the one the
/// coordinator reports for a raw member.
pub const RAW_MEMBER_CLIENT_ID: &str = "kafka-spec-raw";

/// A group member the scenario drives over the raw protocol: it joins, takes its assignment
/// in SyncGroup, and then sends nothing at all, not even heartbeats; its connection stays
/// open, as a hung process's would.
#[derive(Debug)]
pub struct RawMember {
    /// Its logical name in the scenario.
    pub name: String,
    /// The logical group.
    pub group: String,
    /// The partitions SyncGroup gave it, by physical topic name.
    pub assignment: BTreeSet<TopicPartition>,
    /// The physical group id.
    group_id: String,
    /// The member id the coordinator gave it (never shown in traces).
    member_id: StrBytes,
    /// The generation it joined.
    generation_id: i32,
    /// Kept open and silent until a step makes it speak again.
    connection: RawConnection,
}

impl RawMember {
    /// Sends one Heartbeat for the generation it joined and returns the error code.
    pub async fn heartbeat(&mut self) -> anyhow::Result<ErrorCode> {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(self.member_id.clone());
        let response = self.connection.call(&request).await?;
        Ok(ErrorCode::from_kafka(response.error_code))
    }
}

/// The assignor a raw member offers; librdkafka's default list includes it.
const RAW_MEMBER_PROTOCOL: &str = "range";

/// JoinGroup then SyncGroup as a follower, on the group's coordinator; fails if the raw
/// member became the leader (it computes no assignments: it joins groups that have one).
pub async fn raw_member_joins(
    coordinator_address: &str,
    spec: &MemberSpec,
    session_timeout_ms: i32,
) -> anyhow::Result<RawMember> {
    let mut connection = RawConnection::connect(coordinator_address).await?;
    let group_id = GroupId(StrBytes::from_string(spec.group_id.clone()));
    let mut metadata = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut metadata, 0);
    ConsumerProtocolSubscription::default()
        .with_topics(
            spec.topics
                .iter()
                .map(|(_, physical)| StrBytes::from_string(physical.clone()))
                .collect(),
        )
        .encode(&mut metadata, 0)
        .context("encoding a ConsumerProtocolSubscription")?;
    let mut join = JoinGroupRequest::default()
        .with_group_id(group_id.clone())
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str(RAW_MEMBER_PROTOCOL))
                .with_metadata(metadata.freeze()),
        ]);
    // Since JoinGroup v4 a member without an id is first given one (MEMBER_ID_REQUIRED) and
    // joins again with it.
    let mut joined = connection.call(&join).await?;
    if joined.error_code == MEMBER_ID_REQUIRED {
        join = join.with_member_id(joined.member_id.clone());
        joined = connection.call(&join).await?;
    }
    check_group_answer(joined.error_code, || {
        "the raw member's JoinGroup".to_owned()
    })?;
    ensure!(
        joined.leader != joined.member_id,
        "the raw member became the group's leader; it only joins a group that has one"
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(group_id)
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(joined.protocol_name.clone());
    let synced = connection.call(&sync).await?;
    check_group_answer(synced.error_code, || {
        "the raw member's SyncGroup".to_owned()
    })?;
    Ok(RawMember {
        name: spec.name.clone(),
        group: spec.group.clone(),
        assignment: decode_assignment(synced.assignment)?,
        group_id: spec.group_id.clone(),
        member_id: joined.member_id,
        generation_id: joined.generation_id,
        connection,
    })
}

/// `MEMBER_ID_REQUIRED`: a JoinGroup (v4+) without a member id is told its id and rejoins.
const MEMBER_ID_REQUIRED: i16 = 79;

/// What one settled look at a group found, per member: the partitions it owned and how many
/// rebalance callbacks it had seen by then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Logical member name → (owned partitions, rebalance callbacks seen so far).
    pub members: BTreeMap<String, (BTreeSet<TopicPartition>, usize)>,
}

/// The consumer group side of a scenario: its members, their settings, and what the
/// scenario has seen of each group.
#[derive(Debug, Default)]
pub struct Groups {
    /// Members by logical name (running or stopped).
    pub members: BTreeMap<String, Member>,
    /// How each member was started, to start it again.
    pub specs: BTreeMap<String, MemberSpec>,
    /// Per logical group, librdkafka settings for its members.
    pub group_settings: BTreeMap<String, Vec<(String, String)>>,
    /// Per logical consumer name, its own settings (over its group's).
    pub consumer_settings: BTreeMap<String, Vec<(String, String)>>,
    /// Logical groups whose members are static (`group.instance.id` = their names).
    pub static_groups: BTreeSet<String>,
    /// Per logical group, every settled snapshot, oldest first.
    pub settled: BTreeMap<String, Vec<Snapshot>>,
    /// Per logical group, members a step set aside by role (`idle`).
    pub roles: BTreeMap<(String, String), Vec<String>>,
    /// Members driven over the raw protocol, by logical name (at most one per group: the
    /// coordinator knows them all by the raw client's `client.id`).
    pub raw_members: BTreeMap<String, RawMember>,
    /// Connections to group coordinators, by address.
    coordinators: BTreeMap<String, RawConnection>,
}

impl Groups {
    /// A connection to the broker at `address`, opened on first use.
    pub async fn coordinator(&mut self, address: &str) -> anyhow::Result<&mut RawConnection> {
        if !self.coordinators.contains_key(address) {
            let connection = RawConnection::connect(address).await?;
            self.coordinators.insert(address.to_owned(), connection);
        }
        self.coordinators
            .get_mut(address)
            .ok_or_else(|| anyhow!("no connection to {address}"))
    }

    /// Forgets a coordinator connection (after an error on it).
    pub fn forget_coordinator(&mut self, address: &str) {
        self.coordinators.remove(address);
    }

    /// The raw member of a logical group, if it has one.
    pub fn raw_member_of(&self, group: &str) -> Option<&RawMember> {
        self.raw_members.values().find(|m| m.group == group)
    }

    /// The running members of a logical group, by name.
    pub fn running_in<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members
            .values()
            .filter(move |m| m.group == group && m.is_running())
    }

    /// A member by logical name.
    pub fn member(&self, name: &str) -> anyhow::Result<&Member> {
        self.members
            .get(name)
            .ok_or_else(|| anyhow!("no consumer {name} in this scenario"))
    }

    /// A member by logical name, mutably.
    pub fn member_mut(&mut self, name: &str) -> anyhow::Result<&mut Member> {
        self.members
            .get_mut(name)
            .ok_or_else(|| anyhow!("no consumer {name} in this scenario"))
    }

    /// The last two settled snapshots of a group: (before, after).
    pub fn last_two(&self, group: &str) -> anyhow::Result<(&Snapshot, &Snapshot)> {
        match self.settled.get(group).map(Vec::as_slice) {
            Some([.., before, after]) => Ok((before, after)),
            _ => bail!("group {group} has not settled twice yet"),
        }
    }

    /// The last settled snapshot of a group.
    pub fn last(&self, group: &str) -> anyhow::Result<&Snapshot> {
        self.settled
            .get(group)
            .and_then(|s| s.last())
            .ok_or_else(|| anyhow!("group {group} has not settled yet"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;

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
