//! devp2p: an Ethereum devp2p networking stack.
//!
//! Register your wire protocols with a [`Server`]; it finds peers (discv4),
//! connects (TCP), encrypts (RLPx, EIP-8), negotiates (the `p2p` v5 Hello with
//! snappy) and multiplexes, and runs each [`Protocol`]'s `run` closure once per
//! peer with that peer's [`ProtoRw`] message window.
//!
//! ```
//! use devp2p::{send, Config, MsgReader, Protocol, ProtocolError, Server};
//! use futures::StreamExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // `greet/1`: one message code; each side says hello, reads the other's.
//! let greet = Protocol::new("greet", 1, 1, |peer, mut rw| async move {
//!     send(&rw, 0, &"hello").await?;
//!     let msg = rw.read_msg().await?;
//!     let text: String = msg.decode()?;
//!     assert_eq!(text, "hello");
//!     let _ = peer; // the Peer handle: id, caps, stats, disconnect...
//!     Ok::<(), ProtocolError>(())
//! });
//! let config = |seed: u8| Config {
//!     listen_addr: Some("127.0.0.1:0".parse().unwrap()),
//!     no_discovery: true,
//!     protocols: vec![greet.clone()],
//!     ..Config::with_key(secp256k1::SecretKey::from_secret_bytes([seed; 32]).unwrap())
//! };
//! let a = Server::start(config(1)).await.unwrap();
//! let mut events = a.subscribe_events();
//! let b = Server::start(config(2)).await.unwrap();
//! b.add_peer(a.self_node()).await.unwrap();
//! let added = events.next().await.unwrap();
//! assert_eq!(added.kind, devp2p::PeerEventKind::Add);
//! b.stop().await;
//! a.stop().await;
//! # });
//! ```
//!
//! Message payloads are RLP: every type implementing
//! [`alloy_rlp::Encodable`] can be sent ([`send`], [`ProtoWriter::try_send`],
//! ...) and every type implementing [`alloy_rlp::Decodable`] read back with
//! [`Msg::decode`], so the message types of reth, alloy and the other crates
//! of that ecosystem work as they are, and your own can derive both
//! (`#[derive(alloy_rlp::RlpEncodable, alloy_rlp::RlpDecodable)]`). The
//! crate is re-exported as [`devp2p::alloy_rlp`](crate::alloy_rlp), so you
//! need not guess a compatible version.
//!
//! Unit-test protocol logic without sockets: [`MsgPipe`] gives two connected
//! in-memory ends (a write completes once the other side has read it).
//!
//! ```
//! use devp2p::{expect_msg, send, MsgPipe};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (ours, mut theirs) = MsgPipe::pair();
//! let writer = tokio::spawn(async move { send(&ours, 3, &42u64).await });
//! expect_msg(&mut theirs, 3, &42u64).await.unwrap();
//! writer.await.unwrap().unwrap();
//! # });
//! ```
//!
//! Layers, bottom up, each testable alone:
//!
//! | layer | where | what |
//! |---|---|---|
//! | identity | [`node`] (crate `devp2p-identity`) | `NodeId`, node keys, enode URLs, ENR, `LocalNode` |
//! | transport | [`rlpx`] (crate `devp2p-rlpx`) | ECIES handshake (EIP-8 and legacy), frame codec with MACs |
//! | base protocol | [`peer`] | Hello, snappy, ping/pong, disconnect, capability matching; one type per connection stage ([`peer::HelloDone`], [`peer::NegotiatedConn`], [`Peer`]) |
//! | user protocols | the root, [`msgrate`] | [`Protocol`], [`ProtocolHandler`], [`Msg`], [`MsgReadWriter`], [`MsgPipe`], [`RequestTracker`], per-peer request sizing and timeouts ([`msgrate::MsgRates`]) |
//! | connection management | [`server`], [`config`] | listening, dialing, limits, static/trusted nodes, bans, admin info |
//! | metrics | [`metrics`] | a Prometheus registry per server over the counters kept where they are counted |
//! | discovery | crate `devp2p-discover` | discv4, fed to the dialer as a [`NodeSource`] |
//! | NAT | crate `devp2p-nat` | UPnP, NAT-PMP, extip ([`NatSpec`]); mappings kept alive by the server |
//!
//! The `devp2p` command line tool and `demo/1`, a small real protocol to
//! read, live in the `devp2p-cli` crate.
//!
//! Cargo features:
//!
//! | feature | default | what it brings |
//! |---|---|---|
//! | `discv5` | on | discv5 beside discv4 (sigp's `discv5` crate, ~61 crates): [`Config::discovery_v5`] runs, `Server::discovery_v5()` |
//! | `dnsdisc` | on | EIP-1459 lists looked up over DNS (hickory-resolver, ~45 crates): [`Config::dns_lists`] used |
//! | `test-utils` | off | `test_utils` (a `Testnet` of servers and event waits for your tests) |
//! | `fuzzing` | off | internal decoders for the fuzz targets (hidden, not a stable API) |
//!
//! The config fields exist with every feature set, so configs compile and
//! parse the same; without `discv5`, `discovery_v5` defaults to `false`,
//! and [`Server::start`] refuses what a missing feature would have to run
//! with [`ServerError::FeatureDisabled`]. [`dnsdisc`] (tree entries, URLs,
//! signing, a client over your own resolver) is there either way.
//!
//! Feature `node-db` (default on) keeps the node database in a file (redb):
//! [`Config::node_database`] then makes discovery's proven nodes, bans,
//! reputation scores and the remembered peers (dialed first at the next
//! start, [`Config::remembered_peers_dialed`]) survive restarts. Without it
//! redb is not compiled, the database lives in memory, and a
//! `node_database` path fails [`Server::start`] with
//! [`server::ServerError::NodeDatabase`]
//! (`NodeDbError::NoPersistence`, naming the feature).
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub use devp2p_discover::node;
/// EIP-1459 DNS node lists (crate `devp2p-dnsdisc`): trees, the client, the
/// node source behind [`Config::dns_lists`]. Its DNS resolver
/// (`DnsResolver`, `Client::new`) needs the cargo feature `dnsdisc`.
pub use devp2p_dnsdisc as dnsdisc;
/// RLPx, the encrypted transport (the `devp2p-rlpx` crate).
pub use devp2p_rlpx as rlpx;
/// The secp256k1 crate our keys come from (`Config::with_key` takes its
/// `SecretKey`), re-exported so you need not guess its version.
pub use secp256k1;

