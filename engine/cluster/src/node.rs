//! One cluster member: opens its raft state, forms a cluster (bootstrap) or joins one, sends
//! metadata commands and membership changes to the leader (from any member), and reports status.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use parking_lot::RwLock;
use quiver_proto::cluster::membership_client::MembershipClient;
use quiver_proto::cluster::{JoinRequest, RaftPayload, StatusRequest};
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, Result};
use crate::identity;
use crate::log_store::LogStore;
use crate::metadata::{Command, Metadata, Outcome};
use crate::network::{decode, encode, Channels, Network};
use crate::state_machine::{Applied, StateMachine};
use crate::types::{NodeId, Peer, TypeConfig};

/// How long a write or join keeps looking for a leader before it reports the cluster unavailable.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// Deadline of one forwarded call.
pub(crate) const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// What a member needs to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Where raft keeps its files (`<storage>/raft`).
    pub dir: PathBuf,
    /// An id for a node with no stored one (else random); must match a stored one.
    pub node_id: Option<NodeId>,
    /// Where other members reach this node's internal services.
    pub uri: String,
    /// The address outgoing connections bind (this node's own).
    pub local_ip: Option<IpAddr>,
    /// Leader heartbeat period; elections start after 5-10 of them without one.
    pub heartbeat_ms: u64,
    /// A new member joins as a learner (receives the log, no vote) until promoted.
    pub join_as_learner: bool,
}

/// This member's view of the cluster (`GET /cluster`, the admin surface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub peer_id: NodeId,
    pub peers: BTreeMap<NodeId, Peer>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub role: String,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

/// A running member.
pub struct ClusterNode {
    id: NodeId,
    uri: String,
    raft: openraft::Raft<TypeConfig>,
    applied: Arc<RwLock<Applied>>,
    changes: tokio::sync::watch::Receiver<Option<u64>>,
    channels: Channels,
    /// No raft history when this process started.
    fresh: bool,
    /// Joins as a learner (see [`ClusterOptions::join_as_learner`]).
    learner: bool,
    /// Membership changes one at a time (openraft refuses overlapping ones).
    pub(crate) membership: tokio::sync::Mutex<()>,
    /// The raft timing: a leader's lease ends this long after its last heartbeat.
    pub(crate) lease: Duration,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .field("uri", &self.uri)
            .finish()
    }
}

/// Whether a failed attempt is worth another try (the leader moved or is not known yet).
pub(crate) enum Attempt<T> {
    Done(Result<T>),
    Retry(String),
}

impl ClusterNode {
    /// Opens the raft state under `opts.dir` and starts raft (not yet part of any cluster when
    /// the state is fresh: call [`ClusterNode::bootstrap`] or [`ClusterNode::join_via`]).
    pub async fn start(opts: ClusterOptions) -> Result<Arc<ClusterNode>> {
        let id = identity::load_or_create(&opts.dir, opts.node_id)?;
        let log = LogStore::open(&opts.dir.join("log"))?;
        let sm = StateMachine::open(&opts.dir.join("state"))?;
        let fresh = log.is_fresh();
        if fresh && sm.shared().read().last_applied.is_some() {
            return Err(ClusterError::Corrupt {
                path: opts.dir.display().to_string(),
                reason: "the raft log is gone but applied state remains; this node's history is lost, \
                         wipe its storage to join under a new id"
                    .into(),
            });
        }
        let hb = opts.heartbeat_ms.max(10);
        let config = Config {
            cluster_name: "quiver".into(),
            heartbeat_interval: hb,
            election_timeout_min: hb * 5,
            election_timeout_max: hb * 10,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Config::default()
        }
        .validate()
        .map_err(|e| ClusterError::Invalid(format!("raft config: {e}")))?;
        let channels = Channels::new(opts.local_ip);
        let applied = sm.shared();
        let changes = sm.changes();
        let network = Network {
            channels: channels.clone(),
        };
        let raft = openraft::Raft::new(id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| ClusterError::Stopped(e.to_string()))?;
        Ok(Arc::new(ClusterNode {
            id,
            uri: opts.uri,
            raft,
            applied,
            changes,
            channels,
            fresh,
            learner: opts.join_as_learner,
            membership: tokio::sync::Mutex::new(()),
            lease: Duration::from_millis(hb * 10),
        }))
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn raft(&self) -> &openraft::Raft<TypeConfig> {
        &self.raft
    }

    /// The committed metadata as applied on this node.
    pub fn metadata(&self) -> Metadata {
        self.applied.read().metadata.clone()
    }

    /// Fires after each applied batch (with the last applied index).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<Option<u64>> {
        self.changes.clone()
    }

