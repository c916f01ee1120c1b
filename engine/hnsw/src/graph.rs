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

    /// The entry node and its level (`None` for a graph without nodes).
    pub fn entry(&self) -> Option<(u32, usize)> {
        self.entry
    }

    /// Copies the links and level of `node` from `other` (a graph of the same `m`).
    pub(crate) fn copy_node_from(&mut self, other: &Graph, node: u32) {
        let n = node as usize;
        if n >= self.len() || n >= other.len() || other.m != self.m {
            return;
        }
        let row = self.m0 + 1;
        self.links0[n * row..(n + 1) * row].copy_from_slice(&other.links0[n * row..(n + 1) * row]);
        let level = other.levels[n];
        self.levels[n] = level;
        let base = other.upper_start[n];
        if level > 0 && base != u32::MAX {
            let start = base as usize;
            let len = level as usize * (self.m + 1);
            if let Some(rows) = other.upper.get(start..start + len) {
                self.upper_start[n] = self.upper.len() as u32;
                self.upper.extend_from_slice(rows);
            }
        }
    }

    /// Merges the level-0 links of `node` in `other` into its own, alternating between the two
    /// lists so both keep a share when they do not fit together.
    pub(crate) fn merge_links0_from(&mut self, other: &Graph, node: u32) {
        let n = node as usize;
        if n >= self.len() || n >= other.len() || other.m != self.m {
            return;
        }
        let mut a = Vec::new();
        let mut b = Vec::new();
        self.neighbours(node, 0, &mut a);
        other.neighbours(node, 0, &mut b);
        let mut merged: Vec<u32> = Vec::with_capacity(self.m0);
        let (mut i, mut j) = (0, 0);
        while merged.len() < self.m0 && (i < a.len() || j < b.len()) {
            for x in [a.get(i).copied(), b.get(j).copied()].into_iter().flatten() {
                if merged.len() < self.m0 && !merged.contains(&x) {
                    merged.push(x);
                }
            }
            i += 1;
            j += 1;
        }
        let row = self.m0 + 1;
        let start = n * row;
        self.links0[start] = merged.len() as u32;
        self.links0[start + 1..start + 1 + merged.len()].copy_from_slice(&merged);
    }

    /// Lays the upper levels out in node order (what the file format expects), after nodes were
    /// copied in another order.
    pub(crate) fn repack_upper(&mut self) {
        let mut upper = Vec::with_capacity(self.upper.len());
        for n in 0..self.len() {
            let (level, base) = (self.levels[n] as usize, self.upper_start[n]);
            if level == 0 || base == u32::MAX {
                self.upper_start[n] = u32::MAX;
                continue;
            }
            let start = base as usize;
            let len = level * (self.m + 1);
            match self.upper.get(start..start + len) {
                Some(rows) => {
                    self.upper_start[n] = upper.len() as u32;
                    upper.extend_from_slice(rows);
                }
                None => self.upper_start[n] = u32::MAX,
            }
        }
        self.upper = upper;
    }

    /// The best `k` accepted nodes by `score`, best first.
    pub fn search(
        &self,
        req: &GraphSearch,
        score: impl NodeScorer,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        match self.entry {
            Some(entry) => self.search_from(req, &[entry], score, accept),
            None => Vec::new(),
        }
    }

    /// A search of this graph (a value graph: links inside each group) together with `main`
    /// (the full graph over the same nodes) that walks only the nodes `walk` allows (the members
    /// of the selected groups): level 0 follows the links of both, keeping the walkable ones, so
    /// groups stay connected through their own links and bridged through the main graph's.
    /// `walk(node, by_value_link)` is told which graph's link leads to the node (a value link
    /// may cross a node that has since left its group, and should). Only `accept`ed nodes are
    /// returned. Starts from `entries` (group entries, each descending this
    /// graph's upper levels).
    pub fn search_with(
        &self,
        main: &Graph,
        req: &GraphSearch,
        entries: &[(u32, usize)],
        score: impl NodeScorer,
        walk: impl Fn(u32, bool) -> bool,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let mut starts = Vec::with_capacity(entries.len());
        for &(entry, top) in entries {
            if entry as usize >= self.len() {
                continue;
            }
            // The entry itself starts too: a node in several groups has the upper levels of only
            // one, so the descent may end outside the walk.
            starts.push(Scored {
                score: score.score(entry),
                id: entry,
            });
            let cur = self.descend(entry, top, &score);
            if walk(cur.id, false) {
                starts.push(cur);
            }
        }
        let neighbours = |n: u32, buf: &mut Vec<u32>| {
            let from = buf.len();
            self.neighbours(n, 0, buf);
            let value_links = buf.len();
            main.neighbours(n, 0, buf);
            let mut keep = from;
            for i in from..buf.len() {
                let x = buf[i];
                if walk(x, i < value_links) {
                    buf[keep] = x;
                    keep += 1;
                }
            }
            buf.truncate(keep);
        };
        let beam = Beam {
            neighbours: &neighbours,
            prefetch_links: &|n| {
                self.prefetch_links(n);
                main.prefetch_links(n);
            },
            score: &score,
            accept: &accept,
            filtered: req.filtered,
            ef: req.ef.max(req.k),
        };
        let mut out = with_visited(self.len().max(main.len()), |v| beam.run(&starts, v));
        out.truncate(req.k);
        out
    }

    /// The greedy walk from `entry` down the upper levels `top..1`: where level 0 starts.
    fn descend(&self, entry: u32, top: usize, score: &impl NodeScorer) -> Scored {
        let mut cur = Scored {
            score: score.score(entry),
            id: entry,
        };
        for level in (1..=top).rev() {
            cur = greedy(
                cur,
                &|n, buf: &mut Vec<u32>| self.neighbours(n, level, buf),
                score,
            );
        }
        cur
    }

    /// [`Graph::search`] from several entries (node, level): each descends greedily on its own,
    /// then one beam on level 0 starts from all of them.
    pub fn search_from(
        &self,
        req: &GraphSearch,
        entries: &[(u32, usize)],
        score: impl NodeScorer,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let mut starts = Vec::with_capacity(entries.len());
        for &(entry, top) in entries {
            if entry as usize >= self.len() {
                continue;
            }
            starts.push(self.descend(entry, top, &score));
        }
        let beam = Beam {
            neighbours: &|n, buf: &mut Vec<u32>| self.neighbours(n, 0, buf),
            prefetch_links: &|n| self.prefetch_links(n),
            score: &score,
            accept: &accept,
            filtered: req.filtered,
            ef: req.ef.max(req.k),
        };
        let mut out = with_visited(self.len(), |v| beam.run(&starts, v));
        out.truncate(req.k);
        out
    }
}
