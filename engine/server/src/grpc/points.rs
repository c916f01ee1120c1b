//! `qdrant.Points`: point updates (single and batched), payload indexes, retrieve, scroll, count,
//! search (deprecated) and query. Recommend, discover, groups, facets, the search matrix and vector
//! name changes answer "unimplemented".
//!
//! `wait` defaults to false, as in Qdrant; the answer's status is `Completed` when the update was
//! applied and made durable before answering, `Acknowledged` otherwise.

use std::time::Instant;

/// Request metadata asking for the planner's decisions, and the answer header carrying them.
const EXPLAIN_HEADER: &str = "x-quiver-explain";

use ::qdrant_client::qdrant::points_server::Points;
use ::qdrant_client::qdrant::*;
use quiver_collection::UpdateStatus;
use quiver_types::UpdateOperation;
use tonic::{Request, Response, Status};

use super::{elapsed, unimplemented};
use crate::api::Api;
use crate::convert::grpc::{ids, index, points as conv, query, routing};

const NOT_YET: &str = "not supported by Quiver yet";

pub struct PointsService {
    api: Api,
}

impl PointsService {
    pub fn new(api: Api) -> Self {
        PointsService { api }
    }

    async fn apply(
        &self,
        name: String,
        op: UpdateOperation,
        wait: Option<bool>,
        selector: &Option<ShardKeySelector>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let started = Instant::now();
        let keys = routing::shard_keys(selector, "")?;
        let r = self.api.update(name, op, wait.unwrap_or(false), keys).await?;
        Ok(operation_response(&r, started))
    }
}

fn operation_response(
    r: &quiver_collection::UpdateResult,
    started: Instant,
) -> Response<PointsOperationResponse> {
    Response::new(PointsOperationResponse {
        result: Some(conv::update_result_out(r)),
        time: elapsed(started),
        usage: None,
    })
}

/// Index changes are applied before the engine answers; report what the caller asked to wait for.
fn index_result(
    mut r: quiver_collection::UpdateResult,
    wait: Option<bool>,
) -> quiver_collection::UpdateResult {
    if !wait.unwrap_or(false) {
        r.status = UpdateStatus::Acknowledged;
    }
    r
}

