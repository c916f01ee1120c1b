//! Keeps the local catalog in line with the cluster metadata: every collection in the metadata
//! exists here with the shards placed on this node; a collection deleted (or recreated) in the
//! metadata is deleted (or recreated) here. What this node materialized, and from which
//! generation, is kept in `<storage>/raft/materialized` so a collection that existed before the
//! node joined a cluster is never mistaken for a cluster one and removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use quiver_cluster::fsio;
use quiver_cluster::metadata::{CollectionMeta, ReplicaState};
use quiver_cluster::{ClusterNode, Metadata};
use quiver_collection::{Catalog, Collection, CollectionConfig, PayloadFieldSchema};
use quiver_types::ShardId;

/// Reconciles once now, then after every applied raft batch; the receiver carries the raft
/// index the catalog reflects.
pub async fn spawn(
    node: Arc<ClusterNode>,
    catalog: Arc<Catalog>,
) -> anyhow::Result<tokio::sync::watch::Receiver<u64>> {
    let path = catalog.dir().join("raft").join("materialized");
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let mut changes = node.changes();
    let applied = changes.borrow_and_update().unwrap_or(0);
    let first = once(&node, &catalog, &path, applied).await?;
    tx.send_replace(first);
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let applied = changes.borrow_and_update().unwrap_or(0);
            match once(&node, &catalog, &path, applied).await {
                Ok(index) => {
                    tx.send_replace(index);
                }
                Err(e) => tracing::error!("reconciling collections with the cluster metadata: {e:#}"),
            }
        }
    });
    Ok(rx)
}

/// One pass over the metadata as of (at least) applied index `index`; returns `index`.
async fn once(
    node: &Arc<ClusterNode>,
    catalog: &Arc<Catalog>,
    path: &Path,
    index: u64,
) -> anyhow::Result<u64> {
    // Read after the index: the metadata is at least that new.
    let meta = node.metadata();
    let (id, catalog, path) = (node.id(), Arc::clone(catalog), path.to_path_buf());
    let lost = tokio::task::spawn_blocking(move || apply(id, &meta, &catalog, &path)).await??;
    // A replica whose files vanished while the metadata calls it Active is demoted before it
    // is recreated empty (the next pass does that), so it never answers as an Active copy.
    for (collection, generation, shard) in lost {
        tracing::error!(
            "the files of the replica of shard {shard} of `{collection}` on this node are gone; marking it Dead so it copies itself again"
        );
        let cmd = quiver_cluster::Command::SetReplicaState {
            collection,
            generation,
            shard,
            node: node.id(),
            state: ReplicaState::Dead,
            if_primary: None,
            expect: Some(ReplicaState::Active),
            unless_last_active: false,
        };
        if let Err(e) = node.propose(cmd).await {
            tracing::warn!("marking a lost replica Dead: {e}; will retry");
        }
    }
    Ok(index)
}

/// The shards each collection has had on this node (`<storage>/raft/materialized_shards`):
/// one the metadata still places here but whose files are gone was lost, not never made.
type HeldShards = BTreeMap<String, (u64, BTreeSet<ShardId>)>;

/// A replica whose files vanished: (collection, generation, shard).
type Lost = (String, u64, ShardId);

/// Adds the local shards of replicas placed on this node since, drops those moved away; a
/// shard this node held whose files are gone while its replica is Active goes to `lost`
/// instead of being recreated.
fn replicas(
    me: u64,
    name: &str,
    local: &Collection,
    meta: &CollectionMeta,
    held: &mut HeldShards,
    lost: &mut Vec<Lost>,
) -> anyhow::Result<()> {
    let want: Vec<ShardId> = meta.shards_on(me);
    let have = local.local_shard_ids();
    let entry = held
        .entry(name.to_string())
        .or_insert_with(|| (meta.generation, have.iter().copied().collect()));
    if entry.0 != meta.generation {
        *entry = (meta.generation, have.iter().copied().collect());
    }
    for &s in want.iter().filter(|s| !have.contains(s)) {
        let state = meta
            .shards
            .get(&s)
            .and_then(|r| r.replicas.get(&me))
            .map(|r| r.state);
        if entry.1.contains(&s) && state == Some(ReplicaState::Active) {
            lost.push((name.to_string(), meta.generation, s));
            continue;
        }
        local.add_shard(s)?;
        entry.1.insert(s);
    }
    for &s in have.iter().filter(|s| !want.contains(s)) {
        local.remove_shard(s)?;
        entry.1.remove(&s);
    }
    Ok(())
}

