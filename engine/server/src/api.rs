//! The operations both API surfaces (gRPC and REST) call: one async method per engine operation,
//! each running the synchronous engine on the blocking pool so the async runtime never stalls.
//! Conversions from the wire happen before these are called; errors come back as [`ApiError`].

use std::sync::Arc;

use quiver_cluster::ClusterNode;

use crate::cluster::Distributed;
use quiver_collection::snapshot::{self, SnapshotDescription};
use quiver_collection::{
    AliasOperation, Catalog, CollectionConfig, CollectionInfo, ConfigDiff, PayloadFieldSchema, ScrollRequest,
    UpdateResult,
};
use quiver_types::{
    Filter, PointId, QueryRequest, ReadOptions, Record, ScoredPoint, ShardKey, ShardKeySelector,
    UpdateOperation, WithPayload, WithVector,
};

use crate::error::{ApiError, ApiResult};
use crate::snapshot_store::{file_stream, save_stream, ByteStream, RemoteSnapshots};

/// What a snapshot covers: the whole storage, one collection (in a cluster: the shards this
/// node holds), or one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotScope {
    Full,
    Collection(String),
    Shard(String, quiver_types::ShardId),
}

impl From<Option<String>> for SnapshotScope {
    fn from(collection: Option<String>) -> Self {
        collection.map_or(SnapshotScope::Full, SnapshotScope::Collection)
    }
}

impl SnapshotScope {
    /// The folder under the snapshot store's prefix: `<collection>`, `<collection>/shards/<id>`.
    fn remote_folder(&self) -> Option<String> {
        match self {
            SnapshotScope::Full => None,
            SnapshotScope::Collection(c) => Some(c.clone()),
            SnapshotScope::Shard(c, s) => Some(format!("{c}/shards/{s}")),
        }
    }
}

/// Which data wins when a shard snapshot is recovered on a replica in a cluster (Qdrant's
/// `priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPriority {
    /// The other replicas' data: the recovered replica copies itself again from the primary
    /// (the snapshot counts only when no other replica is Active).
    #[default]
    Replica,
    /// The snapshot's: every other replica is marked Dead and copies itself from this one.
    Snapshot,
    /// Neither: the data is replaced here and nothing else happens.
    NoSync,
}

/// The engine as the API layer sees it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Api {
    catalog: Arc<Catalog>,
    /// Where snapshots go when `snapshots_storage: s3`.
    remote: Option<Arc<RemoteSnapshots>>,
    /// This node's part of the cluster, in cluster mode.
    cluster: Option<Distributed>,
    /// The address downloads (snapshot recovery from a URL) go out from: this node's own,
    /// like every other outgoing connection (tests cut links per address pair).
    source_address: Option<std::net::IpAddr>,
}

impl Api {
    pub fn new(catalog: Arc<Catalog>) -> Api {
        Api {
            catalog,
            remote: None,
            cluster: None,
            source_address: None,
        }
    }

    /// Outgoing downloads bind `ip` (this node's address; `None`: the system's choice).
    pub fn with_source_address(mut self, ip: Option<std::net::IpAddr>) -> Api {
        self.source_address = ip;
        self
    }

    /// An HTTP client whose connections leave from this node's own address.
    pub fn http_client(&self) -> ApiResult<reqwest::Client> {
        reqwest::Client::builder()
            .local_address(self.source_address)
            .build()
            .map_err(|e| ApiError::Internal(format!("http client: {e}")))
    }

    /// Runs in cluster mode as a member of `d`.
    pub fn with_cluster(mut self, d: Distributed) -> Api {
        self.cluster = Some(d);
        self
    }

