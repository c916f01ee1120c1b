//! `VectorCollection` (`qcol`): a collection declared next to its cluster: vectors, sharding,
//! replication, index and quantization settings, payload indexes, and what happens to its data
//! when the resource is deleted.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::Condition;

/// A collection in a [`super::VectorCluster`].
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "quiver.dev",
    version = "v1alpha1",
    kind = "VectorCollection",
    namespaced,
    shortname = "qcol",
    category = "quiver",
    status = "VectorCollectionStatus",
    doc = "A collection of a Quiver cluster",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Collection", type_ = "string", json_path = ".status.collectionName"),
    printcolumn(name = "Replicas", type_ = "string", json_path = ".status.shardReplicas"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.clusterRef == oldSelf.clusterRef").message("clusterRef is immutable"))]
#[x_kube(validation = Rule::new("(has(self.collectionName) ? self.collectionName : '') == (has(oldSelf.collectionName) ? oldSelf.collectionName : '')").message("collectionName is immutable"))]
#[x_kube(validation = Rule::new("has(self.sparseVectors) == has(oldSelf.sparseVectors) && (!has(self.sparseVectors) || self.sparseVectors == oldSelf.sparseVectors)").message("sparseVectors are immutable: create a new collection"))]
pub struct VectorCollectionSpec {
    /// The `VectorCluster` (same namespace) the collection lives in.
    pub cluster_ref: String,
    /// The collection's name in the engine (default: the resource's name). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_name: Option<String>,
    /// Named dense vectors (`""` is the unnamed default vector). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("vectors are immutable: create a new collection"))]
    pub vectors: BTreeMap<String, DenseVector>,
    /// Named sparse vectors. Immutable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseVector>,
    #[serde(default)]
    pub sharding: Sharding,
    /// Replicas of each shard.
    #[serde(default = "one")]
    pub replication_factor: u32,
    /// Replicas that must have a write before it is acknowledged.
    #[serde(default = "one")]
    pub write_consistency_factor: u32,
    /// HNSW settings (the engine's `hnsw_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<Hnsw>,
    /// Quantization (the engine's `quantization_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Optimizer settings (the engine's `optimizers_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizers: Option<Optimizers>,
    /// Payload indexes, by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["field"]))]
    pub payload_indexes: Vec<PayloadIndex>,
    /// What deleting the resource does to the data: `Retain` (default) or `Delete`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Create the collection from a backup instead of empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
}

fn one() -> u32 {
    1
}

/// One dense vector.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DenseVector {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

/// Vector similarity, as the engine names it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distance {
    Cosine,
    Dot,
    Euclid,
    Manhattan,
}

/// One sparse vector.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SparseVector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<String>,
}

/// How points are spread over shards.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.method) ? self.method : 'Auto') == (has(oldSelf.method) ? oldSelf.method : 'Auto')").message("sharding.method is immutable"),
    validation = Rule::new("(has(self.method) && self.method == 'Custom') || !has(self.shardKeys) || size(self.shardKeys) == 0").message("shardKeys need method Custom")
)]
pub struct Sharding {
    #[serde(default)]
    pub method: ShardingMethod,
    /// Shards (per shard key with custom sharding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_number: Option<u32>,
    /// Shard keys to create (custom sharding); keys are never dropped by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub shard_keys: Vec<String>,
}

/// `Auto` (points spread by id) or `Custom` (by shard key).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ShardingMethod {
    #[default]
    Auto,
    Custom,
}

/// HNSW settings.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Hnsw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

/// Scalar int8 quantization.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Quantization {
    /// Quantile of values kept in range (0.5 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
}

/// Optimizer settings.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Optimizers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexing_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_segment_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_threshold: Option<f64>,
}

/// A payload index.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PayloadIndex {
    pub field: String,
    /// `keyword`, `integer`, `float`, `bool`, `geo`, `datetime`, `text`, `uuid`.
    pub schema: String,
    /// The field names the tenant (its points are stored together).
    #[serde(default)]
    pub is_tenant: bool,
}

/// See [`VectorCollectionSpec::deletion_policy`].
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// Where a new collection's data comes from.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// A `VectorBackup` (same namespace) that holds this collection.
    pub backup: String,
    /// The collection's name inside that backup (default: this collection's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_collection: Option<String>,
}

/// Where a collection stands.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CollectionPhase {
    #[default]
    Pending,
    Creating,
    Ready,
    Updating,
    Degraded,
    Stalled,
    Deleting,
}

/// What the operator observed of the collection.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VectorCollectionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: CollectionPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The engine collection this resource manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_name: Option<String>,
    /// Active replicas out of all, e.g. `6/6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_replicas: Option<String>,
    /// Shard keys that exist in the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_keys: Vec<String>,
    /// A bootstrapped collection was filled from its backup (done once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restored: bool,
}
