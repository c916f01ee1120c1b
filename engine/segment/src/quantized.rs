//! Int8 scalar quantization of one dense storage, for graph traversal: a traversal reads a few
//! hundred scattered vectors per query and is bound by memory traffic, so reading one byte per
//! dimension instead of four makes it faster, and the final candidates are rescored with the
//! original vectors (see [`crate::index`]), which keeps the answer's order and scores exact.
//!
//! A stored value `x` becomes `u = round((x - lo) / step)` in `0..=255`, with `lo`/`step` taken
//! from the `quantile` of all values (outliers are clamped). The query is quantized on its own
//! symmetric scale, `q ≈ qs * w` with `w` in `-127..=127`, so `x·q ≈ step·qs·Σu·w + lo·qs·Σw`,
//! and `Σu·w` is an unsigned-by-signed byte dot product (one AVX-512 VNNI instruction per 64
//! dimensions). The codes are derived data: rebuilt from the vectors, never written to disk.

use quiver_hnsw::NodeScorer;
use quiver_types::{Distance, PointOffset};

use crate::vector_storage::DenseStorage;

/// Settings of int8 quantization (Qdrant's `scalar` quantization config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Params {
    /// Share of values inside the bounds (the rest are clamped); Qdrant's `quantile`.
    pub quantile: f32,
}

impl Default for Int8Params {
    fn default() -> Self {
        Int8Params { quantile: 0.99 }
    }
}

/// Rows are padded to this many bytes so the kernels need no tail loop.
const LANE: usize = 64;

/// Values sampled to find the quantile bounds.
const BOUNDS_SAMPLE: usize = 1 << 20;

/// The int8 codes of one dense storage, by offset.
#[derive(Debug, Clone)]
pub struct Int8Codes {
    stride: usize,
    distance: Distance,
    lo: f32,
    step: f32,
    codes: Vec<u8>,
    /// Squared norms of the original vectors (Euclid only; empty otherwise).
    norms: Vec<f32>,
}

impl Int8Codes {
    /// Quantizes every present vector of `storage`; `None` for Manhattan distance, whose sum of
    /// absolute differences has no byte dot product form.
    pub fn build(storage: &DenseStorage, params: Int8Params) -> Option<Int8Codes> {
        if storage.distance == Distance::Manhattan || storage.dim == 0 {
            return None;
        }
        let dim = storage.dim;
        let capacity = storage.capacity();
        let present = || (0..capacity as u32).filter_map(|o| storage.get(PointOffset(o)));
        let (lo, hi) = bounds(present(), storage.present_count() * dim, params.quantile);
        let step = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let stride = dim.div_ceil(LANE) * LANE;
        let mut codes = vec![0u8; capacity * stride];
        let euclid = storage.distance == Distance::Euclid;
        let mut norms = if euclid { vec![0.0; capacity] } else { Vec::new() };
        for o in 0..capacity {
            let Some(v) = storage.get(PointOffset(o as u32)) else {
                continue;
            };
            let row = &mut codes[o * stride..o * stride + dim];
            for (c, &x) in row.iter_mut().zip(v) {
                *c = ((x - lo) / step).round().clamp(0.0, 255.0) as u8;
            }
            if euclid {
                norms[o] = v.iter().map(|x| x * x).sum();
            }
        }
        Some(Int8Codes {
            stride,
            distance: storage.distance,
            lo,
            step,
            codes,
            norms,
        })
    }

    /// Offsets the codes cover.
    pub fn capacity(&self) -> usize {
        self.codes.len() / self.stride.max(1)
    }

    /// Bytes of memory the codes take.
    pub fn memory_bytes(&self) -> usize {
        self.codes.len() + 4 * self.norms.len()
    }

    #[inline]
    fn row(&self, node: u32) -> &[u8] {
        let start = node as usize * self.stride;
        self.codes.get(start..start + self.stride).unwrap_or(&[])
    }

    /// A scorer for one prepared query (normalised for Cosine, of the storage's dimension).
    pub fn scorer(&self, query: &[f32]) -> Int8Scorer<'_> {
        let max = query.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let qs = if max > 0.0 { max / 127.0 } else { 1.0 };
        let mut w = vec![0i8; self.stride];
        for (wi, &x) in w.iter_mut().zip(query) {
            *wi = (x / qs).round().clamp(-127.0, 127.0) as i8;
        }
        let wsum: i32 = w.iter().map(|&x| i32::from(x)).sum();
        let qnorm = query.iter().map(|x| x * x).sum();
        Int8Scorer {
            codes: self,
            query: w,
            scale: self.step * qs,
            shift: self.lo * qs * wsum as f32,
            qnorm,
            kernel: simd::kernel(),
        }
    }
}

