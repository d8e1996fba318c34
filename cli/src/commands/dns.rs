//! `devp2p dns`: EIP-1459 DNS node lists, modelled on go-ethereum's
//! `devp2p dns` commands and its tree directory format:
//!
//! - `enrtree-info.json`: `{"url", "seq", "signature", "links", "lastModified"}`;
//! - `nodes.json`: go-ethereum's object `{"<node id hex>": {"seq", "record": "enr:…"}}`
//!   or ours, the array `devp2p discv4 crawl` writes (`[{"enr": "enr:…"}, …]`).
//!
//! `sign` builds and signs the tree (signing key: a node key file, go-ethereum's
//! `nodekey` format, not its encrypted keystore), `to-txt` prints the TXT
//! records (JSON as go-ethereum, or a zone file for a DNS server), `sync`
//! downloads and verifies a published tree into a directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Subcommand;
use devp2p::dnsdisc::{Client, ClientConfig, Tree, TreeUrl};
use devp2p::node::{load_node_key, Enr};
use serde::{Deserialize, Serialize};

use super::{read_small_file, CliError};

/// Largest `nodes.json` / `enrtree-info.json` read, in bytes: 64 MiB holds
/// ~100,000 records with go-ethereum's per-node metadata (the largest public
/// lists have ~4,000).
const MAX_DEFINITION_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Name of the tree metadata file (go-ethereum's).
const INFO_FILE: &str = "enrtree-info.json";
/// Name of the node list file (go-ethereum's).
const NODES_FILE: &str = "nodes.json";
/// TTL of the root record in zone files, in seconds: 30 min, go-ethereum's
/// `rootTTL` (also its client's re-check interval).
const ROOT_TTL_SECS: u32 = 30 * 60;
/// TTL of the other entries in zone files, in seconds: 4 weeks, go-ethereum's
/// `treeNodeTTL` (entries are content-addressed and never change).
const ENTRY_TTL_SECS: u32 = 4 * 7 * 24 * 60 * 60;

/// `devp2p dns` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum DnsCommand {
    /// Build and sign the tree of a directory (nodes.json, enrtree-info.json);
    /// writes the signature, sequence number and URL back and prints the URL.
    Sign {
        /// Tree directory.
        dir: PathBuf,
        /// Signing key: a node key file (64 hex characters).
        keyfile: PathBuf,
        /// Domain of the tree [default: the URL's in enrtree-info.json, else the directory name].
        #[arg(long)]
        domain: Option<String>,
        /// Sequence number [default: the previous one plus 1].
        #[arg(long)]
        seq: Option<u64>,
    },
    /// Print the TXT records of a signed tree directory: JSON (name → text,
    /// as go-ethereum) or, with --zone, a zone file.
    ToTxt {
        /// Tree directory.
        dir: PathBuf,
        /// Output file [default: stdout].
        out: Option<PathBuf>,
        /// Write a zone file (SOA, NS, TXT records split into 255-byte strings).
        #[arg(long)]
        zone: bool,
    },
    /// Download and verify the tree at an enrtree:// URL into a directory.
    Sync {
        /// enrtree://<base32 public key>@<domain>
        url: TreeUrl,
        /// Output directory [default: the domain].
        dir: Option<PathBuf>,
        /// Query this name server (IP:PORT) instead of the system's resolvers.
        #[arg(long, value_name = "IP:PORT")]
        server: Option<SocketAddr>,
        /// Time limit per DNS lookup.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
        timeout: Duration,
    },
}

/// `enrtree-info.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TreeInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<TreeUrl>,
    #[serde(default)]
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default)]
    links: Vec<TreeUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// One node of go-ethereum's `nodes.json` object (extra fields ignored).
#[derive(Debug, Serialize, Deserialize)]
struct GethNode {
    #[serde(default)]
    seq: u64,
    /// `enr:…` text.
    record: String,
}

/// One element of our `devp2p discv4 crawl` array (nodes without a record skipped).
#[derive(Debug, Deserialize)]
struct CrawlNode {
    #[serde(default)]
    enr: Option<String>,
}

/// Either `nodes.json` form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NodesFile {
    Geth(BTreeMap<String, GethNode>),
    Ours(Vec<CrawlNode>),
}

