//! When this node becomes a shard's primary because the old one failed, a write the old
//! primary was forwarding when it died may have reached some replicas and not others (it was
//! never acknowledged, but it is there). The new primary compares every Active replica with its
//! own copy, with the shard's writes held, and marks any that differs Dead, telling it first to
//! forget its place in the shard's order; it then copies itself whole from this primary, so no
//! two Active replicas stay different.

use quiver_cluster::metadata::ReplicaState;
use quiver_types::ShardId;

use super::wire::{ShardReply, ShardRequest, Target};
use super::{Distributed, StateChange};
use crate::error::ApiResult;

impl Distributed {
    /// Starts a check of every shard whose primary moved to this node since the last look.
    pub(super) fn check_takeovers(&self) {
        let me = self.node.id();
        for (name, c) in self.node.metadata().collections {
            for (&shard, s) in &c.shards {
                let key = (name.clone(), c.generation, shard);
                let before = self.primaries.lock().insert(key.clone(), s.primary);
                let took_over = s.primary == Some(me) && matches!(before, Some(Some(p)) if p != me);
                if !took_over {
                    continue;
                }
                let d = self.clone();
                let target = Target::of(name.clone(), c.generation);
                tokio::spawn(async move {
                    match d.align_replicas(&target, shard).await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(
                            "took over shard {shard} of `{}`: {n} replicas differed and copy themselves again",
                            target.collection
                        ),
                        Err(e) => {
                            tracing::warn!(
                                "took over shard {shard} of `{}`: comparing replicas failed: {e}; retrying",
                                target.collection
                            );
                            // Seen as not taken over yet: the next look tries again.
                            d.primaries.lock().insert(
                                (target.collection.clone(), target.generation, shard),
                                before.flatten(),
                            );
                        }
                    }
                });
            }
        }
    }

    /// Compares each other Active replica of `shard` with this one while no write of the shard
    /// goes through; marks those that differ Dead. Returns how many did.
    async fn align_replicas(&self, target: &Target, shard: ShardId) -> ApiResult<usize> {
        let lock = self.write_lock(&target.collection, shard);
        let _held = lock.lock().await;
        let me = self.node.id();
        let meta = self.meta(&target.collection)?;
        let others: Vec<_> = super::active_replicas(&meta, shard)
            .into_iter()
            .filter(|&n| n != me)
            .collect();
        let digest = |node| {
            let req = ShardRequest::Digest {
                target: target.clone(),
                shard,
            };
            async move {
                match self.call(node, req).await? {
                    ShardReply::Digest { points, hash } => Ok((points, hash)),
                    other => Err(crate::error::ApiError::Internal(format!(
                        "unexpected reply from a node: {other:?}"
                    ))),
                }
            }
        };
        let mine = digest(me).await?;
        let mut differed = 0;
        for node in others {
            // An unreachable replica is left to the write path (the next write demotes it).
            let Ok(theirs) = digest(node).await else {
                continue;
            };
            if theirs != mine {
                // A delta from its position would keep the difference: it copies itself whole.
                let forget = ShardRequest::Forget {
                    target: target.clone(),
                    shard,
                };
                self.call(node, forget).await?;
                let change = StateChange {
                    to: ReplicaState::Dead,
                    if_primary: Some(me),
                    expect: Some(ReplicaState::Active),
                };
                self.set_state(target, shard, node, change).await?;
                differed += 1;
            }
        }
        Ok(differed)
    }
}
