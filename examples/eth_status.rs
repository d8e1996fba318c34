//! A real Ethereum session: join a go-ethereum node on the `eth` protocol,
//! exchange the Status handshake, check the node is on our chain, then stay
//! connected without serving anything.
//!
//! Run against a local geth (see README.md, "Ethereum session example"):
//!
//! ```text
//! cargo run --example eth_status -- 'enode://…@127.0.0.1:30303' \
//!     --network-id 1337 --genesis 0x<genesis hash> [--eth 69] [--seconds 30]
//! ```
//!
//! What happens, layer by layer:
//!
//! 1. Our [`Server`] dials the node: RLPx handshake, then the `p2p` Hello in
//!    which both sides list their capabilities. We offer `eth` in the
//!    versions asked for (`--eth`); the highest version both sides know is
//!    run, every other one is ignored.
//! 2. The negotiated `eth` protocol's first message, in both directions, is
//!    Status (code 0x00). Its layout depends on the version (see [`Status`]).
//!    go-ethereum sends its Status at once and drops the peer if ours does not
//!    arrive within 5 s ([`HANDSHAKE_TIMEOUT`]); we check theirs before
//!    sending ours, so that on a mismatch we can tell why ([`handshake`]).
//! 3. We check their Status as go-ethereum checks ours: same protocol
//!    version, network id and genesis hash, and a compatible EIP-2124 fork id
//!    ([`ForkSchedule::validate`]).
//! 4. Then we idle: read and ignore every further message. go-ethereum does
//!    not require anything else from an idle `eth` peer: the only liveness
//!    requirement is below `eth`, in the base protocol (a connection silent
//!    for 30 s is dropped, p2p/server.go `frameReadTimeout`; both sides ping
//!    every 15 s and answer pings, which the library does for us). Its
//!    random peer dropper spares peers younger than 10 minutes
//!    (eth/dropper.go), and it asks nothing of a peer unless it syncs from
//!    it (which needs a consensus client) or runs with
//!    `--eth.requiredblocks`.
//!
//! The pieces are public functions so the go-ethereum interop test
//! (`tests/interop_geth/eth_status.rs`) runs exactly this code.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use devp2p::node::{Node, NodeId};
use devp2p::{
    Config, MsgError, MsgReader, MsgWriter, PeerEventKind, Protocol, ProtocolError, Server,
    ServerError,
};
use futures::StreamExt;
use rlp::{DecoderError, Rlp, RlpStream};
use secp256k1::SecretKey;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// Protocol constants
// ---------------------------------------------------------------------------

/// The protocol's name in Hello.
pub const ETH: &str = "eth";
/// eth/68: Status carries total difficulty and head hash (EIP-2124 fork id
/// since eth/64). go-ethereum v1.17.10 no longer speaks it (it has eth/69 to
/// eth/72 there), but other clients still speak it.
pub const ETH68: u32 = 68;
/// eth/69 (EIP-7642): Status carries the served block range instead of
/// total difficulty; adds BlockRangeUpdate (0x11).
pub const ETH69: u32 = 69;

/// Message-space length of eth/68, in message codes: 0x00 Status to 0x10
/// Receipts (the devp2p `eth` spec; go-ethereum's `protocolLengths` had
/// `ETH68: 17` while it supported eth/68).
pub const ETH68_LENGTH: u64 = 17;
/// Message-space length of eth/69: eth/68's codes plus 0x11
/// BlockRangeUpdate (go-ethereum v1.17.10 eth/protocols/eth/protocol.go,
/// `protocolLengths`: `ETH69: 18`).
pub const ETH69_LENGTH: u64 = 18;

/// Status is message code 0x00 in every `eth` version.
pub const STATUS_MSG: u64 = 0x00;

/// How long we wait for the remote Status, in seconds: go-ethereum's
/// `handshakeTimeout` (eth/protocols/eth/handshake.go) is 5 s on its side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long we wait for the remote Status before sending ours anyway, in
/// seconds (see [`handshake`]): go-ethereum sends its Status within
/// milliseconds, and 1 s leaves 4 s of its 5 s [`HANDSHAKE_TIMEOUT`] for ours.
pub const STATUS_GRACE: Duration = Duration::from_secs(1);

/// Largest Status we accept, in bytes: go-ethereum's `maxMessageSize` for
/// every `eth` message (10 MiB; a real Status is under 200 bytes).
pub const MAX_STATUS_SIZE: u32 = 10 * 1024 * 1024;

/// How long [`connect`] waits for the eth session, in seconds: our dial
/// timeout ([`devp2p::config::DEFAULT_DIAL_TIMEOUT`], 15 s) plus the 5 s
/// Status exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connections our server allows, in peers: just the node we dial.
pub const MAX_PEERS: usize = 1;

/// How often [`connect`] looks at the server's dial statistics for a
/// failed connection setup, in milliseconds: a tenth of a second is
/// immediate for a human and costs nothing (an atomic snapshot).
pub const SETUP_POLL: Duration = Duration::from_millis(100);

/// EIP-2124 fork ids compare a remote `next` with our head's timestamp when
/// it is above this value (mainnet's genesis timestamp, go-ethereum's
/// `timestampThreshold` in core/forkid/forkid.go): block numbers never get
/// that large, timestamps always are.
pub const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// The message-space length of an `eth` version this example speaks.
pub fn protocol_length(version: u32) -> Option<u64> {
    match version {
        ETH68 => Some(ETH68_LENGTH),
        ETH69 => Some(ETH69_LENGTH),
        _ => None,
    }
}

/// A 32-byte block hash.
pub type Hash = [u8; 32];

// ---------------------------------------------------------------------------
// EIP-2124 fork identifier
// ---------------------------------------------------------------------------

