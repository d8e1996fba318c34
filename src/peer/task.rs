//! The tasks of one peer: the owning peer task, its reader and writer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{FutureExt, Sink, Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, debug_span, trace, Instrument};

use crate::disc_reason::DiscReason;
use crate::event::{publish, PeerEvent, PeerEventKind};
use crate::message::{Msg, MsgError};
use crate::protocol::{Protocol, ProtocolError};

use super::base::{
    check_declared_len, decode_disconnect, encode_frame, split_frame, PongLimiter, DISCONNECT_MSG,
    DISC_WRITE_TIMEOUT, FINAL_FLUSH_TIMEOUT, FRAME_READ_TIMEOUT, FRAME_WRITE_TIMEOUT,
    PING_INTERVAL, PING_MSG, PONG_BURST, PONG_MSG,
};
use super::caps::{find_lane, Negotiated, BASE_PROTOCOL_LENGTH};
use super::error::PeerError;
use super::handle::{Counters, Peer, PeerShared, RunningProto};
use super::hello::Hello;
use super::hexdump::{self, Direction};
use super::mux::{window, DirectWriter, FairScheduler, OutMsg, ProtoRw};
use super::outbound::{Direct, Outbound, QueuedCount};
use super::payload_pool::decompress_pooled;
use super::rate::{check_budget, rate_budgets, MsgBudget};
use super::{PeerExit, PeerSetup, TARGET};

/// How long protocols may keep running after the peer started closing (their
/// reads and writes already fail with `Closed`), so async clean-up can finish;
/// then they are aborted.
pub(super) const PROTOCOL_EXIT_GRACE: Duration = Duration::from_secs(1);

/// How long to wait for the reader or writer to report why the connection
/// closed after a protocol saw `Closed` (they end first, so this is only a
/// safety net).
const CLOSED_CAUSE_WAIT: Duration = Duration::from_secs(1);

/// Pongs queued for the writer; excess pongs are dropped (the limiter keeps
/// this from happening for honest peers).
const CONTROL_QUEUE: usize = PONG_BURST as usize;

/// Most frame bytes the writer queues before it flushes (a batch of small
/// messages becomes one write system call). 64 KiB: one loopback/TCP window's
/// worth, so a batch never sits in user space waiting for the kernel for long
/// and the Framed write buffer stays at most this size plus one frame.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// RLP of an empty list, the payload of ping and pong.
const EMPTY_LIST: &[u8] = &[0xc0];

/// Starts a peer whose Hello is done and whose protocols are matched
/// (see [`NegotiatedConn::spawn`](super::NegotiatedConn::spawn), the public
/// way here): each lane is a negotiated protocol with its `Protocol`.
/// Publishes the Add event and spawns the peer task, on which the
/// protocols' `run` closures are called.
pub(crate) fn spawn_peer<T, E>(
    conn: T,
    theirs: Hello,
    snappy: bool,
    lanes: Vec<(Negotiated, Protocol)>,
    setup: PeerSetup,
    events: broadcast::Sender<PeerEvent>,
) -> (Peer, JoinHandle<PeerExit>)
where
    T: Stream<Item = Result<BytesMut, E>> + Sink<Bytes, Error = E> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let closing = CancellationToken::new();
    let (disc_tx, disc_rx) = mpsc::channel(1);
    let mut running = Vec::new();
    for (n, p) in &lanes {
        running.push(RunningProto {
            cap: n.cap.clone(),
            offset: n.offset,
            length: n.length,
            peer_info: p.peer_info.clone(),
            counters: Counters::default(),
            traffic: setup.traffic.lane(&n.cap),
            rate_limit: p.rate_limit,
        });
    }
    let peer = Peer {
        shared: Arc::new(PeerShared {
            setup,
            name: theirs.client_id,
            caps: theirs.caps,
            running,
            base: Counters::default(),
            connected_since: SystemTime::now(),
            connected_at: Instant::now(),
            last_rtt_nanos: AtomicU64::new(0),
            ping_sent_nanos: AtomicU64::new(0),
            disc_tx,
            closing,
            done: CancellationToken::new(),
        }),
    };
    let mut add = PeerEvent::new(PeerEventKind::Add, peer.id());
    add.local = Some(peer.local_addr());
    add.remote = Some(peer.remote_addr());
    publish(&events, add);
    debug!(target: TARGET, peer = ?peer, caps = ?peer.running_caps(), snappy, "peer added");
    let ctx = Ctx {
        shared: peer.shared.clone(),
        snappy,
        events,
    };
    // Split here, not inside the task: the connection (its cipher and MAC
    // state, ~5 KiB) moves into the shared half once instead of also being
    // reserved inside the peer task's future for its whole life.
    let (sink, stream) = conn.split();
    // Direct writes skip the writer task, so not with what only it does:
    // egress throttling and MsgSend events after the flush.
    let direct = ctx.shared.setup.bandwidth.egress.is_none() && !ctx.shared.setup.enable_msg_events;
    let writing = Arc::new(Writing {
        out: Outbound::new(sink, direct),
        shared: ctx.shared.clone(),
        snappy,
    });
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    let mut windows = Vec::new();
    for (lane, (n, p)) in lanes.iter().enumerate() {
        let (rw, in_tx, out_rx) = window(
            (n.offset, n.length, lane),
            p.read_queue,
            p.write_queue,
            peer.shared.closing.clone(),
            writing.clone(),
        );
        inbound.push(in_tx);
        outbound.push((out_rx, p.write_weight));
        windows.push((p.clone(), rw));
    }
    let span = debug_span!(
        target: TARGET, "peer",
        id = %peer.id(), remote = %peer.remote_addr(), inbound = peer.inbound()
    );
    let task = tokio::spawn(
        run_peer(
            writing,
            stream,
            ctx,
            inbound,
            FairScheduler::new(outbound),
            (peer.clone(), windows),
            disc_rx,
        )
        .instrument(span),
    );
    (peer, task)
}

