//! Maps external point ids to internal offsets, in id order (so scroll is a range walk), and keeps
//! each offset's version (the SeqNo of the last operation that wrote the point).

use std::collections::BTreeMap;
use std::ops::Bound;

use quiver_types::{PointId, PointOffset};

/// Live ids in order, plus per-offset bookkeeping. An offset whose id was deleted is a hole.
#[derive(Debug, Default, Clone)]
pub struct IdTracker {
    by_id: BTreeMap<PointId, PointOffset>,
    ids: Vec<Option<PointId>>,
    versions: Vec<u64>,
}

impl IdTracker {
    /// Number of live points.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of offsets ever allocated (live + holes).
    pub fn capacity(&self) -> usize {
        self.ids.len()
    }

    pub fn offset(&self, id: &PointId) -> Option<PointOffset> {
        self.by_id.get(id).copied()
    }

    pub fn id(&self, offset: PointOffset) -> Option<PointId> {
        self.ids.get(offset.0 as usize).copied().flatten()
    }

    pub fn version(&self, offset: PointOffset) -> u64 {
        self.versions.get(offset.0 as usize).copied().unwrap_or(0)
    }

    pub fn set_version(&mut self, offset: PointOffset, version: u64) {
        if let Some(v) = self.versions.get_mut(offset.0 as usize) {
            *v = version;
        }
    }

    /// Allocates the next offset for a new id.
    pub fn insert(&mut self, id: PointId, version: u64) -> PointOffset {
        let offset = PointOffset(self.ids.len() as u32);
        self.ids.push(Some(id));
        self.versions.push(version);
        self.by_id.insert(id, offset);
        offset
    }

    /// Allocates an offset that is a hole from the start (loading a sealed segment, whose graph
    /// still knows the offsets of points deleted after it was built).
    pub fn push_hole(&mut self) {
        self.ids.push(None);
        self.versions.push(0);
    }

    /// Turns the id's offset into a hole.
    pub fn remove(&mut self, id: &PointId) -> Option<PointOffset> {
        let offset = self.by_id.remove(id)?;
        self.ids[offset.0 as usize] = None;
        Some(offset)
    }

    /// Live (id, offset) pairs with id >= `from`, in id order.
    pub fn iter_from(&self, from: Option<PointId>) -> impl Iterator<Item = (PointId, PointOffset)> + '_ {
        let lower = match from {
            Some(id) => Bound::Included(id),
            None => Bound::Unbounded,
        };
        self.by_id
            .range((lower, Bound::Unbounded))
            .map(|(id, off)| (*id, *off))
    }

    /// Live offsets in offset order (the fastest scan order for vector storage).
    pub fn live_offsets(&self) -> impl Iterator<Item = PointOffset> + '_ {
        self.ids
            .iter()
            .enumerate()
            .filter(|(_, id)| id.is_some())
            .map(|(i, _)| PointOffset(i as u32))
    }

    pub fn is_live(&self, offset: PointOffset) -> bool {
        matches!(self.ids.get(offset.0 as usize), Some(Some(_)))
    }
}
