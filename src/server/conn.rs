//! Connection setup, one task per connection: RLPx handshake, first
//! admission checkpoint, Hello, protocol matching, second checkpoint (where
//! the server task spawns the peer). Also the listener loop. Each stage is a
//! type of its own (`RlpxStream`, `HelloDone`, `NegotiatedConn`); a refused
//! connection is disconnected through the stage that holds it.
//!
//! These tasks never touch server state: every decision is a request to the
//! server task answered on a oneshot channel, as go-ethereum's
//! `checkpoint` does.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, debug_span, trace, Instrument};

use super::inbound::InboundFilter;
use super::stats::SetupStats;
use super::TARGET;
use crate::config::Dialer;
use crate::dial::{DialKind, DialOutcome, DialTask, SetupError};
use crate::disc_reason::DiscReason;
use crate::node::{Node, NodeId};
use crate::peer::{refuse_before_hello, Hello, HelloDone, NegotiatedConn};
use crate::protocol::Protocol;
use crate::rlpx::{accept_with_key, connect_with_key, HandshakeKey, RlpxStream};

/// An established, authenticated connection.
pub(super) type Conn = RlpxStream<TcpStream>;

/// A connection ready to become a peer: Hello done, protocols matched.
pub(super) type Ready = NegotiatedConn<Conn>;

/// Time limit for resolving a static node's DNS name (our choice: a
/// resolver that has not answered in 10 s is treated as a failure and backs
/// off; the OS resolver's own timeouts are usually 5 s × attempts).
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every setup task shares.
pub(super) struct SetupCtx {
    pub key: HandshakeKey,
    pub our_hello: Hello,
    /// The protocols a connection is matched against.
    pub protocols: Vec<Protocol>,
    pub to_server: mpsc::Sender<Internal>,
    pub stats: Arc<SetupStats>,
}

/// Facts about a connection the server needs at the checkpoints.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnMeta {
    pub id: NodeId,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// `None` for inbound connections.
    pub dial: Option<DialKind>,
}

/// Reply to [`Internal::AddPeer`].
pub(super) enum AddReply {
    /// The peer is running (the server owns it now).
    Added,
    /// Refused: send this reason on the returned connection.
    Refused(DiscReason, Box<Ready>),
}

/// Requests from setup tasks to the server task.
pub(super) enum Internal {
    /// After the RLPx handshake: may this connection proceed?
    PostHandshake {
        meta: ConnMeta,
        reply: oneshot::Sender<Result<(), DiscReason>>,
    },
    /// After Hello and protocol matching: check again and spawn the peer.
    AddPeer {
        meta: ConnMeta,
        conn: Box<Ready>,
        reply: oneshot::Sender<AddReply>,
    },
    /// A dial ended (sent exactly once per dial task).
    DialDone { id: NodeId, outcome: DialOutcome },
    /// An inbound set-up whose RLPx handshake had finished ended (added,
    /// refused or failed; sent exactly once per such connection).
    InboundDone { id: NodeId },
}

