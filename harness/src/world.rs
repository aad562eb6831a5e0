//! The cucumber `World` of one scenario: which cluster, which topics, which clients, and
//! what was observed.
//!
//! Topic names in features are *logical* (`orders`). The world maps each to a physical name
//! unique to the scenario (`orders-3f9a1c2e`), so scenarios run concurrently against one
//! broker, and against a long-lived real Kafka, without seeing each other's data. Everything
//! recorded in the trace uses the logical names.
//!
//! The world keeps the outcomes later steps check (deliveries, the last raw responses, the
//! last admin error) and the trace ([`crate::observation`]). It is handed its target by the
//! runner's `before` hook; features themselves use `Background`, never hooks.
//!
//! # References
//!
//! - cucumber-rs book, "World": <https://cucumber-rs.github.io/cucumber/main/>

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::{Context, anyhow};

use crate::clients::{self, Admin, Consumer, ObservingContext, Producer};
use crate::kafka_error::ErrorCode;
use crate::observation::Observation;
use crate::raw_client::{FetchedPartition, ProducedPartition, RawClient, RawConnection};
use crate::target::Target;

/// What librdkafka reported for one message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Logical topic name.
    pub topic: String,
    /// The key sent, if any.
    pub key: Option<String>,
    /// The value sent.
    pub value: String,
    /// `(partition, offset)` or the error.
    pub outcome: Result<(i32, i64), ErrorCode>,
}

/// The state of one scenario.
#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct KafkaWorld {
    target: Option<Arc<dyn Target>>,
    /// Appended to logical topic names; unique per scenario.
    suffix: String,
    /// Logical name → physical name.
    topics: BTreeMap<String, String>,
    /// Logical name → the partition count the scenario created it with.
    pub partition_counts: BTreeMap<String, i32>,
    /// librdkafka producer settings the scenario asked for.
    pub producer_settings: Vec<(String, String)>,
    producer: Option<(Producer, ObservingContext)>,
    admin: Option<Admin>,
    raw: Option<RawClient>,
    /// Every delivery librdkafka reported, in the order the messages were sent.
    pub deliveries: Vec<Delivery>,
    /// Which of [`Self::deliveries`] the last send step made.
    pub last_sent: std::ops::Range<usize>,
    /// The last error an admin request answered (`None` after a success).
    pub last_admin_error: Option<ErrorCode>,
    /// The last raw Produce answer.
    pub last_produce: Option<ProducedPartition>,
    /// The last raw Fetch answer, with the offset it asked for.
    pub last_fetch: Option<(i64, FetchedPartition)>,
    /// A connection kept open between steps (acks=0 scenarios).
    pub connection: Option<RawConnection>,
    /// A consumer kept between steps, with the logical topic and partition it is assigned.
    pub consumer: Option<(Consumer, String, i32)>,
    /// What the scenario observed, in order.
    pub trace: Vec<Observation>,
    /// Broker ids in the order the scenario first met them (`b1` is the first).
    broker_aliases: Vec<i32>,
    /// Consumer group members and what the scenario saw of their groups.
    pub groups: crate::group_client::Groups,
    /// Brokers replication steps stopped or froze, and the leaderships they held.
    pub replication: crate::steps::failover::ReplicationState,
    /// Transactional producers by their logical name ([`crate::steps::transactions`]).
    pub transactional: BTreeMap<String, Producer>,
}

impl KafkaWorld {
    async fn new() -> anyhow::Result<KafkaWorld> {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Ok(KafkaWorld {
            target: None,
            suffix,
            topics: BTreeMap::new(),
            partition_counts: BTreeMap::new(),
            producer_settings: Vec::new(),
            producer: None,
            admin: None,
            raw: None,
            deliveries: Vec::new(),
            last_sent: 0..0,
            last_admin_error: None,
            last_produce: None,
            last_fetch: None,
            connection: None,
            consumer: None,
            trace: Vec::new(),
            broker_aliases: Vec::new(),
            groups: crate::group_client::Groups::default(),
            replication: Default::default(),
            transactional: BTreeMap::new(),
        })
    }

    /// Gives the world the cluster it runs against (the runner's `before` hook).
    pub fn attach(&mut self, target: Arc<dyn Target>) {
        self.target = Some(target);
    }

    /// The target, or an error if the runner did not attach one.
    pub fn target(&self) -> anyhow::Result<&Arc<dyn Target>> {
        self.target
            .as_ref()
            .ok_or_else(|| anyhow!("no target attached to this scenario"))
    }

    /// The bootstrap address of the target.
    pub fn bootstrap(&self) -> anyhow::Result<String> {
        Ok(self.target()?.bootstrap())
    }

    /// The physical name for a logical topic name, chosen on first use.
    pub fn physical(&mut self, logical: &str) -> String {
        let suffix = &self.suffix;
        self.topics
            .entry(logical.to_owned())
            .or_insert_with(|| format!("{logical}-{suffix}"))
            .clone()
    }

    /// The logical name of a physical topic name (or the name itself if unknown).
    pub fn logical(&self, physical: &str) -> String {
        self.topics
            .iter()
            .find(|(_, p)| p.as_str() == physical)
            .map_or_else(|| physical.to_owned(), |(l, _)| l.clone())
    }

