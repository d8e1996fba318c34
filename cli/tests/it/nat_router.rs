//! NAT traversal against a real router: Debian's miniupnpd (UPnP IGD and
//! NAT-PMP) with nftables masquerading, in network namespaces the test
//! creates and removes itself.
//!
//! Topology (one per test, names unique per process and test):
//!
//! ```text
//!  <tag>-lan                 <tag>-router                    <tag>-wan
//!  our `devp2p node`         miniupnpd, nftables NAT         outside host
//!  192.168.77.2/24 eth0 ---- lan0 192.168.77.1/24
//!  default via .1            wan0 11.22.33.1/24  ---------- eth0 11.22.33.2/24
//! ```
//!
//! miniupnpd 2.3.1 refuses to forward when its external address is private
//! or reserved (documentation ranges included), so the router's outside
//! address is a public-looking one, [`ROUTER_WAN_IP`]; it exists only inside
//! these namespaces and no packet leaves them.
//!
//! Each test runs our CLI node in "lan" with `--nat <mode>` and a short
//! lease, then checks: both ports are mapped in miniupnpd's nftables chain;
//! from "wan", our record (asked for over discv4 through the mapping)
//! carries the router's external address and ports, an RLPx handshake and a
//! discv4 ping succeed through the mapping; the lease is renewed before it
//! runs out; after SIGTERM our mappings are gone and a foreign one (made
//! first with miniupnpc's `upnpc`) is still there.
//!
//! A STUN case runs Debian's coturn in "wan" instead of miniupnpd, with our
//! ports forwarded by hand on the router.
//!
//! Needs root (namespaces, nftables) and `miniupnpd`, `nft`, `upnpc`,
//! `turnserver` (`.ci/run` installs them). Where namespaces cannot be created the tests
//! print `SKIPPED` with the reason and pass. Run them with
//! `cargo test -p devp2p-cli --test it nat_router`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use devp2p::node::Enr;

use crate::common::ip;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::child_peer::fixed_key_hex;

/// Our node's address in "lan" (private, as behind any home router).
const LAN_HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// The router's inside address (our node's default gateway).
const ROUTER_LAN_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The router's outside address. Public-looking on purpose (11.0.0.0/8 is
/// not on miniupnpd's list of private/reserved ranges, so it forwards); it
/// exists only inside the test's namespaces.
const ROUTER_WAN_IP: Ipv4Addr = Ipv4Addr::new(11, 22, 33, 1);
/// The outside host.
const WAN_HOST_IP: Ipv4Addr = Ipv4Addr::new(11, 22, 33, 2);
/// Prefix length of both links.
const PREFIX_LEN: u8 = 24;
/// Our node's TCP and UDP port (free: the namespace is new).
const NODE_PORT: u16 = 30303;
/// Port of the foreign mapping made with `upnpc` before our node starts.
const FOREIGN_PORT: u16 = 40000;
/// Lease our node asks for: short, so that renewals happen within the test
/// (renewed at 4/5, every 8 s). Not shorter: miniupnpd keeps expiry times in
/// whole seconds and our TCP and UDP requests go one after the other
/// (~0.2 s each here); with a 4 s lease the UDP mapping expired before its
/// renewal arrived (measured), with 10 s there are 2 s to spare.
const LEASE: Duration = Duration::from_secs(10);
/// Lease of the foreign mapping, in seconds (outlives the test).
const FOREIGN_LEASE_SECS: &str = "3600";
/// Mapping requests for our TCP port the router must have seen before the
/// lease check: the first one and two renewals (the last > 1.5 leases later).
const REQUESTS_FOR_REFRESH: usize = 3;
/// Time limit for a process to start, answer or stop on the loaded 2-core
/// machine (miniupnpd starts in ~0.1 s, a CLI call takes < 1 s).
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit for our node to map both ports and publish them in its
/// record (UPnP discovery waits up to a few seconds for SSDP answers).
const MAPPING_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the router's nftables chain or our record is looked at while
/// waiting for a change (they are external state with no change feed).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often our record is asked for from "wan" while waiting: slow enough
/// for discv4's per-IP rate limit (each try is a ping/pong and a request).
const RECORD_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often a killed child is checked for exit in a destructor (which
/// cannot await).
const REAP_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Most router log lines kept (a test produces a few hundred).
const MAX_ROUTER_LOG_LINES: usize = 100_000;

/// Which protocols the router offers.
#[derive(Debug, Clone, Copy)]
struct Offers {
    upnp: bool,
    pmp: bool,
}

/// How a mapping request shows in miniupnpd's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Upnp,
    Pmp,
}

