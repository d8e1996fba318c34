//! Per-protocol message windows ([`ProtoRw`], [`ProtoReader`],
//! [`ProtoWriter`]) and the fair write scheduler that merges their queues.
//!
//! Inbound: the connection's reader task delivers each message to the owning
//! protocol's bounded queue. If the protocol does not read, the queue fills
//! and the reader waits (backpressure: nothing else is read from that peer,
//! the remote's writes back up in TCP). If the protocol still has not taken
//! the message after the read deadline (30 s) the peer is dropped with
//! `SubprotocolError` ([`PeerError::ProtocolStalled`](super::PeerError)).
//! Messages for a protocol that dropped its reading half are discarded.
//!
//! Outbound: when nothing is queued or being written, a message is encoded
//! and written to the socket on the protocol's own task (see
//! `outbound.rs`). Otherwise it goes into the protocol's bounded queue;
//! `write_msg` waits while that is full, `try_write_msg` fails with
//! [`MsgError::QueueFull`]. A message
//! queued before the peer closes (for instance just before a protocol's
//! `run` returns) is written before the Disconnect, within
//! [`FINAL_FLUSH_TIMEOUT`](super::FINAL_FLUSH_TIMEOUT); one received before
//! the remote's Disconnect is still returned by `read_msg`. The writer task
//! drains the queues by deficit round robin over payload bytes (quantum
//! [`WRITE_QUANTUM`] × weight), so a protocol streaming large messages cannot
//! starve another protocol's small ones: each gets its byte share per round.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use alloy_rlp::Encodable;

use crate::message::{encode_payload, Msg, MsgError, MsgReader, MsgWriter, MAX_MSG_SIZE};

use super::outbound::{Direct, QueuedCount};

/// Bytes a protocol of weight 1 may send per scheduling round (one 64 KiB
/// chunk: large enough that framing overhead is small, small enough that a
/// second protocol's message waits for at most ~64 KiB × weight per round).
pub const WRITE_QUANTUM: u64 = 64 * 1024;

/// Scheduling cost of a message beyond its payload, in bytes, so that empty
/// messages are not free (roughly an RLPx frame header + MAC).
const MSG_OVERHEAD: u64 = 32;

/// One outbound message of a protocol, with its absolute code.
#[derive(Debug)]
pub(crate) struct OutMsg {
    pub code: u64,
    pub payload: Bytes,
    pub confirm: Option<oneshot::Sender<Result<(), MsgError>>>,
}

/// The reading half of a protocol window.
#[derive(Debug)]
pub struct ProtoReader {
    rx: mpsc::Receiver<Msg>,
    closed: CancellationToken,
}

/// The peer's writing half as a protocol's writer sees it.
pub(crate) trait DirectWriter: Send + Sync + std::fmt::Debug {
    /// Writes the message (absolute `code`) of protocol `lane` at once if
    /// the connection is idle.
    fn try_write(&self, lane: usize, code: u64, payload: &Bytes) -> Direct;
    /// Counts a message about to be queued; see `Outbound::count_queued`.
    fn count_queued(&self) -> QueuedCount<'_>;
}

/// The writing half of a protocol window: cheap to clone, usable from any
/// number of tasks. Codes are protocol-relative.
///
/// When the connection is idle (nothing queued or being written by any
/// protocol, and this is not the second message of a burst), `write_msg`
/// and `try_write_msg` encode the message and write it to the transport
/// on the calling task: one task hop less, which is most of what the
/// stack adds to a request's round trip. Otherwise the message joins this
/// protocol's queue and the peer's writer task sends it, batched and
/// shared fairly between protocols. Either way messages of one writer
/// leave in the order they were written. Holding a `ProtoWriter` after the
/// peer ended does not keep the connection open.
#[derive(Clone, Debug)]
pub struct ProtoWriter {
    tx: mpsc::Sender<OutMsg>,
    offset: u64,
    length: u64,
    lane: usize,
    direct: Arc<dyn DirectWriter>,
    closed: CancellationToken,
}

/// A protocol's view of one peer: read and write messages with codes
/// `0..length`. Use [`ProtoRw::split`] or [`ProtoRw::writer`] to read and
/// write from different tasks.
#[derive(Debug)]
pub struct ProtoRw {
    reader: ProtoReader,
    writer: ProtoWriter,
}

