//! Conversions between the wire (Qdrant's gRPC messages and REST JSON) and the engine's types.
//! Invalid values become [`crate::error::ApiError::InvalidInput`] naming the field.

pub mod grpc;
pub mod rest;
