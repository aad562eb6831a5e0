//! Where a segment's bytes live: a `.log` file beside its `.index` and `.timeindex`, or a
//! byte vector for logs that live only in memory.
//!
//! One small enum rather than a trait object: the two modes must behave identically above this
//! layer (same rolls, same retention, same reads), so everything but the bytes' home is shared
//! code. Appends are plain positional writes with no fsync, as Kafka leaves appended data to the
//! page cache; [`SegmentStore::sync`] is the explicit flush.
//!
//! File names follow Kafka's: the segment's base offset in 20 zero-padded digits, then
//! `.log`, `.index` or `.timeindex`.
//!
//! A file segment does not own an open file: it holds a [`CachedFile`] of the process's
//! [`OpenFiles`] cache, which opens the `.log` on use and closes it when idle (see
//! `open_files`), so descriptors stay bounded whatever the number of partitions.
//!
//! # References
//! - Apache Kafka sources: `LogFileUtils` (file names), `FileRecords` (append, truncate, flush)

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::open_files::{CachedFile, OpenFiles};

pub const LOG_FILE_SUFFIX: &str = "log";
pub const INDEX_FILE_SUFFIX: &str = "index";
pub const TIME_INDEX_FILE_SUFFIX: &str = "timeindex";

/// `dir/00000000000000000042.suffix`.
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// The base offset a segment file name spells, if it is one (`00000000000000000042.log`).
pub fn parse_segment_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The bytes of one segment.
#[derive(Debug)]
pub enum SegmentStore {
    Memory(Vec<u8>),
    File(FileSegment),
}

#[derive(Debug)]
pub struct FileSegment {
    dir: PathBuf,
    base_offset: i64,
    file: CachedFile,
    len: u64,
    /// Appended since the last fsync.
    unsynced: bool,
}

