//! How many points of a segment a filter can match, as bounds and an expectation, combined
//! over the filter tree from what the payload field indexes know. The planner needs only to know
//! on which side of `full_scan_threshold` the count falls: when both bounds fall on one side the
//! answer is certain and nothing is sampled; only a straddling estimate is refined by checking a
//! sample of points against the filter.
//!
//! A condition no index answers is unknown: anything from none to every point, half expected.
//! Expectations combine as if conditions were independent; the bounds hold whatever the
//! correlation.

use quiver_types::{Condition, Filter};

/// A filter's match count in one segment: `min <= exp <= max`, all at most the segment's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cardinality {
    pub min: usize,
    pub exp: usize,
    pub max: usize,
}

impl Cardinality {
    /// A count known exactly.
    pub fn exact(n: usize) -> Cardinality {
        Cardinality {
            min: n,
            exp: n,
            max: n,
        }
    }

    /// Nothing known about a condition over `total` points.
    pub fn unknown(total: usize) -> Cardinality {
        Cardinality {
            min: 0,
            exp: total / 2,
            max: total,
        }
    }

    /// Whether the count is known exactly.
    pub fn is_exact(&self) -> bool {
        self.min == self.max
    }

    /// Restores `min <= exp <= max <= total` after a bound was tightened.
    pub fn clamped(self, total: usize) -> Cardinality {
        let max = self.max.min(total);
        let min = self.min.min(max);
        Cardinality {
            min,
            exp: self.exp.clamp(min, max),
            max,
        }
    }

    /// Only points this many at most can match (an index's superset of the matches).
    pub fn at_most(self, n: usize, total: usize) -> Cardinality {
        Cardinality {
            max: self.max.min(n),
            ..self
        }
        .clamped(total)
    }

    /// The points that do not match.
    fn negated(self, total: usize) -> Cardinality {
        Cardinality {
            min: total.saturating_sub(self.max),
            exp: total.saturating_sub(self.exp),
            max: total.saturating_sub(self.min),
        }
    }
}

/// Every one of `items` holds (a `must`).
pub fn all(items: &[Cardinality], total: usize) -> Cardinality {
    if items.is_empty() {
        return Cardinality::exact(total);
    }
    // At least: the points no condition misses (each misses at most total - min).
    let missed: usize = items.iter().map(|c| total - c.min.min(total)).sum();
    let min = total.saturating_sub(missed);
    let max = items.iter().map(|c| c.max).min().unwrap_or(total);
    let exp = total as f64 * items.iter().map(|c| share(c.exp, total)).product::<f64>();
    Cardinality {
        min,
        exp: exp.round() as usize,
        max,
    }
    .clamped(total)
}

/// At least one of `items` holds (a `should`).
pub fn any(items: &[Cardinality], total: usize) -> Cardinality {
    at_least(items, 1, total)
}

/// At least `m` of `items` hold (`min_should`; `m = 1` is a `should`).
pub fn at_least(items: &[Cardinality], m: usize, total: usize) -> Cardinality {
    let k = items.len();
    if m == 0 {
        return Cardinality::exact(total);
    }
    if m > k {
        return Cardinality::exact(0);
    }
    // Count (point, condition) pairs: at most `sum(max)` hold, and a matching point holds at
    // least m of them, so at most sum(max) / m points match. At least sum(min) hold; a point
    // that matches holds at most k, one that does not at most m - 1.
    let pairs_max: usize = items.iter().map(|c| c.max).sum();
    let pairs_min: usize = items.iter().map(|c| c.min).sum();
    let max = (pairs_max / m).min(total);
    let floor = pairs_min.saturating_sub((m - 1) * total);
    let mut min = floor.div_ceil(k - m + 1);
    if m == 1 {
        min = min.max(items.iter().map(|c| c.min).max().unwrap_or(0));
    }
    // Expected: the chance that at least m of k independent conditions hold.
    let mut dist = vec![0.0f64; k + 1];
    dist[0] = 1.0;
    for (i, c) in items.iter().enumerate() {
        let p = share(c.exp, total);
        for j in (0..=i + 1).rev() {
            let stay = dist[j] * (1.0 - p);
            let step = if j > 0 { dist[j - 1] * p } else { 0.0 };
            dist[j] = stay + step;
        }
    }
    let p: f64 = dist[m..].iter().sum();
    Cardinality {
        min,
        exp: (p * total as f64).round() as usize,
        max,
    }
    .clamped(total)
}

/// The estimate of `filter` over `total` points, with `leaf` estimating a single condition
/// (`None`: unknown). Nested filters are combined the same way.
pub fn estimate(
    filter: &Filter,
    total: usize,
    leaf: &dyn Fn(&Condition) -> Option<Cardinality>,
) -> Cardinality {
    let one = |c: &Condition| -> Cardinality {
        match c {
            Condition::Filter(f) => estimate(f, total, leaf),
            other => leaf(other).map_or(Cardinality::unknown(total), |e| e.clamped(total)),
        }
    };
    let mut parts: Vec<Cardinality> = filter.must.iter().map(one).collect();
    if !filter.should.is_empty() {
        let should: Vec<Cardinality> = filter.should.iter().map(one).collect();
        parts.push(any(&should, total));
    }
    parts.extend(filter.must_not.iter().map(|c| one(c).negated(total)));
    if let Some(ms) = &filter.min_should {
        let items: Vec<Cardinality> = ms.conditions.iter().map(one).collect();
        parts.push(at_least(&items, ms.min_count, total));
    }
    all(&parts, total)
}