/// The RLP library of message payloads (`Encodable`, `Decodable`, the
/// derives), re-exported so users need no guessing of versions.
pub use alloy_rlp;
/// The byte buffers messages are made of (`Bytes` in `write_msg`, `Msg`).
pub use bytes;

mod banlist;
pub mod config;
pub mod dial;
mod disc_reason;
pub mod enr_entries;
mod event;
mod message;
pub mod metrics;
pub mod msgrate;
pub mod peer;
mod protocol;
pub mod server;
mod tracker;

#[cfg(feature = "test-utils")]
pub mod test_utils;
#[cfg(test)]
#[path = "../rlpx/src/test_vectors.rs"]
mod test_vectors;

// The front door: what a protocol author needs. Everything else is in
// `config`, `peer` (connection stages and the base protocol, for tools),
// `server` (statistics, admin info), `metrics`, `node` and `rlpx`.
pub use banlist::ReputationChange;
pub use config::{Config, NatSpec};
pub use dial::{Candidate, DialFilter, NodeSource};
pub use disc_reason::DiscReason;
pub use event::{PeerEvent, PeerEventKind};
pub use message::{
    expect_items, expect_msg, read_message, send, send_items, send_message, Msg, MsgError, MsgPipe,
    MsgReadWriter, MsgReader, MsgWriter, ProtocolMessage, MAX_MSG_SIZE,
};
pub use peer::{
    BandwidthLimits, Peer, PeerInfo, PeerStats, ProtoReader, ProtoRw, ProtoWriter, RateLimit,
};
pub use protocol::{
    Cap, Protocol, ProtocolError, ProtocolHandler, DEFAULT_READ_QUEUE, DEFAULT_WRITE_QUEUE,
    DEFAULT_WRITE_WEIGHT,
};
pub use server::{NodeInfo, Server, ServerError};
pub use tracker::{PendingRequest, RequestTracker, TrackerError, DEFAULT_MAX_OUTSTANDING};
