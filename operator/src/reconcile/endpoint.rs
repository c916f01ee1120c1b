//! How collection and backup reconcilers reach a cluster's engines: a ready pod's REST address
//! (any member coordinates any request), its node view, and the API key the cluster requires.

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;

use super::{secret_value, Context, Error};
use crate::build::Names;
use crate::crd::VectorCluster;
use crate::engine::{base_url, Engine, NodeView};

/// A reachable cluster.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub engine: Engine,
    /// REST base of a ready member.
    pub base: String,
    pub view: NodeView,
    /// REST bases of every ready member, by peer id.
    pub members: Vec<(u64, String)>,
}

impl Endpoint {
    /// The REST base of peer `peer`, if it is ready.
    pub fn of(&self, peer: u64) -> Option<&str> {
        self.members
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, b)| b.as_str())
    }
}

/// What became of the cluster a resource names.
#[derive(Debug)]
pub enum Reach {
    /// No such `VectorCluster`, or it is being deleted.
    Gone,
    /// It exists but no member answers yet.
    Unreachable(String),
    Ready(Box<(VectorCluster, Endpoint)>),
}

/// The engine client for `qvc`'s pods, carrying the API key its spec names.
pub async fn engine_for(ctx: &Context, ns: &str, qvc: &VectorCluster) -> Result<Engine, Error> {
    let api_key = match &qvc.spec.api_key_secret {
        Some(r) => Some(secret_value(&ctx.client, ns, &r.name, &r.key).await?),
        None => None,
    };
    Ok(Engine::new(api_key))
}

/// Finds cluster `name` in `ns` and a ready member.
pub async fn reach(ctx: &Context, ns: &str, name: &str) -> Result<Reach, Error> {
    let Some(qvc) = Api::<VectorCluster>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await?
    else {
        return Ok(Reach::Gone);
    };
    if qvc.metadata.deletion_timestamp.is_some() {
        return Ok(Reach::Gone);
    }
    let engine = engine_for(ctx, ns, &qvc).await?;
    let lp = ListParams::default().labels(&Names::new(name).selector_string());
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .list(&lp)
        .await?
        .items;
    let mut members = Vec::new();
    let mut first: Option<(String, NodeView)> = None;
    for p in &pods {
        let ready = crate::observe::pod_ready(p);
        let Some(ip) = p.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
            continue;
        };
        if !ready || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let base = base_url(&ip);
        if let Ok(view) = engine.node(&base).await {
            members.push((view.raft.peer_id, base.clone()));
            let leads = view.raft.leader == Some(view.raft.peer_id);
            if first.is_none() || leads {
                first = Some((base, view));
            }
        }
    }
    Ok(match first {
        Some((base, view)) => Reach::Ready(Box::new((
            qvc,
            Endpoint {
                engine,
                base,
                view,
                members,
            },
        ))),
        None => Reach::Unreachable(format!("no ready engine pod of cluster `{name}` answers")),
    })
}
