//! The simulator: a network of services over virtual time converges.

use std::collections::HashSet;
use std::time::Duration;

use devp2p_discover::node::NodeId;
use devp2p_discover::v4::sim::{SimConfig, SimNetwork};
use devp2p_discover::v4::{Discv4, Discv4Config, LocalNode, Node};

fn node_of(d: &Discv4) -> Node {
    let a = d.local_addr();
    Node::new(d.local_id(), a.ip(), a.port(), a.port())
}

fn sim_local(i: usize) -> (secp256k1::SecretKey, LocalNode, std::net::SocketAddr) {
    let mut b = [0x22u8; 32];
    b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    let key = secp256k1::SecretKey::from_secret_bytes(b).unwrap();
    let addr = SimNetwork::addr_for(i);
    let local = LocalNode::new(key, 1);
    local.set_ip(addr.ip());
    local.set_udp(addr.port());
    (key, local, addr)
}

/// 60 nodes join through one bootnode in the simulator (virtual time, 2%
/// loss) and lookups then find the true closest nodes.
#[tokio::test(start_paused = true)]
async fn simulated_network_converges_with_loss() {
    const N: usize = 60;
    let net = SimNetwork::new(SimConfig {
        loss: 0.02,
        ..SimConfig::default()
    });
    let mut nodes = Vec::new();
    let mut boot = None;
    for i in 0..N {
        let (key, local, addr) = sim_local(i);
        let cfg = Discv4Config {
            bootnodes: boot.iter().cloned().collect(),
            refresh_interval: Duration::from_secs(120),
            seed: Some(i as u64),
            ..Discv4Config::default()
        };
        let d = Discv4::spawn(net.bind(addr), key, local, cfg);
        if boot.is_none() {
            boot = Some(node_of(&d));
        }
        nodes.push(d);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let a few refresh rounds pass in virtual time.
    tokio::time::sleep(Duration::from_secs(100)).await;
    let ids: Vec<NodeId> = nodes.iter().map(|d| d.local_id()).collect();
    let mut hits = 0;
    let mut total = 0;
    for k in 0..10 {
        let target = ids[(k * 37 + 11) % N];
        let th = target.hash();
        let mut truth = ids.clone();
        truth.sort_by(|a, b| devp2p_discover::node::distance_cmp(&th, &a.hash(), &b.hash()));
        let from = &nodes[(k * 53 + 7) % N];
        let truth: HashSet<NodeId> = truth
            .into_iter()
            .filter(|i| *i != from.local_id())
            .take(16)
            .collect();
        let found: HashSet<NodeId> = from
            .lookup(target)
            .await
            .into_iter()
            .map(|n| n.id)
            .collect();
        hits += found.intersection(&truth).count();
        total += truth.len();
    }
    let recall = hits as f64 / total as f64;
    eprintln!("simulated recall {recall:.3}");
    assert!(recall >= 0.9, "recall {recall}");
    for d in &nodes {
        d.shutdown().await;
    }
}

fn findnodes_sent(d: &Discv4) -> u64 {
    d.packet_counts()
        .sent
        .iter()
        .find(|(t, _)| *t == "findnode")
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// The random-nodes stream never spins: on an empty table it waits
/// (no packet, no item), and once the table has nodes its lookups start at
/// least `MIN_LOOKUP_INTERVAL` apart however fast the consumer drains it.
#[tokio::test(start_paused = true)]
async fn random_nodes_are_throttled_and_wait_for_a_table() {
    use devp2p_discover::v4::MIN_LOOKUP_INTERVAL;
    use futures::StreamExt;
    let net = SimNetwork::new(SimConfig::default());
    let mut nodes = Vec::new();
    for i in 0..3 {
        let (key, local, addr) = sim_local(100 + i);
        let cfg = Discv4Config {
            seed: Some(i as u64),
            ..Discv4Config::default()
        };
        nodes.push(Discv4::spawn(net.bind(addr), key, local, cfg));
    }
    let mut stream = nodes[0].random_nodes();
    // Empty table: nothing for 10 s of virtual time, and nothing sent.
    let waited = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
    assert!(waited.is_err(), "an empty table yields nothing");
    assert_eq!(net.packets_sent(), 0, "an empty table sends nothing");
    // Give it two nodes; drain the stream as fast as it yields for 10 s.
    nodes[0]
        .seed_table(vec![node_of(&nodes[1]), node_of(&nodes[2])])
        .await;
    let window = Duration::from_secs(10);
    let started = tokio::time::Instant::now();
    let mut items = 0;
    while let Ok(Some(_)) = tokio::time::timeout_at(started + window, stream.next()).await {
        items += 1;
    }
    assert!(items > 0, "nodes are found once the table has some");
    // Each lookup asks at most the 2 other nodes; at most one lookup start
    // per second (go-ethereum's interval), plus the first. Unthrottled, the
    // simulator runs hundreds of lookups in this window.
    assert_eq!(MIN_LOOKUP_INTERVAL, Duration::from_secs(1));
    let max_lookups = window.as_secs() + 1;
    let sent = findnodes_sent(&nodes[0]);
    assert!(
        sent <= 2 * max_lookups,
        "{sent} findnode packets in {window:?}: lookups not throttled"
    );
    for d in &nodes {
        d.shutdown().await;
    }
}

/// Bootnodes outside `net_restrict` are never contacted; those inside are.
#[tokio::test(start_paused = true)]
async fn bootnodes_outside_net_restrict_are_not_contacted() {
    let net = SimNetwork::new(SimConfig::default());
    let (bkey, blocal, baddr) = sim_local(200);
    let boot = Discv4::spawn(net.bind(baddr), bkey, blocal, Discv4Config::default());
    let start = |i: usize, restrict: &str| {
        let (key, local, addr) = sim_local(i);
        let cfg = Discv4Config {
            bootnodes: vec![node_of(&boot)],
            net_restrict: Some(restrict.parse().unwrap()),
            seed: Some(i as u64),
            ..Discv4Config::default()
        };
        Discv4::spawn(net.bind(addr), key, local, cfg)
    };
    // sim addresses are 11.x.y.1: 192.0.2.0/24 excludes the bootnode.
    let outside = start(201, "192.0.2.0/24");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        net.packets_sent(),
        0,
        "nothing may leave for a restricted bootnode"
    );
    let inside = start(202, "11.0.0.0/8");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(net.packets_sent() > 0, "an allowed bootnode is contacted");
    for d in [&boot, &outside, &inside] {
        d.shutdown().await;
    }
}

/// IPv6 peers' statements of our endpoint move our record's `ip6`/`udp6`
/// and leave its IPv4 `ip`/`udp` alone (one predictor per family). The
/// simulated addresses are documentation addresses (2001:db8::/32); no
/// packet leaves the process.
#[tokio::test(start_paused = true)]
async fn ipv6_endpoint_statements_move_only_the_ipv6_endpoint() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    const PEERS: usize = devp2p_discover::v4::MIN_ENDPOINT_STATEMENTS + 2;
    let net = SimNetwork::new(SimConfig::default());
    let v6 = |i: u16| {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1)),
            30303,
        )
    };
    let key = |i: usize| {
        let mut b = [0x33u8; 32];
        b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        secp256k1::SecretKey::from_secret_bytes(b).unwrap()
    };
    let ours = v6(0xff);
    let local = LocalNode::new(key(0), 1);
    local.set_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    local.set_udp(1111);
    let mut peers = Vec::new();
    let mut boot = Vec::new();
    for i in 1..=PEERS {
        let addr = v6(i as u16);
        let ln = LocalNode::new(key(i), 1);
        ln.set_ip(addr.ip());
        ln.set_udp(addr.port());
        let d = Discv4::spawn(net.bind(addr), key(i), ln, Discv4Config::default());
        boot.push(node_of(&d));
        peers.push(d);
    }
    let cfg = Discv4Config {
        bootnodes: boot,
        ..Discv4Config::default()
    };
    let d = Discv4::spawn(net.bind(ours), key(0), local.clone(), cfg);
    for _ in 0..100 {
        if local.enr().ip6().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let record = local.enr();
    assert_eq!(
        record.ip6(),
        Some(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1))
    );
    assert_eq!(record.udp6(), Some(30303));
    assert_eq!(
        record.ip4(),
        Some(Ipv4Addr::new(10, 0, 0, 1)),
        "IPv4 untouched"
    );
    assert_eq!(record.udp(), Some(1111), "IPv4 port untouched");
    d.shutdown().await;
    for p in peers {
        p.shutdown().await;
    }
}

