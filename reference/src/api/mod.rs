//! The Kafka APIs the reference answers, one module per API.
//!
//! Each module declares `VERSIONS`, the versions it really handles (its semantics, not just
//! the codec's schema range), and ApiVersions is built from [`SUPPORTED`]. A request for an
//! API or version not in that table never reaches a handler: the connection answers
//! ApiVersions with UNSUPPORTED_VERSION and closes the connection for anything else, as
//! Kafka does.
//!
//! Every broker, of a cluster of one or of many, answers with these handlers, from its
//! metadata image and its replicas ([`crate::cluster::Node`]); topic changes go to the
//! controller as a KRaft broker forwards them. Handlers lock the node's state only for
//! synchronous work and never across an `.await`.
//!
//! # References
//! - Kafka protocol guide: <https://kafka.apache.org/protocol.html>
//! - KIP-896 (Kafka 4.0 removed old protocol versions; the minimums below follow it)

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use tokio::time::Instant;
use uuid::Uuid;

use crate::cluster::Node;
use crate::controller::MetadataImage;
use crate::group::{Completion, Effects, GroupCoordinator, RequestContext, RequestToken};
use crate::server::Shared;
use crate::shutdown::Shutdown;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod authorized_operations;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod unsupported;
pub mod write_txn_markers;

/// Every API the broker handles, with the versions it really handles.
pub const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (
        ApiKey::OffsetForLeaderEpoch,
        offset_for_leader_epoch::VERSIONS,
    ),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (ApiKey::DescribeLogDirs, describe_log_dirs::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::DeleteRecords, delete_records::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (
        ApiKey::ConsumerGroupHeartbeat,
        consumer_group_heartbeat::VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        consumer_group_describe::VERSIONS,
    ),
    (ApiKey::ElectLeaders, elect_leaders::VERSIONS),
    (
        ApiKey::AlterPartitionReassignments,
        alter_partition_reassignments::VERSIONS,
    ),
    (
        ApiKey::ListPartitionReassignments,
        list_partition_reassignments::VERSIONS,
    ),
    (
        ApiKey::IncrementalAlterConfigs,
        incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::DescribeQuorum, describe_quorum::VERSIONS),
    (ApiKey::DescribeCluster, describe_cluster::VERSIONS),
    (
        ApiKey::DescribeTopicPartitions,
        describe_topic_partitions::VERSIONS,
    ),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (ApiKey::DescribeProducers, describe_producers::VERSIONS),
    (ApiKey::AddPartitionsToTxn, add_partitions_to_txn::VERSIONS),
    (ApiKey::AddOffsetsToTxn, add_offsets_to_txn::VERSIONS),
    (ApiKey::EndTxn, end_txn::VERSIONS),
    (
        ApiKey::DescribeTransactions,
        describe_transactions::VERSIONS,
    ),
    (ApiKey::ListTransactions, list_transactions::VERSIONS),
    (ApiKey::TxnOffsetCommit, txn_offset_commit::VERSIONS),
    (ApiKey::WriteTxnMarkers, write_txn_markers::VERSIONS),
];

/// The versions of `key` the broker handles, if any.
pub fn supported_versions(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A Kafka error code with the message Kafka would send beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: i16,
    pub message: String,
}

impl KafkaError {
    pub fn new(error: ResponseError, message: impl Into<String>) -> KafkaError {
        KafkaError {
            code: error.code(),
            message: message.into(),
        }
    }
}

pub fn unknown_topic_or_partition() -> KafkaError {
    KafkaError::new(
        ResponseError::UnknownTopicOrPartition,
        "This server does not host this topic-partition.",
    )
}

/// What a handler gives back: a response, nothing at all (Produce with acks=0), or a reason
/// to close the connection.
pub enum Reply {
    Response(Box<ResponseKind>),
    NoResponse,
    Close(String),
}

/// Who sent a request: what the group coordinator reports about members.
pub struct ClientInfo<'a> {
    pub api_version: i16,
    pub client_id: &'a str,
    /// `/` and the peer's IP, as Kafka shows client hosts.
    pub client_host: String,
}

impl ClientInfo<'_> {
    pub fn context(&self) -> RequestContext<'_> {
        RequestContext {
            api_version: self.api_version,
            client_id: self.client_id,
            client_host: &self.client_host,
        }
    }
}

