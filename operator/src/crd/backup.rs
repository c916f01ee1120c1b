//! `VectorBackup` (`qbak`): one backup of a cluster's collections to its object store, made by
//! the engine pods themselves (shard snapshots uploaded straight to S3). Its spec never changes
//! once created; its status lists what was written.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::Condition;

/// One backup.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "quiver.dev",
    version = "v1alpha1",
    kind = "VectorBackup",
    namespaced,
    shortname = "qbak",
    category = "quiver",
    status = "VectorBackupStatus",
    doc = "A backup of a Quiver cluster's collections",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a backup's spec is immutable"))]
pub struct VectorBackupSpec {
    /// The `VectorCluster` (same namespace) to back up.
    pub cluster_ref: String,
    /// The collections to include (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub collections: Vec<String>,
}

/// Where a backup stands.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackupPhase {
    #[default]
    Pending,
    Running,
    Completed,
    Failed,
}

/// One archive a backup wrote: a shard snapshot in the object store.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupArchive {
    pub collection: String,
    pub shard_id: u32,
    /// The object key.
    pub key: String,
    pub size: u64,
    /// The archive's SHA-256.
    pub checksum: String,
}

/// What the backup wrote.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VectorBackupStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: BackupPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<BackupArchive>,
    /// The bucket the archives are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Why the backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
