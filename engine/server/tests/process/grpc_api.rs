//! Black-box gRPC tests against the real binary on 127.0.0.1, driven by the Rust `qdrant-client`
//! (`Qdrant`, the official client): health check, collections and aliases, the point life cycle,
//! filtered query / search / scroll / count, bad input that harms nothing (with the status code and
//! the field named), and the API key.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashMap;

use common::Server;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateAliasBuilder, CreateCollectionBuilder, DeletePointsBuilder,
    Distance, Filter, GetPointsBuilder, PointId, PointStruct, PointsIdsList, QueryPointsBuilder, Range,
    ScrollPointsBuilder, SearchPointsBuilder, SetPayloadPointsBuilder, UpsertPointsBuilder, Value,
    VectorParamsBuilder,
};
use qdrant_client::{Qdrant, QdrantError};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn client(server: &Server, api_key: Option<&str>) -> Qdrant {
    let mut b = Qdrant::from_url(&server.grpc_url());
    if let Some(k) = api_key {
        b = b.api_key(k);
    }
    b.build().unwrap()
}

fn payload(i: u64) -> HashMap<String, Value> {
    HashMap::from([
        ("i".to_string(), Value::from(i as i64)),
        ("even".to_string(), Value::from(i.is_multiple_of(2))),
        (
            "city".to_string(),
            Value::from(if i.is_multiple_of(3) { "Berlin" } else { "Paris" }),
        ),
    ])
}

fn points(n: u64) -> Vec<PointStruct> {
    (0..n)
        .map(|i| PointStruct::new(i, vec![i as f32, 1.0, 0.0], payload(i)))
        .collect()
}

fn num_ids(ids: impl IntoIterator<Item = Option<PointId>>) -> Vec<u64> {
    use qdrant_client::qdrant::point_id::PointIdOptions;
    ids.into_iter()
        .map(|id| match id.and_then(|p| p.point_id_options) {
            Some(PointIdOptions::Num(n)) => n,
            other => panic!("expected a numeric id, got {other:?}"),
        })
        .collect()
}

/// The gRPC status of a failed call.
fn status(err: QdrantError) -> tonic::Status {
    match err {
        QdrantError::ResponseError { status } => status,
        other => panic!("expected a status, got {other}"),
    }
}

#[test]
fn health_collections_and_points_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = client(&server, None);
    rt().block_on(async {
        let health = c.health_check().await.unwrap();
        assert_eq!(health.title, "qdrant - vector search engine");
        assert_eq!(health.version, "1.20.0");

        c.create_collection(
            CreateCollectionBuilder::new("c")
                .vectors_config(VectorParamsBuilder::new(3, Distance::Dot))
                .shard_number(3),
        )
        .await
        .unwrap();
        let err = status(
            c.create_collection(
                CreateCollectionBuilder::new("c").vectors_config(VectorParamsBuilder::new(3, Distance::Dot)),
            )
            .await
            .unwrap_err(),
        );
        assert!(err.message().contains("already exists"), "{}", err.message());
        assert!(c.collection_exists("c").await.unwrap());
        assert!(!c.collection_exists("nope").await.unwrap());

        c.upsert_points(UpsertPointsBuilder::new("c", points(60)).wait(true))
            .await
            .unwrap();
        let info = c.collection_info("c").await.unwrap().result.unwrap();
        assert_eq!(info.points_count, Some(60));
        assert_eq!(info.config.unwrap().params.unwrap().shard_number, 3);

        // Filtered nearest query: even points, best by dot product with [1, 0, 0].
        let even = Filter::must([Condition::matches("even", true)]);
        let hits = c
            .query(
                QueryPointsBuilder::new("c")
                    .query(vec![1.0, 0.0, 0.0])
                    .filter(even.clone())
                    .limit(3)
                    .with_payload(true),
            )
            .await
            .unwrap()
            .result;
        assert_eq!(num_ids(hits.iter().map(|p| p.id.clone())), vec![58, 56, 54]);
        assert_eq!(hits[0].score, 58.0);
        assert_eq!(hits[0].payload.get("city"), Some(&Value::from("Paris")));

        // The deprecated Search RPC answers the same.
        let old = c
            .search_points(SearchPointsBuilder::new("c", vec![1.0, 0.0, 0.0], 3).filter(even))
            .await
            .unwrap()
            .result;
        assert_eq!(num_ids(old.iter().map(|p| p.id.clone())), vec![58, 56, 54]);

        // Scroll pages by id with a cursor; count with a filter.
        let page = c
            .scroll(ScrollPointsBuilder::new("c").limit(20).offset(10u64))
            .await
            .unwrap();
        assert_eq!(num_ids(page.result.iter().map(|p| p.id.clone()))[0], 10);
        assert_eq!(num_ids([page.next_page_offset]), vec![30]);
        let berlin = Filter::must([Condition::matches("city", "Berlin".to_string())]);
        let n = c
            .count(CountPointsBuilder::new("c").filter(berlin.clone()).exact(true))
            .await
            .unwrap()
            .result
            .unwrap()
            .count;
        assert_eq!(n, 20);

        // Payload edit, retrieve, range filter, delete by filter.
        c.set_payload(
            SetPayloadPointsBuilder::new("c", HashMap::from([("tag".to_string(), Value::from("x"))]))
                .points_selector(PointsIdsList { ids: vec![5.into()] })
                .wait(true),
        )
        .await
        .unwrap();
        let got = c
            .get_points(
                GetPointsBuilder::new("c", vec![5.into()])
                    .with_payload(true)
                    .with_vectors(true),
            )
            .await
            .unwrap()
            .result;
        assert_eq!(got[0].payload.get("tag"), Some(&Value::from("x")));
        assert_eq!(got[0].payload.get("i"), Some(&Value::from(5i64)));
        c.delete_points(DeletePointsBuilder::new("c").points(berlin).wait(true))
            .await
            .unwrap();
        let small = Filter::must([Condition::range(
            "i",
            Range {
                lt: Some(10.0),
                ..Default::default()
            },
        )]);
        let n = c
            .count(CountPointsBuilder::new("c").filter(small).exact(true))
            .await
            .unwrap()
            .result
            .unwrap()
            .count;
        assert_eq!(n, 6, "0..10 without multiples of 3");

        // Aliases read through.
        c.create_alias(CreateAliasBuilder::new("c", "alias_c"))
            .await
            .unwrap();
        let aliases = c.list_aliases().await.unwrap().aliases;
        assert_eq!(aliases.len(), 1);
        assert_eq!(aliases[0].alias_name, "alias_c");
        let n = c
            .count(CountPointsBuilder::new("alias_c").exact(true))
            .await
            .unwrap();
        assert_eq!(n.result.unwrap().count, 40);
    });
}

