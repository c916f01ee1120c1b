//! The `VectorCluster` reconciler: keeps the settings, Services and disruption budget applied,
//! then reads every engine pod and its engine, asks the planner for the one next step and takes
//! it. A step is taken only when the planner allows it; the step in progress and the node being
//! removed are kept in status, so a restarted operator resumes where the last one stopped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::{apply, event, key, write_status, Context, Error};
use crate::build::pod::PodPlacement;
use crate::build::{names, pdb, pod, services, settings, Names};
use crate::crd::cluster::ClusterPhase;
use crate::crd::status::{set_condition, READY, RECONCILING, STALLED};
use crate::crd::{VectorCluster, VectorClusterStatus};
use crate::engine::{base_url, Engine, ReplicaCopy};
use crate::observe::{self, PodState};
use crate::plan::{self, Step};
use crate::validate;

/// Status fields cleared (written as null) when they are unset.
const CLEARED: &[&str] = &[
    "leader",
    "currentVersion",
    "shardReplicas",
    "operation",
    "leavingNode",
];

/// Reconciles one cluster.
pub async fn reconcile(qvc: Arc<VectorCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled("VectorCluster");
    let ns = qvc.namespace().unwrap_or_else(|| "default".to_string());
    let name = qvc.name_any();
    let api: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let before = qvc.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let generation = qvc.metadata.generation;
    let now = Time(Timestamp::now());
    if qvc.metadata.deletion_timestamp.is_some() {
        // Children carry owner references: Kubernetes deletes them.
        return Ok(Action::await_change());
    }
    if qvc.spec.paused {
        status.phase = ClusterPhase::Paused;
        status.observed_generation = generation;
        set_condition(
            &mut status.conditions,
            RECONCILING,
            false,
            "Paused",
            "spec.paused is true",
            generation,
            &now,
        );
        set_condition(
            &mut status.conditions,
            STALLED,
            false,
            "Paused",
            "",
            generation,
            &now,
        );
        ctx.metrics.operation(&key(qvc.as_ref()), None);
        if status != before {
            write_status(&api, &name, &status, CLEARED).await?;
        }
        return Ok(Action::await_change());
    }
    if let Err(invalid) = validate::cluster(&qvc.spec) {
        stalled(&mut status, "InvalidSpec", &invalid.to_string(), generation, &now);
        if status != before {
            write_status(&api, &name, &status, CLEARED).await?;
            event(&ctx, qvc.as_ref(), true, "InvalidSpec", invalid.to_string()).await;
        }
        return Ok(Action::await_change());
    }
    let names = Names::new(&name);
    let owner = qvc
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Missing(format!("VectorCluster {ns}/{name} has no uid yet")))?;

    // Build and apply what does not depend on the engines.
    let client = ctx.client.clone();
    apply(
        &Api::<ConfigMap>::namespaced(client.clone(), &ns),
        &settings::config_map(&names, &qvc.spec, &owner),
    )
    .await?;
    let svc = Api::<Service>::namespaced(client.clone(), &ns);
    apply(&svc, &services::headless(&names, &owner)).await?;
    apply(&svc, &services::client(&names, &owner)).await?;
    let nodes = u32::try_from(qvc.spec.nodes).unwrap_or(1);
    apply(
        &Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns),
        &pdb::pdb(&names, nodes, &owner),
    )
    .await?;

    // Read.
    let engine = super::endpoint::engine_for(&ctx, &ns, &qvc).await?;
    let pods_api = Api::<Pod>::namespaced(client.clone(), &ns);
    let pvc_api = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns);
    let lp = ListParams::default().labels(&names.selector_string());
    let pods = pods_api.list(&lp).await?.items;
    let pvcs = pvc_api.list(&lp).await?.items;
    let states = read_engines(&engine, &pods).await;
    let mut observed = observe::observed(&states, before.leaving_node);
    observed.volumes = pvcs
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| c.labels().get(names::NODE_INDEX)?.parse().ok())
        .collect();

    // Plan one step and take it.
    let revision = settings::revision(&qvc.spec);
    let desired = plan::Desired {
        nodes,
        version: revision.clone(),
        supervised: qvc.spec.update_strategy.mode == crate::crd::cluster::UpdateMode::Supervised,
    };
    // Volumes grow in place (online expansion, no restart); a smaller size stalls instead.
    let claims: Vec<(String, String)> = pvcs
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| {
            let size = c
                .spec
                .as_ref()?
                .resources
                .as_ref()?
                .requests
                .as_ref()?
                .get("storage")?;
            Some((c.name_any(), size.0.clone()))
        })
        .collect();
    let mut resize = crate::build::volumes::claims_to_grow(&qvc.spec.storage.size, &claims);
    for claim in resize.clone().unwrap_or_default() {
        let body =
            serde_json::json!({"spec": {"resources": {"requests": {"storage": qvc.spec.storage.size}}}});
        let patched = pvc_api
            .patch(
                &claim,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(body),
            )
            .await;
        match patched {
            Ok(_) => {
                let what = format!("{claim} grows to {}", qvc.spec.storage.size);
                event(&ctx, qvc.as_ref(), false, "VolumeResized", what).await;
            }
            // The API server refuses (a StorageClass without allowVolumeExpansion, a quota):
            // stalled with its words, not retried as an error.
            Err(kube::Error::Api(e)) if (400..500).contains(&e.code) => {
                resize = Err(format!(
                    "volume {claim} cannot grow to {}: {}",
                    qvc.spec.storage.size, e.message
                ));
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let step = match resize {
        Err(why) => Step::Stalled(why),
        Ok(_) => plan::next_step(&desired, &observed),
    };
    let leader_base = leader_base(&states, observed.leader);
    let ready_before = matches!(before.phase, ClusterPhase::Ready | ClusterPhase::Degraded);
    let taken = take_step(
        &ctx,
        &qvc,
        &names,
        &owner,
        &engine,
        &states,
        leader_base.as_deref(),
        &step,
        &mut status,
    )
    .await;
    let backup_wait = super::backup::schedule(&ctx, &qvc, &mut status, &now).await?;

    // Status.
    status.observed_generation = generation;
    status.ready_nodes = observed.pods.iter().filter(|p| p.ready).count() as i32;
    status.leader = observed.leader;
    let uniform = !observed.pods.is_empty()
        && observed.pods.iter().all(|p| p.version == revision)
        && observed.pods.len() as u32 == nodes;
    status.current_version = uniform.then(|| qvc.spec.version.clone());
    let total: usize = observed.shards.values().map(|r| r.len()).sum();
    let active: usize = observed
        .shards
        .values()
        .map(|r| r.values().filter(|s| **s == plan::Replica::Active).count())
        .sum();
    status.shard_replicas = (total > 0).then(|| format!("{active}/{total}"));
    status.transfers = states
        .iter()
        .filter_map(|s| s.view.as_ref())
        .map(|v| v.incoming_transfers.len() as u32)
        .sum();
    status.operation = describe(&step);
    status.phase = phase(&step, &observed, &desired, ready_before);
    match &step {
        Step::Done => {
            set_condition(
                &mut status.conditions,
                READY,
                true,
                "Ready",
                &format!("{nodes} of {nodes} nodes ready"),
                generation,
                &now,
            );
            set_condition(
                &mut status.conditions,
                RECONCILING,
                false,
                "Ready",
                "",
                generation,
                &now,
            );
            set_condition(
                &mut status.conditions,
                STALLED,
                false,
                "Ready",
                "",
                generation,
                &now,
            );
        }
        Step::Stalled(why) => stalled(&mut status, "Stalled", why, generation, &now),
        other => {
            let what = describe(other).unwrap_or_default();
            set_condition(
                &mut status.conditions,
                READY,
                false,
                "Reconciling",
                &what,
                generation,
                &now,
            );
            set_condition(
                &mut status.conditions,
                RECONCILING,
                true,
                reason(other),
                &what,
                generation,
                &now,
            );
            set_condition(
                &mut status.conditions,
                STALLED,
                false,
                "Progressing",
                "",
                generation,
                &now,
            );
        }
    }
    ctx.metrics.operation(
        &key(qvc.as_ref()),
        status
            .operation
            .as_deref()
            .filter(|_| !matches!(step, Step::Done)),
    );
    if status != before {
        write_status(&api, &name, &status, CLEARED).await?;
    }
    taken?;
    Ok(match step {
        Step::Done => Action::requeue(backup_wait.min(Duration::from_secs(60))),
        Step::Stalled(_) => Action::requeue(Duration::from_secs(30)),
        Step::Wait(_) => Action::requeue(Duration::from_secs(2)),
        _ => Action::requeue(Duration::from_millis(500)),
    })
}

fn stalled(status: &mut VectorClusterStatus, reason: &str, why: &str, generation: Option<i64>, now: &Time) {
    status.phase = ClusterPhase::Stalled;
    status.observed_generation = generation;
    set_condition(&mut status.conditions, READY, false, reason, why, generation, now);
    set_condition(
        &mut status.conditions,
        RECONCILING,
        false,
        reason,
        why,
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        STALLED,
        true,
        reason,
        why,
        generation,
        now,
    );
}

/// Each pod with its engine's answer (asked concurrently; a pod without an address or one
/// being deleted is not asked).
async fn read_engines(engine: &Engine, pods: &[Pod]) -> Vec<PodState> {
    let asks = pods.iter().map(|p| async move {
        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
        let view = match ip {
            Some(ip) if p.metadata.deletion_timestamp.is_none() => match engine.node(&base_url(&ip)).await {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::debug!(pod = %p.name_any(), "engine not answering: {e}");
                    None
                }
            },
            _ => None,
        };
        observe::pod_state(p, view)
    });
    let mut states: Vec<PodState> = join_all(asks).await.into_iter().flatten().collect();
    states.sort_by_key(|s| s.index);
    states
}

fn leader_base(states: &[PodState], leader: Option<u64>) -> Option<String> {
    let leader = leader?;
    states
        .iter()
        .find(|s| s.view.as_ref().is_some_and(|v| v.raft.peer_id == leader))
        .and_then(|s| s.ip.as_deref())
        .map(base_url)
}

/// The step as status and events say it (None when there is nothing to do).
fn describe(step: &Step) -> Option<String> {
    Some(match step {
        Step::Done => return None,
        Step::Wait(why) => format!("waiting: {why}"),
        Step::Stalled(why) => format!("stalled: {why}"),
        Step::CreatePod(i) => format!("creating pod {i}"),
        Step::Promote(p) => format!("promoting peer {p} to voter"),
        Step::MarkLeaving(i) => format!("scale-down: removing node {i}"),
        Step::Drain(p) => format!("draining replicas off peer {p}"),
        Step::TransferLeader { to } => format!("handing the raft leadership to peer {to}"),
        Step::Demote(p) => format!("demoting peer {p}"),
        Step::RemovePeer(p) => format!("removing peer {p}"),
        Step::DeletePod(i) => format!("deleting pod {i} and its volume"),
        Step::Upgrade(i) => format!("restarting pod {i} on the declared revision"),
        Step::MoveReplica {
            collection,
            shard,
            from,
            to,
        } => {
            format!("moving shard {shard} of `{collection}` from peer {from} to peer {to}")
        }
    })
}

fn reason(step: &Step) -> &'static str {
    match step {
        Step::Wait(_) => "Waiting",
        Step::CreatePod(_) => "CreatingPod",
        Step::Promote(_) => "Promoting",
        Step::MarkLeaving(_)
        | Step::Drain(_)
        | Step::Demote(_)
        | Step::RemovePeer(_)
        | Step::DeletePod(_) => "ScalingDown",
        Step::TransferLeader { .. } => "TransferringLeadership",
        Step::Upgrade(_) => "Upgrading",
        Step::MoveReplica { .. } => "Rebalancing",
        Step::Done => "Ready",
        Step::Stalled(_) => "Stalled",
    }
}

