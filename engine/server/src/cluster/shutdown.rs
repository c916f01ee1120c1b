//! What a node does before a clean stop (a rolling upgrade, a SIGTERM), once it takes no more
//! client requests and while it still serves other nodes: it steps out of the write path, so
//! neither a primary elsewhere nor a coordinator waits on a node that is about to go away.
//!
//! Each local replica that has another Active copy is marked Dead through raft with the shard's
//! writes held, so no write is in flight on it as primary; the next Active replica becomes the
//! primary and primaries stop forwarding to it. Back up, it catches up by WAL delta from the
//! position saved at the stop. A replica that is its shard's only Active copy stays Active (its
//! shard is unavailable while the node is down, as it would be anyway). A raft leader hands
//! leadership to another voter first, so metadata writes do not wait for an election.

use std::time::Duration;

use quiver_cluster::metadata::ReplicaState;

use super::Distributed;

/// The longest a leadership hand-over may hold a stop up.
const HAND_OVER: Duration = Duration::from_secs(5);

impl Distributed {
    /// Steps this node out of every shard's write path and out of the raft leadership. Best
    /// effort: what fails is logged, and the stop goes on (the others then find this node
    /// unreachable, as after a crash).
    pub async fn step_down(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let me = self.node.id();
        let status = self.node.status();
        if status.leader == Some(me) {
            if let Some(&next) = status.voters.iter().find(|&&v| v != me) {
                match tokio::time::timeout(HAND_OVER, self.node.transfer_leadership(next)).await {
                    Ok(Ok(_)) => tracing::info!("handed the raft leadership to node {next}"),
                    Ok(Err(e)) => tracing::warn!("handing the raft leadership to node {next}: {e}"),
                    Err(_) => tracing::warn!("handing the raft leadership to node {next}: timed out"),
                }
            }
        }
        let mut settled = 0;
        for (name, c) in self.node.metadata().collections {
            for (&shard, s) in &c.shards {
                let mine_active = s
                    .replicas
                    .get(&me)
                    .is_some_and(|r| r.state == ReplicaState::Active);
                let others_active = s.active().iter().any(|&n| n != me);
                if !(mine_active && others_active) {
                    continue;
                }
                // No write of the shard is in flight here as its primary while it is handed on;
                // one that comes later finds this node no longer primary.
                let lock = self.write_lock(&name, shard);
                let _held = lock.lock().await;
                let cmd = quiver_cluster::Command::SetReplicaState {
                    collection: name.clone(),
                    generation: c.generation,
                    shard,
                    node: me,
                    state: ReplicaState::Dead,
                    if_primary: None,
                    expect: Some(ReplicaState::Active),
                    // Nodes stopping together never leave a shard without an Active replica.
                    unless_last_active: true,
                };
                match self.node.propose_at(cmd).await {
                    Ok((quiver_cluster::Outcome::Rejected(why), _)) => {
                        tracing::info!("staying in shard {shard} of `{name}`: {why}")
                    }
                    Ok((_, index)) => settled = settled.max(index),
                    Err(e) => tracing::warn!("stepping out of shard {shard} of `{name}`: {e}"),
                }
            }
        }
        if settled > 0 {
            // Every member knows before this node stops answering.
            if let Err(e) = self.settled(settled).await {
                tracing::warn!("waiting for the step-down to reach every node: {e}");
            }
            tracing::info!("stepped out of the write path of every replicated shard");
        }
    }
}
