//! The two Services of a cluster: a headless one that gives each pod a DNS name (and publishes
//! pods before they are ready, so members find each other while they start), and the client
//! Service that routes REST and gRPC to ready pods.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{self, Names};

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    }
}

fn meta(name: String, names: &Names, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(names.labels()),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The headless Service.
pub fn headless(names: &Names, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(names.headless(), names, owner),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names.selector()),
            ports: Some(vec![
                port("http", names::HTTP_PORT),
                port("grpc", names::GRPC_PORT),
                port("p2p", names::P2P_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The client Service (REST 6333, gRPC 6334).
pub fn client(names: &Names, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(names.client(), names, owner),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(names.selector()),
            ports: Some(vec![
                port("http", names::HTTP_PORT),
                port("grpc", names::GRPC_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_headless_service_publishes_unready_pods() {
        let n = Names::new("vec");
        let owner = OwnerReference::default();
        let h = headless(&n, &owner).spec.unwrap_or_default();
        let c = client(&n, &owner).spec.unwrap_or_default();
        assert_eq!(h.cluster_ip.as_deref(), Some("None"));
        assert_eq!(h.publish_not_ready_addresses, Some(true));
        assert_eq!(c.publish_not_ready_addresses, None);
        assert_eq!(h.selector, c.selector);
        let ports: Vec<i32> = c.ports.unwrap_or_default().iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![6333, 6334], "p2p stays internal");
    }
}