fn share(n: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64 / total as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::{FieldCondition, JsonPath, MinShould, PointId};

    fn c(min: usize, exp: usize, max: usize) -> Cardinality {
        Cardinality { min, exp, max }
    }

    #[test]
    fn must_intersects_and_keeps_sound_bounds() {
        // 600 and 700 of 1000: at least 300 hold both, at most 600.
        let e = all(&[Cardinality::exact(600), Cardinality::exact(700)], 1000);
        assert_eq!(e, c(300, 420, 600));
        // Disjoint-possible sets: no lower bound.
        let e = all(&[Cardinality::exact(300), Cardinality::exact(400)], 1000);
        assert_eq!((e.min, e.exp, e.max), (0, 120, 300));
        assert_eq!(all(&[], 50), Cardinality::exact(50));
    }

    #[test]
    fn should_and_min_should_bound_the_union() {
        let e = any(&[Cardinality::exact(300), Cardinality::exact(400)], 1000);
        assert_eq!((e.min, e.exp, e.max), (400, 580, 700));
        // Two of three, each 500 of 1000: at most 1500 / 2 = 750 points, at least
        // (1500 - 1000) / 2 = 250; expected 1/2 (three fair coins, two or more heads).
        let half = Cardinality::exact(500);
        let e = at_least(&[half, half, half], 2, 1000);
        assert_eq!(e, c(250, 500, 750));
        assert_eq!(at_least(&[half], 2, 1000), Cardinality::exact(0));
        assert_eq!(at_least(&[half], 0, 1000), Cardinality::exact(1000));
    }

    #[test]
    fn unknown_leaves_widen_the_bounds_and_trees_combine() {
        let key = |k: &str| {
            Condition::Field(FieldCondition {
                key: JsonPath::parse(k).expect("path"),
                predicates: Vec::new(),
            })
        };
        // `a` is indexed (exactly 100 of 1000), `b` is not.
        let leaf = |cond: &Condition| match cond {
            Condition::Field(fc) if fc.key == JsonPath::parse("a").expect("path") => {
                Some(Cardinality::exact(100))
            }
            Condition::HasId(ids) => Some(Cardinality::exact(ids.len())),
            _ => None,
        };
        let f = Filter {
            must: vec![key("a"), key("b")],
            ..Filter::default()
        };
        assert_eq!(estimate(&f, 1000, &leaf), c(0, 50, 100));
        let f = Filter {
            must_not: vec![key("a")],
            ..Filter::default()
        };
        assert_eq!(estimate(&f, 1000, &leaf), Cardinality::exact(900));
        let ids = [PointId::Num(1), PointId::Num(2)].into_iter().collect();
        let f = Filter {
            should: vec![Condition::HasId(ids), key("a")],
            min_should: Some(MinShould {
                conditions: vec![key("a"), key("a")],
                min_count: 2,
            }),
            ..Filter::default()
        };
        let e = estimate(&f, 1000, &leaf);
        assert!(e.min <= e.exp && e.exp <= e.max, "{e:?}");
        assert_eq!(e.max, 100);
        // A nested filter is estimated as a whole and combined like a leaf.
        let f = Filter {
            must: vec![Condition::Filter(Box::new(Filter {
                must: vec![key("a")],
                ..Filter::default()
            }))],
            ..Filter::default()
        };
        assert_eq!(estimate(&f, 1000, &leaf), Cardinality::exact(100));
    }

    #[test]
    fn bounds_hold_for_every_subset_of_a_small_universe() {
        // Brute force over 6 points: for random sets, the true size of the intersection,
        // union and 2-of-3 always lies within the bounds.
        let mut x: u64 = 7;
        for _ in 0..500 {
            let sets: Vec<u8> = (0..3)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) & 0x3f) as u8
                })
                .collect();
            let items: Vec<Cardinality> = sets
                .iter()
                .map(|s| Cardinality::exact(s.count_ones() as usize))
                .collect();
            let inter = (sets[0] & sets[1] & sets[2]).count_ones() as usize;
            let union = (sets[0] | sets[1] | sets[2]).count_ones() as usize;
            let two = (0..6)
                .filter(|b| sets.iter().filter(|s| *s & (1 << b) != 0).count() >= 2)
                .count();
            for (e, truth) in [
                (all(&items, 6), inter),
                (any(&items, 6), union),
                (at_least(&items, 2, 6), two),
            ] {
                assert!(e.min <= truth && truth <= e.max, "{sets:?}: {e:?} vs {truth}");
            }
        }
    }
}
