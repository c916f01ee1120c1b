//! Collections in cluster mode: raft metadata says which node holds which shard replica; this
//! module keeps the local catalog in line with it ([`reconcile`]), answers other nodes' requests
//! about local replicas ([`service`]) and coordinates API requests across nodes ([`coordinator`]).
//!
//! Writes: the coordinator splits an update by shard and sends each part to the shard's primary
//! (its first Active replica). The primary applies it, then sends it to every other Active
//! replica while holding the shard's write lock, so all replicas apply one shard's writes in
//! the same order. The write is acknowledged once `write_consistency_factor` replicas have it
//! and every Active replica either has it or was demoted to Dead by a committed raft entry.
//! Reads go to one Active replica of each shard (this node's own when it has one).

pub mod coordinator;
pub mod reconcile;
pub mod service;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use quiver_cluster::metadata::{CollectionMeta, ReplicaState};
use quiver_cluster::{ClusterNode, NodeId};
use quiver_collection::{Catalog, Collection, CollectionConfig, Scope};
use quiver_types::ShardId;

use crate::error::{ApiError, ApiResult};
use wire::{ShardReply, ShardRequest, Target};

/// Held by a primary while it applies and replicates one write of a shard.
type WriteLock = Arc<tokio::sync::Mutex<()>>;

/// How long a request waits for this node to catch up with the metadata it names.
const CATCH_UP: Duration = Duration::from_secs(10);

/// This node's part in cluster-mode collections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Distributed {
    node: Arc<ClusterNode>,
    catalog: Arc<Catalog>,
    /// The raft index the local catalog has been reconciled with.
    reconciled: tokio::sync::watch::Receiver<u64>,
    /// One write lock per (collection, shard) this node is primary of.
    write_locks: Arc<Mutex<HashMap<(String, ShardId), WriteLock>>>,
}

impl Distributed {
    /// Reconciles the catalog with the current metadata, then keeps doing so on every change.
    pub async fn start(node: Arc<ClusterNode>, catalog: Arc<Catalog>) -> anyhow::Result<Distributed> {
        let reconciled = reconcile::spawn(Arc::clone(&node), Arc::clone(&catalog)).await?;
        Ok(Distributed {
            node,
            catalog,
            reconciled,
            write_locks: Arc::default(),
        })
    }

    pub fn node(&self) -> &Arc<ClusterNode> {
        &self.node
    }

    /// Waits until the local catalog reflects raft index `index`.
    async fn caught_up(&self, index: u64) -> ApiResult<()> {
        let mut rx = self.reconciled.clone();
        let reached = matches!(
            tokio::time::timeout(CATCH_UP, rx.wait_for(|&r| r >= index)).await,
            Ok(Ok(_))
        );
        match reached {
            true => Ok(()),
            false => Err(ApiError::Unavailable(format!(
                "node {} has not caught up with cluster metadata index {index}",
                self.node.id()
            ))),
        }
    }

    /// The metadata of `name`, or 404.
    fn meta(&self, name: &str) -> ApiResult<CollectionMeta> {
        self.node
            .metadata()
            .collections
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Not found: Collection `{name}` doesn't exist!")))
    }

    /// The local collection named by `target`, once this node caught up with its generation.
    async fn local(&self, target: &Target) -> ApiResult<Arc<Collection>> {
        self.caught_up(target.generation).await?;
        match self.node.metadata().collections.get(&target.collection) {
            Some(m) if m.generation == target.generation => {}
            _ => {
                return Err(ApiError::NotFound(format!(
                    "Not found: Collection `{}` (generation {}) doesn't exist here",
                    target.collection, target.generation
                )))
            }
        }
        Ok(self.catalog.get(&target.collection)?)
    }

    /// Runs a request about this node's replicas.
    pub async fn serve(&self, req: ShardRequest) -> ApiResult<ShardReply> {
        match req {
            ShardRequest::Write {
                target,
                shard,
                op,
                wait,
            } => self.write_as_primary(target, shard, op, wait).await,
            ShardRequest::Replicate {
                target,
                shard,
                op,
                wait,
                from,
                as_of,
            } => {
                let c = self.local(&target).await?;
                self.caught_up(as_of).await?;
                let primary = active_replicas(&self.meta(&target.collection)?, shard)
                    .first()
                    .copied();
                if primary != Some(from) {
                    return Err(ApiError::Unavailable(format!(
                        "node {from} is not the primary of shard {shard} (the primary is {primary:?})"
                    )));
                }
                if !c.local_shard_ids().contains(&shard) {
                    return Err(ApiError::NotFound(format!(
                        "shard {shard} is not stored on node {}",
                        self.node.id()
                    )));
                }
                let r = blocking(move || Ok(c.update(&op, wait)?)).await?;
                Ok(ShardReply::Written {
                    operation_id: r.operation_id,
                })
            }
            ShardRequest::Query { target, shards, req } => {
                let c = self.local(&target).await?;
                let points = blocking(move || Ok(c.query_in(&req, Scope::Only(&shards))?)).await?;
                Ok(ShardReply::Points(points))
            }
            ShardRequest::Count {
                target,
                shards,
                filter,
            } => {
                let c = self.local(&target).await?;
                let n = blocking(move || Ok(c.count_in(filter.as_ref(), Scope::Only(&shards)))).await?;
                Ok(ShardReply::Count(n))
            }
            ShardRequest::Scroll { target, shards, req } => {
                let c = self.local(&target).await?;
                let (records, next) = blocking(move || Ok(c.scroll_in(&req, Scope::Only(&shards))?)).await?;
                Ok(ShardReply::Page(records, next))
            }
            ShardRequest::Retrieve {
                target,
                ids,
                with_payload,
                with_vector,
            } => {
                let c = self.local(&target).await?;
                let records = blocking(move || Ok(c.retrieve(&ids, &with_payload, &with_vector))).await?;
                Ok(ShardReply::Records(records))
            }
        }
    }

