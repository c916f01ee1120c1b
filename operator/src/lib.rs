//! Quiver's Kubernetes operator: the custom resources users declare ([`crd`]) and the pure
//! planner that picks the one next safe step from what is declared and what is observed
//! ([`plan`]). Both need no API server, so most of the operator is tested as plain functions.

pub mod crd;
pub mod plan;