impl SegmentStore {
    /// Creates an empty `.log` file (replacing a stale one of the same name), open in `files`.
    pub fn create_file(
        dir: &Path,
        base_offset: i64,
        files: &OpenFiles,
    ) -> io::Result<SegmentStore> {
        let path = segment_file(dir, base_offset, LOG_FILE_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let file = files.register(path, Some(file));
        let segment = FileSegment {
            dir: dir.to_path_buf(),
            base_offset,
            file,
            len: 0,
            unsynced: true,
        };
        Ok(SegmentStore::File(segment))
    }

    /// An existing `.log` file, opened in `files` at its first use.
    pub fn open_file(dir: &Path, base_offset: i64, files: &OpenFiles) -> io::Result<SegmentStore> {
        let path = segment_file(dir, base_offset, LOG_FILE_SUFFIX);
        let len = fs::metadata(&path)?.len();
        let file = files.register(path, None);
        let segment = FileSegment {
            dir: dir.to_path_buf(),
            base_offset,
            file,
            len,
            unsynced: false,
        };
        Ok(SegmentStore::File(segment))
    }

    pub fn len(&self) -> u64 {
        match self {
            SegmentStore::Memory(bytes) => bytes.len() as u64,
            SegmentStore::File(f) => f.len,
        }
    }

    /// Fills `buf` from `position`; reading past the end is `UnexpectedEof`.
    pub fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = position
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len());
        let Some(end) = end else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of a segment",
            ));
        };
        match self {
            SegmentStore::Memory(bytes) => {
                buf.copy_from_slice(&bytes[position as usize..end as usize]);
                Ok(())
            }
            SegmentStore::File(f) => f.file.file()?.read_exact_at(buf, position),
        }
    }

    /// Appends at the end. A failed write leaves the length unchanged (a torn tail in the file
    /// is cut on the next append attempt or at recovery).
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            SegmentStore::Memory(bytes) => {
                bytes.extend_from_slice(data);
                Ok(())
            }
            SegmentStore::File(f) => {
                let file = f.file.file()?;
                if let Err(e) = file.write_all_at(data, f.len) {
                    let _ = file.set_len(f.len);
                    return Err(e);
                }
                f.len += data.len() as u64;
                f.unsynced = true;
                Ok(())
            }
        }
    }

    /// Cuts the segment to `len` bytes.
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        match self {
            SegmentStore::Memory(bytes) => {
                bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX))
            }
            SegmentStore::File(f) => {
                f.file.file()?.set_len(len)?;
                f.len = f.len.min(len);
                f.unsynced = true;
            }
        }
        Ok(())
    }

    /// fsyncs appended data (files only).
    pub fn sync(&mut self) -> io::Result<()> {
        match self {
            SegmentStore::File(f) if f.unsynced => {
                f.file.file()?.sync_data()?;
                f.unsynced = false;
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes the two index files (files only).
    pub fn write_indexes(&self, offset_index: &[u8], time_index: &[u8]) -> io::Result<()> {
        if let SegmentStore::File(f) = self {
            fs::write(
                segment_file(&f.dir, f.base_offset, INDEX_FILE_SUFFIX),
                offset_index,
            )?;
            fs::write(
                segment_file(&f.dir, f.base_offset, TIME_INDEX_FILE_SUFFIX),
                time_index,
            )?;
        }
        Ok(())
    }

    /// The `.log` file's modification time in ms since the epoch (files only).
    pub fn file_modified_ms(&self) -> Option<i64> {
        let SegmentStore::File(f) = self else {
            return None;
        };
        let modified = fs::metadata(f.file.path())
            .and_then(|m| m.modified())
            .ok()?;
        let since_epoch = modified.duration_since(UNIX_EPOCH).ok()?;
        i64::try_from(since_epoch.as_millis()).ok()
    }

    /// Removes the segment's files.
    pub fn delete(self) -> io::Result<()> {
        if let SegmentStore::File(f) = self {
            drop(f.file); // closes it, so no descriptor keeps the deleted file's space
            delete_segment_files(&f.dir, f.base_offset)?;
        }
        Ok(())
    }
}

/// Removes `.log`, `.index` and `.timeindex` of one base offset; missing files are fine.
pub fn delete_segment_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        match fs::remove_file(segment_file(dir, base_offset, suffix)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_kafkas() {
        let path = segment_file(Path::new("/data/orders-0"), 42, LOG_FILE_SUFFIX);
        assert_eq!(path, Path::new("/data/orders-0/00000000000000000042.log"));
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log", LOG_FILE_SUFFIX),
            Some(42)
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.index", LOG_FILE_SUFFIX),
            None
        );
        assert_eq!(parse_segment_file_name("42.log", LOG_FILE_SUFFIX), None);
        assert_eq!(
            parse_segment_file_name("0000000000000000004x.log", LOG_FILE_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("99999999999999999999.log", LOG_FILE_SUFFIX),
            None
        );
    }

    #[test]
    fn memory_and_file_stores_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let files = OpenFiles::new(4);
        let mut stores = [
            SegmentStore::Memory(Vec::new()),
            SegmentStore::create_file(dir.path(), 7, &files).unwrap(),
        ];
        for store in &mut stores {
            store.append(b"hello ").unwrap();
            store.append(b"world").unwrap();
            let mut buf = [0; 5];
            store.read_at(6, &mut buf).unwrap();
            assert_eq!(&buf, b"world");
            assert_eq!(
                store.read_at(7, &mut buf).unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof
            );
            store.truncate(5).unwrap();
            assert_eq!(store.len(), 5);
            store.sync().unwrap();
        }
        assert!(segment_file(dir.path(), 7, LOG_FILE_SUFFIX).exists());
        let [_, file] = stores;
        file.write_indexes(b"", b"").unwrap();
        assert_eq!(files.open_count(), 1);
        file.delete().unwrap();
        assert_eq!(files.open_count(), 0, "a deleted segment's file is closed");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
