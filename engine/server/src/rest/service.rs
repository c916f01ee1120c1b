//! Service endpoints: version info, health probes, cluster status of a single node, telemetry.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{ok, AppState};
use crate::version::{QDRANT_API_VERSION, QUIVER_VERSION, TITLE};

pub(crate) async fn root() -> Json<serde_json::Value> {
    Json(
        json!({"title": TITLE, "version": QDRANT_API_VERSION, "commit": null, "quiver_version": QUIVER_VERSION}),
    )
}

pub(crate) async fn healthz() -> &'static str {
    "healthz check passed"
}

/// Ready once storage is open (which is before the listener accepts); in cluster mode only while
/// the node can serve every replica it holds (a leader is known, its collections are in line
/// with the metadata, and all its replicas are Active), else 503 with the reasons.
pub(crate) async fn readyz(State(s): State<AppState>) -> Response {
    let Some(d) = s.api.distributed() else {
        return "all shards are ready".into_response();
    };
    let mut status = d.node_status();
    if status.not_ready.is_empty() {
        // A restarted member may still hold old metadata that calls its replicas Active: ready
        // only once it has applied everything the leader had committed when asked.
        match tokio::time::timeout(std::time::Duration::from_secs(2), d.node().read_index()).await {
            Ok(Ok(index)) if status.reconciled_index >= index => {}
            Ok(Ok(index)) => status.not_ready.push(format!(
                "local collections reflect raft index {}, the leader has committed {index}",
                status.reconciled_index
            )),
            Ok(Err(e)) => status
                .not_ready
                .push(format!("the raft leader does not confirm: {e}")),
            Err(_) => status
                .not_ready
                .push("the raft leader does not answer".to_string()),
        }
    }
    if status.not_ready.is_empty() {
        "all shards are ready".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            status.not_ready.join("; "),
        )
            .into_response()
    }
}

/// Quiver's own node status for the operator: raft view, local replicas, incoming copies,
/// readiness reasons.
pub(crate) async fn node_status(State(s): State<AppState>) -> Response {
    let started = Instant::now();
    match s.api.distributed() {
        Some(d) => ok(json!(d.node_status()), started),
        None => ok(json!({"cluster": "disabled", "not_ready": []}), started),
    }
}

/// Qdrant's `GET /cluster`: this node's raft view, or `disabled` on a single node.
pub(crate) async fn cluster(State(s): State<AppState>) -> Response {
    let started = Instant::now();
    let Some(node) = s.api.cluster() else {
        return ok(json!({"status": "disabled"}), started);
    };
    let st = node.status();
    let peers: serde_json::Map<String, serde_json::Value> = st
        .peers
        .iter()
        .map(|(id, p)| (id.to_string(), json!({"uri": p.uri})))
        .collect();
    ok(
        json!({
            "status": "enabled",
            "peer_id": st.peer_id,
            "peers": peers,
            "raft_info": {
                "term": st.term,
                "commit": st.last_applied.unwrap_or(0),
                "pending_operations": st.last_log_index.unwrap_or(0).saturating_sub(st.last_applied.unwrap_or(0)),
                "leader": st.leader,
                "role": st.role,
                "is_voter": st.voters.contains(&st.peer_id),
            },
            "consensus_thread_status": {"consensus_thread_status": if st.role == "Shutdown" { "stopped" } else { "working" },
                                        "last_update": chrono::Utc::now().to_rfc3339()},
            "message_send_failures": {},
        }),
        started,
    )
}

pub(crate) async fn telemetry(State(s): State<AppState>) -> Response {
    let started = Instant::now();
    let collections = s.api.list_collections().await;
    ok(
        json!({"id": "quiver", "app": {"name": "quiver", "version": QUIVER_VERSION}, "collections": {"number_of_collections": collections.len()}}),
        started,
    )
}

pub(crate) async fn metrics(State(s): State<AppState>) -> Response {
    let collections = s.api.list_collections().await;
    let body = format!(
        "# HELP collections_total number of collections\n# TYPE collections_total gauge\ncollections_total {}\n",
        collections.len()
    );
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}
