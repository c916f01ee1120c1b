//! The optimizer: one job at a time per shard, each built off to the side without holding a lock
//! and swapped in under the write lock, while searches and writes go on.
//!
//! - Index: seal a segment past `indexing_threshold` (or whose graphs were built with another
//!   `m`, `ef_construct` or `payload_m`) and build its graphs on a copy. A sealed segment takes no new points (they go to an
//!   appendable one); deletes and payload edits apply to it in place, which a graph tolerates
//!   because they never move an offset or change a vector. The graphs attach as they are.
//! - Rebuild (vacuum and merge): copy the live points of one segment whose deleted share passed
//!   `deleted_threshold` (if it has at least `vacuum_min_vector_number` vectors), or of the smallest indexed segments beyond `default_segment_number`, into
//!   a new segment and index it. At the swap every copied point is checked against its source
//!   (which only lost points or had payloads edited meanwhile), then the sources are replaced.
//! - Layout: with `is_tenant` / `is_principal` fields declared, every segment the optimizer
//!   writes stores its points ordered by them (an Index job rewrites the segment in that order
//!   instead of indexing it in place), so one tenant's or one range's points are contiguous.
//!   A merge never makes a segment of more than `max_segment_size`.
//! - Fields / Quantize / Retune: refresh a segment's payload field indexes, its int8 codes, or
//!   the settings that only steer searches (`full_scan_threshold`, `max_indexing_threads`) in
//!   place.
//!
//! Crash safety: nothing on disk changes until the next checkpoint writes the new segments into
//! new folders and swaps the manifest, so a kill mid-job leaves the last checkpoint intact and the
//! job is simply redone after restart; no partial file is ever named by a manifest.

use std::sync::atomic::Ordering;

use quiver_segment::Segment;

use crate::apply::State;
use crate::error::Result;
use crate::shard::{LocalShard, OptimizerOptions};

/// What the optimizer does next, by slot index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Job {
    Index(usize),
    Rebuild(Vec<usize>),
    /// Payload indexes were declared or dropped: refresh field indexes, keep graphs.
    Fields(usize),
    /// Quantization settings changed (or the segment was just loaded): rebuild the codes.
    Quantize(usize),
    /// Search-side HNSW settings changed (`full_scan_threshold`, `max_indexing_threads`): the
    /// graphs stay.
    Retune(usize),
}

fn next_job(state: &State, opts: &OptimizerOptions) -> Option<Job> {
    if opts.threshold_kb == 0 {
        return None;
    }
    let index = state.slots.iter().position(|s| match s.segment.index() {
        None => {
            let bytes = s.segment.dense_bytes();
            bytes > 0 && bytes >= opts.threshold_kb.saturating_mul(1024)
        }
        // Value graphs need the graph build's machinery: a newly declared field re-indexes.
        Some(index) => {
            !s.segment.is_empty()
                && (!index.settings.builds_like(&opts.settings)
                    || (opts.settings.payload_m > 0 && built_without_a_declared_field(&s.segment, opts)))
        }
    });
    if let Some(i) = index {
        return Some(Job::Index(i));
    }
    let retune = state
        .slots
        .iter()
        .position(|s| s.segment.index().is_some_and(|ix| ix.settings != opts.settings));
    if let Some(i) = retune {
        return Some(Job::Retune(i));
    }
    let fields = state
        .slots
        .iter()
        .position(|s| s.segment.index().is_some_and(|ix| ix.declared != opts.fields));
    if let Some(i) = fields {
        return Some(Job::Fields(i));
    }
    let quantize = state.slots.iter().position(|s| {
        s.segment
            .index()
            .is_some_and(|ix| ix.quantization != opts.quantization)
    });
    if let Some(i) = quantize {
        return Some(Job::Quantize(i));
    }
    // Qdrant's `vacuum_min_vector_number`: segments of fewer vectors are not worth a rebuild.
    let vacuum = state.slots.iter().position(|s| {
        let holes = s.segment.capacity() - s.segment.len();
        s.segment.index().is_some()
            && holes > 0
            && s.segment.capacity() >= opts.vacuum_min_vectors
            && holes as f64 > opts.deleted_threshold * s.segment.capacity() as f64
    });
    if let Some(i) = vacuum {
        return Some(Job::Rebuild(vec![i]));
    }
    let mut indexed: Vec<usize> = (0..state.slots.len())
        .filter(|&i| state.slots[i].segment.index().is_some())
        .collect();
    let target = opts.target_segments.max(1);
    if indexed.len() <= target {
        return None;
    }
    indexed.sort_by_key(|&i| state.slots[i].segment.len());
    let mut chosen: Vec<usize> = indexed[..=indexed.len() - target].to_vec();
    while chosen.len() >= 2
        && chosen
            .iter()
            .map(|&i| state.slots[i].segment.len())
            .sum::<usize>()
            > opts.max_segment_points
    {
        chosen.pop();
    }
    (chosen.len() >= 2).then_some(Job::Rebuild(chosen))
}

