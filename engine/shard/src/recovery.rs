//! Opening a shard after a clean stop or a crash: the manifest names the segments to load; folders it
//! does not name are leftovers of an interrupted checkpoint and are deleted; the log is replayed from
//! the first SeqNo after the manifest's.

use std::path::Path;

use quiver_segment::{Segment, SegmentConfig};
use quiver_types::{SeqNo, UpdateOperation};
use quiver_wal::{Wal, WalOptions};

use crate::apply::State;
use crate::error::{Result, ShardError};
use crate::manifest::Manifest;
use crate::ShardOptions;

pub(crate) fn recover(
    dir: &Path,
    config: &SegmentConfig,
    options: &ShardOptions,
) -> Result<(State, Wal, SeqNo)> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| {
        ShardError::NotFound(format!("no shard at {} (manifest.json missing)", dir.display()))
    })?;
    let segments_dir = dir.join("segments");
    std::fs::create_dir_all(&segments_dir).map_err(ShardError::io(&segments_dir))?;
    remove_unlisted(&segments_dir, &manifest.segments)?;
    let mut state = State {
        slots: Vec::new(),
        applied: SeqNo(manifest.seqno),
        next_uid: 0,
    };
    for name in &manifest.segments {
        let segment = Segment::open(&segments_dir.join(name))?;
        state.push(segment, Some(name.clone()), false);
    }
    let wal = Wal::open(
        &dir.join("wal"),
        WalOptions {
            segment_size_bytes: options.wal_segment_bytes,
        },
    )?;
    let mut replayed = 0usize;
    for record in wal.replay(SeqNo(manifest.seqno + 1))? {
        let (seqno, body) = record?;
        let op: UpdateOperation = rmp_serde::from_slice(&body)
            .map_err(|e| ShardError::Corrupt(format!("log record {}: {e}", seqno.0)))?;
        let max_points = options
            .max_segment_points
            .min(options.indexing.max_segment_points);
        state.apply(&op, seqno, config, max_points);
        replayed += 1;
    }
    if replayed > 0 {
        tracing::info!(shard = %dir.display(), replayed, from = manifest.seqno + 1, "replayed write-ahead log");
    }
    Ok((state, wal, SeqNo(manifest.seqno)))
}

/// Deletes every entry of `segments/` the manifest does not name (and temp folders).
pub(crate) fn remove_unlisted(segments_dir: &Path, keep: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(segments_dir).map_err(ShardError::io(segments_dir))?;
    for entry in entries {
        let entry = entry.map_err(ShardError::io(segments_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            let path = entry.path();
            tracing::debug!(path = %path.display(), "removing segment folder not in the manifest");
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(ShardError::io(&path))?;
        }
    }
    Ok(())
}