/// An EIP-2124 fork id: CRC32 of the genesis hash and every passed fork,
/// and the next scheduled fork (block or timestamp; 0 if none).
/// RLP: `[hash: B_4, next: P]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkId {
    /// FORK_HASH: big-endian CRC32.
    pub hash: [u8; 4],
    /// FORK_NEXT.
    pub next: u64,
}

impl fmt::Display for ForkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{hash: 0x{}, next: {}}}",
            hex::encode(self.hash),
            self.next
        )
    }
}

impl rlp::Encodable for ForkId {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&&self.hash[..]);
        s.append(&self.next);
    }
}

impl rlp::Decodable for ForkId {
    fn decode(r: &Rlp) -> Result<Self, DecoderError> {
        if r.item_count()? != 2 {
            return Err(DecoderError::RlpIncorrectListLen);
        }
        Ok(ForkId {
            hash: fixed_bytes(&r.at(0)?)?,
            next: r.val_at(1)?,
        })
    }
}

/// Why a remote fork id is incompatible (EIP-2124's rejection rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForkIdError {
    /// The remote is on a past fork of ours but does not know the fork that
    /// followed it: its software needs an update.
    #[error("remote needs update")]
    RemoteStale,
    /// The remote's checksum is none of ours, or it announces a fork we have
    /// passed without applying it: another chain, or our software is stale.
    #[error("local incompatible or needs update")]
    LocalIncompatibleOrStale,
}

/// A chain's genesis and fork schedule, normalised as EIP-2124 wants it
/// (go-ethereum's `gatherForks`): sorted, duplicates merged, block forks at
/// 0 and time forks at or before the genesis timestamp dropped (they are the
/// genesis rules, not forks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkSchedule {
    /// Genesis block hash.
    pub genesis: Hash,
    /// Fork block numbers (Homestead … the Merge netsplit block).
    pub by_block: Vec<u64>,
    /// Fork timestamps (Shanghai onwards).
    pub by_time: Vec<u64>,
}

impl ForkSchedule {
    /// The schedule of a chain with this genesis hash and timestamp and
    /// these fork activations (any order; genesis forks are dropped).
    pub fn new(genesis: Hash, genesis_time: u64, blocks: &[u64], times: &[u64]) -> Self {
        let mut by_block: Vec<u64> = blocks.iter().copied().filter(|&b| b > 0).collect();
        let mut by_time: Vec<u64> = times
            .iter()
            .copied()
            .filter(|&t| t > genesis_time)
            .collect();
        by_block.sort_unstable();
        by_block.dedup();
        by_time.sort_unstable();
        by_time.dedup();
        ForkSchedule {
            genesis,
            by_block,
            by_time,
        }
    }

    /// Our fork id with the head at block `head_block`, timestamp `head_time`.
    pub fn fork_id(&self, head_block: u64, head_time: u64) -> ForkId {
        let mut hash = crc32(&self.genesis);
        let forks = self.by_block.iter().map(|&f| (f, head_block));
        let forks = forks.chain(self.by_time.iter().map(|&f| (f, head_time)));
        for (fork, head) in forks {
            if fork > head {
                return ForkId {
                    hash: hash.to_be_bytes(),
                    next: fork,
                };
            }
            hash = crc32_update(hash, &fork.to_be_bytes());
        }
        ForkId {
            hash: hash.to_be_bytes(),
            next: 0,
        }
    }

    /// Checks a remote fork id against ours (head at `head_block` /
    /// `head_time`) with EIP-2124's rules, as go-ethereum applies them to
    /// both block and time forks.
    pub fn validate(
        &self,
        head_block: u64,
        head_time: u64,
        remote: ForkId,
    ) -> Result<(), ForkIdError> {
        // sums[i]: the checksum after the first i forks.
        let forks: Vec<u64> = self.by_block.iter().chain(&self.by_time).copied().collect();
        let mut sums = vec![crc32(&self.genesis)];
        for &fork in &forks {
            let last = sums[sums.len() - 1];
            sums.push(crc32_update(last, &fork.to_be_bytes()));
        }
        let sums: Vec<[u8; 4]> = sums.iter().map(|s| s.to_be_bytes()).collect();
        // A sentinel fork that is never passed ends the scan; it counts as a
        // block fork when there are no time forks.
        let block_forks = if self.by_time.is_empty() {
            self.by_block.len() + 1
        } else {
            self.by_block.len()
        };
        let forks_with_sentinel = forks.iter().copied().chain([u64::MAX]);
        for (i, fork) in forks_with_sentinel.enumerate() {
            let head = if i < block_forks {
                head_block
            } else {
                head_time
            };
            if head >= fork {
                continue; // passed; look further
            }
            // i is our first unpassed fork: sums[i] is our current checksum.
            if sums[i] == remote.hash {
                // Same fork state. Reject only if the remote's next fork is
                // one we have already passed without applying it (rule 1a).
                let passed = head >= remote.next
                    || (remote.next > TIMESTAMP_THRESHOLD && head_time >= remote.next);
                if remote.next > 0 && passed {
                    return Err(ForkIdError::LocalIncompatibleOrStale);
                }
                return Ok(()); // rule 1b
            }
            // Remote is behind us (a subset of our past forks): fine if it
            // knows the fork that came next (rule 2).
            if let Some(j) = sums[..i].iter().position(|s| *s == remote.hash) {
                if forks[j] != remote.next {
                    return Err(ForkIdError::RemoteStale);
                }
                return Ok(());
            }
            // Remote is ahead of us on our own schedule: we are syncing (rule 3).
            if sums[i + 1..].contains(&remote.hash) {
                return Ok(());
            }
            return Err(ForkIdError::LocalIncompatibleOrStale); // rule 4
        }
        Ok(()) // unreachable: the sentinel is never passed
    }
}

