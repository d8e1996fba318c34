//! [`MsgPipe`]: two connected in-memory message ends for unit-testing
//! protocols, with go-ethereum's `p2p.MsgPipe` semantics
//! ([`MsgPipe::pair`]) or a real peer's queueing ([`MsgPipe::buffered`]).

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Msg, MsgError, MsgReader, MsgWriter};

/// One message in flight plus the signal that tells its writer it was read.
type Delivery = (Msg, oneshot::Sender<()>);

/// One end of an in-memory message pipe.
///
/// * From [`MsgPipe::pair`] (go-ethereum's `MsgPipe`): `write_msg` returns
///   once the other end's `read_msg` has taken the message (at most one
///   message is in flight per direction).
/// * From [`MsgPipe::buffered`]: `write_msg` returns once the message is
///   queued, as a real peer's [`ProtoRw`](crate::peer::ProtoRw) does; it
///   waits only while the other end has `capacity` messages unread.
/// * [`MsgPipe::close`] on either end makes every pending and future read and
///   write on both ends fail with [`MsgError::PipeClosed`].
///
/// # Unit-testing a protocol
///
/// Write the protocol logic against [`MsgReadWriter`](super::MsgReadWriter);
/// the [`Protocol`](crate::Protocol) `run` closure passes the peer's
/// [`ProtoRw`](crate::peer::ProtoRw), a test passes a pipe end:
///
/// ```
/// use devp2p::{expect_msg, send, MsgError, MsgPipe, MsgReadWriter, Protocol};
///
/// const PING: u64 = 0;
/// const PONG: u64 = 1;
///
/// /// Answers every PING(n) with PONG(n + 1).
/// async fn echo_plus_one<RW: MsgReadWriter>(rw: &mut RW) -> Result<(), MsgError> {
///     loop {
///         let msg = rw.read_msg().await?;
///         if msg.code == PING {
///             let n: u64 = msg.decode()?;
///             send(&*rw, PONG, &(n + 1)).await?;
///         }
///     }
/// }
///
/// // The real protocol uses the same function.
/// let _proto = Protocol::new("echo", 1, 2, |_peer, mut rw| async move {
///     echo_plus_one(&mut rw).await?;
///     Ok(())
/// });
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (mut ours, mut theirs) = MsgPipe::pair();
/// let server = tokio::spawn(async move { echo_plus_one(&mut theirs).await });
/// send(&ours, PING, &41u64).await.unwrap();
/// expect_msg(&mut ours, PONG, &42u64).await.unwrap();
/// ours.close();
/// assert_eq!(server.await.unwrap(), Err(MsgError::PipeClosed));
/// # });
/// ```
#[derive(Debug)]
pub struct MsgPipe {
    tx: mpsc::Sender<Delivery>,
    rx: mpsc::Receiver<Delivery>,
    closed: CancellationToken,
    /// Whether a write waits until the other end has read the message.
    synchronous: bool,
}

impl MsgPipe {
    /// Two connected ends with go-ethereum's semantics: a write completes
    /// once the other end has read it.
    pub fn pair() -> (MsgPipe, MsgPipe) {
        // Capacity 1 per direction: the writer waits for the read
        // acknowledgement anyway, so at most one message is ever buffered.
        Self::connected(1, true)
    }

    /// Two connected ends that queue up to `capacity` (at least 1) unread
    /// messages per direction, like a real peer: a write completes once
    /// queued and waits only while the queue is full.
    pub fn buffered(capacity: usize) -> (MsgPipe, MsgPipe) {
        Self::connected(capacity.max(1), false)
    }

    fn connected(capacity: usize, synchronous: bool) -> (MsgPipe, MsgPipe) {
        let (a_tx, a_rx) = mpsc::channel(capacity);
        let (b_tx, b_rx) = mpsc::channel(capacity);
        let closed = CancellationToken::new();
        let end = |tx, rx| MsgPipe {
            tx,
            rx,
            closed: closed.clone(),
            synchronous,
        };
        (end(a_tx, b_rx), end(b_tx, a_rx))
    }

    /// Closes both ends: all pending and future operations fail with
    /// [`MsgError::PipeClosed`]. Idempotent.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Whether the pipe has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }
}

impl MsgReader for MsgPipe {
    async fn read_msg(&mut self) -> Result<Msg, MsgError> {
        tokio::select! {
            biased;
            _ = self.closed.cancelled() => Err(MsgError::PipeClosed),
            got = self.rx.recv() => match got {
                Some((msg, ack)) => {
                    let _ = ack.send(());
                    Ok(msg)
                }
                None => Err(MsgError::PipeClosed),
            },
        }
    }
}

