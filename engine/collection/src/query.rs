//! `query_points`: nearest-neighbour stages, prefetch trees and their fusion (RRF, DBSF), order-by and
//! plain listing, run as a pipeline over the collection's exact search.

use std::collections::{BTreeSet, HashMap};

use quiver_types::{
    Condition, Filter, Fusion, PointId, Prefetch, Query, QueryRequest, ScoredPoint, SearchParams,
    SearchRequest, VectorData, VectorInput, WithPayload, WithVector,
};

use crate::collection::{Collection, Scope, ScrollRequest};
use crate::error::{CollectionError, Result};

/// Qdrant's RRF constant: score = sum over lists of 1 / (K + rank), rank from 0.
const RRF_K: f32 = 2.0;

/// One stage of the pipeline, borrowed from a request or a prefetch.
struct Stage<'a> {
    prefetch: &'a [Prefetch],
    query: Option<&'a Query>,
    using: &'a str,
    filter: Option<Filter>,
    limit: usize,
    score_threshold: Option<f32>,
    params: SearchParams,
}

/// Both filters (either may be absent or empty).
pub fn and(a: Option<&Filter>, b: Option<&Filter>) -> Option<Filter> {
    match (a.filter(|f| !f.is_empty()), b.filter(|f| !f.is_empty())) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => Some(Filter {
            must: vec![
                Condition::Filter(Box::new(x.clone())),
                Condition::Filter(Box::new(y.clone())),
            ],
            ..Filter::default()
        }),
    }
}

impl Collection {
    /// Runs a universal query and returns the requested page with payloads and vectors filled in.
    pub fn query(&self, req: &QueryRequest) -> Result<Vec<ScoredPoint>> {
        self.query_in(req, Scope::All)
    }

    /// [`Collection::query`] over the shards `scope` selects.
    pub fn query_in(&self, req: &QueryRequest, scope: Scope<'_>) -> Result<Vec<ScoredPoint>> {
        let stage = Stage {
            prefetch: &req.prefetch,
            query: req.query.as_ref(),
            using: &req.using,
            filter: req.filter.clone(),
            limit: req.limit.saturating_add(req.offset),
            score_threshold: req.score_threshold,
            params: req.params,
        };
        let hits = self.run_stage(&stage, req.filter.as_ref(), scope)?;
        let page: Vec<ScoredPoint> = hits.into_iter().skip(req.offset).collect();
        if matches!(req.with_payload, WithPayload::None) && matches!(req.with_vector, WithVector::None) {
            return Ok(page);
        }
        let ids: Vec<PointId> = page.iter().map(|p| p.id).collect();
        let records = self.retrieve_in(&ids, &req.with_payload, &req.with_vector, scope);
        Ok(with_records(page, records))
    }

    fn run_stage(
        &self,
        stage: &Stage<'_>,
        outer: Option<&Filter>,
        scope: Scope<'_>,
    ) -> Result<Vec<ScoredPoint>> {
        if stage.prefetch.is_empty() {
            return self.leaf(stage, stage.filter.as_ref(), scope);
        }
        let mut lists = Vec::with_capacity(stage.prefetch.len());
        for p in stage.prefetch {
            let sub = Stage {
                prefetch: &p.prefetch,
                query: p.query.as_ref(),
                using: &p.using,
                filter: and(outer, p.filter.as_ref()),
                limit: p.limit,
                score_threshold: p.score_threshold,
                params: stage.params,
            };
            lists.push(self.run_stage(&sub, sub.filter.as_ref(), scope)?);
        }
        match stage.query {
            Some(Query::Fusion(kind)) => {
                let mut fused = fuse(&lists, *kind);
                if let Some(t) = stage.score_threshold {
                    fused.retain(|p| p.score >= t);
                }
                fused.truncate(stage.limit);
                Ok(fused)
            }
            None => {
                // No query over prefetches: the candidates in the order of the first list.
                let mut out = lists.into_iter().next().unwrap_or_default();
                out.truncate(stage.limit);
                Ok(out)
            }
            Some(_) => {
                let ids: BTreeSet<PointId> = lists.iter().flatten().map(|p| p.id).collect();
                let only = Filter {
                    must: vec![Condition::HasId(ids)],
                    ..Filter::default()
                };
                self.leaf(stage, and(stage.filter.as_ref(), Some(&only)).as_ref(), scope)
            }
        }
    }

