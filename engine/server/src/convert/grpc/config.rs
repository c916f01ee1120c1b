//! The pieces of a collection config, both ways: distance, vector params, sparse vector params,
//! HNSW, optimizers, WAL, quantization and strict mode.
//!
//! The engine keeps configs in Qdrant's REST shape (strings such as `"int8"`, `"x16"`, `"float16"`,
//! `"idf"`); the wire uses enums. `memory` placements map onto the older flags: `Pinned` is RAM
//! (`on_disk: false`, `always_ram: true`), `Cold`/`Cached` are disk.
#![allow(deprecated)] // `on_disk`, `always_ram`: deprecated on the wire, still what clients send and read.

use std::collections::BTreeMap;

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::quantization_config::Quantization as Q;
use qdrant_client::qdrant::quantization_config_diff::Quantization as QDiff;
use quiver_collection::config::{
    BinaryQuantization, HnswConfig, HnswConfigDiff, OptimizersConfig, OptimizersConfigDiff,
    ProductQuantization, QuantizationConfig, ScalarQuantization, SparseVectorParams, VectorParams,
    VectorsConfig, WalConfig, WalConfigDiff,
};
use quiver_types::Distance;
use serde_json::{json, Value};

use super::{bad, join, widen};
use crate::error::ApiResult;

/// Looks a wire enum value up in a table of (wire, engine) pairs.
fn lookup<T: Copy>(v: i32, table: &[(i32, T)], path: &str, what: &str) -> ApiResult<T> {
    table
        .iter()
        .find(|(w, _)| *w == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| bad(path, format!("{v} is not a supported {what}")))
}

/// The reverse of [`lookup`]; unknown engine values (never written by Quiver) become `None`.
fn reverse<T: PartialEq + ?Sized>(v: &T, table: &[(i32, &T)]) -> Option<i32> {
    table.iter().find(|(_, t)| *t == v).map(|(w, _)| *w)
}

const DISTANCES: [(i32, Distance); 4] = [
    (pb::Distance::Cosine as i32, Distance::Cosine),
    (pb::Distance::Euclid as i32, Distance::Euclid),
    (pb::Distance::Dot as i32, Distance::Dot),
    (pb::Distance::Manhattan as i32, Distance::Manhattan),
];
const DATATYPES: [(i32, &str); 3] = [
    (pb::Datatype::Float32 as i32, "float32"),
    (pb::Datatype::Uint8 as i32, "uint8"),
    (pb::Datatype::Float16 as i32, "float16"),
];
const COMPRESSIONS: [(i32, &str); 5] = [
    (pb::CompressionRatio::X4 as i32, "x4"),
    (pb::CompressionRatio::X8 as i32, "x8"),
    (pb::CompressionRatio::X16 as i32, "x16"),
    (pb::CompressionRatio::X32 as i32, "x32"),
    (pb::CompressionRatio::X64 as i32, "x64"),
];
const ENCODINGS: [(i32, &str); 3] = [
    (pb::BinaryQuantizationEncoding::OneBit as i32, "one_bit"),
    (pb::BinaryQuantizationEncoding::TwoBits as i32, "two_bits"),
    (
        pb::BinaryQuantizationEncoding::OneAndHalfBits as i32,
        "one_and_half_bits",
    ),
];
const QUERY_ENCODINGS: [(i32, &str); 4] = [
    (
        pb::binary_quantization_query_encoding::Setting::Default as i32,
        "default",
    ),
    (
        pb::binary_quantization_query_encoding::Setting::Binary as i32,
        "binary",
    ),
    (
        pb::binary_quantization_query_encoding::Setting::Scalar4Bits as i32,
        "scalar4bits",
    ),
    (
        pb::binary_quantization_query_encoding::Setting::Scalar8Bits as i32,
        "scalar8bits",
    ),
];
const MODIFIERS: [(i32, &str); 2] = [
    (pb::Modifier::None as i32, "none"),
    (pb::Modifier::Idf as i32, "idf"),
];

pub fn distance(v: i32, path: &str) -> ApiResult<Distance> {
    lookup(v, &DISTANCES, path, "distance (Cosine, Euclid, Dot, Manhattan)")
}

fn distance_out(d: Distance) -> i32 {
    DISTANCES.iter().find(|(_, x)| *x == d).map_or(0, |(w, _)| *w)
}