#[tokio::test]
async fn nat_router_upnp_maps_reaches_refreshes_and_cleans_up() {
    run_case(
        "upnp",
        Offers {
            upnp: true,
            pmp: true,
        },
        Via::Upnp,
    )
    .await;
}

#[tokio::test]
async fn nat_router_pmp_maps_reaches_refreshes_and_cleans_up() {
    run_case(
        "pmp",
        Offers {
            upnp: true,
            pmp: true,
        },
        Via::Pmp,
    )
    .await;
}

#[tokio::test]
async fn nat_router_any_picks_pmp_when_only_pmp_is_offered() {
    run_case(
        "any",
        Offers {
            upnp: false,
            pmp: true,
        },
        Via::Pmp,
    )
    .await;
}

#[tokio::test]
async fn nat_router_any_picks_upnp_when_only_upnp_is_offered() {
    run_case(
        "any",
        Offers {
            upnp: true,
            pmp: false,
        },
        Via::Upnp,
    )
    .await;
}

/// The router restarts (daemon killed, its table and saved leases gone, the
/// UPnP control URL on a new port): our node discovers it again and maps its
/// ports again; the record keeps the external endpoint and its sequence
/// number moves at most once.
#[tokio::test]
async fn nat_router_upnp_remaps_after_router_restart() {
    let Some(topo) = topology("restart") else {
        return;
    };
    let offers = Offers {
        upnp: true,
        pmp: false,
    };
    let router = Router::start(&topo, offers).await;
    let node = OurNode::start(&topo, "upnp").await;
    let mapped = |t: &Table| t.has("tcp", NODE_PORT) && t.has("udp", NODE_PORT);
    router.wait_table("our mappings", mapped).await;
    let id = node.enode.split('@').next().unwrap().to_owned();
    let outside = format!("{id}@{ROUTER_WAN_IP}:{NODE_PORT}");
    let endpoint = |r: &Enr| {
        r.ip4() == Some(ROUTER_WAN_IP) && r.tcp() == Some(NODE_PORT) && r.udp() == Some(NODE_PORT)
    };
    let before = wait_record(&topo, &outside, endpoint)
        .await
        .unwrap_or_else(|e| panic!("{e}\nour node:\n{}", node.stderr()));
    // A reboot: the daemon is gone with its table, then comes back.
    drop(router);
    for chain in ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"] {
        sh(
            &topo.ns("router"),
            "nft",
            &["flush", "chain", "inet", "filter", chain],
            None,
        )
        .unwrap();
    }
    // Its saved leases are gone too: nothing is restored on start.
    let _ = std::fs::remove_file(lease_file(topo.dir.path()));
    assert!(
        !mapped(&table_in(&topo.ns("router")).await),
        "table flushed"
    );
    let router = Router::start(&topo, offers).await;
    router
        .wait_table("our mappings after the restart", mapped)
        .await;
    // Same endpoint, so the record moves at most once (it need not move).
    let after = wait_record(&topo, &outside, endpoint)
        .await
        .unwrap_or_else(|e| panic!("{e}\nour node:\n{}", node.stderr()));
    assert!(
        after.seq() - before.seq() <= 1,
        "seq {} -> {}",
        before.seq(),
        after.seq()
    );
}