    fn leaf(&self, stage: &Stage<'_>, filter: Option<&Filter>, scope: Scope<'_>) -> Result<Vec<ScoredPoint>> {
        match stage.query {
            None => {
                let req = ScrollRequest {
                    limit: stage.limit,
                    filter: filter.cloned(),
                    ..ScrollRequest::default()
                };
                let (records, _) = self.scroll_in(&req, scope)?;
                Ok(records.into_iter().map(|r| scored(r.id, 0.0)).collect())
            }
            Some(Query::Nearest(input)) => {
                let query = self.resolve_vector(input, stage.using)?;
                let req = SearchRequest {
                    vector_name: stage.using.to_string(),
                    query,
                    filter: filter.cloned(),
                    limit: stage.limit,
                    offset: 0,
                    score_threshold: stage.score_threshold,
                    with_payload: WithPayload::None,
                    with_vector: WithVector::None,
                    params: stage.params,
                };
                self.search_in(&req, scope)
            }
            Some(Query::OrderBy(order)) => {
                let req = ScrollRequest {
                    limit: stage.limit,
                    filter: filter.cloned(),
                    order_by: Some(order.clone()),
                    ..ScrollRequest::default()
                };
                let (records, _) = self.scroll_in(&req, scope)?;
                Ok(records
                    .into_iter()
                    .map(|r| scored(r.id, r.order_value.unwrap_or(0.0) as f32))
                    .collect())
            }
            Some(Query::Fusion(_)) => Err(CollectionError::InvalidInput(
                "Bad request: fusion queries need at least one prefetch".into(),
            )),
        }
    }

    pub(crate) fn resolve_vector(&self, input: &VectorInput, using: &str) -> Result<VectorData> {
        match input {
            VectorInput::Dense(v) => Ok(VectorData::Dense(v.clone())),
            VectorInput::Sparse(s) => Ok(VectorData::Sparse(s.clone())),
            VectorInput::Id(id) => {
                let names = WithVector::Names(vec![using.to_string()]);
                let rec = self
                    .retrieve(&[*id], &WithPayload::None, &names)
                    .pop()
                    .ok_or_else(|| {
                        CollectionError::NotFound(format!("Not found: No point with id {id} found"))
                    })?;
                rec.vectors.and_then(|mut v| v.remove(using)).ok_or_else(|| {
                    CollectionError::InvalidInput(format!("Wrong input: point {id} has no vector `{using}`"))
                })
            }
        }
    }
}

fn scored(id: PointId, score: f32) -> ScoredPoint {
    ScoredPoint {
        id,
        version: 0,
        score,
        payload: None,
        vectors: None,
        order_value: None,
    }
}

/// `page` with each point's payload and vectors taken from `records` (read by id).
pub fn with_records(page: Vec<ScoredPoint>, records: Vec<quiver_types::Record>) -> Vec<ScoredPoint> {
    let mut by_id: HashMap<PointId, quiver_types::Record> = records.into_iter().map(|r| (r.id, r)).collect();
    page.into_iter()
        .map(|mut p| {
            if let Some(r) = by_id.remove(&p.id) {
                p.payload = r.payload;
                p.vectors = r.vectors;
            }
            p
        })
        .collect()
}

/// Combines ranked lists into one, best first (ties by id).
pub fn fuse(lists: &[Vec<ScoredPoint>], kind: Fusion) -> Vec<ScoredPoint> {
    let mut total: HashMap<PointId, f32> = HashMap::new();
    match kind {
        Fusion::Rrf => {
            for list in lists {
                for (rank, p) in list.iter().enumerate() {
                    *total.entry(p.id).or_default() += 1.0 / (RRF_K + rank as f32);
                }
            }
        }
        Fusion::Dbsf => {
            for list in lists {
                if list.is_empty() {
                    continue;
                }
                let n = list.len() as f32;
                let mean = list.iter().map(|p| p.score).sum::<f32>() / n;
                let var = list.iter().map(|p| (p.score - mean).powi(2)).sum::<f32>() / n;
                let std = var.sqrt();
                let (lo, hi) = (mean - 3.0 * std, mean + 3.0 * std);
                for p in list {
                    let norm = if hi > lo {
                        ((p.score - lo) / (hi - lo)).clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    *total.entry(p.id).or_default() += norm;
                }
            }
        }
    }
    let mut out: Vec<ScoredPoint> = total.into_iter().map(|(id, s)| scored(id, s)).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        let a = vec![scored(PointId::Num(1), 0.9), scored(PointId::Num(2), 0.8)];
        let b = vec![scored(PointId::Num(2), 5.0), scored(PointId::Num(3), 4.0)];
        let fused = fuse(&[a, b], Fusion::Rrf);
        assert_eq!(fused[0].id, PointId::Num(2));
        assert!((fused[0].score - (1.0 / 3.0 + 1.0 / 2.0)).abs() < 1e-6);
        assert_eq!(fused.len(), 3);
    }
}
