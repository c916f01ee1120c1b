//! How an update operation changes a shard's segments. Deterministic for a given state, so applying
//! the log in order after a checkpoint reproduces exactly the state before a crash.

use quiver_segment::{payload_ops, Segment, SegmentConfig};
use quiver_types::{PointId, PointSelector, SeqNo, UpdateOperation, WithPayload, WithVector};

/// A segment plus where its last persisted copy lives.
#[derive(Debug)]
pub(crate) struct Slot {
    pub segment: Segment,
    /// Folder under `segments/` holding the persisted copy; `None` if never persisted.
    pub folder: Option<String>,
    /// Changed since it was last persisted.
    pub dirty: bool,
    /// Takes no new points (being indexed, or indexed): offsets stay what the graph knows, and a
    /// point rewritten with new vectors moves to an appendable segment.
    pub sealed: bool,
    /// Names this slot across reorderings, so an optimization finds it again when done.
    pub uid: u64,
}

impl Slot {
    pub fn new(segment: Segment, folder: Option<String>, dirty: bool, uid: u64) -> Slot {
        let sealed = segment.index().is_some();
        Slot {
            segment,
            folder,
            dirty,
            sealed,
            uid,
        }
    }
}

/// The in-memory state of a shard.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub slots: Vec<Slot>,
    /// The last operation applied.
    pub applied: SeqNo,
    /// The next `Slot::uid`.
    pub next_uid: u64,
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

    /// Adds a slot for `segment`.
    pub fn push(&mut self, segment: Segment, folder: Option<String>, dirty: bool) -> usize {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.slots.push(Slot::new(segment, folder, dirty, uid));
        self.slots.len() - 1
    }

    /// The slot new points go to: the last unsealed one while it has room, else a fresh one.
    fn appendable(&mut self, config: &SegmentConfig, max_points: usize) -> usize {
        match self
            .slots
            .iter()
            .rposition(|s| !s.sealed && s.segment.capacity() < max_points)
        {
            Some(i) => i,
            None => self.push(Segment::new(config.clone()), None, true),
        }
    }

    /// The slot to write `id` with new vectors into: where it is when that slot is appendable;
    /// otherwise it leaves its sealed segment and the returned slot is an appendable one.
    fn writable_slot(&mut self, id: &PointId, config: &SegmentConfig, max_points: usize) -> usize {
        match self.find(id) {
            Some(i) if !self.slots[i].sealed => i,
            Some(i) => {
                self.slots[i].segment.delete(id);
                self.slots[i].dirty = true;
                self.appendable(config, max_points)
            }
            None => self.appendable(config, max_points),
        }
    }

    /// Applies one logged operation and records it as applied.
    pub fn apply(&mut self, op: &UpdateOperation, seqno: SeqNo, config: &SegmentConfig, max_points: usize) {
        let v = seqno.0;
        match op {
            UpdateOperation::Upsert(points) => {
                for p in points {
                    let i = self.writable_slot(&p.id, config, max_points);
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
                    let Some(i) = self.find(id) else { continue };
                    if self.slots[i].sealed {
                        // Moves to an appendable segment with its merged vectors and payload.
                        let Some(mut record) =
                            self.slots[i]
                                .segment
                                .retrieve(id, &WithPayload::All, &WithVector::All)
                        else {
                            continue;
                        };
                        let mut merged = record.vectors.take().unwrap_or_default();
                        merged.extend(vectors.iter().map(|(k, d)| (k.clone(), d.clone())));
                        let j = self.writable_slot(id, config, max_points);
                        let slot = &mut self.slots[j];
                        slot.segment
                            .upsert(*id, v, &merged, record.payload.take().unwrap_or_default());
                        slot.dirty = true;
                    } else {
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