fn datatype(v: i32, path: &str) -> ApiResult<Option<String>> {
    if v == pb::Datatype::Default as i32 {
        return Ok(None);
    }
    lookup(v, &DATATYPES, path, "datatype (float32, uint8, float16)").map(|s| Some(s.to_string()))
}

/// A `memory` placement as "is it on disk?".
fn on_disk(flag: Option<bool>, memory: Option<i32>) -> Option<bool> {
    match memory {
        Some(m) if m == pb::Memory::Pinned as i32 => Some(false),
        Some(m) if m == pb::Memory::Cold as i32 || m == pb::Memory::Cached as i32 => Some(true),
        _ => flag,
    }
}

fn always_ram(flag: Option<bool>, memory: Option<i32>) -> Option<bool> {
    on_disk(flag.map(|b| !b), memory).map(|d| !d)
}

pub fn hnsw_diff(h: &pb::HnswConfigDiff) -> HnswConfigDiff {
    HnswConfigDiff {
        m: h.m,
        ef_construct: h.ef_construct,
        full_scan_threshold: h.full_scan_threshold,
        max_indexing_threads: h.max_indexing_threads,
        on_disk: on_disk(h.on_disk, h.memory),
        payload_m: h.payload_m,
    }
}

pub fn hnsw_diff_out(h: &HnswConfigDiff) -> pb::HnswConfigDiff {
    pb::HnswConfigDiff {
        m: h.m,
        ef_construct: h.ef_construct,
        full_scan_threshold: h.full_scan_threshold,
        max_indexing_threads: h.max_indexing_threads,
        on_disk: h.on_disk,
        payload_m: h.payload_m,
        ..Default::default()
    }
}

pub fn hnsw_out(h: &HnswConfig) -> pb::HnswConfigDiff {
    pb::HnswConfigDiff {
        m: Some(h.m),
        ef_construct: Some(h.ef_construct),
        full_scan_threshold: Some(h.full_scan_threshold),
        max_indexing_threads: Some(h.max_indexing_threads),
        on_disk: Some(h.on_disk),
        payload_m: h.payload_m,
        ..Default::default()
    }
}

pub fn optimizers_diff(o: &pb::OptimizersConfigDiff) -> OptimizersConfigDiff {
    use pb::max_optimization_threads::Variant;
    let threads = match o.max_optimization_threads.as_ref().and_then(|t| t.variant) {
        Some(Variant::Value(n)) => Some(n),
        // `Auto` is the engine's default (none set).
        Some(Variant::Setting(_)) | None => o.deprecated_max_optimization_threads,
    };
    OptimizersConfigDiff {
        deleted_threshold: o.deleted_threshold,
        vacuum_min_vector_number: o.vacuum_min_vector_number,
        default_segment_number: o.default_segment_number,
        max_segment_size: o.max_segment_size,
        memmap_threshold: o.memmap_threshold,
        indexing_threshold: o.indexing_threshold,
        flush_interval_sec: o.flush_interval_sec,
        max_optimization_threads: threads,
    }
}

pub fn optimizers_out(o: &OptimizersConfig) -> pb::OptimizersConfigDiff {
    use pb::max_optimization_threads::{Setting, Variant};
    let threads = match o.max_optimization_threads {
        Some(n) => Variant::Value(n),
        None => Variant::Setting(Setting::Auto as i32),
    };
    pb::OptimizersConfigDiff {
        deleted_threshold: Some(o.deleted_threshold),
        vacuum_min_vector_number: Some(o.vacuum_min_vector_number),
        default_segment_number: Some(o.default_segment_number),
        max_segment_size: o.max_segment_size,
        memmap_threshold: o.memmap_threshold,
        indexing_threshold: o.indexing_threshold,
        flush_interval_sec: Some(o.flush_interval_sec),
        deprecated_max_optimization_threads: None,
        max_optimization_threads: Some(pb::MaxOptimizationThreads {
            variant: Some(threads),
        }),
        prevent_unoptimized: None,
    }
}

pub fn wal_diff(w: &pb::WalConfigDiff) -> WalConfigDiff {
    WalConfigDiff {
        wal_capacity_mb: w.wal_capacity_mb,
        wal_segments_ahead: w.wal_segments_ahead,
    }
}

