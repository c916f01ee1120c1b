//! Tuning knobs for a [`Wal`](crate::Wal).

/// Default size after which the WAL starts a new log file: 32 MiB.
pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 32 * 1024 * 1024;

/// How a [`Wal`](crate::Wal) lays out its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// Once the current log file is at least this long, the next append starts a new file, so old
    /// records can be dropped a whole file at a time by `truncate_before`.
    pub segment_size_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size_bytes: DEFAULT_SEGMENT_SIZE_BYTES,
        }
    }
}
