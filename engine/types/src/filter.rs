//! The filter tree: Qdrant's filter language as plain data. Evaluation lives in the segment crate;
//! parsing from the wire lives at the API edge.

use std::collections::BTreeSet;

use crate::{JsonPath, PointId};

/// A boolean combination of conditions. An empty filter matches everything.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// Every condition must hold.
    pub must: Vec<Condition>,
    /// At least one must hold (when non-empty).
    pub should: Vec<Condition>,
    /// None may hold.
    pub must_not: Vec<Condition>,
    /// At least `min_count` of `conditions` must hold.
    pub min_should: Option<MinShould>,
}

/// "At least N of these".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

/// One node of the filter tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Condition {
    Field(FieldCondition),
    /// The key is missing, null, or an empty array.
    IsEmpty(JsonPath),
    /// The key is present with the value null (or an array holding only... no: exactly null).
    IsNull(JsonPath),
    HasId(BTreeSet<PointId>),
    /// The point has a vector under this name ("" for the unnamed vector).
    HasVector(String),
    /// Each element of the array at `key` is tested as a whole object against `filter`.
    Nested {
        key: JsonPath,
        filter: Box<Filter>,
    },
    Filter(Box<Filter>),
}

/// Predicates on the values found at one key; all of them must hold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldCondition {
    pub key: JsonPath,
    pub predicates: Vec<FieldPredicate>,
}

/// A test on the values at a key. Arrays are flattened: a point matches when any value matches
/// (except `ValuesCount`, `IsEmpty`-style tests, which look at all values).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FieldPredicate {
    Match(Match),
    Range(Range),
    /// Bounds in microseconds since the Unix epoch (UTC); payload strings are parsed when checked.
    DatetimeRange(Range),
    GeoBoundingBox(GeoBoundingBox),
    GeoRadius(GeoRadius),
    GeoPolygon(GeoPolygon),
    ValuesCount(Range),
    IsEmpty(bool),
    IsNull(bool),
}

/// Match a value exactly, by set membership, or by text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Match {
    Value(ValueVariant),
    /// Full-text: every word of the query appears among the value's words (lower-cased,
    /// alphanumeric runs), as Qdrant's local reference evaluates it.
    Text(String),
    /// The query tokens appear in this order, adjacent.
    Phrase(String),
    /// Any token of the query appears.
    TextAny(String),
    Any(Vec<ValueVariant>),
    Except(Vec<ValueVariant>),
    /// A text match resolved against a field's full-text index settings (never parsed from a
    /// request: the collection rewrites `Text` / `TextAny` / `Phrase` on such fields into it).
    Words(WordQuery),
}

/// A text query with the tokenizer of the field it is matched on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordQuery {
    pub text: String,
    pub mode: WordMode,
    pub rules: TextRules,
}

/// How a [`WordQuery`]'s words must appear in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WordMode {
    /// Every word, in any order (`text`).
    All,
    /// At least one word (`text_any`).
    Any,
    /// The words consecutively and in order (`phrase`).
    Phrase,
}

/// How a text field is split into words: its full-text index's `lowercase`, `min_token_len` and
/// `max_token_len` (words outside the length bounds, counted in characters, are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TextRules {
    pub lowercase: bool,
    pub min_token_len: Option<usize>,
    pub max_token_len: Option<usize>,
}

impl Default for TextRules {
    fn default() -> Self {
        TextRules {
            lowercase: true,
            min_token_len: None,
            max_token_len: None,
        }
    }
}

/// A scalar a `Match` compares against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ValueVariant {
    Keyword(String),
    Integer(i64),
    Bool(bool),
}

/// Half-open or closed bounds; an absent bound is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub lt: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lte: Option<f64>,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        self.lt.is_none_or(|b| v < b)
            && self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lte.is_none_or(|b| v <= b)
    }
}

/// A point on the Earth in degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoBoundingBox {
    pub top_left: GeoPoint,
    pub bottom_right: GeoPoint,
}

/// A circle; `radius` in meters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoRadius {
    pub center: GeoPoint,
    pub radius: f64,
}

/// A polygon with optional holes; each ring is closed (first point equals last).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoPolygon {
    pub exterior: Vec<GeoPoint>,
    pub interiors: Vec<Vec<GeoPoint>>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.must.is_empty()
            && self.should.is_empty()
            && self.must_not.is_empty()
            && self.min_should.is_none()
    }

    /// A filter that holds for exactly these ids.
    pub fn has_ids(ids: impl IntoIterator<Item = PointId>) -> Filter {
        Filter {
            must: vec![Condition::HasId(ids.into_iter().collect())],
            ..Filter::default()
        }
    }
}
