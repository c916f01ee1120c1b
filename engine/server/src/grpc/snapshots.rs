//! `qdrant.Snapshots`: collection and full-storage snapshots, over the same calls as REST.

use std::time::Instant;

use qdrant_client::qdrant::snapshots_server::Snapshots;
use qdrant_client::qdrant::{
    CreateFullSnapshotRequest, CreateSnapshotRequest, CreateSnapshotResponse, DeleteFullSnapshotRequest,
    DeleteSnapshotRequest, DeleteSnapshotResponse, ListFullSnapshotsRequest, ListSnapshotsRequest,
    ListSnapshotsResponse, SnapshotDescription,
};
use quiver_collection::snapshot::SnapshotDescription as Described;
use tonic::{Request, Response, Status};

use super::elapsed;
use crate::api::Api;

pub struct SnapshotsService {
    api: Api,
}

impl SnapshotsService {
    pub fn new(api: Api) -> Self {
        SnapshotsService { api }
    }
}

/// The wire form: the creation time (UTC, `YYYY-MM-DDTHH:MM:SS`) as a timestamp.
fn describe(d: Described) -> SnapshotDescription {
    let creation_time = d
        .creation_time
        .as_deref()
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .map(|t| prost_types::Timestamp {
            seconds: t.and_utc().timestamp(),
            nanos: 0,
        });
    SnapshotDescription {
        name: d.name,
        creation_time,
        size: i64::try_from(d.size).unwrap_or(i64::MAX),
        checksum: d.checksum,
    }
}

fn created(d: Described, started: Instant) -> Response<CreateSnapshotResponse> {
    Response::new(CreateSnapshotResponse {
        snapshot_description: Some(describe(d)),
        time: elapsed(started),
    })
}

fn listed(all: Vec<Described>, started: Instant) -> Response<ListSnapshotsResponse> {
    Response::new(ListSnapshotsResponse {
        snapshot_descriptions: all.into_iter().map(describe).collect(),
        time: elapsed(started),
    })
}

fn deleted(started: Instant) -> Response<DeleteSnapshotResponse> {
    Response::new(DeleteSnapshotResponse {
        time: elapsed(started),
    })
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn create(
        &self,
        request: Request<CreateSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        Ok(created(self.api.create_snapshot(Some(name)).await?, started))
    }

    async fn list(
        &self,
        request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        Ok(listed(self.api.list_snapshots(Some(name)).await?, started))
    }

    async fn delete(
        &self,
        request: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        self.api
            .delete_snapshot(Some(r.collection_name), r.snapshot_name)
            .await?;
        Ok(deleted(started))
    }

    async fn create_full(
        &self,
        _: Request<CreateFullSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        let started = Instant::now();
        Ok(created(self.api.create_snapshot(None).await?, started))
    }

    async fn list_full(
        &self,
        _: Request<ListFullSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let started = Instant::now();
        Ok(listed(self.api.list_snapshots(None).await?, started))
    }

    async fn delete_full(
        &self,
        request: Request<DeleteFullSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        let started = Instant::now();
        self.api
            .delete_snapshot(None, request.into_inner().snapshot_name)
            .await?;
        Ok(deleted(started))
    }
}
