//! `LocalShard`: the write path (log first, then apply, under one writer lock so log order is apply
//! order) and the read path (segments searched in parallel, results merged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use quiver_segment::{Estimate, FieldKind, IndexSettings, Int8Params, Plan, Segment, SegmentConfig};
use quiver_types::{
    Filter, JsonPath, OrderBy, PointId, Record, ScoredPoint, SearchRequest, SeqNo, UpdateOperation,
    WithPayload, WithVector,
};
use quiver_wal::Wal;
use rayon::prelude::*;

use crate::apply::{Slot, State};
use crate::error::{Result, ShardError};
use crate::manifest::{sync_dir, Manifest};

/// Tuning of a shard.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// New points go to a fresh segment once the current one holds this many offsets (or the
    /// optimizer's `max_segment_points`, if smaller).
    pub max_segment_points: usize,
    /// Size at which the log rolls to a new file.
    pub wal_segment_bytes: u64,
    /// When and how segments get graphs (changeable later with [`LocalShard::set_optimizer`]).
    pub indexing: OptimizerOptions,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            max_segment_points: 1 << 20,
            wal_segment_bytes: 32 << 20,
            indexing: OptimizerOptions::default(),
        }
    }
}

/// When and how the optimizer indexes, merges and vacuums a shard's segments.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerOptions {
    /// KB of vectors past which an appendable segment is sealed and indexed; 0 turns indexing off.
    pub threshold_kb: usize,
    pub settings: IndexSettings,
    /// Indexed segments beyond this many are merged (smallest first).
    pub target_segments: usize,
    /// A merge never makes a segment of more points than this.
    pub max_segment_points: usize,
    /// An indexed segment whose deleted share passes this is rebuilt without the holes...
    pub deleted_threshold: f64,
    /// ...once it has at least this many deleted points.
    pub vacuum_min_vectors: usize,
    /// Declared payload indexes: indexed segments keep a field index for each.
    pub fields: Vec<(JsonPath, FieldKind)>,
    /// Dense vectors traversed on int8 codes (scalar quantization), by name.
    pub quantization: BTreeMap<String, Int8Params>,
    /// Fields whose values order the points of every segment the optimizer writes (`is_tenant`
    /// fields first, then `is_principal` ones); empty keeps id order.
    pub layout: Vec<JsonPath>,
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        OptimizerOptions {
            threshold_kb: 10_000,
            settings: IndexSettings::default(),
            target_segments: 2,
            max_segment_points: 1 << 20,
            deleted_threshold: 0.2,
            vacuum_min_vectors: 1000,
            fields: Vec::new(),
            quantization: BTreeMap::new(),
            layout: Vec::new(),
        }
    }
}

/// One segment's part in a search (see [`LocalShard::explain`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentPlan {
    pub points: usize,
    pub indexed: bool,
    /// The bounds and expectation the plan was chosen by.
    pub estimate: Estimate,
    pub plan: Plan,
}

/// Facts about a shard for collection info.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardStats {
    pub points: usize,
    pub segments: usize,
    pub applied: SeqNo,
    pub persisted: SeqNo,
    /// Live vectors reachable through graphs.
    pub indexed_vectors: usize,
    /// An optimization is running or due.
    pub optimizing: bool,
    /// Offsets held by deleted points (what vacuum reclaims).
    pub deleted_slots: usize,
    /// Segments that have graphs.
    pub indexed_segments: usize,
}

/// A shard stored on this node.
pub struct LocalShard {
    pub(crate) dir: PathBuf,
    pub(crate) config: SegmentConfig,
    options: ShardOptions,
    pub(crate) state: RwLock<State>,
    /// Held across log append + apply: the single writer.
    pub(crate) wal: Mutex<Wal>,
    /// Held by a checkpoint; checkpoints never overlap.
    pub(crate) checkpoint: Mutex<SeqNo>,
    pub(crate) indexing: RwLock<OptimizerOptions>,
    /// Held by an optimization; one at a time per shard.
    pub(crate) optimizer: Mutex<()>,
    pub(crate) building: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for LocalShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalShard").field("dir", &self.dir).finish()
    }
}

