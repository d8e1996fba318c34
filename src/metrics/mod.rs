//! Prometheus metrics of one [`Server`], served as text at `/metrics`.
//!
//! One path: every number is an atomic counter kept where it is counted,
//! once — per peer ([`Peer::stats`](crate::peer::Peer::stats)), per server
//! (connection setups, peer adds and drops, and the [`TrafficTable`] of
//! sub-protocol bytes and messages per protocol and code, which every
//! peer's reader and writer bump next to the peer's own counters) and per
//! discovery service (packets by type, bucket fill). [`Metrics`] is a
//! `prometheus-client` registry of one server (no global registry, so two
//! servers in one process keep separate numbers) whose collectors read
//! those atomics at scrape time; nothing is derived from
//! [`PeerEvent`](crate::event::PeerEvent)s, so the byte and message
//! counters work without `Config::enable_msg_events`. `devp2p_cli::metrics_http::serve` runs a tiny
//! HTTP/1.0 server that answers `GET /metrics` and nothing else.
//!
//! Names follow go-ethereum's meters in Prometheus style: `p2p_peers`,
//! `p2p_peers_inbound`, `p2p_peers_outbound`, `p2p_peer_adds_total`,
//! `p2p_peer_drops_total`, `p2p_ingress_bytes_total`, `p2p_egress_bytes_total`
//! (also split by `protocol` and `code` labels as
//! `p2p_{ingress,egress}_protocol_bytes_total`),
//! `p2p_ingress_messages_total`, `p2p_egress_messages_total`,
//! `p2p_discovery_table_nodes`; connection setups as go-ethereum's
//! `p2p/dials`, `p2p/serves`, `…/success`, `…/error/<kind>` meters:
//! `p2p_dials_total`, `p2p_dials_success_total`,
//! `p2p_dials_errors_total{kind=…}` (and `p2p_serves_*`), failed dials
//! by failure kind `p2p_dial_failures_total{failure=…}` and the back-offs
//! they started `p2p_dial_backoffs_total{kind="low"|"medium"|"high"|"severe"}`,
//! peer disconnects
//! `p2p_disconnects_total{direction="ours"|"theirs",reason=…}`, with
//! `p2p_setup_duration_seconds{direction="dial"|"serve"}` (histogram of
//! successful setups: RLPx handshake, Hello and both admission checks);
//! discovery `p2p_discovery_packets_in_total{type=…}`,
//! `p2p_discovery_packets_out_total{type=…}`,
//! `p2p_discovery_packets_dropped_total` and
//! `p2p_discovery_bucket_nodes{bucket=…}`; the dial pipeline per node source
//! `p2p_dial_candidates_total{source=…}`, `…_dialed_total`,
//! `…_connected_total` and `p2p_dial_candidates_skipped_total{source=…,reason=…}`.
//! discv5 (when it runs)
//! `p2p_discv5_table_nodes`, `p2p_discv5_v4_frames_forwarded_total`,
//! `p2p_discv5_v4_frames_dropped_total` (datagrams on the shared socket
//! handed to discv4, or dropped because its queue was full) and
//! `p2p_discv5_record_updates_total`; bandwidth caps
//! `p2p_bandwidth_throttled_seconds_total{direction="ingress"|"egress"}`
//! (time readers and writers waited for tokens, all peers together) and
//! slot churn `p2p_churn_drops_total{direction="inbound"|"outbound"}`.
//! Byte counters are payload bytes
//! (after snappy decompression); a message is counted out when it is
//! handed to the transport.

mod limits;
mod traffic;

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub(crate) use traffic::LaneTraffic;
pub use traffic::{TrafficRow, TrafficSink, TrafficTable, MAX_MESSAGE_LABELS, OTHER_LABEL};

use crate::dial::{SourceStats, SKIP_LABELS};
use crate::server::stats::{DirectionStats, PeerCounters, SetupStats};
use crate::server::{Server, SetupErrorKind, SETUP_DURATION_BUCKETS};
use devp2p_discover::v4::{Discv4, PACKET_TYPES};

/// Prefix of every metric name.
const PREFIX: &str = "p2p";

