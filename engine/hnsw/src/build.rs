//! The parallel builder. Nodes are inserted concurrently (rayon); each node's links sit behind
//! their own lock, held only to copy or replace a list, so no thread ever holds two. Level-0
//! lists live in one flat array laid out as the frozen graph's (a count, then `m0` slots), so
//! reading a list is one cache miss rather than a walk through nested vectors. Neighbours are
//! chosen with the diversity heuristic (a candidate is kept only if it is closer to the new node
//! than to every neighbour already kept), which keeps the graph navigable on clustered data.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use crate::graph::Graph;
use crate::params::HnswParams;
use crate::search::{greedy, with_visited, Against, Beam, NodeScorer, PairScorer, Scored};

struct Building<'a, P: ?Sized> {
    params: &'a HnswParams,
    capacity: usize,
    levels: Vec<u8>,
    /// Level-0 slots, `m0 + 1` per node: the count, then the links. Read and written only under
    /// the node's lock in `upper` (relaxed atomics are plain loads and stores).
    links0: Vec<AtomicU32>,
    m0: usize,
    /// Per node, its lock and its lists of levels 1 and up.
    upper: Vec<Mutex<Vec<Vec<u32>>>>,
    entry: RwLock<Option<(u32, usize)>>,
    pair: &'a P,
}

/// Builds a graph over `nodes` (ids below `capacity`) with `pair(a, b)` the similarity of two
/// nodes (higher is closer). Nodes outside `nodes` stay unlinked.
pub fn build<P>(params: &HnswParams, capacity: usize, nodes: &[u32], pair: &P) -> Graph
where
    P: PairScorer + ?Sized,
{
    let nodes: Vec<u32> = nodes
        .iter()
        .copied()
        .filter(|&n| (n as usize) < capacity)
        .collect();
    let mut levels = vec![0u8; capacity];
    for &n in &nodes {
        levels[n as usize] = params.level_of(n) as u8;
    }
    let upper = (0..capacity)
        .map(|i| Mutex::new(vec![Vec::new(); levels[i] as usize]))
        .collect();
    let m0 = params.m0();
    let b = Building {
        params,
        capacity,
        levels,
        links0: (0..capacity * (m0 + 1)).map(|_| AtomicU32::new(0)).collect(),
        m0,
        upper,
        entry: RwLock::new(None),
        pair,
    };
    if let Some((&first, rest)) = nodes.split_first() {
        *b.entry.write() = Some((first, b.levels[first as usize] as usize));
        let run = || rest.par_iter().with_min_len(16).for_each(|&n| b.insert(n));
        match params.threads {
            0 => run(),
            t => match rayon::ThreadPoolBuilder::new().num_threads(t).build() {
                Ok(pool) => pool.install(run),
                Err(_) => run(),
            },
        }
    }
    b.repair(&nodes);
    b.freeze(nodes.len())
}

/// Whether `list` already links `to`, or had room and now does; false means it is full.
fn linked_or_added(list: &mut Vec<u32>, to: u32, cap: usize) -> bool {
    if list.contains(&to) {
        return true;
    }
    if list.len() < cap {
        list.push(to);
        return true;
    }
    false
}

/// Rounds of reachability repair after a build (each one usually leaves nothing to do).
const REPAIR_ROUNDS: usize = 3;

