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

use quiver_hnsw::{Graph, GraphSearch, HnswParams, NodeScorer, Scored};
use quiver_types::{Condition, Filter, JsonPath, Payload, PointId, PointOffset, SearchRequest};

use crate::cardinality::Cardinality;

use crate::dense_scorer::{PairRanker, QueryScorer};
use crate::field_index::{FieldIndex, FieldIndexes, FieldKind};
use crate::filter;
use crate::quantized::{Int8Codes, Int8Pairs, Int8Params};
use crate::value_graph::{best_cover, Cover, Group, GroupKey, ValueGraph, MANY_GROUPS, NO_GROUP};
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
    /// Links per node in the value graphs of indexed payload fields (Qdrant's `payload_m`);
    /// 0 builds none.
    #[serde(default)]
    pub payload_m: usize,
}

impl IndexSettings {
    /// Whether graphs built with `self` are what `other` would build (`m`, `ef_construct`,
    /// `payload_m`); the other settings only steer searches and builds yet to come.
    pub fn builds_like(&self, other: &IndexSettings) -> bool {
        (self.m, self.ef_construct, self.payload_m) == (other.m, other.ef_construct, other.payload_m)
    }
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            m: 16,
            ef_construct: 100,
            full_scan_threshold_kb: 10_000,
            max_indexing_threads: 0,
            payload_m: 16,
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
    /// The quantization the codes were built with, per dense vector name (a name missing here
    /// is traversed on its original vectors).
    pub quantization: BTreeMap<String, Int8Params>,
    /// Int8 codes per dense vector name, derived from the vectors (not persisted).
    pub codes: BTreeMap<String, Arc<Int8Codes>>,
    /// Filterable-HNSW graphs of the declared keyword/integer/bool fields.
    pub value_graphs: Vec<ValueGraph>,
}

impl SegmentIndex {
    /// Tells the field indexes and value graphs that `offset`'s payload went from `old` to `new`.
    pub fn payload_changed(&mut self, offset: u32, old: &Payload, new: &Payload) {
        for vg in self.value_graphs.iter_mut() {
            if let Some((_, idx)) = self.fields.fields.iter().find(|(p, _)| *p == vg.field) {
                let new_keys = idx.keys_of(&vg.field, new);
                vg.note_edit(&idx.keys_of(&vg.field, old), &new_keys);
                vg.assign(offset, &new_keys);
            }
        }
        self.fields.update(offset, old, new);
    }
}

/// What a search of one segment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Score every live point (that passes the filter, when there is one).
    Exact,
    /// Traverse the graph; `filtered` when some nodes must be rejected (filter, deletions).
    Graph { filtered: bool },
    /// Traverse the value graph of a payload field from the groups the filter selects.
    ValueGraph,
    /// Traverse the graph as if unfiltered, with a wider beam, then check the filter on the
    /// results only: when most points pass, a check per visited node costs more than the few
    /// results it rejects (a traversal with the filter follows if too few pass).
    GraphPostCheck,
}

/// A filter expected to pass this share of a segment's points is checked after the traversal.
const POST_CHECK_SHARE: f64 = 0.8;

/// What a plan was chosen by: the filter's match count in the segment and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub cardinality: Cardinality,
    /// Some condition was counted by a payload field index (else the bounds are the segment's
    /// size, or ids).
    pub from_index: bool,
    /// The bounds straddled a line the plan is chosen by, and a sample of points set `exp`.
    pub sampled: bool,
}

/// A value gets a group in a value graph when it holds this share of `full_scan_threshold`.
const GROUP_SHARE: usize = 4;

/// Range graphs of a numeric field: levels of up to 2 and 4 spans (each level costs one build of
/// the field's points; a third level of 8 spans would add a third).
const SPAN_DEPTH: u32 = 2;

/// A search's plan with what it was based on (see [`Segment::plan_search`]).
pub(crate) struct Planned {
    pub plan: Plan,
    pub candidates: Option<Vec<u32>>,
    pub cover: Option<Cover>,
    pub estimate: Estimate,
}

/// Below this many dimensions graphs are built on the original vectors: a short vector is a cache
/// line or two either way, and its rounding error does not average out over many dimensions.
const CODES_BUILD_MIN_DIM: usize = 128;

