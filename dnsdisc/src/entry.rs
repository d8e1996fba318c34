//! Tree entries (EIP-1459 "DNS Record Structure"): their text forms, parsing
//! and hashing, and the `enrtree://` URL that names a tree.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use data_encoding::BASE32_NOPAD;
use devp2p_identity::{keccak256, Enr};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SecretKey};

use crate::EntryError;

/// Prefix of the root entry (EIP-1459).
pub const ROOT_PREFIX: &str = "enrtree-root:v1";
/// Prefix of a link entry and of a tree URL (EIP-1459).
pub const LINK_PREFIX: &str = "enrtree://";
/// Prefix of a branch entry (EIP-1459).
pub const BRANCH_PREFIX: &str = "enrtree-branch:";
/// Prefix of a node record leaf (EIP-778's text form).
pub const ENR_PREFIX: &str = "enr:";

/// Bytes of keccak256 kept in a subdomain name (EIP-1459 "abbreviated";
/// go-ethereum's `hashAbbrev`): 16 bytes, 26 base32 characters.
pub const HASH_ABBREV_LEN: usize = 16;
/// Shortest hash accepted in a reference, in bytes (go-ethereum's
/// `minHashLength`, 12); longer prefixes are checked in full.
pub const MIN_HASH_LEN: usize = 12;
/// Longest hash accepted in a reference, in bytes (all of keccak256).
pub const MAX_HASH_LEN: usize = 32;
/// Children per branch when building a tree: 13, go-ethereum's
/// `maxChildren` (370 bytes of hashes at 27 bytes each, comma included),
/// so a branch stays well inside one 512-byte UDP DNS answer. Using the
/// same fan-out makes our trees hash-identical to go-ethereum's.
pub const MAX_BRANCH_CHILDREN: usize = 13;
/// Largest TXT record accepted or produced, in bytes: EIP-1459 says every
/// entry should fit the 512-byte limit of UDP DNS messages; the largest
/// valid entry (a 300-byte ENR is 404 characters) fits.
pub const MAX_TXT_LEN: usize = 512;
/// Length of the root signature: secp256k1 r ‖ s ‖ recovery id (EIP-1459).
pub const SIGNATURE_LEN: usize = 65;
/// Longest domain name in a link, in characters (RFC 1035: 253 in text form).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest label of a domain name, in characters (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Characters of a `sig=` value: unpadded base64 of [`SIGNATURE_LEN`] bytes.
const SIGNATURE_TEXT_LEN: usize = (SIGNATURE_LEN * 4).div_ceil(3);
/// Bytes of a compressed secp256k1 public key (SEC 1).
const COMPRESSED_KEY_LEN: usize = 33;
/// Characters of a link's key: unpadded base32 of [`COMPRESSED_KEY_LEN`] bytes.
const KEY_TEXT_LEN: usize = (COMPRESSED_KEY_LEN * 8).div_ceil(5);
/// Characters of untrusted text quoted in an error message, at most.
pub(crate) const QUOTE_LEN: usize = 64;
/// Characters of an unknown entry's start quoted in its error.
const PREFIX_QUOTE_LEN: usize = 16;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A reference to an entry: the base32 (no padding) of a keccak256 prefix
/// of the entry's text, which is also its subdomain label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash(String);

impl EntryHash {
    /// The hash of an entry's text, abbreviated to [`HASH_ABBREV_LEN`] bytes.
    pub fn of_text(text: &str) -> Self {
        EntryHash(BASE32_NOPAD.encode(&keccak256(text.as_bytes())[..HASH_ABBREV_LEN]))
    }

    /// The subdomain label (base32 text).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` hashes to this reference (its keccak256 starts with
    /// the decoded bytes).
    pub fn matches(&self, text: &str) -> bool {
        let want = BASE32_NOPAD
            .decode(self.0.as_bytes())
            .expect("validated at construction");
        keccak256(text.as_bytes()).starts_with(&want)
    }
}

