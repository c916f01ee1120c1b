//! One engine pod and its volume claim. Pods are managed one by one rather than through a
//! StatefulSet, as CloudNativePG does: the operator decides which pod restarts or goes away and
//! when, and a pod's address for the others and the member it joins through are fixed when it
//! is created.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction,
    ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    Pod, PodSpec, Probe, SecretKeySelector, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{self, Names};
use crate::crd::VectorClusterSpec;

/// The default engine image repository (the chart's).
pub const DEFAULT_IMAGE: &str = "ghcr.io/quiver-db/quiver";

/// What is known about the cluster when pod `index` is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPlacement {
    pub index: u32,
    /// The p2p address of a member to join through; none forms a new cluster (only the first
    /// pod of a new cluster) or resumes from the volume.
    pub bootstrap: Option<String>,
    /// The volume is new: the node joins as a learner and is promoted by the operator.
    pub join_as_learner: bool,
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(names::HTTP_PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    }
}

/// The environment of the engine container (settings come from the ConfigMap besides).
fn engine_env(spec: &VectorClusterSpec, at: &PodPlacement) -> Vec<EnvVar> {
    let mut v = vec![
        field_env("POD_IP", "status.podIP"),
        field_env("POD_NAME", "metadata.name"),
        env("QUIVER__SERVICE__HOST", "0.0.0.0"),
        env("QUIVER__STORAGE__PATH", &format!("{}/storage", names::DATA_MOUNT)),
        env("QUIVER__CLUSTER__ENABLED", "true"),
        env(
            "QUIVER__CLUSTER__URI",
            &format!("http://$(POD_IP):{}", names::P2P_PORT),
        ),
    ];
    if let Some(b) = &at.bootstrap {
        v.push(env("QUIVER__CLUSTER__BOOTSTRAP", b));
    }
    if at.join_as_learner {
        v.push(env("QUIVER__CLUSTER__JOIN_AS_LEARNER", "true"));
    }
    if let Some(key) = &spec.api_key_secret {
        v.push(secret_env("QUIVER__SERVICE__API_KEY", &key.name, &key.key));
    }
    if let Some(secret) = spec
        .object_store
        .as_ref()
        .and_then(|s| s.credentials_secret.as_ref())
    {
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            v.push(secret_env(key, secret, key));
        }
    }
    v
}

