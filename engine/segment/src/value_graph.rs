//! Filterable HNSW (Qdrant's `payload_m`): for an indexed keyword, integer or bool field, one
//! graph per dense vector whose links join only points sharing a value, one group per value held
//! by enough points to be worth a traversal (fewer are scanned exactly anyway).
//!
//! A filter whose `must` condition selects whole groups (`match` on values with a group, or a
//! `range` whose every value has one) is answered by a traversal of that graph started from the
//! selected groups' entries: it meets only matching points, so it does less work than the full
//! graph even when a third of the points match, and it cannot get stuck among rejected ones.
//!
//! A numeric field also gets range graphs: levels of 2 and 4 contiguous spans of values
//! (cut where the point counts balance, [`crate::field_index::FieldIndex::spans`]), each a group.
//! A `range` whose matches are exactly some spans of a level walks those; otherwise a single span
//! holding every match, when at least half its points match, is walked with the filter checked
//! ("containing" cover). Either beats a beam shared by several disjoint value groups, whose
//! entries each start far below the threshold the others set.
//!
//! The graph is built with the segment's index and kept as built. A payload edit that gives a
//! point a value marks that value's group as `grown` (the point is missing from its links), and a
//! grown group is never used to cover a filter again; points that lose a value stay linked and
//! are rejected by the filter check. The next rebuild of the segment starts afresh.

use std::sync::Arc;

use quiver_hnsw::Graph;
use quiver_types::{Condition, FieldPredicate, Filter, JsonPath, Match, Range, ValueVariant};
use serde_json::Value;

use crate::field_index::{FieldIndex, FieldIndexes};

/// The value a group of points shares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GroupKey {
    Keyword(String),
    Number(f64),
    Bool(bool),
    /// Every number in `lo..=hi` (a group of a range graph).
    Span(f64, f64),
}

impl GroupKey {
    /// The key of one payload value, if it can have a group.
    pub fn of(v: &Value) -> Option<GroupKey> {
        match v {
            Value::String(s) => Some(GroupKey::Keyword(s.clone())),
            Value::Number(n) => n.as_f64().map(GroupKey::Number),
            Value::Bool(b) => Some(GroupKey::Bool(*b)),
            _ => None,
        }
    }

    /// Whether a point with value `k` belongs to this group.
    fn holds(&self, k: &GroupKey) -> bool {
        match (self, k) {
            (GroupKey::Span(lo, hi), GroupKey::Number(x)) => lo <= x && x <= hi,
            _ => self == k,
        }
    }
}

/// One group of a value graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    pub key: GroupKey,
    /// Points linked in the group.
    pub size: u32,
    /// Where a traversal of the group starts (node, level).
    pub entry: Option<(u32, u32)>,
    /// A point gained this value after the build, so the group no longer holds all its points.
    pub grown: bool,
}

/// The value graph of one (dense vector, payload field) pair.
#[derive(Debug, Clone)]
pub struct ValueGraph {
    pub vector: String,
    pub field: JsonPath,
    pub groups: Vec<Group>,
    pub graph: Arc<Graph>,
    /// For each offset, the group its current value belongs to ([`NO_GROUP`], or [`MANY_GROUPS`]
    /// for a point with several grouped values): the filter check of a traversal that selected
    /// whole groups, without reading payloads. Derived from payloads, kept up to date on edits.
    pub member: Vec<u32>,
    /// `member` as it was when the graph was built (persisted): a value-graph link may be
    /// followed through a point that has left its group since, which keeps the group connected.
    pub built: Vec<u32>,
}

/// `member` of a point whose values have no group.
pub const NO_GROUP: u32 = u32::MAX;
/// `member` of a point with values in several groups (its payload is checked instead).
pub const MANY_GROUPS: u32 = u32::MAX - 1;

/// What a value graph needs to answer a filter: which graph and the entries of its groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    /// Index into the segment's value graphs.
    pub graph: usize,
    pub entries: Vec<(u32, usize)>,
    /// Points the filter condition selects (exact for an exact cover, else the field index's
    /// count).
    pub points: usize,
    /// The selected groups (indexes into the value graph's groups).
    pub groups: Vec<u32>,
    /// The selected groups hold exactly the points passing the condition; otherwise they hold
    /// every passing point and more, and the walk checks the filter.
    pub exact: bool,
    /// Points in the selected groups.
    walked: usize,
}

impl Cover {
    /// A comparable measure of the walk's work: the points it wanders among, half again for
    /// each further group (a beam shared by disjoint groups wastes effort on each entry).
    fn work(&self) -> f64 {
        self.walked as f64 * (1.0 + 0.5 * self.groups.len().saturating_sub(1) as f64)
    }
}

/// A containing cover is walked only when this share of its points match.
const CONTAINING_MIN_SHARE: f64 = 0.5;

impl ValueGraph {
    /// The groups whose union is exactly the points passing `predicate` (given the field index's
    /// current values of the field), or `None` when some passing point has no intact group.
    fn cover(&self, predicate: &FieldPredicate, fields: &FieldIndexes) -> Option<Vec<(u32, &Group)>> {
        let keys: Vec<GroupKey> = match predicate {
            FieldPredicate::Match(Match::Value(v)) => vec![key_of_variant(v)?],
            FieldPredicate::Match(Match::Any(vs)) => vs.iter().map(key_of_variant).collect::<Option<_>>()?,
            FieldPredicate::Range(r) => numbers_in(fields, &self.field, r)?
                .into_iter()
                .map(GroupKey::Number)
                .collect(),
            _ => return None,
        };
        keys.iter().map(|k| self.intact_at(k)).collect()
    }