/// Brings a local collection's config and payload indexes in line with the metadata.
fn settings(local: &Collection, meta: &CollectionMeta) -> anyhow::Result<()> {
    let config: CollectionConfig = serde_json::from_value(meta.config.clone())?;
    if local.config() != config {
        local.set_config(config)?;
    }
    let have = local.payload_schema();
    for (field, schema) in &meta.payload_schema {
        let schema: PayloadFieldSchema = serde_json::from_value(schema.clone())?;
        if have.get(field) != Some(&schema) {
            local.create_payload_index(field, schema)?;
        }
    }
    for field in have.keys().filter(|f| !meta.payload_schema.contains_key(*f)) {
        local.delete_payload_index(field)?;
    }
    Ok(())
}

fn apply(me: u64, meta: &Metadata, catalog: &Catalog, path: &Path) -> anyhow::Result<Vec<Lost>> {
    let mut done: BTreeMap<String, u64> = match fsio::read_optional(path)? {
        Some(b) => serde_json::from_slice(&b)?,
        None => BTreeMap::new(),
    };
    let held_path = path.with_file_name("materialized_shards");
    let mut held: HeldShards = match fsio::read_optional(&held_path)? {
        Some(b) => serde_json::from_slice(&b)?,
        None => BTreeMap::new(),
    };
    let held_before = held.clone();
    let mut lost = Vec::new();
    let before = done.clone();
    // Gone or recreated in the metadata: drop the local copy.
    for (name, generation) in before.iter() {
        if meta.collections.get(name).map(|c| c.generation) != Some(*generation) {
            catalog.delete(name)?;
            done.remove(name);
            held.remove(name);
        }
    }
    // One collection that cannot be brought in line (a full disk, a bad config) is reported and
    // retried on the next pass; it does not hold the others back.
    for (name, c) in &meta.collections {
        let mut records = Records {
            path,
            done: &mut done,
            held: &mut held,
            lost: &mut lost,
        };
        if let Err(e) = collection(me, name, c, catalog, &mut records) {
            tracing::error!("collection `{name}`: cannot bring it in line with the cluster metadata: {e:#}");
        }
    }
    if done != before {
        fsio::write_atomic(path, &serde_json::to_vec(&done)?)?;
    }
    if held != held_before {
        fsio::write_atomic(&held_path, &serde_json::to_vec(&held)?)?;
    }
    catalog.set_aliases(meta.aliases.clone())?;
    Ok(lost)
}

/// What a pass reads and updates: the collections materialized here (`done`, persisted at
/// `path`), the shards each has had here, and the replicas found lost.
struct Records<'a> {
    path: &'a Path,
    done: &'a mut BTreeMap<String, u64>,
    held: &'a mut HeldShards,
    lost: &'a mut Vec<Lost>,
}

/// Materializes or updates one collection of the metadata.
fn collection(
    me: u64,
    name: &str,
    c: &CollectionMeta,
    catalog: &Catalog,
    r: &mut Records<'_>,
) -> anyhow::Result<()> {
    let done = &mut *r.done;
    if done.contains_key(name) && catalog.exists(name) {
        let local = catalog.get(name)?;
        settings(local.as_ref(), c)?;
        return replicas(me, name, local.as_ref(), c, r.held, r.lost);
    }
    if catalog.exists(name) && !done.contains_key(name) {
        anyhow::bail!(
            "it exists on this node from before it joined the cluster; the cluster's collection of that \
             name is not materialized here until the local one is removed"
        );
    }
    let config: CollectionConfig = serde_json::from_value(c.config.clone())?;
    let mine: Vec<ShardId> = c.shards_on(me);
    // Recorded before it is created: a crash in between leaves a record whose collection is
    // created on the next pass, never a cluster collection taken for a local one.
    if !done.contains_key(name) {
        done.insert(name.to_string(), c.generation);
        fsio::write_atomic(r.path, &serde_json::to_vec(&*done)?)?;
    }
    let created = catalog.create_with_shards(name, config, Some(&mine))?;
    r.held
        .insert(name.to_string(), (c.generation, mine.iter().copied().collect()));
    settings(&created, c)
}
