//! Server configuration: defaults, then a YAML file (`--config PATH`, `QUIVER_CONFIG`, or
//! `config/config.yaml` when present), then environment overrides `QUIVER__SECTION__KEY=value`
//! (sections and keys lower-cased; values parsed as YAML scalars, so numbers and booleans work).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Everything the server can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub storage: StorageSettings,
    pub service: ServiceSettings,
    pub cluster: ClusterSettings,
    pub log_level: String,
}

/// Cluster mode (Qdrant's `cluster` section): off by default, a single node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// The id a node with no stored id takes (else a random one); must match a stored id.
    pub node_id: Option<u64>,
    /// This node's address for other members (`--uri`); default `http://<service.host>:<p2p.port>`.
    pub uri: Option<String>,
    /// A member of the cluster to join (`--bootstrap`); none: form a new cluster (or resume).
    pub bootstrap: Option<String>,
    /// Join as a learner: the node receives the metadata and serves requests but does not vote
    /// and gets no replicas until `POST /quiver/cluster/peers/{id}/promote` (how an operator
    /// adds a node one safe step at a time).
    pub join_as_learner: bool,
    /// MiB of recent writes each replica keeps so a replica that fell behind catches up with
    /// only what it missed (WAL delta); default 64. With 0, one that missed any write copies
    /// itself whole.
    pub wal_delta_window_mb: Option<u64>,
    /// Deadline in ms of one request to another node (Qdrant's `cluster.grpc_timeout_ms`);
    /// default 30,000. A write sent to a shard's primary gets four times as long (it waits on
    /// the replicas and on raft). A node that stops answering without closing its connections
    /// (paused, black-holed) is taken for dead only after this long.
    pub grpc_timeout_ms: Option<u64>,
    pub p2p: P2pSettings,
    pub consensus: ConsensusSettings,
}

/// The internal (node to node) gRPC port.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct P2pSettings {
    /// 0 picks a free one (logged as `p2p=`).
    pub port: u16,
    /// The local address outgoing node-to-node connections bind; default `service.host`. On a
    /// host with several addresses it picks the one peers see this node's traffic come from.
    pub source_address: Option<std::net::IpAddr>,
}

/// Raft timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsensusSettings {
    /// Leader heartbeat period in ms; an election starts after 5 to 10 missed heartbeats.
    pub tick_period_ms: u64,
}

impl Default for P2pSettings {
    fn default() -> Self {
        P2pSettings {
            port: 6335,
            source_address: None,
        }
    }
}

impl Default for ConsensusSettings {
    fn default() -> Self {
        ConsensusSettings { tick_period_ms: 200 }
    }
}

/// Where data lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    pub path: PathBuf,
    /// Where snapshots are kept (Qdrant's `storage.snapshots_config`).
    pub snapshots_config: SnapshotsSettings,
}

/// `snapshots_storage: local` (under `<storage>/snapshots`) or `s3` (with `s3_config`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SnapshotsSettings {
    pub snapshots_storage: String,
    pub s3_config: S3Settings,
}

impl Default for SnapshotsSettings {
    fn default() -> Self {
        SnapshotsSettings {
            snapshots_storage: "local".into(),
            s3_config: S3Settings::default(),
        }
    }
}

/// An S3-compatible bucket; unset credentials and region come from the usual `AWS_*` variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket (none: the bucket's root).
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// For S3-compatible servers (MinIO, moto, ...); plain `http://` is allowed.
    pub endpoint_url: Option<String>,
}

/// Network endpoints and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    pub host: String,
    /// REST port; 0 picks a free one (the chosen port is logged).
    pub http_port: u16,
    /// gRPC port; 0 picks a free one.
    pub grpc_port: u16,
    /// Largest accepted request body (REST) or message (gRPC), in MiB.
    pub max_request_size_mb: usize,
    /// When set, every request must carry it (`api-key` header, or `Authorization: Bearer`).
    pub api_key: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            storage: StorageSettings::default(),
            service: ServiceSettings::default(),
            cluster: ClusterSettings::default(),
            log_level: "info".into(),
        }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            path: PathBuf::from("./storage"),
            snapshots_config: SnapshotsSettings::default(),
        }
    }
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            host: "0.0.0.0".into(),
            http_port: 6333,
            grpc_port: 6334,
            max_request_size_mb: 32,
            api_key: None,
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads settings from an optional file and the given environment variables.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut tree = Value::Object(Default::default());
        let default_file = Path::new("config/config.yaml");
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| default_file.exists().then(|| default_file.to_path_buf()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
                path: path.clone(),
                source,
            })?;
            let yaml: Value = serde_yaml::from_str(&text).map_err(|source| SettingsError::Yaml {
                path: path.clone(),
                source,
            })?;
            if !yaml.is_null() {
                tree = yaml;
            }
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("QUIVER__") else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(|p| p.to_lowercase()).collect();
            let parsed: Value = serde_yaml::from_str(&value).unwrap_or(Value::String(value.clone()));
            set_path(&mut tree, &parts, parsed);
        }
        serde_json::from_value(tree).map_err(|e| SettingsError::Invalid(e.to_string()))
    }
}

fn set_path(tree: &mut Value, parts: &[String], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if !tree.is_object() {
        *tree = Value::Object(Default::default());
    }
    let Value::Object(map) = tree else { return };
    if rest.is_empty() {
        map.insert(first.clone(), value);
    } else {
        set_path(map.entry(first.clone()).or_insert(Value::Null), rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(
            &file,
            "service:\n  http_port: 7000\n  grpc_port: 7001\nstorage:\n  path: /data\n",
        )
        .unwrap();
        let env = vec![
            ("QUIVER__SERVICE__GRPC_PORT".to_string(), "9001".to_string()),
            ("QUIVER__SERVICE__API_KEY".to_string(), "secret".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let s = Settings::load(Some(&file), env).unwrap();
        assert_eq!(s.service.http_port, 7000);
        assert_eq!(s.service.grpc_port, 9001);
        assert_eq!(s.service.api_key.as_deref(), Some("secret"));
        assert_eq!(s.storage.path, PathBuf::from("/data"));
        assert_eq!(s.service.max_request_size_mb, 32);
    }

    #[test]
    fn bad_values_are_reported() {
        let env = vec![("QUIVER__SERVICE__HTTP_PORT".to_string(), "not-a-port".to_string())];
        let e = Settings::load(None, env).unwrap_err().to_string();
        assert!(e.contains("invalid"), "{e}");
    }
}
