//! The cluster metadata raft replicates: collections, their configs and where each shard's
//! replicas live. [`Metadata::apply`] is a pure function of the state and the command, so every
//! member that applies the same log holds the same metadata; a command that does not fit the
//! state is rejected the same way everywhere (and changes nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use quiver_types::{ShardId, ShardKey, ShardKeySelector};

use crate::types::NodeId;

/// Everything raft holds besides membership.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub collections: BTreeMap<String, CollectionMeta>,
    /// alias -> collection.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// One collection as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionMeta {
    /// The collection's config as the API accepted it (JSON, owned by the collection layer).
    pub config: serde_json::Value,
    /// The raft log index that created it: tells a recreated collection from the old one.
    pub generation: u64,
    /// Replicas of each shard, by shard id (ids of deleted shard keys are never reused).
    #[serde(deserialize_with = "shard_table::read")]
    pub shards: BTreeMap<ShardId, ShardMeta>,
    /// Declared payload indexes: field -> schema (JSON, owned by the collection layer).
    #[serde(default)]
    pub payload_schema: BTreeMap<String, serde_json::Value>,
    /// Custom sharding: shards are created per shard key, and every write names its key.
    #[serde(default)]
    pub sharded_by_key: bool,
}

/// The replicas of one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub replicas: BTreeMap<NodeId, ReplicaMeta>,
    /// The replica that orders this shard's writes: set at creation, moved only when it stops
    /// being Active (to the first other Active replica), so a replica that recovers never
    /// takes over from a working primary.
    #[serde(default)]
    pub primary: Option<NodeId>,
    /// The shard key this shard belongs to (custom sharding only).
    #[serde(default)]
    pub key: Option<ShardKey>,
}

/// One replica's state and the epoch that state was set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMeta {
    pub state: ReplicaState,
    pub epoch: u64,
    /// The index at which this replica last started receiving writes (created, or went from
    /// Dead to Partial): a write forwarded to an earlier incarnation is refused.
    #[serde(default)]
    pub incarnation: u64,
    /// How this replica is copied when it catches up (`None`: streamed records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<TransferMethod>,
}

/// How a replica that catches up gets the shard's points (Qdrant's `ShardTransferMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMethod {
    /// Pages of whole points; the receiver indexes them again.
    StreamRecords,
    /// An archive of the primary's shard (segments with their indexes) installed whole.
    Snapshot,
    /// Only the writes the replica missed, when it kept its data and the primary still holds
    /// them; otherwise records are streamed.
    WalDelta,
}

/// Replica states, as Qdrant names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaState {
    Active,
    Dead,
    Partial,
    Initializing,
}

/// A metadata change, committed through raft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Creates `name` with `placement[shard]` = the nodes holding that shard's replicas. A
    /// collection `sharded_by_key` starts without shards (they come with its shard keys).
    CreateCollection {
        name: String,
        config: serde_json::Value,
        placement: Vec<Vec<NodeId>>,
        #[serde(default)]
        sharded_by_key: bool,
    },
    DeleteCollection {
        name: String,
    },
    /// Sets one replica's state, if the collection is still generation `generation` (a command
    /// about a deleted and recreated collection changes nothing) and, when `if_primary` names a
    /// node, only while that node is still the shard's primary (its first Active replica): a
    /// primary that was itself demoted meanwhile cannot demote the others; when `expect` is set,
    /// only from that state (a compare-and-set: a transfer's promotion cannot revive a replica
    /// demoted meanwhile); with `unless_last_active`, only while another replica of the shard
    /// is Active (a node stepping out before a clean stop never leaves its shard without one).
    /// The epoch becomes the index.
    SetReplicaState {
        collection: String,
        generation: u64,
        shard: u32,
        node: NodeId,
        state: ReplicaState,
        if_primary: Option<NodeId>,
        expect: Option<ReplicaState>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unless_last_active: bool,
    },
    /// Replaces the alias table with `aliases` if it is still `expect` (the table the change was
    /// computed from: two concurrent alias changes never silently overwrite each other).
    SetAliases {
        expect: BTreeMap<String, String>,
        aliases: BTreeMap<String, String>,
    },
    /// Adds a replica of `shard` on `node`, Dead (empty): that node copies it from the primary
    /// and turns it Active by itself.
    AddReplica {
        collection: String,
        generation: u64,
        shard: u32,
        node: NodeId,
        /// How the new replica is copied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<TransferMethod>,
    },
    /// Removes the replica of `shard` on `node`; never the shard's last Active one.
    RemoveReplica {
        collection: String,
        generation: u64,
        shard: u32,
        node: NodeId,
    },
    /// Replaces the config of collection `collection` (generation `generation`).
    SetCollectionConfig {
        collection: String,
        generation: u64,
        config: serde_json::Value,
    },
    /// Declares (`Some`) or drops (`None`) the payload index of `field`.
    SetPayloadIndex {
        collection: String,
        generation: u64,
        field: String,
        schema: Option<serde_json::Value>,
    },
    /// Adds the shards of shard key `key`, `placement[i]` holding the replicas of its i-th
    /// shard; their ids follow the highest id the collection ever had.
    CreateShardKey {
        collection: String,
        generation: u64,
        key: ShardKey,
        placement: Vec<Vec<NodeId>>,
    },
    /// Removes the shards of shard key `key` (their points go with them).
    DeleteShardKey {
        collection: String,
        generation: u64,
        key: ShardKey,
    },
}