/// Parks a JoinGroup/SyncGroup, hands it to the group coordinator with `call` (its token and
/// the time) and waits for its completion; `None` on shutdown. A failed write answers the
/// parked requests it would have completed itself.
pub async fn write_parked(
    shared: &Shared,
    shutdown: &mut Shutdown,
    call: impl FnOnce(&mut GroupCoordinator, RequestToken, i64) -> Effects,
) -> Option<Completion> {
    let (token, parked) = shared.groups.park();
    shared
        .groups
        .write(|c, _, now| ((), call(c, token, now)), |answer, _| answer)
        .await;
    tokio::select! {
        completion = parked => completion.ok(),
        _ = shutdown.recv() => {
            shared.groups.forget(token);
            None
        }
    }
}

/// Dispatches one decoded request to its handler.
pub async fn handle(
    shared: &Shared,
    header: &RequestHeader,
    peer: SocketAddr,
    request: RequestKind,
    shutdown: &mut Shutdown,
) -> Reply {
    let version = header.request_api_version;
    let client = ClientInfo {
        api_version: version,
        client_id: header.client_id.as_ref().map_or("", |c| c.as_str()),
        client_host: format!("/{}", peer.ip()),
    };
    let response = match request {
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(shared, req, version))
        }
        RequestKind::JoinGroup(req) => {
            return join_group::handle(shared, &client, req, shutdown).await;
        }
        RequestKind::SyncGroup(req) => {
            return sync_group::handle(shared, &client, req, shutdown).await;
        }
        RequestKind::Heartbeat(req) => {
            ResponseKind::Heartbeat(heartbeat::handle(shared, &client, req).await)
        }
        RequestKind::LeaveGroup(req) => {
            ResponseKind::LeaveGroup(leave_group::handle(shared, &client, req).await)
        }
        RequestKind::OffsetCommit(req) => {
            ResponseKind::OffsetCommit(offset_commit::handle(shared, &client, req).await)
        }
        RequestKind::WriteTxnMarkers(req) => {
            ResponseKind::WriteTxnMarkers(write_txn_markers::handle(shared, req).await)
        }
        RequestKind::TxnOffsetCommit(req) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(shared, &client, req).await)
        }
        RequestKind::OffsetFetch(req) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(shared, &client, req))
        }
        RequestKind::ListGroups(req) => {
            ResponseKind::ListGroups(list_groups::handle(shared, &client, req))
        }
        RequestKind::DescribeGroups(req) => {
            ResponseKind::DescribeGroups(describe_groups::handle(shared, &client, req))
        }
        RequestKind::DeleteGroups(req) => {
            ResponseKind::DeleteGroups(delete_groups::handle(shared, &client, req).await)
        }
        RequestKind::ConsumerGroupHeartbeat(req) => ResponseKind::ConsumerGroupHeartbeat(
            consumer_group_heartbeat::handle(shared, &client, req).await,
        ),
        RequestKind::ConsumerGroupDescribe(req) => {
            ResponseKind::ConsumerGroupDescribe(consumer_group_describe::handle(shared, req))
        }
        RequestKind::OffsetDelete(req) => {
            ResponseKind::OffsetDelete(offset_delete::handle(shared, &client, req).await)
        }
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle(0)),
        RequestKind::Metadata(req) => {
            ResponseKind::Metadata(metadata::handle(shared, req, version))
        }
        RequestKind::CreateTopics(req) => {
            ResponseKind::CreateTopics(create_topics::handle(shared, req, version).await)
        }
        RequestKind::DeleteTopics(req) => {
            ResponseKind::DeleteTopics(delete_topics::handle(shared, req, version).await)
        }
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(create_partitions::handle(shared, req).await)
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(shared, req, version))
        }
        RequestKind::AlterConfigs(req) => {
            ResponseKind::AlterConfigs(alter_configs::handle(shared, req).await)
        }
        RequestKind::DescribeLogDirs(req) => {
            ResponseKind::DescribeLogDirs(describe_log_dirs::handle(shared, req))
        }
        RequestKind::IncrementalAlterConfigs(req) => ResponseKind::IncrementalAlterConfigs(
            incremental_alter_configs::handle(shared, req).await,
        ),
        RequestKind::DescribeQuorum(req) => {
            ResponseKind::DescribeQuorum(describe_quorum::handle(shared, req, version).await)
        }
        RequestKind::DescribeTopicPartitions(req) => {
            ResponseKind::DescribeTopicPartitions(describe_topic_partitions::handle(shared, req))
        }
        RequestKind::DescribeCluster(req) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(shared, req, version))
        }
        RequestKind::DeleteRecords(req) => {
            ResponseKind::DeleteRecords(delete_records::handle(shared, req, shutdown).await)
        }
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets::handle(shared, req, version))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(shared, req))
        }
        RequestKind::ElectLeaders(req) => {
            ResponseKind::ElectLeaders(elect_leaders::handle(shared, req, version).await)
        }
        RequestKind::AlterPartitionReassignments(req) => ResponseKind::AlterPartitionReassignments(
            alter_partition_reassignments::handle(shared, req, version).await,
        ),
        RequestKind::ListPartitionReassignments(req) => ResponseKind::ListPartitionReassignments(
            list_partition_reassignments::handle(shared, req).await,
        ),
        RequestKind::DescribeProducers(req) => {
            ResponseKind::DescribeProducers(describe_producers::handle(shared, req))
        }
        RequestKind::InitProducerId(req) => {
            ResponseKind::InitProducerId(init_producer_id::handle(shared, req).await)
        }
        RequestKind::AddPartitionsToTxn(req) => ResponseKind::AddPartitionsToTxn(
            add_partitions_to_txn::handle(shared, req, version).await,
        ),
        RequestKind::AddOffsetsToTxn(req) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(shared, req).await)
        }
        RequestKind::EndTxn(req) => {
            ResponseKind::EndTxn(end_txn::handle(shared, req, version).await)
        }
        RequestKind::DescribeTransactions(req) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(shared, req))
        }
        RequestKind::ListTransactions(req) => {
            ResponseKind::ListTransactions(list_transactions::handle(shared, req, version))
        }
        RequestKind::Produce(req) => return produce::handle(shared, req, version, shutdown).await,
        RequestKind::Fetch(req) => {
            ResponseKind::Fetch(fetch::handle(shared, req, version, shutdown).await)
        }
        other => return unsupported::reply(other),
    };
    Reply::Response(Box::new(response))
}

