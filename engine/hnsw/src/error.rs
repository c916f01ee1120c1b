//! Errors of the HNSW layer: only reading a graph file can fail.

/// A graph file that cannot be used; corruption is an error, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum HnswError {
    #[error("HNSW graph file is corrupt: {0}")]
    Corrupt(String),
}
