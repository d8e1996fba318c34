//! Prometheus metrics of one [`Server`], served as text at `/metrics`.
//!
//! [`Metrics`] is fed by the server's [`PeerEvent`]s (one collector task per
//! server; no global registry, so two servers in one process keep separate
//! numbers); gauges such as peer counts and the discovery table size are read
//! from the server when scraped. [`serve`] runs a tiny HTTP/1.0 server that
//! answers `GET /metrics` and nothing else.
//!
//! Names follow go-ethereum's meters in Prometheus style: `p2p_peers`,
//! `p2p_peers_inbound`, `p2p_peers_outbound`, `p2p_peer_adds_total`,
//! `p2p_peer_drops_total`, `p2p_ingress_bytes_total`, `p2p_egress_bytes_total`
//! (also split by `protocol` and `code` labels),
//! `p2p_ingress_messages_total`, `p2p_egress_messages_total`,
//! `p2p_discovery_table_nodes`; connection setups as go-ethereum's
//! `p2p/dials`, `p2p/serves`, `…/success`, `…/error/<kind>` meters:
//! `p2p_dials_total`, `p2p_dials_success_total`,
//! `p2p_dials_errors_total{kind=…}` (and `p2p_serves_*`), with
//! `p2p_setup_duration_seconds{direction="dial"|"serve"}` (histogram of
//! successful setups: RLPx handshake, Hello and both admission checks);
//! discovery `p2p_discovery_packets_in_total{type=…}`,
//! `p2p_discovery_packets_out_total{type=…}`,
//! `p2p_discovery_packets_dropped_total` and
//! `p2p_discovery_bucket_nodes{bucket=…}`. Byte counters need
//! `Config::enable_msg_events`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::event::{PeerEvent, PeerEventKind};
use crate::server::{Server, SetupStatsSnapshot};
use devp2p_discover::v4::PacketCounts;

/// Largest HTTP request head read, in bytes (a scrape request is ~100 bytes).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Distinct `(protocol, code)` label pairs kept; further pairs are counted
/// under `protocol="other"` (bounds memory against peers with many codes).
pub const MAX_MESSAGE_LABELS: usize = 256;

/// Counters accumulated from events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Peers added.
    pub peer_adds: u64,
    /// Peers dropped.
    pub peer_drops: u64,
    /// Bytes received per `(protocol, code)`.
    pub ingress: BTreeMap<(String, u64), (u64, u64)>,
    /// Bytes sent per `(protocol, code)`.
    pub egress: BTreeMap<(String, u64), (u64, u64)>,
}

impl Counters {
    /// Adds one event.
    pub fn record(&mut self, ev: &PeerEvent) {
        let map = match ev.kind {
            PeerEventKind::Add => {
                self.peer_adds += 1;
                return;
            }
            PeerEventKind::Drop => {
                self.peer_drops += 1;
                return;
            }
            PeerEventKind::MsgRecv => &mut self.ingress,
            PeerEventKind::MsgSend => &mut self.egress,
        };
        let mut label = (
            ev.protocol.clone().unwrap_or_default(),
            ev.msg_code.unwrap_or(0),
        );
        if !map.contains_key(&label) && map.len() >= MAX_MESSAGE_LABELS {
            label = ("other".to_string(), 0);
        }
        let entry = map.entry(label).or_insert((0, 0));
        entry.0 += u64::from(ev.msg_size.unwrap_or(0));
        entry.1 += 1;
    }
}

/// Metrics of one server: a collector task over its events.
#[derive(Clone, Debug)]
pub struct Metrics {
    server: Server,
    counters: Arc<Mutex<Counters>>,
}

