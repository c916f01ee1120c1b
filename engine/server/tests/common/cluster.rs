//! Cluster nodes for process tests: `quiver` with cluster mode on, an OS-chosen internal port
//! and a fast raft tick, plus the points the cluster tests write.

use std::path::Path;

use serde_json::json;

use super::Server;

/// A cluster node on `storage`; `bootstrap` is the internal URI of a member to join (none: it
/// forms a new cluster); `extra` adds settings.
pub fn node_with(storage: &Path, bootstrap: Option<&str>, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("QUIVER__CLUSTER__ENABLED", "true".to_string()),
        ("QUIVER__CLUSTER__P2P__PORT", "0".to_string()),
        ("QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS", "50".to_string()),
    ];
    if let Some(b) = bootstrap {
        env.push(("QUIVER__CLUSTER__BOOTSTRAP", b.to_string()));
    }
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(storage, &env)
}

/// [`node_with`] without extra settings.
pub fn node(storage: &Path, bootstrap: Option<&str>) -> Server {
    node_with(storage, bootstrap, &[])
}

/// Point `id` with a 4-d vector and payload `tag: w<id>`.
pub fn point(id: u64) -> serde_json::Value {
    let f = id as f32;
    json!({"id": id, "vector": [f.sin(), f.cos(), 1.0, (f * 0.1).sin()], "payload": {"tag": format!("w{id}")}})
}
