//! CLI tests that run the real binary: discv4 probes against `discv4 listen`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::cli_node::{devp2p, Guard};

/// Starts `discv4 listen` on a free loopback port; returns it and its enode URL.
fn bootnode() -> (Guard, String) {
    let mut child = devp2p()
        .args(["discv4", "listen", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bootnode");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let enode = line.trim().to_string();
    assert!(enode.starts_with("enode://"), "{enode}");
    (Guard(child), enode)
}

#[test]
fn discv4_ping_requestenr_resolve() {
    let (_boot, enode) = bootnode();
    let node: devp2p::node::Node = enode.parse().unwrap();

    let out = devp2p()
        .args(["discv4", "ping", &enode, "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("responded to ping"));

    let out = devp2p()
        .args(["discv4", "requestenr", &enode, "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let enr: devp2p::node::Enr = text.lines().next().unwrap().parse().unwrap();
    assert_eq!(enr.node_id(), node.id);
    assert_eq!(enr.udp(), Some(node.udp));

    let out = devp2p()
        .args(["discv4", "resolve", &enode, "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let resolved: devp2p::node::Node = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(resolved.id, node.id);
}

#[test]
fn discv4_ping_silent_node_fails() {
    // A UDP socket that never answers.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
    let id = devp2p::node::NodeId::from_secret_key(&key);
    let enode = format!("enode://{id}@127.0.0.1:{port}");
    let out = devp2p()
        .args(["discv4", "ping", &enode, "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: discovery"));
}

#[test]
fn discv4_crawl_finds_nodes() {
    let (_boot, enode) = bootnode();
    let out = devp2p()
        .args([
            "discv4",
            "crawl",
            "--timeout",
            "2s",
            "--parallel",
            "2",
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            &enode,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let nodes = json.as_array().expect("an array");
    assert!(!nodes.is_empty(), "{json}");
    assert!(nodes[0]["enode"].as_str().unwrap().starts_with("enode://"));
    // The bootnode answered our ENR request: its record is in the output.
    let boot_id = enode
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap();
    let boot = nodes
        .iter()
        .find(|n| n["id"] == boot_id)
        .unwrap_or_else(|| panic!("bootnode in {json}"));
    let enr = boot["enr"]
        .as_str()
        .unwrap_or_else(|| panic!("ENR in {boot}"));
    assert!(enr.starts_with("enr:"), "{enr}");
    assert!(boot["seq"].as_u64().is_some(), "{boot}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("with ENR"), "{stderr}");
}
