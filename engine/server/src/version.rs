//! What the server reports about itself. Quiver reports a Qdrant-compatible API version so existing
//! clients accept it; its own version is reported beside it.

/// The Qdrant API version whose wire format Quiver implements.
pub const QDRANT_API_VERSION: &str = "1.20.0";

/// Quiver's own version.
pub const QUIVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The title Qdrant clients look for at `GET /`.
pub const TITLE: &str = "qdrant - vector search engine";
