//! Payload field indexes of a sealed segment: for each declared field (keyword, numeric, bool,
//! datetime, full-text words, geo points), its values mapped to the offsets holding them, so the planner knows a filter's cardinality exactly and an exact scan
//! visits only the candidates instead of checking every payload.
//!
//! An index answers with a superset of the matching offsets (numbers are compared as f64, array
//! elements count one by one, deleted offsets stay until the segment is rebuilt); every candidate
//! is still checked against the whole filter, so an index never changes an answer, only its cost.
//! Payload edits of an indexed segment update the index in place.

use std::collections::HashMap;

use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, GeoPoint, JsonPath, Match, Payload, Range,
    ValueVariant, WordMode,
};
use serde_json::Value;

use crate::geo_index::GeoIndex;
use crate::value_graph::GroupKey;

/// What a field index holds (from the declared `field_schema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FieldKind {
    /// Strings compared exactly (`keyword`, `uuid`).
    Keyword,
    /// Numbers (`integer`, `float`).
    Numeric,
    Bool,
    /// RFC 3339 strings (and the other forms Qdrant accepts), as microseconds since the epoch.
    Datetime,
    /// Strings split into lowercase words (`text`): word -> offsets.
    Text,
    /// `{"lat", "lon"}` points, by latitude.
    Geo,
}

impl FieldKind {
    /// The kind for a Qdrant `field_schema` type name; `None` for an unknown one.
    pub fn from_schema(data_type: &str) -> Option<FieldKind> {
        match data_type {
            "keyword" | "uuid" => Some(FieldKind::Keyword),
            "integer" | "float" => Some(FieldKind::Numeric),
            "bool" => Some(FieldKind::Bool),
            "datetime" => Some(FieldKind::Datetime),
            "text" => Some(FieldKind::Text),
            "geo" => Some(FieldKind::Geo),
            _ => None,
        }
    }
}

/// One indexed entry of a payload value.
enum Entry {
    Key(String),
    Number(f64),
    Bool(bool),
    Geo(GeoPoint),
}

/// One field's values -> offsets.
#[derive(Debug, Clone, Default)]
pub struct FieldIndex {
    kind: Option<FieldKind>,
    keywords: HashMap<String, Vec<u32>>,
    /// (value, offset), sorted.
    numbers: Vec<(f64, u32)>,
    bools: [Vec<u32>; 2],
    geo: GeoIndex,
    /// Some offset holds several numbers: an entry count is then only an upper bound on points.
    multi_number: bool,
}

fn scalars<'a>(path: &JsonPath, payload: &'a Payload) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for v in path.values(payload) {
        match v {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        }
    }
    out
}

impl FieldIndex {
    /// Indexes `payloads[offset]` for every offset in `live`.
    pub fn build<'a>(
        kind: FieldKind,
        path: &JsonPath,
        payloads: impl Iterator<Item = (u32, &'a Payload)>,
    ) -> Self {
        let mut idx = FieldIndex {
            kind: Some(kind),
            ..FieldIndex::default()
        };
        for (offset, payload) in payloads {
            idx.add(path, offset, payload, false);
        }
        idx.numbers
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        idx.geo.finish();
        idx
    }

    /// Adds `offset` under each indexed value of `payload`. Appends during a build (offsets come
    /// in order; the numbers are sorted once at the end); `sorted` keeps every list in order for
    /// an edit of a built index.
    fn add(&mut self, path: &JsonPath, offset: u32, payload: &Payload, sorted: bool) {
        let insert = |list: &mut Vec<u32>| match list.binary_search(&offset) {
            Ok(_) => {}
            Err(i) if sorted => list.insert(i, offset),
            Err(_) => list.push(offset),
        };
        let entries = self.entries_of(path, payload);
        if entries.iter().filter(|e| matches!(e, Entry::Number(_))).count() > 1 {
            self.multi_number = true;
        }
        for e in entries {
            match e {
                Entry::Key(s) => insert(self.keywords.entry(s).or_default()),
                Entry::Bool(b) => insert(&mut self.bools[usize::from(b)]),
                Entry::Geo(p) => self.geo.add(offset, p, sorted),
                Entry::Number(x) => {
                    let entry = (x, offset);
                    let at = if sorted {
                        self.number_position(entry)
                    } else {
                        self.numbers.len()
                    };
                    self.numbers.insert(at, entry);
                }
            }
        }
    }

