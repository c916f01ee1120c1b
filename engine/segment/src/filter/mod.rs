//! Evaluation of the filter tree ([`quiver_types::Filter`]) on one point, with Qdrant's semantics
//! (as its reference implementation, the Python client's local mode, spells them out).
//!
//! - [`check`] (in `check.rs`): combinators, conditions and the per-value rules.
//! - [`parse_datetime`] (in `datetime.rs`): datetime strings as Qdrant accepts them.
//! - `geo.rs`: geo points in payloads, haversine radius, bounding box, polygon with holes.
//! - [`tokenize`] (in `text.rs`): word matching for text and phrase conditions on unindexed fields.
//!
//! The evaluator is pure: no indexes, no I/O. A filter that needs an index to be fast is still
//! answered exactly here, point by point.

mod check;
mod datetime;
mod geo;
mod text;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference_cases;
#[cfg(test)]
mod tests;

use quiver_types::{Filter, Payload, PointId};

pub use datetime::parse_datetime;
pub use geo::{geo_point, haversine_m, EARTH_RADIUS_M};
pub use text::{tokenize, tokenize_with};

/// What the evaluator needs to know about one point.
pub trait PointView {
    fn id(&self) -> PointId;
    fn payload(&self) -> &Payload;
    /// Whether the point has a vector under `name` ("" for the unnamed vector).
    fn has_vector(&self, name: &str) -> bool;
}

/// Whether `point` satisfies `filter`. An empty filter matches every point.
pub fn check(filter: &Filter, point: &impl PointView) -> bool {
    check::filter_holds(
        filter,
        check::Subject {
            payload: point.payload(),
            point: Some(point),
        },
    )
}
