//! A simulated broker: registration and heartbeats to the controller, a metadata image built
//! from the records it fetches, one [`Partition`] core per replica it holds, a fetcher per
//! followed partition, and what survives a crash.
//!
//! Durability follows Kafka's defaults: appends go to the page cache and are fsynced only by
//! the OS's periodic write-back (modelled as a flush every `FLUSH_INTERVAL_MS`). A process
//! crash keeps everything written; a power loss keeps what was flushed and the leader epoch
//! checkpoint (which Kafka writes synchronously), and the log is cut back to the last flush.
//! A restarted broker is a new incarnation: it registers again, and its old replicas come
//! back from disk only once it knows its new broker epoch.
//!
//! Metadata is acted on as Kafka's `MetadataLoader` publishes it: nothing until the image has
//! caught up with the end of the metadata log once (a restarted broker never acts on the
//! history it replays), then each fetched batch of records as one delta, so every changed
//! partition goes straight to its latest state.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::network::{Envelope, Message, Node};
use super::timing::*;
use crate::controller::{BrokerHeartbeat, MetadataFetch, MetadataImage, ReplicaRole};
use crate::log::{LeaderEpochCache, Log, LogConfig};
use crate::replication::{
    Effects, EpochEndOffset, FollowerRequest, Partition, ReplicaFetchResponse, ReplicationConfig,
};

/// How a broker goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// kill -9: the page cache survives, nothing written is lost.
    Process,
    /// The machine loses power: writes since the last flush are lost.
    PowerLoss,
}

/// Something the checker or the trace should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LeaderAppend {
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    Truncated {
        partition: i32,
        to: i64,
    },
    PowerLoss {
        partition: i32,
        /// The broker epoch of the incarnation that lost the data (-1: never registered).
        broker_epoch: i64,
        /// The log end offset before the crash, and after recovery.
        previous_end: i64,
        recovered_end: i64,
    },
    Trace(String),
}

/// Messages to send and events to report.
#[derive(Debug, Default)]
pub struct Outbox {
    pub sends: Vec<(Node, Option<u64>, Message)>,
    pub events: Vec<Event>,
}

impl Outbox {
    fn send(&mut self, to: Node, message: Message) {
        self.sends.push((to, None, message));
    }

    fn reply(&mut self, envelope: &Envelope, message: Message) {
        self.sends
            .push((envelope.from, Some(envelope.from_incarnation), message));
    }
}

/// What a replica keeps on disk.
#[derive(Debug)]
struct Durable {
    log: Log,
    cache: LeaderEpochCache,
    high_watermark: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct FetchSlot {
    in_flight_since_ms: Option<i64>,
    next_ms: i64,
}

/// One simulated broker.
#[derive(Debug)]
pub struct SimBroker {
    pub id: i32,
    pub up: bool,
    pub incarnation: u64,
    pub broker_epoch: Option<i64>,
    pub image: MetadataImage,
    pub partitions: BTreeMap<i32, Partition>,
    disk: BTreeMap<i32, Durable>,
    /// Per partition: (log end offset, high watermark) at the last flush.
    flushed: BTreeMap<i32, (i64, i64)>,
    fetches: BTreeMap<i32, FetchSlot>,
    alter_sent_ms: BTreeMap<i32, i64>,
    next_register_ms: i64,
    next_heartbeat_ms: i64,
    next_flush_ms: i64,
    /// The image has reached the end of the metadata log at least once.
    caught_up: bool,
    /// Partitions changed by records applied before catching up.
    changed_before_caught_up: std::collections::BTreeSet<i32>,
}

impl SimBroker {
    pub fn new(id: i32) -> SimBroker {
        SimBroker {
            id,
            up: false,
            incarnation: 0,
            broker_epoch: None,
            image: MetadataImage::new(),
            partitions: BTreeMap::new(),
            disk: BTreeMap::new(),
            flushed: BTreeMap::new(),
            fetches: BTreeMap::new(),
            alter_sent_ms: BTreeMap::new(),
            next_register_ms: 0,
            next_heartbeat_ms: 0,
            next_flush_ms: 0,
            caught_up: false,
            changed_before_caught_up: std::collections::BTreeSet::new(),
        }
    }

