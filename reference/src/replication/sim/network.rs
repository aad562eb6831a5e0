//! The simulated network: messages between the controller, the brokers and the client, each
//! delivered after a random delay, in order per connection (like TCP: a stalled message holds
//! back the ones behind it), unless the link is cut (at sending or at delivery) or the message
//! is randomly dropped (a connection reset). Now and then a message stalls for up to a second
//! (a congested link, a long GC pause at the receiver), so stale requests arrive late.
//!
//! A reply names the incarnation of the broker that asked; if that broker restarted in the
//! meantime the reply is dropped, as a new process never reads its predecessor's connections.
//! Requests in flight from a broker that crashed are still delivered (bytes already sent).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::controller::{
    AlterPartition, ApiError, BrokerHeartbeat, HeartbeatReply, MetadataFetch,
    PartitionRegistration, SplitMix64,
};
use crate::replication::{
    ConsumerFetchResponse, EpochEndOffset, FollowerRequest, ProduceResult, ReplicaFetch,
    ReplicaFetchResponse,
};

/// A participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Controller,
    Broker(i32),
    Client,
}

/// What travels between nodes: the Kafka requests and responses the cores act on.
#[derive(Debug, Clone)]
pub enum Message {
    Register {
        broker_id: i32,
        incarnation_id: Uuid,
    },
    RegisterReply(Result<i64, ApiError>),
    Heartbeat(BrokerHeartbeat),
    HeartbeatReply {
        result: Result<HeartbeatReply, ApiError>,
        metadata: MetadataFetch,
        /// The end of the metadata log (its high watermark).
        metadata_end: i64,
    },
    AlterPartition(AlterPartition),
    AlterPartitionReply {
        sent: AlterPartition,
        result: Result<PartitionRegistration, i16>,
    },
    Replica {
        partition: i32,
        request: FollowerRequest,
    },
    OffsetForLeaderEpochReply {
        partition: i32,
        sent: FollowerRequest,
        answer: EpochEndOffset,
    },
    FetchReply {
        partition: i32,
        sent: ReplicaFetch,
        response: ReplicaFetchResponse,
    },
    Produce {
        request_id: u64,
        partition: i32,
        records: Vec<u8>,
    },
    ProduceReply {
        request_id: u64,
        result: ProduceResult,
    },
    ConsumerFetch {
        partition: i32,
        offset: i64,
    },
    ConsumerFetchReply {
        partition: i32,
        offset: i64,
        response: ConsumerFetchResponse,
    },
}

/// A message on its way.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: Node,
    /// The sender's incarnation (brokers; 0 otherwise).
    pub from_incarnation: u64,
    pub to: Node,
    /// A reply only reaches this incarnation of the receiver.
    pub to_incarnation: Option<u64>,
    pub message: Message,
}

/// Links, delays and messages in flight.
#[derive(Debug, Default)]
pub struct Network {
    in_flight: BTreeMap<(i64, u64), Envelope>,
    next_seq: u64,
    /// Cut links, both directions stored.
    cut: BTreeSet<(Node, Node)>,
    /// Per connection (sender, its incarnation, receiver), the latest delivery time so far.
    last_delivery_ms: BTreeMap<(Node, u64, Node), i64>,
    pub max_delay_ms: i64,
    pub drop_per_mille: u64,
    pub stall_per_mille: u64,
    pub sent: u64,
    pub dropped: u64,
}

impl Network {
    pub fn new(max_delay_ms: i64, drop_per_mille: u64, stall_per_mille: u64) -> Network {
        Network {
            max_delay_ms,
            drop_per_mille,
            stall_per_mille,
            ..Network::default()
        }
    }

    pub fn send(&mut self, envelope: Envelope, now_ms: i64, rng: &mut SplitMix64) {
        self.sent += 1;
        let link = (envelope.from, envelope.to);
        if self.is_cut(link.0, link.1) || rng.chance(self.drop_per_mille, 1000) {
            self.dropped += 1;
            return;
        }
        let mut delay = 1 + rng.below(self.max_delay_ms.max(1) as u64) as i64;
        if rng.chance(self.stall_per_mille, 1000) {
            delay += 100 + rng.below(900) as i64;
        }
        let connection = (envelope.from, envelope.from_incarnation, envelope.to);
        let last = self
            .last_delivery_ms
            .get(&connection)
            .copied()
            .unwrap_or(i64::MIN);
        let at = (now_ms + delay).max(last);
        self.last_delivery_ms.insert(connection, at);
        self.in_flight.insert((at, self.next_seq), envelope);
        self.next_seq += 1;
    }

    /// The next message due by `now_ms`, unless its link was cut meanwhile (then dropped).
    pub fn next_due(&mut self, now_ms: i64) -> Option<Envelope> {
        loop {
            let (&key, _) = self.in_flight.first_key_value()?;
            if key.0 > now_ms {
                return None;
            }
            let envelope = self.in_flight.remove(&key)?;
            if self.is_cut(envelope.from, envelope.to) {
                self.dropped += 1;
                continue;
            }
            return Some(envelope);
        }
    }

    pub fn is_cut(&self, a: Node, b: Node) -> bool {
        self.cut.contains(&(a, b))
    }

    pub fn cut(&mut self, a: Node, b: Node) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Cuts `node` off from every other node.
    pub fn isolate(&mut self, node: Node, others: &[Node]) {
        for &other in others {
            if other != node {
                self.cut(node, other);
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn cut_links(&self) -> usize {
        self.cut.len() / 2
    }
}
