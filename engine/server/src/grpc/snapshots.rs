//! `qdrant.Snapshots`: every call answers "unimplemented" until snapshots arrive with the cluster
//! work.

use qdrant_client::qdrant::snapshots_server::Snapshots;
use qdrant_client::qdrant::{
    CreateFullSnapshotRequest, CreateSnapshotRequest, CreateSnapshotResponse, DeleteFullSnapshotRequest,
    DeleteSnapshotRequest, DeleteSnapshotResponse, ListFullSnapshotsRequest, ListSnapshotsRequest,
    ListSnapshotsResponse,
};
use tonic::{Request, Response, Status};

use super::unimplemented;

const WHY: &str = "snapshots arrive with the cluster work";

#[derive(Debug, Default)]
pub struct SnapshotsService;

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn create(
        &self,
        _: Request<CreateSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        Err(unimplemented("Snapshots.Create", WHY))
    }

    async fn list(
        &self,
        _: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        Err(unimplemented("Snapshots.List", WHY))
    }

    async fn delete(
        &self,
        _: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        Err(unimplemented("Snapshots.Delete", WHY))
    }

    async fn create_full(
        &self,
        _: Request<CreateFullSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        Err(unimplemented("Snapshots.CreateFull", WHY))
    }

    async fn list_full(
        &self,
        _: Request<ListFullSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        Err(unimplemented("Snapshots.ListFull", WHY))
    }

    async fn delete_full(
        &self,
        _: Request<DeleteFullSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        Err(unimplemented("Snapshots.DeleteFull", WHY))
    }
}
