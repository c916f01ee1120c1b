//! Point endpoints: writes, reads, search and query.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use quiver_types::{PointSelector, UpdateOperation, WithPayload, WithVector};
use serde_json::{json, Value};

use super::{ok, wait_flag, AppState, Body};
use crate::convert::rest::{filter, json as j, output, points as conv, query};
use crate::error::{ApiError, ApiResult};

type Q = Query<HashMap<String, String>>;

async fn write(
    s: &AppState,
    name: String,
    q: &HashMap<String, String>,
    op: UpdateOperation,
) -> ApiResult<Response> {
    let started = Instant::now();
    let r = s.api.update(name, op, wait_flag(q)?).await?;
    Ok(ok(output::update_result(&r), started))
}

pub(crate) async fn upsert(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::upsert(&b, "")?;
    write(&s, name, &q, op).await
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = UpdateOperation::Delete(conv::selector(&b, "")?);
    write(&s, name, &q, op).await
}

pub(crate) async fn update_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::update_vectors(&b)?;
    write(&s, name, &q, op).await
}

pub(crate) async fn delete_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::delete_vectors(&b)?;
    write(&s, name, &q, op).await
}

pub(crate) async fn set_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::set_payload(&b)?;
    write(&s, name, &q, op).await
}

pub(crate) async fn overwrite_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::overwrite_payload(&b)?;
    write(&s, name, &q, op).await
}

pub(crate) async fn delete_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let op = conv::delete_payload(&b)?;
    write(&s, name, &q, op).await
}

pub(crate) async fn clear_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
    Body(b): Body,
) -> ApiResult<Response> {
    let sel: PointSelector = conv::selector(&b, "")?;
    write(&s, name, &q, UpdateOperation::ClearPayload(sel)).await
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
        .map(|(i, o)| conv::batch_operation(o, &j::index("operations", i)))
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
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let (ids, wp, wv) = query::retrieve(&b)?;
    let records = s.api.retrieve(name, ids, wp, wv).await?;
    Ok(ok(
        Value::Array(records.iter().map(output::record).collect()),
        started,
    ))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let id_value = id.parse::<u64>().map(|n| json!(n)).unwrap_or_else(|_| json!(id));
    let pid = conv::point_id(&id_value, "id")?;
    let mut records = s
        .api
        .retrieve(name, vec![pid], WithPayload::All, WithVector::All)
        .await?;
    let record = records
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("Not found: Point with id {pid} does not exists!")))?;
    Ok(ok(output::record(&record), started))
}

pub(crate) async fn scroll(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let req = query::scroll(&b)?;
    let (records, next) = s.api.scroll(name, req).await?;
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
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let f = filter::opt_filter(&b, "filter", "")?;
    let n = s.api.count(name, f).await?;
    Ok(ok(json!({"count": n}), started))
}

fn scored_list(points: &[quiver_types::ScoredPoint]) -> Value {
    Value::Array(points.iter().map(output::scored_point).collect())
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let req = query::search(&b, "")?;
    let hits = s.api.query(name, req).await?;
    Ok(ok(scored_list(&hits), started))
}

pub(crate) async fn search_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let reqs = query::batch(&b, query::search)?;
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
        let (hits, plans) = s.api.query_explained(name, req).await?;
        return Ok(ok(
            json!({"points": scored_list(&hits), "explain": output::explain(&plans)}),
            started,
        ));
    }
    let hits = s.api.query(name, req).await?;
    Ok(ok(json!({"points": scored_list(&hits)}), started))
}

pub(crate) async fn query_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let reqs = query::batch(&b, query::query_request)?;
    let all = s.api.query_batch(name, reqs).await?;
    Ok(ok(
        Value::Array(all.iter().map(|h| json!({"points": scored_list(h)})).collect()),
        started,
    ))
}
