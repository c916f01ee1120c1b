//! Reads in cluster mode: which replicas answer (by consistency level, failing over), the
//! raft read barrier of linearizable reads, and merging the answers of query, fusion, count,
//! scroll and retrieve.

use std::collections::BTreeMap;

use quiver_cluster::metadata::CollectionMeta;
use quiver_cluster::NodeId;
use quiver_collection::{route, ScrollRequest};
use quiver_types::{
    Filter, PointId, Prefetch, Query, QueryRequest, ReadOptions, Record, ScoredPoint, ShardId, VectorData,
    VectorInput, WithPayload, WithVector,
};

use super::coordinator::unexpected;
use super::service::CallError;
use super::wire::{ShardReply, ShardRequest, Target};
use super::{active_replicas, Distributed};
use crate::error::{ApiError, ApiResult};

impl Distributed {
    /// The metadata, target and shards of a read of `name`. A linearizable read first passes
    /// the raft read barrier and carries it in the target (every replica that answers has
    /// applied the metadata up to it).
    async fn read_target(
        &self,
        name: &str,
        opts: &ReadOptions,
    ) -> ApiResult<(CollectionMeta, Target, Vec<ShardId>)> {
        let (mut meta, mut target) = self.target(name).await?;
        if opts.consistency.linearizable() {
            let index = self
                .node
                .read_index()
                .await
                .map_err(|e| ApiError::Unavailable(format!("read barrier: {e}")))?;
            self.caught_up(index).await?;
            meta = self.meta(&target.collection)?;
            if meta.generation != target.generation {
                return Err(ApiError::NotFound(format!(
                    "Not found: Collection `{}` doesn't exist!",
                    target.collection
                )));
            }
            target.read_index = index;
        }
        let shards = meta
            .shards_for(opts.shard_keys.as_ref())
            .map_err(ApiError::InvalidInput)?
            .concat();
        Ok((meta, target, shards))
    }

    /// Which node reads which shards, one plan per replica rank: rank 0 reads each shard from
    /// this node when it holds an Active replica, else from the primary; rank r from the r-th
    /// other Active replica, for the shards the consistency level needs that many of.
    fn read_plan(
        &self,
        meta: &CollectionMeta,
        shards: &[ShardId],
        opts: &ReadOptions,
    ) -> ApiResult<Vec<BTreeMap<NodeId, Vec<ShardId>>>> {
        let me = self.node.id();
        let mut plans: Vec<BTreeMap<NodeId, Vec<ShardId>>> = Vec::new();
        for &shard in shards {
            let mut active = active_replicas(meta, shard);
            if active.is_empty() {
                return Err(ApiError::Unavailable(format!(
                    "shard {shard} has no Active replica"
                )));
            }
            if let Some(at) = active.iter().position(|&n| n == me) {
                let mine = active.remove(at);
                active.insert(0, mine);
            }
            let wanted = opts.consistency.replicas(active.len());
            for (rank, node) in active.into_iter().take(wanted).enumerate() {
                if plans.len() <= rank {
                    plans.push(BTreeMap::new());
                }
                plans[rank].entry(node).or_default().push(shard);
            }
        }
        Ok(plans)
    }