/// What the graph builder compares nodes with: int8 codes where the distance has them (a build
/// is bound by loading vectors, and codes are a quarter of their size; see
/// [`crate::quantized::Int8Pairs`]), else the original vectors.
enum BuildPairs<'a> {
    Int8(Int8Pairs<'a>),
    Vectors(PairRanker<'a>),
}

impl<'a> BuildPairs<'a> {
    fn new(storage: &'a DenseStorage, codes: Option<&'a Int8Codes>) -> Self {
        match codes {
            Some(c) => BuildPairs::Int8(Int8Pairs::new(c, storage.dim)),
            None => BuildPairs::Vectors(PairRanker::new(storage)),
        }
    }
}

impl quiver_hnsw::PairScorer for BuildPairs<'_> {
    #[inline]
    fn pair(&self, a: u32, b: u32) -> f32 {
        match self {
            BuildPairs::Int8(p) => p.pair(a, b),
            BuildPairs::Vectors(p) => p.pair(a, b),
        }
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        match self {
            BuildPairs::Int8(p) => p.prefetch(node),
            BuildPairs::Vectors(p) => p.prefetch(node),
        }
    }
}

/// Points sampled to estimate a filter's cardinality.
const SAMPLE: usize = 256;

impl Segment {
    /// Builds a graph for every dense vector over the live points that have it. Pure: the segment
    /// is not changed, so this runs on a copy while the original serves reads and writes.
    pub fn build_index(
        &self,
        settings: IndexSettings,
        declared: &[(JsonPath, FieldKind)],
        quantization: &BTreeMap<String, Int8Params>,
    ) -> SegmentIndex {
        let params = HnswParams {
            m: settings.m.max(1),
            ef_construct: settings.ef_construct.max(1),
            threads: settings.max_indexing_threads,
            ..HnswParams::default()
        };
        let codes = self.quantize(quantization);
        let build_codes = self.build_codes(&codes);
        let pairs: BTreeMap<&str, BuildPairs> = self
            .vectors
            .iter()
            .filter_map(|(name, storage)| match storage {
                VectorStorage::Dense(d) => Some((
                    name.as_str(),
                    BuildPairs::new(d, build_codes.get(name).map(Arc::as_ref)),
                )),
                VectorStorage::Sparse(_) => None,
            })
            .collect();
        let mut graphs = BTreeMap::new();
        for (name, storage) in &self.vectors {
            if let VectorStorage::Dense(d) = storage {
                // `m: 0` (Qdrant's multitenant setup, with `payload_m`): no main graph, only
                // value graphs; an empty graph stands in so a value-graph walk has no bridges.
                let nodes: Vec<u32> = self
                    .ids
                    .live_offsets()
                    .filter(|o| settings.m > 0 && d.has(*o))
                    .map(|o| o.0)
                    .collect();
                let capacity = self.ids.capacity().max(d.capacity());
                let Some(pairs) = pairs.get(name.as_str()) else {
                    continue;
                };
                let graph = quiver_hnsw::build(&params, capacity, &nodes, pairs);
                graphs.insert(name.clone(), Arc::new(graph));
            }
        }
        let fields = self.field_indexes(declared);
        let mut value_graphs = self.value_graphs(&settings, &params, &graphs, &fields, &pairs);
        self.assign_members(&mut value_graphs, &fields);
        SegmentIndex {
            settings,
            graphs,
            declared: declared.to_vec(),
            fields,
            quantization: quantization.clone(),
            codes,
            value_graphs,
        }
    }

    /// The int8 codes graphs are built on, per dense vector of at least [`CODES_BUILD_MIN_DIM`]
    /// dimensions: the configured ones, else codes at the default quantile made for the build
    /// and dropped after it (none for Manhattan).
    fn build_codes(&self, configured: &BTreeMap<String, Arc<Int8Codes>>) -> BTreeMap<String, Arc<Int8Codes>> {
        self.vectors
            .iter()
            .filter_map(|(name, storage)| {
                let VectorStorage::Dense(d) = storage else {
                    return None;
                };
                if d.dim < CODES_BUILD_MIN_DIM {
                    return None;
                }
                let codes = match configured.get(name) {
                    Some(c) => Arc::clone(c),
                    None => Arc::new(Int8Codes::build(d, Int8Params::default())?),
                };
                Some((name.clone(), codes))
            })
            .collect()
    }

