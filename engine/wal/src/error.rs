//! The WAL's errors. Each variant says what the caller should do: `Io` and `Poisoned` mean "reopen or
//! give up", `Corrupt`/`UnsupportedVersion` mean "the files need an operator", and
//! `OutOfOrder`/`RecordTooLarge` mean "the caller passed invalid input; nothing was written".

use std::io;
use std::path::{Path, PathBuf};

use quiver_types::SeqNo;

/// Shorthand for results whose error is [`WalError`].
pub type Result<T, E = WalError> = std::result::Result<T, E>;

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call on `path` failed; the message carries the OS error.
    #[error("wal i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A log file holds bytes that are not a valid record where one must be (not a torn tail).
    #[error("corrupt wal file {} at byte offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A log file was written by a format version this build cannot read.
    #[error("wal file {} has format version {version}, this build reads version {supported}", file.display())]
    UnsupportedVersion {
        file: PathBuf,
        version: u32,
        supported: u32,
    },
    /// `append` was given a seqno that is not greater than the last one in the log; nothing was written.
    #[error("out-of-order append: seqno {} is not greater than the last seqno {}", seqno.0, last.0)]
    OutOfOrder { seqno: SeqNo, last: SeqNo },
    /// `append` was given a body longer than a record can hold; nothing was written.
    #[error("wal record body of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    /// An earlier write, fsync or file creation failed, so the in-memory state may no longer match the
    /// disk; reopen the WAL (open truncates any half-written tail).
    #[error("wal handle is unusable after an earlier i/o failure; reopen it")]
    Poisoned,
}

impl WalError {
    /// Wraps an `io::Error` with the path it happened on.
    pub(crate) fn io(path: &Path, source: io::Error) -> WalError {
        WalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Builds a `Corrupt` error for `file` at `offset`.
    pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corrupt {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }
}
