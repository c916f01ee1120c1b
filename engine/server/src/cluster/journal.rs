//! Each local replica's place in its shard's write order, and the writes it applied lately, so
//! a replica that fell behind (Dead after a missed write, a lost link, a restart) catches up
//! with only the writes it missed (Qdrant's `wal_delta` transfer) instead of a full copy.
//!
//! The primary numbers each write of a shard (`seq`) and chains it to the one before
//! (`chain` = hash of the previous chain, the number and a value drawn once per primary
//! process), so two replicas at the same position have applied the same history: a write a
//! dead primary forwarded to some replicas only, or one numbered again by its successor, gives
//! a different chain. Replicas refuse a forwarded write whose predecessor is not their own
//! position (they missed one, or hold one the primary does not), which gets them demoted and
//! caught up. A delta is served only from a position the primary's window holds; anything else
//! falls back to a full copy.
//!
//! Positions live in memory and are written beside the shard's files at a clean stop, read back
//! (and the file removed, so a later crash never trusts it) at the next start. After a crash a
//! replica has no position until its next write: a full copy if it has to catch up.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::Path;

use parking_lot::Mutex;
use quiver_types::{UpdateOperation, VectorData};
use serde::{Deserialize, Serialize};

use super::ShardOfGeneration;

/// Bytes of recent writes each local replica keeps for deltas by default (an estimate of their
/// size; `cluster.wal_delta_window_mb`).
pub const WINDOW_BYTES: usize = 64 << 20;

/// The position file's name inside a shard's folder.
const POSITION_FILE: &str = "replication-position.json";

/// A place in a shard's write order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The write's number in the shard's order.
    pub seq: u64,
    /// A hash of the history up to and including it.
    pub chain: u64,
}

/// The writes after a position, as a primary hands them to a replica catching up, and the
/// position they end at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delta {
    /// In the shard's order.
    pub ops: Vec<UpdateOperation>,
    /// The position after the last of them.
    pub end: Position,
}

#[derive(Debug)]
struct Entry {
    at: Position,
    op: UpdateOperation,
    bytes: usize,
}

/// One replica's position and recent writes.
#[derive(Debug, Default)]
struct ShardJournal {
    position: Option<Position>,
    recent: VecDeque<Entry>,
    bytes: usize,
    /// The replica's incarnation the position was reached in: a replica dropped and added
    /// again (a new, empty incarnation) never takes a delta from its earlier life's position.
    incarnation: u64,
    /// The replica's data changed outside the write order (a restored snapshot, a difference a
    /// new primary found): no position, no delta served or taken, and forwarded writes are not
    /// recorded, until a whole copy ends ([`Journals::reset`]) or this node, as primary, starts
    /// a new numbering ([`Journals::next`]).
    tainted: bool,
}

/// The journals of this node's replicas. Cheap to share (behind an `Arc`).
#[derive(Debug)]
pub struct Journals {
    /// Drawn once per process: a primary's numbering never collides with another's.
    nonce: u64,
    window_bytes: usize,
    by_shard: Mutex<HashMap<ShardOfGeneration, ShardJournal>>,
}

impl Journals {
    /// Journals keeping up to `window_bytes` of recent writes per replica.
    pub fn new(window_bytes: usize) -> Journals {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::time::SystemTime::now().hash(&mut h);
        std::process::id().hash(&mut h);
        uuid::Uuid::new_v4().hash(&mut h);
        Journals {
            nonce: h.finish(),
            window_bytes,
            by_shard: Mutex::default(),
        }
    }

    /// The replica's position, if it knows one.
    pub fn position(&self, key: &ShardOfGeneration) -> Option<Position> {
        self.by_shard
            .lock()
            .get(key)
            .filter(|j| !j.tainted)
            .and_then(|j| j.position)
    }

    /// The replica's position with the incarnation it was reached in.
    pub fn position_in(&self, key: &ShardOfGeneration) -> Option<(Position, u64)> {
        let g = self.by_shard.lock();
        let j = g.get(key).filter(|j| !j.tainted)?;
        Some((j.position?, j.incarnation))
    }

    /// Marks the replica's data as changed outside the write order (see `tainted`).
    pub fn taint(&self, key: &ShardOfGeneration) {
        let mut g = self.by_shard.lock();
        g.insert(
            key.clone(),
            ShardJournal {
                tainted: true,
                ..ShardJournal::default()
            },
        );
    }

