//! The write-ahead log handle: open (with crash recovery), append, sync, replay and truncation over a
//! folder of log files.
//!
//! The folder holds `wal-<first seqno>.log` files (format in the `log_file` and `record` modules). Only
//! the newest file, the *current* one, is written; the others are *closed* and immutable. Durability
//! ladder: after [`Wal::append`] returns, the record is in the OS (it survives `kill -9`); after
//! [`Wal::sync`] it is on disk (it survives power loss). A closed file was fsynced before the next one
//! was created, so after a crash only the current file can end in a torn record, and `open` cuts it off.
//!
//! A `Wal` is the single owner of its folder: two handles on one folder corrupt it. Any failed write,
//! fsync or file creation poisons the handle ([`WalError::Poisoned`]); reopening recovers.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use quiver_types::SeqNo;

use crate::error::{Result, WalError};
use crate::log_file::{self, HEADER_LEN};
use crate::options::WalOptions;
use crate::record;
use crate::replay::{Replay, Span};

/// A log file that is no longer written: all of its records are known and fsynced.
#[derive(Debug)]
struct ClosedFile {
    first: SeqNo,
    last: SeqNo,
    path: PathBuf,
    len: u64,
}

/// The log file appends go to.
#[derive(Debug)]
struct CurrentFile {
    /// Seqno in the file name; the first record's seqno once there is one.
    first: SeqNo,
    /// Seqno of the last record, `None` while the file holds only its header.
    last: Option<SeqNo>,
    path: PathBuf,
    /// Opened for appending; every record is one `write_all` on it.
    file: File,
    /// Bytes in the file that are header or whole records.
    len: u64,
}

/// An append-only log of opaque records keyed by strictly increasing [`SeqNo`]s, stored in one folder.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Oldest first; each holds at least one record.
    closed: Vec<ClosedFile>,
    current: Option<CurrentFile>,
    /// Bytes were written to the current file since its last fsync.
    file_unsynced: bool,
    /// Files were removed from the folder since its last fsync.
    dir_unsynced: bool,
    poisoned: bool,
    /// Reused encode buffer, so an append costs no allocation in the steady state.
    scratch: Vec<u8>,
}

