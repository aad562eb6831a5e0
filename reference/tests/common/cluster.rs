//! What the cluster tests (`tests/cluster*.rs`) share: a cluster with quick heartbeats and
//! fetches, and one helper per request they send over the raw wire, each returning what the
//! tests look at. One copy, so that a change to how a request is built reaches every test.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use reference::record_batch::{NewRecord, encode_producer_batch};
use reference::{Cluster, ClusterOptions};
use uuid::Uuid;

use super::Conn;

/// What every test cluster runs with unless a test overrides it: a silent broker is fenced
/// after a second, and followers ask again every 100 ms.
const QUICK: [(&str, &str); 3] = [
    ("broker.session.timeout.ms", "1000"),
    ("broker.heartbeat.interval.ms", "100"),
    ("replica.fetch.wait.max.ms", "100"),
];

/// `brokers` brokers with [`QUICK`] settings, `configs` added (or overriding them), on disk
/// under `data_dir` when given.
pub async fn start(brokers: usize, data_dir: Option<&Path>, configs: &[(&str, &str)]) -> Cluster {
    Cluster::start_with(ClusterOptions {
        brokers,
        port: 0,
        data_dir: data_dir.map(Path::to_path_buf),
        configs: QUICK
            .iter()
            .filter(|(k, _)| !configs.iter().any(|(c, _)| c == k))
            .chain(configs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
    .expect("cluster starts")
}

/// A connection to broker `broker_id`.
pub async fn connect(cluster: &Cluster, broker_id: i32) -> Conn {
    let addr = cluster
        .address(broker_id)
        .expect("known broker")
        .to_string();
    Conn::connect(&addr).await
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// One batch of records `key-<i>`/`value-<i>` for `i` in `first..first + count`, record `i`
/// stamped `timestamp(i)`.
pub fn batch(first: usize, count: usize, timestamp: impl Fn(usize) -> i64) -> Bytes {
    let records: Vec<NewRecord> = (first..first + count)
        .map(|i| NewRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            timestamp: timestamp(i),
        })
        .collect();
    encode_producer_batch(&records, Compression::None)
        .unwrap()
        .freeze()
}

/// The keys [`batch`] gives the records of `range`.
pub fn keys(range: Range<usize>) -> Vec<String> {
    range.map(|i| format!("key-{i}")).collect()
}

/// (offset, key) of every record in `bytes` (whole batches).
pub fn decode_keys(mut bytes: Bytes) -> Vec<(i64, String)> {
    let mut keys = Vec::new();
    while !bytes.is_empty() {
        let decoded = RecordBatchDecoder::decode(&mut bytes).expect("batches decode");
        for record in decoded.records {
            let key = record.key.expect("keyed");
            keys.push((record.offset, String::from_utf8_lossy(&key).to_string()));
        }
    }
    keys
}

/// CreateTopics v7 for one topic with `configs`: the topic's result.
pub async fn create_topic_request(
    conn: &mut Conn,
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> create_topics_response::CreatableTopicResult {
    let configs = configs.iter().map(|(k, v)| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(k.to_string()))
            .with_value(Some(StrBytes::from_string(v.to_string())))
    });
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
                .with_configs(configs.collect()),
        ]);
    let ResponseKind::CreateTopics(mut r) = conn
        .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req))
        .await
    else {
        panic!("not CreateTopics")
    };
    r.topics.remove(0)
}

/// Creates `topic` with `configs`; it must succeed.
pub async fn create_topic_with(
    conn: &mut Conn,
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) {
    let t = create_topic_request(conn, topic, partitions, rf, configs).await;
    assert_eq!(t.error_code, 0, "{topic}: {:?}", t.error_message);
}

/// Metadata v12 of `topic`, never creating it.
pub async fn metadata(conn: &mut Conn, topic: &str) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]));
    let ResponseKind::Metadata(r) = conn
        .call(ApiKey::Metadata, 12, RequestKind::Metadata(req))
        .await
    else {
        panic!("not Metadata")
    };
    r
}

/// The topic part of [`metadata`].
pub async fn metadata_topic(
    conn: &mut Conn,
    topic: &str,
) -> metadata_response::MetadataResponseTopic {
    metadata(conn, topic).await.topics.remove(0)
}