    /// The address the applied membership holds for this node.
    fn stored_uri(&self) -> Option<String> {
        let g = self.applied.read();
        g.membership
            .membership()
            .get_node(&self.id)
            .map(|p| p.uri.clone())
    }

    /// Whether the applied membership names this node.
    pub fn is_member(&self) -> bool {
        self.applied
            .read()
            .membership
            .membership()
            .get_node(&self.id)
            .is_some()
    }

    /// Forms a one-node cluster of this node if it has none yet, and waits until it leads it
    /// (the membership entry committed, so others can be added).
    pub async fn bootstrap(&self) -> Result<()> {
        if self.is_member() && self.stored_uri().as_deref() != Some(self.uri.as_str()) {
            // Restarted on another address: tell the cluster through any member it knew.
            let peers: Vec<String> = {
                let g = self.applied.read();
                g.membership
                    .membership()
                    .nodes()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(_, p)| p.uri.clone())
                    .collect()
            };
            let mut last = None;
            for uri in peers {
                match self.join_via(&uri).await {
                    Ok(()) => return self.wait_for_leader().await,
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                return Err(e);
            }
        }
        if self.fresh && !self.is_member() {
            let members = BTreeMap::from([(
                self.id,
                Peer {
                    uri: self.uri.clone(),
                },
            )]);
            match self.raft.initialize(members).await {
                Ok(()) => {}
                Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(ClusterError::Stopped(e.to_string())),
            }
        }
        self.wait_for_leader().await
    }

    /// Waits until a leader is known and a membership committed.
    async fn wait_for_leader(&self) -> Result<()> {
        let id = self.id;
        self.raft
            .wait(Some(LEADER_WAIT))
            .metrics(
                |m| m.current_leader.is_some() && m.last_applied.is_some(),
                "a leader and a committed membership",
            )
            .await
            .map_err(|e| ClusterError::Unavailable(format!("node {id}: {e}")))?;
        Ok(())
    }