/// `--nat stun:<server>` behind the router, with our ports forwarded by hand
/// (the set-up STUN is for: it maps nothing, it only learns the address):
/// a real STUN server (Debian's coturn) in "wan" sees our requests come from
/// the router's external address, our record carries that address with our
/// own ports, and an outside node reaches us through the forwards.
#[tokio::test]
async fn nat_router_stun_learns_the_external_address_from_coturn() {
    let Some(topo) = topology("stun") else {
        return;
    };
    let _stun = StunServer::start(&topo).await;
    // The ports forwarded by hand, as an operator would on a home router.
    let forwards = format!(
        "add rule inet filter prerouting_miniupnpd iifname \"wan0\" tcp dport {NODE_PORT} dnat ip to {LAN_HOST_IP}:{NODE_PORT}\n\
         add rule inet filter prerouting_miniupnpd iifname \"wan0\" udp dport {NODE_PORT} dnat ip to {LAN_HOST_IP}:{NODE_PORT}\n\
         add rule inet filter miniupnpd ip daddr {LAN_HOST_IP} tcp dport {NODE_PORT} accept\n\
         add rule inet filter miniupnpd ip daddr {LAN_HOST_IP} udp dport {NODE_PORT} accept\n"
    );
    sh(&topo.ns("router"), "nft", &["-f", "-"], Some(&forwards)).unwrap();

    let mut node = OurNode::start(&topo, &format!("stun:{WAN_HOST_IP}:{STUN_PORT}")).await;
    let id = node.enode.split('@').next().unwrap().to_owned();
    let outside = format!("{id}@{ROUTER_WAN_IP}:{NODE_PORT}");
    let record = wait_record(&topo, &outside, |r| {
        r.ip4() == Some(ROUTER_WAN_IP) && r.tcp() == Some(NODE_PORT) && r.udp() == Some(NODE_PORT)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nour node:\n{}", node.stderr()));
    assert!(record.seq() > 1, "record updated after start: {record:?}");
    // The address came from coturn's answer.
    let log = node.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("STUN mapped address") && l.contains(&ROUTER_WAN_IP.to_string())),
        "no STUN answer in our log:\n{log}"
    );
    let out = run(topo
        .exec("wan", cli_bin())
        .args(["rlpx", "ping", outside.as_str()]))
    .await;
    assert!(
        out.status.success(),
        "rlpx ping from wan: {}\n{}",
        text(&out),
        node.stderr()
    );
    node.terminate().await;
}

/// The test topology, or `None` after printing why it cannot be built.
fn topology(what: &str) -> Option<Topology> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "natr{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    match Topology::create(&tag) {
        Ok(t) => Some(t),
        Err(reason) => {
            eprintln!("SKIPPED nat_router ({what}): cannot build the namespace topology: {reason}");
            None
        }
    }
}

