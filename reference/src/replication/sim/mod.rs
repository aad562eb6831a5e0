//! A seeded, deterministic simulation of a replicated cluster: the [controller](crate::controller)
//! and one [`Partition`](crate::replication::Partition) core per replica on each of N brokers,
//! over in-memory logs, a simulated network and a simulated clock, with a client producing
//! acks=all and consuming, and faults: crashes (of the process, or with power loss), restarts,
//! network cuts and heals, dropped messages.
//!
//! Everything is a function of the seed: one [`SplitMix64`] draws delays, faults and client
//! actions, time advances by a fixed step, and no thread, clock or hash order is involved.
//! After every step the [`checker`] verifies Kafka's guarantees (see its docs for the exact
//! invariants and their premise). A failing run names its preset and seed, and
//! `SIM_CONFIG=<preset> SIM_SEED=<seed> cargo test -p kafka-spec-reference replays_one_seed`
//! replays it; `SIM_SEEDS=1000` runs a thousand seeds of each preset instead of the default 8.
//!
//! # Why it is shaped so
//!
//! The brokers here run the same cores the wire layer will run, and speak the same requests
//! (BrokerRegistration, BrokerHeartbeat with metadata, AlterPartition, Fetch with replica state,
//! OffsetForLeaderEpoch, Produce, consumer Fetch) as messages, so a bug the simulation finds
//! is a bug of the broker, not of a model of it. This is raft-rs's harness (a network you can
//! cut, isolate and recover) and the "seeded simulation mode" of the design.
//!
//! # References
//! - raft-rs `harness` (`Network`, `cut`, `isolate`, `recover`); FoundationDB / TigerBeetle
//!   deterministic simulation
//! - Kafka documentation, "Replication" (the guarantee and its premise), KIP-101, KIP-279,
//!   KIP-497, KIP-903, KIP-966

mod broker;
pub mod checker;
mod client;
mod network;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use uuid::Uuid;

pub use broker::Crash;
use broker::{Event, Outbox, SimBroker};
use checker::{CheckStats, Checker};
use client::Client;
pub use network::Node;
use network::{Envelope, Message, Network};

use crate::controller::{Controller, ControllerConfig, SplitMix64};

/// The simulated topic.
pub const TOPIC: &str = "orders";

/// Timings (ms), scaled down from Kafka's defaults so failovers happen within seconds.
pub mod timing {
    /// Simulated time starts far from 0 (Kafka's clock is the wall clock).
    pub const START_MS: i64 = 1_000_000_000;
    pub const STEP_MS: i64 = 10;
    /// `broker.heartbeat.interval.ms`
    pub const HEARTBEAT_INTERVAL_MS: i64 = 50;
    /// `broker.session.timeout.ms`
    pub const BROKER_SESSION_TIMEOUT_MS: i64 = 500;
    /// `replica.lag.time.max.ms`
    pub const REPLICA_LAG_TIME_MAX_MS: i64 = 400;
    pub const REGISTER_RETRY_MS: i64 = 100;
    /// A follower resends a request unanswered for this long.
    pub const FETCH_TIMEOUT_MS: i64 = 200;
    /// `replica.fetch.backoff.ms` after an empty answer.
    pub const FETCH_BACKOFF_MS: i64 = 20;
    pub const ALTER_PARTITION_RESEND_MS: i64 = 200;
    /// The produce request's `timeout.ms` (acks=all wait).
    pub const PRODUCE_TIMEOUT_MS: i64 = 1_500;
    /// The client's `request.timeout.ms`.
    pub const CLIENT_TIMEOUT_MS: i64 = 2_000;
    /// The OS writes dirty pages back this often.
    pub const FLUSH_INTERVAL_MS: i64 = 300;
    pub const MAX_FETCH_BYTES: usize = 64 * 1024;
    pub const MAX_IN_FLIGHT_PER_PARTITION: usize = 3;
    pub const MAX_NETWORK_DELAY_MS: i64 = 15;
}
use timing::*;

/// How often faults happen, per step, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultConfig {
    pub crash_per_mille: u64,
    /// Half of the crashes lose unflushed data.
    pub power_loss: bool,
    pub restart_per_mille: u64,
    pub cut_per_mille: u64,
    pub heal_per_mille: u64,
    pub drop_per_mille: u64,
    /// Messages delayed by 0.1 to 1 s (and the ones behind them on their connection).
    pub stall_per_mille: u64,
}

impl FaultConfig {
    pub const NONE: FaultConfig = FaultConfig {
        crash_per_mille: 0,
        power_loss: false,
        restart_per_mille: 0,
        cut_per_mille: 0,
        heal_per_mille: 0,
        drop_per_mille: 0,
        stall_per_mille: 0,
    };

