//! The connection's writing half, shared by the peer's writer task and the
//! protocols' writers ([`Outbound`]).
//!
//! A protocol message normally takes two task hops before it reaches the
//! socket: the protocol queues it, the writer task wakes, takes it and
//! writes it. When nothing is queued or being written, that hop buys
//! nothing (there is nothing to be fair to), so the protocol's own task
//! encodes and writes the frame at once ("direct write"); it costs one
//! wake-up less per message and per direction, which is most of what our
//! layers add to a request/response round trip.
//!
//! A direct write is taken only when all of these hold, checked under the
//! lock that also guards every writer-task access to the sink:
//! - the writer task has nothing in hand: no protocol message is queued or
//!   being written and no ping or pong is being written
//!   ([`Outbound::count_queued`]: counted before queueing, released by the
//!   writer task after the flush). So a message never overtakes one queued
//!   before it, the fair scheduler sees every message when there is
//!   contention, and a direct write never polls the sink while the writer
//!   task waits on it (the sink keeps one waker: the direct write's no-op
//!   waker would replace the writer task's);
//! - no earlier direct write left bytes unflushed (the writer task owes
//!   their flush) and no transport error is pending;
//! - the sink takes the frame without waiting;
//! - the previous direct write is at least [`BURST_GAP`] old. A protocol
//!   sending a burst (many messages in one go) writes its first message
//!   at once and queues the rest, which the writer task then sends with
//!   one write system call instead of one each.
//!
//! Otherwise the message is queued as before. Nothing in a direct write
//! waits: a flush that cannot finish at once is handed to the writer task,
//! which does it under [`FRAME_WRITE_TIMEOUT`](super::FRAME_WRITE_TIMEOUT).

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::task::noop_waker_ref;
use futures::{Sink, SinkExt};
use tokio::sync::Notify;

use super::error::PeerError;

/// A direct write this soon after the previous one is queued instead: the
/// protocol is sending a burst, which the writer task batches into one
/// system call. 20 µs: measured on the 2-core machine, a protocol's loop
/// writing 64-byte messages directly takes 7–10 µs per message (encoding,
/// crypto, the `sendmsg` system call), so every message of a burst falls
/// within it; a request/response exchange over loopback takes more than
/// 25 µs (raw TCP round trip), so its messages do not.
pub(crate) const BURST_GAP: Duration = Duration::from_micros(20);

/// The sink and what the writer task owes it.
struct SinkState<S> {
    /// `None` once the peer has ended ([`Outbound::drop_sink`]): protocol
    /// writers may outlive the peer, the connection must not.
    sink: Option<S>,
    /// A direct write's flush did not finish; the writer task finishes it.
    flush_owed: bool,
    /// When the last direct write was made (see [`BURST_GAP`]).
    last_direct: Option<Instant>,
    /// A direct write failed in the transport; the writer task ends the
    /// peer with this error.
    failure: Option<PeerError>,
}

/// The connection's writing half (see the module docs).
pub(crate) struct Outbound<S> {
    state: Mutex<SinkState<S>>,
    /// Protocol messages queued for, or held by, the writer task and not
    /// yet flushed.
    queued: AtomicUsize,
    /// Wakes the writer task when a direct write leaves it work (a flush
    /// or an error). A permit is kept if the writer is not waiting, so
    /// nothing is lost.
    wake_writer: Notify,
    /// Whether direct writes are allowed at all (not with an egress
    /// bandwidth cap, whose waits belong to the writer task, nor with
    /// message events, which report flushed messages).
    direct: bool,
}

/// What a direct write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Direct {
    /// The frame is in the transport: flushed, or its flush is owed by the
    /// writer task.
    Written,
    /// Not taken; queue the message instead.
    Declined,
    /// The transport (or the frame's encoding) failed; the writer task
    /// ends the peer, so the message is lost as a queued one would be.
    Failed,
}

/// A counted queued message: releases its count if it never reached the
/// queue (the enqueueing future was dropped or the queue was closed).
pub(crate) struct QueuedCount<'a>(Option<&'a AtomicUsize>);

