//! Our `eth` protocol wired into a devp2p [`Server`]: dial one node, run
//! the Status exchange, then stay connected as long as asked.

use std::sync::Arc;
use std::time::Duration;

use devp2p::node::{Node, NodeId};
use devp2p::{Config, MsgError, PeerEventKind, Protocol, ProtocolError, Server, ServerError};
use futures::StreamExt;
use secp256k1::SecretKey;
use tokio::sync::mpsc;

use super::chain::Chain;
use super::handshake::{handshake, idle, HandshakeError};
use super::status::{Status, StatusError, ETH68, ETH69};

/// The protocol's name in Hello.
pub const ETH: &str = "eth";

/// Message-space length of eth/68, in message codes: 0x00 Status to 0x10
/// Receipts (the devp2p `eth` spec; go-ethereum's `protocolLengths` had
/// `ETH68: 17` while it supported eth/68).
pub const ETH68_LENGTH: u64 = 17;
/// Message-space length of eth/69: eth/68's codes plus 0x11
/// BlockRangeUpdate (go-ethereum v1.17.10 eth/protocols/eth/protocol.go,
/// `protocolLengths`: `ETH69: 18`).
pub const ETH69_LENGTH: u64 = 18;

/// The message-space length of an `eth` version this example speaks.
pub fn protocol_length(version: u32) -> Option<u64> {
    match version {
        ETH68 => Some(ETH68_LENGTH),
        ETH69 => Some(ETH69_LENGTH),
        _ => None,
    }
}

/// How long [`connect`] waits for the eth session, in seconds: our dial
/// timeout ([`devp2p::config::DEFAULT_DIAL_TIMEOUT`], 15 s) plus the 5 s
/// Status exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connections our server allows, in peers: just the node we dial.
pub const MAX_PEERS: usize = 1;

/// How often [`connect`] looks at the server's dial statistics for a
/// failed connection setup, in milliseconds: a tenth of a second is
/// immediate for a human and costs nothing (an atomic snapshot).
pub const SETUP_POLL: Duration = Duration::from_millis(100);

/// What our `eth` sessions report.
#[derive(Debug)]
pub enum SessionEvent {
    /// The Status exchange succeeded.
    Ready {
        /// The peer.
        peer: NodeId,
        /// Negotiated `eth` version.
        version: u32,
        /// Their Status.
        remote: Status,
    },
    /// The Status exchange failed; the peer is being disconnected.
    Failed {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: HandshakeError,
    },
    /// An established session ended.
    Ended {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: MsgError,
    },
}

/// Our `eth` protocol in `version`: handshake, then idle. Reports to
/// `events`.
pub fn eth_protocol(
    version: u32,
    chain: Arc<Chain>,
    events: mpsc::UnboundedSender<SessionEvent>,
) -> Result<Protocol, StatusError> {
    let length = protocol_length(version).ok_or(StatusError::UnsupportedVersion(version))?;
    Ok(Protocol::new(ETH, version, length, move |peer, mut rw| {
        let (chain, events) = (chain.clone(), events.clone());
        async move {
            let writer = rw.writer();
            match handshake(&mut rw, &writer, version, &chain).await {
                Ok(remote) => {
                    let _ = events.send(SessionEvent::Ready {
                        peer: peer.id(),
                        version,
                        remote,
                    });
                }
                Err(error) => {
                    let reason = error.to_string();
                    let _ = events.send(SessionEvent::Failed {
                        peer: peer.id(),
                        error,
                    });
                    return Err(ProtocolError::Breach(reason));
                }
            }
            let error = idle(&mut rw).await;
            let _ = events.send(SessionEvent::Ended {
                peer: peer.id(),
                error,
            });
            Ok(())
        }
    }))
}

