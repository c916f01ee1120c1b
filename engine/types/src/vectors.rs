//! Vectors attached to a point: dense or sparse, by name. The unnamed vector of a single-vector
//! collection is stored under the empty name [`DEFAULT_VECTOR`].

use std::collections::BTreeMap;

/// The name under which a collection's single unnamed vector lives.
pub const DEFAULT_VECTOR: &str = "";

/// A sparse vector: strictly increasing indices and their values (kept sorted by the constructor of
/// the API layer so dot products are a merge).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Sorts by index and rejects duplicates or mismatched lengths.
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<SparseVector, String> {
        if indices.len() != values.len() {
            return Err(format!(
                "sparse vector has {} indices but {} values",
                indices.len(),
                values.len()
            ));
        }
        let mut pairs: Vec<(u32, f32)> = indices.into_iter().zip(values).collect();
        pairs.sort_by_key(|p| p.0);
        if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err("sparse vector has duplicate indices".to_string());
        }
        Ok(SparseVector {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        })
    }

    /// Dot product of two sorted sparse vectors.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

/// One vector value: dense floats or a sparse vector.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum VectorData {
    Dense(Vec<f32>),
    Sparse(SparseVector),
}

/// All vectors of one point, by name.
pub type NamedVectors = BTreeMap<String, VectorData>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_is_sorted_and_dot_merges() {
        let a = SparseVector::new(vec![5, 1], vec![2.0, 3.0]).unwrap();
        assert_eq!(a.indices, vec![1, 5]);
        let b = SparseVector::new(vec![1, 2, 5], vec![1.0, 9.0, 1.0]).unwrap();
        assert_eq!(a.dot(&b), 5.0);
        assert!(SparseVector::new(vec![1, 1], vec![1.0, 1.0]).is_err());
        assert!(SparseVector::new(vec![1], vec![]).is_err());
    }
}
