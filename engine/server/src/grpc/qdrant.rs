//! `qdrant.Qdrant`: the health check clients call to find the server and its API version.

use qdrant_client::qdrant::qdrant_server::Qdrant;
use qdrant_client::qdrant::{HealthCheckReply, HealthCheckRequest};
use tonic::{Request, Response, Status};

use crate::version::{QDRANT_API_VERSION, TITLE};

/// Stateless: the answer is the server's identity.
#[derive(Debug, Default)]
pub struct QdrantService;

#[tonic::async_trait]
impl Qdrant for QdrantService {
    async fn health_check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckReply>, Status> {
        Ok(Response::new(HealthCheckReply {
            title: TITLE.to_string(),
            version: QDRANT_API_VERSION.to_string(),
            commit: None,
        }))
    }
}
