//! Storage layout: the order a rebuilt segment stores its points in. Points of one tenant (an
//! `is_tenant` field) sit together, then they go by an `is_principal` field, so a filter on either
//! reads one contiguous run of vectors and payloads instead of pages scattered over the segment.

use std::cmp::Ordering;

use quiver_types::{JsonPath, PointId};
use serde_json::Value;

use crate::segment::Segment;

/// One point's place in the layout: the first value of each layout field, in field order.
#[derive(Debug, Clone)]
pub struct LayoutKey(Vec<Part>);

#[derive(Debug, Clone)]
enum Part {
    Number(f64),
    Text(String),
    /// No string or number there: after every value.
    Missing,
}

fn rank(p: &Part) -> u8 {
    match p {
        Part::Number(_) => 0,
        Part::Text(_) => 1,
        Part::Missing => 2,
    }
}

fn compare(a: &Part, b: &Part) -> Ordering {
    match (a, b) {
        (Part::Number(x), Part::Number(y)) => x.total_cmp(y),
        (Part::Text(x), Part::Text(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Ord for LayoutKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for LayoutKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for LayoutKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for LayoutKey {}

fn first_value(path: &JsonPath, payload: &quiver_types::Payload) -> Part {
    let mut values = path.values(payload).into_iter().flat_map(|v| match v {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    });
    values
        .find_map(|v| match v {
            Value::Number(n) => n.as_f64().map(Part::Number),
            Value::String(s) => Some(Part::Text(s.clone())),
            _ => None,
        })
        .unwrap_or(Part::Missing)
}

impl Segment {
    /// Every live point with its layout key under `fields` (tenant fields first, then principal
    /// ones); sorting these orders a rebuilt segment.
    pub fn layout_keys(&self, fields: &[JsonPath]) -> Vec<(LayoutKey, PointId)> {
        self.ids
            .iter_from(None)
            .map(|(id, offset)| {
                let payload = self.payload_at(offset);
                let key = fields.iter().map(|f| first_value(f, payload)).collect();
                (LayoutKey(key), id)
            })
            .collect()
    }

    /// Live ids in the order their points are stored (offset order).
    pub fn ids_in_storage_order(&self) -> Vec<PointId> {
        let mut by_offset: Vec<(u32, PointId)> =
            self.ids.iter_from(None).map(|(id, off)| (off.0, id)).collect();
        by_offset.sort_unstable_by_key(|(off, _)| *off);
        by_offset.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SegmentConfig, VectorSpec};
    use quiver_types::{Distance, VectorData};
    use serde_json::json;

    #[test]
    fn keys_order_by_tenant_then_principal_with_missing_last() {
        let mut config = SegmentConfig::default();
        config.vectors.insert(
            String::new(),
            VectorSpec::Dense {
                size: 2,
                distance: Distance::Dot,
            },
        );
        let mut seg = Segment::new(config);
        let payloads = [
            json!({"t": "b", "y": 3}),
            json!({"t": "a", "y": 9}),
            json!({"y": 1}),
            json!({"t": ["a", "z"], "y": 2}),
            json!({"t": "b", "y": 1.5}),
        ];
        for (i, p) in payloads.iter().enumerate() {
            let v = [(String::new(), VectorData::Dense(vec![1.0, 0.0]))].into();
            let payload = p.as_object().cloned().unwrap_or_default();
            seg.upsert(PointId::Num(i as u64), 1, &v, payload);
        }
        let fields = [JsonPath::parse("t").unwrap(), JsonPath::parse("y").unwrap()];
        let mut keys = seg.layout_keys(&fields);
        keys.sort();
        let order: Vec<PointId> = keys.into_iter().map(|(_, id)| id).collect();
        let want = [3, 1, 4, 0, 2].map(PointId::Num);
        assert_eq!(order, want);
        assert_eq!(
            seg.ids_in_storage_order(),
            (0..5).map(PointId::Num).collect::<Vec<_>>()
        );
    }
}
