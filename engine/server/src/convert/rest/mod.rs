//! REST JSON <-> engine conversions. Requests are read from `serde_json::Value` by hand so that every
//! error names the offending field (`points[3].vector: ...`), and unknown fields are ignored the way
//! Qdrant ignores them. Responses are built as JSON in Qdrant's shapes.

pub mod collections;
pub mod filter;
pub mod json;
pub mod output;
pub mod points;
pub mod query;
pub mod routing;
