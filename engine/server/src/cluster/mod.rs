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

pub mod admin;
pub mod coordinator;
pub mod journal;
pub mod reads;
pub mod reconcile;
pub mod recovery;
pub mod replica;
pub mod restore;
pub mod service;
pub mod shard_keys;
pub mod shutdown;
pub mod snapshot_transfer;
pub mod status;
pub mod takeover;
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

/// A shard of a collection, by name.
type ShardKey = (String, ShardId);

/// A shard of one generation of a collection (a recreated collection's shards are others).
type ShardOfGeneration = (String, u64, ShardId);

/// Held by a primary while it applies and replicates one write of a shard.
type WriteLock = Arc<tokio::sync::Mutex<()>>;

/// How long a request waits for this node to catch up with the metadata it names.
const CATCH_UP: Duration = Duration::from_secs(10);

/// How long an acknowledged metadata change waits for the other members to apply it. A member
/// that is down or cut off is not waited for past this: it catches up before it is ready again.
const SETTLE_EVERYWHERE: Duration = Duration::from_secs(5);

/// This node's part in cluster-mode collections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Distributed {
    node: Arc<ClusterNode>,
    catalog: Arc<Catalog>,
    /// The raft index the local catalog has been reconciled with.
    reconciled: tokio::sync::watch::Receiver<u64>,
    /// One write lock per (collection, shard) this node is primary of.
    write_locks: Arc<Mutex<HashMap<ShardKey, WriteLock>>>,
    /// Local replicas catching up (Partial), by (collection, shard).
    transfers: Arc<Mutex<HashMap<ShardKey, Arc<recovery::Incoming>>>>,
    /// Recoveries running on this node, by (collection, generation, shard).
    recovering: Arc<Mutex<std::collections::HashSet<ShardOfGeneration>>>,
    /// The primary last seen for each (collection, generation, shard), to notice a takeover.
    primaries: Arc<Mutex<HashMap<ShardOfGeneration, Option<NodeId>>>>,
    /// Each local replica's place in its shard's write order, and its recent writes.
    journals: Arc<journal::Journals>,
    /// Deadline of a request to another node (`cluster.grpc_timeout_ms`).
    call_timeout: std::time::Duration,
    /// Set when a clean stop begins: the replicas it steps out of are not recovered here (their
    /// data and position are kept for the catch-up after the restart).
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Distributed {
    /// Reconciles the catalog with the current metadata, then keeps doing so on every change.
    /// `window_bytes`: how much of its recent writes each local replica keeps for deltas.
    pub async fn start(
        node: Arc<ClusterNode>,
        catalog: Arc<Catalog>,
        window_bytes: usize,
        call_timeout: std::time::Duration,
    ) -> anyhow::Result<Distributed> {
        let reconciled = reconcile::spawn(Arc::clone(&node), Arc::clone(&catalog)).await?;
        let d = Distributed {
            node,
            catalog,
            reconciled,
            write_locks: Arc::default(),
            transfers: Arc::default(),
            recovering: Arc::default(),
            primaries: Arc::default(),
            journals: Arc::new(journal::Journals::new(window_bytes)),
            call_timeout,
            stopping: Arc::default(),
        };
        d.load_positions();
        d.finish_interrupted_restores();
        // Transfer archives left by an earlier run are of transfers that ended with it.
        snapshot_transfer::clear_dir(&d.transfer_dir());
        d.spawn_healer();
        Ok(d)
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

    /// Waits until this node reflects raft index `index`, then (bounded by [`SETTLE_EVERYWHERE`])
    /// until every other member does, so that after a metadata change is acknowledged no reachable
    /// node answers from the metadata before it (a dropped shard key's points, a deleted
    /// collection).
    async fn settled(&self, index: u64) -> ApiResult<()> {
        self.caught_up(index).await?;
        let me = self.node.id();
        let others: Vec<NodeId> = self
            .node
            .status()
            .peers
            .into_keys()
            .filter(|&p| p != me)
            .collect();
        let waits = others.into_iter().map(|peer| async move {
            let reply = self.try_call(peer, ShardRequest::CaughtUp { index }).await;
            (peer, reply)
        });
        match tokio::time::timeout(SETTLE_EVERYWHERE, futures_util::future::join_all(waits)).await {
            Ok(replies) => {
                for (peer, reply) in replies {
                    if let Err(e) = reply {
                        tracing::warn!(peer, index, "member has not confirmed metadata index: {e:?}");
                    }
                }
            }
            Err(_) => tracing::warn!(index, "not every member confirmed metadata index in time"),
        }
        Ok(())
    }

    /// The metadata of `name`, or 404.
    fn meta(&self, name: &str) -> ApiResult<CollectionMeta> {
        let metadata = self.node.metadata();
        let name = metadata.aliases.get(name).map_or(name, String::as_str);
        metadata
            .collections
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Not found: Collection `{name}` doesn't exist!")))
    }

    /// The local collection named by `target`, once this node caught up with its generation.
    async fn local(&self, target: &Target) -> ApiResult<Arc<Collection>> {
        self.caught_up(target.needs_index()).await?;
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

    /// Refuses a read of `shards` unless this node's own metadata has its replicas of them
    /// Active (a coordinator with older metadata may pick a copy demoted since).
    fn serving(&self, target: &Target, shards: &[ShardId]) -> ApiResult<()> {
        let meta = self.meta(&target.collection)?;
        let me = self.node.id();
        for &shard in shards {
            let state = meta
                .shards
                .get(&shard)
                .and_then(|s| s.replicas.get(&me))
                .map(|r| r.state);
            if state != Some(ReplicaState::Active) {
                return Err(ApiError::Unavailable(format!(
                    "the replica of shard {shard} on node {me} is {state:?}, not Active"
                )));
            }
        }
        Ok(())
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
            ShardRequest::Replicate(f) => self.replicate(f).await,
            ShardRequest::Query { target, shards, req } => {
                let c = self.local(&target).await?;
                self.serving(&target, &shards)?;
                let points = blocking(move || Ok(c.query_in(&req, Scope::Only(&shards))?)).await?;
                Ok(ShardReply::Points(points))
            }
            ShardRequest::Count {
                target,
                shards,
                filter,
            } => {
                let c = self.local(&target).await?;
                self.serving(&target, &shards)?;
                let n = blocking(move || Ok(c.count_in(filter.as_ref(), Scope::Only(&shards)))).await?;
                Ok(ShardReply::Count(n))
            }
            ShardRequest::Scroll { target, shards, req } => {
                let c = self.local(&target).await?;
                self.serving(&target, &shards)?;
                let (records, next) = blocking(move || Ok(c.scroll_in(&req, Scope::Only(&shards))?)).await?;
                Ok(ShardReply::Page(records, next))
            }
            ShardRequest::Retrieve {
                target,
                ids,
                with_payload,
                with_vector,
                shards,
            } => {
                let c = self.local(&target).await?;
                self.serving(&target, &shards)?;
                let records = blocking(move || {
                    let scope = match shards.is_empty() {
                        true => Scope::All,
                        false => Scope::Only(&shards),
                    };
                    Ok(c.retrieve_in(&ids, &with_payload, &with_vector, scope))
                })
                .await?;
                Ok(ShardReply::Records(records))
            }
            ShardRequest::Page {
                target,
                shard,
                as_of,
                from,
                limit,
            } => self.page(target, shard, as_of, from, limit).await,
            ShardRequest::Digest { target, shard } => self.digest(target, shard).await,
            ShardRequest::TransferArchive { target, shard, as_of } => {
                self.transfer_archive(target, shard, as_of).await
            }
            ShardRequest::ArchiveChunk { name, offset, len } => self.archive_chunk(name, offset, len).await,
            ShardRequest::DropArchive { name } => self.drop_archive(name).await,
            ShardRequest::Delta {
                target,
                shard,
                as_of,
                from,
            } => self.delta(target, shard, as_of, from).await,
            ShardRequest::Forget { target, shard } => {
                self.journals
                    .taint(&(target.collection, target.generation, shard));
                Ok(ShardReply::Done)
            }
            ShardRequest::CaughtUp { index } => {
                self.caught_up(index).await?;
                Ok(ShardReply::Done)
            }
        }
    }

    /// The folder of this node's replica of `key`, if it holds one.
    fn shard_dir(&self, key: &ShardOfGeneration) -> Option<std::path::PathBuf> {
        let meta = self.meta(&key.0).ok().filter(|m| m.generation == key.1)?;
        meta.shards.get(&key.2)?.replicas.get(&self.node.id())?;
        let dir = self.catalog.get(&key.0).ok()?.shard_dir(key.2);
        dir.is_dir().then_some(dir)
    }

    /// Reads the positions the last clean stop saved beside the local replicas.
    fn load_positions(&self) {
        for (name, c) in self.node.metadata().collections {
            for &shard in c.shards.keys() {
                let key = (name.clone(), c.generation, shard);
                if let Some(dir) = self.shard_dir(&key) {
                    self.journals.load(&key, &dir);
                }
            }
        }
    }

    /// Saves each local replica's position beside its files, so after a clean restart it
    /// catches up by delta. Only once no write can reach this node any more.
    pub fn save_positions(&self) {
        self.journals.save(|key| self.shard_dir(key));
    }

    /// Commits a replica state change through raft: only while `if_primary` (when given) is
    /// still the shard's primary, and only from state `expect` (when given).
    pub(crate) async fn set_state(
        &self,
        target: &Target,
        shard: ShardId,
        node: NodeId,
        change: StateChange,
    ) -> ApiResult<u64> {
        let cmd = quiver_cluster::Command::SetReplicaState {
            collection: target.collection.clone(),
            generation: target.generation,
            shard,
            node,
            state: change.to,
            if_primary: change.if_primary,
            expect: change.expect,
            unless_last_active: false,
        };
        match self.node.propose_at(cmd).await {
            Ok((quiver_cluster::Outcome::Rejected(why), _)) => Err(ApiError::Unavailable(why)),
            Ok((_, index)) => Ok(index),
            Err(e) => Err(ApiError::Unavailable(format!(
                "cannot set the replica of shard {shard} on node {node} to {:?}: {e}",
                change.to
            ))),
        }
    }

    /// The write lock of `shard` of `collection` on this node.
    fn write_lock(&self, collection: &str, shard: ShardId) -> WriteLock {
        let mut locks = self.write_locks.lock();
        Arc::clone(locks.entry((collection.to_string(), shard)).or_default())
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
        service::call(&self.node, peer, &req, self.call_timeout).await
    }
}

/// A replica state change and its conditions (see [`Distributed::set_state`]).
#[derive(Debug, Clone, Copy)]
pub struct StateChange {
    pub to: ReplicaState,
    pub if_primary: Option<NodeId>,
    pub expect: Option<ReplicaState>,
}

/// The Active replicas of `shard`, the primary first.
pub fn active_replicas(meta: &CollectionMeta, shard: ShardId) -> Vec<NodeId> {
    meta.shards.get(&shard).map(|s| s.active()).unwrap_or_default()
}

/// The replicas of `shard` in `state`, in node id order.
pub fn replicas_in(meta: &CollectionMeta, shard: ShardId, state: ReplicaState) -> Vec<NodeId> {
    meta.shards
        .get(&shard)
        .map(|s| {
            s.replicas
                .iter()
                .filter(|(_, r)| r.state == state)
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