/// A protocol's window: its `(offset, length, lane)`, queue sizes, the
/// peer's closing signal and writing half.
pub(crate) fn window(
    (offset, length, lane): (u64, u64, usize),
    read_queue: usize,
    write_queue: usize,
    closed: CancellationToken,
    direct: Arc<dyn DirectWriter>,
) -> (ProtoRw, mpsc::Sender<Msg>, mpsc::Receiver<OutMsg>) {
    let (in_tx, in_rx) = mpsc::channel(read_queue.max(1));
    let (out_tx, out_rx) = mpsc::channel(write_queue.max(1));
    let rw = ProtoRw {
        reader: ProtoReader {
            rx: in_rx,
            closed: closed.clone(),
        },
        writer: ProtoWriter {
            tx: out_tx,
            offset,
            length,
            lane,
            direct,
            closed,
        },
    };
    (rw, in_tx, out_rx)
}

impl ProtoRw {
    /// Splits into independently usable halves.
    pub fn split(self) -> (ProtoReader, ProtoWriter) {
        (self.reader, self.writer)
    }

    /// A clone of the writing half.
    pub fn writer(&self) -> ProtoWriter {
        self.writer.clone()
    }

    /// See [`ProtoWriter::try_write_msg`].
    pub fn try_write_msg(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        self.writer.try_write_msg(code, payload)
    }

    /// See [`ProtoWriter::write_msg_confirmed`].
    pub async fn write_msg_confirmed(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        self.writer.write_msg_confirmed(code, payload).await
    }

    /// See [`ProtoWriter::try_send`].
    pub fn try_send<T: Encodable + ?Sized>(&self, code: u64, value: &T) -> Result<(), MsgError> {
        self.writer.try_send(code, value)
    }

    /// See [`ProtoWriter::send_confirmed`].
    pub async fn send_confirmed<T: Encodable + ?Sized>(
        &self,
        code: u64,
        value: &T,
    ) -> Result<(), MsgError> {
        self.writer.send_confirmed(code, value).await
    }
}

impl MsgReader for ProtoRw {
    async fn read_msg(&mut self) -> Result<Msg, MsgError> {
        self.reader.read_msg().await
    }
}

impl MsgWriter for ProtoRw {
    async fn write_msg(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        self.writer.write_msg(code, payload).await
    }
}

impl MsgReader for ProtoReader {
    /// Next message for this protocol; [`MsgError::Closed`] once the peer is
    /// disconnecting and every message received before that has been read.
    async fn read_msg(&mut self) -> Result<Msg, MsgError> {
        // Queued messages first: what arrived before a Disconnect is still
        // delivered (the queue is bounded, and the reader task that fills it
        // stops once the peer closes).
        tokio::select! {
            biased;
            m = self.rx.recv() => m.ok_or(MsgError::Closed),
            _ = self.closed.cancelled() => Err(MsgError::Closed),
        }
    }
}

impl ProtoWriter {
    fn make(&self, code: u64, payload: Bytes) -> Result<OutMsg, MsgError> {
        if code >= self.length {
            return Err(MsgError::CodeOutOfRange {
                code,
                length: self.length,
            });
        }
        if payload.len() > MAX_MSG_SIZE {
            return Err(MsgError::TooLarge {
                size: payload.len(),
            });
        }
        if self.closed.is_cancelled() {
            return Err(MsgError::Closed);
        }
        Ok(OutMsg {
            code: self.offset + code,
            payload,
            confirm: None,
        })
    }

    /// Writes `msg` on this task if the connection is idle: `Ok(true)` if
    /// it did, `Ok(false)` if the message must be queued.
    fn write_now(&self, msg: &OutMsg) -> Result<bool, MsgError> {
        match self.direct.try_write(self.lane, msg.code, &msg.payload) {
            Direct::Written => Ok(true),
            Direct::Declined => Ok(false),
            Direct::Failed => Err(MsgError::Closed),
        }
    }

