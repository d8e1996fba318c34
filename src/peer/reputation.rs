//! [`ReputationSink`]: how a protocol's verdict on a peer reaches the server.

use tokio::sync::mpsc;

use crate::node::NodeId;

/// Reputation reports queued for the server task at most (our choice: 16
/// bytes each, so 16 KiB; a protocol reports per offence, not per message).
/// When the queue is full the report is dropped and
/// [`Peer::adjust_reputation`](super::Peer::adjust_reputation) returns
/// `false`, so a burst of reports can never block a protocol.
pub const REPUTATION_QUEUE: usize = 1024;

/// The sending end of the server's reputation queue, carried by every peer
/// the server starts. The default (no server attached, e.g. a peer started
/// by [`NegotiatedConn::spawn`](super::NegotiatedConn::spawn) in a test) drops every report.
#[derive(Clone, Default)]
pub struct ReputationSink(Option<mpsc::Sender<(NodeId, i32)>>);

impl ReputationSink {
    /// A connected sink and the receiver the server task drains.
    pub fn channel() -> (Self, mpsc::Receiver<(NodeId, i32)>) {
        let (tx, rx) = mpsc::channel(REPUTATION_QUEUE);
        (ReputationSink(Some(tx)), rx)
    }

    /// Queues `delta` for `id` without waiting; `false` if nothing listens or
    /// the queue is full.
    pub(crate) fn report(&self, id: NodeId, delta: i32) -> bool {
        self.0
            .as_ref()
            .is_some_and(|tx| tx.try_send((id, delta)).is_ok())
    }
}

impl std::fmt::Debug for ReputationSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ReputationSink(server)"
        } else {
            "ReputationSink(none)"
        })
    }
}

/// Two sinks are equal when they feed the same server (or none).
impl PartialEq for ReputationSink {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => a.same_channel(b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for ReputationSink {}
