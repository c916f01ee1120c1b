//! The simulated kubelet: runs each Pod's first container as a local process, on an address of
//! its own in 127.0.0.0/8 (the pod's network namespace, emulated: the process binds that address
//! and the pod reports it as `status.podIP`), with a folder per PersistentVolumeClaim as its
//! volume. It resolves the container's environment as Kubernetes does (values, `$(VAR)`
//! references, the downward API, Secret and ConfigMap references, `envFrom`), restarts a
//! container that exits, probes `readinessProbe.httpGet` to set the Ready condition, and on a
//! deletion sends SIGTERM, waits out the grace period, then removes the Pod.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::store::{Kind, Store};

/// Addresses handed out so far in this process (tests of one binary share the range).
static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

fn next_ip() -> String {
    // One /16 per test process, so concurrent test binaries do not collide.
    let block = 100 + std::process::id() % 150;
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed) + 2;
    format!("127.{block}.{}.{}", n / 250, n % 250 + 1)
}

/// Kills `child` (SIGKILL) and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

struct Running {
    child: Child,
    ip: String,
    restarts: u32,
    ready: bool,
    uid: String,
    deleting_since: Option<Instant>,
    next_probe: Instant,
}

/// The kubelet. Dropping it kills every process it started.
pub struct Kubelet {
    store: Store,
    root: PathBuf,
    images: HashMap<String, PathBuf>,
    running: Mutex<BTreeMap<(String, String), Running>>,
    claims: Mutex<BTreeMap<(String, String), PathBuf>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").field("root", &self.root).finish()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        for r in self.running.lock().values_mut() {
            stop(&mut r.child);
        }
    }
}

fn kind(store: &Store, plural: &str) -> Kind {
    store
        .kind("", "v1", plural)
        .unwrap_or_else(|| panic!("the store always serves {plural}"))
}

