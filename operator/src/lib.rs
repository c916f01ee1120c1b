//! Quiver's Kubernetes operator: the custom resources users declare ([`crd`]), the pure
//! validation, builders and planner ([`validate`], [`build`], [`observe`], [`plan`]), the engine
//! client ([`engine`]) and the reconcilers wired to kube's controller runtime ([`reconcile`],
//! [`controller`]). Everything but the reconcilers runs without an API server.

pub mod build;
pub mod controller;
pub mod crd;
pub mod engine;
pub mod metrics;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod schedule;
pub mod validate;
