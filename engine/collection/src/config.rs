//! Collection configuration, in the shape Qdrant reports it (`GET /collections/{name}`), so the file
//! on disk, the REST answer and the gRPC answer all come from one value. Every field a user may set
//! is validated here with a message naming it; diffs (`*Diff`) carry the fields an update changes.

use std::collections::BTreeMap;

use quiver_segment::{SegmentConfig, VectorSpec};
use quiver_types::{Distance, DEFAULT_VECTOR};
use serde::{Deserialize, Serialize};

use crate::error::{CollectionError, Result};

fn invalid(field: &str, msg: impl std::fmt::Display) -> CollectionError {
    CollectionError::InvalidInput(format!("Validation error in JSON body: [{field}: {msg}]"))
}

/// Parameters of one dense vector space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorParams {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<QuantizationConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<serde_json::Value>,
}

/// The dense vectors of a collection: one unnamed, or several by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VectorsConfig {
    Single(VectorParams),
    Named(BTreeMap<String, VectorParams>),
}

impl VectorsConfig {
    /// (name, params) pairs; the unnamed vector has the name "".
    pub fn iter(&self) -> Vec<(&str, &VectorParams)> {
        match self {
            VectorsConfig::Single(p) => vec![(DEFAULT_VECTOR, p)],
            VectorsConfig::Named(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut VectorParams> {
        match self {
            VectorsConfig::Single(p) if name.is_empty() => Some(p),
            VectorsConfig::Single(_) => None,
            VectorsConfig::Named(m) => m.get_mut(name),
        }
    }
}

/// Parameters of one sparse vector space.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SparseVectorParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<String>,
}

/// How points are assigned to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardingMethod {
    #[default]
    Auto,
    Custom,
}

/// `config.params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionParams {
    pub vectors: VectorsConfig,
    pub shard_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<ShardingMethod>,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_factor: Option<u32>,
    pub on_disk_payload: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseVectorParams>,
}

/// HNSW settings (accepted and reported now; used by the index in a later version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswConfig {
    pub m: u64,
    pub ef_construct: u64,
    pub full_scan_threshold: u64,
    pub max_indexing_threads: u64,
    pub on_disk: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<u64>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            max_indexing_threads: 0,
            on_disk: false,
            payload_m: None,
        }
    }
}

/// Fields of [`HnswConfig`] an update or a vector override sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HnswConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<u64>,
}

impl HnswConfigDiff {
    pub fn validate(&self, prefix: &str) -> Result<()> {
        if let Some(ef) = self.ef_construct {
            if ef < 4 {
                return Err(invalid(
                    &format!("{prefix}ef_construct"),
                    "value 4 or greater expected",
                ));
            }
        }
        if let Some(t) = self.full_scan_threshold {
            if t < 10 && t != 0 {
                return Err(invalid(
                    &format!("{prefix}full_scan_threshold"),
                    "value 10 or greater expected",
                ));
            }
        }
        Ok(())
    }

    pub fn apply(&self, c: &mut HnswConfig) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { c.$f = v; } )* };
        }
        set!(
            m,
            ef_construct,
            full_scan_threshold,
            max_indexing_threads,
            on_disk
        );
        if self.payload_m.is_some() {
            c.payload_m = self.payload_m;
        }
    }
}

/// Optimizer settings (accepted and reported; the optimizer that uses them comes with indexing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizersConfig {
    pub deleted_threshold: f64,
    pub vacuum_min_vector_number: u64,
    pub default_segment_number: u64,
    #[serde(default)]
    pub max_segment_size: Option<u64>,
    #[serde(default)]
    pub memmap_threshold: Option<u64>,
    pub indexing_threshold: Option<u64>,
    pub flush_interval_sec: u64,
    #[serde(default)]
    pub max_optimization_threads: Option<u64>,
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        OptimizersConfig {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            memmap_threshold: None,
            indexing_threshold: Some(10_000),
            flush_interval_sec: 5,
            max_optimization_threads: None,
        }
    }
}

/// Fields of [`OptimizersConfig`] an update sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OptimizersConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacuum_min_vector_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_segment_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_segment_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memmap_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexing_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_interval_sec: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_optimization_threads: Option<u64>,
}

impl OptimizersConfigDiff {
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.deleted_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(invalid(
                    "optimizers_config.deleted_threshold",
                    "must be between 0 and 1",
                ));
            }
        }
        if let Some(v) = self.vacuum_min_vector_number {
            if v < 100 {
                return Err(invalid(
                    "optimizers_config.vacuum_min_vector_number",
                    "value 100 or greater expected",
                ));
            }
        }
        Ok(())
    }

    pub fn apply(&self, c: &mut OptimizersConfig) {
        if let Some(v) = self.deleted_threshold {
            c.deleted_threshold = v;
        }
        if let Some(v) = self.vacuum_min_vector_number {
            c.vacuum_min_vector_number = v;
        }
        if let Some(v) = self.default_segment_number {
            c.default_segment_number = v;
        }
        if let Some(v) = self.flush_interval_sec {
            c.flush_interval_sec = v;
        }
        if self.max_segment_size.is_some() {
            c.max_segment_size = self.max_segment_size;
        }
        if self.memmap_threshold.is_some() {
            c.memmap_threshold = self.memmap_threshold;
        }
        if self.indexing_threshold.is_some() {
            c.indexing_threshold = self.indexing_threshold;
        }
        if self.max_optimization_threads.is_some() {
            c.max_optimization_threads = self.max_optimization_threads;
        }
    }
}

