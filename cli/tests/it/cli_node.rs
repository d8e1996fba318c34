//! CLI tests that run the real binary: `node`, `rlpx ping`, `--config`, `devnet`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Time limit for a process to react (start, stop, connect) on a loaded machine.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Our `devp2p` binary, as cargo built it for these tests.
pub(crate) fn devp2p() -> Command {
    Command::new(env!("CARGO_BIN_EXE_devp2p"))
}

/// Kills the child on drop so a failing test leaves no process behind.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    /// Sends SIGTERM and waits (bounded) for the exit status code.
    fn terminate(&mut self) -> Option<i32> {
        let pid = self.0.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        while start.elapsed() < PROCESS_TIMEOUT {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node did not stop within {PROCESS_TIMEOUT:?}");
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("devp2p-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `devp2p node` with `args`; returns it, its first stdout line and the rest of stdout.
fn start_node(args: &[&str], stderr_file: &std::path::Path) -> (Guard, String, ChildStdout) {
    let mut child = devp2p()
        .arg("node")
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_file).unwrap())
        .spawn()
        .expect("start node");
    let mut stdout = child.stdout.take().unwrap();
    // Read the first line byte by byte so nothing after it is consumed.
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while stdout.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    (Guard(child), String::from_utf8(line).unwrap(), stdout)
}

#[test]
fn node_prints_enode_first_and_stops_on_sigterm() {
    let dir = temp_dir("node1");
    let (mut node, first, _out) = start_node(
        &[
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--datadir",
            dir.to_str().unwrap(),
        ],
        &dir.join("stderr"),
    );
    let enode: devp2p::node::Node = first.parse().expect("first stdout line is the enode URL");
    assert!(first.starts_with("enode://"));
    assert!(enode.tcp > 0);
    // --datadir keeps the key: the ID matches the saved key.
    let key = devp2p::node::load_node_key(&dir.join("nodekey")).unwrap();
    assert_eq!(devp2p::node::NodeId::from_secret_key(&key), enode.id);

    // rlpx ping shows its Hello.
    let out = devp2p().args(["rlpx", "ping", &first]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("demo/1"), "{text}");
    assert!(text.contains(&enode.id.to_string()), "{text}");

    assert_eq!(node.terminate(), Some(0));
    let log = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(log.contains("stopping"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_nodes_connect_via_static() {
    let dir = temp_dir("node2");
    let (mut a, enode_a, _out_a) = start_node(
        &["--addr", "127.0.0.1:0", "--nodiscover"],
        &dir.join("a.log"),
    );
    let (mut b, _enode_b, _out_b) = start_node(
        &[
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--static",
            &enode_a,
        ],
        &dir.join("b.log"),
    );
    let a_id = enode_a
        .parse::<devp2p::node::Node>()
        .unwrap()
        .id
        .to_string();
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(dir.join("b.log")).unwrap_or_default();
        if log
            .lines()
            .any(|l| l.contains("peer connected") && l.contains(&a_id[..16]))
        {
            break;
        }
        assert!(start.elapsed() < PROCESS_TIMEOUT, "no connection: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.terminate(), Some(0));
    assert_eq!(a.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_with_bad_key_names_it() {
    let dir = temp_dir("cfg");
    let file = dir.join("node.toml");
    std::fs::write(&file, "max_peers = 5\nmax_perrs = 10\n").unwrap();
    let out = devp2p()
        .args([
            "node",
            "--addr",
            "127.0.0.1:0",
            "--config",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_perrs"), "{err}");
    assert!(out.stdout.is_empty());

    std::fs::write(&file, "max_peers = \"many\"\n").unwrap();
    let out = devp2p()
        .args([
            "node",
            "--addr",
            "127.0.0.1:0",
            "--config",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_peers"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_is_used_and_flags_override_it() {
    let dir = temp_dir("cfg2");
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        "name = \"from-file\"\nno_discovery = true\nlisten_addr = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let (mut node, first, _out) = start_node(
        &["--config", file.to_str().unwrap(), "--addr", "127.0.0.1:0"],
        &dir.join("stderr"),
    );
    // --addr overrode the file's port 1; the name came from the file.
    let enode: devp2p::node::Node = first.parse().unwrap();
    assert_ne!(enode.tcp, 1);
    let out = devp2p().args(["rlpx", "ping", &first]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("from-file"),
        "{out:?}"
    );
    assert_eq!(node.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devnet_of_8_nodes_succeeds() {
    let mut child = devp2p()
        .args(["devnet", "--nodes", "8", "--seconds", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = Guard(child);
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "devnet did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{lines:?}");
    // Header + 8 rows + success line.
    assert!(
        lines.iter().any(|l| l.contains("devnet: success")),
        "{lines:?}"
    );
    let rows = lines.iter().filter(|l| l.contains("7/7")).count();
    assert_eq!(rows, 8, "{lines:?}");
}

#[test]
fn rlpx_ping_prints_the_disconnect_reason() {
    let dir = temp_dir("full");
    let (mut node, first, _out) = start_node(
        &["--addr", "127.0.0.1:0", "--nodiscover", "--maxpeers", "0"],
        &dir.join("stderr"),
    );
    let out = devp2p().args(["rlpx", "ping", &first]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("disconnect reason: too many peers"),
        "{out:?}"
    );
    assert_eq!(node.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn node_serves_metrics() {
    use std::io::Write;
    let dir = temp_dir("metrics");
    // A free port (released just before the node binds it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (mut node, _first, _out) = start_node(
        &["--addr", "127.0.0.1:0", "--nodiscover", "--metrics", &addr],
        &dir.join("stderr"),
    );
    // The enode is printed before the metrics listener binds: retry briefly.
    let start = Instant::now();
    let body = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            break body;
        }
        assert!(
            start.elapsed() < PROCESS_TIMEOUT,
            "metrics endpoint never came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
    assert!(body.contains("\np2p_peers 0\n"), "{body}");
    assert_eq!(node.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// How long `known_network_with_private_netrestrict_sends_nothing` watches
/// the node: long enough for discovery's start-up refresh (immediate when
/// bootnodes are set) and the first dials (the dialer starts at once).
const OBSERVE: Duration = Duration::from_secs(2);

/// The value of an unlabelled metric line, or the sum over a labelled family.
fn metric_sum(body: &str, family: &str) -> u64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn http_get_metrics(addr: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PROCESS_TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `--network mainnet` configures go-ethereum's mainnet bootnodes, which
/// `--netrestrict 127.0.0.0/8` puts out of reach: during the watch no dial
/// starts, no candidate comes up and no discovery packet leaves.
#[test]
fn known_network_with_private_netrestrict_sends_nothing() {
    let dir = temp_dir("network");
    let log_file = dir.join("stderr");
    let (mut node, first, _out) = start_node(
        &[
            "--network",
            "mainnet",
            "--netrestrict",
            "127.0.0.0/8",
            "--addr",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        &log_file,
    );
    assert!(first.starts_with("enode://"), "{first}");
    let start = Instant::now();
    let addr = loop {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        let found = log
            .lines()
            .filter(|l| l.contains("metrics listening"))
            .find_map(|l| l.split("addr=").nth(1))
            .map(|a| a.split_whitespace().next().unwrap().to_string());
        if let Some(addr) = found {
            break addr;
        }
        assert!(start.elapsed() < PROCESS_TIMEOUT, "no metrics line: {log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("network=mainnet bootnodes=9"), "{log}");
    std::thread::sleep(OBSERVE);
    let body = http_get_metrics(&addr);
    assert!(body.contains("p2p_dials_total"), "{body}");
    assert_eq!(metric_sum(&body, "p2p_dials_total"), 0, "{body}");
    assert_eq!(
        metric_sum(&body, "p2p_discovery_packets_out_total"),
        0,
        "{body}"
    );
    assert_eq!(metric_sum(&body, "p2p_dial_candidates_total"), 0, "{body}");
    assert_eq!(metric_sum(&body, "p2p_discovery_table_nodes"), 0, "{body}");
    // discv5's bootnodes (go-ethereum's 20 records) are outside the
    // restriction: none entered its table, so none was contacted.
    assert!(body.contains("p2p_discv5_table_nodes"), "{body}");
    assert_eq!(metric_sum(&body, "p2p_discv5_table_nodes"), 0, "{body}");
    assert_eq!(node.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retired_network_is_refused_by_name() {
    let out = devp2p()
        .args(["node", "--network", "holesky", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retired") && err.contains("hoodi"), "{err}");
}
/// The next stdout line of a node started by [`start_node`].
fn next_stdout_line(stdout: &mut ChildStdout) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while stdout.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn discovery_flags_choose_the_protocols() {
    let dir = temp_dir("discflags");
    // discv5 only (the bare flag means true), and discv4 only.
    let (mut v5_only, enode5, mut out5) = start_node(
        &[
            "--addr",
            "127.0.0.1:0",
            "--discovery.v4=false",
            "--discovery.v5",
        ],
        &dir.join("v5.log"),
    );
    let (mut v4_only, enode4, mut out4) = start_node(
        &["--addr", "127.0.0.1:0", "--discovery.v5=false"],
        &dir.join("v4.log"),
    );
    let enr5 = next_stdout_line(&mut out5);
    let enr4 = next_stdout_line(&mut out4);
    assert!(
        enr5.starts_with("enr:") && enr4.starts_with("enr:"),
        "{enr5} {enr4}"
    );
    let ping = |proto: &str, target: &str| {
        devp2p()
            .args([proto, "ping", "--addr", "127.0.0.1:0", target])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(ping("discv5", &enr5), "discv5 answers on the v5-only node");
    assert!(!ping("discv4", &enode5), "no discv4 on the v5-only node");
    assert!(
        ping("discv4", &enode4),
        "discv4 answers on the v4-only node"
    );
    assert!(!ping("discv5", &enr4), "no discv5 on the v4-only node");
    assert_eq!(v5_only.terminate(), Some(0));
    assert_eq!(v4_only.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn direction_limits_come_from_flags_and_are_validated() {
    let dir = temp_dir("maxinbound");
    // 50 peers would leave 34 inbound slots; --maxinbound 0 leaves none.
    let (mut node, first, _out) = start_node(
        &[
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--maxpeers",
            "50",
            "--maxinbound",
            "0",
        ],
        &dir.join("stderr"),
    );
    let out = devp2p().args(["rlpx", "ping", &first]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("disconnect reason: too many peers"),
        "{out:?}"
    );
    assert_eq!(node.terminate(), Some(0));
    let out = devp2p()
        .args([
            "node",
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--maxpendinbound",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_pending_inbound must be 1..=65536"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bandwidth_flags_are_validated() {
    // A cap below 1 KiB/s is refused with the field's name.
    let out = devp2p()
        .args([
            "node",
            "--addr",
            "127.0.0.1:0",
            "--nodiscover",
            "--bandwidth.peer.egress",
            "10",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("bandwidth.per_peer_egress must be at least 1024 bytes/s, got 10"),
        "{out:?}"
    );
}
