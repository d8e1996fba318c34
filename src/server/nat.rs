//! NAT traversal for the server: port mappings kept alive by the nat crate's
//! [`PortMapper`], and our record updated from what the gateway reports.
//!
//! `extip:` needs no mapping: the IP is set once at start-up. For the other
//! mechanisms the listener's TCP port and the discovery UDP port are mapped
//! (10-minute leases refreshed every 8 minutes unless configured otherwise, retried with back-off: see
//! `devp2p_nat::PortMapper`), but only when we listen on a non-loopback
//! address: mapping a loopback-only socket would advertise an endpoint nobody
//! can reach. Every change of the external IP or of a mapped port is written
//! into the [`LocalNode`], which bumps the ENR sequence number.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use devp2p_discover::node::LocalNode;
use devp2p_nat::{MappingRequest, MappingState, Nat, PortMapper, PortMapperHandle, Protocol};
use tokio::task::JoinHandle;

const TARGET: &str = "p2p::nat";

/// Name of our mappings as the gateway lists them (go-ethereum uses
/// "ethereum p2p" / "ethereum discovery").
const MAPPING_NAME_TCP: &str = "devp2p";
const MAPPING_NAME_UDP: &str = "devp2p discovery";

/// A running port mapper and the task that copies its state into our record.
pub(super) struct NatMapping {
    mapper: PortMapperHandle,
    watcher: JoinHandle<()>,
}

impl NatMapping {
    /// Starts mapping when `nat` needs it (not `extip:`, not a loopback
    /// listener); `None` otherwise.
    pub(super) fn start(
        nat: Arc<dyn Nat>,
        local: LocalNode,
        tcp: Option<SocketAddr>,
        udp: Option<SocketAddr>,
        lifetime: Duration,
    ) -> Option<NatMapping> {
        if nat.fixed_external_ip().is_some() {
            return None;
        }
        let listen_ip = tcp.or(udp)?.ip();
        if listen_ip.is_loopback() {
            tracing::debug!(target: TARGET, "loopback listener: no port mapping");
            return None;
        }
        let mut requests = Vec::new();
        if let Some(a) = tcp {
            requests.push(MappingRequest {
                proto: Protocol::Tcp,
                internal_port: a.port(),
                name: MAPPING_NAME_TCP.to_string(),
            });
        }
        if let Some(a) = udp {
            requests.push(MappingRequest {
                proto: Protocol::Udp,
                internal_port: a.port(),
                name: MAPPING_NAME_UDP.to_string(),
            });
        }
        let mapper = PortMapper::spawn_with_lifetime(nat, requests, lifetime);
        let mut states = mapper.subscribe();
        let (tcp_port, udp_port) = (tcp.map(|a| a.port()), udp.map(|a| a.port()));
        let watcher = tokio::spawn(async move {
            loop {
                let state = states.borrow_and_update().clone();
                apply(&local, &state, tcp_port, udp_port);
                if states.changed().await.is_err() {
                    break;
                }
            }
        });
        Some(NatMapping { mapper, watcher })
    }

    /// Deletes the mappings and ends both tasks.
    pub(super) async fn stop(self) {
        self.mapper.stop().await;
        self.watcher.abort();
        let _ = self.watcher.await;
    }
}

/// Writes the gateway's view into our record (no-op for unchanged values).
fn apply(local: &LocalNode, state: &MappingState, tcp: Option<u16>, udp: Option<u16>) {
    if let Some(ip) = state.external_ip {
        local.set_ip(ip);
    }
    if let Some(p) = tcp.and_then(|t| state.external_port(Protocol::Tcp, t)) {
        local.set_tcp(p);
    }
    if let Some(p) = udp.and_then(|u| state.external_port(Protocol::Udp, u)) {
        local.set_udp(p);
    }
    tracing::debug!(target: TARGET, ip = ?state.external_ip, seq = local.seq(), "record updated from NAT");
}