/// IEEE CRC32 (the checksum EIP-2124 uses; zlib's, reflected polynomial
/// 0xEDB88320) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// Continues a finished CRC32 `crc` over more `data` (Go's `crc32.Update`):
/// `crc32_update(crc32(a), b) == crc32(a ‖ b)`. Bitwise: it hashes 32 and
/// 8-byte inputs a few dozen times per handshake, no table needed.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &byte in data {
        c ^= u32::from(byte);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

// ---------------------------------------------------------------------------
// Status message
// ---------------------------------------------------------------------------

/// The Status message, first message of every `eth` session (code 0x00).
///
/// - eth/68: `[version, networkid, td, blockhash, genesis, forkid]`
/// - eth/69: `[version, networkid, genesis, forkid, earliest, latest, latesthash]`
///
/// (eth/69 layout: go-ethereum v1.17.10 `StatusPacket`; eth/68: the devp2p
/// `eth` spec.) Fields common to both are plain fields here; the
/// version-specific head information is [`Head`].
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
        error: DecoderError,
    },
    /// This example speaks only eth/68 and eth/69.
    #[error("eth/{0} is not supported here (68 or 69)")]
    UnsupportedVersion(u32),
}

impl Status {
    /// RLP encoding, in the layout of `self.head`'s version.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new();
        match &self.head {
            Head::TotalDifficulty { td, hash } => {
                s.begin_list(6);
                s.append(&self.version);
                s.append(&self.network_id);
                s.append(td);
                s.append(&&hash[..]);
                s.append(&&self.genesis[..]);
                s.append(&self.fork_id);
            }
            Head::BlockRange {
                earliest,
                latest,
                latest_hash,
            } => {
                s.begin_list(7);
                s.append(&self.version);
                s.append(&self.network_id);
                s.append(&&self.genesis[..]);
                s.append(&self.fork_id);
                s.append(earliest);
                s.append(latest);
                s.append(&&latest_hash[..]);
            }
        }
        s.out().to_vec()
    }

    /// Decodes a Status received on an `eth/version` session. Extra trailing
    /// fields are ignored (forward compatibility, as devp2p asks).
    pub fn decode(version: u32, payload: &[u8]) -> Result<Status, StatusError> {
        let list = Rlp::new(payload);
        let info = list.payload_info().map_err(|_| StatusError::NotAList)?;
        if !list.is_list() {
            return Err(StatusError::NotAList);
        }
        if info.total() < payload.len() {
            return Err(StatusError::TrailingBytes(payload.len() - info.total()));
        }
        let names = match version {
            ETH68 => STATUS68_FIELDS,
            ETH69 => STATUS69_FIELDS,
            v => return Err(StatusError::UnsupportedVersion(v)),
        };
        let got = list.item_count().map_err(|_| StatusError::NotAList)?;
        if got < names.len() {
            let want = names.len();
            return Err(StatusError::TooFewFields { version, got, want });
        }
        let f = Fields { list, names };
        Ok(match version {
            ETH68 => Status {
                version: f.val(0)?,
                network_id: f.val(1)?,
                head: Head::TotalDifficulty {
                    td: f.val(2)?,
                    hash: f.hash(3)?,
                },
                genesis: f.hash(4)?,
                fork_id: f.val(5)?,
            },
            _ => Status {
                version: f.val(0)?,
                network_id: f.val(1)?,
                genesis: f.hash(2)?,
                fork_id: f.val(3)?,
                head: Head::BlockRange {
                    earliest: f.val(4)?,
                    latest: f.val(5)?,
                    latest_hash: f.hash(6)?,
                },
            },
        })
    }
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

/// The fields of a Status list; errors name the field.
struct Fields<'a> {
    list: Rlp<'a>,
    names: &'static [&'static str],
}

impl Fields<'_> {
    fn item(&self, i: usize) -> Result<(&'static str, Rlp<'_>), StatusError> {
        let field = self.names[i];
        let item = self
            .list
            .at(i)
            .map_err(|error| StatusError::Field { field, error })?;
        Ok((field, item))
    }

    /// Field `i` as an RLP value (integer, fork id).
    fn val<T: rlp::Decodable>(&self, i: usize) -> Result<T, StatusError> {
        let (field, item) = self.item(i)?;
        item.as_val()
            .map_err(|error| StatusError::Field { field, error })
    }

    /// Field `i` as a 32-byte hash.
    fn hash(&self, i: usize) -> Result<Hash, StatusError> {
        let (field, item) = self.item(i)?;
        fixed_bytes(&item).map_err(|error| StatusError::Field { field, error })
    }
}

/// An RLP byte string of exactly `N` bytes.
fn fixed_bytes<const N: usize>(r: &Rlp) -> Result<[u8; N], DecoderError> {
    let data = r.data()?;
    data.try_into().map_err(|_| {
        if data.len() < N {
            DecoderError::RlpIsTooShort
        } else {
            DecoderError::RlpIsTooBig
        }
    })
}

// ---------------------------------------------------------------------------
// Our chain and the handshake
// ---------------------------------------------------------------------------

/// What we tell peers about our chain. This example has no blocks beyond
/// genesis: its head is the genesis block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Network id.
    pub network_id: u64,
    /// Genesis timestamp (our head's time, for the fork id).
    pub genesis_time: u64,
    /// Genesis total difficulty (the TD of our head, for eth/68). 0 for a
    /// chain merged at genesis; 17179869184 (2^34) for mainnet.
    pub genesis_difficulty: u128,
    /// Genesis hash and forks.
    pub forks: ForkSchedule,
}

impl Chain {
    /// Our fork id (head = genesis).
    pub fn fork_id(&self) -> ForkId {
        self.forks.fork_id(0, self.genesis_time)
    }

