//! Cluster metadata through one openraft group. Point data never passes through raft; the log
//! holds membership and [`metadata::Command`]s only.
//!
//! - [`types`]: the raft type configuration and how a member is addressed.
//! - [`metadata`]: the replicated state and the pure function that applies a command to it.
//! - [`log_store`]: the durable raft log (one append-only file, CRC per record) and the vote.
//! - [`state_machine`]: the applied metadata, persisted after every batch, and raft snapshots.
//! - [`identity`]: the node id persisted beside the data.
//! - [`network`]: raft RPCs to other members over the internal gRPC services.
//! - [`service`]: the internal gRPC services this node serves.
//! - [`node`]: one member: start, bootstrap or join, forward writes to the leader, status.
//! - [`admin`]: read barriers, learners, promotion and demotion, leadership transfer.

pub mod admin;
pub mod error;
pub mod fsio;
pub mod identity;
pub mod log_store;
pub mod metadata;
pub mod network;
pub mod node;
pub mod service;
pub mod state_machine;
pub mod types;

pub use error::ClusterError;
pub use metadata::{Command, Metadata, Outcome};
pub use node::{ClusterNode, ClusterOptions, ClusterStatus};
pub use types::{NodeId, Peer, TypeConfig};
