//! The queue workload: producers sending unique values, consumers polling them, faults
//! injected from a seeded schedule, then a drain so that every anomaly is decidable; its
//! history goes to [`analyse`].
//!
//! # How a run goes
//!
//! 1. A fresh topic (`checker-…`, [`PARTITIONS`] partitions, replication factor
//!    [`REPLICATION_FACTOR`], `min.insync.replicas` [`MIN_INSYNC_REPLICAS`]), and a wait until
//!    every partition has a leader and its replicas.
//! 2. N producers (rdkafka `FutureProducer`, `acks=all`, `enable.idempotence` as asked), each
//!    sending `"<producer>-<sequence>"` round-robin over the partitions, a bounded number in
//!    flight. An acknowledgement records its offset; a record refused before it left the
//!    client is `Failed`; any delivery error is `Unknown` (librdkafka may have written it in
//!    an earlier attempt: only its per-message persistence status could tell, which
//!    `FutureProducer` does not expose).
//!    With `transactions`, each producer has a `transactional.id` and sends in
//!    transactions of 1 to [`MAX_SENDS_PER_TXN`] records over partitions drawn from the
//!    seed, then commits, or aborts one time in [`ABORT_ONE_IN`] (and whenever a send was
//!    not acknowledged); each transaction is recorded as [`Op::TxnBegin`], its sends and
//!    [`Op::TxnEnd`] with its outcome and when the end was invoked, which is what G1a and
//!    precommitted-read are decided from. An end that fails beyond retries is `Unknown`:
//!    a new client with the same transactional id fences the old one and settles it.
//! 3. M consumers (`isolation.level=read_committed`), each assigned every partition from the
//!    beginning ([`ConsumerMode::Assign`]) or subscribed in one group
//!    ([`ConsumerMode::Subscribe`], rebalances recorded as [`Op::Rebalance`]). Every record
//!    received is a poll of one record.
//! 4. Meanwhile, on targets with fault control, every 1–4 s a broker and a fault are drawn
//!    from the seeded RNG: stop then start (a crash), pause then resume, or isolate then heal,
//!    held 1–5 s; one fault at a time, so a partition of three replicas keeps two. A fault
//!    the target cannot make (`kafka-local` cannot isolate) is dropped from the draw.
//! 5. When the duration is up: every fault is undone ([`FaultControl::restore`]), the
//!    producers stop and wait for every outcome, each partition's end offset is read
//!    ([`Op::LogEnd`]), and the consumers read until they reach it (or the drain deadline).
//!    A consumer's progress is librdkafka's position, which passes the transaction markers
//!    (control records take offsets but are never returned).
//!
//! The seed fixes the fault schedule (which broker, which fault, when, for how long); the
//! interleaving of clients and brokers is not under its control, so a rerun with a seed
//! repeats the faults, not the exact history.
//!
//! # References
//!
//! - Jepsen's Kafka workload (`jepsen.tests.kafka`) and its Redpanda analysis.
//! - librdkafka `CONFIGURATION.md` (`enable.idempotence`, `message.timeout.ms`,
//!   `isolation.level`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::analysis::{Analysis, Anomaly, analyse};
use super::history::{History, Op, Poll, ProcessId, Send, SendOutcome, TxnId, TxnOutcome};
use crate::target::{FaultControl, Target};

/// Partitions of the workload's topic.
pub const PARTITIONS: i32 = 3;
/// Replicas of each partition.
pub const REPLICATION_FACTOR: i32 = 3;
/// The topic's `min.insync.replicas`.
pub const MIN_INSYNC_REPLICAS: &str = "2";

/// Sends a producer has awaiting their outcome at once.
const IN_FLIGHT_PER_PRODUCER: usize = 16;
/// How long librdkafka keeps retrying a record before giving up on it (`Unknown`).
const MESSAGE_TIMEOUT_MS: u64 = 20_000;
/// One request's deadline: a paused broker is given up on well within a fault's hold.
const REQUEST_TIMEOUT_MS: &str = "5000";
/// Consumers' network deadline (librdkafka's default is a minute: a paused leader would
/// stall a consumer for longer than a fault lasts).
const SOCKET_TIMEOUT_MS: &str = "6000";
/// Consumer process ids start here, so that producers and consumers never share one.
const FIRST_CONSUMER_ID: ProcessId = 1000;
/// How long the topic may take to have leaders and replicas.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one fault call (or undoing every fault) may take; a `kafka-local` restart waits
/// for the node to register again.
const FAULT_CALL_TIMEOUT: Duration = Duration::from_secs(180);
/// How long reading the end offsets may take once the faults are healed.
const END_OFFSETS_TIMEOUT: Duration = Duration::from_secs(60);
/// Milliseconds between faults, drawn uniformly.
const FAULT_GAP_MS: (u64, u64) = (1_000, 4_000);
/// Milliseconds a fault is held, drawn uniformly.
const FAULT_HOLD_MS: (u64, u64) = (1_000, 5_000);
/// How long a consumer waits for a record before looking at its stop flag again.
const RECV_SLICE: Duration = Duration::from_millis(200);
/// How long closing a client may take before it is left closing on a thread of its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// Sends of one transaction, at most (each draws 1 to this many).
pub const MAX_SENDS_PER_TXN: usize = 5;
/// One transaction in this many is aborted on purpose.
pub const ABORT_ONE_IN: usize = 4;
/// `transaction.timeout.ms`: above [`MESSAGE_TIMEOUT_MS`], as librdkafka requires.
const TRANSACTION_TIMEOUT_MS: u64 = 30_000;
/// How long one transactional call (init, begin, commit, abort) may block.
const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a commit or abort that fails with a retriable error.
const TXN_END_ATTEMPTS: usize = 3;
/// Error kinds kept per client role for the report.
const MAX_ERROR_KINDS: usize = 8;