    /// Starts a new incarnation.
    pub fn start(&mut self, now_ms: i64) {
        self.up = true;
        self.incarnation += 1;
        self.broker_epoch = None;
        self.image = MetadataImage::new();
        self.caught_up = false;
        self.changed_before_caught_up.clear();
        self.fetches.clear();
        self.alter_sent_ms.clear();
        self.next_register_ms = now_ms;
        self.next_flush_ms = now_ms + FLUSH_INTERVAL_MS;
    }

    pub fn incarnation_id(&self) -> Uuid {
        Uuid::from_u64_pair(self.id as u64, self.incarnation)
    }

    /// Goes down; replicas go to disk, minus what a power loss takes.
    pub fn crash(&mut self, crash: Crash, now_ms: i64) -> Vec<Event> {
        self.up = false;
        let mut events = Vec::new();
        for (partition, replica) in std::mem::take(&mut self.partitions) {
            let (mut log, mut cache, mut high_watermark) = replica.into_parts();
            if crash == Crash::PowerLoss {
                let previous_end = log.log_end_offset();
                let (flushed_end, flushed_high_watermark) =
                    self.flushed.get(&partition).copied().unwrap_or((0, 0));
                if let Err(error) = log.truncate_to(flushed_end, now_ms) {
                    tracing::error!(%error, "simulated power loss failed to truncate");
                }
                cache.truncate_from_end(log.log_end_offset());
                high_watermark = flushed_high_watermark.min(log.log_end_offset());
                events.push(Event::PowerLoss {
                    partition,
                    broker_epoch: self.broker_epoch.unwrap_or(-1),
                    previous_end,
                    recovered_end: log.log_end_offset(),
                });
            }
            self.disk.insert(
                partition,
                Durable {
                    log,
                    cache,
                    high_watermark,
                },
            );
        }
        events
    }

    /// Timers: registration, heartbeats, flushes, partition ticks, fetches, resends.
    pub fn on_timers(&mut self, now_ms: i64) -> Outbox {
        let mut out = Outbox::default();
        if !self.up {
            return out;
        }
        let Some(broker_epoch) = self.broker_epoch else {
            if now_ms >= self.next_register_ms {
                self.next_register_ms = now_ms + REGISTER_RETRY_MS;
                let message = Message::Register {
                    broker_id: self.id,
                    incarnation_id: self.incarnation_id(),
                };
                out.send(Node::Controller, message);
            }
            return out;
        };
        if now_ms >= self.next_heartbeat_ms {
            self.next_heartbeat_ms = now_ms + HEARTBEAT_INTERVAL_MS;
            let heartbeat = BrokerHeartbeat {
                broker_id: self.id,
                broker_epoch,
                current_metadata_offset: self.image.offset(),
                want_fence: false,
            };
            out.send(Node::Controller, Message::Heartbeat(heartbeat));
        }
        if now_ms >= self.next_flush_ms {
            self.next_flush_ms = now_ms + FLUSH_INTERVAL_MS;
            for (&p, replica) in &self.partitions {
                let point = (replica.log_end_offset(), replica.high_watermark());
                self.flushed.insert(p, point);
            }
        }
        let indexes: Vec<i32> = self.partitions.keys().copied().collect();
        for partition in indexes {
            self.partition_timers(partition, now_ms, &mut out);
        }
        out
    }