/// A node whose bootstrap failed (its only bootnode was not up yet, so the
/// bootnode fell out of the table and the table is empty) rejoins soon after
/// the bootnode comes up: its random-nodes stream asks the service to re-add
/// the bootnodes instead of waiting 15–30 min for the periodic refresh. While
/// the bootnode stays down the re-adding is rate-limited.
#[tokio::test(start_paused = true)]
async fn a_node_whose_bootstrap_failed_rejoins_when_the_bootnode_comes_up() {
    use devp2p_discover::v4::RESEED_MIN_INTERVAL;
    use futures::StreamExt;
    let net = SimNetwork::new(SimConfig::default());
    let (bkey, blocal, baddr) = sim_local(300);
    let boot_node = Node::new(
        NodeId::from_secret_key(&bkey),
        baddr.ip(),
        baddr.port(),
        baddr.port(),
    );
    let (key, local, addr) = sim_local(301);
    let cfg = Discv4Config {
        bootnodes: vec![boot_node.clone()],
        seed: Some(301),
        ..Discv4Config::default()
    };
    let node = Discv4::spawn(net.bind(addr), key, local, cfg);
    // The bootnode is not there: the start-up refresh fails and the
    // bootnode leaves the table.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(node.table_nodes().await.is_empty(), "bootstrap should fail");
    let sent_before = net.packets_sent();

    // Still down: the stream yields nothing, and each reseed costs the
    // bootnode a few pings, at most once per RESEED_MIN_INTERVAL.
    let mut stream = node.random_nodes();
    let down = Duration::from_secs(60);
    let waited = tokio::time::timeout(down, stream.next()).await;
    assert!(
        waited.is_err(),
        "nothing to find while the bootnode is down"
    );
    let pings = net.packets_sent() - sent_before;
    let max_reseeds = down.as_secs() / RESEED_MIN_INTERVAL.as_secs() + 1;
    assert!(
        pings >= 2,
        "the bootnode was never retried ({pings} packets)"
    );
    // One reseed costs up to 6 packets (a bond ping for the self lookup and
    // for each of its 3 random lookups, plus revalidation pings); without
    // the floor the stream would reseed every second (60 reseeds).
    assert!(
        pings <= 8 * max_reseeds,
        "{pings} packets in {down:?}: reseeding is not rate-limited"
    );

    // The bootnode comes up: the node finds it within a few reseed intervals
    // (the periodic refresh is 15-30 min away).
    let boot = Discv4::spawn(net.bind(baddr), bkey, blocal, Discv4Config::default());
    let found = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
    assert!(
        found.is_ok(),
        "the stream found nothing after the bootnode came up"
    );
    let table = node.table_nodes().await;
    assert!(
        table.iter().any(|n| n.id == boot_node.id),
        "bootnode not in the table: {table:?}"
    );
    for d in [&node, &boot] {
        d.shutdown().await;
    }
}