    /// The position of the next write a primary orders, after its current one (`None`: this
    /// primary does not know its position, and its replicas take the write unchecked).
    pub fn next(&self, key: &ShardOfGeneration) -> (Option<Position>, Position) {
        {
            let mut g = self.by_shard.lock();
            if let Some(j) = g.get_mut(key).filter(|j| j.tainted) {
                // A new numbering: positions of the old one are found in no window.
                j.tainted = false;
            }
        }
        let prev = self.position(key);
        let seq = prev.map_or(1, |p| p.seq + 1);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (prev.map(|p| p.chain), seq, self.nonce).hash(&mut h);
        (
            prev,
            Position {
                seq,
                chain: h.finish(),
            },
        )
    }

    /// Whether a forwarded write whose predecessor is `prev` follows this replica's position.
    pub fn follows(&self, key: &ShardOfGeneration, prev: Option<Position>) -> bool {
        match (prev, self.position(key)) {
            (Some(prev), Some(mine)) => prev == mine,
            _ => true,
        }
    }

    /// Records `op`, applied at `at`, as the replica's latest write (not while tainted).
    pub fn record(&self, key: &ShardOfGeneration, incarnation: u64, at: Position, op: &UpdateOperation) {
        let bytes = approx_bytes(op);
        let mut g = self.by_shard.lock();
        let j = g.entry(key.clone()).or_default();
        if j.tainted {
            return;
        }
        j.position = Some(at);
        j.incarnation = incarnation;
        j.recent.push_back(Entry {
            at,
            op: op.clone(),
            bytes,
        });
        j.bytes += bytes;
        while j.bytes > self.window_bytes {
            let Some(e) = j.recent.pop_front() else { break };
            j.bytes -= e.bytes;
        }
    }

    /// Sets the replica's position without a write (after a copy that ended at `at`), or
    /// forgets it; the window of earlier writes no longer applies either way.
    pub fn reset(&self, key: &ShardOfGeneration, at: Option<(Position, u64)>) {
        let mut g = self.by_shard.lock();
        match at {
            Some((at, incarnation)) => {
                g.insert(
                    key.clone(),
                    ShardJournal {
                        position: Some(at),
                        incarnation,
                        ..ShardJournal::default()
                    },
                );
            }
            None => {
                g.remove(key);
            }
        }
    }

    /// The writes after `from`, if this replica's window holds every one of them.
    pub fn since(&self, key: &ShardOfGeneration, from: Position) -> Option<Delta> {
        let g = self.by_shard.lock();
        let j = g.get(key).filter(|j| !j.tainted)?;
        let end = j.position?;
        if end == from {
            return Some(Delta { ops: Vec::new(), end });
        }
        let start = j.recent.iter().position(|e| e.at == from)?;
        Some(Delta {
            ops: j.recent.iter().skip(start + 1).map(|e| e.op.clone()).collect(),
            end,
        })
    }

    /// Writes each known position into its shard's folder (`shard_dir` of a key; `None` for a
    /// replica no longer held here). Called at a clean stop, once no write can arrive.
    pub fn save(&self, shard_dir: impl Fn(&ShardOfGeneration) -> Option<std::path::PathBuf>) {
        for (key, j) in self.by_shard.lock().iter().filter(|(_, j)| !j.tainted) {
            let (Some(at), Some(dir)) = (j.position, shard_dir(key)) else {
                continue;
            };
            let saved = Saved {
                generation: key.1,
                position: at,
                incarnation: j.incarnation,
            };
            if let Err(e) = write_position(&dir, &saved) {
                tracing::warn!("saving the replication position of {}: {e}", dir.display());
            }
        }
    }

