//! Qdrant's gRPC messages (`qdrant_client::qdrant::*`) <-> the engine's types.
//!
//! - [`ids`]: point ids and point selectors.
//! - [`payload`]: `qdrant.Value` <-> JSON (integer and double kinds kept apart), payload selectors.
//! - [`filter`]: the whole filter language.
//! - [`vectors`]: point vectors (the deprecated `data`/`indices` encoding and the `vector` oneof),
//!   query vectors, vector selectors and vector output.
//! - [`config`]: the pieces of a collection config (HNSW, optimizers, WAL, quantization, vector params);
//!   [`strict`]: strict mode settings.
//! - [`collections`]: create/update collection requests, collection info, aliases.
//! - [`index`]: payload index requests and the payload schema report.
//! - [`points`]: every point update operation.
//! - [`query`]: search, query, scroll, count and retrieve requests; scored points and records.
//!
//! Every invalid value becomes [`ApiError::InvalidInput`] with a message naming the field, as a path
//! from the request's root (`points[3].vectors.image`). Fields Quiver does not use (timeouts, write
//! ordering) are ignored the way Qdrant ignores unknown fields. [`routing`] reads shard key
//! selectors and read consistency, which the services pass beside the converted request.

pub mod collections;
pub mod config;
pub mod filter;
pub mod ids;
pub mod index;
pub mod payload;
pub mod points;
pub mod query;
pub mod routing;
pub mod strict;
pub mod vectors;

use crate::error::ApiError;

/// An invalid value at `path`.
pub fn bad(path: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("Format error in request: {path}: {msg}"))
}

pub use crate::convert::{index, join};

/// A required message field.
pub fn required<'a, T>(v: &'a Option<T>, path: &str, key: &str) -> Result<&'a T, ApiError> {
    v.as_ref().ok_or_else(|| bad(&join(path, key), "is required"))
}

/// An `f32` widened to the `f64` a user wrote (0.95f32 stays 0.95, not 0.949999988).
pub fn widen(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}
