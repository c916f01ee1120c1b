//! Read requests from REST JSON: search (deprecated API), query (universal API), scroll, count.

use quiver_collection::ScrollRequest;
use quiver_types::{
    Fusion, OrderBy, PointId, Prefetch, QuantizationParams, Query, QueryRequest, SearchParams, VectorInput,
    WithPayload, WithVector, DEFAULT_VECTOR,
};
use serde_json::Value;

use super::filter::{json_path, opt_filter};
use super::json::{array, bad, field, index, join, number, object, opt_unsigned, string};
use super::points::{point_id, sparse, vector_data, with_payload, with_vector};
use crate::error::ApiResult;

/// Largest `limit` accepted in one request.
const MAX_LIMIT: u64 = 100_000;

fn limit(body: &Value, default: u64, path: &str) -> ApiResult<usize> {
    let l = opt_unsigned(body, "limit", path)?.unwrap_or(default);
    if l > MAX_LIMIT {
        return Err(bad(&join(path, "limit"), format!("must be at most {MAX_LIMIT}")));
    }
    Ok(l as usize)
}

fn score_threshold(body: &Value, path: &str) -> ApiResult<Option<f32>> {
    field(body, "score_threshold")
        .map(|v| number(v, &join(path, "score_threshold")).map(|x| x as f32))
        .transpose()
}

/// `params`: `hnsw_ef`, `exact`, `indexed_only`, `quantization` (`ignore`, `rescore`,
/// `oversampling`).
fn search_params(body: &Value, path: &str) -> ApiResult<SearchParams> {
    let Some(p) = field(body, "params") else {
        return Ok(SearchParams::default());
    };
    let pp = join(path, "params");
    object(p, &pp)?;
    let flag = |obj: &Value, at: &str, key: &str| -> ApiResult<Option<bool>> {
        match field(obj, key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(bad(&join(at, key), "must be a boolean")),
        }
    };
    let quantization = match field(p, "quantization") {
        None => QuantizationParams::default(),
        Some(q) => {
            let qp = join(&pp, "quantization");
            object(q, &qp)?;
            let op = join(&qp, "oversampling");
            QuantizationParams {
                ignore: flag(q, &qp, "ignore")?.unwrap_or(false),
                rescore: flag(q, &qp, "rescore")?,
                oversampling: field(q, "oversampling")
                    .map(|v| {
                        let o = number(v, &op)?;
                        match crate::convert::oversampling_problem(o) {
                            Some(why) => Err(bad(&op, why)),
                            None => Ok(o as f32),
                        }
                    })
                    .transpose()?,
            }
        }
    };
    Ok(SearchParams {
        hnsw_ef: opt_unsigned(p, "hnsw_ef", &pp)?.map(|v| v as usize),
        exact: flag(p, &pp, "exact")?.unwrap_or(false),
        indexed_only: flag(p, &pp, "indexed_only")?.unwrap_or(false),
        quantization,
    })
}

/// `POST /points/search`: `vector` is a list, `{name, vector}`, or a sparse `{name, vector: {indices, values}}`.
pub fn search(body: &Value, path: &str) -> ApiResult<QueryRequest> {
    object(body, path)?;
    let vp = join(path, "vector");
    let v = field(body, "vector").ok_or_else(|| bad(path, "`vector` is required"))?;
    let (using, input) = match v {
        Value::Object(o) if o.contains_key("name") => {
            let name = string(&o["name"], &join(&vp, "name"))?.to_string();
            let inner = field(v, "vector").ok_or_else(|| bad(&vp, "`vector` is required"))?;
            (name, vector_input(inner, &join(&vp, "vector"))?)
        }
        _ => (DEFAULT_VECTOR.to_string(), vector_input(v, &vp)?),
    };
    Ok(QueryRequest {
        prefetch: Vec::new(),
        query: Some(Query::Nearest(input)),
        using,
        filter: opt_filter(body, "filter", path)?,
        limit: limit(body, 10, path)?,
        offset: opt_unsigned(body, "offset", path)?.unwrap_or(0) as usize,
        score_threshold: score_threshold(body, path)?,
        params: search_params(body, path)?,
        with_payload: with_payload(body.get("with_payload"), false, &join(path, "with_payload"))?,
        with_vector: with_vector(
            body.get("with_vector").or(body.get("with_vectors")),
            false,
            &join(path, "with_vector"),
        )?,
    })
}

fn vector_input(v: &Value, path: &str) -> ApiResult<VectorInput> {
    match v {
        Value::Number(_) | Value::String(_) => Ok(VectorInput::Id(point_id(v, path)?)),
        Value::Object(o) if o.contains_key("indices") => Ok(VectorInput::Sparse(sparse(v, path)?)),
        _ => match vector_data(v, path)? {
            quiver_types::VectorData::Dense(d) => Ok(VectorInput::Dense(d)),
            quiver_types::VectorData::Sparse(s) => Ok(VectorInput::Sparse(s)),
        },
    }
}

fn order_by(v: &Value, path: &str) -> ApiResult<OrderBy> {
    match v {
        Value::String(_) => Ok(OrderBy {
            key: json_path(v, path)?,
            descending: false,
            start_from: None,
        }),
        Value::Object(_) => {
            let key = json_path(
                field(v, "key").ok_or_else(|| bad(path, "`key` is required"))?,
                &join(path, "key"),
            )?;
            let descending = match field(v, "direction") {
                None => false,
                Some(d) => match string(d, &join(path, "direction"))? {
                    "asc" => false,
                    "desc" => true,
                    other => {
                        return Err(bad(
                            &join(path, "direction"),
                            format!("`{other}`: expected asc or desc"),
                        ))
                    }
                },
            };
            let start_from = match field(v, "start_from") {
                None => None,
                Some(Value::String(s)) => Some(
                    quiver_segment::filter::parse_datetime(s)
                        .map(|us| us as f64)
                        .ok_or_else(|| bad(&join(path, "start_from"), "not a number or datetime"))?,
                ),
                Some(n) => Some(number(n, &join(path, "start_from"))?),
            };
            Ok(OrderBy {
                key,
                descending,
                start_from,
            })
        }
        _ => Err(bad(path, "expected a key or {key, direction, start_from}")),
    }
}

