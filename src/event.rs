//! [`PeerEvent`]: what happened to a peer, published on a
//! `tokio::sync::broadcast` channel owned by the server.
//!
//! The channel is bounded. A subscriber that falls behind is never waited
//! for: the oldest events are overwritten and its next `recv` returns
//! `RecvError::Lagged(n)` with the number it lost, after which it continues
//! with the oldest event still held. Publishing never blocks a peer.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::disc_reason::DiscReason;
use crate::node::NodeId;

/// Kind of [`PeerEvent`] (go-ethereum's `PeerEventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerEventKind {
    /// A peer finished the Hello exchange and its protocols are starting.
    Add,
    /// A peer was disconnected; `error` says why.
    Drop,
    /// A sub-protocol message was written to the connection (only when
    /// message events are enabled).
    MsgSend,
    /// A sub-protocol message was read from the connection (only when message
    /// events are enabled).
    MsgRecv,
}

/// An event about one peer. Serialises like go-ethereum's `PeerEvent`
/// (`type`, `peer`, `error`, `protocol`, `msg_code`, `msg_size`,
/// `local`, `remote`), absent fields omitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEvent {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: PeerEventKind,
    /// The peer's node id (hex in JSON).
    #[serde(with = "node_id_hex")]
    pub peer: NodeId,
    /// Drop: the disconnect reason or error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Drop: the typed disconnect reason (sent to the remote or received
    /// from it; its code in JSON). Not in go-ethereum's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DiscReason>,
    /// Drop: whether the remote sent the Disconnect (`false`: we did, or
    /// the connection failed). Not in go-ethereum's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_requested: Option<bool>,
    /// MsgSend/MsgRecv: the protocol name and version (`eth/68`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// MsgSend/MsgRecv: the protocol-relative message code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_code: Option<u64>,
    /// MsgSend/MsgRecv: payload size in bytes (decompressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_size: Option<u32>,
    /// Local address of the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<SocketAddr>,
    /// Remote address of the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
}

impl PeerEvent {
    /// An event of `kind` about `peer` with every optional field empty.
    pub fn new(kind: PeerEventKind, peer: NodeId) -> Self {
        PeerEvent {
            kind,
            peer,
            error: None,
            reason: None,
            remote_requested: None,
            protocol: None,
            msg_code: None,
            msg_size: None,
            local: None,
            remote: None,
        }
    }
}

/// Publishes `event`, ignoring "no subscriber" (never blocks).
pub(crate) fn publish(tx: &broadcast::Sender<PeerEvent>, event: PeerEvent) {
    let _ = tx.send(event);
}

mod node_id_hex {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::node::NodeId;

    pub(super) fn serialize<S: Serializer>(id: &NodeId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let mut ev = PeerEvent::new(PeerEventKind::MsgRecv, NodeId([7; 64]));
        ev.protocol = Some("eth/68".into());
        ev.msg_code = Some(3);
        ev.msg_size = Some(10);
        ev.remote = Some("127.0.0.1:30303".parse().unwrap());
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("\"type\":\"msgrecv\""), "{json}");
        assert!(json.contains(&"07".repeat(64)), "{json}");
        assert!(!json.contains("error"), "{json}");
        let back: PeerEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn drop_events_carry_the_typed_reason() {
        let mut ev = PeerEvent::new(PeerEventKind::Drop, NodeId([7; 64]));
        ev.error = Some("too many peers".into());
        ev.reason = Some(DiscReason::TooManyPeers);
        ev.remote_requested = Some(true);
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("\"reason\":4"), "{json}");
        assert!(json.contains("\"remote_requested\":true"), "{json}");
        let back: PeerEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }
}
