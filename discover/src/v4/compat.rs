//! TEMPORARY stand-ins for the `identity` branch's Node, Enr and LocalNode,
//! with the API it promises. Removed when that branch is merged.

#![allow(missing_docs, dead_code)]

use std::net::{IpAddr, SocketAddr};

pub use devp2p_netutil::{check_relay_ip, is_lan, DistinctNetSet, IpTracker, Netlist};
use std::sync::{Arc, Mutex};

use secp256k1::SecretKey;

use crate::node::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    pub id: NodeId,
    pub ip: Option<IpAddr>,
    pub hostname: Option<String>,
    pub tcp: u16,
    pub udp: u16,
}

impl Node {
    pub fn new(id: NodeId, ip: IpAddr, tcp: u16, udp: u16) -> Self {
        Node {
            id,
            ip: Some(ip),
            hostname: None,
            tcp,
            udp,
        }
    }
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.ip.map(|ip| SocketAddr::new(ip, self.udp))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enr {
    raw: Vec<u8>,
    seq: u64,
    id: NodeId,
}

impl Enr {
    pub fn decode(raw: &[u8]) -> Result<Enr, String> {
        let r = rlp::Rlp::new(raw);
        let seq: u64 = r.val_at(1).map_err(|e| e.to_string())?;
        Ok(Enr {
            raw: raw.to_vec(),
            seq,
            id: NodeId([0; 64]),
        })
    }
    pub fn encode(&self) -> Vec<u8> {
        self.raw.clone()
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn node_id(&self) -> NodeId {
        self.id
    }
    pub fn ip4(&self) -> Option<std::net::Ipv4Addr> {
        None
    }
    pub fn udp(&self) -> Option<u16> {
        None
    }
    pub fn tcp(&self) -> Option<u16> {
        None
    }
}

struct LocalState {
    ip: Option<IpAddr>,
    udp: u16,
    tcp: u16,
    seq: u64,
}

#[derive(Clone)]
pub struct LocalNode {
    key: SecretKey,
    state: Arc<Mutex<LocalState>>,
}

impl LocalNode {
    pub fn new(key: SecretKey) -> Self {
        LocalNode {
            key,
            state: Arc::new(Mutex::new(LocalState {
                ip: None,
                udp: 0,
                tcp: 0,
                seq: 1,
            })),
        }
    }
    pub fn secret_key(&self) -> &SecretKey {
        &self.key
    }
    pub fn id(&self) -> NodeId {
        NodeId::from_secret_key(&self.key)
    }
    pub fn seq(&self) -> u64 {
        self.state.lock().unwrap().seq
    }
    pub fn node(&self) -> Node {
        let s = self.state.lock().unwrap();
        Node {
            id: self.id(),
            ip: s.ip,
            hostname: None,
            tcp: s.tcp,
            udp: s.udp,
        }
    }
    pub fn enr(&self) -> Enr {
        let s = self.state.lock().unwrap();
        let mut st = rlp::RlpStream::new_list(2);
        st.append(&[0u8; 64].as_slice());
        st.append(&s.seq);
        Enr {
            raw: st.out().to_vec(),
            seq: s.seq,
            id: self.id(),
        }
    }
    pub fn set_ip(&self, ip: IpAddr) {
        let mut s = self.state.lock().unwrap();
        if s.ip != Some(ip) {
            s.ip = Some(ip);
            s.seq += 1;
        }
    }
    pub fn set_udp(&self, port: u16) {
        let mut s = self.state.lock().unwrap();
        if s.udp != port {
            s.udp = port;
            s.seq += 1;
        }
    }
    pub fn set_tcp(&self, port: u16) {
        let mut s = self.state.lock().unwrap();
        if s.tcp != port {
            s.tcp = port;
            s.seq += 1;
        }
    }
}
