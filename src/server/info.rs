//! [`NodeInfo`]: what admin_nodeInfo reports, with go-ethereum's field names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::node::{LocalNode, NodeId};
use crate::protocol::Protocol;

/// Our node as go-ethereum's admin_nodeInfo shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// keccak256 of the node id, hex (go-ethereum's v4 `enode.ID`).
    pub id: String,
    /// Client name (`Config::name`).
    pub name: String,
    /// Our enode URL.
    pub enode: String,
    /// Our signed node record, `enr:` text form.
    pub enr: String,
    /// IP announced in the enode URL.
    pub ip: String,
    /// Discovery and RLPx ports.
    pub ports: NodePorts,
    /// The RLPx listening address (`ip:port`), empty when not listening.
    pub listen_addr: String,
    /// Per protocol name: its `node_info` value, or `"unknown"`.
    pub protocols: BTreeMap<String, serde_json::Value>,
}

/// The `ports` object of [`NodeInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePorts {
    /// UDP discovery port (0 without discovery).
    pub discovery: u16,
    /// TCP RLPx port (0 when not listening).
    pub listener: u16,
}

/// Hex of keccak256(node id), as go-ethereum shows peer and node ids.
pub fn id_hash_hex(id: &NodeId) -> String {
    hex::encode(id.hash())
}

pub(super) fn node_info(
    local: &LocalNode,
    name: &str,
    listen_addr: Option<std::net::SocketAddr>,
    protocols: &[Protocol],
) -> NodeInfo {
    let node = local.node();
    let mut infos = BTreeMap::new();
    for p in protocols {
        // go-ethereum keeps the first protocol of a name.
        infos
            .entry(p.name.clone())
            .or_insert_with(|| match &p.node_info {
                Some(f) => f(),
                None => serde_json::Value::String("unknown".into()),
            });
    }
    NodeInfo {
        id: id_hash_hex(&node.id),
        name: name.to_string(),
        enode: node.to_string(),
        enr: local.enr().to_string(),
        ip: node.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        ports: NodePorts {
            discovery: node.udp,
            listener: node.tcp,
        },
        listen_addr: listen_addr.map(|a| a.to_string()).unwrap_or_default(),
        protocols: infos,
    }
}