/// How consumers get their partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerMode {
    /// Each consumer is assigned every partition, from the beginning.
    Assign,
    /// The consumers subscribe in one group; the group spreads the partitions.
    Subscribe,
}

impl fmt::Display for ConsumerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsumerMode::Assign => "assign",
            ConsumerMode::Subscribe => "subscribe",
        })
    }
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Seeds the fault schedule.
    pub seed: u64,
    /// How long producers send and faults are injected (the drain comes after).
    pub duration: Duration,
    /// Producers.
    pub producers: u32,
    /// Consumers.
    pub consumers: u32,
    /// `enable.idempotence` for every producer.
    pub idempotence: bool,
    /// Producers send in transactions (a `transactional.id` each): 1 to
    /// [`MAX_SENDS_PER_TXN`] sends, then a commit, or an abort one time in
    /// [`ABORT_ONE_IN`] (drawn from the seed) or whenever a send failed. Needs idempotence.
    pub transactions: bool,
    /// Assign or subscribe.
    pub consumer_mode: ConsumerMode,
    /// Whether to inject faults (on targets that have fault control).
    pub faults: bool,
    /// Pause between two sends of one producer.
    pub send_interval: Duration,
    /// How long consumers may take to reach the end offsets after the faults stop.
    pub drain_timeout: Duration,
}

impl WorkloadOptions {
    /// Two producers (idempotent), two assigned consumers, faults on, for `duration`.
    pub fn new(seed: u64, duration: Duration) -> WorkloadOptions {
        WorkloadOptions {
            seed,
            duration,
            producers: 2,
            consumers: 2,
            idempotence: true,
            transactions: false,
            consumer_mode: ConsumerMode::Assign,
            faults: true,
            send_interval: Duration::from_millis(5),
            drain_timeout: Duration::from_secs(60),
        }
    }

    /// Anomalies this configuration expects, so they do not fail the run: without
    /// idempotence a retried send can be written twice (duplicate) and retries reorder a
    /// producer's records (nonmonotonic-send).
    pub fn allowed(&self) -> BTreeSet<Anomaly> {
        if self.idempotence {
            BTreeSet::new()
        } else {
            [Anomaly::Duplicate, Anomaly::NonmonotonicSend].into()
        }
    }
}

/// A seed from the clock and the process id, for runs that name none.
pub fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    SplitMix64(nanos ^ (u64::from(std::process::id()) << 32)).next_u64()
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, seedable generator, plenty for
/// drawing a fault schedule.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next_u64() % (hi.saturating_sub(lo) + 1)
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct WorkloadReport {
    /// The target's name.
    pub target: String,
    /// What was run.
    pub options: WorkloadOptions,
    /// The topic it used.
    pub topic: String,
    /// From the first send to the end of the drain.
    pub elapsed: Duration,
    /// Each fault injected, when and for how long (or why it could not be).
    pub faults: Vec<String>,
    /// Each partition's end offset after every send had its outcome.
    pub end_offsets: Vec<i64>,
    /// Whether the consumers reached those end offsets.
    pub drained: bool,
    /// `[consumer][partition]`: the next offset each consumer would have read when the
    /// drain ended.
    pub positions: Vec<Vec<i64>>,
    /// Producer delivery errors by kind (and how many).
    pub producer_errors: BTreeMap<String, usize>,
    /// Consumer errors by kind (and how many).
    pub consumer_errors: BTreeMap<String, usize>,
    /// Everything recorded.
    pub history: History,
    /// Its anomalies.
    pub analysis: Analysis,
}

impl WorkloadReport {
    /// Cases of anomalies this configuration does not expect.
    pub fn unexpected(&self) -> usize {
        let allowed = self.options.allowed();
        self.analysis
            .found()
            .filter(|(anomaly, _)| !allowed.contains(anomaly))
            .map(|(_, finding)| finding.count)
            .sum()
    }

    /// No unexpected anomaly, and the drain reached the end of every partition (so lost
    /// writes were decidable).
    pub fn passed(&self) -> bool {
        self.drained && self.unexpected() == 0
    }
}

impl fmt::Display for WorkloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let s = &self.analysis.stats;
        writeln!(f, "target: {}", self.target)?;
        writeln!(f, "seed: {}", o.seed)?;
        writeln!(
            f,
            "duration: {} s of sends and faults, {:.1} s in all (drain included)",
            o.duration.as_secs(),
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "workload: topic {}, {} producers (idempotence {}{}), {} consumers ({}, \
             read_committed)",
            self.topic,
            o.producers,
            if o.idempotence { "on" } else { "off" },
            if o.transactions {
                ", transactional"
            } else {
                ""
            },
            o.consumers,
            o.consumer_mode
        )?;
        writeln!(f, "faults:")?;
        for fault in &self.faults {
            writeln!(f, "  {fault}")?;
        }
        writeln!(
            f,
            "sends: {} acked, {} failed, {} unknown",
            s.acked, s.failed, s.unknown
        )?;
        if o.transactions {
            writeln!(
                f,
                "transactions: {} committed, {} aborted, {} unknown",
                s.committed, s.aborted, s.txn_unknown
            )?;
        }
        write_errors(f, "producer errors", &self.producer_errors)?;
        writeln!(
            f,
            "polls: {} ({} records); end offsets {:?}; drain {}; unseen {}",
            s.polls,
            s.records_polled,
            self.end_offsets,
            if self.drained {
                "complete"
            } else {
                "INCOMPLETE"
            },
            s.unseen
        )?;
        if !self.drained {
            writeln!(f, "  consumer positions at the end: {:?}", self.positions)?;
        }
        write_errors(f, "consumer errors", &self.consumer_errors)?;
        write!(f, "{}", self.analysis)?;
        let allowed = o.allowed();
        if !allowed.is_empty() {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            writeln!(
                f,
                "expected without idempotence (not failures): {}",
                names.join(", ")
            )?;
        }
        let verdict = if self.passed() {
            "PASSED".to_owned()
        } else if !self.drained {
            format!(
                "FAILED: the consumers did not reach the end offsets within {} s ({} \
                 unexpected anomalies)",
                o.drain_timeout.as_secs(),
                self.unexpected()
            )
        } else {
            format!("FAILED: {} unexpected anomalies", self.unexpected())
        };
        writeln!(f, "result: {verdict} (seed {})", o.seed)
    }
}

