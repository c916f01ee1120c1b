//! Membership and leadership operations for an operator: read barriers, learners, promotion
//! and demotion of voters, and leadership transfer. Each is sent to the leader from any member.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::ChangeMembers;
use quiver_proto::cluster::membership_client::MembershipClient;
use quiver_proto::cluster::{RaftPayload, StatusRequest};
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, Result};
use crate::network::{decode, encode};
use crate::node::{status_attempt, write_attempt, Attempt, ClusterNode, FORWARD_TIMEOUT};
use crate::types::{NodeId, Peer};

/// How long a leadership transfer waits for the new leader before it gives up.
const TRANSFER_WAIT: Duration = Duration::from_secs(10);

/// A request only the leader can answer (the `Admin` RPC carries it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// The index every read that starts now must see applied (a raft read barrier).
    ReadIndex,
    /// Adds `id` at `uri` as a learner: it receives the log but does not vote.
    AddLearner { id: NodeId, uri: String },
    /// Makes learner `id` a voter.
    Promote { id: NodeId },
    /// Makes voter `id` a learner (it keeps its data and the log).
    Demote { id: NodeId },
    /// Hands leadership to voter `to`.
    TransferLeader { to: NodeId },
}

impl ClusterNode {
    /// The raft read barrier: a log index such that everything committed before this call is
    /// at or below it (confirmed by a quorum of the leader's term).
    pub async fn read_index(&self) -> Result<u64> {
        self.admin(AdminRequest::ReadIndex).await
    }

    /// Adds `id` (at `uri`) as a learner; returns the leader's id.
    pub async fn add_learner(&self, id: NodeId, uri: String) -> Result<NodeId> {
        self.admin(AdminRequest::AddLearner { id, uri }).await
    }

    /// Makes learner `id` a voter; returns the leader's id.
    pub async fn promote(&self, id: NodeId) -> Result<NodeId> {
        self.admin(AdminRequest::Promote { id }).await
    }

    /// Makes voter `id` a learner; returns the leader's id.
    pub async fn demote(&self, id: NodeId) -> Result<NodeId> {
        self.admin(AdminRequest::Demote { id }).await
    }

    /// Makes voter `to` the leader; returns once it leads.
    pub async fn transfer_leadership(&self, to: NodeId) -> Result<NodeId> {
        self.admin(AdminRequest::TransferLeader { to }).await
    }

    async fn admin(&self, req: AdminRequest) -> Result<u64> {
        self.on_leader(|leader| {
            let req = req.clone();
            async move {
                match leader {
                    None => self.admin_here(req).await,
                    Some(uri) => self.remote_admin(&uri, &req).await,
                }
            }
        })
        .await
    }

    async fn remote_admin(&self, uri: &str, req: &AdminRequest) -> Attempt<u64> {
        let channel = match self.channels().get(uri) {
            Ok(c) => c,
            Err(e) => return Attempt::Retry(e),
        };
        let data = match encode(req) {
            Ok(d) => d,
            Err(e) => return Attempt::Done(Err(ClusterError::Invalid(e))),
        };
        let mut request = tonic::Request::new(RaftPayload { data });
        // A transfer waits for the new leader; everything else is quick.
        request.set_timeout(FORWARD_TIMEOUT + TRANSFER_WAIT);
        match MembershipClient::new(channel).admin(request).await {
            Ok(r) => match decode::<u64>(&r.into_inner().data) {
                Ok(v) => Attempt::Done(Ok(v)),
                Err(e) => Attempt::Done(Err(ClusterError::Unavailable(format!("leader reply: {e}")))),
            },
            Err(s) => status_attempt(s),
        }
    }

