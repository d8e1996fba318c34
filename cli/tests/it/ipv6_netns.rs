//! IPv6 between two network namespaces the test creates and removes: "a"
//! and "b", joined by a veth pair carrying 2001:db8:77::/64 (documentation
//! space, RFC 3849) and 10.77.0.0/24. No packet leaves the namespaces.
//!
//! Node B is dual-stack (`--addr 10.77.0.2 --addr6 [2001:db8:77::2]`); from
//! "a", our `discv4 ping` reaches it over IPv6, an IPv6-only node connects
//! to it as a static peer over IPv6 and an IPv4-only node over IPv4 (both
//! complete RLPx and Hello and run `demo/1`). Needs root and `ip`; prints
//! SKIPPED with the reason where namespaces cannot be created.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use devp2p::node::{Enr, IpFamilies, Node};

/// Time limit for a process to react (start, connect) on a loaded machine.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Pings tried before discv4 over IPv6 counts as broken (a fresh veth link
/// may drop the first datagrams while neighbour discovery runs).
const PING_ATTEMPTS: usize = 5;
/// Pause between two reads of a log being waited on.
const POLL: Duration = Duration::from_millis(100);

const A_V6: &str = "2001:db8:77::1";
const B_V6: &str = "2001:db8:77::2";
const A_V4: &str = "10.77.0.1";
const B_V4: &str = "10.77.0.2";

/// Two namespaces joined by a veth pair; deleted on drop.
struct Netns {
    names: Vec<String>,
}

impl Netns {
    fn create() -> Result<Netns, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "v6t{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut t = Netns { names: Vec::new() };
        for role in ["a", "b"] {
            let ns = format!("{tag}-{role}");
            ip(&["netns", "add", &ns])?;
            t.names.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let (a, b) = (t.names[0].clone(), t.names[1].clone());
        ip(&[
            "-n", &a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &b,
        ])?;
        for (ns, v6, v4) in [(&a, A_V6, A_V4), (&b, B_V6, B_V4)] {
            // nodad: usable at once (no 1–2 s duplicate address detection).
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
                "nodad",
            ])?;
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", "eth0"])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        }
        // Both ends up with carrier before the first packet.
        let start = Instant::now();
        for ns in [&a, &b] {
            loop {
                let out = Command::new("ip")
                    .args(["-n", ns, "link", "show", "eth0"])
                    .output()
                    .map_err(|e| format!("ip: {e}"))?;
                if String::from_utf8_lossy(&out.stdout).contains("LOWER_UP") {
                    break;
                }
                if start.elapsed() > PROCESS_TIMEOUT {
                    return Err("veth link did not come up".into());
                }
                std::thread::sleep(POLL);
            }
        }
        Ok(t)
    }

    /// Our binary run inside namespace `role` ("a" or "b").
    fn devp2p(&self, role: &str) -> Command {
        let ns = if role == "a" {
            &self.names[0]
        } else {
            &self.names[1]
        };
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_devp2p")]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Kills the child on drop, so a failing test leaves no process behind
/// (declared after the namespaces, so it drops first).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `devp2p node` in `role` with `args`, logging to `log`; returns it
/// and its first two stdout lines (enode URL, record).
fn start_node(net: &Netns, role: &str, args: &[&str], log: &Path) -> (Guard, String, String) {
    let mut child = net
        .devp2p(role)
        .arg("node")
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn devp2p node");
    let mut stdout = child.stdout.take().expect("piped");
    let guard = Guard(child);
    let mut line = || {
        let mut bytes = Vec::new();
        let mut b = [0u8; 1];
        while stdout.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            bytes.push(b[0]);
        }
        String::from_utf8(bytes).expect("utf-8")
    };
    let enode = line();
    let enr = line();
    (guard, enode, enr)
}

/// Waits until `log` has a "peer connected" line naming `id`.
fn wait_connected(log: &Path, id: &str) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("peer connected") && l.contains(&id[..16]))
        {
            return;
        }
        assert!(start.elapsed() < PROCESS_TIMEOUT, "no connection: {text}");
        std::thread::sleep(POLL);
    }
}

#[test]
fn ipv6_netns_discovery_handshake_and_demo_over_ipv6_and_ipv4() {
    let net = match Netns::create() {
        Ok(n) => n,
        Err(reason) => {
            eprintln!("SKIPPED ipv6_netns: cannot build the namespaces: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_b, enode_b, enr_b) = start_node(
        &net,
        "b",
        &[
            "--addr",
            &format!("{B_V4}:30303"),
            "--addr6",
            &format!("[{B_V6}]:30303"),
        ],
        &dir.path().join("b.log"),
    );
    let record: Enr = enr_b.parse().expect("B's record");
    assert_eq!(record.ip4().map(|i| i.to_string()), Some(B_V4.to_owned()));
    assert_eq!(record.ip6().map(|i| i.to_string()), Some(B_V6.to_owned()));
    assert_eq!((record.tcp6(), record.udp6()), (Some(30303), Some(30303)));
    let only6 = IpFamilies::V6_ONLY;
    let only4 = IpFamilies::V4_ONLY;
    let b6 = Node::from_enr_reachable(&record, only6).expect("endpoint");
    let enode_b6 = b6.to_string();
    let enode_b4 = Node::from_enr_reachable(&record, only4)
        .expect("endpoint")
        .to_string();
    assert!(enode_b6.contains(&format!("@[{B_V6}]:30303")), "{enode_b6}");
    assert!(enode_b4.contains(&format!("@{B_V4}:30303")), "{enode_b4}");
    // The printed enode is the record's farther-reaching endpoint
    // (go-ethereum's rule): the global-scope IPv6 address beats the private
    // IPv4 one.
    assert_eq!(enode_b, enode_b6);
    let b_id = b6.id.to_string();

    // discv4 over IPv6 from "a". The first datagrams on a fresh link can be
    // lost while neighbour discovery resolves B (one ping is one datagram
    // and one 500 ms wait), so up to PING_ATTEMPTS pings.
    let mut last = None;
    for _ in 0..PING_ATTEMPTS {
        let out = net
            .devp2p("a")
            .args([
                "discv4",
                "ping",
                &enode_b6,
                "--addr",
                &format!("[{A_V6}]:0"),
            ])
            .output()
            .expect("discv4 ping");
        if out.status.success() {
            last = None;
            break;
        }
        last = Some(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(
        last.is_none(),
        "discv4 ping over IPv6 failed {PING_ATTEMPTS} times: {}\nB's log:\n{}",
        last.unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default()
    );

    // An IPv6-only node and an IPv4-only node in "a" connect to B as static
    // peers and run demo/1 (the log line comes after Hello and the
    // protocol handshake).
    let log6 = dir.path().join("a6.log");
    let (_a6, _, _) = start_node(
        &net,
        "a",
        &[
            "--addr",
            &format!("[{A_V6}]:30303"),
            "--nodiscover",
            "--static",
            &enode_b6,
        ],
        &log6,
    );
    let log4 = dir.path().join("a4.log");
    let (_a4, _, _) = start_node(
        &net,
        "a",
        &[
            "--addr",
            &format!("{A_V4}:30304"),
            "--nodiscover",
            "--static",
            &enode_b4,
        ],
        &log4,
    );
    wait_connected(&log6, &b_id);
    wait_connected(&log4, &b_id);
}