fn query(v: &Value, path: &str) -> ApiResult<Query> {
    if let Value::Object(o) = v {
        if let Some(n) = field(v, "nearest") {
            return Ok(Query::Nearest(vector_input(n, &join(path, "nearest"))?));
        }
        if let Some(f) = field(v, "fusion") {
            return match string(f, &join(path, "fusion"))? {
                "rrf" => Ok(Query::Fusion(Fusion::Rrf)),
                "dbsf" => Ok(Query::Fusion(Fusion::Dbsf)),
                other => Err(bad(
                    &join(path, "fusion"),
                    format!("`{other}`: expected rrf or dbsf"),
                )),
            };
        }
        if o.contains_key("rrf") {
            return Ok(Query::Fusion(Fusion::Rrf));
        }
        if let Some(ob) = field(v, "order_by") {
            return Ok(Query::OrderBy(order_by(ob, &join(path, "order_by"))?));
        }
        for unsupported in ["recommend", "discover", "context", "sample", "formula", "mmr"] {
            if o.contains_key(unsupported) {
                return Err(bad(
                    path,
                    format!("`{unsupported}` queries are not supported yet"),
                ));
            }
        }
    }
    Ok(Query::Nearest(vector_input(v, path)?))
}

fn prefetches(body: &Value, path: &str) -> ApiResult<Vec<Prefetch>> {
    let pp = join(path, "prefetch");
    match field(body, "prefetch") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, p)| prefetch(p, &index(&pp, i)))
            .collect(),
        Some(single) => Ok(vec![prefetch(single, &pp)?]),
    }
}

fn prefetch(v: &Value, path: &str) -> ApiResult<Prefetch> {
    object(v, path)?;
    Ok(Prefetch {
        prefetch: prefetches(v, path)?,
        query: field(v, "query")
            .map(|q| query(q, &join(path, "query")))
            .transpose()?,
        using: field(v, "using")
            .map(|u| string(u, &join(path, "using")).map(str::to_string))
            .transpose()?
            .unwrap_or_default(),
        filter: opt_filter(v, "filter", path)?,
        limit: limit(v, 10, path)?,
        score_threshold: score_threshold(v, path)?,
    })
}

/// `POST /points/query`.
pub fn query_request(body: &Value, path: &str) -> ApiResult<QueryRequest> {
    object(body, path)?;
    if field(body, "lookup_from").is_some() {
        return Err(bad(&join(path, "lookup_from"), "is not supported yet"));
    }
    Ok(QueryRequest {
        prefetch: prefetches(body, path)?,
        query: field(body, "query")
            .map(|q| query(q, &join(path, "query")))
            .transpose()?,
        using: field(body, "using")
            .map(|u| string(u, &join(path, "using")).map(str::to_string))
            .transpose()?
            .unwrap_or_default(),
        filter: opt_filter(body, "filter", path)?,
        limit: limit(body, 10, path)?,
        offset: opt_unsigned(body, "offset", path)?.unwrap_or(0) as usize,
        score_threshold: score_threshold(body, path)?,
        params: search_params(body, path)?,
        with_payload: with_payload(body.get("with_payload"), false, &join(path, "with_payload"))?,
        with_vector: with_vector(
            body.get("with_vector").or(body.get("with_vectors")),
            false,
            &join(path, "with_vector"),
        )?,
    })
}

/// `{"searches": [...]}` of a batch endpoint.
pub fn batch<T>(body: &Value, parse: impl Fn(&Value, &str) -> ApiResult<T>) -> ApiResult<Vec<T>> {
    let s = field(body, "searches").ok_or_else(|| bad("", "`searches` is required"))?;
    array(s, "searches")?
        .iter()
        .enumerate()
        .map(|(i, q)| parse(q, &index("searches", i)))
        .collect()
}

/// `POST /points/scroll`.
pub fn scroll(body: &Value) -> ApiResult<ScrollRequest> {
    Ok(ScrollRequest {
        offset: field(body, "offset").map(|o| point_id(o, "offset")).transpose()?,
        limit: limit(body, 10, "")?,
        filter: opt_filter(body, "filter", "")?,
        with_payload: with_payload(body.get("with_payload"), true, "with_payload")?,
        with_vector: with_vector(
            body.get("with_vector").or(body.get("with_vectors")),
            false,
            "with_vector",
        )?,
        order_by: field(body, "order_by")
            .map(|o| order_by(o, "order_by"))
            .transpose()?,
    })
}

/// `POST /points` (retrieve): ids and selectors.
pub fn retrieve(body: &Value) -> ApiResult<(Vec<PointId>, WithPayload, WithVector)> {
    let ids = field(body, "ids").ok_or_else(|| bad("", "`ids` is required"))?;
    let ids = array(ids, "ids")?
        .iter()
        .enumerate()
        .map(|(i, id)| point_id(id, &index("ids", i)))
        .collect::<ApiResult<_>>()?;
    Ok((
        ids,
        with_payload(body.get("with_payload"), true, "with_payload")?,
        with_vector(
            body.get("with_vector").or(body.get("with_vectors")),
            false,
            "with_vector",
        )?,
    ))
}
