//! The reconcilers, one per resource kind, each a pipeline: read what Kubernetes and the engines
//! report -> validate the spec -> build the desired objects -> plan one step -> apply it with
//! server-side apply -> write status. Only read, apply and status touch the API server.

pub mod backup;
pub mod cluster;
pub mod collection;
pub mod endpoint;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::build::names::MANAGER;
use crate::engine::EngineError;
use crate::metrics::Metrics;
use crate::validate::Invalid;

/// What every reconcile shares.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context")
    }
}

impl Context {
    pub fn new(client: Client) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.to_string(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            metrics: Arc::default(),
            recorder,
        }
    }
}

/// Why a reconcile failed; the category labels the error metric.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Missing(String),
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kubernetes",
            Error::Engine(_) => "engine",
            Error::Invalid(_) => "validation",
            Error::Missing(_) => "dependency",
        }
    }
}

/// Applies `obj` with server-side apply as the operator's field manager, taking over fields a
/// human changed by hand (the declared state wins, as GitOps expects).
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(obj)).await
}

/// Writes `status` of `name` (a merge patch of the status subresource; absent optional fields
/// are written as null so that they are cleared).
pub async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    status: &S,
    clear: &[&str],
) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for key in clear {
            map.entry(key.to_string()).or_insert(serde_json::Value::Null);
        }
    }
    let patch = serde_json::json!({ "status": value });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// Whether `obj` carries finalizer `name`.
pub fn has_finalizer<K: Resource>(obj: &K, name: &str) -> bool {
    obj.finalizers().iter().any(|f| f == name)
}

/// Adds (`keep`) or removes finalizer `name` on `obj` when that changes anything. The patch
/// carries the resource version the decision was made on, so a concurrent change is refused
/// rather than overwritten.
pub async fn set_finalizer<K>(api: &Api<K>, obj: &K, name: &str, keep: bool) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has_finalizer(obj, name) == keep {
        return Ok(());
    }
    let mut list: Vec<String> = obj.finalizers().iter().filter(|f| *f != name).cloned().collect();
    if keep {
        list.push(name.to_string());
    }
    let patch =
        serde_json::json!({"metadata": {"finalizers": list, "resourceVersion": obj.resource_version()}});
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Reads key `key` of Secret `name`.
pub async fn secret_value(client: &Client, ns: &str, name: &str, key: &str) -> Result<String, Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::Missing(format!("Secret {ns}/{name} does not exist")))?;
    let bytes = secret
        .data
        .and_then(|d| d.get(key).cloned())
        .ok_or_else(|| Error::Missing(format!("Secret {ns}/{name} has no key `{key}`")))?;
    String::from_utf8(bytes.0)
        .map_err(|_| Error::Missing(format!("Secret {ns}/{name} key `{key}` is not UTF-8")))
}

/// Publishes a Kubernetes Event about `obj` (failures are logged, never fatal: an event is a
/// notice, not part of the state).
pub async fn event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    warning: bool,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note),
        action: reason.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(object = %obj.meta().name.clone().unwrap_or_default(), "publishing event {reason}: {e}");
    }
}

/// `namespace/name` of an object, for logs and metrics.
pub fn key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