    /// The intact group of `key` with its index.
    fn intact_at(&self, key: &GroupKey) -> Option<(u32, &Group)> {
        self.groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.key == *key && !g.grown)
            .map(|(i, g)| (i as u32, g))
    }

    /// This graph's cover of one predicate of its field.
    fn cover_of(&self, gi: usize, predicate: &FieldPredicate, fields: &FieldIndexes) -> Option<Cover> {
        if self.is_spans() {
            let FieldPredicate::Range(r) = predicate else {
                return None;
            };
            let idx = field_index(fields, &self.field)?;
            let (groups, points, exact) = self.span_cover(r, idx)?;
            let walked = groups
                .iter()
                .filter_map(|&g| self.groups.get(g as usize))
                .map(|g| g.size as usize)
                .sum();
            return Some(self.cover_from(gi, groups, points, exact, walked));
        }
        let groups = self.cover(predicate, fields)?;
        let points = groups.iter().map(|(_, g)| g.size as usize).sum();
        let groups = groups.iter().map(|(i, _)| *i).collect();
        Some(self.cover_from(gi, groups, points, true, points))
    }

    fn cover_from(&self, gi: usize, groups: Vec<u32>, points: usize, exact: bool, walked: usize) -> Cover {
        Cover {
            graph: gi,
            entries: groups
                .iter()
                .filter_map(|&g| self.groups.get(g as usize)?.entry)
                .map(|(n, l)| (n, l as usize))
                .collect(),
            points,
            groups,
            exact,
            walked,
        }
    }

    /// Records which group `offset`'s current values (`keys`) belong to.
    pub fn assign(&mut self, offset: u32, keys: &[GroupKey]) {
        let mut found = keys
            .iter()
            .filter_map(|k| self.groups.iter().position(|g| g.key.holds(k)));
        let first = found.next();
        let m = match (first, found.find(|g| Some(*g) != first)) {
            (None, _) => NO_GROUP,
            (Some(g), None) => g as u32,
            (Some(_), Some(_)) => MANY_GROUPS,
        };
        let i = offset as usize;
        if self.member.len() <= i {
            self.member.resize(i + 1, NO_GROUP);
        }
        self.member[i] = m;
    }

    /// Marks the groups of values a point gained (`old` -> `new` payload values of the field).
    pub fn note_edit(&mut self, old: &[GroupKey], new: &[GroupKey]) {
        for g in self.groups.iter_mut() {
            if new.iter().any(|k| g.key.holds(k)) && !old.iter().any(|k| g.key.holds(k)) {
                g.grown = true;
            }
        }
    }

    /// Whether this is a range graph (its groups are spans).
    fn is_spans(&self) -> bool {
        self.groups.iter().any(|g| matches!(g.key, GroupKey::Span(..)))
    }

    /// The cover of `range` by this range graph's spans: exact when the spans inside the range
    /// hold all its matches, else the one span holding them all (see the module docs).
    fn span_cover(&self, r: &Range, idx: &FieldIndex) -> Option<(Vec<u32>, usize, bool)> {
        let (min, max, count) = idx.range_extent(r)?;
        let inside = |x: f64| r.contains(x);
        let intact = || self.groups.iter().enumerate().filter(|(_, g)| !g.grown);
        let spans: Vec<(u32, f64, f64)> = intact()
            .filter_map(|(i, g)| match g.key {
                GroupKey::Span(lo, hi) => Some((i as u32, lo, hi)),
                _ => None,
            })
            .collect();
        let within: Vec<&(u32, f64, f64)> = spans
            .iter()
            .filter(|(_, lo, hi)| inside(*lo) && inside(*hi))
            .collect();
        let held: usize = within.iter().map(|(_, lo, hi)| idx.count_between(*lo, *hi)).sum();
        if !within.is_empty() && held == count {
            return Some((within.iter().map(|(i, ..)| *i).collect(), count, true));
        }
        let (i, lo, hi) = spans.iter().find(|(_, lo, hi)| *lo <= min && max <= *hi)?;
        let size = idx.count_between(*lo, *hi);
        (count as f64 >= CONTAINING_MIN_SHARE * size as f64).then(|| (vec![*i], count, false))
    }
}

fn key_of_variant(v: &ValueVariant) -> Option<GroupKey> {
    match v {
        ValueVariant::Keyword(s) => Some(GroupKey::Keyword(s.clone())),
        ValueVariant::Integer(i) => Some(GroupKey::Number(*i as f64)),
        ValueVariant::Bool(b) => Some(GroupKey::Bool(*b)),
    }
}

/// The distinct numbers of `field` inside `r`, from its field index.
fn numbers_in(fields: &FieldIndexes, field: &JsonPath, r: &Range) -> Option<Vec<f64>> {
    field_index(fields, field).map(|idx| idx.distinct_numbers(r))
}

fn field_index<'a>(fields: &'a FieldIndexes, field: &JsonPath) -> Option<&'a FieldIndex> {
    fields.fields.iter().find(|(p, _)| p == field).map(|(_, idx)| idx)
}

/// The best cover of `filter` by one of `graphs` (of vector `vector`): over every `must`
/// condition and every graph of its field, the cover with the least walking.
pub fn best_cover(
    graphs: &[ValueGraph],
    vector: &str,
    filter: &Filter,
    fields: &FieldIndexes,
) -> Option<Cover> {
    let mut best: Option<Cover> = None;
    for c in &filter.must {
        let Condition::Field(fc) = c else { continue };
        let of_field = graphs
            .iter()
            .enumerate()
            .filter(|(_, g)| g.vector == vector && g.field == fc.key);
        for (gi, vg) in of_field {
            for p in &fc.predicates {
                let Some(cover) = vg.cover_of(gi, p, fields) else {
                    continue;
                };
                if best.as_ref().is_none_or(|b| cover.work() < b.work()) {
                    best = Some(cover);
                }
            }
        }
    }
    best
}