/// Engine pod `at.index` of the cluster.
pub fn pod(
    names: &Names,
    spec: &VectorClusterSpec,
    revision: &str,
    at: &PodPlacement,
    owner: &OwnerReference,
) -> Pod {
    let overrides = spec.pod_template.clone().unwrap_or_default();
    let mut labels = overrides.labels.clone();
    labels.extend(names.labels());
    labels.insert(names::NODE_INDEX.to_string(), at.index.to_string());
    let mut annotations = overrides.annotations.clone();
    annotations.insert(names::REVISION.to_string(), revision.to_string());
    let image = spec.image.as_deref().unwrap_or(DEFAULT_IMAGE);
    let container = Container {
        name: names::ENGINE.to_string(),
        image: Some(format!("{image}:{}", spec.version)),
        env: Some(engine_env(spec, at)),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: names.settings(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![
            port("http", names::HTTP_PORT),
            port("grpc", names::GRPC_PORT),
            port("p2p", names::P2P_PORT),
        ]),
        // Ready only when the node can serve every replica it holds: the operator's gate
        // before each disruptive step, and what the client Service routes by.
        readiness_probe: Some(http_probe("/readyz", 2, 3)),
        liveness_probe: Some(http_probe("/livez", 10, 6)),
        resources: spec.resources.clone(),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".to_string(),
            mount_path: names::DATA_MOUNT.to_string(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(names.pod(at.index)),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            hostname: Some(names.pod(at.index)),
            subdomain: Some(names.headless()),
            containers: vec![container],
            volumes: Some(vec![Volume {
                name: "data".to_string(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: names.pvc(at.index),
                    read_only: None,
                }),
                ..Volume::default()
            }]),
            // Long enough for the engine to flush and hand over on SIGTERM.
            termination_grace_period_seconds: Some(60),
            node_selector: (!overrides.node_selector.is_empty()).then_some(overrides.node_selector),
            tolerations: (!overrides.tolerations.is_empty()).then_some(overrides.tolerations),
            priority_class_name: overrides.priority_class_name,
            restart_policy: Some("Always".to_string()),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// The volume claim of pod `index`. Owned by the cluster, so deleting the cluster deletes the
/// data; a scale-down deletes the claim of the removed pod itself.
pub fn pvc(
    names: &Names,
    spec: &VectorClusterSpec,
    index: u32,
    owner: &OwnerReference,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(names.pvc(index)),
            labels: Some({
                let mut l = names.labels();
                l.insert(names::NODE_INDEX.to_string(), index.to_string());
                l
            }),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: spec.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(spec.storage.size.clone()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crd::cluster::{ObjectStoreSpec, StorageSpec};

    pub(crate) fn spec() -> VectorClusterSpec {
        serde_json::from_value(serde_json::json!({
            "version": "v1",
            "nodes": 3,
            "storage": {"size": "10Gi"},
        }))
        .unwrap_or_else(|e| panic!("test spec: {e}"))
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "quiver.dev/v1alpha1".into(),
            kind: "VectorCluster".into(),
            name: "vec".into(),
            uid: "u1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn env_of(p: &Pod) -> BTreeMap<String, String> {
        let c = &p
            .spec
            .as_ref()
            .map(|s| s.containers[0].clone())
            .unwrap_or_default();
        c.env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_else(|| "<ref>".into())))
            .collect()
    }

    #[test]
    fn a_joining_pod_names_its_member_and_joins_as_learner() {
        let n = Names::new("vec");
        let at = PodPlacement {
            index: 3,
            bootstrap: Some("http://10.0.0.7:6335".into()),
            join_as_learner: true,
        };
        let p = pod(&n, &spec(), "v1-abc", &at, &owner());
        let e = env_of(&p);
        assert_eq!(e["QUIVER__CLUSTER__BOOTSTRAP"], "http://10.0.0.7:6335");
        assert_eq!(e["QUIVER__CLUSTER__JOIN_AS_LEARNER"], "true");
        assert_eq!(e["QUIVER__CLUSTER__URI"], "http://$(POD_IP):6335");
        assert_eq!(e["POD_IP"], "<ref>", "the address comes from the downward API");
        let meta = &p.metadata;
        assert_eq!(meta.name.as_deref(), Some("vec-3"));
        assert_eq!(
            meta.labels
                .as_ref()
                .and_then(|l| l.get(names::NODE_INDEX))
                .map(String::as_str),
            Some("3")
        );
        assert_eq!(
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(names::REVISION))
                .map(String::as_str),
            Some("v1-abc")
        );
        let vols = p
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        assert_eq!(
            vols[0]
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-vec-3")
        );
    }

    #[test]
    fn the_first_pod_forms_the_cluster() {
        let at = PodPlacement {
            index: 0,
            bootstrap: None,
            join_as_learner: false,
        };
        let e = env_of(&pod(&Names::new("vec"), &spec(), "r", &at, &owner()));
        assert!(!e.contains_key("QUIVER__CLUSTER__BOOTSTRAP"));
        assert!(!e.contains_key("QUIVER__CLUSTER__JOIN_AS_LEARNER"));
    }

    #[test]
    fn secrets_are_referenced_never_copied() {
        let mut s = spec();
        s.api_key_secret = Some(crate::crd::cluster::SecretKeyRef {
            name: "keys".into(),
            key: "api".into(),
        });
        s.object_store = Some(ObjectStoreSpec {
            bucket: "b".into(),
            prefix: None,
            region: None,
            endpoint: None,
            credentials_secret: Some("s3".into()),
        });
        let at = PodPlacement {
            index: 0,
            bootstrap: None,
            join_as_learner: false,
        };
        let e = env_of(&pod(&Names::new("vec"), &s, "r", &at, &owner()));
        assert_eq!(e["QUIVER__SERVICE__API_KEY"], "<ref>");
        assert_eq!(e["AWS_SECRET_ACCESS_KEY"], "<ref>");
    }

    #[test]
    fn the_claim_asks_for_the_declared_size_and_class() {
        let mut s = spec();
        s.storage = StorageSpec {
            size: "20Gi".into(),
            storage_class_name: Some("fast".into()),
        };
        let c = pvc(&Names::new("vec"), &s, 1, &owner());
        let spec = c.spec.unwrap_or_default();
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        let size = spec
            .resources
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").cloned());
        assert_eq!(size, Some(Quantity("20Gi".into())));
    }
}
