//! Collection snapshots over REST against the real binary: create (with a SHA-256 that matches
//! the downloaded archive), list, download, recover in place and into a new collection (points,
//! payloads, payload indexes and config come back, and survive a restart), refusal of a wrong
//! checksum without touching the collection, delete, and errors naming the bad field.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use crate::common;

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

/// Shard snapshots on a single node: one shard of a 2-shard collection is snapshotted,
/// changed, and recovered from the archive (by location and by upload) while the other shard
/// keeps its own changes; archives that do not fit are refused naming why, and the recovered
/// shard survives a restart.
#[test]
fn shard_snapshots_recover_one_shard_and_leave_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    let count = |rest: &Rest| {
        let rest = rest.clone();
        async move {
            rest.ok("POST", "/collections/c/points/count", Some(json!({})))
                .await["count"]
                .as_u64()
                .unwrap()
        }
    };
    let (name, shard_points) = rt().block_on(async {
        let body = json!({"vectors": {"size": 3, "distance": "Dot"}, "shard_number": 2});
        rest.ok("PUT", "/collections/c", Some(body)).await;
        rest.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(points(0..200, "before")),
        )
        .await;
        let layout = rest.ok("GET", "/collections/c/cluster", None).await;
        let shard_points = layout["local_shards"][0]["points_count"].as_u64().unwrap();
        let d = rest.ok("POST", "/collections/c/shards/0/snapshots", None).await;
        let name = d["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("c-shard-0-"), "{d}");
        let listed = rest.ok("GET", "/collections/c/shards/0/snapshots", None).await;
        assert_eq!(listed[0]["name"], d["name"]);
        assert_eq!(
            rest.ok("GET", "/collections/c/shards/1/snapshots", None).await,
            json!([])
        );
        // Every point changes after the snapshot.
        rest.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(points(0..200, "after")),
        )
        .await;
        rest.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(points(200..220, "new")),
        )
        .await;
        (name, shard_points)
    });
    let file = dir.path().join("snapshots/c/shards/0").join(&name);
    let recovered = rt().block_on(async {
        let location = json!({"location": format!("file://{}", file.display())});
        rest.ok("PUT", "/collections/c/shards/0/snapshots/recover", Some(location.clone()))
            .await;
        let tags: Vec<(u64, String)> = rest
            .ok("POST", "/collections/c/points/scroll", Some(json!({"limit": 500})))
            .await["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_u64().unwrap(), p["payload"]["tag"].as_str().unwrap().to_string()))
            .collect();
        let before = tags.iter().filter(|(_, t)| t == "before").count() as u64;
        assert_eq!(before, shard_points, "shard 0 is back as it was");
        assert!(tags.iter().any(|(_, t)| t == "after"), "shard 1 kept its writes");
        // Shard 0's points written after the snapshot are gone with it; shard 1's stay.
        let recovered = count(&rest).await;
        assert!(recovered > 200 && recovered < 220, "{recovered}");
        // A shard of another collection shape, a collection archive with two shards, a bad
        // priority and a missing shard are refused by name.
        rest.ok(
            "PUT",
            "/collections/other",
            Some(json!({"vectors": {"size": 5, "distance": "Dot"}})),
        )
        .await;
        let (status, body) = rest
            .call("PUT", "/collections/other/shards/0/snapshots/recover", Some(location.clone()))
            .await;
        refused(status, &body, "vectors differ");
        let whole = rest.ok("POST", "/collections/c/snapshots", None).await;
        let whole_file = dir
            .path()
            .join("snapshots/c")
            .join(whole["name"].as_str().unwrap());
        let (status, body) = rest
            .call(
                "PUT",
                "/collections/c/shards/1/snapshots/recover",
                Some(json!({"location": format!("file://{}", whole_file.display())})),
            )
            .await;
        refused(status, &body, "holds one shard");
        let mut bad = location.clone();
        bad["priority"] = json!("mine");
        let (status, body) = rest
            .call("PUT", "/collections/c/shards/0/snapshots/recover", Some(bad))
            .await;
        refused(status, &body, "priority");
        let (status, _) = rest
            .call("PUT", "/collections/c/shards/7/snapshots/recover", Some(location))
            .await;
        assert_eq!(status, 404);
        // Upload: shard 0 again from the archive's bytes.
        rest.ok("PUT", "/collections/c/points?wait=true", Some(points(0..200, "later")))
            .await;
        let bytes = std::fs::read(&file).unwrap();
        let boundary = "quiver-test-boundary-7f3a";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"snapshot\"; filename=\"s.snapshot\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = reqwest::Client::new()
            .post(server.url("/collections/c/shards/0/snapshots/upload?priority=snapshot"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(count(&rest).await, recovered);
        let name = name.clone();
        rest.ok("DELETE", &format!("/collections/c/shards/0/snapshots/{name}"), None)
            .await;
        assert_eq!(
            rest.ok("GET", "/collections/c/shards/0/snapshots", None).await,
            json!([])
        );
        recovered
    });
    // The recovered shard is what a restart opens.
    let tags_of = |rest: &Rest| {
        let rest = rest.clone();
        async move {
            let got = rest
                .ok(
                    "POST",
                    "/collections/c/points/scroll",
                    Some(json!({"limit": 500})),
                )
                .await;
            got["points"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["payload"]["tag"] == "before")
                .count() as u64
        }
    };
    assert_eq!(rt().block_on(tags_of(&rest)), shard_points);
    drop(server);
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    assert_eq!(rt().block_on(tags_of(&rest)), shard_points);
    assert_eq!(rt().block_on(count(&rest)), recovered);
}