impl Wal {
    /// Opens the log in `dir`, creating the folder if missing, validating every file and cutting off a
    /// torn tail left by a crash in the last file. Damage anywhere else is a `Corrupt` error.
    pub fn open(dir: &Path, options: WalOptions) -> Result<Wal> {
        create_dir(dir)?;
        let files = log_file::list(dir)?;
        let count = files.len();
        let mut closed = Vec::with_capacity(count.saturating_sub(1));
        let mut current = None;
        let mut prev_last: Option<SeqNo> = None;
        for (index, (first, path)) in files.into_iter().enumerate() {
            let is_last = index + 1 == count;
            if let Some(prev) = prev_last.filter(|prev| first <= *prev) {
                let reason = format!(
                    "file starts at seqno {} but the previous file ends at {}",
                    first.0, prev.0
                );
                return Err(WalError::corrupt(&path, 0, reason));
            }
            let scan = log_file::scan(&path, first)?;
            if !is_last {
                if let Some(torn) = scan.torn {
                    return Err(WalError::corrupt(&path, torn.offset, torn.reason));
                }
                let Some(last) = scan.last else {
                    return Err(WalError::corrupt(
                        &path,
                        HEADER_LEN,
                        "a file other than the last holds no records",
                    ));
                };
                closed.push(ClosedFile {
                    first,
                    last,
                    path,
                    len: scan.valid_len,
                });
                prev_last = Some(last);
                continue;
            }
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| WalError::io(&path, e))?;
            if let Some(torn) = &scan.torn {
                tracing::warn!(
                    path = %path.display(),
                    offset = torn.offset,
                    reason = %torn.reason,
                    "wal ends in a torn record (a crash mid-write); truncating it away",
                );
                file.set_len(scan.valid_len).map_err(|e| WalError::io(&path, e))?;
                file.sync_all().map_err(|e| WalError::io(&path, e))?;
            }
            current = Some(CurrentFile {
                first,
                last: scan.last,
                path,
                file,
                len: scan.valid_len,
            });
        }
        // The previous process may have died before syncing the last file: treat it as unsynced, so a
        // rollover fsyncs it before a newer file exists.
        let file_unsynced = current.as_ref().is_some_and(|c| c.last.is_some());
        Ok(Wal {
            dir: dir.to_path_buf(),
            options,
            closed,
            current,
            file_unsynced,
            dir_unsynced: false,
            poisoned: false,
            scratch: Vec::new(),
        })
    }

    /// The folder this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seqno of the newest record, so the caller knows where to continue numbering.
    pub fn last_seqno(&self) -> Option<SeqNo> {
        self.current
            .as_ref()
            .and_then(|c| c.last)
            .or_else(|| self.closed.last().map(|f| f.last))
    }

    /// Seqno of the oldest record still kept, so the caller knows how far back replay can go.
    pub fn first_seqno(&self) -> Option<SeqNo> {
        self.closed
            .first()
            .map(|f| f.first)
            .or_else(|| self.current.as_ref().and_then(|c| c.last.map(|_| c.first)))
    }

    /// Appends one record. `seqno` must be greater than [`Wal::last_seqno`]. When this returns, the
    /// record is in the OS (it survives a process kill); call [`Wal::sync`] to make it survive power loss.
    pub fn append(&mut self, seqno: SeqNo, body: &[u8]) -> Result<()> {
        self.check_usable()?;
        if let Some(last) = self.last_seqno().filter(|last| seqno <= *last) {
            return Err(WalError::OutOfOrder { seqno, last });
        }
        let mut buf = std::mem::take(&mut self.scratch);
        let result = record::encode_into(&mut buf, seqno, body).and_then(|()| self.write_record(seqno, &buf));
        self.scratch = buf;
        result
    }

    /// Fsyncs the current file if anything was written since the last sync, and the folder if files
    /// were removed; a no-op otherwise. After it returns, every appended record survives power loss.
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.file_unsynced {
            if let Some(current) = &self.current {
                if let Err(e) = current.file.sync_data() {
                    self.poisoned = true;
                    return Err(WalError::io(&current.path, e));
                }
            }
            self.file_unsynced = false;
        }
        if self.dir_unsynced {
            if let Err(e) = log_file::sync_dir(&self.dir) {
                self.poisoned = true;
                return Err(e);
            }
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// Reads every record with seqno `>= from`, in order, from the files. The iterator sees the log as
    /// it is now: records appended later are not returned.
    pub fn replay(&self, from: SeqNo) -> Result<Replay> {
        let closed = self.closed.iter().filter(|f| f.last >= from).map(|f| Span {
            path: f.path.clone(),
            end: f.len,
        });
        let current = self
            .current
            .iter()
            .filter(|c| c.last.is_some_and(|last| last >= from))
            .map(|c| Span {
                path: c.path.clone(),
                end: c.len,
            });
        Ok(Replay::new(closed.chain(current).collect(), from))
    }

    /// Deletes the closed files whose records all have seqno `< seqno` (those already persisted
    /// elsewhere), so the log stops growing. The current file and the newest record are always kept.
    pub fn truncate_before(&mut self, seqno: SeqNo) -> Result<()> {
        self.check_usable()?;
        // If the current file holds no record yet, the newest closed file carries `last_seqno`: keep it.
        let current_is_empty = self.current.as_ref().is_none_or(|c| c.last.is_none());
        let candidates = if current_is_empty {
            self.closed.len().saturating_sub(1)
        } else {
            self.closed.len()
        };
        let count = self.closed[..candidates]
            .iter()
            .take_while(|f| f.last < seqno)
            .count();
        // Oldest first, so a crash part-way leaves a contiguous log.
        let mut removed = 0;
        let result = self.closed[..count].iter().try_for_each(|f| {
            match fs::remove_file(&f.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(WalError::io(&f.path, e)),
                _ => {}
            }
            tracing::debug!(path = %f.path.display(), last = f.last.0, "removed wal file");
            removed += 1;
            Ok(())
        });
        self.closed.drain(..removed);
        self.dir_unsynced |= removed > 0;
        result
    }

    /// Fails with `Poisoned` if an earlier i/o failure left memory and disk possibly out of step.
    fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        Ok(())
    }

    /// Puts the encoded record `bytes` for `seqno` at the end of the log, starting a new file if due.
    fn write_record(&mut self, seqno: SeqNo, bytes: &[u8]) -> Result<()> {
        let result = self.prepare_file(seqno).and_then(|()| match &mut self.current {
            Some(current) => match current.file.write_all(bytes) {
                Ok(()) => {
                    current.len += bytes.len() as u64;
                    current.last = Some(seqno);
                    Ok(())
                }
                Err(e) => Err(WalError::io(&current.path, e)),
            },
            None => Err(WalError::Poisoned),
        });
        // A failed write may have left part of the record in the file; only reopening repairs that.
        self.poisoned |= result.is_err();
        self.file_unsynced = true;
        result
    }

    /// Makes `current` a file that the record `seqno` may be appended to: creates the first file, rolls
    /// over to a new file when the current one is full, or replaces an empty file named for another seqno.
    fn prepare_file(&mut self, seqno: SeqNo) -> Result<()> {
        let Some(current) = &self.current else {
            self.current = Some(self.create_file(seqno)?);
            return Ok(());
        };
        match current.last {
            // An empty current file (a crash right after its creation) must be named for its first record.
            None if current.first == seqno => Ok(()),
            None => {
                fs::remove_file(&current.path).map_err(|e| WalError::io(&current.path, e))?;
                self.current = None;
                self.dir_unsynced = true;
                self.current = Some(self.create_file(seqno)?);
                Ok(())
            }
            Some(_) if current.len < self.options.segment_size_bytes => Ok(()),
            Some(last) => {
                // Fsync the full file first, so only the newest file can ever have a torn tail.
                if self.file_unsynced {
                    current
                        .file
                        .sync_data()
                        .map_err(|e| WalError::io(&current.path, e))?;
                    self.file_unsynced = false;
                }
                let next = self.create_file(seqno)?;
                if let Some(full) = self.current.replace(next) {
                    self.closed.push(ClosedFile {
                        first: full.first,
                        last,
                        path: full.path,
                        len: full.len,
                    });
                }
                Ok(())
            }
        }
    }

    /// Creates the log file whose first record will be `seqno` (header fsynced, folder fsynced).
    fn create_file(&mut self, seqno: SeqNo) -> Result<CurrentFile> {
        let (path, file) = log_file::create(&self.dir, seqno)?;
        self.dir_unsynced = false;
        Ok(CurrentFile {
            first: seqno,
            last: None,
            path,
            file,
            len: HEADER_LEN,
        })
    }
}

