//! One shard's writes as its primary orders them and its replicas receive them, and what a
//! catching-up replica copies from the primary.
//!
//! A primary resolves a filter-selected write to the ids it selects at that moment, so every
//! replica applies the same change. Active replicas get the write itself; a Partial replica
//! (one being copied) gets its effect: the changed points whole, or the ids now gone, so a
//! point the copy has not reached yet lands complete instead of being half-updated.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use quiver_cluster::metadata::ReplicaState;
use quiver_cluster::NodeId;
use quiver_collection::Collection;
use quiver_types::{
    PointId, PointRecord, PointSelector, Record, ShardId, UpdateOperation, VectorData, WithPayload,
    WithVector,
};

use super::journal::Position;
use super::wire::{Forwarded, ShardReply, ShardRequest, Target};
use super::{active_replicas, blocking, config_of, replicas_in, Distributed, StateChange};
use crate::error::{ApiError, ApiResult};

impl Distributed {
    /// The primary's side of a write: apply here, then on every other Active replica and every
    /// Partial one, in this shard's order (the write lock is held throughout).
    pub(super) async fn write_as_primary(
        &self,
        target: Target,
        shard: ShardId,
        op: UpdateOperation,
        wait: bool,
    ) -> ApiResult<ShardReply> {
        let c = self.local(&target).await?;
        let lock = self.write_lock(&target.collection, shard);
        let _ordered = lock.lock().await;
        // The index first: the metadata read after it is at least that new.
        let as_of = *self.reconciled.borrow();
        let meta = self.meta(&target.collection)?;
        let me = self.node.id();
        let active = active_replicas(&meta, shard);
        if active.first() != Some(&me) {
            return Err(ApiError::NotPrimary(format!(
                "node {me} is no longer the primary of shard {shard}"
            )));
        }
        let partial = replicas_in(&meta, shard, ReplicaState::Partial);
        let config = config_of(&meta)?;
        let op = match op.filter().cloned() {
            Some(f) => {
                let c = std::sync::Arc::clone(&c);
                let ids = blocking(move || Ok(c.matching_ids(shard, &f)?)).await?;
                op.with_ids(ids)
            }
            None => op,
        };
        let (local, local_op) = (std::sync::Arc::clone(&c), op.clone());
        let r = blocking(move || Ok(local.update_shard(shard, &local_op, wait)?)).await?;
        // Numbered once applied here (a write refused here never gets a number).
        let key = (target.collection.clone(), target.generation, shard);
        let (prev, at) = self.journals.next(&key);
        self.journals
            .record(&key, incarnation_in(&meta, shard, me), at, &op);
        let effect = if partial.is_empty() {
            Vec::new()
        } else {
            let (c, op) = (std::sync::Arc::clone(&c), op.clone());
            blocking(move || Ok(effect_of(&c, shard, &op))).await?
        };
        // An Active replica checks that the write follows its own position; a Partial one only
        // notes where the effects it got leave it.
        let send = |peer: NodeId, ops: Vec<UpdateOperation>, prev: Option<Position>| {
            let target = target.clone();
            let incarnation = incarnation_in(&meta, shard, peer);
            async move {
                for op in ops {
                    let req = ShardRequest::Replicate(Forwarded {
                        target: target.clone(),
                        shard,
                        op,
                        wait,
                        from: me,
                        as_of,
                        incarnation,
                        at: Some(at),
                        prev,
                    });
                    self.call(peer, req).await?;
                }
                Ok::<(), ApiError>(())
            }
        };
        let to_active = active[1..].iter().map(|&peer| {
            let f = send(peer, vec![op.clone()], prev);
            async move { (peer, ReplicaState::Active, f.await) }
        });
        let to_partial = partial.iter().map(|&peer| {
            let f = send(peer, effect.clone(), None);
            async move { (peer, ReplicaState::Partial, f.await) }
        });
        let (a, p) = futures_util::future::join(
            futures_util::future::join_all(to_active),
            futures_util::future::join_all(to_partial),
        )
        .await;
        let mut acks = 1u32;
        let mut settled_at = 0;
        for (peer, state, result) in a.into_iter().chain(p) {
            match (result, state) {
                (Ok(()), ReplicaState::Active) => acks += 1,
                (Ok(()), _) => {}
                (Err(e), _) => {
                    // No acknowledged write may be missing from a replica that still claims to
                    // be Active (or Partial, which becomes Active by itself): demote it first.
                    tracing::warn!(
                        "replica of shard {shard} on node {peer} missed a write: {e}; marking it Dead"
                    );
                    // From whatever state it reached meanwhile (a Partial one may have turned
                    // Active without this write).
                    let change = StateChange {
                        to: ReplicaState::Dead,
                        if_primary: Some(me),
                        expect: None,
                    };
                    settled_at = settled_at.max(self.set_state(&target, shard, peer, change).await?);
                }
            }
        }
        let needed = config.params.write_consistency_factor.max(1);
        if acks < needed {
            return Err(ApiError::Unavailable(format!(
                "shard {shard}: {acks} of the {needed} replicas write_consistency_factor requires took the write"
            )));
        }
        Ok(ShardReply::Written {
            operation_id: r.operation_id,
            settled_at,
        })
    }

