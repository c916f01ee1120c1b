//! One Quiver segment: a self-contained set of points with their vectors and payloads.
//!
//! - [`id_tracker`]: external point id <-> internal offset, per-point versions, deletions.
//! - [`vector_storage`]: dense and sparse vectors by name, in contiguous arrays.
//! - [`kernels`]: SIMD distance functions.
//! - [`filter`]: evaluation of the filter tree on one point.
//! - [`payload_ops`]: set / delete / select parts of a payload by key path.
//! - [`segment`]: the segment itself: apply point changes, exact search, retrieve, scroll, count.
//! - [`field_index`]: payload field indexes of sealed segments (candidates for the planner).
//! - [`geo_index`]: the geo field index (points by latitude band).
//! - [`layout`]: the order a rebuilt segment stores its points in (tenant, then principal).
//! - [`cardinality`]: bounds on a filter's match count, from the field indexes.
//! - [`index`]: a sealed segment's HNSW graphs and the exact-vs-graph planner.
//! - [`quantized`]: int8 codes of dense vectors, for faster graph traversal.
//! - [`dense_scorer`]: dense vectors as the graph scores them (with prefetch).
//! - [`value_graph`]: filterable HNSW, graphs whose links join points sharing a payload value.
//! - [`top_k`]: bounded heap for the best k scores.
//! - [`file`]: the on-disk format of a persisted segment.

pub mod cardinality;
pub mod config;
pub mod dense_scorer;
pub mod error;
pub mod field_index;
pub mod file;
pub mod filter;
pub mod geo_index;
pub mod id_tracker;
pub mod index;
pub mod kernels;
pub mod layout;
pub mod payload_ops;
pub mod quantized;
pub mod segment;
pub mod top_k;
pub mod value_graph;
pub mod vector_storage;

pub use cardinality::Cardinality;
pub use config::{SegmentConfig, VectorSpec};
pub use error::SegmentError;
pub use field_index::FieldKind;
pub use index::{Estimate, IndexSettings, Plan, SegmentIndex};
pub use quantized::Int8Params;
pub use segment::Segment;
