//! A segment: a set of points with their vectors and payloads, all in memory, with exact search,
//! filtered reads and point-level edits. A point lives in at most one segment of a shard; the shard
//! decides which. Edits take the operation's version (its SeqNo) and stamp the point with it.

use std::collections::BTreeMap;

use quiver_types::{
    Distance, Filter, NamedVectors, OrderBy, Payload, PointId, PointOffset, Record, ScoredPoint,
    SearchRequest, VectorData, WithPayload, WithVector,
};

use crate::dense_scorer::score_of_rank;
use crate::filter::{self, PointView};
use crate::top_k::TopK;
use crate::vector_storage::{DenseStorage, SparseStorage, VectorStorage};
use crate::{payload_ops, SegmentConfig, SegmentError, VectorSpec};

/// One segment of a shard.
#[derive(Debug, Clone)]
pub struct Segment {
    pub(crate) config: SegmentConfig,
    pub(crate) ids: crate::id_tracker::IdTracker,
    pub(crate) vectors: BTreeMap<String, VectorStorage>,
    pub(crate) payloads: Vec<Payload>,
    /// Graphs, once the optimizer has sealed and indexed this segment.
    pub(crate) index: Option<crate::index::SegmentIndex>,
    /// Payload edits applied so far (in memory only): tells an index built on a copy whether
    /// edits happened meanwhile (see `Segment::adopt_index`).
    pub(crate) payload_edits: u64,
}

/// A stored point seen through the filter evaluator.
pub(crate) struct StoredPoint<'a> {
    segment: &'a Segment,
    offset: PointOffset,
    id: PointId,
}

impl PointView for StoredPoint<'_> {
    fn id(&self) -> PointId {
        self.id
    }
    fn payload(&self) -> &Payload {
        self.segment.payload_at(self.offset)
    }
    fn has_vector(&self, name: &str) -> bool {
        self.segment.vectors.get(name).is_some_and(|v| v.has(self.offset))
    }
}

static EMPTY_PAYLOAD: std::sync::LazyLock<Payload> = std::sync::LazyLock::new(Payload::new);

impl Segment {
    pub fn new(config: SegmentConfig) -> Segment {
        let vectors = config
            .vectors
            .iter()
            .map(|(name, spec)| {
                let storage = match spec {
                    VectorSpec::Dense { size, distance } => {
                        VectorStorage::Dense(DenseStorage::new(*size, *distance))
                    }
                    VectorSpec::Sparse => VectorStorage::Sparse(SparseStorage::default()),
                };
                (name.clone(), storage)
            })
            .collect();
        Segment {
            config,
            ids: Default::default(),
            vectors,
            payloads: Vec::new(),
            index: None,
            payload_edits: 0,
        }
    }

    pub fn config(&self) -> &SegmentConfig {
        &self.config
    }

    /// Live points.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Offsets allocated, live or deleted: the share of holes tells when to compact.
    pub fn capacity(&self) -> usize {
        self.ids.capacity()
    }

    pub fn contains(&self, id: &PointId) -> bool {
        self.ids.offset(id).is_some()
    }

