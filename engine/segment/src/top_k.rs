//! A bounded min-heap keeping the k best (offset, rank) pairs, where a larger rank is better.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate: `rank` is higher-is-better (distances are negated by the caller).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate<T> {
    pub rank: f32,
    pub item: T,
}

struct Worst<T>(Candidate<T>);

impl<T: Ord> PartialEq for Worst<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T: Ord> Eq for Worst<T> {}
impl<T: Ord> PartialOrd for Worst<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Worst<T> {
    /// The heap's top is the worst kept candidate: lowest rank, then largest item (ties favour the
    /// smaller item, which keeps results deterministic).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .rank
            .total_cmp(&self.0.rank)
            .then_with(|| self.0.item.cmp(&other.0.item))
    }
}

/// Keeps the best `k` candidates seen.
pub struct TopK<T> {
    k: usize,
    heap: BinaryHeap<Worst<T>>,
}

impl<T: Ord + Copy> TopK<T> {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    /// The rank a new candidate must beat to enter, once full.
    #[inline]
    pub fn threshold(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|w| w.0.rank)
        }
    }

    #[inline]
    pub fn push(&mut self, rank: f32, item: T) {
        if self.k == 0 {
            return;
        }
        let cand = Worst(Candidate { rank, item });
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if cand < *top {
                // `cand` is better than the current worst (Ord is reversed).
                *top = cand;
            }
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Candidate<T>> {
        let mut v: Vec<Candidate<T>> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(|a, b| b.rank.total_cmp(&a.rank).then_with(|| a.item.cmp(&b.item)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_k_sorted() {
        let mut t = TopK::new(3);
        for (i, r) in [0.1, 0.9, 0.5, 0.7, 0.2, 0.9].iter().enumerate() {
            t.push(*r, i);
        }
        let got: Vec<(f32, usize)> = t.into_sorted().iter().map(|c| (c.rank, c.item)).collect();
        assert_eq!(got, vec![(0.9, 1), (0.9, 5), (0.7, 3)]);
    }

    #[test]
    fn zero_k_keeps_nothing() {
        let mut t = TopK::new(0);
        t.push(1.0, 1u32);
        assert!(t.into_sorted().is_empty());
    }
}