    /// The primary's side of a write: apply here, then on every other Active replica, in order.
    async fn write_as_primary(
        &self,
        target: Target,
        shard: ShardId,
        op: quiver_types::UpdateOperation,
        wait: bool,
    ) -> ApiResult<ShardReply> {
        let c = self.local(&target).await?;
        let lock = {
            let mut locks = self.write_locks.lock();
            Arc::clone(locks.entry((target.collection.clone(), shard)).or_default())
        };
        let _ordered = lock.lock().await;
        // The index first: the metadata read after it is at least that new.
        let as_of = *self.reconciled.borrow();
        let meta = self.meta(&target.collection)?;
        let replicas = active_replicas(&meta, shard);
        if replicas.first() != Some(&self.node.id()) {
            return Err(ApiError::Unavailable(format!(
                "node {} is no longer the primary of shard {shard}",
                self.node.id()
            )));
        }
        let config: CollectionConfig = config_of(&meta)?;
        let local_op = op.clone();
        let r = blocking(move || Ok(c.update(&local_op, wait)?)).await?;
        let others: Vec<NodeId> = replicas[1..].to_vec();
        let sends = others.iter().map(|&peer| {
            let req = ShardRequest::Replicate {
                target: target.clone(),
                shard,
                op: op.clone(),
                wait,
                from: self.node.id(),
                as_of,
            };
            async move { (peer, self.call(peer, req).await) }
        });
        let results = futures_util::future::join_all(sends).await;
        let mut acks = 1u32;
        for (peer, result) in results {
            match result {
                Ok(_) => acks += 1,
                Err(e) => {
                    // No acknowledged write may be missing from a replica that still claims to be
                    // Active: demote it through raft before answering.
                    tracing::warn!(
                        "replica of shard {shard} on node {peer} missed a write: {e}; marking it Dead"
                    );
                    self.set_state(&target, shard, peer, ReplicaState::Dead, self.node.id())
                        .await?;
                }
            }
        }
        let needed = config.params.write_consistency_factor.max(1);
        if acks < needed {
            return Err(ApiError::Unavailable(format!(
                "shard {shard}: {acks} of the {needed} replicas write_consistency_factor requires took the write"
            )));
        }
        Ok(ShardReply::Written {
            operation_id: r.operation_id,
        })
    }

    /// Commits a replica state change through raft, only while `if_primary` is still the
    /// shard's primary.
    pub(crate) async fn set_state(
        &self,
        target: &Target,
        shard: ShardId,
        node: NodeId,
        state: ReplicaState,
        if_primary: NodeId,
    ) -> ApiResult<()> {
        let cmd = quiver_cluster::Command::SetReplicaState {
            collection: target.collection.clone(),
            generation: target.generation,
            shard,
            node,
            state,
            if_primary: Some(if_primary),
        };
        match self.node.propose(cmd).await {
            Ok(quiver_cluster::Outcome::Rejected(why)) => Err(ApiError::Unavailable(why)),
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::Unavailable(format!(
                "cannot demote replica on node {node}: {e}"
            ))),
        }
    }

    /// Sends `req` to node `peer` (or serves it here when `peer` is this node).
    async fn call(&self, peer: NodeId, req: ShardRequest) -> ApiResult<ShardReply> {
        Ok(self.try_call(peer, req).await?)
    }

    /// [`Distributed::call`], telling an unreachable node from an error answer.
    async fn try_call(&self, peer: NodeId, req: ShardRequest) -> Result<ShardReply, service::CallError> {
        if peer == self.node.id() {
            return Ok(Box::pin(self.serve(req)).await?);
        }
        service::call(&self.node, peer, &req).await
    }
}

/// The Active replicas of `shard`, in placement (node id) order: the first is the primary.
pub fn active_replicas(meta: &CollectionMeta, shard: ShardId) -> Vec<NodeId> {
    meta.shards
        .get(shard as usize)
        .map(|s| {
            s.replicas
                .iter()
                .filter(|(_, r)| r.state == ReplicaState::Active)
                .map(|(n, _)| *n)
                .collect()
        })
        .unwrap_or_default()
}

/// The collection config stored in the metadata.
pub fn config_of(meta: &CollectionMeta) -> ApiResult<CollectionConfig> {
    serde_json::from_value(meta.config.clone())
        .map_err(|e| ApiError::Internal(format!("collection config in cluster metadata: {e}")))
}

/// Runs engine work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("Service internal error: task failed: {e}")))?
}
