//! `qdrant.Collections`: create, inspect, change and delete collections; aliases; the cluster view of
//! a single local node (every shard local and active). Shard keys and cluster changes answer
//! "unimplemented" until the cluster work.

use std::time::Instant;

use qdrant_client::qdrant::collections_server::Collections;
use qdrant_client::qdrant::{
    ChangeAliases, CollectionClusterInfoRequest, CollectionClusterInfoResponse, CollectionDescription,
    CollectionExists, CollectionExistsRequest, CollectionExistsResponse, CollectionOperationResponse,
    CreateCollection, CreateShardKeyRequest, CreateShardKeyResponse, DeleteCollection, DeleteShardKeyRequest,
    DeleteShardKeyResponse, GetCollectionInfoRequest, GetCollectionInfoResponse, ListAliasesRequest,
    ListAliasesResponse, ListCollectionAliasesRequest, ListCollectionsRequest, ListCollectionsResponse,
    ListShardKeysRequest, ListShardKeysResponse, LocalShardInfo, ReplicaState, ShardKeyDescription,
    UpdateCollection, UpdateCollectionClusterSetupRequest, UpdateCollectionClusterSetupResponse,
};
use tonic::{Request, Response, Status};

use super::{elapsed, unimplemented};
use crate::api::Api;
use crate::convert::grpc::collections as conv;
use crate::convert::grpc::routing;

const CLUSTER: &str = "not supported by Quiver yet";

pub struct CollectionsService {
    api: Api,
}

impl CollectionsService {
    pub fn new(api: Api) -> Self {
        CollectionsService { api }
    }
}

fn done(result: bool, started: Instant) -> Response<CollectionOperationResponse> {
    Response::new(CollectionOperationResponse {
        result,
        time: elapsed(started),
    })
}

#[tonic::async_trait]
impl Collections for CollectionsService {
    async fn get(
        &self,
        request: Request<GetCollectionInfoRequest>,
    ) -> Result<Response<GetCollectionInfoResponse>, Status> {
        let started = Instant::now();
        let info = self
            .api
            .collection_info(request.into_inner().collection_name)
            .await?;
        Ok(Response::new(GetCollectionInfoResponse {
            result: Some(conv::info_out(&info)),
            time: elapsed(started),
        }))
    }

    async fn list(
        &self,
        _: Request<ListCollectionsRequest>,
    ) -> Result<Response<ListCollectionsResponse>, Status> {
        let started = Instant::now();
        let collections = self
            .api
            .list_collections()
            .await
            .into_iter()
            .map(|name| CollectionDescription { name })
            .collect();
        Ok(Response::new(ListCollectionsResponse {
            collections,
            time: elapsed(started),
        }))
    }