    /// Sends one request per node and rank of the read plan; the replies, each with its rank.
    /// Every one must answer (that is what a consistency level above one asks for); the shards
    /// of a node that cannot be reached, or that no longer serves them, are read once more from
    /// an Active replica the read does not use yet.
    async fn fan_out(
        &self,
        meta: &CollectionMeta,
        shards: &[ShardId],
        opts: &ReadOptions,
        request: impl Fn(Vec<ShardId>) -> ShardRequest,
    ) -> ApiResult<Vec<(usize, ShardReply)>> {
        let plans = self.read_plan(meta, shards, opts)?;
        let mut used: BTreeMap<ShardId, Vec<NodeId>> = BTreeMap::new();
        for plan in &plans {
            for (node, shards) in plan {
                for s in shards {
                    used.entry(*s).or_default().push(*node);
                }
            }
        }
        let calls = plans.into_iter().enumerate().flat_map(|(rank, plan)| {
            plan.into_iter()
                .map(|(node, shards)| {
                    let req = request(shards.clone());
                    async move { (rank, node, shards, self.try_call(node, req).await) }
                })
                .collect::<Vec<_>>()
        });
        let mut out = Vec::new();
        let mut again: Vec<(usize, NodeId, Vec<ShardId>, String)> = Vec::new();
        for (rank, node, shards, r) in futures_util::future::join_all(calls).await {
            match r {
                Ok(reply) => out.push((rank, reply)),
                Err(CallError::Unreachable(why)) | Err(CallError::Api(ApiError::Unavailable(why))) => {
                    again.push((rank, node, shards, why))
                }
                Err(e) => return Err(e.into()),
            }
        }
        for (rank, failed, shards, why) in again {
            let mut alternates: BTreeMap<NodeId, Vec<ShardId>> = BTreeMap::new();
            for s in shards {
                let taken = used.entry(s).or_default();
                let next = active_replicas(meta, s)
                    .into_iter()
                    .find(|n| !taken.contains(n))
                    .ok_or_else(|| {
                        ApiError::Unavailable(format!(
                            "shard {s}: node {failed} did not answer ({why}) and no other Active replica is left for this read"
                        ))
                    })?;
                taken.push(next);
                alternates.entry(next).or_default().push(s);
            }
            for (node, shards) in alternates {
                tracing::debug!(
                    "read of shards {shards:?}: node {failed} failed ({why}); reading from {node}"
                );
                out.push((rank, self.call(node, request(shards)).await?));
            }
        }
        Ok(out)
    }

    pub async fn query(
        &self,
        name: String,
        req: QueryRequest,
        opts: ReadOptions,
    ) -> ApiResult<Vec<ScoredPoint>> {
        let (meta, target, shards) = self.read_target(&name, &opts).await?;
        if let (Some(Query::Fusion(kind)), false) = (&req.query, req.prefetch.is_empty()) {
            let kind = *kind;
            return Box::pin(self.fused_query(name, req, kind, opts)).await;
        }
        // A query by point id: the point lives on one shard, so its vector is fetched here once
        // and every node searches with the vector itself.
        let req = self.resolve_ids(&name, req, &opts).await?;
        let local = self.catalog.get(&target.collection)?;
        let higher = match &req.query {
            Some(Query::Nearest(_)) => {
                quiver_shard::shard::higher_is_better(local.segment_config(), &req.using)
            }
            Some(Query::OrderBy(o)) => o.descending,
            _ => true,
        };
        let k = req.limit.saturating_add(req.offset);
        let sub = QueryRequest {
            limit: k,
            offset: 0,
            ..req.clone()
        };
        let replies = self
            .fan_out(&meta, &shards, &opts, |shards| ShardRequest::Query {
                target: target.clone(),
                shards,
                req: sub.clone(),
            })
            .await?;
        let ranks = replies.iter().map(|(rank, _)| rank + 1).max().unwrap_or(1);
        let mut parts = Vec::with_capacity(replies.len());
        // Rank 0 first: where replicas answered alike, its copy of a point is the one kept.
        let mut replies = replies;
        replies.sort_by_key(|(rank, _)| *rank);
        for (_, r) in replies {
            match r {
                ShardReply::Points(p) => parts.push(p),
                other => return Err(unexpected(&other)),
            }
        }
        let merged = quiver_shard::shard::merge_scored(parts, k.saturating_mul(ranks), higher);
        let mut seen = std::collections::HashSet::new();
        Ok(merged
            .into_iter()
            .filter(|p| seen.insert(p.id))
            .skip(req.offset)
            .take(req.limit)
            .collect())
    }

