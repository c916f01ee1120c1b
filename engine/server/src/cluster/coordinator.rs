//! API requests in cluster mode, on whichever node received them: collection lifecycle and
//! settings through raft, updates split by shard and sent to each shard's primary, replica
//! placement and the layout report. Reads are in [`super::reads`], shard keys in
//! [`super::shard_keys`].

use std::collections::BTreeMap;

use quiver_cluster::metadata::{place, CollectionMeta, ReplicaState, TransferMethod};
use quiver_cluster::{Command, NodeId, Outcome};
use quiver_collection::{route, CollectionConfig, CollectionInfo, UpdateResult};
use quiver_types::{ReadOptions, ShardId, ShardKey, ShardKeySelector, UpdateOperation};

use super::service::CallError;
use super::wire::{ShardReply, ShardRequest, Target};
use super::{active_replicas, blocking, Distributed, StateChange};
use crate::error::{ApiError, ApiResult};

/// A change of where a collection's replicas are (`POST /collections/{c}/cluster`).
#[derive(Debug, Clone, Copy)]
pub enum ReplicaChange {
    /// Adds a replica on `to`; it copies itself from the primary.
    Replicate {
        shard: ShardId,
        to: NodeId,
        method: Option<TransferMethod>,
    },
    /// Adds a replica on `to`, then drops the one on `from` once the new one is Active.
    Move {
        shard: ShardId,
        from: NodeId,
        to: NodeId,
        method: Option<TransferMethod>,
    },
    /// Drops the replica on `to` while it is still being copied.
    Abort {
        shard: ShardId,
        to: NodeId,
    },
    Drop {
        shard: ShardId,
        peer: NodeId,
    },
}

/// The transfer method named `name` (Qdrant's `ShardTransferMethod`) for field `field`.
pub fn transfer_method(name: &str, field: &str) -> ApiResult<TransferMethod> {
    match name {
        "stream_records" => Ok(TransferMethod::StreamRecords),
        "snapshot" => Ok(TransferMethod::Snapshot),
        "wal_delta" => Ok(TransferMethod::WalDelta),
        "resharding_stream_records" => Err(ApiError::invalid(format!(
            "{field}: transfer method `{name}` is not supported (Quiver does not reshard); use `stream_records`, `snapshot` or `wal_delta`"
        ))),
        other => Err(ApiError::invalid(format!(
            "{field}: unknown transfer method `{other}`; expected `stream_records`, `snapshot` or `wal_delta`"
        ))),
    }
}

/// How long a move waits for its new replica to turn Active before giving up (the new replica
/// stays; the old one is kept).
const MOVE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// One shard's replicas as `GET /collections/{c}/cluster` reports them.
#[derive(Debug, Clone)]
pub struct ShardLayout {
    pub peer_id: NodeId,
    pub shard_count: u32,
    /// (shard, points stored here, state) of the replicas on this node.
    pub local: Vec<(ShardId, usize, ReplicaState)>,
    /// (shard, node, state) of the replicas elsewhere.
    pub remote: Vec<(ShardId, NodeId, ReplicaState)>,
    /// The shard key of each shard that has one (custom sharding).
    pub keys: BTreeMap<ShardId, ShardKey>,
    /// Copies in flight: a Partial replica being copied from its shard's primary.
    pub transfers: Vec<TransferReport>,
}

/// One copy in flight, as `shard_transfers` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferReport {
    pub shard_id: ShardId,
    pub from: NodeId,
    pub to: NodeId,
    pub method: TransferMethod,
}

