//! Conversions between the wire (Qdrant's gRPC messages and REST JSON) and the engine's types.
//! Invalid values become [`crate::error::ApiError::InvalidInput`] naming the field.

pub mod grpc;
pub mod rest;

/// `path.key` (or `key` at the root): the field paths errors name, on both surfaces.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Why a polygon ring is unusable, if it is (Qdrant's rule: at least 4 points, closed).
pub fn ring_problem<T: PartialEq>(ring: &[T]) -> Option<&'static str> {
    (ring.len() < 4 || ring.first() != ring.last())
        .then_some("a polygon ring needs at least 4 points and must be closed (first point = last point)")
}

/// Why a `quantization.oversampling` factor is unusable, if it is (it must be at least 1).
pub fn oversampling_problem(o: f64) -> Option<&'static str> {
    (!o.is_finite() || o < 1.0).then_some("must be a number of at least 1.0")
}