    /// This node's cluster member, in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<ClusterNode>> {
        self.cluster.as_ref().map(Distributed::node)
    }

    /// The cluster side, in cluster mode.
    pub fn distributed(&self) -> Option<&Distributed> {
        self.cluster.as_ref()
    }

    /// Refuses what cluster mode does not coordinate across nodes yet (rather than changing one
    /// node's copy and letting the replicas disagree).
    fn single_node_only(&self, what: &str) -> ApiResult<()> {
        match self.cluster {
            Some(_) => Err(ApiError::invalid(format!(
                "{what} is not supported in cluster mode yet"
            ))),
            None => Ok(()),
        }
    }

    /// Keeps snapshots in `remote` instead of the local snapshot folder.
    pub fn with_remote_snapshots(mut self, remote: RemoteSnapshots) -> Api {
        self.remote = Some(Arc::new(remote));
        self
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Catalog) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let catalog = Arc::clone(&self.catalog);
        tokio::task::spawn_blocking(move || f(&catalog))
            .await
            .map_err(|e| ApiError::Internal(format!("Service internal error: task failed: {e}")))?
    }

    pub async fn create_collection(&self, name: String, config: CollectionConfig) -> ApiResult<()> {
        if let Some(d) = &self.cluster {
            quiver_collection::catalog::check_name("collection_name", &name)?;
            return d.create_collection(name, config).await;
        }
        if config.params.sharding_method == Some(quiver_collection::ShardingMethod::Custom) {
            return Err(ApiError::invalid(
                "sharding_method: custom sharding needs cluster mode (cluster.enabled: shard keys are placed on the cluster's nodes)",
            ));
        }
        self.blocking(move |c| c.create(&name, config).map(|_| ()).map_err(Into::into))
            .await
    }

    /// Adds shard key `key` to a custom-sharded collection (cluster mode only).
    pub async fn create_shard_key(
        &self,
        name: String,
        key: ShardKey,
        shards: Option<u32>,
        replication: Option<u32>,
        placement: Option<Vec<u64>>,
    ) -> ApiResult<()> {
        match &self.cluster {
            Some(d) => {
                d.create_shard_key(name, key, shards, replication, placement)
                    .await
            }
            None => Err(self.no_keys_here(&name).await),
        }
    }

    pub async fn delete_shard_key(&self, name: String, key: ShardKey) -> ApiResult<()> {
        match &self.cluster {
            Some(d) => d.delete_shard_key(name, key).await,
            None => Err(self.no_keys_here(&name).await),
        }
    }

    pub async fn list_shard_keys(&self, name: String) -> ApiResult<Vec<ShardKey>> {
        match &self.cluster {
            Some(d) => d.shard_keys(name).await,
            None => {
                self.catalog.get(&name)?;
                Ok(Vec::new())
            }
        }
    }

    /// The error for shard keys on a single node: 404 for a missing collection, else the
    /// collection is not custom-sharded (a single node has none that are).
    async fn no_keys_here(&self, name: &str) -> ApiError {
        match self.catalog.get(name) {
            Err(e) => e.into(),
            Ok(_) => ApiError::invalid(format!(
                "shard_key: collection `{name}` is not sharded by shard key (sharding_method is auto)"
            )),
        }
    }

    /// Refuses shard keys on a single node (see [`Api::no_keys_here`]).
    async fn single_node_keys(&self, name: &str, keys: &Option<ShardKeySelector>) -> ApiResult<()> {
        match keys {
            Some(_) => Err(self.no_keys_here(name).await),
            None => Ok(()),
        }
    }

    pub async fn delete_collection(&self, name: String) -> ApiResult<bool> {
        if let Some(d) = &self.cluster {
            return d.delete_collection(name).await;
        }
        self.blocking(move |c| c.delete(&name).map_err(Into::into)).await
    }

    /// Snapshots collection `collection` (`None`: the whole storage); with S3 storage the
    /// archive is uploaded and the local copy removed.
    pub async fn create_snapshot(&self, scope: impl Into<SnapshotScope>) -> ApiResult<SnapshotDescription> {
        let scope = scope.into();
        if scope == SnapshotScope::Full {
            self.single_node_only("a full-storage snapshot (snapshot each collection or shard instead)")?;
        }
        let dir = self.snapshot_dir(scope.clone()).await?;
        let what = scope.clone();
        let (d, dir) = self
            .blocking(move |c| match what {
                SnapshotScope::Collection(name) => Ok((c.get(&name)?.create_snapshot(&dir)?, dir)),
                SnapshotScope::Shard(name, shard) => {
                    Ok((c.get(&name)?.create_shard_snapshot(shard, &dir)?, dir))
                }
                SnapshotScope::Full => Ok((c.create_full_snapshot()?, c.full_snapshots_dir())),
            })
            .await?;
        if let Some(remote) = &self.remote {
            remote.upload(scope.remote_folder().as_deref(), &dir, &d).await?;
        }
        Ok(d)
    }

    pub async fn list_snapshots(
        &self,
        scope: impl Into<SnapshotScope>,
    ) -> ApiResult<Vec<SnapshotDescription>> {
        let scope = scope.into();
        let dir = self.snapshot_dir(scope.clone()).await?;
        match &self.remote {
            Some(remote) => remote.list(scope.remote_folder().as_deref()).await,
            None => self.blocking(move |_| Ok(snapshot::list_snapshots(&dir)?)).await,
        }
    }

    /// The archive's bytes as a stream, for a download.
    pub async fn snapshot_stream(
        &self,
        scope: impl Into<SnapshotScope>,
        snapshot: String,
    ) -> ApiResult<ByteStream> {
        let scope = scope.into();
        let dir = self.snapshot_dir(scope.clone()).await?;
        match &self.remote {
            Some(remote) => remote.stream(scope.remote_folder().as_deref(), &snapshot).await,
            None => {
                let path = self
                    .blocking(move |_| Ok(snapshot::snapshot_path(&dir, &snapshot)?))
                    .await?;
                file_stream(&path).await
            }
        }
    }

    pub async fn delete_snapshot(&self, scope: impl Into<SnapshotScope>, snapshot: String) -> ApiResult<()> {
        let scope = scope.into();
        let dir = self.snapshot_dir(scope.clone()).await?;
        match &self.remote {
            Some(remote) => remote.delete(scope.remote_folder().as_deref(), &snapshot).await,
            None => {
                self.blocking(move |_| Ok(snapshot::delete_snapshot(&dir, &snapshot)?))
                    .await
            }
        }
    }

    /// The local snapshot folder of `scope` (its collection must exist).
    async fn snapshot_dir(&self, scope: SnapshotScope) -> ApiResult<std::path::PathBuf> {
        self.blocking(move |c| {
            Ok(match scope {
                SnapshotScope::Collection(name) => c.snapshots_dir(c.get(&name)?.name()),
                SnapshotScope::Shard(name, shard) => c
                    .snapshots_dir(c.get(&name)?.name())
                    .join("shards")
                    .join(shard.to_string()),
                SnapshotScope::Full => c.full_snapshots_dir(),
            })
        })
        .await
    }

    /// Replaces the local replica of shard `shard` of `name` with the archive at `path`; in a
    /// cluster `priority` says which data the other replicas end with.
    pub async fn recover_shard_snapshot(
        &self,
        name: String,
        shard: quiver_types::ShardId,
        path: std::path::PathBuf,
        checksum: Option<String>,
        priority: SnapshotPriority,
    ) -> ApiResult<()> {
        if let Some(d) = &self.cluster {
            return d.recover_shard(name, shard, path, checksum, priority).await;
        }
        self.blocking(move |c| {
            Ok(c.get(&name)?
                .recover_shard_snapshot(shard, &path, checksum.as_deref())?)
        })
        .await
    }

    /// An archive at `s3://bucket/key` in the configured snapshot store, saved to `to`.
    pub async fn fetch_remote_location(&self, location: &str, to: std::path::PathBuf) -> ApiResult<()> {
        let Some(remote) = &self.remote else {
            return Err(ApiError::invalid(format!(
                "Wrong input: location: {location} needs snapshots_storage: s3"
            )));
        };
        let failed = |e| ApiError::Internal(format!("Service internal error: snapshot download failed: {e}"));
        save_stream(remote.stream_location(location).await?, &to, failed).await
    }

    /// Replaces (or creates) collection `name` from the archive at `path`.
    pub async fn recover_snapshot(
        &self,
        name: String,
        path: std::path::PathBuf,
        checksum: Option<String>,
    ) -> ApiResult<()> {
        self.single_node_only(
            "recovering a collection snapshot (recover each shard with PUT /collections/{name}/shards/{shard}/snapshots/recover)",
        )?;
        self.blocking(move |c| Ok(c.recover_snapshot(&name, &path, checksum.as_deref())?))
            .await
    }

    pub async fn collection_info(&self, name: String) -> ApiResult<CollectionInfo> {
        if let Some(d) = &self.cluster {
            return d.collection_info(name).await;
        }
        self.blocking(move |c| Ok(c.get(&name)?.info())).await
    }

    /// Where the shard replicas of `name` are, seen from this node (a single node holds all).
    pub async fn shard_layout(&self, name: String) -> ApiResult<crate::cluster::coordinator::ShardLayout> {
        if let Some(d) = &self.cluster {
            return d.layout(name).await;
        }
        self.blocking(move |c| {
            let col = c.get(&name)?;
            let local = col
                .local_shard_ids()
                .iter()
                .map(|&id| {
                    let points = col.count_in(None, quiver_collection::Scope::Only(&[id]));
                    (id, points, quiver_cluster::metadata::ReplicaState::Active)
                })
                .collect();
            Ok(crate::cluster::coordinator::ShardLayout {
                peer_id: 0,
                shard_count: col.config().params.shard_number,
                local,
                remote: Vec::new(),
                keys: Default::default(),
                transfers: Vec::new(),
            })
        })
        .await
    }

    pub async fn list_collections(&self) -> Vec<String> {
        self.catalog.list()
    }

    pub async fn collection_exists(&self, name: &str) -> bool {
        self.catalog.exists(name)
    }

    pub async fn update_collection(&self, name: String, diff: ConfigDiff) -> ApiResult<()> {
        if let Some(d) = &self.cluster {
            return d.update_collection(name, diff).await;
        }
        self.blocking(move |c| c.get(&name)?.update_config(&diff).map_err(Into::into))
            .await
    }

    pub async fn update_aliases(&self, ops: Vec<AliasOperation>) -> ApiResult<()> {
        if let Some(d) = &self.cluster {
            return d.update_aliases(ops).await;
        }
        self.blocking(move |c| c.update_aliases(&ops).map_err(Into::into))
            .await
    }

    pub async fn list_aliases(&self) -> Vec<(String, String)> {
        self.catalog.aliases()
    }

    pub async fn collection_aliases(&self, name: String) -> ApiResult<Vec<(String, String)>> {
        self.catalog.collection_aliases(&name).map_err(Into::into)
    }

    /// Applies `op`; `keys` names the shard keys it goes to (custom sharding).
    pub async fn update(
        &self,
        name: String,
        op: UpdateOperation,
        wait: bool,
        keys: Option<ShardKeySelector>,
    ) -> ApiResult<UpdateResult> {
        if let Some(d) = &self.cluster {
            return d.update(name, op, wait, keys).await;
        }
        self.single_node_keys(&name, &keys).await?;
        self.blocking(move |c| c.get(&name)?.update(&op, wait).map_err(Into::into))
            .await
    }

    /// Applies operations in order, stopping at the first failure (earlier ones stay applied, as in
    /// Qdrant's batch update).
    pub async fn update_batch(
        &self,
        name: String,
        ops: Vec<(UpdateOperation, Option<ShardKeySelector>)>,
        wait: bool,
    ) -> ApiResult<Vec<UpdateResult>> {
        if let Some(d) = &self.cluster {
            let mut out = Vec::with_capacity(ops.len());
            for (op, keys) in ops {
                out.push(d.update(name.clone(), op, wait, keys).await?);
            }
            return Ok(out);
        }
        for (_, keys) in &ops {
            self.single_node_keys(&name, keys).await?;
        }
        let ops: Vec<UpdateOperation> = ops.into_iter().map(|(op, _)| op).collect();
        self.blocking(move |c| {
            let collection = c.get(&name)?;
            ops.iter()
                .map(|op| collection.update(op, wait).map_err(Into::into))
                .collect()
        })
        .await
    }

    pub async fn query(
        &self,
        name: String,
        req: QueryRequest,
        opts: ReadOptions,
    ) -> ApiResult<Vec<ScoredPoint>> {
        if let Some(d) = &self.cluster {
            return d.query(name, req, opts).await;
        }
        self.single_node_keys(&name, &opts.shard_keys).await?;
        self.blocking(move |c| c.get(&name)?.query(&req).map_err(Into::into))
            .await
    }

    /// The query's answer and the planner's decisions for it. In a cluster the answer covers
    /// every shard, as without `explain`, and the decisions those of this node's replicas.
    pub async fn query_explained(
        &self,
        name: String,
        req: QueryRequest,
        opts: ReadOptions,
    ) -> ApiResult<(Vec<ScoredPoint>, Vec<quiver_collection::StageExplain>)> {
        if let Some(d) = &self.cluster {
            let hits = d.query(name.clone(), req.clone(), opts).await?;
            // The plans are a best effort here: a query by point id needs the point's vector,
            // which may live on another node; the answer must not fail for that.
            let plans = self
                .blocking(move |c| c.get(&name)?.explain(&req).map_err(Into::into))
                .await
                .unwrap_or_else(|e: ApiError| {
                    tracing::debug!(error = %e, "no local plans to explain");
                    Vec::new()
                });
            return Ok((hits, plans));
        }
        self.single_node_keys(&name, &opts.shard_keys).await?;
        self.blocking(move |c| {
            let collection = c.get(&name)?;
            let plans = collection.explain(&req)?;
            Ok((collection.query(&req)?, plans))
        })
        .await
    }

    pub async fn query_batch(
        &self,
        name: String,
        reqs: Vec<(QueryRequest, ReadOptions)>,
    ) -> ApiResult<Vec<Vec<ScoredPoint>>> {
        if let Some(d) = &self.cluster {
            let mut out = Vec::with_capacity(reqs.len());
            for (r, opts) in reqs {
                out.push(d.query(name.clone(), r, opts).await?);
            }
            return Ok(out);
        }
        for (_, opts) in &reqs {
            self.single_node_keys(&name, &opts.shard_keys).await?;
        }
        let reqs: Vec<QueryRequest> = reqs.into_iter().map(|(r, _)| r).collect();
        self.blocking(move |c| {
            let collection = c.get(&name)?;
            reqs.iter()
                .map(|r| collection.query(r).map_err(Into::into))
                .collect()
        })
        .await
    }

    pub async fn retrieve(
        &self,
        name: String,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
        opts: ReadOptions,
    ) -> ApiResult<Vec<Record>> {
        if let Some(d) = &self.cluster {
            return d.retrieve(name, ids, with_payload, with_vector, opts).await;
        }
        self.single_node_keys(&name, &opts.shard_keys).await?;
        self.blocking(move |c| Ok(c.get(&name)?.retrieve(&ids, &with_payload, &with_vector)))
            .await
    }

    pub async fn scroll(
        &self,
        name: String,
        req: ScrollRequest,
        opts: ReadOptions,
    ) -> ApiResult<(Vec<Record>, Option<PointId>)> {
        if let Some(d) = &self.cluster {
            return d.scroll(name, req, opts).await;
        }
        self.single_node_keys(&name, &opts.shard_keys).await?;
        self.blocking(move |c| c.get(&name)?.scroll(&req).map_err(Into::into))
            .await
    }

    pub async fn count(&self, name: String, filter: Option<Filter>, opts: ReadOptions) -> ApiResult<usize> {
        if let Some(d) = &self.cluster {
            return d.count(name, filter, opts).await;
        }
        self.single_node_keys(&name, &opts.shard_keys).await?;
        self.blocking(move |c| Ok(c.get(&name)?.count(filter.as_ref())))
            .await
    }

    pub async fn create_payload_index(
        &self,
        name: String,
        field: String,
        schema: PayloadFieldSchema,
    ) -> ApiResult<UpdateResult> {
        if let Some(d) = &self.cluster {
            d.set_payload_index(name, field, Some(schema)).await?;
            return Ok(UpdateResult::new(0, true));
        }
        self.blocking(move |c| {
            c.get(&name)?.create_payload_index(&field, schema)?;
            Ok(UpdateResult::new(0, true))
        })
        .await
    }

    pub async fn delete_payload_index(&self, name: String, field: String) -> ApiResult<UpdateResult> {
        if let Some(d) = &self.cluster {
            d.set_payload_index(name, field, None).await?;
            return Ok(UpdateResult::new(0, true));
        }
        self.blocking(move |c| {
            c.get(&name)?.delete_payload_index(&field)?;
            Ok(UpdateResult::new(0, true))
        })
        .await
    }
}
