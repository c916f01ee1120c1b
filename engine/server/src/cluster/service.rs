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

/// A write sent to a shard's primary waits on its replicas (each up to the call deadline) and
/// on raft for demotions: it gets this many call deadlines (so do copy requests that wait on
/// writes, and archiving a shard).
const WRITE_TIMEOUT_FACTOR: u32 = 4;
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
pub async fn call(
    node: &ClusterNode,
    peer: NodeId,
    req: &ShardRequest,
    timeout: Duration,
) -> Result<ShardReply, CallError> {
    let uri = node
        .peer_uri(peer)
        .ok_or_else(|| ApiError::Unavailable(format!("node {peer} is not a cluster member")))?;
    let channel = node.channels().get(&uri).map_err(ApiError::Internal)?;
    let data = encode(req).map_err(ApiError::Internal)?;
    let mut request = Request::new(RaftPayload { data });
    // A primary's write may wait on its replicas and on raft for a demotion: give it longer,
    // so a slow write is never taken for a dead primary.
    // Requests that wait on in-flight writes (a page or a delta of a copy) or do heavy work
    // (archiving a shard) get the write's deadline too.
    request.set_timeout(match req {
        ShardRequest::Write { .. }
        | ShardRequest::Page { .. }
        | ShardRequest::Delta { .. }
        | ShardRequest::TransferArchive { .. } => timeout * WRITE_TIMEOUT_FACTOR,
        _ => timeout,
    });
    let reply = ShardsClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
        .call(request)
        .await
        .map_err(|s| classify(peer, &s))?;
    let result: Result<ShardReply, ApiError> = decode(&reply.into_inner().data)
        .map_err(|e| ApiError::Internal(format!("reply of node {peer}: {e}")))?;
    Ok(result?)
}

/// Whether a failed call proves the peer gone. Could not connect, or the connection broke
/// mid-call (`Cancelled`, or a bare transport error with code `Unknown` when the socket closed
/// under a request already sent): the node is down or cut off, and a write it may have applied
/// before dying is applied again by the next primary, which writes tolerate. Anything else (a
/// deadline, an error the peer sent) is not proof: it may still be working on it.
fn classify(peer: NodeId, s: &Status) -> CallError {
    let broken = matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Cancelled)
        || (s.code() == tonic::Code::Unknown && transport_failure(s));
    match broken {
        true => CallError::Unreachable(format!("node {peer} unreachable: {}", s.message())),
        false => CallError::Api(ApiError::Unavailable(format!("node {peer}: {}", s.message()))),
    }
}

/// A transport or socket error anywhere in the status's causes.
fn transport_failure(s: &Status) -> bool {
    let mut cause = std::error::Error::source(s);
    while let Some(e) = cause {
        if e.is::<tonic::transport::Error>() || e.is::<std::io::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::transport::{Endpoint, Server};

    /// A peer that never answers, or answers every call with one status.
    struct Peer(Option<Status>);

    #[tonic::async_trait]
    impl Shards for Peer {
        async fn call(&self, _: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
            match &self.0 {
                Some(s) => Err(s.clone()),
                None => std::future::pending().await,
            }
        }
    }

    /// Serves `peer` on a loopback port from its own runtime, which the caller can drop to
    /// stand for the process dying (every socket closes at once).
    fn serve(peer: Peer) -> (tokio::runtime::Runtime, String) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        rt.spawn(Server::builder().add_service(ShardsServer::new(peer)).serve(addr));
        (rt, format!("http://{addr}"))
    }

    async fn send(channel: tonic::transport::Channel) -> Status {
        let req = Request::new(RaftPayload { data: vec![1] });
        ShardsClient::new(channel).call(req).await.unwrap_err()
    }

    async fn connected(uri: &str) -> tonic::transport::Channel {
        for _ in 0..100 {
            if let Ok(c) = Endpoint::from_shared(uri.to_string()).unwrap().connect().await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the test peer did not start on {uri}");
    }

    #[tokio::test]
    async fn a_peer_dying_under_a_call_or_before_it_counts_as_unreachable() {
        let (rt, uri) = serve(Peer(None));
        let channel = connected(&uri).await;
        let pending = tokio::spawn(send(channel.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        rt.shutdown_background();
        let under = pending.await.unwrap();
        assert!(
            matches!(classify(7, &under), CallError::Unreachable(_)),
            "died under the call: {under:?}"
        );
        // The next calls on the same channel, whatever state its connection is in.
        for _ in 0..5 {
            let after = send(channel.clone()).await;
            assert!(
                matches!(classify(7, &after), CallError::Unreachable(_)),
                "called after it died: {after:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_error_the_peer_sends_is_not_taken_for_its_death() {
        let (rt, uri) = serve(Peer(Some(Status::unknown("transport error"))));
        let got = send(connected(&uri).await).await;
        assert_eq!(got.code(), tonic::Code::Unknown);
        assert!(matches!(classify(7, &got), CallError::Api(_)), "{got:?}");
        rt.shutdown_background();
    }
}