async fn run_case(nat: &str, offers: Offers, via: Via) {
    let Some(topo) = topology(nat) else {
        return;
    };
    let tag = topo.tag.clone();
    let router = Router::start(&topo, offers).await;

    // Someone else's mapping (same host, another port), made before ours.
    if offers.upnp {
        let out = run(topo.exec("lan", "upnpc").args([
            "-e",
            "foreign",
            "-a",
            LAN_HOST_IP.to_string().as_str(),
            FOREIGN_PORT.to_string().as_str(),
            FOREIGN_PORT.to_string().as_str(),
            "TCP",
            FOREIGN_LEASE_SECS,
        ]))
        .await;
        assert!(out.status.success(), "upnpc -a: {}", text(&out));
        assert!(router.table().await.has("tcp", FOREIGN_PORT));
    }

    let mut node = OurNode::start(&topo, nat).await;
    let id = node.enode.split('@').next().unwrap().to_owned();
    let outside = format!("{id}@{ROUTER_WAN_IP}:{NODE_PORT}");

    // Both ports mapped on the real router.
    router
        .wait_table("our TCP and UDP mappings", |t| {
            t.has("tcp", NODE_PORT) && t.has("udp", NODE_PORT)
        })
        .await;

    // Our record, fetched from outside over discv4 through the mapping,
    // carries the router's external address and the mapped ports.
    let record = wait_record(&topo, &outside, |r| {
        r.ip4() == Some(ROUTER_WAN_IP) && r.tcp() == Some(NODE_PORT) && r.udp() == Some(NODE_PORT)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nour node:\n{}", node.stderr()));
    assert!(record.seq() > 1, "record updated after start: {record:?}");

    // An outside node completes an RLPx handshake through the mapping.
    let out = run(topo
        .exec("wan", cli_bin())
        .args(["rlpx", "ping", outside.as_str()]))
    .await;
    assert!(
        out.status.success() && text(&out).contains(&id["enode://".len()..]),
        "rlpx ping from wan: {}\n{}",
        text(&out),
        node.stderr()
    );
    // And a discv4 ping.
    let out = run(topo.exec("wan", cli_bin()).args([
        "discv4",
        "ping",
        outside.as_str(),
        "--addr",
        format!("{WAN_HOST_IP}:0").as_str(),
    ]))
    .await;
    assert!(out.status.success(), "discv4 ping from wan: {}", text(&out));

    // The right protocol was used, and the lease is renewed before it ends:
    // after REQUESTS_FOR_REFRESH requests (> 1.5 leases) the mapping is
    // still there, with a lease no longer than ours.
    router
        .wait_log(
            &format!("{REQUESTS_FOR_REFRESH} {via:?} requests for TCP {NODE_PORT}"),
            |log| requests(log, via, NODE_PORT) >= REQUESTS_FOR_REFRESH,
        )
        .await;
    assert_eq!(
        requests(&router.log(), other(via), NODE_PORT),
        0,
        "only {via:?} was used"
    );
    // The request is logged before miniupnpd rewrites its rule (for NAT-PMP
    // a renewal replaces it), so wait for the rule rather than look once;
    // that it never lapsed shows in the log (no expiry).
    router
        .wait_table("our mappings after the renewals", |t| {
            t.has("tcp", NODE_PORT) && t.has("udp", NODE_PORT)
        })
        .await;
    let expired: Vec<String> = router
        .log()
        .into_iter()
        .filter(|l| l.contains(&format!("remove port mapping {NODE_PORT} ")))
        .collect();
    assert!(
        expired.is_empty(),
        "a lease ran out before renewal: {expired:?}"
    );
    if offers.upnp {
        let lease = upnp_lease(&topo, NODE_PORT).await;
        assert!(
            lease <= LEASE.as_secs(),
            "router lists a {lease} s lease, we asked for {LEASE:?}"
        );
    }

    // Stop: our mappings are removed, the foreign one stays.
    node.terminate().await;
    let table = router.table().await;
    assert!(
        !table.has("tcp", NODE_PORT) && !table.has("udp", NODE_PORT),
        "our mappings left behind:\n{}",
        table.0
    );
    if offers.upnp {
        assert!(
            table.has("tcp", FOREIGN_PORT),
            "foreign mapping removed:\n{}",
            table.0
        );
    }

    drop(router);
    drop(topo);
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !text(&left).contains(&format!("{tag}-")),
        "namespaces left behind: {}",
        text(&left)
    );
}

fn other(via: Via) -> Via {
    match via {
        Via::Upnp => Via::Pmp,
        Via::Pmp => Via::Upnp,
    }
}

/// Mapping requests for TCP `port` in miniupnpd's log, by protocol.
fn requests(log: &[String], via: Via, port: u16) -> usize {
    log.iter()
        .filter(|l| match via {
            // New (`redirecting`) or renewed (`updating existing`); our client
            // sends AddAnyPortMapping (IGDv2), whose log line names no port.
            Via::Upnp => {
                (l.contains(&format!("redirecting port {port} to")) && l.contains("protocol TCP"))
                    || l.contains(&format!("updating existing port mapping {port} TCP"))
            }
            Via::Pmp => {
                l.contains("NAT-PMP port mapping request")
                    && l.contains(&format!("{port}->"))
                    && l.contains("tcp")
            }
        })
        .count()
}

/// Our CLI binary.
fn cli_bin() -> &'static str {
    env!("CARGO_BIN_EXE_devp2p")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to its end (killed after [`PROCESS_TIMEOUT`]).
async fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(PROCESS_TIMEOUT, cmd.output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("{cmd:?}: {e}")),
        Err(_) => panic!("{cmd:?} did not finish within {PROCESS_TIMEOUT:?}"),
    }
}

