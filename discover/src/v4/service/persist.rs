//! What the service keeps in the node database ([`crate::db::NodeDb`]).
//!
//! Storage failures are logged and otherwise ignored: discovery works
//! without its database, it only forgets more on restart.
//!
//! A stored node record is the node's signed ENR when we fetched one, else its
//! enode URL as text (we cannot sign a record for another node, and the enode
//! form is what the table knows after an endpoint proof).

use std::net::SocketAddr;

use rand::SeedableRng;

use crate::db::{unix_now, NodeDb, SEED_COUNT, SEED_MAX_AGE};
use crate::node::{Enr, Node, NodeId};

const TARGET: &str = "p2p::discover";

/// Decodes a stored record: an ENR, or an enode URL.
fn decode_record(bytes: &[u8]) -> Option<Node> {
    if let Ok(enr) = Enr::decode(bytes) {
        return Node::from_enr(&enr).ok();
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Up to [`SEED_COUNT`] recently proven nodes, to contact at start-up.
pub(super) fn seeds(db: Option<&NodeDb>, rng_seed: u64) -> Vec<Node> {
    let Some(db) = db else { return Vec::new() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(rng_seed);
    match db.query_seeds(SEED_COUNT, SEED_MAX_AGE, unix_now(), &mut rng) {
        Ok(seeds) => seeds
            .into_iter()
            .filter_map(|(id, rec)| decode_record(&rec).filter(|n| n.id == id && n.is_complete()))
            .collect(),
        Err(e) => {
            tracing::debug!(target: TARGET, error = %e, "node database seeds unavailable");
            Vec::new()
        }
    }
}

/// A valid pong from `id` at `from`: the endpoint proof is stored, and the node
/// itself when the database has no record of it yet (`known` is the table's
/// entry, which knows the TCP port; otherwise the UDP port stands in for it).
pub(super) fn pong_received(
    db: Option<&NodeDb>,
    id: NodeId,
    from: SocketAddr,
    known: Option<Node>,
    unix: u64,
) {
    let Some(db) = db else { return };
    let result = db
        .update_last_pong_received(&id, from.ip(), unix)
        .and_then(|()| match db.node(&id)? {
            Some(_) => Ok(()),
            None => {
                let node = known
                    .filter(|n| n.ip == Some(from.ip()))
                    .unwrap_or_else(|| Node::new(id, from.ip(), from.port(), from.port()));
                db.put_node(&id, node.to_string().as_bytes())
            }
        });
    if let Err(e) = result {
        tracing::debug!(target: TARGET, error = %e, "node database write failed");
    }
}

/// A verified record of another node: it replaces whatever was stored.
pub(super) fn record_received(db: Option<&NodeDb>, enr: &Enr) {
    let Some(db) = db else { return };
    if let Err(e) = db.put_node(&enr.node_id(), &enr.encode()) {
        tracing::debug!(target: TARGET, error = %e, "node database write failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secp256k1::SecretKey;

    #[test]
    fn stored_nodes_come_back_as_seeds() {
        let db = NodeDb::in_memory().unwrap();
        let key = SecretKey::from_secret_bytes([3u8; 32]).unwrap();
        let id = NodeId::from_secret_key(&key);
        let from: SocketAddr = "127.0.0.1:30311".parse().unwrap();
        pong_received(Some(&db), id, from, None, unix_now());
        let seeds = seeds(Some(&db), 1);
        assert_eq!(seeds, vec![Node::new(id, from.ip(), 30311, 30311)]);

        // A fetched record replaces the enode form and keeps its TCP port.
        let enr = Enr::builder()
            .ip4("127.0.0.1".parse().unwrap())
            .udp(30311)
            .tcp(30400)
            .sign(&key)
            .unwrap();
        record_received(Some(&db), &enr);
        assert_eq!(seeds_of(&db)[0].tcp, 30400);
        assert!(super::seeds(None, 1).is_empty());
    }

    fn seeds_of(db: &NodeDb) -> Vec<Node> {
        seeds(Some(db), 2)
    }
}
