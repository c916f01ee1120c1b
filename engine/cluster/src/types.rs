//! The raft type configuration: what a log entry carries and how a member is addressed.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::metadata::{Command, Outcome};

/// A member's id: random at first start, persisted beside the data (see [`crate::identity`]).
pub type NodeId = u64;

/// How to reach a member: the URI of its internal gRPC services (`http://host:6335`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub uri: String,
}

openraft::declare_raft_types!(
    /// Quiver's raft: metadata commands in, outcomes out, snapshots as one in-memory buffer
    /// (the metadata is small).
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = NodeId,
        Node = Peer,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
