//! Read requests -> engine requests, and read results -> the wire.
//!
//! `Search`/`SearchBatch` (deprecated, still used by older clients) become nearest-neighbour
//! [`QueryRequest`]s on `vector_name`. Defaults follow Qdrant's gRPC service: `limit` 10 for query
//! and scroll; payload off for search and query but on for scroll and retrieve; vectors off for all.
//! Search parameters (`hnsw_ef`, `exact`, quantization) are accepted and ignored: search is exact.

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::query::Variant;
use qdrant_client::qdrant::start_from::Value as Start;
use quiver_collection::ScrollRequest;
use quiver_types::{
    Filter, Fusion, OrderBy, PointId, Prefetch, QuantizationParams, Query, QueryRequest, Record, ScoredPoint,
    SearchParams, SparseVector, VectorInput, WithPayload, WithVector,
};

use super::filter::{opt_filter, timestamp_micros};
use super::ids::{point_id, point_id_out, point_ids};
use super::payload::{json_path, object_out, with_payload};
use super::routing::shard_keys;
use super::vectors::{vector_input, vectors_output, with_vectors};
use super::{bad, index, join};
use crate::error::ApiResult;

/// Largest `limit` accepted in one request (as the REST surface).
const MAX_LIMIT: u64 = 100_000;
const DEFAULT_LIMIT: u64 = 10;
/// The `k` of the engine's reciprocal rank fusion (Qdrant's default).
const RRF_K: u32 = 2;

fn limit(v: u64, path: &str) -> ApiResult<usize> {
    if v > MAX_LIMIT {
        return Err(bad(&join(path, "limit"), format!("must be at most {MAX_LIMIT}")));
    }
    usize::try_from(v).map_err(|_| bad(&join(path, "limit"), "is too large"))
}

fn offset(v: Option<u64>, path: &str) -> ApiResult<usize> {
    usize::try_from(v.unwrap_or(0)).map_err(|_| bad(&join(path, "offset"), "is too large"))
}

/// `SearchParams`: `hnsw_ef`, `exact`, `indexed_only`, `quantization`.
fn search_params(p: &Option<pb::SearchParams>, path: &str) -> ApiResult<SearchParams> {
    let Some(p) = p else {
        return Ok(SearchParams::default());
    };
    let hnsw_ef = p
        .hnsw_ef
        .map(|ef| usize::try_from(ef).map_err(|_| bad(&join(path, "hnsw_ef"), "is too large")))
        .transpose()?;
    Ok(SearchParams {
        hnsw_ef,
        exact: p.exact.unwrap_or(false),
        indexed_only: p.indexed_only.unwrap_or(false),
        quantization: match &p.quantization {
            None => QuantizationParams::default(),
            Some(q) => QuantizationParams {
                ignore: q.ignore.unwrap_or(false),
                rescore: q.rescore,
                oversampling: q
                    .oversampling
                    .map(|o| oversampling(o, &join(path, "quantization.oversampling")))
                    .transpose()?,
            },
        },
    })
}

fn oversampling(o: f64, path: &str) -> ApiResult<f32> {
    match crate::convert::oversampling_problem(o) {
        Some(why) => Err(bad(path, why)),
        None => Ok(o as f32),
    }
}

/// A deprecated `SearchPoints` -> a nearest-neighbour query.
pub fn search(req: &pb::SearchPoints, path: &str) -> ApiResult<QueryRequest> {
    shard_keys(&req.shard_key_selector, path)?;
    if req.limit == 0 {
        return Err(bad(&join(path, "limit"), "must be at least 1"));
    }
    let input = match &req.sparse_indices {
        Some(indices) => VectorInput::Sparse(
            SparseVector::new(indices.data.clone(), req.vector.clone())
                .map_err(|e| bad(&join(path, "sparse_indices"), e))?,
        ),
        None => VectorInput::Dense(req.vector.clone()),
    };
    Ok(QueryRequest {
        prefetch: Vec::new(),
        query: Some(Query::Nearest(input)),
        using: req.vector_name.clone().unwrap_or_default(),
        filter: opt_filter(&req.filter, path, "filter")?,
        limit: limit(req.limit, path)?,
        offset: offset(req.offset, path)?,
        score_threshold: req.score_threshold,
        with_payload: with_payload(&req.with_payload, false, &join(path, "with_payload"))?,
        with_vector: with_vectors(&req.with_vectors),
        params: search_params(&req.params, &join(path, "params"))?,
    })
}