/// The `Content-Type` of [`Metrics::render`]'s output (Prometheus text
/// format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What the collectors of one server read (shared counters, no server
/// handle).
#[derive(Clone)]
pub(crate) struct Sources {
    pub setups: Arc<SetupStats>,
    pub peers: Arc<PeerCounters>,
    pub traffic: Arc<TrafficTable>,
    pub discovery: Option<Discv4>,
    pub sources: Arc<SourceStats>,
    #[cfg(feature = "discv5")]
    pub discovery_v5: Option<devp2p_discover::v5::Discv5>,
    pub bandwidth: crate::peer::Bandwidth,
    pub churned: Arc<crate::server::churn::ChurnCounters>,
}

/// The metrics of one server: a registry of its own (see the module docs).
/// Cheap to clone; holds no server handle, so it never keeps a server
/// running. Built by [`Server::metrics`] or [`Metrics::new`].
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
}

impl Metrics {
    /// The metrics of `server`.
    pub fn new(server: &Server) -> Metrics {
        let s = server.metric_sources();
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(PeersCollector {
            peers: s.peers,
            discovery: s.discovery.clone(),
        }));
        registry.register_collector(Box::new(SetupCollector(s.setups)));
        if let Some(discovery) = s.discovery {
            registry.register_collector(Box::new(DiscoveryCollector(discovery)));
        }
        #[cfg(feature = "discv5")]
        if let Some(discovery) = s.discovery_v5 {
            registry.register_collector(Box::new(Discv5Collector(discovery)));
        }
        registry.register_collector(Box::new(TrafficCollector(s.traffic)));
        registry.register_collector(Box::new(SourceCollector(s.sources)));
        registry.register_collector(Box::new(limits::LimitsCollector {
            bandwidth: s.bandwidth,
            churned: s.churned,
        }));
        Metrics {
            registry: Arc::new(registry),
        }
    }

    /// The registry, e.g. to encode it in another format.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]) of
    /// every metric, read now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the collectors never fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Writes one unlabelled gauge.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

/// Writes one unlabelled counter; `name` without `_total` (the encoder adds
/// it).
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

/// Peer gauges and counters, and the discovery table size.
#[derive(Debug)]
struct PeersCollector {
    peers: Arc<PeerCounters>,
    discovery: Option<Discv4>,
}

impl Collector for PeersCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let p = self.peers.snapshot();
        gauge(
            &mut enc,
            "peers",
            "Connected peers.",
            p.inbound + p.outbound,
        )?;
        gauge(
            &mut enc,
            "peers_inbound",
            "Connected inbound peers.",
            p.inbound,
        )?;
        gauge(
            &mut enc,
            "peers_outbound",
            "Connected outbound peers.",
            p.outbound,
        )?;
        counter(&mut enc, "peer_adds", "Peers added.", p.adds)?;
        counter(&mut enc, "peer_drops", "Peers dropped.", p.drops)?;
        let mut family = enc.encode_descriptor(
            "disconnects",
            "Peer disconnects by who asked (ours/theirs) and reason.",
            None,
            MetricType::Counter,
        )?;
        for (side, reason, n) in self.peers.disconnects() {
            ConstCounter::new(n).encode(
                family.encode_family(&[("direction", side.label()), ("reason", reason)])?,
            )?;
        }
        let table: usize = self
            .discovery
            .as_ref()
            .map(|d| d.bucket_fill().iter().sum())
            .unwrap_or(0);
        gauge(
            &mut enc,
            "discovery_table_nodes",
            "Nodes in the discovery table.",
            table as u64,
        )
    }
}

/// Dial and serve counters and the setup duration histogram.
#[derive(Debug)]
struct SetupCollector(Arc<SetupStats>);