/// Runs a `devp2p dns` subcommand.
pub(super) async fn run(cmd: DnsCommand) -> Result<(), CliError> {
    match cmd {
        DnsCommand::Sign {
            dir,
            keyfile,
            domain,
            seq,
        } => {
            let (mut info, records) = load_definition(&dir)?;
            let key = load_node_key(&keyfile)?;
            let domain = domain
                .or_else(|| info.url.as_ref().map(|u| u.domain().to_owned()))
                .unwrap_or_else(|| directory_name(&dir));
            let seq = seq.unwrap_or(info.seq.saturating_add(1));
            let mut tree = Tree::new(seq, records, info.links.clone());
            let url = tree.sign(&key, &domain)?;
            info.url = Some(url.clone());
            info.seq = seq;
            info.signature = Some(tree.root().signature_text());
            info.last_modified = Some(now_rfc3339());
            write_definition(&dir, &info, &tree)?;
            println!("{url}");
        }
        DnsCommand::ToTxt { dir, out, zone } => {
            let (info, records) = load_definition(&dir)?;
            let url = info.url.clone().ok_or_else(|| {
                CliError::Definition(format!(
                    "missing 'url' in {}",
                    dir.join(INFO_FILE).display()
                ))
            })?;
            let sig = info.signature.clone().ok_or_else(|| {
                CliError::Definition("missing signature, run 'devp2p dns sign' first".into())
            })?;
            let mut tree = Tree::new(info.seq, records, info.links.clone());
            if !tree.set_signature(url.public_key(), &sig)? {
                return Err(CliError::Definition(
                    "invalid signature on tree, run 'devp2p dns sign' to update it".into(),
                ));
            }
            let text = if zone {
                tree.to_zone(url.domain(), ROOT_TTL_SECS, ENTRY_TTL_SECS)
            } else {
                to_json(&tree.to_txt(url.domain()))?
            };
            write_out(out.as_deref(), &text)?;
        }
        DnsCommand::Sync {
            url,
            dir,
            server,
            timeout,
        } => {
            let client = Client::new(ClientConfig {
                name_server: server,
                lookup_timeout: timeout,
                ..ClientConfig::default()
            })?;
            let tree = client.sync_tree(&url).await?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(url.domain()));
            let info = TreeInfo {
                url: Some(url.clone()),
                seq: tree.seq(),
                signature: Some(tree.root().signature_text()),
                links: tree.links(),
                last_modified: Some(now_rfc3339()),
            };
            write_definition(&dir, &info, &tree)?;
            eprintln!(
                "{url}: seq {}, {} records, {} links",
                tree.seq(),
                tree.records().len(),
                tree.links().len()
            );
        }
    }
    Ok(())
}

fn directory_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Reads `enrtree-info.json` (optional) and `nodes.json` (required).
fn load_definition(dir: &Path) -> Result<(TreeInfo, Vec<Enr>), CliError> {
    let info_path = dir.join(INFO_FILE);
    let info: TreeInfo = if info_path.exists() {
        parse_json(&info_path)?
    } else {
        TreeInfo::default()
    };
    let texts: Vec<String> = match parse_json::<NodesFile>(&dir.join(NODES_FILE))? {
        NodesFile::Geth(map) => map.into_values().map(|n| n.record).collect(),
        NodesFile::Ours(list) => list.into_iter().filter_map(|n| n.enr).collect(),
    };
    let records = texts
        .iter()
        .map(|t| t.parse::<Enr>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((info, records))
}

fn parse_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CliError> {
    let text = read_small_file(path, MAX_DEFINITION_FILE_BYTES)?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Definition(format!("{}: {e}", path.display())))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, CliError> {
    // go-ethereum indents with four spaces.
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value
        .serialize(&mut ser)
        .map_err(|e| CliError::Definition(e.to_string()))?;
    Ok(String::from_utf8(buf).unwrap_or_default() + "\n")
}

fn write_out(path: Option<&Path>, text: &str) -> Result<(), CliError> {
    match path {
        Some(p) if p != Path::new("-") => std::fs::write(p, text).map_err(|source| CliError::Io {
            path: p.to_path_buf(),
            source,
        }),
        _ => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Writes `enrtree-info.json` and `nodes.json` (go-ethereum's object form).
fn write_definition(dir: &Path, info: &TreeInfo, tree: &Tree) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let nodes: BTreeMap<String, GethNode> = tree
        .records()
        .into_iter()
        .map(|r| {
            (
                // go-ethereum's node id: keccak256 of the public key.
                hex::encode(r.node_id().hash()),
                GethNode {
                    seq: r.seq(),
                    record: r.to_string(),
                },
            )
        })
        .collect();
    write_out(Some(&dir.join(INFO_FILE)), &to_json(info)?)?;
    write_out(Some(&dir.join(NODES_FILE)), &to_json(&nodes)?)
}