/// Partition 0 of a topic as Metadata v12 describes it, with the brokers it lists.
#[derive(Debug, Clone)]
pub struct Partition0 {
    pub error_code: i16,
    pub topic_id: Uuid,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The live brokers the answer lists.
    pub brokers: Vec<i32>,
}

/// Partition 0 of `topic`; `None` while the topic has no partitions (or does not exist).
pub async fn partition0(conn: &mut Conn, topic: &str) -> Option<Partition0> {
    let mut r = metadata(conn, topic).await;
    let t = r.topics.remove(0);
    let p = t.partitions.first()?;
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Some(Partition0 {
        error_code: p.error_code,
        topic_id: t.topic_id,
        leader: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        replicas: ids(&p.replica_nodes),
        isr: ids(&p.isr_nodes),
        brokers: r.brokers.iter().map(|b| b.node_id.0).collect(),
    })
}

/// Produce v9 of `records` to partition 0 of `topic`: that partition's answer.
pub async fn produce_with(
    conn: &mut Conn,
    topic: &str,
    acks: i16,
    timeout_ms: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    produce_as(conn, None, topic, acks, timeout_ms, records).await
}

/// [`produce_with`] from a producer with `transactional_id` (`None`: without one).
pub async fn produce_as(
    conn: &mut Conn,
    transactional_id: Option<&str>,
    topic: &str,
    acks: i16,
    timeout_ms: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let transactional_id =
        transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string())));
    let req = ProduceRequest::default()
        .with_transactional_id(transactional_id)
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let ResponseKind::Produce(mut r) = conn
        .call(ApiKey::Produce, 9, RequestKind::Produce(req))
        .await
    else {
        panic!("not Produce")
    };
    r.responses.remove(0).partition_responses.remove(0)
}

/// Produce v9 of `records` to each of `partitions` of `topic` in one request (ten-second
/// timeout): (partition, error code) of each answer, in the response's order.
pub async fn produce_partitions(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
    records: &Bytes,
    acks: i16,
) -> Vec<(i32, i16)> {
    let data = partitions.iter().map(|&p| {
        PartitionProduceData::default()
            .with_index(p)
            .with_records(Some(records.clone()))
    });
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(data.collect()),
        ]);
    let ResponseKind::Produce(r) = conn
        .call(ApiKey::Produce, 9, RequestKind::Produce(req))
        .await
    else {
        panic!("not Produce")
    };
    r.responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| (p.index, p.error_code))
        .collect()
}

/// (error code, base offset) of a produce to partition 0 with a five-second timeout.
pub async fn produce(conn: &mut Conn, topic: &str, acks: i16, records: Bytes) -> (i16, i64) {
    let p = produce_with(conn, topic, acks, 5000, records).await;
    (p.error_code, p.base_offset)
}

/// How a Fetch names its sender and partition.
#[derive(Clone, Copy)]
pub struct FetchAs {
    pub version: i16,
    /// -1: a consumer; a broker id: a follower.
    pub replica_id: i32,
    pub current_leader_epoch: i32,
}

impl FetchAs {
    pub fn consumer(version: i16, current_leader_epoch: i32) -> FetchAs {
        FetchAs {
            version,
            replica_id: -1,
            current_leader_epoch,
        }
    }
}

/// A Fetch of partition 0 from `offset` (the topic named before v13, by id from v13 on):
/// that partition's answer.
pub async fn fetch_partition(
    conn: &mut Conn,
    topic: &str,
    topic_id: Uuid,
    offset: i64,
    how: FetchAs,
) -> fetch_response::PartitionData {
    fetch_partition_waiting(conn, topic, topic_id, offset, how, 0, 0).await
}

/// [`fetch_partition`] at `isolation_level` (1: read_committed) that waits up to
/// `max_wait_ms` for a byte.
pub async fn fetch_partition_waiting(
    conn: &mut Conn,
    topic: &str,
    topic_id: Uuid,
    offset: i64,
    how: FetchAs,
    isolation_level: i8,
    max_wait_ms: i32,
) -> fetch_response::PartitionData {
    let mut req = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_isolation_level(isolation_level)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(if how.version < 13 {
                    name(topic)
                } else {
                    TopicName::default()
                })
                .with_topic_id(if how.version >= 13 {
                    topic_id
                } else {
                    Uuid::nil()
                })
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(how.current_leader_epoch)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    if how.version >= 15 {
        req.replica_state = fetch_request::ReplicaState::default()
            .with_replica_id(BrokerId(how.replica_id))
            .with_replica_epoch(-1);
    } else {
        req.replica_id = BrokerId(how.replica_id);
    }
    let ResponseKind::Fetch(mut r) = conn
        .call(ApiKey::Fetch, how.version, RequestKind::Fetch(req))
        .await
    else {
        panic!("not Fetch")
    };
    assert_eq!(r.error_code, 0, "top-level error");
    r.responses.remove(0).partitions.remove(0)
}