    /// The entries of `payload` this index holds, by its kind (each once per offset).
    fn entries_of(&self, path: &JsonPath, payload: &Payload) -> Vec<Entry> {
        let mut out = Vec::new();
        for v in self.values_of(path, payload) {
            match (self.kind, v) {
                (Some(FieldKind::Keyword), Value::String(s)) => out.push(Entry::Key(s.clone())),
                (Some(FieldKind::Numeric), Value::Number(n)) => out.extend(n.as_f64().map(Entry::Number)),
                (Some(FieldKind::Bool), Value::Bool(b)) => out.push(Entry::Bool(*b)),
                (Some(FieldKind::Geo), v) => out.extend(crate::filter::geo_point(v).map(Entry::Geo)),
                (Some(FieldKind::Datetime), Value::String(s)) => {
                    out.extend(crate::filter::parse_datetime(s).map(|m| Entry::Number(m as f64)))
                }
                (Some(FieldKind::Text), Value::String(s)) => {
                    let mut words = crate::filter::tokenize(s);
                    words.sort();
                    words.dedup();
                    out.extend(words.into_iter().map(Entry::Key));
                }
                _ => {}
            }
        }
        out
    }

    /// Where `entry` sits (or would sit) in the sorted `numbers`.
    fn number_position(&self, entry: (f64, u32)) -> usize {
        self.numbers
            .partition_point(|e| e.0.total_cmp(&entry.0).then(e.1.cmp(&entry.1)).is_lt())
    }

    /// Replaces what the index knows of `offset` (its payload went from `old` to `new`): only the
    /// lists of the old and new values are touched.
    pub fn update(&mut self, path: &JsonPath, offset: u32, old: &Payload, new: &Payload) {
        for e in self.entries_of(path, old) {
            let list = match e {
                Entry::Key(s) => self.keywords.get_mut(&s),
                Entry::Bool(b) => Some(&mut self.bools[usize::from(b)]),
                Entry::Geo(p) => {
                    self.geo.remove(offset, p);
                    None
                }
                Entry::Number(x) => {
                    let at = self.number_position((x, offset));
                    if self.numbers.get(at).is_some_and(|e| e.1 == offset) {
                        self.numbers.remove(at);
                    }
                    None
                }
            };
            if let Some(list) = list {
                if let Ok(i) = list.binary_search(&offset) {
                    list.remove(i);
                }
            }
        }
        self.add(path, offset, new, true);
    }