impl Distributed {
    /// Creates `name` on every node: placement over the current voters, committed through raft.
    pub async fn create_collection(&self, name: String, config: CollectionConfig) -> ApiResult<()> {
        config.validate()?;
        if self.node.metadata().collections.contains_key(&name) {
            return Err(already_exists(&name));
        }
        let voters = self.node.status().voters;
        let sharded_by_key = config.params.sharding_method == Some(quiver_collection::ShardingMethod::Custom);
        let mut placement = place(
            config.params.shard_number,
            config.params.replication_factor,
            &voters,
        );
        let replicas = placement.iter().map(Vec::len).min().unwrap_or(0) as u32;
        if sharded_by_key {
            // Shards come with each shard key.
            placement.clear();
        }
        if config.params.write_consistency_factor > replicas {
            return Err(ApiError::invalid(format!(
                "write_consistency_factor: {} is more than the {replicas} replicas each shard gets on {} nodes",
                config.params.write_consistency_factor,
                voters.len()
            )));
        }
        let config = serde_json::to_value(&config)
            .map_err(|e| ApiError::Internal(format!("cannot encode the collection config: {e}")))?;
        let cmd = Command::CreateCollection {
            name: name.clone(),
            config,
            placement,
            sharded_by_key,
        };
        let (outcome, index) = self.propose(cmd).await?;
        if let Outcome::Rejected(why) = outcome {
            return Err(if why.contains("already exists") {
                already_exists(&name)
            } else {
                ApiError::InvalidInput(why)
            });
        }
        self.settled(index).await
    }

    /// Deletes `name` on every node; false when there was none.
    pub async fn delete_collection(&self, name: String) -> ApiResult<bool> {
        let (outcome, index) = self.propose(Command::DeleteCollection { name }).await?;
        self.settled(index).await?;
        Ok(outcome == Outcome::Done)
    }

    async fn propose(&self, cmd: Command) -> ApiResult<(Outcome, u64)> {
        self.node
            .propose_at(cmd)
            .await
            .map_err(|e| ApiError::Unavailable(format!("cluster metadata: {e}")))
    }

    /// Commits a config PATCH of `name` (validated against the current config here) and waits
    /// until this node applied it.
    pub async fn update_collection(
        &self,
        name: String,
        diff: quiver_collection::ConfigDiff,
    ) -> ApiResult<()> {
        let (_, target) = self.target(&name).await?;
        let next = self.catalog.get(&target.collection)?.patched_config(&diff)?;
        let config = serde_json::to_value(&next)
            .map_err(|e| ApiError::Internal(format!("cannot encode the collection config: {e}")))?;
        self.commit_setting(Command::SetCollectionConfig {
            collection: target.collection,
            generation: target.generation,
            config,
        })
        .await
    }

    /// Declares (`Some`) or drops (`None`) a payload index of `name` on every node.
    pub async fn set_payload_index(
        &self,
        name: String,
        field: String,
        schema: Option<quiver_collection::PayloadFieldSchema>,
    ) -> ApiResult<()> {
        let (_, target) = self.target(&name).await?;
        quiver_types::JsonPath::parse(&field).map_err(|e| ApiError::invalid(format!("field_name: {e}")))?;
        let schema = schema
            .map(|s| serde_json::to_value(&s))
            .transpose()
            .map_err(|e| ApiError::Internal(format!("cannot encode the index schema: {e}")))?;
        self.commit_setting(Command::SetPayloadIndex {
            collection: target.collection,
            generation: target.generation,
            field,
            schema,
        })
        .await
    }

    /// Applies alias changes (all or none) on every node: computed from the committed table and
    /// committed only if that table is still current (else computed again).
    pub async fn update_aliases(&self, ops: Vec<quiver_collection::AliasOperation>) -> ApiResult<()> {
        for _ in 0..5 {
            let meta = self.node.metadata();
            let exists = |c: &str| meta.collections.contains_key(c);
            let next = quiver_collection::catalog::aliases_after(&meta.aliases, &ops, exists, exists)?;
            let cmd = Command::SetAliases {
                expect: meta.aliases.clone(),
                aliases: next,
            };
            let (outcome, index) = self.propose(cmd).await?;
            match outcome {
                Outcome::Rejected(why) if why.contains("changed meanwhile") => continue,
                Outcome::Rejected(why) => return Err(ApiError::invalid(why)),
                _ => return self.settled(index).await,
            }
        }
        Err(ApiError::Unavailable("aliases kept changing; try again".into()))
    }

    async fn commit_setting(&self, cmd: Command) -> ApiResult<()> {
        let (outcome, index) = self.propose(cmd).await?;
        if let Outcome::Rejected(why) = outcome {
            return Err(ApiError::NotFound(format!("Not found: {why}")));
        }
        self.settled(index).await
    }

    /// The metadata of `name` and the local collection, once this node caught up with it.
    pub(crate) async fn target(&self, name: &str) -> ApiResult<(CollectionMeta, Target)> {
        let meta = self.meta(name)?;
        let metadata = self.node.metadata();
        let name = metadata.aliases.get(name).map_or(name, String::as_str);
        let target = Target::of(name, meta.generation);
        self.caught_up(meta.generation).await?;
        Ok((meta, target))
    }

