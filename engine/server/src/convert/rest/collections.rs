//! Collection requests from REST JSON: create, update (PATCH), aliases, payload indexes.

use std::collections::BTreeMap;

use quiver_collection::config::{
    CollectionParams, HnswConfig, HnswConfigDiff, OptimizersConfig, OptimizersConfigDiff, QuantizationConfig,
    ShardingMethod, SparseVectorParams, VectorParams, VectorsConfig, WalConfig, WalConfigDiff,
};
use quiver_collection::{AliasOperation, CollectionConfig, ConfigDiff, PayloadFieldSchema, VectorParamsDiff};
use serde_json::Value;

use super::json::{array, bad, field, index, join, object, string, typed};
use crate::error::ApiResult;

/// The payload index types Qdrant knows.
pub const FIELD_TYPES: [&str; 8] = [
    "keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid",
];

fn vectors_config(v: &Value, path: &str) -> ApiResult<VectorsConfig> {
    let o = object(v, path)?;
    if o.contains_key("size") || o.contains_key("distance") {
        return Ok(VectorsConfig::Single(typed::<VectorParams>(v, path)?));
    }
    let mut named = BTreeMap::new();
    for (name, p) in o {
        named.insert(name.clone(), typed::<VectorParams>(p, &join(path, name))?);
    }
    Ok(VectorsConfig::Named(named))
}

/// Qdrant accepts quantization `"Disabled"` in updates to turn it off.
fn quantization(v: &Value, path: &str) -> ApiResult<Option<QuantizationConfig>> {
    match v {
        Value::String(s) if s.eq_ignore_ascii_case("disabled") => Ok(None),
        _ => typed::<QuantizationConfig>(v, path).map(Some),
    }
}

fn opt<T: serde::de::DeserializeOwned>(body: &Value, key: &str) -> ApiResult<Option<T>> {
    field(body, key).map(|v| typed::<T>(v, key)).transpose()
}

/// `PUT /collections/{name}` body -> a full config with Qdrant's defaults.
pub fn create_body(body: &Value) -> ApiResult<CollectionConfig> {
    object(body, "")?;
    if field(body, "init_from").is_some() {
        return Err(bad(
            "init_from",
            "is not supported (removed in Qdrant 1.16): use snapshots",
        ));
    }
    let vectors = match field(body, "vectors") {
        Some(v) => vectors_config(v, "vectors")?,
        None => VectorsConfig::Named(BTreeMap::new()),
    };
    let mut hnsw = HnswConfig::default();
    if let Some(d) = opt::<HnswConfigDiff>(body, "hnsw_config")? {
        d.validate("hnsw_config.")?;
        d.apply(&mut hnsw);
    }
    let mut optimizers = OptimizersConfig::default();
    if let Some(d) = opt::<OptimizersConfigDiff>(body, "optimizers_config")? {
        d.validate()?;
        d.apply(&mut optimizers);
    }
    let mut wal = WalConfig::default();
    if let Some(d) = opt::<WalConfigDiff>(body, "wal_config")? {
        if let Some(v) = d.wal_capacity_mb {
            wal.wal_capacity_mb = v;
        }
        if let Some(v) = d.wal_segments_ahead {
            wal.wal_segments_ahead = v;
        }
    }
    let quantization_config = field(body, "quantization_config")
        .map(|q| quantization(q, "quantization_config"))
        .transpose()?
        .flatten();
    let config = CollectionConfig {
        params: CollectionParams {
            vectors,
            shard_number: opt::<u32>(body, "shard_number")?.unwrap_or(1),
            sharding_method: opt::<ShardingMethod>(body, "sharding_method")?,
            replication_factor: opt::<u32>(body, "replication_factor")?.unwrap_or(1),
            write_consistency_factor: opt::<u32>(body, "write_consistency_factor")?.unwrap_or(1),
            read_fan_out_factor: None,
            on_disk_payload: opt::<bool>(body, "on_disk_payload")?.unwrap_or(true),
            sparse_vectors: opt::<BTreeMap<String, SparseVectorParams>>(body, "sparse_vectors")?
                .unwrap_or_default(),
        },
        hnsw_config: hnsw,
        optimizer_config: optimizers,
        wal_config: wal,
        quantization_config,
        strict_mode_config: opt::<Value>(body, "strict_mode_config")?,
        metadata: opt::<serde_json::Map<String, Value>>(body, "metadata")?,
    };
    config.validate()?;
    Ok(config)
}