/// What the reader and writer share.
#[derive(Clone)]
struct Ctx {
    shared: Arc<PeerShared>,
    snappy: bool,
    events: broadcast::Sender<PeerEvent>,
}

impl Ctx {
    fn msg_event(&self, kind: PeerEventKind, lane: usize, code: u64, size: usize) {
        if !self.shared.setup.enable_msg_events {
            return;
        }
        let mut ev = PeerEvent::new(kind, self.shared.setup.id);
        ev.protocol = Some(self.shared.running[lane].name());
        ev.msg_code = Some(code);
        ev.msg_size = Some(u32::try_from(size).unwrap_or(u32::MAX));
        ev.local = Some(self.shared.setup.local_addr);
        ev.remote = Some(self.shared.setup.remote_addr);
        publish(&self.events, ev);
    }

    /// Traces one message under [`hexdump::HEXDUMP_TARGET`] when that is on;
    /// `lane` is the protocol (`None`: the base protocol), `code` relative to it.
    #[inline]
    fn hexdump(&self, dir: Direction, lane: Option<usize>, code: u64, payload: &[u8]) {
        hexdump_msg(&self.shared, dir, lane, code, payload);
    }

    fn since_connected(&self) -> u64 {
        // At least 1 so that 0 can mean "none".
        (self.shared.connected_at.elapsed().as_nanos() as u64).max(1)
    }
}

/// See [`Ctx::hexdump`].
#[inline]
fn hexdump_msg(
    shared: &PeerShared,
    dir: Direction,
    lane: Option<usize>,
    code: u64,
    payload: &[u8],
) {
    if hexdump::enabled() {
        let proto = lane.map_or_else(|| "p2p".to_owned(), |l| shared.running[l].name());
        hexdump::log(dir, &shared.setup.id, &proto, code, payload);
    }
}

/// Base-protocol messages the reader asks the writer to send.
#[derive(Debug)]
enum Control {
    Pong,
}

