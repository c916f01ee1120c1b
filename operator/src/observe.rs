//! What the planner sees, put together from the pods Kubernetes reports and the node views the
//! engines answer. Pure: the reconciler fetches, this function only combines, so its rules
//! (which view to trust, what counts as ready) are unit-tested.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::build::names;
use crate::engine::{NodeView, ReplicaState};
use crate::plan;

/// One engine pod with what its engine answered (None: it did not).
#[derive(Debug, Clone)]
pub struct PodState {
    pub index: u32,
    pub name: String,
    pub ip: Option<String>,
    pub ready: bool,
    pub revision: String,
    pub terminating: bool,
    pub view: Option<NodeView>,
}

/// Whether Kubernetes reports `pod` Ready (its readiness probe, `/readyz`, passes).
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A pod as the reconciler needs it, or None for a pod that is not an engine pod of ours.
pub fn pod_state(pod: &Pod, view: Option<NodeView>) -> Option<PodState> {
    let meta = &pod.metadata;
    let index = meta.labels.as_ref()?.get(names::NODE_INDEX)?.parse().ok()?;
    let status = pod.status.as_ref();
    let ready = pod_ready(pod);
    Some(PodState {
        index,
        name: meta.name.clone().unwrap_or_default(),
        ip: status.and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()),
        ready: ready && meta.deletion_timestamp.is_none(),
        revision: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(names::REVISION).cloned())
            .unwrap_or_default(),
        terminating: meta.deletion_timestamp.is_some(),
        view,
    })
}

/// The view to trust for membership and layout: the leader's own when it answered (it decides
/// membership), else the one with the highest number of known members.
pub fn authoritative(pods: &[PodState]) -> Option<&NodeView> {
    let views = || pods.iter().filter_map(|p| p.view.as_ref());
    views()
        .find(|v| v.raft.leader == Some(v.raft.peer_id))
        .or_else(|| views().max_by_key(|v| v.raft.voters.len() + v.raft.learners.len()))
}

/// The planner's input.
pub fn observed(pods: &[PodState], leaving: Option<u32>) -> plan::Observed {
    let view = authoritative(pods);
    let mut shards = BTreeMap::new();
    if let Some(v) = view {
        for s in &v.layout {
            let replicas = s
                .replicas
                .iter()
                .map(|(&peer, st)| {
                    let st = match st {
                        ReplicaState::Active => plan::Replica::Active,
                        ReplicaState::Dead => plan::Replica::Dead,
                        ReplicaState::Partial | ReplicaState::Initializing => plan::Replica::Partial,
                    };
                    (peer, st)
                })
                .collect();
            shards.insert((s.collection.clone(), s.shard_id), replicas);
        }
    }
    plan::Observed {
        pods: pods
            .iter()
            .map(|p| plan::Pod {
                index: p.index,
                // A pod counts as ready when Kubernetes says so and its engine answered.
                ready: p.ready && p.view.is_some() && !p.terminating,
                version: p.revision.clone(),
                // A pod whose engine is silent is still known by its address.
                peer: p.view.as_ref().map(|v| v.raft.peer_id).or_else(|| {
                    let ip = p.ip.as_deref()?;
                    view?
                        .raft
                        .peers
                        .iter()
                        .find(|(_, info)| uri_host(&info.uri) == Some(ip))
                        .map(|(id, _)| *id)
                }),
            })
            .collect(),
        leader: view.and_then(|v| v.raft.leader),
        voters: view
            .map(|v| v.raft.voters.iter().copied().collect())
            .unwrap_or_default(),
        learners: view
            .map(|v| v.raft.learners.iter().copied().collect())
            .unwrap_or_default(),
        shards,
        leaving,
        // Filled in by the reconciler from the volume claims.
        volumes: Default::default(),
    }
}

/// The host of `http://host:port` (brackets of an IPv6 host removed).
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => rest.split([':', '/']).next()?,
    };
    Some(host)
}

/// The p2p address of the leader (else of any member) for a new pod to join through.
pub fn join_address(pods: &[PodState]) -> Option<String> {
    let view = authoritative(pods)?;
    let pick = view.raft.leader.or_else(|| view.raft.voters.first().copied())?;
    view.raft.peers.get(&pick).map(|p| p.uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{PeerInfo, RaftView, ShardLayout};

    fn view(me: u64, leader: Option<u64>, voters: &[u64]) -> NodeView {
        NodeView {
            raft: RaftView {
                peer_id: me,
                peers: voters
                    .iter()
                    .map(|&p| {
                        (
                            p,
                            PeerInfo {
                                uri: format!("http://10.0.0.{p}:6335"),
                            },
                        )
                    })
                    .collect(),
                voters: voters.to_vec(),
                learners: vec![],
                leader,
                role: if leader == Some(me) { "Leader" } else { "Follower" }.into(),
            },
            not_ready: vec![],
            incoming_transfers: vec![],
            layout: vec![ShardLayout {
                collection: "c".into(),
                shard_id: 0,
                replicas: BTreeMap::from([(me, ReplicaState::Initializing)]),
            }],
        }
    }

    fn state(index: u32, view: Option<NodeView>) -> PodState {
        PodState {
            index,
            name: format!("q-{index}"),
            ip: Some(format!("10.0.0.{index}")),
            ready: true,
            revision: "r1".into(),
            terminating: false,
            view,
        }
    }

    #[test]
    fn the_leaders_view_wins_and_a_silent_engine_is_not_ready() {
        let pods = vec![
            state(0, Some(view(1, Some(2), &[1, 2]))),
            state(1, Some(view(2, Some(2), &[1, 2, 3]))),
            PodState {
                ip: Some("10.0.0.9".into()),
                ..state(2, None)
            },
        ];
        let o = observed(&pods, None);
        assert_eq!(o.leader, Some(2));
        assert_eq!(o.voters.len(), 3, "the leader's membership");
        assert_eq!(o.shards[&("c".to_string(), 0)][&2], plan::Replica::Partial);
        assert!(o.pods[0].ready && o.pods[1].ready);
        assert!(!o.pods[2].ready);
        assert_eq!(o.pods[2].peer, None, "no member has its address");
        let mut silent = pods.clone();
        silent[2].ip = Some("10.0.0.3".into());
        assert_eq!(
            observed(&silent, None).pods[2].peer,
            Some(3),
            "known by its address"
        );
        assert_eq!(join_address(&pods).as_deref(), Some("http://10.0.0.2:6335"));
    }
}
