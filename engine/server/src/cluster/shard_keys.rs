//! Shard keys of custom-sharded collections: each key brings its own shards, placed over the
//! voters and committed through raft.

use quiver_cluster::{Command, NodeId};
use quiver_types::ShardKey;

use super::Distributed;
use crate::error::{ApiError, ApiResult};

impl Distributed {
    /// Adds shard key `key` to custom-sharded `name`: `shards` shards (default: the
    /// collection's `shard_number`) of `replication` replicas each (default: its
    /// `replication_factor`), on the nodes of `placement` (default: every voter), spread so that
    /// successive keys start on successive nodes.
    pub async fn create_shard_key(
        &self,
        name: String,
        key: ShardKey,
        shards: Option<u32>,
        replication: Option<u32>,
        placement: Option<Vec<NodeId>>,
    ) -> ApiResult<()> {
        let (meta, target) = self.target(&name).await?;
        let config = super::config_of(&meta)?;
        if !meta.sharded_by_key {
            return Err(ApiError::invalid(format!(
                "shard_key: collection `{}` is not sharded by shard key (sharding_method is auto)",
                target.collection
            )));
        }
        let voters = self.node.status().voters;
        let nodes = match placement {
            Some(p) if p.is_empty() => return Err(ApiError::invalid("placement: no peers given")),
            Some(p) => {
                if let Some(bad) = p.iter().find(|n| !voters.contains(n)) {
                    return Err(ApiError::invalid(format!(
                        "placement: {bad} is not a cluster member"
                    )));
                }
                p
            }
            None => voters,
        };
        let shards = shards.unwrap_or(config.params.shard_number);
        if shards == 0 {
            return Err(ApiError::invalid("shards_number: must be at least 1"));
        }
        let replication = replication.unwrap_or(config.params.replication_factor).max(1);
        if config.params.write_consistency_factor > replication.min(nodes.len() as u32) {
            return Err(ApiError::invalid(format!(
                "replication_factor: {replication} replicas on {} nodes are fewer than the collection's write_consistency_factor {}",
                nodes.len(),
                config.params.write_consistency_factor
            )));
        }
        let mut sorted = nodes;
        sorted.sort_unstable();
        sorted.dedup();
        let offset = meta.shards.len() % sorted.len().max(1);
        sorted.rotate_left(offset);
        let placement: Vec<Vec<NodeId>> = (0..shards as usize)
            .map(|s| {
                (0..(replication as usize).min(sorted.len()))
                    .map(|r| sorted[(s + r) % sorted.len()])
                    .collect()
            })
            .collect();
        self.commit_change(Command::CreateShardKey {
            collection: target.collection,
            generation: target.generation,
            key,
            placement,
        })
        .await
    }

    /// Removes shard key `key` of `name` and its shards (with their points) on every node.
    pub async fn delete_shard_key(&self, name: String, key: ShardKey) -> ApiResult<()> {
        let (_, target) = self.target(&name).await?;
        self.commit_change(Command::DeleteShardKey {
            collection: target.collection,
            generation: target.generation,
            key,
        })
        .await
    }

    /// The shard keys of `name`.
    pub async fn shard_keys(&self, name: String) -> ApiResult<Vec<ShardKey>> {
        let (meta, _) = self.target(&name).await?;
        Ok(meta.shard_keys())
    }
}