    /// Live ids in id order.
    pub fn ids(&self) -> impl Iterator<Item = PointId> + '_ {
        self.ids.iter_from(None).map(|(id, _)| id)
    }

    pub(crate) fn payload_at(&self, offset: PointOffset) -> &Payload {
        self.payloads.get(offset.0 as usize).unwrap_or(&EMPTY_PAYLOAD)
    }

    /// Inserts or replaces a whole point. Vectors must already be validated against the config.
    pub fn upsert(&mut self, id: PointId, version: u64, vectors: &NamedVectors, payload: Payload) {
        let offset = match self.ids.offset(&id) {
            Some(off) => {
                self.ids.set_version(off, version);
                for storage in self.vectors.values_mut() {
                    storage.clear(off);
                }
                off
            }
            None => self.ids.insert(id, version),
        };
        self.write_vectors(offset, vectors);
        let i = offset.0 as usize;
        if self.payloads.len() <= i {
            self.payloads.resize_with(i + 1, Payload::new);
        }
        self.payloads[i] = payload;
    }

    fn write_vectors(&mut self, offset: PointOffset, vectors: &NamedVectors) {
        for (name, data) in vectors {
            match (self.vectors.get_mut(name), data) {
                (Some(VectorStorage::Dense(d)), VectorData::Dense(v)) if v.len() == d.dim => d.set(offset, v),
                (Some(VectorStorage::Sparse(s)), VectorData::Sparse(v)) => s.set(offset, v.clone()),
                _ => {}
            }
        }
    }

    /// Removes a point; false when it was not here.
    pub fn delete(&mut self, id: &PointId) -> bool {
        match self.ids.remove(id) {
            Some(offset) => {
                for storage in self.vectors.values_mut() {
                    storage.clear(offset);
                }
                if let Some(p) = self.payloads.get_mut(offset.0 as usize) {
                    *p = Payload::new();
                }
                true
            }
            None => false,
        }
    }

    /// Edits a point's payload in place and stamps the version; false when the point is not here.
    pub fn edit_payload(&mut self, id: &PointId, version: u64, edit: impl FnOnce(&mut Payload)) -> bool {
        let Some(offset) = self.ids.offset(id) else {
            return false;
        };
        self.ids.set_version(offset, version);
        let i = offset.0 as usize;
        if self.payloads.len() <= i {
            self.payloads.resize_with(i + 1, Payload::new);
        }
        self.payload_edits += 1;
        match self.index.as_mut().filter(|ix| !ix.fields.fields.is_empty()) {
            Some(ix) => {
                let old = self.payloads[i].clone();
                edit(&mut self.payloads[i]);
                ix.payload_changed(offset.0, &old, &self.payloads[i]);
            }
            None => edit(&mut self.payloads[i]),
        }
        true
    }

    /// Replaces the given named vectors of a point, keeping the others.
    pub fn update_vectors(&mut self, id: &PointId, version: u64, vectors: &NamedVectors) -> bool {
        let Some(offset) = self.ids.offset(id) else {
            return false;
        };
        self.ids.set_version(offset, version);
        self.write_vectors(offset, vectors);
        true
    }

    /// Removes the named vectors of a point.
    pub fn delete_vectors(&mut self, id: &PointId, version: u64, names: &[String]) -> bool {
        let Some(offset) = self.ids.offset(id) else {
            return false;
        };
        self.ids.set_version(offset, version);
        for name in names {
            if let Some(storage) = self.vectors.get_mut(name) {
                storage.clear(offset);
            }
        }
        true
    }

    pub(crate) fn view(&self, id: PointId, offset: PointOffset) -> StoredPoint<'_> {
        StoredPoint {
            segment: self,
            offset,
            id,
        }
    }

    fn matches(&self, filter: Option<&Filter>, id: PointId, offset: PointOffset) -> bool {
        filter.is_none_or(|f| filter::check(f, &self.view(id, offset)))
    }

    /// Ids of live points that pass the filter, in id order.
    pub fn matching_ids(&self, filter: Option<&Filter>) -> Vec<PointId> {
        self.ids
            .iter_from(None)
            .filter(|(id, off)| self.matches(filter, *id, *off))
            .map(|(id, _)| id)
            .collect()
    }

    /// Number of live points that pass the filter.
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        match filter {
            None => self.len(),
            Some(_) => self
                .ids
                .iter_from(None)
                .filter(|(id, off)| self.matches(filter, *id, *off))
                .count(),
        }
    }

    /// Up to `limit` ids >= `from` that pass the filter, in id order.
    pub fn scroll(&self, from: Option<PointId>, limit: usize, filter: Option<&Filter>) -> Vec<PointId> {
        self.ids
            .iter_from(from)
            .filter(|(id, off)| self.matches(filter, *id, *off))
            .take(limit)
            .map(|(id, _)| id)
            .collect()
    }

    /// (value, id) for every numeric (or datetime) value at the order-by key of matching points.
    pub fn order_values(&self, order: &OrderBy, filter: Option<&Filter>) -> Vec<(f64, PointId)> {
        let mut out = Vec::new();
        for (id, off) in self.ids.iter_from(None) {
            if !self.matches(filter, id, off) {
                continue;
            }
            let first = out.len();
            for v in order.key.values(self.payload_at(off)) {
                let num = match v {
                    serde_json::Value::Number(n) => n.as_f64(),
                    serde_json::Value::String(s) => filter::parse_datetime(s).map(|us| us as f64),
                    _ => None,
                };
                // A point appears once per distinct value.
                if let Some(x) = num.filter(|x| !out[first..].iter().any(|(y, _)| y == x)) {
                    out.push((x, id));
                }
            }
        }
        out
    }

    /// A point with the parts the reader asked for.
    pub fn retrieve(
        &self,
        id: &PointId,
        with_payload: &WithPayload,
        with_vector: &WithVector,
    ) -> Option<Record> {
        let offset = self.ids.offset(id)?;
        Some(Record {
            id: *id,
            payload: payload_ops::select(self.payload_at(offset), with_payload),
            vectors: self.vectors_at(offset, with_vector),
            order_value: None,
        })
    }

    pub fn version_of(&self, id: &PointId) -> Option<u64> {
        self.ids.offset(id).map(|off| self.ids.version(off))
    }

    pub(crate) fn vectors_at(&self, offset: PointOffset, with: &WithVector) -> Option<NamedVectors> {
        let wanted = |name: &str| match with {
            WithVector::None => false,
            WithVector::All => true,
            WithVector::Names(names) => names.iter().any(|n| n == name),
        };
        if matches!(with, WithVector::None) {
            return None;
        }
        let mut out = NamedVectors::new();
        for (name, storage) in &self.vectors {
            if !wanted(name) {
                continue;
            }
            match storage {
                VectorStorage::Dense(d) => {
                    if let Some(v) = d.get(offset) {
                        out.insert(name.clone(), VectorData::Dense(v.to_vec()));
                    }
                }
                VectorStorage::Sparse(s) => {
                    if let Some(v) = s.get(offset) {
                        out.insert(name.clone(), VectorData::Sparse(v.clone()));
                    }
                }
            }
        }
        Some(out)
    }

    /// Exact nearest neighbours: the best `limit + offset` points of this segment, best first. A
    /// `score_threshold` keeps only strictly better scores (greater similarity, smaller distance).
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>, SegmentError> {
        let storage = self.vectors.get(&req.vector_name).ok_or_else(|| {
            SegmentError::InvalidInput(format!(
                "Wrong input: Not existing vector name error: {}",
                req.vector_name
            ))
        })?;
        let k = req.limit.saturating_add(req.offset);
        let filter = req.filter.as_ref().filter(|f| !f.is_empty());
        let mut top = TopK::new(k);
        let higher_is_better;
        match (storage, &req.query) {
            (VectorStorage::Dense(d), VectorData::Dense(q)) => {
                if q.len() != d.dim {
                    return Err(SegmentError::InvalidInput(format!(
                        "Wrong input: Vector dimension error: expected dim: {}, got {}",
                        d.dim,
                        q.len()
                    )));
                }
                higher_is_better = d.distance.higher_is_better();
                let q = d.prepare_query(q);
                let planned = self.plan_search(req, d);
                let candidates = planned.candidates.as_deref();
                if planned.plan != crate::index::Plan::Exact {
                    // Graph ranks are squared for Euclid (same order, no square root per score).
                    let min_rank = req.score_threshold.map(|t| match d.distance {
                        Distance::Cosine | Distance::Dot => t,
                        Distance::Euclid => -(t.max(0.0) * t.max(0.0)),
                        Distance::Manhattan => -t,
                    });
                    let hits = self.graph_search(req, d, &q, &planned, min_rank);
                    return Ok(hits
                        .into_iter()
                        .filter_map(|(offset, rank)| {
                            self.scored(offset, score_of_rank(d.distance, rank), req)
                        })
                        .collect());
                }
                let min_rank = req.score_threshold.map(|t| if higher_is_better { t } else { -t });
                // With field-index candidates only they are visited, filter first (few of them);
                // otherwise score first: a dot product is cheaper than a payload check, and the
                // top-k bound skips most checks.
                // Candidates that are exactly the matches need only be live.
                let exact_candidates = candidates.is_some()
                    && filter
                        .is_some_and(|f| self.index.as_ref().is_some_and(|ix| ix.fields.answers_exactly(f)));
                let first_check = if exact_candidates { None } else { filter };
                let mut visit = |offset: PointOffset, filter_first: bool| {
                    let Some(stored) = d.get(offset) else { return };
                    if filter_first && !self.passes(first_check, offset) {
                        return;
                    }
                    let score = d.score(&q, stored);
                    let rank = if higher_is_better { score } else { -score };
                    if min_rank.is_some_and(|m| rank <= m) || top.threshold().is_some_and(|t| rank < t) {
                        return;
                    }
                    if !filter_first && !self.passes(filter, offset) {
                        return;
                    }
                    top.push(rank, offset);
                };
                match &candidates {
                    Some(c) => c.iter().for_each(|&o| visit(PointOffset(o), true)),
                    None => self.ids.live_offsets().for_each(|o| visit(o, false)),
                }
            }
            (VectorStorage::Sparse(s), VectorData::Sparse(q)) => {
                higher_is_better = true;
                for offset in self.ids.live_offsets() {
                    let Some(stored) = s.get(offset) else { continue };
                    let score = q.dot(stored);
                    if req.score_threshold.is_some_and(|m| score <= m) {
                        continue;
                    }
                    if let Some(f) = filter {
                        let Some(id) = self.ids.id(offset) else { continue };
                        if !filter::check(f, &self.view(id, offset)) {
                            continue;
                        }
                    }
                    top.push(score, offset);
                }
            }
            _ => {
                return Err(SegmentError::InvalidInput(format!(
                    "Wrong input: vector `{}` is of another kind (dense vs sparse) than the query",
                    req.vector_name
                )))
            }
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .filter_map(|c| self.scored(c.item, if higher_is_better { c.rank } else { -c.rank }, req))
            .collect())
    }

    pub(crate) fn passes(&self, filter: Option<&Filter>, offset: PointOffset) -> bool {
        match (filter, self.ids.id(offset)) {
            (None, Some(_)) => true,
            (Some(f), Some(id)) => filter::check(f, &self.view(id, offset)),
            (_, None) => false,
        }
    }

    /// A hit with the parts the request asked for; `None` for a hole.
    fn scored(&self, offset: PointOffset, score: f32, req: &SearchRequest) -> Option<ScoredPoint> {
        let id = self.ids.id(offset)?;
        Some(ScoredPoint {
            id,
            version: self.ids.version(offset),
            score,
            payload: payload_ops::select(self.payload_at(offset), &req.with_payload),
            vectors: self.vectors_at(offset, &req.with_vector),
            order_value: None,
        })
    }

    /// A copy holding only live points, offsets renumbered densely (vacuum).
    pub fn compacted(&self) -> Segment {
        let mut out = Segment::new(self.config.clone());
        for (id, off) in self.ids.iter_from(None) {
            let vectors = self.vectors_at(off, &WithVector::All).unwrap_or_default();
            out.upsert(id, self.ids.version(off), &vectors, self.payload_at(off).clone());
        }
        out
    }
}

#[cfg(test)]
mod tests;
