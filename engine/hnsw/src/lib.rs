//! Quiver's HNSW index: a navigable small-world graph over the points of one segment.
//!
//! The crate knows nothing about vectors: callers pass scoring closures (higher is better, so
//! distances are negated by the caller) and an `accept` predicate for filtered traversal, so the
//! same graph serves plain, filtered and (later) quantized scoring.
//!
//! - [`params`]: the build parameters (`m`, `ef_construct`, threads).
//! - [`build`]: the parallel builder (rayon, one lock per node, hnswlib-style heuristic).
//! - [`graph`]: the frozen graph and its search (greedy descent, then a beam of width `ef` on level 0).
//! - [`groups`]: one graph of several node groups whose links stay inside each (filterable HNSW).
//! - [`search`]: the beam search shared by build and query, and the visited-set pool.
//! - [`file`]: the on-disk format (flat little-endian arrays, so it can be memory-mapped).
//!
//! Node ids are the segment's point offsets (`u32`). Nodes not given to the builder (points without
//! this vector) are never linked and never returned.

pub mod build;
pub mod error;
pub mod file;
pub mod graph;
pub mod groups;
pub mod params;
pub mod search;

pub use build::build;
pub use error::HnswError;
pub use graph::{Graph, GraphSearch};
pub use groups::{build_groups, Grouped};
pub use params::HnswParams;
pub use search::{NodeScorer, PairScorer, Scored};
