//! Dead replicas recover by themselves: the node holding one becomes Partial through raft (only
//! from Dead) and, while the primary forwards each new write's effect, catches up: with only the
//! writes it missed when it knows its place in the shard's order and the primary still holds
//! them ([`super::journal`], Qdrant's WAL delta), else it clears its replica and copies every
//! point from the primary page by page (or as one archive, for a replica added with the
//! `snapshot` method: [`super::snapshot_transfer`]). Then it becomes Active through raft (only
//! from Partial). A forwarded write always wins over the copy for the ids it touched. Any failure
//! (the primary changed or is unreachable, a forwarded write was missed and the replica demoted)
//! ends the attempt; the replica goes back to Dead and the next attempt starts from scratch, so
//! an abort at any step is safe.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use quiver_cluster::metadata::{ReplicaState, TransferMethod};
use quiver_types::{PointId, PointRecord, ShardId, UpdateOperation};

use super::journal::Position;
use super::snapshot_transfer::SnapshotCopyError;
use super::wire::{ShardReply, ShardRequest, Target};
use super::{active_replicas, blocking, Distributed, StateChange};
use crate::error::{ApiError, ApiResult};

/// How a replica that caught up by delta says so in the log.
const BY_DELTA: &str = "by WAL delta";

/// Points per page of a copy.
const PAGE: usize = 512;
/// How often Dead local replicas are looked for besides metadata changes (a failed attempt is
/// retried this often).
const RETRY: Duration = Duration::from_secs(2);

/// A local replica being copied: the ids forwarded writes touched since it began.
#[derive(Debug, Default)]
pub struct Incoming {
    pub(super) touched: parking_lot::Mutex<HashSet<PointId>>,
    /// Held while a forwarded write or a copied page is applied, so they never interleave.
    pub(super) lock: tokio::sync::Mutex<()>,
    /// A copy by snapshot keeps every forwarded effect here until the archive is installed,
    /// then applies them again (see [`super::snapshot_transfer`]); a catch-up by delta keeps
    /// them to apply after the delta.
    pub(super) replay: parking_lot::Mutex<Option<Vec<UpdateOperation>>>,
    /// Forwarded effects are only kept, not applied yet (until the delta they follow is).
    pub(super) defer: std::sync::atomic::AtomicBool,
    /// The place in the shard's order of the last write forwarded during the copy: where the
    /// replica stands once Active.
    pub(super) last: parking_lot::Mutex<Option<Position>>,
}

impl Distributed {
    /// Starts the task that recovers this node's Dead replicas.
    pub(super) fn spawn_healer(&self) {
        let d = self.clone();
        tokio::spawn(async move {
            let mut changes = d.reconciled.clone();
            loop {
                d.heal();
                let _ = tokio::time::timeout(RETRY, changes.changed()).await;
            }
        });
    }

