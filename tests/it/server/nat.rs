//! The server puts what NAT traversal learns into its record: `extip:` sets
//! the IP directly; a NAT-PMP gateway (a fake on 127.0.0.1) maps the TCP and
//! UDP ports, and the mappings are deleted on stop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use devp2p::node::Enr;
use devp2p::{Config, Server};
use tokio::net::UdpSocket;

use crate::support::*;

/// The external IP the fake gateway reports (TEST-NET-3, never contacted).
const FAKE_EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// The fake gateway maps internal port p to p + this offset (wrapping).
const FAKE_PORT_OFFSET: u16 = 1000;
/// NAT-PMP gateways listen on this UDP port (RFC 6886 §3).
const PMP_PORT: u16 = 5351;

fn record_of(server: &Server) -> Enr {
    server.node_info().enr.parse().expect("our record parses")
}

#[tokio::test]
async fn extip_sets_the_announced_ip() {
    let (tx, _seen) = tokio::sync::mpsc::channel(16);
    let mut c: Config = config(61, tx);
    c.nat = "extip:198.51.100.9".parse().unwrap();
    let server = Server::start(c).await.unwrap();
    assert_eq!(server.node_info().ip, "198.51.100.9");
    assert_eq!(
        record_of(&server).ip4(),
        Some(Ipv4Addr::new(198, 51, 100, 9))
    );
    assert!(server.node_info().enode.contains("@198.51.100.9:"));
    server.stop().await;
}

/// Requests the fake gateway saw: (opcode, internal port, lifetime).
type Seen = Arc<Mutex<Vec<(u8, u16, u32)>>>;

/// A NAT-PMP gateway on 127.0.0.1:5351 answering every request with success.
async fn fake_pmp_gateway() -> (Seen, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind(("127.0.0.1", PMP_PORT))
        .await
        .expect("NAT-PMP port 5351 on 127.0.0.1 is free");
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let req = &buf[..n];
            if req.len() < 2 || req[0] != 0 {
                continue;
            }
            let op = req[1];
            let mut resp = vec![0u8, 128 + op, 0, 0, 0, 0, 0, 1];
            if op == 0 {
                resp.extend_from_slice(&FAKE_EXTERNAL_IP.octets());
            } else if req.len() >= 12 {
                let internal = u16::from_be_bytes([req[4], req[5]]);
                let lifetime = u32::from_be_bytes([req[8], req[9], req[10], req[11]]);
                log.lock().unwrap().push((op, internal, lifetime));
                resp.extend_from_slice(&internal.to_be_bytes());
                resp.extend_from_slice(&internal.wrapping_add(FAKE_PORT_OFFSET).to_be_bytes());
                resp.extend_from_slice(&lifetime.to_be_bytes());
            } else {
                continue;
            }
            let _ = sock.send_to(&resp, from).await;
        }
    });
    (seen, task)
}

#[tokio::test]
async fn pmp_gateway_maps_ports_into_the_record_and_unmaps_on_stop() {
    let (seen, gateway) = fake_pmp_gateway().await;
    let (tx, _seen_msgs) = tokio::sync::mpsc::channel(16);
    let mut c = config(62, tx);
    // Not loopback, so the ports get mapped; nothing is ever sent off the
    // machine (no bootnodes, the gateway is on 127.0.0.1).
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    c.no_discovery = false;
    c.nat = "pmp:127.0.0.1".parse().unwrap();
    let server = Server::start(c).await.unwrap();
    let seq_before = record_of(&server).seq();
    let tcp = server.local_addr().unwrap().port();
    let udp = server
        .discovery()
        .expect("discovery runs")
        .local_addr()
        .port();

    wait_until("external endpoint in the record", || async {
        let r = record_of(&server);
        r.ip4() == Some(FAKE_EXTERNAL_IP)
            && r.tcp() == Some(tcp.wrapping_add(FAKE_PORT_OFFSET))
            && r.udp() == Some(udp.wrapping_add(FAKE_PORT_OFFSET))
    })
    .await;
    assert!(record_of(&server).seq() > seq_before, "seq not bumped");
    assert_eq!(server.node_info().ip, FAKE_EXTERNAL_IP.to_string());

    server.stop().await;
    let log = seen.lock().unwrap().clone();
    // Opcode 1 = UDP, 2 = TCP; lifetime 0 deletes (RFC 6886 §3.4).
    for (op, port) in [(2u8, tcp), (1u8, udp)] {
        assert!(
            log.contains(&(op, port, 600)),
            "no 10-minute mapping of {port}: {log:?}"
        );
        assert!(
            log.contains(&(op, port, 0)),
            "mapping of {port} not deleted: {log:?}"
        );
    }
    gateway.abort();
}

#[cfg(feature = "node-db")] // a database file
#[tokio::test]
async fn node_database_stores_the_record_sequence_and_is_released_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes.redb");
    let (tx, _seen) = tokio::sync::mpsc::channel(16);
    let mut c = config(63, tx);
    c.node_database = Some(path.clone());
    let server = Server::start(c).await.unwrap();
    let seq = record_of(&server).seq();
    server.stop().await;
    // The server let go of the file: it opens again, holding our sequence.
    let db = devp2p_discover::db::NodeDb::open(&path).expect("database released");
    assert_eq!(db.local_seq(&id(63)).unwrap(), Some(seq));
}
