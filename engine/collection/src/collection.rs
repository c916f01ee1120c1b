//! One collection: its config, its shards (points routed by id hash), fan-out reads merged across
//! shards, and the payload index schema. Synchronous; the server calls it off the async runtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use quiver_segment::{IndexSettings, SegmentConfig, VectorSpec};
use quiver_shard::{shard::merge_scored, LocalShard, OptimizerOptions, ShardOptions};
use quiver_types::{
    Condition, Filter, JsonPath, OrderBy, PointId, Record, ScoredPoint, SearchRequest, ShardId,
    UpdateOperation, WithPayload, WithVector,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{
    CollectionConfig, HnswConfigDiff, OptimizersConfigDiff, QuantizationConfig, WalConfigDiff,
};
use crate::error::{CollectionError, Result};
use crate::fsio::{io_err, read_json, write_json_atomic};
use crate::text_rules;
use crate::validate;

/// A payload index as declared by the user (`data_type` is Qdrant's name: keyword, integer, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadFieldSchema {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

/// A collection's health, as `get collection` reports it (see [`status_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionStatus {
    Green,
    Yellow,
    Grey,
    Red,
}

/// What `get collection` reports.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    pub status: CollectionStatus,
    pub points_count: usize,
    pub indexed_vectors_count: usize,
    pub segments_count: usize,
    pub config: CollectionConfig,
    /// Field -> (schema, points having a value there).
    pub payload_schema: BTreeMap<String, (PayloadFieldSchema, usize)>,
    /// Why the last optimization failed, until one succeeds.
    pub optimizer_error: Option<String>,
}

/// Qdrant's status colours: `red` while optimizations fail, `yellow` while one runs or is due,
/// else `green`. (`grey`, optimizations due but not started, never happens here: the optimizer
/// starts on what is due at once, after a restart too.)
fn status_of(optimizing: bool, failing: bool) -> CollectionStatus {
    if failing {
        CollectionStatus::Red
    } else if optimizing {
        CollectionStatus::Yellow
    } else {
        CollectionStatus::Green
    }
}

/// Whether an update was applied before the answer (`wait=true`) or only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    Acknowledged,
    Completed,
}

impl UpdateResult {
    /// The answer to an update that asked (`wait`) or did not ask to be durable first.
    pub fn new(operation_id: u64, wait: bool) -> UpdateResult {
        UpdateResult {
            operation_id,
            status: if wait {
                UpdateStatus::Completed
            } else {
                UpdateStatus::Acknowledged
            },
        }
    }
}

/// The answer to an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateResult {
    pub operation_id: u64,
    pub status: UpdateStatus,
}

/// A page of points in id order (or ordered by a payload field).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScrollRequest {
    pub offset: Option<PointId>,
    pub limit: usize,
    pub filter: Option<Filter>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub order_by: Option<OrderBy>,
}

/// The shards a read covers: every local one, or a subset (a cluster coordinator asks each node
/// for the shards it picked on that node).
#[derive(Debug, Clone, Copy, Default)]
pub enum Scope<'a> {
    #[default]
    All,
    Only(&'a [ShardId]),
}

/// A collection stored on this node: every shard on a single node, the replicas this node holds
/// in a cluster (a subset of `0..shard_number` that changes as replicas are added or dropped).
pub struct Collection {
    name: String,
    dir: PathBuf,
    config: RwLock<CollectionConfig>,
    segment_config: SegmentConfig,
    /// The local shards with their ids. Readers take a copy of the list; a shard dropped
    /// meanwhile stays usable by them until they finish.
    shards: RwLock<Vec<(ShardId, Arc<LocalShard>)>>,
    payload_schema: RwLock<BTreeMap<String, PayloadFieldSchema>>,
    /// The last optimization's error, until one succeeds (status `red`, Qdrant's
    /// `optimizer_status: {"error": ...}`).
    optimizer_error: parking_lot::Mutex<Option<String>>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.name).finish()
    }
}

