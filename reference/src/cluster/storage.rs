//! Where a cluster broker keeps its replicas between incarnations.
//!
//! With a data directory each broker has Kafka's layout under `<data_dir>/broker-<id>`:
//!
//! - `<topic>-<partition>/`: the replica's [`Log`] (segments and indexes), its
//!   `leader-epoch-checkpoint` (written at every change of the epoch cache, see
//!   [`LeaderEpochCache::open`]) and `partition.metadata` (the topic id, so that a directory
//!   left by an older topic of the same name is never taken for the new one's);
//! - `replication-offset-checkpoint`: every replica's high watermark, and
//!   `log-start-offset-checkpoint`: every log start offset above zero, both in Kafka's offset
//!   checkpoint format (a version line `0`, a count line, then `topic partition offset` lines),
//!   written every `replica.high.watermark.checkpoint.interval.ms` and when the broker stops.
//!
//! A broker that starts again (in this process or a new one) opens each replica from these
//! files when the metadata gives it the replica again: its log is recovered from the segments,
//! its epoch cache read back and cut to the recovered log end offset, and its high watermark
//! taken from the checkpoint (kept within the log).
//!
//! Once the broker's metadata has caught up, replicas of topics it no longer has (deleted
//! while the broker was down) are *stray* and deleted, as Kafka's broker does at startup
//! (KIP-858 / `LogManager` stray logs); only directories with a `partition.metadata` are
//! considered, so anything else under the data directory is left alone.
//!
//! A replica deleted with its topic (or as a stray), and a directory of an older topic of the
//! same name that a new replica replaces, take their checkpoint entries with them and the
//! files are rewritten at once: a topic created again under the same name starts at offset 0,
//! not at the old topic's log start offset, after any restart.
//!
//! Without a data directory the replicas of a stopped broker are kept in memory, as the same
//! [`Durable`] parts, for its next incarnation.
//!
//! # References
//! - Apache Kafka sources: `LogManager` (`checkpointLogRecoveryOffsets`,
//!   `checkpointLogStartOffsets`), `ReplicaManager.checkpointHighWatermarks`,
//!   `OffsetCheckpointFile`, `PartitionMetadataFile`, `LogLoader`

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use super::node::PartitionKey;
use crate::log::{LeaderEpochCache, Log, LogConfig};

/// The high watermarks of every replica of a broker.
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// The log start offsets of every replica of a broker.
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// The topic id of a partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// What a replica keeps across a crash.
pub struct Durable {
    pub log: Log,
    pub cache: LeaderEpochCache,
    pub high_watermark: i64,
}

/// The partition name in checkpoints: (topic, partition).
type TopicPartition = (String, i32);

#[derive(Default)]
struct Checkpoints {
    high_watermarks: BTreeMap<TopicPartition, i64>,
    log_start_offsets: BTreeMap<TopicPartition, i64>,
}

/// One broker's storage; see the module docs.
pub struct Disk {
    /// `<data_dir>/broker-<id>`; `None`: memory only.
    dir: Option<PathBuf>,
    /// Memory mode: the replicas of the stopped incarnation.
    kept: Mutex<BTreeMap<PartitionKey, Durable>>,
    checkpoints: Mutex<Checkpoints>,
}

/// One replica's state for a checkpoint.
pub struct ReplicaOffsets {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Disk {
    pub fn memory() -> Disk {
        Disk {
            dir: None,
            kept: Mutex::new(BTreeMap::new()),
            checkpoints: Mutex::new(Checkpoints::default()),
        }
    }

    pub fn at(dir: PathBuf) -> Disk {
        Disk {
            dir: Some(dir),
            ..Disk::memory()
        }
    }

    /// `<data_dir>/broker-<id>`, the broker's one log directory (`log.dirs`); `None` in
    /// memory mode.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn kept(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Durable>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn checkpoints(&self) -> MutexGuard<'_, Checkpoints> {
        self.checkpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the checkpoint files, at the start of an incarnation (nothing in memory mode).
    pub fn load(&self) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        fs::create_dir_all(dir)?;
        let loaded = Checkpoints {
            high_watermarks: read_offsets(&dir.join(HIGH_WATERMARK_CHECKPOINT_FILE))?,
            log_start_offsets: read_offsets(&dir.join(LOG_START_OFFSET_CHECKPOINT_FILE))?,
        };
        *self.checkpoints() = loaded;
        Ok(())
    }

