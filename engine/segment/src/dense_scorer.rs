//! Dense vectors of one storage seen by the HNSW graph: a query scorer and a pair scorer, both
//! ranking (higher is closer: similarity for Cosine/Dot, negated distance for Euclid/Manhattan,
//! squared for Euclid since the order is the same) and both prefetching the vectors they are told
//! are next.

use quiver_hnsw::{NodeScorer, PairScorer};
use quiver_types::Distance;

use crate::kernels;
use crate::vector_storage::DenseStorage;

/// The rank function of a distance: the kernel, and whether to negate it.
fn ranker(distance: Distance) -> (kernels::Kernel, bool) {
    match distance {
        Distance::Cosine | Distance::Dot => (kernels::dot_kernel(), false),
        Distance::Euclid => (kernels::l2sq_kernel(), true),
        Distance::Manhattan => (kernels::l1_kernel(), true),
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
#[derive(Clone, Copy)]
pub struct QueryScorer<'a> {
    storage: &'a DenseStorage,
    query: &'a [f32],
    kernel: kernels::Kernel,
    negate: bool,
}

impl<'a> QueryScorer<'a> {
    /// `query` must be prepared (normalised for Cosine) and of the storage's dimension.
    pub fn new(storage: &'a DenseStorage, query: &'a [f32]) -> Self {
        let (kernel, negate) = ranker(storage.distance);
        QueryScorer {
            storage,
            query,
            kernel,
            negate,
        }
    }
}

impl NodeScorer for QueryScorer<'_> {
    #[inline]
    fn score(&self, node: u32) -> f32 {
        let s = (self.kernel)(self.query, self.storage.raw(node));
        if self.negate {
            -s
        } else {
            s
        }
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        kernels::prefetch(self.storage.raw(node))
    }
}

/// Scores pairs of stored vectors (graph building).
pub struct PairRanker<'a> {
    storage: &'a DenseStorage,
    kernel: kernels::Kernel,
    negate: bool,
}

impl<'a> PairRanker<'a> {
    pub fn new(storage: &'a DenseStorage) -> Self {
        let (kernel, negate) = ranker(storage.distance);
        PairRanker {
            storage,
            kernel,
            negate,
        }
    }
}

impl PairScorer for PairRanker<'_> {
    #[inline]
    fn pair(&self, a: u32, b: u32) -> f32 {
        let s = (self.kernel)(self.storage.raw(a), self.storage.raw(b));
        if self.negate {
            -s
        } else {
            s
        }
    }
    #[inline]
    fn prefetch(&self, node: u32) {
        kernels::prefetch(self.storage.raw(node))
    }
}
