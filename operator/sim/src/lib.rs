//! A simulated Kubernetes for the operator's tests, where no real cluster can run: an API
//! server ([`server`]) over an in-memory object store ([`store`]) with list and watch, so kube's
//! real `Controller` runs against it unmodified, and a kubelet ([`kubelet`]) that runs a real
//! `quiver` process for each Pod, on its own loopback address, with a data folder per claim.
//!
//! What it does not simulate (the blind spots the kind suite in `e2e-kind/` covers): admission
//! and defaulting, field ownership of server-side apply (an apply is a merge), RBAC, the
//! scheduler, CSI, watch bookmarks and 410 Gone, and garbage-collection timing (dependents go at
//! once, in the foreground).

pub mod kubelet;
pub mod server;
pub mod store;

pub use kubelet::Kubelet;
pub use server::ApiServer;
pub use store::{Kind, Store};
