//! The object store behind the simulated API server: objects as JSON by kind, namespace and
//! name, one resource-version counter, and the ordered history of changes that watches replay
//! from any resource version and then follow live.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// A resource kind the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    /// Updates of the main resource leave `.status` alone; `/status` changes only it.
    pub status_subresource: bool,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    fn core(plural: &str, kind: &str, status: bool) -> Self {
        Self {
            group: String::new(),
            version: "v1".into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced: true,
            status_subresource: status,
        }
    }
}

/// A change, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    /// `group/version/plural` of the object.
    pub resource: String,
    pub kind: &'static str,
    pub object: Value,
}

/// Why a store call failed, as the API server answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

fn fail(code: u16, reason: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        reason,
        message: message.into(),
    }
}

type Key = (String, String, String);

#[derive(Debug, Default)]
struct Inner {
    rv: u64,
    kinds: BTreeMap<String, Kind>,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
}

/// The store (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<Change>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// Merges `patch` into `target` as a JSON merge patch (RFC 7386): objects merge, null removes,
/// anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn now() -> String {
    // Seconds are enough for creation and deletion timestamps.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// `selector` (`k=v`, `k!=v`, `k`, `!k`, comma-separated) matches `labels`.
pub fn selector_matches(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            let get = |k: &str| labels.get(k).and_then(Value::as_str);
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                get(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                get(k).is_none()
            } else {
                get(term).is_some()
            }
        })
}