    async fn create(
        &self,
        request: Request<CreateCollection>,
    ) -> Result<Response<CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let (name, config) = conv::create(request.get_ref())?;
        self.api.create_collection(name, config).await?;
        Ok(done(true, started))
    }

    async fn update(
        &self,
        request: Request<UpdateCollection>,
    ) -> Result<Response<CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let (name, diff) = conv::update(request.get_ref())?;
        self.api.update_collection(name, diff).await?;
        Ok(done(true, started))
    }

    async fn delete(
        &self,
        request: Request<DeleteCollection>,
    ) -> Result<Response<CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let deleted = self
            .api
            .delete_collection(request.into_inner().collection_name)
            .await?;
        Ok(done(deleted, started))
    }

    async fn update_aliases(
        &self,
        request: Request<ChangeAliases>,
    ) -> Result<Response<CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let ops = conv::alias_operations(request.get_ref())?;
        self.api.update_aliases(ops).await?;
        Ok(done(true, started))
    }

    async fn list_collection_aliases(
        &self,
        request: Request<ListCollectionAliasesRequest>,
    ) -> Result<Response<ListAliasesResponse>, Status> {
        let started = Instant::now();
        let pairs = self
            .api
            .collection_aliases(request.into_inner().collection_name)
            .await?;
        Ok(Response::new(ListAliasesResponse {
            aliases: conv::aliases_out(pairs),
            time: elapsed(started),
        }))
    }

    async fn list_aliases(
        &self,
        _: Request<ListAliasesRequest>,
    ) -> Result<Response<ListAliasesResponse>, Status> {
        let started = Instant::now();
        Ok(Response::new(ListAliasesResponse {
            aliases: conv::aliases_out(self.api.list_aliases().await),
            time: elapsed(started),
        }))
    }

    async fn collection_cluster_info(
        &self,
        request: Request<CollectionClusterInfoRequest>,
    ) -> Result<Response<CollectionClusterInfoResponse>, Status> {
        let started = Instant::now();
        let layout = self
            .api
            .shard_layout(request.into_inner().collection_name)
            .await?;
        let state = |r: quiver_cluster::metadata::ReplicaState| {
            use quiver_cluster::metadata::ReplicaState as R;
            let wire = match r {
                R::Active => ReplicaState::Active,
                R::Dead => ReplicaState::Dead,
                R::Partial => ReplicaState::Partial,
                R::Initializing => ReplicaState::Initializing,
            };
            wire as i32
        };
        let local_shards = layout
            .local
            .iter()
            .map(|&(shard_id, points, r)| LocalShardInfo {
                shard_id,
                points_count: points as u64,
                state: state(r),
                shard_key: layout.keys.get(&shard_id).map(routing::shard_key_out),
            })
            .collect();
        let remote_shards = layout
            .remote
            .iter()
            .map(|&(shard_id, peer_id, r)| qdrant_client::qdrant::RemoteShardInfo {
                shard_id,
                peer_id,
                state: state(r),
                shard_key: layout.keys.get(&shard_id).map(routing::shard_key_out),
            })
            .collect();
        Ok(Response::new(CollectionClusterInfoResponse {
            peer_id: layout.peer_id,
            shard_count: u64::from(layout.shard_count),
            local_shards,
            remote_shards,
            shard_transfers: layout
                .transfers
                .iter()
                .map(|t| qdrant_client::qdrant::ShardTransferInfo {
                    shard_id: t.shard_id,
                    to_shard_id: None,
                    from: t.from,
                    to: t.to,
                    sync: false,
                })
                .collect(),
            resharding_operations: Vec::new(),
            time: elapsed(started),
        }))
    }

    async fn collection_exists(
        &self,
        request: Request<CollectionExistsRequest>,
    ) -> Result<Response<CollectionExistsResponse>, Status> {
        let started = Instant::now();
        let exists = self
            .api
            .collection_exists(&request.into_inner().collection_name)
            .await;
        Ok(Response::new(CollectionExistsResponse {
            result: Some(CollectionExists { exists }),
            time: elapsed(started),
        }))
    }

    async fn update_collection_cluster_setup(
        &self,
        request: Request<UpdateCollectionClusterSetupRequest>,
    ) -> Result<Response<UpdateCollectionClusterSetupResponse>, Status> {
        use crate::cluster::coordinator::ReplicaChange;
        use qdrant_client::qdrant::update_collection_cluster_setup_request::Operation;
        let started = Instant::now();
        let req = request.into_inner();
        let Some(d) = self.api.distributed() else {
            return Err(crate::error::ApiError::invalid("cluster operations need cluster mode").into());
        };
        let change = match req.operation {
            Some(Operation::CreateShardKey(spec)) => {
                let key = spec.shard_key.as_ref().ok_or_else(|| {
                    crate::error::ApiError::invalid("create_shard_key.shard_key: is required")
                })?;
                let key = routing::shard_key(key, "create_shard_key.shard_key")?;
                let placement = (!spec.placement.is_empty()).then_some(spec.placement);
                d.create_shard_key(
                    req.collection_name,
                    key,
                    spec.shards_number,
                    spec.replication_factor,
                    placement,
                )
                .await?;
                return Ok(Response::new(UpdateCollectionClusterSetupResponse {
                    result: true,
                    time: elapsed(started),
                }));
            }
            Some(Operation::DeleteShardKey(spec)) => {
                let key = spec.shard_key.as_ref().ok_or_else(|| {
                    crate::error::ApiError::invalid("delete_shard_key.shard_key: is required")
                })?;
                let key = routing::shard_key(key, "delete_shard_key.shard_key")?;
                d.delete_shard_key(req.collection_name, key).await?;
                return Ok(Response::new(UpdateCollectionClusterSetupResponse {
                    result: true,
                    time: elapsed(started),
                }));
            }
            Some(Operation::MoveShard(m)) => ReplicaChange::Move {
                shard: m.shard_id,
                from: m.from_peer_id,
                to: m.to_peer_id,
                method: grpc_transfer_method(m.method, "move_shard.method")?,
            },
            Some(Operation::ReplicateShard(m)) => ReplicaChange::Replicate {
                shard: m.shard_id,
                to: m.to_peer_id,
                method: grpc_transfer_method(m.method, "replicate_shard.method")?,
            },
            Some(Operation::AbortTransfer(m)) => ReplicaChange::Abort {
                shard: m.shard_id,
                to: m.to_peer_id,
            },
            Some(Operation::DropReplica(r)) => ReplicaChange::Drop {
                shard: r.shard_id,
                peer: r.peer_id,
            },
            Some(_) => {
                return Err(unimplemented(
                    "UpdateCollectionClusterSetup (restart transfer, replicate points, resharding)",
                    CLUSTER,
                ))
            }
            None => {
                return Err(crate::error::ApiError::invalid("operation: one operation is required").into());
            }
        };
        d.change_replicas(req.collection_name, change).await?;
        Ok(Response::new(UpdateCollectionClusterSetupResponse {
            result: true,
            time: elapsed(started),
        }))
    }

    async fn create_shard_key(
        &self,
        request: Request<CreateShardKeyRequest>,
    ) -> Result<Response<CreateShardKeyResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let spec = req
            .request
            .ok_or_else(|| crate::error::ApiError::invalid("request: is required"))?;
        let key = spec
            .shard_key
            .as_ref()
            .ok_or_else(|| crate::error::ApiError::invalid("request.shard_key: is required"))?;
        let key = routing::shard_key(key, "request.shard_key")?;
        let placement = (!spec.placement.is_empty()).then_some(spec.placement);
        self.api
            .create_shard_key(
                req.collection_name,
                key,
                spec.shards_number,
                spec.replication_factor,
                placement,
            )
            .await?;
        Ok(Response::new(CreateShardKeyResponse {
            result: true,
            time: elapsed(started),
        }))
    }

    async fn delete_shard_key(
        &self,
        request: Request<DeleteShardKeyRequest>,
    ) -> Result<Response<DeleteShardKeyResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let key = req
            .request
            .and_then(|r| r.shard_key)
            .ok_or_else(|| crate::error::ApiError::invalid("request.shard_key: is required"))?;
        let key = routing::shard_key(&key, "request.shard_key")?;
        self.api.delete_shard_key(req.collection_name, key).await?;
        Ok(Response::new(DeleteShardKeyResponse {
            result: true,
            time: elapsed(started),
        }))
    }

    async fn list_shard_keys(
        &self,
        request: Request<ListShardKeysRequest>,
    ) -> Result<Response<ListShardKeysResponse>, Status> {
        let started = Instant::now();
        let keys = self
            .api
            .list_shard_keys(request.into_inner().collection_name)
            .await?;
        Ok(Response::new(ListShardKeysResponse {
            shard_keys: keys
                .iter()
                .map(|k| ShardKeyDescription {
                    key: Some(routing::shard_key_out(k)),
                })
                .collect(),
            time: elapsed(started),
        }))
    }
}