    /// Our Status for `eth/version`.
    pub fn status(&self, version: u32) -> Result<Status, StatusError> {
        let genesis = self.forks.genesis;
        let head = match version {
            ETH68 => Head::TotalDifficulty {
                td: self.genesis_difficulty,
                hash: genesis,
            },
            ETH69 => Head::BlockRange {
                earliest: 0,
                latest: 0,
                latest_hash: genesis,
            },
            v => return Err(StatusError::UnsupportedVersion(v)),
        };
        Ok(Status {
            version,
            network_id: self.network_id,
            genesis,
            fork_id: self.fork_id(),
            head,
        })
    }

    /// Checks a remote Status received on `eth/version` as go-ethereum
    /// checks ours (eth/protocols/eth/handshake.go `readStatus`).
    pub fn check(&self, version: u32, remote: &Status) -> Result<(), HandshakeError> {
        if remote.version != version {
            return Err(HandshakeError::VersionMismatch {
                remote: remote.version,
                negotiated: version,
            });
        }
        if remote.network_id != self.network_id {
            return Err(HandshakeError::NetworkIdMismatch {
                remote: remote.network_id,
                ours: self.network_id,
            });
        }
        if remote.genesis != self.forks.genesis {
            return Err(HandshakeError::GenesisMismatch {
                remote: HexHash(remote.genesis),
                ours: HexHash(self.forks.genesis),
            });
        }
        if let Err(reason) = self.forks.validate(0, self.genesis_time, remote.fork_id) {
            return Err(HandshakeError::ForkIdRejected {
                remote: remote.fork_id,
                ours: self.fork_id(),
                reason,
            });
        }
        if let Head::BlockRange {
            earliest,
            latest,
            latest_hash,
        } = remote.head
        {
            if earliest > latest {
                return Err(HandshakeError::BadBlockRange("earliest > latest"));
            }
            if latest_hash == [0; 32] {
                return Err(HandshakeError::BadBlockRange("zero latest hash"));
            }
        }
        Ok(())
    }
}

/// A hash shown as 0x-prefixed hex in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexHash(pub Hash);

impl fmt::Display for HexHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// Why the Status exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer sent no Status in time.
    #[error("no Status from the peer within {0:?}")]
    Timeout(Duration),
    /// Reading or writing failed (peer gone, …).
    #[error(transparent)]
    Msg(#[from] MsgError),
    /// The first message was not a Status.
    #[error("first eth message has code {0:#04x}, want Status (0x00)")]
    NotStatus(u64),
    /// The Status is larger than [`MAX_STATUS_SIZE`].
    #[error("Status of {0} bytes exceeds the {MAX_STATUS_SIZE}-byte limit")]
    TooLarge(u32),
    /// The Status does not decode.
    #[error("invalid Status: {0}")]
    Decode(#[from] StatusError),
    /// The Status names another protocol version.
    #[error(
        "protocol version mismatch: remote Status says eth/{remote}, negotiated eth/{negotiated}"
    )]
    VersionMismatch {
        /// Version in the remote Status.
        remote: u32,
        /// Version negotiated in Hello.
        negotiated: u32,
    },
    /// Another network.
    #[error("network id mismatch: remote {remote}, ours {ours}")]
    NetworkIdMismatch {
        /// Theirs.
        remote: u64,
        /// Ours.
        ours: u64,
    },
    /// Another chain.
    #[error("genesis mismatch: remote {remote}, ours {ours}")]
    GenesisMismatch {
        /// Their genesis hash.
        remote: HexHash,
        /// Ours.
        ours: HexHash,
    },
    /// Incompatible fork schedule.
    #[error("fork id rejected ({reason}): remote {remote}, ours {ours}")]
    ForkIdRejected {
        /// Their fork id.
        remote: ForkId,
        /// Ours.
        ours: ForkId,
        /// Which rule rejected it.
        reason: ForkIdError,
    },
    /// eth/69 block range that cannot be right.
    #[error("invalid block range in Status: {0}")]
    BadBlockRange(&'static str),
}

/// The Status exchange on a negotiated `eth/version`; returns their Status.
///
/// We read and check theirs before sending ours: go-ethereum sends its
/// Status as soon as the protocol starts, and if ours reached it first with
/// the wrong chain it would hang up, maybe before sending its own, leaving
/// us with a bare "connection closed" instead of the reason. A peer that
/// waits for our Status first gets it after [`STATUS_GRACE`]. The whole
/// exchange is bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn handshake<R: MsgReader, W: MsgWriter>(
    reader: &mut R,
    writer: &W,
    version: u32,
    chain: &Chain,
) -> Result<Status, HandshakeError> {
    let ours = chain.status(version)?;
    let receive = async {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.read_msg())
            .await
            .map_err(|_| HandshakeError::Timeout(HANDSHAKE_TIMEOUT))??;
        if msg.code != STATUS_MSG {
            return Err(HandshakeError::NotStatus(msg.code));
        }
        if msg.size > MAX_STATUS_SIZE {
            return Err(HandshakeError::TooLarge(msg.size));
        }
        let theirs = Status::decode(version, &msg.payload)?;
        chain.check(version, &theirs)?;
        Ok(theirs)
    };
    tokio::pin!(receive);
    let theirs = match tokio::time::timeout(STATUS_GRACE, &mut receive).await {
        // Theirs arrived first and is fine: now ours.
        Ok(theirs) => {
            let theirs = theirs?;
            send_status(writer, &ours).await?;
            theirs
        }
        // They are waiting for ours (or slow): send it and keep reading.
        Err(_) => tokio::try_join!(send_status(writer, &ours), receive)?.1,
    };
    Ok(theirs)
}