impl Store {
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(4096);
        let s = Self {
            inner: Arc::default(),
            live,
        };
        for k in [
            Kind::core("pods", "Pod", true),
            Kind::core("persistentvolumeclaims", "PersistentVolumeClaim", true),
            Kind::core("services", "Service", true),
            Kind::core("configmaps", "ConfigMap", false),
            Kind::core("secrets", "Secret", false),
            Kind::core("events", "Event", false),
            Kind {
                group: "events.k8s.io".into(),
                ..Kind::core("events", "Event", false)
            },
            Kind {
                group: "policy".into(),
                ..Kind::core("poddisruptionbudgets", "PodDisruptionBudget", true)
            },
        ] {
            s.register(k);
        }
        s
    }

    /// Makes `kind` servable (custom resources are registered from their definitions).
    pub fn register(&self, kind: Kind) {
        let key = format!("{}/{}/{}", kind.group, kind.version, kind.plural);
        self.inner.lock().kinds.insert(key, kind);
    }

    /// Registers the kind a CustomResourceDefinition (as JSON) defines, at its first version.
    pub fn register_crd(&self, crd: &Value) -> Result<(), String> {
        let spec = &crd["spec"];
        let version = &spec["versions"][0];
        let str_of = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_string)
                .ok_or(format!("CRD without {what}"))
        };
        self.register(Kind {
            group: str_of(&spec["group"], "group")?,
            version: str_of(&version["name"], "version")?,
            plural: str_of(&spec["names"]["plural"], "plural")?,
            kind: str_of(&spec["names"]["kind"], "kind")?,
            namespaced: spec["scope"] == "Namespaced",
            status_subresource: version["subresources"].get("status").is_some(),
        });
        Ok(())
    }

    pub fn kind(&self, group: &str, version: &str, plural: &str) -> Option<Kind> {
        self.inner
            .lock()
            .kinds
            .get(&format!("{group}/{version}/{plural}"))
            .cloned()
    }

    fn resource(kind: &Kind) -> String {
        format!("{}/{}/{}", kind.group, kind.version, kind.plural)
    }

    /// Where `name` of `kind` is kept (cluster-scoped kinds ignore `ns`).
    fn key(kind: &Kind, ns: &str, name: &str) -> Key {
        let ns = if kind.namespaced { ns } else { "" };
        (Self::resource(kind), ns.to_string(), name.to_string())
    }

    fn record(
        inner: &mut Inner,
        live: &broadcast::Sender<Change>,
        resource: String,
        kind: &'static str,
        object: Value,
    ) {
        let rv = inner.rv;
        let change = Change {
            rv,
            resource,
            kind,
            object,
        };
        inner.history.push(change.clone());
        let _ = live.send(change);
    }

    fn stamp(inner: &mut Inner, obj: &mut Value) {
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
    }

    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().rv
    }

    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> Option<Value> {
        self.inner.lock().objects.get(&Self::key(kind, ns, name)).cloned()
    }

    /// Objects of `kind` in `ns` (None: every namespace) matching `selector`.
    pub fn list(&self, kind: &Kind, ns: Option<&str>, selector: &str) -> (Vec<Value>, u64) {
        let inner = self.inner.lock();
        let resource = Self::resource(kind);
        let items = inner
            .objects
            .iter()
            .filter(|((r, n, _), _)| *r == resource && ns.is_none_or(|ns| ns == n))
            .filter(|(_, o)| selector_matches(selector, &o["metadata"]["labels"]))
            .map(|(_, o)| o.clone())
            .collect();
        (items, inner.rv)
    }

    /// Changes after `rv` so far, and a receiver for the ones to come (no change is lost between
    /// the two: both are taken under the lock).
    pub fn changes_since(&self, rv: u64) -> (Vec<Change>, broadcast::Receiver<Change>) {
        let inner = self.inner.lock();
        let rx = self.live.subscribe();
        let start = inner.history.partition_point(|c| c.rv <= rv);
        (inner.history[start..].to_vec(), rx)
    }

    /// Creates `obj` in `ns`.
    pub fn create(&self, kind: &Kind, ns: &str, mut obj: Value) -> Result<Value, Failure> {
        let mut inner = self.inner.lock();
        let meta = &mut obj["metadata"];
        if meta["name"].as_str().is_none_or(str::is_empty) {
            let Some(prefix) = meta["generateName"].as_str() else {
                return Err(fail(422, "Invalid", "metadata.name: Required value"));
            };
            let suffix: String = uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .chars()
                .take(5)
                .collect();
            meta["name"] = json!(format!("{prefix}{suffix}"));
        }
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let key = Self::key(kind, ns, &name);
        if inner.objects.contains_key(&key) {
            return Err(fail(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kind.plural),
            ));
        }
        obj["apiVersion"] = json!(kind.api_version());
        obj["kind"] = json!(kind.kind);
        let meta = &mut obj["metadata"];
        if kind.namespaced {
            meta["namespace"] = json!(ns);
        }
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
        }
        if kind.status_subresource && !kind.group.is_empty() && obj.get("status").is_some() {
            // Custom resources ignore status on create, as the real server does.
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        Self::stamp(&mut inner, &mut obj);
        inner.objects.insert(key, obj.clone());
        Self::record(&mut inner, &self.live, Self::resource(kind), "ADDED", obj.clone());
        Ok(obj)
    }

    /// Changes object `name` with `change` (given the current object, returns the new one);
    /// `status_only` keeps everything but `.status`, a main-resource update keeps `.status` of
    /// kinds with a status subresource. Removing the last finalizer of an object being deleted
    /// deletes it.
    pub fn update(
        &self,
        kind: &Kind,
        ns: &str,
        name: &str,
        status_only: bool,
        change: impl FnOnce(&Value) -> Result<Value, Failure>,
    ) -> Result<Value, Failure> {
        let mut inner = self.inner.lock();
        let key = Self::key(kind, ns, name);
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(fail(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", kind.plural),
            ));
        };
        let mut new = change(&old)?;
        if let Some(want) = new["metadata"]["resourceVersion"].as_str() {
            if Some(want) != old["metadata"]["resourceVersion"].as_str() {
                return Err(fail(
                    409,
                    "Conflict",
                    format!("the object has been modified; resourceVersion {want} is stale"),
                ));
            }
        }
        if status_only {
            let status = new.get("status").cloned();
            new = old.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        } else {
            // Identity and server-owned fields stay.
            for f in [
                "uid",
                "creationTimestamp",
                "namespace",
                "name",
                "deletionTimestamp",
                "generation",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => new["metadata"][f] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(f);
                        }
                    }
                }
            }
            if kind.status_subresource {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            if new.get("spec") != old.get("spec") {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
        }
        new["apiVersion"] = json!(kind.api_version());
        new["kind"] = json!(kind.kind);
        if new == old {
            return Ok(old);
        }
        let finalizers_left = new["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if old["metadata"].get("deletionTimestamp").is_some() && !finalizers_left && kind.kind != "Pod" {
            drop(inner);
            return self.remove(kind, ns, name).map(|_| new);
        }
        Self::stamp(&mut inner, &mut new);
        inner.objects.insert(key, new.clone());
        Self::record(
            &mut inner,
            &self.live,
            Self::resource(kind),
            "MODIFIED",
            new.clone(),
        );
        Ok(new)
    }

    /// Deletes `name`: an object with finalizers, or a Pod (its kubelet stops it first), gets a
    /// deletion timestamp; anything else goes at once with its dependents.
    pub fn delete(&self, kind: &Kind, ns: &str, name: &str) -> Result<Value, Failure> {
        let current = self
            .get(kind, ns, name)
            .ok_or_else(|| fail(404, "NotFound", format!("{} \"{name}\" not found", kind.plural)))?;
        let finalizers = current["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if finalizers || kind.kind == "Pod" {
            if current["metadata"].get("deletionTimestamp").is_some() {
                return Ok(current);
            }
            let mut inner = self.inner.lock();
            let key = Self::key(kind, ns, name);
            let mut obj = current;
            obj["metadata"]["deletionTimestamp"] = json!(now());
            Self::stamp(&mut inner, &mut obj);
            inner.objects.insert(key, obj.clone());
            Self::record(
                &mut inner,
                &self.live,
                Self::resource(kind),
                "MODIFIED",
                obj.clone(),
            );
            return Ok(obj);
        }
        self.remove(kind, ns, name)
    }

    /// Removes `name` now (a kubelet finishing a pod's deletion), then every object whose owner
    /// references point at it.
    pub fn remove(&self, kind: &Kind, ns: &str, name: &str) -> Result<Value, Failure> {
        let removed = {
            let mut inner = self.inner.lock();
            let key = Self::key(kind, ns, name);
            let Some(mut obj) = inner.objects.remove(&key) else {
                return Err(fail(
                    404,
                    "NotFound",
                    format!("{} \"{name}\" not found", kind.plural),
                ));
            };
            Self::stamp(&mut inner, &mut obj);
            Self::record(
                &mut inner,
                &self.live,
                Self::resource(kind),
                "DELETED",
                obj.clone(),
            );
            obj
        };
        let uid = removed["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let dependents: Vec<(Kind, String, String)> = {
            let inner = self.inner.lock();
            inner
                .objects
                .iter()
                .filter(|(_, o)| {
                    o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == json!(uid)))
                })
                .filter_map(|((r, n, name), _)| Some((inner.kinds.get(r)?.clone(), n.clone(), name.clone())))
                .collect()
        };
        for (k, n, dep) in dependents {
            let _ = self.delete(&k, &n, &dep);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_merge() {
        let labels = json!({"app": "q", "tier": "db"});
        assert!(selector_matches("app=q,tier", &labels));
        assert!(selector_matches("app==q,!missing,tier!=web", &labels));
        assert!(!selector_matches("app=other", &labels));
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn finalizers_hold_deletion_and_owners_take_dependents_along() {
        let s = Store::new();
        let cm = s
            .kind("", "v1", "configmaps")
            .unwrap_or_else(|| panic!("configmaps"));
        let owner = s
            .create(
                &cm,
                "ns",
                json!({"metadata": {"name": "owner", "finalizers": ["f"]}}),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        let uid = owner["metadata"]["uid"].clone();
        s.create(
            &cm,
            "ns",
            json!({"metadata": {"name": "dep", "ownerReferences": [{"uid": uid}]}}),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        s.delete(&cm, "ns", "owner").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(s.get(&cm, "ns", "owner").is_some(), "held by its finalizer");
        s.update(&cm, "ns", "owner", false, |o| {
            let mut o = o.clone();
            o["metadata"]["finalizers"] = json!([]);
            Ok(o)
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(s.get(&cm, "ns", "owner").is_none());
        assert!(s.get(&cm, "ns", "dep").is_none(), "garbage-collected");
        let (changes, _) = s.changes_since(0);
        let kinds: Vec<&str> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec!["ADDED", "ADDED", "MODIFIED", "DELETED", "DELETED"]);
    }
}
