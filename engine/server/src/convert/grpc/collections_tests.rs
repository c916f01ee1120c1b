//! CreateCollection defaults, the config reported back, updates and aliases.

use std::collections::HashMap;

use qdrant_client::qdrant::value::Kind;
use quiver_collection::config::{HnswConfig, OptimizersConfig, QuantizationConfig, WalConfig};
use quiver_types::Distance;

use super::*;

fn single(size: u64, d: pb::Distance) -> Option<pb::VectorsConfig> {
    Some(pb::VectorsConfig {
        config: Some(pb::vectors_config::Config::Params(pb::VectorParams {
            size,
            distance: d as i32,
            ..Default::default()
        })),
    })
}

#[test]
fn create_collection_defaults() {
    let req = pb::CreateCollection {
        collection_name: "c".into(),
        vectors_config: single(4, pb::Distance::Cosine),
        ..Default::default()
    };
    let (name, c) = create(&req).unwrap();
    assert_eq!(name, "c");
    assert_eq!(c.params.shard_number, 1);
    assert_eq!(c.params.replication_factor, 1);
    assert_eq!(c.params.write_consistency_factor, 1);
    assert!(c.params.on_disk_payload);
    assert!(c.params.sparse_vectors.is_empty());
    assert_eq!(c.hnsw_config, HnswConfig::default());
    assert_eq!(c.optimizer_config, OptimizersConfig::default());
    assert_eq!(c.wal_config, WalConfig::default());
    assert_eq!(c.quantization_config, None);
    assert_eq!(c.metadata, None);
    let VectorsConfig::Single(p) = &c.params.vectors else {
        panic!("expected a single vector")
    };
    assert_eq!((p.size, p.distance), (4, Distance::Cosine));
}

#[test]
fn create_collection_settings_are_reported_back() {
    let req = pb::CreateCollection {
        collection_name: "c".into(),
        vectors_config: single(16, pb::Distance::Euclid),
        hnsw_config: Some(pb::HnswConfigDiff {
            m: Some(24),
            ef_construct: Some(123),
            ..Default::default()
        }),
        optimizers_config: Some(pb::OptimizersConfigDiff {
            indexing_threshold: Some(12345),
            ..Default::default()
        }),
        wal_config: Some(pb::WalConfigDiff {
            wal_capacity_mb: Some(64),
            ..Default::default()
        }),
        shard_number: Some(3),
        on_disk_payload: Some(false),
        quantization_config: Some(pb::QuantizationConfig {
            quantization: Some(pb::quantization_config::Quantization::Binary(
                pb::BinaryQuantization {
                    always_ram: Some(true),
                    ..Default::default()
                },
            )),
        }),
        sparse_vectors_config: Some(pb::SparseVectorConfig {
            map: HashMap::from([("s".to_string(), pb::SparseVectorParams::default())]),
        }),
        metadata: HashMap::from([(
            "owner".to_string(),
            pb::Value {
                kind: Some(Kind::StringValue("me".into())),
            },
        )]),
        ..Default::default()
    };
    let (_, c) = create(&req).unwrap();
    assert_eq!((c.hnsw_config.m, c.hnsw_config.ef_construct), (24, 123));
    assert_eq!(c.optimizer_config.indexing_threshold, Some(12345));
    assert_eq!(c.wal_config.wal_capacity_mb, 64);
    assert_eq!(c.params.shard_number, 3);
    assert!(!c.params.on_disk_payload);
    assert!(matches!(
        c.quantization_config,
        Some(QuantizationConfig::Binary(_))
    ));
    assert!(c.params.sparse_vectors.contains_key("s"));

    let info = CollectionInfo {
        optimizer_error: None,
        status: CollectionStatus::Green,
        points_count: 5,
        indexed_vectors_count: 0,
        segments_count: 3,
        config: c,
        payload_schema: BTreeMap::from([(
            "city".to_string(),
            (
                quiver_collection::PayloadFieldSchema {
                    data_type: "keyword".into(),
                    params: None,
                },
                4,
            ),
        )]),
    };
    let out = info_out(&info);
    assert_eq!(out.status, pb::CollectionStatus::Green as i32);
    assert_eq!(out.points_count, Some(5));
    assert_eq!(
        out.payload_schema["city"].data_type,
        pb::PayloadSchemaType::Keyword as i32
    );
    assert_eq!(out.payload_schema["city"].points, Some(4));
    let cfg = out.config.unwrap();
    let params = cfg.params.unwrap();
    assert_eq!(params.vectors_config, single(16, pb::Distance::Euclid));
    assert_eq!((params.shard_number, params.on_disk_payload), (3, false));
    assert_eq!(params.replication_factor, Some(1));
    assert!(params.sparse_vectors_config.unwrap().map.contains_key("s"));
    assert_eq!(cfg.hnsw_config.unwrap().m, Some(24));
    assert_eq!(cfg.optimizer_config.unwrap().indexing_threshold, Some(12345));
    assert_eq!(cfg.wal_config.unwrap().wal_capacity_mb, Some(64));
    assert!(cfg.quantization_config.is_some());
    assert_eq!(cfg.metadata["owner"].kind, Some(Kind::StringValue("me".into())));
}