    /// A consumer group id unique to this scenario.
    pub fn group_id(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    /// Appends an observation to the trace.
    pub fn record(&mut self, observation: Observation) {
        self.trace.push(observation);
    }

    /// A stable name for a broker id in traces: `b1` for the first broker this scenario met,
    /// `b2` for the next … Which node a cluster makes leader varies from run to run and from
    /// target to target; the role a broker plays in the scenario does not.
    pub fn broker_alias(&mut self, broker_id: i32) -> String {
        let index = match self.broker_aliases.iter().position(|id| *id == broker_id) {
            Some(index) => index,
            None => {
                self.broker_aliases.push(broker_id);
                self.broker_aliases.len() - 1
            }
        };
        format!("b{}", index + 1)
    }

    /// Text with this scenario's generated names (`orders-3f9a1c2e`, group ids) put back to
    /// the logical names the feature uses.
    pub fn normalise(&self, text: &str) -> String {
        text.replace(&format!("-{}", self.suffix), "")
    }

    /// The scenario's admin client, created on first use.
    pub fn admin(&mut self) -> anyhow::Result<&Admin> {
        if self.admin.is_none() {
            self.admin = Some(clients::admin(&self.bootstrap()?)?);
        }
        self.admin.as_ref().context("admin client")
    }

    /// The scenario's raw client, created on first use.
    /// One raw Fetch (no waiting) of `logical`/`partition` at `offset` from the partition's
    /// leader, recorded as an observation.
    pub async fn raw_fetch_recorded(
        &mut self,
        logical: &str,
        partition: i32,
        offset: i64,
    ) -> anyhow::Result<FetchedPartition> {
        let physical = self.physical(logical);
        let fetched = self
            .raw()?
            .leader_of(&physical, partition)
            .await?
            .fetch(&physical, partition, offset, 0)
            .await
            .with_context(|| format!("Fetch of {logical}/{partition} at {offset}"))?;
        self.record(Observation::Fetched {
            topic: logical.to_string(),
            partition,
            offset,
            error: ErrorCode::from_kafka(fetched.error_code),
            records: fetched.records.len(),
        });
        Ok(fetched)
    }

    /// Metadata of one topic (by logical name) from any broker, never creating it.
    pub async fn topic_metadata(
        &mut self,
        logical: &str,
    ) -> anyhow::Result<kafka_protocol::messages::MetadataResponse> {
        let physical = self.physical(logical);
        self.raw()?
            .any_broker()
            .await?
            .metadata(Some(&[physical.as_str()]), false)
            .await
            .with_context(|| format!("Metadata for {logical}"))
    }

    pub fn raw(&mut self) -> anyhow::Result<&mut RawClient> {
        if self.raw.is_none() {
            self.raw = Some(RawClient::new(&self.bootstrap()?));
        }
        self.raw.as_mut().context("raw client")
    }

    /// The scenario's producer, created on first use with [`Self::producer_settings`].
    pub fn producer(&mut self) -> anyhow::Result<&Producer> {
        if self.producer.is_none() {
            let bootstrap = self.bootstrap()?;
            self.producer = Some(clients::producer(&bootstrap, &self.producer_settings)?);
        }
        self.producer.as_ref().map(|(p, _)| p).context("producer")
    }

    /// The producer's statistics view, once a producer exists.
    pub fn producer_context(&self) -> Option<&ObservingContext> {
        self.producer.as_ref().map(|(_, c)| c)
    }

    /// Changes a producer setting; the next send uses a new producer.
    pub fn set_producer_setting(&mut self, key: &str, value: &str) {
        self.producer_settings.retain(|(k, _)| k != key);
        self.producer_settings
            .push((key.to_owned(), value.to_owned()));
        self.producer = None;
    }

    /// The partition count of a topic this scenario created.
    pub fn partition_count(&self, logical: &str) -> anyhow::Result<i32> {
        self.partition_counts
            .get(logical)
            .copied()
            .ok_or_else(|| anyhow!("topic {logical:?} was not created by this scenario"))
    }

    /// A new consumer for manual assignment with extra librdkafka settings.
    pub fn new_consumer(&self, settings: &[(String, String)]) -> anyhow::Result<Consumer> {
        clients::consumer(&self.bootstrap()?, &self.group_id("kafka-spec"), settings)
    }

    /// The trace, one line per observation, with generated names normalised away.
    pub fn trace_lines(&self) -> Vec<String> {
        self.trace
            .iter()
            .map(|entry| self.normalise(&entry.to_string()))
            .collect()
    }

    /// Forgets the raw client's connections (after a broker was stopped or started, they
    /// may lead to a dead process).
    pub fn reconnect(&mut self) {
        self.raw = None;
    }
}

impl fmt::Debug for KafkaWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self
            .target
            .as_ref()
            .map_or_else(|| "none".to_owned(), |t| t.name());
        writeln!(f, "target: {target}")?;
        writeln!(f, "topics: {:?}", self.topics)?;
        writeln!(f, "trace:")?;
        for line in self.trace_lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
