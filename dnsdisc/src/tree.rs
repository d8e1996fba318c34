//! [`Tree`]: a signed set of node records and links laid out as EIP-1459
//! entries, built the way go-ethereum builds it (records sorted by node id,
//! [`MAX_BRANCH_CHILDREN`] per branch), so the same input gives the same
//! hashes in both.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use devp2p_identity::Enr;
use secp256k1::{PublicKey, SecretKey};

use crate::entry::{Entry, EntryHash, RootEntry, TreeUrl, MAX_BRANCH_CHILDREN, SIGNATURE_LEN};
use crate::EntryError;

/// Longest character-string in a DNS TXT record, in bytes (RFC 1035
/// 3.3.14: a length byte then data); longer texts are split in zone files.
pub const TXT_STRING_LEN: usize = 255;

/// A node list as a merkle tree of entries plus its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    root: RootEntry,
    /// Every non-root entry by its subdomain label.
    entries: BTreeMap<EntryHash, Entry>,
}

impl Tree {
    /// Builds the (unsigned) tree of `records` and `links` with sequence
    /// number `seq`. Records are sorted by node id (go-ethereum's: keccak256
    /// of the public key) and deduplicated.
    pub fn new(seq: u64, records: Vec<Enr>, links: Vec<TreeUrl>) -> Tree {
        let mut records = records;
        records.sort_by_key(|r| r.node_id().hash());
        records.dedup_by_key(|r| r.node_id().hash());
        let mut entries = BTreeMap::new();
        let enr_root = build(&mut entries, records.into_iter().map(Entry::Enr).collect());
        let link_root = build(&mut entries, links.into_iter().map(Entry::Link).collect());
        let enr_hash = enr_root.hash();
        let link_hash = link_root.hash();
        entries.insert(enr_hash.clone(), enr_root);
        entries.insert(link_hash.clone(), link_root);
        Tree {
            root: RootEntry {
                enr_root: enr_hash,
                link_root: link_hash,
                seq,
                signature: [0; SIGNATURE_LEN],
            },
            entries,
        }
    }

    /// Assembles a tree from a root and its entries (as resolved by the
    /// client, which has checked every hash).
    pub(crate) fn from_parts(root: RootEntry, entries: BTreeMap<EntryHash, Entry>) -> Tree {
        Tree { root, entries }
    }

    /// Signs the root with `key` and returns the tree's URL at `domain`.
    pub fn sign(&mut self, key: &SecretKey, domain: &str) -> Result<TreeUrl, EntryError> {
        let url = TreeUrl::new(domain, PublicKey::from_secret_key(key))?;
        self.root.sign(key);
        Ok(url)
    }

    /// Sets a signature made elsewhere (`sig=` text, e.g. from
    /// `enrtree-info.json`) after checking it against `key`; returns whether
    /// it verified (the tree is unchanged when not).
    pub fn set_signature(&mut self, key: &PublicKey, signature: &str) -> Result<bool, EntryError> {
        let mut root = self.root.clone();
        root.signature = RootEntry::decode_signature(signature)?;
        if !root.verify(key) {
            return Ok(false);
        }
        self.root = root;
        Ok(true)
    }

    /// The root entry.
    pub fn root(&self) -> &RootEntry {
        &self.root
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.root.seq
    }

    /// The node records, sorted by node id (keccak256 of the public key).
    pub fn records(&self) -> Vec<Enr> {
        let mut v: Vec<Enr> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Enr(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        v.sort_by_key(|r| r.node_id().hash());
        v
    }

    /// The links to other trees, sorted by text.
    pub fn links(&self) -> Vec<TreeUrl> {
        let mut v: Vec<TreeUrl> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Link(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        v.sort_by_key(|l| l.to_string());
        v
    }

    /// The TXT records of the tree under `domain`: the root at `domain`,
    /// every entry at `<hash>.<domain>` (go-ethereum's `ToTXT`; an empty
    /// domain gives bare hashes and the root under "").
    pub fn to_txt(&self, domain: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(domain.to_owned(), self.root.to_string());
        for (hash, entry) in &self.entries {
            let name = if domain.is_empty() {
                hash.to_string()
            } else {
                format!("{hash}.{domain}")
            };
            out.insert(name, entry.to_string());
        }
        out
    }

    /// A zone file (RFC 1035 master file) serving the tree at `domain`:
    /// SOA and NS for the zone (name server `ns.<domain>` at 127.0.0.1, for
    /// tests and local servers) and every TXT record, texts split into
    /// [`TXT_STRING_LEN`]-byte character-strings. Root TTL `root_ttl`,
    /// entries `entry_ttl` (seconds).
    pub fn to_zone(&self, domain: &str, root_ttl: u32, entry_ttl: u32) -> String {
        let mut z = String::new();
        let _ = writeln!(z, "$ORIGIN {domain}.");
        let _ = writeln!(
            z,
            "@ {root_ttl} IN SOA ns.{domain}. hostmaster.{domain}. {} 3600 600 86400 {root_ttl}",
            self.root.seq.min(u64::from(u32::MAX))
        );
        let _ = writeln!(z, "@ {root_ttl} IN NS ns.{domain}.");
        let _ = writeln!(z, "ns {root_ttl} IN A 127.0.0.1");
        let _ = writeln!(
            z,
            "@ {root_ttl} IN TXT {}",
            zone_strings(&self.root.to_string())
        );
        for (hash, entry) in &self.entries {
            let _ = writeln!(
                z,
                "{hash} {entry_ttl} IN TXT {}",
                zone_strings(&entry.to_string())
            );
        }
        z
    }
}

/// `text` as quoted zone-file character-strings of at most [`TXT_STRING_LEN`] bytes.
fn zone_strings(text: &str) -> String {
    let mut out = String::new();
    for (i, chunk) in text.as_bytes().chunks(TXT_STRING_LEN).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in chunk {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(b as char);
        }
        out.push('"');
    }
    out
}

/// Lays `leaves` out under one entry (go-ethereum's layout): one leaf is
/// its own root; up to [`MAX_BRANCH_CHILDREN`] hang off one branch; more
/// are grouped into subtrees of that size, recursively.
fn build(entries: &mut BTreeMap<EntryHash, Entry>, leaves: Vec<Entry>) -> Entry {
    if leaves.len() == 1 {
        return leaves.into_iter().next().expect("one leaf");
    }
    if leaves.len() <= MAX_BRANCH_CHILDREN {
        let mut hashes = Vec::with_capacity(leaves.len());
        for e in leaves {
            let h = e.hash();
            hashes.push(h.clone());
            entries.insert(h, e);
        }
        return Entry::Branch(hashes);
    }
    let mut subtrees = Vec::new();
    let mut rest = leaves;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(MAX_BRANCH_CHILDREN));
        let sub = build(entries, rest);
        entries.insert(sub.hash(), sub.clone());
        subtrees.push(sub);
        rest = tail;
    }
    build(entries, subtrees)
}