    fn partition_timers(&mut self, partition: i32, now_ms: i64, out: &mut Outbox) {
        let Some(replica) = self.partitions.get_mut(&partition) else {
            return;
        };
        let effects = replica.tick(now_ms);
        self.effects(partition, effects, now_ms, out);
        let Some(replica) = self.partitions.get(&partition) else {
            return;
        };
        if let Some(sent) = replica.pending_alter_partition() {
            let last = self
                .alter_sent_ms
                .get(&partition)
                .copied()
                .unwrap_or(i64::MIN / 2);
            if now_ms - last >= ALTER_PARTITION_RESEND_MS {
                self.alter_sent_ms.insert(partition, now_ms);
                out.send(Node::Controller, Message::AlterPartition(sent.clone()));
            }
        }
        let slot = self.fetches.entry(partition).or_default();
        let busy = slot
            .in_flight_since_ms
            .is_some_and(|since| now_ms - since < FETCH_TIMEOUT_MS);
        if busy || now_ms < slot.next_ms {
            return;
        }
        if let Some(request) = replica.next_follower_request(MAX_FETCH_BYTES) {
            slot.in_flight_since_ms = Some(now_ms);
            let leader = Node::Broker(replica.leader_id());
            out.send(leader, Message::Replica { partition, request });
        }
    }

    /// Routes a partition's effects: answers to parked produces, AlterPartition requests.
    fn effects(&mut self, partition: i32, effects: Effects, now_ms: i64, out: &mut Outbox) {
        for (token, result) in effects.completions {
            out.send(
                Node::Client,
                Message::ProduceReply {
                    request_id: token,
                    result,
                },
            );
        }
        if let Some(request) = effects.alter_partition {
            self.alter_sent_ms.insert(partition, now_ms);
            out.send(Node::Controller, Message::AlterPartition(request));
        }
    }

    /// One delivered message.
    pub fn handle(&mut self, envelope: &Envelope, now_ms: i64) -> Outbox {
        let mut out = Outbox::default();
        match &envelope.message {
            Message::RegisterReply(Ok(epoch)) => {
                self.broker_epoch = Some(*epoch);
                self.next_heartbeat_ms = now_ms;
                let line = format!("b{} registered at epoch {epoch}", self.id);
                out.events.push(Event::Trace(line));
            }
            Message::HeartbeatReply {
                result,
                metadata,
                metadata_end,
            } => {
                let stale = ResponseError::StaleBrokerEpoch.code();
                if result.as_ref().is_err_and(|e| e.code == stale) {
                    self.broker_epoch = None;
                }
                self.apply_metadata(metadata, *metadata_end, now_ms, &mut out);
            }
            Message::AlterPartitionReply { sent, result } => {
                self.alter_sent_ms.remove(&sent.partition);
                if let Some(replica) = self.partitions.get_mut(&sent.partition) {
                    let image = &self.image;
                    let effects = replica.handle_alter_partition_response(
                        sent,
                        result.clone(),
                        image,
                        now_ms,
                    );
                    self.effects(sent.partition, effects, now_ms, &mut out);
                }
            }
            Message::OffsetForLeaderEpochReply { .. } | Message::FetchReply { .. } => {
                self.on_fetcher_reply(&envelope.message, now_ms, &mut out);
            }
            Message::Replica { partition, request } => {
                self.serve_replica(envelope, *partition, request, now_ms, &mut out)
            }
            Message::Produce {
                request_id,
                partition,
                records,
            } => self.serve_produce(*request_id, *partition, records.clone(), now_ms, &mut out),
            Message::ConsumerFetch { partition, offset } => {
                let reply = self.serve_consumer(*partition, *offset);
                out.reply(envelope, reply);
            }
            _ => {}
        }
        out
    }

    /// An answer to this broker's fetcher (as a follower).
    fn on_fetcher_reply(&mut self, message: &Message, now_ms: i64, out: &mut Outbox) {
        let (partition, outcome, truncation_round) = match message {
            Message::OffsetForLeaderEpochReply {
                partition,
                sent,
                answer,
            } => {
                let Some(replica) = self.partitions.get_mut(partition) else {
                    return;
                };
                let outcome = replica.handle_offset_for_leader_epoch(sent, *answer, now_ms);
                (*partition, outcome, true)
            }
            Message::FetchReply {
                partition,
                sent,
                response,
            } => {
                let Some(replica) = self.partitions.get_mut(partition) else {
                    return;
                };
                let outcome = replica.handle_fetch_response(sent, response, now_ms);
                (*partition, outcome, false)
            }
            _ => return,
        };
        // A truncation round, or a fetch that moved the log, leads straight to the next request.
        let progressed =
            truncation_round || outcome.appended.is_some() || outcome.truncated_to.is_some();
        self.fetched(partition, outcome.truncated_to, progressed, now_ms, out);
    }

