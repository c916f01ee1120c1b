//! How an update operation changes a shard's segments. Deterministic for a given state, so applying
//! the log in order after a checkpoint reproduces exactly the state before a crash.

use quiver_segment::{payload_ops, Segment, SegmentConfig};
use quiver_types::{PointId, PointSelector, SeqNo, UpdateOperation};

/// A segment plus where its last persisted copy lives.
#[derive(Debug)]
pub(crate) struct Slot {
    pub segment: Segment,
    /// Folder under `segments/` holding the persisted copy; `None` if never persisted.
    pub folder: Option<String>,
    /// Changed since it was last persisted.
    pub dirty: bool,
}

/// The in-memory state of a shard.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub slots: Vec<Slot>,
    /// The last operation applied.
    pub applied: SeqNo,
}

impl State {
    /// Index of the slot holding `id`.
    pub fn find(&self, id: &PointId) -> Option<usize> {
        self.slots.iter().position(|s| s.segment.contains(id))
    }

    /// The ids an operation's selector names that exist here (ids in the order given, deduplicated).
    pub fn resolve(&self, selector: &PointSelector) -> Vec<PointId> {
        match selector {
            PointSelector::Ids(ids) => {
                let mut seen = std::collections::HashSet::new();
                ids.iter().filter(|id| seen.insert(**id)).copied().collect()
            }
            PointSelector::Filter(f) => self
                .slots
                .iter()
                .flat_map(|s| s.segment.matching_ids(Some(f)))
                .collect(),
        }
    }

    /// Edits every selected point that exists through `edit(segment, id)`.
    fn for_each_point(&mut self, ids: &[PointId], mut edit: impl FnMut(&mut Segment, &PointId) -> bool) {
        for id in ids {
            if let Some(i) = self.find(id) {
                let slot = &mut self.slots[i];
                if edit(&mut slot.segment, id) {
                    slot.dirty = true;
                }
            }
        }
    }

    /// The slot new points go to: the last one while it has room, else a fresh one.
    fn appendable(&mut self, config: &SegmentConfig, max_points: usize) -> usize {
        match self.slots.last() {
            Some(last) if last.segment.capacity() < max_points => self.slots.len() - 1,
            _ => {
                self.slots.push(Slot {
                    segment: Segment::new(config.clone()),
                    folder: None,
                    dirty: true,
                });
                self.slots.len() - 1
            }
        }
    }

    /// Applies one logged operation and records it as applied.
    pub fn apply(&mut self, op: &UpdateOperation, seqno: SeqNo, config: &SegmentConfig, max_points: usize) {
        let v = seqno.0;
        match op {
            UpdateOperation::Upsert(points) => {
                for p in points {
                    let i = match self.find(&p.id) {
                        Some(i) => i,
                        None => self.appendable(config, max_points),
                    };
                    let slot = &mut self.slots[i];
                    slot.segment.upsert(p.id, v, &p.vectors, p.payload.clone());
                    slot.dirty = true;
                }
            }
            UpdateOperation::Delete(sel) => {
                let ids = self.resolve(sel);
                self.for_each_point(&ids, |seg, id| seg.delete(id));
            }
            UpdateOperation::SetPayload {
                selector,
                payload,
                key,
            } => {
                let ids = self.resolve(selector);
                self.for_each_point(&ids, |seg, id| {
                    seg.edit_payload(id, v, |p| payload_ops::set_payload(p, payload, key.as_ref()))
                });
            }
            UpdateOperation::OverwritePayload { selector, payload } => {
                let ids = self.resolve(selector);
                self.for_each_point(&ids, |seg, id| seg.edit_payload(id, v, |p| *p = payload.clone()));
            }
            UpdateOperation::DeletePayload { selector, keys } => {
                let ids = self.resolve(selector);
                self.for_each_point(&ids, |seg, id| {
                    seg.edit_payload(id, v, |p| keys.iter().for_each(|k| payload_ops::delete_key(p, k)))
                });
            }
            UpdateOperation::ClearPayload(sel) => {
                let ids = self.resolve(sel);
                self.for_each_point(&ids, |seg, id| seg.edit_payload(id, v, |p| p.clear()));
            }
            UpdateOperation::UpdateVectors(points) => {
                for (id, vectors) in points {
                    if let Some(i) = self.find(id) {
                        let slot = &mut self.slots[i];
                        slot.segment.update_vectors(id, v, vectors);
                        slot.dirty = true;
                    }
                }
            }
            UpdateOperation::DeleteVectors { selector, names } => {
                let ids = self.resolve(selector);
                self.for_each_point(&ids, |seg, id| seg.delete_vectors(id, v, names));
            }
        }
        self.applied = seqno;
    }
}
