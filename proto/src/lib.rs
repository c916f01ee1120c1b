//! Quiver's internal node-to-node gRPC services (`quiver.cluster`), generated from
//! `proto/cluster.proto` at build time.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod cluster {
    tonic::include_proto!("quiver.cluster");
}