#[test]
fn invalid_create_requests_name_the_field() {
    let zero = pb::CreateCollection {
        collection_name: "c".into(),
        vectors_config: single(0, pb::Distance::Dot),
        ..Default::default()
    };
    assert!(create(&zero).unwrap_err().to_string().contains("size"));
    let custom = pb::CreateCollection {
        collection_name: "c".into(),
        vectors_config: single(4, pb::Distance::Dot),
        sharding_method: Some(pb::ShardingMethod::Custom as i32),
        ..Default::default()
    };
    // Custom sharding converts; whether it is allowed (cluster mode only) is the API's call.
    assert_eq!(
        create(&custom).unwrap().1.params.sharding_method,
        Some(quiver_collection::ShardingMethod::Custom)
    );
    let unknown = pb::CreateCollection {
        sharding_method: Some(9),
        ..custom.clone()
    };
    assert!(create(&unknown)
        .unwrap_err()
        .to_string()
        .contains("sharding_method"));
    let bad_hnsw = pb::CreateCollection {
        collection_name: "c".into(),
        vectors_config: single(4, pb::Distance::Dot),
        hnsw_config: Some(pb::HnswConfigDiff {
            ef_construct: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(create(&bad_hnsw)
        .unwrap_err()
        .to_string()
        .contains("ef_construct"));
}

#[test]
fn update_collection_diff() {
    let req = pb::UpdateCollection {
        collection_name: "c".into(),
        optimizers_config: Some(pb::OptimizersConfigDiff {
            indexing_threshold: Some(777),
            ..Default::default()
        }),
        params: Some(pb::CollectionParamsDiff {
            replication_factor: Some(2),
            ..Default::default()
        }),
        vectors_config: Some(pb::VectorsConfigDiff {
            config: Some(pb::vectors_config_diff::Config::Params(pb::VectorParamsDiff {
                quantization_config: Some(pb::QuantizationConfigDiff {
                    quantization: Some(pb::quantization_config_diff::Quantization::Disabled(
                        pb::Disabled {},
                    )),
                }),
                on_disk: Some(true),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let (name, d) = update(&req).unwrap();
    assert_eq!(name, "c");
    assert_eq!(d.optimizers_config.and_then(|o| o.indexing_threshold), Some(777));
    assert_eq!(d.replication_factor, Some(2));
    let v = &d.vectors[""];
    assert_eq!(v.quantization_config, Some(None));
    assert_eq!(v.on_disk, Some(true));
    assert_eq!(d.metadata, None);
}

#[test]
fn alias_actions() {
    let req = pb::ChangeAliases {
        actions: vec![
            pb::AliasOperations {
                action: Some(Action::CreateAlias(pb::CreateAlias {
                    collection_name: "c".into(),
                    alias_name: "a".into(),
                })),
            },
            pb::AliasOperations {
                action: Some(Action::RenameAlias(pb::RenameAlias {
                    old_alias_name: "a".into(),
                    new_alias_name: "b".into(),
                })),
            },
            pb::AliasOperations {
                action: Some(Action::DeleteAlias(pb::DeleteAlias {
                    alias_name: "b".into(),
                })),
            },
        ],
        timeout: None,
    };
    assert_eq!(
        alias_operations(&req).unwrap(),
        vec![
            AliasOperation::Create {
                collection: "c".into(),
                alias: "a".into()
            },
            AliasOperation::Rename {
                old: "a".into(),
                new: "b".into()
            },
            AliasOperation::Delete { alias: "b".into() },
        ]
    );
    let empty = pb::ChangeAliases {
        actions: vec![pb::AliasOperations::default()],
        timeout: None,
    };
    assert!(alias_operations(&empty)
        .unwrap_err()
        .to_string()
        .contains("actions[0]"));
}
