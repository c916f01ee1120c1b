//! Where a gRPC request goes: `shard_key_selector` (custom sharding) and `read_consistency`.

use qdrant_client::qdrant as pb;
use quiver_types::{ReadConsistency, ReadOptions, ShardKey, ShardKeySelector};

use super::{bad, index, join};
use crate::error::ApiResult;

/// The shard keys a selector names (`None` when there is no selector); with a `fallback`,
/// exactly one key.
pub fn shard_keys(
    selector: &Option<pb::ShardKeySelector>,
    path: &str,
) -> ApiResult<Option<ShardKeySelector>> {
    let Some(sel) = selector else {
        return Ok(None);
    };
    let path = join(path, "shard_key_selector");
    if sel.shard_keys.is_empty() {
        return Err(bad(
            &join(&path, "shard_keys"),
            "an empty selector selects no shard",
        ));
    }
    let keys = sel
        .shard_keys
        .iter()
        .enumerate()
        .map(|(i, k)| shard_key(k, &index(&join(&path, "shard_keys"), i)))
        .collect::<ApiResult<Vec<_>>>()?;
    let fallback = match &sel.fallback {
        None => None,
        Some(_) if keys.len() != 1 => {
            return Err(bad(
                &join(&path, "shard_keys"),
                "a selector with a fallback names exactly one shard key",
            ))
        }
        Some(f) => Some(shard_key(f, &join(&path, "fallback"))?),
    };
    Ok(Some(ShardKeySelector { keys, fallback }))
}

/// One shard key.
pub fn shard_key(k: &pb::ShardKey, path: &str) -> ApiResult<ShardKey> {
    match &k.key {
        Some(pb::shard_key::Key::Keyword(s)) => Ok(ShardKey::Keyword(s.clone())),
        Some(pb::shard_key::Key::Number(n)) => Ok(ShardKey::Number(*n)),
        None => Err(bad(path, "a shard key needs a keyword or a number")),
    }
}

/// A shard key for the answer.
pub fn shard_key_out(k: &ShardKey) -> pb::ShardKey {
    pb::ShardKey {
        key: Some(match k {
            ShardKey::Keyword(s) => pb::shard_key::Key::Keyword(s.clone()),
            ShardKey::Number(n) => pb::shard_key::Key::Number(*n),
        }),
    }
}

/// `read_consistency` (one replica when absent).
pub fn consistency(c: &Option<pb::ReadConsistency>, path: &str) -> ApiResult<ReadConsistency> {
    use pb::read_consistency::Value;
    let path = join(path, "read_consistency");
    match c.as_ref().and_then(|c| c.value) {
        None => Ok(ReadConsistency::One),
        Some(Value::Factor(0)) => Err(bad(&path, "factor must be at least 1")),
        Some(Value::Factor(1)) => Ok(ReadConsistency::One),
        Some(Value::Factor(k)) => Ok(ReadConsistency::Factor(u32::try_from(k).unwrap_or(u32::MAX))),
        Some(Value::Type(t)) => match pb::ReadConsistencyType::try_from(t) {
            Ok(pb::ReadConsistencyType::All) => Ok(ReadConsistency::All),
            Ok(pb::ReadConsistencyType::Majority) => Ok(ReadConsistency::Majority),
            Ok(pb::ReadConsistencyType::Quorum) => Ok(ReadConsistency::Quorum),
            Err(_) => Err(bad(&path, format!("{t} is not All, Majority or Quorum"))),
        },
    }
}

/// The routing of a read.
pub fn read_options(
    selector: &Option<pb::ShardKeySelector>,
    consistency_level: &Option<pb::ReadConsistency>,
    path: &str,
) -> ApiResult<ReadOptions> {
    Ok(ReadOptions {
        consistency: consistency(consistency_level, path)?,
        shard_keys: shard_keys(selector, path)?,
    })
}