impl SetupCollector {
    fn direction(
        enc: &mut DescriptorEncoder,
        dir: &str,
        what: &str,
        s: &DirectionStats,
    ) -> std::fmt::Result {
        counter(enc, dir, &format!("{what} started."), s.attempts())?;
        counter(
            enc,
            &format!("{dir}_success"),
            &format!("{what} that added a peer."),
            s.successes(),
        )?;
        let name = format!("{dir}_errors");
        let help = format!("{what} that failed, by kind.");
        let mut family = enc.encode_descriptor(&name, &help, None, MetricType::Counter)?;
        for kind in SetupErrorKind::ALL {
            ConstCounter::new(s.errors(kind))
                .encode(family.encode_family(&[("kind", kind.label())])?)?;
        }
        Ok(())
    }
}

impl Collector for SetupCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        Self::direction(
            &mut enc,
            "dials",
            "Outbound connection setups",
            &self.0.dials,
        )?;
        Self::direction(
            &mut enc,
            "serves",
            "Inbound connection setups",
            &self.0.serves,
        )?;
        let mut family = enc.encode_descriptor(
            "dial_failures",
            "Failed dials by failure kind (what the back-off is chosen from).",
            None,
            MetricType::Counter,
        )?;
        for (failure, n) in self.0.dial_failures() {
            ConstCounter::new(n).encode(family.encode_family(&[("failure", failure)])?)?;
        }
        let mut family = enc.encode_descriptor(
            "dial_backoffs",
            "Back-offs started after failed dials, by kind.",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in self.0.backoffs() {
            ConstCounter::new(n).encode(family.encode_family(&[("kind", kind)])?)?;
        }
        let mut family = enc.encode_descriptor(
            "setup_duration_seconds",
            "Successful connection setups (RLPx handshake, Hello, checks) by duration.",
            None,
            MetricType::Histogram,
        )?;
        for (direction, s) in [("dial", &self.0.dials), ("serve", &self.0.serves)] {
            // Per bucket, not cumulative: the encoder adds them up.
            let buckets: Vec<(f64, u64)> = SETUP_DURATION_BUCKETS
                .iter()
                .zip(s.duration_buckets())
                .map(|(b, n)| (*b, n))
                .collect();
            family
                .encode_family(&[("direction", direction)])?
                .encode_histogram::<NoLabelSet>(
                    s.duration_sum().as_secs_f64(),
                    s.successes(),
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

/// Discovery packet counters and bucket fill.
#[derive(Debug)]
struct DiscoveryCollector(Discv4);

impl Collector for DiscoveryCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let packets = self.0.packet_counts();
        for (dir, list) in [("in", &packets.received), ("out", &packets.sent)] {
            let name = format!("discovery_packets_{dir}");
            let help = format!("Discovery packets ({dir}) by type.");
            let mut family = enc.encode_descriptor(&name, &help, None, MetricType::Counter)?;
            for (kind, n) in list {
                debug_assert!(PACKET_TYPES.contains(kind));
                ConstCounter::new(*n).encode(family.encode_family(&[("type", *kind)])?)?;
            }
        }
        counter(
            &mut enc,
            "discovery_packets_dropped",
            "Discovery datagrams dropped (rate limited, undecodable, bad signature, expired).",
            packets.dropped,
        )?;
        let mut family = enc.encode_descriptor(
            "discovery_bucket_nodes",
            "Nodes per discovery table bucket (0 = closest).",
            None,
            MetricType::Gauge,
        )?;
        for (i, n) in self.0.bucket_fill().into_iter().enumerate() {
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                .encode(family.encode_family(&[("bucket", i)])?)?;
        }
        Ok(())
    }
}

/// discv5 table size and the shared-socket hand-over counters.
#[cfg(feature = "discv5")]
#[derive(Debug)]
struct Discv5Collector(devp2p_discover::v5::Discv5);

#[cfg(feature = "discv5")]
impl Collector for Discv5Collector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let stats = self.0.stats();
        gauge(
            &mut enc,
            "discv5_table_nodes",
            "Nodes in the discv5 table.",
            self.0.table_len() as u64,
        )?;
        counter(
            &mut enc,
            "discv5_v4_frames_forwarded",
            "Datagrams on the shared socket that discv5 handed to discv4.",
            stats.v4_frames_forwarded,
        )?;
        counter(
            &mut enc,
            "discv5_v4_frames_dropped",
            "Datagrams on the shared socket dropped before discv4 (its queue was full).",
            stats.v4_frames_dropped,
        )?;
        counter(
            &mut enc,
            "discv5_record_updates",
            "Records copied from LocalNode into discv5.",
            stats.record_updates,
        )
    }
}