fn write_errors(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    errors: &BTreeMap<String, usize>,
) -> fmt::Result {
    if errors.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    writeln!(f, "  {what}: {}", list.join("; "))
}

/// Counts an error by kind, keeping at most [`MAX_ERROR_KINDS`] kinds.
fn count_error(errors: &mut BTreeMap<String, usize>, kind: String) {
    if errors.len() < MAX_ERROR_KINDS || errors.contains_key(&kind) {
        *errors.entry(kind).or_default() += 1;
    } else {
        *errors.entry("(other kinds)".to_owned()).or_default() += 1;
    }
}

/// Runs the workload on `target` and analyses what it recorded.
pub async fn run(target: &dyn Target, options: &WorkloadOptions) -> anyhow::Result<WorkloadReport> {
    if let Some(reason) = target.unavailable() {
        bail!("{} cannot run the checker: {reason}", target.name());
    }
    anyhow::ensure!(
        options.producers > 0 && options.consumers > 0,
        "the checker needs at least one producer and one consumer"
    );
    let bootstrap = target.bootstrap();
    let topic = format!("checker-{}-{:x}", options.seed, random_seed() & 0xffff_ffff);
    create_topic(&bootstrap, &topic).await?;
    eprintln!("checker: topic {topic} ready on {}", target.name());

    anyhow::ensure!(
        options.idempotence || !options.transactions,
        "transactions need idempotence (librdkafka refuses a transactional.id without it)"
    );
    let started = Instant::now();
    let stop_producing = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for id in 0..options.producers {
        let task = if options.transactions {
            tokio::spawn(produce_transactions(
                TransactionalProducer {
                    id,
                    bootstrap: bootstrap.clone(),
                    topic: topic.clone(),
                    rng: SplitMix64(
                        options.seed ^ u64::from(id + 1).wrapping_mul(0xA24B_AED4_963E_E407),
                    ),
                    interval: options.send_interval,
                    started,
                },
                stop_producing.clone(),
            ))
        } else {
            let producer = producer(&bootstrap, id, options.idempotence, None)?;
            tokio::spawn(produce(
                id,
                producer,
                topic.clone(),
                stop_producing.clone(),
                options.send_interval,
            ))
        };
        producers.push(task);
    }
    let progress = Arc::new(Progress::new(options.consumers as usize));
    let stop_consuming = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    for index in 0..options.consumers {
        let worker = ConsumerWorker::start(&bootstrap, &topic, index, options.consumer_mode)?;
        consumers.push(tokio::spawn(worker.run(
            progress.clone(),
            stop_consuming.clone(),
            started,
        )));
    }

    let faults = fault_phase(target, options, started).await;
    stop_producing.store(true, Ordering::SeqCst);
    let mut history = History::new();
    let mut producer_errors = BTreeMap::new();
    for handle in producers {
        let (ops, errors) = handle.await.context("a producer task panicked")?;
        history.extend(ops);
        for (kind, n) in errors {
            *producer_errors.entry(kind).or_default() += n;
        }
    }
    eprintln!(
        "checker: producers done after {:.1} s; reading end offsets",
        started.elapsed().as_secs_f64()
    );
    let end_offsets = end_offsets(&bootstrap, &topic).await?;
    for (partition, end) in (0..).zip(&end_offsets) {
        history.push(Op::LogEnd {
            partition,
            end_offset: *end,
        });
    }
    eprintln!("checker: draining to the end offsets {end_offsets:?}");
    let drained = progress
        .wait_until_drained(&end_offsets, options.consumer_mode, options.drain_timeout)
        .await;
    stop_consuming.store(true, Ordering::SeqCst);
    eprintln!(
        "checker: drain {} after {:.1} s; closing the consumers",
        if drained { "complete" } else { "INCOMPLETE" },
        started.elapsed().as_secs_f64()
    );
    for handle in consumers {
        let ops = handle.await.context("a consumer task panicked")?;
        history.extend(ops);
    }
    let consumer_errors = progress
        .errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    let positions = progress
        .positions
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    let analysis = analyse(&history);
    Ok(WorkloadReport {
        target: target.name(),
        options: options.clone(),
        topic,
        elapsed: started.elapsed(),
        faults,
        end_offsets,
        drained,
        positions,
        producer_errors,
        consumer_errors,
        history,
        analysis,
    })
}

/// Injects faults for the run's duration (or just waits, on a target without fault
/// control), then undoes every fault. Returns what was done.
async fn fault_phase(
    target: &dyn Target,
    options: &WorkloadOptions,
    started: Instant,
) -> Vec<String> {
    let until = started + options.duration;
    let brokers = target.broker_ids();
    let Some(faults) = target
        .faults()
        .filter(|_| options.faults && !brokers.is_empty())
    else {
        tokio::time::sleep_until(until.into()).await;
        let why = if options.faults {
            format!("none: {} has no fault control", target.name())
        } else {
            "none: faults were turned off".to_owned()
        };
        return vec![why];
    };
    let mut rng = SplitMix64(options.seed);
    let mut log = inject_faults(faults, &brokers, &mut rng, started, until).await;
    match tokio::time::timeout(FAULT_CALL_TIMEOUT, faults.restore()).await {
        Ok(Ok(())) => log.push(format!(
            "{:>6.1} s  restored every broker",
            started.elapsed().as_secs_f64()
        )),
        Ok(Err(error)) => log.push(format!("restoring the brokers failed: {error:#}")),
        Err(_) => log.push(format!(
            "restoring the brokers took longer than {FAULT_CALL_TIMEOUT:?}"
        )),
    }
    for line in &log {
        eprintln!("checker: fault {line}");
    }
    log
}