pub fn search_batch(req: &pb::SearchBatchPoints) -> ApiResult<Vec<QueryRequest>> {
    req.search_points
        .iter()
        .enumerate()
        .map(|(i, s)| search(s, &index("search_points", i)))
        .collect()
}

/// `OrderBy` of a scroll or a query. Datetime starts are read as microseconds since the epoch, the
/// unit ordered datetime values are compared in.
pub fn order_by(o: &pb::OrderBy, path: &str) -> ApiResult<OrderBy> {
    let descending = match o.direction {
        None => false,
        Some(d) if d == pb::Direction::Asc as i32 => false,
        Some(d) if d == pb::Direction::Desc as i32 => true,
        Some(d) => return Err(bad(&join(path, "direction"), format!("{d} is not Asc or Desc"))),
    };
    let sp = join(path, "start_from");
    let start_from = match o.start_from.as_ref().and_then(|s| s.value.as_ref()) {
        None => None,
        Some(Start::Float(f)) => Some(*f),
        Some(Start::Integer(i)) => Some(*i as f64),
        Some(Start::Timestamp(ts)) => Some(timestamp_micros(ts, &join(&sp, "timestamp"))?),
        Some(Start::Datetime(s)) => Some(
            quiver_segment::filter::parse_datetime(s)
                .map(|us| us as f64)
                .ok_or_else(|| {
                    bad(
                        &join(&sp, "datetime"),
                        format!("`{s}` is not a datetime (RFC 3339 expected)"),
                    )
                })?,
        ),
    };
    Ok(OrderBy {
        key: json_path(&o.key, &join(path, "key"))?,
        descending,
        start_from,
    })
}

fn query_variant(q: &pb::Query, path: &str) -> ApiResult<Query> {
    let unsupported = |what: &str| Err(bad(path, format!("`{what}` queries are not supported yet")));
    match &q.variant {
        Some(Variant::Nearest(v)) => Ok(Query::Nearest(vector_input(v, &join(path, "nearest"))?)),
        Some(Variant::OrderBy(o)) => Ok(Query::OrderBy(order_by(o, &join(path, "order_by"))?)),
        Some(Variant::Fusion(f)) if *f == pb::Fusion::Rrf as i32 => Ok(Query::Fusion(Fusion::Rrf)),
        Some(Variant::Fusion(f)) if *f == pb::Fusion::Dbsf as i32 => Ok(Query::Fusion(Fusion::Dbsf)),
        Some(Variant::Fusion(f)) => Err(bad(&join(path, "fusion"), format!("{f} is not Rrf or Dbsf"))),
        Some(Variant::Rrf(r)) if r.weights.is_empty() && r.k.is_none_or(|k| k == RRF_K) => {
            Ok(Query::Fusion(Fusion::Rrf))
        }
        Some(Variant::Rrf(_)) => Err(bad(
            &join(path, "rrf"),
            format!("only k = {RRF_K} without weights is supported yet"),
        )),
        Some(Variant::Recommend(_)) => unsupported("recommend"),
        Some(Variant::Discover(_)) => unsupported("discover"),
        Some(Variant::Context(_)) => unsupported("context"),
        Some(Variant::Sample(_)) => unsupported("sample"),
        Some(Variant::Formula(_)) => unsupported("formula"),
        Some(Variant::NearestWithMmr(_)) => unsupported("nearest_with_mmr"),
        Some(Variant::RelevanceFeedback(_)) => unsupported("relevance_feedback"),
        Some(Variant::Text(_)) => unsupported("text"),
        None => Err(bad(path, "empty query")),
    }
}

fn opt_query(q: &Option<pb::Query>, path: &str) -> ApiResult<Option<Query>> {
    q.as_ref()
        .map(|q| query_variant(q, &join(path, "query")))
        .transpose()
}

fn no_lookup(l: &Option<pb::LookupLocation>, path: &str) -> ApiResult<()> {
    match l {
        Some(_) => Err(bad(&join(path, "lookup_from"), "is not supported yet")),
        None => Ok(()),
    }
}

