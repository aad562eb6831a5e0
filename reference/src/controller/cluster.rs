//! Brokers: registration, heartbeats and fencing.
//!
//! KRaft's rules, which decide when a failed broker stops leading and when a restarted one
//! may come back:
//!
//! - A broker registers each incarnation (a fresh incarnation id at every process start). The
//!   registration record's offset is its broker epoch, and it starts fenced. A different
//!   incarnation is DUPLICATE_BROKER_REGISTRATION while the old one still has a valid session
//!   (unfenced and heard from within `broker.session.timeout.ms`); so a restarted broker is
//!   fenced — out of every ISR it can leave — before it comes back. Registering the same
//!   incarnation again changes nothing.
//! - A heartbeat must carry the current broker epoch (else STALE_BROKER_EPOCH). A fenced broker
//!   that asks to be unfenced is unfenced once its metadata offset has reached its own
//!   registration; an unfenced one that asks to be fenced is fenced.
//! - An unfenced broker not heard from for longer than the session timeout is fenced by
//!   [`Controller::tick`].
//! - Fencing removes the broker from every ISR (except as the last member: the ISR never
//!   empties) and elects new leaders where it led; unfencing elects leaders for leaderless
//!   partitions, which may now have an acceptable replica.
//!
//! Controlled shutdown (leadership moved away before a clean stop) is not modelled: a stop
//! is a crash.
//!
//! # References
//! - Apache Kafka sources: `ClusterControlManager.registerBroker` / `checkBrokerEpoch`,
//!   `BrokerHeartbeatManager` (`hasValidSession`, `calculateNextBrokerState`,
//!   `findOneStaleBroker`), `ReplicationControlManager` (`processBrokerHeartbeat`,
//!   `handleBrokerFenced`, `handleBrokerUnfenced`, `generateLeaderAndIsrUpdates`)
//! - KIP-631 (broker registration and fencing in KRaft)

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::image::MetadataRecord;
use super::partition::{Election, NO_LEADER, change_partition};
use super::quorum::{ApiError, Controller};

/// The fields of a BrokerHeartbeat request the controller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The offset of the last metadata record the broker has applied.
    pub current_metadata_offset: i64,
    pub want_fence: bool,
}

/// The fields of a BrokerHeartbeat response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The broker has applied metadata up to its own registration.
    pub is_caught_up: bool,
    pub is_fenced: bool,
}

impl Controller {
    /// BrokerRegistration: returns the broker epoch.
    pub fn register_broker(
        &mut self,
        broker_id: i32,
        incarnation_id: Uuid,
        now_ms: i64,
    ) -> Result<i64, ApiError> {
        if let Some(existing) = self.image.broker(broker_id).copied() {
            if existing.incarnation_id == incarnation_id {
                self.last_contact_ms.insert(broker_id, now_ms);
                return Ok(existing.broker_epoch);
            }
            if self.has_valid_session(broker_id, now_ms) {
                return Err(ApiError::new(
                    ResponseError::DuplicateBrokerRegistration.code(),
                    "Another broker is registered with that broker id.",
                ));
            }
            if !existing.fenced {
                // The session has expired but `tick` has not run yet: fence the old
                // incarnation first, as the controller's stale-broker sweep would have.
                self.fence_broker(broker_id);
            }
        }
        let broker_epoch = self.next_offset();
        self.append(MetadataRecord::RegisterBroker {
            broker_id,
            incarnation_id,
            broker_epoch,
        });
        self.last_contact_ms.insert(broker_id, now_ms);
        Ok(broker_epoch)
    }

    /// BrokerHeartbeat: keeps the session alive and moves the broker between fenced and
    /// unfenced.
    pub fn heartbeat(
        &mut self,
        heartbeat: &BrokerHeartbeat,
        now_ms: i64,
    ) -> Result<HeartbeatReply, ApiError> {
        let broker_id = heartbeat.broker_id;
        let Some(broker) = self.image.broker(broker_id).copied() else {
            return Err(ApiError::new(
                ResponseError::StaleBrokerEpoch.code(),
                format!("No broker registration found for broker id {broker_id}"),
            ));
        };
        if broker.broker_epoch != heartbeat.broker_epoch {
            return Err(ApiError::new(
                ResponseError::StaleBrokerEpoch.code(),
                format!(
                    "Expected broker epoch {}, but got broker epoch {}",
                    broker.broker_epoch, heartbeat.broker_epoch
                ),
            ));
        }
        let is_caught_up = heartbeat.current_metadata_offset >= broker.broker_epoch;
        if broker.fenced && !heartbeat.want_fence && is_caught_up {
            self.unfence_broker(broker_id, broker.broker_epoch);
        } else if !broker.fenced && heartbeat.want_fence {
            self.fence_broker(broker_id);
        }
        self.last_contact_ms.insert(broker_id, now_ms);
        self.observe(broker_id, heartbeat.current_metadata_offset, now_ms);
        Ok(HeartbeatReply {
            is_caught_up,
            is_fenced: !self.image.is_active(broker_id),
        })
    }