impl FromStr for EntryHash {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Longest valid form: base32 of MAX_HASH_LEN bytes (52 characters).
        if s.len() > BASE32_NOPAD.encode_len(MAX_HASH_LEN) {
            return Err(EntryError::bad_hash(s));
        }
        let bytes = BASE32_NOPAD
            .decode(s.as_bytes())
            .map_err(|_| EntryError::bad_hash(s))?;
        if bytes.len() < MIN_HASH_LEN {
            return Err(EntryError::bad_hash(s));
        }
        Ok(EntryHash(s.to_owned()))
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The root entry: where the node and link subtrees start, the tree's
/// sequence number and the signature over all of it.
#[derive(Clone, PartialEq, Eq)]
pub struct RootEntry {
    /// Root hash of the node record subtree (`e=`).
    pub enr_root: EntryHash,
    /// Root hash of the link subtree (`l=`).
    pub link_root: EntryHash,
    /// Update sequence number (`seq=`).
    pub seq: u64,
    /// secp256k1 signature over keccak256 of [`RootEntry::signed_text`]
    /// (`sig=`); all zero before signing.
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for RootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl RootEntry {
    /// The text the signature covers: the entry without ` sig=…`.
    pub fn signed_text(&self) -> String {
        format!(
            "{ROOT_PREFIX} e={} l={} seq={}",
            self.enr_root, self.link_root, self.seq
        )
    }

    /// Signs the entry with `key` (recoverable signature, as go-ethereum).
    pub fn sign(&mut self, key: &SecretKey) {
        let msg = Message::from_digest(keccak256(self.signed_text().as_bytes()));
        let (recid, compact) =
            secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, key)
                .serialize_compact();
        self.signature[..64].copy_from_slice(&compact);
        self.signature[64] = recid.to_u8();
    }

    /// Whether the signature verifies against `key` (low-S only, as
    /// libsecp256k1 and go-ethereum).
    pub fn verify(&self, key: &PublicKey) -> bool {
        let Ok(sig) = Signature::from_compact(&self.signature[..64]) else {
            return false;
        };
        let msg = Message::from_digest(keccak256(self.signed_text().as_bytes()));
        secp256k1::ecdsa::verify(&sig, msg, key).is_ok()
    }

    /// The signature as unpadded URL-safe base64 (the `sig=` value).
    pub fn signature_text(&self) -> String {
        B64.encode(self.signature)
    }

    /// Decodes a `sig=` value.
    pub fn decode_signature(text: &str) -> Result<[u8; SIGNATURE_LEN], EntryError> {
        // Refuse other lengths before decoding.
        if text.len() != SIGNATURE_TEXT_LEN {
            return Err(EntryError::BadSignatureEncoding);
        }
        let bytes = B64
            .decode(text)
            .map_err(|_| EntryError::BadSignatureEncoding)?;
        bytes
            .try_into()
            .map_err(|_| EntryError::BadSignatureEncoding)
    }
}

impl fmt::Display for RootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sig={}", self.signed_text(), self.signature_text())
    }
}

impl FromStr for RootEntry {
    type Err = EntryError;

    /// Parses (does not verify) a root entry.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_len(s)?;
        let mut parts = s.split(' ');
        if parts.next() != Some(ROOT_PREFIX) {
            return Err(EntryError::RootSyntax(
                "does not start with enrtree-root:v1",
            ));
        }
        let mut field = |name: &'static str, err: &'static str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .ok_or(EntryError::RootSyntax(err))
        };
        let e = field("e=", "missing e=<hash>")?;
        let l = field("l=", "missing l=<hash>")?;
        let seq = field("seq=", "missing seq=<number>")?;
        let sig = field("sig=", "missing sig=<signature>")?;
        if parts.next().is_some() {
            return Err(EntryError::RootSyntax("text after sig="));
        }
        Ok(RootEntry {
            enr_root: e.parse()?,
            link_root: l.parse()?,
            seq: seq
                .parse()
                .map_err(|_| EntryError::RootSyntax("seq is not a decimal u64"))?,
            signature: RootEntry::decode_signature(sig)?,
        })
    }
}