    /// A consumer's fetch, served as the leader.
    fn serve_consumer(&self, partition: i32, offset: i64) -> Message {
        let response = match self.partitions.get(&partition) {
            Some(replica) => replica.fetch_from_consumer(offset, -1, MAX_FETCH_BYTES),
            None => crate::replication::ConsumerFetchResponse {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: bytes::Bytes::new(),
                aborted_transactions: None,
            },
        };
        Message::ConsumerFetchReply {
            partition,
            offset,
            response,
        }
    }

    /// A fetcher answer arrived: report truncation, schedule the next request.
    fn fetched(
        &mut self,
        partition: i32,
        truncated_to: Option<i64>,
        progressed: bool,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        if let Some(to) = truncated_to {
            out.events.push(Event::Truncated { partition, to });
            // The recovery point never stays above a truncation (`LocalLog.truncateTo`):
            // what is rewritten there is as unflushed as any append.
            if let Some(flushed) = self.flushed.get_mut(&partition) {
                flushed.0 = flushed.0.min(to);
                flushed.1 = flushed.1.min(to);
            }
        }
        let slot = self.fetches.entry(partition).or_default();
        slot.in_flight_since_ms = None;
        slot.next_ms = if progressed {
            now_ms
        } else {
            now_ms + FETCH_BACKOFF_MS
        };
    }

    /// A follower's OffsetForLeaderEpoch or Fetch, served as the leader.
    fn serve_replica(
        &mut self,
        envelope: &Envelope,
        partition: i32,
        request: &FollowerRequest,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let not_leader = ResponseError::NotLeaderOrFollower.code();
        let replica = self.partitions.get_mut(&partition);
        match (request, replica) {
            (
                FollowerRequest::OffsetForLeaderEpoch {
                    current_leader_epoch,
                    leader_epoch,
                },
                replica,
            ) => {
                let answer = replica.map_or(
                    EpochEndOffset {
                        error_code: not_leader,
                        leader_epoch: -1,
                        end_offset: -1,
                    },
                    |r| r.last_offset_for_leader_epoch(*current_leader_epoch, *leader_epoch),
                );
                let reply = Message::OffsetForLeaderEpochReply {
                    partition,
                    sent: *request,
                    answer,
                };
                out.reply(envelope, reply);
            }
            (FollowerRequest::Fetch(fetch), Some(replica)) => {
                let (response, effects) = replica.fetch_from_follower(fetch, &self.image, now_ms);
                self.effects(partition, effects, now_ms, out);
                out.reply(
                    envelope,
                    Message::FetchReply {
                        partition,
                        sent: *fetch,
                        response,
                    },
                );
            }
            (FollowerRequest::Fetch(fetch), None) => {
                let response = ReplicaFetchResponse {
                    error_code: not_leader,
                    high_watermark: -1,
                    log_start_offset: -1,
                    log_end_offset: -1,
                    diverging_epoch: None,
                    records: bytes::Bytes::new(),
                };
                out.reply(
                    envelope,
                    Message::FetchReply {
                        partition,
                        sent: *fetch,
                        response,
                    },
                );
            }
        }
    }

