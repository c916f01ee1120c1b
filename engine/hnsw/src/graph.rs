//! The frozen graph: level-0 links in one flat array (`m0 + 1` u32 per node: count, then ids),
//! upper levels packed per node, and search over it.

use crate::search::{greedy, with_visited, Beam, NodeScorer, Scored};

/// A built, read-only HNSW graph over node ids `0..len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub(crate) m: usize,
    pub(crate) m0: usize,
    /// Level of each node (0 for nodes that were never linked).
    pub(crate) levels: Vec<u8>,
    /// `len() * (m0 + 1)`: for each node its level-0 count, then up to `m0` ids.
    pub(crate) links0: Vec<u32>,
    /// For each node, where its upper levels start in `upper` (`level * (m + 1)` u32 from there).
    pub(crate) upper_start: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    /// The node at the top level, and that level.
    pub(crate) entry: Option<(u32, usize)>,
    /// Nodes that were given to the builder.
    pub(crate) indexed: usize,
}

/// One query on a graph.
#[derive(Debug, Clone, Copy)]
pub struct GraphSearch {
    /// Results wanted.
    pub k: usize,
    /// Beam width on level 0 (raised to `k` when smaller).
    pub ef: usize,
    /// Whether `accept` may reject nodes; then the beam keeps going until it holds `ef` accepted.
    pub filtered: bool,
}

impl Graph {
    /// An empty graph of `capacity` unlinked nodes.
    pub(crate) fn empty(m: usize, capacity: usize) -> Graph {
        let m0 = 2 * m.max(1);
        Graph {
            m: m.max(1),
            m0,
            levels: vec![0; capacity],
            links0: vec![0; capacity * (m0 + 1)],
            upper_start: vec![u32::MAX; capacity],
            upper: Vec::new(),
            entry: None,
            indexed: 0,
        }
    }

    /// Node capacity (the segment's offsets when it was built).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// How many nodes are linked into the graph.
    pub fn indexed(&self) -> usize {
        self.indexed
    }

    pub fn m(&self) -> usize {
        self.m
    }

    /// Bytes of memory the links take.
    pub fn memory_bytes(&self) -> usize {
        self.levels.len() + 4 * (self.links0.len() + self.upper_start.len() + self.upper.len())
    }

    /// Starts loading the level-0 links of `node` into cache.
    #[inline]
    pub fn prefetch_links(&self, node: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            let start = node as usize * (self.m0 + 1);
            if let Some(p) = self.links0.get(start) {
                // SAFETY: a prefetch never faults, and the address is inside `links0`.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        (p as *const u32).cast::<i8>(),
                    )
                };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = node;
    }

    /// Appends the neighbours of `node` on `level` to `buf`.
    #[inline]
    pub fn neighbours(&self, node: u32, level: usize, buf: &mut Vec<u32>) {
        let n = node as usize;
        if level == 0 {
            let start = n * (self.m0 + 1);
            if let Some(&count) = self.links0.get(start) {
                let end = (start + 1 + count as usize).min(self.links0.len());
                buf.extend_from_slice(&self.links0[start + 1..end]);
            }
            return;
        }
        let (Some(&lv), Some(&base)) = (self.levels.get(n), self.upper_start.get(n)) else {
            return;
        };
        if level > lv as usize || base == u32::MAX {
            return;
        }
        let start = base as usize + (level - 1) * (self.m + 1);
        if let Some(&count) = self.upper.get(start) {
            let end = (start + 1 + count as usize).min(self.upper.len());
            buf.extend_from_slice(&self.upper[start + 1..end]);
        }
    }

    /// The best `k` accepted nodes by `score`, best first.
    pub fn search(
        &self,
        req: &GraphSearch,
        score: impl NodeScorer,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let Some((entry, top)) = self.entry else {
            return Vec::new();
        };
        let mut cur = Scored {
            score: score.score(entry),
            id: entry,
        };
        for level in (1..=top).rev() {
            cur = greedy(
                cur,
                &|n, buf: &mut Vec<u32>| self.neighbours(n, level, buf),
                &score,
            );
        }
        let beam = Beam {
            neighbours: &|n, buf: &mut Vec<u32>| self.neighbours(n, 0, buf),
            prefetch_links: &|n| self.prefetch_links(n),
            score: &score,
            accept: &accept,
            filtered: req.filtered,
            ef: req.ef.max(req.k),
        };
        let mut out = with_visited(self.len(), |v| beam.run(&[cur], v));
        out.truncate(req.k);
        out
    }
}