    /// Notes how far a broker has read the metadata log (DescribeQuorum's observers).
    fn observe(&mut self, broker_id: i32, current_metadata_offset: i64, now_ms: i64) {
        let caught_up = current_metadata_offset >= self.metadata_offset();
        let state = self
            .observers
            .entry(broker_id)
            .or_insert(super::quorum::ObserverState {
                log_end_offset: -1,
                last_fetch_timestamp_ms: -1,
                last_caught_up_timestamp_ms: -1,
            });
        state.log_end_offset = current_metadata_offset + 1;
        state.last_fetch_timestamp_ms = now_ms;
        if caught_up {
            state.last_caught_up_timestamp_ms = now_ms;
        }
    }

    /// Fences every unfenced broker whose session has expired. Returns how many.
    pub fn tick(&mut self, now_ms: i64) -> usize {
        let stale: Vec<i32> = self
            .image
            .brokers()
            .filter(|b| !b.fenced && !self.has_valid_session(b.broker_id, now_ms))
            .map(|b| b.broker_id)
            .collect();
        for &broker_id in &stale {
            self.fence_broker(broker_id);
        }
        stale.len()
    }

    /// When the next unfenced broker's session expires, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.image
            .brokers()
            .filter(|b| !b.fenced)
            .filter_map(|b| self.last_contact_ms.get(&b.broker_id))
            .map(|&t| t + self.config.broker_session_timeout_ms + 1)
            .min()
    }

    /// Unfenced and heard from within the session timeout.
    pub fn has_valid_session(&self, broker_id: i32, now_ms: i64) -> bool {
        self.image.is_active(broker_id)
            && self
                .last_contact_ms
                .get(&broker_id)
                .is_some_and(|&t| t + self.config.broker_session_timeout_ms >= now_ms)
    }

    /// Removes the broker from every ISR it can leave, re-elects where it led, then fences it.
    pub(super) fn fence_broker(&mut self, broker_id: i32) {
        let partitions = self.partitions_where(|p| p.isr.contains(&broker_id));
        for (topic_id, partition) in partitions {
            let acceptable = |r: i32| r != broker_id && self.image.is_active(r);
            let Some(current) = self.image.partition(topic_id, partition) else {
                continue;
            };
            let target_isr: Vec<i32> = current
                .isr
                .iter()
                .copied()
                .filter(|&r| r != broker_id)
                .collect();
            let election = self.election_for(topic_id);
            if let Some(registration) =
                change_partition(current, &target_isr, election, &acceptable)
            {
                self.append(MetadataRecord::Partition {
                    topic_id,
                    partition,
                    registration,
                });
            }
        }
        if let Some(broker) = self.image.broker(broker_id).copied() {
            self.append(MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch: broker.broker_epoch,
            });
        }
    }

    /// Unfences the broker, then elects leaders for partitions that have none.
    fn unfence_broker(&mut self, broker_id: i32, broker_epoch: i64) {
        self.append(MetadataRecord::UnfenceBroker {
            broker_id,
            broker_epoch,
        });
        self.elect_leaderless(|_| true);
    }

    /// Tries an election for every leaderless partition of the topics `topic_filter` takes.
    pub(super) fn elect_leaderless(&mut self, topic_filter: impl Fn(uuid::Uuid) -> bool) {
        let leaderless = self.partitions_where(|p| p.leader == NO_LEADER);
        for (topic_id, partition) in leaderless {
            if !topic_filter(topic_id) {
                continue;
            }
            let Some(current) = self.image.partition(topic_id, partition) else {
                continue;
            };
            let acceptable = |r: i32| self.image.is_active(r);
            let election = self.election_for(topic_id);
            if let Some(registration) =
                change_partition(current, &current.isr, election, &acceptable)
            {
                self.append(MetadataRecord::Partition {
                    topic_id,
                    partition,
                    registration,
                });
            }
        }
    }

    /// Online, or Unclean where the topic enables it.
    pub(super) fn election_for(&self, topic_id: uuid::Uuid) -> Election {
        let unclean = self
            .image
            .topic(topic_id)
            .is_some_and(|t| t.config.unclean_leader_election_enable);
        if unclean {
            Election::Unclean
        } else {
            Election::Online
        }
    }
}
