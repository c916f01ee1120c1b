//! Quiver's admin surface for the operator (`/quiver/cluster/...`, cluster mode): promote a
//! learner, demote a voter, move the raft leadership, drain a node.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::{ok, AppState, Body};
use crate::cluster::Distributed;
use crate::convert::rest::json as j;
use crate::error::{ApiError, ApiResult};

fn cluster(s: &AppState) -> ApiResult<&Distributed> {
    s.api
        .distributed()
        .ok_or_else(|| ApiError::invalid("cluster administration needs cluster mode"))
}

/// `POST /quiver/cluster/peers/{id}/promote`: the learner becomes a voter.
pub(crate) async fn promote(State(s): State<AppState>, Path(peer): Path<u64>) -> ApiResult<Response> {
    let started = Instant::now();
    cluster(&s)?.promote(peer).await?;
    Ok(ok(json!(true), started))
}

/// `POST /quiver/cluster/peers/{id}/demote`: the voter becomes a learner (it must hold no
/// replicas).
pub(crate) async fn demote(State(s): State<AppState>, Path(peer): Path<u64>) -> ApiResult<Response> {
    let started = Instant::now();
    cluster(&s)?.demote(peer).await?;
    Ok(ok(json!(true), started))
}

/// `POST /quiver/cluster/peers/{id}/drain`: one step of moving every replica off the node;
/// repeat until `remaining` is 0.
pub(crate) async fn drain(State(s): State<AppState>, Path(peer): Path<u64>) -> ApiResult<Response> {
    let started = Instant::now();
    let report = cluster(&s)?.drain(peer).await?;
    Ok(ok(json!(report), started))
}

/// `POST /quiver/cluster/leader` `{"peer_id": n}`: hands the raft leadership to voter n.
pub(crate) async fn transfer_leader(State(s): State<AppState>, Body(b): Body) -> ApiResult<Response> {
    let started = Instant::now();
    let peer = j::field(&b, "peer_id").ok_or_else(|| j::bad("peer_id", "is required"))?;
    let peer = j::unsigned(peer, "peer_id")?;
    cluster(&s)?.transfer_leadership(peer).await?;
    Ok(ok(json!(true), started))
}