/// A gRPC `ShardTransferMethod` (by number) as the transfer method of field `field`.
fn grpc_transfer_method(
    method: Option<i32>,
    field: &str,
) -> Result<Option<quiver_cluster::metadata::TransferMethod>, crate::error::ApiError> {
    let name = match method {
        None => return Ok(None),
        Some(0) => "stream_records",
        Some(1) => "snapshot",
        Some(2) => "wal_delta",
        Some(3) => "resharding_stream_records",
        Some(n) => {
            return Err(crate::error::ApiError::invalid(format!(
                "{field}: unknown transfer method {n}"
            )))
        }
    };
    crate::cluster::coordinator::transfer_method(name, field).map(Some)
}

#[cfg(test)]
mod tests {
    use super::grpc_transfer_method;
    use quiver_cluster::metadata::TransferMethod;

    #[test]
    fn transfer_methods_by_number() {
        assert_eq!(grpc_transfer_method(None, "m").ok(), Some(None));
        assert_eq!(
            grpc_transfer_method(Some(0), "m").ok(),
            Some(Some(TransferMethod::StreamRecords))
        );
        assert_eq!(
            grpc_transfer_method(Some(1), "m").ok(),
            Some(Some(TransferMethod::Snapshot))
        );
        assert_eq!(
            grpc_transfer_method(Some(2), "m").ok(),
            Some(Some(TransferMethod::WalDelta))
        );
        for n in [3, 9] {
            let e = grpc_transfer_method(Some(n), "move_shard.method").expect_err("refused");
            assert!(e.to_string().contains("move_shard.method"), "{e}");
        }
    }
}