impl LocalShard {
    /// Creates an empty shard in `dir`, which must not hold one already.
    pub fn create(dir: &Path, config: SegmentConfig, options: ShardOptions) -> Result<LocalShard> {
        if dir.join("manifest.json").exists() || dir.join("wal").exists() {
            return Err(ShardError::InvalidInput(format!(
                "shard already exists at {}",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("segments")).map_err(ShardError::io(dir))?;
        Manifest::new(0, Vec::new()).write(dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        Self::open(dir, config, options)
    }

    /// Opens the shard in `dir`: loads the last checkpoint and replays the log after it.
    pub fn open(dir: &Path, config: SegmentConfig, options: ShardOptions) -> Result<LocalShard> {
        let (state, wal, persisted) = crate::recovery::recover(dir, &config, &options)?;
        Ok(LocalShard {
            dir: dir.to_path_buf(),
            config,
            state: RwLock::new(state),
            wal: Mutex::new(wal),
            checkpoint: Mutex::new(persisted),
            indexing: RwLock::new(options.indexing.clone()),
            optimizer: Mutex::new(()),
            building: std::sync::atomic::AtomicBool::new(false),
            options,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Logs and applies one operation. With `sync`, the log is fsynced before returning, so the
    /// operation survives power loss; without, it survives a process crash (it is in the OS).
    pub fn update(&self, op: &UpdateOperation, sync: bool) -> Result<SeqNo> {
        let mut wal = self.wal.lock();
        if let Some(ids) = op.ids_that_must_exist() {
            let state = self.state.read();
            if let Some(id) = ids.iter().find(|id| state.find(id).is_none()) {
                return Err(ShardError::NotFound(format!("No point with id {id} found")));
            }
        }
        let seqno = wal
            .last_seqno()
            .unwrap_or_default()
            .next()
            .max(self.state.read().applied.next());
        let body = rmp_serde::to_vec_named(op).map_err(|e| ShardError::InvalidInput(e.to_string()))?;
        wal.append(seqno, &body)?;
        if sync {
            wal.sync()?;
        }
        // Appendable segments grow up to the merge limit (a bulk load with indexing off lands in
        // segments the optimizer can index as they are).
        let max_points = self
            .options
            .max_segment_points
            .min(self.optimizer_options().max_segment_points);
        self.state.write().apply(op, seqno, &self.config, max_points);
        Ok(seqno)
    }

    /// fsyncs the log (called periodically for writes that did not ask for it).
    pub fn sync_wal(&self) -> Result<()> {
        self.wal.lock().sync()?;
        Ok(())
    }

    /// The best `limit + offset` points of this shard, best first.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        let state = self.state.read();
        // `indexed_only`: skip segments still waiting for their graph, those past
        // `indexing_threshold` (Qdrant's "small" segments are searched; with indexing off no
        // segment waits for a graph, so none is skipped).
        let threshold = self.indexing.read().threshold_kb.saturating_mul(1024);
        let waiting = |seg: &Segment| {
            req.params.indexed_only && threshold > 0 && seg.index().is_none() && seg.dense_bytes() > threshold
        };
        let per_segment: Vec<Vec<ScoredPoint>> = state
            .slots
            .par_iter()
            .filter(|s| !waiting(&s.segment))
            .map(|s| s.segment.search(req))
            .collect::<std::result::Result<_, _>>()?;
        let higher = higher_is_better(&self.config, &req.vector_name);
        Ok(merge_scored(
            per_segment,
            req.limit.saturating_add(req.offset),
            higher,
        ))
    }

    /// How each segment would answer `req`: the planner's decision and what it was based on.
    pub fn explain(&self, req: &SearchRequest) -> Vec<SegmentPlan> {
        let state = self.state.read();
        state
            .slots
            .iter()
            .map(|s| {
                let seg = &s.segment;
                let (plan, estimate) = seg.explain(req);
                SegmentPlan {
                    points: seg.len(),
                    indexed: seg.index().is_some(),
                    estimate,
                    plan,
                }
            })
            .collect()
    }

    pub fn retrieve(
        &self,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
    ) -> Vec<Record> {
        let state = self.state.read();
        ids.iter()
            .filter_map(|id| {
                state
                    .slots
                    .iter()
                    .find_map(|s| s.segment.retrieve(id, with_payload, with_vector))
            })
            .collect()
    }

    /// Up to `limit` matching ids >= `from`, in id order.
    pub fn scroll_ids(&self, from: Option<PointId>, limit: usize, filter: Option<&Filter>) -> Vec<PointId> {
        let state = self.state.read();
        let mut ids: Vec<PointId> = state
            .slots
            .par_iter()
            .flat_map_iter(|s| s.segment.scroll(from, limit, filter))
            .collect();
        ids.sort_unstable();
        ids.truncate(limit);
        ids
    }

    pub fn count(&self, filter: Option<&Filter>) -> usize {
        self.state
            .read()
            .slots
            .par_iter()
            .map(|s| s.segment.count(filter))
            .sum()
    }

    pub fn order_values(&self, order: &OrderBy, filter: Option<&Filter>) -> Vec<(f64, PointId)> {
        let state = self.state.read();
        state
            .slots
            .par_iter()
            .flat_map_iter(|s| s.segment.order_values(order, filter))
            .collect()
    }

    pub fn stats(&self) -> ShardStats {
        let optimizing = self.optimizing();
        let state = self.state.read();
        ShardStats {
            points: state.slots.iter().map(|s| s.segment.len()).sum(),
            segments: state.slots.len(),
            applied: state.applied,
            persisted: *self.checkpoint.lock(),
            indexed_vectors: state.slots.iter().map(|s| s.segment.indexed_vectors()).sum(),
            optimizing,
            deleted_slots: state
                .slots
                .iter()
                .map(|s| s.segment.capacity() - s.segment.len())
                .sum(),
            indexed_segments: state.slots.iter().filter(|s| s.segment.index().is_some()).count(),
        }
    }

    /// Each indexed segment's live ids in the order its points are stored: what the storage
    /// layout (`is_tenant` / `is_principal`) made of it.
    pub fn indexed_storage_orders(&self) -> Vec<Vec<PointId>> {
        let state = self.state.read();
        state
            .slots
            .iter()
            .filter(|s| s.segment.index().is_some())
            .map(|s| s.segment.ids_in_storage_order())
            .collect()
    }

    /// Persists every changed segment and moves the manifest forward, then trims the log.
    pub fn checkpoint(&self) -> Result<()> {
        let mut persisted = self.checkpoint.lock();
        // Encode under the read lock: writers wait, searches go on.
        let (seqno, encoded, mut names) = {
            let mut state = self.state.write();
            if state.applied == *persisted && state.slots.iter().all(|s| !s.dirty) {
                return Ok(());
            }
            // Vacuum: drop empty segments; compact ones that are mostly holes.
            state.slots.retain(|s| !s.segment.is_empty());
            for slot in state.slots.iter_mut() {
                // Sealed segments keep their offsets: their graphs address points by offset.
                if slot.dirty && !slot.sealed && slot.segment.capacity() > 2 * slot.segment.len() + 1024 {
                    slot.segment = slot.segment.compacted();
                }
            }
            let mut encoded = Vec::new();
            let mut names = Vec::new();
            for slot in state.slots.iter_mut() {
                if slot.dirty {
                    let name = uuid::Uuid::new_v4().to_string();
                    encoded.push((name.clone(), slot.segment.to_bytes()?));
                    slot.folder = Some(name.clone());
                    slot.dirty = false;
                    names.push(name);
                } else if let Some(f) = &slot.folder {
                    names.push(f.clone());
                }
            }
            (state.applied, encoded, names)
        };
        let segments_dir = self.dir.join("segments");
        for (name, bytes) in &encoded {
            write_segment_folder(&segments_dir, name, bytes)?;
        }
        sync_dir(&segments_dir)?;
        names.sort();
        Manifest::new(seqno.0, names.clone()).write(&self.dir)?;
        *persisted = seqno;
        crate::recovery::remove_unlisted(&segments_dir, &names)?;
        self.wal.lock().truncate_before(seqno.next())?;
        Ok(())
    }
}

fn write_segment_folder(segments_dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = segments_dir.join(format!("{name}.tmp"));
    std::fs::create_dir_all(&tmp).map_err(ShardError::io(&tmp))?;
    let file = tmp.join("segment.qvs");
    let mut f = std::fs::File::create(&file).map_err(ShardError::io(&file))?;
    f.write_all(bytes).map_err(ShardError::io(&file))?;
    f.sync_all().map_err(ShardError::io(&file))?;
    sync_dir(&tmp)?;
    let dst = segments_dir.join(name);
    std::fs::rename(&tmp, &dst).map_err(ShardError::io(&dst))?;
    Ok(())
}

/// Whether higher scores are closer for this vector name (sparse vectors: dot product).
pub fn higher_is_better(config: &SegmentConfig, name: &str) -> bool {
    match config.vectors.get(name) {
        Some(quiver_segment::VectorSpec::Dense { distance, .. }) => distance.higher_is_better(),
        _ => true,
    }
}

/// Merges per-part best-first lists into the best `k` overall (ties by id, for determinism).
pub fn merge_scored(parts: Vec<Vec<ScoredPoint>>, k: usize, higher_is_better: bool) -> Vec<ScoredPoint> {
    let mut all: Vec<ScoredPoint> = parts.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        let by_score = if higher_is_better {
            b.score.total_cmp(&a.score)
        } else {
            a.score.total_cmp(&b.score)
        };
        by_score.then_with(|| a.id.cmp(&b.id))
    });
    all.truncate(k);
    all
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<LocalShard>();
    is::<Slot>();
    is::<Segment>();
}
