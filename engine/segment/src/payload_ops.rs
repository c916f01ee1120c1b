//! Payload edits and projections by key path: set under a nested key, delete keys, and the
//! include/exclude selection used when returning points. A merge follows Qdrant: a top-level `null`
//! in the update removes that key from the target object; nested nulls are stored as given.

use quiver_types::{JsonPath, PathStep, Payload, WithPayload};
use serde_json::Value;

/// Merges `update` into the object at `key` (creating intermediate objects), or into the root.
/// With `[]` in the key, the merge applies to every element of the array it names.
pub fn set_payload(payload: &mut Payload, update: &Payload, key: Option<&JsonPath>) {
    match key {
        None => merge_into(payload, update),
        Some(path) => {
            let mut root = Value::Object(std::mem::take(payload));
            merge_at(&mut root, &path.steps, update);
            if let Value::Object(map) = root {
                *payload = map;
            }
        }
    }
}

fn merge_into(target: &mut Payload, update: &Payload) {
    for (k, v) in update {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

fn merge_at(value: &mut Value, steps: &[PathStep], update: &Payload) {
    let Some(step) = steps.first() else {
        if !value.is_object() {
            *value = Value::Object(Payload::new());
        }
        if let Value::Object(map) = value {
            merge_into(map, update);
        }
        return;
    };
    match step {
        PathStep::Key(k) => {
            if !value.is_object() {
                *value = Value::Object(Payload::new());
            }
            if let Value::Object(map) = value {
                let child = map.entry(k.clone()).or_insert(Value::Null);
                merge_at(child, &steps[1..], update);
            }
        }
        PathStep::Each => {
            if let Value::Array(items) = value {
                for item in items {
                    merge_at(item, &steps[1..], update);
                }
            }
        }
        PathStep::Index(n) => {
            if let Value::Array(items) = value {
                if let Some(item) = items.get_mut(*n) {
                    merge_at(item, &steps[1..], update);
                }
            }
        }
    }
}

/// Removes the value at `path` (every match when the path has `[]`).
pub fn delete_key(payload: &mut Payload, path: &JsonPath) {
    let steps = &path.steps;
    let Some(PathStep::Key(first)) = steps.first() else {
        return;
    };
    if steps.len() == 1 {
        payload.remove(first);
        return;
    }
    if let Some(v) = payload.get_mut(first) {
        delete_in(v, &steps[1..]);
    }
}

fn delete_in(value: &mut Value, steps: &[PathStep]) {
    let (step, rest) = match steps.split_first() {
        Some(x) => x,
        None => return,
    };
    match (step, value) {
        (PathStep::Key(k), Value::Object(map)) => {
            if rest.is_empty() {
                map.remove(k);
            } else if let Some(v) = map.get_mut(k) {
                delete_in(v, rest);
            }
        }
        (PathStep::Each, Value::Array(items)) => {
            if rest.is_empty() {
                items.clear();
            } else {
                items.iter_mut().for_each(|item| delete_in(item, rest));
            }
        }
        (PathStep::Index(n), Value::Array(items)) => {
            if rest.is_empty() {
                if *n < items.len() {
                    items.remove(*n);
                }
            } else if let Some(item) = items.get_mut(*n) {
                delete_in(item, rest);
            }
        }
        _ => {}
    }
}

/// The payload as a reader asked for it; `None` when no payload was requested.
pub fn select(payload: &Payload, with: &WithPayload) -> Option<Payload> {
    match with {
        WithPayload::None => None,
        WithPayload::All => Some(payload.clone()),
        WithPayload::Include(paths) => {
            let mut out = Payload::new();
            for path in paths {
                copy_path(payload, path, &mut out);
            }
            Some(out)
        }
        WithPayload::Exclude(paths) => {
            let mut out = payload.clone();
            for path in paths {
                delete_key(&mut out, path);
            }
            Some(out)
        }
    }
}

/// Copies the sub-tree at a plain key path (`a.b`) into `out` at the same place.
fn copy_path(src: &Payload, path: &JsonPath, out: &mut Payload) {
    let keys: Option<Vec<&String>> = path
        .steps
        .iter()
        .map(|s| if let PathStep::Key(k) = s { Some(k) } else { None })
        .collect();
    let Some(keys) = keys else {
        // Array steps: fall back to copying the whole top-level key.
        if let Some(PathStep::Key(first)) = path.steps.first() {
            if let Some(v) = src.get(first) {
                out.insert(first.clone(), v.clone());
            }
        }
        return;
    };
    // Parents that exist as objects are created in the output even when the leaf is missing,
    // as Qdrant's selection does.
    let mut cur = src;
    for (i, k) in keys.iter().enumerate() {
        let Some(v) = cur.get(*k) else {
            if i > 0 {
                insert_nested(out, &keys[..i], Value::Object(Payload::new()), false);
            }
            return;
        };
        if i + 1 == keys.len() {
            insert_nested(out, &keys, v.clone(), true);
            return;
        }
        match v {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
}

fn insert_nested(out: &mut Payload, keys: &[&String], value: Value, overwrite: bool) {
    let (last, parents) = match keys.split_last() {
        Some(x) => x,
        None => return,
    };
    let mut cur = out;
    for k in parents {
        let entry = cur
            .entry((*k).clone())
            .or_insert_with(|| Value::Object(Payload::new()));
        if !entry.is_object() {
            *entry = Value::Object(Payload::new());
        }
        match entry {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
    if overwrite || !cur.contains_key(*last) {
        cur.insert((*last).clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Payload {
        v.as_object().cloned().unwrap_or_default()
    }
    fn path(s: &str) -> JsonPath {
        JsonPath::parse(s).unwrap()
    }

    #[test]
    fn set_merges_at_root_and_nested_key() {
        let mut a = p(json!({"x": 1, "n": {"a": 1}}));
        set_payload(&mut a, &p(json!({"y": 2, "x": null})), None);
        set_payload(&mut a, &p(json!({"b": 2})), Some(&path("n")));
        set_payload(&mut a, &p(json!({"c": 3})), Some(&path("new.deep")));
        assert_eq!(
            Value::Object(a),
            json!({"y": 2, "n": {"a": 1, "b": 2}, "new": {"deep": {"c": 3}}})
        );
    }

    #[test]
    fn delete_and_select() {
        let mut a = p(json!({"x": 1, "n": {"a": 1, "b": 2}, "arr": [{"k": 1, "j": 2}]}));
        delete_key(&mut a, &path("n.a"));
        delete_key(&mut a, &path("arr[].k"));
        assert_eq!(
            Value::Object(a.clone()),
            json!({"x": 1, "n": {"b": 2}, "arr": [{"j": 2}]})
        );
        let inc = select(
            &a,
            &WithPayload::Include(vec![path("n.b"), path("missing"), path("x.q")]),
        )
        .unwrap();
        assert_eq!(Value::Object(inc), json!({"n": {"b": 2}}));
        let inc = select(&a, &WithPayload::Include(vec![path("n.zz")])).unwrap();
        assert_eq!(
            Value::Object(inc),
            json!({"n": {}}),
            "an existing parent object is kept"
        );
        let exc = select(&a, &WithPayload::Exclude(vec![path("n")])).unwrap();
        assert_eq!(Value::Object(exc), json!({"x": 1, "arr": [{"j": 2}]}));
        assert!(select(&a, &WithPayload::None).is_none());
    }
}
