//! Payload indexes: `CreateFieldIndexCollection` -> (field, schema), and the payload schema report.
//!
//! The engine keeps a schema as Qdrant's REST shape: a type name (`keyword`, `integer`, ...) and,
//! when the user gave index parameters, the REST parameter object (`{"type": "text", "tokenizer":
//! "word", ...}`). The wire's typed parameter messages are converted to and from that object.
#![allow(deprecated)] // `on_disk` of the index params: deprecated on the wire, still sent by clients.

use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::payload_index_params::IndexParams as P;
use quiver_collection::PayloadFieldSchema;
use serde_json::{json, Map, Value};

use super::{bad, join};
use crate::error::ApiResult;

/// (FieldType on requests, PayloadSchemaType in reports, Qdrant's name).
const TYPES: [(pb::FieldType, pb::PayloadSchemaType, &str); 8] = [
    (pb::FieldType::Keyword, pb::PayloadSchemaType::Keyword, "keyword"),
    (pb::FieldType::Integer, pb::PayloadSchemaType::Integer, "integer"),
    (pb::FieldType::Float, pb::PayloadSchemaType::Float, "float"),
    (pb::FieldType::Geo, pb::PayloadSchemaType::Geo, "geo"),
    (pb::FieldType::Text, pb::PayloadSchemaType::Text, "text"),
    (pb::FieldType::Bool, pb::PayloadSchemaType::Bool, "bool"),
    (
        pb::FieldType::Datetime,
        pb::PayloadSchemaType::Datetime,
        "datetime",
    ),
    (pb::FieldType::Uuid, pb::PayloadSchemaType::Uuid, "uuid"),
];

const TOKENIZERS: [(pb::TokenizerType, &str); 5] = [
    (pb::TokenizerType::Prefix, "prefix"),
    (pb::TokenizerType::Whitespace, "whitespace"),
    (pb::TokenizerType::Word, "word"),
    (pb::TokenizerType::Multilingual, "multilingual"),
    (pb::TokenizerType::Code, "code"),
];

/// Copies the named optional fields of a wire message into a JSON object.
macro_rules! put {
    ($o:ident, $p:ident, $($f:ident),*) => { $( if let Some(v) = &$p.$f { $o.insert(stringify!($f).into(), json!(v)); } )* };
}

/// Reads the named fields of a JSON object into a wire message (`$as` converts a JSON value).
macro_rules! get {
    ($o:ident, $p:ident, $as:expr, $($f:ident),*) => { $( $p.$f = $o.get(stringify!($f)).and_then($as); )* };
}

