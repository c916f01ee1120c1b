//! Quiver's write-ahead log: an append-only, CRC-checked log of opaque byte records, each keyed by a
//! strictly increasing [`SeqNo`](quiver_types::SeqNo). A shard appends every update operation here
//! before applying it, replays the log from the oldest unpersisted seqno at recovery, and truncates
//! what its segments have persisted.
//!
//! Read the modules in this order:
//! - [`wal`]: the [`Wal`] handle — open with crash recovery, append, sync, replay, truncate.
//! - `log_file` (private): the folder of `wal-<first seqno>.log` files, their 12-byte header
//!   (`b"QVRWAL01"`, u32 version 1), creation by temp file and rename, and the scan run at open.
//! - `record` (private): one record, `[u32 body len][u32 crc32 of seqno+body][u64 seqno][body]`.
//! - [`replay`]: the iterator that reads records back from the files.
//! - [`options`] and [`error`]: [`WalOptions`] and [`WalError`].

pub mod error;
mod log_file;
pub mod options;
mod record;
pub mod replay;
pub mod wal;

pub use error::{Result, WalError};
pub use options::{WalOptions, DEFAULT_SEGMENT_SIZE_BYTES};
pub use record::MAX_BODY_LEN;
pub use replay::Replay;
pub use wal::Wal;
