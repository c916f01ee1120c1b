//! Recovering a shard snapshot on one replica in a cluster, and making the other replicas agree
//! with the chosen data (see [`SnapshotPriority`]).

use std::path::{Path, PathBuf};

use quiver_cluster::metadata::ReplicaState;
use quiver_types::ShardId;
use serde::{Deserialize, Serialize};

use super::wire::Target;
use super::{blocking, Distributed, StateChange};
use crate::api::SnapshotPriority;
use crate::error::{ApiError, ApiResult};

impl Distributed {
    /// Replaces this node's replica of `shard` of `name` with the archive at `path`, then, by
    /// `priority`: marks every other replica Dead so they copy from this one (`Snapshot`); has
    /// this one copy itself again from the primary when another replica is Active (`Replica`);
    /// or leaves the states alone (`NoSync`). Writes acknowledged while the recovery runs may
    /// be overwritten by the snapshot's data: a recovery is a restore.
    pub async fn recover_shard(
        &self,
        name: String,
        shard: ShardId,
        path: std::path::PathBuf,
        checksum: Option<String>,
        priority: SnapshotPriority,
    ) -> ApiResult<()> {
        let (meta, target) = self.target(&name).await?;
        let me = self.node.id();
        let Some(s) = meta.shards.get(&shard) else {
            return Err(ApiError::invalid(format!(
                "shard_id: collection `{name}` has no shard {shard}"
            )));
        };
        if !s.replicas.contains_key(&me) {
            return Err(ApiError::invalid(format!(
                "shard_id: node {me} holds no replica of shard {shard}; recover it on a node that does"
            )));
        }
        let key = (target.collection.clone(), target.generation, shard);
        if self.recovering.lock().contains(&key) {
            return Err(ApiError::Unavailable(format!(
                "the replica of shard {shard} on node {me} is being copied from its primary; try again when it is Active"
            )));
        }
        let others_active = s.active().iter().any(|&n| n != me);
        let then = match priority {
            SnapshotPriority::NoSync => None,
            SnapshotPriority::Replica if others_active => Some(AfterRestore::CopyAgain),
            SnapshotPriority::Replica | SnapshotPriority::Snapshot => Some(AfterRestore::SoleSource),
        };
        let local = self.catalog.get(&target.collection)?;
        // Written before the data changes, removed once the replica states say what it holds: a
        // crash in between leaves the mark, and the restart finishes the step before anything
        // else, so a replica holding the snapshot never stays Active beside replicas that do not.
        let mark = mark_path(&local.shard_dir(shard), shard);
        if let Some(then) = then {
            write_mark(
                &mark,
                &RestoreMark {
                    generation: target.generation,
                    then,
                },
            )?;
        }
        let installed = {
            // No forwarded write of this shard lands here halfway through the swap.
            let lock = self.write_lock(&target.collection, shard);
            let _held = lock.lock().await;
            let installed =
                blocking(move || Ok(local.recover_shard_snapshot(shard, &path, checksum.as_deref())?)).await;
            if installed.is_ok() {
                // Its place in the shard's order no longer describes its data: no delta is
                // served from it or taken by it (the replicas that copy from it copy it whole).
                self.journals.taint(&key);
                crate::failpoint::hit("restore.after_swap");
            }
            installed
        };
        if let Err(e) = installed {
            // Nothing changed here (a bad archive is refused before the swap).
            let _ = std::fs::remove_file(&mark);
            return Err(e);
        }
        let Some(then) = then else { return Ok(()) };
        self.after_restore(&target, shard, then).await?;
        remove_mark(&mark);
        Ok(())
    }

    /// Makes the replica states agree with a restored replica of `shard` on this node.
    async fn after_restore(&self, target: &Target, shard: ShardId, then: AfterRestore) -> ApiResult<()> {
        match then {
            AfterRestore::CopyAgain => {
                let change = StateChange {
                    to: ReplicaState::Dead,
                    if_primary: None,
                    expect: None,
                };
                let index = self.set_state(target, shard, self.node.id(), change).await?;
                self.caught_up(index).await
            }
            AfterRestore::SoleSource => self.sole_source(target, shard).await,
        }
    }

