//! The `VectorCollection` reconciler: creates the collection (empty or from a backup), brings
//! its mutable settings, payload indexes, shard keys and replica count to the declared ones,
//! reports immutable changes as Stalled, recreates a collection that vanished, and on deletion
//! applies `deletionPolicy` behind a finalizer that is released when the cluster is gone.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use reqwest::Method;
use serde_json::json;

use super::endpoint::{reach, Endpoint, Reach};
use super::{event, has_finalizer, set_finalizer, write_status, Context, Error};
use crate::build::collection::{create_body, immutable_drift, index_changes, mutable_patch, IndexChange};
use crate::crd::collection::{CollectionPhase, DeletionPolicy, ShardingMethod};
use crate::crd::status::{set_condition, READY, RECONCILING, STALLED};
use crate::crd::{VectorBackup, VectorCollection, VectorCollectionStatus};
use crate::engine::{ReplicaCopy, ReplicaState};
use crate::validate;

/// The finalizer that keeps a collection resource until its deletion policy ran.
pub const FINALIZER: &str = "quiver.dev/collection";
const CLEARED: &[&str] = &["shardReplicas"];

/// The engine name of the collection.
pub fn engine_name(qcol: &VectorCollection) -> String {
    qcol.spec
        .collection_name
        .clone()
        .unwrap_or_else(|| qcol.name_any())
}

/// Reconciles one collection resource.
pub async fn reconcile(qcol: Arc<VectorCollection>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled("VectorCollection");
    let ns = qcol.namespace().unwrap_or_else(|| "default".to_string());
    let api: Api<VectorCollection> = Api::namespaced(ctx.client.clone(), &ns);
    let name = engine_name(&qcol);
    let generation = qcol.metadata.generation;
    let now = Time(Timestamp::now());
    let before = qcol.status.clone().unwrap_or_default();
    let mut status = before.clone();
    status.collection_name = Some(name.clone());
    status.observed_generation = generation;

    if qcol.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(qcol.as_ref(), FINALIZER) {
            return Ok(Action::await_change());
        }
        if qcol.spec.deletion_policy == DeletionPolicy::Delete {
            match reach(&ctx, &ns, &qcol.spec.cluster_ref).await? {
                // No cluster, no data left to delete: never hold the resource hostage.
                Reach::Gone => {}
                Reach::Unreachable(why) => {
                    tracing::info!(collection = %name, "deletion waits: {why}");
                    return Ok(Action::requeue(Duration::from_secs(5)));
                }
                Reach::Ready(r) => {
                    let (_, ep) = *r;
                    match ep
                        .engine
                        .send(&ep.base, Method::DELETE, &format!("/collections/{name}"), None)
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.status() == Some(404) => {}
                        Err(e) => return Err(e.into()),
                    }
                    event(
                        &ctx,
                        qcol.as_ref(),
                        false,
                        "Deleted",
                        format!("collection `{name}` deleted from the engine"),
                    )
                    .await;
                }
            }
        }
        set_finalizer(&api, qcol.as_ref(), FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    set_finalizer(&api, qcol.as_ref(), FINALIZER, true).await?;
    if let Err(invalid) = validate::collection(&qcol.spec) {
        return finish(
            &ctx,
            &api,
            &qcol,
            before,
            status,
            Outcome::Stalled("InvalidSpec", invalid.to_string()),
            &now,
        )
        .await;
    }
    let ep = match reach(&ctx, &ns, &qcol.spec.cluster_ref).await? {
        Reach::Gone => {
            let why = format!("VectorCluster `{}` does not exist", qcol.spec.cluster_ref);
            return finish(
                &ctx,
                &api,
                &qcol,
                before,
                status,
                Outcome::Waiting("ClusterMissing", why),
                &now,
            )
            .await;
        }
        Reach::Unreachable(why) => {
            return finish(
                &ctx,
                &api,
                &qcol,
                before,
                status,
                Outcome::Waiting("ClusterUnavailable", why),
                &now,
            )
            .await;
        }
        Reach::Ready(r) => r.1,
    };
    let outcome = converge(&ctx, &qcol, &ns, &name, &ep, &mut status).await?;
    finish(&ctx, &api, &qcol, before, status, outcome, &now).await
}

