//! The durable raft log and vote.
//!
//! ```text
//! <raft>/vote          MessagePack of the vote, replaced atomically (fsio::write_atomic)
//! <raft>/log           b"QVRRAFT1", then records: u32 length, u32 CRC-32 of the body, body
//!                      (MessagePack of Record: Append(entries) | Truncate(from) | Purge(upto))
//! ```
//!
//! Records are replayed in order at open. A record cut short by a crash (bad length or CRC at
//! the tail) was never acknowledged, because `append` reports durability only after the fsync
//! that follows it, so the file is cut back to the last whole record. When purged records
//! dominate the file it is rewritten (to a temporary, synced, renamed).
//!
//! The store is metadata-sized: entries are also kept in memory.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, Result};
use crate::fsio;
use crate::types::{NodeId, TypeConfig};

const MAGIC: &[u8; 8] = b"QVRRAFT1";
/// Rewrite the file once it holds this many more records than live entries.
const COMPACT_SLACK: usize = 1024;

#[derive(Serialize, Deserialize)]
enum Record {
    Append(Vec<Entry<TypeConfig>>),
    /// Drop entries at and after this index.
    Truncate(u64),
    /// Drop entries up to and including this id.
    Purge(LogId<NodeId>),
}

/// The raft log of one node. Cheap to clone (readers share it).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    /// Records in the file (to know when a rewrite pays).
    records: usize,
}