async fn send_status<W: MsgWriter>(writer: &W, status: &Status) -> Result<(), HandshakeError> {
    let payload = status.encode().into();
    Ok(writer.write_msg(STATUS_MSG, payload).await?)
}

/// After the handshake: read and drop every message until the connection
/// ends (this example serves nothing). Returns why it ended.
pub async fn idle<R: MsgReader>(reader: &mut R) -> MsgError {
    loop {
        match reader.read_msg().await {
            Ok(msg) => tracing::debug!(code = msg.code, size = msg.size, "eth message ignored"),
            Err(e) => return e,
        }
    }
}

// ---------------------------------------------------------------------------
// Wiring it into a Server
// ---------------------------------------------------------------------------

/// What our `eth` sessions report.
#[derive(Debug)]
pub enum SessionEvent {
    /// The Status exchange succeeded.
    Ready {
        /// The peer.
        peer: NodeId,
        /// Negotiated `eth` version.
        version: u32,
        /// Their Status.
        remote: Status,
    },
    /// The Status exchange failed; the peer is being disconnected.
    Failed {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: HandshakeError,
    },
    /// An established session ended.
    Ended {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: MsgError,
    },
}

/// Our `eth` protocol in `version`: handshake, then idle. Reports to
/// `events`.
pub fn eth_protocol(
    version: u32,
    chain: Arc<Chain>,
    events: mpsc::UnboundedSender<SessionEvent>,
) -> Result<Protocol, StatusError> {
    let length = protocol_length(version).ok_or(StatusError::UnsupportedVersion(version))?;
    Ok(Protocol::new(ETH, version, length, move |peer, mut rw| {
        let (chain, events) = (chain.clone(), events.clone());
        async move {
            let writer = rw.writer();
            match handshake(&mut rw, &writer, version, &chain).await {
                Ok(remote) => {
                    let _ = events.send(SessionEvent::Ready {
                        peer: peer.id(),
                        version,
                        remote,
                    });
                }
                Err(error) => {
                    let reason = error.to_string();
                    let _ = events.send(SessionEvent::Failed {
                        peer: peer.id(),
                        error,
                    });
                    return Err(ProtocolError::Breach(reason));
                }
            }
            let error = idle(&mut rw).await;
            let _ = events.send(SessionEvent::Ended {
                peer: peer.id(),
                error,
            });
            Ok(())
        }
    }))
}

