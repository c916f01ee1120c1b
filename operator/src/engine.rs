//! The operator's client of the engine's REST API: the admin surface (`/quiver/...`) for node
//! state and membership steps, and the collection endpoints for declarative collections.
//! Every call has a short timeout: an engine that does not answer is observed as not ready,
//! never waited on.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine at {base} did not answer: {source}")]
    Unreachable { base: String, source: reqwest::Error },
    #[error("engine at {base} answered {status} to {what}: {body}")]
    Refused {
        base: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("engine at {base}: unexpected answer to {what}: {why}")]
    Malformed { base: String, what: String, why: String },
}

impl EngineError {
    /// The HTTP status the engine answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A replica's state, as the engine names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReplicaState {
    Active,
    Dead,
    Partial,
    Initializing,
}

/// One member as the engine's raft view lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PeerInfo {
    pub uri: String,
}

/// A node's raft view.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RaftView {
    pub peer_id: u64,
    #[serde(default)]
    pub peers: BTreeMap<u64, PeerInfo>,
    #[serde(default)]
    pub voters: Vec<u64>,
    #[serde(default)]
    pub learners: Vec<u64>,
    pub leader: Option<u64>,
    pub role: String,
}

/// One shard's replicas.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ShardLayout {
    pub collection: String,
    pub shard_id: u32,
    pub replicas: BTreeMap<u64, ReplicaState>,
}

/// `GET /quiver/node`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NodeView {
    pub raft: RaftView,
    #[serde(default)]
    pub not_ready: Vec<String>,
    #[serde(default)]
    pub incoming_transfers: Vec<(String, u32)>,
    #[serde(default)]
    pub layout: Vec<ShardLayout>,
}

/// `POST /quiver/cluster/peers/{id}/drain`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DrainReport {
    pub in_flight: usize,
    pub remaining: usize,
}

/// Whether a replica copy keeps its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaCopy {
    Move,
    Replicate,
}

/// The engine REST client (one per reconcile; cheap to clone).
#[derive(Debug, Clone)]
pub struct Engine {
    http: reqwest::Client,
    api_key: Option<String>,
}

/// `http://<ip>:6333`, the REST base of a pod.
pub fn base_url(ip: &str) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{host}:{}", crate::build::names::HTTP_PORT)
}