pub(crate) fn shard_options(
    config: &CollectionConfig,
    schema: &BTreeMap<String, PayloadFieldSchema>,
) -> ShardOptions {
    ShardOptions {
        wal_segment_bytes: config.wal_config.wal_capacity_mb.clamp(1, 1024) << 20,
        indexing: indexing_options(config, &config.segment_config(), schema),
        ..ShardOptions::default()
    }
}

/// The optimizer's view of a config: `indexing_threshold` (KB; unset means 10,000; 0 disables),
/// the HNSW settings segments are built with, `default_segment_number` (0: one per core) and
/// `max_segment_size` (KB of vectors; unset: 256 MB) for merges, `deleted_threshold` and
/// `vacuum_min_vector_number` for vacuum.
fn indexing_options(
    config: &CollectionConfig,
    segment_config: &SegmentConfig,
    schema: &BTreeMap<String, PayloadFieldSchema>,
) -> OptimizerOptions {
    let h = &config.hnsw_config;
    let o = &config.optimizer_config;
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let point_bytes: usize = segment_config
        .vectors
        .values()
        .map(|v| match v {
            VectorSpec::Dense { size, .. } => size * 4,
            VectorSpec::Sparse => 0,
        })
        .sum::<usize>()
        .max(4);
    let max_kb = size(o.max_segment_size.unwrap_or(256 * 1024));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    OptimizerOptions {
        threshold_kb: size(o.indexing_threshold.unwrap_or(10_000)),
        settings: IndexSettings {
            // 0 builds no main graph (value graphs only, with `payload_m`).
            m: size(h.m),
            ef_construct: size(h.ef_construct).max(4),
            full_scan_threshold_kb: size(h.full_scan_threshold),
            max_indexing_threads: size(h.max_indexing_threads),
            payload_m: size(h.payload_m.unwrap_or(h.m)),
        },
        target_segments: match o.default_segment_number {
            0 => cores,
            n => size(n),
        },
        max_segment_points: (max_kb.saturating_mul(1024) / point_bytes).clamp(1, u32::MAX as usize / 2),
        deleted_threshold: o.deleted_threshold,
        vacuum_min_vectors: size(o.vacuum_min_vector_number),
        quantization: config
            .params
            .vectors
            .iter()
            .into_iter()
            .filter_map(|(name, v)| {
                // A vector's own setting wins over the collection's (Qdrant's rule). Product and
                // binary quantization are accepted and reported but not used by search yet.
                let q = v
                    .quantization_config
                    .as_ref()
                    .or(config.quantization_config.as_ref())?;
                match q {
                    QuantizationConfig::Scalar(s) => Some((
                        name.to_string(),
                        quiver_segment::Int8Params {
                            quantile: s.quantile.map_or(0.99, |q| q as f32),
                        },
                    )),
                    _ => None,
                }
            })
            .collect(),
        fields: schema
            .iter()
            .filter_map(|(field, s)| {
                let kind = quiver_segment::FieldKind::from_schema(&s.data_type)?;
                Some((JsonPath::parse(field).ok()?, kind))
            })
            .collect(),
        layout: storage_layout(schema),
    }
}

/// The fields that order stored points: `is_tenant` ones, then `is_principal` ones (by name).
fn storage_layout(schema: &BTreeMap<String, PayloadFieldSchema>) -> Vec<JsonPath> {
    let flagged = |flag: &str| -> Vec<JsonPath> {
        schema
            .iter()
            .filter(|(_, s)| {
                s.params
                    .as_ref()
                    .and_then(|p| p.get(flag))
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
            })
            .filter_map(|(field, _)| JsonPath::parse(field).ok())
            .collect()
    };
    let mut out = flagged("is_tenant");
    out.extend(flagged("is_principal"));
    out
}

