//! The connection stages between RLPx and a running peer, one type each,
//! so that every decision is made once, where its stage is:
//!
//! 1. an authenticated transport (the RLPx stream, or any message transport);
//! 2. [`HelloDone`]: both Hellos exchanged. It owns the remote's Hello,
//!    whether snappy is on, and how to send a Disconnect from now on;
//! 3. [`NegotiatedConn`]: the shared protocols matched and their code
//!    offsets assigned (or the peer refused as useless, at stage 2);
//! 4. a running peer ([`NegotiatedConn::spawn`] returns its [`Peer`] handle).
//!
//! A server checks admission on the values of stages 2 and 3 and never
//! recomputes them; anything it refuses is disconnected through the stage
//! it holds, with the compression that stage knows.

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::disc_reason::DiscReason;
use crate::event::PeerEvent;
use crate::node::NodeId;
use crate::protocol::{Cap, Protocol};

use super::base::{encode_frame, DISCONNECT_MSG, DISC_WRITE_TIMEOUT};
use super::caps::{match_protocols, Negotiated};
use super::error::PeerError;
use super::handle::Peer;
use super::hello::{exchange_hello, Hello};
use super::{PeerExit, PeerSetup};

/// A connection whose Hello exchange is done (stage 2).
#[derive(Debug)]
pub struct HelloDone<T> {
    conn: T,
    theirs: Hello,
    snappy: bool,
}

impl<T, E> HelloDone<T>
where
    T: Stream<Item = Result<BytesMut, E>> + Sink<Bytes, Error = E> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Sends `ours` while reading the remote's Hello (see
    /// [`exchange_hello`] for the checks). On failure the Disconnect the
    /// error calls for has been sent (within the disconnect write deadline)
    /// and the connection dropped.
    pub async fn exchange(
        mut conn: T,
        ours: &Hello,
        authenticated_id: NodeId,
    ) -> Result<Self, PeerError> {
        match exchange_hello(&mut conn, ours, authenticated_id).await {
            Ok(theirs) => Ok(HelloDone::new(conn, ours, theirs)),
            Err(e) => {
                if e.should_send_disconnect() {
                    // Before Hello nothing is compressed.
                    send_disconnect(&mut conn, e.disconnect_reason(), false).await;
                }
                Err(e)
            }
        }
    }

    /// A connection on which `ours` and `theirs` have been exchanged by
    /// other means (tests, tools that drive the exchange themselves).
    pub fn new(conn: T, ours: &Hello, theirs: Hello) -> Self {
        let snappy = ours.snappy_with(&theirs);
        HelloDone {
            conn,
            theirs,
            snappy,
        }
    }

    /// The remote's Hello.
    pub fn theirs(&self) -> &Hello {
        &self.theirs
    }

    /// Whether messages after Hello are snappy-compressed (both sides speak
    /// base protocol version 5 or later).
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Matches `protocols` against the remote's capabilities. With no
    /// protocols at all the peer runs the base protocol alone (as
    /// go-ethereum's); otherwise at least one must be shared, or the
    /// connection comes back with [`DiscReason::UselessPeer`] to send.
    #[allow(clippy::result_large_err)] // the connection comes back to be disconnected
    pub fn negotiate(
        self,
        protocols: &[Protocol],
    ) -> Result<NegotiatedConn<T>, (DiscReason, Self)> {
        let lanes = match_protocols(protocols, &self.theirs.caps);
        if lanes.is_empty() && !protocols.is_empty() {
            return Err((DiscReason::UselessPeer, self));
        }
        let protocols = lanes.iter().map(|n| protocols[n.index].clone()).collect();
        Ok(NegotiatedConn {
            hello: self,
            lanes,
            protocols,
        })
    }

    /// Sends a Disconnect with `reason` (compressed when negotiated) and
    /// closes, within the disconnect write deadline.
    pub async fn disconnect(mut self, reason: DiscReason) {
        send_disconnect(&mut self.conn, reason, self.snappy).await;
    }
}

/// A connection with its Hello done and protocols matched (stage 3): all a
/// running peer needs.
#[derive(Debug)]
pub struct NegotiatedConn<T> {
    hello: HelloDone<T>,
    /// One entry per shared protocol, in offset order; `index` is into
    /// `protocols` below.
    lanes: Vec<Negotiated>,
    /// The matched protocols, in the order of `lanes`.
    protocols: Vec<Protocol>,
}

impl<T, E> NegotiatedConn<T>
where
    T: Stream<Item = Result<BytesMut, E>> + Sink<Bytes, Error = E> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// The remote's Hello.
    pub fn theirs(&self) -> &Hello {
        &self.hello.theirs
    }

    /// The shared capabilities that will run, in code-offset order.
    pub fn caps(&self) -> impl Iterator<Item = &Cap> {
        self.lanes.iter().map(|n| &n.cap)
    }

    /// Sends a Disconnect with `reason` and closes (see
    /// [`HelloDone::disconnect`]).
    pub async fn disconnect(self, reason: DiscReason) {
        self.hello.disconnect(reason).await;
    }

    /// Starts the peer (stage 4): publishes the Add event and spawns the
    /// peer task, on which every protocol's `run` is then called. The task
    /// returns [`PeerExit`] once the reader, writer, ping timer and every
    /// protocol have ended or been aborted and the Drop event has been
    /// published. Must be called inside a Tokio runtime.
    pub fn spawn(
        self,
        setup: PeerSetup,
        events: broadcast::Sender<PeerEvent>,
    ) -> (Peer, JoinHandle<PeerExit>) {
        let HelloDone {
            conn,
            theirs,
            snappy,
        } = self.hello;
        let lanes = self.lanes.into_iter().zip(self.protocols).collect();
        super::task::spawn_peer(conn, theirs, snappy, lanes, setup, events)
    }
}

/// Refuses a connection at stage 1 (authenticated, no Hello yet): sends an
/// uncompressed Disconnect with `reason` and closes, within the disconnect
/// write deadline.
pub async fn refuse_before_hello<T, E>(mut conn: T, reason: DiscReason)
where
    T: Sink<Bytes, Error = E> + Unpin,
{
    send_disconnect(&mut conn, reason, false).await;
}

/// Writes a Disconnect (`[reason]`, snappy-compressed when `snappy`) and
/// closes, within [`DISC_WRITE_TIMEOUT`]; errors are ignored (the
/// connection is being dropped anyway).
async fn send_disconnect<T, E>(conn: &mut T, reason: DiscReason, snappy: bool)
where
    T: Sink<Bytes, Error = E> + Unpin,
{
    let Ok(frame) = encode_frame(DISCONNECT_MSG, &reason.encode(), snappy) else {
        return;
    };
    let _ = tokio::time::timeout(DISC_WRITE_TIMEOUT, async {
        conn.send(frame).await?;
        conn.close().await
    })
    .await;
}