impl<P> Building<'_, P>
where
    P: PairScorer + ?Sized,
{
    fn row(&self, node: u32) -> &[AtomicU32] {
        let start = node as usize * (self.m0 + 1);
        self.links0.get(start..start + self.m0 + 1).unwrap_or_default()
    }

    /// Appends a level-0 list to `buf` (caller holds the node's lock).
    fn read0(&self, node: u32, buf: &mut Vec<u32>) {
        if let Some((count, slots)) = self.row(node).split_first() {
            let n = (count.load(Relaxed) as usize).min(slots.len());
            buf.extend(slots[..n].iter().map(|x| x.load(Relaxed)));
        }
    }

    /// Replaces a level-0 list (caller holds the node's lock); extra links are dropped.
    fn write0(&self, node: u32, list: &[u32]) {
        if let Some((count, slots)) = self.row(node).split_first() {
            let n = list.len().min(slots.len());
            for (slot, &x) in slots.iter().zip(&list[..n]) {
                slot.store(x, Relaxed);
            }
            count.store(n as u32, Relaxed);
        }
    }

    fn copy(&self, node: u32, level: usize, buf: &mut Vec<u32>) {
        let Some(lock) = self.upper.get(node as usize) else {
            return;
        };
        let guard = lock.lock();
        if level == 0 {
            self.read0(node, buf);
        } else if let Some(l) = guard.get(level - 1) {
            buf.extend_from_slice(l);
        }
    }

    /// Runs `f` on a copy of `node`'s list at `level` under its lock and stores the result.
    fn edit<R>(&self, node: u32, level: usize, f: impl FnOnce(&mut Vec<u32>) -> R) -> Option<R> {
        let mut guard = self.upper.get(node as usize)?.lock();
        if level == 0 {
            let mut list = Vec::with_capacity(self.m0 + 1);
            self.read0(node, &mut list);
            let out = f(&mut list);
            self.write0(node, &list);
            Some(out)
        } else {
            guard.get_mut(level - 1).map(f)
        }
    }

    fn insert(&self, q: u32) {
        let level = self.levels[q as usize] as usize;
        let Some((entry, top)) = *self.entry.read() else {
            return;
        };
        let score = Against {
            pair: self.pair,
            node: q,
        };
        let mut cur = Scored {
            score: score.score(entry),
            id: entry,
        };
        for lev in (level + 1..=top).rev() {
            cur = greedy(cur, &|n, buf: &mut Vec<u32>| self.copy(n, lev, buf), &score);
        }
        let mut entries = vec![cur];
        for lev in (0..=level.min(top)).rev() {
            let beam = Beam {
                neighbours: &|n, buf: &mut Vec<u32>| self.copy(n, lev, buf),
                prefetch_links: &|_| {},
                score: &score,
                accept: &|n| n != q,
                filtered: false,
                ef: self.params.ef_construct.max(self.params.m),
            };
            let found = with_visited(self.capacity, |v| beam.run(&entries, v));
            let chosen = self.select(&found, self.params.m.max(1));
            let cap = if lev == 0 {
                self.params.m0()
            } else {
                self.params.m.max(1)
            };
            self.edit(q, lev, |list| list.clone_from(&chosen));
            for nb in chosen {
                self.connect(nb, q, lev, cap);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
        if level > top {
            let mut e = self.entry.write();
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((q, level));
            }
        }
    }

    /// Links every node that level 0 cannot reach from the entry. Pruning a full list can drop the
    /// only link into a node (most often nodes inserted early, when lists were short, or under an
    /// unnormalised dot product); a search then never returns it. Each lost node gets a link from
    /// its best reachable neighbour, found by the same search an insertion runs.
    fn repair(&self, nodes: &[u32]) {
        for _ in 0..REPAIR_ROUNDS {
            let Some((entry, top)) = *self.entry.read() else {
                return;
            };
            let mut seen = vec![false; self.capacity];
            let mut stack = vec![entry];
            seen[entry as usize] = true;
            let mut buf = Vec::new();
            while let Some(n) = stack.pop() {
                buf.clear();
                self.copy(n, 0, &mut buf);
                for &nb in &buf {
                    if let Some(s) = seen.get_mut(nb as usize) {
                        if !*s {
                            *s = true;
                            stack.push(nb);
                        }
                    }
                }
            }
            let lost: Vec<u32> = nodes.iter().copied().filter(|&n| !seen[n as usize]).collect();
            if lost.is_empty() {
                return;
            }
            for &u in &lost {
                let score = Against {
                    pair: self.pair,
                    node: u,
                };
                let mut cur = Scored {
                    score: score.score(entry),
                    id: entry,
                };
                for lev in (1..=top).rev() {
                    cur = greedy(cur, &|n, buf: &mut Vec<u32>| self.copy(n, lev, buf), &score);
                }
                let beam = Beam {
                    neighbours: &|n, buf: &mut Vec<u32>| self.copy(n, 0, buf),
                    prefetch_links: &|_| {},
                    score: &score,
                    accept: &|n| n != u && seen.get(n as usize).copied().unwrap_or(false),
                    filtered: true,
                    ef: self.params.ef_construct.max(self.params.m),
                };
                let found = with_visited(self.capacity, |v| beam.run(&[cur], v));
                if let Some(best) = found.first() {
                    self.force_link(best.id, u);
                }
            }
        }
    }

    /// Adds `from -> to` on level 0 even when `from`'s list is full: its worst link makes room.
    fn force_link(&self, from: u32, to: u32) {
        let cap = self.params.m0();
        self.edit(from, 0, |list| {
            if linked_or_added(list, to, cap) {
                return;
            }
            let worst = list
                .iter()
                .enumerate()
                .map(|(i, &x)| (i, self.pair.pair(from, x)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            // The dropped node may be lost in turn: the next repair round finds it.
            if let Some((i, _)) = worst {
                list[i] = to;
            }
        });
    }

    /// The diversity heuristic over candidates sorted best first (scores relative to the base node).
    fn select(&self, candidates: &[Scored], m: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for c in candidates {
            if kept.len() >= m {
                break;
            }
            if kept.iter().all(|&k| self.pair.pair(c.id, k) <= c.score) {
                kept.push(c.id);
            }
        }
        kept
    }

    /// Adds the back link `node -> q`, pruning `node`'s list with the heuristic when it is full.
    fn connect(&self, node: u32, q: u32, level: usize, cap: usize) {
        self.edit(node, level, |list| {
            if linked_or_added(list, q, cap) {
                return;
            }
            let mut candidates: Vec<Scored> = list
                .iter()
                .chain(std::iter::once(&q))
                .map(|&x| Scored {
                    score: self.pair.pair(node, x),
                    id: x,
                })
                .collect();
            candidates.sort_unstable_by(|a, b| b.cmp(a));
            *list = self.select(&candidates, cap);
        });
    }

    fn freeze(self, indexed: usize) -> Graph {
        let mut g = Graph::empty(self.params.m, self.capacity);
        let m0 = g.m0;
        let m = g.m;
        let mut l0 = Vec::with_capacity(self.m0);
        for n in 0..self.capacity {
            g.levels[n] = self.levels[n];
            l0.clear();
            self.read0(n as u32, &mut l0);
            let l0 = &l0[..l0.len().min(m0)];
            let start = n * (m0 + 1);
            g.links0[start] = l0.len() as u32;
            g.links0[start + 1..start + 1 + l0.len()].copy_from_slice(l0);
        }
        for (n, cell) in self.upper.into_iter().enumerate() {
            let lists = cell.into_inner();
            if !lists.is_empty() {
                g.upper_start[n] = g.upper.len() as u32;
                for l in &lists {
                    let l = &l[..l.len().min(m)];
                    g.upper.push(l.len() as u32);
                    g.upper.extend_from_slice(l);
                    g.upper.extend(std::iter::repeat_n(0, m - l.len()));
                }
            }
        }
        g.entry = *self.entry.read();
        g.indexed = indexed;
        g
    }
}
