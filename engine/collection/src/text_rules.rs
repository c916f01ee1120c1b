//! Full-text index settings applied to text matches: a `text`, `text_any` or `phrase` condition
//! on a field whose text index sets `lowercase`, `min_token_len` or `max_token_len` is rewritten
//! into a [`Match::Words`] carrying those rules, so every segment (indexed or not) splits the
//! query and the stored strings the same way and a filter answers the same with or without the
//! index. Conditions inside `nested` filters keep the default word rules.

use std::collections::BTreeMap;

use quiver_types::{
    Condition, FieldPredicate, Filter, JsonPath, Match, TextRules, UpdateOperation, WordMode, WordQuery,
};

use crate::collection::PayloadFieldSchema;

/// The rules of every `text` field declared with settings other than the defaults.
pub fn declared_rules(schema: &BTreeMap<String, PayloadFieldSchema>) -> Vec<(JsonPath, TextRules)> {
    schema
        .iter()
        .filter(|(_, s)| s.data_type == "text")
        .filter_map(|(field, s)| {
            let p = s.params.as_ref()?;
            let len = |k: &str| p.get(k).and_then(serde_json::Value::as_u64).map(|n| n as usize);
            let rules = TextRules {
                lowercase: p
                    .get("lowercase")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(true),
                min_token_len: len("min_token_len"),
                max_token_len: len("max_token_len"),
            };
            (rules != TextRules::default()).then(|| Some((JsonPath::parse(field).ok()?, rules)))?
        })
        .collect()
}

/// `filter` with the text conditions on ruled fields rewritten; `None` when nothing changes.
pub fn resolve(filter: &Filter, rules: &[(JsonPath, TextRules)]) -> Option<Filter> {
    if rules.is_empty() {
        return None;
    }
    let mut out = filter.clone();
    rewrite(&mut out, rules).then_some(out)
}

/// [`resolve`] for the filter selector of an update operation.
pub fn resolve_operation(op: &UpdateOperation, rules: &[(JsonPath, TextRules)]) -> Option<UpdateOperation> {
    let filter = op.filter()?;
    let resolved = resolve(filter, rules)?;
    let mut out = op.clone();
    if let Some(f) = out.filter_mut() {
        *f = resolved;
    }
    Some(out)
}

fn rewrite(filter: &mut Filter, rules: &[(JsonPath, TextRules)]) -> bool {
    let mut changed = false;
    let min_should = filter.min_should.iter_mut().flat_map(|m| m.conditions.iter_mut());
    for c in filter
        .must
        .iter_mut()
        .chain(filter.should.iter_mut())
        .chain(filter.must_not.iter_mut())
        .chain(min_should)
    {
        match c {
            Condition::Field(fc) => {
                let Some((_, r)) = rules.iter().find(|(p, _)| *p == fc.key) else {
                    continue;
                };
                for p in fc.predicates.iter_mut() {
                    let FieldPredicate::Match(m) = p else { continue };
                    let (text, mode) = match m {
                        Match::Text(t) => (t, WordMode::All),
                        Match::TextAny(t) => (t, WordMode::Any),
                        Match::Phrase(t) => (t, WordMode::Phrase),
                        _ => continue,
                    };
                    *m = Match::Words(WordQuery {
                        text: std::mem::take(text),
                        mode,
                        rules: *r,
                    });
                    changed = true;
                }
            }
            Condition::Filter(inner) => changed |= rewrite(inner, rules),
            _ => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::FieldCondition;
    use serde_json::json;

    #[test]
    fn only_ruled_text_fields_are_rewritten() {
        let schema: BTreeMap<String, PayloadFieldSchema> = [
            (
                "body".to_string(),
                PayloadFieldSchema {
                    data_type: "text".into(),
                    params: Some(json!({"type": "text", "lowercase": false, "min_token_len": 2})),
                },
            ),
            (
                "plain".to_string(),
                PayloadFieldSchema {
                    data_type: "text".into(),
                    params: Some(json!({"type": "text", "lowercase": true})),
                },
            ),
        ]
        .into();
        let rules = declared_rules(&schema);
        assert_eq!(rules.len(), 1, "default settings need no rewrite");
        let cond = |key: &str| {
            Condition::Field(FieldCondition {
                key: JsonPath::parse(key).unwrap(),
                predicates: vec![FieldPredicate::Match(Match::Phrase("Red Fox".into()))],
            })
        };
        let filter = Filter {
            must: vec![cond("plain")],
            should: vec![Condition::Filter(Box::new(Filter {
                must: vec![cond("body")],
                ..Filter::default()
            }))],
            ..Filter::default()
        };
        let out = resolve(&filter, &rules).unwrap();
        assert_eq!(out.must, filter.must);
        let Condition::Filter(inner) = &out.should[0] else {
            panic!("shape kept")
        };
        let Condition::Field(fc) = &inner.must[0] else {
            panic!("shape kept")
        };
        let FieldPredicate::Match(Match::Words(q)) = &fc.predicates[0] else {
            panic!("rewritten: {fc:?}")
        };
        assert_eq!((q.text.as_str(), q.mode), ("Red Fox", WordMode::Phrase));
        assert!(!q.rules.lowercase && q.rules.min_token_len == Some(2));
        assert_eq!(resolve(&Filter::default(), &rules), None);
    }
}
