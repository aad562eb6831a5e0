//! The invariants, checked after every step of the simulation.
//!
//! The checker keeps the *committed log* of each partition: every batch any replica has had
//! below its high watermark (a follower's comes from its leader), in offset order. Kafka
//! promises that this log only grows and is never contradicted. Every
//! check compares real logs (read through the [`Log`] API) with it, incrementally: each
//! replica has a prefix already verified, which shrinks only when the replica truncates.
//!
//! 1. No acknowledged record is lost: an acks=all success names a batch of the committed log
//!    (same offset, same bytes), and the current leader (the one the controller names, once it
//!    acts at that leader epoch) holds the whole committed log.
//! 2. Replicas agree below the high watermark: every replica's log below its own high
//!    watermark is exactly the committed log.
//! 3. The high watermark never moves backwards for a reader: a leader's high watermark never
//!    decreases within its leader epoch, the committed log is never contradicted (so what a
//!    reader saw below any high watermark stays), and a consumer reads only committed batches,
//!    from a position that only moves forward. The high watermark *reported* to a consumer may
//!    dip after a leader change, until the new leader hears from its followers; Kafka does so
//!    too (KIP-207 guards ListOffsets, not Fetch), so dips are counted, not failed.
//! 4. At most one leader accepts writes per leader epoch, and per partition epoch.
//!
//! Kafka's guarantee has a premise: "a committed message will not be lost, as long as at
//! least one in-sync replica remains alive" (the documentation's Replication section). A
//! broker that loses unflushed data in a power loss is not that replica until a later
//! incarnation of it has caught up and rejoined the ISR (what it lost may already count
//! towards a high watermark: its fetches said it had it). So a partition whose ISR, in the controller's view, holds
//! only such brokers has lost the premise: it is counted and no longer checked (KIP-966's
//! eligible leader replicas and unclean-shutdown detection address exactly this case; they
//! are not modelled). Crashes of the process alone lose nothing and never void the premise.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::broker::SimBroker;
use crate::controller::MetadataImage;
use crate::log::Log;
use crate::record_batch;
use crate::replication::ConsumerFetchResponse;
use uuid::Uuid;

/// Bytes from the CRC on: what the producer sent and every replica stores alike (the base
/// offset and the partition leader epoch before it are the leader's).
pub const PRODUCER_BYTES_FROM: usize = 17;

#[derive(Debug, Clone)]
struct CommittedBatch {
    base: i64,
    bytes: Bytes,
}

#[derive(Debug, Default)]
struct PartitionCheck {
    committed: Vec<CommittedBatch>,
    /// End of the committed log (the largest high watermark seen).
    end: i64,
    /// Brokers that lost data in a power loss, with the broker epoch of the incarnation that
    /// lost it; they count again once a later incarnation has rejoined the ISR.
    amnesiac: BTreeMap<i32, i64>,
    previous_isr: Vec<i32>,
    /// The premise was lost: no more checks.
    unchecked: bool,
    /// Base offsets of acknowledged batches.
    acked: Vec<i64>,
}

/// Counters for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    pub acks_checked: u64,
    pub committed_batches: u64,
    pub consumer_batches_checked: u64,
    pub high_watermark_dips_seen_by_consumer: u64,
    pub premise_lost_partitions: u64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct Checker {
    partitions: BTreeMap<i32, PartitionCheck>,
    leader_of_epoch: BTreeMap<(i32, i32), i32>,
    leader_of_partition_epoch: BTreeMap<(i32, i32), i32>,
    high_watermark_of_epoch: BTreeMap<(i32, i32), i64>,
    verified: BTreeMap<(i32, i32), i64>,
    consumer_high_watermark: BTreeMap<i32, i64>,
    /// Keep checking partitions whose premise was lost.
    pub ignore_premise: bool,
    pub violations: Vec<String>,
    pub stats: CheckStats,
}

impl Checker {
    fn fail(&mut self, message: String) {
        if self.violations.len() < 20 {
            self.violations.push(message);
        }
    }

    fn part(&mut self, partition: i32) -> &mut PartitionCheck {
        self.partitions.entry(partition).or_default()
    }

    pub fn is_checked(&self, partition: i32) -> bool {
        self.ignore_premise || self.partitions.get(&partition).is_none_or(|p| !p.unchecked)
    }

    /// A leader appended: invariant 4.
    pub fn on_leader_append(
        &mut self,
        broker: i32,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    ) {
        let by_epoch = *self
            .leader_of_epoch
            .entry((partition, leader_epoch))
            .or_insert(broker);
        let by_partition_epoch = *self
            .leader_of_partition_epoch
            .entry((partition, partition_epoch))
            .or_insert(broker);
        if by_epoch != broker || by_partition_epoch != broker {
            self.fail(format!(
                "two leaders accepted writes to partition {partition}: b{by_epoch} and b{broker} at leader epoch {leader_epoch} / b{by_partition_epoch} at partition epoch {partition_epoch}"
            ));
        }
    }