    /// A fusion over prefetches, fused here: each prefetch runs over the whole cluster first
    /// (fusing per node would combine ranks that mean nothing across nodes), then the lists
    /// are fused the way a single node fuses them.
    async fn fused_query(
        &self,
        name: String,
        req: QueryRequest,
        kind: quiver_types::Fusion,
        opts: ReadOptions,
    ) -> ApiResult<Vec<ScoredPoint>> {
        let mut lists = Vec::with_capacity(req.prefetch.len());
        for p in &req.prefetch {
            let sub = QueryRequest {
                prefetch: p.prefetch.clone(),
                query: p.query.clone(),
                using: p.using.clone(),
                filter: quiver_collection::both_filters(req.filter.as_ref(), p.filter.as_ref()),
                limit: p.limit,
                offset: 0,
                score_threshold: p.score_threshold,
                with_payload: WithPayload::None,
                with_vector: WithVector::None,
                params: req.params,
            };
            lists.push(self.query(name.clone(), sub, opts.clone()).await?);
        }
        let mut fused = quiver_collection::fuse(&lists, kind);
        if let Some(t) = req.score_threshold {
            fused.retain(|p| p.score >= t);
        }
        let page: Vec<ScoredPoint> = fused.into_iter().skip(req.offset).take(req.limit).collect();
        if matches!(req.with_payload, WithPayload::None) && matches!(req.with_vector, WithVector::None) {
            return Ok(page);
        }
        let ids: Vec<PointId> = page.iter().map(|p| p.id).collect();
        let records = self
            .retrieve(name, ids, req.with_payload, req.with_vector, opts)
            .await?;
        Ok(quiver_collection::with_records(page, records))
    }

    pub async fn count(&self, name: String, filter: Option<Filter>, opts: ReadOptions) -> ApiResult<usize> {
        let (meta, target, shards) = self.read_target(&name, &opts).await?;
        let replies = self
            .fan_out(&meta, &shards, &opts, |shards| ShardRequest::Count {
                target: target.clone(),
                shards,
                filter: filter.clone(),
            })
            .await?;
        // Every rank covers its shards once; rank 0 covers them all.
        replies.into_iter().try_fold(0usize, |sum, (rank, r)| match r {
            ShardReply::Count(n) if rank == 0 => Ok(sum + n),
            ShardReply::Count(_) => Ok(sum),
            other => Err(unexpected(&other)),
        })
    }

    pub async fn scroll(
        &self,
        name: String,
        req: ScrollRequest,
        opts: ReadOptions,
    ) -> ApiResult<(Vec<Record>, Option<PointId>)> {
        let (meta, target, shards) = self.read_target(&name, &opts).await?;
        let mut replies = self
            .fan_out(&meta, &shards, &opts, |shards| ShardRequest::Scroll {
                target: target.clone(),
                shards,
                req: req.clone(),
            })
            .await?;
        replies.sort_by_key(|(rank, _)| *rank);
        let mut records = Vec::new();
        let mut nexts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (_, r) in replies {
            match r {
                ShardReply::Page(page, next) => {
                    records.extend(page.into_iter().filter(|r| seen.insert(r.id)));
                    nexts.extend(next);
                }
                other => return Err(unexpected(&other)),
            }
        }
        if let Some(order) = &req.order_by {
            let value = |r: &Record| r.order_value.unwrap_or(0.0);
            records.sort_by(|a, b| {
                let by = if order.descending {
                    value(b).total_cmp(&value(a))
                } else {
                    value(a).total_cmp(&value(b))
                };
                by.then_with(|| a.id.cmp(&b.id))
            });
            records.truncate(req.limit);
            return Ok((records, None));
        }
        // Each node returned its lowest ids from the offset and where it would go on: the page is
        // the lowest `limit` of all, and the next page starts at the lowest id not on it.
        records.sort_by_key(|r| r.id);
        let next = match records.get(req.limit) {
            Some(r) => Some(r.id),
            None => nexts.into_iter().min(),
        };
        records.truncate(req.limit);
        Ok((records, next))
    }

