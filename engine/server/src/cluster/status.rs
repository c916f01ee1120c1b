//! What the operator (and a Kubernetes readiness probe) asks a node: its raft view, the state of
//! every replica it holds, the copies it is receiving, and whether it can serve all of them.

use quiver_cluster::metadata::ReplicaState;
use quiver_types::ShardId;
use serde::Serialize;

use super::Distributed;

/// One replica held by this node.
#[derive(Debug, Clone, Serialize)]
pub struct LocalReplica {
    pub collection: String,
    pub shard_id: ShardId,
    pub state: ReplicaState,
}

/// This node as the admin surface reports it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub raft: quiver_cluster::ClusterStatus,
    /// The raft index the local collections reflect.
    pub reconciled_index: u64,
    pub replicas: Vec<LocalReplica>,
    /// (collection, shard) of the local replicas being copied from their primary.
    pub incoming_transfers: Vec<(String, ShardId)>,
    /// Empty when the node can serve every replica it holds; else why not.
    pub not_ready: Vec<String>,
    /// Every collection's replica layout as this node's metadata has it (the operator plans
    /// drains and upgrades from it without asking each node).
    pub layout: Vec<ShardLayout>,
}

/// One shard of one collection and the state of each of its replicas, by peer.
#[derive(Debug, Clone, Serialize)]
pub struct ShardLayout {
    pub collection: String,
    pub shard_id: ShardId,
    pub replicas: std::collections::BTreeMap<u64, ReplicaState>,
}

impl Distributed {
    /// This node's status.
    pub fn node_status(&self) -> NodeStatus {
        let me = self.node.id();
        let raft = self.node.status();
        let reconciled_index = *self.reconciled.borrow();
        let mut replicas = Vec::new();
        let mut layout = Vec::new();
        for (name, c) in self.node.metadata().collections {
            for (&i, s) in &c.shards {
                layout.push(ShardLayout {
                    collection: name.clone(),
                    shard_id: i,
                    replicas: s.replicas.iter().map(|(&p, r)| (p, r.state)).collect(),
                });
                if let Some(r) = s.replicas.get(&me) {
                    replicas.push(LocalReplica {
                        collection: name.clone(),
                        shard_id: i,
                        state: r.state,
                    });
                }
            }
        }
        let incoming_transfers = self.transfers.lock().keys().cloned().collect();
        let mut not_ready = Vec::new();
        if raft.leader.is_none() {
            not_ready.push("no raft leader is known".to_string());
        }
        // A learner is ready too: it coordinates requests like any member, and the operator's
        // promotion of a new node waits for its pod to be ready.
        if raft.last_applied.is_some_and(|a| a > reconciled_index) {
            not_ready.push(format!(
                "local collections reflect raft index {reconciled_index}, {} is applied",
                raft.last_applied.unwrap_or(0)
            ));
        }
        for (collection, shard) in self.unfinished_restores() {
            not_ready.push(format!(
                "the recovery of shard {shard} of `{collection}` from a snapshot is being finished"
            ));
        }
        for r in &replicas {
            if r.state != ReplicaState::Active {
                not_ready.push(format!(
                    "replica of shard {} of `{}` is {:?}",
                    r.shard_id, r.collection, r.state
                ));
            }
        }
        NodeStatus {
            raft,
            reconciled_index,
            replicas,
            incoming_transfers,
            not_ready,
            layout,
        }
    }
}
