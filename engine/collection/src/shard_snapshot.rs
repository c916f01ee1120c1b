//! Snapshots of one shard: an archive of the collection's config and schema plus that shard
//! alone, and recovery of a local shard from such an archive. A cluster backs a collection up
//! shard by shard this way (each node holds only some shards), and restores it by recovering
//! each shard on one of its replicas.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use quiver_shard::LocalShard;
use quiver_types::ShardId;

use crate::collection::{shard_options, Collection};
use crate::config::CollectionConfig;
use crate::error::{CollectionError, Result};
use crate::fsio::{io_err, read_json};
use crate::snapshot::{archive_name, unpack_snapshot, write_archive, SnapshotDescription};

/// The prefix of the folder that holds a shard's old files while its replacement moves in.
const OLD: &str = ".replaced-";

/// The prefix of the folder a shard archive is unpacked into beside the collection's files.
const UNPACKING: &str = ".recovering-shard-";

/// A shard unpacked from an archive and checked, not yet installed; its folder is removed when
/// it is dropped (after the install moved the shard out of it, or unused).
#[derive(Debug)]
pub struct PreparedShard {
    tmp: PathBuf,
    source: PathBuf,
}

impl Drop for PreparedShard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

impl Collection {
    /// Writes a snapshot of local shard `shard` into `dir`.
    pub fn create_shard_snapshot(&self, shard: ShardId, dir: &Path) -> Result<SnapshotDescription> {
        let local = self.local_shard(shard)?;
        let name = archive_name(&format!("{}-shard-{shard}", self.name()));
        write_archive(dir, &name, |add| {
            for (rel, bytes) in self.metadata_files()? {
                add(&rel, &bytes)?;
            }
            let prefix = PathBuf::from("shards").join(shard.to_string());
            let mut failed = None;
            local
                .snapshot_files(|rel, bytes| {
                    if let Err(e) = add(&prefix.join(rel), bytes) {
                        failed = Some(e);
                        return Err(quiver_shard::error::ShardError::InvalidInput(
                            "snapshot write failed".into(),
                        ));
                    }
                    Ok(())
                })
                .map_err(|e| failed.take().unwrap_or_else(|| e.into()))
        })
    }

    /// Replaces the points of local shard `shard` with the one shard in snapshot `archive`
    /// (checked against `checksum`, else the checksum file beside it). The archive must hold
    /// exactly one shard, of a collection with the same vectors. The shard is checked by
    /// opening it before anything is replaced; a crash during the swap is rolled back when the
    /// collection is opened again (see [`restore_replaced`]).
    pub fn recover_shard_snapshot(
        &self,
        shard: ShardId,
        archive: &Path,
        checksum: Option<&str>,
    ) -> Result<()> {
        self.local_shard(shard)?;
        let prepared = self.prepare_shard_snapshot(archive, checksum)?;
        self.install_shard(shard, prepared)
    }

    /// The slow half of [`Collection::recover_shard_snapshot`]: unpacks and checks `archive`
    /// beside the collection without touching any shard, so a caller can install it later in
    /// a short critical section.
    pub fn prepare_shard_snapshot(&self, archive: &Path, checksum: Option<&str>) -> Result<PreparedShard> {
        let tmp = self.dir().join(format!("{UNPACKING}{}", uuid::Uuid::new_v4()));
        let prepared = unpack_snapshot(archive, &tmp, checksum).and_then(|()| self.prepared_shard(&tmp));
        match prepared {
            Ok(source) => Ok(PreparedShard { tmp, source }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Swaps a prepared shard into the place of local shard `shard`.
    pub fn install_shard(&self, shard: ShardId, prepared: PreparedShard) -> Result<()> {
        self.local_shard(shard)?;
        self.swap_shard(shard, &prepared.source)
    }

    /// The shard folder inside an unpacked archive at `tmp`, checked against this collection.
    fn prepared_shard(&self, tmp: &Path) -> Result<PathBuf> {
        let theirs: CollectionConfig = read_json(&tmp.join("config.json"))?.ok_or_else(|| {
            CollectionError::InvalidInput("Wrong input: snapshot: the archive has no config.json".into())
        })?;
        let ours = self.config();
        if theirs.params.vectors != ours.params.vectors
            || theirs.params.sparse_vectors != ours.params.sparse_vectors
        {
            return Err(CollectionError::InvalidInput(format!(
                "Wrong input: snapshot: its vectors differ from those of collection `{}`",
                self.name()
            )));
        }
        let shards = tmp.join("shards");
        let found: Vec<PathBuf> = std::fs::read_dir(&shards)
            .map_err(io_err(&shards))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        let [one] = found.as_slice() else {
            return Err(CollectionError::InvalidInput(format!(
                "Wrong input: snapshot: a shard snapshot holds one shard, this archive holds {}",
                found.len()
            )));
        };
        // Opened once to prove it reads (WAL replayed, segments checked), then closed.
        drop(LocalShard::open(
            one,
            self.segment_config().clone(),
            shard_options(&ours, &self.payload_schema()),
        )?);
        Ok(one.clone())
    }

    /// Moves the shard at `source` into the place of local shard `shard`.
    fn swap_shard(&self, shard: ShardId, source: &Path) -> Result<()> {
        let shards_dir = self.dir().join("shards");
        let live = shards_dir.join(shard.to_string());
        let old = shards_dir.join(format!("{OLD}{shard}"));
        let mut table = self.shards_mut();
        // The old shard is closed before its files move.
        table.retain(|(s, _)| *s != shard);
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
        std::fs::rename(&live, &old).map_err(io_err(&live))?;
        std::fs::rename(source, &live).map_err(io_err(source))?;
        crate::fsio::sync_dir(&shards_dir)?;
        let opened = LocalShard::open(
            &live,
            self.segment_config().clone(),
            shard_options(&self.config(), &self.payload_schema()),
        )?;
        table.push((shard, Arc::new(opened)));
        table.sort_by_key(|(s, _)| *s);
        drop(table);
        std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
        Ok(())
    }

    fn local_shard(&self, shard: ShardId) -> Result<Arc<LocalShard>> {
        self.shards()
            .into_iter()
            .find(|(s, _)| *s == shard)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                CollectionError::NotFound(format!(
                    "Not found: shard {shard} of collection `{}` is not stored on this node",
                    self.name()
                ))
            })
    }
}

/// Removes the archives a crash left half unpacked beside a collection's files.
pub(crate) fn remove_unpacked_leftovers(collection_dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(collection_dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.file_name().to_string_lossy().starts_with(UNPACKING) {
            tracing::info!(path = %entry.path().display(), "removing a half-unpacked shard snapshot");
            std::fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
        }
    }
    Ok(())
}

/// Rolls back a shard swap cut short by a crash: a shard folder missing beside its old files
/// gets them back; old files beside a complete shard are removed. Called before a collection's
/// shards are opened.
pub(crate) fn restore_replaced(shards_dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(shards_dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name.strip_prefix(OLD) else {
            continue;
        };
        let live = shards_dir.join(id);
        if live.exists() {
            std::fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
        } else {
            std::fs::rename(entry.path(), &live).map_err(io_err(&live))?;
        }
    }
    crate::fsio::sync_dir(shards_dir)
}
