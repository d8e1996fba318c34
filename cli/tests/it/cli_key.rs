//! CLI tests that run the real binary: key files, enode URLs, records, and
//! command line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

use devp2p::node::{Enr, Node, NodeId};

/// The example record of EIP-778 (key b71c71a6…, 127.0.0.1, UDP 30303).
const SPEC_ENR: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
/// Its node ID (EIP-778).
const SPEC_ID: &str = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";

fn devp2p(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devp2p"))
        .args(args)
        .output()
        .expect("run devp2p")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("devp2p-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn key_round_trip() {
    let dir = temp_dir("key");
    let file = dir.join("nodekey");
    let f = file.to_str().unwrap();

    let gen = devp2p(&["key", "generate", f]);
    assert!(gen.status.success(), "{gen:?}");
    let id: NodeId = stdout(&gen)
        .trim()
        .parse()
        .expect("generate prints the node id");

    let to_id = devp2p(&["key", "to-id", f]);
    assert!(to_id.status.success());
    assert_eq!(stdout(&to_id).trim().parse::<NodeId>().unwrap(), id);

    let to_enode = devp2p(&[
        "key", "to-enode", f, "--ip", "10.1.2.3", "--tcp", "4000", "--udp", "4001",
    ]);
    assert!(to_enode.status.success(), "{to_enode:?}");
    let node: Node = stdout(&to_enode).trim().parse().expect("a valid enode URL");
    assert_eq!(node, Node::new(id, "10.1.2.3".parse().unwrap(), 4000, 4001));

    let to_enr = devp2p(&["key", "to-enr", f, "--tcp", "5000"]);
    assert!(to_enr.status.success(), "{to_enr:?}");
    let enr: Enr = stdout(&to_enr).trim().parse().expect("a valid record");
    assert_eq!(enr.node_id(), id);
    assert_eq!(enr.tcp(), Some(5000));
    assert_eq!(enr.udp(), Some(30303));
    assert_eq!(enr.ip4(), Some(std::net::Ipv4Addr::LOCALHOST));

    // Refuses to overwrite an existing key.
    let again = devp2p(&["key", "generate", f]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_key_file_is_a_clear_error() {
    let dir = temp_dir("badkey");
    let file = dir.join("nodekey");
    std::fs::write(&file, "0x1234").unwrap();
    let out = devp2p(&["key", "to-id", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: node key"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn enrdump_spec_record() {
    let out = devp2p(&["enrdump", SPEC_ENR]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains(SPEC_ID), "{text}");
    assert!(
        text.contains("sequence number 1 and 4 key/value pairs"),
        "{text}"
    );
    assert!(text.contains("\"id\"") && text.contains("v4"), "{text}");
    assert!(
        text.contains("\"ip\"") && text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("\"udp\"") && text.contains("30303"), "{text}");
    assert!(text.contains("03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"));
}

#[test]
fn enrdump_from_file_and_unknown_keys_in_hex() {
    let dir = temp_dir("enrfile");
    let file = dir.join("record.txt");
    std::fs::write(&file, format!("{SPEC_ENR}\n")).unwrap();
    let out = devp2p(&["enrdump", "--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains(SPEC_ID));

    // A record with an unknown key: shown in hex as raw RLP.
    let key = devp2p::node::parse_node_key(
        "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291",
    )
    .unwrap();
    let enr = Enr::builder()
        .seq(3)
        .add_raw("zz", vec![0x82, 0xbe, 0xef])
        .sign(&key)
        .unwrap();
    let out = devp2p(&["enrdump", &enr.to_string()]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("\"zz\""));
    assert!(stdout(&out).contains("0x82beef"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn enrdump_rejects_tampered_record() {
    // Change one character of the signature.
    let mut bad = SPEC_ENR.to_string();
    bad.replace_range(10..11, if &SPEC_ENR[10..11] == "A" { "B" } else { "A" });
    let out = devp2p(&["enrdump", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: node record"));
}

#[test]
fn bad_command_lines_exit_2_with_one_line() {
    for args in [
        &["key", "to-enode", "f", "--bogus"][..],
        &["key", "to-enode", "f", "--tcp", "notaport"],
        &["key", "to-enode", "f", "--ip", "300.1.1.1"],
        &["nosuchcommand"],
        &["enrdump"],
        &["key", "generate"],
    ] {
        let out = devp2p(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_succeeds() {
    let out = devp2p(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("enrdump"));
}