async fn run_peer<T, E>(
    writing: Arc<Writing<SplitSink<T, Bytes>>>,
    stream: SplitStream<T>,
    ctx: Ctx,
    inbound: Vec<mpsc::Sender<Msg>>,
    sched: FairScheduler,
    (peer, windows): (Peer, Vec<(Protocol, ProtoRw)>),
    mut disc_rx: mpsc::Receiver<DiscReason>,
) -> PeerExit
where
    T: Stream<Item = Result<BytesMut, E>> + Sink<Bytes, Error = E> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let (ctl_tx, ctl_rx) = mpsc::channel(CONTROL_QUEUE);
    let (final_tx, final_rx) = oneshot::channel();
    // Child tasks stay in the peer's span (tokio does not pass it on).
    let mut reader =
        tokio::spawn(reader_loop(stream, ctx.clone(), inbound, ctl_tx).in_current_span());
    let mut writer = tokio::spawn(
        writer_loop(writing.clone(), ctx.clone(), sched, ctl_rx, final_rx).in_current_span(),
    );
    let mut protos = JoinSet::new();
    let mut names = HashMap::new();
    // The users' `run` closures are called here, on the peer's own task:
    // set-up work they do before their future starts delays only this peer.
    for (p, rw) in windows {
        let handle = protos.spawn((p.run)(peer.clone(), rw).in_current_span());
        names.insert(handle.id(), p.cap().to_string());
    }
    drop(peer);
    let name_of = |id| names.get(&id).cloned().unwrap_or_default();
    // A JoinHandle must not be polled after it completed: track which did.
    let mut reader_done = false;
    let mut writer_done = false;
    // A protocol failing with `Closed` is a consequence of the reader or
    // writer having ended; wait (briefly) for that root cause instead.
    let mut closed_from: Option<String> = None;
    let error = loop {
        tokio::select! {
            biased;
            r = &mut reader => {
                reader_done = true;
                break r.unwrap_or_else(PeerError::transport);
            }
            w = &mut writer => {
                writer_done = true;
                break match w {
                    Ok(Ok(())) => PeerError::ConnectionClosed,
                    Ok(Err(e)) => e,
                    Err(e) => PeerError::transport(e),
                };
            }
            Some(reason) = disc_rx.recv() => break PeerError::LocalDisconnect(reason),
            Some(done) = protos.join_next_with_id() => match done {
                Ok((id, Ok(()))) => break PeerError::ProtocolReturned { name: name_of(id) },
                Ok((id, Err(ProtocolError::Msg(MsgError::Closed)))) => {
                    closed_from.get_or_insert_with(|| name_of(id));
                }
                Ok((id, Err(error))) => break PeerError::Protocol { name: name_of(id), error },
                Err(e) => break PeerError::ProtocolPanicked { name: name_of(e.id()) },
            },
            _ = tokio::time::sleep(CLOSED_CAUSE_WAIT), if closed_from.is_some() => {
                break PeerError::Protocol {
                    name: closed_from.take().unwrap_or_default(),
                    error: ProtocolError::Msg(MsgError::Closed),
                };
            }
        }
    };
    let shared = &ctx.shared;
    shared.closing.cancel();
    let reason = error.disconnect_reason();
    debug!(target: TARGET, id = %shared.setup.id, %reason, %error, "peer closing");

    // Polite disconnect: the writer first writes what the protocols had
    // queued (within FINAL_FLUSH_TIMEOUT), then the Disconnect (within
    // DISC_WRITE_TIMEOUT), then closes the transport.
    if !writer_done && error.should_send_disconnect() {
        let _ = final_tx.send(reason);
        let bound = FINAL_FLUSH_TIMEOUT + DISC_WRITE_TIMEOUT;
        writer_done = timeout(bound, &mut writer).await.is_ok();
    }
    if !writer_done {
        writer.abort();
        let _ = writer.await;
    }
    // Protocols may hold writers (and so the writing half) longer.
    writing.out.drop_sink();
    if !reader_done {
        reader.abort();
        let _ = reader.await;
    }
    // Protocols already see `Closed`; give them a moment to finish cleanly.
    let _ = timeout(PROTOCOL_EXIT_GRACE, async {
        while protos.join_next().await.is_some() {}
    })
    .await;
    protos.shutdown().await;
    shared.done.cancel();

    let remote_requested = matches!(error, PeerError::RemoteDisconnect(_));
    let mut drop_ev = PeerEvent::new(PeerEventKind::Drop, shared.setup.id);
    drop_ev.error = Some(error.to_string());
    drop_ev.reason = Some(reason);
    drop_ev.remote_requested = Some(remote_requested);
    drop_ev.local = Some(shared.setup.local_addr);
    drop_ev.remote = Some(shared.setup.remote_addr);
    publish(&ctx.events, drop_ev);

    PeerExit {
        reason,
        error: (!matches!(error, PeerError::LocalDisconnect(_))).then_some(error),
        remote_requested,
    }
}