pub fn wal_out(w: &WalConfig) -> pb::WalConfigDiff {
    pb::WalConfigDiff {
        wal_capacity_mb: Some(w.wal_capacity_mb),
        wal_segments_ahead: Some(w.wal_segments_ahead),
        wal_retain_closed: None,
    }
}

fn scalar(s: &pb::ScalarQuantization, path: &str) -> ApiResult<QuantizationConfig> {
    if s.r#type != pb::QuantizationType::Int8 as i32 {
        return Err(bad(&join(path, "scalar.type"), "only Int8 is supported"));
    }
    Ok(QuantizationConfig::Scalar(ScalarQuantization {
        kind: "int8".into(),
        quantile: s.quantile.map(widen),
        always_ram: always_ram(s.always_ram, s.memory),
    }))
}

fn product(p: &pb::ProductQuantization, path: &str) -> ApiResult<QuantizationConfig> {
    let compression = lookup(
        p.compression,
        &COMPRESSIONS,
        &join(path, "product.compression"),
        "compression",
    )?;
    Ok(QuantizationConfig::Product(ProductQuantization {
        compression: compression.into(),
        always_ram: always_ram(p.always_ram, p.memory),
    }))
}

fn binary(b: &pb::BinaryQuantization, path: &str) -> ApiResult<QuantizationConfig> {
    use pb::binary_quantization_query_encoding::Variant;
    let encoding = b
        .encoding
        .map(|e| lookup(e, &ENCODINGS, &join(path, "binary.encoding"), "encoding"))
        .transpose()?;
    let query_encoding = match b.query_encoding.and_then(|q| q.variant) {
        Some(Variant::Setting(s)) => Some(lookup(
            s,
            &QUERY_ENCODINGS,
            &join(path, "binary.query_encoding"),
            "query encoding",
        )?),
        None => None,
    };
    Ok(QuantizationConfig::Binary(BinaryQuantization {
        always_ram: always_ram(b.always_ram, b.memory),
        encoding: encoding.map(str::to_string),
        query_encoding: query_encoding.map(str::to_string),
    }))
}

const TURBO: &str = "turbo quantization is not supported";

pub fn quantization(q: &pb::QuantizationConfig, path: &str) -> ApiResult<QuantizationConfig> {
    match &q.quantization {
        Some(Q::Scalar(s)) => scalar(s, path),
        Some(Q::Product(p)) => product(p, path),
        Some(Q::Binary(b)) => binary(b, path),
        Some(Q::Turboquant(_)) => Err(bad(&join(path, "turboquant"), TURBO)),
        None => Err(bad(path, "expected scalar, product or binary")),
    }
}

/// An update's quantization: `Some(None)` disables it.
pub fn quantization_diff(
    q: &pb::QuantizationConfigDiff,
    path: &str,
) -> ApiResult<Option<QuantizationConfig>> {
    match &q.quantization {
        Some(QDiff::Scalar(s)) => scalar(s, path).map(Some),
        Some(QDiff::Product(p)) => product(p, path).map(Some),
        Some(QDiff::Binary(b)) => binary(b, path).map(Some),
        Some(QDiff::Disabled(_)) => Ok(None),
        Some(QDiff::Turboquant(_)) => Err(bad(&join(path, "turboquant"), TURBO)),
        None => Err(bad(path, "expected scalar, product, binary or disabled")),
    }
}

pub fn quantization_out(q: &QuantizationConfig) -> pb::QuantizationConfig {
    let inner = match q {
        QuantizationConfig::Scalar(s) => Q::Scalar(pb::ScalarQuantization {
            r#type: pb::QuantizationType::Int8 as i32,
            quantile: s.quantile.map(|v| v as f32),
            always_ram: s.always_ram,
            memory: None,
        }),
        QuantizationConfig::Product(p) => Q::Product(pb::ProductQuantization {
            compression: reverse(p.compression.as_str(), &COMPRESSIONS).unwrap_or_default(),
            always_ram: p.always_ram,
            memory: None,
        }),
        QuantizationConfig::Binary(b) => Q::Binary(pb::BinaryQuantization {
            always_ram: b.always_ram,
            encoding: b.encoding.as_deref().and_then(|e| reverse(e, &ENCODINGS)),
            query_encoding: b
                .query_encoding
                .as_deref()
                .and_then(|e| reverse(e, &QUERY_ENCODINGS))
                .map(|s| pb::BinaryQuantizationQueryEncoding {
                    variant: Some(pb::binary_quantization_query_encoding::Variant::Setting(s)),
                }),
            memory: None,
        }),
    };
    pb::QuantizationConfig {
        quantization: Some(inner),
    }
}