    /// One recovery task per Dead local replica that has none running, and per Partial one with
    /// none running (left so by a crash or a lost answer mid-recovery).
    fn heal(&self) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.check_takeovers();
        let me = self.node.id();
        for (name, c) in self.node.metadata().collections {
            for (&i, s) in &c.shards {
                let state = s.replicas.get(&me).map(|r| r.state);
                if !matches!(state, Some(ReplicaState::Dead | ReplicaState::Partial)) {
                    continue;
                }
                let key = (name.clone(), c.generation, i);
                if !self.recovering.lock().insert(key.clone()) {
                    continue;
                }
                let d = self.clone();
                let target = Target::of(name.clone(), c.generation);
                tokio::spawn(async move {
                    let shard = key.2;
                    match d.recover(&target, shard).await {
                        Ok((n, how)) => tracing::info!(
                            "replica of shard {shard} of `{}` recovered {how} ({n} {})",
                            target.collection,
                            if how == BY_DELTA { "writes" } else { "points" }
                        ),
                        Err(e) => tracing::warn!(
                            "recovering the replica of shard {shard} of `{}`: {e}; will retry",
                            target.collection
                        ),
                    }
                    d.transfers.lock().remove(&(target.collection.clone(), shard));
                    d.recovering.lock().remove(&key);
                });
            }
        }
    }

    /// Copies the replica of `shard` afresh from its primary; returns the points it holds then
    /// and how they came ("by snapshot" or "by streamed records").
    async fn recover(&self, target: &Target, shard: ShardId) -> ApiResult<(usize, &'static str)> {
        let me = self.node.id();
        let c = self.local(target).await?;
        let meta = self.meta(&target.collection)?;
        let mine = meta.shards.get(&shard).and_then(|s| s.replicas.get(&me)).copied();
        if mine.map(|r| r.state) == Some(ReplicaState::Partial) {
            // A copy no process is running: start over from Dead.
            let dead = StateChange {
                to: ReplicaState::Dead,
                if_primary: None,
                expect: Some(ReplicaState::Partial),
            };
            self.set_state(target, shard, me, dead).await?;
        }
        let method = meta
            .shards
            .get(&shard)
            .and_then(|s| s.replicas.get(&me))
            .and_then(|r| r.method);
        let by_snapshot = method == Some(TransferMethod::Snapshot);
        // A write this node began as the shard's primary, before it learnt it was demoted, may
        // still be landing here (applied locally, refused by the others). Waiting for the
        // shard's write lock lets it finish, so the position read next counts it and no delta
        // is taken from a history the new primary does not share; later writes here find this
        // node no longer primary and are refused.
        let demoted_writes = self.write_lock(&target.collection, shard);
        let demoted_writes_done = demoted_writes.lock().await;
        // A position holds only for the data it was reached with: taken out here, it comes back
        // when this copy ends Active.
        let key = (target.collection.clone(), target.generation, shard);
        // Only a Dead replica's own position in its current incarnation: a Partial one holds a
        // half copy, and one dropped and added again is empty.
        let delta_from = match (self.journals.position_in(&key), mine) {
            (Some((at, incarnation)), Some(r))
                if r.state == ReplicaState::Dead && r.incarnation == incarnation =>
            {
                Some(at)
            }
            _ => None,
        };
        self.journals.reset(&key, None);
        let incoming = Arc::new(Incoming {
            replay: parking_lot::Mutex::new((by_snapshot || delta_from.is_some()).then(Vec::new)),
            defer: delta_from.is_some().into(),
            ..Incoming::default()
        });
        self.transfers
            .lock()
            .insert((target.collection.clone(), shard), Arc::clone(&incoming));
        if delta_from.is_none() {
            let _g = incoming.lock.lock().await;
            let c = Arc::clone(&c);
            blocking(move || Ok(c.clear_shard(shard)?)).await?;
        }
        drop(demoted_writes_done);
        let partial = StateChange {
            to: ReplicaState::Partial,
            if_primary: None,
            expect: Some(ReplicaState::Dead),
        };
        let as_of = self.set_state(target, shard, me, partial).await?;
        const STREAMED: &str = "by streamed records";
        let streamed = |r: ApiResult<usize>| r.map(|n| (n, STREAMED));
        let mut delta_end = None;
        if let Some(from) = delta_from {
            match self.copy_by_delta(target, shard, as_of, from, &c, &incoming).await {
                Ok(Some((writes, end))) => delta_end = Some((writes, end)),
                Ok(None) => tracing::info!(
                    "shard {shard} of `{}`: the primary no longer holds every write after {from:?}; copying the whole replica",
                    target.collection
                ),
                Err(e) => tracing::warn!(
                    "catching shard {shard} of `{}` up by delta: {e}; copying the whole replica",
                    target.collection
                ),
            }
        }
        let copied = match (delta_end, delta_from) {
            (Some((writes, _)), _) => Ok((writes, BY_DELTA)),
            (None, Some(_)) => match self.start_over(shard, &c, &incoming).await {
                Ok(()) => streamed(self.copy_from_primary(target, shard, as_of, &c, &incoming).await),
                Err(e) => Err(e),
            },
            (None, None) => match by_snapshot {
                true => match self.copy_by_snapshot(target, shard, as_of, &c, &incoming).await {
                    Ok(points) => Ok((points, "by snapshot")),
                    Err(SnapshotCopyError::Install(e)) => Err(e),
                    Err(SnapshotCopyError::BeforeInstall(e)) => {
                        tracing::warn!(
                            "copying shard {shard} of `{}` by snapshot: {e}; streaming records instead",
                            target.collection
                        );
                        incoming.replay.lock().take();
                        streamed(self.copy_from_primary(target, shard, as_of, &c, &incoming).await)
                    }
                },
                false => streamed(self.copy_from_primary(target, shard, as_of, &c, &incoming).await),
            },
        };
        match copied {
            Ok(points) => {
                let c2 = Arc::clone(&c);
                blocking(move || Ok(c2.sync_wal()?)).await?;
                let active = StateChange {
                    to: ReplicaState::Active,
                    if_primary: None,
                    expect: Some(ReplicaState::Partial),
                };
                self.set_state(target, shard, me, active).await?;
                // Where it stands: after the last write forwarded during the copy, or where the
                // delta ended; unknown after a full copy no write came during.
                let _g = incoming.lock.lock().await;
                let at = incoming.last.lock().or(delta_end.map(|d| d.1));
                let incarnation = self
                    .meta(&target.collection)
                    .map(|m| super::replica::incarnation_in(&m, shard, me));
                self.journals.reset(&key, at.zip(incarnation.ok()));
                self.transfers.lock().remove(&(target.collection.clone(), shard));
                Ok(points)
            }
            Err(e) => {
                let dead = StateChange {
                    to: ReplicaState::Dead,
                    if_primary: None,
                    expect: Some(ReplicaState::Partial),
                };
                let _ = self.set_state(target, shard, me, dead).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                Err(e)
            }
        }
    }

    /// Applies the writes after `from` as the primary hands them, then the forwarded effects
    /// kept meanwhile. `None` when the primary no longer holds every one of them (nothing is
    /// applied then); on an error the kept effects stay kept, for [`Distributed::start_over`].
    async fn copy_by_delta(
        &self,
        target: &Target,
        shard: ShardId,
        as_of: u64,
        from: Position,
        c: &Arc<quiver_collection::Collection>,
        incoming: &Incoming,
    ) -> ApiResult<Option<(usize, Position)>> {
        self.caught_up(as_of).await?;
        let primary = self.primary_of(target, shard)?;
        let req = ShardRequest::Delta {
            target: target.clone(),
            shard,
            as_of,
            from,
        };
        let delta = match self.call(primary, req).await? {
            ShardReply::Delta(d) => d,
            other => {
                return Err(ApiError::Internal(format!(
                    "unexpected reply to a delta request: {other:?}"
                )))
            }
        };
        let Some(delta) = delta else { return Ok(None) };
        let _g = incoming.lock.lock().await;
        let kept = incoming.replay.lock().clone().unwrap_or_default();
        let writes = delta.ops.len();
        let c = Arc::clone(c);
        blocking(move || {
            for op in delta.ops.iter().chain(&kept) {
                c.update_shard(shard, op, false)?;
            }
            Ok(())
        })
        .await?;
        incoming.replay.lock().take();
        incoming.defer.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(Some((writes, delta.end)))
    }

    /// Gives up on a delta: clears the replica and applies the forwarded effects kept so far,
    /// then lets later ones apply as they come (the copy that follows skips the ids they touched).
    async fn start_over(
        &self,
        shard: ShardId,
        c: &Arc<quiver_collection::Collection>,
        incoming: &Incoming,
    ) -> ApiResult<()> {
        let _g = incoming.lock.lock().await;
        let kept = incoming.replay.lock().take().unwrap_or_default();
        incoming.defer.store(false, std::sync::atomic::Ordering::SeqCst);
        let c = Arc::clone(c);
        blocking(move || {
            c.clear_shard(shard)?;
            for op in &kept {
                c.update_shard(shard, op, false)?;
            }
            Ok(())
        })
        .await
    }

    async fn copy_from_primary(
        &self,
        target: &Target,
        shard: ShardId,
        as_of: u64,
        c: &Arc<quiver_collection::Collection>,
        incoming: &Incoming,
    ) -> ApiResult<usize> {
        self.caught_up(as_of).await?;
        let primary = self.primary_of(target, shard)?;
        let (mut from, mut copied) = (None, 0usize);
        loop {
            let now = active_replicas(&self.meta(&target.collection)?, shard)
                .first()
                .copied();
            if now != Some(primary) {
                return Err(ApiError::Unavailable(format!(
                    "the primary of shard {shard} changed during the copy"
                )));
            }
            let req = ShardRequest::Page {
                target: target.clone(),
                shard,
                as_of,
                from,
                limit: PAGE,
            };
            let (records, next) = match self.call(primary, req).await? {
                ShardReply::Page(records, next) => (records, next),
                other => {
                    return Err(ApiError::Internal(format!(
                        "unexpected reply to a page request: {other:?}"
                    )))
                }
            };
            {
                let _g = incoming.lock.lock().await;
                let fresh: Vec<PointRecord> = {
                    let touched = incoming.touched.lock();
                    records
                        .into_iter()
                        .filter(|r| !touched.contains(&r.id))
                        .map(|r| PointRecord {
                            id: r.id,
                            vectors: r.vectors.unwrap_or_default(),
                            payload: r.payload.unwrap_or_default(),
                        })
                        .collect()
                };
                copied += fresh.len();
                if !fresh.is_empty() {
                    let c = Arc::clone(c);
                    blocking(move || Ok(c.update_shard(shard, &UpdateOperation::Upsert(fresh), false)?))
                        .await?;
                }
            }
            match next {
                Some(n) => from = Some(n),
                None => return Ok(copied),
            }
        }
    }
}
