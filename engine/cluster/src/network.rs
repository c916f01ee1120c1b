//! Raft RPCs to other members over the internal gRPC services. One lazily connected channel per
//! peer URI, shared by every raft stream to it; every outgoing connection binds this node's own
//! address (so a test can cut the link between two given nodes), and every call has a deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;
use parking_lot::Mutex;
use quiver_proto::cluster::raft_client::RaftClient;
use quiver_proto::cluster::RaftPayload;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use crate::types::{NodeId, Peer, TypeConfig};

/// How long a connection attempt may take before the peer counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Channels to peers, by URI. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Channels {
    local: Option<IpAddr>,
    by_uri: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Channels {
    /// Outgoing connections bind `local` (this node's own address), when given.
    pub fn new(local: Option<IpAddr>) -> Channels {
        Channels {
            local,
            by_uri: Arc::default(),
        }
    }

    /// The channel to `uri`, created on first use (connecting lazily).
    pub fn get(&self, uri: &str) -> Result<Channel, String> {
        let mut g = self.by_uri.lock();
        if let Some(c) = g.get(uri) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(uri.to_string())
            .map_err(|e| format!("peer uri `{uri}`: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .local_address(self.local);
        let channel = endpoint.connect_lazy();
        g.insert(uri.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Encodes a message for the wire and for the files raft keeps: structs as maps by field name,
/// so a field added later (with a default) reads from what an older version wrote or sent.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(value).map_err(|e| e.to_string())
}

/// Decodes a message from the wire.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// The raft side of [`Channels`].
#[derive(Clone, Debug)]
pub struct Network {
    pub channels: Channels,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, node: &Peer) -> Link {
        Link {
            target,
            channel: self.channels.get(&node.uri),
        }
    }
}

/// Raft's connection to one peer.
pub struct Link {
    target: NodeId,
    channel: Result<Channel, String>,
}

/// Which RPC of the `Raft` service.
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl Link {
    /// Sends `req` and decodes the peer's `Result<Resp, RaftError<E>>`.
    async fn call<Req, Resp, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, Peer, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let channel = self
            .channel
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::from(AnyError::error(e))))?;
        let data = encode(req).map_err(|e| RPCError::Network(NetworkError::from(AnyError::error(e))))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(timeout);
        let mut client = RaftClient::new(channel).max_decoding_message_size(64 << 20);
        let reply = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|status| {
            let e = AnyError::error(format!("{}: {}", status.code(), status.message()));
            match status.code() {
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                    RPCError::Unreachable(Unreachable::from(e))
                }
                _ => RPCError::Network(NetworkError::from(e)),
            }
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> = decode(&reply.into_inner().data)
            .map_err(|e| RPCError::Network(NetworkError::from(AnyError::error(e))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Peer, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }
}