/// `PATCH /collections/{name}` body.
pub fn update_body(body: &Value) -> ApiResult<ConfigDiff> {
    object(body, "")?;
    let mut diff = ConfigDiff::default();
    if let Some(v) = field(body, "vectors") {
        for (name, d) in object(v, "vectors")? {
            let p = join("vectors", name);
            diff.vectors.insert(
                name.clone(),
                VectorParamsDiff {
                    hnsw_config: field(d, "hnsw_config")
                        .map(|h| typed(h, &join(&p, "hnsw_config")))
                        .transpose()?,
                    quantization_config: field(d, "quantization_config")
                        .map(|q| quantization(q, &join(&p, "quantization_config")))
                        .transpose()?,
                    on_disk: field(d, "on_disk")
                        .map(|b| typed(b, &join(&p, "on_disk")))
                        .transpose()?,
                },
            );
        }
    }
    diff.hnsw_config = opt(body, "hnsw_config")?;
    diff.optimizers_config = opt(body, "optimizers_config")?;
    diff.wal_config = opt(body, "wal_config")?;
    diff.quantization_config = field(body, "quantization_config")
        .map(|q| quantization(q, "quantization_config"))
        .transpose()?;
    if let Some(p) = field(body, "params") {
        diff.replication_factor = field(p, "replication_factor")
            .map(|v| typed(v, "params.replication_factor"))
            .transpose()?;
        diff.write_consistency_factor = field(p, "write_consistency_factor")
            .map(|v| typed(v, "params.write_consistency_factor"))
            .transpose()?;
        diff.read_fan_out_factor = field(p, "read_fan_out_factor")
            .map(|v| typed(v, "params.read_fan_out_factor"))
            .transpose()?;
        diff.on_disk_payload = field(p, "on_disk_payload")
            .map(|v| typed(v, "params.on_disk_payload"))
            .transpose()?;
    }
    diff.metadata = opt(body, "metadata")?;
    diff.strict_mode_config = opt(body, "strict_mode_config")?;
    if field(body, "sparse_vectors").is_some() {
        // Sparse vector parameters (index, modifier) are accepted; nothing to change for exact scoring.
    }
    Ok(diff)
}

/// `POST /collections/aliases` body.
pub fn alias_actions(body: &Value) -> ApiResult<Vec<AliasOperation>> {
    let actions = field(body, "actions").ok_or_else(|| bad("", "`actions` is required"))?;
    array(actions, "actions")?
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let p = index("actions", i);
            let s = |obj: &Value, key: &str, p: &str| -> ApiResult<String> {
                Ok(string(
                    field(obj, key).ok_or_else(|| bad(p, format!("`{key}` is required")))?,
                    &join(p, key),
                )?
                .to_string())
            };
            if let Some(c) = field(a, "create_alias") {
                let cp = join(&p, "create_alias");
                Ok(AliasOperation::Create {
                    collection: s(c, "collection_name", &cp)?,
                    alias: s(c, "alias_name", &cp)?,
                })
            } else if let Some(d) = field(a, "delete_alias") {
                Ok(AliasOperation::Delete {
                    alias: s(d, "alias_name", &join(&p, "delete_alias"))?,
                })
            } else if let Some(r) = field(a, "rename_alias") {
                let rp = join(&p, "rename_alias");
                Ok(AliasOperation::Rename {
                    old: s(r, "old_alias_name", &rp)?,
                    new: s(r, "new_alias_name", &rp)?,
                })
            } else {
                Err(bad(&p, "expected create_alias, delete_alias or rename_alias"))
            }
        })
        .collect()
}

/// `PUT /collections/{name}/index` body -> (field, schema).
pub fn create_index(body: &Value) -> ApiResult<(String, PayloadFieldSchema)> {
    let name = string(
        field(body, "field_name").ok_or_else(|| bad("", "`field_name` is required"))?,
        "field_name",
    )?;
    let schema = match field(body, "field_schema") {
        None => return Err(bad("field_schema", "is required")),
        Some(Value::String(t)) => PayloadFieldSchema {
            data_type: t.to_lowercase(),
            params: None,
        },
        Some(o @ Value::Object(_)) => {
            let t = string(
                field(o, "type").ok_or_else(|| bad("field_schema", "`type` is required"))?,
                "field_schema.type",
            )?;
            PayloadFieldSchema {
                data_type: t.to_lowercase(),
                params: Some(o.clone()),
            }
        }
        Some(_) => {
            return Err(bad(
                "field_schema",
                "expected a type name or an object with `type`",
            ))
        }
    };
    if !FIELD_TYPES.contains(&schema.data_type.as_str()) {
        return Err(bad(
            "field_schema",
            format!(
                "unknown type `{}`: expected one of {}",
                schema.data_type,
                FIELD_TYPES.join(", ")
            ),
        ));
    }
    Ok((name.to_string(), schema))
}
