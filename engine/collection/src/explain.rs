//! Why a query was answered the way it was: for each nearest-neighbour stage of a query, each
//! shard and each segment, the filter's estimated cardinality and the planner's choice (exact scan
//! or graph traversal). Qdrant has no such thing; users tuning `full_scan_threshold`, payload
//! indexes or `indexing_threshold` need to see what the planner saw.

use quiver_shard::SegmentPlan;
use quiver_types::{Query, QueryRequest, SearchRequest, ShardId, WithPayload, WithVector};

use crate::error::Result;
use crate::Collection;

/// The plan of one nearest-neighbour stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageExplain {
    /// `query` for the request itself, `prefetch[i]` for a prefetch.
    pub stage: String,
    pub using: String,
    /// Per local shard (its id), per segment.
    pub shards: Vec<(ShardId, Vec<SegmentPlan>)>,
}

impl Collection {
    /// The plans the query's nearest-neighbour stages get (the request itself and its direct
    /// prefetches), computed the way the search computes them.
    pub fn explain(&self, req: &QueryRequest) -> Result<Vec<StageExplain>> {
        let mut stages = Vec::new();
        let mut add = |stage: String,
                       query: Option<&Query>,
                       using: &str,
                       filter: Option<quiver_types::Filter>|
         -> Result<()> {
            let Some(Query::Nearest(input)) = query else {
                return Ok(());
            };
            let filter = self.resolve_filter(filter.as_ref()).or(filter);
            let search = SearchRequest {
                vector_name: using.to_string(),
                query: self.resolve_vector(input, using)?,
                filter,
                limit: req.limit.saturating_add(req.offset),
                offset: 0,
                score_threshold: None,
                with_payload: WithPayload::None,
                with_vector: WithVector::None,
                params: req.params,
            };
            stages.push(StageExplain {
                stage,
                using: using.to_string(),
                shards: self
                    .shards()
                    .iter()
                    .map(|(id, s)| (*id, s.explain(&search)))
                    .collect(),
            });
            Ok(())
        };
        add("query".into(), req.query.as_ref(), &req.using, req.filter.clone())?;
        for (i, p) in req.prefetch.iter().enumerate() {
            let filter = crate::query::and(req.filter.as_ref(), p.filter.as_ref());
            add(format!("prefetch[{i}]"), p.query.as_ref(), &p.using, filter)?;
        }
        Ok(stages)
    }
}
