//! Reads a shared dataset folder: base.f16, queries.f16, gt*.i32, passages.jsonl, meta.json.

use std::path::Path;

use anyhow::Context;
use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, JsonPath, Match, Payload, Range, ValueVariant,
};

/// A dataset in memory, vectors widened to f32.
pub struct Dataset {
    pub n: usize,
    pub dim: usize,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub gt: Vec<i32>,
    pub gt_tenant: Vec<i32>,
    pub gt_range: Vec<i32>,
    pub payloads: Vec<Payload>,
}

fn f16_file(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(bytes
        .chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect())
}

fn i32_file(path: &Path) -> anyhow::Result<Vec<i32>> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Dataset {
    pub fn load(dir: &Path) -> anyhow::Result<Dataset> {
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
        let dim = meta["dim"].as_u64().context("meta.dim")? as usize;
        let base = f16_file(&dir.join("base.f16"))?;
        let n = base.len() / dim;
        let text = std::fs::read_to_string(dir.join("passages.jsonl"))?;
        let payloads = text
            .lines()
            .map(|l| {
                let mut p: Payload = serde_json::from_str(l)?;
                p.remove("id");
                p.remove("text");
                Ok(p)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Dataset {
            n,
            dim,
            base,
            queries: f16_file(&dir.join("queries.f16"))?,
            gt: i32_file(&dir.join("gt.i32"))?,
            gt_tenant: i32_file(&dir.join("gt_tenant.i32"))?,
            gt_range: i32_file(&dir.join("gt_range.i32"))?,
            payloads,
        })
    }

    /// (label, filter, ground truth) for the unfiltered case and the dataset's two filters.
    pub fn filters(&self) -> Vec<(&'static str, Option<Filter>, &[i32])> {
        let key = |k: &str| JsonPath::parse(k).expect("static key");
        let tenant = Filter {
            must: vec![Condition::Field(FieldCondition {
                key: key("tenant"),
                predicates: vec![FieldPredicate::Match(Match::Value(ValueVariant::Keyword(
                    "t034".into(),
                )))],
            })],
            ..Filter::default()
        };
        let range = Filter {
            must: vec![Condition::Field(FieldCondition {
                key: key("year"),
                predicates: vec![FieldPredicate::Range(Range {
                    gte: Some(2024.0),
                    ..Range::default()
                })],
            })],
            ..Filter::default()
        };
        vec![
            ("none", None, &self.gt),
            ("tenant", Some(tenant), &self.gt_tenant),
            ("range", Some(range), &self.gt_range),
        ]
    }
}