/// Creates `dir` if it is missing and makes its entry in the parent durable.
fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => log_file::sync_dir(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_is_a_no_op_until_something_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert!(!wal.file_unsynced && !wal.dir_unsynced);
        wal.sync().unwrap();
        wal.append(SeqNo(1), b"a").unwrap();
        assert!(wal.file_unsynced);
        wal.sync().unwrap();
        assert!(!wal.file_unsynced && !wal.dir_unsynced);
    }

    #[test]
    fn rollover_fsyncs_the_full_file_and_truncation_marks_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(
            dir.path(),
            WalOptions {
                segment_size_bytes: 1,
            },
        )
        .unwrap();
        wal.append(SeqNo(1), b"a").unwrap();
        wal.append(SeqNo(2), b"b").unwrap();
        assert_eq!(wal.closed.len(), 1);
        wal.truncate_before(SeqNo(2)).unwrap();
        assert!(wal.closed.is_empty() && wal.dir_unsynced);
        wal.sync().unwrap();
        assert!(!wal.dir_unsynced);
    }

    #[test]
    fn a_reopened_last_file_counts_as_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(SeqNo(1), b"a").unwrap();
        drop(wal);
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert!(wal.file_unsynced);
        wal.sync().unwrap();
        assert!(!wal.file_unsynced);
    }

    #[test]
    fn a_poisoned_wal_refuses_work() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.poisoned = true;
        assert!(matches!(wal.append(SeqNo(1), b"a"), Err(WalError::Poisoned)));
        assert!(matches!(wal.sync(), Err(WalError::Poisoned)));
    }
}
