//! Shard transfer by snapshot (Qdrant's `snapshot` method): the primary archives its replica of
//! the shard (segments with their HNSW and payload indexes, so the receiver rebuilds nothing),
//! the receiver pulls the archive in chunks, checks its SHA-256 and installs the shard whole.
//!
//! Writes go on meanwhile. From the moment the receiver is Partial the primary forwards each
//! write's effect to it; the receiver applies the effect and also keeps it. Right after the
//! install (with forwarded writes held back) it applies the kept effects again, in order, so
//! every write the archive missed or caught only partly lands. An effect is whole points or
//! removed ids: applying one the archive already holds changes nothing.
//!
//! If anything fails before the install (an older primary that does not know the request, a
//! lost connection, a bad checksum), the same attempt goes on by streaming records; the
//! effects applied so far are what that copy expects.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quiver_collection::snapshot::{delete_snapshot, snapshot_path};
use quiver_collection::{Collection, Scope};
use quiver_types::ShardId;

use super::recovery::Incoming;
use super::wire::{ShardReply, ShardRequest, Target};
use super::{active_replicas, blocking, Distributed};
use crate::error::{ApiError, ApiResult};

/// Bytes per chunk of an archive pulled by the receiver.
const CHUNK: usize = 8 << 20;
/// A transfer archive this old on the primary belongs to a receiver that gave up without
/// saying so; the next transfer removes it.
const STALE: Duration = Duration::from_secs(3600);

/// Why a snapshot copy stopped: before the install nothing is lost by streaming instead.
pub(super) enum SnapshotCopyError {
    BeforeInstall(ApiError),
    Install(ApiError),
}

impl Distributed {
    /// Where this node keeps transfer archives, its own and those it is receiving.
    pub(super) fn transfer_dir(&self) -> PathBuf {
        self.catalog.dir().join("transfers")
    }

