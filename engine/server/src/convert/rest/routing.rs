//! Where a REST request goes: `shard_key` in the body (custom sharding) and the `consistency`
//! query parameter of reads.

use std::collections::HashMap;

use quiver_types::{ReadConsistency, ReadOptions, ShardKey, ShardKeySelector};
use serde_json::Value;

use super::json::{bad, field, join};
use crate::error::{ApiError, ApiResult};

/// One shard key: a string or a non-negative integer.
pub fn shard_key(v: &Value, path: &str) -> ApiResult<ShardKey> {
    match v {
        Value::String(s) => Ok(ShardKey::Keyword(s.clone())),
        Value::Number(n) => n
            .as_u64()
            .map(ShardKey::Number)
            .ok_or_else(|| bad(path, "a shard key number must be a non-negative integer")),
        _ => Err(bad(
            path,
            "expected a shard key: a string or a non-negative integer",
        )),
    }
}

/// `shard_key` of `body`: one key, a list of keys, or `{"target": key, "fallback": key}`
/// (`None` when absent).
pub fn shard_keys(body: &Value, path: &str) -> ApiResult<Option<ShardKeySelector>> {
    let path = join(path, "shard_key");
    let Some(v) = field(body, "shard_key") else {
        return Ok(None);
    };
    let keys = match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, k)| shard_key(k, &super::json::index(&path, i)))
            .collect::<ApiResult<Vec<_>>>()?,
        Value::Object(m) => {
            let part = |name: &str| {
                let at = join(&path, name);
                match m.get(name) {
                    Some(v) => shard_key(v, &at),
                    None => Err(bad(&at, "is required with a fallback selector")),
                }
            };
            if let Some(other) = m.keys().find(|k| *k != "target" && *k != "fallback") {
                return Err(bad(
                    &join(&path, other),
                    "unknown field; a fallback selector has `target` and `fallback`",
                ));
            }
            return Ok(Some(ShardKeySelector {
                keys: vec![part("target")?],
                fallback: Some(part("fallback")?),
            }));
        }
        one => vec![shard_key(one, &path)?],
    };
    if keys.is_empty() {
        return Err(bad(&path, "an empty list of shard keys selects no shard"));
    }
    Ok(Some(keys.into()))
}

/// The `consistency` query parameter: a number of replicas, `majority`, `quorum` or `all`.
pub fn consistency(q: &HashMap<String, String>) -> ApiResult<ReadConsistency> {
    let Some(v) = q.get("consistency") else {
        return Ok(ReadConsistency::One);
    };
    match v.as_str() {
        "majority" => Ok(ReadConsistency::Majority),
        "quorum" => Ok(ReadConsistency::Quorum),
        "all" => Ok(ReadConsistency::All),
        n => match n.parse::<u32>() {
            Ok(0) | Err(_) => Err(ApiError::invalid(format!(
                "consistency: expected a number of replicas (1 or more), majority, quorum or all; got {n:?}"
            ))),
            Ok(1) => Ok(ReadConsistency::One),
            Ok(k) => Ok(ReadConsistency::Factor(k)),
        },
    }
}

/// The routing of a read: `shard_key` from `body` (at `path`) and `consistency`.
pub fn read_options(body: &Value, path: &str, consistency: ReadConsistency) -> ApiResult<ReadOptions> {
    Ok(ReadOptions {
        consistency,
        shard_keys: shard_keys(body, path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_keys_read_one_or_many_and_name_the_bad_field() {
        assert_eq!(shard_keys(&json!({}), "").unwrap(), None);
        assert_eq!(
            shard_keys(&json!({"shard_key": "acme"}), "").unwrap(),
            Some(vec![ShardKey::Keyword("acme".into())].into())
        );
        assert_eq!(
            shard_keys(&json!({"shard_key": ["a", 3]}), "").unwrap(),
            Some(vec![ShardKey::Keyword("a".into()), ShardKey::Number(3)].into())
        );
        let e = shard_keys(&json!({"shard_key": ["a", -1]}), "searches[2]").unwrap_err();
        assert!(e.to_string().contains("searches[2].shard_key[1]"), "{e}");
        assert!(shard_keys(&json!({"shard_key": []}), "").is_err());
        let e = shard_keys(&json!({"shard_key": {"fallback": "a"}}), "").unwrap_err();
        assert!(e.to_string().contains("shard_key.target"), "{e}");
        let e = shard_keys(
            &json!({"shard_key": {"target": "a", "fallback": "b", "x": 1}}),
            "",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shard_key.x"), "{e}");
        assert_eq!(
            shard_keys(&json!({"shard_key": {"target": "big", "fallback": "shared"}}), "").unwrap(),
            Some(ShardKeySelector {
                keys: vec![ShardKey::Keyword("big".into())],
                fallback: Some(ShardKey::Keyword("shared".into())),
            })
        );
    }

    #[test]
    fn consistency_levels_parse_and_bad_ones_name_the_parameter() {
        let q = |v: &str| HashMap::from([("consistency".to_string(), v.to_string())]);
        assert_eq!(consistency(&HashMap::new()).unwrap(), ReadConsistency::One);
        assert_eq!(consistency(&q("all")).unwrap(), ReadConsistency::All);
        assert_eq!(consistency(&q("majority")).unwrap(), ReadConsistency::Majority);
        assert_eq!(consistency(&q("quorum")).unwrap(), ReadConsistency::Quorum);
        assert_eq!(consistency(&q("3")).unwrap(), ReadConsistency::Factor(3));
        assert_eq!(consistency(&q("1")).unwrap(), ReadConsistency::One);
        for bad in ["0", "some", "-2"] {
            assert!(consistency(&q(bad))
                .unwrap_err()
                .to_string()
                .contains("consistency"));
        }
    }
}
