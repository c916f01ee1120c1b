//! Collections of shards and the catalog that holds them.
//!
//! - [`config`]: collection configuration in Qdrant's shape, validation, diffs.
//! - [`validate`]: checks of update operations and queries against the config (before they are logged).
//! - [`collection`]: one collection: shards, routing by point id hash, fan-out reads, payload index schema.
//! - [`catalog`]: every collection of a node, aliases, the background flusher and optimizer.
//! - [`explain`]: the planner's decisions for a query, per stage, shard and segment.
//! - [`snapshot`]: collection snapshots (tar + SHA-256): create, list, delete, unpack.
//! - [`text_rules`]: full-text index settings applied to text conditions.
//! - [`fsio`]: atomic small-file writes shared by the collection files.
//!
//! On disk: `<storage>/collections/<name>/{config.json, payload_index.json, shards/<i>/}` and
//! `<storage>/aliases.json`. A collection is created in a hidden temp folder and renamed into place;
//! a deleted one is renamed to a hidden folder before removal, so a crash never leaves half of one.

pub mod catalog;
pub mod collection;
pub mod config;
pub mod error;
pub mod explain;
mod fsio;
mod query;
mod records;
pub mod shard_snapshot;
pub mod snapshot;
pub mod text_rules;
pub mod validate;

pub use catalog::{AliasOperation, Catalog, CatalogOptions};
pub use collection::{
    route, Collection, CollectionInfo, CollectionStatus, ConfigDiff, PayloadFieldSchema, Scope,
    ScrollRequest, UpdateResult, UpdateStatus, VectorParamsDiff,
};
pub use config::{CollectionConfig, ShardingMethod};
pub use error::CollectionError;
pub use explain::StageExplain;
pub use query::{and as both_filters, fuse, with_records};
