//! The applied side of raft: membership and [`Metadata`], persisted after every applied batch
//! (`<raft>/state`, MessagePack, replaced atomically), so a restart resumes from the last applied
//! entry instead of replaying the log, and whatever acts on the metadata sees each committed
//! state once. Raft snapshots are that same state (`<raft>/snapshot` holds the latest).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{ClusterError, Result};
use crate::fsio;
use crate::metadata::{Metadata, Outcome};
use crate::types::{NodeId, Peer, TypeConfig};

type StResult<T> = std::result::Result<T, StorageError<NodeId>>;

/// What the log has produced up to `last_applied`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Applied {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, Peer>,
    pub metadata: Metadata,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, Peer>,
    data: Vec<u8>,
}

/// The state machine raft drives. Readers hold [`StateMachine::shared`] and
/// [`StateMachine::changes`].
pub struct StateMachine {
    shared: Arc<RwLock<Applied>>,
    dir: PathBuf,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    builds: u64,
    changed: watch::Sender<Option<u64>>,
}

/// Builds a snapshot from a copy of the state taken when raft asked for a builder.
pub struct SnapshotBuilder {
    copy: Applied,
    dir: PathBuf,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    build: u64,
}

impl StateMachine {
    /// Opens the state persisted in `dir` (empty when there is none yet).
    pub fn open(dir: &Path) -> Result<StateMachine> {
        std::fs::create_dir_all(dir).map_err(ClusterError::io(dir))?;
        let corrupt = |path: &Path, e: rmp_serde::decode::Error| ClusterError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let state_path = dir.join("state");
        let applied = match fsio::read_optional(&state_path).map_err(ClusterError::io(&state_path))? {
            Some(b) => rmp_serde::from_slice(&b).map_err(|e| corrupt(&state_path, e))?,
            None => Applied::default(),
        };
        let snap_path = dir.join("snapshot");
        let snapshot = match fsio::read_optional(&snap_path).map_err(ClusterError::io(&snap_path))? {
            Some(b) => Some(rmp_serde::from_slice(&b).map_err(|e| corrupt(&snap_path, e))?),
            None => None,
        };
        let (changed, _) = watch::channel(applied.last_applied.map(|l| l.index));
        Ok(StateMachine {
            shared: Arc::new(RwLock::new(applied)),
            dir: dir.to_path_buf(),
            snapshot: Arc::new(Mutex::new(snapshot)),
            builds: 0,
            changed,
        })
    }

    /// The applied state, shared with readers.
    pub fn shared(&self) -> Arc<RwLock<Applied>> {
        Arc::clone(&self.shared)
    }

    /// Announces the last applied index after each persisted batch.
    pub fn changes(&self) -> watch::Receiver<Option<u64>> {
        self.changed.subscribe()
    }

    fn persist(&self, applied: &Applied) -> std::io::Result<()> {
        let bytes = rmp_serde::to_vec_named(applied).map_err(std::io::Error::other)?;
        fsio::write_atomic(&self.dir.join("state"), &bytes)
    }
}

// openraft's storage error is what the trait methods return; boxing it here would not help.
#[allow(clippy::result_large_err)]
fn save_snapshot(dir: &Path, slot: &Mutex<Option<StoredSnapshot>>, s: StoredSnapshot) -> StResult<()> {
    let sig = Some(s.meta.signature());
    let bytes = rmp_serde::to_vec_named(&s).map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
    let mut g = slot.lock();
    fsio::write_atomic(&dir.join("snapshot"), &bytes).map_err(|e| StorageIOError::write_snapshot(sig, &e))?;
    *g = Some(s);
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StResult<Snapshot<TypeConfig>> {
        let data = rmp_serde::to_vec_named(&self.copy).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let last = self.copy.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.copy.membership.clone(),
            snapshot_id: format!("{}-{}", last.map_or(0, |l| l.index), self.build),
        };
        save_snapshot(
            &self.dir,
            &self.snapshot,
            StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            },
        )?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, Peer>)> {
        let g = self.shared.read();
        Ok((g.last_applied, g.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StResult<Vec<Outcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut next = self.shared.read().clone();
        let mut out = Vec::new();
        for e in entries {
            next.last_applied = Some(e.log_id);
            out.push(match e.payload {
                EntryPayload::Blank => Outcome::Done,
                EntryPayload::Normal(cmd) => next.metadata.apply(e.log_id.index, &cmd),
                EntryPayload::Membership(m) => {
                    next.membership = StoredMembership::new(Some(e.log_id), m);
                    Outcome::Done
                }
            });
        }
        // Durable before raft (and any client) learns the outcome.
        self.persist(&next)
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        let index = next.last_applied.map(|l| l.index);
        *self.shared.write() = next;
        self.changed.send_replace(index);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.builds += 1;
        SnapshotBuilder {
            copy: self.shared.read().clone(),
            dir: self.dir.clone(),
            snapshot: Arc::clone(&self.snapshot),
            build: self.builds,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Peer>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StResult<()> {
        let data = snapshot.into_inner();
        let sig = Some(meta.signature());
        let mut applied: Applied =
            rmp_serde::from_slice(&data).map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        self.persist(&applied)
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        save_snapshot(
            &self.dir,
            &self.snapshot,
            StoredSnapshot {
                meta: meta.clone(),
                data,
            },
        )?;
        let index = applied.last_applied.map(|l| l.index);
        *self.shared.write() = applied;
        self.changed.send_replace(index);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StResult<Option<Snapshot<TypeConfig>>> {
        let g = self.snapshot.lock();
        Ok(g.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}