async fn reader_loop<S, E>(
    mut stream: S,
    ctx: Ctx,
    inbound: Vec<mpsc::Sender<Msg>>,
    ctl_tx: mpsc::Sender<Control>,
) -> PeerError
where
    S: Stream<Item = Result<BytesMut, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut limiter = PongLimiter::new(Instant::now());
    // One timer for the read deadline, re-armed lazily: a frame only records
    // when it arrived, and when the timer fires it is pushed out to 30 s after
    // the last frame (instead of a timer registered and cancelled per frame).
    let deadline = tokio::time::sleep(FRAME_READ_TIMEOUT);
    tokio::pin!(deadline);
    let mut last_frame = Instant::now();
    let ingress = ctx.shared.setup.bandwidth.ingress.clone();
    let mut budgets = rate_budgets(&ctx.shared.running);
    loop {
        let next = tokio::select! {
            biased;
            next = stream.next() => next,
            () = &mut deadline => {
                let expires = last_frame + FRAME_READ_TIMEOUT;
                if Instant::now() >= expires {
                    return PeerError::ReadTimeout;
                }
                deadline.as_mut().reset(expires);
                continue;
            }
        };
        let frame = match next {
            None => return PeerError::ConnectionClosed,
            Some(Err(e)) => return PeerError::transport(e),
            Some(Ok(frame)) => frame,
        };
        last_frame = Instant::now();
        let wire_len = frame.len();
        let limits = (&mut limiter, budgets.as_deref_mut());
        if let Err(e) = handle_frame(frame, &ctx, &inbound, &ctl_tx, limits).await {
            return e;
        }
        // Bandwidth cap (see bandwidth.rs): wait before reading the next
        // frame; the wait is ours, so it does not count as remote silence.
        if let Some(t) = &ingress {
            t.charge(wire_len);
            t.ready().await;
            last_frame = Instant::now();
        }
    }
}

async fn handle_frame(
    mut frame: BytesMut,
    ctx: &Ctx,
    inbound: &[mpsc::Sender<Msg>],
    ctl_tx: &mpsc::Sender<Control>,
    (limiter, budgets): (&mut PongLimiter, Option<&mut [Option<MsgBudget>]>),
) -> Result<(), PeerError> {
    let wire_len = frame.len();
    let (code, raw) = split_frame(&frame)?;
    let shared = &ctx.shared;
    // Every frame's declared size is checked, whatever its code: a ping that
    // claims 17 MiB is as much a protocol error as such a user message.
    if ctx.snappy {
        check_declared_len(raw)?;
    }
    if code < BASE_PROTOCOL_LENGTH {
        shared.base.record_in(wire_len);
        ctx.hexdump(Direction::In, None, code, raw);
        match code {
            DISCONNECT_MSG => {
                return Err(PeerError::RemoteDisconnect(decode_disconnect(
                    raw, ctx.snappy,
                )))
            }
            PING_MSG => {
                if limiter.allow(Instant::now()) {
                    // Full queue: the pong is dropped, like a rate-limited one.
                    let _ = ctl_tx.try_send(Control::Pong);
                } else {
                    trace!(target: TARGET, id = %shared.setup.id, "ping not answered (rate limit)");
                }
            }
            PONG_MSG => {
                let sent = shared.ping_sent_nanos.swap(0, Ordering::Relaxed);
                if sent != 0 {
                    let rtt = ctx.since_connected().saturating_sub(sent).max(1);
                    shared.last_rtt_nanos.store(rtt, Ordering::Relaxed);
                }
            }
            // Hello again and the reserved codes are ignored, as go-ethereum does.
            _ => {}
        }
        return Ok(());
    }
    let lane = find_lane(&shared.running, code).ok_or(PeerError::InvalidMsgCode(code))?;
    if let Some(budgets) = budgets {
        check_budget(budgets, shared, lane)?;
    }
    let raw_len = raw.len();
    let payload = if ctx.snappy {
        decompress_pooled(raw)?
    } else {
        frame.split_off(wire_len - raw_len).freeze()
    };
    let proto = &shared.running[lane];
    let rel_code = code - proto.offset;
    proto.record_in(wire_len, rel_code, payload.len());
    ctx.hexdump(Direction::In, Some(lane), rel_code, &payload);
    ctx.msg_event(PeerEventKind::MsgRecv, lane, rel_code, payload.len());
    let msg = Msg::new(rel_code, payload);
    let msg = match inbound[lane].try_send(msg) {
        Ok(()) => return Ok(()),
        // The protocol's run has ended; the peer is closing anyway.
        Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
        Err(mpsc::error::TrySendError::Full(msg)) => msg,
    };
    // Queue full (the protocol is behind): wait, bounded by the read
    // deadline. Boxed so the waiting state does not enlarge every idle
    // peer's reader task.
    let wait = Box::pin(timeout(FRAME_READ_TIMEOUT, inbound[lane].send(msg)));
    match wait.await {
        Err(_) => Err(PeerError::ProtocolStalled { name: proto.name() }),
        Ok(_) => Ok(()),
    }
}

