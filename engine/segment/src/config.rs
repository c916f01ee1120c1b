//! The shape of the vectors a segment stores.

use std::collections::BTreeMap;

use quiver_types::Distance;

/// One named vector space.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum VectorSpec {
    Dense { size: usize, distance: Distance },
    Sparse,
}

/// Every vector space of the collection, by name ("" for the unnamed vector).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SegmentConfig {
    pub vectors: BTreeMap<String, VectorSpec>,
}