#[test]
fn bad_input_over_grpc_names_the_field_and_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = client(&server, None);
    rt().block_on(async {
        c.create_collection(
            CreateCollectionBuilder::new("c").vectors_config(VectorParamsBuilder::new(3, Distance::Cosine)),
        )
        .await
        .unwrap();
        c.upsert_points(UpsertPointsBuilder::new("c", points(10)).wait(true))
            .await
            .unwrap();

        let wrong_dim = c
            .upsert_points(
                UpsertPointsBuilder::new("c", vec![PointStruct::new(1, vec![1.0, 2.0], payload(1))])
                    .wait(true),
            )
            .await
            .unwrap_err();
        let s = status(wrong_dim);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("expected dim: 3, got 2"), "{}", s.message());

        let nan = c
            .upsert_points(
                UpsertPointsBuilder::new(
                    "c",
                    vec![PointStruct::new(2, vec![f32::NAN, 0.0, 0.0], payload(2))],
                )
                .wait(true),
            )
            .await
            .unwrap_err();
        let s = status(nan);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("points[0]"), "{}", s.message());

        let missing = c
            .query(QueryPointsBuilder::new("missing").query(vec![1.0, 0.0, 0.0]))
            .await
            .unwrap_err();
        assert_eq!(status(missing).code(), tonic::Code::NotFound);

        let bad_name = c
            .query(
                QueryPointsBuilder::new("c")
                    .query(vec![1.0, 0.0, 0.0])
                    .using("image"),
            )
            .await
            .unwrap_err();
        let s = status(bad_name);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("image"), "{}", s.message());

        // Nothing stored was harmed: point 1 keeps its vector (normalized for Cosine) and payload.
        let got = c
            .get_points(
                GetPointsBuilder::new("c", vec![1.into()])
                    .with_payload(true)
                    .with_vectors(true),
            )
            .await
            .unwrap()
            .result;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload.get("i"), Some(&Value::from(1i64)));
        let n = c.count(CountPointsBuilder::new("c").exact(true)).await.unwrap();
        assert_eq!(n.result.unwrap().count, 10);
    });
}

#[test]
fn api_key_is_required_over_grpc_except_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("QUIVER__SERVICE__API_KEY", "s3cret")]);
    rt().block_on(async {
        let anonymous = client(&server, None);
        assert!(anonymous.health_check().await.is_ok(), "health stays open");
        let s = status(anonymous.list_collections().await.unwrap_err());
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        let wrong = client(&server, Some("nope"));
        assert_eq!(
            status(wrong.list_collections().await.unwrap_err()).code(),
            tonic::Code::Unauthenticated
        );
        let right = client(&server, Some("s3cret"));
        assert!(right.list_collections().await.unwrap().collections.is_empty());
    });
}

#[test]
fn explain_comes_back_in_a_grpc_header_when_asked() {
    use qdrant_client::qdrant::points_client::PointsClient;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let c = client(&server, None);
    rt().block_on(async {
        c.create_collection(
            CreateCollectionBuilder::new("c").vectors_config(VectorParamsBuilder::new(3, Distance::Dot)),
        )
        .await
        .unwrap();
        c.upsert_points(UpsertPointsBuilder::new("c", points(20)).wait(true))
            .await
            .unwrap();
        let mut raw = PointsClient::connect(server.grpc_url()).await.unwrap();
        let query: qdrant_client::qdrant::QueryPoints = QueryPointsBuilder::new("c")
            .query(vec![1.0, 0.0, 0.0])
            .limit(3)
            .into();
        let plain = raw.query(tonic::Request::new(query.clone())).await.unwrap();
        assert!(
            plain.metadata().get("x-quiver-explain").is_none(),
            "only when asked"
        );
        let mut asked = tonic::Request::new(query);
        asked
            .metadata_mut()
            .insert("x-quiver-explain", "true".parse().unwrap());
        let answer = raw.query(asked).await.unwrap();
        let header = answer.metadata().get("x-quiver-explain").expect("explain header");
        let explain: serde_json::Value = serde_json::from_str(header.to_str().unwrap()).unwrap();
        assert_eq!(explain[0]["stage"], "query");
        let segments = explain[0]["shards"][0]["segments"].as_array().unwrap();
        assert_eq!(
            segments[0]["strategy"], "exact_scan",
            "20 points are never indexed: {explain}"
        );
        assert_eq!(segments[0]["points"], 20);
        assert_eq!(answer.into_inner().result.len(), 3);
    });
}