    /// Splits `op` by shard (within the shards of `keys`, with custom sharding) and applies
    /// each part through the shard's primary.
    pub async fn update(
        &self,
        name: String,
        op: UpdateOperation,
        wait: bool,
        keys: Option<ShardKeySelector>,
    ) -> ApiResult<UpdateResult> {
        let (meta, target) = self.target(&name).await?;
        let local = self.catalog.get(&target.collection)?;
        quiver_collection::validate::check_operation(local.segment_config(), &op)?;
        if meta.sharded_by_key && keys.is_none() {
            return Err(ApiError::invalid(format!(
                "shard_key: collection `{}` uses custom sharding; a write must name its shard key",
                target.collection
            )));
        }
        let groups = meta.shards_for(keys.as_ref()).map_err(ApiError::InvalidInput)?;
        let mut parts: Vec<(ShardId, UpdateOperation)> = Vec::new();
        for group in groups {
            let n = group.len() as u32;
            match op.explicit_ids() {
                Some(_) => parts.extend(
                    group
                        .iter()
                        .enumerate()
                        .map(|(i, &s)| (s, op.restrict(|id| route(id, n) == i as ShardId)))
                        .filter(|(_, part)| !part.is_noop()),
                ),
                // Filter-selected: every shard applies it to its own points.
                None => parts.extend(group.iter().map(|&s| (s, op.clone()))),
            }
        }
        let sends = parts.into_iter().map(|(shard, part)| {
            let target = target.clone();
            async move { self.write_shard(target, shard, part, wait).await }
        });
        let mut operation_id = 0;
        for r in futures_util::future::join_all(sends).await {
            operation_id = operation_id.max(r?);
        }
        Ok(UpdateResult::new(operation_id, wait))
    }

