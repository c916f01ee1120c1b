//! A `VectorCollection` as engine requests: the body that creates it, the PATCH that brings a
//! live collection's mutable settings to the declared ones (only fields the user declared are
//! compared, so engine defaults never show up as drift), the immutable differences that stall
//! it, and the payload index changes. Pure: the collection reconciler sends what these return.

use serde_json::{json, Map, Value};

use crate::crd::collection::{Hnsw, Optimizers, Quantization, ShardingMethod};
use crate::crd::VectorCollectionSpec;

fn distance(d: crate::crd::collection::Distance) -> &'static str {
    use crate::crd::collection::Distance::*;
    match d {
        Cosine => "Cosine",
        Dot => "Dot",
        Euclid => "Euclid",
        Manhattan => "Manhattan",
    }
}

fn vectors(spec: &VectorCollectionSpec) -> Value {
    let one = |v: &crate::crd::collection::DenseVector| {
        let mut m = json!({"size": v.size, "distance": distance(v.distance)});
        if let Some(on_disk) = v.on_disk {
            m["on_disk"] = json!(on_disk);
        }
        m
    };
    match spec.vectors.get("") {
        Some(v) if spec.vectors.len() == 1 => one(v),
        _ => Value::Object(spec.vectors.iter().map(|(k, v)| (k.clone(), one(v))).collect()),
    }
}

fn hnsw(h: &Hnsw) -> Value {
    drop_nulls(json!({
        "m": h.m, "ef_construct": h.ef_construct, "full_scan_threshold": h.full_scan_threshold,
        "payload_m": h.payload_m, "on_disk": h.on_disk,
    }))
}

fn optimizers(o: &Optimizers) -> Value {
    drop_nulls(json!({
        "indexing_threshold": o.indexing_threshold,
        "default_segment_number": o.default_segment_number,
        "deleted_threshold": o.deleted_threshold,
    }))
}

fn quantization(q: &Quantization) -> Value {
    json!({"scalar": drop_nulls(json!({"type": "int8", "quantile": q.quantile, "always_ram": q.always_ram}))})
}

fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// `PUT /collections/{name}`.
pub fn create_body(spec: &VectorCollectionSpec) -> Value {
    let mut b = Map::new();
    if !spec.vectors.is_empty() {
        b.insert("vectors".into(), vectors(spec));
    }
    if !spec.sparse_vectors.is_empty() {
        let sparse = spec
            .sparse_vectors
            .iter()
            .map(|(k, v)| (k.clone(), drop_nulls(json!({"modifier": v.modifier}))))
            .collect();
        b.insert("sparse_vectors".into(), Value::Object(sparse));
    }
    if spec.sharding.method == ShardingMethod::Custom {
        b.insert("sharding_method".into(), json!("custom"));
    }
    if let Some(n) = spec.sharding.shard_number {
        b.insert("shard_number".into(), json!(n));
    }
    b.insert("replication_factor".into(), json!(spec.replication_factor));
    b.insert(
        "write_consistency_factor".into(),
        json!(spec.write_consistency_factor),
    );
    if let Some(h) = &spec.hnsw {
        b.insert("hnsw_config".into(), hnsw(h));
    }
    if let Some(o) = &spec.optimizers {
        b.insert("optimizers_config".into(), optimizers(o));
    }
    if let Some(q) = &spec.quantization {
        b.insert("quantization_config".into(), quantization(q));
    }
    if spec.bootstrap.is_some() {
        b.insert("metadata".into(), json!({RESTORE_MARK: RESTORE_PENDING}));
    }
    Value::Object(b)
}

/// Collection metadata key marking a collection the operator created to restore into: `pending`
/// until every shard is recovered, then `done`. Kept in the engine, so it survives a lost status.
pub const RESTORE_MARK: &str = "quiver.dev/restore";
pub const RESTORE_PENDING: &str = "pending";
pub const RESTORE_DONE: &str = "done";