impl Engine {
    pub fn new(api_key: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, api_key }
    }

    async fn call(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, EngineError> {
        let what = format!("{method} {path}");
        let mut req = self
            .http
            .request(method, format!("{base}{path}"))
            .timeout(timeout);
        if let Some(key) = &self.api_key {
            req = req.header("api-key", key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let unreachable = |source| EngineError::Unreachable {
            base: base.to_string(),
            source,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(EngineError::Refused {
                base: base.to_string(),
                what,
                status,
                body: text.chars().take(500).collect(),
            });
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| EngineError::Malformed {
            base: base.to_string(),
            what: what.clone(),
            why: e.to_string(),
        })?;
        Ok(v.get("result").cloned().unwrap_or(v))
    }

    fn decode<T: serde::de::DeserializeOwned>(base: &str, what: &str, v: Value) -> Result<T, EngineError> {
        serde_json::from_value(v).map_err(|e| EngineError::Malformed {
            base: base.to_string(),
            what: what.to_string(),
            why: e.to_string(),
        })
    }

    /// The node's raft view, replicas and readiness.
    pub async fn node(&self, base: &str) -> Result<NodeView, EngineError> {
        let v = self
            .call(
                base,
                reqwest::Method::GET,
                "/quiver/node",
                None,
                Duration::from_secs(3),
            )
            .await?;
        Self::decode(base, "GET /quiver/node", v)
    }

    async fn admin(&self, base: &str, path: &str, body: Option<Value>) -> Result<Value, EngineError> {
        self.call(base, reqwest::Method::POST, path, body, Duration::from_secs(60))
            .await
    }

    pub async fn promote(&self, base: &str, peer: u64) -> Result<(), EngineError> {
        self.admin(base, &format!("/quiver/cluster/peers/{peer}/promote"), None)
            .await
            .map(drop)
    }

    pub async fn demote(&self, base: &str, peer: u64) -> Result<(), EngineError> {
        self.admin(base, &format!("/quiver/cluster/peers/{peer}/demote"), None)
            .await
            .map(drop)
    }

    pub async fn drain(&self, base: &str, peer: u64) -> Result<DrainReport, EngineError> {
        let v = self
            .admin(base, &format!("/quiver/cluster/peers/{peer}/drain"), None)
            .await?;
        Self::decode(base, "drain", v)
    }

    pub async fn transfer_leader(&self, base: &str, to: u64) -> Result<(), EngineError> {
        self.admin(base, "/quiver/cluster/leader", Some(json!({"peer_id": to})))
            .await
            .map(drop)
    }

    pub async fn remove_peer(&self, base: &str, peer: u64) -> Result<(), EngineError> {
        self.call(
            base,
            reqwest::Method::DELETE,
            &format!("/cluster/peer/{peer}"),
            None,
            Duration::from_secs(60),
        )
        .await
        .map(drop)
    }

    /// Copies `shard` of `collection` from peer `from` to peer `to`: `move_shard` drops the
    /// source once the copy is Active, `replicate_shard` keeps it (Qdrant's operation names).
    pub async fn copy_replica(
        &self,
        base: &str,
        collection: &str,
        operation: ReplicaCopy,
        shard: u32,
        from: u64,
        to: u64,
    ) -> Result<(), EngineError> {
        let op = match operation {
            ReplicaCopy::Move => "move_shard",
            ReplicaCopy::Replicate => "replicate_shard",
        };
        let body = json!({op: {"shard_id": shard, "from_peer_id": from, "to_peer_id": to}});
        self.admin(base, &format!("/collections/{collection}/cluster"), Some(body))
            .await
            .map(drop)
    }

    /// Drops the replica of `shard` of `collection` on `peer` (the engine refuses to drop the
    /// last Active replica).
    pub async fn drop_replica(
        &self,
        base: &str,
        collection: &str,
        shard: u32,
        peer: u64,
    ) -> Result<(), EngineError> {
        let body = json!({"drop_replica": {"shard_id": shard, "peer_id": peer}});
        self.admin(base, &format!("/collections/{collection}/cluster"), Some(body))
            .await
            .map(drop)
    }

    /// The collection's info, or None when it does not exist.
    pub async fn collection(&self, base: &str, name: &str) -> Result<Option<Value>, EngineError> {
        let path = format!("/collections/{name}");
        match self
            .call(base, reqwest::Method::GET, &path, None, Duration::from_secs(10))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `body` to `path` with `method`, the collection calls' common shape.
    pub async fn send(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, EngineError> {
        self.call(base, method, path, body, Duration::from_secs(120))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_view_reads_the_engine_shape() {
        let v = json!({
            "raft": {"peer_id": 7, "peers": {"7": {"uri": "http://10.0.0.1:6335"}},
                     "voters": [7], "learners": [], "term": 3, "leader": 7, "role": "Leader",
                     "last_log_index": 9, "last_applied": 9, "millis_since_quorum_ack": 1},
            "reconciled_index": 9,
            "replicas": [],
            "incoming_transfers": [["docs", 1]],
            "not_ready": [],
            "layout": [{"collection": "docs", "shard_id": 1, "replicas": {"7": "Active", "9": "Partial"}}],
        });
        let n: NodeView = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.raft.leader, Some(7));
        assert_eq!(n.layout[0].replicas[&9], ReplicaState::Partial);
        assert_eq!(n.incoming_transfers, vec![("docs".to_string(), 1)]);
    }

    #[test]
    fn ipv6_pod_addresses_are_bracketed() {
        assert_eq!(base_url("10.1.2.3"), "http://10.1.2.3:6333");
        assert_eq!(base_url("fd00::5"), "http://[fd00::5]:6333");
    }
}