/// Why [`connect`] or [`Session::stay`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No `eth` versions were given.
    #[error("no eth versions to offer")]
    NoVersions,
    /// A version this example does not speak.
    #[error(transparent)]
    Version(#[from] StatusError),
    /// The target has no IP address and TCP port.
    #[error("target {0} has no IP address and TCP port")]
    NoEndpoint(NodeId),
    /// Our server did not start or refused the target.
    #[error("server: {0}")]
    Server(#[from] ServerError),
    /// The Status exchange failed.
    #[error("eth handshake with {peer} failed: {error}")]
    Handshake {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: HandshakeError,
    },
    /// The peer was added but went away before the Status exchange ended
    /// without a Status error of ours (e.g. it hung up or timed out).
    #[error("{peer} disconnected before the eth handshake: {reason}")]
    Disconnected {
        /// The peer.
        peer: NodeId,
        /// Disconnect reason or error, as the server reported it.
        reason: String,
    },
    /// The connection failed before any protocol ran: TCP, RLPx, Hello, or
    /// the node shares no capability with us (`useless`; go-ethereum
    /// v1.17.10 speaks eth/69 to eth/72, so an eth/68-only offer ends here).
    #[error("connection to {peer} failed during setup ({kind}); we offered {offered}")]
    SetupFailed {
        /// The peer.
        peer: NodeId,
        /// The failure kind (our server's setup-error label).
        kind: &'static str,
        /// The capabilities we offered, e.g. `eth/68`.
        offered: String,
    },
    /// Nothing happened within [`CONNECT_TIMEOUT`].
    #[error("no eth session with {peer} within {timeout:?}")]
    Timeout {
        /// The peer.
        peer: NodeId,
        /// How long we waited.
        timeout: Duration,
    },
    /// The session ended before [`Session::stay`]'s time was up.
    #[error("session with {peer} ended after {after:?}: {reason}")]
    Dropped {
        /// The peer.
        peer: NodeId,
        /// Time since [`Session::stay`] began.
        after: Duration,
        /// Why, as reported.
        reason: String,
    },
}

/// An established `eth` session with one node, on our own [`Server`].
pub struct Session {
    /// Our server (stopped by [`Session::close`]).
    pub server: Server,
    /// The remote node.
    pub peer: NodeId,
    /// Negotiated `eth` version.
    pub version: u32,
    /// The remote's Status.
    pub remote: Status,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    peer_events: Box<dyn futures::Stream<Item = devp2p::PeerEvent> + Send + Unpin>,
}

/// Starts a server with key `key` offering `eth` in `versions`, dials
/// `target` and waits (up to [`CONNECT_TIMEOUT`]) for the Status exchange.
/// On failure the server is stopped before returning.
pub async fn connect(
    key: SecretKey,
    target: Node,
    chain: Chain,
    versions: &[u32],
) -> Result<Session, SessionError> {
    if versions.is_empty() {
        return Err(SessionError::NoVersions);
    }
    if target.ip.is_none() || target.tcp == 0 {
        return Err(SessionError::NoEndpoint(target.id));
    }
    let chain = Arc::new(chain);
    let (tx, mut events) = mpsc::unbounded_channel();
    let protocols = versions
        .iter()
        .map(|&v| eth_protocol(v, chain.clone(), tx.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        listen_addr: None, // we only dial
        no_discovery: true,
        max_peers: MAX_PEERS,
        protocols,
        ..Config::with_key(key)
    };
    let server = Server::start(config).await?;
    let mut peer_events = server.subscribe_events();
    let peer = target.id;
    let offered = versions
        .iter()
        .map(|v| format!("{ETH}/{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut setup_poll = tokio::time::interval(SETUP_POLL);
    let result = async {
        // A static node: the server dials it (and would redial after a
        // failure; we give up at the first one instead).
        server.add_peer(target).await?;
        let wait = async {
            loop {
                tokio::select! {
                    // Session events first: a failed handshake also drops the peer.
                    biased;
                    Some(ev) = events.recv() => match ev {
                        SessionEvent::Ready { peer: p, version, remote } if p == peer => {
                            return Ok((version, remote));
                        }
                        SessionEvent::Failed { peer: p, error } if p == peer => {
                            return Err(SessionError::Handshake { peer, error });
                        }
                        _ => {}
                    },
                    Some(ev) = peer_events.next() => {
                        if ev.kind == PeerEventKind::Drop && ev.peer == peer {
                            let reason = ev.error.unwrap_or_else(|| "no reason given".into());
                            return Err(SessionError::Disconnected { peer, reason });
                        }
                    }
                    _ = setup_poll.tick() => {
                        // Our only dial is to `peer`: any failed setup is its.
                        let dials = server.setup_stats().dials;
                        if let Some((kind, _)) = dials.errors.iter().find(|(_, n)| *n > 0) {
                            let (kind, offered) = (kind.label(), offered.clone());
                            return Err(SessionError::SetupFailed { peer, kind, offered });
                        }
                    }
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, wait)
            .await
            .unwrap_or(Err(SessionError::Timeout {
                peer,
                timeout: CONNECT_TIMEOUT,
            }))
    }
    .await;
    match result {
        Ok((version, remote)) => Ok(Session {
            server,
            peer,
            version,
            remote,
            events,
            peer_events: Box::new(peer_events),
        }),
        Err(e) => {
            server.stop().await;
            Err(e)
        }
    }
}

impl Session {
    /// Stays connected for `duration` (the session idles); fails if the
    /// session ends or the peer drops before then.
    pub async fn stay(&mut self, duration: Duration) -> Result<(), SessionError> {
        let start = tokio::time::Instant::now();
        let peer = self.peer;
        let dropped = |reason: String| SessionError::Dropped {
            peer,
            after: start.elapsed(),
            reason,
        };
        let deadline = tokio::time::sleep(duration);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return Ok(()),
                Some(ev) = self.events.recv() => {
                    if let SessionEvent::Ended { peer: p, error } = ev {
                        if p == peer {
                            return Err(dropped(error.to_string()));
                        }
                    }
                }
                Some(ev) = self.peer_events.next() => {
                    if ev.kind == PeerEventKind::Drop && ev.peer == peer {
                        return Err(dropped(ev.error.unwrap_or_else(|| "no reason given".into())));
                    }
                }
            }
        }
    }

    /// Disconnects and stops our server.
    pub async fn close(self) {
        self.server.stop().await;
    }
}
