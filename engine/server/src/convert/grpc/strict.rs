//! Strict mode settings: the wire message <-> the REST-shaped JSON object the engine stores (and
//! reports; Quiver does not enforce them yet).

use qdrant_client::qdrant as pb;
use serde_json::{json, Map, Value};

use super::widen;

/// Calls `$m!(field, type)` for every scalar field of `StrictModeConfig` except the float and the
/// deprecated one.
macro_rules! scalar_fields {
    ($m:ident) => {
        $m!(enabled, bool);
        $m!(max_query_limit, u32);
        $m!(max_timeout, u32);
        $m!(unindexed_filtering_retrieve, bool);
        $m!(unindexed_filtering_update, bool);
        $m!(search_max_hnsw_ef, u32);
        $m!(search_allow_exact, bool);
        $m!(upsert_max_batchsize, u64);
        $m!(search_max_batchsize, u64);
        $m!(max_collection_vector_size_bytes, u64);
        $m!(read_rate_limit, u32);
        $m!(write_rate_limit, u32);
        $m!(max_collection_payload_size_bytes, u64);
        $m!(filter_max_conditions, u64);
        $m!(condition_max_size, u64);
        $m!(max_points_count, u64);
        $m!(max_payload_index_count, u64);
    };
}

pub fn strict_mode(s: &pb::StrictModeConfig) -> Value {
    let mut o = Map::new();
    macro_rules! put {
        ($f:ident, $t:ident) => {
            if let Some(v) = s.$f {
                o.insert(stringify!($f).into(), json!(v));
            }
        };
    }
    scalar_fields!(put);
    if let Some(v) = s.search_max_oversampling {
        o.insert("search_max_oversampling".into(), json!(widen(v)));
    }
    if let Some(m) = &s.multivector_config {
        let per: Map<String, Value> = m
            .multivector_config
            .iter()
            .map(|(k, v)| (k.clone(), json!({"max_vectors": v.max_vectors})))
            .collect();
        o.insert("multivector_config".into(), Value::Object(per));
    }
    if let Some(m) = &s.sparse_config {
        let per: Map<String, Value> = m
            .sparse_config
            .iter()
            .map(|(k, v)| (k.clone(), json!({"max_length": v.max_length})))
            .collect();
        o.insert("sparse_config".into(), Value::Object(per));
    }
    Value::Object(o)
}

fn u32_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

pub fn strict_mode_out(v: &Value) -> pb::StrictModeConfig {
    let mut s = pb::StrictModeConfig::default();
    macro_rules! get {
        ($f:ident, bool) => {
            s.$f = v.get(stringify!($f)).and_then(Value::as_bool);
        };
        ($f:ident, u32) => {
            s.$f = v.get(stringify!($f)).and_then(u32_of);
        };
        ($f:ident, u64) => {
            s.$f = v.get(stringify!($f)).and_then(Value::as_u64);
        };
    }
    scalar_fields!(get);
    s.search_max_oversampling = v
        .get("search_max_oversampling")
        .and_then(Value::as_f64)
        .map(|f| f as f32);
    if let Some(m) = v.get("multivector_config").and_then(Value::as_object) {
        s.multivector_config = Some(pb::StrictModeMultivectorConfig {
            multivector_config: m
                .iter()
                .map(|(k, x)| {
                    let max_vectors = x.get("max_vectors").and_then(Value::as_u64);
                    (k.clone(), pb::StrictModeMultivector { max_vectors })
                })
                .collect(),
        });
    }
    if let Some(m) = v.get("sparse_config").and_then(Value::as_object) {
        s.sparse_config = Some(pb::StrictModeSparseConfig {
            sparse_config: m
                .iter()
                .map(|(k, x)| {
                    let max_length = x.get("max_length").and_then(Value::as_u64);
                    (k.clone(), pb::StrictModeSparse { max_length })
                })
                .collect(),
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn strict_mode_round_trips() {
        let s = pb::StrictModeConfig {
            enabled: Some(true),
            max_query_limit: Some(100),
            upsert_max_batchsize: Some(1000),
            search_max_oversampling: Some(1.5),
            sparse_config: Some(pb::StrictModeSparseConfig {
                sparse_config: HashMap::from([(
                    "s".to_string(),
                    pb::StrictModeSparse { max_length: Some(64) },
                )]),
            }),
            ..Default::default()
        };
        let v = strict_mode(&s);
        assert_eq!(v["enabled"], json!(true));
        assert_eq!(v["max_query_limit"], json!(100));
        assert_eq!(v["sparse_config"]["s"]["max_length"], json!(64));
        assert_eq!(strict_mode_out(&v), s);
    }
}
