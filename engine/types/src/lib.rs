//! Quiver's vocabulary: the plain data every layer speaks — point ids, vectors, payloads, the filter
//! tree, update operations and search requests/results. Serde only (for persistence in the WAL and
//! segments); it knows nothing of Qdrant's wire formats, which are converted at the API edge.

pub mod distance;
pub mod error;
pub mod filter;
pub mod json_path;
pub mod operation;
pub mod point_id;
pub mod query;
pub mod routing;
pub mod search;
pub mod vectors;

pub use distance::Distance;
pub use error::TypesError;
pub use filter::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius,
    Match, MinShould, Range, TextRules, ValueVariant, WordMode, WordQuery,
};
pub use json_path::{JsonPath, PathStep};
pub use operation::{PointRecord, PointSelector, UpdateOperation};
pub use point_id::PointId;
pub use query::{Fusion, Prefetch, Query, QueryRequest, VectorInput};
pub use routing::{ReadConsistency, ReadOptions, ShardKey, ShardKeySelector};
pub use search::{
    OrderBy, QuantizationParams, Record, ScoredPoint, SearchParams, SearchRequest, WithPayload, WithVector,
};
pub use vectors::{NamedVectors, SparseVector, VectorData, DEFAULT_VECTOR};

/// A point's payload: a JSON object, parsed once on the way in and kept as a tree.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// The position of a point inside one segment's storage. Dense, starting at 0, never reused while the
/// segment lives (a deleted offset stays a hole until the segment is rewritten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct PointOffset(pub u32);

/// The sequence number of an update operation within one shard: strictly increasing in WAL order, so a
/// state persisted "up to SeqNo n" plus the log after n is the whole state.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SeqNo(pub u64);

impl SeqNo {
    pub fn next(self) -> SeqNo {
        SeqNo(self.0 + 1)
    }
}

/// A shard's id within its collection: `0..shard_number` with automatic sharding; with custom
/// sharding, allocated per shard key and never reused.
pub type ShardId = u32;
