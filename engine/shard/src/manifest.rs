//! The shard manifest: which segment folders make up the persisted state, and the last SeqNo whose
//! effects they contain. JSON with a format tag and version, replaced atomically (temp, fsync, rename,
//! fsync the folder), so a reader sees either the previous or the next checkpoint, never a mix.

use std::io::Write;
use std::path::Path;

use crate::error::{Result, ShardError};

const FORMAT: &str = "quiver-shard-manifest";
const VERSION: u32 = 1;

/// The persisted state of a shard.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// Every operation with SeqNo <= this is reflected in the segments.
    pub seqno: u64,
    /// Folder names under `segments/`.
    pub segments: Vec<String>,
}

impl Manifest {
    pub fn new(seqno: u64, segments: Vec<String>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            seqno,
            segments,
        }
    }

    /// Reads `manifest.json` in `dir`; `None` for a shard never checkpointed.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join("manifest.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ShardError::io(&path)(e)),
        };
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ShardError::Corrupt(format!("{}: {e}", path.display())))?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(ShardError::Corrupt(format!(
                "{}: unknown format {} v{}",
                path.display(),
                m.format,
                m.version
            )));
        }
        Ok(Some(m))
    }

    /// Atomically replaces `manifest.json` in `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("manifest.json.tmp");
        let dst = dir.join("manifest.json");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| ShardError::Corrupt(e.to_string()))?;
        {
            let mut f = std::fs::File::create(&tmp).map_err(ShardError::io(&tmp))?;
            f.write_all(&bytes).map_err(ShardError::io(&tmp))?;
            f.sync_all().map_err(ShardError::io(&tmp))?;
        }
        std::fs::rename(&tmp, &dst).map_err(ShardError::io(&dst))?;
        sync_dir(dir)
    }
}

/// fsync a folder so a rename or create inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ShardError::io(dir))
}