/// A fault the schedule can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    /// Stop (crash) a broker, then start it again.
    Stop,
    /// Pause a broker, then resume it.
    Pause,
    /// Cut a broker off from the others, then heal.
    Isolate,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Stop => "stop+start",
            FaultKind::Pause => "pause+resume",
            FaultKind::Isolate => "isolate+heal",
        })
    }
}

async fn inject_faults(
    faults: &dyn FaultControl,
    brokers: &[i32],
    rng: &mut SplitMix64,
    started: Instant,
    until: Instant,
) -> Vec<String> {
    let mut kinds = vec![FaultKind::Stop, FaultKind::Pause, FaultKind::Isolate];
    let mut log = Vec::new();
    loop {
        let gap = Duration::from_millis(rng.between(FAULT_GAP_MS));
        if Instant::now() + gap >= until {
            tokio::time::sleep_until(until.into()).await;
            return log;
        }
        tokio::time::sleep(gap).await;
        let broker = brokers[rng.below(brokers.len())];
        let kind = kinds[rng.below(kinds.len())];
        let hold = Duration::from_millis(rng.between(FAULT_HOLD_MS));
        let at = started.elapsed().as_secs_f64();
        eprintln!("checker: {at:>6.1} s  {kind} broker {broker}, held {hold:?}");
        let fault_started = Instant::now();
        match apply_fault(faults, kind, broker, hold).await {
            Ok(()) => log.push(format!(
                "{at:>6.1} s  {kind} broker {broker}, held {:.1} s, undone after {:.1} s",
                hold.as_secs_f64(),
                fault_started.elapsed().as_secs_f64()
            )),
            Err(error) => {
                log.push(format!("{at:>6.1} s  {kind} broker {broker}: {error:#}"));
                if kind == FaultKind::Isolate {
                    // This target cannot cut a broker off; draw only what it can do.
                    kinds.retain(|k| *k != FaultKind::Isolate);
                }
            }
        }
    }
}

async fn apply_fault(
    faults: &dyn FaultControl,
    kind: FaultKind,
    broker: i32,
    hold: Duration,
) -> anyhow::Result<()> {
    async fn call(
        what: &str,
        future: futures::future::BoxFuture<'_, anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        tokio::time::timeout(FAULT_CALL_TIMEOUT, future)
            .await
            .map_err(|_| anyhow!("{what} took longer than {FAULT_CALL_TIMEOUT:?}"))?
            .with_context(|| what.to_owned())
    }
    let (inject, undo) = match kind {
        FaultKind::Stop => (faults.stop_broker(broker), faults.start_broker(broker)),
        FaultKind::Pause => (faults.pause_broker(broker), faults.resume_broker(broker)),
        FaultKind::Isolate => (faults.isolate_broker(broker), faults.heal()),
    };
    call("injecting", inject).await?;
    tokio::time::sleep(hold).await;
    call("undoing", undo).await
}

/// The workload's producer: librdkafka's, logging through [`DebugLog`].
type WorkloadProducer = FutureProducer<DebugLog>;

fn producer(
    bootstrap: &str,
    id: ProcessId,
    idempotence: bool,
    transactional_id: Option<&str>,
) -> anyhow::Result<WorkloadProducer> {
    let mut config = ClientConfig::new();
    if let Some(transactional_id) = transactional_id {
        config
            .set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS.to_string());
    }
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", format!("checker-producer-{id}"))
        .set("acks", "all")
        .set("enable.idempotence", idempotence.to_string())
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string())
        .set("request.timeout.ms", REQUEST_TIMEOUT_MS)
        .set("socket.timeout.ms", SOCKET_TIMEOUT_MS)
        .set("retry.backoff.ms", "100")
        .set("linger.ms", "5");
    if let Some(contexts) = debug_contexts() {
        config
            .set("debug", contexts)
            .set_log_level(RDKafkaLogLevel::Debug);
    }
    config
        .create_with_context(DebugLog {
            client: format!("producer {id}"),
        })
        .with_context(|| format!("creating producer {id}"))
}

/// What [`produce`] and [`produce_transactions`] return: the producer's history (sends in
/// the order made, transactions around them) and its errors by kind.
type ProducerHistory = (Vec<Op>, BTreeMap<String, usize>);

/// Sends until told to stop, then waits for every outcome.
async fn produce(
    id: ProcessId,
    producer: WorkloadProducer,
    topic: String,
    stop: Arc<AtomicBool>,
    interval: Duration,
) -> ProducerHistory {
    let mut sends: Vec<Send> = Vec::new();
    let mut errors = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    let mut sequence: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        while in_flight.len() >= IN_FLIGHT_PER_PRODUCER {
            if let Some((index, outcome)) = in_flight.next().await {
                settle(&mut sends, &mut errors, index, outcome);
            }
        }
        let partition = (sequence % PARTITIONS as u64) as i32;
        let value = format!("{id}-{sequence}");
        sequence += 1;
        let send = Send {
            producer: id,
            partition,
            value,
            outcome: SendOutcome::Unknown,
            txn: None,
        };
        in_flight.extend(send_one(&producer, &topic, send, &mut sends, &mut errors));
        tokio::time::sleep(interval).await;
    }
    while let Some((index, outcome)) = in_flight.next().await {
        settle(&mut sends, &mut errors, index, outcome);
    }
    close_off_runtime(producer).await;
    (sends.into_iter().map(Op::Send).collect(), errors)
}

