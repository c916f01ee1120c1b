//! The quiver server: Qdrant-compatible gRPC (port 6334) and REST (port 6333) over the engine.
//!
//! - [`settings`]: configuration from a YAML file and `QUIVER__SECTION__KEY` environment overrides.
//! - [`api`]: the async operations both surfaces call.
//! - [`error`]: the single mapping of errors to gRPC statuses and HTTP codes.
//! - [`convert`]: wire <-> engine conversions (gRPC messages, REST JSON).
//! - [`grpc`], [`rest`]: the two surfaces.
//! - [`snapshot_store`]: snapshots kept on an S3-compatible object store.
//! - [`node`]: wiring and lifecycle of one server process.
//! - [`failpoint`]: deliberate crashes at named points, for fault tests.

pub mod api;
pub mod cluster;
pub mod convert;
pub mod error;
pub mod failpoint;
pub mod grpc;
pub mod node;
pub mod rest;
pub mod settings;
pub mod snapshot_store;
pub mod version;
