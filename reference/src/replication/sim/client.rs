//! The simulated client: a producer sending acks=all batches of unique records to the leader
//! it believes in, and a consumer reading every partition from the start.
//!
//! Like a real client it learns leaders from a broker's metadata (possibly stale), retries
//! nothing itself (a failed or timed-out produce is simply not acknowledged; the next batch
//! has new records, so an unacknowledged batch that did get in is never mistaken for an
//! acknowledged one), and asks for metadata again after an error or a timeout.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;

use super::checker::PRODUCER_BYTES_FROM;
use super::network::{Message, Node};
use super::timing::*;
use crate::controller::{NO_LEADER, SplitMix64};
use crate::record_batch::{NewRecord, encode_producer_batch};
use crate::replication::{ConsumerFetchResponse, ProduceResult};

#[derive(Debug, Clone)]
struct InFlightProduce {
    partition: i32,
    producer_bytes: Vec<u8>,
    sent_ms: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Consumer {
    position: i64,
    in_flight_since_ms: Option<i64>,
}

/// An acknowledged batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub partition: i32,
    pub base_offset: i64,
    pub producer_bytes: Vec<u8>,
}

/// The producer and the consumer.
#[derive(Debug, Default)]
pub struct Client {
    next_request_id: u64,
    next_value: u64,
    in_flight: BTreeMap<u64, InFlightProduce>,
    consumers: BTreeMap<i32, Consumer>,
    /// Believed leaders.
    pub leaders: BTreeMap<i32, i32>,
    pub needs_metadata: bool,
    /// Produce automatically each step (off in scripted scenarios).
    pub auto_produce: bool,
    pub produced: u64,
    pub acked: u64,
    pub failed: u64,
    pub timed_out: u64,
}

impl Client {
    /// Sends what is due: new produces, consumer fetches; forgets timed-out produces.
    pub fn on_step(
        &mut self,
        partitions: i32,
        now_ms: i64,
        rng: &mut SplitMix64,
    ) -> Vec<(Node, Message)> {
        let mut out = Vec::new();
        let before = self.in_flight.len();
        self.in_flight
            .retain(|_, p| now_ms - p.sent_ms < CLIENT_TIMEOUT_MS);
        if self.in_flight.len() < before {
            self.timed_out += (before - self.in_flight.len()) as u64;
            self.needs_metadata = true;
        }
        for partition in 0..partitions {
            let busy = self
                .in_flight
                .values()
                .filter(|p| p.partition == partition)
                .count();
            if self.auto_produce && busy < MAX_IN_FLIGHT_PER_PARTITION && rng.chance(1, 3) {
                let count = 1 + rng.below(3) as usize;
                out.extend(self.produce(partition, count, now_ms));
            }
            out.extend(self.consume(partition, now_ms));
        }
        out
    }

    /// A batch of `count` new records for `partition`, to its believed leader.
    pub fn produce(
        &mut self,
        partition: i32,
        count: usize,
        now_ms: i64,
    ) -> Option<(Node, Message)> {
        let leader = self
            .leaders
            .get(&partition)
            .copied()
            .filter(|&l| l != NO_LEADER)?;
        let records = self.batch(partition, count);
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.produced += 1;
        let in_flight = InFlightProduce {
            partition,
            producer_bytes: records[PRODUCER_BYTES_FROM..].to_vec(),
            sent_ms: now_ms,
        };
        self.in_flight.insert(request_id, in_flight);
        let message = Message::Produce {
            request_id,
            partition,
            records,
        };
        Some((Node::Broker(leader), message))
    }

    fn consume(&mut self, partition: i32, now_ms: i64) -> Option<(Node, Message)> {
        let leader = self
            .leaders
            .get(&partition)
            .copied()
            .filter(|&l| l != NO_LEADER)?;
        let consumer = self.consumers.entry(partition).or_default();
        if consumer
            .in_flight_since_ms
            .is_some_and(|since| now_ms - since < CLIENT_TIMEOUT_MS)
        {
            return None;
        }
        consumer.in_flight_since_ms = Some(now_ms);
        let offset = consumer.position;
        Some((
            Node::Broker(leader),
            Message::ConsumerFetch { partition, offset },
        ))
    }

    fn batch(&mut self, partition: i32, count: usize) -> Vec<u8> {
        let records: Vec<NewRecord> = (0..count)
            .map(|_| {
                self.next_value += 1;
                NewRecord {
                    key: Some(format!("order-{partition}").into_bytes().into()),
                    value: Some(format!("payment-{}", self.next_value).into_bytes().into()),
                    timestamp: 0,
                }
            })
            .collect();
        encode_producer_batch(&records, Compression::None)
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }

    /// A produce answer: the acknowledged batch, if it succeeded.
    pub fn on_produce_reply(&mut self, request_id: u64, result: ProduceResult) -> Option<Ack> {
        let in_flight = self.in_flight.remove(&request_id)?;
        if result.error_code != 0 {
            self.failed += 1;
            self.needs_metadata = true;
            return None;
        }
        self.acked += 1;
        Some(Ack {
            partition: in_flight.partition,
            base_offset: result.base_offset,
            producer_bytes: in_flight.producer_bytes,
        })
    }

    /// A consumer fetch answer; `next_position` is what the checker made of it.
    pub fn on_consumer_reply(
        &mut self,
        partition: i32,
        response: &ConsumerFetchResponse,
        next_position: i64,
    ) {
        let consumer = self.consumers.entry(partition).or_default();
        consumer.in_flight_since_ms = None;
        if response.error_code != 0 {
            self.needs_metadata = true;
            return;
        }
        consumer.position = consumer.position.max(next_position);
    }

    pub fn position(&self, partition: i32) -> i64 {
        self.consumers.get(&partition).map_or(0, |c| c.position)
    }
}