/// What applying a command did; the same on every member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied (also the answer to raft's own blank and membership entries).
    #[default]
    Done,
    /// Nothing to do: the state already says so (a delete of a missing collection).
    Unchanged,
    /// Not applied, and why (the name of the offending field or value).
    Rejected(String),
}

impl Metadata {
    /// Applies `cmd`, committed at raft log `index`.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Outcome {
        match cmd {
            Command::CreateCollection {
                name,
                config,
                placement,
                sharded_by_key,
            } => {
                if self.collections.contains_key(name) {
                    return Outcome::Rejected(format!("collection `{name}` already exists"));
                }
                if let Err(why) = check_placement(placement, !sharded_by_key) {
                    return Outcome::Rejected(why);
                }
                let shards = placement
                    .iter()
                    .enumerate()
                    .map(|(i, nodes)| (i as ShardId, new_shard(nodes, None, index)))
                    .collect();
                self.collections.insert(
                    name.clone(),
                    CollectionMeta {
                        config: config.clone(),
                        generation: index,
                        shards,
                        sharded_by_key: *sharded_by_key,
                        payload_schema: BTreeMap::new(),
                    },
                );
                Outcome::Done
            }
            Command::CreateShardKey {
                collection,
                generation,
                key,
                placement,
            } => {
                let c = match self.current(collection, *generation) {
                    Ok(c) => c,
                    Err(gone) => return gone,
                };
                if !c.sharded_by_key {
                    return Outcome::Rejected(format!(
                        "shard_key: collection `{collection}` is not sharded by shard key (sharding_method is auto)"
                    ));
                }
                if c.shards.values().any(|s| s.key.as_ref() == Some(key)) {
                    return Outcome::Rejected(format!("shard_key: {key} already exists"));
                }
                if let Err(why) = check_placement(placement, true) {
                    return Outcome::Rejected(why);
                }
                let first = c.shards.keys().next_back().map_or(0, |last| last + 1);
                for (i, nodes) in placement.iter().enumerate() {
                    c.shards
                        .insert(first + i as ShardId, new_shard(nodes, Some(key.clone()), index));
                }
                Outcome::Done
            }
            Command::DeleteShardKey {
                collection,
                generation,
                key,
            } => {
                let c = match self.current(collection, *generation) {
                    Ok(c) => c,
                    Err(gone) => return gone,
                };
                let before = c.shards.len();
                c.shards.retain(|_, s| s.key.as_ref() != Some(key));
                if before == c.shards.len() {
                    return Outcome::Rejected(format!("shard_key: {key} does not exist"));
                }
                Outcome::Done
            }
            Command::DeleteCollection { name } => match self.collections.remove(name) {
                Some(_) => {
                    self.aliases.retain(|_, c| c != name);
                    Outcome::Done
                }
                None => Outcome::Unchanged,
            },
            Command::SetAliases { expect, aliases } => {
                if self.aliases != *expect {
                    return Outcome::Rejected("the aliases changed meanwhile".into());
                }
                if let Some((a, c)) = aliases
                    .iter()
                    .find(|(a, c)| !self.collections.contains_key(*c) || self.collections.contains_key(*a))
                {
                    return Outcome::Rejected(format!(
                        "alias `{a}` -> `{c}`: no such collection, or the alias names one"
                    ));
                }
                self.aliases = aliases.clone();
                Outcome::Done
            }
            Command::AddReplica {
                collection,
                generation,
                shard,
                node,
                method,
            } => {
                let s = match self.current(collection, *generation) {
                    Ok(c) => match c.shards.get_mut(shard) {
                        Some(s) => s,
                        None => {
                            return Outcome::Rejected(format!(
                                "collection `{collection}` has no shard {shard}"
                            ))
                        }
                    },
                    Err(gone) => return gone,
                };
                if s.replicas.contains_key(node) {
                    return Outcome::Unchanged;
                }
                s.replicas.insert(
                    *node,
                    ReplicaMeta {
                        state: ReplicaState::Dead,
                        epoch: index,
                        incarnation: 0,
                        method: *method,
                    },
                );
                Outcome::Done
            }
            Command::RemoveReplica {
                collection,
                generation,
                shard,
                node,
            } => {
                let s = match self.current(collection, *generation) {
                    Ok(c) => match c.shards.get_mut(shard) {
                        Some(s) => s,
                        None => {
                            return Outcome::Rejected(format!(
                                "collection `{collection}` has no shard {shard}"
                            ))
                        }
                    },
                    Err(gone) => return gone,
                };
                let Some(r) = s.replicas.get(node) else {
                    return Outcome::Unchanged;
                };
                let active = s
                    .replicas
                    .values()
                    .filter(|r| r.state == ReplicaState::Active)
                    .count();
                if r.state == ReplicaState::Active && active == 1 {
                    return Outcome::Rejected(format!(
                        "the replica of shard {shard} on node {node} is the shard's last Active one"
                    ));
                }
                s.replicas.remove(node);
                s.move_primary();
                Outcome::Done
            }
            Command::SetCollectionConfig {
                collection,
                generation,
                config,
            } => match self.current(collection, *generation) {
                Ok(c) if c.config == *config => Outcome::Unchanged,
                Ok(c) => {
                    c.config = config.clone();
                    Outcome::Done
                }
                Err(gone) => gone,
            },
            Command::SetPayloadIndex {
                collection,
                generation,
                field,
                schema,
            } => match self.current(collection, *generation) {
                Ok(c) => {
                    let before = match schema {
                        Some(s) => c.payload_schema.insert(field.clone(), s.clone()),
                        None => c.payload_schema.remove(field),
                    };
                    if before.as_ref() == schema.as_ref() {
                        Outcome::Unchanged
                    } else {
                        Outcome::Done
                    }
                }
                Err(gone) => gone,
            },
            Command::SetReplicaState {
                collection,
                generation,
                shard,
                node,
                state,
                if_primary,
                expect,
                unless_last_active,
            } => {
                let c = match self.current(collection, *generation) {
                    Ok(c) => c,
                    Err(gone) => return gone,
                };
                if let Some(p) = if_primary {
                    let primary = c.shards.get(shard).and_then(|s| s.primary);
                    if primary != Some(*p) {
                        return Outcome::Rejected(format!(
                            "node {p} is no longer the primary of shard {shard}"
                        ));
                    }
                }
                let Some(s) = c.shards.get_mut(shard) else {
                    return Outcome::Rejected(format!("shard {shard} does not exist"));
                };
                let another_active = s
                    .replicas
                    .iter()
                    .any(|(n, other)| n != node && other.state == ReplicaState::Active);
                let Some(r) = s.replicas.get_mut(node) else {
                    return Outcome::Rejected(format!("shard {shard} has no replica on node {node}"));
                };
                if r.state == *state {
                    return Outcome::Unchanged;
                }
                if *unless_last_active && !another_active {
                    return Outcome::Rejected(format!(
                        "the replica of shard {shard} on node {node} is the shard's last Active one"
                    ));
                }
                if let Some(e) = expect.filter(|e| *e != r.state) {
                    return Outcome::Rejected(format!(
                        "the replica of shard {shard} on node {node} is {:?}, not {e:?}",
                        r.state
                    ));
                }
                let incarnation = match (r.state, *state) {
                    (ReplicaState::Dead, ReplicaState::Partial) => index,
                    _ => r.incarnation,
                };
                *r = ReplicaMeta {
                    state: *state,
                    epoch: index,
                    incarnation,
                    method: r.method,
                };
                s.move_primary();
                Outcome::Done
            }
        }
    }
}

