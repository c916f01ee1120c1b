//! A segment's HNSW graphs (one per dense vector name) and the planner that decides, per search,
//! between an exact scan and a graph traversal.
//!
//! Only sealed segments get graphs: they take no new points, so every offset the graph knows keeps
//! its vector; deletions and payload edits happen in place and are checked while traversing.
//!
//! The plan for a filtered search comes from the filter's estimated cardinality (a deterministic
//! sample of live points): below `full_scan_threshold_kb` of vectors the matching points are
//! scanned exactly (recall 1, and cheaper than a traversal that rejects almost every node);
//! above it the graph is traversed with the filter checked on every candidate.

use std::collections::BTreeMap;
use std::sync::Arc;

use quiver_hnsw::{Graph, GraphSearch, HnswParams};
use quiver_types::{JsonPath, PointId, PointOffset, SearchRequest};

use crate::dense_scorer::{PairRanker, QueryScorer};
use crate::field_index::{FieldIndex, FieldIndexes, FieldKind};
use crate::filter;
use crate::vector_storage::{DenseStorage, VectorStorage};
use crate::Segment;

/// How a segment's graphs were built, and the defaults its searches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexSettings {
    pub m: usize,
    pub ef_construct: usize,
    /// Filters estimated to match fewer points than this many KB of vectors are scanned exactly.
    pub full_scan_threshold_kb: usize,
    /// Build threads; 0 means every core.
    pub max_indexing_threads: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            m: 16,
            ef_construct: 100,
            full_scan_threshold_kb: 10_000,
            max_indexing_threads: 0,
        }
    }
}

/// The graphs and payload field indexes of a sealed segment.
#[derive(Debug, Clone)]
pub struct SegmentIndex {
    pub settings: IndexSettings,
    pub graphs: BTreeMap<String, Arc<Graph>>,
    /// The declared payload fields the field indexes were built for.
    pub declared: Vec<(JsonPath, FieldKind)>,
    pub fields: FieldIndexes,
}

/// What a search of one segment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Score every live point (that passes the filter, when there is one).
    Exact,
    /// Traverse the graph; `filtered` when some nodes must be rejected (filter, deletions).
    Graph { filtered: bool },
}

/// Points sampled to estimate a filter's cardinality.
const SAMPLE: usize = 256;

impl Segment {
    /// Builds a graph for every dense vector over the live points that have it. Pure: the segment
    /// is not changed, so this runs on a copy while the original serves reads and writes.
    pub fn build_index(&self, settings: IndexSettings, declared: &[(JsonPath, FieldKind)]) -> SegmentIndex {
        let params = HnswParams {
            m: settings.m.max(1),
            ef_construct: settings.ef_construct.max(1),
            threads: settings.max_indexing_threads,
            ..HnswParams::default()
        };
        let mut graphs = BTreeMap::new();
        for (name, storage) in &self.vectors {
            if let VectorStorage::Dense(d) = storage {
                let nodes: Vec<u32> = self
                    .ids
                    .live_offsets()
                    .filter(|o| d.has(*o))
                    .map(|o| o.0)
                    .collect();
                let capacity = self.ids.capacity().max(d.capacity());
                let graph = quiver_hnsw::build(&params, capacity, &nodes, &PairRanker::new(d));
                graphs.insert(name.clone(), Arc::new(graph));
            }
        }
        SegmentIndex {
            settings,
            graphs,
            declared: declared.to_vec(),
            fields: self.field_indexes(declared),
        }
    }

    /// Field indexes for `declared` over the live payloads.
    pub fn field_indexes(&self, declared: &[(JsonPath, FieldKind)]) -> FieldIndexes {
        let fields = declared
            .iter()
            .map(|(path, kind)| {
                let live = self.ids.live_offsets().map(|o| (o.0, self.payload_at(o)));
                (path.clone(), FieldIndex::build(*kind, path, live))
            })
            .collect();
        FieldIndexes { fields }
    }

