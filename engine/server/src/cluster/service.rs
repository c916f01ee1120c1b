//! The `quiver.cluster.Shards` service: other nodes' requests about this node's replicas, and
//! the client side that sends them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quiver_cluster::network::{decode, encode};
use quiver_cluster::{ClusterNode, NodeId};
use quiver_proto::cluster::shards_client::ShardsClient;
use quiver_proto::cluster::shards_server::{Shards, ShardsServer};
use quiver_proto::cluster::RaftPayload;
use tonic::{Request, Response, Status};

use super::wire::{ShardReply, ShardRequest};
use super::Distributed;
use crate::error::ApiError;

/// Deadline of one request to another node.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of a write sent to a shard's primary (longer than its replication and demotions).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Batches of points and pages of results can be large.
const MAX_MESSAGE: usize = 256 << 20;

/// The service over the [`Distributed`] put in `slot` once the node is a member (until then
/// requests are answered `Unavailable`).
pub fn server(slot: Arc<OnceLock<Distributed>>) -> ShardsServer<ShardRpcs> {
    ShardsServer::new(ShardRpcs { slot })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

/// `quiver.cluster.Shards`.
#[derive(Debug)]
pub struct ShardRpcs {
    slot: Arc<OnceLock<Distributed>>,
}

#[tonic::async_trait]
impl Shards for ShardRpcs {
    async fn call(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let req: ShardRequest = decode(&req.into_inner().data)
            .map_err(|e| Status::invalid_argument(format!("shard request: {e}")))?;
        let Some(d) = self.slot.get() else {
            return Err(Status::unavailable("this node is still joining the cluster"));
        };
        let result: Result<ShardReply, ApiError> = d.serve(req).await;
        let data = encode(&result).map_err(Status::internal)?;
        Ok(Response::new(RaftPayload { data }))
    }
}

/// Why a request to another node failed: it could not be reached (or did not answer in time),
/// or it answered with an error.
#[derive(Debug)]
pub enum CallError {
    Unreachable(String),
    Api(ApiError),
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        match e {
            CallError::Unreachable(why) => ApiError::Unavailable(why),
            CallError::Api(e) => e,
        }
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> CallError {
        CallError::Api(e)
    }
}

/// Sends `req` to node `peer`.
pub async fn call(node: &ClusterNode, peer: NodeId, req: &ShardRequest) -> Result<ShardReply, CallError> {
    let uri = node
        .peer_uri(peer)
        .ok_or_else(|| ApiError::Unavailable(format!("node {peer} is not a cluster member")))?;
    let channel = node.channels().get(&uri).map_err(ApiError::Internal)?;
    let data = encode(req).map_err(ApiError::Internal)?;
    let mut request = Request::new(RaftPayload { data });
    // A primary's write may wait on its replicas and on raft for a demotion: give it longer,
    // so a slow write is never taken for a dead primary.
    request.set_timeout(match req {
        ShardRequest::Write { .. } => WRITE_TIMEOUT,
        _ => CALL_TIMEOUT,
    });
    let reply = ShardsClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
        .call(request)
        .await
        .map_err(|s| match s.code() {
            // Could not connect, or the connection broke mid-call (`Cancelled`: the process
            // died under it): the node is down or cut off. A write it may have applied before
            // dying is applied again by the next primary, which writes tolerate.
            tonic::Code::Unavailable | tonic::Code::Cancelled => {
                CallError::Unreachable(format!("node {peer} unreachable: {}", s.message()))
            }
            // It may still be working on it: not proof that it is gone.
            _ => CallError::Api(ApiError::Unavailable(format!("node {peer}: {}", s.message()))),
        })?;
    let result: Result<ShardReply, ApiError> = decode(&reply.into_inner().data)
        .map_err(|e| ApiError::Internal(format!("reply of node {peer}: {e}")))?;
    Ok(result?)
}