impl CollectionMeta {
    /// The shards with a replica on `node`.
    pub fn shards_on(&self, node: NodeId) -> Vec<u32> {
        self.shards
            .iter()
            .filter(|(_, s)| s.replicas.contains_key(&node))
            .map(|(i, _)| *i)
            .collect()
    }

    /// The shard keys, each once, in order.
    pub fn shard_keys(&self) -> Vec<ShardKey> {
        let keys: std::collections::BTreeSet<&ShardKey> =
            self.shards.values().filter_map(|s| s.key.as_ref()).collect();
        keys.into_iter().cloned().collect()
    }

    /// The shards of `key`, in id order.
    pub fn shards_of_key(&self, key: &ShardKey) -> Vec<ShardId> {
        self.shards
            .iter()
            .filter(|(_, s)| s.key.as_ref() == Some(key))
            .map(|(i, _)| *i)
            .collect()
    }

    /// The shards a request about `selector` covers: every shard when `None`, else the shards of
    /// each key (in key order, then id order), or with a fallback those of the one key while it
    /// exists and else the fallback's; an error names a key that does not exist, or keys given to
    /// a collection without custom sharding.
    pub fn shards_for(&self, selector: Option<&ShardKeySelector>) -> Result<Vec<Vec<ShardId>>, String> {
        let Some(selector) = selector else {
            return Ok(vec![self.shards.keys().copied().collect()]);
        };
        if !self.sharded_by_key {
            return Err(
                "shard_key: the collection is not sharded by shard key (sharding_method is auto)".into(),
            );
        }
        if let (Some(fallback), [target]) = (&selector.fallback, selector.keys.as_slice()) {
            let ids = self.shards_of_key(target);
            if !ids.is_empty() {
                return Ok(vec![ids]);
            }
            let ids = self.shards_of_key(fallback);
            if ids.is_empty() {
                return Err(format!(
                    "shard_key.fallback: neither {target} nor the fallback {fallback} exists"
                ));
            }
            return Ok(vec![ids]);
        }
        selector
            .keys
            .iter()
            .map(|k| {
                let ids = self.shards_of_key(k);
                if ids.is_empty() {
                    Err(format!("shard_key: {k} does not exist"))
                } else {
                    Ok(ids)
                }
            })
            .collect()
    }
}

