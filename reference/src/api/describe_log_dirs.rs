//! DescribeLogDirs (KIP-113, KIP-827): the broker's log directories, the replicas in each with
//! their size on disk, and the volume's total and usable bytes, as `kafka-log-dirs --describe`
//! and the admin client's `describeLogDirs` ask every broker for its own.
//!
//! Answered as a Kafka broker answers (`KafkaApis.handleDescribeLogDirsRequest`,
//! `ReplicaManager.describeLogDirs`): one result per log directory, and a broker here has one,
//! its `log.dirs` (`<data_dir>/broker-<id>`, as an absolute path). In it, every replica this
//! broker holds (leader or follower, of any topic, internal ones included; never the
//! `__cluster_metadata` log, which Kafka's `LogManager` does not hold either), grouped by
//! topic: `partition_size` is the bytes of its log segments (the `.log` files, not the
//! indexes: `UnifiedLog.size`), `offset_lag` is `max(high watermark - log end offset, 0)`,
//! always 0 for a current replica, and `is_future_key` false (no replica is ever moved
//! between directories: AlterReplicaLogDirs is not supported, so there is no future log).
//! `topics` null asks for every replica; otherwise only the named partitions this broker
//! holds are listed, a topic or partition it does not hold is left out without an error,
//! and a topic left with no partition is left out too. Topics come sorted by name and
//! partitions by index (Kafka's order is its hash maps'; no client relies on it).
//!
//! v4's `total_bytes` and `usable_bytes` are the volume's, from `statvfs` of the directory
//! (`f_blocks` and `f_bavail` times `f_frsize`, as Java's `FileStore.getTotalSpace` and
//! `getUsableSpace` read them); v1 to v3 do not carry them. A directory `statvfs` cannot read is answered as Kafka answers an
//! offline one: KAFKA_STORAGE_ERROR and no topics. In memory mode (no data directory) the
//! broker's one log dir is named [`MEMORY_LOG_DIR`] with -1 for both sizes (the schema's
//! "unknown"), and its replicas' sizes are the bytes their in-memory segments hold.
//!
//! The top-level error code (v3+) is 0: there is no authorizer, so DESCRIBE on the cluster
//! is always allowed (Kafka answers CLUSTER_AUTHORIZATION_FAILED and no results otherwise).
//!
//! # Versions
//! Kafka 4.3.1 advertises v1 to v5; v5 (KIP-1066) adds `is_cordoned` to each result, which
//! `kafka-protocol` 0.18 does not have, so the broker advertises v1 to v4 and clients pick
//! v4 (Kafka's own 4.3.1 admin client and `kafka-log-dirs` do).
//!
//! # References
//! - KIP-113 (log directories), KIP-827 (total and usable bytes), KIP-1066 (cordoning);
//!   Kafka protocol guide, DescribeLogDirs API
//! - `kafka.server.KafkaApis.handleDescribeLogDirsRequest`, `ReplicaManager.describeLogDirs`,
//!   `ReplicaManager.getLogEndOffsetLag`, `org.apache.kafka.tools.LogDirsCommand`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::VersionRange;

use super::str;
use crate::cluster::NodeState;
use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };

/// The log dir a broker without a data directory reports, followed by `/broker-<id>`.
pub const MEMORY_LOG_DIR: &str = "memory:";

/// `DescribeLogDirsResult`'s default for `total_bytes` and `usable_bytes`: unknown.
const UNKNOWN_BYTES: i64 = -1;

/// What a volume holds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total_bytes: i64,
    pub usable_bytes: i64,
}

pub fn handle(shared: &Shared, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let node = &shared.node;
    let (log_dir, space) = match node.log_dir() {
        Some(dir) => {
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            (absolute.display().to_string(), volume_space(&absolute))
        }
        None => (
            format!("{MEMORY_LOG_DIR}broker-{}", node.id),
            Ok(Space {
                total_bytes: UNKNOWN_BYTES,
                usable_bytes: UNKNOWN_BYTES,
            }),
        ),
    };
    let result = DescribeLogDirsResult::default().with_log_dir(str(&log_dir));
    let result = match space {
        Ok(space) => {
            let wanted = req.topics.map(|topics| {
                let mut wanted: Wanted = HashMap::new();
                for t in topics {
                    wanted
                        .entry(t.topic.0.to_string())
                        .or_default()
                        .extend(t.partitions);
                }
                wanted
            });
            result
                .with_topics(replicas(&node.state(), wanted.as_ref()))
                .with_total_bytes(space.total_bytes)
                .with_usable_bytes(space.usable_bytes)
        }
        Err(error) => {
            tracing::warn!(broker = node.id, %log_dir, %error, "cannot describe the log dir");
            result.with_error_code(ResponseError::KafkaStorageError.code())
        }
    };
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// The partitions a request names, by topic.
type Wanted = HashMap<String, HashSet<i32>>;

/// The replicas this broker holds, by topic (`wanted`: only these partitions).
fn replicas(state: &NodeState, wanted: Option<&Wanted>) -> Vec<DescribeLogDirsTopic> {
    let mut topics: BTreeMap<&str, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for (&(topic_id, index), partition) in &state.partitions {
        let Some(topic) = state.image.topic(topic_id) else {
            continue;
        };
        if let Some(wanted) = wanted
            && !wanted
                .get(topic.name.as_str())
                .is_some_and(|partitions| partitions.contains(&index))
        {
            continue;
        }
        let offset_lag = (partition.high_watermark() - partition.log_end_offset()).max(0);
        topics.entry(&topic.name).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(index)
                .with_partition_size(
                    i64::try_from(partition.log().size_bytes()).unwrap_or(i64::MAX),
                )
                .with_offset_lag(offset_lag)
                .with_is_future_key(false),
        );
    }
    topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(str(name)))
                .with_partitions(partitions)
        })
        .collect()
}

/// The volume `dir` is on: `statvfs`, read as Java's `UnixFileStore` reads it (a size past
/// `i64::MAX` is `i64::MAX`, as `ReplicaManager.adjustForLargeFileSystems` makes it).
#[cfg(unix)]
pub fn volume_space(dir: &Path) -> std::io::Result<Space> {
    let vfs = rustix::fs::statvfs(dir)?;
    let bytes =
        |blocks: u64| i64::try_from(blocks.saturating_mul(vfs.f_frsize)).unwrap_or(i64::MAX);
    Ok(Space {
        total_bytes: bytes(vfs.f_blocks),
        usable_bytes: bytes(vfs.f_bavail),
    })
}

/// Elsewhere the sizes are unknown (the schema's -1), as a Kafka broker whose file store
/// cannot tell would not be, but honestly so.
#[cfg(not(unix))]
pub fn volume_space(_dir: &Path) -> std::io::Result<Space> {
    Ok(Space {
        total_bytes: UNKNOWN_BYTES,
        usable_bytes: UNKNOWN_BYTES,
    })
}
