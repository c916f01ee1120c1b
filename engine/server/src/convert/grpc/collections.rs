//! Collection requests and answers: `CreateCollection` -> a full config with Qdrant's defaults,
//! `UpdateCollection` -> a config diff, the engine's collection info -> `qdrant.CollectionInfo`, and
//! alias operations.
#![allow(deprecated)] // `on_disk_payload`: deprecated on the wire, still what clients send and read.

use std::collections::BTreeMap;

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::alias_operations::Action;
use quiver_collection::config::{
    CollectionParams, HnswConfig, OptimizersConfig, ShardingMethod, VectorsConfig, WalConfig,
};
use quiver_collection::{
    AliasOperation, CollectionConfig, CollectionInfo, CollectionStatus, ConfigDiff, VectorParamsDiff,
};

use super::config::{
    hnsw_diff, hnsw_out, optimizers_diff, optimizers_out, quantization, quantization_diff, quantization_out,
    sparse_params, sparse_params_out, vectors_config, vectors_config_out, wal_diff, wal_out,
};
use super::index::schema_info_out;
use super::payload::{object, object_out};
use super::strict::{strict_mode, strict_mode_out};
use super::{bad, index, join};
use crate::error::ApiResult;

/// `Memory::Cold`/`Cached` keep the payload on disk, `Pinned` in RAM; `memory` wins over the flag.
fn on_disk_payload(flag: Option<bool>, payload: &Option<pb::PayloadStorageParams>) -> Option<bool> {
    match payload.and_then(|p| p.memory) {
        Some(m) if m == pb::Memory::Pinned as i32 => Some(false),
        Some(m) if m == pb::Memory::Cold as i32 || m == pb::Memory::Cached as i32 => Some(true),
        _ => flag,
    }
}

fn sparse_vectors(
    s: &Option<pb::SparseVectorConfig>,
    path: &str,
) -> ApiResult<BTreeMap<String, quiver_collection::config::SparseVectorParams>> {
    let Some(s) = s else {
        return Ok(BTreeMap::new());
    };
    s.map
        .iter()
        .map(|(name, p)| Ok((name.clone(), sparse_params(p, &join(path, name))?)))
        .collect()
}

fn metadata(
    m: &std::collections::HashMap<String, pb::Value>,
) -> ApiResult<Option<serde_json::Map<String, serde_json::Value>>> {
    if m.is_empty() {
        return Ok(None);
    }
    object(m, "metadata").map(Some)
}

/// `CreateCollection` -> (name, config). Absent fields take Qdrant's defaults: one shard, one
/// replica, write consistency 1, payload on disk, and the engine's HNSW/optimizer/WAL defaults.
pub fn create(req: &pb::CreateCollection) -> ApiResult<(String, CollectionConfig)> {
    let vectors = match &req.vectors_config {
        Some(v) => vectors_config(v, "vectors_config")?,
        None => VectorsConfig::Named(BTreeMap::new()),
    };
    let mut hnsw = HnswConfig::default();
    if let Some(h) = &req.hnsw_config {
        let d = hnsw_diff(h);
        d.validate("hnsw_config.")?;
        d.apply(&mut hnsw);
    }
    let mut optimizers = OptimizersConfig::default();
    if let Some(o) = &req.optimizers_config {
        let d = optimizers_diff(o);
        d.validate()?;
        d.apply(&mut optimizers);
    }
    let mut wal = WalConfig::default();
    if let Some(w) = &req.wal_config {
        let d = wal_diff(w);
        wal.wal_capacity_mb = d.wal_capacity_mb.unwrap_or(wal.wal_capacity_mb);
        wal.wal_segments_ahead = d.wal_segments_ahead.unwrap_or(wal.wal_segments_ahead);
    }
    let sharding_method = match req.sharding_method {
        None => None,
        Some(m) if m == pb::ShardingMethod::Auto as i32 => Some(ShardingMethod::Auto),
        Some(m) if m == pb::ShardingMethod::Custom as i32 => Some(ShardingMethod::Custom),
        Some(m) => return Err(bad("sharding_method", format!("{m} is not Auto or Custom"))),
    };
    let config = CollectionConfig {
        params: CollectionParams {
            vectors,
            shard_number: req.shard_number.unwrap_or(1),
            sharding_method,
            replication_factor: req.replication_factor.unwrap_or(1),
            write_consistency_factor: req.write_consistency_factor.unwrap_or(1),
            read_fan_out_factor: None,
            on_disk_payload: on_disk_payload(req.on_disk_payload, &req.payload).unwrap_or(true),
            sparse_vectors: sparse_vectors(&req.sparse_vectors_config, "sparse_vectors_config")?,
        },
        hnsw_config: hnsw,
        optimizer_config: optimizers,
        wal_config: wal,
        quantization_config: req
            .quantization_config
            .as_ref()
            .map(|q| quantization(q, "quantization_config"))
            .transpose()?,
        strict_mode_config: req.strict_mode_config.as_ref().map(strict_mode),
        metadata: metadata(&req.metadata)?,
    };
    config.validate()?;
    Ok((req.collection_name.clone(), config))
}

fn vector_diff(d: &pb::VectorParamsDiff, path: &str) -> ApiResult<VectorParamsDiff> {
    let memory_on_disk = d.memory.map(|m| m != pb::Memory::Pinned as i32);
    Ok(VectorParamsDiff {
        hnsw_config: d.hnsw_config.as_ref().map(hnsw_diff),
        quantization_config: d
            .quantization_config
            .as_ref()
            .map(|q| quantization_diff(q, &join(path, "quantization_config")))
            .transpose()?,
        on_disk: memory_on_disk.or(d.on_disk),
    })
}

