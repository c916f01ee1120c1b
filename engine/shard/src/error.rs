//! Errors of the shard layer.

use std::path::PathBuf;

/// What went wrong in a shard.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("corrupt shard data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Wal(#[from] quiver_wal::WalError),
    #[error(transparent)]
    Segment(#[from] quiver_segment::SegmentError),
}

impl ShardError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ShardError {
        let path = path.to_path_buf();
        move |source| ShardError::Io { path, source }
    }
}

pub type Result<T, E = ShardError> = std::result::Result<T, E>;
