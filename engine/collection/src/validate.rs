//! Checks an update or a query against the collection's vector spaces before anything is logged, so
//! the log only ever holds operations that apply cleanly. Messages follow Qdrant's wording.

use quiver_segment::{SegmentConfig, VectorSpec};
use quiver_types::{NamedVectors, UpdateOperation, VectorData};

use crate::error::{CollectionError, Result};

fn wrong(msg: String) -> CollectionError {
    CollectionError::InvalidInput(format!("Wrong input: {msg}"))
}

/// Checks one vector against the space it is stored in.
pub fn check_vector(config: &SegmentConfig, name: &str, data: &VectorData) -> Result<()> {
    let spec = config
        .vectors
        .get(name)
        .ok_or_else(|| wrong(format!("Not existing vector name error: {name}")))?;
    match (spec, data) {
        (VectorSpec::Dense { size, .. }, VectorData::Dense(v)) => {
            if v.len() != *size {
                return Err(wrong(format!(
                    "Vector dimension error: expected dim: {size}, got {}",
                    v.len()
                )));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(wrong(format!(
                    "vector `{name}` has a non-finite value (NaN or infinity) at index {i}"
                )));
            }
        }
        (VectorSpec::Sparse, VectorData::Sparse(s)) => {
            if let Some(i) = s.values.iter().position(|x| !x.is_finite()) {
                return Err(wrong(format!(
                    "sparse vector `{name}` has a non-finite value at position {i}"
                )));
            }
        }
        (VectorSpec::Dense { .. }, VectorData::Sparse(_)) => {
            return Err(wrong(format!(
                "Conversion between sparse and regular vectors failed: vector `{name}` is dense"
            )))
        }
        (VectorSpec::Sparse, VectorData::Dense(_)) => {
            return Err(wrong(format!(
                "Conversion between sparse and regular vectors failed: vector `{name}` is sparse"
            )))
        }
    }
    Ok(())
}

fn check_named(config: &SegmentConfig, vectors: &NamedVectors) -> Result<()> {
    vectors
        .iter()
        .try_for_each(|(name, data)| check_vector(config, name, data))
}

/// Names the point an error is about, keeping Qdrant's wording in front (clients match on it).
fn at_point(i: usize, e: CollectionError) -> CollectionError {
    match e {
        CollectionError::InvalidInput(msg) => {
            CollectionError::InvalidInput(format!("{msg} (at points[{i}])"))
        }
        other => other,
    }
}

/// Checks every vector an operation writes and every vector name it names.
pub fn check_operation(config: &SegmentConfig, op: &UpdateOperation) -> Result<()> {
    match op {
        UpdateOperation::Upsert(points) => points
            .iter()
            .enumerate()
            .try_for_each(|(i, p)| check_named(config, &p.vectors).map_err(|e| at_point(i, e))),
        UpdateOperation::UpdateVectors(points) => points.iter().enumerate().try_for_each(|(i, (_, v))| {
            if v.is_empty() {
                return Err(at_point(i, wrong("update_vectors: no vectors given".into())));
            }
            check_named(config, v).map_err(|e| at_point(i, e))
        }),
        UpdateOperation::DeleteVectors { names, .. } => names.iter().try_for_each(|n| {
            if config.vectors.contains_key(n) {
                Ok(())
            } else {
                Err(wrong(format!("Not existing vector name error: {n}")))
            }
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::Distance;

    fn config() -> SegmentConfig {
        let mut c = SegmentConfig::default();
        c.vectors.insert(
            "a".into(),
            VectorSpec::Dense {
                size: 2,
                distance: Distance::Dot,
            },
        );
        c.vectors.insert("s".into(), VectorSpec::Sparse);
        c
    }

    #[test]
    fn names_size_nan_and_kind_are_checked() {
        let c = config();
        assert!(check_vector(&c, "a", &VectorData::Dense(vec![1.0, 2.0])).is_ok());
        let e = check_vector(&c, "a", &VectorData::Dense(vec![1.0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected dim: 2, got 1"), "{e}");
        let e = check_vector(&c, "b", &VectorData::Dense(vec![1.0, 2.0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Not existing vector name error: b"), "{e}");
        let e = check_vector(&c, "a", &VectorData::Dense(vec![f32::NAN, 2.0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-finite"), "{e}");
        assert!(check_vector(&c, "s", &VectorData::Dense(vec![1.0, 2.0])).is_err());
    }
}