    /// Reads (and removes) the position saved in `dir` for the replica `key`.
    pub fn load(&self, key: &ShardOfGeneration, dir: &Path) {
        let path = dir.join(POSITION_FILE);
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        if let Err(e) = std::fs::remove_file(&path) {
            // Kept, it could be trusted after a later crash: better no position at all.
            tracing::warn!("removing {}: {e}; not using it", path.display());
            return;
        }
        match serde_json::from_slice::<Saved>(&bytes) {
            Ok(s) if s.generation == key.1 => self.reset(key, Some((s.position, s.incarnation))),
            Ok(_) => {}
            Err(e) => tracing::warn!("{}: {e}; not using it", path.display()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    generation: u64,
    position: Position,
    incarnation: u64,
}

fn write_position(dir: &Path, saved: &Saved) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    quiver_cluster::fsio::write_atomic(&dir.join(POSITION_FILE), &bytes)
}

/// Roughly the memory a write takes (vectors dominate).
fn approx_bytes(op: &UpdateOperation) -> usize {
    let vectors = |v: &quiver_types::NamedVectors| {
        v.values()
            .map(|d| match d {
                VectorData::Dense(x) => x.len() * 4,
                VectorData::Sparse(s) => s.indices.len() * 8,
            })
            .sum::<usize>()
    };
    64 + match op {
        UpdateOperation::Upsert(points) => points
            .iter()
            .map(|p| 64 + vectors(&p.vectors) + 64 * p.payload.len())
            .sum(),
        UpdateOperation::UpdateVectors(v) => v.iter().map(|(_, n)| 32 + vectors(n)).sum(),
        other => 16 * other.explicit_ids().map_or(1, |ids| ids.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::{PointId, PointSelector};

    fn key() -> ShardOfGeneration {
        ("c".to_string(), 7, 0)
    }

    fn delete(id: u64) -> UpdateOperation {
        UpdateOperation::Delete(PointSelector::Ids(vec![PointId::Num(id)]))
    }

    /// Orders `n` writes as a primary would.
    fn order(j: &Journals, n: u64) -> Vec<Position> {
        (0..n)
            .map(|i| {
                let (_, at) = j.next(&key());
                j.record(&key(), 5, at, &delete(i));
                at
            })
            .collect()
    }

    #[test]
    fn a_delta_holds_the_writes_after_a_position_in_the_window() {
        let j = Journals::new(WINDOW_BYTES);
        let at = order(&j, 5);
        let d = j.since(&key(), at[1]).unwrap();
        assert_eq!(d.end, at[4]);
        let ids: Vec<_> = d.ops.iter().map(|o| o.explicit_ids().unwrap()[0]).collect();
        assert_eq!(ids, vec![PointId::Num(2), PointId::Num(3), PointId::Num(4)]);
        assert!(
            j.since(&key(), at[4]).unwrap().ops.is_empty(),
            "at the end: nothing"
        );
    }

    #[test]
    fn another_primarys_history_or_a_trimmed_one_gives_no_delta() {
        let small = Journals::new(3 * approx_bytes(&delete(0)));
        let at = order(&small, 6);
        assert!(small.since(&key(), at[0]).is_none(), "trimmed out of the window");
        assert!(small.since(&key(), at[3]).is_some());
        // The same numbers from another process chain differently.
        let other = Journals::new(WINDOW_BYTES);
        let theirs = order(&other, 6);
        assert_eq!(theirs[3].seq, at[3].seq);
        assert_ne!(theirs[3].chain, at[3].chain);
        assert!(small.since(&key(), theirs[3]).is_none());
        assert!(!small.follows(&key(), Some(theirs[5])));
        assert!(small.follows(&key(), Some(at[5])));
        assert!(
            small.follows(&key(), None),
            "an unknown predecessor is not checked"
        );
    }

    #[test]
    fn a_tainted_replica_neither_records_nor_serves_until_a_new_numbering() {
        let j = Journals::new(WINDOW_BYTES);
        let at = order(&j, 3);
        j.taint(&key());
        assert_eq!(j.position(&key()), None);
        assert!(j.since(&key(), at[1]).is_none(), "no delta from a tainted window");
        j.record(&key(), 5, at[2], &delete(9));
        assert_eq!(j.position(&key()), None, "forwarded writes are not recorded");
        // As primary it starts over: the old numbering's positions are in no window.
        let (prev, first) = j.next(&key());
        assert_eq!((prev, first.seq), (None, 1));
        j.record(&key(), 5, first, &delete(10));
        assert!(j.since(&key(), at[2]).is_none());
        assert!(j.since(&key(), first).unwrap().ops.is_empty());
    }

    #[test]
    fn a_saved_position_is_read_once_and_only_for_its_generation() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journals::new(WINDOW_BYTES);
        let at = order(&j, 3);
        j.save(|_| Some(dir.path().to_path_buf()));
        let back = Journals::new(WINDOW_BYTES);
        back.load(&("c".to_string(), 8, 0), dir.path());
        assert_eq!(
            back.position(&("c".to_string(), 8, 0)),
            None,
            "another generation"
        );
        j.save(|_| Some(dir.path().to_path_buf()));
        back.load(&key(), dir.path());
        assert_eq!(back.position_in(&key()), Some((at[2], 5)));
        assert!(!dir.path().join(POSITION_FILE).exists(), "removed once read");
        let again = Journals::new(WINDOW_BYTES);
        again.load(&key(), dir.path());
        assert_eq!(again.position(&key()), None);
    }
}
