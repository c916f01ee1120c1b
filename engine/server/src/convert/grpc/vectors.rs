//! Vectors on the wire: a point's `Vectors` (one unnamed `Vector` or a map of named ones), the query
//! `VectorInput`, the vector selector of reads and `VectorsOutput` in answers.
//!
//! A `Vector` comes in two encodings and both are read: the deprecated fields (`data`, plus
//! `indices` for a sparse vector and `vectors_count` for a multi-vector) and, since Qdrant 1.16, the
//! `vector` oneof (`dense`, `sparse`, ...), which wins when set. Answers carry both. Multi-dense
//! vectors and inference objects (documents, images) are refused: Quiver stores plain vectors.

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::vector::Vector as VectorOneOf;
use qdrant_client::qdrant::vector_input::Variant;
use qdrant_client::qdrant::vectors::VectorsOptions;
use qdrant_client::qdrant::vectors_output::VectorsOptions as OutputOptions;
use qdrant_client::qdrant::with_vectors_selector::SelectorOptions;
use quiver_types::{NamedVectors, SparseVector, VectorData, VectorInput, WithVector, DEFAULT_VECTOR};

use super::ids::point_id;
use super::{bad, join};
use crate::error::ApiResult;

const MULTI: &str = "multi-vectors are not supported yet";
const INFERENCE: &str = "inference objects (documents, images, objects) are not supported: send vectors";

fn sparse(indices: Vec<u32>, values: Vec<f32>, path: &str) -> ApiResult<SparseVector> {
    SparseVector::new(indices, values).map_err(|e| bad(path, e))
}

/// One vector value, in either encoding.
#[allow(deprecated)]
pub fn vector(v: &pb::Vector, path: &str) -> ApiResult<VectorData> {
    match &v.vector {
        Some(VectorOneOf::Dense(d)) => Ok(VectorData::Dense(d.data.clone())),
        Some(VectorOneOf::Sparse(s)) => Ok(VectorData::Sparse(sparse(
            s.indices.clone(),
            s.values.clone(),
            path,
        )?)),
        Some(VectorOneOf::MultiDense(_)) => Err(bad(path, MULTI)),
        Some(VectorOneOf::Document(_) | VectorOneOf::Image(_) | VectorOneOf::Object(_)) => {
            Err(bad(path, INFERENCE))
        }
        None => {
            if let Some(indices) = &v.indices {
                return Ok(VectorData::Sparse(sparse(
                    indices.data.clone(),
                    v.data.clone(),
                    path,
                )?));
            }
            if v.vectors_count.is_some_and(|n| n != 1) {
                return Err(bad(path, MULTI));
            }
            Ok(VectorData::Dense(v.data.clone()))
        }
    }
}

/// A point's vectors: the unnamed vector is stored under [`DEFAULT_VECTOR`]. Absent -> none.
pub fn vectors(v: &Option<pb::Vectors>, path: &str) -> ApiResult<NamedVectors> {
    match v.as_ref().and_then(|v| v.vectors_options.as_ref()) {
        None => Ok(NamedVectors::new()),
        Some(VectorsOptions::Vector(one)) => Ok(NamedVectors::from([(
            DEFAULT_VECTOR.to_string(),
            vector(one, path)?,
        )])),
        Some(VectorsOptions::Vectors(named)) => {
            let mut names: Vec<&String> = named.vectors.keys().collect();
            names.sort();
            names
                .into_iter()
                .map(|name| Ok((name.clone(), vector(&named.vectors[name], &join(path, name))?)))
                .collect()
        }
    }
}

/// The vector a query searches near.
pub fn vector_input(v: &pb::VectorInput, path: &str) -> ApiResult<VectorInput> {
    match &v.variant {
        Some(Variant::Id(id)) => Ok(VectorInput::Id(point_id(id, &join(path, "id"))?)),
        Some(Variant::Dense(d)) => Ok(VectorInput::Dense(d.data.clone())),
        Some(Variant::Sparse(s)) => Ok(VectorInput::Sparse(sparse(
            s.indices.clone(),
            s.values.clone(),
            &join(path, "sparse"),
        )?)),
        Some(Variant::MultiDense(_)) => Err(bad(path, MULTI)),
        Some(Variant::Document(_) | Variant::Image(_) | Variant::Object(_)) => Err(bad(path, INFERENCE)),
        None => Err(bad(path, "empty vector input: set id, dense or sparse")),
    }
}