    /// A value graph per (graphed vector, indexed field) whose values have groups (values held
    /// by at least a quarter of `full_scan_threshold` worth of points), and for a numeric field
    /// its range graphs ([`SPAN_DEPTH`] levels of spans).
    fn value_graphs(
        &self,
        settings: &IndexSettings,
        params: &HnswParams,
        graphs: &BTreeMap<String, Arc<Graph>>,
        fields: &FieldIndexes,
        pairs: &BTreeMap<&str, BuildPairs>,
    ) -> Vec<ValueGraph> {
        if settings.payload_m == 0 {
            return Vec::new();
        }
        let params = HnswParams {
            m: settings.payload_m,
            ..*params
        };
        let mut out = Vec::new();
        for name in graphs.keys() {
            let Some(d) = self.dense_storage(name) else {
                continue;
            };
            // A quarter of the exact-scan threshold: a filter on one such value alone is scanned
            // exactly, but a `range` or `match any` over a few of them is not, and it is covered
            // only when every value it selects has a group.
            let min = (settings.full_scan_threshold_kb * 1024 / (d.dim * 4).max(1) / GROUP_SHARE).max(1);
            for (path, idx) in &fields.fields {
                let Some(pairs) = pairs.get(name.as_str()) else {
                    continue;
                };
                let capacity = self.ids.capacity().max(d.capacity());
                let live = |list: Vec<u32>| -> Vec<u32> {
                    list.into_iter()
                        .filter(|&o| self.ids.is_live(PointOffset(o)) && d.has(PointOffset(o)))
                        .collect()
                };
                // The value groups, then the range levels with fewer spans than there are values
                // and none below a group's size.
                let mut levels = vec![idx.groups(min)];
                let distinct = idx.distinct_count();
                for depth in 1..=SPAN_DEPTH {
                    let spans = idx.spans(depth);
                    // A span too small for a group would be scanned exactly anyway.
                    let small = spans.iter().any(|(_, l)| l.len() < min);
                    if spans.len() < 2 || spans.len() >= distinct || small {
                        break;
                    }
                    levels.push(spans);
                }
                for level in levels {
                    let groups: Vec<(GroupKey, Vec<u32>)> =
                        level.into_iter().map(|(key, list)| (key, live(list))).collect();
                    if groups.is_empty() {
                        continue;
                    }
                    out.push(build_value_graph(&params, capacity, name, path, groups, pairs));
                }
            }
        }
        out
    }

    /// Fills each value graph's `member` from the live payloads.
    pub(crate) fn assign_members(&self, graphs: &mut [ValueGraph], fields: &FieldIndexes) {
        for vg in graphs.iter_mut() {
            let Some((_, idx)) = fields.fields.iter().find(|(p, _)| *p == vg.field) else {
                continue;
            };
            vg.member = vec![NO_GROUP; self.ids.capacity()];
            for o in self.ids.live_offsets() {
                let keys = idx.keys_of(&vg.field, self.payload_at(o));
                vg.assign(o.0, &keys);
            }
        }
    }

    /// The value graph that answers the request's filter, if one does.
    pub fn value_graph_cover(&self, req: &SearchRequest) -> Option<Cover> {
        let f = req.filter.as_ref().filter(|f| !f.is_empty())?;
        let ix = self.index.as_ref()?;
        best_cover(&ix.value_graphs, &req.vector_name, f, &ix.fields)
    }

    /// Attaches an index built on `copy` (a clone of this segment taken before the build) and
    /// replays the payload edits made here since, which the copy's field indexes and value
    /// graphs did not see.
    pub fn adopt_index(&mut self, mut index: SegmentIndex, copy: &Segment) {
        if self.payload_edits != copy.payload_edits {
            for o in 0..self.payloads.len().min(self.ids.capacity()) {
                let off = PointOffset(o as u32);
                let (old, new) = (copy.payload_at(off), self.payload_at(off));
                if old != new {
                    index.payload_changed(o as u32, old, new);
                }
            }
        }
        self.index = Some(index);
    }