async fn writer_loop<S, E>(
    writing: Arc<Writing<S>>,
    ctx: Ctx,
    mut sched: FairScheduler,
    mut ctl_rx: mpsc::Receiver<Control>,
    mut final_rx: oneshot::Receiver<DiscReason>,
) -> Result<(), PeerError>
where
    S: Sink<Bytes, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let (out, ctx) = (&writing.out, &ctx);
    let shared = ctx.shared.clone();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sched_open = true;
    let mut sent = Vec::new();
    loop {
        tokio::select! {
            biased;
            reason = &mut final_rx => {
                let Ok(reason) = reason else {
                    let _ = timeout(DISC_WRITE_TIMEOUT, out.close()).await;
                    return Ok(());
                };
                // What the protocols queued before the peer closed goes out
                // first: a protocol that writes and returns (which closes the
                // peer) expects its messages delivered. Closing the queues
                // bounds this to their capacity; the deadline bounds the time.
                sched.close();
                let flush = async {
                    while let Some(first) = sched.next().await {
                        Box::pin(write_batch(out, ctx, &mut sched, first, &mut sent)).await?;
                    }
                    Ok::<(), PeerError>(())
                };
                match timeout(FINAL_FLUSH_TIMEOUT, flush).await {
                    // The transport failed: no Disconnect can follow.
                    Ok(Err(_)) => return Ok(()),
                    Ok(Ok(())) => {}
                    Err(_) => {
                        debug!(target: TARGET, id = %shared.setup.id, "queued messages dropped at close (flush deadline)");
                    }
                }
                let body = reason.encode();
                ctx.hexdump(Direction::Out, None, DISCONNECT_MSG, &body);
                let disconnect = async {
                    out.feed(|| encode_frame(DISCONNECT_MSG, &body, ctx.snappy)).await?;
                    out.flush().await.map_err(PeerError::transport)
                };
                let _ = timeout(DISC_WRITE_TIMEOUT, disconnect).await;
                let _ = timeout(DISC_WRITE_TIMEOUT, out.close()).await;
                return Ok(());
            }
            Some(Control::Pong) = ctl_rx.recv() => {
                ctx.hexdump(Direction::Out, None, PONG_MSG, EMPTY_LIST);
                Box::pin(write_base(out, ctx, PONG_MSG)).await?;
            }
            _ = ping.tick() => {
                ctx.hexdump(Direction::Out, None, PING_MSG, EMPTY_LIST);
                shared.ping_sent_nanos.store(ctx.since_connected(), Ordering::Relaxed);
                Box::pin(write_base(out, ctx, PING_MSG)).await?;
            }
            // A direct write left a flush or an error for this task.
            () = out.writer_needed() => Box::pin(out.finish_direct()).await?,
            next = sched.next(), if sched_open => {
                let Some(first) = next else {
                    sched_open = false;
                    continue;
                };
                // Boxed: the batch's write state would otherwise be reserved
                // inside every idle peer's writer task.
                Box::pin(write_batch(out, ctx, &mut sched, first, &mut sent)).await?;
            }
        }
    }
}

/// A message written but not yet flushed: what to report once it is.
struct Unflushed {
    lane: usize,
    code: u64,
    size: usize,
    confirm: Option<oneshot::Sender<Result<(), MsgError>>>,
}

