//! The ConfigMap of engine settings every pod reads as environment (`QUIVER__SECTION__KEY`),
//! and the revision hash that tells which pods run outdated settings or an outdated version.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

use super::Names;
use crate::crd::VectorClusterSpec;

/// The engine settings of `spec` as environment entries.
pub fn engine_env(spec: &VectorClusterSpec) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(level) = &spec.engine.log_level {
        env.insert("QUIVER_LOG".to_string(), level.clone());
    }
    if let Some(ms) = spec.engine.tick_period_ms {
        env.insert(
            "QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS".to_string(),
            ms.to_string(),
        );
    }
    if let Some(store) = &spec.object_store {
        let s3 = "QUIVER__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__";
        env.insert(
            "QUIVER__STORAGE__SNAPSHOTS_CONFIG__SNAPSHOTS_STORAGE".to_string(),
            "s3".to_string(),
        );
        env.insert(format!("{s3}BUCKET"), store.bucket.clone());
        let optional = [
            ("PREFIX", &store.prefix),
            ("REGION", &store.region),
            ("ENDPOINT_URL", &store.endpoint),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                env.insert(format!("{s3}{key}"), v.clone());
            }
        }
    }
    // The user's own entries win: they are the escape hatch for settings without a field.
    env.extend(spec.engine.env.clone());
    env
}

/// The settings ConfigMap.
pub fn config_map(names: &Names, spec: &VectorClusterSpec, owner: &OwnerReference) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(names.settings()),
            labels: Some(names.labels()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        data: Some(engine_env(spec)),
        ..ConfigMap::default()
    }
}

/// A short hash of everything in `spec` that a running pod cannot pick up without a restart:
/// image, version, settings, resources, pod overrides, API key and credentials references.
/// Pods whose revision differs are rolled one at a time.
pub fn revision(spec: &VectorClusterSpec) -> String {
    let restart_relevant = serde_json::json!({
        "image": spec.image,
        "version": spec.version,
        "env": engine_env(spec),
        "resources": spec.resources,
        "pod": spec.pod_template,
        "apiKey": spec.api_key_secret,
        "credentials": spec.object_store.as_ref().map(|s| &s.credentials_secret),
    });
    let digest = Sha256::digest(restart_relevant.to_string().as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", spec.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::pod::tests::spec;

    #[test]
    fn revision_follows_restart_relevant_fields_only() {
        let a = spec();
        let mut b = spec();
        b.nodes = 5;
        b.paused = true;
        assert_eq!(revision(&a), revision(&b), "scaling must not restart pods");
        b.engine.log_level = Some("debug".into());
        assert_ne!(revision(&a), revision(&b));
        let mut c = spec();
        c.version = "v2".into();
        assert!(revision(&c).starts_with("v2-"));
        assert_ne!(revision(&a), revision(&c));
    }

    #[test]
    fn user_env_overrides_derived_settings() {
        let mut s = spec();
        s.engine.tick_period_ms = Some(50);
        s.engine
            .env
            .insert("QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS".into(), "80".into());
        assert_eq!(engine_env(&s)["QUIVER__CLUSTER__CONSENSUS__TICK_PERIOD_MS"], "80");
    }
}
