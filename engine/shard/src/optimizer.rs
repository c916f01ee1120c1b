//! The optimizer's indexing step: seal a segment that passed `indexing_threshold` (or whose graphs
//! were built with other settings), build its graphs on a copy without holding any lock, then
//! attach them under the write lock. Searches and writes go on meanwhile: a sealed segment takes no
//! new points (they go to an appendable one), and deletes and payload edits apply to it in place,
//! which a graph tolerates because they never move an offset or change a vector.
//!
//! Crash safety: nothing on disk changes until the next checkpoint writes the indexed segment into
//! a new folder and swaps the manifest, so a kill mid-build leaves the last checkpoint intact and
//! the build is simply redone after restart; no partial file is ever named by a manifest.

use std::sync::atomic::Ordering;

use crate::apply::State;
use crate::error::Result;
use crate::shard::{IndexingOptions, LocalShard};

/// The slot an optimization should work on next, if any.
fn candidate(state: &State, opts: &IndexingOptions) -> Option<usize> {
    if opts.threshold_kb == 0 {
        return None;
    }
    state.slots.iter().position(|s| match s.segment.index() {
        None => {
            let bytes = s.segment.dense_bytes();
            bytes > 0 && bytes >= opts.threshold_kb.saturating_mul(1024)
        }
        Some(index) => index.settings != opts.settings && !s.segment.is_empty(),
    })
}

impl LocalShard {
    /// Changes when and how segments are indexed (an `update_collection` of hnsw or optimizer
    /// settings); segments indexed with other settings are re-indexed by the optimizer.
    pub fn set_indexing(&self, opts: IndexingOptions) {
        *self.indexing.write() = opts;
    }

    pub fn indexing(&self) -> IndexingOptions {
        *self.indexing.read()
    }

    /// Whether an optimization is running or due (the collection is yellow meanwhile).
    pub fn optimizing(&self) -> bool {
        if self.building.load(Ordering::Acquire) {
            return true;
        }
        let opts = self.indexing();
        candidate(&self.state.read(), &opts).is_some()
    }

    /// Runs one optimization if one is due; returns whether it did.
    pub fn optimize_once(&self) -> Result<bool> {
        let _one_at_a_time = self.optimizer.lock();
        let opts = self.indexing();
        let (uid, copy) = {
            let mut state = self.state.write();
            let Some(i) = candidate(&state, &opts) else {
                return Ok(false);
            };
            let slot = &mut state.slots[i];
            slot.sealed = true;
            self.building.store(true, Ordering::Release);
            (slot.uid, slot.segment.clone())
        };
        let started = std::time::Instant::now();
        let index = copy.build_index(opts.settings);
        let points = copy.len();
        drop(copy);
        {
            let mut state = self.state.write();
            if let Some(slot) = state.slots.iter_mut().find(|s| s.uid == uid) {
                slot.segment.set_index(index);
                slot.dirty = true;
            }
            self.building.store(false, Ordering::Release);
        }
        tracing::info!(
            shard = %self.dir().display(),
            points,
            secs = started.elapsed().as_secs_f64(),
            "segment indexed"
        );
        Ok(true)
    }
}
