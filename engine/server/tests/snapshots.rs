//! Collection snapshots over REST against the real binary: create (with a SHA-256 that matches
//! the downloaded archive), list, download, recover in place and into a new collection (points,
//! payloads, payload indexes and config come back, and survive a restart), refusal of a wrong
//! checksum without touching the collection, delete, and errors naming the bad field.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rest, Server};
use serde_json::json;
use sha2::{Digest, Sha256};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A 400 whose error message mentions `needle`.
fn refused(status: u16, body: &serde_json::Value, needle: &str) {
    assert_eq!(status, 400, "{body}");
    let error = body["status"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(needle), "{needle:?} not in {body}");
}

fn points(ids: std::ops::Range<u64>, tag: &str) -> serde_json::Value {
    let points: Vec<_> = ids
        .map(|i| json!({"id": i, "vector": [1.0, i as f32, 0.5], "payload": {"tag": tag, "i": i}}))
        .collect();
    json!({ "points": points })
}

#[test]
fn snapshot_create_download_recover_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    let snapshot_file = rt().block_on(async {
        let body = json!({"vectors": {"size": 3, "distance": "Dot"}, "hnsw_config": {"m": 20}});
        rest.ok("PUT", "/collections/c", Some(body)).await;
        rest.ok(
            "PUT",
            "/collections/c/index?wait=true",
            Some(json!({"field_name": "tag", "field_schema": "keyword"})),
        )
        .await;
        rest.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(points(0..300, "before")),
        )
        .await;

        let d = rest.ok("POST", "/collections/c/snapshots", None).await;
        let name = d["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("c-") && name.ends_with(".snapshot"), "{d}");
        let listed = rest.ok("GET", "/collections/c/snapshots", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["name"], d["name"]);
        assert_eq!(listed[0]["checksum"], d["checksum"]);
        assert_eq!(listed[0]["size"], d["size"]);
        let bytes = reqwest::get(server.url(&format!("/collections/c/snapshots/{name}")))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap());
        let sum: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(json!(sum), d["checksum"], "the checksum is the archive's SHA-256");

        // Change the collection after the snapshot.
        rest.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(points(300..400, "after")),
        )
        .await;
        rest.ok(
            "POST",
            "/collections/c/points/delete?wait=true",
            Some(json!({"points": [0, 1, 2]})),
        )
        .await;
        assert_eq!(
            rest.ok("POST", "/collections/c/points/count", Some(json!({})))
                .await["count"],
            397
        );

        let file = dir.path().join("snapshots").join("c").join(&name);
        let location = format!("file://{}", file.display());
        // A wrong checksum is refused and the collection stays as it is.
        let (status, body) = rest
            .call(
                "PUT",
                "/collections/c/snapshots/recover",
                Some(json!({"location": location, "checksum": "00ff"})),
            )
            .await;
        refused(status, &body, "checksum");
        assert_eq!(
            rest.ok("POST", "/collections/c/points/count", Some(json!({})))
                .await["count"],
            397
        );
        // So is a file that is not an archive.
        let junk = dir.path().join("junk.snapshot");
        std::fs::write(&junk, vec![7u8; 5000]).unwrap();
        let junk_location = json!({"location": format!("file://{}", junk.display())});
        let (status, body) = rest
            .call("PUT", "/collections/c/snapshots/recover", Some(junk_location))
            .await;
        refused(status, &body, "not a snapshot archive");
        let count = rest
            .ok("POST", "/collections/c/points/count", Some(json!({})))
            .await;
        assert_eq!(count["count"], 397);
        // Recover in place: back to the 300 points of the snapshot.
        rest.ok(
            "PUT",
            "/collections/c/snapshots/recover",
            Some(json!({"location": location, "checksum": sum})),
        )
        .await;
        assert_eq!(
            rest.ok("POST", "/collections/c/points/count", Some(json!({})))
                .await["count"],
            300
        );
        let p = rest.ok("GET", "/collections/c/points/1", None).await;
        assert_eq!(p["payload"], json!({"tag": "before", "i": 1}));
        // And into a new collection.
        rest.ok(
            "PUT",
            "/collections/copy/snapshots/recover",
            Some(json!({"location": location})),
        )
        .await;
        let info = rest.ok("GET", "/collections/copy", None).await;
        assert_eq!(info["points_count"], 300);
        assert_eq!(info["config"]["hnsw_config"]["m"], 20);
        assert_eq!(info["payload_schema"]["tag"]["data_type"], "keyword");
        // From a URL: this server's own download of the snapshot.
        let url = server.url(&format!("/collections/c/snapshots/{name}"));
        rest.ok(
            "PUT",
            "/collections/viaurl/snapshots/recover",
            Some(json!({"location": url})),
        )
        .await;
        let count = rest
            .ok("POST", "/collections/viaurl/points/count", Some(json!({})))
            .await;
        assert_eq!(count["count"], 300);
        let missing = server.url("/collections/c/snapshots/missing.snapshot");
        let (status, body) = rest
            .call(
                "PUT",
                "/collections/viaurl2/snapshots/recover",
                Some(json!({"location": missing})),
            )
            .await;
        refused(status, &body, "404");
        rest.ok(
            "PUT",
            "/collections/copy/points?wait=true",
            Some(points(1000..1005, "extra")),
        )
        .await;

        // Bad input names the field; a missing snapshot is a 404.
        let (status, body) = rest
            .call("PUT", "/collections/c/snapshots/recover", Some(json!({})))
            .await;
        refused(status, &body, "location");
        let (status, _) = rest
            .call("GET", "/collections/c/snapshots/nope.snapshot", None)
            .await;
        assert_eq!(status, 404);
        let (status, body) = rest
            .call("DELETE", "/collections/c/snapshots/config.json", None)
            .await;
        refused(status, &body, "snapshot_name");
        file
    });
    // Recovered collections are on disk like any other.
    assert!(server.stop());
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        for (c, want) in [("c", 300), ("copy", 305)] {
            let count = rest
                .ok("POST", &format!("/collections/{c}/points/count"), Some(json!({})))
                .await;
            assert_eq!(count["count"], want, "{c} after restart");
        }
        let hits = rest
            .ok(
                "POST",
                "/collections/copy/points/count",
                Some(json!({"filter": {"must": [{"key": "tag", "match": {"value": "after"}}]}})),
            )
            .await;
        assert_eq!(hits["count"], 0);
        let name = snapshot_file.file_name().unwrap().to_string_lossy().to_string();
        rest.ok("DELETE", &format!("/collections/c/snapshots/{name}"), None)
            .await;
        let listed = rest.ok("GET", "/collections/c/snapshots", None).await;
        assert_eq!(listed, json!([]));
        assert!(!snapshot_file.exists());
    });
    // A recovery that stopped after its archive was unpacked (`.ready-<name>` in place) is
    // finished at the next start: `c` becomes what the ready folder holds (the 305 points of
    // `copy`).
    assert!(server.stop());
    // What a crash mid-archive or mid-upload leaves behind is removed at start.
    let leftovers = [
        dir.path().join("snapshots/c/c-unfinished.snapshot.tmp"),
        dir.path().join("snapshots/.uploads/1234.snapshot"),
    ];
    for f in &leftovers {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b"partial").unwrap();
    }
    let collections = dir.path().join("collections");
    copy_dir(&collections.join("copy"), &collections.join(".ready-c"));
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        for c in ["c", "copy"] {
            let count = rest
                .ok("POST", &format!("/collections/{c}/points/count"), Some(json!({})))
                .await;
            assert_eq!(count["count"], 305, "{c}");
        }
    });
    assert!(!collections.join(".ready-c").exists());
    assert!(
        leftovers.iter().all(|f| !f.exists()),
        "leftovers removed at start"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