    /// Finishes every shard snapshot recovery a crash cut short on this node (see
    /// [`RestoreMark`]), retrying until each is done. Called once at start.
    pub(super) fn finish_interrupted_restores(&self) {
        let me = self.node.id();
        for (name, c) in self.node.metadata().collections {
            let Ok(local) = self.catalog.get(&name) else {
                continue;
            };
            for &shard in c.shards.keys().filter(|i| c.shards[i].replicas.contains_key(&me)) {
                let mark = mark_path(&local.shard_dir(shard), shard);
                let Some(found) = read_mark(&mark) else { continue };
                // 0: a mark that could not be read, taken as this generation's.
                if found.generation != 0 && found.generation != c.generation {
                    remove_mark(&mark);
                    continue;
                }
                tracing::warn!(
                    "a recovery of shard {shard} of `{name}` from a snapshot was cut short; finishing it ({:?})",
                    found.then
                );
                let d = self.clone();
                let target = Target::of(name.clone(), c.generation);
                tokio::spawn(async move {
                    loop {
                        match d.after_restore(&target, shard, found.then).await {
                            Ok(()) => {
                                remove_mark(&mark);
                                tracing::info!(
                                    "finished the recovery of shard {shard} of `{}`",
                                    target.collection
                                );
                                return;
                            }
                            Err(e) => {
                                tracing::warn!("finishing the recovery of shard {shard}: {e}; retrying");
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
            }
        }
    }

    /// Local replicas whose snapshot recovery is not finished yet (readiness waits for them).
    pub(super) fn unfinished_restores(&self) -> Vec<(String, ShardId)> {
        let me = self.node.id();
        let mut out = Vec::new();
        for (name, c) in self.node.metadata().collections {
            let Ok(local) = self.catalog.get(&name) else {
                continue;
            };
            for (&shard, s) in &c.shards {
                if s.replicas.contains_key(&me) && mark_path(&local.shard_dir(shard), shard).exists() {
                    out.push((name.clone(), shard));
                }
            }
        }
        out
    }

    /// Makes this node's replica of `shard` the one the others copy from: Active, and every
    /// other replica Dead (the primary then moves here, the only Active replica left).
    async fn sole_source(&self, target: &Target, shard: ShardId) -> ApiResult<()> {
        let me = self.node.id();
        let set = |to| StateChange {
            to,
            if_primary: None,
            expect: None,
        };
        let mut index = self
            .set_state(target, shard, me, set(ReplicaState::Active))
            .await?;
        let meta = self.meta(&target.collection)?;
        let others: Vec<_> = meta
            .shards
            .get(&shard)
            .map(|s| {
                s.replicas
                    .iter()
                    .filter(|(n, r)| **n != me && r.state != ReplicaState::Dead)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default();
        for node in others {
            index = index.max(
                self.set_state(target, shard, node, set(ReplicaState::Dead))
                    .await?,
            );
        }
        self.caught_up(index).await
    }
}

/// What the replica states must become after a shard snapshot is installed on this node.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum AfterRestore {
    /// This replica copies itself again from the primary (the other replicas' data wins).
    CopyAgain,
    /// This replica is the one the others copy from (the snapshot's data wins).
    SoleSource,
}

/// Kept beside a collection's files while a shard snapshot recovery is between its data swap
/// and its replica state change.
#[derive(Debug, Serialize, Deserialize)]
struct RestoreMark {
    generation: u64,
    then: AfterRestore,
}

/// The mark of `shard`, in the collection's folder (`shard_dir` is the shard's own folder).
fn mark_path(shard_dir: &Path, shard: ShardId) -> PathBuf {
    let collection_dir = shard_dir.parent().and_then(Path::parent).unwrap_or(shard_dir);
    collection_dir.join(format!("restore-shard-{shard}.json"))
}

fn write_mark(path: &Path, mark: &RestoreMark) -> ApiResult<()> {
    let bytes = serde_json::to_vec(mark).map_err(|e| ApiError::Internal(e.to_string()))?;
    quiver_cluster::fsio::write_atomic(path, &bytes)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))
}

fn read_mark(path: &Path) -> Option<RestoreMark> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            // Unreadable: finish by the safe choice, the other replicas' data.
            tracing::warn!(
                "{}: {e}; treating it as a recovery whose replica copies itself again",
                path.display()
            );
            Some(RestoreMark {
                generation: 0,
                then: AfterRestore::CopyAgain,
            })
        }
    }
}

fn remove_mark(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", path.display());
        }
    }
}