type StResult<T> = std::result::Result<T, StorageError<NodeId>>;

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> Result<LogStore> {
        std::fs::create_dir_all(dir).map_err(ClusterError::io(dir))?;
        let vote_path = dir.join("vote");
        let vote = match fsio::read_optional(&vote_path).map_err(ClusterError::io(&vote_path))? {
            Some(b) => Some(rmp_serde::from_slice(&b).map_err(|e| ClusterError::Corrupt {
                path: vote_path.display().to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let path = dir.join("log");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ClusterError::io(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(ClusterError::io(&path))?;
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            file,
            entries: BTreeMap::new(),
            purged: None,
            vote,
            records: 0,
        };
        if bytes.is_empty() {
            inner.file.write_all(MAGIC).map_err(ClusterError::io(&path))?;
            inner.file.sync_all().map_err(ClusterError::io(&path))?;
            fsio::sync_dir(dir).map_err(ClusterError::io(dir))?;
        } else {
            if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
                return Err(ClusterError::Corrupt {
                    path: path.display().to_string(),
                    reason: "not a raft log".into(),
                });
            }
            let good = inner.replay(&bytes[MAGIC.len()..]) + MAGIC.len();
            if good < bytes.len() {
                tracing::warn!(
                    "raft log {}: cutting {} bytes of an unfinished record",
                    path.display(),
                    bytes.len() - good
                );
                inner.file.set_len(good as u64).map_err(ClusterError::io(&path))?;
                inner.file.sync_all().map_err(ClusterError::io(&path))?;
            }
            inner
                .file
                .seek(SeekFrom::End(0))
                .map_err(ClusterError::io(&path))?;
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// True when this node has no raft history at all (never voted, nothing logged).
    pub fn is_fresh(&self) -> bool {
        let g = self.inner.lock();
        g.vote.is_none() && g.entries.is_empty() && g.purged.is_none()
    }
}

impl Inner {
    /// Applies the whole records in `body`; returns how many bytes they take.
    fn replay(&mut self, body: &[u8]) -> usize {
        let mut at = 0;
        while let Some(head) = body.get(at..at + 8) {
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let Some(rec) = body.get(at + 8..at + 8 + len) else {
                break;
            };
            if crc32fast::hash(rec) != crc {
                break;
            }
            let Ok(record) = rmp_serde::from_slice::<Record>(rec) else {
                break;
            };
            self.apply(record);
            self.records += 1;
            at += 8 + len;
        }
        at
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Append(entries) => {
                for e in entries {
                    self.entries.insert(e.log_id.index, e);
                }
            }
            Record::Truncate(from) => {
                self.entries.split_off(&from);
            }
            Record::Purge(upto) => {
                self.entries = self.entries.split_off(&(upto.index + 1));
                self.purged = Some(upto);
            }
        }
    }

    /// Appends `record` to the file and syncs it.
    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let body = rmp_serde::to_vec_named(record).map_err(std::io::Error::other)?;
        let mut frame = Vec::with_capacity(body.len() + 8);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        self.file.write_all(&frame)?;
        self.file.sync_data()?;
        self.records += 1;
        Ok(())
    }

    /// Rewrites the file as one purge record and one append of the live entries.
    fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.dir.join("log.tmp");
        let mut out = Vec::from(&MAGIC[..]);
        let mut records = Vec::new();
        if let Some(p) = self.purged {
            records.push(Record::Purge(p));
        }
        records.push(Record::Append(self.entries.values().cloned().collect()));
        for r in &records {
            let body = rmp_serde::to_vec_named(r).map_err(std::io::Error::other)?;
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            out.extend_from_slice(&body);
        }
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        let path = self.dir.join("log");
        std::fs::rename(&tmp, &path)?;
        fsio::sync_dir(&self.dir)?;
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.file.seek(SeekFrom::End(0))?;
        self.records = records.len();
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StResult<Vec<Entry<TypeConfig>>> {
        let g = self.inner.lock();
        Ok(g.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StResult<LogState<TypeConfig>> {
        let g = self.inner.lock();
        let last = g.entries.values().next_back().map(|e| e.log_id).or(g.purged);
        Ok(LogState {
            last_purged_log_id: g.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StResult<()> {
        let mut g = self.inner.lock();
        let bytes = rmp_serde::to_vec_named(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        fsio::write_atomic(&g.dir.join("vote"), &bytes).map_err(|e| StorageIOError::write_vote(&e))?;
        g.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StResult<Option<Vote<NodeId>>> {
        Ok(self.inner.lock().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let mut g = self.inner.lock();
        let record = Record::Append(entries);
        match g.write(&record) {
            Ok(()) => {
                g.apply(record);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(e));
                Err(err.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StResult<()> {
        let mut g = self.inner.lock();
        let record = Record::Truncate(log_id.index);
        g.write(&record).map_err(|e| StorageIOError::write_logs(&e))?;
        g.apply(record);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StResult<()> {
        let mut g = self.inner.lock();
        let record = Record::Purge(log_id);
        g.write(&record).map_err(|e| StorageIOError::write_logs(&e))?;
        g.apply(record);
        if g.records > g.entries.len() + COMPACT_SLACK {
            g.compact().map_err(|e| StorageIOError::write_logs(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn indexes(s: &LogStore) -> Vec<u64> {
        s.inner.lock().entries.keys().copied().collect()
    }

    fn append(s: &LogStore, entries: Vec<Entry<TypeConfig>>) {
        let mut g = s.inner.lock();
        let r = Record::Append(entries);
        g.write(&r).unwrap();
        g.apply(r);
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LogStore::open(dir.path()).unwrap();
            assert!(s.is_fresh());
            append(&s, (1..=5).map(|i| entry(1, i)).collect());
            let mut g = s.inner.lock();
            for r in [
                Record::Truncate(4),
                Record::Purge(LogId::new(CommittedLeaderId::new(1, 1), 1)),
            ] {
                g.write(&r).unwrap();
                g.apply(r);
            }
        }
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![2, 3]);
        assert!(!s.is_fresh());
        append(&s, vec![entry(2, 4)]);
        drop(s);
        // A crash in the middle of the next record: its half is cut, the rest stays.
        let path = dir.path().join("log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
        drop(f);
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![2, 3, 4]);
        append(&s, vec![entry(2, 5)]);
        drop(s);
        assert_eq!(indexes(&LogStore::open(dir.path()).unwrap()), vec![2, 3, 4, 5]);
    }

    #[test]
    fn compaction_keeps_live_entries_and_the_purge_point() {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStore::open(dir.path()).unwrap();
        for i in 1..=20 {
            append(&s, vec![entry(1, i)]);
        }
        {
            let mut g = s.inner.lock();
            let r = Record::Purge(LogId::new(CommittedLeaderId::new(1, 1), 15));
            g.write(&r).unwrap();
            g.apply(r);
            g.compact().unwrap();
            assert_eq!(g.records, 2);
        }
        append(&s, vec![entry(1, 21)]);
        drop(s);
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![16, 17, 18, 19, 20, 21]);
        assert_eq!(s.inner.lock().purged.map(|p| p.index), Some(15));
    }

    #[test]
    fn a_file_that_is_not_a_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log"), b"something else").unwrap();
        assert!(matches!(
            LogStore::open(dir.path()),
            Err(ClusterError::Corrupt { .. })
        ));
    }
}
