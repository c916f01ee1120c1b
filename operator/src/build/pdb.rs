//! The PodDisruptionBudget: voluntary evictions (node drains, cluster upgrades) may take at most
//! as many engine pods as keep a raft majority. It follows `nodes`, so scaling recomputes it.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Names;

/// Pods that must stay up for a raft majority of `nodes` voters.
pub fn majority(nodes: u32) -> u32 {
    nodes / 2 + 1
}

/// The budget for a cluster of `nodes`.
pub fn pdb(names: &Names, nodes: u32, owner: &OwnerReference) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(names.pdb()),
            labels: Some(names.labels()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(majority(nodes) as i32)),
            selector: Some(LabelSelector {
                match_labels: Some(names.selector()),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_majority() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
        let p = pdb(&Names::new("vec"), 5, &OwnerReference::default());
        assert_eq!(p.spec.and_then(|s| s.min_available), Some(IntOrString::Int(3)));
    }
}