impl QueuedCount<'_> {
    /// The message is in the queue: the writer task releases the count.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for QueuedCount<'_> {
    fn drop(&mut self) {
        if let Some(queued) = self.0 {
            queued.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl<S, E> Outbound<S>
where
    S: Sink<Bytes, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    pub(crate) fn new(sink: S, direct: bool) -> Self {
        Outbound {
            state: Mutex::new(SinkState {
                sink: Some(sink),
                flush_owed: false,
                last_direct: None,
                failure: None,
            }),
            queued: AtomicUsize::new(0),
            wake_writer: Notify::new(),
            direct,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SinkState<S>> {
        // Nothing panics while holding it; if something did, the sink is
        // still usable (a broken transport reports itself on the next call).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a message about to be queued (call before queueing it).
    pub(crate) fn count_queued(&self) -> QueuedCount<'_> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        QueuedCount(Some(&self.queued))
    }

    /// The writer task has flushed (or given up on) `n` queued messages.
    pub(crate) fn release_queued(&self, n: usize) {
        if n > 0 {
            self.queued.fetch_sub(n, Ordering::SeqCst);
        }
    }

    /// Writes the frame `make` builds at once if the connection is idle
    /// (see the module docs). `make` runs only once the sink has room, under
    /// the lock; `open` is checked under it too, so nothing is written after
    /// the writer task started the final Disconnect.
    pub(crate) fn try_write(
        &self,
        open: impl FnOnce() -> bool,
        make: impl FnOnce() -> Result<Bytes, PeerError>,
    ) -> Direct {
        if !self.direct || self.queued.load(Ordering::SeqCst) != 0 {
            return Direct::Declined;
        }
        // Contended (the writer task or another protocol is at the sink):
        // not idle, so queue.
        let Ok(mut st) = self.state.try_lock() else {
            return Direct::Declined;
        };
        if st.flush_owed
            || st.failure.is_some()
            || self.queued.load(Ordering::SeqCst) != 0
            || !open()
        {
            return Direct::Declined;
        }
        // Wall-clock time, not Tokio's (which tests pause): a burst is a
        // matter of CPU time.
        let now = Instant::now();
        if st
            .last_direct
            .is_some_and(|t| now.duration_since(t) < BURST_GAP)
        {
            return Direct::Declined;
        }
        let st = &mut *st;
        let Some(sink) = st.sink.as_mut() else {
            return Direct::Declined;
        };
        // Nobody is woken by these polls: what cannot finish now is handed
        // to the writer task, which polls with its own waker.
        let mut cx = Context::from_waker(noop_waker_ref());
        match sink.poll_ready_unpin(&mut cx) {
            Poll::Pending => return Direct::Declined,
            Poll::Ready(Err(e)) => return self.fail(st, PeerError::transport(e)),
            Poll::Ready(Ok(())) => {}
        }
        let frame = match make() {
            Ok(frame) => frame,
            Err(e) => return self.fail(st, e),
        };
        if let Err(e) = sink.start_send_unpin(frame) {
            return self.fail(st, PeerError::transport(e));
        }
        match sink.poll_flush_unpin(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return self.fail(st, PeerError::transport(e)),
            Poll::Pending => {
                st.flush_owed = true;
                self.wake_writer.notify_one();
            }
        }
        st.last_direct = Some(now);
        Direct::Written
    }

    /// Hands a direct write's failure to the writer task, which ends the
    /// peer with it.
    fn fail(&self, st: &mut SinkState<S>, error: PeerError) -> Direct {
        st.failure = Some(error);
        self.wake_writer.notify_one();
        Direct::Failed
    }

    /// Waits until a direct write left the writer task work.
    pub(crate) async fn writer_needed(&self) {
        self.wake_writer.notified().await;
    }

    /// The writer task's share of a direct write: the failure it reported,
    /// or the flush it could not finish.
    pub(crate) async fn finish_direct(&self) -> Result<(), PeerError> {
        let owed = {
            let mut st = self.lock();
            if let Some(e) = st.failure.take() {
                return Err(e);
            }
            st.flush_owed
        };
        if owed {
            super::task::with_write_deadline(self.flush()).await?;
        }
        Ok(())
    }

    /// Waits for room, then hands the sink the frame `make` builds (built
    /// only once there is room, so the transport has let go of the previous
    /// frame's buffer). Room and hand-over happen under one lock: nothing
    /// else can fill the room in between.
    pub(crate) async fn feed(
        &self,
        make: impl FnOnce() -> Result<Bytes, PeerError>,
    ) -> Result<(), PeerError> {
        let mut make = Some(make);
        let mut made = Ok(());
        let fed = super::task::with_write_deadline(poll_fn(|cx| {
            let mut st = self.lock();
            let Some(sink) = st.sink.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            std::task::ready!(sink.poll_ready_unpin(cx))?;
            let Some(make) = make.take() else {
                return Poll::Ready(Ok(()));
            };
            match make() {
                Ok(frame) => Poll::Ready(sink.start_send_unpin(frame)),
                Err(e) => {
                    made = Err(e);
                    Poll::Ready(Ok(()))
                }
            }
        }))
        .await;
        made.and(fed)
    }

    /// Flushes the sink. A completed flush also covers what a direct write
    /// left unflushed, so direct writes may resume even before the writer
    /// task gets to [`finish_direct`](Self::finish_direct).
    pub(crate) fn flush(&self) -> impl std::future::Future<Output = Result<(), E>> + '_ {
        poll_fn(|cx| {
            let mut st = self.lock();
            let Some(sink) = st.sink.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let flushed = std::task::ready!(sink.poll_flush_unpin(cx));
            if flushed.is_ok() {
                st.flush_owed = false;
            }
            Poll::Ready(flushed)
        })
    }

    /// Flushes and closes the sink.
    pub(crate) fn close(&self) -> impl std::future::Future<Output = Result<(), E>> + '_ {
        poll_fn(|cx| match self.lock().sink.as_mut() {
            Some(sink) => sink.poll_close_unpin(cx),
            None => Poll::Ready(Ok(())),
        })
    }

    /// Drops the sink (the peer has ended; its writer task is gone), so the
    /// connection closes even while protocol writers are still held.
    pub(crate) fn drop_sink(&self) {
        let sink = self.lock().sink.take();
        drop(sink);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;

    use super::*;

    /// What the test sink saw and how it behaves.
    #[derive(Default)]
    struct Script {
        /// Frames flushed, in order.
        flushed: Vec<Bytes>,
        /// Frames handed over but not flushed.
        buffered: Vec<Bytes>,
        /// `poll_ready` is pending.
        full: bool,
        /// `poll_flush` is pending.
        stuck: bool,
        /// Every call fails.
        broken: bool,
    }

    #[derive(Clone, Default)]
    struct TestSink(Arc<Mutex<Script>>);

    impl TestSink {
        fn script(&self) -> MutexGuard<'_, Script> {
            self.0.lock().unwrap()
        }
    }

    fn broken() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "test sink broken")
    }

    impl Sink<Bytes> for TestSink {
        type Error = std::io::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            let s = self.script();
            match (s.broken, s.full) {
                (true, _) => Poll::Ready(Err(broken())),
                (_, true) => Poll::Pending,
                _ => Poll::Ready(Ok(())),
            }
        }

        fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<(), Self::Error> {
            self.script().buffered.push(item);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            let mut s = self.script();
            match (s.broken, s.stuck) {
                (true, _) => Poll::Ready(Err(broken())),
                (_, true) => Poll::Pending,
                _ => {
                    let frames = std::mem::take(&mut s.buffered);
                    s.flushed.extend(frames);
                    Poll::Ready(Ok(()))
                }
            }
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    fn outbound(direct: bool) -> (Outbound<TestSink>, TestSink) {
        let sink = TestSink::default();
        (Outbound::new(sink.clone(), direct), sink)
    }

    fn write(out: &Outbound<TestSink>, frame: &'static [u8]) -> Direct {
        out.try_write(|| true, || Ok(Bytes::from_static(frame)))
    }

    /// Lets [`BURST_GAP`] pass (a real sleep: the gap is wall-clock time).
    fn after_gap() {
        std::thread::sleep(BURST_GAP);
    }

    #[test]
    fn idle_connection_takes_the_frame_at_once_but_not_a_burst() {
        let (out, sink) = outbound(true);
        assert_eq!(write(&out, b"a"), Direct::Written);
        assert_eq!(sink.script().flushed, [&b"a"[..]]);
        // Right behind it: a burst, for the writer task to batch.
        assert_eq!(write(&out, b"b"), Direct::Declined);
        after_gap();
        assert_eq!(write(&out, b"c"), Direct::Written);
        assert_eq!(sink.script().flushed, [&b"a"[..], b"c"]);
    }

    #[test]
    fn declined_while_anything_is_queued_or_disabled() {
        let (off, sink) = outbound(false);
        assert_eq!(write(&off, b"a"), Direct::Declined);
        assert!(sink.script().flushed.is_empty());

        let (out, sink) = outbound(true);
        let counted = out.count_queued();
        assert_eq!(write(&out, b"a"), Direct::Declined);
        counted.keep();
        assert_eq!(write(&out, b"a"), Direct::Declined);
        // The writer task flushed it.
        out.release_queued(1);
        assert_eq!(write(&out, b"b"), Direct::Written);
        // A count that never reached the queue releases itself.
        drop(out.count_queued());
        after_gap();
        assert_eq!(write(&out, b"c"), Direct::Written);
        assert_eq!(sink.script().flushed, [&b"b"[..], b"c"]);
    }

    #[test]
    fn nothing_is_built_when_closed_or_full() {
        let (out, sink) = outbound(true);
        let never = || -> Result<Bytes, PeerError> { panic!("frame built") };
        assert_eq!(out.try_write(|| false, never), Direct::Declined);
        sink.script().full = true;
        assert_eq!(out.try_write(|| true, never), Direct::Declined);
        out.drop_sink();
        sink.script().full = false;
        assert_eq!(out.try_write(|| true, never), Direct::Declined);
    }

    #[tokio::test]
    async fn an_unfinished_flush_goes_to_the_writer_task() {
        let (out, sink) = outbound(true);
        sink.script().stuck = true;
        assert_eq!(write(&out, b"a"), Direct::Written);
        // Until the writer task has flushed, nothing else goes direct.
        assert_eq!(write(&out, b"b"), Direct::Declined);
        sink.script().stuck = false;
        tokio::time::timeout(std::time::Duration::from_secs(5), out.writer_needed())
            .await
            .expect("writer task woken");
        out.finish_direct().await.unwrap();
        assert_eq!(sink.script().flushed, [&b"a"[..]]);
        after_gap();
        assert_eq!(write(&out, b"c"), Direct::Written);
        assert_eq!(sink.script().flushed, [&b"a"[..], b"c"]);
    }

    #[tokio::test]
    async fn a_transport_failure_ends_with_the_writer_task() {
        let (out, sink) = outbound(true);
        sink.script().broken = true;
        assert_eq!(write(&out, b"a"), Direct::Failed);
        // The failure stays until the writer task takes it.
        assert_eq!(write(&out, b"b"), Direct::Declined);
        tokio::time::timeout(std::time::Duration::from_secs(5), out.writer_needed())
            .await
            .expect("writer task woken");
        let err = out.finish_direct().await.unwrap_err();
        assert!(matches!(err, PeerError::Transport(_)), "{err}");
    }

    #[tokio::test]
    async fn feed_builds_the_frame_once_there_is_room() {
        let (out, sink) = outbound(true);
        out.feed(|| Ok(Bytes::from_static(b"ping"))).await.unwrap();
        assert_eq!(sink.script().buffered, [&b"ping"[..]]);
        out.flush().await.unwrap();
        assert_eq!(sink.script().flushed, [&b"ping"[..]]);
        let err = out
            .feed(|| Err(PeerError::MalformedMsg("test".into())))
            .await
            .unwrap_err();
        assert!(matches!(err, PeerError::MalformedMsg(_)), "{err}");
    }
}
