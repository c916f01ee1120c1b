//! Filterable HNSW (Qdrant's `payload_m`): for an indexed keyword, integer or bool field, one
//! graph per dense vector whose links join only points sharing a value, one group per value held
//! by enough points to be worth a traversal (fewer are scanned exactly anyway).
//!
//! A filter whose `must` condition selects whole groups (`match` on values with a group, or a
//! `range` whose every value has one) is answered by a traversal of that graph started from the
//! selected groups' entries: it meets only matching points, so it does less work than the full
//! graph even when a third of the points match, and it cannot get stuck among rejected ones.
//!
//! The graph is built with the segment's index and kept as built. A payload edit that gives a
//! point a value marks that value's group as `grown` (the point is missing from its links), and a
//! grown group is never used to cover a filter again; points that lose a value stay linked and
//! are rejected by the filter check. The next rebuild of the segment starts afresh.

use std::sync::Arc;

use quiver_hnsw::Graph;
use quiver_types::{Condition, FieldPredicate, Filter, JsonPath, Match, Range, ValueVariant};
use serde_json::Value;

use crate::field_index::FieldIndexes;

/// The value a group of points shares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GroupKey {
    Keyword(String),
    Number(f64),
    Bool(bool),
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
    /// Points in the selected groups.
    pub points: usize,
    /// The selected groups (indexes into the value graph's groups).
    pub groups: Vec<u32>,
}

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

    /// Records which group `offset`'s current values (`keys`) belong to.
    pub fn assign(&mut self, offset: u32, keys: &[GroupKey]) {
        let mut found = keys
            .iter()
            .filter_map(|k| self.groups.iter().position(|g| g.key == *k));
        let m = match (found.next(), found.next()) {
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
        for k in new.iter().filter(|k| !old.contains(k)) {
            if let Some(g) = self.groups.iter_mut().find(|g| g.key == *k) {
                g.grown = true;
            }
        }
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
    fields
        .fields
        .iter()
        .find(|(p, _)| p == field)
        .map(|(_, idx)| idx.distinct_numbers(r))
}

/// The best cover of `filter` by one of `graphs` (of vector `vector`): the `must` condition
/// whose groups hold the fewest points.
pub fn best_cover(
    graphs: &[ValueGraph],
    vector: &str,
    filter: &Filter,
    fields: &FieldIndexes,
) -> Option<Cover> {
    let mut best: Option<Cover> = None;
    for c in &filter.must {
        let Condition::Field(fc) = c else { continue };
        let Some((gi, vg)) = graphs
            .iter()
            .enumerate()
            .find(|(_, g)| g.vector == vector && g.field == fc.key)
        else {
            continue;
        };
        for p in &fc.predicates {
            let Some(groups) = vg.cover(p, fields) else {
                continue;
            };
            let points = groups.iter().map(|(_, g)| g.size as usize).sum();
            if best.as_ref().is_some_and(|b| b.points <= points) {
                continue;
            }
            best = Some(Cover {
                graph: gi,
                entries: groups
                    .iter()
                    .filter_map(|(_, g)| g.entry.map(|(n, l)| (n, l as usize)))
                    .collect(),
                points,
                groups: groups.iter().map(|(i, _)| *i).collect(),
            });
        }
    }
    best
}
