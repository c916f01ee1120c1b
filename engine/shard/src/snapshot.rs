//! A shard's files as of one moment, for snapshots: taken after a checkpoint, with the checkpoint
//! and the log held, so no segment folder is swapped or removed and no record is appended while
//! they are read. What the files hold recovers like a shard after a clean stop.

use std::path::{Path, PathBuf};

use crate::error::{Result, ShardError};
use crate::shard::LocalShard;

impl LocalShard {
    /// Checkpoints, then hands every file of the shard (path relative to the shard folder, bytes)
    /// to `sink` while writes wait. Unfinished `.tmp` folders of an interrupted checkpoint are
    /// skipped.
    pub fn snapshot_files(&self, mut sink: impl FnMut(&Path, &[u8]) -> Result<()>) -> Result<()> {
        self.checkpoint()?;
        let _no_checkpoint = self.checkpoint.lock();
        let _no_writes = self.wal.lock();
        let mut files = Vec::new();
        list_files(&self.dir, &self.dir, &mut files)?;
        files.sort();
        for rel in files {
            let path = self.dir.join(&rel);
            let bytes = std::fs::read(&path).map_err(ShardError::io(&path))?;
            sink(&rel, &bytes)?;
        }
        Ok(())
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(ShardError::io(dir))? {
        let entry = entry.map_err(ShardError::io(dir))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            continue;
        }
        let kind = entry.file_type().map_err(ShardError::io(&path))?;
        if kind.is_dir() {
            list_files(root, &path, out)?;
        } else if kind.is_file() {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    Ok(())
}