    /// Int8 codes for every dense vector that has a graph (the codes only serve traversal).
    fn quantize(&self, params: &BTreeMap<String, Int8Params>) -> BTreeMap<String, Arc<Int8Codes>> {
        params
            .iter()
            .filter_map(|(name, p)| {
                let d = self.dense_storage(name)?;
                Some((name.clone(), Arc::new(Int8Codes::build(d, *p)?)))
            })
            .collect()
    }

    /// Rebuilds the quantized codes of an indexed segment for other quantization settings; the
    /// graphs stay (they do not depend on the codes).
    /// Takes settings that change how the graphs are searched, not how they are built
    /// (`full_scan_threshold`, `max_indexing_threads`): no rebuild needed.
    pub fn retune(&mut self, settings: IndexSettings) {
        if let Some(ix) = self.index.as_mut() {
            ix.settings = settings;
        }
    }

    pub fn requantize(&mut self, params: &BTreeMap<String, Int8Params>) {
        let codes = self.quantize(params);
        if let Some(ix) = self.index.as_mut() {
            ix.quantization = params.clone();
            ix.codes = codes;
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
            ix.value_graphs
                .retain(|v| declared.iter().any(|(p, _)| *p == v.field));
        }
        if let Some(mut ix) = self.index.take() {
            self.assign_members(&mut ix.value_graphs, &ix.fields);
            self.index = Some(ix);
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
            .iter()
            .filter(|(_, g)| g.entry().is_some())
            .filter_map(|(name, _)| self.vectors.get(name))
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
            ix.payload_changed(dst.0, &self.payloads[i], &new);
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
        self.plan_search(req, storage).plan
    }

    /// The plan a search of this segment takes and the estimate it rests on (what `explain`
    /// reports); exact for a vector without graphs (sparse, or an unknown name).
    pub fn explain(&self, req: &SearchRequest) -> (Plan, Estimate) {
        match self.dense_storage(&req.vector_name) {
            Some(d) => {
                let p = self.plan_search(req, d);
                (p.plan, p.estimate)
            }
            None => (Plan::Exact, self.estimate(req, None, None, None)),
        }
    }

    /// Everything a search needs to know before it runs, each piece computed once: the value
    /// graph cover, the field-index candidates (skipped when a cover will be walked: building
    /// the list costs more than the walk when a third of the points match), the estimate and
    /// the plan.
    pub(crate) fn plan_search(&self, req: &SearchRequest, storage: &DenseStorage) -> Planned {
        let cover = (!req.params.exact).then(|| self.value_graph_cover(req)).flatten();
        let walked = cover
            .as_ref()
            .is_some_and(|c| !self.scan_is_cheaper(c.points as f64, storage.dim));
        let candidates = if walked { None } else { self.index_candidates(req) };
        let estimate = self.estimate(req, candidates.as_deref(), cover.as_ref(), Some(storage));
        let plan = self.decide(req, storage, &estimate, candidates.as_deref(), cover.as_ref());
        Planned {
            plan,
            candidates,
            cover,
            estimate,
        }
    }

    /// The filter's match count in this segment: bounds from the field indexes (tightened by
    /// the candidates and the cover, both supersets of the matches), and a sample only when the
    /// bounds leave a plan of `storage`'s graph open.
    fn estimate(
        &self,
        req: &SearchRequest,
        candidates: Option<&[u32]>,
        cover: Option<&Cover>,
        storage: Option<&DenseStorage>,
    ) -> Estimate {
        let total = self.len();
        let Some(f) = req.filter.as_ref().filter(|f| !f.is_empty()) else {
            return Estimate {
                cardinality: Cardinality::exact(total),
                from_index: false,
                sampled: false,
            };
        };
        let (mut card, from_index) = self.cardinality(f);
        if let Some(c) = candidates {
            card = card.at_most(c.len(), total);
        }
        if let Some(c) = cover {
            card = card.at_most(c.points, total);
        }
        let graphed = storage.is_some()
            && !req.params.exact
            && self
                .index
                .as_ref()
                .is_some_and(|ix| ix.graphs.contains_key(&req.vector_name));
        let dim = storage.map_or(0, |d| d.dim);
        // The two lines a plan is chosen by: the exact-scan threshold and the post-check share.
        let straddles = |line: f64| (card.min as f64) < line && line <= card.max as f64;
        let scan_line = self.index.as_ref().map_or(0.0, |ix| {
            ix.settings.full_scan_threshold_kb as f64 * 1024.0 / (dim.max(1) * 4) as f64
        });
        let sampled = graphed
            && !card.is_exact()
            && (straddles(scan_line) || straddles(POST_CHECK_SHARE * total as f64));
        if sampled {
            let exp = (self.estimate_selectivity(req) * total as f64).round() as usize;
            card.exp = exp.clamp(card.min, card.max);
        }
        Estimate {
            cardinality: card,
            from_index,
            sampled,
        }
    }

    /// Bounds on the filter's matches from the field indexes alone, and whether any index
    /// answered a condition.
    pub fn cardinality(&self, filter: &Filter) -> (Cardinality, bool) {
        let total = self.len();
        let capacity = self.ids.capacity().max(total);
        let holes = capacity - total;
        let answered = std::cell::Cell::new(false);
        let leaf = |c: &Condition| -> Option<Cardinality> {
            match c {
                Condition::Field(fc) => {
                    let (min, max) = self.index.as_ref()?.fields.count_bounds(fc)?;
                    answered.set(true);
                    // Index lists still hold deleted offsets: an exact count is scaled by the
                    // live share, and a lower bound loses every hole.
                    let exp = if min == max {
                        (max as f64 * total as f64 / capacity.max(1) as f64).round() as usize
                    } else {
                        (min + max) / 2
                    };
                    Some(Cardinality {
                        min: min.saturating_sub(holes),
                        exp,
                        max,
                    })
                }
                Condition::HasId(ids) => Some(Cardinality::exact(
                    ids.iter().filter(|id| self.ids.offset(id).is_some()).count(),
                )),
                _ => None,
            }
        };
        let card = crate::cardinality::estimate(filter, total, &leaf);
        (card, answered.get())
    }

    /// Whether an exact scan of `points` vectors of `dim` is below `full_scan_threshold`.
    fn scan_is_cheaper(&self, points: f64, dim: usize) -> bool {
        let kb = points * (dim * 4) as f64 / 1024.0;
        self.index
            .as_ref()
            .is_some_and(|ix| kb < ix.settings.full_scan_threshold_kb as f64)
    }

    fn decide(
        &self,
        req: &SearchRequest,
        storage: &DenseStorage,
        estimate: &Estimate,
        candidates: Option<&[u32]>,
        cover: Option<&Cover>,
    ) -> Plan {
        let Some(index) = &self.index else {
            return Plan::Exact;
        };
        let Some(graph) = index.graphs.get(&req.vector_name).filter(|_| !req.params.exact) else {
            return Plan::Exact;
        };
        // Without a main graph (`m: 0`) only a value graph cover avoids the exact scan.
        let linked = graph.entry().is_some();
        // Holes: deleted points, or live points that lost this vector.
        let holes = self.ids.capacity() > self.len() || storage.present_count() < self.len();
        let has_filter = req.filter.as_ref().is_some_and(|f| !f.is_empty());
        if !has_filter {
            return if linked {
                Plan::Graph { filtered: holes }
            } else {
                Plan::Exact
            };
        }
        // An exact scan visits the field-index candidates (or the cover's points, whose
        // candidates are listed for a scan), else every point for an expected `exp` matches
        // (`exp` lies between the bounds, and was sampled if they straddle a line).
        let card = estimate.cardinality;
        let scanned = candidates
            .map(<[u32]>::len)
            .or(cover.map(|c| c.points))
            .unwrap_or(card.exp);
        if self.scan_is_cheaper(scanned as f64, storage.dim) {
            Plan::Exact
        } else if cover.is_some() {
            Plan::ValueGraph
        } else if linked && card.exp as f64 >= POST_CHECK_SHARE * self.len() as f64 {
            Plan::GraphPostCheck
        } else if linked {
            Plan::Graph { filtered: true }
        } else {
            Plan::Exact
        }
    }

    /// Graph search: the best `k` (offset, rank) pairs, best first, above `min_rank`.
    pub(crate) fn graph_search(
        &self,
        req: &SearchRequest,
        storage: &DenseStorage,
        query: &[f32],
        planned: &Planned,
        min_rank: Option<f32>,
    ) -> Vec<(PointOffset, f32)> {
        if planned.plan == Plan::GraphPostCheck {
            return self.post_checked_search(req, storage, query, planned, min_rank);
        }
        let (plan, cover, candidates) = (
            planned.plan,
            planned.cover.as_ref(),
            planned.candidates.as_deref(),
        );
        let bits: Option<Vec<u64>> = candidates.map(|c| {
            let mut bits = vec![0u64; self.ids.capacity().div_ceil(64)];
            for &o in c {
                if let Some(w) = bits.get_mut(o as usize / 64) {
                    *w |= 1 << (o % 64);
                }
            }
            bits
        });
        let Some(index) = self.index.as_ref() else {
            return Vec::new();
        };
        let Some(graph) = index.graphs.get(&req.vector_name) else {
            return Vec::new();
        };
        // A value-graph plan walks the value graph from the cover's groups, bridged by `graph`.
        let (filtered, value) = match plan {
            Plan::Exact | Plan::GraphPostCheck => return Vec::new(),
            Plan::Graph { filtered } => (filtered, None),
            Plan::ValueGraph => match cover.and_then(|c| Some((index.value_graphs.get(c.graph)?, c))) {
                Some(v) => (true, Some(v)),
                None => return Vec::new(),
            },
        };
        // The walk stays on members of the selected groups; a filter that is exactly the covered
        // condition is then checked by that membership alone.
        let holes = self.ids.capacity() > self.len() || storage.present_count() < self.len();
        let selected = |membership: &[u32], node: u32| -> bool {
            match membership.get(node as usize).copied() {
                // Several grouped values: walked, and left to the filter check.
                Some(MANY_GROUPS) => true,
                Some(m) => value.is_some_and(|(_, c)| c.groups.contains(&m)),
                None => false,
            }
        };
        let in_groups = |node: u32, by_value_link: bool| -> bool {
            let Some((vg, _)) = value else {
                return true;
            };
            if by_value_link {
                // Built into a selected group: walked even if it left it or was deleted since.
                return selected(&vg.built, node);
            }
            let o = PointOffset(node);
            let live = !holes || (self.ids.id(o).is_some() && storage.has(o));
            live && selected(&vg.member, node)
        };
        // Only when the cover's groups are exactly the filter's matches: one condition with one
        // predicate, covered exactly.
        let by_group = value.is_some_and(|(_, c)| c.exact)
            && req.filter.as_ref().is_some_and(|f| {
                f.must.len() == 1
                    && matches!(&f.must[0], Condition::Field(fc) if fc.predicates.len() == 1)
                    && index.fields.answers_exactly(f)
            });
        let walk_from = value.map(|(vg, c)| (&*vg.graph, c.entries.as_slice()));

        let ef_default = index.settings.ef_construct;
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
            if let Some((vg, _)) = value.filter(|_| by_group) {
                if vg.member.get(node as usize) != Some(&MANY_GROUPS) {
                    return in_groups(node, false);
                }
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
        let ef = req.params.hnsw_ef.unwrap_or(ef_default).max(k);
        let exact = QueryScorer::new(storage, query);
        let quantized = &req.params.quantization;
        let codes = index.codes.get(&req.vector_name).filter(|_| !quantized.ignore);
        let mut hits = match codes {
            None => walk(
                graph,
                walk_from,
                &GraphSearch { k, ef, filtered },
                exact,
                in_groups,
                accept,
            ),
            Some(codes) => {
                // Traverse on codes, then rescore every candidate of the beam with the originals
                // (at least `limit * oversampling` of them): the order and scores are exact, and
                // only the beam's choices were approximate.
                let over = quantized.oversampling.unwrap_or(1.0).max(1.0);
                let want = ef.max((k as f32 * over).ceil() as usize);
                let search = GraphSearch {
                    k: want,
                    ef: want,
                    filtered,
                };
                let mut hits = walk(graph, walk_from, &search, codes.scorer(query), in_groups, accept);
                if quantized.rescore != Some(false) {
                    for h in hits.iter_mut() {
                        h.score = exact.score(h.id);
                    }
                    hits.sort_unstable_by(|a: &Scored, b| b.cmp(a));
                }
                hits.truncate(k);
                hits
            }
        };
        hits.retain(|s| min_rank.is_none_or(|m| s.score > m));
        hits.into_iter().map(|s| (PointOffset(s.id), s.score)).collect()
    }
}

impl Segment {
    /// [`Plan::GraphPostCheck`]: a traversal without the filter, its beam widened by the share
    /// of points expected to fail, then the filter checked on its results; a traversal with the
    /// filter when fewer than `k` pass while the graph had more to give.
    fn post_checked_search(
        &self,
        req: &SearchRequest,
        storage: &DenseStorage,
        query: &[f32],
        planned: &Planned,
        min_rank: Option<f32>,
    ) -> Vec<(PointOffset, f32)> {
        let k = req.limit.saturating_add(req.offset);
        let ef_default = self.index.as_ref().map_or(k, |ix| ix.settings.ef_construct);
        let ef = req.params.hnsw_ef.unwrap_or(ef_default).max(k);
        let share =
            (planned.estimate.cardinality.exp as f64 / self.len().max(1) as f64).clamp(POST_CHECK_SHARE, 1.0);
        let wide_ef = (ef as f64 / share).ceil() as usize;
        let holes = self.ids.capacity() > self.len() || storage.present_count() < self.len();
        let mut wide = req.clone();
        wide.filter = None;
        wide.limit = wide_ef;
        wide.offset = 0;
        wide.params.hnsw_ef = Some(wide_ef);
        let with_plan = |plan| Planned {
            plan,
            candidates: None,
            cover: None,
            estimate: planned.estimate,
        };
        let hits = self.graph_search(
            &wide,
            storage,
            query,
            &with_plan(Plan::Graph { filtered: holes }),
            min_rank,
        );
        let exhausted = hits.len() < wide_ef;
        let filter = req.filter.as_ref();
        let mut kept: Vec<(PointOffset, f32)> = hits
            .into_iter()
            .filter(|(o, _)| self.passes(filter, *o))
            .collect();
        if kept.len() >= k || exhausted {
            kept.truncate(k);
            return kept;
        }
        self.graph_search(
            req,
            storage,
            query,
            &with_plan(Plan::Graph { filtered: true }),
            min_rank,
        )
    }
}

/// One value graph of `field` over `groups` (each built as its own HNSW, then joined).
fn build_value_graph(
    params: &HnswParams,
    capacity: usize,
    vector: &str,
    field: &JsonPath,
    groups: Vec<(GroupKey, Vec<u32>)>,
    pairs: &BuildPairs,
) -> ValueGraph {
    let lists: Vec<Vec<u32>> = groups.iter().map(|(_, l)| l.clone()).collect();
    let mut membership = vec![NO_GROUP; capacity];
    for (gi, list) in lists.iter().enumerate() {
        for &o in list {
            if let Some(m) = membership.get_mut(o as usize) {
                *m = if *m == NO_GROUP { gi as u32 } else { MANY_GROUPS };
            }
        }
    }
    let built = quiver_hnsw::build_groups(params, capacity, &lists, pairs);
    ValueGraph {
        vector: vector.to_string(),
        field: field.clone(),
        groups: groups
            .into_iter()
            .zip(built.entries)
            .map(|((key, list), entry)| Group {
                key,
                size: list.len() as u32,
                entry: entry.map(|(n, l)| (n, l as u32)),
                grown: false,
            })
            .collect(),
        graph: Arc::new(built.graph),
        member: Vec::new(),
        built: membership,
    }
}

/// A search of `graph` from its own entry, or of a value graph from the entries of the groups the
/// filter selects (with `graph` bridging them when there are several).
fn walk(
    graph: &Graph,
    value: Option<(&Graph, &[(u32, usize)])>,
    search: &GraphSearch,
    scorer: impl NodeScorer,
    in_groups: impl Fn(u32, bool) -> bool,
    accept: impl Fn(u32) -> bool,
) -> Vec<Scored> {
    match value {
        None => graph.search(search, scorer, accept),
        // One group is a whole HNSW of its points: the main graph's links among them only add
        // work (measured: 0.95 recall at ~17% fewer queries per second with them).
        Some((vg, entries)) if entries.len() == 1 => vg.search_from(search, entries, scorer, accept),
        Some((vg, entries)) => vg.search_with(graph, search, entries, scorer, in_groups, accept),
    }
}