/// One transactional producer of the workload.
struct TransactionalProducer {
    id: ProcessId,
    bootstrap: String,
    topic: String,
    /// Draws each transaction's partitions, size and ending.
    rng: SplitMix64,
    interval: Duration,
    /// The workload's start, which `invoked_ms` counts from.
    started: Instant,
}

impl TransactionalProducer {
    /// `transactional.id`: one per producer and run.
    fn transactional_id(&self) -> String {
        format!("{}-txn-{}", self.topic, self.id)
    }

    /// A new client with the producer's transactional id, initialised: the coordinator
    /// fences any earlier instance and ends its open transaction (KIP-98).
    async fn init(&self, errors: &mut BTreeMap<String, usize>) -> Option<WorkloadProducer> {
        let client = match producer(
            &self.bootstrap,
            self.id,
            true,
            Some(&self.transactional_id()),
        ) {
            Ok(client) => client,
            Err(error) => {
                count_error(errors, format!("creating: {error:#}"));
                return None;
            }
        };
        match txn_call(&client, |p| p.init_transactions(TXN_CALL_TIMEOUT)).await {
            Ok(()) => Some(client),
            Err(error) => {
                count_error(errors, format!("init_transactions: {error}"));
                close_off_runtime(client).await;
                None
            }
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// What librdkafka says a failed transactional call leaves the producer able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnErrorClass {
    /// The call may be made again.
    Retriable,
    /// The transaction must be aborted.
    Abortable,
    /// The producer is done for (fenced, for one); only a new instance goes on.
    Fatal,
}

/// A failed transactional call: its class and its text for the report.
#[derive(Debug)]
struct TxnError {
    class: TxnErrorClass,
    text: String,
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            TxnErrorClass::Retriable => "retriable",
            TxnErrorClass::Abortable => "abortable",
            TxnErrorClass::Fatal => "fatal",
        };
        write!(f, "{class}: {}", self.text)
    }
}

impl From<rdkafka::error::KafkaError> for TxnError {
    fn from(error: rdkafka::error::KafkaError) -> TxnError {
        let class = match &error {
            rdkafka::error::KafkaError::Transaction(e) if e.is_fatal() => TxnErrorClass::Fatal,
            rdkafka::error::KafkaError::Transaction(e) if e.txn_requires_abort() => {
                TxnErrorClass::Abortable
            }
            rdkafka::error::KafkaError::Transaction(e) if e.is_retriable() => {
                TxnErrorClass::Retriable
            }
            // Not classified by librdkafka: treat as the end of this instance.
            _ => TxnErrorClass::Fatal,
        };
        TxnError {
            class,
            text: error.to_string(),
        }
    }
}

/// Runs a blocking transactional call of librdkafka on the blocking pool (it blocks its
/// thread, and an in-process cluster's brokers run on the runtime's).
async fn txn_call(
    client: &WorkloadProducer,
    call: impl FnOnce(&WorkloadProducer) -> rdkafka::error::KafkaResult<()>
    + std::marker::Send
    + 'static,
) -> Result<(), TxnError> {
    let client = client.clone();
    match tokio::task::spawn_blocking(move || call(&client)).await {
        Ok(result) => result.map_err(TxnError::from),
        Err(join) => Err(TxnError {
            class: TxnErrorClass::Fatal,
            text: format!("the call panicked: {join}"),
        }),
    }
}

