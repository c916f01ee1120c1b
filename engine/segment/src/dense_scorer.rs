//! Dense vectors of one storage seen by the HNSW graph: a query scorer and a pair scorer, both
//! ranking (higher is closer: similarity for Cosine/Dot, negated distance for Euclid/Manhattan,
//! squared for Euclid since the order is the same) and both prefetching the vectors they are told
//! are next.

use quiver_hnsw::{NodeScorer, PairScorer};
use quiver_types::Distance;

use crate::kernels;
use crate::vector_storage::DenseStorage;

/// The rank of a stored vector against a prepared query.
#[inline]
fn rank(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => kernels::dot(a, b),
        Distance::Euclid => -kernels::l2sq(a, b),
        Distance::Manhattan => -kernels::l1(a, b),
    }
}

/// The score Qdrant reports for a rank.
pub fn score_of_rank(distance: Distance, rank: f32) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => rank,
        Distance::Euclid => (-rank).max(0.0).sqrt(),
        Distance::Manhattan => -rank,
    }
}

/// Scores stored vectors against one query.
pub struct QueryScorer<'a> {
    pub storage: &'a DenseStorage,
    /// Already prepared (normalised for Cosine).
    pub query: &'a [f32],
}

impl NodeScorer for QueryScorer<'_> {
    #[inline]
    fn score(&self, node: u32) -> f32 {
        rank(self.storage.distance, self.query, self.storage.raw(node))
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        kernels::prefetch(self.storage.raw(node))
    }
}

/// Scores pairs of stored vectors (graph building).
pub struct PairRanker<'a> {
    pub storage: &'a DenseStorage,
}

impl PairScorer for PairRanker<'_> {
    #[inline]
    fn pair(&self, a: u32, b: u32) -> f32 {
        rank(self.storage.distance, self.storage.raw(a), self.storage.raw(b))
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        kernels::prefetch(self.storage.raw(node))
    }
}
