//! Backups: the `VectorBackup` reconciler asks, for every shard of the chosen collections, a
//! node holding an Active replica to snapshot it; the engine uploads the archive straight to the
//! cluster's object store and the status lists each key, size and checksum. A finalizer deletes
//! the archives with the resource (or lets go when the cluster is gone). The cluster reconciler
//! calls [`schedule`] to create scheduled backups and keep `retention` of them.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use reqwest::Method;

use super::endpoint::{reach, Reach};
use super::{event, has_finalizer, set_finalizer, write_status, Context, Error};
use crate::crd::backup::{BackupArchive, BackupPhase};
use crate::crd::status::{set_condition, READY, RECONCILING, STALLED};
use crate::crd::{VectorBackup, VectorBackupSpec, VectorCluster, VectorClusterStatus};
use crate::engine::ReplicaState;
use crate::schedule::Cron;

/// The finalizer that deletes a backup's archives with it.
pub const FINALIZER: &str = "quiver.dev/backup-archives";
/// Label on scheduled backups: the cluster that made them.
pub const SCHEDULED_BY: &str = "quiver.dev/scheduled-by";

/// Reconciles one backup.
pub async fn reconcile(b: Arc<VectorBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled("VectorBackup");
    let ns = b.namespace().unwrap_or_else(|| "default".to_string());
    let api: Api<VectorBackup> = Api::namespaced(ctx.client.clone(), &ns);
    let before = b.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let now = Time(Timestamp::now());
    let g = b.metadata.generation;
    if b.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(b.as_ref(), FINALIZER) {
            return Ok(Action::await_change());
        }
        if let Reach::Ready(r) = reach(&ctx, &ns, &b.spec.cluster_ref).await? {
            let (_, ep) = *r;
            for a in &before.archives {
                let name = a.key.rsplit('/').next().unwrap_or_default();
                let path = format!(
                    "/collections/{}/shards/{}/snapshots/{name}",
                    a.collection, a.shard_id
                );
                match ep.engine.send(&ep.base, Method::DELETE, &path, None).await {
                    Ok(_) => {}
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        set_finalizer(&api, b.as_ref(), FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    if matches!(before.phase, BackupPhase::Completed | BackupPhase::Failed) {
        return Ok(Action::await_change());
    }
    set_finalizer(&api, b.as_ref(), FINALIZER, true).await?;
    status.observed_generation = g;
    let ep = match reach(&ctx, &ns, &b.spec.cluster_ref).await? {
        Reach::Gone => {
            status.phase = BackupPhase::Failed;
            status.message = Some(format!("VectorCluster `{}` does not exist", b.spec.cluster_ref));
            return done(&ctx, &api, &b, before, status, &now).await;
        }
        Reach::Unreachable(why) => {
            status.phase = BackupPhase::Pending;
            status.message = Some(why);
            return done(&ctx, &api, &b, before, status, &now)
                .await
                .map(|_| Action::requeue(Duration::from_secs(5)));
        }
        Reach::Ready(r) => *r,
    };
    let (qvc, ep) = ep;
    let Some(store) = qvc.spec.object_store.clone() else {
        status.phase = BackupPhase::Failed;
        status.message = Some(format!(
            "VectorCluster `{}` has no spec.objectStore",
            qvc.name_any()
        ));
        return done(&ctx, &api, &b, before, status, &now).await;
    };
    let collections: Vec<String> = if b.spec.collections.is_empty() {
        let list = ep
            .engine
            .send(&ep.base, Method::GET, "/collections", None)
            .await?;
        list["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    } else {
        b.spec.collections.clone()
    };
    let mut archives = Vec::new();
    for c in &collections {
        let shards: Vec<_> = ep.view.layout.iter().filter(|s| &s.collection == c).collect();
        if shards.is_empty() {
            status.phase = BackupPhase::Failed;
            status.message = Some(format!("collections: `{c}` does not exist in the cluster"));
            return done(&ctx, &api, &b, before, status, &now).await;
        }
        for s in shards {
            let holder = s
                .replicas
                .iter()
                .filter(|(_, st)| **st == ReplicaState::Active)
                .find_map(|(p, _)| ep.of(*p));
            let Some(base) = holder else {
                status.message = Some(format!(
                    "no ready node holds an Active replica of shard {} of `{c}`",
                    s.shard_id
                ));
                return done(&ctx, &api, &b, before, status, &now)
                    .await
                    .map(|_| Action::requeue(Duration::from_secs(5)));
            };
            let path = format!("/collections/{c}/shards/{}/snapshots?wait=true", s.shard_id);
            let d = ep.engine.send(base, Method::POST, &path, None).await?;
            let name = d["name"].as_str().unwrap_or_default();
            let prefix = store.prefix.as_deref().unwrap_or("").trim_matches('/');
            let folder = format!("{c}/shards/{}", s.shard_id);
            let key = if prefix.is_empty() {
                format!("{folder}/{name}")
            } else {
                format!("{prefix}/{folder}/{name}")
            };
            archives.push(BackupArchive {
                collection: c.clone(),
                shard_id: s.shard_id,
                key,
                size: d["size"].as_u64().unwrap_or(0),
                checksum: d["checksum"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    status.archives = archives;
    status.bucket = Some(store.bucket.clone());
    status.phase = BackupPhase::Completed;
    status.message = None;
    event(
        &ctx,
        b.as_ref(),
        false,
        "Completed",
        format!(
            "{} shard archives uploaded to {}",
            status.archives.len(),
            store.bucket
        ),
    )
    .await;
    done(&ctx, &api, &b, before, status, &now).await
}

async fn done(
    ctx: &Context,
    api: &Api<VectorBackup>,
    b: &VectorBackup,
    before: crate::crd::VectorBackupStatus,
    mut status: crate::crd::VectorBackupStatus,
    now: &Time,
) -> Result<Action, Error> {
    let g = status.observed_generation;
    let msg = status.message.clone().unwrap_or_default();
    let c = &mut status.conditions;
    match status.phase {
        BackupPhase::Completed => {
            set_condition(
                c,
                READY,
                true,
                "Completed",
                "every archive is in the object store",
                g,
                now,
            );
            set_condition(c, RECONCILING, false, "Completed", "", g, now);
            set_condition(c, STALLED, false, "Completed", "", g, now);
        }
        BackupPhase::Failed => {
            set_condition(c, READY, false, "Failed", &msg, g, now);
            set_condition(c, RECONCILING, false, "Failed", &msg, g, now);
            set_condition(c, STALLED, true, "Failed", &msg, g, now);
        }
        BackupPhase::Pending | BackupPhase::Running => {
            set_condition(c, READY, false, "Waiting", &msg, g, now);
            set_condition(c, RECONCILING, true, "Waiting", &msg, g, now);
            set_condition(c, STALLED, false, "Waiting", "", g, now);
        }
    }
    if status != before {
        if status.phase == BackupPhase::Failed {
            event(ctx, b, true, "Failed", msg).await;
        }
        write_status(api, &b.name_any(), &status, &["message"]).await?;
    }
    Ok(Action::await_change())
}

/// Creates the scheduled backup that is due, deletes scheduled ones beyond `retention`, and
/// says how long until the next slot. The first reconcile only records the current time: no
/// backups are made up for slots before the schedule existed.
pub async fn schedule(
    ctx: &Context,
    qvc: &VectorCluster,
    status: &mut VectorClusterStatus,
    now: &Time,
) -> Result<Duration, Error> {
    let hour = Duration::from_secs(3600);
    let Some(plan) = &qvc.spec.backup else {
        return Ok(hour);
    };
    let Ok(cron) = Cron::parse(&plan.schedule) else {
        return Ok(hour);
    };
    let ns = qvc.namespace().unwrap_or_else(|| "default".to_string());
    let api: Api<VectorBackup> = Api::namespaced(ctx.client.clone(), &ns);
    let last: Option<Timestamp> = status.last_schedule_time.as_deref().and_then(|t| t.parse().ok());
    let Some(last) = last else {
        status.last_schedule_time = Some(now.0.to_string());
        return Ok(until(&cron, now.0));
    };
    if let Some(due) = cron.latest_due(last, now.0) {
        let stamp = due.strftime("%Y%m%d-%H%M").to_string();
        let name = format!("{}-{stamp}", qvc.name_any());
        let backup = VectorBackup {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(SCHEDULED_BY.to_string(), qvc.name_any())].into()),
                owner_references: qvc.controller_owner_ref(&()).map(|o| vec![o]),
                ..ObjectMeta::default()
            },
            spec: VectorBackupSpec {
                cluster_ref: qvc.name_any(),
                collections: Vec::new(),
            },
            status: None,
        };
        match api.create(&PostParams::default(), &backup).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        status.last_backup = Some(name);
        status.last_schedule_time = Some(due.to_string());
    }
    // Retention: the newest `retention` scheduled backups stay (names sort by time).
    let lp = ListParams::default().labels(&format!("{SCHEDULED_BY}={}", qvc.name_any()));
    let mine: Vec<(String, BackupPhase)> = api
        .list(&lp)
        .await?
        .items
        .iter()
        .map(|b| (b.name_any(), b.status.clone().unwrap_or_default().phase))
        .collect();
    for old in expired(mine, plan.retention as usize) {
        match api.delete(&old, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(until(&cron, now.0))
}

/// The scheduled backups retention removes (names sort by time): completed ones beyond the
/// newest `keep`, and failed ones older than the newest backup. A failure never counts toward
/// `keep`, so a run of failures cannot push out the last good backups; a backup still in
/// flight is never removed.
fn expired(mut backups: Vec<(String, BackupPhase)>, keep: usize) -> Vec<String> {
    backups.sort_by(|a, b| a.0.cmp(&b.0));
    let newest = backups.last().map(|(n, _)| n.clone());
    let completed: Vec<&String> = backups
        .iter()
        .filter(|(_, p)| *p == BackupPhase::Completed)
        .map(|(n, _)| n)
        .collect();
    let mut out: Vec<String> = completed[..completed.len().saturating_sub(keep)]
        .iter()
        .map(|n| (*n).clone())
        .collect();
    out.extend(
        backups
            .iter()
            .filter(|(n, p)| *p == BackupPhase::Failed && Some(n) != newest.as_ref())
            .map(|(n, _)| n.clone()),
    );
    out.sort();
    out
}

fn until(cron: &Cron, now: Timestamp) -> Duration {
    cron.next_after(now)
        .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
        .unwrap_or(Duration::from_secs(3600))
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_counts_completed_backups_only() {
        use BackupPhase::{Completed, Failed, Running};
        let b = |n: &str, p| (n.to_string(), p);
        // Two kept: the newest two completed; failures never push them out.
        let all = vec![
            b("vec-1", Completed),
            b("vec-2", Completed),
            b("vec-3", Failed),
            b("vec-4", Completed),
            b("vec-5", Failed),
            b("vec-6", Running),
        ];
        assert_eq!(expired(all, 2), vec!["vec-1", "vec-3", "vec-5"]);
        // The newest failure stays in sight, and so do the completed ones it came after.
        let failing = vec![b("vec-1", Completed), b("vec-2", Failed), b("vec-3", Failed)];
        assert_eq!(expired(failing, 1), vec!["vec-2"]);
        assert!(expired(vec![b("vec-1", Running)], 0).is_empty());
    }
}
