//! The Kubernetes objects a `VectorCluster` is made of, as pure functions of its spec (and, for a
//! pod, of the few facts known when it is created). No client is needed, so each builder is
//! tested as a plain function; the reconciler applies what they return.

pub mod collection;
pub mod names;
pub mod pdb;
pub mod pod;
pub mod services;
pub mod settings;
pub mod volumes;

pub use names::Names;
