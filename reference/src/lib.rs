//! A compact reference Kafka broker that speaks the real wire protocol.
//!
//! Real clients (librdkafka, the Java client, kcat …) talk to it unchanged. It is the spec's
//! executable reference: small enough to read, strict enough to compare with Apache Kafka.
//!
//! # Layout
//!
//! - [`server`]: accept loop, connection limit, graceful shutdown ([`shutdown`]).
//! - [`connection`] / [`frame`]: the 4-byte length-prefixed frames, with the size limit
//!   checked before anything is allocated.
//! - [`api`]: one module per Kafka API; each declares the versions it really handles, and
//!   ApiVersions is built from that table.
//! - One broker for every size: a single broker ([`embedded`]) is a [`cluster`] of one, with
//!   the same handlers, metadata image, replicas and `__consumer_offsets` as a bigger one.
//! - [`group`]: the group coordinator: the classic consumer group protocol and committed
//!   offsets, as a synchronous state machine driven with tokens, effects and `tick`.
//!   [`group::runtime`] runs it for the wire layer: parked requests, its timers, and its
//!   records in the replicated `__consumer_offsets` topic.
//! - [`txn`]: the transaction coordinator (KIP-98, KIP-890) as a synchronous state machine;
//!   [`txn::runtime`] runs it over `__transaction_state` and sends its markers.
//! - [`log`]: the partition log: segments, offset and time indexes, retention, recovery.
//! - [`record_batch`]: checking and stamping v2 record batches as sent.
//! - `coordinator_format`: the coordinators' record bytes: one writer, one bounds-checked reader.
//! - [`coordinator_log`]: the coordinators' internal topics: creating them, appending as
//!   leader until the high watermark passes, reading a partition back to load it.
//! - [`request_shape`]: the schema of every advertised request, and a walk of each frame
//!   against it that proves every count and length before the codec allocates for it.
//! - [`config`]: broker and topic configuration, with Kafka's names.
//! - [`dynamic_config`]: dynamic broker configs (per broker and cluster-wide) and how
//!   DescribeConfigs reports every config's source and synonyms.
//! - [`controller`]: the cluster controller (KRaft's): brokers and their liveness, replica
//!   placement, leaders, ISRs and epochs, as metadata records with increasing offsets.
//! - [`replication`]: one partition replica's state machine (leader: follower progress,
//!   ISR, high watermark, acks=all; follower: truncation by leader epoch, fetching), and a
//!   seeded simulation of a replicated cluster ([`replication::sim`]).
//! - [`embedded`]: start a broker in-process for tests ([`embedded::EmbeddedBroker`]).
//! - [`cluster`]: N brokers and a controller in-process, with replication over the wire and
//!   fault control for tests ([`cluster::Cluster`]).

pub mod api;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod controller;
mod coordinator_format;
pub mod coordinator_log;
pub mod dynamic_config;
pub mod embedded;
pub mod frame;
pub mod group;
pub mod log;
pub mod record_batch;
pub mod replication;
pub mod request_shape;
pub mod server;
pub mod shutdown;
pub mod txn;

pub use cluster::{Cluster, ClusterOptions};
pub use embedded::EmbeddedBroker;
