//! Payload key paths: `a.b`, `a[].b` (every element of an array), `a[2]` (one element), and
//! `"quoted.key"` segments for keys that contain dots.

use crate::TypesError;

/// A parsed key path. Kept with its source text, which is what users see in errors and schemas.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct JsonPath {
    pub text: String,
    pub steps: Vec<PathStep>,
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum PathStep {
    Key(String),
    /// `[]`: every element of an array.
    Each,
    /// `[n]`: one element of an array.
    Index(usize),
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, TypesError> {
        let err = |reason: &str| TypesError::InvalidJsonPath {
            path: text.to_string(),
            reason: reason.into(),
        };
        if text.is_empty() {
            return Err(err("empty key"));
        }
        let bytes = text.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        let mut expect_key = true;
        while i < bytes.len() {
            if expect_key {
                if bytes[i] == b'"' {
                    let end = text[i + 1..].find('"').ok_or_else(|| err("unterminated quote"))? + i + 1;
                    steps.push(PathStep::Key(text[i + 1..end].to_string()));
                    i = end + 1;
                } else {
                    let end = text[i..].find(['.', '[']).map(|p| p + i).unwrap_or(bytes.len());
                    if end == i {
                        return Err(err("empty segment"));
                    }
                    steps.push(PathStep::Key(text[i..end].to_string()));
                    i = end;
                }
                expect_key = false;
                continue;
            }
            match bytes[i] {
                b'.' => {
                    expect_key = true;
                    i += 1;
                    if i == bytes.len() {
                        return Err(err("trailing dot"));
                    }
                }
                b'[' => {
                    let end = text[i..].find(']').ok_or_else(|| err("unterminated ["))? + i;
                    let inner = &text[i + 1..end];
                    if inner.is_empty() {
                        steps.push(PathStep::Each);
                    } else {
                        let n = inner
                            .parse::<usize>()
                            .map_err(|_| err("array index must be a number"))?;
                        steps.push(PathStep::Index(n));
                    }
                    i = end + 1;
                }
                _ => return Err(err("expected `.` or `[` after a segment")),
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    /// Every value reached by this path. Arrays at the end of the path are flattened one level, so
    /// "any element matches" falls out of checking each value.
    pub fn values<'a>(&self, payload: &'a crate::Payload) -> Vec<&'a serde_json::Value> {
        let mut out = Vec::new();
        let Some(PathStep::Key(first)) = self.steps.first() else {
            return out;
        };
        if let Some(v) = payload.get(first) {
            collect(&self.steps[1..], v, &mut out, true);
        }
        out
    }

    /// The values reached without flattening the final array (for `values_count`, `is_empty`).
    pub fn raw_values<'a>(&self, payload: &'a crate::Payload) -> Vec<&'a serde_json::Value> {
        let mut out = Vec::new();
        let Some(PathStep::Key(first)) = self.steps.first() else {
            return out;
        };
        if let Some(v) = payload.get(first) {
            collect(&self.steps[1..], v, &mut out, false);
        }
        out
    }

    /// The path of `self` with `prefix` removed from its front, if it starts with it.
    pub fn strip_prefix(&self, prefix: &JsonPath) -> Option<JsonPath> {
        if self.steps.len() > prefix.steps.len() && self.steps.starts_with(&prefix.steps) {
            let rest = self.steps[prefix.steps.len()..].to_vec();
            Some(JsonPath {
                text: render(&rest),
                steps: rest,
            })
        } else {
            None
        }
    }

    /// The path made of a prefix followed by more steps.
    pub fn join(&self, rest: &JsonPath) -> JsonPath {
        let mut steps = self.steps.clone();
        steps.extend(rest.steps.iter().cloned());
        JsonPath {
            text: render(&steps),
            steps,
        }
    }
}

fn render(steps: &[PathStep]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            PathStep::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                if k.contains(['.', '[', ']']) {
                    s.push('"');
                    s.push_str(k);
                    s.push('"');
                } else {
                    s.push_str(k);
                }
            }
            PathStep::Each => s.push_str("[]"),
            PathStep::Index(n) => s.push_str(&format!("[{n}]")),
        }
    }
    s
}

fn collect<'a>(
    steps: &[PathStep],
    value: &'a serde_json::Value,
    out: &mut Vec<&'a serde_json::Value>,
    flat: bool,
) {
    let Some(step) = steps.first() else {
        match value {
            serde_json::Value::Array(items) if flat => out.extend(items.iter()),
            v => out.push(v),
        }
        return;
    };
    match (step, value) {
        (PathStep::Key(k), serde_json::Value::Object(map)) => {
            if let Some(v) = map.get(k) {
                collect(&steps[1..], v, out, flat);
            }
        }
        (PathStep::Each, serde_json::Value::Array(items)) => {
            for item in items {
                collect(&steps[1..], item, out, flat);
            }
        }
        (PathStep::Index(n), serde_json::Value::Array(items)) => {
            if let Some(item) = items.get(*n) {
                collect(&steps[1..], item, out, flat);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: serde_json::Value) -> crate::Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_paths() {
        let p = JsonPath::parse("a.b[].c[2]").unwrap();
        assert_eq!(
            p.steps,
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Each,
                PathStep::Key("c".into()),
                PathStep::Index(2)
            ]
        );
        assert_eq!(
            JsonPath::parse("\"a.b\".c").unwrap().steps[0],
            PathStep::Key("a.b".into())
        );
        for bad in ["", "a.", ".a", "a[x]", "a[", "a..b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_flatten_final_arrays_and_walk_each() {
        let p = payload(json!({"a": {"b": [1, 2]}, "c": [{"d": 1}, {"d": [3, 4]}], "e": [{"d": 9}]}));
        let get = |s: &str| {
            JsonPath::parse(s)
                .unwrap()
                .values(&p)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(get("a.b"), vec![json!(1), json!(2)]);
        assert_eq!(get("c[].d"), vec![json!(1), json!(3), json!(4)]);
        assert_eq!(get("c[1].d"), vec![json!(3), json!(4)]);
        assert!(get("e.d").is_empty(), "a key step does not descend into arrays");
        assert!(get("missing").is_empty());
    }

    #[test]
    fn strip_and_join_round_trip() {
        let full = JsonPath::parse("a[].b.c").unwrap();
        let prefix = JsonPath::parse("a[]").unwrap();
        let rest = full.strip_prefix(&prefix).unwrap();
        assert_eq!(rest.text, "b.c");
        assert_eq!(prefix.join(&rest), full);
    }
}