/// Why [`connect`] or [`Session::stay`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No `eth` versions were given.
    #[error("no eth versions to offer")]
    NoVersions,
    /// A version this example does not speak.
    #[error(transparent)]
    Version(#[from] StatusError),
    /// The target has no IP address and TCP port.
    #[error("target {0} has no IP address and TCP port")]
    NoEndpoint(NodeId),
    /// Our server did not start or refused the target.
    #[error("server: {0}")]
    Server(#[from] ServerError),
    /// The Status exchange failed.
    #[error("eth handshake with {peer} failed: {error}")]
    Handshake {
        /// The peer.
        peer: NodeId,
        /// Why.
        error: HandshakeError,
    },
    /// The peer was added but went away before the Status exchange ended
    /// without a Status error of ours (e.g. it hung up or timed out).
    #[error("{peer} disconnected before the eth handshake: {reason}")]
    Disconnected {
        /// The peer.
        peer: NodeId,
        /// Disconnect reason or error, as the server reported it.
        reason: String,
    },
    /// The connection failed before any protocol ran: TCP, RLPx, Hello, or
    /// the node shares no capability with us (`useless`; go-ethereum
    /// v1.17.10 speaks eth/69 to eth/72, so an eth/68-only offer ends here).
    #[error("connection to {peer} failed during setup ({kind}); we offered {offered}")]
    SetupFailed {
        /// The peer.
        peer: NodeId,
        /// The failure kind (our server's setup-error label).
        kind: &'static str,
        /// The capabilities we offered, e.g. `eth/68`.
        offered: String,
    },
    /// Nothing happened within [`CONNECT_TIMEOUT`].
    #[error("no eth session with {peer} within {timeout:?}")]
    Timeout {
        /// The peer.
        peer: NodeId,
        /// How long we waited.
        timeout: Duration,
    },
    /// The session ended before [`Session::stay`]'s time was up.
    #[error("session with {peer} ended after {after:?}: {reason}")]
    Dropped {
        /// The peer.
        peer: NodeId,
        /// Time since [`Session::stay`] began.
        after: Duration,
        /// Why, as reported.
        reason: String,
    },
}

/// An established `eth` session with one node, on our own [`Server`].
pub struct Session {
    /// Our server (stopped by [`Session::close`]).
    pub server: Server,
    /// The remote node.
    pub peer: NodeId,
    /// Negotiated `eth` version.
    pub version: u32,
    /// The remote's Status.
    pub remote: Status,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    peer_events: Box<dyn futures::Stream<Item = devp2p::PeerEvent> + Send + Unpin>,
}

/// Starts a server with key `key` offering `eth` in `versions`, dials
/// `target` and waits (up to [`CONNECT_TIMEOUT`]) for the Status exchange.
/// On failure the server is stopped before returning.
pub async fn connect(
    key: SecretKey,
    target: Node,
    chain: Chain,
    versions: &[u32],
) -> Result<Session, SessionError> {
    if versions.is_empty() {
        return Err(SessionError::NoVersions);
    }
    if target.ip.is_none() || target.tcp == 0 {
        return Err(SessionError::NoEndpoint(target.id));
    }
    let chain = Arc::new(chain);
    let (tx, mut events) = mpsc::unbounded_channel();
    let protocols = versions
        .iter()
        .map(|&v| eth_protocol(v, chain.clone(), tx.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        listen_addr: None, // we only dial
        no_discovery: true,
        max_peers: MAX_PEERS,
        protocols,
        ..Config::with_key(key)
    };
    let server = Server::start(config).await?;
    let mut peer_events = server.subscribe_events();
    let peer = target.id;
    let offered = versions
        .iter()
        .map(|v| format!("{ETH}/{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut setup_poll = tokio::time::interval(SETUP_POLL);
    let result = async {
        // A static node: the server dials it (and would redial after a
        // failure; we give up at the first one instead).
        server.add_peer(target).await?;
        let wait = async {
            loop {
                tokio::select! {
                    // Session events first: a failed handshake also drops the peer.
                    biased;
                    Some(ev) = events.recv() => match ev {
                        SessionEvent::Ready { peer: p, version, remote } if p == peer => {
                            return Ok((version, remote));
                        }
                        SessionEvent::Failed { peer: p, error } if p == peer => {
                            return Err(SessionError::Handshake { peer, error });
                        }
                        _ => {}
                    },
                    Some(ev) = peer_events.next() => {
                        if ev.kind == PeerEventKind::Drop && ev.peer == peer {
                            let reason = ev.error.unwrap_or_else(|| "no reason given".into());
                            return Err(SessionError::Disconnected { peer, reason });
                        }
                    }
                    _ = setup_poll.tick() => {
                        // Our only dial is to `peer`: any failed setup is its.
                        let dials = server.setup_stats().dials;
                        if let Some((kind, _)) = dials.errors.iter().find(|(_, n)| *n > 0) {
                            let (kind, offered) = (kind.label(), offered.clone());
                            return Err(SessionError::SetupFailed { peer, kind, offered });
                        }
                    }
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, wait)
            .await
            .unwrap_or(Err(SessionError::Timeout {
                peer,
                timeout: CONNECT_TIMEOUT,
            }))
    }
    .await;
    match result {
        Ok((version, remote)) => Ok(Session {
            server,
            peer,
            version,
            remote,
            events,
            peer_events: Box::new(peer_events),
        }),
        Err(e) => {
            server.stop().await;
            Err(e)
        }
    }
}

impl Session {
    /// Stays connected for `duration` (the session idles); fails if the
    /// session ends or the peer drops before then.
    pub async fn stay(&mut self, duration: Duration) -> Result<(), SessionError> {
        let start = tokio::time::Instant::now();
        let peer = self.peer;
        let dropped = |reason: String| SessionError::Dropped {
            peer,
            after: start.elapsed(),
            reason,
        };
        let deadline = tokio::time::sleep(duration);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return Ok(()),
                Some(ev) = self.events.recv() => {
                    if let SessionEvent::Ended { peer: p, error } = ev {
                        if p == peer {
                            return Err(dropped(error.to_string()));
                        }
                    }
                }
                Some(ev) = self.peer_events.next() => {
                    if ev.kind == PeerEventKind::Drop && ev.peer == peer {
                        return Err(dropped(ev.error.unwrap_or_else(|| "no reason given".into())));
                    }
                }
            }
        }
    }

    /// Disconnects and stops our server.
    pub async fn close(self) {
        self.server.stop().await;
    }
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// A bad command-line value.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// The enode URL does not parse.
    #[error("target enode: {0}")]
    Enode(#[from] devp2p::node::EnodeError),
    /// The genesis hash is not 32 bytes of hex.
    #[error("genesis hash: want 0x and 64 hex digits, got {0:?}")]
    Genesis(String),
}

/// Parses a 0x-prefixed (or bare) 32-byte hex hash.
pub fn parse_hash(text: &str) -> Result<Hash, ArgError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| ArgError::Genesis(text.to_owned()))?;
    Ok(out)
}

/// Join an Ethereum node on `eth` and idle.
#[derive(clap::Parser, Debug)]
struct Args {
    /// The node to join: enode://<id>@<ip>:<port>
    enode: String,
    /// Network id (geth --networkid).
    #[arg(long)]
    network_id: u64,
    /// Genesis block hash, 0x-prefixed hex.
    #[arg(long)]
    genesis: String,
    /// eth versions to offer, comma-separated (the highest shared one runs).
    #[arg(long, value_delimiter = ',', default_value = "68,69")]
    eth: Vec<u32>,
    /// Fork block numbers after genesis, comma-separated (mainnet: 1150000,…).
    #[arg(long, value_delimiter = ',')]
    fork_blocks: Vec<u64>,
    /// Fork timestamps after genesis, comma-separated.
    #[arg(long, value_delimiter = ',')]
    fork_times: Vec<u64>,
    /// Genesis timestamp (time forks at or before it are genesis rules).
    #[arg(long, default_value_t = 0)]
    genesis_time: u64,
    /// Stay this many seconds, then exit (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let target: Node = args.enode.parse().map_err(ArgError::Enode)?;
    let genesis = parse_hash(&args.genesis)?;
    let chain = Chain {
        network_id: args.network_id,
        genesis_time: args.genesis_time,
        genesis_difficulty: 0,
        forks: ForkSchedule::new(
            genesis,
            args.genesis_time,
            &args.fork_blocks,
            &args.fork_times,
        ),
    };
    println!("our fork id: {}", chain.fork_id());
    let key = devp2p::node::generate_node_key();
    let mut session = connect(key, target, chain, &args.eth).await?;
    println!("eth/{} session with {}", session.version, session.peer);
    println!("their Status: {}", session.remote);
    let result = match args.seconds {
        Some(s) => session.stay(Duration::from_secs(s)).await,
        None => tokio::select! {
            r = session.stay(Duration::MAX) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        },
    };
    session.close().await;
    result?;
    println!("done; still connected at the end");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mainnet genesis hash (EIP-2124's vectors).
    const MAINNET_GENESIS: &str =
        "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";

    /// Mainnet's forks up to Petersburg: EIP-2124's test vectors stop there.
    fn mainnet_petersburg() -> ForkSchedule {
        let blocks = [
            1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 7_280_000,
        ];
        ForkSchedule::new(parse_hash(MAINNET_GENESIS).unwrap(), 0, &blocks, &[])
    }

    fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: hash.to_be_bytes(),
            next,
        }
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926); // the CRC-32 check value
        assert_eq!(crc32_update(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }

    /// EIP-2124 "Test Cases": every fork id mainnet advertises up to Petersburg.
    #[test]
    fn eip2124_mainnet_fork_ids() {
        let forks = mainnet_petersburg();
        let cases = [
            (0, id(0xfc64ec04, 1_150_000)),
            (1_149_999, id(0xfc64ec04, 1_150_000)),
            (1_150_000, id(0x97c2c34c, 1_920_000)),
            (1_919_999, id(0x97c2c34c, 1_920_000)),
            (1_920_000, id(0x91d1f948, 2_463_000)),
            (2_462_999, id(0x91d1f948, 2_463_000)),
            (2_463_000, id(0x7a64da13, 2_675_000)),
            (2_674_999, id(0x7a64da13, 2_675_000)),
            (2_675_000, id(0x3edd5b10, 4_370_000)),
            (4_369_999, id(0x3edd5b10, 4_370_000)),
            (4_370_000, id(0xa00bc324, 7_280_000)),
            (7_279_999, id(0xa00bc324, 7_280_000)),
            (7_280_000, id(0x668db0af, 0)),
            (7_987_396, id(0x668db0af, 0)),
        ];
        for (head, want) in cases {
            assert_eq!(forks.fork_id(head, 0), want, "head {head}");
        }
    }

    /// Timestamp forks: go-ethereum v1.17.10 core/forkid/forkid_test.go's
    /// mainnet cases from Gray Glacier to BPO2.
    #[test]
    fn mainnet_time_fork_ids() {
        let blocks = [
            1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 9_069_000, 9_200_000,
            12_244_000, 12_965_000, 13_773_000, 15_050_000,
        ];
        let times = [
            1_681_338_455,
            1_710_338_135,
            1_746_612_311,
            1_764_798_551,
            1_765_290_071,
            1_767_747_671,
        ];
        let forks = ForkSchedule::new(parse_hash(MAINNET_GENESIS).unwrap(), 0, &blocks, &times);
        let cases = [
            (15_050_000, 0, id(0xf0afd0e3, 1_681_338_455)),
            (20_000_000, 1_681_338_455, id(0xdce96c2d, 1_710_338_135)),
            (30_000_000, 1_710_338_135, id(0x9f3d2254, 1_746_612_311)),
            (30_000_000, 1_746_612_311, id(0xc376cf8b, 1_764_798_551)),
            (30_000_000, 1_764_798_551, id(0x5167e2a6, 1_765_290_071)),
            (30_000_000, 1_765_290_071, id(0xcba2a1c0, 1_767_747_671)),
            (50_000_000, 2_000_000_000, id(0x07c9462e, 0)),
        ];
        for (block, time, want) in cases {
            assert_eq!(forks.fork_id(block, time), want, "head {block}/{time}");
        }
    }

    /// EIP-2124's validation cases (mainnet up to Petersburg).
    #[test]
    fn eip2124_mainnet_validation() {
        use ForkIdError::*;
        let forks = mainnet_petersburg();
        let cases: [(u64, ForkId, Result<(), ForkIdError>); 13] = [
            (7_987_396, id(0x668db0af, 0), Ok(())),
            (7_987_396, id(0x668db0af, u64::MAX), Ok(())),
            (7_279_999, id(0xa00bc324, 0), Ok(())),
            (7_279_999, id(0xa00bc324, 7_280_000), Ok(())),
            (7_279_999, id(0xa00bc324, u64::MAX), Ok(())),
            // The EIP's text has 0x668db0af here, a typo: its comment
            // ("remote announces Byzantium + knowledge about Petersburg") and
            // go-ethereum's own test use Byzantium's checksum.
            (7_987_396, id(0xa00bc324, 7_280_000), Ok(())),
            (7_987_396, id(0x3edd5b10, 4_370_000), Ok(())),
            (7_279_999, id(0x668db0af, 0), Ok(())),
            (4_369_999, id(0xa00bc324, 0), Ok(())),
            (7_987_396, id(0xa00bc324, 0), Err(RemoteStale)),
            (7_987_396, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7_279_999, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7_987_396, id(0xafec6b27, 0), Err(LocalIncompatibleOrStale)),
        ];
        for (head, remote, want) in cases {
            assert_eq!(
                forks.validate(head, 0, remote),
                want,
                "head {head}, remote {remote}"
            );
        }
    }

    /// EIP-2124's RLP vectors for the fork id.
    #[test]
    fn fork_id_rlp() {
        let cases = [
            (id(0, 0), "c6840000000080"),
            (id(0xdeadbeef, 0xBADDCAFE), "ca84deadbeef84baddcafe"),
            (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
        ];
        for (fork_id, want) in cases {
            assert_eq!(hex::encode(rlp::encode(&fork_id)), want);
            assert_eq!(
                rlp::decode::<ForkId>(&hex::decode(want).unwrap()),
                Ok(fork_id)
            );
        }
    }

    fn chain() -> Chain {
        Chain {
            network_id: 1337,
            genesis_time: 0,
            genesis_difficulty: 0,
            forks: ForkSchedule::new([7; 32], 0, &[0, 0], &[0, 0, 4_102_444_800]),
        }
    }

    #[test]
    fn genesis_forks_are_not_forks() {
        let c = chain();
        assert!(c.forks.by_block.is_empty());
        assert_eq!(c.forks.by_time, [4_102_444_800]);
        assert_eq!(c.fork_id(), id(crc32(&[7; 32]), 4_102_444_800));
    }

    #[test]
    fn status_layouts_round_trip() {
        let c = chain();
        let s68 = c.status(ETH68).unwrap();
        let s69 = c.status(ETH69).unwrap();
        // eth/68: [68, 1337, 0, head, genesis, forkid]; eth/69: seven fields.
        assert_eq!(Rlp::new(&s68.encode()).item_count(), Ok(6));
        assert_eq!(Rlp::new(&s69.encode()).item_count(), Ok(7));
        assert_eq!(Status::decode(ETH68, &s68.encode()), Ok(s68.clone()));
        assert_eq!(Status::decode(ETH69, &s69.encode()), Ok(s69.clone()));
        assert!(c.check(ETH68, &s68).is_ok());
        assert!(c.check(ETH69, &s69).is_ok());
        // The eth/69 encoding, field by field.
        let mut want = RlpStream::new_list(7);
        want.append(&69u32).append(&1337u64).append(&&[7u8; 32][..]);
        want.append(&c.fork_id())
            .append(&0u64)
            .append(&0u64)
            .append(&&[7u8; 32][..]);
        assert_eq!(s69.encode(), want.out().to_vec());
    }

    #[test]
    fn malformed_status_is_an_error_naming_the_field() {
        let c = chain();
        let good = c.status(ETH69).unwrap().encode();
        assert_eq!(Status::decode(ETH69, &[0x80]), Err(StatusError::NotAList));
        assert_eq!(Status::decode(ETH69, &[]), Err(StatusError::NotAList));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Status::decode(ETH69, &trailing),
            Err(StatusError::TrailingBytes(1))
        );
        // An eth/69 Status read as eth/68 puts the fork id where the hash goes.
        assert!(matches!(
            Status::decode(ETH68, &good),
            Err(StatusError::Field { field: "td", .. })
        ));
        let short = rlp::encode_list::<u64, u64>(&[69, 1337]);
        assert_eq!(
            Status::decode(ETH69, &short),
            Err(StatusError::TooFewFields {
                version: 69,
                got: 2,
                want: 7
            })
        );
        let mut bad_hash = RlpStream::new_list(7);
        bad_hash
            .append(&69u32)
            .append(&1337u64)
            .append(&&[7u8; 31][..]);
        bad_hash
            .append(&c.fork_id())
            .append(&0u64)
            .append(&0u64)
            .append(&&[7u8; 32][..]);
        assert!(matches!(
            Status::decode(ETH69, &bad_hash.out()),
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

    #[test]
    fn checks_name_what_differs() {
        let c = chain();
        let mut s = c.status(ETH69).unwrap();
        s.network_id = 1;
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::NetworkIdMismatch {
                remote: 1,
                ours: 1337
            })
        ));
        let mut s = c.status(ETH69).unwrap();
        s.genesis = [8; 32];
        let e = c.check(ETH69, &s).unwrap_err();
        assert!(e.to_string().contains(&hex::encode([8u8; 32])), "{e}");
        let mut s = c.status(ETH69).unwrap();
        s.fork_id = id(0xdeadbeef, 0);
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::ForkIdRejected { .. })
        ));
        let mut s = c.status(ETH69).unwrap();
        s.head = Head::BlockRange {
            earliest: 2,
            latest: 1,
            latest_hash: [1; 32],
        };
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::BadBlockRange(_))
        ));
        assert!(matches!(
            c.check(ETH68, &c.status(ETH69).unwrap()),
            Err(HandshakeError::VersionMismatch {
                remote: 69,
                negotiated: 68
            })
        ));
    }

    #[test]
    fn lengths_and_args() {
        assert_eq!(protocol_length(ETH68), Some(17));
        assert_eq!(protocol_length(ETH69), Some(18));
        assert_eq!(protocol_length(70), None);
        assert!(parse_hash(&format!("0x{MAINNET_GENESIS}")).is_ok());
        assert!(matches!(parse_hash("0x1234"), Err(ArgError::Genesis(_))));
        assert!(matches!(
            parse_hash(&"zz".repeat(32)),
            Err(ArgError::Genesis(_))
        ));
    }

    // Paused clock: the grace period and timeouts pass instantly.
    #[tokio::test(start_paused = true)]
    async fn handshake_over_a_pipe() {
        // Two ends of a MsgPipe per direction so each side has its own
        // reader and writer.
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let c = chain();
        let (a, b) = tokio::join!(
            handshake(&mut a_in, &a_out, ETH69, &c),
            handshake(&mut b_in, &b_out, ETH69, &c)
        );
        assert_eq!(a.unwrap(), c.status(ETH69).unwrap());
        assert_eq!(b.unwrap(), c.status(ETH69).unwrap());

        // A peer that waits for our Status before sending its own.
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let theirs = c.status(ETH69).unwrap();
        let patient = async {
            let msg = b_in.read_msg().await.unwrap();
            assert_eq!(Status::decode(ETH69, &msg.payload), Ok(theirs.clone()));
            b_out.write_msg(STATUS_MSG, theirs.encode().into()).await
        };
        let (a, b) = tokio::join!(handshake(&mut a_in, &a_out, ETH69, &c), patient);
        assert_eq!(a.unwrap(), theirs);
        b.unwrap();

        let mut other = chain();
        other.network_id = 5;
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let (a, _) = tokio::join!(
            handshake(&mut a_in, &a_out, ETH69, &c),
            handshake(&mut b_in, &b_out, ETH69, &other)
        );
        assert!(matches!(
            a,
            Err(HandshakeError::NetworkIdMismatch { remote: 5, .. })
        ));
    }
}