fn phase(step: &Step, o: &plan::Observed, desired: &plan::Desired, was_ready: bool) -> ClusterPhase {
    match step {
        Step::Done => ClusterPhase::Ready,
        Step::Stalled(_) => ClusterPhase::Stalled,
        _ if o.leaving.is_some() => ClusterPhase::Scaling,
        Step::Upgrade(_) | Step::TransferLeader { .. } => ClusterPhase::Upgrading,
        Step::Promote(_) | Step::MarkLeaving(_) | Step::MoveReplica { .. } => ClusterPhase::Scaling,
        _ if o.leader.is_none() && !was_ready => ClusterPhase::Creating,
        _ if o.pods.iter().any(|p| p.version != desired.version) && was_ready => ClusterPhase::Upgrading,
        _ if o.pods.len() as u32 != desired.nodes && was_ready => ClusterPhase::Scaling,
        _ if was_ready => ClusterPhase::Degraded,
        _ => ClusterPhase::Creating,
    }
}

/// The step's kind as a metric label.
fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::CreatePod(_) => "create_pod",
        Step::Promote(_) => "promote",
        Step::MarkLeaving(_) => "mark_leaving",
        Step::Drain(_) => "drain",
        Step::TransferLeader { .. } => "transfer_leader",
        Step::Demote(_) => "demote",
        Step::RemovePeer(_) => "remove_peer",
        Step::DeletePod(_) => "delete_pod",
        Step::Upgrade(_) => "upgrade",
        Step::MoveReplica { .. } => "move_replica",
        Step::Wait(_) | Step::Stalled(_) | Step::Done => "none",
    }
}

