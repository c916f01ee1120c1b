//! Errors raised while building vocabulary values from untrusted input.

/// Why a value could not be built; the message names the offending field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypesError {
    #[error("invalid point id: {0}")]
    InvalidPointId(String),
    #[error("invalid json path `{path}`: {reason}")]
    InvalidJsonPath { path: String, reason: String },
}
