//! Update operations: what the WAL records and a shard applies. Each is deterministic given the state
//! it is applied to, so replaying the log in order reproduces the state exactly.

use crate::{Filter, JsonPath, NamedVectors, Payload, PointId};

/// A point as written by an upsert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointRecord {
    pub id: PointId,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

/// Which points an operation touches.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PointSelector {
    Ids(Vec<PointId>),
    Filter(Filter),
}

/// One update, as logged and applied.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum UpdateOperation {
    /// Insert or replace whole points.
    Upsert(Vec<PointRecord>),
    Delete(PointSelector),
    /// Merge keys into the payload; with `key`, merge into the object at that path (created if absent).
    SetPayload {
        selector: PointSelector,
        payload: Payload,
        key: Option<JsonPath>,
    },
    OverwritePayload {
        selector: PointSelector,
        payload: Payload,
    },
    DeletePayload {
        selector: PointSelector,
        keys: Vec<JsonPath>,
    },
    ClearPayload(PointSelector),
    /// Replace the named vectors given, keep the others.
    UpdateVectors(Vec<(PointId, NamedVectors)>),
    DeleteVectors {
        selector: PointSelector,
        names: Vec<String>,
    },
}

impl UpdateOperation {
    /// The point ids this operation names explicitly, if it names them (used to route to shards).
    pub fn explicit_ids(&self) -> Option<Vec<PointId>> {
        match self {
            UpdateOperation::Upsert(points) => Some(points.iter().map(|p| p.id).collect()),
            UpdateOperation::UpdateVectors(v) => Some(v.iter().map(|p| p.0).collect()),
            _ => match self.selector()? {
                PointSelector::Ids(ids) => Some(ids.clone()),
                PointSelector::Filter(_) => None,
            },
        }
    }

    /// The filter selecting the points, for a filter-selected operation.
    pub fn filter(&self) -> Option<&Filter> {
        match self.selector()? {
            PointSelector::Filter(f) => Some(f),
            PointSelector::Ids(_) => None,
        }
    }

    /// [`UpdateOperation::filter`], mutable.
    pub fn filter_mut(&mut self) -> Option<&mut Filter> {
        match self.selector_mut()? {
            PointSelector::Filter(f) => Some(f),
            PointSelector::Ids(_) => None,
        }
    }

    /// [`UpdateOperation::selector`], mutable.
    fn selector_mut(&mut self) -> Option<&mut PointSelector> {
        match self {
            UpdateOperation::Upsert(_) | UpdateOperation::UpdateVectors(_) => None,
            UpdateOperation::Delete(s)
            | UpdateOperation::SetPayload { selector: s, .. }
            | UpdateOperation::OverwritePayload { selector: s, .. }
            | UpdateOperation::DeletePayload { selector: s, .. }
            | UpdateOperation::ClearPayload(s)
            | UpdateOperation::DeleteVectors { selector: s, .. } => Some(s),
        }
    }

    /// Which points a selector-based operation touches (`None` for upserts and vector updates).
    fn selector(&self) -> Option<&PointSelector> {
        match self {
            UpdateOperation::Upsert(_) | UpdateOperation::UpdateVectors(_) => None,
            UpdateOperation::Delete(s)
            | UpdateOperation::SetPayload { selector: s, .. }
            | UpdateOperation::OverwritePayload { selector: s, .. }
            | UpdateOperation::DeletePayload { selector: s, .. }
            | UpdateOperation::ClearPayload(s)
            | UpdateOperation::DeleteVectors { selector: s, .. } => Some(s),
        }
    }

    /// A filter-selected operation turned into the same operation on `ids` (what the filter
    /// selected at one replica, so every other replica applies exactly that); others unchanged.
    pub fn with_ids(&self, ids: Vec<PointId>) -> UpdateOperation {
        let mut out = self.clone();
        if let Some(sel) = out.selector_mut() {
            *sel = PointSelector::Ids(ids);
        }
        out
    }

    /// The same operation restricted to the ids accepted by `keep` (for splitting across shards).
    /// Filter-selected operations are returned unchanged: every shard applies them.
    pub fn restrict(&self, keep: impl Fn(&PointId) -> bool) -> UpdateOperation {
        let sel = |s: &PointSelector| match s {
            PointSelector::Ids(ids) => PointSelector::Ids(ids.iter().copied().filter(|i| keep(i)).collect()),
            PointSelector::Filter(f) => PointSelector::Filter(f.clone()),
        };
        match self {
            UpdateOperation::Upsert(points) => {
                UpdateOperation::Upsert(points.iter().filter(|p| keep(&p.id)).cloned().collect())
            }
            UpdateOperation::UpdateVectors(v) => {
                UpdateOperation::UpdateVectors(v.iter().filter(|p| keep(&p.0)).cloned().collect())
            }
            UpdateOperation::Delete(s) => UpdateOperation::Delete(sel(s)),
            UpdateOperation::SetPayload {
                selector,
                payload,
                key,
            } => UpdateOperation::SetPayload {
                selector: sel(selector),
                payload: payload.clone(),
                key: key.clone(),
            },
            UpdateOperation::OverwritePayload { selector, payload } => UpdateOperation::OverwritePayload {
                selector: sel(selector),
                payload: payload.clone(),
            },
            UpdateOperation::DeletePayload { selector, keys } => UpdateOperation::DeletePayload {
                selector: sel(selector),
                keys: keys.clone(),
            },
            UpdateOperation::ClearPayload(s) => UpdateOperation::ClearPayload(sel(s)),
            UpdateOperation::DeleteVectors { selector, names } => UpdateOperation::DeleteVectors {
                selector: sel(selector),
                names: names.clone(),
            },
        }
    }

    /// Ids an operation edits in place, which must exist (Qdrant answers "No point with id N found"
    /// rather than silently skipping them). Upserts create and deletes tolerate missing points.
    pub fn ids_that_must_exist(&self) -> Option<Vec<PointId>> {
        match self {
            UpdateOperation::Upsert(_) | UpdateOperation::Delete(_) => None,
            _ => self.explicit_ids(),
        }
    }

    /// True when the operation names an empty id list and so changes nothing.
    pub fn is_noop(&self) -> bool {
        self.explicit_ids().is_some_and(|ids| ids.is_empty())
    }
}
