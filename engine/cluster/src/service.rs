//! The internal gRPC services a member serves: raft's RPCs, handed to the local raft, and
//! membership / metadata requests, answered by the leader (a follower forwards them).

use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use quiver_proto::cluster::membership_server::{Membership, MembershipServer};
use quiver_proto::cluster::raft_server::{Raft, RaftServer};
use quiver_proto::cluster::{JoinReply, JoinRequest, RaftPayload, StatusRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use crate::admin::AdminRequest;
use crate::error::ClusterError;
use crate::metadata::Command;
use crate::network::{decode, encode};
use crate::node::Attempt;
use crate::node::ClusterNode;
use crate::types::{NodeId, TypeConfig};

/// Raft messages may carry snapshots; metadata stays far below this.
const MAX_MESSAGE: usize = 64 << 20;

/// Both services of `node`, ready to add to a tonic router.
pub fn services(node: Arc<ClusterNode>) -> (RaftServer<RaftRpcs>, MembershipServer<MembershipRpcs>) {
    (
        RaftServer::new(RaftRpcs {
            node: Arc::clone(&node),
        })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE),
        MembershipServer::new(MembershipRpcs { node }),
    )
}

/// The one mapping of cluster errors to gRPC codes (read back by the forwarding side).
pub fn status_of(e: ClusterError) -> Status {
    match e {
        ClusterError::Invalid(m) => Status::invalid_argument(m),
        ClusterError::Refused(m) => Status::failed_precondition(m),
        ClusterError::Unavailable(m) => Status::unavailable(m),
        ClusterError::Stopped(m) => Status::aborted(m),
        e @ (ClusterError::Corrupt { .. } | ClusterError::Io { .. }) => Status::internal(e.to_string()),
    }
}

fn payload<T: DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    decode(&req.into_inner().data).map_err(|e| Status::invalid_argument(format!("raft payload: {e}")))
}

fn reply<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    encode(value)
        .map(|data| Response::new(RaftPayload { data }))
        .map_err(Status::internal)
}

/// `quiver.cluster.Raft`.
#[derive(Debug)]
pub struct RaftRpcs {
    node: Arc<ClusterNode>,
}

#[tonic::async_trait]
impl Raft for RaftRpcs {
    async fn append_entries(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = payload(req)?;
        reply(&self.node.raft().append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<NodeId> = payload(req)?;
        reply(&self.node.raft().vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = payload(req)?;
        reply(&self.node.raft().install_snapshot(rpc).await)
    }
}

/// `quiver.cluster.Membership`.
#[derive(Debug)]
pub struct MembershipRpcs {
    node: Arc<ClusterNode>,
}

#[tonic::async_trait]
impl Membership for MembershipRpcs {
    async fn join(&self, req: Request<JoinRequest>) -> Result<Response<JoinReply>, Status> {
        let r = req.into_inner();
        if r.node_id == 0 {
            return Err(Status::invalid_argument("node_id: 0 is not a valid node id"));
        }
        if r.uri.is_empty() {
            return Err(Status::invalid_argument(
                "uri: the joining node's address is required",
            ));
        }
        let leader_id = self
            .node
            .join(r.node_id, r.uri, r.fresh, r.learner)
            .await
            .map_err(status_of)?;
        Ok(Response::new(JoinReply { leader_id }))
    }

    async fn remove(&self, req: Request<JoinRequest>) -> Result<Response<JoinReply>, Status> {
        let id = req.into_inner().node_id;
        let leader_id = self.node.remove(id).await.map_err(status_of)?;
        Ok(Response::new(JoinReply { leader_id }))
    }

    async fn propose(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let cmd: Command = payload(req)?;
        let done = self.node.propose_here(cmd).await.map_err(status_of)?;
        reply(&done)
    }

    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<RaftPayload>, Status> {
        reply(&self.node.status())
    }

    async fn admin(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let req: AdminRequest = payload(req)?;
        match self.node.admin_here(req).await {
            Attempt::Done(r) => reply(&r.map_err(status_of)?),
            // Not (or no longer) the leader: the sender looks for the leader again.
            Attempt::Retry(why) => Err(Status::unavailable(why)),
        }
    }

    async fn campaign(&self, _req: Request<StatusRequest>) -> Result<Response<RaftPayload>, Status> {
        self.node.campaign().await.map_err(status_of)?;
        reply(&self.node.id())
    }
}

/// Serves both services of `node` on `listener` until `shutdown` resolves.
pub async fn serve(
    node: Arc<ClusterNode>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (raft, membership) = services(node);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(raft)
        .add_service(membership)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
