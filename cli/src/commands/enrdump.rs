//! `devp2p enrdump`: decode, verify and pretty-print a node record.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use devp2p::node::{Enr, Node, MAX_ENR_TEXT_LEN};
use devp2p_discover::rlp_item::Item;

use super::{read_small_file, CliError};

/// Largest record file we read, in bytes: the longest record text plus room
/// for surrounding whitespace and line endings.
const MAX_ENR_FILE_BYTES: u64 = MAX_ENR_TEXT_LEN as u64 + 64;

/// Arguments of `devp2p enrdump`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["record", "file"])))]
pub(super) struct EnrdumpArgs {
    /// The record in text form (`enr:…`).
    record: Option<String>,
    /// Read the record from a file instead.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Runs `enrdump`.
pub(super) fn run(args: EnrdumpArgs) -> Result<(), CliError> {
    let text = match (&args.record, &args.file) {
        (Some(record), _) => record.clone(),
        (None, Some(path)) => read_small_file(path, MAX_ENR_FILE_BYTES)?,
        (None, None) => unreachable!("clap requires the record or --file"),
    };
    let enr: Enr = text.trim().parse()?;
    print!("{}", render(&enr));
    Ok(())
}

/// The human-readable dump of a verified record.
pub(super) fn render(enr: &Enr) -> String {
    let mut out = String::new();
    let pairs: Vec<(&[u8], &[u8])> = enr.pairs().collect();
    let id = enr.node_id();
    let _ = writeln!(out, "Node ID: {id}");
    // go-ethereum's 32-byte v4 ID (what EIP-778 calls the node ID).
    let _ = writeln!(out, "ID hash: {}", hex::encode(id.hash()));
    if let (Ok(node), Some(_)) = (Node::from_enr(enr), enr.tcp().or(enr.tcp6())) {
        if node.is_complete() {
            let _ = writeln!(out, "Enode:   {node}");
        }
    }
    let _ = writeln!(
        out,
        "Record has sequence number {} and {} key/value pairs (signature valid).",
        enr.seq(),
        pairs.len()
    );
    let width = pairs
        .iter()
        .map(|(k, _)| key_label(k).len())
        .max()
        .unwrap_or(0);
    for (key, raw) in pairs {
        let label = key_label(key);
        let _ = writeln!(out, "  {label:<width$}  {}", describe_value(key, raw));
    }
    out
}

/// The key as a quoted string when printable, hex otherwise.
fn key_label(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => format!("\"{s}\""),
        _ => format!("0x{}", hex::encode(key)),
    }
}

/// Pretty form of a value for the keys we know; raw RLP in hex otherwise
/// (and when a known key's value does not have the expected shape).
fn describe_value(key: &[u8], raw: &[u8]) -> String {
    let known = match key {
        b"id" => string_payload(raw)
            .and_then(|p| std::str::from_utf8(p).ok())
            .map(|s| s.to_string()),
        b"secp256k1" => string_payload(raw).map(hex::encode),
        b"ip" => string_payload(raw)
            .and_then(|p| <[u8; 4]>::try_from(p).ok())
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        b"ip6" => string_payload(raw)
            .and_then(|p| <[u8; 16]>::try_from(p).ok())
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        b"tcp" | b"udp" | b"tcp6" | b"udp6" | b"quic" | b"quic6" => {
            alloy_rlp::decode_exact::<u16>(raw)
                .ok()
                .map(|p| p.to_string())
        }
        b"eth" | b"les" | b"bsc" => fork_id(raw),
        b"snap" => Item::exact(raw)
            .and_then(|item| item.list())
            .ok()
            .map(|fields| format!("present ({} fields)", fields.count())),
        b"eth2" | b"attnets" | b"syncnets" | b"client" => {
            string_payload(raw).map(|p| format!("0x{}", hex::encode(p)))
        }
        _ => None,
    };
    match known {
        Some(text) => text,
        None => format!("0x{} (raw RLP)", hex::encode(raw)),
    }
}

/// The payload of an RLP string item, `None` for a list or malformed item.
fn string_payload(raw: &[u8]) -> Option<&[u8]> {
    Item::exact(raw).and_then(|item| item.bytes()).ok()
}

/// The EIP-2124 fork ID entry: `[[fork_hash(4 bytes), fork_next]]`.
fn fork_id(raw: &[u8]) -> Option<String> {
    let mut entry = Item::exact(raw)
        .ok()?
        .list()
        .ok()?
        .next_item()
        .ok()?
        .list()
        .ok()?;
    let hash = entry.next_bytes().ok()?;
    let next: u64 = entry.next_decode().ok()?;
    if hash.len() != 4 {
        return None;
    }
    Some(format!("fork hash 0x{}, next {next}", hex::encode(hash)))
}
