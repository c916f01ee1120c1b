//! Errors of the segment layer.

use std::path::PathBuf;

/// What went wrong in a segment; corruption is an error, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("segment file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

pub type Result<T, E = SegmentError> = std::result::Result<T, E>;
