//! Recovering a shard snapshot on one replica in a cluster, and making the other replicas agree
//! with the chosen data (see [`SnapshotPriority`]).

use quiver_cluster::metadata::ReplicaState;
use quiver_types::ShardId;

use super::wire::Target;
use super::{blocking, Distributed, StateChange};
use crate::api::SnapshotPriority;
use crate::error::{ApiError, ApiResult};

impl Distributed {
    /// Replaces this node's replica of `shard` of `name` with the archive at `path`, then, by
    /// `priority`: marks every other replica Dead so they copy from this one (`Snapshot`); has
    /// this one copy itself again from the primary when another replica is Active (`Replica`);
    /// or leaves the states alone (`NoSync`). Writes acknowledged while the recovery runs may
    /// be overwritten by the snapshot's data: a recovery is a restore.
    pub async fn recover_shard(
        &self,
        name: String,
        shard: ShardId,
        path: std::path::PathBuf,
        checksum: Option<String>,
        priority: SnapshotPriority,
    ) -> ApiResult<()> {
        let (meta, target) = self.target(&name).await?;
        let me = self.node.id();
        let Some(s) = meta.shards.get(&shard) else {
            return Err(ApiError::invalid(format!(
                "shard_id: collection `{name}` has no shard {shard}"
            )));
        };
        if !s.replicas.contains_key(&me) {
            return Err(ApiError::invalid(format!(
                "shard_id: node {me} holds no replica of shard {shard}; recover it on a node that does"
            )));
        }
        let key = (target.collection.clone(), target.generation, shard);
        if self.recovering.lock().contains(&key) {
            return Err(ApiError::Unavailable(format!(
                "the replica of shard {shard} on node {me} is being copied from its primary; try again when it is Active"
            )));
        }
        let local = self.catalog.get(&target.collection)?;
        {
            // No forwarded write of this shard lands here halfway through the swap.
            let lock = self.write_lock(&target.collection, shard);
            let _held = lock.lock().await;
            blocking(move || Ok(local.recover_shard_snapshot(shard, &path, checksum.as_deref())?)).await?;
            // Its place in the shard's order no longer describes its data: no delta is served
            // from it or taken by it (the replicas that copy from it copy it whole).
            self.journals.taint(&key);
        }
        let others_active = s
            .replicas
            .iter()
            .any(|(n, r)| *n != me && r.state == ReplicaState::Active);
        match priority {
            SnapshotPriority::NoSync => Ok(()),
            SnapshotPriority::Replica if others_active => {
                let change = StateChange {
                    to: ReplicaState::Dead,
                    if_primary: None,
                    expect: None,
                };
                let index = self.set_state(&target, shard, me, change).await?;
                self.caught_up(index).await
            }
            SnapshotPriority::Replica | SnapshotPriority::Snapshot => self.sole_source(&target, shard).await,
        }
    }

    /// Makes this node's replica of `shard` the one the others copy from: Active, and every
    /// other replica Dead (the primary then moves here, the only Active replica left).
    async fn sole_source(&self, target: &Target, shard: ShardId) -> ApiResult<()> {
        let me = self.node.id();
        let set = |to| StateChange {
            to,
            if_primary: None,
            expect: None,
        };
        let mut index = self
            .set_state(target, shard, me, set(ReplicaState::Active))
            .await?;
        let meta = self.meta(&target.collection)?;
        let others: Vec<_> = meta
            .shards
            .get(&shard)
            .map(|s| {
                s.replicas
                    .iter()
                    .filter(|(n, r)| **n != me && r.state != ReplicaState::Dead)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default();
        for node in others {
            index = index.max(
                self.set_state(target, shard, node, set(ReplicaState::Dead))
                    .await?,
            );
        }
        self.caught_up(index).await
    }
}