#[allow(clippy::too_many_arguments)]
async fn take_step(
    ctx: &Context,
    qvc: &VectorCluster,
    names: &Names,
    owner: &OwnerReference,
    engine: &Engine,
    states: &[PodState],
    leader: Option<&str>,
    step: &Step,
    status: &mut VectorClusterStatus,
) -> Result<(), Error> {
    let ns = qvc.namespace().unwrap_or_else(|| "default".to_string());
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns);
    let need_leader = || leader.ok_or_else(|| Error::Missing("no reachable raft leader".to_string()));
    if !matches!(step, Step::Wait(_) | Step::Stalled(_) | Step::Done) {
        ctx.metrics.step(step_kind(step));
        tracing::info!(cluster = %key(qvc), step = ?step, "taking step");
    }
    if step.is_disruptive() || matches!(step, Step::MarkLeaving(_)) {
        event(ctx, qvc, false, reason(step), describe(step).unwrap_or_default()).await;
    }
    match step {
        Step::Wait(_) | Step::Stalled(_) | Step::Done => {}
        Step::CreatePod(i) => {
            let fresh = pvcs.get_opt(&names.pvc(*i)).await?.is_none();
            if fresh {
                apply(&pvcs, &pod::pvc(names, &qvc.spec, *i, owner)).await?;
            }
            let at = PodPlacement {
                index: *i,
                bootstrap: observe::join_address(states),
                // A new volume joins an existing cluster without a vote until promoted.
                join_as_learner: fresh && states.iter().any(|s| s.view.is_some()),
            };
            let p = pod::pod(names, &qvc.spec, &settings::revision(&qvc.spec), &at, owner);
            match pods.create(&PostParams::default(), &p).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Step::Promote(p) => engine.promote(need_leader()?, *p).await?,
        Step::MarkLeaving(i) => status.leaving_node = Some(*i),
        Step::Drain(p) => {
            let report = engine.drain(need_leader()?, *p).await?;
            tracing::info!(cluster = %key(qvc), peer = p, remaining = report.remaining, in_flight = report.in_flight, "drain");
        }
        Step::TransferLeader { to } => engine.transfer_leader(need_leader()?, *to).await?,
        Step::Demote(p) => engine.demote(need_leader()?, *p).await?,
        Step::RemovePeer(p) => engine.remove_peer(need_leader()?, *p).await?,
        Step::MoveReplica {
            collection,
            shard,
            from,
            to,
        } => {
            engine
                .copy_replica(need_leader()?, collection, ReplicaCopy::Move, *shard, *from, *to)
                .await?
        }
        Step::Upgrade(i) => delete_opt(&pods, &names.pod(*i)).await.map(drop)?,
        Step::DeletePod(i) => {
            let pod_gone = !delete_opt(&pods, &names.pod(*i)).await?;
            let pvc_gone = !delete_opt(&pvcs, &names.pvc(*i)).await?;
            if pod_gone && pvc_gone && status.leaving_node == Some(*i) {
                status.leaving_node = None;
            }
        }
    }
    Ok(())
}

/// Deletes `name`; whether it still existed.
async fn delete_opt<K>(api: &Api<K>, name: &str) -> Result<bool, Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}
