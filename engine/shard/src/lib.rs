//! A local shard: a write-ahead log plus a set of segments.
//!
//! - [`shard`]: the `LocalShard` — write path (log, then apply), reads fanned out over segments.
//! - [`apply`]: how each update operation changes the segments (deterministic, so replay is exact).
//! - [`manifest`]: the file naming the persisted segments and the SeqNo they hold.
//! - [`recovery`]: open = read the manifest, load its segments, drop garbage, replay the log.
//! - [`optimizer`]: seals segments past `indexing_threshold` and builds their graphs off to the side.
//! - [`snapshot`]: the shard's files at one moment, for collection snapshots.
//!
//! On disk (`<shard>/`): `wal/` (the log), `segments/<uuid>/segment.qvs` (one folder per persisted
//! segment version), `manifest.json`. A checkpoint writes changed segments into new folders, then
//! atomically replaces the manifest, then deletes folders the manifest no longer names and log files
//! wholly before the manifest's SeqNo. A crash at any step leaves either the old or the new manifest,
//! each of which is complete.

pub mod apply;
pub mod error;
pub mod manifest;
pub mod optimizer;
mod recovery;
pub mod shard;
pub mod snapshot;

pub use error::ShardError;
pub use shard::{LocalShard, OptimizerOptions, SegmentPlan, ShardOptions, ShardStats};
