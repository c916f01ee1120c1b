//! Network partitions between cluster processes on loopback, in user space: every node's
//! internal address (the one it advertises) is a proxy in front of its real port, and every node
//! sends from its own loopback source address (`cluster.p2p.source_address` 127.0.0.1x), so a
//! proxy knows which node a connection comes from. Isolating a node closes its connections and
//! refuses new ones, in both directions, until healed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The loopback address node `i` sends from.
pub fn source_address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11 + i as u8))
}

fn node_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 0] && v4.octets()[3] >= 11 => {
            Some(usize::from(v4.octets()[3] - 11))
        }
        _ => None,
    }
}

/// The links of a test cluster: which node (if any) is cut off.
pub struct Partition {
    isolated: watch::Sender<Option<usize>>,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            isolated: watch::channel(None).0,
        }
    }
}

impl Partition {
    /// Cuts node `i` off from every other node.
    pub fn isolate(&self, i: usize) {
        self.isolated.send_replace(Some(i));
    }

    pub fn heal(&self) {
        self.isolated.send_replace(None);
    }

    /// A proxy for node `i`, forwarding to `target` (its real internal port); returns the
    /// address to advertise.
    pub async fn proxy(&self, i: usize, target: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rules = self.isolated.subscribe();
        tokio::spawn(async move {
            while let Ok((inbound, peer)) = listener.accept().await {
                let rules = rules.clone();
                tokio::spawn(forward(inbound, node_of(peer.ip()), i, target, rules));
            }
        });
        addr
    }
}

async fn forward(
    mut inbound: TcpStream,
    from: Option<usize>,
    to: usize,
    target: SocketAddr,
    mut rules: watch::Receiver<Option<usize>>,
) {
    let allowed = |isolated: Option<usize>| isolated.is_none_or(|x| x != to && Some(x) != from);
    if !allowed(*rules.borrow()) {
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = outbound.set_nodelay(true);
    let _ = inbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = async {
            while rules.changed().await.is_ok() {
                if !allowed(*rules.borrow()) {
                    break;
                }
            }
        } => {}
    }
}

/// A free port on 127.0.0.1 (for a node's real internal port, known before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