impl Collection {
    /// Creates the collection's files in `dir` (which must not exist), with every shard.
    pub fn create(dir: &Path, name: &str, config: CollectionConfig) -> Result<Collection> {
        let all: Vec<ShardId> = (0..config.params.shard_number).collect();
        Self::create_with_shards(dir, name, config, &all)
    }

    /// Creates the collection with only the shards `ids` stored here (a cluster node's share).
    pub fn create_with_shards(
        dir: &Path,
        name: &str,
        config: CollectionConfig,
        ids: &[ShardId],
    ) -> Result<Collection> {
        config.validate()?;
        if let Some(bad) = ids
            .iter()
            .find(|&&i| i >= config.params.shard_number && !sharded_by_key(&config))
        {
            return Err(CollectionError::InvalidInput(format!(
                "shard {bad} is outside shard_number {}",
                config.params.shard_number
            )));
        }
        std::fs::create_dir_all(dir.join("shards")).map_err(io_err(dir))?;
        write_json_atomic(&dir.join("config.json"), &config)?;
        write_json_atomic(
            &dir.join("payload_index.json"),
            &BTreeMap::<String, PayloadFieldSchema>::new(),
        )?;
        let segment_config = config.segment_config();
        let mut shards = Vec::new();
        for &i in ids {
            let shard_dir = dir.join("shards").join(i.to_string());
            let shard = LocalShard::create(
                &shard_dir,
                segment_config.clone(),
                shard_options(&config, &BTreeMap::new()),
            )?;
            shards.push((i, Arc::new(shard)));
        }
        Ok(Collection {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segment_config,
            shards: RwLock::new(shards),
            payload_schema: RwLock::new(BTreeMap::new()),
            optimizer_error: parking_lot::Mutex::new(None),
        })
    }