/// Refuses a placement with a shard without replicas (or, when `needs_a_shard`, with no shard).
fn check_placement(placement: &[Vec<NodeId>], needs_a_shard: bool) -> Result<(), String> {
    if (needs_a_shard && placement.is_empty()) || placement.iter().any(|r| r.is_empty()) {
        return Err("placement: every shard needs at least one replica".into());
    }
    Ok(())
}

/// A shard whose replicas on `nodes` are all Active from raft index `index`; the first is
/// its primary.
fn new_shard(nodes: &[NodeId], key: Option<ShardKey>, index: u64) -> ShardMeta {
    let active = ReplicaMeta {
        state: ReplicaState::Active,
        epoch: index,
        incarnation: index,
        method: None,
    };
    ShardMeta {
        replicas: nodes.iter().map(|&n| (n, active)).collect(),
        key,
        primary: nodes.first().copied(),
    }
}

/// Reads the shard table as stored now (by id) or as stored before custom sharding (a list
/// indexed by shard id).
mod shard_table {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    use super::{ShardId, ShardMeta};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        ById(BTreeMap<ShardId, ShardMeta>),
        List(Vec<ShardMeta>),
    }

    pub fn read<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ShardId, ShardMeta>, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::ById(m) => m,
            Stored::List(v) => v
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i as ShardId, s))
                .collect(),
        })
    }
}

impl Metadata {
    /// Collection `name` if it is still generation `generation`; else the rejection every
    /// command about a collection gives (it was deleted, or deleted and recreated).
    fn current(&mut self, name: &str, generation: u64) -> Result<&mut CollectionMeta, Outcome> {
        self.collections
            .get_mut(name)
            .filter(|c| c.generation == generation)
            .ok_or_else(|| {
                Outcome::Rejected(format!("collection `{name}` (generation {generation}) is gone"))
            })
    }
}

impl ShardMeta {
    /// Keeps `primary` on an Active replica: when it stopped being Active, the first other Active
    /// replica (by node id) takes over; with none left, the next replica to become Active does.
    fn move_primary(&mut self) {
        let active = |n: &NodeId| {
            self.replicas
                .get(n)
                .is_some_and(|r| r.state == ReplicaState::Active)
        };
        if self.primary.as_ref().is_some_and(active) {
            return;
        }
        self.primary = self
            .replicas
            .iter()
            .find(|(_, r)| r.state == ReplicaState::Active)
            .map(|(n, _)| *n);
    }

    /// The Active replicas, the primary first.
    pub fn active(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self.primary.into_iter().collect();
        out.extend(
            self.replicas
                .iter()
                .filter(|(n, r)| r.state == ReplicaState::Active && Some(**n) != self.primary)
                .map(|(n, _)| *n),
        );
        out.retain(|n| {
            self.replicas
                .get(n)
                .is_some_and(|r| r.state == ReplicaState::Active)
        });
        out
    }
}

/// Spreads `shards` shards with `replication` replicas each over `nodes` (sorted, deduplicated):
/// replica `r` of shard `s` goes to node `(s + r) % n`, so each shard's replicas are on distinct
/// nodes and every node holds about the same number. `replication` is capped at the node count.
pub fn place(shards: u32, replication: u32, nodes: &[NodeId]) -> Vec<Vec<NodeId>> {
    let mut nodes = nodes.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() {
        return Vec::new();
    }
    let n = nodes.len();
    let rf = (replication.max(1) as usize).min(n);
    (0..shards.max(1) as usize)
        .map(|s| (0..rf).map(|r| nodes[(s + r) % n]).collect())
        .collect()
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