/// Sub-protocol bytes and messages from the traffic table.
#[derive(Debug)]
struct TrafficCollector(Arc<TrafficTable>);

impl Collector for TrafficCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let rows = self.0.snapshot();
        for (dir, ingress) in [("ingress", true), ("egress", false)] {
            let pick = |r: &TrafficRow| {
                if ingress {
                    (r.bytes_in, r.msgs_in)
                } else {
                    (r.bytes_out, r.msgs_out)
                }
            };
            counter(
                &mut enc,
                &format!("{dir}_bytes"),
                &format!("Sub-protocol payload bytes ({dir})."),
                rows.iter().map(|r| pick(r).0).sum(),
            )?;
            for (what, name, bytes) in [
                ("messages", format!("{dir}_messages"), false),
                ("payload bytes", format!("{dir}_protocol_bytes"), true),
            ] {
                let help = format!("Sub-protocol {what} ({dir}) by protocol and code.");
                let mut family = enc.encode_descriptor(&name, &help, None, MetricType::Counter)?;
                for r in rows.iter().filter(|r| pick(r).1 != 0) {
                    let (b, m) = pick(r);
                    let labels = [
                        ("protocol", r.protocol.clone()),
                        ("code", r.code.to_string()),
                    ];
                    ConstCounter::new(if bytes { b } else { m })
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// Reads one count of a source snapshot.
type PickCount = fn(&crate::dial::SourceSnapshot) -> u64;

/// Dial candidates per node source.
#[derive(Debug)]
struct SourceCollector(Arc<SourceStats>);

impl Collector for SourceCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let sources = self.0.snapshot();
        let families: [(&str, &str, PickCount); 3] = [
            (
                "dial_candidates",
                "Dial candidates produced, by node source.",
                |s| s.produced,
            ),
            (
                "dial_candidates_dialed",
                "Dial candidates dialed, by node source.",
                |s| s.dialed,
            ),
            (
                "dial_candidates_connected",
                "Dials of candidates that added a peer, by node source.",
                |s| s.connected,
            ),
        ];
        for (name, help, pick) in families {
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for s in &sources {
                ConstCounter::new(pick(s))
                    .encode(family.encode_family(&[("source", s.name.as_str())])?)?;
            }
        }
        let mut family = enc.encode_descriptor(
            "dial_candidates_skipped",
            "Dial candidates not dialed, by node source and reason.",
            None,
            MetricType::Counter,
        )?;
        for s in &sources {
            for reason in SKIP_LABELS {
                let labels = [("source", s.name.as_str()), ("reason", reason)];
                ConstCounter::new(s.skipped(reason)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::node::generate_node_key;

    /// The families and their types, exactly as the hand-written renderer
    /// before `prometheus-client` wrote them (counters keep `_total` in
    /// HELP and TYPE too).
    const FAMILIES: &[&str] = &[
        "p2p_peers gauge",
        "p2p_peers_inbound gauge",
        "p2p_peers_outbound gauge",
        "p2p_peer_adds_total counter",
        "p2p_peer_drops_total counter",
        "p2p_disconnects_total counter",
        "p2p_discovery_table_nodes gauge",
        "p2p_dials_total counter",
        "p2p_dials_success_total counter",
        "p2p_dials_errors_total counter",
        "p2p_serves_total counter",
        "p2p_serves_success_total counter",
        "p2p_serves_errors_total counter",
        "p2p_dial_failures_total counter",
        "p2p_dial_backoffs_total counter",
        "p2p_setup_duration_seconds histogram",
        "p2p_discovery_packets_in_total counter",
        "p2p_discovery_packets_out_total counter",
        "p2p_discovery_packets_dropped_total counter",
        "p2p_discovery_bucket_nodes gauge",
        "p2p_discv5_table_nodes gauge",
        "p2p_discv5_v4_frames_forwarded_total counter",
        "p2p_discv5_v4_frames_dropped_total counter",
        "p2p_discv5_record_updates_total counter",
        "p2p_ingress_bytes_total counter",
        "p2p_ingress_messages_total counter",
        "p2p_ingress_protocol_bytes_total counter",
        "p2p_egress_bytes_total counter",
        "p2p_egress_messages_total counter",
        "p2p_egress_protocol_bytes_total counter",
        "p2p_dial_candidates_total counter",
        "p2p_dial_candidates_dialed_total counter",
        "p2p_dial_candidates_connected_total counter",
        "p2p_dial_candidates_skipped_total counter",
        "p2p_bandwidth_throttled_seconds_total counter",
        "p2p_churn_drops_total counter",
    ];

    #[tokio::test]
    async fn names_types_and_labels_are_unchanged() {
        let config = Config {
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            ..Config::with_key(generate_node_key())
        };
        let server = Server::start(config).await.unwrap();
        let body = server.metrics().render();
        let types: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        // The discv5 families exist only when discv5 is compiled in.
        let families: Vec<&str> = FAMILIES
            .iter()
            .copied()
            .filter(|f| cfg!(feature = "discv5") || !f.starts_with("p2p_discv5_"))
            .collect();
        assert_eq!(types, families, "{body}");
        for line in [
            "p2p_peers 0",
            "p2p_peer_adds_total 0",
            "p2p_dials_errors_total{kind=\"id_unexpected\"} 0",
            "p2p_setup_duration_seconds_bucket{direction=\"dial\",le=\"0.001\"} 0",
            "p2p_setup_duration_seconds_bucket{direction=\"dial\",le=\"2.5\"} 0",
            "p2p_setup_duration_seconds_bucket{direction=\"serve\",le=\"+Inf\"} 0",
            "p2p_setup_duration_seconds_sum{direction=\"serve\"} 0.0",
            "p2p_setup_duration_seconds_count{direction=\"serve\"} 0",
            "p2p_discovery_packets_out_total{type=\"enrresponse\"} 0",
            "p2p_discovery_bucket_nodes{bucket=\"16\"} 0",
            "p2p_ingress_bytes_total 0",
            "p2p_dial_candidates_total{source=\"discv4\"} 0",
            "p2p_dial_candidates_skipped_total{source=\"discv4\",reason=\"filtered\"} 0",
            "p2p_discv5_v4_frames_dropped_total 0",
            "p2p_disconnects_total{direction=\"theirs\",reason=\"too_many_peers\"} 0",
            "p2p_disconnects_total{direction=\"ours\",reason=\"other\"} 0",
            "p2p_dial_failures_total{failure=\"connect_refused\"} 0",
            "p2p_dial_backoffs_total{kind=\"severe\"} 0",
        ] {
            if !cfg!(feature = "discv5") && line.starts_with("p2p_discv5_") {
                continue;
            }
            assert!(body.lines().any(|l| l == line), "{line} missing:\n{body}");
        }
        server.stop().await;
    }

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let stats = Arc::new(SetupStats::default());
        stats.serves.succeeded(std::time::Duration::from_millis(3));
        stats.serves.succeeded(std::time::Duration::from_secs(60));
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(SetupCollector(stats)));
        let mut body = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut body, &registry).unwrap();
        let value = |m: &str| {
            body.lines()
                .find_map(|l| l.strip_prefix(m)?.strip_prefix(' '))
                .unwrap_or_default()
                .to_string()
        };
        let bucket = |le: &str| {
            value(&format!(
                "p2p_setup_duration_seconds_bucket{{direction=\"serve\",le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.0025"), "0");
        assert_eq!(bucket("0.005"), "1");
        assert_eq!(bucket("5"), "1");
        assert_eq!(bucket("+Inf"), "2");
        assert_eq!(
            value("p2p_setup_duration_seconds_count{direction=\"serve\"}"),
            "2"
        );
        assert_eq!(
            value("p2p_setup_duration_seconds_sum{direction=\"serve\"}"),
            "60.003"
        );
    }
}
