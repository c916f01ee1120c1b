//! Search and read requests and their results.

use crate::{Filter, JsonPath, NamedVectors, Payload, PointId, VectorData};

/// Which parts of the payload to return.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum WithPayload {
    #[default]
    None,
    All,
    Include(Vec<JsonPath>),
    Exclude(Vec<JsonPath>),
}

/// Which vectors to return.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum WithVector {
    #[default]
    None,
    All,
    Names(Vec<String>),
}

/// How a query uses quantized vectors (Qdrant's `params.quantization`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct QuantizationParams {
    /// Traverse with the original vectors even where quantized ones exist.
    pub ignore: bool,
    /// Rescore the quantized candidates with the original vectors; `None` means yes.
    pub rescore: Option<bool>,
    /// Rescore `limit * oversampling` candidates (at least 1.0).
    pub oversampling: Option<f32>,
}

/// Per-query search settings (Qdrant's `params`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SearchParams {
    /// Beam width of graph search; `None` means the segment's `ef_construct`.
    pub hnsw_ef: Option<usize>,
    /// Scan every point instead of using the graph.
    pub exact: bool,
    /// Skip segments that are neither indexed nor small enough to scan quickly.
    pub indexed_only: bool,
    pub quantization: QuantizationParams,
}

/// A nearest-neighbour query against one named vector.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchRequest {
    pub vector_name: String,
    pub query: VectorData,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub params: SearchParams,
}

/// Order a scroll by a payload field instead of by id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderBy {
    pub key: JsonPath,
    pub descending: bool,
    /// Start from this value (inclusive) in the chosen direction.
    pub start_from: Option<f64>,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredPoint {
    pub id: PointId,
    pub version: u64,
    pub score: f32,
    pub payload: Option<Payload>,
    pub vectors: Option<NamedVectors>,
    /// The value a scroll was ordered by, when it was.
    pub order_value: Option<f64>,
}

/// A point as returned by retrieve and scroll.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub id: PointId,
    pub payload: Option<Payload>,
    pub vectors: Option<NamedVectors>,
    pub order_value: Option<f64>,
}
