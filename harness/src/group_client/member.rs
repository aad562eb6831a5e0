//! A group member as applications have them: a librdkafka consumer that *subscribes*
//! (classic group protocol), owned by a thread of its own that polls it in a loop.
//!
//! A thread rather than a task because librdkafka serves rebalances only inside `poll`, and
//! closing a consumer blocks until it has left its group: neither may stall the executor
//! that runs concurrent scenarios. Steps talk to the thread through commands (commit, stop
//! polling, close) and read what it saw from shared state: the partitions it owns, every
//! rebalance callback in order, the records it received and the errors librdkafka reported.
//! Each member runs with `client.id` set to its logical name (`C1`), so that a DescribeGroups
//! member is matched to the consumer it is without ever showing the member ids the broker
//! generates.
//!
//! # References
//!
//! - librdkafka `CONFIGURATION.md` (`partition.assignment.strategy`, `session.timeout.ms`,
//!   `heartbeat.interval.ms`, `max.poll.interval.ms`, `auto.offset.reset`).
//! - KIP-62 (background heartbeats, `max.poll.interval.ms`), KIP-345 (static membership: a
//!   static member sends no LeaveGroup when it shuts down), KIP-429 (cooperative rebalancing).

use std::collections::BTreeSet;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, Statistics, TopicPartitionList};
use tokio::sync::oneshot;

use super::TopicPartition;
use crate::kafka_error::ErrorCode;
use crate::observation::show_value;

/// Settings every member starts from; a group's or a consumer's own settings override them.
///
/// Short timeouts so that rebalances and failure detection take seconds, within the broker's
/// `group.min.session.timeout.ms` of the test targets (1000). Offsets are committed only
/// when a step says so (`enable.auto.commit=false`); librdkafka still *stores* the offset
/// after each message it returns (`enable.auto.offset.store`), which a "commit what it
/// processed" step commits.
/// The settings of [`MEMBER_DEFAULTS`] that only the classic protocol has: left out for a
/// member with `group.protocol=consumer` (KIP-848 sets them on the broker,
/// `group.consumer.session.timeout.ms` and `group.consumer.heartbeat.interval.ms`).
const CLASSIC_ONLY: &[&str] = &["session.timeout.ms", "heartbeat.interval.ms"];

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
pub(super) const MAX_KEPT_RECORDS: usize = 100_000;

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
pub(super) enum Command {
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
    /// The client is Kafka's Java consumer ([`super::java_member`]) rather than librdkafka;
    /// `settings` are then Java consumer configs, over
    /// [`super::java_member::JAVA_MEMBER_DEFAULTS`].
    pub java: bool,
}

impl Member {
    /// Creates the consumer on a new thread, subscribes it and starts polling; returns once
    /// the subscription is in place (joining the group happens in the background).
    pub async fn start(bootstrap: &str, spec: MemberSpec) -> anyhow::Result<Member> {
        if spec.java {
            return Member::start_java(bootstrap, spec).await;
        }
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        let consumer_protocol = spec
            .settings
            .iter()
            .any(|(k, v)| k == "group.protocol" && v == "consumer");
        for (key, value) in MEMBER_DEFAULTS {
            // KIP-848: the coordinator owns the session and heartbeat timing, and librdkafka
            // refuses a consumer-protocol member that sets them.
            if consumer_protocol && CLASSIC_ONLY.contains(key) {
                continue;
            }
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
        let thread_state = state.clone();
        let settings = format!("{:?}", spec.settings);
        launch(
            spec,
            state,
            MEMBER_COMMAND_TIMEOUT,
            settings,
            move |inbox, ready| drive(config, physical_topics, thread_state, inbox, ready),
        )
        .await
    }

    /// [`Member::start`] for a Java consumer.
    async fn start_java(bootstrap: &str, spec: MemberSpec) -> anyhow::Result<Member> {
        use super::java_member::{JAVA_MEMBER_DEFAULTS, JAVA_START_TIMEOUT, drive, spawn};
        let consumer_protocol = spec
            .settings
            .iter()
            .any(|(k, v)| k == "group.protocol" && v == "consumer");
        let mut settings: Vec<(String, String)> = JAVA_MEMBER_DEFAULTS
            .iter()
            .filter(|(k, _)| !(consumer_protocol && CLASSIC_ONLY.contains(k)))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings.extend(spec.settings.iter().cloned());
        if spec.is_static {
            settings.push(("group.instance.id".to_owned(), spec.name.clone()));
        }
        let physical_topics: Vec<String> = spec.topics.iter().map(|(_, p)| p.clone()).collect();
        let state = Arc::new(Mutex::new(MemberState::default()));
        let thread_state = state.clone();
        let (bootstrap, group_id, name) = (
            bootstrap.to_owned(),
            spec.group_id.clone(),
            spec.name.clone(),
        );
        let shown = format!("{settings:?} (Java)");
        launch(
            spec,
            state,
            JAVA_START_TIMEOUT,
            shown,
            move |inbox, ready| {
                // On the member's thread: the first Java member may wait for Kafka's jars.
                let spawned = spawn(
                    &bootstrap,
                    &group_id,
                    &name,
                    &physical_topics,
                    &settings,
                    thread_state,
                );
                match spawned {
                    Ok((child, lines)) => drive(child, lines, inbox, ready),
                    Err(error) => {
                        let _ = ready.send(Err(error));
                    }
                }
            },
        )
        .await
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

/// Runs `body` as the member's own thread and waits, up to `timeout`, until it says its
/// consumer is subscribed.
async fn launch(
    spec: MemberSpec,
    state: Arc<Mutex<MemberState>>,
    timeout: Duration,
    settings: String,
    body: impl FnOnce(mpsc::Receiver<Command>, oneshot::Sender<anyhow::Result<()>>) + Send + 'static,
) -> anyhow::Result<Member> {
    let (commands, inbox) = mpsc::channel();
    let (ready, started) = oneshot::channel();
    thread::Builder::new()
        .name(format!("member-{}", spec.name))
        .spawn(move || body(inbox, ready))
        .context("spawning a member thread")?;
    tokio::time::timeout(timeout, started)
        .await
        .map_err(|_| anyhow!("consumer {} was not created in time", spec.name))?
        .map_err(|_| anyhow!("consumer {}'s thread ended early", spec.name))?
        .with_context(|| format!("starting consumer {} with {settings}", spec.name))?;
    Ok(Member {
        name: spec.name,
        group: spec.group,
        topics: spec.topics.into_iter().map(|(l, _)| l).collect(),
        is_static: spec.is_static,
        state,
        commands: Some(commands),
    })
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
