//! Point ids, vectors, payloads, selectors and every point update operation, from REST JSON.

use quiver_types::{
    JsonPath, NamedVectors, Payload, PointId, PointRecord, PointSelector, SparseVector, UpdateOperation,
    VectorData, WithPayload, WithVector, DEFAULT_VECTOR,
};
use serde_json::Value;

use super::filter::{filter, json_path};
use super::json::{array, bad, field, floats, index, join, object, string};
use crate::error::{ApiError, ApiResult};

/// An unsigned integer or a UUID string.
pub fn point_id(v: &Value, path: &str) -> ApiResult<PointId> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(PointId::Num)
            .ok_or_else(|| bad(path, "point id must be an unsigned integer or a UUID")),
        Value::String(s) => uuid::Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
            bad(
                path,
                format!("`{s}` is not a valid UUID (point ids are unsigned integers or UUIDs)"),
            )
        }),
        _ => Err(bad(path, "point id must be an unsigned integer or a UUID")),
    }
}

pub fn point_ids(v: &Value, path: &str) -> ApiResult<Vec<PointId>> {
    array(v, path)?
        .iter()
        .enumerate()
        .map(|(i, id)| point_id(id, &index(path, i)))
        .collect()
}

/// `{"indices": [...], "values": [...]}`.
pub fn sparse(v: &Value, path: &str) -> ApiResult<SparseVector> {
    let ip = join(path, "indices");
    let indices = array(
        field(v, "indices").ok_or_else(|| bad(path, "`indices` is required"))?,
        &ip,
    )?
    .iter()
    .enumerate()
    .map(|(i, x)| {
        x.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(&index(&ip, i), "expected a u32"))
    })
    .collect::<ApiResult<Vec<u32>>>()?;
    let values = floats(
        field(v, "values").ok_or_else(|| bad(path, "`values` is required"))?,
        &join(path, "values"),
    )?;
    SparseVector::new(indices, values).map_err(|e| bad(path, e))
}

/// One vector value: a list of floats or a sparse object.
pub fn vector_data(v: &Value, path: &str) -> ApiResult<VectorData> {
    match v {
        Value::Array(items) if items.first().is_some_and(Value::is_array) => {
            Err(bad(path, "multi-vectors are not supported yet"))
        }
        Value::Array(_) => Ok(VectorData::Dense(floats(v, path)?)),
        Value::Object(o) if o.contains_key("indices") => Ok(VectorData::Sparse(sparse(v, path)?)),
        Value::Object(o) if o.contains_key("text") || o.contains_key("image") => Err(bad(
            path,
            "inference objects (documents, images) are not supported: send vectors",
        )),
        _ => Err(bad(
            path,
            "expected a list of numbers or a sparse vector {indices, values}",
        )),
    }
}

/// A point's `vector`: a list (the unnamed vector) or `{name: vector}`.
pub fn vectors(v: &Value, path: &str) -> ApiResult<NamedVectors> {
    match v {
        Value::Object(map) if !map.contains_key("indices") => map
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(name, x)| Ok((name.clone(), vector_data(x, &join(path, name))?)))
            .collect(),
        _ => Ok(NamedVectors::from([(
            DEFAULT_VECTOR.to_string(),
            vector_data(v, path)?,
        )])),
    }
}