/// Writes `first` and whatever else the scheduler has ready right now (up to
/// [`WRITE_BATCH_BYTES`]), then flushes once: a burst of small messages costs
/// one write system call instead of one each. Confirmations and MsgSend
/// events follow the flush. `sent` is scratch space reused across batches.
async fn write_batch<S, E>(
    out: &Outbound<S>,
    ctx: &Ctx,
    sched: &mut FairScheduler,
    first: (usize, OutMsg),
    sent: &mut Vec<Unflushed>,
) -> Result<(), PeerError>
where
    S: Sink<Bytes, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    sent.clear();
    // Bandwidth cap (see bandwidth.rs): wait for tokens before the batch.
    let egress = ctx.shared.setup.bandwidth.egress.as_deref();
    if let Some(t) = egress {
        t.ready().await;
    }
    let mut batch_bytes = 0;
    let mut next = Some(first);
    let mut result = Ok(());
    while let Some((lane, msg)) = next.take() {
        let proto = &ctx.shared.running[lane];
        let code = msg.code - proto.offset;
        sent.push(Unflushed {
            lane,
            code,
            size: msg.payload.len(),
            confirm: msg.confirm,
        });
        // Room first, then the frame: the transport hands the previous
        // frame on before this one is built, so `encode_frame` reuses its
        // buffer instead of allocating one per message.
        result = out
            .feed(|| {
                let frame = encode_frame(msg.code, &msg.payload, ctx.snappy)?;
                proto.record_out(frame.len(), code, msg.payload.len());
                ctx.hexdump(Direction::Out, Some(lane), code, &msg.payload);
                batch_bytes += frame.len();
                if let Some(t) = egress {
                    t.charge(frame.len());
                }
                Ok(frame)
            })
            .await;
        if result.is_err()
            || batch_bytes >= WRITE_BATCH_BYTES
            || egress.is_some_and(|t| !t.is_ready())
        {
            break;
        }
        // Only what is ready now: `None` (nothing queued) ends the batch.
        next = sched.next().now_or_never().flatten();
    }
    if result.is_ok() {
        result = with_write_deadline(out.flush()).await;
    }
    // Flushed (or failed, which ends the peer): these no longer hold back
    // direct writes.
    out.release_queued(sent.len());
    for m in sent.drain(..) {
        if let Some(confirm) = m.confirm {
            let _ = confirm.send(result.as_ref().map(|_| ()).map_err(|_| MsgError::Closed));
        }
        if result.is_ok() {
            ctx.msg_event(PeerEventKind::MsgSend, m.lane, m.code, m.size);
        }
    }
    result
}

/// Runs one transport write under [`FRAME_WRITE_TIMEOUT`]. The deadline is
/// armed only if the write does not complete at once: a write into the
/// transport's buffer usually does, and a timer per message (a clock read
/// and a timer-wheel handle) was a measurable share of a small message's
/// cost.
pub(super) async fn with_write_deadline<F, E>(io: F) -> Result<(), PeerError>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut io = std::pin::pin!(io);
    let result = match futures::poll!(io.as_mut()) {
        std::task::Poll::Ready(r) => Ok(r),
        std::task::Poll::Pending => timeout(FRAME_WRITE_TIMEOUT, io).await,
    };
    match result {
        Err(_) => Err(PeerError::WriteTimeout),
        Ok(Err(e)) => Err(PeerError::transport(e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Writes and flushes a ping or pong.
async fn write_base<S, E>(out: &Outbound<S>, ctx: &Ctx, code: u64) -> Result<(), PeerError>
where
    S: Sink<Bytes, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    // Counted like a queued message: a direct write meanwhile would poll
    // the sink with its own (no-op) waker and so replace this task's waker
    // for the flush below.
    let _busy = out.count_queued();
    out.feed(|| {
        let frame = encode_frame(code, EMPTY_LIST, ctx.snappy)?;
        ctx.shared.base.record_out(frame.len());
        Ok(frame)
    })
    .await?;
    with_write_deadline(out.flush()).await
}

/// The connection's writing half and what a protocol's direct write needs;
/// shared by the writer task and the protocols' writers (which may outlive
/// the peer: nothing here keeps the connection or the event channel open
/// once the peer has ended).
struct Writing<S> {
    out: Outbound<S>,
    shared: Arc<PeerShared>,
    snappy: bool,
}

impl<S> std::fmt::Debug for Writing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writing").finish_non_exhaustive()
    }
}

impl<S, E> DirectWriter for Writing<S>
where
    S: Sink<Bytes, Error = E> + Send + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    fn try_write(&self, lane: usize, code: u64, payload: &Bytes) -> Direct {
        let shared = &self.shared;
        self.out.try_write(
            || !shared.closing.is_cancelled(),
            || {
                let frame = encode_frame(code, payload, self.snappy)?;
                let proto = &shared.running[lane];
                let rel_code = code - proto.offset;
                proto.record_out(frame.len(), rel_code, payload.len());
                hexdump_msg(shared, Direction::Out, Some(lane), rel_code, payload);
                Ok(frame)
            },
        )
    }

    fn count_queued(&self) -> QueuedCount<'_> {
        self.out.count_queued()
    }
}
