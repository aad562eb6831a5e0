//! Segment files as a bounded resource: a least-recently-used cache of open `.log` files,
//! shared by every log of the process, that closes the file used longest ago when opening
//! one more would pass its bound.
//!
//! Without it each segment holds its file open for its whole life, so descriptors grow with
//! partitions (and segments), and a broker holding more partitions than its descriptor limit
//! cannot accept a connection or open a file any more: not even after a restart, which reopens
//! them all. Kafka itself keeps every segment's `.log` (and its memory-mapped indexes) open and
//! asks operators for a high `ulimit -n` (its docs suggest 100,000 or more); the reference
//! broker must instead hold 100,000 partitions under a descriptor limit of 20,000.
//!
//! - A segment's file is opened on demand (on append, read, truncate or fsync) and may be closed
//!   at any time after; the next use reopens it by path, transparently. Closing a file loses
//!   nothing: written data stays in the page cache, and an fsync on a later descriptor of the
//!   same file flushes it (on Linux `fsync` works on the inode, and an unreported writeback
//!   error is reported to the next opener), so [`super::Log::flush`] keeps its meaning.
//! - The bound is [`MAX_OPEN_SEGMENT_FILES`], lowered to a quarter of the process's soft
//!   `RLIMIT_NOFILE` when that is smaller: the rest is for connections (`max.connections`),
//!   replication fetchers, the accept loop's reserve and short-lived files (checkpoints, index
//!   writes). Kafka has no such setting, so this is a constant with its reason, not a config.
//! - The cache is per process, not per broker, because the descriptor limit is per process: the
//!   brokers of an in-process cluster share it.
//! - Indexes hold no descriptor: they live in memory and are written whole with `fs::write`
//!   (see `index`), so only `.log` files are cached.
//!
//! A file is handed out as an `Arc<File>`, so I/O runs outside the cache's lock; a file evicted
//! while another thread reads it closes when that read ends. A reopen that finds the process
//! out of descriptors (EMFILE: connections took the rest) closes half of the cache's files and
//! tries once more, so the logs give way before they fail.
//!
//! # References
//! - Kafka's operations guide, "OS": file descriptor limits
//!   (<https://kafka.apache.org/documentation/#os>)
//! - `fsync(2)` (writeback errors and later descriptors), `getrlimit(2)` (`RLIMIT_NOFILE`)

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Segment files a process holds open at most (unless its descriptor limit is lower; see the
/// module docs): enough that the active segments of a thousand busy partitions stay open.
pub const MAX_OPEN_SEGMENT_FILES: usize = 1_024;

/// The fraction (1/N) of the soft descriptor limit the cache may take.
const DESCRIPTOR_LIMIT_SHARE: usize = 4;

/// The cache never shrinks below this, whatever the limit, so that a log can always work.
const MIN_OPEN_SEGMENT_FILES: usize = 16;

/// A shared, bounded cache of open segment files; clones share one cache.
#[derive(Clone)]
pub struct OpenFiles {
    inner: Arc<Mutex<Lru>>,
    max_open: usize,
}

impl std::fmt::Debug for OpenFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFiles")
            .field("max_open", &self.max_open)
            .field("open", &self.open_count())
            .finish()
    }
}

#[derive(Default)]
struct Lru {
    next_id: u64,
    next_stamp: u64,
    /// id → (file, stamp of its last use).
    open: HashMap<u64, (Arc<File>, u64)>,
    /// stamp → id, oldest first.
    order: BTreeMap<u64, u64>,
    /// Files opened so far (first opens and reopens).
    opened: u64,
}

impl OpenFiles {
    /// A cache holding at most `max_open` files (at least one).
    pub fn new(max_open: usize) -> OpenFiles {
        OpenFiles {
            inner: Arc::new(Mutex::new(Lru::default())),
            max_open: max_open.max(1),
        }
    }