    /// The replica `key` of `topic`: what the last incarnation left, or a new empty one.
    pub fn open_replica(
        &self,
        key: PartitionKey,
        topic: &str,
        config: LogConfig,
        now_ms: i64,
    ) -> io::Result<Durable> {
        let Some(dir) = &self.dir else {
            return Ok(self.kept().remove(&key).unwrap_or_else(|| Durable {
                log: Log::in_memory(config, now_ms),
                cache: LeaderEpochCache::new(),
                high_watermark: 0,
            }));
        };
        let partition_dir = dir.join(format!("{topic}-{}", key.1));
        // A replica that cannot be opened leaves no directory behind, unless the directory
        // was there before with this topic's log (kept for a later try).
        let existed = partition_dir.exists();
        let (opened, made_here) = match claim_partition_dir(&partition_dir, key.0) {
            Ok(claimed) => (
                self.open_claimed(&partition_dir, claimed, (topic, key.1), config, now_ms),
                claimed == Claimed::Afresh,
            ),
            Err(e) => (Err(e), !existed),
        };
        if opened.is_err() && made_here {
            match fs::remove_dir_all(&partition_dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(dir = %partition_dir.display(), error = %e, "could not remove a replica directory");
                }
                _ => {}
            }
        }
        opened
    }

    /// [`Disk::open_replica`] of a directory `claim_partition_dir` made the topic's.
    fn open_claimed(
        &self,
        partition_dir: &Path,
        claimed: Claimed,
        (topic, partition): (&str, i32),
        config: LogConfig,
        now_ms: i64,
    ) -> io::Result<Durable> {
        let name = (topic.to_string(), partition);
        if claimed == Claimed::Afresh {
            // What the checkpoints say of this name was said of an older topic's log.
            self.forget(&name)?;
        }
        let mut log = Log::open(partition_dir, config, now_ms).map_err(io::Error::other)?;
        let (high_watermark, log_start_offset) = {
            let checkpoints = self.checkpoints();
            (
                checkpoints.high_watermarks.get(&name).copied().unwrap_or(0),
                checkpoints.log_start_offsets.get(&name).copied(),
            )
        };
        if let Some(start) = log_start_offset {
            log.increment_log_start_offset(start)
                .map_err(io::Error::other)?;
        }
        let mut cache = LeaderEpochCache::open(partition_dir)?;
        cache.truncate_from_start(log.log_start_offset());
        Ok(Durable {
            log,
            cache,
            high_watermark,
        })
    }

    /// Deletes the replicas of topics `known` does not know (see the module docs); returns
    /// how many.
    pub fn remove_strays(&self, known: &std::collections::BTreeSet<Uuid>) -> io::Result<usize> {
        let Some(dir) = &self.dir else {
            let mut kept = self.kept();
            let before = kept.len();
            kept.retain(|key, _| known.contains(&key.0));
            return Ok(before - kept.len());
        };
        let known: std::collections::BTreeSet<String> = known
            .iter()
            .map(|id| format!("version: 0\ntopic_id: {}\n", kafka_uuid(*id)))
            .collect();
        let mut removed = 0;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Ok(metadata) = fs::read_to_string(path.join(PARTITION_METADATA_FILE)) else {
                continue;
            };
            if known.contains(&metadata) {
                continue;
            }
            tracing::info!(dir = %path.display(), "deleting a stray replica (its topic is gone)");
            fs::remove_dir_all(&path)?;
            removed += 1;
            if let Some(name) = checkpoint_name(&path) {
                self.forget(&name)?;
            }
        }
        Ok(removed)
    }

    /// Deletes the log of a replica whose topic was deleted, and its checkpoint entries (as
    /// Kafka's `LogManager.asyncDelete` takes the log out of the next checkpoints): a topic
    /// created again with the same name must not start at the old high watermark or log
    /// start offset.
    pub fn delete_replica(&self, log: Log) -> io::Result<()> {
        let name = log.dir().and_then(checkpoint_name);
        log.delete().map_err(io::Error::other)?;
        match name {
            Some(name) => self.forget(&name),
            None => Ok(()),
        }
    }

    /// Drops `name`'s checkpoint entries and rewrites both files (memory mode: nothing).
    fn forget(&self, name: &TopicPartition) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let mut checkpoints = self.checkpoints();
        let known = checkpoints.high_watermarks.remove(name).is_some();
        if !(checkpoints.log_start_offsets.remove(name).is_some() || known) {
            return Ok(());
        }
        write_checkpoints(dir, &checkpoints)
    }

    /// Keeps a replica of a stopped incarnation (memory mode; files stay where they are).
    pub fn keep(&self, key: PartitionKey, durable: Durable) {
        if self.dir.is_none() {
            self.kept().insert(key, durable);
        }
    }

    /// Notes the replicas' high watermarks and log start offsets and writes both checkpoint
    /// files (memory mode: nothing). Replicas not given keep their last checkpointed values.
    pub fn checkpoint(&self, replicas: impl IntoIterator<Item = ReplicaOffsets>) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let mut checkpoints = self.checkpoints();
        for r in replicas {
            let name = (r.topic, r.partition);
            checkpoints
                .high_watermarks
                .insert(name.clone(), r.high_watermark);
            if r.log_start_offset > 0 {
                checkpoints
                    .log_start_offsets
                    .insert(name, r.log_start_offset);
            }
        }
        write_checkpoints(dir, &checkpoints)
    }
}