    /// Joins the cluster that the member at `via` belongs to, unless this node is a member
    /// already (a restart; one that came back on another address has it updated). Retries while
    /// that member or the leader cannot be reached.
    pub async fn join_via(&self, via: &str) -> Result<()> {
        if self.is_member() && self.stored_uri().as_deref() == Some(self.uri.as_str()) {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            let req = JoinRequest {
                node_id: self.id,
                uri: self.uri.clone(),
                fresh: self.fresh,
                learner: self.learner,
            };
            // A member restarted on a new address may win an election before the others learn
            // that address (they forward to the old one and never reach it): as the leader it
            // records its own new address.
            // Only a confirmed leader (a quorum acknowledged it within the lease): a restarted
            // member restores its old leadership from its vote and believes in it until it
            // hears a higher term, and a membership change written then never commits.
            let leads = {
                let metrics = self.raft.metrics();
                let m = metrics.borrow();
                m.current_leader == Some(self.id)
                    && m.millis_since_quorum_ack
                        .is_some_and(|ms| u128::from(ms) < self.lease.as_millis())
            };
            let attempt = if leads && self.is_member() {
                self.join_here(self.id, self.uri.clone(), self.fresh, self.learner)
                    .await
            } else {
                self.remote_join(via, req).await
            };
            match attempt {
                Attempt::Done(r) => return r.map(|_| ()),
                Attempt::Retry(why) if started.elapsed() < LEADER_WAIT * 4 => {
                    tracing::info!("join via {via}: {why}; retrying");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Attempt::Retry(why) => {
                    return Err(ClusterError::Unavailable(format!("join via {via}: {why}")))
                }
            }
        }
    }

    async fn remote_join(&self, uri: &str, req: JoinRequest) -> Attempt<NodeId> {
        let channel = match self.channels.get(uri) {
            Ok(c) => c,
            Err(e) => return Attempt::Done(Err(ClusterError::Invalid(e))),
        };
        let mut request = tonic::Request::new(req);
        request.set_timeout(FORWARD_TIMEOUT);
        match MembershipClient::new(channel).join(request).await {
            Ok(r) => Attempt::Done(Ok(r.into_inner().leader_id)),
            Err(s) => status_attempt(s),
        }
    }

    /// Adds node `id` (at `uri`) as a voter, or updates the address of a member that moved; any
    /// member may be asked, the leader does it.
    /// Refused when `id` is already a member and the asker has no history (its data was lost:
    /// it must come back under a new id), or when a node with history is not a member (it was
    /// removed, or belongs to another cluster).
    /// With `learner`, a new member is added as a learner only.
    pub async fn join(&self, id: NodeId, uri: String, fresh: bool, learner: bool) -> Result<NodeId> {
        self.on_leader(|leader| {
            let uri = uri.clone();
            async move {
                match leader {
                    None => self.join_here(id, uri, fresh, learner).await,
                    Some(leader_uri) => {
                        self.remote_join(
                            &leader_uri,
                            JoinRequest {
                                node_id: id,
                                uri,
                                fresh,
                                learner,
                            },
                        )
                        .await
                    }
                }
            }
        })
        .await
    }

    /// Removes member `id` (voter or learner) from the cluster; any member may be asked.
    pub async fn remove(&self, id: NodeId) -> Result<NodeId> {
        self.on_leader(|leader| async move {
            match leader {
                None => self.remove_here(id).await,
                Some(uri) => {
                    let channel = match self.channels.get(&uri) {
                        Ok(c) => c,
                        Err(e) => return Attempt::Retry(e),
                    };
                    let mut request = tonic::Request::new(JoinRequest {
                        node_id: id,
                        uri: String::new(),
                        fresh: false,
                        learner: false,
                    });
                    request.set_timeout(FORWARD_TIMEOUT);
                    match MembershipClient::new(channel).remove(request).await {
                        Ok(r) => Attempt::Done(Ok(r.into_inner().leader_id)),
                        Err(s) => status_attempt(s),
                    }
                }
            }
        })
        .await
    }

    async fn remove_here(&self, id: NodeId) -> Attempt<NodeId> {
        let _one = self.membership.lock().await;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let m = membership.membership();
        if m.get_node(&id).is_none() {
            return Attempt::Done(Err(ClusterError::Invalid(format!(
                "node {id} is not a cluster member"
            ))));
        }
        if m.voter_ids().any(|v| v == id) {
            let voters = BTreeSet::from([id]);
            if let Err(e) = self
                .raft
                .change_membership(ChangeMembers::RemoveVoters(voters), false)
                .await
            {
                return write_attempt(e);
            }
        }
        match self
            .raft
            .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => Attempt::Done(Ok(self.id)),
            Err(e) => write_attempt(e),
        }
    }