/// A consumer's read (Fetch v12) of partition 0 from `offset`: (error code, high watermark,
/// log start offset, keys).
pub async fn read_from(conn: &mut Conn, topic: &str, offset: i64) -> (i16, i64, i64, Vec<String>) {
    let p = fetch_partition(conn, topic, Uuid::nil(), offset, FetchAs::consumer(12, -1)).await;
    let keys = decode_keys(p.records.unwrap_or_default());
    (
        p.error_code,
        p.high_watermark,
        p.log_start_offset,
        keys.into_iter().map(|(_, k)| k).collect(),
    )
}

/// ListOffsets (`version`) of partition 0 at `timestamp` (-2 earliest, -1 latest, -3 max
/// timestamp): that partition's answer.
pub async fn list_offsets(
    conn: &mut Conn,
    topic: &str,
    version: i16,
    timestamp: i64,
) -> list_offsets_response::ListOffsetsPartitionResponse {
    list_offsets_isolated(conn, topic, version, timestamp, 0).await
}

/// [`list_offsets`] at `isolation_level` (1: read_committed, from v2).
pub async fn list_offsets_isolated(
    conn: &mut Conn,
    topic: &str,
    version: i16,
    timestamp: i64,
    isolation_level: i8,
) -> list_offsets_response::ListOffsetsPartitionResponse {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp),
                ]),
        ]);
    let ResponseKind::ListOffsets(mut r) = conn
        .call(ApiKey::ListOffsets, version, RequestKind::ListOffsets(req))
        .await
    else {
        panic!("not ListOffsets")
    };
    r.topics.remove(0).partitions.remove(0)
}

/// DeleteTopics v6 of `(name, id)` entries: (name, id, error code) per answer, in order.
pub async fn delete_topics(
    conn: &mut Conn,
    entries: Vec<(Option<&str>, Uuid)>,
) -> Vec<(Option<String>, Uuid, i16)> {
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(
            entries
                .into_iter()
                .map(|(n, id)| {
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(n.map(name))
                        .with_topic_id(id)
                })
                .collect(),
        );
    let ResponseKind::DeleteTopics(r) = conn
        .call(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(req))
        .await
    else {
        panic!("not DeleteTopics")
    };
    r.responses
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()),
                t.topic_id,
                t.error_code,
            )
        })
        .collect()
}

/// CreatePartitions v3: (name, error code) per answer, in order.
pub async fn create_partitions(
    conn: &mut Conn,
    topics: &[(&str, i32)],
    validate_only: bool,
) -> Vec<(String, i16)> {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_validate_only(validate_only)
        .with_topics(
            topics
                .iter()
                .map(|(topic, count)| {
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(name(topic))
                        .with_count(*count)
                        .with_assignments(None)
                })
                .collect(),
        );
    let ResponseKind::CreatePartitions(r) = conn
        .call(
            ApiKey::CreatePartitions,
            3,
            RequestKind::CreatePartitions(req),
        )
        .await
    else {
        panic!("not CreatePartitions")
    };
    r.results
        .iter()
        .map(|t| (t.name.0.to_string(), t.error_code))
        .collect()
}

/// Ten seconds from now: how long a step may poll for what it waits on.
pub fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(10)
}

