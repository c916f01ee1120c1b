//! Payload values: `qdrant.Value` <-> `serde_json::Value`, and the payload selector of reads.
//!
//! Integer and double kinds are kept apart both ways: `integer_value` becomes a JSON integer, a
//! `double_value` a JSON float (even when whole, so `1.0` stays a float), and back. JSON cannot hold
//! NaN or infinities, so a non-finite double is rejected with its path.

use std::collections::HashMap;

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::value::Kind;
use qdrant_client::qdrant::with_payload_selector::SelectorOptions;
use quiver_types::{JsonPath, Payload, WithPayload};
use serde_json::Value;

use super::{bad, index, join};
use crate::error::ApiResult;

/// A wire value -> JSON.
pub fn value(v: &pb::Value, path: &str) -> ApiResult<Value> {
    match &v.kind {
        Some(Kind::NullValue(_)) => Ok(Value::Null),
        Some(Kind::BoolValue(b)) => Ok(Value::Bool(*b)),
        Some(Kind::IntegerValue(i)) => Ok(Value::from(*i)),
        Some(Kind::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .ok_or_else(|| bad(path, format!("{d} is not a finite number"))),
        Some(Kind::StringValue(s)) => Ok(Value::String(s.clone())),
        Some(Kind::StructValue(s)) => Ok(Value::Object(object(&s.fields, path)?)),
        Some(Kind::ListValue(l)) => l
            .values
            .iter()
            .enumerate()
            .map(|(i, x)| value(x, &index(path, i)))
            .collect::<ApiResult<Vec<_>>>()
            .map(Value::Array),
        None => Err(bad(path, "value has no kind set")),
    }
}

/// A wire map (payload, struct, metadata) -> a JSON object. Keys are sorted, as JSON objects are.
pub fn object(fields: &HashMap<String, pb::Value>, path: &str) -> ApiResult<Payload> {
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| Ok((k.clone(), value(&fields[k], &join(path, k))?)))
        .collect()
}

/// JSON -> a wire value.
pub fn value_out(v: &Value) -> pb::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(pb::NullValue::NullValue as i32),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            // Floats, and integers above i64::MAX, which the wire's int64 cannot hold.
            None => Kind::DoubleValue(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(pb::ListValue {
            values: items.iter().map(value_out).collect(),
        }),
        Value::Object(map) => Kind::StructValue(pb::Struct {
            fields: object_out(map),
        }),
    };
    pb::Value { kind: Some(kind) }
}

/// A JSON object -> a wire map.
pub fn object_out(map: &Payload) -> HashMap<String, pb::Value> {
    map.iter().map(|(k, v)| (k.clone(), value_out(v))).collect()
}

/// A payload key -> a parsed path.
pub fn json_path(key: &str, path: &str) -> ApiResult<JsonPath> {
    JsonPath::parse(key).map_err(|e| bad(path, e))
}

pub fn json_paths(keys: &[String], path: &str) -> ApiResult<Vec<JsonPath>> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| json_path(k, &index(path, i)))
        .collect()
}

/// Which payload a read returns; `default` applies when the selector is absent (Qdrant: false for
/// search and query, true for retrieve and scroll).
pub fn with_payload(
    sel: &Option<pb::WithPayloadSelector>,
    default: bool,
    path: &str,
) -> ApiResult<WithPayload> {
    match sel.as_ref().and_then(|s| s.selector_options.as_ref()) {
        None if default => Ok(WithPayload::All),
        None | Some(SelectorOptions::Enable(false)) => Ok(WithPayload::None),
        Some(SelectorOptions::Enable(true)) => Ok(WithPayload::All),
        Some(SelectorOptions::Include(inc)) => Ok(WithPayload::Include(json_paths(
            &inc.fields,
            &join(path, "include.fields"),
        )?)),
        Some(SelectorOptions::Exclude(exc)) => Ok(WithPayload::Exclude(json_paths(
            &exc.fields,
            &join(path, "exclude.fields"),
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(k: Kind) -> pb::Value {
        pb::Value { kind: Some(k) }
    }

    #[test]
    fn every_kind_round_trips() {
        let doc = json!({
            "null": null, "t": true, "i": -3, "big": 9_000_000_000_i64, "f": 1.5, "whole": 2.0,
            "s": "text", "list": [1, "a", [2.5]], "obj": {"nested": {"deep": [true, null]}}
        });
        let wire = value_out(&doc);
        let back = value(&wire, "payload").unwrap();
        assert_eq!(back, doc);
        // The float 2.0 stays a double on the wire and a float in JSON.
        let Some(Kind::StructValue(s)) = &wire.kind else {
            panic!("expected a struct")
        };
        assert_eq!(s.fields["whole"].kind, Some(Kind::DoubleValue(2.0)));
        assert_eq!(s.fields["i"].kind, Some(Kind::IntegerValue(-3)));
        assert!(back["whole"].is_f64());
        assert!(back["i"].is_i64());
    }

    #[test]
    fn wire_values_convert() {
        assert_eq!(value(&kind(Kind::IntegerValue(5)), "p").unwrap(), json!(5));
        assert_eq!(value(&kind(Kind::DoubleValue(5.0)), "p").unwrap(), json!(5.0));
        assert_eq!(value(&kind(Kind::NullValue(0)), "p").unwrap(), Value::Null);
        let list = kind(Kind::ListValue(pb::ListValue {
            values: vec![kind(Kind::BoolValue(false)), kind(Kind::StringValue("x".into()))],
        }));
        assert_eq!(value(&list, "p").unwrap(), json!([false, "x"]));
        // A number above i64::MAX goes out as a double.
        assert_eq!(
            value_out(&json!(u64::MAX)).kind,
            Some(Kind::DoubleValue(u64::MAX as f64))
        );
    }

    #[test]
    fn invalid_values_name_their_path() {
        let nan = kind(Kind::DoubleValue(f64::NAN));
        let fields = HashMap::from([(
            "a".to_string(),
            kind(Kind::ListValue(pb::ListValue {
                values: vec![kind(Kind::IntegerValue(1)), nan],
            })),
        )]);
        let e = object(&fields, "points[2].payload").unwrap_err().to_string();
        assert!(e.contains("points[2].payload.a[1]"), "{e}");
        let e = value(&pb::Value { kind: None }, "payload.x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("payload.x"), "{e}");
    }

    #[test]
    fn payload_selector_defaults_and_forms() {
        assert_eq!(with_payload(&None, true, "w").unwrap(), WithPayload::All);
        assert_eq!(with_payload(&None, false, "w").unwrap(), WithPayload::None);
        let sel = |o| {
            Some(pb::WithPayloadSelector {
                selector_options: Some(o),
            })
        };
        assert_eq!(
            with_payload(&sel(SelectorOptions::Enable(false)), true, "w").unwrap(),
            WithPayload::None
        );
        let inc = sel(SelectorOptions::Include(pb::PayloadIncludeSelector {
            fields: vec!["a.b".into()],
        }));
        assert_eq!(
            with_payload(&inc, false, "w").unwrap(),
            WithPayload::Include(vec![JsonPath::parse("a.b").unwrap()])
        );
        let bad_key = sel(SelectorOptions::Exclude(pb::PayloadExcludeSelector {
            fields: vec!["ok".into(), "a.".into()],
        }));
        let e = with_payload(&bad_key, false, "with_payload")
            .unwrap_err()
            .to_string();
        assert!(e.contains("with_payload.exclude.fields[1]"), "{e}");
    }
}