    /// The process's cache, bounded as the module docs say (the limit is read once, at the
    /// first use).
    pub fn process_wide() -> OpenFiles {
        static FILES: OnceLock<OpenFiles> = OnceLock::new();
        FILES
            .get_or_init(|| {
                let max_open = bound_for(soft_descriptor_limit());
                tracing::debug!(max_open, "segment file cache");
                OpenFiles::new(max_open)
            })
            .clone()
    }

    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// Files open now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    /// Files opened so far, first opens and reopens.
    pub fn opened_count(&self) -> u64 {
        self.lock().opened
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle for the file at `path`, with `file` already open (a file just created) or
    /// not (a file found on disk, opened at its first use).
    pub(super) fn register(&self, path: PathBuf, file: Option<File>) -> CachedFile {
        let mut lru = self.lock();
        let id = lru.next_id;
        lru.next_id += 1;
        if let Some(file) = file {
            lru.opened += 1;
            self.insert(&mut lru, id, Arc::new(file));
        }
        CachedFile {
            id,
            path,
            files: self.clone(),
        }
    }

    /// The open file of `id`, reopened read-write at `path` if it was closed.
    fn get(&self, id: u64, path: &Path) -> io::Result<Arc<File>> {
        let mut lru = self.lock();
        let stamp = lru.next_stamp;
        if let Some((file, used)) = lru.open.get_mut(&id) {
            let (file, old) = (file.clone(), std::mem::replace(used, stamp));
            lru.next_stamp += 1;
            lru.order.remove(&old);
            lru.order.insert(stamp, id);
            return Ok(file);
        }
        let reopen = || OpenOptions::new().read(true).write(true).open(path);
        let file = match reopen() {
            Err(e) if is_out_of_descriptors(&e) && !lru.open.is_empty() => {
                // The process ran out (connections took the rest): give back half of ours.
                let keep = lru.open.len() / 2;
                tracing::warn!(open = lru.open.len(), keep, error = %e, "closing segment files");
                Self::evict_to(&mut lru, keep);
                reopen()?
            }
            opened => opened?,
        };
        let file = Arc::new(file);
        lru.opened += 1;
        self.insert(&mut lru, id, file.clone());
        Ok(file)
    }

    /// Adds an open file as the most recently used, closing the least recently used ones
    /// beyond the bound.
    fn insert(&self, lru: &mut Lru, id: u64, file: Arc<File>) {
        Self::evict_to(lru, self.max_open - 1);
        let stamp = lru.next_stamp;
        lru.next_stamp += 1;
        lru.open.insert(id, (file, stamp));
        lru.order.insert(stamp, id);
    }

    /// Closes the least recently used files until at most `keep` are open.
    fn evict_to(lru: &mut Lru, keep: usize) {
        while lru.open.len() > keep {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.open.remove(&oldest);
        }
    }

    /// Closes the file of `id` (its segment is gone).
    fn forget(&self, id: u64) {
        let mut lru = self.lock();
        if let Some((_, stamp)) = lru.open.remove(&id) {
            lru.order.remove(&stamp);
        }
    }
}

/// One segment file in an [`OpenFiles`] cache; dropping it closes the file.
pub struct CachedFile {
    id: u64,
    path: PathBuf,
    files: OpenFiles,
}

impl std::fmt::Debug for CachedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedFile")
            .field("path", &self.path)
            .finish()
    }
}

impl CachedFile {
    /// The open file, reopened if the cache had closed it.
    pub fn file(&self) -> io::Result<Arc<File>> {
        self.files.get(self.id, &self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        self.files.forget(self.id);
    }
}

/// EMFILE or ENFILE (24 and 23 on Linux and the BSDs): no descriptor left.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// The cache's bound for a soft descriptor limit (`None`: unknown or unlimited).
fn bound_for(soft_limit: Option<u64>) -> usize {
    let Some(limit) = soft_limit else {
        return MAX_OPEN_SEGMENT_FILES;
    };
    let share = usize::try_from(limit).unwrap_or(usize::MAX) / DESCRIPTOR_LIMIT_SHARE;
    share.clamp(MIN_OPEN_SEGMENT_FILES, MAX_OPEN_SEGMENT_FILES)
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (Linux) rather than with an
/// `unsafe` `getrlimit` call; `None` elsewhere or when unlimited.
fn soft_descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_soft_open_files(&limits)
}

fn parse_soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.strip_prefix("Max open files")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_follows_the_descriptor_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                20000                files\n";
        assert_eq!(parse_soft_open_files(limits), Some(20_000));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_soft_open_files(unlimited), None);
        assert_eq!(bound_for(Some(20_000)), MAX_OPEN_SEGMENT_FILES);
        assert_eq!(bound_for(Some(1_024)), 256);
        assert_eq!(bound_for(Some(8)), MIN_OPEN_SEGMENT_FILES);
        assert_eq!(bound_for(None), MAX_OPEN_SEGMENT_FILES);
    }

    #[test]
    fn the_least_recently_used_file_is_closed_and_reopened_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let files = OpenFiles::new(2);
        let handles: Vec<CachedFile> = (0..3)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                std::fs::write(&path, format!("file {i}")).unwrap();
                files.register(path, None)
            })
            .collect();
        assert_eq!(files.open_count(), 0, "registered files open at first use");
        let read = |h: &CachedFile| {
            use std::os::unix::fs::FileExt;
            let mut buf = [0; 6];
            h.file().unwrap().read_exact_at(&mut buf, 0).unwrap();
            String::from_utf8(buf.to_vec()).unwrap()
        };
        assert_eq!(read(&handles[0]), "file 0");
        assert_eq!(read(&handles[1]), "file 1");
        assert_eq!(read(&handles[0]), "file 0"); // 1 is now the least recently used
        assert_eq!(read(&handles[2]), "file 2");
        assert_eq!(files.open_count(), 2);
        assert_eq!(files.opened_count(), 3);
        assert_eq!(read(&handles[0]), "file 0", "still open: no reopen");
        assert_eq!(files.opened_count(), 3);
        assert_eq!(read(&handles[1]), "file 1", "closed, then reopened");
        assert_eq!(files.opened_count(), 4);
        drop(handles);
        assert_eq!(files.open_count(), 0, "a dropped handle closes its file");
    }
}
