//! Black-box REST tests against the real binary on 127.0.0.1: Qdrant's paths, envelope and error
//! shape, bad input that harms nothing, restart after a clean stop, and API keys.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Rest, Server};
use serde_json::json;

/// The collection's info once it is green with some vectors indexed (or after 30 s).
async fn wait_indexed(rest: &Rest, name: &str) -> serde_json::Value {
    let mut info = json!(null);
    for _ in 0..300 {
        info = rest.ok("GET", &format!("/collections/{name}"), None).await;
        if info["status"] == "green" && info["indexed_vectors_count"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    info
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn version_health_and_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        let (status, root) = rest.call("GET", "/", None).await;
        assert_eq!(status, 200);
        assert_eq!(root["title"], "qdrant - vector search engine");
        assert_eq!(root["version"], "1.20.0");
        for probe in ["/healthz", "/livez", "/readyz"] {
            assert_eq!(rest.call("GET", probe, None).await.0, 200, "{probe}");
        }
        let (status, body) = rest.call("GET", "/collections", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
        assert!(body["time"].is_f64());
        assert_eq!(body["result"]["collections"], json!([]));
        let (status, body) = rest.call("GET", "/no/such/path", None).await;
        assert_eq!(status, 404);
        assert!(body["status"]["error"].is_string());
    });
}

#[test]
fn points_round_trip_and_bad_input_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        rest.ok("PUT", "/collections/c", Some(json!({"vectors": {"size": 3, "distance": "Dot"}, "shard_number": 3}))).await;
        let points: Vec<_> = (0..50)
            .map(|i| json!({"id": i, "vector": [i as f32, 1.0, 0.0], "payload": {"i": i, "even": i % 2 == 0}}))
            .collect();
        let r = rest.ok("PUT", "/collections/c/points?wait=true", Some(json!({"points": points}))).await;
        assert_eq!(r["status"], "completed");
        let info = rest.ok("GET", "/collections/c", None).await;
        assert_eq!(info["points_count"], 50);
        assert_eq!(info["config"]["params"]["shard_number"], 3);

        let bad = [
            ("PUT", "/collections/c/points?wait=true", json!({"points": [{"id": 1, "vector": [1.0, 2.0]}]}), 400, "expected dim: 3, got 2"),
            ("PUT", "/collections/c/points?wait=true", json!({"points": [{"id": 1, "vector": [1e39, 0.0, 0.0]}]}), 400, "non-finite"),
            ("PUT", "/collections/c/points?wait=true", json!({"points": [{"id": -4, "vector": [1.0, 0.0, 0.0]}]}), 400, "points[0].id"),
            ("PUT", "/collections/c/points?wait=true", json!({"points": [{"id": 1, "vector": {"nope": [1.0, 0.0, 0.0]}}]}), 400, "Not existing vector name"),
            ("POST", "/collections/c/points/query", json!({"query": [1.0, 0.0, 0.0], "filter": {"must": [{"key": "i", "range": {"gt": "x"}}]}}), 400, "filter.must[0].range.gt"),
            ("POST", "/collections/c/points/query", json!({"query": [1.0, 0.0, 0.0], "filter": {"must": [{"foo": 1}]}}), 400, "filter.must[0]"),
            ("POST", "/collections/missing/points/query", json!({"query": [1.0, 0.0, 0.0]}), 404, "doesn't exist"),
            ("PUT", "/collections/c", json!({"vectors": {"size": 3, "distance": "Dot"}}), 409, "already exists"),
            ("PUT", "/collections/d", json!({"vectors": {"size": 3, "distance": "Cosin"}}), 400, "vectors"),
            ("PUT", "/collections/d", json!({"vectors": {"size": 0, "distance": "Dot"}}), 400, "vectors.size"),
            ("POST", "/collections/c/points/payload?wait=true", json!({"payload": {"a": 1}, "points": [777]}), 404, "No point with id 777"),
            ("PUT", "/collections/c/points?wait=true&ordering=fast", json!({"points": [{"id": 1, "vector": [9.0, 9.0, 9.0]}]}), 400, "ordering"),
            ("PUT", "/collections/c/points?wait=maybe", json!({"points": [{"id": 1, "vector": [9.0, 9.0, 9.0]}]}), 400, "wait"),
        ];
        for (method, path, body, code, needle) in bad {
            let (status, resp) = rest.call(method, path, Some(body.clone())).await;
            let msg = resp["status"]["error"].as_str().unwrap_or_default().to_string();
            assert_eq!(status, code, "{method} {path} {body}: {resp}");
            assert!(msg.contains(needle), "{method} {path}: error `{msg}` should mention `{needle}`");
        }
        let (status, _) = rest.call("POST", "/collections/c/points/scroll", None).await;
        assert_eq!(status, 200, "empty body is an empty request");
        for ordering in ["weak", "medium", "strong"] {
            let path = format!("/collections/c/points/payload?wait=true&ordering={ordering}");
            rest.ok("POST", &path, Some(json!({"payload": {"ordering": ordering}, "points": [2]}))).await;
        }
        let got = rest.ok("POST", "/collections/c/points", Some(json!({"ids": [2]}))).await;
        assert_eq!(got[0]["payload"]["ordering"], "strong");

        // Nothing stored was harmed.
        let count = rest.ok("POST", "/collections/c/points/count", Some(json!({"exact": true}))).await;
        assert_eq!(count["count"], 50);
        let got = rest.ok("POST", "/collections/c/points", Some(json!({"ids": [1], "with_vector": true}))).await;
        assert_eq!(got[0]["vector"], json!([1.0, 1.0, 0.0]));
        assert_eq!(got[0]["payload"], json!({"i": 1, "even": false}));

        let hits = rest
            .ok(
                "POST",
                "/collections/c/points/query",
                Some(json!({"query": [1.0, 0.0, 0.0], "limit": 3, "filter": {"must": [{"key": "even", "match": {"value": true}}]}})),
            )
            .await;
        let ids: Vec<u64> = hits["points"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, vec![48, 46, 44]);
        let page = rest.ok("POST", "/collections/c/points/scroll", Some(json!({"limit": 20, "offset": 10}))).await;
        assert_eq!(page["points"][0]["id"], 10);
        assert_eq!(page["next_page_offset"], 30);
    });
}