/// `UpdateCollection` -> (name, diff). Sparse vector parameters are accepted and left alone (they do
/// not change exact scoring), as the REST surface does.
pub fn update(req: &pb::UpdateCollection) -> ApiResult<(String, ConfigDiff)> {
    use pb::vectors_config_diff::Config;
    let mut diff = ConfigDiff::default();
    match req.vectors_config.as_ref().and_then(|v| v.config.as_ref()) {
        None => {}
        Some(Config::Params(d)) => {
            diff.vectors
                .insert(String::new(), vector_diff(d, "vectors_config")?);
        }
        Some(Config::ParamsMap(m)) => {
            for (name, d) in &m.map {
                diff.vectors
                    .insert(name.clone(), vector_diff(d, &join("vectors_config", name))?);
            }
        }
    }
    diff.hnsw_config = req.hnsw_config.as_ref().map(hnsw_diff);
    diff.optimizers_config = req.optimizers_config.as_ref().map(optimizers_diff);
    diff.quantization_config = req
        .quantization_config
        .as_ref()
        .map(|q| quantization_diff(q, "quantization_config"))
        .transpose()?;
    if let Some(p) = &req.params {
        diff.replication_factor = p.replication_factor;
        diff.write_consistency_factor = p.write_consistency_factor;
        diff.read_fan_out_factor = p.read_fan_out_factor;
        diff.on_disk_payload = on_disk_payload(p.on_disk_payload, &p.payload);
    }
    diff.metadata = metadata(&req.metadata)?;
    diff.strict_mode_config = req.strict_mode_config.as_ref().map(strict_mode);
    Ok((req.collection_name.clone(), diff))
}

fn config_out(c: &CollectionConfig) -> pb::CollectionConfig {
    let p = &c.params;
    pb::CollectionConfig {
        params: Some(pb::CollectionParams {
            shard_number: p.shard_number,
            on_disk_payload: p.on_disk_payload,
            vectors_config: Some(vectors_config_out(&p.vectors)),
            replication_factor: Some(p.replication_factor),
            write_consistency_factor: Some(p.write_consistency_factor),
            read_fan_out_factor: p.read_fan_out_factor,
            sharding_method: p.sharding_method.map(|m| match m {
                ShardingMethod::Auto => pb::ShardingMethod::Auto as i32,
                ShardingMethod::Custom => pb::ShardingMethod::Custom as i32,
            }),
            sparse_vectors_config: (!p.sparse_vectors.is_empty()).then(|| pb::SparseVectorConfig {
                map: p
                    .sparse_vectors
                    .iter()
                    .map(|(k, v)| (k.clone(), sparse_params_out(v)))
                    .collect(),
            }),
            read_fan_out_delay_ms: None,
            payload: None,
            id_tracker: None,
        }),
        hnsw_config: Some(hnsw_out(&c.hnsw_config)),
        optimizer_config: Some(optimizers_out(&c.optimizer_config)),
        wal_config: Some(wal_out(&c.wal_config)),
        quantization_config: c.quantization_config.as_ref().map(quantization_out),
        strict_mode_config: c.strict_mode_config.as_ref().map(strict_mode_out),
        metadata: c.metadata.as_ref().map(object_out).unwrap_or_default(),
    }
}

pub fn info_out(info: &CollectionInfo) -> pb::CollectionInfo {
    let status = match info.status {
        CollectionStatus::Green => pb::CollectionStatus::Green,
        CollectionStatus::Yellow => pb::CollectionStatus::Yellow,
        CollectionStatus::Grey => pb::CollectionStatus::Grey,
        CollectionStatus::Red => pb::CollectionStatus::Red,
    };
    pb::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(pb::OptimizerStatus {
            ok: info.optimizer_error.is_none(),
            error: info.optimizer_error.clone().unwrap_or_default(),
        }),
        segments_count: info.segments_count as u64,
        config: Some(config_out(&info.config)),
        payload_schema: info
            .payload_schema
            .iter()
            .map(|(field, (schema, points))| (field.clone(), schema_info_out(schema, *points)))
            .collect(),
        points_count: Some(info.points_count as u64),
        indexed_vectors_count: Some(info.indexed_vectors_count as u64),
        warnings: Vec::new(),
        update_queue: None,
        created_at: None,
    }
}

/// `ChangeAliases` -> alias operations, applied all or nothing by the catalog.
pub fn alias_operations(req: &pb::ChangeAliases) -> ApiResult<Vec<AliasOperation>> {
    req.actions
        .iter()
        .enumerate()
        .map(|(i, a)| match &a.action {
            Some(Action::CreateAlias(c)) => Ok(AliasOperation::Create {
                collection: c.collection_name.clone(),
                alias: c.alias_name.clone(),
            }),
            Some(Action::RenameAlias(r)) => Ok(AliasOperation::Rename {
                old: r.old_alias_name.clone(),
                new: r.new_alias_name.clone(),
            }),
            Some(Action::DeleteAlias(d)) => Ok(AliasOperation::Delete {
                alias: d.alias_name.clone(),
            }),
            None => Err(bad(
                &index("actions", i),
                "expected create_alias, rename_alias or delete_alias",
            )),
        })
        .collect()
}

/// (alias, collection) pairs -> alias descriptions.
pub fn aliases_out(pairs: Vec<(String, String)>) -> Vec<pb::AliasDescription> {
    pairs
        .into_iter()
        .map(|(alias_name, collection_name)| pb::AliasDescription {
            alias_name,
            collection_name,
        })
        .collect()
}

#[cfg(test)]
#[path = "collections_tests.rs"]
mod tests;