    /// Rebuilds the field indexes of an indexed segment for other declared fields (payload
    /// indexes created or dropped); the graphs stay.
    pub fn reindex_fields(&mut self, declared: &[(JsonPath, FieldKind)]) {
        let fields = self.field_indexes(declared);
        if let Some(ix) = self.index.as_mut() {
            ix.declared = declared.to_vec();
            ix.fields = fields;
        }
    }

    /// Offsets that may pass the request's filter, from the field indexes (sorted).
    pub fn index_candidates(&self, req: &SearchRequest) -> Option<Vec<u32>> {
        let f = req.filter.as_ref().filter(|f| !f.is_empty())?;
        self.index.as_ref()?.fields.candidates(f)
    }

    /// Attaches graphs built by [`Segment::build_index`] on a copy of this segment. Valid because a
    /// sealed segment only loses points: offsets and vectors the graph knows do not change.
    pub fn set_index(&mut self, index: SegmentIndex) {
        self.index = Some(index);
    }

    pub fn index(&self) -> Option<&SegmentIndex> {
        self.index.as_ref()
    }

    /// Live vectors reachable through a graph.
    pub fn indexed_vectors(&self) -> usize {
        let Some(index) = &self.index else {
            return 0;
        };
        index
            .graphs
            .keys()
            .filter_map(|name| self.vectors.get(name))
            .map(|s| self.ids.live_offsets().filter(|o| s.has(*o)).count())
            .sum()
    }

    /// Copies a point (vectors, payload, version) from `from`; false when it is not there.
    pub fn copy_point(&mut self, from: &Segment, id: &PointId) -> bool {
        let Some(src) = from.ids.offset(id) else {
            return false;
        };
        let vectors = from
            .vectors_at(src, &quiver_types::WithVector::All)
            .unwrap_or_default();
        self.upsert(*id, from.ids.version(src), &vectors, from.payload_at(src).clone());
        true
    }

    /// Brings a copied point up to date with the sealed segment it came from, which can only have
    /// edited its payload or dropped vectors since (see [`Segment::copy_point`]).
    pub fn sync_point(&mut self, from: &Segment, id: &PointId) {
        let (Some(src), Some(dst)) = (from.ids.offset(id), self.ids.offset(id)) else {
            return;
        };
        if from.ids.version(src) == self.ids.version(dst) {
            return;
        }
        self.ids.set_version(dst, from.ids.version(src));
        let i = dst.0 as usize;
        if self.payloads.len() <= i {
            self.payloads.resize_with(i + 1, Default::default);
        }
        let new = from.payload_at(src).clone();
        if let Some(ix) = self.index.as_mut() {
            ix.fields.update(dst.0, &self.payloads[i], &new);
        }
        self.payloads[i] = new;
        for (name, storage) in self.vectors.iter_mut() {
            if !from.vectors.get(name).is_some_and(|s| s.has(src)) {
                storage.clear(dst);
            }
        }
    }

    /// Bytes of dense vectors held by live points (what `indexing_threshold` is measured in).
    pub fn dense_bytes(&self) -> usize {
        self.vectors
            .values()
            .map(|s| match s {
                VectorStorage::Dense(d) => d.dim * 4 * self.len(),
                VectorStorage::Sparse(_) => 0,
            })
            .sum()
    }

    /// The dense storage of a vector name.
    pub fn dense_storage(&self, name: &str) -> Option<&DenseStorage> {
        match self.vectors.get(name) {
            Some(VectorStorage::Dense(d)) => Some(d),
            _ => None,
        }
    }

