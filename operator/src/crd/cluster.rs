//! `VectorCluster` (`qvc`): a Quiver cluster of `nodes` engine pods with their storage, engine
//! settings, update strategy, object store and backup schedule.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::Condition;

/// A Quiver cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "quiver.dev",
    version = "v1alpha1",
    kind = "VectorCluster",
    namespaced,
    shortname = "qvc",
    category = "quiver",
    status = "VectorClusterStatus",
    doc = "A Quiver vector database cluster",
    scale(
        spec_replicas_path = ".spec.nodes",
        status_replicas_path = ".status.readyNodes"
    ),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".spec.nodes"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyNodes"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.currentVersion"),
    printcolumn(name = "Replicas", type_ = "string", json_path = ".status.shardReplicas"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel
)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterSpec {
    /// The engine version (image tag). Changing it upgrades one node at a time, the raft leader
    /// last.
    #[x_kube(validation = Rule::new("self != ''").message("version must not be empty"))]
    pub version: String,
    /// The engine image repository, without the tag (default: the chart's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Engine pods. Scaling up adds a learner, promotes it and moves replicas to it; scaling
    /// down drains a node before it is removed.
    #[x_kube(validation = Rule::new("self >= 1").message("nodes must be at least 1"))]
    pub nodes: i32,
    /// CPU and memory of each engine container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    pub storage: StorageSpec,
    /// Engine settings (the engine's config file, as environment).
    #[serde(default)]
    pub engine: EngineSpec,
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    /// Where snapshots go: an S3-compatible bucket the engine pods upload to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store: Option<ObjectStoreSpec>,
    /// Scheduled backups of every collection (needs `objectStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSchedule>,
    /// A Secret key holding the API key every request must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<SecretKeyRef>,
    /// Additions to the engine pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodOverrides>,
    /// Stops reconciling: nothing is created, changed or deleted until it is false again.
    #[serde(default)]
    pub paused: bool,
}

/// Each engine pod's volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("storageClassName is immutable")
)]
pub struct StorageSpec {
    /// The volume size, a Kubernetes quantity (`10Gi`). It can grow, never shrink.
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(\\\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$')").message("size must be a quantity such as 10Gi"))]
    pub size: String,
    /// The StorageClass of the volumes (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// Engine settings passed to every node.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EngineSpec {
    /// Log filter, e.g. `info` or `info,quiver_cluster=debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Raft heartbeat period in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_period_ms: Option<u64>,
    /// Extra settings as `QUIVER__SECTION__KEY` environment values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// How changes that restart pods are rolled out.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// `Automatic` (default) or `Supervised`: a supervised cluster waits before restarting the
    /// raft leader until the user sets it back to `Automatic`.
    #[serde(default)]
    pub mode: UpdateMode,
}

/// See [`UpdateStrategy::mode`].
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UpdateMode {
    #[default]
    Automatic,
    Supervised,
}

/// An S3-compatible bucket.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// For S3-compatible servers (MinIO, ...): `http(s)://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (none: the pods' own
    /// identity, e.g. IRSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// Scheduled backups.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// A cron schedule in UTC (five fields), e.g. `0 3 * * *`.
    #[x_kube(validation = Rule::new("self.split(' ').size() == 5").message("schedule must have five cron fields"))]
    pub schedule: String,
    /// How many scheduled backups to keep (older ones are deleted with their archives).
    #[x_kube(validation = Rule::new("self >= 1").message("retention must keep at least one backup"))]
    pub retention: u32,
}

/// One key of a Secret.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// Additions to the engine pods (labels, annotations, scheduling).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Where a cluster stands.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClusterPhase {
    #[default]
    Pending,
    Creating,
    Ready,
    Scaling,
    Upgrading,
    Degraded,
    Stalled,
    Paused,
}

/// What the operator observed and is doing.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VectorClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: ClusterPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Engine pods ready to serve every replica they hold.
    #[serde(default)]
    pub ready_nodes: i32,
    /// The raft leader's peer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<u64>,
    /// The version every node runs (unset while they differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Active shard replicas of all collections out of all replicas, e.g. `12/12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_replicas: Option<String>,
    /// Shard copies in flight.
    #[serde(default)]
    pub transfers: u32,
    /// The step in progress, so a restarted operator resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// A node being removed by a scale-down (recorded before its replicas move; not undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving_node: Option<u32>,
    /// The last scheduled backup's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    /// The schedule slot of the last scheduled backup (RFC 3339), so a restarted operator
    /// neither repeats nor skips one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
}