/// Which vectors a read returns; absent means none (Qdrant's default for every read).
pub fn with_vectors(sel: &Option<pb::WithVectorsSelector>) -> WithVector {
    match sel.as_ref().and_then(|s| s.selector_options.as_ref()) {
        None | Some(SelectorOptions::Enable(false)) => WithVector::None,
        Some(SelectorOptions::Enable(true)) => WithVector::All,
        Some(SelectorOptions::Include(names)) => WithVector::Names(names.names.clone()),
    }
}

/// Both encodings are filled: clients since Qdrant 1.16 read the oneof, older ones only `data` and
/// `indices` (which newer ones still understand when the oneof is absent).
#[allow(deprecated)]
fn vector_output(v: &VectorData) -> pb::VectorOutput {
    match v {
        VectorData::Dense(d) => pb::VectorOutput {
            data: d.clone(),
            indices: None,
            vectors_count: None,
            vector: Some(pb::vector_output::Vector::Dense(pb::DenseVector {
                data: d.clone(),
            })),
        },
        VectorData::Sparse(s) => pb::VectorOutput {
            data: s.values.clone(),
            indices: Some(pb::SparseIndices {
                data: s.indices.clone(),
            }),
            vectors_count: None,
            vector: Some(pb::vector_output::Vector::Sparse(pb::SparseVector {
                values: s.values.clone(),
                indices: s.indices.clone(),
            })),
        },
    }
}

