//! The beam search shared by the builder and the frozen graph, and a per-thread visited set.
//!
//! Neighbour lists are read through a closure that copies them into a buffer, so the builder
//! (lists behind locks) and the frozen graph (flat arrays) share one search.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A node and its score (higher is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub score: f32,
    pub id: u32,
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    /// By score, ties broken towards the smaller id (so the smaller id ranks higher).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.id.cmp(&self.id))
    }
}

/// Marks visited nodes with a generation number, so clearing is O(1) between searches.
#[derive(Debug, Default)]
pub struct Visited {
    marks: Vec<u16>,
    generation: u16,
}

impl Visited {
    /// Forgets every mark and makes room for nodes `0..n`.
    pub fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `node`; true when it was not marked yet. Nodes past `n` count as visited.
    #[inline]
    pub fn insert(&mut self, node: u32) -> bool {
        match self.marks.get_mut(node as usize) {
            Some(m) if *m != self.generation => {
                *m = self.generation;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// Runs `f` with this thread's visited set, reset for `n` nodes.
pub fn with_visited<R>(n: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
    VISITED.with(|v| match v.try_borrow_mut() {
        Ok(mut v) => {
            v.reset(n);
            f(&mut v)
        }
        // Re-entered on this thread (a scorer that searches): use a fresh set.
        Err(_) => {
            let mut v = Visited::default();
            v.reset(n);
            f(&mut v)
        }
    })
}

/// Scores nodes against one query (higher is closer). `prefetch` says a node will be scored soon,
/// so its vector can be on its way from memory while another is scored: the search is bound by
/// memory latency, not arithmetic.
pub trait NodeScorer {
    fn score(&self, node: u32) -> f32;
    #[inline]
    fn prefetch(&self, _node: u32) {}
}

impl<F: Fn(u32) -> f32> NodeScorer for F {
    #[inline]
    fn score(&self, node: u32) -> f32 {
        self(node)
    }
}

/// Scores pairs of stored nodes (the builder's view), with the same prefetch hint.
pub trait PairScorer: Sync {
    fn pair(&self, a: u32, b: u32) -> f32;
    #[inline]
    fn prefetch(&self, _node: u32) {}
}

impl<F: Fn(u32, u32) -> f32 + Sync> PairScorer for F {
    #[inline]
    fn pair(&self, a: u32, b: u32) -> f32 {
        self(a, b)
    }
}

/// A pair scorer seen from one node: the query is that node's vector.
pub struct Against<'a, P: ?Sized> {
    pub pair: &'a P,
    pub node: u32,
}

impl<P: PairScorer + ?Sized> NodeScorer for Against<'_, P> {
    #[inline]
    fn score(&self, other: u32) -> f32 {
        self.pair.pair(self.node, other)
    }
    #[inline]
    fn prefetch(&self, other: u32) {
        self.pair.prefetch(other)
    }
}

/// How many vectors ahead of the one being scored are prefetched.
const AHEAD: usize = 1;

/// What one beam search needs.
pub struct Beam<'a, N, L, S, A> {
    /// Copies the neighbours of a node on the searched level into the buffer.
    pub neighbours: &'a N,
    /// Hints that the neighbours of a node will be read next.
    pub prefetch_links: &'a L,
    pub score: &'a S,
    /// Only accepted nodes enter the result; rejected ones are still traversed.
    pub accept: &'a A,
    /// Whether `accept` may reject nodes: then the search goes on until `ef` accepted are found.
    pub filtered: bool,
    pub ef: usize,
}

impl<N, L, S, A> Beam<'_, N, L, S, A>
where
    N: Fn(u32, &mut Vec<u32>),
    L: Fn(u32),
    S: NodeScorer,
    A: Fn(u32) -> bool,
{
    /// The best `ef` accepted nodes reachable from `entry`, best first.
    pub fn run(&self, entry: &[Scored], visited: &mut Visited) -> Vec<Scored> {
        let ef = self.ef.max(1);
        let mut candidates: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef + 1);
        for e in entry {
            if visited.insert(e.id) {
                candidates.push(*e);
                if (self.accept)(e.id) {
                    results.push(Reverse(*e));
                }
            }
        }
        while results.len() > ef {
            results.pop();
        }
        let mut buf = Vec::with_capacity(64);
        let mut fresh = Vec::with_capacity(64);
        while let Some(c) = candidates.pop() {
            let worst = results.peek().map(|r| r.0.score);
            if let Some(w) = worst {
                if c.score < w && (results.len() >= ef || !self.filtered) {
                    break;
                }
            }
            buf.clear();
            (self.neighbours)(c.id, &mut buf);
            fresh.clear();
            fresh.extend(buf.iter().copied().filter(|&nb| visited.insert(nb)));
            for &nb in fresh.iter().take(AHEAD) {
                self.score.prefetch(nb);
            }
            for (j, &nb) in fresh.iter().enumerate() {
                if let Some(&ahead) = fresh.get(j + AHEAD) {
                    self.score.prefetch(ahead);
                }
                let s = self.score.score(nb);
                let full = results.len() >= ef;
                let worst = results.peek().map_or(f32::NEG_INFINITY, |r| r.0.score);
                if !full || s > worst {
                    let node = Scored { score: s, id: nb };
                    candidates.push(node);
                    (self.prefetch_links)(nb);
                    if (self.accept)(nb) {
                        results.push(Reverse(node));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Scored> = results.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }
}

/// Walks greedily towards better scores on one level (the descent through upper levels).
pub fn greedy(mut cur: Scored, neighbours: &impl Fn(u32, &mut Vec<u32>), score: &impl NodeScorer) -> Scored {
    let mut buf = Vec::with_capacity(32);
    loop {
        let mut changed = false;
        buf.clear();
        neighbours(cur.id, &mut buf);
        buf.iter().for_each(|&nb| score.prefetch(nb));
        for &nb in &buf {
            let s = score.score(nb);
            if s > cur.score {
                cur = Scored { score: s, id: nb };
                changed = true;
            }
        }
        if !changed {
            return cur;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_generations() {
        let mut v = Visited::default();
        v.reset(4);
        assert!(v.insert(1));
        assert!(!v.insert(1));
        assert!(!v.insert(9), "out of range counts as visited");
        v.reset(4);
        assert!(v.insert(1));
        for _ in 0..70_000 {
            v.reset(4);
        }
        assert!(v.insert(1));
    }

    #[test]
    fn beam_on_a_path_finds_the_best_accepted() {
        // A path 0-1-2-...-9, score = id: the best are at the far end.
        let neighbours = |n: u32, buf: &mut Vec<u32>| {
            if n > 0 {
                buf.push(n - 1);
            }
            if n < 9 {
                buf.push(n + 1);
            }
        };
        let score = |n: u32| n as f32;
        let odd = |n: u32| n % 2 == 1;
        let beam = Beam {
            neighbours: &neighbours,
            prefetch_links: &|_| {},
            score: &score,
            accept: &odd,
            filtered: true,
            ef: 2,
        };
        let got = with_visited(10, |v| beam.run(&[Scored { score: 0.0, id: 0 }], v));
        assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), vec![9, 7]);
    }
}