#[test]
fn oversized_request_is_rejected_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("QUIVER__SERVICE__MAX_REQUEST_SIZE_MB", "1")]);
    let rest = Rest::new(&server);
    rt().block_on(async {
        rest.ok(
            "PUT",
            "/collections/c",
            Some(json!({"vectors": {"size": 1024, "distance": "Dot"}})),
        )
        .await;
        let points: Vec<_> = (0..400)
            .map(|i| json!({"id": i, "vector": vec![0.5f32; 1024]}))
            .collect();
        let (status, body) = rest
            .call(
                "PUT",
                "/collections/c/points?wait=true",
                Some(json!({"points": points})),
            )
            .await;
        assert_eq!(status, 413, "{body}");
        assert!(body["status"]["error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"));
        let count = rest
            .ok("POST", "/collections/c/points/count", Some(json!({})))
            .await;
        assert_eq!(count["count"], 0);
    });
}

#[test]
fn clean_stop_and_restart_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        rest.ok("PUT", "/collections/keep", Some(json!({"vectors": {"a": {"size": 2, "distance": "Euclid"}, "b": {"size": 3, "distance": "Cosine"}},
                                                         "hnsw_config": {"m": 32}, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.95}}}))).await;
        rest.ok("PUT", "/collections/keep/index", Some(json!({"field_name": "k", "field_schema": "keyword"}))).await;
        rest.ok("POST", "/collections/aliases", Some(json!({"actions": [{"create_alias": {"collection_name": "keep", "alias_name": "kept"}}]}))).await;
        rest.ok("PUT", "/collections/keep/points", Some(json!({"points": [{"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "vector": {"a": [1.0, 2.0]}, "payload": {"k": "v"}}]}))).await;
    });
    assert!(server.stop(), "SIGTERM leads to a clean exit");
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        let info = rest.ok("GET", "/collections/kept", None).await;
        assert_eq!(info["points_count"], 1);
        assert_eq!(info["config"]["hnsw_config"]["m"], 32);
        assert_eq!(info["config"]["quantization_config"]["scalar"]["quantile"], 0.95);
        assert_eq!(info["config"]["params"]["vectors"]["b"]["distance"], "Cosine");
        assert_eq!(
            info["payload_schema"]["k"],
            json!({"data_type": "keyword", "points": 1})
        );
        let p = rest
            .ok(
                "GET",
                "/collections/keep/points/5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
                None,
            )
            .await;
        assert_eq!(p["vector"], json!({"a": [1.0, 2.0]}));
    });
}

#[test]
fn api_key_is_enforced_except_for_probes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("QUIVER__SERVICE__API_KEY", "s3cret")]);
    let rest = Rest::new(&server);
    rt().block_on(async {
        assert_eq!(rest.call("GET", "/collections", None).await.0, 401);
        assert_eq!(rest.call("GET", "/healthz", None).await.0, 200);
        let ok = reqwest::Client::new()
            .get(server.url("/collections"))
            .header("api-key", "s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
    });
}