/// Polls `check` every 20 ms until it gives a value; fails after ten seconds.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = deadline();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Partition 0 of `topic` after its preferred leader (its first replica) was stopped and
/// another replica elected: (preferred, new leader, the new leader's epoch). The preferred
/// broker stays stopped.
pub async fn stop_preferred_leader(cluster: &mut Cluster, topic: &str) -> (i32, i32, i32) {
    let mut conn = connect(cluster, 1).await;
    let before = partition0(&mut conn, topic).await.expect("a partition");
    let preferred = before.replicas[0];
    assert_eq!(
        before.leader, preferred,
        "a new topic is led by its first replica"
    );
    cluster.stop(preferred).await;
    let other = *before.replicas.iter().find(|b| **b != preferred).unwrap();
    let mut conn = connect(cluster, other).await;
    let (leader, epoch) = eventually("another replica leads", async || {
        let p = partition0(&mut conn, topic).await?;
        let elected =
            p.leader != preferred && p.leader != -1 && p.leader_epoch > before.leader_epoch;
        elected.then_some((p.leader, p.leader_epoch))
    })
    .await;
    (preferred, leader, epoch)
}

/// Starts broker `broker_id` again and waits until it is back in the ISR of partition 0 of
/// `topic`, as `conn` (to another broker) sees it: that partition then.
pub async fn restart_into_isr(
    cluster: &mut Cluster,
    conn: &mut Conn,
    broker_id: i32,
    topic: &str,
) -> Partition0 {
    cluster.start_broker(broker_id).await.expect("restart");
    cluster.wait_until_unfenced().await.expect("registered");
    eventually("the restarted broker rejoins the ISR", async || {
        partition0(conn, topic)
            .await
            .filter(|p| p.isr.contains(&broker_id))
    })
    .await
}

/// ElectLeaders (`version`, `election_type`, `topic_partitions`): the response.
pub async fn elect_leaders(
    conn: &mut Conn,
    version: i16,
    election_type: i8,
    topic_partitions: Option<&[(&str, &[i32])]>,
    timeout_ms: i32,
) -> ElectLeadersResponse {
    let topics = topic_partitions.map(|topics| {
        topics
            .iter()
            .map(|(topic, partitions)| {
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(name(topic))
                    .with_partitions(partitions.to_vec())
            })
            .collect()
    });
    let req = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topics)
        .with_timeout_ms(timeout_ms);
    let ResponseKind::ElectLeaders(r) = conn
        .call(
            ApiKey::ElectLeaders,
            version,
            RequestKind::ElectLeaders(req),
        )
        .await
    else {
        panic!("not ElectLeaders")
    };
    r
}

/// (topic, partition, error code, error message) of every result of an ElectLeaders, in
/// order.
pub fn election_results(r: &ElectLeadersResponse) -> Vec<(String, i32, i16, Option<String>)> {
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result.iter().map(|p| {
                (
                    t.topic.0.to_string(),
                    p.partition_id,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
        })
        .collect()
}

/// FindCoordinator v3 for group `group`: (error code, node id).
pub async fn find_group_coordinator(conn: &mut Conn, group: &str) -> (i16, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_string()))
        .with_key_type(0);
    let r = find_coordinator(conn, 3, req).await;
    (r.error_code, r.node_id.0)
}

/// One FindCoordinator request of `version`, and its response.
pub async fn find_coordinator(
    conn: &mut Conn,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let request = RequestKind::FindCoordinator(req);
    let ResponseKind::FindCoordinator(r) =
        conn.call(ApiKey::FindCoordinator, version, request).await
    else {
        panic!("not FindCoordinator")
    };
    r
}

/// OffsetFetch v8 of all of `group`'s offsets: the group's error code.
pub async fn offset_fetch_error(conn: &mut Conn, group: &str) -> i16 {
    let req = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(None),
    ]);
    let ResponseKind::OffsetFetch(r) = conn
        .call(ApiKey::OffsetFetch, 8, RequestKind::OffsetFetch(req))
        .await
    else {
        panic!("not OffsetFetch")
    };
    r.groups[0].error_code
}

/// A connection to `group`'s coordinator once it serves the group: FindCoordinator (via
/// broker `via`) asked again while it answers COORDINATOR_NOT_AVAILABLE (the first one only
/// asks for `__consumer_offsets`), then OffsetFetch, which writes nothing, asked again while
/// the coordinator answers COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR (it has not yet
/// taken up the group's partition). Fails on any other answer or after ten seconds.
pub async fn group_coordinator(cluster: &Cluster, via: i32, group: &str) -> (i32, Conn) {
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    const NOT_COORDINATOR: i16 = 16;
    let until = deadline();
    let mut conn = connect(cluster, via).await;
    let pause = || tokio::time::sleep(Duration::from_millis(20));
    let coordinator = loop {
        match find_group_coordinator(&mut conn, group).await {
            (0, node) => break node,
            (COORDINATOR_NOT_AVAILABLE, _) if tokio::time::Instant::now() < until => pause().await,
            other => panic!("FindCoordinator for {group} answered {other:?}"),
        }
    };
    let mut conn = connect(cluster, coordinator).await;
    loop {
        match offset_fetch_error(&mut conn, group).await {
            0 => return (coordinator, conn),
            COORDINATOR_LOAD_IN_PROGRESS | NOT_COORDINATOR
                if tokio::time::Instant::now() < until =>
            {
                pause().await
            }
            other => panic!("OffsetFetch at coordinator {coordinator} answered {other}"),
        }
    }
}

