//! Small readers over `serde_json::Value` that report the JSON path of a bad value.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

pub fn bad(path: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("Format error in JSON body: {path}: {msg}"))
}

/// The field, treating `null` as absent.
pub fn field<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub use crate::convert::{index, join};

pub fn object<'a>(v: &'a Value, path: &str) -> ApiResult<&'a serde_json::Map<String, Value>> {
    v.as_object().ok_or_else(|| bad(path, "expected an object"))
}

pub fn array<'a>(v: &'a Value, path: &str) -> ApiResult<&'a Vec<Value>> {
    v.as_array().ok_or_else(|| bad(path, "expected an array"))
}

pub fn string<'a>(v: &'a Value, path: &str) -> ApiResult<&'a str> {
    v.as_str().ok_or_else(|| bad(path, "expected a string"))
}

pub fn boolean(v: &Value, path: &str) -> ApiResult<bool> {
    v.as_bool().ok_or_else(|| bad(path, "expected true or false"))
}

pub fn number(v: &Value, path: &str) -> ApiResult<f64> {
    v.as_f64().ok_or_else(|| bad(path, "expected a number"))
}

pub fn unsigned(v: &Value, path: &str) -> ApiResult<u64> {
    v.as_u64()
        .ok_or_else(|| bad(path, "expected a non-negative integer"))
}

/// An optional unsigned field.
pub fn opt_unsigned(obj: &Value, key: &str, path: &str) -> ApiResult<Option<u64>> {
    field(obj, key).map(|v| unsigned(v, &join(path, key))).transpose()
}

/// Deserialises a field with serde, naming it in the error.
pub fn typed<T: serde::de::DeserializeOwned>(v: &Value, path: &str) -> ApiResult<T> {
    serde_json::from_value(v.clone()).map_err(|e| bad(path, e))
}

/// A list of f32 (non-finite values are rejected by the engine with their index).
pub fn floats(v: &Value, path: &str) -> ApiResult<Vec<f32>> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| bad(&index(path, i), "expected a number"))
        })
        .collect()
}
