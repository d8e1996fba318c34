//! The `eth` versions this example speaks and their Status message: the
//! two layouts, encoding (derived per layout) and strict decoding whose
//! errors name the bad field.

use std::fmt;

use devp2p::alloy_rlp::{self, Decodable, Encodable, Header, RlpEncodable};

use super::forkid::ForkId;

/// eth/68: Status carries total difficulty and head hash (EIP-2124 fork id
/// since eth/64). go-ethereum v1.17.10 no longer speaks it (it has eth/69 to
/// eth/72 there), but other clients still speak it.
pub const ETH68: u32 = 68;
/// eth/69 (EIP-7642): Status carries the served block range instead of
/// total difficulty; adds BlockRangeUpdate (0x11).
pub const ETH69: u32 = 69;

/// Status is message code 0x00 in every `eth` version.
pub const STATUS_MSG: u64 = 0x00;

/// A 32-byte block hash.
pub type Hash = [u8; 32];

/// A hash shown as 0x-prefixed hex in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexHash(pub Hash);

impl fmt::Display for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// The Status message, first message of every `eth` session (code 0x00).
///
/// - eth/68: `[version, networkid, td, blockhash, genesis, forkid]`
/// - eth/69: `[version, networkid, genesis, forkid, earliest, latest, latesthash]`
///
/// (eth/69 layout: go-ethereum v1.17.10 `StatusPacket`; eth/68: the devp2p
/// `eth` spec.) Fields common to both are plain fields here; the
/// version-specific head information is [`Head`]. Encoding
/// ([`alloy_rlp::Encodable`]) follows `head`'s version; decoding needs the
/// negotiated version, so it is [`Status::decode`], not `Decodable`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Protocol version; must equal the negotiated one.
    pub version: u32,
    /// Network id (not the chain id, though often equal).
    pub network_id: u64,
    /// Genesis block hash.
    pub genesis: Hash,
    /// EIP-2124 fork id.
    pub fork_id: ForkId,
    /// What the sender says about its chain head.
    pub head: Head,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "eth/{} network {} genesis {} fork id {}",
            self.version,
            self.network_id,
            HexHash(self.genesis),
            self.fork_id
        )?;
        match &self.head {
            Head::TotalDifficulty { td, hash } => write!(f, " td {td} head {}", HexHash(*hash)),
            Head::BlockRange {
                earliest,
                latest,
                latest_hash,
            } => write!(
                f,
                " blocks {earliest}..={latest} latest {}",
                HexHash(*latest_hash)
            ),
        }
    }
}

/// The version-specific part of [`Status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// eth/68: total difficulty and hash of the best block. Since the Merge
    /// the difficulty no longer changes (mainnet's final total difficulty,
    /// 5.875 × 10^22, needs 76 bits; a remote value above 128 bits is
    /// rejected as malformed).
    TotalDifficulty {
        /// Total difficulty of the best block.
        td: u128,
        /// Best block hash.
        hash: Hash,
    },
    /// eth/69: the range of blocks the sender serves.
    BlockRange {
        /// Oldest block the sender has bodies and receipts for.
        earliest: u64,
        /// Its latest block.
        latest: u64,
        /// Hash of the latest block (never zero).
        latest_hash: Hash,
    },
}

/// Why a Status payload does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The payload is not one RLP list.
    #[error("Status is not an RLP list")]
    NotAList,
    /// Bytes follow the list.
    #[error("{0} bytes after the Status list")]
    TrailingBytes(usize),
    /// The list is too short for the version's layout.
    #[error("Status has {got} fields, eth/{version} needs {want}")]
    TooFewFields {
        /// Negotiated version.
        version: u32,
        /// Fields present.
        got: usize,
        /// Fields the layout has.
        want: usize,
    },
    /// One field is malformed.
    #[error("Status field {field}: {error}")]
    Field {
        /// Field name (as in the spec).
        field: &'static str,
        /// RLP error.
        error: alloy_rlp::Error,
    },
    /// This example speaks only eth/68 and eth/69.
    #[error("eth/{0} is not supported here (68 or 69)")]
    UnsupportedVersion(u32),
}

/// The eth/68 Status on the wire, field for field ([`STATUS68_FIELDS`]).
#[derive(RlpEncodable)]
struct Status68 {
    version: u32,
    network_id: u64,
    td: u128,
    blockhash: Hash,
    genesis: Hash,
    fork_id: ForkId,
}

/// The eth/69 Status on the wire, field for field ([`STATUS69_FIELDS`]).
#[derive(RlpEncodable)]
struct Status69 {
    version: u32,
    network_id: u64,
    genesis: Hash,
    fork_id: ForkId,
    earliest: u64,
    latest: u64,
    latest_hash: Hash,
}