/// `config.wal_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalConfig {
    pub wal_capacity_mb: u64,
    pub wal_segments_ahead: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            wal_capacity_mb: 32,
            wal_segments_ahead: 0,
        }
    }
}

/// Fields of [`WalConfig`] an update sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WalConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_capacity_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_segments_ahead: Option<u64>,
}

/// Scalar quantization parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalarQuantization {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
}

/// Product quantization parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductQuantization {
    pub compression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
}

/// Binary quantization parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BinaryQuantization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_encoding: Option<String>,
}

/// Quantization settings. Scalar int8 drives graph traversal (with rescoring); product and binary
/// are accepted, validated and reported, and not used by search yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantizationConfig {
    Scalar(ScalarQuantization),
    Product(ProductQuantization),
    Binary(BinaryQuantization),
}

impl QuantizationConfig {
    pub fn validate(&self, field: &str) -> Result<()> {
        match self {
            QuantizationConfig::Scalar(s) => {
                if s.kind != "int8" {
                    return Err(invalid(
                        &format!("{field}.scalar.type"),
                        "only `int8` is supported",
                    ));
                }
                if let Some(q) = s.quantile {
                    if !(0.5..=1.0).contains(&q) {
                        return Err(invalid(
                            &format!("{field}.scalar.quantile"),
                            "must be between 0.5 and 1.0",
                        ));
                    }
                }
            }
            QuantizationConfig::Product(p) => {
                if !["x4", "x8", "x16", "x32", "x64"].contains(&p.compression.as_str()) {
                    return Err(invalid(
                        &format!("{field}.product.compression"),
                        "must be one of x4, x8, x16, x32, x64",
                    ));
                }
            }
            QuantizationConfig::Binary(_) => {}
        }
        Ok(())
    }
}

/// The whole configuration of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    pub params: CollectionParams,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: OptimizersConfig,
    pub wal_config: WalConfig,
    pub quantization_config: Option<QuantizationConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The largest vector dimension accepted (as Qdrant's limit).
pub const MAX_DIMENSION: u64 = 65_536;

impl CollectionConfig {
    /// Checks every user-set field; called before a collection is created or changed.
    pub fn validate(&self) -> Result<()> {
        let vectors = self.params.vectors.iter();
        if vectors.is_empty() && self.params.sparse_vectors.is_empty() {
            return Err(invalid("vectors", "at least one vector must be configured"));
        }
        for (name, p) in vectors {
            let field = if name.is_empty() {
                "vectors".to_string()
            } else {
                format!("vectors.{name}")
            };
            if p.size == 0 || p.size > MAX_DIMENSION {
                return Err(invalid(
                    &format!("{field}.size"),
                    format!("value must be between 1 and {MAX_DIMENSION}"),
                ));
            }
            if let Some(h) = &p.hnsw_config {
                h.validate(&format!("{field}.hnsw_config."))?;
            }
            if let Some(q) = &p.quantization_config {
                q.validate(&format!("{field}.quantization_config"))?;
            }
            if let Some(t) = &p.datatype {
                if !["float32", "float16", "uint8"].contains(&t.as_str()) {
                    return Err(invalid(
                        &format!("{field}.datatype"),
                        "must be float32, float16 or uint8",
                    ));
                }
            }
        }
        for name in self.params.sparse_vectors.keys() {
            if self.params.vectors.iter().iter().any(|(n, _)| n == name) {
                return Err(invalid(
                    "sparse_vectors",
                    format!("name `{name}` is also a dense vector"),
                ));
            }
        }
        if self.params.shard_number == 0 || self.params.shard_number > 1024 {
            return Err(invalid("shard_number", "value must be between 1 and 1024"));
        }
        if self.params.replication_factor == 0 {
            return Err(invalid("replication_factor", "value 1 or greater expected"));
        }
        if self.params.write_consistency_factor == 0 {
            return Err(invalid("write_consistency_factor", "value 1 or greater expected"));
        }
        HnswConfigDiff {
            ef_construct: Some(self.hnsw_config.ef_construct),
            full_scan_threshold: Some(self.hnsw_config.full_scan_threshold),
            ..Default::default()
        }
        .validate("hnsw_config.")?;
        if let Some(q) = &self.quantization_config {
            q.validate("quantization_config")?;
        }
        Ok(())
    }

    /// The vector spaces segments store.
    pub fn segment_config(&self) -> SegmentConfig {
        let mut c = SegmentConfig::default();
        for (name, p) in self.params.vectors.iter() {
            c.vectors.insert(
                name.to_string(),
                VectorSpec::Dense {
                    size: p.size as usize,
                    distance: p.distance,
                },
            );
        }
        for name in self.params.sparse_vectors.keys() {
            c.vectors.insert(name.clone(), VectorSpec::Sparse);
        }
        c
    }
}
