//! Config pieces: enums both ways, memory placements, quantization kinds, field-naming errors.

use std::collections::HashMap;

use super::*;

#[test]
fn vector_params_round_trip() {
    let wire = pb::VectorParams {
        size: 8,
        distance: pb::Distance::Dot as i32,
        hnsw_config: Some(pb::HnswConfigDiff {
            m: Some(8),
            ..Default::default()
        }),
        quantization_config: None,
        on_disk: Some(true),
        datatype: Some(pb::Datatype::Float16 as i32),
        multivector_config: None,
        memory: None,
    };
    let p = vector_params(&wire, "vectors_config").unwrap();
    assert_eq!((p.size, p.distance, p.on_disk), (8, Distance::Dot, Some(true)));
    assert_eq!(p.datatype.as_deref(), Some("float16"));
    assert_eq!(p.hnsw_config.as_ref().and_then(|h| h.m), Some(8));
    assert_eq!(vector_params_out(&p), wire);
}

#[test]
fn memory_overrides_on_disk() {
    let wire = pb::VectorParams {
        size: 4,
        distance: pb::Distance::Cosine as i32,
        on_disk: Some(true),
        memory: Some(pb::Memory::Pinned as i32),
        ..Default::default()
    };
    assert_eq!(vector_params(&wire, "v").unwrap().on_disk, Some(false));
    let h = hnsw_diff(&pb::HnswConfigDiff {
        memory: Some(pb::Memory::Cold as i32),
        ..Default::default()
    });
    assert_eq!(h.on_disk, Some(true));
}

#[test]
fn bad_enums_name_the_field() {
    let wire = pb::VectorParams {
        size: 4,
        distance: pb::Distance::UnknownDistance as i32,
        ..Default::default()
    };
    let e = vector_params(&wire, "vectors_config.img")
        .unwrap_err()
        .to_string();
    assert!(e.contains("vectors_config.img.distance"), "{e}");
    let turbo = pb::VectorParams {
        size: 4,
        distance: pb::Distance::Cosine as i32,
        datatype: Some(pb::Datatype::Turbo4 as i32),
        ..Default::default()
    };
    let e = vector_params(&turbo, "v").unwrap_err().to_string();
    assert!(e.contains("v.datatype"), "{e}");
    let scalar = pb::QuantizationConfig {
        quantization: Some(Q::Scalar(pb::ScalarQuantization::default())),
    };
    let e = quantization(&scalar, "quantization_config")
        .unwrap_err()
        .to_string();
    assert!(e.contains("quantization_config.scalar.type"), "{e}");
}

#[test]
fn quantization_kinds_round_trip() {
    let kinds = [
        Q::Scalar(pb::ScalarQuantization {
            r#type: pb::QuantizationType::Int8 as i32,
            quantile: Some(0.95),
            always_ram: Some(true),
            memory: None,
        }),
        Q::Product(pb::ProductQuantization {
            compression: pb::CompressionRatio::X16 as i32,
            always_ram: Some(false),
            memory: None,
        }),
        Q::Binary(pb::BinaryQuantization {
            always_ram: Some(true),
            encoding: Some(pb::BinaryQuantizationEncoding::TwoBits as i32),
            query_encoding: Some(pb::BinaryQuantizationQueryEncoding {
                variant: Some(pb::binary_quantization_query_encoding::Variant::Setting(
                    pb::binary_quantization_query_encoding::Setting::Scalar8Bits as i32,
                )),
            }),
            memory: None,
        }),
    ];
    for k in kinds {
        let wire = pb::QuantizationConfig {
            quantization: Some(k),
        };
        let q = quantization(&wire, "q").unwrap();
        assert_eq!(quantization_out(&q), wire);
    }
    // The f32 quantile is read as the decimal the user wrote.
    let q = quantization(
        &pb::QuantizationConfig {
            quantization: Some(Q::Scalar(pb::ScalarQuantization {
                r#type: pb::QuantizationType::Int8 as i32,
                quantile: Some(0.95),
                ..Default::default()
            })),
        },
        "q",
    )
    .unwrap();
    assert!(
        matches!(q, QuantizationConfig::Scalar(ScalarQuantization { quantile: Some(x), .. }) if x == 0.95)
    );
    let off = pb::QuantizationConfigDiff {
        quantization: Some(QDiff::Disabled(pb::Disabled {})),
    };
    assert_eq!(quantization_diff(&off, "q").unwrap(), None);
}

#[test]
fn optimizers_and_wal() {
    let d = optimizers_diff(&pb::OptimizersConfigDiff {
        indexing_threshold: Some(12345),
        max_optimization_threads: Some(pb::MaxOptimizationThreads {
            variant: Some(pb::max_optimization_threads::Variant::Value(3)),
        }),
        ..Default::default()
    });
    assert_eq!(
        (d.indexing_threshold, d.max_optimization_threads),
        (Some(12345), Some(3))
    );
    let mut o = OptimizersConfig::default();
    d.apply(&mut o);
    let out = optimizers_out(&o);
    assert_eq!(out.indexing_threshold, Some(12345));
    assert_eq!(out.flush_interval_sec, Some(o.flush_interval_sec));
    let w = wal_out(&WalConfig::default());
    assert_eq!(w.wal_capacity_mb, Some(32));
    assert_eq!(wal_diff(&w).wal_capacity_mb, Some(32));
}

#[test]
fn sparse_params_round_trip() {
    let wire = pb::SparseVectorParams {
        index: Some(pb::SparseIndexConfig {
            full_scan_threshold: Some(100),
            on_disk: Some(false),
            datatype: Some(pb::Datatype::Float32 as i32),
            memory: None,
        }),
        modifier: Some(pb::Modifier::Idf as i32),
    };
    let p = sparse_params(&wire, "sparse_vectors_config.s").unwrap();
    assert_eq!(p.modifier.as_deref(), Some("idf"));
    assert_eq!(sparse_params_out(&p), wire);
    let map = pb::VectorsConfig {
        config: Some(pb::vectors_config::Config::ParamsMap(pb::VectorParamsMap {
            map: HashMap::from([(
                "a".to_string(),
                pb::VectorParams {
                    size: 2,
                    distance: pb::Distance::Euclid as i32,
                    ..Default::default()
                },
            )]),
        })),
    };
    let v = vectors_config(&map, "vectors_config").unwrap();
    assert_eq!(vectors_config_out(&v), map);
}
