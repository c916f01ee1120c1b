//! Keeps the local catalog in line with the cluster metadata: every collection in the metadata
//! exists here with the shards placed on this node; a collection deleted (or recreated) in the
//! metadata is deleted (or recreated) here. What this node materialized, and from which
//! generation, is kept in `<storage>/raft/materialized` so a collection that existed before the
//! node joined a cluster is never mistaken for a cluster one and removed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use quiver_cluster::fsio;
use quiver_cluster::metadata::CollectionMeta;
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
    tokio::task::spawn_blocking(move || apply(id, &meta, &catalog, &path)).await??;
    Ok(index)
}

/// Adds the local shards of replicas placed on this node since, drops those moved away.
fn replicas(me: u64, local: &Collection, meta: &CollectionMeta) -> anyhow::Result<()> {
    let want: Vec<ShardId> = meta.shards_on(me);
    let have = local.local_shard_ids();
    for &s in want.iter().filter(|s| !have.contains(s)) {
        local.add_shard(s)?;
    }
    for &s in have.iter().filter(|s| !want.contains(s)) {
        local.remove_shard(s)?;
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

fn apply(me: u64, meta: &Metadata, catalog: &Catalog, path: &Path) -> anyhow::Result<()> {
    let mut done: BTreeMap<String, u64> = match fsio::read_optional(path)? {
        Some(b) => serde_json::from_slice(&b)?,
        None => BTreeMap::new(),
    };
    let before = done.clone();
    // Gone or recreated in the metadata: drop the local copy.
    for (name, generation) in before.iter() {
        if meta.collections.get(name).map(|c| c.generation) != Some(*generation) {
            catalog.delete(name)?;
            done.remove(name);
        }
    }
    // One collection that cannot be brought in line (a full disk, a bad config) is reported and
    // retried on the next pass; it does not hold the others back.
    for (name, c) in &meta.collections {
        if let Err(e) = collection(me, name, c, catalog, path, &mut done) {
            tracing::error!("collection `{name}`: cannot bring it in line with the cluster metadata: {e:#}");
        }
    }
    if done != before {
        fsio::write_atomic(path, &serde_json::to_vec(&done)?)?;
    }
    catalog.set_aliases(meta.aliases.clone())?;
    Ok(())
}

/// Materializes or updates one collection of the metadata; `done` records what exists here.
fn collection(
    me: u64,
    name: &str,
    c: &CollectionMeta,
    catalog: &Catalog,
    path: &Path,
    done: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    if done.contains_key(name) && catalog.exists(name) {
        let local = catalog.get(name)?;
        settings(local.as_ref(), c)?;
        return replicas(me, local.as_ref(), c);
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
        fsio::write_atomic(path, &serde_json::to_vec(&*done)?)?;
    }
    let created = catalog.create_with_shards(name, config, Some(&mine))?;
    settings(&created, c)
}