/// Asks our node for its record from "wan" until `pred` holds.
async fn wait_record(
    topo: &Topology,
    node: &str,
    pred: impl Fn(&Enr) -> bool,
) -> Result<Enr, String> {
    let wan_addr = format!("{WAN_HOST_IP}:0");
    let mut last = String::new();
    let found = tokio::time::timeout(MAPPING_TIMEOUT, async {
        loop {
            let out = run(topo.exec("wan", cli_bin()).args([
                "discv4",
                "requestenr",
                node,
                "--addr",
                wan_addr.as_str(),
            ]))
            .await;
            last = text(&out);
            if out.status.success() {
                // The record's text is the first line; details follow.
                let stdout = String::from_utf8_lossy(&out.stdout);
                if let Ok(r) = stdout.lines().next().unwrap_or("").parse::<Enr>() {
                    if pred(&r) {
                        return r;
                    }
                }
            }
            tokio::time::sleep(RECORD_POLL_INTERVAL).await;
        }
    })
    .await;
    found.map_err(|_| format!("record with the external endpoint not seen; last: {last}"))
}

/// The remaining lease (seconds) of the UPnP-listed mapping of TCP `port`.
async fn upnp_lease(topo: &Topology, port: u16) -> u64 {
    let out = run(topo.exec("lan", "upnpc").arg("-l")).await;
    let listing = text(&out);
    // Rows: ` i protocol exPort->inAddr:inPort description remoteHost leaseTime`.
    listing
        .lines()
        .find(|l| l.contains(&format!("TCP {port:>5}->")) || l.contains(&format!("TCP {port}->")))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("TCP {port} not in upnpc -l:\n{listing}"))
}

/// Three namespaces wired as in the module docs, NAT rules loaded in
/// "router"; deleted on drop (with everything in them).
struct Topology {
    tag: String,
    created: Vec<String>,
    dir: tempfile::TempDir,
}

impl Topology {
    fn create(tag: &str) -> Result<Topology, String> {
        let mut t = Topology {
            tag: tag.to_owned(),
            created: Vec::new(),
            dir: tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?,
        };
        for role in ["lan", "router", "wan"] {
            let ns = t.ns(role);
            ip(&["netns", "add", &ns])?;
            t.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let (lan, router, wan) = (t.ns("lan"), t.ns("router"), t.ns("wan"));
        // Both ends are created inside namespaces: no name clash between tests.
        ip(&[
            "-n", &router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns",
            &lan,
        ])?;
        ip(&[
            "-n", &router, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns",
            &wan,
        ])?;
        for (ns, dev, addr) in [
            (&lan, "eth0", LAN_HOST_IP),
            (&router, "lan0", ROUTER_LAN_IP),
            (&router, "wan0", ROUTER_WAN_IP),
            (&wan, "eth0", WAN_HOST_IP),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/{PREFIX_LEN}"),
                "dev",
                dev,
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        ip(&[
            "-n",
            &lan,
            "route",
            "add",
            "default",
            "via",
            &ROUTER_LAN_IP.to_string(),
        ])?;
        // The outside host knows no route to the LAN: only the mappings reach it.
        sh(&router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
        sh(&router, "nft", &["-f", "-"], Some(ROUTER_RULES))?;
        Ok(t)
    }

    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.tag)
    }

    /// `program` run inside namespace `role`.
    fn exec(&self, role: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(role), program]);
        c
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in &self.created {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

/// The router's nftables rules: a stateful forward filter that lets the LAN
/// out and miniupnpd's chain decide what comes in, masquerading on `wan0`,
/// and the chains miniupnpd 2.3.1 fills (its default table `inet filter`
/// and chain names; it does not create them itself).
const ROUTER_RULES: &str = r#"
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    jump miniupnpd
  }
  chain miniupnpd { }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
"#;

/// Runs `program args` inside namespace `ns`, optionally with `stdin`.
fn sh(ns: &str, program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let mut pipe = child.stdin.take().expect("piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("{program} stdin: {e}"))?;
    }
    drop(pipe);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// miniupnpd in the foreground in "router"; killed on drop. Its log lines
/// are collected by a reader task (aborted on drop).
struct Router {
    child: Child,
    log: watch::Receiver<Vec<String>>,
    reader: JoinHandle<()>,
    ns: String,
}

impl Router {
    async fn start(topo: &Topology, offers: Offers) -> Router {
        let dir = topo.dir.path();
        let conf = router_conf(dir, offers);
        let conf_path = dir.join("miniupnpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = topo
            .exec("router", "miniupnpd")
            .arg("-d")
            .arg("-f")
            .arg(&conf_path)
            .arg("-P")
            .arg(dir.join("miniupnpd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run miniupnpd (apt-get install miniupnpd; .ci/run installs it)");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = watch::channel(Vec::new());
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tx.send_modify(|log| {
                    if log.len() < MAX_ROUTER_LOG_LINES {
                        log.push(line)
                    }
                });
            }
        });
        let router = Router {
            child,
            log,
            reader,
            ns: topo.ns("router"),
        };
        // Ready once it listens for the protocols offered.
        let ready = if offers.pmp {
            "Listening for NAT-PMP"
        } else {
            "HTTP listening on port"
        };
        router
            .wait_log("miniupnpd started", |l| l.iter().any(|x| x.contains(ready)))
            .await;
        router
    }

    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    /// Waits (bounded by [`MAPPING_TIMEOUT`]) until the log satisfies `pred`.
    async fn wait_log(&self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let mut rx = self.log.clone();
        let res = tokio::time::timeout(MAPPING_TIMEOUT, rx.wait_for(|l| pred(l))).await;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => panic!("miniupnpd exited before: {what}\n{}", self.log().join("\n")),
            Err(_) => panic!(
                "router: {what} not seen within {MAPPING_TIMEOUT:?}\n{}",
                self.log().join("\n")
            ),
        }
    }

