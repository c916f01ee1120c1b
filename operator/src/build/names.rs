//! Names and labels of a cluster's children, in one place so that builders, the reconciler and
//! the tests agree on them.

use std::collections::BTreeMap;

/// The operator's name as a field manager and event reporter.
pub const MANAGER: &str = "quiver-operator";
/// Label: the cluster a child belongs to.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// Label: the StatefulSet-like ordinal of an engine pod.
pub const NODE_INDEX: &str = "quiver.dev/node-index";
/// Annotation: what the pod runs (version and settings hash); a change restarts the pod.
pub const REVISION: &str = "quiver.dev/revision";
/// The engine container's name.
pub const ENGINE: &str = "engine";
/// Where an engine pod's volume is mounted.
pub const DATA_MOUNT: &str = "/var/lib/quiver";
/// REST, gRPC and node-to-node ports of the engine.
pub const HTTP_PORT: i32 = 6333;
pub const GRPC_PORT: i32 = 6334;
pub const P2P_PORT: i32 = 6335;

/// The names of one cluster's children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub cluster: String,
}

impl Names {
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
        }
    }
    pub fn pod(&self, index: u32) -> String {
        format!("{}-{index}", self.cluster)
    }
    /// The volume claim of pod `index`: kept across the pod's restarts, deleted with a
    /// scale-down of that pod.
    pub fn pvc(&self, index: u32) -> String {
        format!("data-{}-{index}", self.cluster)
    }
    /// The headless Service that gives every pod a stable DNS name.
    pub fn headless(&self) -> String {
        format!("{}-headless", self.cluster)
    }
    /// The Service clients use (REST and gRPC of every ready pod).
    pub fn client(&self) -> String {
        self.cluster.clone()
    }
    pub fn settings(&self) -> String {
        format!("{}-settings", self.cluster)
    }
    pub fn pdb(&self) -> String {
        self.cluster.clone()
    }
    /// Labels every child carries (and the pods' selector).
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "quiver".to_string()),
            (INSTANCE.to_string(), self.cluster.clone()),
        ])
    }
    /// `selector()` as a label selector string for list calls.
    pub fn selector_string(&self) -> String {
        self.selector()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.selector();
        l.insert("app.kubernetes.io/managed-by".to_string(), MANAGER.to_string());
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_have_distinct_names_per_kind_and_index() {
        let n = Names::new("vec");
        assert_eq!(n.pod(2), "vec-2");
        assert_eq!(n.pvc(2), "data-vec-2");
        assert_ne!(n.headless(), n.client());
        assert_eq!(
            n.selector_string(),
            "app.kubernetes.io/instance=vec,app.kubernetes.io/name=quiver"
        );
    }
}
