//! The one place where engine errors become gRPC statuses and HTTP codes with Qdrant's error shape
//! (`{"status": {"error": "..."}, "time": ...}`).

use axum::http::StatusCode;
use quiver_collection::CollectionError;

/// An error as the API reports it.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ApiError {
    /// The request is malformed or violates the collection's schema (400 / INVALID_ARGUMENT).
    #[error("{0}")]
    InvalidInput(String),
    /// A collection, alias or point is missing (404 / NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The thing to create exists (409 / ALREADY_EXISTS). Message contains "already exists".
    #[error("{0}")]
    AlreadyExists(String),
    /// The request body is larger than the configured limit (413 / RESOURCE_EXHAUSTED).
    #[error("{0}")]
    TooLarge(String),
    /// Missing or wrong API key (401 / UNAUTHENTICATED).
    #[error("{0}")]
    Unauthorized(String),
    /// The server is shutting down or overloaded (503 / UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// A shard write reached a node that is no longer the shard's primary: the coordinator
    /// looks the primary up again (503 / UNAVAILABLE if it ever reaches a client).
    #[error("{0}")]
    NotPrimary(String),
    /// A bug or a storage failure (500 / INTERNAL).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::InvalidInput(msg.into())
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) | ApiError::NotPrimary(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        let msg = self.to_string();
        match self {
            ApiError::InvalidInput(_) => tonic::Status::invalid_argument(msg),
            ApiError::NotFound(_) => tonic::Status::not_found(msg),
            ApiError::AlreadyExists(_) => tonic::Status::already_exists(msg),
            ApiError::TooLarge(_) => tonic::Status::resource_exhausted(msg),
            ApiError::Unauthorized(_) => tonic::Status::unauthenticated(msg),
            ApiError::Unavailable(_) | ApiError::NotPrimary(_) => tonic::Status::unavailable(msg),
            ApiError::Internal(_) => tonic::Status::internal(msg),
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        e.to_status()
    }
}

impl From<CollectionError> for ApiError {
    fn from(e: CollectionError) -> Self {
        match e {
            CollectionError::InvalidInput(m) => ApiError::InvalidInput(m),
            CollectionError::NotFound(m) => ApiError::NotFound(m),
            CollectionError::AlreadyExists(m) => ApiError::AlreadyExists(m),
            CollectionError::Corrupt(m) => {
                ApiError::Internal(format!("Service internal error: corrupt data: {m}"))
            }
            CollectionError::Io(m) => ApiError::Internal(format!("Service internal error: {m}")),
        }
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = serde_json::json!({"status": {"error": self.to_string()}, "time": 0.0});
        (self.http_status(), axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