    /// A replica's side of a write from the primary `from`.
    pub(super) async fn replicate(&self, f: Forwarded) -> ApiResult<ShardReply> {
        let Forwarded {
            target,
            shard,
            op,
            wait,
            from,
            as_of,
            incarnation,
            at,
            prev,
        } = f;
        let c = self.local(&target).await?;
        self.caught_up(as_of).await?;
        let meta = self.meta(&target.collection)?;
        let primary = active_replicas(&meta, shard).first().copied();
        if primary != Some(from) {
            return Err(ApiError::Unavailable(format!(
                "node {from} is not the primary of shard {shard} (the primary is {primary:?})"
            )));
        }
        let me = self.node.id();
        let mine = meta.shards.get(&shard).and_then(|s| s.replicas.get(&me)).copied();
        match mine {
            Some(r) if r.state != ReplicaState::Dead && r.incarnation == incarnation => {}
            _ => {
                return Err(ApiError::Unavailable(format!(
                    "the replica of shard {shard} on node {me} is {mine:?}, not incarnation {incarnation}"
                )))
            }
        }
        let key = (target.collection.clone(), target.generation, shard);
        let incoming = self
            .transfers
            .lock()
            .get(&(target.collection.clone(), shard))
            .cloned();
        let _copying = match &incoming {
            // Being copied: the write wins over whatever the copy brings later for these ids.
            Some(t) => {
                let guard = t.lock.lock().await;
                if let Some(ids) = op.explicit_ids() {
                    t.touched.lock().extend(ids);
                }
                if let Some(kept) = t.replay.lock().as_mut() {
                    kept.push(op.clone());
                    if t.defer.load(std::sync::atomic::Ordering::SeqCst) {
                        if at.is_some() {
                            *t.last.lock() = at;
                        }
                        // Applied after the delta it follows (see `recovery`).
                        return Ok(ShardReply::Written {
                            operation_id: 0,
                            settled_at: 0,
                        });
                    }
                }
                Some(guard)
            }
            None => {
                if !self.journals.follows(&key, prev) {
                    return Err(ApiError::Unavailable(format!(
                        "the replica of shard {shard} on node {me} is at {:?}, not at {prev:?} where this write follows: it missed a write or holds one the primary does not",
                        self.journals.position(&key)
                    )));
                }
                None
            }
        };
        // Only an Active replica's place in the order means anything (a Partial one with no
        // copy running holds a half copy).
        let active = mine.is_some_and(|r| r.state == ReplicaState::Active);
        let recorded = (incoming.is_none() && active).then(|| op.clone());
        let r = blocking(move || Ok(c.update_shard(shard, &op, wait)?)).await?;
        match (&incoming, at) {
            // Set once applied: `last` never names a write that did not land.
            (Some(t), Some(_)) => *t.last.lock() = at,
            (None, Some(at)) => {
                if let (Some(op), Some(r)) = (recorded, mine) {
                    self.journals.record(&key, r.incarnation, at, &op);
                }
            }
            _ => {}
        }
        Ok(ShardReply::Written {
            operation_id: r.operation_id,
            settled_at: 0,
        })
    }

    /// A page of whole points for a Partial replica (see [`ShardRequest::Page`]).
    pub(super) async fn page(
        &self,
        target: Target,
        shard: ShardId,
        as_of: u64,
        from: Option<PointId>,
        limit: usize,
    ) -> ApiResult<ShardReply> {
        let c = self.primary_for_copy(&target, shard, as_of).await?;
        if from.is_none() {
            // Every write that began before this node knew of the Partial replica ends here;
            // the later ones are forwarded to it.
            drop(self.write_lock(&target.collection, shard).lock().await);
        }
        let (records, next) = blocking(move || Ok(c.shard_page(shard, from, limit.clamp(1, 4096))?)).await?;
        Ok(ShardReply::Page(records, next))
    }