    async fn join_here(&self, id: NodeId, uri: String, fresh: bool, learner: bool) -> Attempt<NodeId> {
        let _one = self.membership.lock().await;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let m = membership.membership();
        let known = m.get_node(&id).is_some();
        if known && fresh {
            return Attempt::Done(Err(ClusterError::Refused(format!(
                "node id {id} is already a cluster member, but this node has no raft history (its data \
                 was lost or wiped); start it without cluster.node_id so it joins under a new id, and \
                 remove the old peer with DELETE /cluster/peer/{id}"
            ))));
        }
        if !known && !fresh {
            return Attempt::Done(Err(ClusterError::Refused(format!(
                "node {id} has raft history but is not a member of this cluster (removed, or from \
                 another cluster); wipe its storage to join under a new id"
            ))));
        }
        if known && m.get_node(&id).is_some_and(|p| p.uri != uri) {
            // Restarted on another address (a rescheduled pod): point the members at it.
            let nodes = BTreeMap::from([(id, Peer { uri: uri.clone() })]);
            if let Err(e) = self
                .raft
                .change_membership(ChangeMembers::SetNodes(nodes), false)
                .await
            {
                return write_attempt(e);
            }
        }
        if m.voter_ids().any(|v| v == id) {
            return Attempt::Done(Ok(self.id));
        }
        if !known {
            if let Err(e) = self.raft.add_learner(id, Peer { uri }, true).await {
                return write_attempt(e);
            }
        }
        if learner {
            // Stays a learner until promoted (`ClusterNode::promote`).
            return Attempt::Done(Ok(self.id));
        }
        match self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => Attempt::Done(Ok(self.id)),
            Err(e) => write_attempt(e),
        }
    }

    /// Commits `cmd` through raft (sent to the leader from any member) and returns its outcome
    /// once it is applied on this node too.
    pub async fn propose(&self, cmd: Command) -> Result<Outcome> {
        self.propose_at(cmd).await.map(|(outcome, _)| outcome)
    }

    /// [`ClusterNode::propose`], also returning the raft log index the command was committed at.
    pub async fn propose_at(&self, cmd: Command) -> Result<(Outcome, u64)> {
        self.on_leader(|leader| {
            let cmd = cmd.clone();
            async move {
                match leader {
                    None => match self.raft.client_write(cmd).await {
                        Ok(r) => Attempt::Done(Ok((r.data, r.log_id.index))),
                        Err(e) => write_attempt(e),
                    },
                    Some(uri) => self.remote_propose(&uri, &cmd).await,
                }
            }
        })
        .await
    }

    async fn remote_propose(&self, uri: &str, cmd: &Command) -> Attempt<(Outcome, u64)> {
        let channel = match self.channels.get(uri) {
            Ok(c) => c,
            Err(e) => return Attempt::Retry(e),
        };
        let data = match encode(cmd) {
            Ok(d) => d,
            Err(e) => return Attempt::Done(Err(ClusterError::Invalid(e))),
        };
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(FORWARD_TIMEOUT);
        match MembershipClient::new(channel).propose(request).await {
            Ok(r) => match decode::<(Outcome, u64)>(&r.into_inner().data) {
                Ok((outcome, index)) => {
                    // Read-your-writes on this member: wait until it applied the entry too.
                    match self.wait_applied(index).await {
                        Ok(()) => Attempt::Done(Ok((outcome, index))),
                        Err(e) => Attempt::Done(Err(e)),
                    }
                }
                Err(e) => Attempt::Done(Err(ClusterError::Unavailable(format!("leader reply: {e}")))),
            },
            Err(s) => status_attempt(s),
        }
    }

    /// Handles a forwarded proposal on the leader: the outcome and the entry's index.
    pub async fn propose_here(&self, cmd: Command) -> Result<(Outcome, u64)> {
        match self.raft.client_write(cmd).await {
            Ok(r) => Ok((r.data, r.log_id.index)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(ClusterError::Unavailable(
                format!("not the leader (leader is {:?})", f.leader_id),
            )),
            Err(e) => Err(ClusterError::Unavailable(e.to_string())),
        }
    }

    /// Waits until this node applied log `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<()> {
        let mut rx = self.changes.clone();
        let waited = tokio::time::timeout(LEADER_WAIT, rx.wait_for(|a| a.is_some_and(|a| a >= index))).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ClusterError::Stopped("state machine closed".into())),
            Err(_) => Err(ClusterError::Unavailable(format!(
                "node {} has not applied log {index} yet",
                self.id
            ))),
        }
    }

    /// Runs `attempt` with the leader's URI (`None` when this node leads), again whenever the
    /// leader moved or was unknown, for up to [`LEADER_WAIT`].
    pub(crate) async fn on_leader<T, F, Fut>(&self, attempt: F) -> Result<T>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let started = Instant::now();
        let mut last = String::from("no leader known");
        while started.elapsed() < LEADER_WAIT {
            let leader = self.raft.metrics().borrow().current_leader;
            let target = match leader {
                Some(l) if l == self.id => Some(None),
                Some(l) => self.peer_uri(l).map(Some),
                None => None,
            };
            if let Some(target) = target {
                match attempt(target).await {
                    Attempt::Done(r) => return r,
                    Attempt::Retry(why) => last = why,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ClusterError::Unavailable(last))
    }

    /// The shared channels to other members (for services beside raft).
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Where member `id` serves the internal services.
    pub fn peer_uri(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).map(|p| p.uri.clone())
    }

    /// This member's view of the cluster.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        ClusterStatus {
            peer_id: self.id,
            peers: membership.nodes().map(|(id, p)| (*id, p.clone())).collect(),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            term: m.current_term,
            leader: m.current_leader,
            role: match m.state {
                ServerState::Leader => "Leader",
                ServerState::Follower => "Follower",
                ServerState::Candidate => "Candidate",
                ServerState::Learner => "Learner",
                ServerState::Shutdown => "Shutdown",
            }
            .to_string(),
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// The status as member `uri` sees it.
    pub async fn remote_status(&self, uri: &str) -> Result<ClusterStatus> {
        let channel = self.channels.get(uri).map_err(ClusterError::Invalid)?;
        let mut request = tonic::Request::new(StatusRequest {});
        request.set_timeout(FORWARD_TIMEOUT);
        let reply = MembershipClient::new(channel)
            .status(request)
            .await
            .map_err(|s| ClusterError::Unavailable(s.message().to_string()))?;
        decode(&reply.into_inner().data).map_err(ClusterError::Unavailable)
    }

    /// Stops raft (the log and state stay on disk).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