    /// Estimated share of live points passing the request's filter (1 without a filter).
    pub fn estimate_selectivity(&self, req: &SearchRequest) -> f64 {
        let Some(f) = req.filter.as_ref().filter(|f| !f.is_empty()) else {
            return 1.0;
        };
        let n = self.ids.capacity();
        if n == 0 {
            return 0.0;
        }
        // Pseudo-random offsets (fixed seed, so a plan is repeatable): an evenly strided sample
        // aliases with periodic data, such as ids assigned round-robin to groups.
        let (mut seen, mut pass) = (0usize, 0usize);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let draws = if n <= SAMPLE { n } else { SAMPLE };
        for j in 0..draws {
            let o = if n <= SAMPLE {
                j
            } else {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) % n as u64) as usize
            };
            let o = PointOffset(o as u32);
            if let Some(id) = self.ids.id(o) {
                seen += 1;
                if filter::check(f, &self.view(id, o)) {
                    pass += 1;
                }
            }
        }
        if seen == 0 {
            return 1.0;
        }
        pass as f64 / seen as f64
    }

    /// The plan for a dense search of `storage` (see the module docs).
    pub fn plan(&self, req: &SearchRequest, storage: &DenseStorage) -> Plan {
        self.plan_with(req, storage, self.index_candidates(req).as_deref())
    }

    /// [`Segment::plan`] given the field indexes' candidates: then the estimate is their count.
    pub fn plan_with(&self, req: &SearchRequest, storage: &DenseStorage, candidates: Option<&[u32]>) -> Plan {
        let Some(index) = &self.index else {
            return Plan::Exact;
        };
        if req.params.exact || !index.graphs.contains_key(&req.vector_name) {
            return Plan::Exact;
        }
        // Holes: deleted points, or live points that lost this vector.
        let holes = self.ids.capacity() > self.len() || storage.present_count() < self.len();
        let has_filter = req.filter.as_ref().is_some_and(|f| !f.is_empty());
        if !has_filter {
            return Plan::Graph { filtered: holes };
        }
        let estimate = match candidates {
            Some(c) => c.len() as f64,
            None => self.estimate_selectivity(req) * self.len() as f64,
        };
        let kb = estimate * (storage.dim * 4) as f64 / 1024.0;
        if kb < index.settings.full_scan_threshold_kb as f64 {
            Plan::Exact
        } else {
            Plan::Graph { filtered: true }
        }
    }

    /// Graph search: the best `k` (offset, rank) pairs, best first, above `min_rank`.
    pub(crate) fn graph_search(
        &self,
        req: &SearchRequest,
        storage: &DenseStorage,
        query: &[f32],
        filtered: bool,
        min_rank: Option<f32>,
        candidates: Option<&[u32]>,
    ) -> Vec<(PointOffset, f32)> {
        let bits: Option<Vec<u64>> = candidates.map(|c| {
            let mut bits = vec![0u64; self.ids.capacity().div_ceil(64)];
            for &o in c {
                if let Some(w) = bits.get_mut(o as usize / 64) {
                    *w |= 1 << (o % 64);
                }
            }
            bits
        });
        let Some(graph) = self.index.as_ref().and_then(|i| i.graphs.get(&req.vector_name)) else {
            return Vec::new();
        };
        let ef_default = self.index.as_ref().map_or(100, |i| i.settings.ef_construct);
        let k = req.limit.saturating_add(req.offset);
        let mut filter = req.filter.as_ref().filter(|f| !f.is_empty());
        let exact_candidates = bits.is_some()
            && filter.is_some_and(|f| self.index.as_ref().is_some_and(|ix| ix.fields.answers_exactly(f)));
        if exact_candidates {
            // The candidate bitset is the filter: no payload check per node.
            filter = None;
        }
        let accept = |node: u32| {
            // Unfiltered with no holes: every node the graph reaches is a live point with this
            // vector, so skip the lookups (they are random memory accesses).
            if !filtered {
                return true;
            }
            if let Some(bits) = &bits {
                let inside = bits
                    .get(node as usize / 64)
                    .is_some_and(|w| w & (1 << (node % 64)) != 0);
                if !inside {
                    return false;
                }
            }
            let o = PointOffset(node);
            match self.ids.id(o) {
                Some(id) => storage.has(o) && filter.is_none_or(|f| filter::check(f, &self.view(id, o))),
                None => false,
            }
        };
        let search = GraphSearch {
            k,
            ef: req.params.hnsw_ef.unwrap_or(ef_default).max(k),
            filtered,
        };
        graph
            .search(&search, QueryScorer::new(storage, query), accept)
            .into_iter()
            .filter(|s| min_rank.is_none_or(|m| s.score > m))
            .map(|s| (PointOffset(s.id), s.score))
            .collect()
    }
}