/// Accepts connections until the task is aborted. Holds a permit of
/// `pending` from before `accept` until the connection is added or refused;
/// the setup tasks live in a `JoinSet` owned by this loop, so aborting the
/// listener aborts them too.
pub(super) async fn listen(
    listener: TcpListener,
    listener_v6: Option<TcpListener>,
    ctx: Arc<SetupCtx>,
    mut filter: InboundFilter,
    pending: Arc<Semaphore>,
) {
    let mut setups = JoinSet::new();
    loop {
        // Reap finished setup tasks so the set only holds live ones.
        while setups.try_join_next().is_some() {}
        let permit = match pending.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        // A dual-stack node accepts on both (`accept` is cancel safe).
        let accepted = match &listener_v6 {
            None => listener.accept().await,
            Some(v6) => tokio::select! {
                r = listener.accept() => r,
                r = v6.accept() => r,
            },
        };
        let (tcp, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Resource exhaustion (EMFILE) or a reset before accept:
                // go-ethereum logs and retries after a short pause.
                debug!(target: TARGET, error = %e, "accept failed");
                drop(permit);
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        // IPv4-mapped IPv6 as IPv4, so ban list and limits see one form.
        let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
        if let Err(reason) = filter.check(remote.ip(), Instant::now()) {
            debug!(target: TARGET, %remote, %reason, "rejected inbound connection");
            continue;
        }
        // The span gets the node id once RLPx has authenticated it; the
        // peer's own `peer` span (same id) takes over after set-up.
        let span = debug_span!(target: TARGET, "serve", %remote, id = tracing::field::Empty);
        setups.spawn(setup_inbound(ctx.clone(), tcp, remote, permit).instrument(span));
    }
}

/// Pause after a failed `accept` (go-ethereum waits 200 ms on temporary
/// errors).
const ACCEPT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

async fn setup_inbound(
    ctx: Arc<SetupCtx>,
    tcp: TcpStream,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let stats = &ctx.stats.serves;
    stats.attempt();
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    let local = match tcp.local_addr() {
        Ok(a) => a,
        Err(e) => return stats.failed(SetupError::from_connect(&e).kind()),
    };
    let conn = match accept_with_key(tcp, &ctx.key).await {
        Ok(c) => c,
        Err(e) => {
            trace!(target: TARGET, %remote, error = %e, "inbound handshake failed");
            return stats.failed(handshake_error(&e).kind());
        }
    };
    let meta = ConnMeta {
        id: conn.remote_id(),
        remote,
        local,
        dial: None,
    };
    tracing::Span::current().record("id", tracing::field::display(&meta.id));
    match setup(&ctx, conn, meta).await {
        Ok(()) => stats.succeeded(started.elapsed()),
        Err(e) => stats.failed(e.kind()),
    }
    let _ = ctx
        .to_server
        .send(Internal::InboundDone { id: meta.id })
        .await;
    drop(permit);
}

/// Runs one dial task to its end and reports it with [`Internal::DialDone`].
pub(super) async fn run_dial(ctx: Arc<SetupCtx>, dialer: Arc<dyn Dialer>, task: DialTask) {
    let id = task.node.id;
    let span = debug_span!(target: TARGET, "dial", %id, kind = ?task.kind);
    let outcome = dial(&ctx, dialer.as_ref(), task).instrument(span).await;
    let _ = ctx.to_server.send(Internal::DialDone { id, outcome }).await;
}

async fn dial(ctx: &SetupCtx, dialer: &dyn Dialer, task: DialTask) -> DialOutcome {
    let stats = &ctx.stats.dials;
    stats.attempt();
    match dial_setup(ctx, dialer, task).await {
        Ok(took) => {
            stats.succeeded(took);
            DialOutcome::Connected
        }
        Err(e) => {
            stats.failed(e.kind());
            ctx.stats.dial_failed(e);
            DialOutcome::Failed(e)
        }
    }
}

/// Resolve, connect, handshake, setup; on success, how long the setup took
/// from the established TCP connection on.
async fn dial_setup(
    ctx: &SetupCtx,
    dialer: &dyn Dialer,
    task: DialTask,
) -> Result<std::time::Duration, SetupError> {
    let node = resolve(task.node).await.map_err(|e| {
        debug!(target: TARGET, error = %e, "resolving static node failed");
        SetupError::Resolve
    })?;
    let tcp = dialer.dial(&node).await.map_err(|e| {
        trace!(target: TARGET, node = %node, error = %e, "dial failed");
        SetupError::from_connect(&e)
    })?;
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    let (local, remote) = match (tcp.local_addr(), tcp.peer_addr()) {
        (Ok(local), Ok(remote)) => (local, remote),
        (Err(e), _) | (_, Err(e)) => return Err(SetupError::from_connect(&e)),
    };
    let conn = connect_with_key(tcp, &ctx.key, node.id)
        .await
        .map_err(|e| {
            trace!(target: TARGET, node = %node, error = %e, "outbound handshake failed");
            handshake_error(&e)
        })?;
    let meta = ConnMeta {
        id: node.id,
        remote,
        local,
        dial: Some(task.kind),
    };
    setup(ctx, conn, meta).await?;
    Ok(started.elapsed())
}

/// The set-up error of a failed RLPx handshake: a timeout, the remote
/// closing the connection, or anything else (bad packets, wrong key).
fn handshake_error(e: &crate::rlpx::RlpxError) -> SetupError {
    use crate::rlpx::RlpxError;
    match e {
        RlpxError::HandshakeTimeout => SetupError::HandshakeTimeout,
        RlpxError::HandshakeEof | RlpxError::Io(_) => SetupError::HandshakeClosed,
        _ => SetupError::Handshake,
    }
}

/// Resolves `node`'s DNS name to its first address (IPv4 preferred, as the
/// enode form is IPv4-first); a node with an IP is returned as is.
async fn resolve(mut node: Node) -> io::Result<Node> {
    if node.ip.is_some() {
        return Ok(node);
    }
    let Some(host) = node.hostname.clone() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "node has no address",
        ));
    };
    let lookup = tokio::net::lookup_host((host.as_str(), node.tcp));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "DNS lookup timed out"))??
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "DNS name has no address"))?;
    node.ip = Some(addr.ip());
    Ok(node)
}

/// Checkpoint, Hello, protocol matching, checkpoint. `Ok` when the server
/// added the peer.
async fn setup(ctx: &SetupCtx, conn: Conn, meta: ConnMeta) -> Result<(), SetupError> {
    let (tx, rx) = oneshot::channel();
    if ctx
        .to_server
        .send(Internal::PostHandshake { meta, reply: tx })
        .await
        .is_err()
    {
        return Err(SetupError::Closed);
    }
    match rx.await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            debug!(target: TARGET, id = ?meta.id, %reason, "refused after handshake");
            refuse_before_hello(conn, reason).await;
            return Err(SetupError::Refused(reason));
        }
        Err(_) => return Err(SetupError::Closed),
    }
    let hello = HelloDone::exchange(conn, &ctx.our_hello, meta.id)
        .await
        .map_err(|e| {
            debug!(target: TARGET, id = ?meta.id, error = %e, "hello exchange failed");
            SetupError::from_hello_error(&e)
        })?;
    let ready = match hello.negotiate(&ctx.protocols) {
        Ok(ready) => ready,
        Err((reason, hello)) => {
            debug!(target: TARGET, id = ?meta.id, caps = ?hello.theirs().caps, "no shared protocol");
            hello.disconnect(reason).await;
            return Err(SetupError::NoSharedProtocol);
        }
    };
    let (tx, rx) = oneshot::channel();
    let request = Internal::AddPeer {
        meta,
        conn: Box::new(ready),
        reply: tx,
    };
    if ctx.to_server.send(request).await.is_err() {
        return Err(SetupError::Closed);
    }
    match rx.await {
        Ok(AddReply::Added) => Ok(()),
        Ok(AddReply::Refused(reason, ready)) => {
            debug!(target: TARGET, id = ?meta.id, %reason, "refused after hello");
            ready.disconnect(reason).await;
            Err(SetupError::Refused(reason))
        }
        Err(_) => Err(SetupError::Closed),
    }
}