    /// A replica's log was cut to `to`.
    pub fn on_truncated(&mut self, broker: i32, partition: i32, to: i64) {
        if let Some(verified) = self.verified.get_mut(&(broker, partition)) {
            *verified = (*verified).min(to);
        }
    }

    /// A power loss left `broker` (registered at `broker_epoch`) with its log ending at
    /// `recovered_end`; `lost` if it had more. Anything it lost may have counted towards a
    /// high watermark (its fetches said it had it), so it is not a safe copy until it rejoins.
    pub fn on_power_loss(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        partition: i32,
        recovered_end: i64,
        lost: bool,
    ) {
        self.on_truncated(broker, partition, recovered_end);
        if lost {
            self.part(partition).amnesiac.insert(broker, broker_epoch);
        }
    }

    /// An acks=all success: invariant 1.
    pub fn on_ack(&mut self, partition: i32, base_offset: i64, producer_bytes: &[u8]) {
        if !self.is_checked(partition) {
            return;
        }
        self.stats.acks_checked += 1;
        let part = self.part(partition);
        let found = part
            .committed
            .binary_search_by_key(&base_offset, |b| b.base)
            .ok()
            .map(|i| part.committed[i].bytes.clone());
        let same = found
            .as_ref()
            .is_some_and(|bytes| bytes.get(PRODUCER_BYTES_FROM..) == Some(producer_bytes));
        if !same {
            self.fail(format!(
                "acknowledged batch at {partition}@{base_offset} is not in the committed log"
            ));
        }
        self.part(partition).acked.push(base_offset);
    }

    /// A consumer read from `position`: invariant 3. Returns the next position.
    pub fn on_consumer_read(
        &mut self,
        partition: i32,
        position: i64,
        response: &ConsumerFetchResponse,
    ) -> i64 {
        let seen = self.consumer_high_watermark.entry(partition).or_insert(-1);
        if response.high_watermark < *seen {
            self.stats.high_watermark_dips_seen_by_consumer += 1;
        }
        *seen = (*seen).max(response.high_watermark);
        if !self.is_checked(partition) {
            return position;
        }
        let mut next = position;
        for (base, last, bytes) in batches_of(&response.records) {
            if last < position {
                continue;
            }
            self.stats.consumer_batches_checked += 1;
            if !self.matches_committed(partition, base, &bytes) {
                self.fail(format!(
                    "a consumer read batch {partition}@{base} which is not the committed one"
                ));
            }
            next = next.max(last + 1);
        }
        let end = self.part(partition).end;
        if response.high_watermark > end {
            self.fail(format!(
                "a consumer saw high watermark {} beyond the committed end {end} of partition {partition}",
                response.high_watermark
            ));
        }
        next
    }

    fn matches_committed(&mut self, partition: i32, base: i64, bytes: &Bytes) -> bool {
        let part = self.part(partition);
        part.committed
            .binary_search_by_key(&base, |b| b.base)
            .is_ok_and(|i| part.committed[i].bytes == *bytes)
    }

    /// Everything after one step.
    pub fn check_step(
        &mut self,
        topic_id: Uuid,
        controller: &MetadataImage,
        brokers: &[SimBroker],
    ) {
        let Some(topic) = controller.topic(topic_id) else {
            return;
        };
        for (index, registration) in topic.partitions.iter().enumerate() {
            let partition = index as i32;
            self.update_premise(partition, &registration.isr, controller);
            if !self.is_checked(partition) {
                continue;
            }
            for broker in brokers.iter().filter(|b| b.up) {
                self.check_leader(broker, partition);
                self.grow_committed(broker, partition);
            }
            for broker in brokers.iter().filter(|b| b.up) {
                self.check_replica(broker, partition);
            }
            let current = brokers
                .iter()
                .find(|b| b.up && b.id == registration.leader)
                .and_then(|b| b.partitions.get(&partition).map(|r| (b.id, r)))
                .filter(|(_, r)| r.is_leader() && r.leader_epoch() == registration.leader_epoch);
            if let Some((id, replica)) = current {
                self.check_current_leader(id, partition, replica.log());
            }
        }
    }

    /// A broker that lost data counts again when it rejoins the ISR as a later incarnation
    /// (an expansion earned by the incarnation that lost the data does not count: KIP-903
    /// stops it only once the new incarnation has registered).
    fn update_premise(&mut self, partition: i32, isr: &[i32], controller: &MetadataImage) {
        let part = self.part(partition);
        let rejoined: Vec<i32> = isr
            .iter()
            .copied()
            .filter(|b| !part.previous_isr.contains(b))
            .collect();
        for broker in rejoined {
            let epoch = controller.broker(broker).map_or(-1, |b| b.broker_epoch);
            if part.amnesiac.get(&broker).is_some_and(|&lost| epoch > lost) {
                part.amnesiac.remove(&broker);
            }
        }
        part.previous_isr = isr.to_vec();
        if !part.unchecked && isr.iter().all(|b| part.amnesiac.contains_key(b)) {
            part.unchecked = true;
            self.stats.premise_lost_partitions += 1;
        }
    }

