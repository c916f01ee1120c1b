//! Errors of the cluster layer, each saying what the caller should do.

use thiserror::Error;

/// What can go wrong in the cluster layer.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// Stored raft state is unreadable or inconsistent: do not start on it.
    #[error("cluster state at {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("cluster storage at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The request is wrong (a field, an id); retrying will not help.
    #[error("{0}")]
    Invalid(String),
    /// The cluster refuses this node or change as it stands (e.g. a reused node id).
    #[error("{0}")]
    Refused(String),
    /// No leader, or a member cannot be reached now; retry later.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Raft stopped (a storage failure, or shutdown).
    #[error("raft stopped: {0}")]
    Stopped(String),
}

impl ClusterError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
        move |source| ClusterError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
