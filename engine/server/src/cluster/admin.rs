//! Membership steps an operator takes one at a time: promote a learner, demote a voter, move
//! the raft leadership, and drain a node (move every replica it holds elsewhere).

use std::collections::BTreeMap;

use quiver_cluster::metadata::ReplicaState;
use quiver_cluster::{ClusterError, NodeId};
use quiver_types::ShardId;
use serde::Serialize;

use super::coordinator::ReplicaChange;
use super::Distributed;
use crate::error::{ApiError, ApiResult};

/// One replica a drain moves: shard `shard_id` of `collection` from the drained node to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrainMove {
    pub collection: String,
    pub shard_id: ShardId,
    pub to: NodeId,
}

/// Where a drain stands after one call (the call is repeated until `remaining` is 0).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    /// Moves started by this call.
    pub started: Vec<DrainMove>,
    /// Replicas dropped by this call (their shard already has enough Active replicas elsewhere).
    pub dropped: Vec<(String, ShardId)>,
    /// Shards whose move is still copying (a replica elsewhere is not Active yet).
    pub in_flight: usize,
    /// Replicas still on the node.
    pub remaining: usize,
}

/// Maps a membership error once: bad ids are the caller's, refusals too, the rest is transient.
fn membership_error(e: ClusterError) -> ApiError {
    match e {
        ClusterError::Invalid(m) | ClusterError::Refused(m) => ApiError::InvalidInput(m),
        e => ApiError::Unavailable(e.to_string()),
    }
}

impl Distributed {
    /// Makes learner `peer` a voter.
    pub async fn promote(&self, peer: NodeId) -> ApiResult<()> {
        self.node()
            .promote(peer)
            .await
            .map(drop)
            .map_err(membership_error)
    }

    /// Makes voter `peer` a learner; refused while it holds replicas (drain it first).
    pub async fn demote(&self, peer: NodeId) -> ApiResult<()> {
        let held = self.replicas_on(peer);
        if held > 0 {
            return Err(ApiError::invalid(format!(
                "peer_id: node {peer} still holds {held} replicas; drain it first"
            )));
        }
        self.node().demote(peer).await.map(drop).map_err(membership_error)
    }

    /// Hands the raft leadership to voter `peer`.
    pub async fn transfer_leadership(&self, peer: NodeId) -> ApiResult<()> {
        self.node()
            .transfer_leadership(peer)
            .await
            .map(drop)
            .map_err(membership_error)
    }

    /// The replicas node `peer` holds, over all collections.
    pub fn replicas_on(&self, peer: NodeId) -> usize {
        self.node()
            .metadata()
            .collections
            .values()
            .map(|c| c.shards_on(peer).len())
            .sum()
    }

    /// One step of draining node `peer`: for each shard with a replica on it, drop that
    /// replica when the shard already has its full replication factor in Active replicas
    /// elsewhere,
    /// wait while a copy elsewhere is still catching up, else start a move to the voter with the
    /// fewest replicas that does not hold the shard. Refused up front, changing nothing, when
    /// some shard has nowhere to go.
    pub async fn drain(&self, peer: NodeId) -> ApiResult<DrainReport> {
        let voters = self.node().status().voters;
        let metadata = self.node().metadata();
        let targets: Vec<NodeId> = voters.iter().copied().filter(|&v| v != peer).collect();
        let mut load: BTreeMap<NodeId, usize> = targets.iter().map(|&t| (t, 0)).collect();
        for c in metadata.collections.values() {
            for s in c.shards.values() {
                for n in s.replicas.keys() {
                    if let Some(l) = load.get_mut(n) {
                        *l += 1;
                    }
                }
            }
        }
        enum Step {
            Move(String, ShardId, NodeId),
            Drop(String, ShardId),
            Wait,
        }
        let mut steps = Vec::new();
        for (name, c) in &metadata.collections {
            let wanted = super::config_of(c)?.params.replication_factor.max(1) as usize;
            for (&shard, s) in &c.shards {
                if !s.replicas.contains_key(&peer) {
                    continue;
                }
                let others: Vec<_> = s.replicas.iter().filter(|(n, _)| **n != peer).collect();
                if others.iter().any(|(_, r)| r.state != ReplicaState::Active) {
                    steps.push(Step::Wait);
                } else if others.len() >= wanted {
                    steps.push(Step::Drop(name.clone(), shard));
                } else {
                    let to = targets
                        .iter()
                        .copied()
                        .filter(|t| !s.replicas.contains_key(t))
                        .min_by_key(|t| (load.get(t).copied().unwrap_or(0), *t));
                    let Some(to) = to else {
                        return Err(ApiError::invalid(format!(
                            "cannot drain node {peer}: shard {shard} of `{name}` already has a replica on every other voter, \
                             and dropping this one would leave it below its replication factor {wanted}; add a node or lower \
                             replication_factor first"
                        )));
                    };
                    *load.entry(to).or_default() += 1;
                    steps.push(Step::Move(name.clone(), shard, to));
                }
            }
        }
        let mut report = DrainReport::default();
        for step in steps {
            match step {
                Step::Wait => report.in_flight += 1,
                Step::Drop(collection, shard) => {
                    self.change_replicas(collection.clone(), ReplicaChange::Drop { shard, peer })
                        .await?;
                    report.dropped.push((collection, shard));
                }
                Step::Move(collection, shard, to) => {
                    let change = ReplicaChange::Move {
                        shard,
                        from: peer,
                        to,
                        method: None,
                    };
                    self.change_replicas(collection.clone(), change).await?;
                    report.in_flight += 1;
                    report.started.push(DrainMove {
                        collection,
                        shard_id: shard,
                        to,
                    });
                }
            }
        }
        report.remaining = self.replicas_on(peer);
        Ok(report)
    }
}