    /// A leader's high watermark never decreases within its leader epoch.
    fn check_leader(&mut self, broker: &SimBroker, partition: i32) {
        let Some(replica) = broker.partitions.get(&partition).filter(|r| r.is_leader()) else {
            return;
        };
        let high_watermark = replica.high_watermark();
        let key = (partition, replica.leader_epoch());
        let previous = *self
            .high_watermark_of_epoch
            .entry(key)
            .or_insert(high_watermark);
        if high_watermark < previous {
            self.fail(format!(
                "b{}'s high watermark of partition {partition} went from {previous} to {high_watermark} in leader epoch {}",
                broker.id, key.1
            ));
        }
        self.high_watermark_of_epoch
            .insert(key, high_watermark.max(previous));
    }

    /// The committed log grows to the largest high watermark of any replica. (A follower's
    /// high watermark is one its leader had, perhaps in the same step as the leader lost its
    /// role; its log below it is a copy of that leader's.)
    fn grow_committed(&mut self, broker: &SimBroker, partition: i32) {
        let Some(replica) = broker.partitions.get(&partition) else {
            return;
        };
        let high_watermark = replica.high_watermark();
        let end = self.part(partition).end;
        if high_watermark <= end {
            return;
        }
        for (base, last, bytes) in read_batches(replica.log(), end, high_watermark) {
            if base < end || last >= high_watermark {
                self.fail(format!(
                    "b{}'s high watermark {high_watermark} or committed end {end} of partition {partition} is inside batch {base}..={last}",
                    broker.id
                ));
                return;
            }
            let part = self.part(partition);
            part.committed.push(CommittedBatch { base, bytes });
            part.end = last + 1;
            self.stats.committed_batches += 1;
        }
    }

    /// Invariant 2: a replica's log below its high watermark is the committed log.
    fn check_replica(&mut self, broker: &SimBroker, partition: i32) {
        let Some(replica) = broker.partitions.get(&partition) else {
            return;
        };
        let to = replica.high_watermark().min(replica.log_end_offset());
        self.verify_prefix(
            broker.id,
            partition,
            replica.log(),
            to,
            "below its high watermark",
        );
    }

    /// Invariant 1: the current leader holds the whole committed log.
    fn check_current_leader(&mut self, broker: i32, partition: i32, log: &Log) {
        let part = self.part(partition);
        let end = part.end;
        let log_end_offset = log.log_end_offset();
        if log_end_offset < end {
            let lost_acks = part
                .acked
                .iter()
                .filter(|&&base| base >= log_end_offset)
                .count();
            self.fail(format!(
                "the current leader b{broker} of partition {partition} ends at {log_end_offset}, before the committed end {end}: {lost_acks} acknowledged batches lost"
            ));
            return;
        }
        self.verify_prefix(broker, partition, log, end, "as the current leader");
    }

    fn verify_prefix(&mut self, broker: i32, partition: i32, log: &Log, to: i64, role: &str) {
        let key = (broker, partition);
        let from = self
            .verified
            .get(&key)
            .copied()
            .unwrap_or(0)
            .min(log.log_end_offset());
        if from >= to {
            self.verified.insert(key, from);
            return;
        }
        let mut verified = from;
        for (base, last, bytes) in read_batches(log, from, to) {
            if last >= to {
                break;
            }
            if base != verified || !self.matches_committed(partition, base, &bytes) {
                self.fail(format!(
                    "b{broker}'s batch {partition}@{base}..={last} {role} differs from the committed log"
                ));
                return;
            }
            verified = last + 1;
        }
        self.verified.insert(key, verified);
    }
}

/// The batches of `log` from the one holding `from` up to the first reaching `to`.
fn read_batches(log: &Log, from: i64, to: i64) -> Vec<(i64, i64, Bytes)> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to && offset < log.log_end_offset() {
        let Ok(bytes) = log.read(offset, 1 << 20, true) else {
            break;
        };
        let batches = batches_of(&bytes);
        let Some(&(_, last, _)) = batches.last() else {
            break;
        };
        let reached = last >= to;
        out.extend(batches.into_iter().take_while(|(base, _, _)| *base < to));
        if reached {
            break;
        }
        offset = last + 1;
    }
    out
}

/// (base, last, bytes) of each whole batch.
fn batches_of(bytes: &Bytes) -> Vec<(i64, i64, Bytes)> {
    let (headers, _) = record_batch::scan_valid_prefix(bytes);
    let mut position = 0;
    headers
        .into_iter()
        .map(|h| {
            let batch = bytes.slice(position..position + h.total_len());
            position += h.total_len();
            (h.base_offset, h.last_offset(), batch)
        })
        .collect()
}