fn prefetches(list: &[pb::PrefetchQuery], path: &str) -> ApiResult<Vec<Prefetch>> {
    let pp = join(path, "prefetch");
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let ip = index(&pp, i);
            no_lookup(&p.lookup_from, &ip)?;
            Ok(Prefetch {
                prefetch: prefetches(&p.prefetch, &ip)?,
                query: opt_query(&p.query, &ip)?,
                using: p.using.clone().unwrap_or_default(),
                filter: opt_filter(&p.filter, &ip, "filter")?,
                limit: limit(p.limit.unwrap_or(DEFAULT_LIMIT), &ip)?,
                score_threshold: p.score_threshold,
            })
        })
        .collect()
}

/// `QueryPoints` at `path` (the root, or `query_points[i]` of a batch).
pub fn query(req: &pb::QueryPoints, path: &str) -> ApiResult<QueryRequest> {
    shard_keys(&req.shard_key_selector, path)?;
    no_lookup(&req.lookup_from, path)?;
    Ok(QueryRequest {
        prefetch: prefetches(&req.prefetch, path)?,
        query: opt_query(&req.query, path)?,
        using: req.using.clone().unwrap_or_default(),
        filter: opt_filter(&req.filter, path, "filter")?,
        limit: limit(req.limit.unwrap_or(DEFAULT_LIMIT), path)?,
        offset: offset(req.offset, path)?,
        score_threshold: req.score_threshold,
        with_payload: with_payload(&req.with_payload, false, &join(path, "with_payload"))?,
        with_vector: with_vectors(&req.with_vectors),
        params: search_params(&req.params, &join(path, "params"))?,
    })
}

pub fn query_batch(req: &pb::QueryBatchPoints) -> ApiResult<Vec<QueryRequest>> {
    req.query_points
        .iter()
        .enumerate()
        .map(|(i, q)| query(q, &index("query_points", i)))
        .collect()
}

pub fn scroll(req: &pb::ScrollPoints) -> ApiResult<ScrollRequest> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok(ScrollRequest {
        offset: req.offset.as_ref().map(|o| point_id(o, "offset")).transpose()?,
        limit: limit(req.limit.map_or(DEFAULT_LIMIT, u64::from), "")?,
        filter: opt_filter(&req.filter, "", "filter")?,
        with_payload: with_payload(&req.with_payload, true, "with_payload")?,
        with_vector: with_vectors(&req.with_vectors),
        order_by: req
            .order_by
            .as_ref()
            .map(|o| order_by(o, "order_by"))
            .transpose()?,
    })
}

pub fn count(req: &pb::CountPoints) -> ApiResult<Option<Filter>> {
    shard_keys(&req.shard_key_selector, "")?;
    opt_filter(&req.filter, "", "filter")
}

/// `GetPoints` -> (ids, payload selector, vector selector).
pub fn get(req: &pb::GetPoints) -> ApiResult<(Vec<PointId>, WithPayload, WithVector)> {
    shard_keys(&req.shard_key_selector, "")?;
    Ok((
        point_ids(&req.ids, "ids")?,
        with_payload(&req.with_payload, true, "with_payload")?,
        with_vectors(&req.with_vectors),
    ))
}

/// Whole values are sent as integers (what an integer payload field was ordered by).
fn order_value_out(v: f64) -> pb::OrderValue {
    use pb::order_value::Variant as V;
    let variant = if v.fract() == 0.0 && v.abs() < 9e15 {
        V::Int(v as i64)
    } else {
        V::Float(v)
    };
    pb::OrderValue {
        variant: Some(variant),
    }
}

pub fn scored_point_out(p: &ScoredPoint) -> pb::ScoredPoint {
    pb::ScoredPoint {
        id: Some(point_id_out(&p.id)),
        payload: p.payload.as_ref().map(object_out).unwrap_or_default(),
        score: p.score,
        version: p.version,
        vectors: p.vectors.as_ref().map(vectors_output),
        shard_key: None,
        order_value: p.order_value.map(order_value_out),
    }
}

pub fn scored_points_out(points: &[ScoredPoint]) -> Vec<pb::ScoredPoint> {
    points.iter().map(scored_point_out).collect()
}

pub fn record_out(r: &Record) -> pb::RetrievedPoint {
    pb::RetrievedPoint {
        id: Some(point_id_out(&r.id)),
        payload: r.payload.as_ref().map(object_out).unwrap_or_default(),
        vectors: r.vectors.as_ref().map(vectors_output),
        shard_key: None,
        order_value: r.order_value.map(order_value_out),
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
