//! The server's process tests: each module starts real `quiver` processes on loopback ports and
//! talks to them over REST and gRPC. One test binary rather than one per file, because every binary
//! links the whole server again and the links dominated the test build.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

mod cluster;
mod cluster_admin;
mod cluster_kills;
mod cluster_partition;
mod cluster_routing;
mod cluster_snapshots;
mod cluster_transfer_faults;
mod crash;
mod grpc_api;
mod rest_api;
mod snapshots;
