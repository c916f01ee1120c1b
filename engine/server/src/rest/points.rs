//! Point endpoints: writes, reads, search and query.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use quiver_types::{PointSelector, UpdateOperation, WithPayload, WithVector};
use serde_json::{json, Value};

use super::{ok, wait_flag, AppState, Body};
use crate::convert::rest::{filter, json as j, output, points as conv, query, routing};
use crate::error::{ApiError, ApiResult};

type Q = Query<HashMap<String, String>>;

/// Applies `op`, read from `body` (whose `shard_key` names where it goes).
async fn write(
    s: &AppState,
    name: String,
    q: &HashMap<String, String>,
    body: &Value,
    op: UpdateOperation,
) -> ApiResult<Response> {
    let started = Instant::now();
    let keys = routing::shard_keys(body, "")?;
    let r = s.api.update(name, op, wait_flag(q)?, keys).await?;
    Ok(ok(output::update_result(&r), started))
}

pub(crate) async fn upsert(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::upsert(&b, "")?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = UpdateOperation::Delete(conv::selector(&b, "")?);
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn update_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::update_vectors(&b)?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn delete_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::delete_vectors(&b)?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn set_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::set_payload(&b)?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn overwrite_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::overwrite_payload(&b)?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn delete_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::delete_payload(&b)?;
    write(&s, name, &q, &b, op).await
}

pub(crate) async fn clear_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let sel: PointSelector = conv::selector(&b, "")?;
    write(&s, name, &q, &b, UpdateOperation::ClearPayload(sel)).await
}

pub(crate) async fn batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let ops_v = j::field(&b, "operations").ok_or_else(|| j::bad("", "`operations` is required"))?;
    let ops = j::array(ops_v, "operations")?
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let path = j::index("operations", i);
            let op = conv::batch_operation(o, &path)?;
            // `{"upsert": {..., "shard_key": ...}}`: the key sits in the operation's body.
            let keys = match o.as_object().and_then(|m| m.iter().next()) {
                Some((kind, inner)) => routing::shard_keys(inner, &j::join(&path, kind))?,
                None => None,
            };
            Ok((op, keys))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let results = s.api.update_batch(name, ops, wait_flag(&q)?).await?;
    Ok(ok(
        Value::Array(results.iter().map(output::update_result).collect()),
        started,
    ))
}

pub(crate) async fn retrieve(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let (ids, wp, wv) = query::retrieve(&b)?;
    let opts = routing::read_options(&b, "", routing::consistency(&q)?)?;
    let records = s.api.retrieve(name, ids, wp, wv, opts).await?;
    Ok(ok(
        Value::Array(records.iter().map(output::record).collect()),
        started,
    ))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult<Response> {
    let started = Instant::now();
    let id_value = id.parse::<u64>().map(|n| json!(n)).unwrap_or_else(|_| json!(id));
    let pid = conv::point_id(&id_value, "id")?;
    let mut records = s
        .api
        .retrieve(
            name,
            vec![pid],
            WithPayload::All,
            WithVector::All,
            quiver_types::ReadOptions {
                consistency: routing::consistency(&q)?,
                shard_keys: None,
            },
        )
        .await?;
    let record = records
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("Not found: Point with id {pid} does not exists!")))?;
    Ok(ok(output::record(&record), started))
}

pub(crate) async fn scroll(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let req = query::scroll(&b)?;
    let opts = routing::read_options(&b, "", routing::consistency(&q)?)?;
    let (records, next) = s.api.scroll(name, req, opts).await?;
    Ok(ok(
        json!({
            "points": records.iter().map(output::record).collect::<Vec<_>>(),
            "next_page_offset": next.as_ref().map(output::point_id),
        }),
        started,
    ))
}

pub(crate) async fn count(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let f = filter::opt_filter(&b, "filter", "")?;
    let opts = routing::read_options(&b, "", routing::consistency(&q)?)?;
    let n = s.api.count(name, f, opts).await?;
    Ok(ok(json!({"count": n}), started))
}

fn scored_list(points: &[quiver_types::ScoredPoint]) -> Value {
    Value::Array(points.iter().map(output::scored_point).collect())
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let req = query::search(&b, "")?;
    let opts = routing::read_options(&b, "", routing::consistency(&q)?)?;
    let hits = s.api.query(name, req, opts).await?;
    Ok(ok(scored_list(&hits), started))
}

pub(crate) async fn search_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let level = routing::consistency(&q)?;
    let reqs = query::batch(&b, |v, p| {
        Ok((query::search(v, p)?, routing::read_options(v, p, level)?))
    })?;
    let all = s.api.query_batch(name, reqs).await?;
    Ok(ok(
        Value::Array(all.iter().map(|h| scored_list(h)).collect()),
        started,
    ))
}

/// `?explain=true` adds `explain`: per stage, shard and segment, the filter's estimated
/// cardinality and the strategy the planner chose.
pub(crate) async fn query(
    State(s): State<AppState>,
    Path(name): Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let req = query::query_request(&b, "")?;
    let opts = routing::read_options(&b, "", routing::consistency(&params)?)?;
    let explain = match params.get("explain").map(String::as_str) {
        None | Some("false") => false,
        Some("true") | Some("") => true,
        Some(other) => {
            return Err(crate::error::ApiError::invalid(format!(
                "Format error in request: explain: expected true or false, got {other:?}"
            )))
        }
    };
    if explain {
        let (hits, plans) = s.api.query_explained(name, req, opts).await?;
        return Ok(ok(
            json!({"points": scored_list(&hits), "explain": output::explain(&plans)}),
            started,
        ));
    }
    let hits = s.api.query(name, req, opts).await?;
    Ok(ok(json!({"points": scored_list(&hits)}), started))
}

pub(crate) async fn query_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let level = routing::consistency(&q)?;
    let reqs = query::batch(&b, |v, p| {
        Ok((query::query_request(v, p)?, routing::read_options(v, p, level)?))
    })?;
    let all = s.api.query_batch(name, reqs).await?;
    Ok(ok(
        Value::Array(all.iter().map(|h| json!({"points": scored_list(h)})).collect()),
        started,
    ))
}