/// Maps a failed raft write: a moved leader is retried, anything else is final.
pub(crate) fn write_attempt<T>(e: RaftError<NodeId, ClientWriteError<NodeId, Peer>>) -> Attempt<T> {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            Attempt::Retry(format!("leadership moved (to {:?})", f.leader_id))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            Attempt::Retry(format!("membership change: {c}"))
        }
        RaftError::Fatal(f) => Attempt::Done(Err(ClusterError::Stopped(f.to_string()))),
    }
}

/// Maps a failed forwarded call back to a cluster error (see `service::status_of`).
pub(crate) fn status_attempt<T>(s: tonic::Status) -> Attempt<T> {
    let msg = s.message().to_string();
    match s.code() {
        tonic::Code::FailedPrecondition => Attempt::Done(Err(ClusterError::Refused(msg))),
        tonic::Code::InvalidArgument => Attempt::Done(Err(ClusterError::Invalid(msg))),
        tonic::Code::Aborted => Attempt::Done(Err(ClusterError::Stopped(msg))),
        // Sent, but no answer in time: the leader may have applied it, so it is not resent
        // (a second copy of a create or delete would apply twice).
        tonic::Code::DeadlineExceeded => Attempt::Done(Err(ClusterError::Unavailable(format!(
            "the leader did not answer in time; the change may or may not have been applied: {msg}"
        )))),
        _ => Attempt::Retry(format!("{}: {msg}", s.code())),
    }
}