/// Int8 codes seen as pairs of stored nodes: the graph builder's distances at a quarter of the
/// memory traffic of the original vectors. A build is bound by loading the vectors it compares;
/// the neighbour choices it makes from these approximations differ from exact ones only among
/// near-ties (the benchmark shows the same recall), and searches still rescore exactly.
///
/// `x ≈ lo + step·u`, so `a·b ≈ dim·lo² + lo·step·(Σu_a + Σu_b) + step²·Σu_a·u_b`, and
/// `Σu_a·u_b = Σu_a·(u_b − 128) + 128·Σu_a`: the unsigned-by-signed kernel against a copy of the
/// codes shifted into `i8`.
pub struct Int8Pairs<'a> {
    codes: &'a Int8Codes,
    /// `u − 128` per byte, rows as in `codes`.
    shifted: Vec<i8>,
    /// `Σu` per row.
    sums: Vec<i32>,
    dim_lo2: f32,
    kernel: simd::Kernel,
}

impl<'a> Int8Pairs<'a> {
    pub fn new(codes: &'a Int8Codes, dim: usize) -> Self {
        let shifted = codes.codes.iter().map(|&u| (u ^ 0x80) as i8).collect();
        let sums = codes
            .codes
            .chunks(codes.stride.max(1))
            .map(|row| row.iter().map(|&u| i32::from(u)).sum())
            .collect();
        Int8Pairs {
            codes,
            shifted,
            sums,
            dim_lo2: dim as f32 * codes.lo * codes.lo,
            kernel: simd::kernel(),
        }
    }

    fn shifted_row(&self, node: u32) -> &[i8] {
        let start = node as usize * self.codes.stride;
        self.shifted.get(start..start + self.codes.stride).unwrap_or(&[])
    }

    /// The approximate dot product of two stored vectors.
    #[inline]
    fn dot(&self, a: u32, b: u32) -> f32 {
        let (ua, sb) = (self.codes.row(a), self.shifted_row(b));
        let sum = |n: u32| self.sums.get(n as usize).copied().unwrap_or(0);
        let (sa, sb_sum) = (sum(a), sum(b));
        let uu = (self.kernel)(ua, sb) as f32 + 128.0 * sa as f32;
        let c = &self.codes;
        self.dim_lo2 + c.lo * c.step * (sa + sb_sum) as f32 + c.step * c.step * uu
    }
}

impl quiver_hnsw::PairScorer for Int8Pairs<'_> {
    #[inline]
    fn pair(&self, a: u32, b: u32) -> f32 {
        let dot = self.dot(a, b);
        match self.codes.distance {
            Distance::Euclid => {
                let norm = |n: u32| self.codes.norms.get(n as usize).copied().unwrap_or(0.0);
                -(norm(a) + norm(b) - 2.0 * dot)
            }
            _ => dot,
        }
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        crate::kernels::prefetch_bytes(self.shifted_row(node));
    }
}

/// The quantile bounds of the values: `(1 - quantile) / 2` of them fall below `lo` and as many
/// above `hi`. Takes a strided sample when there are many values.
fn bounds<'a>(vectors: impl Iterator<Item = &'a [f32]>, total: usize, quantile: f32) -> (f32, f32) {
    let every = total.div_ceil(BOUNDS_SAMPLE).max(1);
    let mut sample: Vec<f32> = vectors
        .flatten()
        .step_by(every)
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if sample.is_empty() {
        return (0.0, 0.0);
    }
    sample.sort_unstable_by(f32::total_cmp);
    let tail = ((1.0 - quantile.clamp(0.5, 1.0)) / 2.0 * sample.len() as f32) as usize;
    let last = sample.len() - 1;
    (sample[tail.min(last)], sample[last.saturating_sub(tail)])
}

/// Scores stored codes against one quantized query, on the graph's rank scale (higher is closer:
/// the approximate dot product, or the negated approximate squared distance for Euclid).
pub struct Int8Scorer<'a> {
    codes: &'a Int8Codes,
    query: Vec<i8>,
    scale: f32,
    shift: f32,
    qnorm: f32,
    kernel: simd::Kernel,
}