#[tonic::async_trait]
impl Points for PointsService {
    async fn upsert(
        &self,
        request: Request<UpsertPoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::upsert(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn delete(
        &self,
        request: Request<DeletePoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::delete(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn get(&self, request: Request<GetPoints>) -> Result<Response<GetResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let (ids, with_payload, with_vector) = query::get(&req)?;
        let opts = routing::read_options(&req.shard_key_selector, &req.read_consistency, "")?;
        let records = self
            .api
            .retrieve(req.collection_name, ids, with_payload, with_vector, opts)
            .await?;
        Ok(Response::new(GetResponse {
            result: records.iter().map(query::record_out).collect(),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn update_vectors(
        &self,
        request: Request<UpdatePointVectors>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::update_vectors(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn delete_vectors(
        &self,
        request: Request<DeletePointVectors>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::delete_vectors(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn set_payload(
        &self,
        request: Request<SetPayloadPoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::set_payload(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn overwrite_payload(
        &self,
        request: Request<SetPayloadPoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::overwrite_payload(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn delete_payload(
        &self,
        request: Request<DeletePayloadPoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::delete_payload(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn clear_payload(
        &self,
        request: Request<ClearPayloadPoints>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let req = request.into_inner();
        let op = conv::clear_payload(&req)?;
        self.apply(req.collection_name, op, req.wait, &req.shard_key_selector)
            .await
    }

    async fn create_field_index(
        &self,
        request: Request<CreateFieldIndexCollection>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let (field, schema) = index::create_index(&req)?;
        let r = self
            .api
            .create_payload_index(req.collection_name, field, schema)
            .await?;
        Ok(operation_response(&index_result(r, req.wait), started))
    }

    async fn delete_field_index(
        &self,
        request: Request<DeleteFieldIndexCollection>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let r = self
            .api
            .delete_payload_index(req.collection_name, req.field_name)
            .await?;
        Ok(operation_response(&index_result(r, req.wait), started))
    }

    async fn create_vector_name(
        &self,
        _: Request<CreateVectorNameRequest>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unimplemented("CreateVectorName", NOT_YET))
    }

    async fn delete_vector_name(
        &self,
        _: Request<DeleteVectorNameRequest>,
    ) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unimplemented("DeleteVectorName", NOT_YET))
    }

    async fn search(&self, request: Request<SearchPoints>) -> Result<Response<SearchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let q = query::search(&req, "")?;
        let opts = routing::read_options(&req.shard_key_selector, &req.read_consistency, "")?;
        let hits = self.api.query(req.collection_name, q, opts).await?;
        Ok(Response::new(SearchResponse {
            result: query::scored_points_out(&hits),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn search_batch(
        &self,
        request: Request<SearchBatchPoints>,
    ) -> Result<Response<SearchBatchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let qs = routing::batch_read_options(
            query::search_batch(&req)?,
            req.search_points.iter().map(|one| &one.shard_key_selector),
            &req.read_consistency,
            "search_points",
        )?;
        let lists = self.api.query_batch(req.collection_name, qs).await?;
        Ok(Response::new(SearchBatchResponse {
            result: batch_results(&lists),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn search_groups(
        &self,
        _: Request<SearchPointGroups>,
    ) -> Result<Response<SearchGroupsResponse>, Status> {
        Err(unimplemented("SearchGroups", NOT_YET))
    }

    async fn scroll(&self, request: Request<ScrollPoints>) -> Result<Response<ScrollResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let scroll = query::scroll(&req)?;
        let opts = routing::read_options(&req.shard_key_selector, &req.read_consistency, "")?;
        let (records, next) = self.api.scroll(req.collection_name, scroll, opts).await?;
        Ok(Response::new(ScrollResponse {
            next_page_offset: next.as_ref().map(ids::point_id_out),
            result: records.iter().map(query::record_out).collect(),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn recommend(&self, _: Request<RecommendPoints>) -> Result<Response<RecommendResponse>, Status> {
        Err(unimplemented("Recommend", NOT_YET))
    }

    async fn recommend_batch(
        &self,
        _: Request<RecommendBatchPoints>,
    ) -> Result<Response<RecommendBatchResponse>, Status> {
        Err(unimplemented("RecommendBatch", NOT_YET))
    }

    async fn recommend_groups(
        &self,
        _: Request<RecommendPointGroups>,
    ) -> Result<Response<RecommendGroupsResponse>, Status> {
        Err(unimplemented("RecommendGroups", NOT_YET))
    }

    async fn discover(&self, _: Request<DiscoverPoints>) -> Result<Response<DiscoverResponse>, Status> {
        Err(unimplemented("Discover", NOT_YET))
    }

    async fn discover_batch(
        &self,
        _: Request<DiscoverBatchPoints>,
    ) -> Result<Response<DiscoverBatchResponse>, Status> {
        Err(unimplemented("DiscoverBatch", NOT_YET))
    }

    async fn count(&self, request: Request<CountPoints>) -> Result<Response<CountResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let filter = query::count(&req)?;
        let opts = routing::read_options(&req.shard_key_selector, &req.read_consistency, "")?;
        let count = self.api.count(req.collection_name, filter, opts).await?;
        Ok(Response::new(CountResponse {
            result: Some(CountResult { count: count as u64 }),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn update_batch(
        &self,
        request: Request<UpdateBatchPoints>,
    ) -> Result<Response<UpdateBatchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let ops = conv::batch(&req)?
            .into_iter()
            .zip(&req.operations)
            .enumerate()
            .map(|(i, (op, raw))| {
                let path = crate::convert::index("operations", i);
                Ok((op, routing::shard_keys(routing::operation_selector(raw), &path)?))
            })
            .collect::<crate::error::ApiResult<Vec<_>>>()?;
        let results = self
            .api
            .update_batch(req.collection_name, ops, req.wait.unwrap_or(false))
            .await?;
        Ok(Response::new(UpdateBatchResponse {
            result: results.iter().map(conv::update_result_out).collect(),
            time: elapsed(started),
            usage: None,
        }))
    }

    /// With request metadata `x-quiver-explain: true`, the planner's decisions come back as JSON
    /// in the `x-quiver-explain` response header (the same shape as REST's `explain`).
    async fn query(&self, request: Request<QueryPoints>) -> Result<Response<QueryResponse>, Status> {
        let started = Instant::now();
        let explain = request
            .metadata()
            .get(EXPLAIN_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let req = request.into_inner();
        let q = query::query(&req, "")?;
        let opts = routing::read_options(&req.shard_key_selector, &req.read_consistency, "")?;
        let (hits, plans) = if explain {
            let (hits, plans) = self.api.query_explained(req.collection_name, q, opts).await?;
            (hits, Some(plans))
        } else {
            (self.api.query(req.collection_name, q, opts).await?, None)
        };
        let mut response = Response::new(QueryResponse {
            result: query::scored_points_out(&hits),
            time: elapsed(started),
            usage: None,
        });
        if let Some(plans) = plans {
            let text = crate::convert::rest::output::explain(&plans).to_string();
            if let Ok(v) = text.parse() {
                response.metadata_mut().insert(EXPLAIN_HEADER, v);
            }
        }
        Ok(response)
    }

    async fn query_batch(
        &self,
        request: Request<QueryBatchPoints>,
    ) -> Result<Response<QueryBatchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let qs = routing::batch_read_options(
            query::query_batch(&req)?,
            req.query_points.iter().map(|one| &one.shard_key_selector),
            &req.read_consistency,
            "query_points",
        )?;
        let lists = self.api.query_batch(req.collection_name, qs).await?;
        Ok(Response::new(QueryBatchResponse {
            result: batch_results(&lists),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn query_groups(
        &self,
        _: Request<QueryPointGroups>,
    ) -> Result<Response<QueryGroupsResponse>, Status> {
        Err(unimplemented("QueryGroups", NOT_YET))
    }

    async fn facet(&self, _: Request<FacetCounts>) -> Result<Response<FacetResponse>, Status> {
        Err(unimplemented("Facet", NOT_YET))
    }

    async fn search_matrix_pairs(
        &self,
        _: Request<SearchMatrixPoints>,
    ) -> Result<Response<SearchMatrixPairsResponse>, Status> {
        Err(unimplemented("SearchMatrixPairs", NOT_YET))
    }

    async fn search_matrix_offsets(
        &self,
        _: Request<SearchMatrixPoints>,
    ) -> Result<Response<SearchMatrixOffsetsResponse>, Status> {
        Err(unimplemented("SearchMatrixOffsets", NOT_YET))
    }
}

fn batch_results(lists: &[Vec<quiver_types::ScoredPoint>]) -> Vec<BatchResult> {
    lists
        .iter()
        .map(|hits| BatchResult {
            result: query::scored_points_out(hits),
        })
        .collect()
}
