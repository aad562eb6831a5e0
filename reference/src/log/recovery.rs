//! Opening a partition directory: finding the segments, recovering them, and the log start
//! offset checkpoint.
//!
//! Kafka recovers only the segments after its recovery-point checkpoint (and none after a
//! clean shutdown). This log has no recovery point, so it treats the last segment as the one
//! that may be torn: that segment is walked with CRC checks, the older ones by their batch
//! framing and offsets. A bad batch cuts its segment there; when that segment is not the last,
//! every later segment goes too (`LogLoader.recoverLog` does the same), because the offsets
//! after a hole cannot be trusted. Indexes are rebuilt from the `.log` files on every open
//! and written back, and index files without a `.log` are removed.
//!
//! The producer state and its transactions (open, ended, aborted) are rebuilt by one scan of
//! the recovered batches ([`super::producer_state`]), which takes the place of Kafka's
//! producer snapshots and `.txnindex` files.
//!
//! The log start offset is kept in `log-start-offset` (a decimal number), written through a
//! temporary file and a rename whenever retention moves it. Kafka keeps one
//! `log-start-offset-checkpoint` per log directory instead; one file per partition keeps
//! partitions independent here.
//!
//! # References
//! - Apache Kafka sources: `LogLoader` (`load`, `recoverLog`, `removeTempFilesAndCollectSwapFiles`),
//!   `LogSegment.recover`, `OffsetCheckpointFile`

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use super::segment::Segment;
use super::storage::{
    self, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, SegmentStore, TIME_INDEX_FILE_SUFFIX,
};
use super::{Log, LogConfig, LogError, OpenFiles};

/// The file holding the log start offset, in the partition directory.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";

pub(super) fn open(
    dir: &Path,
    config: LogConfig,
    now_ms: i64,
    files: OpenFiles,
) -> Result<Log, LogError> {
    fs::create_dir_all(dir)?;
    let base_offsets = segment_files(dir)?;
    let checkpoint = read_log_start_offset(dir)?;
    let mut segments = recover_segments(dir, &base_offsets, &config, now_ms, &files)?;
    // As Kafka's `LogLoader.recoverLog`: a log ending below its checkpointed start (segment
    // files lost) is emptied and starts again at the checkpoint. Clamping the start to the end
    // instead let the next open move it past records appended meanwhile (found by fuzzing).
    let log_end_offset = segments.last().map(Segment::next_offset);
    if let (Some(end), Some(start)) = (log_end_offset, checkpoint)
        && end < start
    {
        tracing::warn!(
            ?dir,
            end,
            start,
            "log ends before its start; deleting all segments"
        );
        for segment in segments.drain(..) {
            segment.delete()?;
        }
    }
    if segments.is_empty() {
        let base_offset = checkpoint.unwrap_or(0);
        let store = SegmentStore::create_file(dir, base_offset, &files)?;
        segments.push(Segment::new(store, base_offset, &config, now_ms));
    }
    for segment in &mut segments {
        segment.write_indexes()?;
    }
    let first_base_offset = segments[0].base_offset();
    let log_end_offset = segments[segments.len() - 1].next_offset();
    let log_start_offset = checkpoint
        .unwrap_or(first_base_offset)
        .max(first_base_offset)
        .min(log_end_offset);
    let mut log = Log {
        dir: Some(dir.to_path_buf()),
        config,
        segments,
        log_start_offset,
        recovery_point: log_end_offset,
        files,
        producers: super::ProducerStates::new(),
        high_watermark: 0,
    };
    log.rebuild_producers();
    Ok(log)
}

/// Recovers the segments in order, stopping (and deleting the rest) at the first one that is
/// cut short or that overlaps the one before.
fn recover_segments(
    dir: &Path,
    base_offsets: &[i64],
    config: &LogConfig,
    now_ms: i64,
    files: &OpenFiles,
) -> Result<Vec<Segment>, LogError> {
    let mut segments: Vec<Segment> = Vec::new();
    for (i, &base_offset) in base_offsets.iter().enumerate() {
        if segments
            .last()
            .is_some_and(|previous| base_offset < previous.next_offset())
        {
            tracing::warn!(
                ?dir,
                base_offset,
                "segment overlaps the one before it; deleting it and later ones"
            );
            delete_segments(dir, &base_offsets[i..])?;
            break;
        }
        let is_last = i + 1 == base_offsets.len();
        let store = SegmentStore::open_file(dir, base_offset, files)?;
        let (segment, truncated_bytes) =
            Segment::recover(store, base_offset, config, now_ms, is_last)?;
        segments.push(segment);
        if truncated_bytes > 0 {
            tracing::warn!(
                ?dir,
                base_offset,
                truncated_bytes,
                "cut invalid bytes at the end of a segment"
            );
            if !is_last {
                delete_segments(dir, &base_offsets[i + 1..])?;
                break;
            }
        }
    }
    // A segment left last by dropping later ones was walked without CRC checks: check it as
    // the last one is checked (found by fuzzing, fuzz/artifacts/log_recovery/crash-55300e8f...).
    if segments.len() < base_offsets.len()
        && let Some(unchecked) = segments.pop()
    {
        let base_offset = unchecked.base_offset();
        drop(unchecked);
        let store = SegmentStore::open_file(dir, base_offset, files)?;
        segments.push(Segment::recover(store, base_offset, config, now_ms, true)?.0);
    }
    Ok(segments)
}

/// Base offsets of the `.log` files in `dir`, ascending; index files without a `.log` are
/// removed.
fn segment_files(dir: &Path) -> io::Result<Vec<i64>> {
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base_offset) = storage::parse_segment_file_name(name, LOG_FILE_SUFFIX) {
            logs.insert(base_offset);
        }
        for suffix in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            if let Some(base_offset) = storage::parse_segment_file_name(name, suffix) {
                indexes.push((base_offset, suffix));
            }
        }
    }
    for (base_offset, suffix) in indexes {
        if !logs.contains(&base_offset) {
            fs::remove_file(storage::segment_file(dir, base_offset, suffix))?;
        }
    }
    Ok(logs.into_iter().collect())
}

fn delete_segments(dir: &Path, base_offsets: &[i64]) -> io::Result<()> {
    for &base_offset in base_offsets {
        storage::delete_segment_files(dir, base_offset)?;
    }
    Ok(())
}

/// The checkpointed log start offset; a missing or unreadable checkpoint is `None`.
fn read_log_start_offset(dir: &Path) -> io::Result<Option<i64>> {
    match fs::read(dir.join(LOG_START_OFFSET_FILE)) {
        Ok(bytes) => {
            // Bytes that are not UTF-8 are garbage like any other (fuzz/artifacts/log_recovery).
            let offset = String::from_utf8_lossy(&bytes)
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|&offset| offset >= 0);
            if offset.is_none() {
                tracing::warn!(?dir, "ignoring an unreadable log start offset checkpoint");
            }
            Ok(offset)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checkpoints the log start offset (write to a temporary file, then rename over).
pub(super) fn write_log_start_offset(dir: &Path, offset: i64) -> io::Result<()> {
    let temporary = dir.join(format!("{LOG_START_OFFSET_FILE}.tmp"));
    fs::write(&temporary, format!("{offset}\n"))?;
    fs::rename(&temporary, dir.join(LOG_START_OFFSET_FILE))
}