/// Transactions until told to stop: each begins, sends 1 to [`MAX_SENDS_PER_TXN`] records
/// to partitions drawn from the seed, waits for their delivery reports, then commits (or
/// aborts, one time in [`ABORT_ONE_IN`] or when a send was not acknowledged). An end that
/// fails beyond retries is [`TxnOutcome::Unknown`]: the client is dropped and a new one with
/// the same transactional id fences it and settles the transaction. The last client is
/// initialised again before it closes, so that no transaction is left open to hold the last
/// stable offset back.
async fn produce_transactions(
    mut this: TransactionalProducer,
    stop: Arc<AtomicBool>,
) -> ProducerHistory {
    let mut ops = Vec::new();
    let mut errors = BTreeMap::new();
    let mut client: Option<WorkloadProducer> = None;
    let mut txn: TxnId = 0;
    let mut sequence: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let current = match client.take() {
            Some(current) => current,
            None => match this.init(&mut errors).await {
                Some(fresh) => fresh,
                None => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        if let Err(error) = txn_call(&current, |p| p.begin_transaction()).await {
            count_error(&mut errors, format!("begin_transaction: {error}"));
            close_off_runtime(current).await;
            continue;
        }
        ops.push(Op::TxnBegin {
            producer: this.id,
            txn,
        });
        let count = 1 + this.rng.below(MAX_SENDS_PER_TXN);
        let mut sends: Vec<Send> = Vec::with_capacity(count);
        let mut in_flight = FuturesUnordered::new();
        for _ in 0..count {
            let partition = this.rng.below(PARTITIONS as usize) as i32;
            let value = format!("{}-{sequence}", this.id);
            sequence += 1;
            let send = Send {
                producer: this.id,
                partition,
                value,
                outcome: SendOutcome::Unknown,
                txn: Some(txn),
            };
            in_flight.extend(send_one(
                &current,
                &this.topic,
                send,
                &mut sends,
                &mut errors,
            ));
            tokio::time::sleep(this.interval).await;
        }
        while let Some((index, outcome)) = in_flight.next().await {
            settle(&mut sends, &mut errors, index, outcome);
        }
        let all_acked = sends
            .iter()
            .all(|s| matches!(s.outcome, SendOutcome::Acked { .. }));
        let commit = this.rng.below(ABORT_ONE_IN) != 0 && all_acked;
        let invoked_ms = this.elapsed_ms();
        let outcome = end_transaction(&current, commit, &mut errors).await;
        ops.extend(sends.into_iter().map(Op::Send));
        ops.push(Op::TxnEnd {
            producer: this.id,
            txn,
            outcome,
            invoked_ms,
        });
        txn += 1;
        if outcome == TxnOutcome::Unknown {
            close_off_runtime(current).await;
        } else {
            client = Some(current);
        }
    }
    if client.is_none() {
        // The last end was unknown: a new instance settles it (or nothing was ever begun).
        client = this.init(&mut errors).await;
    }
    if let Some(last) = client {
        close_off_runtime(last).await;
    }
    (ops, errors)
}

/// Commits (or aborts) the open transaction: a retriable failure is retried, a commit that
/// needs an abort is aborted, anything else leaves the outcome unknown.
async fn end_transaction(
    client: &WorkloadProducer,
    commit: bool,
    errors: &mut BTreeMap<String, usize>,
) -> TxnOutcome {
    let mut commit = commit;
    for _ in 0..TXN_END_ATTEMPTS {
        let result = if commit {
            txn_call(client, |p| p.commit_transaction(TXN_CALL_TIMEOUT)).await
        } else {
            txn_call(client, |p| p.abort_transaction(TXN_CALL_TIMEOUT)).await
        };
        let what = if commit { "commit" } else { "abort" };
        match result {
            Ok(()) if commit => return TxnOutcome::Committed,
            Ok(()) => return TxnOutcome::Aborted,
            Err(error) => {
                count_error(errors, format!("{what}: {error}"));
                match error.class {
                    TxnErrorClass::Retriable => {}
                    TxnErrorClass::Abortable if commit => commit = false,
                    TxnErrorClass::Abortable | TxnErrorClass::Fatal => return TxnOutcome::Unknown,
                }
            }
        }
    }
    TxnOutcome::Unknown
}

/// Hands `send` (its outcome `Unknown`) to the producer and appends it to `sends`. Returns
/// its delivery report, to come with the send's index; or none when the client refused the
/// record before it left (the send is then `Failed`: certainly not written).
fn send_one(
    producer: &WorkloadProducer,
    topic: &str,
    mut send: Send,
    sends: &mut Vec<Send>,
    errors: &mut BTreeMap<String, usize>,
) -> Option<impl std::future::Future<Output = (usize, DeliveryOutcome)> + use<>> {
    let index = sends.len();
    let record = FutureRecord::to(topic)
        .partition(send.partition)
        .key(&send.value)
        .payload(&send.value);
    let delivery = match producer.send_result(record) {
        Ok(delivery) => Some(delivery.map(move |outcome| (index, outcome))),
        Err((error, _)) => {
            count_error(errors, format!("enqueue: {error}"));
            send.outcome = SendOutcome::Failed;
            None
        }
    };
    sends.push(send);
    delivery
}

type DeliveryOutcome = Result<
    rdkafka::producer::future_producer::OwnedDeliveryResult,
    futures::channel::oneshot::Canceled,
>;

fn settle(
    sends: &mut [Send],
    errors: &mut BTreeMap<String, usize>,
    index: usize,
    outcome: DeliveryOutcome,
) {
    let Some(send) = sends.get_mut(index) else {
        return;
    };
    send.outcome = match outcome {
        // librdkafka reports some deliveries without an offset (-1001, OFFSET_INVALID): seen
        // on Kafka 4.3.1 under faults with idempotent producers (retried batches, it seems).
        // Written, but where is not known: as good as unknown to the checks.
        Ok(Ok(delivery)) if delivery.partition == send.partition && delivery.offset < 0 => {
            count_error(errors, "acknowledged without an offset".to_owned());
            SendOutcome::Unknown
        }
        Ok(Ok(delivery)) if delivery.partition == send.partition => SendOutcome::Acked {
            offset: delivery.offset,
        },
        Ok(Ok(delivery)) => {
            count_error(
                errors,
                format!("delivered to partition {} instead", delivery.partition),
            );
            SendOutcome::Unknown
        }
        Ok(Err((error, _))) => {
            count_error(errors, error.to_string());
            SendOutcome::Unknown
        }
        Err(_) => {
            count_error(errors, "delivery report lost".to_owned());
            SendOutcome::Unknown
        }
    };
}

/// Records a subscribed consumer's rebalances into its history, in order with its polls.
#[derive(Clone)]
struct RecordingContext {
    consumer: ProcessId,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl ClientContext for RecordingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        debug_log(
            &format!("consumer {}", self.consumer),
            level,
            fac,
            log_message,
        );
    }
}

/// A producer's context: its librdkafka log lines, when asked for (see [`debug_contexts`]).
struct DebugLog {
    client: String,
}

impl ClientContext for DebugLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        debug_log(&self.client, level, fac, log_message);
    }
}

/// To stderr when debugging, else where rdkafka sends log lines by default.
fn debug_log(client: &str, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
    if debug_contexts().is_some() {
        eprintln!(
            "{:.3} {client} {level:?} {fac} {log_message}",
            debug_clock()
        );
    } else {
        DefaultClientContext.log(level, fac, log_message);
    }
}