    pub const DEFAULT: FaultConfig = FaultConfig {
        crash_per_mille: 4,
        power_loss: false,
        restart_per_mille: 25,
        cut_per_mille: 4,
        heal_per_mille: 15,
        drop_per_mille: 5,
        stall_per_mille: 2,
    };
}

/// One simulated cluster's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// The preset's name, for replaying (`SIM_CONFIG`).
    pub label: &'static str,
    pub seed: u64,
    pub brokers: i32,
    pub partitions: i32,
    pub replication_factor: i16,
    pub min_insync_replicas: i32,
    pub unclean_leader_election_enable: bool,
    pub faults: FaultConfig,
}

impl SimConfig {
    /// RF 3, `min.insync.replicas=2`, unclean election off, crashes with and without power
    /// loss: Kafka's durable configuration.
    pub fn durable(seed: u64) -> SimConfig {
        SimConfig {
            label: "durable",
            seed,
            brokers: 3,
            partitions: 2,
            replication_factor: 3,
            min_insync_replicas: 2,
            unclean_leader_election_enable: false,
            faults: FaultConfig {
                power_loss: true,
                ..FaultConfig::DEFAULT
            },
        }
    }

    /// Kafka's durable configuration under five times the faults, cuts and drops: failovers
    /// follow each other before followers have caught up.
    pub fn chaos(seed: u64) -> SimConfig {
        SimConfig {
            label: "chaos",
            faults: FaultConfig {
                crash_per_mille: 20,
                power_loss: true,
                restart_per_mille: 60,
                cut_per_mille: 25,
                heal_per_mille: 40,
                drop_per_mille: 30,
                stall_per_mille: 10,
            },
            ..SimConfig::durable(seed)
        }
    }

    /// A preset by its label.
    pub fn named(label: &str, seed: u64) -> Option<SimConfig> {
        match label {
            "durable" => Some(SimConfig::durable(seed)),
            "chaos" => Some(SimConfig::chaos(seed)),
            "min_isr_one" => Some(SimConfig::min_isr_one(seed)),
            _ => None,
        }
    }