/// Each request of a read batch with its routing: the batch's `read_consistency` and the
/// request's own selector (`selectors`, named `field[i]` in errors).
pub fn batch_read_options<'a, Q>(
    requests: Vec<Q>,
    selectors: impl Iterator<Item = &'a Option<pb::ShardKeySelector>>,
    consistency_level: &Option<pb::ReadConsistency>,
    field: &str,
) -> ApiResult<Vec<(Q, ReadOptions)>> {
    let level = consistency(consistency_level, "")?;
    requests
        .into_iter()
        .zip(selectors)
        .enumerate()
        .map(|(i, (q, selector))| {
            let shard_keys = shard_keys(selector, &index(field, i))?;
            Ok((
                q,
                ReadOptions {
                    consistency: level,
                    shard_keys,
                },
            ))
        })
        .collect()
}

/// The shard key selector of one `UpdateBatch` operation.
#[allow(deprecated)] // The deprecated delete/clear forms carry no selector.
pub fn operation_selector(op: &pb::PointsUpdateOperation) -> &Option<pb::ShardKeySelector> {
    use pb::points_update_operation::Operation;
    const NONE: &Option<pb::ShardKeySelector> = &None;
    match &op.operation {
        Some(Operation::Upsert(u)) => &u.shard_key_selector,
        Some(Operation::DeletePoints(d)) => &d.shard_key_selector,
        Some(Operation::SetPayload(s)) => &s.shard_key_selector,
        Some(Operation::OverwritePayload(s)) => &s.shard_key_selector,
        Some(Operation::DeletePayload(d)) => &d.shard_key_selector,
        Some(Operation::ClearPayload(c)) => &c.shard_key_selector,
        Some(Operation::UpdateVectors(u)) => &u.shard_key_selector,
        Some(Operation::DeleteVectors(d)) => &d.shard_key_selector,
        Some(Operation::DeleteDeprecated(_)) | Some(Operation::ClearPayloadDeprecated(_)) | None => NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyword(s: &str) -> pb::ShardKey {
        pb::ShardKey {
            key: Some(pb::shard_key::Key::Keyword(s.into())),
        }
    }

    #[test]
    fn selectors_and_levels_read_and_bad_ones_name_the_field() {
        let sel = Some(pb::ShardKeySelector {
            shard_keys: vec![keyword("a"), shard_key_out(&ShardKey::Number(4))],
            fallback: None,
        });
        assert_eq!(
            shard_keys(&sel, "").unwrap(),
            Some(vec![ShardKey::Keyword("a".into()), ShardKey::Number(4)].into())
        );
        let tiered = Some(pb::ShardKeySelector {
            shard_keys: vec![keyword("big")],
            fallback: Some(keyword("shared")),
        });
        assert_eq!(
            shard_keys(&tiered, "").unwrap().unwrap().fallback,
            Some(ShardKey::Keyword("shared".into()))
        );
        let two_with_fallback = Some(pb::ShardKeySelector {
            shard_keys: vec![keyword("a"), keyword("b")],
            fallback: Some(keyword("shared")),
        });
        let e = shard_keys(&two_with_fallback, "").unwrap_err().to_string();
        assert!(e.contains("shard_key_selector.shard_keys"), "{e}");
        let empty_key = Some(pb::ShardKeySelector {
            shard_keys: vec![pb::ShardKey::default()],
            fallback: None,
        });
        let e = shard_keys(&empty_key, "query_points[1]").unwrap_err().to_string();
        assert!(
            e.contains("query_points[1].shard_key_selector.shard_keys[0]"),
            "{e}"
        );
        let level = |v| Some(pb::ReadConsistency { value: Some(v) });
        use pb::read_consistency::Value;
        assert_eq!(consistency(&None, "").unwrap(), ReadConsistency::One);
        assert_eq!(
            consistency(&level(Value::Type(0)), "").unwrap(),
            ReadConsistency::All
        );
        assert_eq!(
            consistency(&level(Value::Type(1)), "").unwrap(),
            ReadConsistency::Majority
        );
        assert_eq!(
            consistency(&level(Value::Factor(2)), "").unwrap(),
            ReadConsistency::Factor(2)
        );
        assert!(consistency(&level(Value::Type(9)), "")
            .unwrap_err()
            .to_string()
            .contains("read_consistency"));
        assert!(consistency(&level(Value::Factor(0)), "").is_err());
    }
}