    /// The primary's side of [`ShardRequest::TransferArchive`].
    pub(super) async fn transfer_archive(
        &self,
        target: Target,
        shard: ShardId,
        as_of: u64,
    ) -> ApiResult<ShardReply> {
        let c = self.primary_for_copy(&target, shard, as_of).await?;
        // Every write that began before this node knew of the Partial replica ends here; the
        // later ones are forwarded to it.
        drop(self.write_lock(&target.collection, shard).lock().await);
        let dir = self.transfer_dir();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io("creating the transfer folder"))?;
            remove_stale(&dir, STALE);
            let d = c.create_shard_snapshot(shard, &dir)?;
            let checksum = d
                .checksum
                .ok_or_else(|| ApiError::Internal("a shard archive without its checksum".into()))?;
            Ok(ShardReply::Archive {
                name: d.name,
                size: d.size,
                checksum,
            })
        })
        .await
    }

    /// The primary's side of [`ShardRequest::ArchiveChunk`].
    pub(super) async fn archive_chunk(&self, name: String, offset: u64, len: usize) -> ApiResult<ShardReply> {
        let path = snapshot_path(&self.transfer_dir(), &name)?;
        blocking(move || {
            let mut f = std::fs::File::open(&path).map_err(io("opening a transfer archive"))?;
            f.seek(SeekFrom::Start(offset))
                .map_err(io("reading a transfer archive"))?;
            let mut buf = Vec::with_capacity(len.min(CHUNK));
            f.take(len.min(CHUNK) as u64)
                .read_to_end(&mut buf)
                .map_err(io("reading a transfer archive"))?;
            Ok(ShardReply::Chunk(buf))
        })
        .await
    }

    /// The primary's side of [`ShardRequest::DropArchive`].
    pub(super) async fn drop_archive(&self, name: String) -> ApiResult<ShardReply> {
        let dir = self.transfer_dir();
        blocking(move || {
            // Gone already is fine: stale archives are removed by later transfers too.
            let _ = delete_snapshot(&dir, &name);
            Ok(ShardReply::Done)
        })
        .await
    }

    /// The receiver's side: copies `shard` from `primary` by snapshot into the Partial local
    /// replica `c`; returns the points it then holds.
    pub(super) async fn copy_by_snapshot(
        &self,
        target: &Target,
        shard: ShardId,
        as_of: u64,
        c: &Arc<Collection>,
        incoming: &Incoming,
    ) -> Result<usize, SnapshotCopyError> {
        use SnapshotCopyError::{BeforeInstall, Install};
        self.caught_up(as_of).await.map_err(BeforeInstall)?;
        let primary = self.primary_of(target, shard).map_err(BeforeInstall)?;
        let req = ShardRequest::TransferArchive {
            target: target.clone(),
            shard,
            as_of,
        };
        let (name, size, checksum) = match self.call(primary, req).await.map_err(BeforeInstall)? {
            ShardReply::Archive { name, size, checksum } => (name, size, checksum),
            other => {
                return Err(BeforeInstall(ApiError::Internal(format!(
                    "unexpected reply to a transfer archive request: {other:?}"
                ))))
            }
        };
        let fetched = self.fetch_archive(primary, &name, size).await;
        // Best effort: a stale archive is removed by a later transfer anyway.
        let _ = self.call(primary, ShardRequest::DropArchive { name }).await;
        let path = fetched.map_err(BeforeInstall)?;
        let prepared = {
            let (c, path) = (Arc::clone(c), path.clone());
            blocking(move || Ok(c.prepare_shard_snapshot(&path, Some(&checksum))?)).await
        };
        let _ = std::fs::remove_file(&path);
        let prepared = prepared.map_err(BeforeInstall)?;
        if self.primary_of(target, shard).ok() != Some(primary) {
            return Err(BeforeInstall(ApiError::Unavailable(format!(
                "the primary of shard {shard} changed during the copy"
            ))));
        }
        let _held = incoming.lock.lock().await;
        let replay = incoming.replay.lock().take().unwrap_or_default();
        let c = Arc::clone(c);
        blocking(move || {
            c.install_shard(shard, prepared)?;
            for op in &replay {
                c.update_shard(shard, op, false)?;
            }
            Ok(c.count_in(None, Scope::Only(&[shard])))
        })
        .await
        .map_err(Install)
    }

    /// The shard's primary, which a copy reads from.
    pub(super) fn primary_of(&self, target: &Target, shard: ShardId) -> ApiResult<u64> {
        active_replicas(&self.meta(&target.collection)?, shard)
            .first()
            .copied()
            .ok_or_else(|| ApiError::Unavailable(format!("shard {shard} has no Active replica to copy from")))
    }

    /// Pulls archive `name` (`size` bytes) from `primary` into a local file, chunk by chunk.
    async fn fetch_archive(&self, primary: u64, name: &str, size: u64) -> ApiResult<PathBuf> {
        let dir = self.transfer_dir();
        let path = dir.join(format!("incoming-{}.snapshot", uuid::Uuid::new_v4()));
        let fetched = async {
            let file = {
                let (dir, path) = (dir.clone(), path.clone());
                blocking(move || {
                    std::fs::create_dir_all(&dir).map_err(io("creating the transfer folder"))?;
                    std::fs::File::create(&path).map_err(io("creating a transfer archive"))
                })
                .await?
            };
            let file = Arc::new(parking_lot::Mutex::new(file));
            let mut offset = 0u64;
            while offset < size {
                let req = ShardRequest::ArchiveChunk {
                    name: name.to_string(),
                    offset,
                    len: CHUNK,
                };
                let bytes = match self.call(primary, req).await? {
                    ShardReply::Chunk(b) if !b.is_empty() => b,
                    ShardReply::Chunk(_) => {
                        return Err(ApiError::Internal(format!(
                            "transfer archive `{name}` ended at byte {offset} of {size}"
                        )))
                    }
                    other => {
                        return Err(ApiError::Internal(format!(
                            "unexpected reply to an archive chunk request: {other:?}"
                        )))
                    }
                };
                offset += bytes.len() as u64;
                let file = Arc::clone(&file);
                blocking(move || {
                    file.lock()
                        .write_all(&bytes)
                        .map_err(io("writing a transfer archive"))
                })
                .await?;
            }
            blocking(move || file.lock().sync_all().map_err(io("writing a transfer archive"))).await
        }
        .await;
        match fetched {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

/// Empties the transfer folder (at start: no transfer survives a restart).
pub(super) fn clear_dir(dir: &Path) {
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!("removing old transfer archives in {}: {e}", dir.display());
        }
    }
}

/// Removes files in `dir` last changed more than `age` ago.
fn remove_stale(dir: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> ApiError {
    move |e| ApiError::Internal(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_archives_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("fresh.snapshot");
        std::fs::write(&fresh, b"x").expect("write");
        std::thread::sleep(Duration::from_millis(20));
        remove_stale(dir.path(), Duration::from_secs(3600));
        assert!(fresh.exists());
        remove_stale(dir.path(), Duration::ZERO);
        assert!(!fresh.exists());
    }
}