    /// RF 3, `min.insync.replicas=1`, unclean election off, process crashes only.
    pub fn min_isr_one(seed: u64) -> SimConfig {
        SimConfig {
            label: "min_isr_one",
            min_insync_replicas: 1,
            faults: FaultConfig::DEFAULT,
            ..SimConfig::durable(seed)
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    pub steps: u64,
    pub produced: u64,
    pub acked: u64,
    pub crashes: u64,
    pub power_losses: u64,
    pub restarts: u64,
    pub cuts: u64,
    pub truncations: u64,
    pub leader_changes: u64,
    pub messages: u64,
    pub dropped: u64,
    pub consumed_offsets: i64,
    pub checks: CheckStats,
    pub violations: Vec<String>,
}

/// The simulated cluster. See the module docs.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    now_ms: i64,
    steps: u64,
    rng: SplitMix64,
    controller: Controller,
    brokers: Vec<SimBroker>,
    network: Network,
    client: Client,
    checker: Checker,
    topic_id: Option<Uuid>,
    /// Faults drawn from the seed; off in scripted scenarios.
    pub auto_faults: bool,
    trace: VecDeque<String>,
    report: SimReport,
    last_leader_epochs: Vec<i32>,
}

impl Sim {
    /// Starts the brokers, waits until all are registered and unfenced, creates the topic.
    pub fn new(config: SimConfig) -> Sim {
        let controller_config = ControllerConfig {
            broker_session_timeout_ms: BROKER_SESSION_TIMEOUT_MS,
            min_insync_replicas: config.min_insync_replicas,
            unclean_leader_election_enable: config.unclean_leader_election_enable,
            ..ControllerConfig::default()
        };
        let mut sim = Sim {
            config,
            now_ms: START_MS,
            steps: 0,
            rng: SplitMix64::new(config.seed),
            controller: Controller::new(controller_config, config.seed),
            brokers: (1..=config.brokers).map(SimBroker::new).collect(),
            network: Network::new(
                MAX_NETWORK_DELAY_MS,
                config.faults.drop_per_mille,
                config.faults.stall_per_mille,
            ),
            client: Client::default(),
            checker: Checker::default(),
            topic_id: None,
            auto_faults: true,
            trace: VecDeque::new(),
            report: empty_report(config.seed),
            last_leader_epochs: vec![0; config.partitions.max(0) as usize],
        };
        for broker in &mut sim.brokers {
            broker.start(START_MS);
        }
        while sim
            .controller
            .image()
            .brokers()
            .filter(|b| !b.fenced)
            .count()
            < config.brokers as usize
            && sim.now_ms < START_MS + 60_000
        {
            sim.advance();
        }
        let topic_id =
            sim.controller
                .create_topic(TOPIC, config.partitions, config.replication_factor, &[]);
        sim.topic_id = topic_id.ok();
        sim.client.auto_produce = true;
        sim.client.needs_metadata = true;
        sim
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// One step: faults, deliveries, timers, client, checks.
    pub fn step(&mut self) {
        if self.auto_faults {
            self.inject_faults();
        }
        self.advance();
        let topic_id = self.topic_id.unwrap_or_default();
        self.checker
            .check_step(topic_id, self.controller.image(), &self.brokers);
        self.count_leader_changes();
        self.steps += 1;
    }

    /// Runs `steps` steps, stopping at the first violation.
    pub fn run(&mut self, steps: u64) -> SimReport {
        for _ in 0..steps {
            self.step();
            if !self.checker.violations.is_empty() {
                break;
            }
        }
        self.report()
    }

    /// Runs for `duration_ms` of simulated time.
    pub fn run_for_ms(&mut self, duration_ms: i64) -> SimReport {
        self.run((duration_ms / STEP_MS).max(1) as u64)
    }

    fn advance(&mut self) {
        self.now_ms += STEP_MS;
        while let Some(envelope) = self.network.next_due(self.now_ms) {
            self.deliver(envelope);
        }
        self.controller.tick(self.now_ms);
        for index in 0..self.brokers.len() {
            let outbox = self.brokers[index].on_timers(self.now_ms);
            self.dispatch(index, outbox);
        }
        self.client_step();
    }

    fn deliver(&mut self, envelope: Envelope) {
        match envelope.to {
            Node::Controller => self.serve_controller(envelope),
            Node::Broker(id) => {
                let Some(index) = self.broker_index(id) else {
                    return;
                };
                let broker = &mut self.brokers[index];
                let wrong_incarnation = envelope
                    .to_incarnation
                    .is_some_and(|i| i != broker.incarnation);
                if !broker.up || wrong_incarnation {
                    return;
                }
                let outbox = broker.handle(&envelope, self.now_ms);
                self.dispatch(index, outbox);
            }
            Node::Client => self.serve_client(envelope),
        }
    }

    fn serve_controller(&mut self, envelope: Envelope) {
        let now_ms = self.now_ms;
        let reply = match &envelope.message {
            Message::Register {
                broker_id,
                incarnation_id,
            } => Message::RegisterReply(self.controller.register_broker(
                *broker_id,
                *incarnation_id,
                now_ms,
            )),
            Message::Heartbeat(heartbeat) => {
                let result = self.controller.heartbeat(heartbeat, now_ms);
                let metadata = self
                    .controller
                    .fetch_metadata(heartbeat.current_metadata_offset, 256);
                let metadata_end = self.controller.metadata_offset();
                Message::HeartbeatReply {
                    result,
                    metadata,
                    metadata_end,
                }
            }
            Message::AlterPartition(request) => {
                let result = self.controller.alter_partition(request);
                Message::AlterPartitionReply {
                    sent: request.clone(),
                    result,
                }
            }
            _ => return,
        };
        let reply = Envelope {
            from: Node::Controller,
            from_incarnation: 0,
            to: envelope.from,
            to_incarnation: Some(envelope.from_incarnation),
            message: reply,
        };
        self.network.send(reply, now_ms, &mut self.rng);
    }

    fn serve_client(&mut self, envelope: Envelope) {
        match envelope.message {
            Message::ProduceReply { request_id, result } => {
                if let Some(ack) = self.client.on_produce_reply(request_id, result) {
                    self.checker
                        .on_ack(ack.partition, ack.base_offset, &ack.producer_bytes);
                }
            }
            Message::ConsumerFetchReply {
                partition,
                offset,
                response,
            } => {
                let next = self.checker.on_consumer_read(partition, offset, &response);
                self.client.on_consumer_reply(partition, &response, next);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, index: usize, outbox: Outbox) {
        let broker = &self.brokers[index];
        let (from, from_incarnation) = (Node::Broker(broker.id), broker.incarnation);
        for (to, to_incarnation, message) in outbox.sends {
            let envelope = Envelope {
                from,
                from_incarnation,
                to,
                to_incarnation,
                message,
            };
            self.network.send(envelope, self.now_ms, &mut self.rng);
        }
        let id = self.brokers[index].id;
        for event in outbox.events {
            self.on_event(id, event);
        }
    }

    fn on_event(&mut self, broker: i32, event: Event) {
        match event {
            Event::LeaderAppend {
                partition,
                leader_epoch,
                partition_epoch,
            } => {
                self.checker
                    .on_leader_append(broker, partition, leader_epoch, partition_epoch);
            }
            Event::Truncated { partition, to } => {
                self.report.truncations += 1;
                self.checker.on_truncated(broker, partition, to);
                self.note(format!("b{broker} truncated partition {partition} to {to}"));
            }
            Event::PowerLoss {
                partition,
                broker_epoch,
                previous_end,
                recovered_end,
            } => {
                let lost = recovered_end < previous_end;
                self.checker
                    .on_power_loss(broker, broker_epoch, partition, recovered_end, lost);
                self.note(format!(
                    "b{broker} recovered partition {partition} to {recovered_end}"
                ));
            }
            Event::Trace(line) => self.note(line),
        }
    }

    fn client_step(&mut self) {
        if self.topic_id.is_none() {
            return;
        }
        if self.client.needs_metadata || self.steps.is_multiple_of(50) {
            self.refresh_client_metadata();
        }
        let sends = self
            .client
            .on_step(self.config.partitions, self.now_ms, &mut self.rng);
        for (to, message) in sends {
            self.send_from_client(to, message);
        }
    }

    fn send_from_client(&mut self, to: Node, message: Message) {
        let envelope = Envelope {
            from: Node::Client,
            from_incarnation: 0,
            to,
            to_incarnation: None,
            message,
        };
        self.network.send(envelope, self.now_ms, &mut self.rng);
    }

    /// The client asks a random live broker for metadata (instantly; its answer may be stale).
    fn refresh_client_metadata(&mut self) {
        let up: Vec<usize> = (0..self.brokers.len())
            .filter(|&i| self.brokers[i].up)
            .collect();
        if up.is_empty() {
            return;
        }
        let index = up[self.rng.below(up.len() as u64) as usize];
        let Some(topic) = self.brokers[index].image.topic_by_name(TOPIC) else {
            return;
        };
        for (p, registration) in topic.partitions.iter().enumerate() {
            self.client.leaders.insert(p as i32, registration.leader);
        }
        self.client.needs_metadata = false;
    }

    /// Produces one batch of `count` records to `partition` now (scripted scenarios).
    pub fn produce(&mut self, partition: i32, count: usize) {
        self.refresh_client_metadata();
        if let Some((to, message)) = self.client.produce(partition, count, self.now_ms) {
            self.send_from_client(to, message);
        }
    }

    /// Checks partitions even after Kafka's premise is lost (to show what happens then).
    pub fn check_past_the_premise(&mut self) {
        self.checker.ignore_premise = true;
    }

    /// Stops producing automatically (scripted scenarios).
    pub fn stop_producing(&mut self) {
        self.client.auto_produce = false;
    }

    pub fn crash(&mut self, broker: i32, crash: Crash) {
        let Some(index) = self.broker_index(broker) else {
            return;
        };
        if !self.brokers[index].up {
            return;
        }
        self.report.crashes += 1;
        if crash == Crash::PowerLoss {
            self.report.power_losses += 1;
        }
        self.note(format!("b{broker} crashes ({crash:?})"));
        let events = self.brokers[index].crash(crash, self.now_ms);
        for event in events {
            self.on_event(broker, event);
        }
    }

    pub fn restart(&mut self, broker: i32) {
        let Some(index) = self.broker_index(broker) else {
            return;
        };
        if self.brokers[index].up {
            return;
        }
        self.report.restarts += 1;
        self.note(format!("b{broker} restarts"));
        self.brokers[index].start(self.now_ms);
    }

    /// Cuts `node` off from everyone (controller, brokers, client).
    pub fn isolate(&mut self, node: Node) {
        self.report.cuts += 1;
        self.note(format!("{node:?} isolated"));
        let all = self.nodes();
        self.network.isolate(node, &all);
    }

    pub fn cut(&mut self, a: Node, b: Node) {
        self.report.cuts += 1;
        self.note(format!("{a:?} <-> {b:?} cut"));
        self.network.cut(a, b);
    }

    pub fn heal(&mut self) {
        if self.network.cut_links() > 0 {
            self.note("network healed".into());
        }
        self.network.heal();
    }

    fn nodes(&self) -> Vec<Node> {
        let mut nodes = vec![Node::Controller, Node::Client];
        nodes.extend(self.brokers.iter().map(|b| Node::Broker(b.id)));
        nodes
    }

    fn inject_faults(&mut self) {
        let faults = self.config.faults;
        let ids: Vec<i32> = self.brokers.iter().map(|b| b.id).collect();
        let up: Vec<i32> = self.brokers.iter().filter(|b| b.up).map(|b| b.id).collect();
        let down: Vec<i32> = self
            .brokers
            .iter()
            .filter(|b| !b.up)
            .map(|b| b.id)
            .collect();
        if up.len() > 1 && self.rng.chance(faults.crash_per_mille, 1000) {
            let victim = up[self.rng.below(up.len() as u64) as usize];
            let crash = if faults.power_loss && self.rng.chance(1, 2) {
                Crash::PowerLoss
            } else {
                Crash::Process
            };
            self.crash(victim, crash);
        }
        if !down.is_empty() && self.rng.chance(faults.restart_per_mille, 1000) {
            let index = self.rng.below(down.len() as u64) as usize;
            self.restart(down[index]);
        }
        if self.rng.chance(faults.cut_per_mille, 1000) {
            let a = ids[self.rng.below(ids.len() as u64) as usize];
            if self.rng.chance(1, 2) {
                self.isolate(Node::Broker(a));
            } else {
                let b = ids[self.rng.below(ids.len() as u64) as usize];
                if a != b {
                    self.cut(Node::Broker(a), Node::Broker(b));
                }
            }
        }
        if self.rng.chance(faults.heal_per_mille, 1000) {
            self.heal();
        }
    }

    fn count_leader_changes(&mut self) {
        let Some(topic) = self
            .topic_id
            .and_then(|id| self.controller.image().topic(id))
        else {
            return;
        };
        for (p, registration) in topic.partitions.iter().enumerate() {
            let Some(last) = self.last_leader_epochs.get_mut(p) else {
                continue;
            };
            if registration.leader_epoch > *last {
                self.report.leader_changes += (registration.leader_epoch - *last) as u64;
                *last = registration.leader_epoch;
            }
        }
    }

    fn broker_index(&self, id: i32) -> Option<usize> {
        self.brokers.iter().position(|b| b.id == id)
    }

    fn note(&mut self, line: String) {
        if self.trace.len() >= 60 {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("{:>7} ms  {line}", self.now_ms - START_MS));
    }

    /// The last events, oldest first (printed with a failure).
    pub fn trace(&self) -> Vec<String> {
        self.trace.iter().cloned().collect()
    }

    pub fn report(&self) -> SimReport {
        let mut report = self.report.clone();
        report.steps = self.steps;
        report.produced = self.client.produced;
        report.acked = self.client.acked;
        report.messages = self.network.sent;
        report.dropped = self.network.dropped;
        report.consumed_offsets = (0..self.config.partitions)
            .map(|p| self.client.position(p))
            .sum();
        report.checks = self.checker.stats;
        report.violations = self.checker.violations.clone();
        report
    }

    /// The leader the controller names for `partition`.
    pub fn leader(&self, partition: i32) -> i32 {
        self.controller
            .partition(TOPIC, partition)
            .map_or(crate::controller::NO_LEADER, |p| p.leader)
    }

    pub fn isr(&self, partition: i32) -> Vec<i32> {
        self.controller
            .partition(TOPIC, partition)
            .map_or_else(Vec::new, |p| p.isr.clone())
    }
}

fn empty_report(seed: u64) -> SimReport {
    SimReport {
        seed,
        steps: 0,
        produced: 0,
        acked: 0,
        crashes: 0,
        power_losses: 0,
        restarts: 0,
        cuts: 0,
        truncations: 0,
        leader_changes: 0,
        messages: 0,
        dropped: 0,
        consumed_offsets: 0,
        checks: CheckStats::default(),
        violations: Vec::new(),
    }
}

/// Runs one seed for `steps` steps; a violation comes back with the seed and the trace.
pub fn run_seed(config: SimConfig, steps: u64) -> Result<SimReport, String> {
    let mut sim = Sim::new(config);
    let report = sim.run(steps);
    if report.violations.is_empty() {
        return Ok(report);
    }
    Err(format!(
        "seed {} failed after {} steps ({config:?}):\n  {}\nlast events:\n  {}\nreplay: SIM_CONFIG={} SIM_SEED={} SIM_STEPS={steps} cargo test -p kafka-spec-reference replays_one_seed -- --nocapture",
        config.seed,
        report.steps,
        report.violations.join("\n  "),
        sim.trace().join("\n  "),
        config.label,
        config.seed,
    ))
}