    /// The writes after `from` for a Partial replica (see [`ShardRequest::Delta`]).
    pub(super) async fn delta(
        &self,
        target: Target,
        shard: ShardId,
        as_of: u64,
        from: Position,
    ) -> ApiResult<ShardReply> {
        self.primary_for_copy(&target, shard, as_of).await?;
        // Every write that began before this node knew of the Partial replica ends here and is
        // in the window; the later ones are forwarded to it.
        let lock = self.write_lock(&target.collection, shard);
        let _held = lock.lock().await;
        let me = self.node.id();
        if active_replicas(&self.meta(&target.collection)?, shard).first() != Some(&me) {
            return Err(ApiError::Unavailable(format!(
                "node {me} is no longer the primary of shard {shard}"
            )));
        }
        let key = (target.collection.clone(), target.generation, shard);
        Ok(ShardReply::Delta(self.journals.since(&key, from)))
    }

    /// The local collection, for a copy to the replica made Partial at raft index `as_of`:
    /// once this node has caught up with that index, and only while it is the shard's primary.
    pub(super) async fn primary_for_copy(
        &self,
        target: &Target,
        shard: ShardId,
        as_of: u64,
    ) -> ApiResult<std::sync::Arc<Collection>> {
        let c = self.local(target).await?;
        self.caught_up(as_of).await?;
        let me = self.node.id();
        if active_replicas(&self.meta(&target.collection)?, shard).first() != Some(&me) {
            return Err(ApiError::Unavailable(format!(
                "node {me} is not the primary of shard {shard}"
            )));
        }
        Ok(c)
    }

    /// This node's replica of `shard`, fingerprinted.
    pub(super) async fn digest(&self, target: Target, shard: ShardId) -> ApiResult<ShardReply> {
        let c = self.local(&target).await?;
        blocking(move || {
            let (mut points, mut hash, mut from) = (0usize, 0u64, None);
            loop {
                let (page, next) = c.shard_page(shard, from, 1024)?;
                points += page.len();
                hash = page.iter().fold(hash, |h, r| h.wrapping_add(record_hash(r)));
                match next {
                    Some(n) => from = Some(n),
                    None => return Ok(ShardReply::Digest { points, hash }),
                }
            }
        })
        .await
    }
}

/// The incarnation of `node`'s replica of `shard` (0 when it holds none).
pub(super) fn incarnation_in(
    meta: &quiver_cluster::metadata::CollectionMeta,
    shard: ShardId,
    node: NodeId,
) -> u64 {
    meta.shards
        .get(&shard)
        .and_then(|s| s.replicas.get(&node))
        .map_or(0, |r| r.incarnation)
}

/// What a Partial replica must apply to match the primary after `op` (applied there): the
/// points `op` names, whole as they are now, and the ids among them that no longer exist.
fn effect_of(c: &Collection, shard: ShardId, op: &UpdateOperation) -> Vec<UpdateOperation> {
    let ids = op.explicit_ids().unwrap_or_default();
    let records = c.retrieve_in(
        &ids,
        &WithPayload::All,
        &WithVector::All,
        quiver_collection::Scope::Only(&[shard]),
    );
    let present: BTreeSet<PointId> = records.iter().map(|r| r.id).collect();
    let gone: Vec<PointId> = ids.into_iter().filter(|id| !present.contains(id)).collect();
    let mut out = Vec::new();
    if !records.is_empty() {
        out.push(UpdateOperation::Upsert(
            records
                .into_iter()
                .map(|r| PointRecord {
                    id: r.id,
                    vectors: r.vectors.unwrap_or_default(),
                    payload: r.payload.unwrap_or_default(),
                })
                .collect(),
        ));
    }
    if !gone.is_empty() {
        out.push(UpdateOperation::Delete(PointSelector::Ids(gone)));
    }
    out
}

/// A hash of one point's id, payload and vectors, to the bit (summed over a replica, so
/// order-free).
fn record_hash(r: &Record) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.id.hash(&mut h);
    serde_json::to_string(&r.payload).unwrap_or_default().hash(&mut h);
    for (name, v) in r.vectors.iter().flatten() {
        name.hash(&mut h);
        match v {
            VectorData::Dense(d) => d.iter().for_each(|x| x.to_bits().hash(&mut h)),
            VectorData::Sparse(s) => {
                s.indices.hash(&mut h);
                s.values.iter().for_each(|x| x.to_bits().hash(&mut h));
            }
        }
    }
    h.finish()
}