/// Where a reconcile ended.
enum Outcome {
    Ready,
    /// A change was sent or something is still on its way.
    Progressing(&'static str, String),
    Waiting(&'static str, String),
    Stalled(&'static str, String),
}

/// One pass towards the declared collection: at most one kind of change per pass.
async fn converge(
    ctx: &Context,
    qcol: &VectorCollection,
    ns: &str,
    name: &str,
    ep: &Endpoint,
    status: &mut VectorCollectionStatus,
) -> Result<Outcome, Error> {
    let spec = &qcol.spec;
    let path = format!("/collections/{name}");
    let Some(info) = ep.engine.collection(&ep.base, name).await? else {
        let vanished = status.phase != CollectionPhase::Pending && status.phase != CollectionPhase::Creating;
        ep.engine
            .send(&ep.base, Method::PUT, &path, Some(create_body(spec)))
            .await?;
        status.restored = false;
        let how = if vanished {
            "recreated: it had vanished from the engine"
        } else {
            "created"
        };
        event(
            ctx,
            qcol,
            vanished,
            "Created",
            format!("collection `{name}` {how}"),
        )
        .await;
        return Ok(Outcome::Progressing("Creating", format!("collection {how}")));
    };
    if let Some(b) = &spec.bootstrap {
        // A resource that finds its collection holding points it did not restore (applied
        // again after a Retain delete, say) adopts it: restoring would overwrite live data. A
        // restore cut short (the engine's mark still says pending) is simply redone.
        let points = info["points_count"].as_u64().unwrap_or(0);
        if !status.restored && crate::build::collection::adopt_instead_of_restoring(&info) {
            status.restored = true;
            event(
                ctx,
                qcol,
                true,
                "BootstrapSkipped",
                format!("collection `{name}` already holds {points} points: adopted as it is, not restored from `{}`", b.backup),
            )
            .await;
        }
        if !status.restored {
            return restore(ctx, qcol, ns, name, ep, b, status).await;
        }
    }
    if let Some(why) = immutable_drift(spec, &info) {
        return Ok(Outcome::Stalled("ImmutableChange", why));
    }
    if let Some(patch) = mutable_patch(spec, &info) {
        ep.engine
            .send(&ep.base, Method::PATCH, &path, Some(patch.clone()))
            .await?;
        return Ok(Outcome::Progressing("Updating", format!("applied {patch}")));
    }
    for change in index_changes(spec, &info) {
        match change {
            IndexChange::Create(body) => {
                ep.engine
                    .send(
                        &ep.base,
                        Method::PUT,
                        &format!("{path}/index?wait=true"),
                        Some(body),
                    )
                    .await?;
            }
            IndexChange::Drop(field) => {
                ep.engine
                    .send(
                        &ep.base,
                        Method::DELETE,
                        &format!("{path}/index/{field}?wait=true"),
                        None,
                    )
                    .await?;
            }
        }
    }
    if spec.sharding.method == ShardingMethod::Custom {
        let keys = ep
            .engine
            .send(&ep.base, Method::GET, &format!("{path}/shards"), None)
            .await?;
        let have: Vec<String> = keys["shard_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                k["key"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| k["key"].as_u64().map(|n| n.to_string()))
            })
            .collect();
        for key in spec.sharding.shard_keys.iter().filter(|k| !have.contains(k)) {
            let mut body = json!({"shard_key": key});
            if let Some(n) = spec.sharding.shard_number {
                body["shards_number"] = json!(n);
            }
            ep.engine
                .send(&ep.base, Method::PUT, &format!("{path}/shards"), Some(body))
                .await?;
        }
        status.shard_keys = have
            .into_iter()
            .chain(spec.sharding.shard_keys.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
    }
    // Replicas: report, and add one where a shard has fewer than declared.
    let layout: Vec<_> = ep.view.layout.iter().filter(|s| s.collection == name).collect();
    let total: usize = layout.iter().map(|s| s.replicas.len()).sum();
    let active: usize = layout
        .iter()
        .map(|s| {
            s.replicas
                .values()
                .filter(|r| **r == ReplicaState::Active)
                .count()
        })
        .sum();
    status.shard_replicas = (total > 0).then(|| format!("{active}/{total}"));
    if active < total {
        return Ok(Outcome::Progressing(
            "ReplicasRecovering",
            format!("{active} of {total} replicas are Active"),
        ));
    }
    let want = spec.replication_factor as usize;
    let peers: Vec<u64> = ep.view.raft.voters.clone();
    // A peer's replicas over every collection: copies go to the least loaded, drops come from
    // the most loaded.
    let load = |p: u64| {
        ep.view
            .layout
            .iter()
            .filter(|l| l.replicas.contains_key(&p))
            .count()
    };
    for s in &layout {
        if s.replicas.len() >= want {
            continue;
        }
        let Some(from) = s
            .replicas
            .iter()
            .find(|(_, st)| **st == ReplicaState::Active)
            .map(|(p, _)| *p)
        else {
            continue;
        };
        let Some(to) = peers
            .iter()
            .copied()
            .filter(|p| !s.replicas.contains_key(p))
            .min_by_key(|p| (load(*p), *p))
        else {
            return Ok(Outcome::Stalled(
                "NotEnoughNodes",
                format!(
                    "replicationFactor {want} needs {want} nodes; shard {} has a replica on every node",
                    s.shard_id
                ),
            ));
        };
        ep.engine
            .copy_replica(&ep.base, name, ReplicaCopy::Replicate, s.shard_id, from, to)
            .await?;
        return Ok(Outcome::Progressing(
            "AddingReplica",
            format!("copying shard {} to peer {to}", s.shard_id),
        ));
    }
    // A lowered replicationFactor: one replica dropped per reconcile.
    for s in &layout {
        if let Some(peer) = crate::build::collection::replica_to_drop(&s.replicas, want, load) {
            ep.engine.drop_replica(&ep.base, name, s.shard_id, peer).await?;
            return Ok(Outcome::Progressing(
                "DroppingReplica",
                format!("dropping the replica of shard {} on peer {peer}", s.shard_id),
            ));
        }
    }
    Ok(Outcome::Ready)
}

/// Fills a new collection from the backup named by `bootstrap`: each shard's archive is
/// recovered on a node that holds a replica of that shard, and wins over the other replicas.
async fn restore(
    ctx: &Context,
    qcol: &VectorCollection,
    ns: &str,
    name: &str,
    ep: &Endpoint,
    b: &crate::crd::collection::Bootstrap,
    status: &mut VectorCollectionStatus,
) -> Result<Outcome, Error> {
    let Some(backup) = Api::<VectorBackup>::namespaced(ctx.client.clone(), ns)
        .get_opt(&b.backup)
        .await?
    else {
        return Ok(Outcome::Stalled(
            "BackupMissing",
            format!("VectorBackup `{}` does not exist", b.backup),
        ));
    };
    let bstatus = backup.status.clone().unwrap_or_default();
    if bstatus.phase != crate::crd::backup::BackupPhase::Completed {
        return Ok(Outcome::Waiting(
            "BackupNotCompleted",
            format!("VectorBackup `{}` is {:?}", b.backup, bstatus.phase),
        ));
    }
    let source = b.source_collection.clone().unwrap_or_else(|| name.to_string());
    let archives: Vec<_> = bstatus
        .archives
        .iter()
        .filter(|a| a.collection == source)
        .collect();
    if archives.is_empty() {
        return Ok(Outcome::Stalled(
            "BackupMissing",
            format!("VectorBackup `{}` holds no archive of `{source}`", b.backup),
        ));
    }
    let Some(bucket) = bstatus.bucket.clone() else {
        return Ok(Outcome::Stalled(
            "BackupMissing",
            format!("VectorBackup `{}` names no bucket", b.backup),
        ));
    };
    // The layout of the new collection, as the node we talk to knows it now.
    let view = ep.engine.node(&ep.base).await?;
    for a in archives {
        let Some(shard) = view
            .layout
            .iter()
            .find(|s| s.collection == name && s.shard_id == a.shard_id)
        else {
            return Ok(Outcome::Stalled(
                "ShardMismatch",
                format!("the backup has shard {} of `{source}`, the new collection has none: declare the same shardNumber", a.shard_id),
            ));
        };
        let Some(base) = shard.replicas.keys().find_map(|p| ep.of(*p)) else {
            return Ok(Outcome::Waiting(
                "ReplicaUnreachable",
                format!("no ready node holds shard {}", a.shard_id),
            ));
        };
        let body = json!({"location": format!("s3://{bucket}/{}", a.key), "priority": "snapshot", "checksum": a.checksum});
        ep.engine
            .send(
                base,
                Method::PUT,
                &format!(
                    "/collections/{name}/shards/{}/snapshots/recover?wait=true",
                    a.shard_id
                ),
                Some(body),
            )
            .await?;
    }
    let done =
        json!({"metadata": {crate::build::collection::RESTORE_MARK: crate::build::collection::RESTORE_DONE}});
    ep.engine
        .send(
            &ep.base,
            Method::PATCH,
            &format!("/collections/{name}"),
            Some(done),
        )
        .await?;
    status.restored = true;
    event(
        ctx,
        qcol,
        false,
        "Restored",
        format!("collection `{name}` restored from VectorBackup `{}`", b.backup),
    )
    .await;
    Ok(Outcome::Progressing(
        "Restored",
        format!("restored from `{}`", b.backup),
    ))
}

async fn finish(
    ctx: &Context,
    api: &Api<VectorCollection>,
    qcol: &VectorCollection,
    before: VectorCollectionStatus,
    mut status: VectorCollectionStatus,
    outcome: Outcome,
    now: &Time,
) -> Result<Action, Error> {
    let g = status.observed_generation;
    let c = &mut status.conditions;
    let action = match &outcome {
        Outcome::Ready => {
            status.phase = CollectionPhase::Ready;
            set_condition(c, READY, true, "Ready", "the collection is as declared", g, now);
            set_condition(c, RECONCILING, false, "Ready", "", g, now);
            set_condition(c, STALLED, false, "Ready", "", g, now);
            // The engine sends no events: a collection deleted behind the operator's back is
            // noticed at the next look.
            Action::requeue(Duration::from_secs(20))
        }
        Outcome::Progressing(reason, msg) | Outcome::Waiting(reason, msg) => {
            status.phase = match (reason, before.phase) {
                (&"Creating", _) | (_, CollectionPhase::Pending) => CollectionPhase::Creating,
                (_, CollectionPhase::Creating) if status.restored || qcol.spec.bootstrap.is_none() => {
                    CollectionPhase::Updating
                }
                (_, CollectionPhase::Creating) => CollectionPhase::Creating,
                (&"ClusterMissing" | &"ClusterUnavailable", _) => CollectionPhase::Degraded,
                _ => CollectionPhase::Updating,
            };
            set_condition(c, READY, false, reason, msg, g, now);
            set_condition(c, RECONCILING, true, reason, msg, g, now);
            set_condition(c, STALLED, false, reason, "", g, now);
            Action::requeue(Duration::from_secs(if matches!(outcome, Outcome::Waiting(..)) {
                5
            } else {
                1
            }))
        }
        Outcome::Stalled(reason, msg) => {
            status.phase = CollectionPhase::Stalled;
            set_condition(c, READY, false, reason, msg, g, now);
            set_condition(c, RECONCILING, false, reason, msg, g, now);
            set_condition(c, STALLED, true, reason, msg, g, now);
            Action::requeue(Duration::from_secs(30))
        }
    };
    if status != before {
        if let Outcome::Stalled(reason, msg) = &outcome {
            event(ctx, qcol, true, reason, msg.clone()).await;
        }
        write_status(api, &qcol.name_any(), &status, CLEARED).await?;
    }
    Ok(action)
}