pub fn payload(v: Option<&Value>, path: &str) -> ApiResult<Payload> {
    match v {
        None | Some(Value::Null) => Ok(Payload::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(bad(path, "payload must be a JSON object")),
    }
}

/// `{"points": [...]}` or `{"batch": {"ids", "vectors", "payloads"}}`.
pub fn upsert(body: &Value, path: &str) -> ApiResult<UpdateOperation> {
    object(body, path)?;
    if let Some(points) = field(body, "points") {
        let pp = join(path, "points");
        let records = array(points, &pp)?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let ip = index(&pp, i);
                object(p, &ip)?;
                let id = point_id(
                    field(p, "id").ok_or_else(|| bad(&ip, "`id` is required"))?,
                    &join(&ip, "id"),
                )?;
                let vectors = match field(p, "vector").or_else(|| field(p, "vectors")) {
                    Some(v) => vectors(v, &join(&ip, "vector"))?,
                    None => NamedVectors::new(),
                };
                Ok(PointRecord {
                    id,
                    vectors,
                    payload: payload(p.get("payload"), &join(&ip, "payload"))?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        return Ok(UpdateOperation::Upsert(records));
    }
    let batch = field(body, "batch").ok_or_else(|| bad(path, "expected `points` or `batch`"))?;
    let bp = join(path, "batch");
    let ids = point_ids(
        field(batch, "ids").ok_or_else(|| bad(&bp, "`ids` is required"))?,
        &join(&bp, "ids"),
    )?;
    let n = ids.len();
    let mut per_point: Vec<NamedVectors> = vec![NamedVectors::new(); n];
    if let Some(vs) = field(batch, "vectors") {
        let vp = join(&bp, "vectors");
        let columns: Vec<(String, &Value)> = match vs {
            Value::Array(_) => vec![(DEFAULT_VECTOR.to_string(), vs)],
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            _ => return Err(bad(&vp, "expected a list of vectors or {name: list of vectors}")),
        };
        for (name, col) in columns {
            let cp = if name.is_empty() {
                vp.clone()
            } else {
                join(&vp, &name)
            };
            let items = array(col, &cp)?;
            if items.len() != n {
                return Err(bad(&cp, format!("has {} vectors but `ids` has {n}", items.len())));
            }
            for (i, item) in items.iter().enumerate() {
                if !item.is_null() {
                    per_point[i].insert(name.clone(), vector_data(item, &index(&cp, i))?);
                }
            }
        }
    }
    let payloads: Vec<Payload> = match field(batch, "payloads") {
        None => vec![Payload::new(); n],
        Some(p) => {
            let pp = join(&bp, "payloads");
            let items = array(p, &pp)?;
            if items.len() != n {
                return Err(bad(
                    &pp,
                    format!("has {} payloads but `ids` has {n}", items.len()),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, x)| payload(Some(x), &index(&pp, i)))
                .collect::<ApiResult<_>>()?
        }
    };
    Ok(UpdateOperation::Upsert(
        ids.into_iter()
            .zip(per_point)
            .zip(payloads)
            .map(|((id, vectors), payload)| PointRecord { id, vectors, payload })
            .collect(),
    ))
}

/// `{"points": [ids]}` or `{"filter": {...}}`.
pub fn selector(body: &Value, path: &str) -> ApiResult<PointSelector> {
    if let Some(p) = field(body, "points") {
        return Ok(PointSelector::Ids(point_ids(p, &join(path, "points"))?));
    }
    if let Some(f) = field(body, "filter") {
        return Ok(PointSelector::Filter(filter(f, &join(path, "filter"))?));
    }
    Err(bad(path, "expected `points` (a list of ids) or `filter`"))
}

pub fn with_payload(v: Option<&Value>, default: bool, path: &str) -> ApiResult<WithPayload> {
    let keys = |v: &Value, p: &str| -> ApiResult<Vec<JsonPath>> {
        array(v, p)?
            .iter()
            .enumerate()
            .map(|(i, k)| json_path(k, &index(p, i)))
            .collect()
    };
    match v {
        None | Some(Value::Null) => Ok(if default {
            WithPayload::All
        } else {
            WithPayload::None
        }),
        Some(Value::Bool(true)) => Ok(WithPayload::All),
        Some(Value::Bool(false)) => Ok(WithPayload::None),
        Some(a @ Value::Array(_)) => Ok(WithPayload::Include(keys(a, path)?)),
        Some(o @ Value::Object(_)) => {
            if let Some(inc) = field(o, "include") {
                Ok(WithPayload::Include(keys(inc, &join(path, "include"))?))
            } else if let Some(exc) = field(o, "exclude") {
                Ok(WithPayload::Exclude(keys(exc, &join(path, "exclude"))?))
            } else {
                Err(bad(path, "expected `include` or `exclude`"))
            }
        }
        Some(_) => Err(bad(
            path,
            "expected a boolean, a list of keys, or {include|exclude}",
        )),
    }
}

pub fn with_vector(v: Option<&Value>, default: bool, path: &str) -> ApiResult<WithVector> {
    match v {
        None | Some(Value::Null) => Ok(if default {
            WithVector::All
        } else {
            WithVector::None
        }),
        Some(Value::Bool(true)) => Ok(WithVector::All),
        Some(Value::Bool(false)) => Ok(WithVector::None),
        Some(a @ Value::Array(_)) => Ok(WithVector::Names(
            array(a, path)?
                .iter()
                .enumerate()
                .map(|(i, n)| Ok(string(n, &index(path, i))?.to_string()))
                .collect::<ApiResult<_>>()?,
        )),
        Some(_) => Err(bad(path, "expected a boolean or a list of vector names")),
    }
}

pub fn set_payload(body: &Value) -> ApiResult<UpdateOperation> {
    let payload = payload(
        Some(field(body, "payload").ok_or_else(|| bad("", "`payload` is required"))?),
        "payload",
    )?;
    let key = field(body, "key").map(|k| json_path(k, "key")).transpose()?;
    Ok(UpdateOperation::SetPayload {
        selector: selector(body, "")?,
        payload,
        key,
    })
}

pub fn overwrite_payload(body: &Value) -> ApiResult<UpdateOperation> {
    let payload = payload(
        Some(field(body, "payload").ok_or_else(|| bad("", "`payload` is required"))?),
        "payload",
    )?;
    Ok(UpdateOperation::OverwritePayload {
        selector: selector(body, "")?,
        payload,
    })
}

pub fn delete_payload(body: &Value) -> ApiResult<UpdateOperation> {
    let kv = field(body, "keys").ok_or_else(|| bad("", "`keys` is required"))?;
    let keys = array(kv, "keys")?
        .iter()
        .enumerate()
        .map(|(i, k)| json_path(k, &index("keys", i)))
        .collect::<ApiResult<_>>()?;
    Ok(UpdateOperation::DeletePayload {
        selector: selector(body, "")?,
        keys,
    })
}

pub fn update_vectors(body: &Value) -> ApiResult<UpdateOperation> {
    let pv = field(body, "points").ok_or_else(|| bad("", "`points` is required"))?;
    let points = array(pv, "points")?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ip = index("points", i);
            let id = point_id(
                field(p, "id").ok_or_else(|| bad(&ip, "`id` is required"))?,
                &join(&ip, "id"),
            )?;
            let v = field(p, "vector").ok_or_else(|| bad(&ip, "`vector` is required"))?;
            Ok((id, vectors(v, &join(&ip, "vector"))?))
        })
        .collect::<ApiResult<_>>()?;
    Ok(UpdateOperation::UpdateVectors(points))
}

pub fn delete_vectors(body: &Value) -> ApiResult<UpdateOperation> {
    let nv = field(body, "vector").ok_or_else(|| bad("", "`vector` (the names to delete) is required"))?;
    let names = array(nv, "vector")?
        .iter()
        .enumerate()
        .map(|(i, n)| Ok(string(n, &index("vector", i))?.to_string()))
        .collect::<ApiResult<_>>()?;
    Ok(UpdateOperation::DeleteVectors {
        selector: selector(body, "")?,
        names,
    })
}

/// One entry of `POST /points/batch`.
pub fn batch_operation(v: &Value, path: &str) -> ApiResult<UpdateOperation> {
    let o = object(v, path)?;
    let (kind, body) = o.iter().next().ok_or_else(|| bad(path, "empty operation"))?;
    let p = join(path, kind);
    let scoped = |r: ApiResult<UpdateOperation>| r.map_err(|e| prefix(e, &p));
    match kind.as_str() {
        "upsert" => upsert(body, &p),
        "delete" => Ok(UpdateOperation::Delete(selector(body, &p)?)),
        "set_payload" => scoped(set_payload(body)),
        "overwrite_payload" => scoped(overwrite_payload(body)),
        "delete_payload" => scoped(delete_payload(body)),
        "clear_payload" => Ok(UpdateOperation::ClearPayload(selector(body, &p)?)),
        "update_vectors" => scoped(update_vectors(body)),
        "delete_vectors" => scoped(delete_vectors(body)),
        other => Err(bad(path, format!("unknown operation `{other}`"))),
    }
}

fn prefix(e: ApiError, path: &str) -> ApiError {
    match e {
        ApiError::InvalidInput(m) => {
            ApiError::InvalidInput(m.replacen("JSON body: ", &format!("JSON body: {path}."), 1))
        }
        other => other,
    }
}