    async fn enqueue(&self, msg: OutMsg) -> Result<(), MsgError> {
        let counted = self.direct.count_queued();
        // Room in the queue (the common case): no waiting, so no need to
        // register for the closing signal (a lock and a waiter list entry
        // per message). `make` has just checked that the peer is open.
        let msg = match self.tx.try_send(msg) {
            Ok(()) => {
                counted.keep();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(MsgError::Closed),
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
        };
        let sent = tokio::select! {
            biased;
            _ = self.closed.cancelled() => Err(MsgError::Closed),
            r = self.tx.send(msg) => r.map_err(|_| MsgError::Closed),
        };
        if sent.is_ok() {
            counted.keep();
        }
        sent
    }

    /// Sends a message without waiting: written at once if the connection
    /// is idle, else queued; [`MsgError::QueueFull`] if this protocol's
    /// write queue is full.
    pub fn try_write_msg(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        let msg = self.make(code, payload)?;
        if self.write_now(&msg)? {
            return Ok(());
        }
        let counted = self.direct.count_queued();
        self.tx.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => MsgError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => MsgError::Closed,
        })?;
        counted.keep();
        Ok(())
    }

    /// Queues a message and waits until it has been written and flushed to
    /// the transport ("reached the socket").
    pub async fn write_msg_confirmed(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        let mut msg = self.make(code, payload)?;
        let (tx, rx) = oneshot::channel();
        msg.confirm = Some(tx);
        self.enqueue(msg).await?;
        // If the writer drops the message (peer shutting down), the sender is
        // dropped and we report Closed.
        rx.await.unwrap_or(Err(MsgError::Closed))
    }

    /// RLP-encodes `value` and queues it without waiting.
    pub fn try_send<T: Encodable + ?Sized>(&self, code: u64, value: &T) -> Result<(), MsgError> {
        self.try_write_msg(code, encode_payload(value))
    }

    /// RLP-encodes `value`, queues it and waits until it reached the transport.
    pub async fn send_confirmed<T: Encodable + ?Sized>(
        &self,
        code: u64,
        value: &T,
    ) -> Result<(), MsgError> {
        self.write_msg_confirmed(code, encode_payload(value)).await
    }

    /// Number of codes of this protocol.
    pub fn length(&self) -> u64 {
        self.length
    }
}

impl MsgWriter for ProtoWriter {
    /// Writes the message at once if the connection is idle, else queues
    /// it, waiting while the protocol's write queue is full.
    async fn write_msg(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        let msg = self.make(code, payload)?;
        if self.write_now(&msg)? {
            return Ok(());
        }
        self.enqueue(msg).await
    }
}

/// One protocol's outbound queue inside the scheduler.
struct Lane {
    rx: mpsc::Receiver<OutMsg>,
    head: Option<OutMsg>,
    open: bool,
    deficit: u64,
    quantum: u64,
}

/// Deficit-round-robin merge of the protocols' outbound queues.
pub(crate) struct FairScheduler {
    lanes: Vec<Lane>,
    current: usize,
    turn_started: bool,
}

impl FairScheduler {
    /// One lane per protocol: its queue and weight.
    pub(crate) fn new(lanes: Vec<(mpsc::Receiver<OutMsg>, u32)>) -> Self {
        FairScheduler {
            lanes: lanes
                .into_iter()
                .map(|(rx, weight)| Lane {
                    rx,
                    head: None,
                    open: true,
                    deficit: 0,
                    quantum: WRITE_QUANTUM * u64::from(weight.max(1)),
                })
                .collect(),
            current: 0,
            turn_started: false,
        }
    }

    /// Stops accepting messages: writes still waiting for room fail with
    /// [`MsgError::Closed`], while messages already queued are still handed
    /// out by [`next`](Self::next) (at most the queues' capacity), which
    /// returns `None` after the last one.
    pub(crate) fn close(&mut self) {
        for lane in &mut self.lanes {
            lane.rx.close();
        }
    }

    /// The next message to write and its lane; `None` once every queue is
    /// closed and empty.
    pub(crate) async fn next(&mut self) -> Option<(usize, OutMsg)> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, OutMsg)>> {
        let mut any_head = false;
        let mut any_open = false;
        for lane in &mut self.lanes {
            if lane.head.is_none() && lane.open {
                match lane.rx.poll_recv(cx) {
                    Poll::Ready(Some(m)) => lane.head = Some(m),
                    Poll::Ready(None) => lane.open = false,
                    Poll::Pending => {}
                }
            }
            any_head |= lane.head.is_some();
            any_open |= lane.open;
        }
        if !any_head {
            return if any_open {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        // Some lane has a head, so this loop ends: every full round adds a
        // quantum to each waiting lane until its head fits.
        loop {
            let n = self.lanes.len();
            let lane = &mut self.lanes[self.current];
            match &lane.head {
                None => {
                    lane.deficit = 0;
                }
                Some(head) => {
                    if !self.turn_started {
                        lane.deficit = lane.deficit.saturating_add(lane.quantum);
                        self.turn_started = true;
                    }
                    let cost = head.payload.len() as u64 + MSG_OVERHEAD;
                    if cost <= lane.deficit {
                        lane.deficit -= cost;
                        let msg = lane.head.take().expect("head checked above");
                        return Poll::Ready(Some((self.current, msg)));
                    }
                }
            }
            self.current = (self.current + 1) % n;
            self.turn_started = false;
        }
    }
}