    /// Opens the collection stored in `dir`, recovering every shard.
    pub fn open(dir: &Path, name: &str) -> Result<Collection> {
        let config: CollectionConfig = read_json(&dir.join("config.json"))?
            .ok_or_else(|| CollectionError::Corrupt(format!("{}: config.json missing", dir.display())))?;
        let payload_schema: BTreeMap<String, PayloadFieldSchema> =
            read_json(&dir.join("payload_index.json"))?.unwrap_or_default();
        let segment_config = config.segment_config();
        // The shards stored here: every one on a single node, this node's share in a cluster
        // (with custom sharding, ids beyond shard_number).
        crate::shard_snapshot::restore_replaced(&dir.join("shards"))?;
        crate::shard_snapshot::remove_unpacked_leftovers(dir)?;
        let mut shard_ids: Vec<ShardId> = std::fs::read_dir(dir.join("shards"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        shard_ids.sort_unstable();
        let shards = shard_ids
            .iter()
            .map(|&i| {
                let shard_dir = dir.join("shards").join(i.to_string());
                LocalShard::open(
                    &shard_dir,
                    segment_config.clone(),
                    shard_options(&config, &payload_schema),
                )
                .map(|s| (i, Arc::new(s)))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Collection {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segment_config,
            shards: RwLock::new(shards),
            payload_schema: RwLock::new(payload_schema),
            optimizer_error: parking_lot::Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> CollectionConfig {
        self.config.read().clone()
    }

    /// The collection-level files of a snapshot (config and payload schema), as they are now.
    pub(crate) fn metadata_files(&self) -> Result<Vec<(PathBuf, Vec<u8>)>> {
        let json = |v: serde_json::Result<Vec<u8>>| {
            v.map_err(|e| CollectionError::Corrupt(format!("cannot encode collection metadata: {e}")))
        };
        Ok(vec![
            (
                PathBuf::from("config.json"),
                json(serde_json::to_vec_pretty(&self.config()))?,
            ),
            (
                PathBuf::from("payload_index.json"),
                json(serde_json::to_vec_pretty(&*self.payload_schema.read()))?,
            ),
        ])
    }

    /// The local shards with their ids, as they are now.
    pub(crate) fn shards(&self) -> Vec<(ShardId, Arc<LocalShard>)> {
        self.shards.read().clone()
    }

    /// The table of local shards, held for a change.
    pub(crate) fn shards_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Vec<(ShardId, Arc<LocalShard>)>> {
        self.shards.write()
    }

    /// The folder of local shard `id` (whether or not it exists), for files the cluster
    /// layer keeps beside a replica's data so they vanish with it.
    pub fn shard_dir(&self, id: ShardId) -> PathBuf {
        self.dir.join("shards").join(id.to_string())
    }

    /// The collection's folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates local shard `id` (empty; a cluster replica added to this node). No-op when it
    /// exists.
    pub fn add_shard(&self, id: ShardId) -> Result<()> {
        let config = self.config();
        if id >= config.params.shard_number && !sharded_by_key(&config) {
            return Err(CollectionError::InvalidInput(format!(
                "shard {id} is outside shard_number {}",
                config.params.shard_number
            )));
        }
        let mut shards = self.shards.write();
        if shards.iter().any(|(s, _)| *s == id) {
            return Ok(());
        }
        let shard_dir = self.dir.join("shards").join(id.to_string());
        if shard_dir.exists() {
            // Left by a replica dropped before a crash: start empty.
            std::fs::remove_dir_all(&shard_dir).map_err(io_err(&shard_dir))?;
        }
        let shard = LocalShard::create(
            &shard_dir,
            self.segment_config.clone(),
            shard_options(&config, &self.payload_schema.read()),
        )?;
        shards.push((id, Arc::new(shard)));
        shards.sort_by_key(|(s, _)| *s);
        Ok(())
    }

    /// Drops local shard `id` and deletes its files (a cluster replica moved away).
    pub fn remove_shard(&self, id: ShardId) -> Result<()> {
        let removed = {
            let mut shards = self.shards.write();
            let before = shards.len();
            shards.retain(|(s, _)| *s != id);
            before != shards.len()
        };
        let shard_dir = self.dir.join("shards").join(id.to_string());
        if removed && shard_dir.exists() {
            std::fs::remove_dir_all(&shard_dir).map_err(io_err(&shard_dir))?;
        }
        Ok(())
    }

    pub fn segment_config(&self) -> &SegmentConfig {
        &self.segment_config
    }

    /// The shard a point belongs to (of all `shard_number`, wherever they are stored).
    pub fn shard_of(&self, id: &PointId) -> ShardId {
        route(id, self.config.read().params.shard_number)
    }

    /// The shard ids stored on this node.
    pub fn local_shard_ids(&self) -> Vec<ShardId> {
        self.shards.read().iter().map(|(s, _)| *s).collect()
    }

    /// The local shard with global id `id`.
    pub(crate) fn local(&self, id: ShardId) -> Option<Arc<LocalShard>> {
        self.shards
            .read()
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, s)| Arc::clone(s))
    }

    /// The local shards `scope` selects.
    pub(crate) fn scoped(&self, scope: Scope<'_>) -> Vec<Arc<LocalShard>> {
        match scope {
            Scope::All => self.shards.read().iter().map(|(_, s)| Arc::clone(s)).collect(),
            Scope::Only(ids) => ids.iter().filter_map(|&i| self.local(i)).collect(),
        }
    }

    /// Points of `id`'s shard, when it is stored here.
    pub(crate) fn owner(&self, id: &PointId) -> Option<Arc<LocalShard>> {
        self.local(self.shard_of(id))
    }

    /// Validates, routes and applies an update. `wait` makes it durable (fsync) before returning.
    /// Points of shards not stored here are refused (a cluster routes each part to its shard).
    pub fn update(&self, op: &UpdateOperation, wait: bool) -> Result<UpdateResult> {
        validate::check_operation(&self.segment_config, op)?;
        // The op is logged with its text rules resolved: a replay means what was acknowledged.
        let resolved = text_rules::resolve_operation(op, &self.text_rules());
        let op = resolved.as_ref().unwrap_or(op);
        let mut op_id = 0;
        let number = self.config.read().params.shard_number;
        let shards = self.shards();
        if shards.len() == 1 && number == 1 {
            if !op.is_noop() {
                op_id = shards[0].1.update(op, wait)?.0;
            }
        } else {
            let foreign = op.restrict(|id| self.owner(id).is_none());
            if foreign.explicit_ids().is_some_and(|ids| !ids.is_empty()) {
                return Err(CollectionError::InvalidInput(
                    "the update names points of shards not stored on this node".into(),
                ));
            }
            // Check existence across shards first so a multi-shard update fails before any shard logs.
            if let UpdateOperation::UpdateVectors(points) = op {
                for (id, _) in points {
                    let found = self.owner(id).is_some_and(|s| {
                        !s.retrieve(&[*id], &WithPayload::None, &WithVector::None)
                            .is_empty()
                    });
                    if !found {
                        return Err(CollectionError::NotFound(format!("No point with id {id} found")));
                    }
                }
            }
            for (sid, shard) in &shards {
                let part = op.restrict(|id| route(id, number) == *sid);
                if part.is_noop() {
                    continue;
                }
                op_id = op_id.max(shard.update(&part, wait)?.0);
            }
        }
        Ok(UpdateResult::new(op_id, wait))
    }

    /// Applies `op` to local shard `shard` only (a cluster replica's share of an update; points
    /// of other shards in it are ignored).
    pub fn update_shard(&self, shard: ShardId, op: &UpdateOperation, wait: bool) -> Result<UpdateResult> {
        validate::check_operation(&self.segment_config, op)?;
        let local = self
            .local(shard)
            .ok_or_else(|| CollectionError::NotFound(format!("shard {shard} is not stored on this node")))?;
        let resolved = text_rules::resolve_operation(op, &self.text_rules());
        let op = resolved.as_ref().unwrap_or(op);
        let params = self.config.read().params.clone();
        // With custom sharding a point's shard follows its shard key, which only the cluster
        // knows: the coordinator has split the update already.
        let part = match params.sharding_method {
            Some(crate::config::ShardingMethod::Custom) => op.clone(),
            _ => op.restrict(|id| route(id, params.shard_number) == shard),
        };
        let operation_id = if part.is_noop() {
            0
        } else {
            local.update(&part, wait)?.0
        };
        Ok(UpdateResult::new(operation_id, wait))
    }

    /// Deletes every point of local shard `shard` (a replica about to be copied afresh).
    pub fn clear_shard(&self, shard: ShardId) -> Result<()> {
        let local = self
            .local(shard)
            .ok_or_else(|| CollectionError::NotFound(format!("shard {shard} is not stored on this node")))?;
        let ids = local.scroll_ids(None, usize::MAX, None);
        if !ids.is_empty() {
            local.update(
                &UpdateOperation::Delete(quiver_types::PointSelector::Ids(ids)),
                true,
            )?;
        }
        Ok(())
    }

    /// The ids of local shard `shard` that `filter` selects now.
    pub fn matching_ids(&self, shard: ShardId, filter: &Filter) -> Result<Vec<PointId>> {
        let local = self
            .local(shard)
            .ok_or_else(|| CollectionError::NotFound(format!("shard {shard} is not stored on this node")))?;
        let resolved = self.resolve_filter(Some(filter));
        let filter = resolved.as_ref().unwrap_or(filter);
        Ok(local.scroll_ids(None, usize::MAX, Some(filter)))
    }

    /// Up to `limit` whole points (every vector, the full payload) of local shard `shard` from id
    /// `from` on, and the id the next page starts at.
    pub fn shard_page(
        &self,
        shard: ShardId,
        from: Option<PointId>,
        limit: usize,
    ) -> Result<(Vec<Record>, Option<PointId>)> {
        let local = self
            .local(shard)
            .ok_or_else(|| CollectionError::NotFound(format!("shard {shard} is not stored on this node")))?;
        let mut ids = local.scroll_ids(from, limit.saturating_add(1), None);
        let next = (ids.len() > limit).then(|| ids[limit]);
        ids.truncate(limit);
        Ok((local.retrieve(&ids, &WithPayload::All, &WithVector::All), next))
    }

    /// The declared full-text rules (see [`text_rules`]).
    fn text_rules(&self) -> Vec<(JsonPath, quiver_types::TextRules)> {
        text_rules::declared_rules(&self.payload_schema.read())
    }

    /// `filter` with text conditions resolved against the text indexes; `None` when unchanged.
    pub(crate) fn resolve_filter(&self, filter: Option<&Filter>) -> Option<Filter> {
        text_rules::resolve(filter?, &self.text_rules())
    }

    fn check_search(&self, req: &SearchRequest) -> Result<()> {
        validate::check_vector(&self.segment_config, &req.vector_name, &req.query)
    }

    /// Exact nearest neighbours over every shard, `offset` skipped, at most `limit` returned.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        self.search_in(req, Scope::All)
    }

    /// [`Collection::search`] over the shards `scope` selects.
    pub fn search_in(&self, req: &SearchRequest, scope: Scope<'_>) -> Result<Vec<ScoredPoint>> {
        self.check_search(req)?;
        let resolved = self
            .resolve_filter(req.filter.as_ref())
            .map(|filter| SearchRequest {
                filter: Some(filter),
                ..req.clone()
            });
        let req = resolved.as_ref().unwrap_or(req);
        let parts = self
            .scoped(scope)
            .par_iter()
            .map(|s| s.search(req))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let higher = quiver_shard::shard::higher_is_better(&self.segment_config, &req.vector_name);
        let merged = merge_scored(parts, req.limit.saturating_add(req.offset), higher);
        Ok(merged.into_iter().skip(req.offset).collect())
    }

    /// Exact number of points passing the filter.
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        self.count_in(filter, Scope::All)
    }

    /// [`Collection::count`] over the shards `scope` selects.
    pub fn count_in(&self, filter: Option<&Filter>, scope: Scope<'_>) -> usize {
        let resolved = self.resolve_filter(filter);
        let filter = resolved.as_ref().or(filter).filter(|f| !f.is_empty());
        self.scoped(scope).par_iter().map(|s| s.count(filter)).sum()
    }

    pub fn info(&self) -> CollectionInfo {
        let stats: Vec<_> = self.shards().iter().map(|(_, s)| s.stats()).collect();
        let schema = self.payload_schema.read().clone();
        let payload_schema = schema
            .into_iter()
            .map(|(field, s)| {
                let points = match JsonPath::parse(&field) {
                    Ok(path) => {
                        let has_value = Filter {
                            must_not: vec![Condition::IsEmpty(path)],
                            ..Filter::default()
                        };
                        self.count(Some(&has_value))
                    }
                    Err(_) => 0,
                };
                (field, (s, points))
            })
            .collect();
        let optimizer_error = self.optimizer_error.lock().clone();
        CollectionInfo {
            status: status_of(stats.iter().any(|s| s.optimizing), optimizer_error.is_some()),
            optimizer_error,
            points_count: stats.iter().map(|s| s.points).sum(),
            indexed_vectors_count: stats.iter().map(|s| s.indexed_vectors).sum(),
            segments_count: stats.iter().map(|s| s.segments).sum(),
            config: self.config(),
            payload_schema,
        }
    }

    /// Applies a PATCH of the config and persists it.
    pub fn update_config(&self, diff: &ConfigDiff) -> Result<()> {
        self.set_config(self.patched_config(diff)?)
    }

    /// The config `diff` would give, validated, without applying it.
    pub fn patched_config(&self, diff: &ConfigDiff) -> Result<CollectionConfig> {
        let mut next = self.config();
        diff.apply(&mut next)?;
        next.validate()?;
        Ok(next)
    }

    /// Replaces the config (validated) and persists it: how a cluster node takes on a change
    /// committed through raft.
    pub fn set_config(&self, next: CollectionConfig) -> Result<()> {
        next.validate()?;
        let mut config = self.config.write();
        write_json_atomic(&self.dir.join("config.json"), &next)?;
        *config = next;
        drop(config);
        self.push_optimizer_options();
        Ok(())
    }

    /// The declared payload indexes.
    pub fn payload_schema(&self) -> BTreeMap<String, PayloadFieldSchema> {
        self.payload_schema.read().clone()
    }

    /// Hands the current config and payload schema to every shard's optimizer.
    fn push_optimizer_options(&self) {
        let opts = indexing_options(
            &self.config.read(),
            &self.segment_config,
            &self.payload_schema.read(),
        );
        self.shards()
            .iter()
            .for_each(|(_, s)| s.set_optimizer(opts.clone()));
    }

    /// Runs one due optimization on one shard; returns whether there was one.
    /// Runs one optimization job of the first shard that has one due; an error of any shard is
    /// kept for `info` until a pass has none.
    pub fn optimize_once(&self) -> Result<bool> {
        let (mut did, mut failure) = (false, None);
        for (_, shard) in self.shards() {
            // A panic is a bug, but it must not silently stop every later optimization: it is
            // reported like an error (the shard's state is only swapped when a job finishes).
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.optimize_once()));
            let result = run.unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(quiver_shard::ShardError::Corrupt(format!(
                    "optimization panicked: {why}"
                )))
            });
            // A failing shard does not keep the others from their jobs.
            match result {
                Ok(true) => {
                    did = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        // The status shows this pass's failure, and clears once a pass has none (a failing
        // job that is no longer due leaves no error behind).
        *self.optimizer_error.lock() = failure.as_ref().map(|e| e.to_string());
        match failure {
            Some(e) if !did => Err(e.into()),
            _ => Ok(did),
        }
    }

    /// Declares a payload index (replacing an existing declaration of the field).
    pub fn create_payload_index(&self, field: &str, schema: PayloadFieldSchema) -> Result<()> {
        JsonPath::parse(field).map_err(|e| CollectionError::InvalidInput(format!("field_name: {e}")))?;
        let mut all = self.payload_schema.write();
        let mut next = all.clone();
        next.insert(field.to_string(), schema);
        write_json_atomic(&self.dir.join("payload_index.json"), &next)?;
        *all = next;
        drop(all);
        self.push_optimizer_options();
        Ok(())
    }

    pub fn delete_payload_index(&self, field: &str) -> Result<()> {
        let mut all = self.payload_schema.write();
        let mut next = all.clone();
        next.remove(field);
        write_json_atomic(&self.dir.join("payload_index.json"), &next)?;
        *all = next;
        drop(all);
        self.push_optimizer_options();
        Ok(())
    }

    /// Persists changed segments of every shard and trims their logs.
    pub fn checkpoint(&self) -> Result<()> {
        self.shards()
            .iter()
            .try_for_each(|(_, s)| s.checkpoint())
            .map_err(Into::into)
    }

    /// fsyncs the logs of every shard.
    pub fn sync_wal(&self) -> Result<()> {
        self.shards()
            .iter()
            .try_for_each(|(_, s)| s.sync_wal())
            .map_err(Into::into)
    }

    pub fn flush_interval_sec(&self) -> u64 {
        self.config.read().optimizer_config.flush_interval_sec
    }
}

/// A PATCH of a collection's settings.
#[derive(Debug, Clone, Default)]
pub struct ConfigDiff {
    pub vectors: BTreeMap<String, VectorParamsDiff>,
    pub hnsw_config: Option<HnswConfigDiff>,
    pub optimizers_config: Option<OptimizersConfigDiff>,
    pub wal_config: Option<WalConfigDiff>,
    /// `Some(None)` disables quantization.
    pub quantization_config: Option<Option<QuantizationConfig>>,
    pub replication_factor: Option<u32>,
    pub write_consistency_factor: Option<u32>,
    pub read_fan_out_factor: Option<u32>,
    pub on_disk_payload: Option<bool>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub strict_mode_config: Option<serde_json::Value>,
}

/// Per-vector settings a PATCH may change.
#[derive(Debug, Clone, Default)]
pub struct VectorParamsDiff {
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<Option<QuantizationConfig>>,
    pub on_disk: Option<bool>,
}

impl ConfigDiff {
    fn apply(&self, c: &mut CollectionConfig) -> Result<()> {
        for (name, d) in &self.vectors {
            let p = c.params.vectors.get_mut(name).ok_or_else(|| {
                CollectionError::InvalidInput(format!("Wrong input: Not existing vector name error: {name}"))
            })?;
            if let Some(h) = &d.hnsw_config {
                let mut merged = p.hnsw_config.clone().unwrap_or_default();
                macro_rules! over {
                    ($($f:ident),*) => { $( if h.$f.is_some() { merged.$f = h.$f.clone(); } )* };
                }
                over!(
                    m,
                    ef_construct,
                    full_scan_threshold,
                    max_indexing_threads,
                    on_disk,
                    payload_m
                );
                p.hnsw_config = Some(merged);
            }
            if let Some(q) = &d.quantization_config {
                p.quantization_config = q.clone();
            }
            if d.on_disk.is_some() {
                p.on_disk = d.on_disk;
            }
        }
        if let Some(h) = &self.hnsw_config {
            h.validate("hnsw_config.")?;
            h.apply(&mut c.hnsw_config);
        }
        if let Some(o) = &self.optimizers_config {
            o.validate()?;
            o.apply(&mut c.optimizer_config);
        }
        if let Some(w) = &self.wal_config {
            if let Some(v) = w.wal_capacity_mb {
                c.wal_config.wal_capacity_mb = v;
            }
            if let Some(v) = w.wal_segments_ahead {
                c.wal_config.wal_segments_ahead = v;
            }
        }
        if let Some(q) = &self.quantization_config {
            c.quantization_config = q.clone();
        }
        if let Some(v) = self.replication_factor {
            c.params.replication_factor = v;
        }
        if let Some(v) = self.write_consistency_factor {
            c.params.write_consistency_factor = v;
        }
        if self.read_fan_out_factor.is_some() {
            c.params.read_fan_out_factor = self.read_fan_out_factor;
        }
        if let Some(v) = self.on_disk_payload {
            c.params.on_disk_payload = v;
        }
        if let Some(m) = &self.metadata {
            let meta = c.metadata.get_or_insert_with(Default::default);
            for (k, v) in m {
                meta.insert(k.clone(), v.clone());
            }
        }
        if self.strict_mode_config.is_some() {
            c.strict_mode_config = self.strict_mode_config.clone();
        }
        Ok(())
    }
}

/// Custom sharding: shard ids are allocated per shard key (by the cluster), not `0..shard_number`.
pub(crate) fn sharded_by_key(config: &CollectionConfig) -> bool {
    config.params.sharding_method == Some(crate::config::ShardingMethod::Custom)
}

/// The shard of `id` among `shard_number` shards (the same on every node).
pub fn route(id: &PointId, shard_number: u32) -> ShardId {
    (id.route_hash() % u64::from(shard_number.max(1))) as ShardId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_optimizer_is_red_before_a_busy_one_is_yellow() {
        assert_eq!(status_of(false, false), CollectionStatus::Green);
        assert_eq!(status_of(true, false), CollectionStatus::Yellow);
        assert_eq!(status_of(true, true), CollectionStatus::Red);
        assert_eq!(status_of(false, true), CollectionStatus::Red);
    }
}