/// Field names of the eth/68 Status, in order (the devp2p spec's).
const STATUS68_FIELDS: &[&str] = &[
    "version",
    "networkid",
    "td",
    "blockhash",
    "genesis",
    "forkid",
];
/// Field names of the eth/69 Status, in order.
const STATUS69_FIELDS: &[&str] = &[
    "version",
    "networkid",
    "genesis",
    "forkid",
    "earliest",
    "latest",
    "latesthash",
];

/// Runs `f` on the wire layout of `status` (chosen by its [`Head`]).
fn with_layout<R>(status: &Status, f: impl FnOnce(&dyn Encodable) -> R) -> R {
    match status.head {
        Head::TotalDifficulty { td, hash } => f(&Status68 {
            version: status.version,
            network_id: status.network_id,
            td,
            blockhash: hash,
            genesis: status.genesis,
            fork_id: status.fork_id,
        }),
        Head::BlockRange {
            earliest,
            latest,
            latest_hash,
        } => f(&Status69 {
            version: status.version,
            network_id: status.network_id,
            genesis: status.genesis,
            fork_id: status.fork_id,
            earliest,
            latest,
            latest_hash,
        }),
    }
}

impl Encodable for Status {
    /// RLP encoding, in the layout of `self.head`'s version.
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        with_layout(self, |layout| layout.encode(out))
    }

    fn length(&self) -> usize {
        with_layout(self, |layout| layout.length())
    }
}

impl Status {
    /// Decodes a Status received on an `eth/version` session. Strict like
    /// every RLP read here (canonical lengths and integers, integers no
    /// wider than their field, hashes of exactly 32 bytes), except that
    /// extra trailing fields are ignored (forward compatibility, as devp2p
    /// asks).
    pub fn decode(version: u32, payload: &[u8]) -> Result<Status, StatusError> {
        let mut rest = payload;
        let header = Header::decode(&mut rest).map_err(|_| StatusError::NotAList)?;
        if !header.list {
            return Err(StatusError::NotAList);
        }
        let (body, trailing) = rest
            .split_at_checked(header.payload_length)
            .ok_or(StatusError::NotAList)?;
        if !trailing.is_empty() {
            return Err(StatusError::TrailingBytes(trailing.len()));
        }
        let names = match version {
            ETH68 => STATUS68_FIELDS,
            ETH69 => STATUS69_FIELDS,
            v => return Err(StatusError::UnsupportedVersion(v)),
        };
        let f = Fields::split(version, body, names)?;
        Ok(match version {
            ETH68 => Status {
                version: f.get(0)?,
                network_id: f.get(1)?,
                head: Head::TotalDifficulty {
                    td: f.get(2)?,
                    hash: f.get(3)?,
                },
                genesis: f.get(4)?,
                fork_id: f.get(5)?,
            },
            _ => Status {
                version: f.get(0)?,
                network_id: f.get(1)?,
                genesis: f.get(2)?,
                fork_id: f.get(3)?,
                head: Head::BlockRange {
                    earliest: f.get(4)?,
                    latest: f.get(5)?,
                    latest_hash: f.get(6)?,
                },
            },
        })
    }
}

/// The first fields of a Status list, one encoded item each; errors name
/// the field.
struct Fields<'a> {
    items: Vec<&'a [u8]>,
    names: &'static [&'static str],
}

impl<'a> Fields<'a> {
    /// Splits the list payload `body` into its first `names.len()` items.
    fn split(
        version: u32,
        body: &'a [u8],
        names: &'static [&'static str],
    ) -> Result<Self, StatusError> {
        let mut items = Vec::with_capacity(names.len());
        let mut rest = body;
        for &field in names {
            if rest.is_empty() {
                break;
            }
            let bad = |error| StatusError::Field { field, error };
            let start = rest;
            let header = Header::decode(&mut rest).map_err(bad)?;
            // Header::decode checked that the item's payload is there.
            let len = start.len() - rest.len() + header.payload_length;
            let (item, after) = start
                .split_at_checked(len)
                .ok_or_else(|| bad(alloy_rlp::Error::InputTooShort))?;
            items.push(item);
            rest = after;
        }
        if items.len() < names.len() {
            let (got, want) = (items.len(), names.len());
            return Err(StatusError::TooFewFields { version, got, want });
        }
        Ok(Fields { items, names })
    }

    /// Field `i`, decoded as a `T` that must fill the whole item.
    fn get<T: Decodable>(&self, i: usize) -> Result<T, StatusError> {
        let field = self.names.get(i).copied().unwrap_or("?");
        let item = self.items.get(i).copied().unwrap_or_default();
        alloy_rlp::decode_exact(item).map_err(|error| StatusError::Field { field, error })
    }
}

#[cfg(test)]
mod tests {
    use super::super::chain::tests::chain;
    use super::*;

