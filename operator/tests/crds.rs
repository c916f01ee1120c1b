//! The CRDs in `crds/` and `charts/quiver/crds/` are exactly what the types generate (CI fails
//! on drift: regenerate with `cargo run -p quiver-operator -- crd --out <folder>`), carry the subresources, columns and short
//! names, and their CEL rules accept good changes and refuse immutable ones (kube's client-side
//! CEL evaluation, the rules the API server runs).

use quiver_operator::crd::{self, VectorBackup, VectorCluster, VectorCollection};
use serde_json::json;

#[test]
fn the_crds_folders_match_the_types() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // crds/ for `kubectl apply`, and the chart's copy that Helm installs.
    for folder in ["crds", "charts/quiver/crds"] {
        let dir = root.join(folder);
        for c in crd::all() {
            let path = dir.join(crd::file_name(&c));
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == crd::to_yaml(&c).unwrap(),
                "{} is out of date: run `cargo run -p quiver-operator -- crd --out {folder}`",
                path.display()
            );
        }
    }
}

#[test]
fn names_subresources_and_columns() {
    let all = crd::all();
    let short: Vec<String> = all
        .iter()
        .flat_map(|c| c.spec.names.short_names.clone().unwrap_or_default())
        .collect();
    assert_eq!(short, vec!["qvc", "qcol", "qbak"]);
    let cluster = &all[0].spec.versions[0];
    let sub = cluster.subresources.as_ref().unwrap();
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.nodes");
    assert_eq!(scale.status_replicas_path, ".status.readyNodes");
    let columns: Vec<&str> = cluster
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        columns.contains(&"Phase") && columns.contains(&"Ready"),
        "{columns:?}"
    );
    assert!(all
        .iter()
        .all(|c| c.spec.group == crd::GROUP && c.spec.versions[0].name == "v1alpha1"));
}

fn cluster(class: Option<&str>, nodes: i32) -> serde_json::Value {
    let mut storage = json!({"size": "10Gi"});
    if let Some(c) = class {
        storage["storageClassName"] = json!(c);
    }
    json!({
        "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCluster",
        "metadata": {"name": "q"},
        "spec": {"version": "0.1.0", "nodes": nodes, "storage": storage},
    })
}

#[test]
fn cluster_rules_refuse_bad_values_and_immutable_changes() {
    let parse = |v: serde_json::Value| serde_json::from_value::<VectorCluster>(v).unwrap();
    let good = parse(cluster(Some("fast"), 3));
    assert!(good.validate_cel().is_ok(), "{:?}", good.validate_cel());
    assert!(
        parse(cluster(Some("fast"), 0)).validate_cel().is_err(),
        "nodes >= 1"
    );
    let mut bad_size = cluster(None, 3);
    bad_size["spec"]["storage"]["size"] = json!("ten gigs");
    assert!(parse(bad_size).validate_cel().is_err());
    let scaled = parse(cluster(Some("fast"), 5));
    assert!(
        scaled.validate_cel_update(&good).is_ok(),
        "scaling is a mutable change"
    );
    let reclassed = parse(cluster(Some("slow"), 3));
    assert!(
        reclassed.validate_cel_update(&good).is_err(),
        "storageClassName is immutable"
    );
    let unclassed = parse(cluster(None, 3));
    assert!(
        unclassed.validate_cel_update(&good).is_err(),
        "removing it is a change too"
    );
}

#[test]
fn collection_and_backup_rules() {
    let collection = |cluster: &str, size: u64, method: &str, keys: serde_json::Value| {
        serde_json::from_value::<VectorCollection>(json!({
            "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorCollection",
            "metadata": {"name": "docs"},
            "spec": {"clusterRef": cluster, "vectors": {"": {"size": size, "distance": "Cosine"}},
                     "sharding": {"method": method, "shardKeys": keys}},
        }))
        .unwrap()
    };
    let base = collection("q", 384, "Custom", json!(["acme"]));
    assert!(base.validate_cel().is_ok(), "{:?}", base.validate_cel());
    assert!(
        collection("q", 384, "Auto", json!(["acme"]))
            .validate_cel()
            .is_err(),
        "keys need Custom"
    );
    let more_keys = collection("q", 384, "Custom", json!(["acme", "globex"]));
    assert!(
        more_keys.validate_cel_update(&base).is_ok(),
        "shard keys may be added"
    );
    assert!(
        collection("q", 768, "Custom", json!(["acme"]))
            .validate_cel_update(&base)
            .is_err(),
        "vectors are immutable"
    );
    assert!(
        collection("other", 384, "Custom", json!(["acme"]))
            .validate_cel_update(&base)
            .is_err(),
        "clusterRef is immutable"
    );
    assert!(
        collection("q", 384, "Auto", json!([]))
            .validate_cel_update(&base)
            .is_err(),
        "sharding method is immutable"
    );
    let with = |patch: serde_json::Value| {
        let mut v = serde_json::to_value(&base).unwrap();
        for (k, x) in patch.as_object().unwrap() {
            v["spec"][k] = x.clone();
        }
        serde_json::from_value::<VectorCollection>(v).unwrap()
    };
    let named = with(json!({"collectionName": "docs-v1"}));
    assert!(named.validate_cel_update(&named).is_ok());
    assert!(
        with(json!({"collectionName": "docs-v2"}))
            .validate_cel_update(&named)
            .is_err(),
        "collectionName is immutable"
    );
    assert!(
        named.validate_cel_update(&base).is_err(),
        "a collectionName is not added later"
    );
    let sparse = with(json!({"sparseVectors": {"text": {}}}));
    assert!(sparse.validate_cel_update(&sparse).is_ok());
    assert!(
        sparse.validate_cel_update(&base).is_err(),
        "sparse vectors are not added later"
    );
    assert!(
        with(json!({"sparseVectors": {"text": {}, "title": {}}}))
            .validate_cel_update(&sparse)
            .is_err(),
        "sparseVectors are immutable"
    );

    let backup = |cols: serde_json::Value| {
        serde_json::from_value::<VectorBackup>(json!({
            "apiVersion": "quiver.dev/v1alpha1", "kind": "VectorBackup",
            "metadata": {"name": "nightly"},
            "spec": {"clusterRef": "q", "collections": cols},
        }))
        .unwrap()
    };
    let b = backup(json!(["docs"]));
    assert!(b.validate_cel_update(&b).is_ok());
    assert!(
        backup(json!(["docs", "more"])).validate_cel_update(&b).is_err(),
        "a backup's spec is immutable"
    );
}