/// The location of a tree: `enrtree://<base32 compressed public key>@<domain>`.
/// Also the link entry's text. Serialises (serde) as that text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TreeUrl {
    domain: String,
    public_key: PublicKey,
}

impl TreeUrl {
    /// The URL of the tree at `domain` signed by `public_key`.
    pub fn new(domain: &str, public_key: PublicKey) -> Result<Self, EntryError> {
        check_domain(domain)?;
        Ok(TreeUrl {
            domain: domain.to_owned(),
            public_key,
        })
    }

    /// The DNS name of the root.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The key the root must be signed with.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
}

impl fmt::Display for TreeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}{}@{}",
            BASE32_NOPAD.encode(&self.public_key.serialize()),
            self.domain
        )
    }
}

impl fmt::Debug for TreeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for TreeUrl {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_len(s)?;
        let rest = s
            .strip_prefix(LINK_PREFIX)
            .ok_or(EntryError::NotEnrtreeUrl)?;
        let (key, domain) = rest.split_once('@').ok_or(EntryError::MissingPublicKey)?;
        if key.len() != KEY_TEXT_LEN {
            return Err(EntryError::BadPublicKey);
        }
        let bytes = BASE32_NOPAD
            .decode(key.as_bytes())
            .map_err(|_| EntryError::BadPublicKey)?;
        let public_key = PublicKey::from_slice(&bytes).map_err(|_| EntryError::BadPublicKey)?;
        TreeUrl::new(domain, public_key)
    }
}

impl serde::Serialize for TreeUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TreeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A non-root tree entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `enrtree-branch:<h₁>,…`: references to further entries.
    Branch(Vec<EntryHash>),
    /// `enrtree://…`: a link to another tree (link subtree only).
    Link(TreeUrl),
    /// `enr:…`: a verified node record (node subtree only).
    Enr(Enr),
}

impl Entry {
    /// The subdomain label of this entry.
    pub fn hash(&self) -> EntryHash {
        EntryHash::of_text(&self.to_string())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Branch(children) => {
                f.write_str(BRANCH_PREFIX)?;
                for (i, c) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(c.as_str())?;
                }
                Ok(())
            }
            Entry::Link(url) => fmt::Display::fmt(url, f),
            Entry::Enr(enr) => fmt::Display::fmt(enr, f),
        }
    }
}

impl FromStr for Entry {
    type Err = EntryError;

    /// Parses a non-root entry; node records are verified (signature,
    /// size), hashes are not (the caller knows the name it came from).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_len(s)?;
        if let Some(rest) = s.strip_prefix(BRANCH_PREFIX) {
            if rest.is_empty() {
                return Ok(Entry::Branch(Vec::new()));
            }
            let children = rest
                .split(',')
                .map(|c| {
                    if c.is_empty() {
                        Err(EntryError::EmptyChild)
                    } else {
                        c.parse()
                    }
                })
                .collect::<Result<Vec<EntryHash>, _>>()?;
            Ok(Entry::Branch(children))
        } else if s.starts_with(LINK_PREFIX) {
            Ok(Entry::Link(s.parse()?))
        } else if s.starts_with(ENR_PREFIX) {
            Ok(Entry::Enr(s.parse()?))
        } else {
            Err(EntryError::UnknownEntry {
                prefix: s.chars().take(PREFIX_QUOTE_LEN).collect(),
            })
        }
    }
}

fn check_len(s: &str) -> Result<(), EntryError> {
    if s.len() > MAX_TXT_LEN {
        return Err(EntryError::TooLong {
            len: s.len(),
            max: MAX_TXT_LEN,
        });
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EntryError> {
    let bad = |reason| EntryError::BadDomain {
        domain: domain.chars().take(QUOTE_LEN).collect(),
        reason,
    };
    if domain.is_empty() {
        return Err(bad("empty"));
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(bad("longer than 253 characters"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(bad("label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("character other than letters, digits, '-', '_'"));
        }
    }
    Ok(())
}
