//! Metrics over real HTTP: two servers in one process keep separate numbers.

use std::net::SocketAddr;
use std::time::Duration;

use devp2p::config::Config;
use devp2p::metrics;
use devp2p::node::{generate_node_key, NodeId};
use devp2p::server::Server;
use devp2p::{MsgReader, MsgWriter};
use devp2p_cli::demo::{Demo, DemoConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Time limit for every wait in this test.
const WAIT: Duration = Duration::from_secs(30);

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn value(body: &str, metric: &str) -> Option<u64> {
    body.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn server(static_nodes: Vec<devp2p::node::Node>) -> Server {
    let key = generate_node_key();
    // Peers need a shared protocol to stay connected.
    let demo = Demo::new(DemoConfig::new(NodeId::from_secret_key(&key)));
    let config = Config {
        protocols: vec![demo.protocol()],
        listen_addr: Some("127.0.0.1:0".parse().unwrap()),
        no_discovery: true,
        static_nodes,
        // Off (the default): traffic is counted without message events.
        enable_msg_events: false,
        ..Config::with_key(key)
    };
    Server::start(config).await.unwrap()
}

#[tokio::test]
async fn metrics_over_http_are_per_server() {
    let a = server(vec![]).await;
    let b = server(vec![a.self_node()]).await;
    let c = server(vec![]).await;
    let ma = devp2p_cli::metrics_http::serve("127.0.0.1:0".parse().unwrap(), a.clone())
        .await
        .unwrap();
    let mc = devp2p_cli::metrics_http::serve("127.0.0.1:0".parse().unwrap(), c.clone())
        .await
        .unwrap();

    tokio::time::timeout(WAIT, async {
        loop {
            let body = get(ma.local_addr(), "/metrics").await;
            // Message events are off: the demo handshake gets counted anyway.
            if value(&body, "p2p_peers") == Some(1)
                && value(&body, "p2p_ingress_bytes_total").unwrap_or(0) > 0
            {
                assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
                assert_eq!(value(&body, "p2p_peers_inbound"), Some(1));
                assert_eq!(value(&body, "p2p_peer_adds_total"), Some(1));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("A sees B");

    // A served B's connection; its setup was timed.
    let body = get(ma.local_addr(), "/metrics").await;
    assert_eq!(value(&body, "p2p_serves_total"), Some(1), "{body}");
    assert_eq!(value(&body, "p2p_serves_success_total"), Some(1), "{body}");
    assert_eq!(
        value(
            &body,
            "p2p_setup_duration_seconds_count{direction=\"serve\"}"
        ),
        Some(1),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            "p2p_setup_duration_seconds_bucket{direction=\"serve\",le=\"+Inf\"}"
        ),
        Some(1),
        "{body}"
    );

    // C is separate: no peers, nothing added. A dial to a closed port
    // counts as a connection error.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let nobody = devp2p::node::Node::new(
        NodeId::from_secret_key(&generate_node_key()),
        "127.0.0.1".parse().unwrap(),
        closed_port,
        0,
    );
    c.add_peer(nobody).await.unwrap();
    let metric = "p2p_dials_errors_total{kind=\"connection\"}";
    tokio::time::timeout(WAIT, async {
        while value(&get(mc.local_addr(), "/metrics").await, metric) != Some(1) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("C counts its failed dial");
    let body = get(mc.local_addr(), "/metrics").await;
    assert_eq!(value(&body, "p2p_peers"), Some(0), "{body}");
    assert_eq!(value(&body, "p2p_peer_adds_total"), Some(0), "{body}");
    assert_eq!(value(&body, "p2p_dials_total"), Some(1), "{body}");
    assert_eq!(value(&body, "p2p_dials_success_total"), Some(0), "{body}");

    let not_found = get(ma.local_addr(), "/other").await;
    assert!(not_found.starts_with("HTTP/1.0 404"), "{not_found}");

    ma.stop().await;
    mc.stop().await;
    for s in [a, b, c] {
        s.stop().await;
    }
}

/// Discovery metrics: a node bootstrapping from another sends it pings and
/// FindNodes, and both fill their tables.
#[tokio::test]
async fn discovery_metrics_count_packets_and_buckets() {
    let with_discovery = |bootstrap_nodes| {
        let key = generate_node_key();
        Config {
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            bootstrap_nodes,
            ..Config::with_key(key)
        }
    };
    let boot = Server::start(with_discovery(vec![])).await.unwrap();
    let node = Server::start(with_discovery(vec![boot.self_node()]))
        .await
        .unwrap();
    let m_boot = metrics::Metrics::new(&boot);
    let m_node = node.metrics();
    tokio::time::timeout(WAIT, async {
        loop {
            let body = m_boot.render();
            if value(&body, "p2p_discovery_table_nodes") == Some(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the bootnode learns the node");
    let boot_body = m_boot.render();
    let node_body = m_node.render();
    let ping_in = "p2p_discovery_packets_in_total{type=\"ping\"}";
    let ping_out = "p2p_discovery_packets_out_total{type=\"ping\"}";
    assert!(value(&boot_body, ping_in).unwrap_or(0) >= 1, "{boot_body}");
    assert!(value(&node_body, ping_out).unwrap_or(0) >= 1, "{node_body}");
    let filled: u64 = boot_body
        .lines()
        .filter(|l| l.starts_with("p2p_discovery_bucket_nodes{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(filled, 1, "{boot_body}");
    assert_eq!(
        boot_body
            .lines()
            .filter(|l| l.starts_with("p2p_discovery_bucket_nodes{"))
            .count(),
        17,
        "one gauge per bucket"
    );
    boot.stop().await;
    node.stop().await;
}

/// Byte and message totals per protocol and code come from the traffic
/// table, with message events off: `cnt/1` sends 3 messages of code 2 with
/// a 100-byte payload each way, and both servers count exactly that.
#[tokio::test]
async fn traffic_is_counted_without_message_events() {
    const MSGS: u64 = 3;
    const PAYLOAD: usize = 100;
    let cnt = devp2p::Protocol::new("cnt", 1, 4, |peer, mut rw| async move {
        for _ in 0..MSGS {
            rw.write_msg(2, bytes::Bytes::from(vec![7u8; PAYLOAD]))
                .await?;
        }
        for _ in 0..MSGS {
            rw.read_msg().await?;
        }
        peer.closed().await;
        Ok(())
    });
    let start = |static_nodes| {
        let key = generate_node_key();
        Server::start(Config {
            protocols: vec![cnt.clone()],
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            no_discovery: true,
            static_nodes,
            enable_msg_events: false,
            ..Config::with_key(key)
        })
    };
    let a = start(vec![]).await.unwrap();
    let b = start(vec![a.self_node()]).await.unwrap();
    let label = "{protocol=\"cnt/1\",code=\"2\"}";
    for s in [&a, &b] {
        let m = s.metrics();
        tokio::time::timeout(WAIT, async {
            loop {
                let body = m.render();
                let done = |name: &str| value(&body, &format!("{name}{label}")) == Some(MSGS);
                if done("p2p_ingress_messages_total") && done("p2p_egress_messages_total") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("both directions counted");
        let body = m.render();
        let bytes = MSGS * PAYLOAD as u64;
        for name in [
            "p2p_ingress_protocol_bytes_total",
            "p2p_egress_protocol_bytes_total",
        ] {
            assert_eq!(
                value(&body, &format!("{name}{label}")),
                Some(bytes),
                "{body}"
            );
        }
        assert_eq!(
            value(&body, "p2p_ingress_bytes_total"),
            Some(bytes),
            "{body}"
        );
        assert_eq!(
            value(&body, "p2p_egress_bytes_total"),
            Some(bytes),
            "{body}"
        );
        let rows = s.traffic();
        assert_eq!(rows.len(), 1, "{rows:?}");
    }
    a.stop().await;
    b.stop().await;
}