/// The REST parameter object of a wire parameter message, and the type it declares.
fn params_json(p: &P, path: &str) -> ApiResult<(&'static str, Value)> {
    let mut o = Map::new();
    let kind = match p {
        P::KeywordIndexParams(p) => {
            put!(o, p, is_tenant, on_disk, enable_hnsw);
            "keyword"
        }
        P::IntegerIndexParams(p) => {
            put!(o, p, lookup, range, is_principal, on_disk, enable_hnsw);
            "integer"
        }
        P::FloatIndexParams(p) => {
            put!(o, p, is_principal, on_disk, enable_hnsw);
            "float"
        }
        P::GeoIndexParams(p) => {
            put!(o, p, on_disk, enable_hnsw);
            "geo"
        }
        P::BoolIndexParams(p) => {
            put!(o, p, on_disk, enable_hnsw);
            "bool"
        }
        P::DatetimeIndexParams(p) => {
            put!(o, p, is_principal, on_disk, enable_hnsw);
            "datetime"
        }
        P::UuidIndexParams(p) => {
            put!(o, p, is_tenant, on_disk, enable_hnsw);
            "uuid"
        }
        P::TextIndexParams(p) => {
            let tokenizer = TOKENIZERS
                .iter()
                .find(|(t, _)| *t as i32 == p.tokenizer)
                .map(|(_, name)| *name)
                .ok_or_else(|| {
                    bad(
                        &join(path, "tokenizer"),
                        "expected Prefix, Whitespace, Word, Multilingual or Code",
                    )
                })?;
            o.insert("tokenizer".into(), json!(tokenizer));
            put!(
                o,
                p,
                lowercase,
                min_token_len,
                max_token_len,
                on_disk,
                phrase_matching,
                ascii_folding,
                enable_hnsw
            );
            if let Some(s) = &p.stopwords {
                o.insert(
                    "stopwords".into(),
                    json!({"languages": s.languages, "custom": s.custom}),
                );
            }
            if let Some(pb::stemming_algorithm::StemmingParams::Snowball(s)) =
                p.stemmer.as_ref().and_then(|s| s.stemming_params.as_ref())
            {
                o.insert(
                    "stemmer".into(),
                    json!({"type": "snowball", "language": s.language}),
                );
            }
            "text"
        }
    };
    o.insert("type".into(), json!(kind));
    Ok((kind, Value::Object(o)))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The wire parameter message of a REST parameter object.
fn params_out(kind: &str, o: &Value) -> Option<P> {
    let b = Value::as_bool;
    Some(match kind {
        "keyword" => {
            let mut p = pb::KeywordIndexParams::default();
            get!(o, p, b, is_tenant, on_disk, enable_hnsw);
            P::KeywordIndexParams(p)
        }
        "integer" => {
            let mut p = pb::IntegerIndexParams::default();
            get!(o, p, b, lookup, range, is_principal, on_disk, enable_hnsw);
            P::IntegerIndexParams(p)
        }
        "float" => {
            let mut p = pb::FloatIndexParams::default();
            get!(o, p, b, is_principal, on_disk, enable_hnsw);
            P::FloatIndexParams(p)
        }
        "geo" => {
            let mut p = pb::GeoIndexParams::default();
            get!(o, p, b, on_disk, enable_hnsw);
            P::GeoIndexParams(p)
        }
        "bool" => {
            let mut p = pb::BoolIndexParams::default();
            get!(o, p, b, on_disk, enable_hnsw);
            P::BoolIndexParams(p)
        }
        "datetime" => {
            let mut p = pb::DatetimeIndexParams::default();
            get!(o, p, b, is_principal, on_disk, enable_hnsw);
            P::DatetimeIndexParams(p)
        }
        "uuid" => {
            let mut p = pb::UuidIndexParams::default();
            get!(o, p, b, is_tenant, on_disk, enable_hnsw);
            P::UuidIndexParams(p)
        }
        "text" => {
            let mut p = pb::TextIndexParams::default();
            let tokenizer = o.get("tokenizer").and_then(Value::as_str).unwrap_or("word");
            p.tokenizer = TOKENIZERS
                .iter()
                .find(|(_, n)| *n == tokenizer)
                .map_or(pb::TokenizerType::Word as i32, |(t, _)| *t as i32);
            get!(
                o,
                p,
                b,
                lowercase,
                on_disk,
                phrase_matching,
                ascii_folding,
                enable_hnsw
            );
            get!(o, p, Value::as_u64, min_token_len, max_token_len);
            p.stopwords = o.get("stopwords").map(|s| match s {
                Value::String(lang) => pb::StopwordsSet {
                    languages: vec![lang.clone()],
                    custom: vec![],
                },
                _ => pb::StopwordsSet {
                    languages: strings(s.get("languages")),
                    custom: strings(s.get("custom")),
                },
            });
            p.stemmer = o
                .get("stemmer")
                .and_then(|s| s.get("language"))
                .and_then(Value::as_str)
                .map(|language| pb::StemmingAlgorithm {
                    stemming_params: Some(pb::stemming_algorithm::StemmingParams::Snowball(
                        pb::SnowballParams {
                            language: language.to_string(),
                        },
                    )),
                });
            P::TextIndexParams(p)
        }
        _ => return None,
    })
}

/// `CreateFieldIndexCollection` -> the field and its schema. The type comes from `field_type` or,
/// when absent, from the kind of `field_index_params`; when both are given they must agree.
pub fn create_index(req: &pb::CreateFieldIndexCollection) -> ApiResult<(String, PayloadFieldSchema)> {
    let declared = req
        .field_type
        .map(|t| {
            TYPES
                .iter()
                .find(|(f, _, _)| *f as i32 == t)
                .map(|(_, _, name)| *name)
                .ok_or_else(|| bad("field_type", format!("{t} is not a known field type")))
        })
        .transpose()?;
    let params = req
        .field_index_params
        .as_ref()
        .and_then(|p| p.index_params.as_ref())
        .map(|p| params_json(p, "field_index_params"))
        .transpose()?;
    let data_type = match (declared, &params) {
        (Some(t), Some((k, _))) if t != *k => {
            return Err(bad(
                "field_index_params",
                format!("{k} index parameters do not match field_type {t}"),
            ))
        }
        (Some(t), _) => t,
        (None, Some((k, _))) => k,
        (None, None) => return Err(bad("field_type", "is required")),
    };
    Ok((
        req.field_name.clone(),
        PayloadFieldSchema {
            data_type: data_type.to_string(),
            params: params.map(|(_, v)| v),
        },
    ))
}

/// One entry of a collection's payload schema.
pub fn schema_info_out(schema: &PayloadFieldSchema, points: usize) -> pb::PayloadSchemaInfo {
    let data_type = TYPES
        .iter()
        .find(|(_, _, name)| *name == schema.data_type)
        .map_or(pb::PayloadSchemaType::UnknownType as i32, |(_, t, _)| *t as i32);
    let params = schema
        .params
        .as_ref()
        .and_then(|p| params_out(&schema.data_type, p))
        .map(|p| pb::PayloadIndexParams {
            index_params: Some(p),
        });
    pb::PayloadSchemaInfo {
        data_type,
        params,
        points: Some(points as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(field_type: Option<pb::FieldType>, params: Option<P>) -> pb::CreateFieldIndexCollection {
        pb::CreateFieldIndexCollection {
            collection_name: "c".into(),
            field_name: "f".into(),
            field_type: field_type.map(|t| t as i32),
            field_index_params: params.map(|p| pb::PayloadIndexParams {
                index_params: Some(p),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_type_by_field_type() {
        for (f, t, name) in TYPES {
            let (field, schema) = create_index(&request(Some(f), None)).unwrap();
            assert_eq!((field.as_str(), schema.data_type.as_str()), ("f", name));
            assert_eq!(schema_info_out(&schema, 3).data_type, t as i32);
            assert_eq!(schema_info_out(&schema, 3).points, Some(3));
        }
    }

    #[test]
    fn text_params_round_trip() {
        let text = pb::TextIndexParams {
            tokenizer: pb::TokenizerType::Prefix as i32,
            lowercase: Some(true),
            min_token_len: Some(2),
            max_token_len: Some(10),
            phrase_matching: Some(true),
            stopwords: Some(pb::StopwordsSet {
                languages: vec!["english".into()],
                custom: vec!["foo".into()],
            }),
            ..Default::default()
        };
        let (_, schema) = create_index(&request(None, Some(P::TextIndexParams(text.clone())))).unwrap();
        assert_eq!(schema.data_type, "text");
        let p = schema.params.clone().unwrap();
        assert_eq!(
            (p["type"].as_str(), p["tokenizer"].as_str()),
            (Some("text"), Some("prefix"))
        );
        let info = schema_info_out(&schema, 0);
        assert_eq!(
            info.params.and_then(|p| p.index_params),
            Some(P::TextIndexParams(text))
        );
    }

    #[test]
    fn keyword_params_and_mismatch() {
        let kw = P::KeywordIndexParams(pb::KeywordIndexParams {
            is_tenant: Some(true),
            ..Default::default()
        });
        let (_, schema) = create_index(&request(Some(pb::FieldType::Keyword), Some(kw.clone()))).unwrap();
        assert_eq!(
            schema_info_out(&schema, 0).params.and_then(|p| p.index_params),
            Some(kw.clone())
        );
        let e = create_index(&request(Some(pb::FieldType::Integer), Some(kw))).unwrap_err();
        assert!(e.to_string().contains("field_index_params"));
        let e = create_index(&request(None, None)).unwrap_err();
        assert!(e.to_string().contains("field_type"));
        // REST-declared schemas without params report no params.
        let plain = PayloadFieldSchema {
            data_type: "geo".into(),
            params: None,
        };
        assert_eq!(schema_info_out(&plain, 1).params, None);
    }
}