#[test]
fn optimizer_indexes_and_explain_shows_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        // 8 dims = 32 B a point: a 16 KB threshold seals segments of ~512 points.
        let body = json!({"vectors": {"size": 8, "distance": "Cosine"},
                          "hnsw_config": {"m": 8, "ef_construct": 64, "full_scan_threshold": 10},
                          "optimizers_config": {"indexing_threshold": 16}});
        rest.ok("PUT", "/collections/ix", Some(body)).await;
        for chunk in 0..4u64 {
            let points: Vec<_> = (chunk * 500..(chunk + 1) * 500)
                .map(|i| {
                    // Distinct vectors (a hash per coordinate): piles of identical vectors make
                    // score plateaus no graph search crosses reliably.
                    let v: Vec<f32> = (0..8u64)
                        .map(|d| {
                            let h = (i * 8 + d + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                            (h % 1000) as f32 / 100.0 + 0.5
                        })
                        .collect();
                    json!({"id": i, "vector": v, "payload": {"g": i % 5, "rare": i == 1234}})
                })
                .collect();
            rest.ok("PUT", "/collections/ix/points?wait=true", Some(json!({"points": points}))).await;
        }
        let info = wait_indexed(&rest, "ix").await;
        assert_eq!(info["status"], "green", "{info}");
        assert!(info["indexed_vectors_count"].as_u64().unwrap() >= 1500, "{info}");
        assert_eq!(info["points_count"], 2000);

        let q = json!([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let strategies = |r: &serde_json::Value| -> Vec<String> {
            r["explain"][0]["shards"][0]["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["strategy"].as_str().unwrap().to_string())
                .collect()
        };
        let graph = rest
            .ok("POST", "/collections/ix/points/query?explain=true", Some(json!({"query": q, "limit": 10, "params": {"hnsw_ef": 200}})))
            .await;
        assert!(strategies(&graph).iter().any(|s| s == "hnsw"), "{graph}");
        let exact = rest
            .ok("POST", "/collections/ix/points/query?explain=true", Some(json!({"query": q, "limit": 10, "params": {"exact": true}})))
            .await;
        assert!(strategies(&exact).iter().all(|s| s == "exact_scan"), "{exact}");
        let ids = |r: &serde_json::Value| -> Vec<u64> {
            r["points"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect()
        };
        // An answer is exact when its scores are the exact ones (tied ids may differ).
        let scores = |r: &serde_json::Value| -> Vec<f64> {
            r["points"].as_array().unwrap().iter().map(|p| p["score"].as_f64().unwrap()).collect()
        };
        let same_scores = |a: &serde_json::Value, b: &serde_json::Value| {
            let (x, y) = (scores(a), scores(b));
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| (p - q).abs() < 1e-5)
        };
        assert!(same_scores(&graph, &exact), "a wide beam finds the exact answer: {graph} {exact}");
        // A filter matching one point is scanned exactly; one matching 60 % traverses the graph
        // with the filter checked at each node; one matching almost all checks the results of
        // an unfiltered traversal. No field is indexed: the bounds are 0..all, set by a sample.
        let rare = rest
            .ok("POST", "/collections/ix/points/query?explain=true",
                Some(json!({"query": q, "limit": 3, "filter": {"must": [{"key": "rare", "match": {"value": true}}]}})))
            .await;
        assert_eq!(ids(&rare), vec![1234]);
        assert!(strategies(&rare).iter().all(|s| s == "exact_scan"), "{rare}");
        let broad = rest
            .ok("POST", "/collections/ix/points/query?explain=true",
                Some(json!({"query": q, "limit": 5, "filter": {"must": [{"key": "g", "match": {"any": [0, 1, 2]}}]}})))
            .await;
        assert!(strategies(&broad).iter().any(|s| s == "hnsw_filtered"), "{broad}");
        assert!(ids(&broad).iter().all(|i| i % 5 <= 2));
        let segment = broad["explain"][0]["shards"][0]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["strategy"] == "hnsw_filtered")
            .unwrap()
            .clone();
        let e = &segment["estimate"];
        assert_eq!((e["min"].as_u64(), e["max"].as_u64()), (Some(0), segment["points"].as_u64()), "{e}");
        assert_eq!(e["source"], "sample", "{e}");
        let share = e["exp"].as_f64().unwrap() / segment["points"].as_f64().unwrap();
        assert!((0.45..0.75).contains(&share), "{e}");
        let almost_all = rest
            .ok("POST", "/collections/ix/points/query?explain=true",
                Some(json!({"query": q, "limit": 5, "filter": {"must_not": [{"key": "rare", "match": {"value": true}}]}, "params": {"hnsw_ef": 200}})))
            .await;
        assert!(strategies(&almost_all).iter().any(|s| s == "hnsw_then_filter"), "{almost_all}");
        assert!(same_scores(&almost_all, &rest
            .ok("POST", "/collections/ix/points/query",
                Some(json!({"query": q, "limit": 5, "filter": {"must_not": [{"key": "rare", "match": {"value": true}}]}, "params": {"exact": true}})))
            .await), "{almost_all}");
        let (status, err) = rest.call("POST", "/collections/ix/points/query?explain=maybe", Some(json!({"query": q}))).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["status"]["error"].as_str().unwrap().contains("explain"));

        // Bulk load: indexing_threshold 0 appends only; restoring it indexes.
        rest.ok("PATCH", "/collections/ix", Some(json!({"optimizers_config": {"indexing_threshold": 0}}))).await;
        rest.ok("PATCH", "/collections/ix", Some(json!({"hnsw_config": {"m": 12}}))).await;
        let info = rest.ok("GET", "/collections/ix", None).await;
        assert_eq!(info["status"], "green", "nothing is due while indexing is off: {info}");
        rest.ok("PATCH", "/collections/ix", Some(json!({"optimizers_config": {"indexing_threshold": 16}}))).await;
        // Polls until the optimizer has nothing left to do (at most 30 s).
        let wait_green = || async {
            let mut info = json!(null);
            for _ in 0..300 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                info = rest.ok("GET", "/collections/ix", None).await;
                if info["status"] == "green" {
                    break;
                }
            }
            info
        };
        let info = wait_green().await;
        assert_eq!(info["status"], "green", "re-indexed with m=12: {info}");
        assert!(info["indexed_vectors_count"].as_u64().unwrap() >= 1500, "{info}");
        let again = rest
            .ok("POST", "/collections/ix/points/query", Some(json!({"query": q, "limit": 10, "params": {"hnsw_ef": 200}})))
            .await;
        assert!(same_scores(&again, &exact), "{again} {exact}");

        // Value graphs: with a bool payload index, a value held by a quarter of
        // full_scan_threshold (2.5 KB of vectors, 80 points) per segment gets a group, and a filter
        // on it walks the value graph; int8 quantization keeps the exact answer.
        for common in [true, false] {
            let points: Vec<u64> = (0..2000u64).filter(|i| (i % 5 != 0) == common).collect();
            let body = json!({"payload": {"common": common}, "points": points});
            rest.ok("POST", "/collections/ix/points/payload?wait=true", Some(body)).await;
        }
        rest.ok("PUT", "/collections/ix/index?wait=true", Some(json!({"field_name": "common", "field_schema": "bool"}))).await;
        let info = wait_green().await;
        assert_eq!(info["status"], "green", "{info}");
        let filter = json!({"must": [{"key": "common", "match": {"value": true}}]});
        let walked = rest
            .ok("POST", "/collections/ix/points/query?explain=true",
                Some(json!({"query": q, "limit": 10, "filter": filter, "params": {"hnsw_ef": 200}})))
            .await;
        assert!(strategies(&walked).iter().any(|s| s == "hnsw_payload_links"), "{walked}");
        let exact_even = rest
            .ok("POST", "/collections/ix/points/query",
                Some(json!({"query": q, "limit": 10, "filter": filter, "params": {"exact": true}})))
            .await;
        assert!(same_scores(&walked, &exact_even), "{walked} {exact_even}");
        assert!(ids(&walked).iter().all(|i| i % 5 != 0), "only matching points: {walked}");
        rest.ok("PATCH", "/collections/ix", Some(json!({"quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}}}))).await;
        let info = wait_green().await;
        assert_eq!(info["status"], "green", "{info}");
        for params in [json!({"hnsw_ef": 200}), json!({"hnsw_ef": 200, "quantization": {"rescore": true, "oversampling": 2.0}})] {
            let quantized = rest
                .ok("POST", "/collections/ix/points/query", Some(json!({"query": q, "limit": 10, "filter": filter, "params": params})))
                .await;
            // Rescored with the originals: the exact scores, not approximations.
            assert!(same_scores(&quantized, &exact_even), "{params}: {quantized} {exact_even}");
        }
        let (status, err) = rest
            .call("POST", "/collections/ix/points/query",
                Some(json!({"query": q, "params": {"quantization": {"oversampling": 0.5}}})))
            .await;
        assert_eq!(status, 400, "{err}");
        assert!(err["status"]["error"].as_str().unwrap().contains("params.quantization.oversampling"), "{err}");
    });
}

/// A text index's `lowercase` / `min_token_len` / `max_token_len` decide text matches, the same
/// in an appendable segment (no field index) and after the optimizer indexed the field.
#[test]
fn text_index_settings_shape_text_matches() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rest = Rest::new(&server);
    rt().block_on(async {
        let body = json!({"vectors": {"size": 2, "distance": "Dot"},
                          "optimizers_config": {"indexing_threshold": 0}});
        rest.ok("PUT", "/collections/t", Some(body)).await;
        let index = json!({"field_name": "body", "field_schema": {"type": "text", "tokenizer": "word",
                           "lowercase": false, "min_token_len": 3, "max_token_len": 6}});
        rest.ok("PUT", "/collections/t/index?wait=true", Some(index))
            .await;
        let texts = [
            "The Red Fox",
            "the red fox",
            "a Fox",
            "Foxes and extraordinary Red",
            "Red it Fox",
        ];
        let points: Vec<_> = (0..400u64)
            .map(|i| json!({"id": i, "vector": [1.0, i as f32], "payload": {"body": texts[i as usize % 5]}}))
            .collect();
        rest.ok(
            "PUT",
            "/collections/t/points?wait=true",
            Some(json!({"points": points})),
        )
        .await;
        let count = |m: serde_json::Value| {
            let rest = &rest;
            async move {
                let f = json!({"filter": {"must": [{"key": "body", "match": m}]}, "exact": true});
                rest.ok("POST", "/collections/t/points/count", Some(f)).await["count"]
                    .as_u64()
                    .unwrap()
            }
        };
        let expect = [
            // Case kept: "Fox" is not "fox"; "a" and "it" are too short, "extraordinary" too long.
            (json!({"text": "Fox"}), 240),
            (json!({"text": "a FOX"}), 0),
            (json!({"text": "a Fox"}), 240),
            (json!({"text_any": "red it"}), 80),
            (json!({"phrase": "Red Fox"}), 160),
            (json!({"text": "extraordinary"}), 0),
            (json!({"text": "it"}), 0),
        ];
        for (m, want) in &expect {
            assert_eq!(count(m.clone()).await, *want, "unindexed: {m}");
        }
        rest.ok(
            "PATCH",
            "/collections/t",
            Some(json!({"optimizers_config": {"indexing_threshold": 1}})),
        )
        .await;
        let info = wait_indexed(&rest, "t").await;
        assert!(info["indexed_vectors_count"].as_u64().unwrap() > 0, "{info}");
        for (m, want) in &expect {
            assert_eq!(count(m.clone()).await, *want, "indexed: {m}");
        }
    });
}