/// Whether a field is declared that the segment's index was built without (a payload index
/// created after the segment was indexed): its value graph, if its values call for one, is built
/// with the graphs. A dropped field only needs the Fields job.
fn built_without_a_declared_field(segment: &Segment, opts: &OptimizerOptions) -> bool {
    let Some(index) = segment.index() else {
        return false;
    };
    opts.fields
        .iter()
        .any(|(path, _)| !index.declared.iter().any(|(p, _)| p == path))
}

impl LocalShard {
    /// Changes when and how segments are optimized (an `update_collection` of hnsw or optimizer
    /// settings); segments indexed with other settings are re-indexed.
    pub fn set_optimizer(&self, opts: OptimizerOptions) {
        *self.indexing.write() = opts;
    }

    pub fn optimizer_options(&self) -> OptimizerOptions {
        self.indexing.read().clone()
    }

    /// Whether an optimization is running or due (the collection is yellow meanwhile).
    pub fn optimizing(&self) -> bool {
        if self.building.load(Ordering::Acquire) {
            return true;
        }
        let opts = self.optimizer_options();
        next_job(&self.state.read(), &opts).is_some()
    }

    /// Runs one due optimization; returns whether there was one.
    pub fn optimize_once(&self) -> Result<bool> {
        let _one_at_a_time = self.optimizer.lock();
        let opts = self.optimizer_options();
        let started = std::time::Instant::now();
        let job = {
            let mut state = self.state.write();
            let Some(job) = next_job(&state, &opts) else {
                return Ok(false);
            };
            let work = match job {
                Job::Fields(i) => {
                    // A payload scan, no graph: done in place under the lock.
                    let points = state.slots[i].segment.len();
                    state.slots[i].segment.reindex_fields(&opts.fields);
                    state.slots[i].dirty = true;
                    tracing::info!(shard = %self.dir().display(), points, "payload field indexes rebuilt");
                    return Ok(true);
                }
                Job::Quantize(i) => {
                    // One pass over the vectors (tens of milliseconds per 100k), in place. Codes
                    // are never persisted, so the segment is not dirty.
                    let points = state.slots[i].segment.len();
                    state.slots[i].segment.requantize(&opts.quantization);
                    tracing::info!(shard = %self.dir().display(), points, "quantized codes rebuilt");
                    return Ok(true);
                }
                Job::Retune(i) => {
                    state.slots[i].segment.retune(opts.settings);
                    state.slots[i].dirty = true;
                    return Ok(true);
                }
                Job::Index(i) => {
                    let slot = &mut state.slots[i];
                    slot.sealed = true;
                    if opts.layout.is_empty() {
                        Work::Index(slot.uid, Box::new(slot.segment.clone()))
                    } else {
                        // Tenant / principal fields order the points: the segment is rewritten
                        // in that order (sealed first, so it only loses points meanwhile).
                        Work::Rebuild(vec![(slot.uid, slot.segment.clone())])
                    }
                }
                Job::Rebuild(list) => Work::Rebuild(
                    list.iter()
                        .map(|&i| (state.slots[i].uid, state.slots[i].segment.clone()))
                        .collect(),
                ),
            };
            self.building.store(true, Ordering::Release);
            work
        };
        // `building` falls back even if the build panics (the collection reports the panic).
        struct Built<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Built<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _built = Built(&self.building);
        let what = match job {
            Work::Index(uid, copy) => {
                let index = copy.build_index(opts.settings, &opts.fields, &opts.quantization);
                let mut state = self.state.write();
                if let Some(slot) = state.slots.iter_mut().find(|s| s.uid == uid) {
                    slot.segment.adopt_index(index, &copy);
                    slot.dirty = true;
                }
                format!("indexed a segment of {} points", copy.len())
            }
            Work::Rebuild(sources) => {
                let mut merged = Segment::new(self.config.clone());
                let mut order: Vec<_> = sources
                    .iter()
                    .enumerate()
                    .flat_map(|(s, (_, src))| {
                        src.layout_keys(&opts.layout)
                            .into_iter()
                            .map(move |(key, id)| (key, id, s))
                    })
                    .collect();
                // Stable: equal keys keep id order within a source.
                order.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, id, s) in &order {
                    merged.copy_point(&sources[*s].1, id);
                }
                let index = merged.build_index(opts.settings, &opts.fields, &opts.quantization);
                merged.set_index(index);
                let uids: Vec<u64> = sources.iter().map(|(u, _)| *u).collect();
                let mut state = self.state.write();
                let live: Vec<&Segment> = state
                    .slots
                    .iter()
                    .filter(|s| uids.contains(&s.uid))
                    .map(|s| &s.segment)
                    .collect();
                for id in merged.ids().collect::<Vec<_>>() {
                    match live.iter().find(|s| s.contains(&id)) {
                        Some(src) => merged.sync_point(src, &id),
                        None => {
                            merged.delete(&id);
                        }
                    }
                }
                state.slots.retain(|s| !uids.contains(&s.uid));
                let points = merged.len();
                state.push(merged, None, true);
                format!("rebuilt {} segments into one of {points} points", uids.len())
            }
        };
        tracing::info!(
            shard = %self.dir().display(),
            secs = started.elapsed().as_secs_f64(),
            "{what}"
        );
        Ok(true)
    }
}

/// A job with the copies it works on.
enum Work {
    Index(u64, Box<Segment>),
    Rebuild(Vec<(u64, Segment)>),
}