/// JoinGroup v9 of a consumer member of `group` (the first with an empty member id) with
/// one protocol, "range", and ten-second session and rebalance timeouts.
pub async fn join_group(conn: &mut Conn, group: &str, member_id: &str) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ]);
    let ResponseKind::JoinGroup(r) = conn
        .call(ApiKey::JoinGroup, 9, RequestKind::JoinGroup(req))
        .await
    else {
        panic!("not JoinGroup")
    };
    r
}

/// SyncGroup v5 of `member_id` of a "consumer"/"range" group, giving itself `assignment`
/// (as the leader of a one-member group does).
pub async fn sync_group(
    conn: &mut Conn,
    group: &str,
    generation: i32,
    member_id: &str,
    assignment: Bytes,
) -> SyncGroupResponse {
    let member = StrBytes::from_string(member_id.to_string());
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id(generation)
        .with_member_id(member.clone())
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(Some(StrBytes::from_static_str("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member)
                .with_assignment(assignment),
        ]);
    let ResponseKind::SyncGroup(r) = conn
        .call(ApiKey::SyncGroup, 5, RequestKind::SyncGroup(req))
        .await
    else {
        panic!("not SyncGroup")
    };
    r
}

/// OffsetCommit v8 of `offset` for partition 0 of `topic` by `group` (generation -1 and an
/// empty member id: a commit from outside any group membership): the partition's error code.
pub async fn offset_commit(conn: &mut Conn, group: &str, topic: &str, offset: i64) -> i16 {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::default())
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1),
                ]),
        ]);
    let ResponseKind::OffsetCommit(r) = conn
        .call(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(req))
        .await
    else {
        panic!("not OffsetCommit")
    };
    r.topics[0].partitions[0].error_code
}

/// DescribeProducers v0 of `req`: the response.
pub async fn describe_producers(
    conn: &mut Conn,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let ResponseKind::DescribeProducers(r) = conn
        .call(
            ApiKey::DescribeProducers,
            0,
            RequestKind::DescribeProducers(req),
        )
        .await
    else {
        panic!("not DescribeProducers")
    };
    r
}

/// One step of a scenario recorded against Kafka: (step, error code, error message).
pub type Step = (&'static str, i16, Option<String>);

/// What Kafka answered to one step: (step, error code, error message).
pub type KafkaAnswer = (&'static str, i16, Option<&'static str>);

/// Asserts that the steps `seen` answered what Kafka answered (`expected`), step by step.
pub fn compare_steps(seen: &[Step], expected: &[KafkaAnswer]) {
    for ((step, code, message), (expected_step, expected_code, expected_message)) in
        seen.iter().zip(expected)
    {
        assert_eq!(step, expected_step);
        assert_eq!(
            (*code, message.as_deref()),
            (*expected_code, *expected_message),
            "{step}"
        );
    }
    assert_eq!(seen.len(), expected.len());
}

/// The bootstrap address of a real Kafka to run a recorded scenario against
/// (`KAFKA_SPEC_BOOTSTRAP`), or `None`, saying the test is skipped.
pub fn kafka_bootstrap() -> Option<String> {
    let bootstrap = std::env::var("KAFKA_SPEC_BOOTSTRAP").ok();
    if bootstrap.is_none() {
        eprintln!("skipped: KAFKA_SPEC_BOOTSTRAP is not set");
    }
    bootstrap
}

/// Prints each step's answer (a run against a real Kafka, to record it).
pub fn print_steps(seen: &[Step]) {
    for (step, code, message) in seen {
        eprintln!("{step}: {code} {message:?}");
    }
}