    /// Number of elements of the RLP list `bytes`.
    fn item_count(bytes: &[u8]) -> usize {
        match Header::decode_raw(&mut &bytes[..]) {
            Ok(alloy_rlp::PayloadView::List(items)) => items.len(),
            other => panic!("not a list: {other:?}"),
        }
    }

    /// The test chain's eth/69 Status, built field by field with
    /// `network_id` and `genesis` already encoded and `extra` fields after.
    fn eth69(network_id: &[u8], genesis: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut fields = alloy_rlp::encode(69u32);
        fields.extend_from_slice(network_id);
        fields.extend_from_slice(genesis);
        chain().fork_id().encode(&mut fields);
        0u64.encode(&mut fields);
        0u64.encode(&mut fields);
        [7u8; 32].encode(&mut fields);
        fields.extend_from_slice(extra);
        let mut out = Vec::new();
        let payload_length = fields.len();
        Header {
            list: true,
            payload_length,
        }
        .encode(&mut out);
        out.extend_from_slice(&fields);
        out
    }

    #[test]
    fn status_layouts_round_trip() {
        let c = chain();
        let s68 = c.status(ETH68).unwrap();
        let s69 = c.status(ETH69).unwrap();
        let (e68, e69) = (alloy_rlp::encode(&s68), alloy_rlp::encode(&s69));
        // eth/68: [68, 1337, 0, head, genesis, forkid]; eth/69: seven fields.
        assert_eq!(item_count(&e68), 6);
        assert_eq!(item_count(&e69), 7);
        assert_eq!(item_count(&e68), STATUS68_FIELDS.len());
        assert_eq!(item_count(&e69), STATUS69_FIELDS.len());
        assert_eq!(s69.length(), e69.len());
        assert_eq!(Status::decode(ETH68, &e68), Ok(s68.clone()));
        assert_eq!(Status::decode(ETH69, &e69), Ok(s69.clone()));
        assert!(c.check(ETH68, &s68).is_ok());
        assert!(c.check(ETH69, &s69).is_ok());
        // The eth/69 encoding, field by field.
        let want = eth69(
            &alloy_rlp::encode(1337u64),
            &alloy_rlp::encode([7u8; 32]),
            &[],
        );
        assert_eq!(e69, want);
    }

    #[test]
    fn malformed_status_is_an_error_naming_the_field() {
        let c = chain();
        let good = alloy_rlp::encode(c.status(ETH69).unwrap());
        assert_eq!(Status::decode(ETH69, &[0x80]), Err(StatusError::NotAList));
        assert_eq!(Status::decode(ETH69, &[]), Err(StatusError::NotAList));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Status::decode(ETH69, &trailing),
            Err(StatusError::TrailingBytes(1))
        );
        // An eth/69 Status read as eth/68 puts the genesis hash where the
        // total difficulty goes: 32 bytes do not fit in 128 bits.
        assert!(matches!(
            Status::decode(ETH68, &good),
            Err(StatusError::Field { field: "td", .. })
        ));
        let short = alloy_rlp::encode(vec![69u64, 1337]);
        assert_eq!(
            Status::decode(ETH69, &short),
            Err(StatusError::TooFewFields {
                version: 69,
                got: 2,
                want: 7
            })
        );
        let bad_hash = eth69(
            &alloy_rlp::encode(1337u64),
            &alloy_rlp::encode([7u8; 31]),
            &[],
        );
        assert!(matches!(
            Status::decode(ETH69, &bad_hash),
            Err(StatusError::Field {
                field: "genesis",
                ..
            })
        ));
        assert_eq!(
            Status::decode(70, &good),
            Err(StatusError::UnsupportedVersion(70))
        );
    }

    /// Non-canonical or too wide values are errors naming the field, as is
    /// a truncated list; extra fields after the layout are ignored.
    #[test]
    fn decoding_is_strict_but_ignores_extra_fields() {
        let genesis = alloy_rlp::encode([7u8; 32]);
        let extra = eth69(&[0x82, 0x05, 0x39], &genesis, &[0x83, 1, 2, 3]);
        assert_eq!(Status::decode(ETH69, &extra), chain().status(ETH69));
        for network_id in [
            &[0x83, 0x00, 0x05, 0x39][..],      // leading zero
            &[0x81, 0x05],                      // one byte below 0x80 as a string
            &[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], // 9 bytes
            &[0xc0],                            // a list
        ] {
            let got = Status::decode(ETH69, &eth69(network_id, &genesis, &[]));
            let field = match got {
                Err(StatusError::Field { field, .. }) => field,
                _ => panic!("{network_id:?}: {got:?}"),
            };
            assert_eq!(field, "networkid");
        }
        let mut cut = eth69(&[0x82, 0x05, 0x39], &genesis, &[]);
        cut.pop();
        assert_eq!(Status::decode(ETH69, &cut), Err(StatusError::NotAList));
    }
}