    /// The values of `payload` this index holds (strings, numbers or bools, by its kind).
    fn values_of<'a>(&self, path: &JsonPath, payload: &'a Payload) -> Vec<&'a Value> {
        scalars(path, payload)
            .into_iter()
            .filter(|v| {
                matches!(
                    (self.kind, v),
                    (
                        Some(FieldKind::Keyword | FieldKind::Datetime | FieldKind::Text),
                        Value::String(_)
                    ) | (Some(FieldKind::Numeric), Value::Number(_))
                        | (Some(FieldKind::Bool), Value::Bool(_))
                        | (Some(FieldKind::Geo), Value::Object(_))
                )
            })
            .collect()
    }

    /// Offsets that may pass `predicate`, sorted; `None` when this index cannot narrow it.
    fn candidates(&self, predicate: &FieldPredicate) -> Option<Vec<u32>> {
        let from_values = |vs: &[ValueVariant]| -> Option<Vec<u32>> {
            let mut out = Vec::new();
            for v in vs {
                match (self.kind, v) {
                    (Some(FieldKind::Keyword), ValueVariant::Keyword(s)) => {
                        out.extend(self.keywords.get(s).into_iter().flatten())
                    }
                    (Some(FieldKind::Numeric), ValueVariant::Integer(i)) => out.extend(self.range(&Range {
                        gte: Some(*i as f64),
                        lte: Some(*i as f64),
                        ..Range::default()
                    })),
                    (Some(FieldKind::Bool), ValueVariant::Bool(b)) => {
                        out.extend(&self.bools[usize::from(*b)])
                    }
                    _ => return None,
                }
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        };
        let words = |q: &str| -> Vec<Vec<u32>> {
            crate::filter::tokenize(q)
                .iter()
                .map(|w| self.keywords.get(w).cloned().unwrap_or_default())
                .collect()
        };
        if self.kind == Some(FieldKind::Geo) {
            return self.geo.candidates(predicate);
        }
        if self.kind == Some(FieldKind::Text) {
            return match predicate {
                // Every word (or the phrase's words) must be there: intersect their lists. A
                // query without words matches nothing.
                FieldPredicate::Match(Match::Text(q) | Match::Phrase(q)) => {
                    let lists = words(q);
                    let mut it = lists.into_iter();
                    let first = it.next().unwrap_or_default();
                    Some(it.fold(first, |acc, l| intersect(&acc, &l)))
                }
                FieldPredicate::Match(Match::TextAny(q)) => Some(union(words(q))),
                // The index holds lowercase words of every length: the query's words under the
                // field's rules, lowercased, narrow to a superset of the matches.
                FieldPredicate::Match(Match::Words(q)) => {
                    let lists: Vec<Vec<u32>> = crate::filter::tokenize_with(&q.text, &q.rules)
                        .iter()
                        .map(|w| self.keywords.get(&w.to_lowercase()).cloned().unwrap_or_default())
                        .collect();
                    Some(match q.mode {
                        WordMode::Any => union(lists),
                        WordMode::All | WordMode::Phrase => {
                            let mut it = lists.into_iter();
                            let first = it.next().unwrap_or_default();
                            it.fold(first, |acc, l| intersect(&acc, &l))
                        }
                    })
                }
                _ => None,
            };
        }
        match predicate {
            FieldPredicate::Match(Match::Value(v)) if self.kind != Some(FieldKind::Datetime) => {
                from_values(std::slice::from_ref(v))
            }
            FieldPredicate::Match(Match::Any(vs)) if self.kind != Some(FieldKind::Datetime) => {
                from_values(vs)
            }
            FieldPredicate::DatetimeRange(r) if self.kind == Some(FieldKind::Datetime) => {
                let mut out = self.range(r);
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            FieldPredicate::Range(r) if self.kind == Some(FieldKind::Numeric) => {
                let mut out = self.range(r);
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            _ => None,
        }
    }

    /// Bounds on how many offsets pass `predicate` (deleted ones included), from list lengths
    /// alone, without building the list; `None` when this index cannot tell.
    pub(crate) fn count_bounds(&self, predicate: &FieldPredicate) -> Option<(usize, usize)> {
        let key_len = |k: &str| self.keywords.get(k).map_or(0, Vec::len);
        let numbers = |r: &Range| {
            let (lo, hi) = self.range_bounds(r);
            let entries = hi - lo;
            Some((
                if self.multi_number {
                    entries.min(1)
                } else {
                    entries
                },
                entries,
            ))
        };
        // Lists of words or values, all of which (or any of which) must be present.
        let all_of = |lens: Vec<usize>| (0, lens.into_iter().min().unwrap_or(0));
        let any_of = |lens: Vec<usize>| {
            let most = lens.iter().copied().max().unwrap_or(0);
            (most, lens.iter().sum())
        };
        let words =
            |q: &str| -> Vec<usize> { crate::filter::tokenize(q).iter().map(|w| key_len(w)).collect() };
        match (self.kind?, predicate) {
            (FieldKind::Geo, p) => self.geo.candidates(p).map(|c| (0, c.len())),
            (FieldKind::Text, FieldPredicate::Match(Match::Text(q) | Match::Phrase(q))) => {
                Some(all_of(words(q)))
            }
            (FieldKind::Text, FieldPredicate::Match(Match::TextAny(q))) => Some(any_of(words(q))),
            (FieldKind::Text, _) => None,
            (FieldKind::Keyword, FieldPredicate::Match(Match::Value(ValueVariant::Keyword(k)))) => {
                Some((key_len(k), key_len(k)))
            }
            (FieldKind::Keyword, FieldPredicate::Match(Match::Any(vs))) => Some(any_of(
                vs.iter()
                    .map(|v| match v {
                        ValueVariant::Keyword(k) => key_len(k),
                        _ => 0,
                    })
                    .collect(),
            )),
            (FieldKind::Bool, FieldPredicate::Match(Match::Value(ValueVariant::Bool(b)))) => {
                let n = self.bools[usize::from(*b)].len();
                Some((n, n))
            }
            // An integer match never matches a float payload (5.0), which the index holds as
            // the same number: only an upper bound.
            (FieldKind::Numeric, FieldPredicate::Match(Match::Value(ValueVariant::Integer(i)))) => {
                numbers(&Range {
                    gte: Some(*i as f64),
                    lte: Some(*i as f64),
                    ..Range::default()
                })
                .map(|(_, max)| (0, max))
            }
            (FieldKind::Numeric, FieldPredicate::Range(r)) => {
                numbers(r).map(|(min, max)| (if exact_range(r) { min } else { 0 }, max))
            }
            (FieldKind::Datetime, FieldPredicate::DatetimeRange(r)) => numbers(r),
            _ => None,
        }
    }

    /// The distinct numbers inside `r` (one jump per value, so it is cheap for integer fields
    /// with few values).
    pub(crate) fn distinct_numbers(&self, r: &Range) -> Vec<f64> {
        let (lo, hi) = self.range_bounds(r);
        let mut out = Vec::new();
        let mut i = lo;
        while i < hi {
            let x = self.numbers[i].0;
            out.push(x);
            i = self
                .numbers
                .partition_point(|(v, _)| v.total_cmp(&x).is_le())
                .max(i + 1);
        }
        out
    }

    /// Each value held by at least `min` offsets, with its offsets (sorted); the groups of a
    /// value graph.
    pub(crate) fn groups(&self, min: usize) -> Vec<(GroupKey, Vec<u32>)> {
        // Words and instants are not values a filter selects whole.
        if matches!(
            self.kind,
            Some(FieldKind::Text | FieldKind::Datetime | FieldKind::Geo) | None
        ) {
            return Vec::new();
        }
        let min = min.max(1);
        let mut out: Vec<(GroupKey, Vec<u32>)> = Vec::new();
        let mut keywords: Vec<(&String, &Vec<u32>)> =
            self.keywords.iter().filter(|(_, l)| l.len() >= min).collect();
        keywords.sort();
        out.extend(
            keywords
                .into_iter()
                .map(|(k, l)| (GroupKey::Keyword(k.clone()), l.clone())),
        );
        for chunk in self.numbers.chunk_by(|a, b| a.0 == b.0) {
            if chunk.len() >= min {
                let mut list: Vec<u32> = chunk.iter().map(|(_, o)| *o).collect();
                list.dedup();
                out.push((GroupKey::Number(chunk[0].0), list));
            }
        }
        for (b, list) in self.bools.iter().enumerate() {
            if list.len() >= min {
                out.push((GroupKey::Bool(b == 1), list.clone()));
            }
        }
        out
    }

    /// The numbers cut into at most `2^depth` contiguous spans of values, each cut where the
    /// point counts on both sides balance best (a value is never split): the groups of one level
    /// of a range graph, so that a `range` filter selecting a recent third of the years walks a
    /// graph built over exactly those points.
    pub(crate) fn spans(&self, depth: u32) -> Vec<(GroupKey, Vec<u32>)> {
        if self.kind != Some(FieldKind::Numeric) || self.numbers.is_empty() {
            return Vec::new();
        }
        // (value, first index in `numbers`), one per distinct value, plus the end.
        let mut starts: Vec<(f64, usize)> = Vec::new();
        for (i, (v, _)) in self.numbers.iter().enumerate() {
            if starts.last().is_none_or(|(last, _)| last.total_cmp(v).is_ne()) {
                starts.push((*v, i));
            }
        }
        let distinct = starts.len();
        starts.push((f64::NAN, self.numbers.len()));
        let mut cuts = vec![(0usize, distinct)];
        for _ in 0..depth {
            let mut next = Vec::with_capacity(cuts.len() * 2);
            for (a, b) in cuts {
                if b - a < 2 {
                    next.push((a, b));
                    continue;
                }
                let (lo, hi) = (starts[a].1, starts[b].1);
                let half = (lo + hi) / 2;
                // The value boundary in (a, b) nearest to half of the points.
                let s = (a + 1..b)
                    .min_by_key(|&s| starts[s].1.abs_diff(half))
                    .unwrap_or(a + 1);
                next.push((a, s));
                next.push((s, b));
            }
            cuts = next;
        }
        cuts.into_iter()
            .map(|(a, b)| {
                let mut list: Vec<u32> = self.numbers[starts[a].1..starts[b].1]
                    .iter()
                    .map(|(_, o)| *o)
                    .collect();
                list.sort_unstable();
                list.dedup();
                (GroupKey::Span(starts[a].0, starts[b - 1].0), list)
            })
            .collect()
    }

    /// How many distinct numbers the index holds.
    pub(crate) fn distinct_count(&self) -> usize {
        self.numbers.chunk_by(|a, b| a.0 == b.0).count()
    }

    /// The smallest and largest number inside `r` and how many (value, point) entries are
    /// inside; `None` when none is.
    pub(crate) fn range_extent(&self, r: &Range) -> Option<(f64, f64, usize)> {
        let (lo, hi) = self.range_bounds(r);
        (hi > lo).then(|| (self.numbers[lo].0, self.numbers[hi - 1].0, hi - lo))
    }

    /// How many (value, point) entries have a value in `lo..=hi`.
    pub(crate) fn count_between(&self, lo: f64, hi: f64) -> usize {
        let a = self.numbers.partition_point(|(x, _)| *x < lo);
        let b = self.numbers.partition_point(|(x, _)| *x <= hi);
        b.saturating_sub(a)
    }

    /// The group keys of the values of `payload` this index holds.
    pub(crate) fn keys_of(&self, path: &JsonPath, payload: &Payload) -> Vec<GroupKey> {
        self.values_of(path, payload)
            .into_iter()
            .filter_map(GroupKey::of)
            .collect()
    }

    fn range_bounds(&self, r: &Range) -> (usize, usize) {
        // Both bounds of a side may be given (`gte` and `gt`): the tighter one wins.
        let lo = self
            .numbers
            .partition_point(|(x, _)| r.gte.is_some_and(|g| *x < g) || r.gt.is_some_and(|g| *x <= g));
        let hi = self
            .numbers
            .partition_point(|(x, _)| r.lte.is_none_or(|l| *x <= l) && r.lt.is_none_or(|l| *x < l));
        (lo, hi.max(lo))
    }

    fn range(&self, r: &Range) -> Vec<u32> {
        let (lo, hi) = self.range_bounds(r);
        self.numbers
            .get(lo..hi)
            .unwrap_or_default()
            .iter()
            .map(|(_, o)| *o)
            .collect()
    }
}

/// The field indexes of a segment, one per declared field path.
#[derive(Debug, Clone, Default)]
pub struct FieldIndexes {
    pub fields: Vec<(JsonPath, FieldIndex)>,
}

impl FieldIndexes {
    /// Offsets that may pass `filter` (sorted, a superset of the matches), from the indexed
    /// `must` conditions; `None` when no index narrows the filter.
    pub fn candidates(&self, filter: &Filter) -> Option<Vec<u32>> {
        let mut best: Option<Vec<u32>> = None;
        for c in &filter.must {
            let Condition::Field(fc) = c else { continue };
            let Some((_, idx)) = self.fields.iter().find(|(p, _)| *p == fc.key) else {
                continue;
            };
            for p in &fc.predicates {
                if let Some(set) = idx.candidates(p) {
                    best = Some(match best {
                        None => set,
                        Some(prev) => intersect(&prev, &set),
                    });
                }
            }
        }
        best
    }

    /// Whether the candidates are exactly the matches of `filter` (every condition is a `must` on
    /// an indexed field whose index answers it exactly), so they need no payload check.
    pub fn answers_exactly(&self, filter: &Filter) -> bool {
        if !filter.should.is_empty() || !filter.must_not.is_empty() || filter.min_should.is_some() {
            return false;
        }
        !filter.must.is_empty()
            && filter.must.iter().all(|c| {
                let Condition::Field(fc) = c else { return false };
                let Some((_, idx)) = self.fields.iter().find(|(p, _)| *p == fc.key) else {
                    return false;
                };
                fc.predicates.iter().all(|p| {
                    matches!(
                        (idx.kind, p),
                        (
                            Some(FieldKind::Keyword),
                            FieldPredicate::Match(Match::Value(ValueVariant::Keyword(_)))
                        ) | (
                            Some(FieldKind::Bool),
                            FieldPredicate::Match(Match::Value(ValueVariant::Bool(_)))
                        )
                    ) || matches!((idx.kind, p), (Some(FieldKind::Numeric), FieldPredicate::Range(r)) if exact_range(r))
                })
            })
    }

    /// Bounds on how many offsets pass `condition` (deleted ones included): every predicate
    /// must hold; `None` when no index of its field tells.
    pub fn count_bounds(&self, condition: &FieldCondition) -> Option<(usize, usize)> {
        let (_, idx) = self.fields.iter().find(|(p, _)| *p == condition.key)?;
        let each: Vec<(usize, usize)> = condition
            .predicates
            .iter()
            .filter_map(|p| idx.count_bounds(p))
            .collect();
        if each.is_empty() {
            return None;
        }
        // Predicates no index answers only narrow further: the smallest upper bound holds; the
        // lower bound holds only when every predicate was answered and there is one.
        let max = each.iter().map(|b| b.1).min().unwrap_or(0);
        let min = if each.len() == 1 && condition.predicates.len() == 1 {
            each[0].0
        } else {
            0
        };
        Some((min, max))
    }

    /// Tells every index that `offset`'s payload changed from `old` to `new`.
    pub fn update(&mut self, offset: u32, old: &Payload, new: &Payload) {
        for (path, idx) in self.fields.iter_mut() {
            idx.update(path, offset, old, new);
        }
    }
}

/// Whether the index answers `r` exactly: it holds numbers as f64, so an integer payload past
/// 2^53 is rounded; against bounds inside +-2^53 a rounded value still falls on the same side,
/// against larger bounds it may not.
fn exact_range(r: &Range) -> bool {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    [r.lt, r.gt, r.lte, r.gte]
        .into_iter()
        .flatten()
        .all(|b| b.is_finite() && b.abs() < EXACT)
}

fn union(lists: Vec<Vec<u32>>) -> Vec<u32> {
    let mut out: Vec<u32> = lists.into_iter().flatten().collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: serde_json::Value) -> Payload {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn keyword_numeric_bool_candidates_and_updates() {
        let path = |s: &str| JsonPath::parse(s).unwrap();
        let payloads = [
            p(json!({"t": "a", "n": 1, "b": true})),
            p(json!({"t": ["a", "b"], "n": 2.5, "b": false})),
            p(json!({"t": "c", "n": [7, 9]})),
            p(json!({})),
        ];
        let build = |kind, key: &str| {
            FieldIndex::build(
                kind,
                &path(key),
                payloads.iter().enumerate().map(|(i, p)| (i as u32, p)),
            )
        };
        let mut idx = FieldIndexes::default();
        idx.fields.push((path("t"), build(FieldKind::Keyword, "t")));
        idx.fields.push((path("n"), build(FieldKind::Numeric, "n")));
        idx.fields.push((path("b"), build(FieldKind::Bool, "b")));
        let field = |key: &str, pred: FieldPredicate| Filter {
            must: vec![Condition::Field(quiver_types::FieldCondition {
                key: path(key),
                predicates: vec![pred],
            })],
            ..Filter::default()
        };
        let kw = |s: &str| FieldPredicate::Match(Match::Value(ValueVariant::Keyword(s.into())));
        assert_eq!(idx.candidates(&field("t", kw("a"))), Some(vec![0, 1]));
        let range = |gte: f64, lt: f64| {
            FieldPredicate::Range(Range {
                gte: Some(gte),
                lt: Some(lt),
                ..Range::default()
            })
        };
        assert_eq!(idx.candidates(&field("n", range(2.0, 8.0))), Some(vec![1, 2]));
        let t = FieldPredicate::Match(Match::Value(ValueVariant::Bool(true)));
        assert_eq!(idx.candidates(&field("b", t.clone())), Some(vec![0]));
        // Two indexed conditions intersect; an unindexed field does not narrow.
        let mut both = field("t", kw("a"));
        both.must.extend(field("n", range(2.0, 3.0)).must);
        assert_eq!(idx.candidates(&both), Some(vec![1]));
        assert_eq!(idx.candidates(&field("zz", kw("a"))), None);
        // Updates move an offset between values.
        idx.update(0, &payloads[0], &p(json!({"t": "c", "n": 8, "b": false})));
        assert_eq!(idx.candidates(&field("t", kw("a"))), Some(vec![1]));
        assert_eq!(idx.candidates(&field("t", kw("c"))), Some(vec![0, 2]));
        assert_eq!(idx.candidates(&field("n", range(2.0, 8.5))), Some(vec![0, 1, 2]));
        assert_eq!(idx.candidates(&field("b", t)), Some(vec![]));
    }

    #[test]
    fn datetime_and_text_candidates() {
        let path = |s: &str| JsonPath::parse(s).unwrap();
        let payloads = [
            p(json!({"d": "2024-02-01T00:00:00Z", "t": "Quick brown fox"})),
            p(json!({"d": "2024-02-03 12:00:00", "t": ["lazy dog", "fox"]})),
            p(json!({"d": "nonsense", "t": "quick-dog"})),
        ];
        let build = |kind, key: &str| {
            FieldIndex::build(
                kind,
                &path(key),
                payloads.iter().enumerate().map(|(i, p)| (i as u32, p)),
            )
        };
        let d = build(FieldKind::Datetime, "d");
        let feb2 = 1_706_832_000_000_000f64; // 2024-02-02T00:00:00Z
        let after = FieldPredicate::DatetimeRange(Range {
            gte: Some(feb2),
            ..Range::default()
        });
        assert_eq!(d.candidates(&after), Some(vec![1]));
        let t = build(FieldKind::Text, "t");
        let text = |q: &str| t.candidates(&FieldPredicate::Match(Match::Text(q.into())));
        assert_eq!(text("QUICK"), Some(vec![0, 2]));
        assert_eq!(text("quick fox"), Some(vec![0]));
        assert_eq!(text("?!"), Some(vec![]), "a query without words matches nothing");
        let any = t.candidates(&FieldPredicate::Match(Match::TextAny("dog brown".into())));
        assert_eq!(any, Some(vec![0, 1, 2]));
        // A keyword match on a text field is not narrowed (it compares whole strings).
        let kw = FieldPredicate::Match(Match::Value(ValueVariant::Keyword("fox".into())));
        assert_eq!(t.candidates(&kw), None);
    }
}