    /// Handles an admin request on the leader (a follower answers "retry").
    pub(crate) async fn admin_here(&self, req: AdminRequest) -> Attempt<u64> {
        match req {
            AdminRequest::ReadIndex => match self.raft().ensure_linearizable().await {
                Ok(log_id) => Attempt::Done(Ok(log_id.map_or(0, |l| l.index))),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                    Attempt::Retry(format!("leadership moved (to {:?})", f.leader_id))
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                    Attempt::Retry(format!("no quorum confirms the leader: {q}"))
                }
                Err(RaftError::Fatal(f)) => Attempt::Done(Err(ClusterError::Stopped(f.to_string()))),
            },
            AdminRequest::AddLearner { id, uri } => {
                let _one = self.membership.lock().await;
                let known = self.peer_uri(id);
                if known.is_some() && known.as_deref() != Some(uri.as_str()) {
                    return Attempt::Done(Err(ClusterError::Invalid(format!(
                        "node_id: {id} is already a member at another address"
                    ))));
                }
                match self.raft().add_learner(id, Peer { uri }, true).await {
                    Ok(_) => Attempt::Done(Ok(self.id())),
                    Err(e) => write_attempt(e),
                }
            }
            AdminRequest::Promote { id } => {
                let _one = self.membership.lock().await;
                let status = self.status();
                if status.voters.contains(&id) {
                    return Attempt::Done(Ok(self.id()));
                }
                if !status.learners.contains(&id) {
                    return Attempt::Done(Err(ClusterError::Invalid(format!(
                        "node_id: {id} is not a learner of this cluster (add it first)"
                    ))));
                }
                let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
                match self.raft().change_membership(change, false).await {
                    Ok(_) => Attempt::Done(Ok(self.id())),
                    Err(e) => write_attempt(e),
                }
            }
            AdminRequest::Demote { id } => {
                let _one = self.membership.lock().await;
                let status = self.status();
                if !status.voters.contains(&id) {
                    return Attempt::Done(Err(ClusterError::Invalid(format!(
                        "node_id: {id} is not a voter"
                    ))));
                }
                if status.voters.len() == 1 {
                    return Attempt::Done(Err(ClusterError::Refused(format!(
                        "node {id} is the only voter; the cluster would have none"
                    ))));
                }
                if id == self.id() {
                    return Attempt::Done(Err(ClusterError::Refused(format!(
                        "node {id} leads the cluster: transfer leadership away first"
                    ))));
                }
                // `retain`: the demoted voter stays on as a learner.
                let change = ChangeMembers::RemoveVoters(BTreeSet::from([id]));
                match self.raft().change_membership(change, true).await {
                    Ok(_) => Attempt::Done(Ok(self.id())),
                    Err(e) => write_attempt(e),
                }
            }
            AdminRequest::TransferLeader { to } => {
                if self.raft().metrics().borrow().current_leader != Some(self.id()) {
                    return Attempt::Retry("not the leader".into());
                }
                Attempt::Done(self.transfer_here(to).await)
            }
        }
    }

    /// Leadership transfer on the leader. openraft 0.9 has no transfer call, so: stop
    /// heartbeats, wait until `to` holds the whole log and every follower's lease on this
    /// leader ran out, then have `to` campaign. A voter with a shorter log cannot win, and the
    /// others' leases expired together with `to`'s, so `to` usually wins the first round; the
    /// whole step is retried a few times, and heartbeats resume whatever the result.
    async fn transfer_here(&self, to: NodeId) -> Result<NodeId> {
        let status = self.status();
        if to == self.id() {
            return Ok(to);
        }
        if !status.voters.contains(&to) {
            return Err(ClusterError::Invalid(format!("to_peer_id: {to} is not a voter")));
        }
        let uri = self
            .peer_uri(to)
            .ok_or_else(|| ClusterError::Invalid(format!("to_peer_id: {to} has no address")))?;
        let started = Instant::now();
        let mut last = String::new();
        for _ in 0..3 {
            self.raft().runtime_config().heartbeat(false);
            let outcome = self.hand_over(to, &uri).await;
            self.raft().runtime_config().heartbeat(true);
            match outcome {
                Ok(()) => return Ok(to),
                Err(why) => last = why,
            }
            if self.raft().metrics().borrow().current_leader != Some(self.id()) {
                break;
            }
            if started.elapsed() > TRANSFER_WAIT {
                break;
            }
        }
        let leader = self.raft().metrics().borrow().current_leader;
        Err(ClusterError::Unavailable(format!(
            "leadership did not move to {to} (leader now {leader:?}): {last}"
        )))
    }

    async fn hand_over(&self, to: NodeId, uri: &str) -> std::result::Result<(), String> {
        let deadline = Instant::now() + TRANSFER_WAIT;
        // `to` must hold everything this leader has.
        loop {
            let m = self.raft().metrics().borrow().clone();
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&to).cloned().flatten())
                .map(|l| l.index);
            if matched.is_some() && matched == m.last_log_index {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {to} did not catch up with the log (at {matched:?})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(self.lease + Duration::from_millis(20)).await;
        let channel = self.channels().get(uri)?;
        let mut request = tonic::Request::new(StatusRequest {});
        request.set_timeout(FORWARD_TIMEOUT);
        MembershipClient::new(channel)
            .campaign(request)
            .await
            .map_err(|s| format!("asking {to} to campaign: {}", s.message()))?;
        while Instant::now() < deadline {
            let leader = self.raft().metrics().borrow().current_leader;
            if leader == Some(to) {
                return Ok(());
            }
            if leader.is_some() && leader != Some(self.id()) {
                return Err(format!("node {leader:?} won the election instead"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err("no new leader in time".into())
    }

    /// Starts an election on this node (the receiving end of a leadership transfer).
    pub async fn campaign(&self) -> Result<()> {
        self.raft()
            .trigger()
            .elect()
            .await
            .map_err(|e| ClusterError::Stopped(e.to_string()))
    }
}