    pub async fn retrieve(
        &self,
        name: String,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
        opts: ReadOptions,
    ) -> ApiResult<Vec<Record>> {
        let (meta, target, _) = self.read_target(&name, &opts).await?;
        // Each id's shard within every shard-key group the read covers.
        let groups = meta
            .shards_for(opts.shard_keys.as_ref())
            .map_err(ApiError::InvalidInput)?;
        let homes = |id: &PointId| -> Vec<ShardId> {
            groups
                .iter()
                .map(|g| g[route(id, g.len() as u32) as usize])
                .collect()
        };
        let shards: Vec<ShardId> = {
            let mut all: Vec<ShardId> = ids.iter().flat_map(homes).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let mut replies = self
            .fan_out(&meta, &shards, &opts, |shards| {
                let mine: Vec<PointId> = ids
                    .iter()
                    .copied()
                    .filter(|id| homes(id).iter().any(|h| shards.contains(h)))
                    .collect();
                ShardRequest::Retrieve {
                    target: target.clone(),
                    ids: mine,
                    with_payload: with_payload.clone(),
                    with_vector: with_vector.clone(),
                    shards,
                }
            })
            .await?;
        replies.sort_by_key(|(rank, _)| *rank);
        let mut found: BTreeMap<PointId, Record> = BTreeMap::new();
        for (_, r) in replies {
            match r {
                ShardReply::Records(records) => {
                    for r in records {
                        found.entry(r.id).or_insert(r);
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
        // In the order asked, each once.
        let mut out = Vec::with_capacity(found.len());
        for id in &ids {
            if let Some(r) = found.remove(id) {
                out.push(r);
            }
        }
        Ok(out)
    }
}

impl Distributed {
    /// `req` with every `VectorInput::Id` replaced by that point's stored vector.
    async fn resolve_ids(
        &self,
        name: &str,
        mut req: QueryRequest,
        opts: &ReadOptions,
    ) -> ApiResult<QueryRequest> {
        let mut wanted = Vec::new();
        collect_ids(req.query.as_ref(), &req.using, &req.prefetch, &mut wanted);
        if wanted.is_empty() {
            return Ok(req);
        }
        let mut found = BTreeMap::new();
        for (id, using) in wanted {
            let names = WithVector::Names(vec![using.clone()]);
            let rec = self
                .retrieve(name.to_string(), vec![id], WithPayload::None, names, opts.clone())
                .await?
                .pop()
                .ok_or_else(|| ApiError::NotFound(format!("Not found: No point with id {id} found")))?;
            let v = rec.vectors.and_then(|mut v| v.remove(&using)).ok_or_else(|| {
                ApiError::invalid(format!("Wrong input: point {id} has no vector `{using}`"))
            })?;
            found.insert((id, using), v);
        }
        replace_ids(&mut req.query, &req.using, &mut req.prefetch, &found);
        Ok(req)
    }
}

fn collect_ids(query: Option<&Query>, using: &str, prefetch: &[Prefetch], out: &mut Vec<(PointId, String)>) {
    if let Some(Query::Nearest(VectorInput::Id(id))) = query {
        out.push((*id, using.to_string()));
    }
    for p in prefetch {
        collect_ids(p.query.as_ref(), &p.using, &p.prefetch, out);
    }
}

fn replace_ids(
    query: &mut Option<Query>,
    using: &str,
    prefetch: &mut [Prefetch],
    found: &BTreeMap<(PointId, String), VectorData>,
) {
    if let Some(Query::Nearest(input)) = query {
        if let VectorInput::Id(id) = input {
            match found.get(&(*id, using.to_string())) {
                Some(VectorData::Dense(d)) => *input = VectorInput::Dense(d.clone()),
                Some(VectorData::Sparse(s)) => *input = VectorInput::Sparse(s.clone()),
                None => {}
            }
        }
    }
    for p in prefetch {
        replace_ids(&mut p.query, &p.using, &mut p.prefetch, found);
    }
}