/// Writes both checkpoint files of a broker directory.
fn write_checkpoints(dir: &Path, checkpoints: &Checkpoints) -> io::Result<()> {
    write_offsets(
        &dir.join(HIGH_WATERMARK_CHECKPOINT_FILE),
        &checkpoints.high_watermarks,
    )?;
    write_offsets(
        &dir.join(LOG_START_OFFSET_CHECKPOINT_FILE),
        &checkpoints.log_start_offsets,
    )
}

/// The checkpoint name (topic, partition) of a partition directory `<topic>-<partition>`.
fn checkpoint_name(partition_dir: &Path) -> Option<TopicPartition> {
    let name = partition_dir.file_name()?.to_str()?;
    let (topic, partition) = name.rsplit_once('-')?;
    Some((topic.to_string(), partition.parse().ok()?))
}

/// What [`claim_partition_dir`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimed {
    /// The topic's own directory, as a former incarnation left it.
    Kept,
    /// A new directory: there was none, or another topic's, now removed.
    Afresh,
}

/// Makes `dir` the directory of the topic `topic_id`: a directory left by another topic of
/// the same name (deleted, or unknown to a controller that started afresh) is removed first.
fn claim_partition_dir(dir: &Path, topic_id: Uuid) -> io::Result<Claimed> {
    let file = dir.join(PARTITION_METADATA_FILE);
    let expected = format!("version: 0\ntopic_id: {}\n", kafka_uuid(topic_id));
    match fs::read_to_string(&file) {
        Ok(text) if text == expected => return Ok(Claimed::Kept),
        Ok(_) => {
            tracing::warn!(dir = %dir.display(), "removing the log of an older topic of the same name");
            fs::remove_dir_all(dir)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir_all(dir)?;
    let temporary = file.with_extension("tmp");
    fs::write(&temporary, expected)?;
    fs::rename(&temporary, &file)?;
    Ok(Claimed::Afresh)
}

/// Kafka's text form of a topic id: URL-safe base64 without padding.
fn kafka_uuid(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// An offset checkpoint file; a missing file is empty, a malformed one an error.
fn read_offsets(file: &Path) -> io::Result<BTreeMap<TopicPartition, i64>> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let malformed = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed offset checkpoint {}", file.display()),
        )
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(malformed());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(malformed)?;
    let mut offsets = BTreeMap::new();
    for _ in 0..count {
        let line = lines.next().ok_or_else(malformed)?;
        let mut fields = line.split_whitespace();
        let (Some(topic), Some(partition), Some(offset), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed());
        };
        let partition = partition.parse().map_err(|_| malformed())?;
        let offset = offset.parse().map_err(|_| malformed())?;
        offsets.insert((topic.to_string(), partition), offset);
    }
    Ok(offsets)
}