impl MsgWriter for MsgPipe {
    async fn write_msg(&self, code: u64, payload: Bytes) -> Result<(), MsgError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let msg = Msg::new(code, payload);
        tokio::select! {
            biased;
            _ = self.closed.cancelled() => return Err(MsgError::PipeClosed),
            sent = self.tx.send((msg, ack_tx)) => sent.map_err(|_| MsgError::PipeClosed)?,
        }
        if !self.synchronous {
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = self.closed.cancelled() => Err(MsgError::PipeClosed),
            ack = ack_rx => ack.map_err(|_| MsgError::PipeClosed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::{expect_items, expect_msg, send_items};

    #[tokio::test(start_paused = true)]
    async fn write_completes_only_after_read() {
        let (a, mut b) = MsgPipe::pair();
        let write = tokio::spawn(async move {
            a.write_msg(3, Bytes::from_static(&[0xc0])).await.unwrap();
            a
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!write.is_finished(), "write returned before the read");
        let msg = b.read_msg().await.unwrap();
        assert_eq!((msg.code, msg.size), (3, 1));
        let _a = write.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn close_fails_both_ends_including_pending_ops() {
        let (a, mut b) = MsgPipe::pair();
        let pending_read = tokio::spawn(async move {
            let r = b.read_msg().await;
            (r, b)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        a.close();
        let (r, b) = pending_read.await.unwrap();
        assert_eq!(r, Err(MsgError::PipeClosed));
        assert!(b.is_closed());
        assert_eq!(
            a.write_msg(0, Bytes::new()).await,
            Err(MsgError::PipeClosed)
        );
        assert_eq!(
            b.write_msg(0, Bytes::new()).await,
            Err(MsgError::PipeClosed)
        );
        // A write blocked waiting for the reader fails too.
        let (c, d) = MsgPipe::pair();
        let w = tokio::spawn(async move { c.write_msg(1, Bytes::new()).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        d.close();
        assert_eq!(w.await.unwrap(), Err(MsgError::PipeClosed));
    }

    #[tokio::test]
    async fn expect_msg_checks_code_and_content() {
        let (a, mut b) = MsgPipe::pair();
        let w = tokio::spawn(async move {
            send_items(&a, 1, &[1u64, 2]).await.unwrap();
            crate::message::send(&a, 1, &7u64).await.unwrap();
            send_items(&a, 1, &[1u64, 2]).await.unwrap();
            send_items(&a, 2, &[1u64]).await.unwrap();
        });
        expect_items(&mut b, 1, &[1u64, 2]).await.unwrap();
        expect_msg(&mut b, 1, &7u64).await.unwrap();
        assert_eq!(
            expect_items(&mut b, 1, &[9u64]).await,
            Err(MsgError::UnexpectedContent { code: 1 })
        );
        assert_eq!(
            expect_msg(&mut b, 1, &1u64).await,
            Err(MsgError::UnexpectedCode { got: 2, want: 1 })
        );
        w.await.unwrap();
    }

    /// A buffered pipe behaves like a peer's queue: writes return at once
    /// until `capacity` messages are unread, then wait for the reader; order
    /// is kept; close still fails both ends.
    #[tokio::test(start_paused = true)]
    async fn buffered_pipe_queues_up_to_its_capacity() {
        let (a, mut b) = MsgPipe::buffered(2);
        a.write_msg(0, Bytes::from_static(b"x")).await.unwrap();
        a.write_msg(1, Bytes::from_static(b"y")).await.unwrap();
        let third = tokio::spawn(async move {
            a.write_msg(2, Bytes::new()).await.unwrap();
            a
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!third.is_finished(), "a full queue makes the writer wait");
        for want in 0..3 {
            assert_eq!(b.read_msg().await.unwrap().code, want);
        }
        let a = third.await.unwrap();
        b.close();
        assert_eq!(
            a.write_msg(0, Bytes::new()).await,
            Err(MsgError::PipeClosed)
        );
        assert_eq!(
            MsgPipe::buffered(0).0.tx.max_capacity(),
            1,
            "capacity at least 1"
        );
    }

    /// A message type from another crate of the alloy ecosystem would look
    /// like this: derived `alloy_rlp` impls, sent and decoded unchanged.
    #[derive(Debug, Clone, PartialEq, Eq, alloy_rlp::RlpEncodable, alloy_rlp::RlpDecodable)]
    struct Status {
        version: u64,
        network_id: u64,
        genesis: [u8; 32],
        name: String,
        forks: Vec<u64>,
    }

    #[tokio::test]
    async fn derived_alloy_rlp_types_are_sent_and_decoded() {
        let status = Status {
            version: 68,
            network_id: 1,
            genesis: [0xd4; 32],
            name: "devp2p".into(),
            forks: vec![1_150_000, 0],
        };
        let (a, mut b) = MsgPipe::pair();
        let sent = status.clone();
        let w = tokio::spawn(async move { crate::message::send(&a, 4, &sent).await });
        let msg = b.read_msg().await.unwrap();
        assert_eq!(msg.code, 4);
        assert_eq!(&msg.payload[..], &alloy_rlp::encode(&status)[..]);
        assert_eq!(msg.decode::<Status>().unwrap(), status);
        w.await.unwrap().unwrap();

        // Strict decoding: trailing bytes, non-canonical integers and
        // missing fields are errors naming the code.
        let mut trailing = msg.payload.to_vec();
        trailing.push(0x80);
        let bad = Msg::new(4, Bytes::from(trailing));
        assert_eq!(
            bad.decode::<Status>(),
            Err(MsgError::Decode {
                code: 4,
                error: alloy_rlp::Error::UnexpectedLength
            })
        );
        let leading_zero = Msg::new(5, Bytes::from_static(&[0x82, 0x00, 0x01]));
        assert_eq!(
            leading_zero.decode::<u64>(),
            Err(MsgError::Decode {
                code: 5,
                error: alloy_rlp::Error::LeadingZero
            })
        );
        assert!(Msg::new(6, Bytes::from_static(&[0xc1, 0x01]))
            .decode::<Status>()
            .is_err());
    }
}