/// Wall-clock milliseconds since the epoch, the broker's notion of "now".
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The topic a Produce or Fetch names: by id from v13 on, else by name.
pub(crate) fn requested_topic(
    image: &MetadataImage,
    version: i16,
    id: Uuid,
    name: &str,
) -> Option<Uuid> {
    if version >= 13 {
        image.topic(id).map(|t| t.topic_id)
    } else {
        image.topic_id(name)
    }
}

/// Waits, up to the request's `timeout_ms` (at most 30 s), until this broker's own image
/// satisfies `done`: a topic change is answered once the broker that took it shows it, so
/// that the client's next request here agrees.
pub(crate) async fn until_image(
    node: &Node,
    timeout_ms: i32,
    done: impl Fn(&MetadataImage) -> bool,
) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.clamp(0, 30_000) as u64);
    let mut applied = node.applied.subscribe();
    while !done(&node.state().image) && Instant::now() < deadline {
        // Woken when a metadata batch is applied; the sleep bounds a wake-up lost in between.
        let _ = tokio::time::timeout(Duration::from_millis(5), applied.changed()).await;
    }
}

/// How long Kafka's broker keeps a request forwarded to an unreachable controller before it
/// gives up: the forwarding channel's `retryTimeoutMs` (`BrokerServer`).
const FORWARDING_RETRY_TIMEOUT_MS: i32 = 60_000;

/// Whether this broker reaches the controller, waiting while it is cut off from it (see
/// [`crate::cluster::Fault`]) for the request's `timeout_ms` at most (and never beyond
/// [`FORWARDING_RETRY_TIMEOUT_MS`]).
///
/// A Kafka broker forwards CreateTopics, CreatePartitions, DeleteTopics and ElectLeaders to
/// the controller (`ForwardingManager`, KIP-590); while the controller cannot be reached the
/// forwarded request waits, and when the channel's retry timeout passes the client gets the
/// request's error response for a `TimeoutException`: REQUEST_TIMED_OUT on every topic,
/// without a message (`ForwardingResponseHandler.onTimeout`,
/// `CreateTopicsRequest.getErrorResponse` and its siblings). Kafka's wait is that fixed
/// minute; here the request's own timeout bounds it too, so the answer comes while the client
/// is still waiting for it. A broker that reaches the controller again in time goes on with
/// the request, as Kafka's retries would.
pub(crate) async fn reach_controller(node: &Node, timeout_ms: i32) -> bool {
    if node.faults.reaches_controller(node.id) {
        return true;
    }
    let Some(mut fault) = node.faults.subscribe(node.id) else {
        return true;
    };
    let wait = Duration::from_millis(timeout_ms.clamp(0, FORWARDING_RETRY_TIMEOUT_MS) as u64);
    let healed = tokio::time::timeout(wait, fault.wait_for(|f| !f.isolated)).await;
    matches!(healed, Ok(Ok(_)))
}
