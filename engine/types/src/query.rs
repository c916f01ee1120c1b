//! Universal query requests (`query_points`): a nearest-neighbour query, a fusion of prefetched
//! candidate lists, or an order-by, each with a filter and paging.

use crate::{Filter, OrderBy, PointId, SearchParams, SparseVector, WithPayload, WithVector};

/// The vector to search near.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum VectorInput {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    /// The stored vector of this point (under the same `using` name).
    Id(PointId),
}

/// How prefetched candidate lists are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fusion {
    /// Reciprocal rank fusion.
    Rrf,
    /// Distribution-based score fusion.
    Dbsf,
}

/// What a query ranks by.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Query {
    Nearest(VectorInput),
    Fusion(Fusion),
    OrderBy(OrderBy),
}

/// A candidate-producing sub-query of a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prefetch {
    pub prefetch: Vec<Prefetch>,
    pub query: Option<Query>,
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub score_threshold: Option<f32>,
}

/// A whole `query_points` request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueryRequest {
    pub prefetch: Vec<Prefetch>,
    pub query: Option<Query>,
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    /// Applies to every nearest-neighbour stage of the request.
    pub params: SearchParams,
}