    /// miniupnpd's redirect chain as nftables lists it.
    async fn table(&self) -> Table {
        table_in(&self.ns).await
    }

    /// Waits (polling, bounded by [`MAPPING_TIMEOUT`]) until the table satisfies `pred`.
    async fn wait_table(&self, what: &str, pred: impl Fn(&Table) -> bool) {
        let res = tokio::time::timeout(MAPPING_TIMEOUT, async {
            loop {
                if pred(&self.table().await) {
                    return;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if res.is_err() {
            panic!(
                "router table: {what} not seen within {MAPPING_TIMEOUT:?}\n{}\nlog:\n{}",
                self.table().await.0,
                self.log().join("\n")
            );
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
        self.reader.abort();
    }
}

/// SIGKILLs `child` and waits (bounded by [`PROCESS_TIMEOUT`]) until it is
/// reaped, so no process (not even a zombie) outlives its test.
fn kill_and_reap(child: &mut Child) {
    let _ = child.start_kill();
    let start = std::time::Instant::now();
    while start.elapsed() < PROCESS_TIMEOUT {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(REAP_POLL_INTERVAL),
        }
    }
}

/// miniupnpd's redirect chain in namespace `ns` (also while it is down).
async fn table_in(ns: &str) -> Table {
    let out = run(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "chain",
        "inet",
        "filter",
        "prerouting_miniupnpd",
    ]))
    .await;
    assert!(out.status.success(), "nft list: {}", text(&out));
    Table(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// miniupnpd's configuration: only the offered protocols, LAN clients may
/// map their own address (secure mode) on unprivileged ports, leases from
/// one second (so our short test lease is granted), expired leases removed
/// every second, all state files in the test's directory.
fn router_conf(dir: &Path, offers: Offers) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "ext_ifname=wan0\nlistening_ip=lan0\nhttp_port=0\nenable_upnp={}\nenable_natpmp={}\n\
         secure_mode=yes\nsystem_uptime=yes\nuuid=3f1c3e1a-5b0e-4c7a-9d5e-0a1b2c3d4e5f\n\
         min_lifetime=1\nmax_lifetime=86400\nclean_ruleset_interval=1\nlease_file={}\n\
         allow 1024-65535 {ROUTER_LAN_IP}/{PREFIX_LEN} 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
        yes_no(offers.upnp),
        yes_no(offers.pmp),
        lease_file(dir).display()
    )
}

fn lease_file(dir: &Path) -> PathBuf {
    dir.join("miniupnpd.leases")
}

/// The text of miniupnpd's nftables redirect chain.
struct Table(String);

impl Table {
    /// Whether `proto` (`tcp`/`udp`) `port` is forwarded to our LAN host.
    fn has(&self, proto: &str, port: u16) -> bool {
        // miniupnpd writes the IP protocol as a raw header match: 6 TCP, 17 UDP.
        let proto_match = match proto {
            "tcp" => "@nh,72,8 0x6 ",
            "udp" => "@nh,72,8 0x11 ",
            _ => unreachable!("tcp or udp"),
        };
        self.0.lines().any(|l| {
            l.contains(proto_match)
                && l.contains(&format!("th dport {port} "))
                && l.contains(&format!("dnat ip to {LAN_HOST_IP}:{port}"))
        })
    }
}

/// coturn's STUN port in "wan" (RFC 5389's default).
const STUN_PORT: u16 = 3478;

/// Debian's coturn as a STUN-only server on [`WAN_HOST_IP`] in "wan", all its
/// files in the test's directory; killed on drop.
struct StunServer {
    child: Child,
}

impl StunServer {
    async fn start(topo: &Topology) -> StunServer {
        let dir = topo.dir.path();
        let log = dir.join("turnserver.log");
        let child = topo
            .exec("wan", "turnserver")
            .args(["-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls"])
            .args(["--listening-ip", &WAN_HOST_IP.to_string()])
            .args(["--listening-port", &STUN_PORT.to_string()])
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .args(["--log-file", "stdout", "--simple-log"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run turnserver (apt-get install coturn; .ci/run installs it)");
        // Started once its servers are created; a STUN client retransmits
        // anyway, so this only keeps the first requests from being wasted.
        let started = tokio::time::timeout(PROCESS_TIMEOUT, async {
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Total General servers") {
                    return;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        assert!(
            started.is_ok(),
            "turnserver did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        StunServer { child }
    }
}

impl Drop for StunServer {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Our `devp2p node` in "lan"; killed on drop.
struct OurNode {
    child: Child,
    enode: String,
    stderr_path: PathBuf,
    /// Drains stdout so the node never blocks on a full pipe; aborted on drop.
    drain: JoinHandle<()>,
}

impl OurNode {
    async fn start(topo: &Topology, nat: &str) -> OurNode {
        let stderr_path = topo.dir.path().join("node.stderr");
        let lease = format!("{}s", LEASE.as_secs());
        let mut child = topo
            .exec("lan", cli_bin())
            .args([
                "node",
                "--nodekeyhex",
                fixed_key_hex(7).as_str(),
                "--addr",
                format!("0.0.0.0:{NODE_PORT}").as_str(),
                "--nat",
                nat,
                "--nat.lease",
                lease.as_str(),
                "--discovery.v5=false",
            ])
            .env("RUST_LOG", "info,p2p::nat=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start devp2p node");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut enode = String::new();
        match tokio::time::timeout(PROCESS_TIMEOUT, stdout.read_line(&mut enode)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => panic!(
                "node printed no enode URL: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ),
        }
        // Keep draining stdout so the node never blocks on a full pipe.
        let drain = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink).await;
        });
        OurNode {
            child,
            enode: enode.trim().to_owned(),
            stderr_path,
            drain,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM (a clean stop that deletes the mappings) and a bounded wait.
    async fn terminate(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        match tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait()).await {
            Ok(Ok(s)) => assert!(s.success(), "node exit {s}: {}", self.stderr()),
            _ => panic!("node did not stop within {PROCESS_TIMEOUT:?}"),
        }
    }
}

impl Drop for OurNode {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
        self.drain.abort();
    }
}