/// A point's vectors in an answer: the unnamed vector alone is sent as a single vector, anything
/// else as a map (as Qdrant does).
pub fn vectors_output(v: &NamedVectors) -> pb::VectorsOutput {
    let options = match v.get(DEFAULT_VECTOR) {
        Some(only) if v.len() == 1 => OutputOptions::Vector(vector_output(only)),
        _ => OutputOptions::Vectors(pb::NamedVectorsOutput {
            vectors: v.iter().map(|(k, d)| (k.clone(), vector_output(d))).collect(),
        }),
    };
    pb::VectorsOutput {
        vectors_options: Some(options),
    }
}

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn dense_new(d: &[f32]) -> pb::Vector {
        pb::Vector {
            vector: Some(VectorOneOf::Dense(pb::DenseVector { data: d.to_vec() })),
            ..Default::default()
        }
    }

    fn dense_old(d: &[f32]) -> pb::Vector {
        pb::Vector {
            data: d.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn both_encodings_of_dense_and_sparse() {
        let want = VectorData::Dense(vec![1.0, 2.0]);
        assert_eq!(vector(&dense_new(&[1.0, 2.0]), "v").unwrap(), want);
        assert_eq!(vector(&dense_old(&[1.0, 2.0]), "v").unwrap(), want);
        // The oneof wins over stale deprecated data.
        let mut both = dense_new(&[1.0, 2.0]);
        both.data = vec![9.0];
        assert_eq!(vector(&both, "v").unwrap(), want);

        let want = VectorData::Sparse(SparseVector::new(vec![1, 5], vec![0.5, 0.25]).unwrap());
        let new = pb::Vector {
            vector: Some(VectorOneOf::Sparse(pb::SparseVector {
                values: vec![0.25, 0.5],
                indices: vec![5, 1],
            })),
            ..Default::default()
        };
        assert_eq!(vector(&new, "v").unwrap(), want);
        let old = pb::Vector {
            data: vec![0.25, 0.5],
            indices: Some(pb::SparseIndices { data: vec![5, 1] }),
            ..Default::default()
        };
        assert_eq!(vector(&old, "v").unwrap(), want);
    }

    #[test]
    fn unsupported_and_malformed_vectors_name_the_field() {
        let multi = pb::Vector {
            vector: Some(VectorOneOf::MultiDense(pb::MultiDenseVector::default())),
            ..Default::default()
        };
        let e = vector(&multi, "points[3].vectors").unwrap_err().to_string();
        assert!(e.contains("points[3].vectors") && e.contains("multi"), "{e}");
        let old_multi = pb::Vector {
            data: vec![1.0, 2.0, 3.0, 4.0],
            vectors_count: Some(2),
            ..Default::default()
        };
        assert!(vector(&old_multi, "v").is_err());
        let doc = pb::Vector {
            vector: Some(VectorOneOf::Document(pb::Document::default())),
            ..Default::default()
        };
        assert!(vector(&doc, "v").unwrap_err().to_string().contains("inference"));
        let dup = pb::Vector {
            data: vec![1.0, 2.0],
            indices: Some(pb::SparseIndices { data: vec![3, 3] }),
            ..Default::default()
        };
        assert!(vector(&dup, "points[0].vectors.s")
            .unwrap_err()
            .to_string()
            .contains("points[0].vectors.s"));
    }

    #[test]
    fn named_and_unnamed_point_vectors() {
        let one = Some(pb::Vectors {
            vectors_options: Some(VectorsOptions::Vector(dense_old(&[1.0]))),
        });
        let got = vectors(&one, "v").unwrap();
        assert_eq!(got.get(""), Some(&VectorData::Dense(vec![1.0])));
        let named = Some(pb::Vectors {
            vectors_options: Some(VectorsOptions::Vectors(pb::NamedVectors {
                vectors: HashMap::from([
                    ("a".to_string(), dense_new(&[1.0])),
                    ("b".to_string(), dense_old(&[2.0])),
                ]),
            })),
        });
        let got = vectors(&named, "v").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got.get("b"), Some(&VectorData::Dense(vec![2.0])));
        assert!(vectors(&None, "v").unwrap().is_empty());
        // Output: the unnamed vector alone is a single vector, a map otherwise.
        let out = vectors_output(&vectors(&one, "v").unwrap());
        assert!(matches!(out.vectors_options, Some(OutputOptions::Vector(_))));
        let out = vectors_output(&got);
        let Some(OutputOptions::Vectors(map)) = out.vectors_options else {
            panic!("expected named vectors")
        };
        assert_eq!(
            map.vectors["a"].vector,
            Some(pb::vector_output::Vector::Dense(pb::DenseVector {
                data: vec![1.0]
            }))
        );
        assert_eq!(map.vectors["a"].data, vec![1.0]);
        let sparse = SparseVector::new(vec![2, 9], vec![0.5, 1.5]).unwrap();
        let out = vectors_output(&NamedVectors::from([(
            "s".to_string(),
            VectorData::Sparse(sparse),
        )]));
        let Some(OutputOptions::Vectors(map)) = out.vectors_options else {
            panic!("expected named vectors")
        };
        let s = &map.vectors["s"];
        assert_eq!(
            (s.data.clone(), s.indices.clone().map(|i| i.data)),
            (vec![0.5, 1.5], Some(vec![2, 9]))
        );
        assert!(matches!(s.vector, Some(pb::vector_output::Vector::Sparse(_))));
    }

    #[test]
    fn query_inputs_and_selectors() {
        let dense = pb::VectorInput {
            variant: Some(Variant::Dense(pb::DenseVector { data: vec![1.0] })),
        };
        assert_eq!(vector_input(&dense, "q").unwrap(), VectorInput::Dense(vec![1.0]));
        let id = pb::VectorInput {
            variant: Some(Variant::Id(super::super::ids::point_id_out(
                &quiver_types::PointId::Num(4),
            ))),
        };
        assert_eq!(
            vector_input(&id, "q").unwrap(),
            VectorInput::Id(quiver_types::PointId::Num(4))
        );
        assert!(vector_input(&pb::VectorInput::default(), "query.nearest").is_err());
        assert_eq!(with_vectors(&None), WithVector::None);
        let names = Some(pb::WithVectorsSelector {
            selector_options: Some(SelectorOptions::Include(pb::VectorsSelector {
                names: vec!["a".into()],
            })),
        });
        assert_eq!(with_vectors(&names), WithVector::Names(vec!["a".into()]));
    }
}
