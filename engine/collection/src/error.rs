//! Errors of the collection layer, by what the caller should do about them.

use quiver_shard::ShardError;

/// Why a collection operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    /// The request is wrong; fix it.
    #[error("{0}")]
    InvalidInput(String),
    /// The named collection, alias or point does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// Stored data failed a check; an operator must look.
    #[error("{0}")]
    Corrupt(String),
    /// The disk or OS failed.
    #[error("{0}")]
    Io(String),
}

impl From<ShardError> for CollectionError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::InvalidInput(m) => CollectionError::InvalidInput(m),
            ShardError::NotFound(m) => CollectionError::NotFound(m),
            ShardError::Corrupt(m) => CollectionError::Corrupt(m),
            ShardError::Segment(quiver_segment::SegmentError::InvalidInput(m)) => {
                CollectionError::InvalidInput(m)
            }
            ShardError::Segment(quiver_segment::SegmentError::Corrupt { path, reason }) => {
                CollectionError::Corrupt(format!("{}: {reason}", path.display()))
            }
            other => CollectionError::Io(other.to_string()),
        }
    }
}

pub type Result<T, E = CollectionError> = std::result::Result<T, E>;