/// librdkafka debug contexts for the clients from `KAFKA_SPEC_CHECKER_DEBUG` (e.g.
/// `fetch,broker,metadata`): their log lines go to stderr, stamped with the seconds since
/// the first one. For finding out what a consumer waits on; off unless set.
fn debug_contexts() -> Option<&'static str> {
    static CONTEXTS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CONTEXTS
        .get_or_init(|| {
            std::env::var("KAFKA_SPEC_CHECKER_DEBUG")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

fn debug_clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

impl ConsumerContext for RecordingContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = match rebalance {
            Rebalance::Assign(list) => list.elements().iter().map(|e| e.partition()).collect(),
            Rebalance::Revoke(_) | Rebalance::Error(_) => Vec::new(),
        };
        if let Ok(mut ops) = self.ops.lock() {
            ops.push(Op::Rebalance {
                consumer: self.consumer,
                partitions,
            });
        }
    }
}

/// How far each consumer has read, and what went wrong, shared with the drain.
struct Progress {
    /// `[consumer][partition]`: the next offset it will read.
    positions: Mutex<Vec<Vec<i64>>>,
    errors: Mutex<BTreeMap<String, usize>>,
}

impl Progress {
    fn new(consumers: usize) -> Progress {
        Progress {
            positions: Mutex::new(vec![vec![0; PARTITIONS as usize]; consumers]),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn advance(&self, consumer: usize, partition: i32, next: i64) {
        if let Ok(mut positions) = self.positions.lock()
            && let Some(slot) = positions
                .get_mut(consumer)
                .and_then(|p| p.get_mut(partition as usize))
        {
            *slot = (*slot).max(next);
        }
    }

    /// Assigned: every consumer reached every end. Subscribed: some consumer reached each.
    fn drained(&self, ends: &[i64], mode: ConsumerMode) -> bool {
        let Ok(positions) = self.positions.lock() else {
            return false;
        };
        let reached = |p: usize, end: i64| positions.iter().filter(|c| c[p] >= end).count();
        ends.iter().enumerate().all(|(p, end)| match mode {
            ConsumerMode::Assign => reached(p, *end) == positions.len(),
            ConsumerMode::Subscribe => reached(p, *end) > 0,
        })
    }

    async fn wait_until_drained(
        &self,
        ends: &[i64],
        mode: ConsumerMode,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.drained(ends, mode) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One consumer and the history it records.
struct ConsumerWorker {
    index: usize,
    id: ProcessId,
    consumer: StreamConsumer<RecordingContext>,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl ConsumerWorker {
    fn start(
        bootstrap: &str,
        topic: &str,
        index: u32,
        mode: ConsumerMode,
    ) -> anyhow::Result<ConsumerWorker> {
        let id = FIRST_CONSUMER_ID + index;
        let ops = Arc::new(Mutex::new(Vec::new()));
        let context = RecordingContext {
            consumer: id,
            ops: ops.clone(),
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("client.id", format!("checker-consumer-{index}"))
            .set("group.id", format!("{topic}-group"))
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .set("socket.timeout.ms", SOCKET_TIMEOUT_MS)
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set(
                "enable.auto.commit",
                (mode == ConsumerMode::Subscribe).to_string(),
            )
            .set("auto.commit.interval.ms", "1000");
        if let Some(contexts) = debug_contexts() {
            config
                .set("debug", contexts)
                .set_log_level(RDKafkaLogLevel::Debug);
        }
        let consumer = StreamConsumer::from_config_and_context(&config, context)
            .with_context(|| format!("creating consumer {index}"))?;
        match mode {
            ConsumerMode::Assign => {
                let mut list = TopicPartitionList::new();
                for partition in 0..PARTITIONS {
                    list.add_partition_offset(topic, partition, Offset::Beginning)
                        .context("building an assignment")?;
                }
                consumer.assign(&list).context("assigning partitions")?;
                if let Ok(mut ops) = ops.lock() {
                    ops.push(Op::Assign {
                        consumer: id,
                        partitions: (0..PARTITIONS).collect(),
                    });
                }
            }
            ConsumerMode::Subscribe => consumer.subscribe(&[topic]).context("subscribing")?,
        }
        Ok(ConsumerWorker {
            index: index as usize,
            id,
            consumer,
            ops,
        })
    }

    /// Advances the progress to librdkafka's position of each partition: past the last
    /// record returned and past the control records (transaction markers) after it, which
    /// take offsets but are never returned.
    fn report_position(&self, progress: &Progress) {
        let Ok(list) = self.consumer.position() else {
            return;
        };
        for element in list.elements() {
            if let Offset::Offset(next) = element.offset() {
                progress.advance(self.index, element.partition(), next);
            }
        }
    }

    /// Polls until told to stop; returns the consumer's history.
    async fn run(
        self,
        progress: Arc<Progress>,
        stop: Arc<AtomicBool>,
        started: Instant,
    ) -> Vec<Op> {
        while !stop.load(Ordering::SeqCst) {
            let message = match tokio::time::timeout(RECV_SLICE, self.consumer.recv()).await {
                Err(_) => {
                    self.report_position(&progress);
                    continue;
                }
                Ok(Err(error)) => {
                    if let Ok(mut errors) = progress.errors.lock() {
                        count_error(&mut errors, error.to_string());
                    }
                    continue;
                }
                Ok(Ok(message)) => message,
            };
            let (partition, offset) = (message.partition(), message.offset());
            let value = message
                .payload()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            let poll = Poll {
                consumer: self.id,
                partition,
                records: vec![(offset, value)],
                at_ms: started.elapsed().as_millis() as u64,
            };
            if let Ok(mut ops) = self.ops.lock() {
                ops.push(Op::Poll(poll));
            }
            progress.advance(self.index, partition, offset + 1);
        }
        if let Ok(list) = self.consumer.subscription()
            && list.count() > 0
        {
            self.consumer.unsubscribe();
        }
        close_off_runtime(self.consumer).await;
        Arc::try_unwrap(self.ops)
            .map(|m| m.into_inner().unwrap_or_default())
            .unwrap_or_else(|shared| shared.lock().map(|ops| ops.clone()).unwrap_or_default())
    }
}

/// Drops a librdkafka client on a thread of its own: closing one (leaving a group, finishing
/// requests) blocks until brokers answer, and the brokers of an in-process cluster run on the
/// runtime's threads, which a blocking close would starve. Waits up to [`CLOSE_TIMEOUT`];
/// a client that takes longer is left closing on its thread.
async fn close_off_runtime<T: std::marker::Send + 'static>(client: T) {
    let (closed, done) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        drop(client);
        let _ = closed.send(());
    });
    if tokio::time::timeout(CLOSE_TIMEOUT, done).await.is_err() {
        eprintln!("checker: a client took longer than {CLOSE_TIMEOUT:?} to close; left closing");
    }
}

/// Creates the workload's topic and waits until every partition has a leader and all its
/// replicas.
async fn create_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "checker-admin")
        .create()
        .context("creating an admin client")?;
    let new_topic = NewTopic::new(
        topic,
        PARTITIONS,
        TopicReplication::Fixed(REPLICATION_FACTOR),
    )
    .set("min.insync.replicas", MIN_INSYNC_REPLICAS);
    let results = tokio::time::timeout(
        TOPIC_READY_TIMEOUT,
        admin.create_topics([&new_topic], &AdminOptions::new()),
    )
    .await
    .map_err(|_| anyhow!("creating topic {topic} took longer than {TOPIC_READY_TIMEOUT:?}"))?
    .context("CreateTopics")?;
    for result in results {
        if let Err((name, code)) = result {
            bail!("creating topic {name}: {code:?}");
        }
    }
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || wait_for_replicas(&bootstrap, &topic))
        .await
        .context("the metadata task panicked")?
}