/// Writes an offset checkpoint file through a temporary file and a rename.
fn write_offsets(file: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> io::Result<()> {
    let mut text = format!("0\n{}\n", offsets.len());
    for ((topic, partition), offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    let temporary = file.with_extension("tmp");
    fs::write(&temporary, text)?;
    fs::rename(&temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_checkpoints_use_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(HIGH_WATERMARK_CHECKPOINT_FILE);
        let offsets =
            BTreeMap::from([(("orders".to_string(), 0), 42), (("a.b".to_string(), 3), 7)]);
        write_offsets(&file, &offsets).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "0\n2\na.b 3 7\norders 0 42\n"
        );
        assert_eq!(read_offsets(&file).unwrap(), offsets);
        fs::write(&file, "0\n2\norders 0 42\n").unwrap();
        assert!(read_offsets(&file).is_err());
        assert!(
            read_offsets(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Kafka: Uuid.toString() is URL-safe base64 without padding (22 characters).
        let id = Uuid::from_bytes([0xff; 16]);
        assert_eq!(kafka_uuid(id), "_____________________w");
        assert_eq!(kafka_uuid(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = Uuid::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(kafka_uuid(id), "AAAAAAAAAAAAAAAAAAAAAQ");
    }

    #[test]
    fn stray_replicas_are_deleted_and_local_topics_kept() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::at(dir.path().to_path_buf());
        disk.load().unwrap();
        let (kept, gone) = (Uuid::from_u128(1), Uuid::from_u128(2));
        drop(disk.open_replica((kept, 0), "kept", LogConfig::default(), 0));
        drop(disk.open_replica((gone, 0), "gone", LogConfig::default(), 0));
        fs::create_dir_all(dir.path().join("local-0")).unwrap();
        let known = std::collections::BTreeSet::from([kept]);
        assert_eq!(disk.remove_strays(&known).unwrap(), 1);
        assert!(dir.path().join("kept-0").exists());
        assert!(!dir.path().join("gone-0").exists());
        assert!(
            dir.path().join("local-0").exists(),
            "not a replica: left alone"
        );

        let memory = Disk::memory();
        memory.keep(
            (gone, 0),
            memory
                .open_replica((gone, 0), "gone", LogConfig::default(), 0)
                .unwrap(),
        );
        assert_eq!(memory.remove_strays(&known).unwrap(), 1);
    }

    #[test]
    fn a_directory_of_another_topic_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::at(dir.path().to_path_buf());
        disk.load().unwrap();
        let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut durable = disk
            .open_replica((old, 0), "orders", LogConfig::default(), 0)
            .unwrap();
        let mut batch = crate::record_batch::encode_producer_batch(
            &[crate::record_batch::NewRecord {
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                timestamp: 1,
            }],
            kafka_protocol::records::Compression::None,
        )
        .unwrap();
        durable.log.append(&mut batch, 1).unwrap();
        drop(durable);
        let same = disk
            .open_replica((old, 0), "orders", LogConfig::default(), 0)
            .unwrap();
        assert_eq!(same.log.log_end_offset(), 1, "the same topic keeps its log");
        drop(same);
        disk.checkpoint([ReplicaOffsets {
            topic: "orders".into(),
            partition: 0,
            high_watermark: 1,
            log_start_offset: 1,
        }])
        .unwrap();
        let other = disk
            .open_replica((new, 0), "orders", LogConfig::default(), 0)
            .unwrap();
        assert_eq!(other.log.log_end_offset(), 0, "a new topic starts empty");
        assert_eq!(
            (other.log.log_start_offset(), other.high_watermark),
            (0, 0),
            "and without the older topic's checkpointed offsets"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join(LOG_START_OFFSET_CHECKPOINT_FILE)).unwrap(),
            "0\n0\n"
        );
    }
}