pub fn vector_params(p: &pb::VectorParams, path: &str) -> ApiResult<VectorParams> {
    Ok(VectorParams {
        size: p.size,
        distance: distance(p.distance, &join(path, "distance"))?,
        hnsw_config: p.hnsw_config.as_ref().map(hnsw_diff),
        quantization_config: p
            .quantization_config
            .as_ref()
            .map(|q| quantization(q, &join(path, "quantization_config")))
            .transpose()?,
        on_disk: on_disk(p.on_disk, p.memory),
        datatype: p
            .datatype
            .map(|d| datatype(d, &join(path, "datatype")))
            .transpose()?
            .flatten(),
        multivector_config: p.multivector_config.map(|_| json!({"comparator": "max_sim"})),
    })
}

pub fn vector_params_out(p: &VectorParams) -> pb::VectorParams {
    pb::VectorParams {
        size: p.size,
        distance: distance_out(p.distance),
        hnsw_config: p.hnsw_config.as_ref().map(hnsw_diff_out),
        quantization_config: p.quantization_config.as_ref().map(quantization_out),
        on_disk: p.on_disk,
        datatype: p.datatype.as_deref().and_then(|d| reverse(d, &DATATYPES)),
        multivector_config: p.multivector_config.as_ref().map(|_| pb::MultiVectorConfig {
            comparator: pb::MultiVectorComparator::MaxSim as i32,
        }),
        memory: None,
    }
}

pub fn vectors_config(v: &pb::VectorsConfig, path: &str) -> ApiResult<VectorsConfig> {
    use pb::vectors_config::Config;
    match &v.config {
        Some(Config::Params(p)) => Ok(VectorsConfig::Single(vector_params(p, path)?)),
        Some(Config::ParamsMap(m)) => m
            .map
            .iter()
            .map(|(name, p)| Ok((name.clone(), vector_params(p, &join(path, name))?)))
            .collect::<ApiResult<BTreeMap<_, _>>>()
            .map(VectorsConfig::Named),
        None => Err(bad(path, "expected params or params_map")),
    }
}

pub fn vectors_config_out(v: &VectorsConfig) -> pb::VectorsConfig {
    use pb::vectors_config::Config;
    let config = match v {
        VectorsConfig::Single(p) => Config::Params(vector_params_out(p)),
        VectorsConfig::Named(m) => Config::ParamsMap(pb::VectorParamsMap {
            map: m.iter().map(|(k, p)| (k.clone(), vector_params_out(p))).collect(),
        }),
    };
    pb::VectorsConfig { config: Some(config) }
}

pub fn sparse_params(p: &pb::SparseVectorParams, path: &str) -> ApiResult<SparseVectorParams> {
    let index = match &p.index {
        None => None,
        Some(i) => {
            let mut o = serde_json::Map::new();
            if let Some(t) = i.full_scan_threshold {
                o.insert("full_scan_threshold".into(), json!(t));
            }
            if let Some(d) = on_disk(i.on_disk, i.memory) {
                o.insert("on_disk".into(), json!(d));
            }
            if let Some(d) = i
                .datatype
                .map(|d| datatype(d, &join(path, "index.datatype")))
                .transpose()?
            {
                o.insert("datatype".into(), json!(d));
            }
            Some(Value::Object(o))
        }
    };
    let modifier = p
        .modifier
        .map(|m| lookup(m, &MODIFIERS, &join(path, "modifier"), "modifier (None, Idf)"))
        .transpose()?;
    Ok(SparseVectorParams {
        index,
        modifier: modifier.map(str::to_string),
    })
}

pub fn sparse_params_out(p: &SparseVectorParams) -> pb::SparseVectorParams {
    let index = p.index.as_ref().map(|i| pb::SparseIndexConfig {
        full_scan_threshold: i.get("full_scan_threshold").and_then(Value::as_u64),
        on_disk: i.get("on_disk").and_then(Value::as_bool),
        datatype: i
            .get("datatype")
            .and_then(Value::as_str)
            .and_then(|d| reverse(d, &DATATYPES)),
        memory: None,
    });
    pb::SparseVectorParams {
        index,
        modifier: p.modifier.as_deref().and_then(|m| reverse(m, &MODIFIERS)),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