fn metadata_client(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "checker-metadata")
        .set("group.id", "checker-metadata")
        .set("isolation.level", "read_committed")
        .set("socket.timeout.ms", SOCKET_TIMEOUT_MS)
        .create()
        .context("creating a metadata client")
}

fn wait_for_replicas(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let client = metadata_client(bootstrap)?;
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    let mut last = String::from("no metadata yet");
    while Instant::now() < deadline {
        match client.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(metadata) => {
                let ready = metadata.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions().len() == PARTITIONS as usize
                        && t.partitions().iter().all(|p| {
                            p.error().is_none()
                                && p.leader() >= 0
                                && p.isr().len() == REPLICATION_FACTOR as usize
                        })
                });
                if ready {
                    return Ok(());
                }
                last = "not every partition has a leader and all replicas in sync".to_owned();
            }
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("topic {topic} not ready within {TOPIC_READY_TIMEOUT:?}: {last}")
}

/// Each partition's end offset (high watermark; last stable offset for read_committed, the
/// same without transactions), retried until every broker answers again.
async fn end_offsets(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<i64>> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let client = metadata_client(&bootstrap)?;
        let deadline = Instant::now() + END_OFFSETS_TIMEOUT;
        let mut ends = Vec::new();
        for partition in 0..PARTITIONS {
            loop {
                match client.fetch_watermarks(&topic, partition, Duration::from_secs(5)) {
                    Ok((_, high)) => {
                        ends.push(high);
                        break;
                    }
                    Err(error) if Instant::now() >= deadline => {
                        bail!("the end offset of {topic}/{partition}: {error}")
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        }
        Ok(ends)
    })
    .await
    .context("the end-offsets task panicked")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_without_an_offset_is_no_acknowledged_offset() {
        use rdkafka::message::Timestamp;
        use rdkafka::producer::future_producer::Delivery;
        let send = |value: &str| Send {
            producer: 0,
            partition: 1,
            value: value.to_owned(),
            outcome: SendOutcome::Unknown,
            txn: None,
        };
        let delivered = |offset| {
            Ok(Ok(Delivery {
                partition: 1,
                offset,
                timestamp: Timestamp::NotAvailable,
            }))
        };
        let mut sends = vec![send("0-0"), send("0-1")];
        let mut errors = BTreeMap::new();
        settle(&mut sends, &mut errors, 0, delivered(7));
        settle(&mut sends, &mut errors, 1, delivered(-1001));
        assert_eq!(sends[0].outcome, SendOutcome::Acked { offset: 7 });
        assert_eq!(sends[1].outcome, SendOutcome::Unknown);
        assert_eq!(errors.get("acknowledged without an offset"), Some(&1));
    }

    #[test]
    fn the_fault_schedule_is_a_function_of_the_seed() {
        let draw = |seed| {
            let mut rng = SplitMix64(seed);
            (0..8)
                .map(|_| (rng.between(FAULT_GAP_MS), rng.below(3), rng.below(3)))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        for (gap, broker, kind) in draw(7) {
            assert!((FAULT_GAP_MS.0..=FAULT_GAP_MS.1).contains(&gap));
            assert!(broker < 3 && kind < 3);
        }
    }

    #[test]
    fn only_duplicates_and_reordered_sends_are_expected_without_idempotence() {
        let mut options = WorkloadOptions::new(1, Duration::from_secs(1));
        assert!(options.allowed().is_empty());
        options.idempotence = false;
        assert_eq!(
            options.allowed(),
            [Anomaly::Duplicate, Anomaly::NonmonotonicSend].into()
        );
    }

    #[test]
    fn the_drain_needs_every_assigned_consumer_or_one_subscribed_owner() {
        let progress = Progress::new(2);
        let ends = [2, 0, 1];
        progress.advance(0, 0, 2);
        progress.advance(0, 2, 1);
        assert!(progress.drained(&ends, ConsumerMode::Subscribe));
        assert!(!progress.drained(&ends, ConsumerMode::Assign));
        progress.advance(1, 0, 2);
        progress.advance(1, 2, 1);
        assert!(progress.drained(&ends, ConsumerMode::Assign));
    }
}