impl Metrics {
    /// Starts collecting `server`'s events; the collector ends when the
    /// server's event stream ends or `stop` is cancelled.
    pub fn start(server: Server, stop: CancellationToken) -> Metrics {
        let counters = Arc::new(Mutex::new(Counters::default()));
        let mut events = server.subscribe_events();
        let c = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    ev = events.next() => match ev {
                        Some(ev) => c.lock().unwrap_or_else(|e| e.into_inner()).record(&ev),
                        None => break,
                    },
                }
            }
        });
        Metrics { server, counters }
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The Prometheus text exposition of every metric.
    pub async fn render(&self) -> String {
        let peers = self.server.peers().await;
        let inbound = peers.iter().filter(|p| p.inbound()).count();
        let (buckets, packets) = match self.server.discovery() {
            Some(d) => (d.bucket_sizes().await, Some(d.packet_counts())),
            None => (Vec::new(), None),
        };
        let table: usize = buckets.iter().sum();
        let c = self.counters();
        let mut out = String::new();
        gauge(
            &mut out,
            "p2p_peers",
            "Connected peers.",
            peers.len() as u64,
        );
        gauge(
            &mut out,
            "p2p_peers_inbound",
            "Connected inbound peers.",
            inbound as u64,
        );
        gauge(
            &mut out,
            "p2p_peers_outbound",
            "Connected outbound peers.",
            (peers.len() - inbound) as u64,
        );
        counter(&mut out, "p2p_peer_adds_total", "Peers added.", c.peer_adds);
        counter(
            &mut out,
            "p2p_peer_drops_total",
            "Peers dropped.",
            c.peer_drops,
        );
        gauge(
            &mut out,
            "p2p_discovery_table_nodes",
            "Nodes in the discovery table.",
            table as u64,
        );
        render_setups(&mut out, &self.server.setup_stats());
        if let Some(packets) = packets {
            render_discovery(&mut out, &packets, &buckets);
        }
        for (dir, map) in [("ingress", &c.ingress), ("egress", &c.egress)] {
            let total: u64 = map.values().map(|v| v.0).sum();
            counter(
                &mut out,
                &format!("p2p_{dir}_bytes_total"),
                &format!("Sub-protocol payload bytes ({dir})."),
                total,
            );
            let name = format!("p2p_{dir}_messages_total");
            let _ = writeln!(
                out,
                "# HELP {name} Sub-protocol messages ({dir}) by protocol and code."
            );
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((proto, code), (_, count)) in map {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\",code=\"{code}\"}} {count}",
                    escape(proto)
                );
            }
            let name = format!("p2p_{dir}_protocol_bytes_total");
            let _ = writeln!(
                out,
                "# HELP {name} Sub-protocol payload bytes ({dir}) by protocol and code."
            );
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((proto, code), (bytes, _)) in map {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\",code=\"{code}\"}} {bytes}",
                    escape(proto)
                );
            }
        }
        out
    }
}

/// Dial and serve counters and setup duration histograms.
fn render_setups(out: &mut String, stats: &SetupStatsSnapshot) {
    for (dir, what, s) in [
        ("dials", "Outbound connection setups", &stats.dials),
        ("serves", "Inbound connection setups", &stats.serves),
    ] {
        counter(
            out,
            &format!("p2p_{dir}_total"),
            &format!("{what} started."),
            s.attempts,
        );
        counter(
            out,
            &format!("p2p_{dir}_success_total"),
            &format!("{what} that added a peer."),
            s.successes,
        );
        let name = format!("p2p_{dir}_errors_total");
        let _ = writeln!(out, "# HELP {name} {what} that failed, by kind.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (kind, n) in &s.errors {
            let _ = writeln!(out, "{name}{{kind=\"{}\"}} {n}", kind.label());
        }
    }
    let name = "p2p_setup_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Successful connection setups (RLPx handshake, Hello, checks) by duration."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (direction, s) in [("dial", &stats.dials), ("serve", &stats.serves)] {
        for (le, n) in &s.duration_buckets {
            let _ = writeln!(
                out,
                "{name}_bucket{{direction=\"{direction}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{direction=\"{direction}\",le=\"+Inf\"}} {}",
            s.successes
        );
        let _ = writeln!(
            out,
            "{name}_sum{{direction=\"{direction}\"}} {}",
            s.duration_sum.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{name}_count{{direction=\"{direction}\"}} {}",
            s.successes
        );
    }
}

/// Discovery packet counters and bucket fill.
fn render_discovery(out: &mut String, packets: &PacketCounts, buckets: &[usize]) {
    for (dir, list) in [("in", &packets.received), ("out", &packets.sent)] {
        let name = format!("p2p_discovery_packets_{dir}_total");
        let _ = writeln!(out, "# HELP {name} Discovery packets ({dir}) by type.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (kind, n) in list.iter() {
            let _ = writeln!(out, "{name}{{type=\"{kind}\"}} {n}");
        }
    }
    counter(
        out,
        "p2p_discovery_packets_dropped_total",
        "Discovery datagrams dropped (rate limited, undecodable, bad signature, expired).",
        packets.dropped,
    );
    let name = "p2p_discovery_bucket_nodes";
    let _ = writeln!(
        out,
        "# HELP {name} Nodes per discovery table bucket (0 = closest)."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (i, n) in buckets.iter().enumerate() {
        let _ = writeln!(out, "{name}{{bucket=\"{i}\"}} {n}");
    }
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

/// Escapes a label value (Prometheus text format).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A running metrics HTTP endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the collector and the listener; returns when they are gone.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Serves `server`'s metrics at `http://addr/metrics`. Requests are handled
/// one at a time (scrapes are rare and cheap), each with [`REQUEST_TIMEOUT`].
pub async fn serve(addr: SocketAddr, server: Server) -> std::io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let metrics = Metrics::start(server, stop.clone());
    let s = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = s.cancelled() => break,
                conn = listener.accept() => conn,
            };
            if let Ok((stream, _)) = conn {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &metrics)).await;
            }
        }
    });
    Ok(MetricsServer {
        local_addr,
        stop,
        task,
    })
}

async fn handle(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let body = metrics.render().await;
            respond(&mut stream, "200 OK", &body).await
        }
        (Some(b"GET"), _) => respond(&mut stream, "404 Not Found", "not found\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