    /// Sends one shard's part of an update to the shard's primary. A primary that cannot be
    /// reached is demoted to Dead through raft and the next Active replica takes over (the part
    /// may then be applied twice on replicas that had it, which updates tolerate: they set
    /// values, they do not add to them).
    async fn write_shard(
        &self,
        target: Target,
        shard: ShardId,
        op: UpdateOperation,
        wait: bool,
    ) -> ApiResult<u64> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let active = active_replicas(&self.meta(&target.collection)?, shard);
            let primary = *active
                .first()
                .ok_or_else(|| ApiError::Unavailable(format!("shard {shard} has no Active replica")))?;
            let req = ShardRequest::Write {
                target: target.clone(),
                shard,
                op: op.clone(),
                wait,
            };
            match self.try_call(primary, req).await {
                Ok(ShardReply::Written {
                    operation_id,
                    settled_at,
                }) => {
                    // Demotions this write caused are visible here before it is acknowledged.
                    self.caught_up(settled_at).await?;
                    return Ok(operation_id);
                }
                Ok(other) => return Err(unexpected(&other)),
                Err(CallError::Unreachable(why)) if active.len() > 1 && attempts <= active.len() => {
                    tracing::warn!("primary of shard {shard} on node {primary}: {why}; handing the shard to the next replica");
                    // Only if it still is the primary: coordinators racing demote it once, and
                    // the one that loses the race just looks the primary up again.
                    let change = StateChange {
                        to: ReplicaState::Dead,
                        if_primary: Some(primary),
                        expect: Some(ReplicaState::Active),
                    };
                    if let Err(e) = self.set_state(&target, shard, primary, change).await {
                        tracing::debug!("demoting the primary of shard {shard}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
                // This node's metadata named a primary that has been replaced since: wait for
                // the change to arrive here, then send it to the new one.
                Err(CallError::Api(ApiError::NotPrimary(why))) if attempts <= active.len() + 2 => {
                    tracing::debug!("shard {shard}: {why}; looking the primary up again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempts as u64)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The local view (config, segments, indexes) with the point count of the whole cluster.
    pub async fn collection_info(&self, name: String) -> ApiResult<CollectionInfo> {
        let (_, target) = self.target(&name).await?;
        let local = self.catalog.get(&target.collection)?;
        let mut info = blocking(move || Ok(local.info())).await?;
        info.points_count = self.count(name, None, ReadOptions::default()).await?;
        Ok(info)
    }

    /// Applies `change` to the replicas of `name` (validated here, committed through raft).
    pub async fn change_replicas(&self, name: String, change: ReplicaChange) -> ApiResult<()> {
        let (meta, target) = self.target(&name).await?;
        let voters = self.node.status().voters;
        let (shard, peers): (ShardId, Vec<NodeId>) = match change {
            ReplicaChange::Replicate { shard, to, .. } | ReplicaChange::Abort { shard, to } => {
                (shard, vec![to])
            }
            ReplicaChange::Move { shard, from, to, .. } => (shard, vec![from, to]),
            ReplicaChange::Drop { shard, peer } => (shard, vec![peer]),
        };
        let Some(s) = meta.shards.get(&shard) else {
            return Err(ApiError::invalid(format!(
                "shard_id: collection `{name}` has no shard {shard}"
            )));
        };
        if let Some(p) = peers.iter().find(|p| !voters.contains(p)) {
            return Err(ApiError::invalid(format!("peer_id: {p} is not a cluster member")));
        }
        let add = |node, method| Command::AddReplica {
            collection: target.collection.clone(),
            generation: target.generation,
            shard,
            node,
            method,
        };
        let remove = |node| Command::RemoveReplica {
            collection: target.collection.clone(),
            generation: target.generation,
            shard,
            node,
        };
        match change {
            ReplicaChange::Replicate { to, method, .. } => {
                if s.replicas.contains_key(&to) {
                    return Err(ApiError::invalid(format!(
                        "to_peer_id: node {to} already holds shard {shard}"
                    )));
                }
                self.commit_change(add(to, method)).await
            }
            ReplicaChange::Move { from, to, method, .. } => {
                if !s.replicas.contains_key(&from) {
                    return Err(ApiError::invalid(format!(
                        "from_peer_id: node {from} holds no replica of shard {shard}"
                    )));
                }
                if s.replicas.contains_key(&to) {
                    return Err(ApiError::invalid(format!(
                        "to_peer_id: node {to} already holds shard {shard}"
                    )));
                }
                self.commit_change(add(to, method)).await?;
                // The old replica goes once the new one is Active (a move never lowers the
                // number of Active replicas).
                let d = self.clone();
                let cmd = remove(from);
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    while started.elapsed() < MOVE_WAIT {
                        let state = d
                            .meta(&target.collection)
                            .ok()
                            .filter(|m| m.generation == target.generation)
                            .and_then(|m| {
                                m.shards
                                    .get(&shard)
                                    .and_then(|s| s.replicas.get(&to))
                                    .map(|r| r.state)
                            });
                        match state {
                            Some(ReplicaState::Active) => {
                                if let Err(e) = d.commit_change(cmd.clone()).await {
                                    tracing::warn!(
                                        "moving shard {shard}: dropping the replica on {from}: {e}"
                                    );
                                }
                                return;
                            }
                            None => return,
                            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                        }
                    }
                    tracing::warn!("moving shard {shard} to {to}: not Active after {MOVE_WAIT:?}; the replica on {from} is kept");
                });
                Ok(())
            }
            ReplicaChange::Abort { to, .. } => match s.replicas.get(&to) {
                Some(r) if r.state != ReplicaState::Active => self.commit_change(remove(to)).await,
                Some(_) => Err(ApiError::invalid(format!(
                    "to_peer_id: the replica of shard {shard} on {to} is Active already; drop it instead"
                ))),
                None => Err(ApiError::invalid(format!(
                    "to_peer_id: no transfer of shard {shard} to {to}"
                ))),
            },
            ReplicaChange::Drop { peer, .. } => {
                if !s.replicas.contains_key(&peer) {
                    return Err(ApiError::invalid(format!(
                        "peer_id: node {peer} holds no replica of shard {shard}"
                    )));
                }
                self.commit_change(remove(peer)).await
            }
        }
    }

    pub(super) async fn commit_change(&self, cmd: Command) -> ApiResult<()> {
        let (outcome, index) = self.propose(cmd).await?;
        if let Outcome::Rejected(why) = outcome {
            return Err(ApiError::invalid(why));
        }
        self.settled(index).await
    }

    /// Removes node `peer` from the cluster; refused while it holds replicas, unless `force`.
    pub async fn remove_peer(&self, peer: NodeId, force: bool) -> ApiResult<()> {
        let held: Vec<String> = self
            .node
            .metadata()
            .collections
            .iter()
            .flat_map(|(name, c)| {
                c.shards
                    .iter()
                    .filter(|(_, s)| s.replicas.contains_key(&peer))
                    .map(move |(i, _)| format!("`{name}` shard {i}"))
            })
            .collect();
        if !held.is_empty() && !force {
            return Err(ApiError::invalid(format!(
                "peer {peer} still holds replicas ({}); move them away first, or pass force=true",
                held.join(", ")
            )));
        }
        self.node.remove(peer).await.map(|_| ()).map_err(|e| match e {
            quiver_cluster::ClusterError::Invalid(m) => ApiError::NotFound(m),
            e => ApiError::Unavailable(e.to_string()),
        })
    }

    /// Where the replicas of `name` are, seen from this node.
    pub async fn layout(&self, name: String) -> ApiResult<ShardLayout> {
        let (meta, target) = self.target(&name).await?;
        let me = self.node.id();
        let local = self.catalog.get(&target.collection)?;
        let mut out = ShardLayout {
            peer_id: me,
            shard_count: meta.shards.len() as u32,
            local: Vec::new(),
            remote: Vec::new(),
            keys: BTreeMap::new(),
            transfers: Vec::new(),
        };
        for (&id, shard) in &meta.shards {
            if let Some(key) = &shard.key {
                out.keys.insert(id, key.clone());
            }
            let primary = shard.active().first().copied();
            for (&node, r) in &shard.replicas {
                if let (ReplicaState::Partial, Some(from)) = (r.state, primary) {
                    out.transfers.push(TransferReport {
                        shard_id: id,
                        from,
                        to: node,
                        method: r.method.unwrap_or(TransferMethod::StreamRecords),
                    });
                }
                if node == me {
                    let c = std::sync::Arc::clone(&local);
                    let points =
                        blocking(move || Ok(c.count_in(None, quiver_collection::Scope::Only(&[id])))).await?;
                    out.local.push((id, points, r.state));
                } else {
                    out.remote.push((id, node, r.state));
                }
            }
        }
        Ok(out)
    }
}

/// One replica as the admin surface reports it: where, in which state, and its fingerprint
/// (or why it could not be read).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaReport {
    pub shard_id: ShardId,
    pub peer_id: NodeId,
    pub state: ReplicaState,
    /// The shard's primary in the metadata this node has applied.
    pub primary: bool,
    pub points: Option<usize>,
    pub hash: Option<String>,
    pub error: Option<String>,
}

impl Distributed {
    /// Every replica of `name` with its fingerprint, read from the node holding it: replicas of
    /// one shard that agree have equal `points` and `hash`.
    pub async fn replica_reports(&self, name: String) -> ApiResult<Vec<ReplicaReport>> {
        let (meta, target) = self.target(&name).await?;
        let mut calls = Vec::new();
        for (&i, shard) in &meta.shards {
            for (&peer, r) in &shard.replicas {
                let req = ShardRequest::Digest {
                    target: target.clone(),
                    shard: i,
                };
                let state = r.state;
                let primary = shard.primary == Some(peer);
                calls.push(async move {
                    let (points, hash, error) = match self.call(peer, req).await {
                        Ok(ShardReply::Digest { points, hash }) => {
                            (Some(points), Some(format!("{hash:016x}")), None)
                        }
                        Ok(other) => (None, None, Some(format!("unexpected reply {other:?}"))),
                        Err(e) => (None, None, Some(e.to_string())),
                    };
                    ReplicaReport {
                        shard_id: i,
                        peer_id: peer,
                        state,
                        primary,
                        points,
                        hash,
                        error,
                    }
                });
            }
        }
        Ok(futures_util::future::join_all(calls).await)
    }
}

fn already_exists(name: &str) -> ApiError {
    ApiError::AlreadyExists(format!("Wrong input: Collection `{name}` already exists!"))
}

pub(super) fn unexpected(reply: &ShardReply) -> ApiError {
    ApiError::Internal(format!("unexpected reply from a node: {reply:?}"))
}
