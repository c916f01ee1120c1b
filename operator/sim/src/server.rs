//! The simulated API server: Kubernetes' REST paths for the registered kinds over HTTP on a
//! loopback port (get, list, watch, create, replace, merge / apply patches, delete, and the
//! status subresource), so that `kube::Client` and `kube::runtime::Controller` talk to it as
//! to a real one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::store::{merge, Failure, Kind, Store};

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    pub addr: SocketAddr,
    pub store: Store,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ApiServer {
    /// Serves `store` on 127.0.0.1 (any free port).
    pub async fn start(store: Store) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(handle).with_state(store.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, store, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn status_response(f: &Failure) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f.message, "reason": f.reason, "code": f.code,
    });
    let code = StatusCode::from_u16(f.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn failure(code: u16, reason: &'static str, message: impl Into<String>) -> Response {
    status_response(&Failure {
        code,
        reason,
        message: message.into(),
    })
}

/// What a path names.
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse(store: &Store, path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        rest => (None, rest),
    };
    let (plural, name, status) = match rest {
        [p] => (*p, None, false),
        [p, n] => (*p, Some(n.to_string()), false),
        [p, n, "status"] => (*p, Some(n.to_string()), true),
        _ => return None,
    };
    Some(Target {
        kind: store.kind(group, version, plural)?,
        namespace,
        name,
        status,
    })
}

async fn handle(
    State(store): State<Store>,
    method: Method,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = parse(&store, uri.path()) else {
        return failure(
            404,
            "NotFound",
            format!("the server could not find the requested resource {}", uri.path()),
        );
    };
    let ns = t.namespace.clone().unwrap_or_default();
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    let body_json = || -> Result<Value, Box<Response>> {
        serde_json::from_slice(&body).map_err(|e| Box::new(failure(400, "BadRequest", format!("body: {e}"))))
    };
    match (&method, &t.name) {
        (&Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            let rv = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
            let timeout = q
                .get("timeoutSeconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(290u64);
            watch(
                store,
                t.kind,
                t.namespace,
                selector,
                rv,
                Duration::from_secs(timeout),
            )
        }
        (&Method::GET, None) => {
            let (items, rv) = store.list(&t.kind, t.namespace.as_deref(), &selector);
            axum::Json(json!({
                "apiVersion": t.kind.api_version(),
                "kind": format!("{}List", t.kind.kind),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items,
            }))
            .into_response()
        }
        (&Method::GET, Some(name)) => match store.get(&t.kind, &ns, name) {
            Some(o) => axum::Json(o).into_response(),
            None => failure(404, "NotFound", format!("{} \"{name}\" not found", t.kind.plural)),
        },
        (&Method::POST, None) => match body_json() {
            Ok(v) => match store.create(&t.kind, &ns, v) {
                Ok(o) => (StatusCode::CREATED, axum::Json(o)).into_response(),
                Err(f) => status_response(&f),
            },
            Err(r) => *r,
        },
        (&Method::PUT, Some(name)) => match body_json() {
            Ok(v) => match store.update(&t.kind, &ns, name, t.status, |_| Ok(v)) {
                Ok(o) => axum::Json(o).into_response(),
                Err(f) => status_response(&f),
            },
            Err(r) => *r,
        },
        (&Method::PATCH, Some(name)) => {
            let ctype = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if ctype.starts_with("application/json-patch") {
                return failure(
                    415,
                    "UnsupportedMediaType",
                    "JSON patches are not simulated; use merge or apply",
                );
            }
            let patch = match body_json() {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let apply = ctype.starts_with("application/apply-patch");
            if apply && store.get(&t.kind, &ns, name).is_none() && !t.status {
                return match store.create(&t.kind, &ns, patch) {
                    Ok(o) => (StatusCode::CREATED, axum::Json(o)).into_response(),
                    Err(f) => status_response(&f),
                };
            }
            let result = store.update(&t.kind, &ns, name, t.status, |old| {
                // Starting from the stored object, a patch without a resource version passes
                // the store's precondition check; a merge patch with one is checked; an apply
                // carries none.
                let mut new = old.clone();
                let mut p = patch.clone();
                if apply {
                    if let Some(m) = p["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                }
                merge(&mut new, &p);
                Ok(new)
            });
            match result {
                Ok(o) => axum::Json(o).into_response(),
                Err(f) => status_response(&f),
            }
        }
        (&Method::DELETE, Some(name)) => match store.delete(&t.kind, &ns, name) {
            Ok(o) => axum::Json(o).into_response(),
            Err(f) => status_response(&f),
        },
        _ => failure(405, "MethodNotAllowed", format!("{method} {}", uri.path())),
    }
}

/// A watch: every change after `rv` as newline-delimited JSON events, then live ones, until
/// `timeout` (the client watches again from the last version it saw).
fn watch(
    store: Store,
    kind: Kind,
    ns: Option<String>,
    selector: String,
    rv: u64,
    timeout: Duration,
) -> Response {
    let resource = format!("{}/{}/{}", kind.group, kind.version, kind.plural);
    let (past, rx) = store.changes_since(rv);
    let relevant = move |c: &crate::store::Change| {
        c.resource == resource
            && ns
                .as_deref()
                .is_none_or(|n| c.object["metadata"]["namespace"].as_str() == Some(n))
            && crate::store::selector_matches(&selector, &c.object["metadata"]["labels"])
    };
    let line = |c: &crate::store::Change| {
        let mut s = json!({"type": c.kind, "object": c.object}).to_string();
        s.push('\n');
        Ok::<Bytes, std::io::Error>(Bytes::from(s))
    };
    let past: Vec<_> = past.iter().filter(|c| relevant(c)).map(line).collect();
    // Live changes all come after the past ones (both were taken under the store's lock). A
    // lagging receiver ends the watch; the client watches again from its last version.
    let live =
        futures_util::stream::unfold(
            rx,
            move |mut rx| async move { rx.recv().await.ok().map(|c| (c, rx)) },
        )
        .filter(move |c| {
            let keep = relevant(c);
            async move { keep }
        })
        .map(move |c| line(&c));
    let stream = futures_util::stream::iter(past).chain(live);
    let stream = tokio_stream_timeout(stream, timeout);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| failure(500, "InternalError", "watch response"))
}

/// Ends `stream` after `timeout`.
fn tokio_stream_timeout<S>(stream: S, timeout: Duration) -> impl futures_util::Stream<Item = S::Item>
where
    S: futures_util::Stream + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + timeout;
    stream.take_until(tokio::time::sleep_until(deadline))
}