/// Whether a bootstrap resource should adopt the collection it found instead of restoring: it
/// holds points and was not created by the operator for a restore still to finish (a resource
/// applied again after a Retain delete, say; restoring would overwrite live data).
pub fn adopt_instead_of_restoring(info: &Value) -> bool {
    let points = info["points_count"].as_u64().unwrap_or(0);
    let pending = info["config"]["metadata"][RESTORE_MARK] == RESTORE_PENDING;
    points > 0 && !pending
}

/// Declared fields of `want` that `have` does not have the same value for.
fn differing(want: &Value, have: Option<&Value>) -> Option<Value> {
    let want = want.as_object()?;
    let diff: Map<String, Value> = want
        .iter()
        .filter(|(k, v)| {
            let h = have.and_then(|h| h.get(k.as_str()));
            match (v.as_f64(), h.and_then(Value::as_f64)) {
                (Some(a), Some(b)) => (a - b).abs() > 1e-9,
                _ => h != Some(v),
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!diff.is_empty()).then_some(Value::Object(diff))
}

/// `PATCH /collections/{name}` bringing the mutable settings of the live collection (`info`,
/// the `result` of `GET /collections/{name}`) to the declared ones, or None when they agree.
pub fn mutable_patch(spec: &VectorCollectionSpec, info: &Value) -> Option<Value> {
    let config = &info["config"];
    let mut patch = Map::new();
    if let Some(h) = &spec.hnsw {
        if let Some(d) = differing(&hnsw(h), config.get("hnsw_config")) {
            patch.insert("hnsw_config".into(), d);
        }
    }
    if let Some(o) = &spec.optimizers {
        if let Some(d) = differing(&optimizers(o), config.get("optimizer_config")) {
            patch.insert("optimizers_config".into(), d);
        }
    }
    if let Some(q) = &spec.quantization {
        let want = quantization(q);
        let have = config.get("quantization_config").and_then(|c| c.get("scalar"));
        if differing(&want["scalar"], have).is_some() {
            patch.insert("quantization_config".into(), want);
        }
    }
    let params = json!({
        "replication_factor": spec.replication_factor,
        "write_consistency_factor": spec.write_consistency_factor,
    });
    if let Some(d) = differing(&params, config.get("params")) {
        patch.insert("params".into(), d);
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// What differs in fields that cannot change on a live collection (None: nothing).
pub fn immutable_drift(spec: &VectorCollectionSpec, info: &Value) -> Option<String> {
    let params = &info["config"]["params"];
    let have = &params["vectors"];
    let want = vectors(spec);
    let single = |v: &Value| v.get("size").is_some();
    let pairs: Vec<(String, Value, Value)> = if single(&want) || single(have) {
        vec![(String::new(), want.clone(), have.clone())]
    } else {
        let names: std::collections::BTreeSet<String> = want
            .as_object()
            .into_iter()
            .chain(have.as_object())
            .flat_map(|m| m.keys().cloned())
            .collect();
        names
            .into_iter()
            .map(|n| (n.clone(), want[&n].clone(), have[&n].clone()))
            .collect()
    };
    for (name, w, h) in pairs {
        for field in ["size", "distance"] {
            if w.get(field) != h.get(field) {
                let label = if name.is_empty() {
                    "vectors".to_string()
                } else {
                    format!("vectors.{name}")
                };
                return Some(format!(
                    "{label}.{field} is {} in the engine, {} declared; vectors cannot change: create a new collection",
                    h.get(field).unwrap_or(&Value::Null),
                    w.get(field).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    // Sparse vectors by name (their settings may be filled in with engine defaults).
    let have_sparse: std::collections::BTreeSet<String> = params["sparse_vectors"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let want_sparse: std::collections::BTreeSet<String> = spec.sparse_vectors.keys().cloned().collect();
    if have_sparse != want_sparse {
        return Some(format!(
            "sparseVectors are {have_sparse:?} in the engine, {want_sparse:?} declared; they cannot change: create a new collection"
        ));
    }
    let method = params["sharding_method"].as_str().unwrap_or("auto");
    let want_method = if spec.sharding.method == ShardingMethod::Custom {
        "custom"
    } else {
        "auto"
    };
    if method != want_method {
        return Some(format!(
            "sharding.method is {method} in the engine, {want_method} declared"
        ));
    }
    if let (Some(w), Some(h)) = (spec.sharding.shard_number, params["shard_number"].as_u64()) {
        if want_method == "auto" && u64::from(w) != h {
            return Some(format!(
                "sharding.shardNumber is {h} in the engine, {w} declared; resharding is not supported"
            ));
        }
    }
    None
}

/// One payload index request.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexChange {
    /// `PUT /collections/{name}/index` with this body.
    Create(Value),
    /// `DELETE /collections/{name}/index/{field}` (its type changed; created again after).
    Drop(String),
}

/// The index changes that bring `info.payload_schema` to the declared indexes. Undeclared
/// indexes are left alone: someone else may have made them.
pub fn index_changes(spec: &VectorCollectionSpec, info: &Value) -> Vec<IndexChange> {
    let schema = &info["payload_schema"];
    let mut out = Vec::new();
    for ix in &spec.payload_indexes {
        let have = schema.get(&ix.field);
        let field_schema = if ix.is_tenant {
            json!({"type": ix.schema, "is_tenant": true})
        } else {
            json!(ix.schema)
        };
        let body = json!({"field_name": ix.field, "field_schema": field_schema});
        match have.and_then(|h| h["data_type"].as_str()) {
            None => out.push(IndexChange::Create(body)),
            Some(t) if t != ix.schema => {
                out.push(IndexChange::Drop(ix.field.clone()));
                out.push(IndexChange::Create(body));
            }
            Some(_) => {}
        }
    }
    out
}

/// Which replica of a shard to drop when it has more than `want`: none while any replica is not
/// Active (a copy in flight, a recovery), else the one on the most loaded peer (`load` counts
/// a peer's replicas over every collection), the highest peer id among equals, so repeated
/// reconciles pick the same one.
pub fn replica_to_drop(
    replicas: &std::collections::BTreeMap<u64, crate::engine::ReplicaState>,
    want: usize,
    load: impl Fn(u64) -> usize,
) -> Option<u64> {
    let all_active = replicas
        .values()
        .all(|r| *r == crate::engine::ReplicaState::Active);
    if replicas.len() <= want.max(1) || !all_active {
        return None;
    }
    replicas.keys().copied().max_by_key(|p| (load(*p), *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_in_progress_is_never_adopted() {
        let with = |points: u64, mark: Value| json!({"points_count": points, "config": {"metadata": {RESTORE_MARK: mark}}});
        assert!(
            !adopt_instead_of_restoring(&with(0, Value::Null)),
            "empty: restore"
        );
        assert!(
            !adopt_instead_of_restoring(&with(300, json!(RESTORE_PENDING))),
            "half restored: restore again"
        );
        assert!(adopt_instead_of_restoring(&with(300, json!(RESTORE_DONE))));
        assert!(
            adopt_instead_of_restoring(&json!({"points_count": 5, "config": {}})),
            "someone else's collection"
        );
        let s = spec(json!({"bootstrap": {"backup": "b"}}));
        assert_eq!(create_body(&s)["metadata"][RESTORE_MARK], RESTORE_PENDING);
        assert!(create_body(&spec(json!({}))).get("metadata").is_none());
    }

    #[test]
    fn changed_sparse_vectors_are_an_immutable_drift() {
        let s = spec(json!({"sparseVectors": {"text": {}}}));
        let mut i = info(json!({"vectors": {"size": 4, "distance": "Cosine"}}), json!({}));
        assert!(immutable_drift(&s, &i).unwrap().contains("sparseVectors"));
        i["config"]["params"]["sparse_vectors"] = json!({"text": {"modifier": "none"}});
        assert_eq!(immutable_drift(&s, &i), None);
        assert!(immutable_drift(&spec(json!({})), &i)
            .unwrap()
            .contains("sparseVectors"));
    }

    #[test]
    fn the_replica_dropped_is_on_the_busiest_peer_and_never_the_last() {
        use crate::engine::ReplicaState::{Active, Partial};
        let three: std::collections::BTreeMap<u64, _> = [(1, Active), (2, Active), (3, Active)].into();
        let load = |p: u64| if p == 2 { 5 } else { 1 };
        assert_eq!(replica_to_drop(&three, 2, load), Some(2));
        assert_eq!(
            replica_to_drop(&three, 2, |_| 0),
            Some(3),
            "ties go to the highest id"
        );
        assert_eq!(replica_to_drop(&three, 3, load), None);
        // replicationFactor 0 is never a reason to drop the last replica.
        let one: std::collections::BTreeMap<u64, _> = [(1, Active)].into();
        assert_eq!(replica_to_drop(&one, 0, load), None);
        let copying: std::collections::BTreeMap<u64, _> = [(1, Active), (2, Partial), (3, Active)].into();
        assert_eq!(replica_to_drop(&copying, 1, load), None);
    }

    fn spec(extra: Value) -> VectorCollectionSpec {
        let mut base = json!({
            "clusterRef": "vec",
            "vectors": {"": {"size": 4, "distance": "Cosine"}},
            "replicationFactor": 2,
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap_or_else(|e| panic!("{e}"))
    }

    fn info(params: Value, hnsw: Value) -> Value {
        json!({"config": {"params": params, "hnsw_config": hnsw, "optimizer_config": {}}, "payload_schema": {}})
    }

    #[test]
    fn an_unnamed_vector_is_sent_as_one_and_settings_are_declared_only() {
        let s = spec(json!({"hnsw": {"m": 32}}));
        let b = create_body(&s);
        assert_eq!(b["vectors"], json!({"size": 4, "distance": "Cosine"}));
        assert_eq!(b["hnsw_config"], json!({"m": 32}));
        assert_eq!(b["replication_factor"], json!(2));
        assert!(b.get("quantization_config").is_none());
    }

    #[test]
    fn only_declared_differences_are_patched() {
        let s = spec(json!({"hnsw": {"m": 32}}));
        let params = json!({"vectors": {"size": 4, "distance": "Cosine"}, "replication_factor": 2, "write_consistency_factor": 1});
        // The engine's other HNSW fields (ef_construct ...) are not drift.
        let same = info(params.clone(), json!({"m": 32, "ef_construct": 100}));
        assert_eq!(mutable_patch(&s, &same), None);
        let other = info(params.clone(), json!({"m": 16, "ef_construct": 100}));
        assert_eq!(mutable_patch(&s, &other), Some(json!({"hnsw_config": {"m": 32}})));
        let mut raised = s.clone();
        raised.replication_factor = 3;
        assert_eq!(
            mutable_patch(&raised, &same),
            Some(json!({"params": {"replication_factor": 3}}))
        );
    }

    #[test]
    fn changed_vectors_are_reported_not_patched() {
        let s = spec(json!({}));
        let live = info(json!({"vectors": {"size": 8, "distance": "Cosine"}}), json!({}));
        let why = immutable_drift(&s, &live).unwrap_or_default();
        assert!(why.contains("vectors.size") && why.contains('8'), "{why}");
        let ok = info(json!({"vectors": {"size": 4, "distance": "Cosine"}}), json!({}));
        assert_eq!(immutable_drift(&s, &ok), None);
    }

    #[test]
    fn indexes_are_created_and_retyped() {
        let s = spec(json!({"payloadIndexes": [
            {"field": "tenant", "schema": "keyword", "isTenant": true},
            {"field": "year", "schema": "integer"},
            {"field": "ok", "schema": "bool"},
        ]}));
        let live = json!({"payload_schema": {
            "year": {"data_type": "float"}, "ok": {"data_type": "bool"}, "mine": {"data_type": "text"}}});
        let changes = index_changes(&s, &live);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(
            changes[0],
            IndexChange::Create(
                json!({"field_name": "tenant", "field_schema": {"type": "keyword", "is_tenant": true}})
            )
        );
        assert_eq!(changes[1], IndexChange::Drop("year".into()));
    }
}