impl Kubelet {
    /// A kubelet keeping its folders under `root`; `images` maps an image (`repo:tag`, or
    /// `repo` for every tag) to the binary that runs it.
    pub fn new(store: Store, root: PathBuf, images: HashMap<String, PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            store,
            root,
            images,
            running: Mutex::default(),
            claims: Mutex::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap_or_default(),
        })
    }

    /// Runs the kubelet's loop until the returned task is aborted.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                me.sync_claims();
                me.sync_pods().await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    }

    /// The folder of claim `name` in `ns`.
    pub fn claim_dir(&self, ns: &str, name: &str) -> PathBuf {
        self.root.join("volumes").join(ns).join(name)
    }

    /// Kills pod `name`'s process with SIGKILL (the container restarts, as after a crash).
    pub fn kill(&self, ns: &str, name: &str) -> bool {
        let mut running = self.running.lock();
        match running.get_mut(&(ns.to_string(), name.to_string())) {
            Some(r) => r.child.kill().is_ok(),
            None => false,
        }
    }

    /// Binds claims (as a provisioner would) and removes the folders of deleted ones.
    fn sync_claims(&self) {
        let pvcs = kind(&self.store, "persistentvolumeclaims");
        let (items, _) = self.store.list(&pvcs, None, "");
        let mut seen = BTreeMap::new();
        for c in &items {
            let ns = c["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = c["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let dir = self.claim_dir(&ns, &name);
            let _ = std::fs::create_dir_all(&dir);
            if c["status"]["phase"] != "Bound" {
                let _ = self.store.update(&pvcs, &ns, &name, true, |o| {
                    let mut o = o.clone();
                    o["status"] =
                        json!({"phase": "Bound", "capacity": o["spec"]["resources"]["requests"].clone()});
                    Ok(o)
                });
            }
            seen.insert((ns, name), dir);
        }
        let mut claims = self.claims.lock();
        for (key, dir) in claims.iter() {
            if !seen.contains_key(key) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        *claims = seen;
    }

    fn binary(&self, image: &str) -> Option<PathBuf> {
        self.images
            .get(image)
            .or_else(|| {
                self.images
                    .get(image.rsplit_once(':').map_or(image, |(repo, _)| repo))
            })
            .cloned()
    }

    /// The container's environment, resolved.
    fn environment(&self, pod: &Value, ip: &str) -> Result<Vec<(String, String)>, String> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let c = &pod["spec"]["containers"][0];
        let secrets = kind(&self.store, "secrets");
        let config_maps = kind(&self.store, "configmaps");
        let mut env: Vec<(String, String)> = Vec::new();
        for from in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(name) = from["configMapRef"]["name"].as_str() {
                let cm = self
                    .store
                    .get(&config_maps, ns, name)
                    .ok_or(format!("ConfigMap {name} is missing"))?;
                for (k, v) in cm["data"].as_object().into_iter().flatten() {
                    env.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
                }
            }
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default().to_string();
            let value = if let Some(v) = e["value"].as_str() {
                expand(v, &env)
            } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                match path {
                    "status.podIP" => ip.to_string(),
                    "metadata.name" => pod["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                    "metadata.namespace" => ns.to_string(),
                    other => return Err(format!("fieldRef {other} is not simulated")),
                }
            } else if let Some(r) = e["valueFrom"].get("secretKeyRef") {
                let (sname, key) = (
                    r["name"].as_str().unwrap_or_default(),
                    r["key"].as_str().unwrap_or_default(),
                );
                let s = self
                    .store
                    .get(&secrets, ns, sname)
                    .ok_or(format!("Secret {sname} is missing"))?;
                let data = s["data"][key]
                    .as_str()
                    .ok_or(format!("Secret {sname} has no key {key}"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| format!("Secret {sname} key {key}: {e}"))?;
                String::from_utf8_lossy(&bytes).to_string()
            } else if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
                let (cname, key) = (
                    r["name"].as_str().unwrap_or_default(),
                    r["key"].as_str().unwrap_or_default(),
                );
                let cm = self
                    .store
                    .get(&config_maps, ns, cname)
                    .ok_or(format!("ConfigMap {cname} is missing"))?;
                cm["data"][key].as_str().unwrap_or_default().to_string()
            } else {
                String::new()
            };
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
        }
        // The volume mounts: a path under a claim's mount point is that claim's folder here.
        let mut mounts = Vec::new();
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vol = pod["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == m["name"]);
            if let (Some(path), Some(claim)) = (
                m["mountPath"].as_str(),
                vol.and_then(|v| v["persistentVolumeClaim"]["claimName"].as_str()),
            ) {
                mounts.push((path.to_string(), self.claim_dir(ns, claim)));
            }
        }
        for (_, v) in env.iter_mut() {
            for (path, dir) in &mounts {
                if let Some(rest) = v.strip_prefix(path.as_str()) {
                    *v = format!("{}{rest}", dir.display());
                }
            }
        }
        // The emulated network namespace: bind the pod's own address.
        env.retain(|(k, _)| k != "QUIVER__SERVICE__HOST");
        env.push(("QUIVER__SERVICE__HOST".into(), ip.to_string()));
        Ok(env)
    }

    fn start(&self, pod: &Value, ip: &str, restarts: u32) -> Result<Child, String> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let c = &pod["spec"]["containers"][0];
        let image = c["image"].as_str().unwrap_or_default();
        let bin = self.binary(image).ok_or(format!("no binary for image {image}"))?;
        let env = self.environment(pod, ip)?;
        let workdir = self.root.join("pods").join(ns).join(name);
        let logs = self.root.join("logs");
        std::fs::create_dir_all(&workdir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(logs.join(format!("{ns}-{name}-{restarts}.log")))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        for a in c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            cmd.arg(a);
        }
        cmd.spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))
    }

    fn set_status(&self, ns: &str, name: &str, ip: &str, ready: bool, restarts: u32, image: &str) {
        let pods = kind(&self.store, "pods");
        let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }});
        let status = json!({
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "127.0.0.1",
            "conditions": [cond("PodScheduled", true), cond("Initialized", true), cond("ContainersReady", ready), cond("Ready", ready)],
            "containerStatuses": [{"name": "engine", "ready": ready, "restartCount": restarts, "image": image, "imageID": image, "started": true}],
        });
        let _ = self.store.update(&pods, ns, name, true, |o| {
            let mut o = o.clone();
            o["status"] = status;
            Ok(o)
        });
    }

    async fn probe(&self, pod: &Value, ip: &str) -> bool {
        let probe = &pod["spec"]["containers"][0]["readinessProbe"]["httpGet"];
        let Some(path) = probe["path"].as_str() else {
            return true;
        };
        let port = probe["port"].as_u64().unwrap_or(80);
        match self.http.get(format!("http://{ip}:{port}{path}")).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    }

    async fn sync_pods(&self) {
        let pods_kind = kind(&self.store, "pods");
        let (pods, _) = self.store.list(&pods_kind, None, "");
        let mut present = Vec::new();
        for pod in pods {
            let ns = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
            let key = (ns.clone(), name.clone());
            present.push(key.clone());
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let deleting = pod["metadata"].get("deletionTimestamp").is_some();
            let grace = pod["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            // A replaced pod (same name, new uid) is a new pod: stop the old process first.
            let stale = self.running.lock().get(&key).is_some_and(|r| r.uid != uid);
            if stale {
                if let Some(mut r) = self.running.lock().remove(&key) {
                    stop(&mut r.child);
                }
            }
            if deleting {
                let finished = {
                    let mut running = self.running.lock();
                    match running.get_mut(&key) {
                        None => true,
                        Some(r) => {
                            let since = *r.deleting_since.get_or_insert_with(|| {
                                let _ = Command::new("kill")
                                    .arg("-TERM")
                                    .arg(r.child.id().to_string())
                                    .status();
                                Instant::now()
                            });
                            let exited = matches!(r.child.try_wait(), Ok(Some(_)));
                            if !exited && since.elapsed() > Duration::from_secs(grace) {
                                stop(&mut r.child);
                            }
                            exited || since.elapsed() > Duration::from_secs(grace)
                        }
                    }
                };
                if finished {
                    self.running.lock().remove(&key);
                    let _ = self.store.remove(&pods_kind, &ns, &name);
                }
                continue;
            }
            let known = self.running.lock().contains_key(&key);
            if !known {
                let ip = next_ip();
                match self.start(&pod, &ip, 0) {
                    Ok(child) => {
                        self.running.lock().insert(
                            key.clone(),
                            Running {
                                child,
                                ip: ip.clone(),
                                restarts: 0,
                                ready: false,
                                uid,
                                deleting_since: None,
                                next_probe: Instant::now(),
                            },
                        );
                        self.set_status(&ns, &name, &ip, false, 0, &image);
                    }
                    Err(e) => tracing::warn!(pod = %name, "kubelet cannot start the container: {e}"),
                }
                continue;
            }
            // Restart a container that exited (restartPolicy Always).
            let restart = {
                let mut running = self.running.lock();
                match running.get_mut(&key) {
                    Some(r) => match r.child.try_wait() {
                        Ok(Some(_)) => Some((r.ip.clone(), r.restarts + 1)),
                        _ => None,
                    },
                    None => None,
                }
            };
            if let Some((ip, restarts)) = restart {
                match self.start(&pod, &ip, restarts) {
                    Ok(child) => {
                        if let Some(r) = self.running.lock().get_mut(&key) {
                            r.child = child;
                            r.restarts = restarts;
                            r.ready = false;
                        }
                        self.set_status(&ns, &name, &ip, false, restarts, &image);
                    }
                    Err(e) => tracing::warn!(pod = %name, "kubelet cannot restart the container: {e}"),
                }
                continue;
            }
            let (ip, was_ready, restarts, due) = {
                let running = self.running.lock();
                let Some(r) = running.get(&key) else { continue };
                (r.ip.clone(), r.ready, r.restarts, r.next_probe <= Instant::now())
            };
            if !due {
                continue;
            }
            let ready = self.probe(&pod, &ip).await;
            if let Some(r) = self.running.lock().get_mut(&key) {
                r.ready = ready;
                r.next_probe = Instant::now() + Duration::from_millis(300);
            }
            let reported = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready != was_ready || ready != reported {
                self.set_status(&ns, &name, &ip, ready, restarts, &image);
            }
        }
        // Processes of pods removed behind the kubelet's back.
        let mut running = self.running.lock();
        let gone: Vec<_> = running.keys().filter(|k| !present.contains(k)).cloned().collect();
        for k in gone {
            if let Some(mut r) = running.remove(&k) {
                stop(&mut r.child);
            }
        }
    }
}

/// Expands `$(NAME)` references to variables defined before (unknown ones stay as written).
fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match env.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_like_kubernetes() {
        let env = vec![("POD_IP".to_string(), "127.1.0.2".to_string())];
        assert_eq!(expand("http://$(POD_IP):6335", &env), "http://127.1.0.2:6335");
        assert_eq!(expand("$(MISSING)/x", &env), "$(MISSING)/x");
        assert_eq!(expand("no refs", &env), "no refs");
    }
}
