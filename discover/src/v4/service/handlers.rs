//! Inbound packet handlers: what the service does with each packet type
//! (go-ethereum `v4_udp.go` `verify*`/`handle*`).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use tokio::time::Instant;

use super::{BondWaiter, Pending, PendingKind, PingPurpose, Service, TARGET};
use crate::node::{keccak256, Enr, Node, NodeId};
use crate::v4::error::DiscoverError;
use crate::v4::table::BUCKET_SIZE;
use crate::v4::transport::DatagramTransport;
use crate::v4::wire::{self, Endpoint, Message, MAX_NEIGHBORS};
use devp2p_netutil::check_relay_ip;

impl<T: DatagramTransport> Service<T> {
    /// Entry point for every inbound datagram.
    pub(crate) fn handle_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        if !self.rate.allow(from.ip(), now) {
            tracing::trace!(target: TARGET, %from, "rate limited");
            self.stats.dropped();
            return;
        }
        let packet = match wire::decode_packet(data) {
            Ok(p) => p,
            Err(e) => {
                tracing::trace!(target: TARGET, %from, error = %e, "bad packet");
                self.stats.dropped();
                return;
            }
        };
        if packet.sender == self.self_id {
            return;
        }
        if let Some(exp) = packet.message.expiration() {
            if wire::is_expired(exp, self.unix(now)) {
                tracing::trace!(target: TARGET, %from, packet = packet.message.name(), "expired");
                self.stats.dropped();
                return;
            }
        }
        self.stats.received(&packet.message);
        tracing::trace!(target: TARGET, %from, packet = packet.message.name(), "recv");
        let sender = packet.sender;
        match packet.message {
            Message::Ping(p) => self.on_ping(p, sender, packet.hash, from, now),
            Message::Pong(p) => self.on_pong(p, sender, from, now),
            Message::FindNode(p) => self.on_find_node(p, sender, from, now),
            Message::Neighbors(p) => self.on_neighbors(p, sender, from, now),
            Message::EnrRequest(_) => self.on_enr_request(sender, packet.hash, from, now),
            Message::EnrResponse(p) => self.on_enr_response(p, sender, from, now),
        }
    }

    fn on_ping(
        &mut self,
        ping: wire::Ping,
        sender: NodeId,
        hash: [u8; 32],
        from: SocketAddr,
        now: Instant,
    ) {
        // Reply to the real source, whatever the ping claims.
        let pong = Message::Pong(wire::Pong {
            to: Endpoint::new(from, ping.from.tcp),
            reply_token: hash,
            expiration: self.expiration(now),
            enr_seq: Some(self.local.seq()),
        });
        self.send(from, &pong);
        let node = Node::new(sender, from.ip(), ping.from.tcp, from.port());
        if self.bonds.has_endpoint_proof(&sender, from.ip(), now) {
            if self.init_done {
                self.table.add(node, false, now);
            }
        } else if let Err(e) = self.send_ping(&node, PingPurpose::PingBack(node.clone()), now) {
            tracing::trace!(target: TARGET, error = %e, "ping back not sent");
        }
        self.bonds.ping_received(sender, from.ip(), now);
        if let Some(to) = ping.to.udp_addr() {
            self.endpoint_statement(from.ip(), to, now);
        }
        // Requests waiting for this node to bond can go now: our pong is
        // already on the wire ahead of them.
        let mut i = 0;
        while i < self.bond_waiters.len() {
            if self.bond_waiters[i].id == sender {
                let w = self.bond_waiters.swap_remove(i);
                self.send_deferred(w.deferred, now);
            } else {
                i += 1;
            }
        }
    }

    fn take_pending(
        &mut self,
        sender: NodeId,
        ip: IpAddr,
        pred: impl Fn(&PendingKind) -> bool,
    ) -> Option<Pending> {
        let pos = self
            .pending
            .iter()
            .position(|p| p.id == sender && p.ip == ip && pred(&p.kind))?;
        Some(self.pending.swap_remove(pos))
    }

    fn on_pong(&mut self, pong: wire::Pong, sender: NodeId, from: SocketAddr, now: Instant) {
        let tok = pong.reply_token;
        let Some(p) = self.take_pending(
            sender,
            from.ip(),
            |k| matches!(k, PendingKind::Pong { ping_hash, .. } if *ping_hash == tok),
        ) else {
            if self.take_late_ping(sender, from.ip(), tok, now) {
                // Too late for the request, not for the proof.
                self.bonds.pong_received(sender, from.ip(), now);
                tracing::trace!(target: TARGET, %from, "late pong: endpoint proof kept");
            } else {
                tracing::trace!(target: TARGET, %from, "unsolicited pong");
            }
            return;
        };
        self.bonds.pong_received(sender, from.ip(), now);
        let unix = self.unix(now);
        let known = self.table.get(&sender).cloned();
        super::persist::pong_received(self.cfg.db.as_ref(), sender, from, known, unix);
        if let Some(to) = pong.to.udp_addr() {
            self.endpoint_statement(from.ip(), to, now);
        }
        let PendingKind::Pong { purpose, .. } = p.kind else {
            return;
        };
        match purpose {
            PingPurpose::User(tx) => drop(tx.send(Ok(()))),
            PingPurpose::PingBack(node) => {
                if self.init_done {
                    // It answered our ping: live (geth adds it unvalidated;
                    // marking it saves a revalidation round trip).
                    self.table.add(node, true, now);
                }
            }
            PingPurpose::Revalidate(id) => {
                self.table.revalidated(&id, true, now);
                let newer = pong.enr_seq.is_some_and(|s| s > self.table.enr_seq(&id));
                if let Some(node) = self.table.get(&id).cloned().filter(|_| newer) {
                    self.fetch_record_for_table(&node, now);
                }
            }
            PingPurpose::Bond(d) => {
                if self.bonds.pinged_us(&sender, from.ip(), now) {
                    self.send_deferred(d, now);
                } else {
                    // Give the remote time to ping us back and get its own
                    // proof (geth sleeps `respTimeout` in `ensureBond`).
                    self.bond_waiters.push(BondWaiter {
                        id: sender,
                        deadline: now + self.cfg.response_timeout,
                        deferred: d,
                    });
                }
            }
        }
    }

    /// Records what `reporter` saw us as, and moves our record's endpoint
    /// of that family (`ip`/`udp` or `ip6`/`udp6`) to the prediction. The
    /// families are tracked apart, so a dual-stack node's IPv6 statements
    /// never move its IPv4 endpoint.
    fn endpoint_statement(&mut self, reporter: IpAddr, endpoint: SocketAddr, now: Instant) {
        let now = now.into_std();
        let reporter = reporter.to_canonical();
        let endpoint = SocketAddr::new(endpoint.ip().to_canonical(), endpoint.port());
        if reporter.is_ipv6() != endpoint.is_ipv6() {
            // A peer reporting an endpoint of the other family says nothing
            // about the address it reached us at.
            return;
        }
        let tracker = if reporter.is_ipv6() {
            &mut self.ip_tracker_v6
        } else {
            &mut self.ip_tracker
        };
        tracker.add_statement(reporter, endpoint, now);
        let Some(predicted) = tracker.predict_endpoint(now) else {
            return;
        };
        let record = self.local.enr();
        match predicted.ip() {
            IpAddr::V4(ip) => {
                if record.ip4() != Some(ip) {
                    self.local.set_ip(IpAddr::V4(ip));
                }
                if record.udp() != Some(predicted.port()) {
                    self.local.set_udp(predicted.port());
                }
            }
            IpAddr::V6(ip) => {
                if record.ip6() != Some(ip) {
                    self.local.set_ip(IpAddr::V6(ip));
                }
                if record.udp6() != Some(predicted.port()) {
                    self.local.set_udp6(predicted.port());
                }
            }
        }
    }

    fn on_find_node(
        &mut self,
        req: wire::FindNode,
        sender: NodeId,
        from: SocketAddr,
        now: Instant,
    ) {
        if !self.bonds.has_endpoint_proof(&sender, from.ip(), now) {
            tracing::trace!(target: TARGET, %from, "findnode without endpoint proof");
            return;
        }
        let target = keccak256(&req.target.0);
        let closest = self.table.closest(&target, BUCKET_SIZE, true);
        let records: Vec<wire::NodeRecord> = closest
            .iter()
            .filter_map(|n| {
                let ip = n.ip?;
                check_relay_ip(from.ip(), ip).ok()?;
                Some(wire::NodeRecord {
                    ip,
                    udp: n.udp,
                    tcp: n.tcp,
                    id: n.id,
                })
            })
            .collect();
        let expiration = self.expiration(now);
        if records.is_empty() {
            self.send(
                from,
                &Message::Neighbors(wire::Neighbors {
                    nodes: Vec::new(),
                    expiration,
                }),
            );
        }
        for chunk in records.chunks(MAX_NEIGHBORS) {
            let msg = Message::Neighbors(wire::Neighbors {
                nodes: chunk.to_vec(),
                expiration,
            });
            self.send(from, &msg);
        }
    }

    fn on_neighbors(
        &mut self,
        resp: wire::Neighbors,
        sender: NodeId,
        from: SocketAddr,
        now: Instant,
    ) {
        let Some(pos) = self.pending.iter().position(|p| {
            p.id == sender && p.ip == from.ip() && matches!(p.kind, PendingKind::Neighbors { .. })
        }) else {
            tracing::trace!(target: TARGET, %from, "unsolicited neighbors");
            return;
        };
        let restrict = self.cfg.net_restrict.clone();
        let self_id = self.self_id;
        let p = &mut self.pending[pos];
        let PendingKind::Neighbors { nodes, replied, .. } = &mut p.kind else {
            return;
        };
        *replied = true;
        // Replies are split into packets of MAX_NEIGHBORS (geth, ethereumjs
        // and we fill every packet but the last), so a shorter packet ends
        // the reply: finish now instead of waiting out the timeout for chunks
        // that will not come (geth waits; in small networks that costs every
        // lookup round 500 ms).
        let last_chunk = resp.nodes.len() < MAX_NEIGHBORS;
        for r in resp.nodes {
            if nodes.len() >= BUCKET_SIZE {
                break;
            }
            if r.id == self_id || check_relay_ip(from.ip(), r.ip).is_err() {
                continue;
            }
            if restrict.as_ref().is_some_and(|nl| !nl.contains(r.ip)) {
                continue;
            }
            if r.udp == 0 || nodes.iter().any(|n| n.id == r.id) {
                continue;
            }
            nodes.push(Node::new(r.id, r.ip, r.tcp, r.udp));
        }
        if nodes.len() >= BUCKET_SIZE || last_chunk {
            let p = self.pending.swap_remove(pos);
            if let PendingKind::Neighbors { nodes, tx, .. } = p.kind {
                self.finish_find(p.id, p.ip, nodes, tx, now);
            }
            self.send_queued_find(&p.id, now);
        } else {
            // More chunks may follow; wait for them (geth resets its timer too).
            p.deadline = now + self.cfg.response_timeout;
        }
    }

    fn on_enr_request(&mut self, sender: NodeId, hash: [u8; 32], from: SocketAddr, now: Instant) {
        if !self.bonds.has_endpoint_proof(&sender, from.ip(), now) {
            tracing::trace!(target: TARGET, %from, "enrrequest without endpoint proof");
            return;
        }
        let record = Bytes::from(self.local.enr().encode());
        self.send(
            from,
            &Message::EnrResponse(wire::EnrResponse {
                reply_token: hash,
                record,
            }),
        );
    }

    fn on_enr_response(
        &mut self,
        resp: wire::EnrResponse,
        sender: NodeId,
        from: SocketAddr,
        now: Instant,
    ) {
        let tok = resp.reply_token;
        let Some(p) = self.take_pending(
            sender,
            from.ip(),
            |k| matches!(k, PendingKind::Enr { request_hash, .. } if *request_hash == tok),
        ) else {
            tracing::trace!(target: TARGET, %from, "unsolicited enr response");
            return;
        };
        let PendingKind::Enr { tx, .. } = p.kind else {
            return;
        };
        let result = match Enr::decode(&resp.record) {
            Ok(enr) if enr.node_id() == sender => {
                super::persist::record_received(self.cfg.db.as_ref(), &enr);
                Ok(enr)
            }
            Ok(_) => Err(DiscoverError::EnrIdMismatch),
            Err(e) => Err(DiscoverError::InvalidEnr(e.to_string())),
        };
        match tx {
            Some(tx) => drop(tx.send(result)),
            None => {
                if let Ok(enr) = result {
                    if let Ok(node) = Node::from_enr(&enr) {
                        self.table.update_from_record(node, enr.seq(), now);
                    }
                }
            }
        }
    }
}