    fn serve_produce(
        &mut self,
        request_id: u64,
        partition: i32,
        mut records: Vec<u8>,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let Some(replica) = self.partitions.get_mut(&partition) else {
            let result = crate::replication::ProduceResult {
                error_code: ResponseError::UnknownTopicOrPartition.code(),
                base_offset: -1,
            };
            out.send(Node::Client, Message::ProduceReply { request_id, result });
            return;
        };
        let appended = replica.append_as_leader(
            &mut records,
            -1,
            request_id,
            PRODUCE_TIMEOUT_MS,
            &self.image,
            now_ms,
        );
        match appended {
            Ok((_, effects)) => {
                out.events.push(Event::LeaderAppend {
                    partition,
                    leader_epoch: replica.leader_epoch(),
                    partition_epoch: replica.partition_epoch(),
                });
                self.effects(partition, effects, now_ms, out);
            }
            Err(error_code) => {
                let result = crate::replication::ProduceResult {
                    error_code,
                    base_offset: -1,
                };
                out.send(Node::Client, Message::ProduceReply { request_id, result });
            }
        }
    }

    /// Applies fetched metadata, then acts once on each partition it changed.
    fn apply_metadata(
        &mut self,
        metadata: &MetadataFetch,
        metadata_end: i64,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let mut changed = std::mem::take(&mut self.changed_before_caught_up);
        match metadata {
            MetadataFetch::Snapshot(image) => {
                self.image = (**image).clone();
                changed.extend(self.topic_partitions());
            }
            MetadataFetch::Records(records) => {
                let delta = self.image.apply_batch(records);
                changed.extend(delta.into_iter().map(|(_, partition)| partition));
            }
        }
        self.caught_up |= self.image.offset() >= metadata_end;
        if !self.caught_up {
            self.changed_before_caught_up = changed;
            return;
        }
        let config = self.replication_config();
        for replica in self.partitions.values_mut() {
            replica.set_config(config);
        }
        for partition in changed {
            self.reconcile(partition, now_ms, out);
        }
    }

    fn topic_partitions(&self) -> Vec<i32> {
        let count = self
            .image
            .topic_by_name(super::TOPIC)
            .map_or(0, |t| t.partitions.len());
        (0..count as i32).collect()
    }

    fn replication_config(&self) -> ReplicationConfig {
        let min_insync_replicas = self
            .image
            .topic_by_name(super::TOPIC)
            .map_or(1, |t| t.config.min_insync_replicas);
        ReplicationConfig {
            replica_lag_time_max_ms: REPLICA_LAG_TIME_MAX_MS,
            min_insync_replicas,
        }
    }

    /// Becomes leader, follower or nothing for `partition`, as the image now says.
    fn reconcile(&mut self, partition: i32, now_ms: i64, out: &mut Outbox) {
        let Some(topic) = self.image.topic_by_name(super::TOPIC) else {
            return;
        };
        let topic_id = topic.topic_id;
        let Some(registration) = topic.partitions.get(partition as usize).cloned() else {
            return;
        };
        let Some(broker_epoch) = self.broker_epoch else {
            return;
        };
        let role = registration.role_of(self.id);
        if role != ReplicaRole::None && !self.partitions.contains_key(&partition) {
            let durable = self.disk.remove(&partition).unwrap_or_else(|| Durable {
                log: Log::in_memory(LogConfig::default(), now_ms),
                cache: LeaderEpochCache::new(),
                high_watermark: 0,
            });
            let config = self.replication_config();
            let replica = Partition::new(
                topic_id,
                partition,
                self.id,
                broker_epoch,
                config,
                durable.log,
                durable.cache,
                durable.high_watermark,
            );
            self.partitions.insert(partition, replica);
        }
        let Some(replica) = self.partitions.get_mut(&partition) else {
            return;
        };
        let effects = match role {
            ReplicaRole::Leader => replica.make_leader(&registration, &self.image, now_ms),
            ReplicaRole::Follower { .. } => replica.make_follower(&registration, now_ms),
            ReplicaRole::None => replica.stop(),
        };
        self.fetches.insert(partition, FetchSlot::default());
        out.events.push(Event::Trace(format!(
            "b{} applies partition {partition}: leader b{} epoch {} isr {:?} (partition epoch {})",
            self.id,
            registration.leader,
            registration.leader_epoch,
            registration.isr,
            registration.partition_epoch
        )));
        self.effects(partition, effects, now_ms, out);
    }
}
