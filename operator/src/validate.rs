//! Checks of a spec that CEL cannot express, before anything is built: each failure names the
//! field that is wrong, and the resource is reported Stalled with it instead of half-applied.

use crate::crd::{VectorClusterSpec, VectorCollectionSpec};

/// A spec field that cannot be reconciled as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A cluster spec.
pub fn cluster(spec: &VectorClusterSpec) -> Result<(), Invalid> {
    if spec.nodes < 1 {
        return Err(invalid("nodes", "must be at least 1"));
    }
    if spec.version.is_empty() || spec.version.contains([':', '@', ' ']) {
        return Err(invalid("version", "must be an image tag such as v1.2.0"));
    }
    if let Some(image) = &spec.image {
        if image.is_empty()
            || image.contains(' ')
            || image.rsplit('/').next().is_some_and(|last| last.contains(':'))
        {
            return Err(invalid(
                "image",
                "must be a repository without a tag (the tag is `version`)",
            ));
        }
    }
    for name in spec.engine.env.keys() {
        if !env_name_ok(name) || !name.starts_with("QUIVER") {
            return Err(invalid(
                &format!("engine.env.{name}"),
                "must be a QUIVER__SECTION__KEY or QUIVER_LOG variable name",
            ));
        }
    }
    if spec.engine.tick_period_ms == Some(0) {
        return Err(invalid("engine.tickPeriodMs", "must be above 0"));
    }
    if spec.backup.is_some() && spec.object_store.is_none() {
        return Err(invalid("backup", "scheduled backups need spec.objectStore"));
    }
    if let Some(store) = &spec.object_store {
        if store.bucket.is_empty() {
            return Err(invalid("objectStore.bucket", "must not be empty"));
        }
        if let Some(e) = &store.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(invalid(
                    "objectStore.endpoint",
                    "must start with http:// or https://",
                ));
            }
        }
    }
    if let Some(b) = &spec.backup {
        crate::schedule::Cron::parse(&b.schedule).map_err(|e| invalid("backup.schedule", e))?;
    }
    Ok(())
}

/// A collection spec.
pub fn collection(spec: &VectorCollectionSpec) -> Result<(), Invalid> {
    if spec.vectors.is_empty() && spec.sparse_vectors.is_empty() {
        return Err(invalid("vectors", "declare at least one dense or sparse vector"));
    }
    for (name, v) in &spec.vectors {
        if v.size == 0 || v.size > 65_536 {
            return Err(invalid(
                &format!("vectors.{name}.size"),
                "must be between 1 and 65536",
            ));
        }
    }
    if spec.replication_factor == 0 {
        return Err(invalid("replicationFactor", "must be at least 1"));
    }
    if spec.write_consistency_factor == 0 || spec.write_consistency_factor > spec.replication_factor {
        return Err(invalid(
            "writeConsistencyFactor",
            "must be between 1 and replicationFactor",
        ));
    }
    if spec.sharding.shard_number == Some(0) {
        return Err(invalid("sharding.shardNumber", "must be at least 1"));
    }
    let kinds = [
        "keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid",
    ];
    for (i, ix) in spec.payload_indexes.iter().enumerate() {
        if !kinds.contains(&ix.schema.as_str()) {
            return Err(invalid(
                &format!("payloadIndexes[{i}].schema"),
                format!("`{}` is none of {}", ix.schema, kinds.join(", ")),
            ));
        }
        if ix.is_tenant && !matches!(ix.schema.as_str(), "keyword" | "uuid" | "integer") {
            return Err(invalid(
                &format!("payloadIndexes[{i}].isTenant"),
                "only keyword, uuid and integer fields can name a tenant",
            ));
        }
    }
    if let Some(q) = spec.quantization.as_ref().and_then(|q| q.quantile) {
        if !(0.5..=1.0).contains(&q) {
            return Err(invalid("quantization.quantile", "must be between 0.5 and 1"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::pod::tests::spec;

    #[test]
    fn errors_name_the_field() {
        let mut s = spec();
        assert_eq!(cluster(&s), Ok(()));
        s.engine.env.insert("PATH".into(), "/bin".into());
        assert_eq!(cluster(&s).map_err(|e| e.field), Err("engine.env.PATH".into()));
        let mut s = spec();
        s.image = Some("repo/quiver:v1".into());
        assert_eq!(cluster(&s).map_err(|e| e.field), Err("image".into()));
        let mut s = spec();
        s.backup = Some(crate::crd::cluster::BackupSchedule {
            schedule: "0 3 * * *".into(),
            retention: 3,
        });
        assert_eq!(cluster(&s).map_err(|e| e.field), Err("backup".into()));
    }

    #[test]
    fn collection_errors_name_the_field() {
        let c: VectorCollectionSpec = serde_json::from_value(serde_json::json!({
            "clusterRef": "vec",
            "vectors": {"": {"size": 4, "distance": "Cosine"}},
            "replicationFactor": 2,
            "writeConsistencyFactor": 3,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            collection(&c).map_err(|e| e.field),
            Err("writeConsistencyFactor".into())
        );
        let mut ok = c.clone();
        ok.write_consistency_factor = 1;
        assert_eq!(collection(&ok), Ok(()));
        ok.payload_indexes.push(crate::crd::collection::PayloadIndex {
            field: "f".into(),
            schema: "words".into(),
            is_tenant: false,
        });
        assert_eq!(
            collection(&ok).map_err(|e| e.field),
            Err("payloadIndexes[0].schema".into())
        );
    }
}