impl Int8Scorer<'_> {
    /// The approximate rank of `node`.
    #[inline]
    pub fn rank(&self, node: u32) -> f32 {
        let row = self.codes.row(node);
        if row.len() != self.query.len() {
            return f32::NEG_INFINITY;
        }
        let dot = (self.kernel)(row, &self.query) as f32 * self.scale + self.shift;
        match self.codes.distance {
            Distance::Euclid => {
                let norm = self.codes.norms.get(node as usize).copied().unwrap_or(0.0);
                -(norm - 2.0 * dot + self.qnorm)
            }
            _ => dot,
        }
    }
}

impl NodeScorer for Int8Scorer<'_> {
    #[inline]
    fn score(&self, node: u32) -> f32 {
        self.rank(node)
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        crate::kernels::prefetch_bytes(self.codes.row(node));
    }
}

/// The byte dot product `Σ u[i] * w[i]` over rows padded to [`LANE`] bytes.
mod simd {
    use std::sync::OnceLock;

    pub type Kernel = fn(&[u8], &[i8]) -> i32;

    /// The fastest kernel this CPU runs (checked once).
    pub fn kernel() -> Kernel {
        static K: OnceLock<Kernel> = OnceLock::new();
        *K.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") && has!("avx512vnni") {
                    return x86::vnni;
                }
                if has!("avx2") {
                    return x86::avx2;
                }
            }
            portable
        })
    }

    pub fn portable(u: &[u8], w: &[i8]) -> i32 {
        u.iter().zip(w).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum()
    }

    #[cfg(target_arch = "x86_64")]
    pub mod x86 {
        use std::arch::x86_64::*;

        use super::super::LANE;

        pub fn vnni(u: &[u8], w: &[i8]) -> i32 {
            // SAFETY: chosen only after runtime detection of avx512f and avx512vnni.
            unsafe { vnni_impl(u, w) }
        }

        #[target_feature(enable = "avx512f,avx512vnni")]
        unsafe fn vnni_impl(u: &[u8], w: &[i8]) -> i32 {
            let n = u.len().min(w.len()) / LANE * LANE;
            let mut acc = _mm512_setzero_si512();
            let mut i = 0;
            while i < n {
                // SAFETY: i + 64 <= n, inside both slices; unaligned loads.
                let a = unsafe { _mm512_loadu_si512(u.as_ptr().add(i).cast()) };
                let b = unsafe { _mm512_loadu_si512(w.as_ptr().add(i).cast()) };
                acc = _mm512_dpbusd_epi32(acc, a, b);
                i += LANE;
            }
            _mm512_reduce_add_epi32(acc)
        }

        pub fn avx2(u: &[u8], w: &[i8]) -> i32 {
            // SAFETY: chosen only after runtime detection of avx2.
            unsafe { avx2_impl(u, w) }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn avx2_impl(u: &[u8], w: &[i8]) -> i32 {
            let n = u.len().min(w.len()) / 16 * 16;
            let mut acc = _mm256_setzero_si256();
            let mut i = 0;
            while i < n {
                // SAFETY: i + 16 <= n, inside both slices; unaligned loads.
                let a = unsafe { _mm_loadu_si128(u.as_ptr().add(i).cast()) };
                let b = unsafe { _mm_loadu_si128(w.as_ptr().add(i).cast()) };
                let prod = _mm256_madd_epi16(_mm256_cvtepu8_epi16(a), _mm256_cvtepi8_epi16(b));
                acc = _mm256_add_epi32(acc, prod);
                i += 16;
            }
            let mut lanes = [0i32; 8];
            // SAFETY: `lanes` holds exactly the 32 bytes stored.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
            lanes.iter().sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(distance: Distance, vectors: &[Vec<f32>]) -> DenseStorage {
        let mut s = DenseStorage::new(vectors[0].len(), distance);
        for (i, v) in vectors.iter().enumerate() {
            s.set(PointOffset(i as u32), v);
        }
        s
    }

    fn vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut x: u64 = 7;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((x >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn kernels_agree_with_portable() {
        let u: Vec<u8> = (0..256).map(|i| (i * 37 % 256) as u8).collect();
        let w: Vec<i8> = (0..256i32).map(|i| ((i * 53 % 255) - 127) as i8).collect();
        let want = simd::portable(&u, &w);
        assert_eq!((simd::kernel())(&u, &w), want);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") {
                assert_eq!(simd::x86::avx2(&u, &w), want);
            }
            if has!("avx512f") && has!("avx512vnni") {
                assert_eq!(simd::x86::vnni(&u, &w), want);
            }
        }
    }

    #[test]
    fn approximate_ranks_track_exact_ones() {
        for distance in [Distance::Cosine, Distance::Dot, Distance::Euclid] {
            let vs = vectors(300, 40);
            let s = storage(distance, &vs);
            let codes = Int8Codes::build(&s, Int8Params { quantile: 1.0 }).expect("codes");
            assert_eq!(codes.capacity(), 300);
            let q = s.prepare_query(&vs[3]);
            let scorer = codes.scorer(&q);
            let exact = crate::dense_scorer::QueryScorer::new(&s, &q);
            let mut worst = 0.0f32;
            for node in 0..300 {
                let (a, e) = (scorer.rank(node), exact.score(node));
                worst = worst.max((a - e).abs() / e.abs().max(1.0));
            }
            assert!(worst < 0.05, "{distance:?}: relative error {worst}");
            // The query's own vector ranks first under the approximation too.
            let best = (0..300u32).max_by(|&a, &b| scorer.rank(a).total_cmp(&scorer.rank(b)));
            assert_eq!(best, Some(3), "{distance:?}");
        }
    }

    #[test]
    fn pair_scores_track_exact_ones_and_build_a_good_graph() {
        use quiver_hnsw::{GraphSearch, HnswParams, PairScorer};
        for distance in [Distance::Cosine, Distance::Euclid] {
            let vs = vectors(1500, 128);
            let s = storage(distance, &vs);
            let codes = Int8Codes::build(&s, Int8Params::default()).expect("codes");
            let pairs = Int8Pairs::new(&codes, 128);
            let exact = crate::dense_scorer::PairRanker::new(&s);
            let mut worst = 0.0f32;
            for (a, b) in [(0u32, 1u32), (5, 900), (77, 78), (1499, 3), (10, 10)] {
                let (p, e) = (pairs.pair(a, b), exact.pair(a, b));
                worst = worst.max((p - e).abs() / e.abs().max(1.0));
            }
            assert!(worst < 0.05, "{distance:?}: relative error {worst}");
            // A graph built on the codes, searched on the originals, finds the exact neighbours.
            let params = HnswParams {
                m: 12,
                ef_construct: 64,
                threads: 1,
                ..HnswParams::default()
            };
            let nodes: Vec<u32> = (0..1500).collect();
            let graph = quiver_hnsw::build(&params, 1500, &nodes, &pairs);
            let (mut hit, mut total) = (0, 0);
            for q in (0..1500u32).step_by(97) {
                let query = s.prepare_query(&vs[q as usize]);
                let scorer = crate::dense_scorer::QueryScorer::new(&s, &query);
                let mut truth: Vec<(f32, u32)> = (0..1500u32).map(|n| (scorer.score(n), n)).collect();
                truth.sort_by(|a, b| b.0.total_cmp(&a.0));
                let req = GraphSearch {
                    k: 10,
                    ef: 100,
                    filtered: false,
                };
                let got = graph.search(&req, scorer, |_| true);
                hit += got
                    .iter()
                    .filter(|g| truth[..10].iter().any(|t| t.1 == g.id))
                    .count();
                total += 10;
            }
            let recall = hit as f64 / total as f64;
            assert!(recall >= 0.95, "{distance:?}: recall {recall}");
        }
    }

    #[test]
    fn manhattan_and_absent_vectors() {
        let vs = vectors(3, 8);
        assert!(Int8Codes::build(&storage(Distance::Manhattan, &vs), Int8Params::default()).is_none());
        let mut s = storage(Distance::Dot, &vs);
        s.clear(PointOffset(1));
        let codes = Int8Codes::build(&s, Int8Params::default()).expect("codes");
        // An offset past the codes ranks last instead of panicking.
        assert_eq!(codes.scorer(&vs[0]).rank(99), f32::NEG_INFINITY);
    }

    #[test]
    fn quantile_clamps_outliers() {
        let mut vs = vectors(200, 16);
        vs[0][0] = 1000.0;
        let s = storage(Distance::Dot, &vs);
        let codes = Int8Codes::build(&s, Int8Params { quantile: 0.99 }).expect("codes");
        assert!(
            codes.lo > -1.01 && codes.lo + 255.0 * codes.step < 1.01,
            "lo {} step {}",
            codes.lo,
            codes.step
        );
    }
}
