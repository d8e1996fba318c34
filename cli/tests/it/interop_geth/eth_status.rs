//! `examples/eth_status/` against a real `geth` (the version pinned in
//! tests/geth/go.mod) on a private chain: the example's own functions run
//! the sessions, so this checks exactly the code a user reads.
//!
//! geth gets a custom genesis with every fork up to Prague at genesis and
//! Osaka scheduled far in the future (so the EIP-2124 fork id has a
//! non-zero `next` and the fork list matters), listens on 127.0.0.1 only,
//! has discovery off, `--netrestrict 127.0.0.0/8` and no peers but ours. We
//! read its enode and genesis hash over its IPC socket (JSON-RPC), then:
//!
//! - `sessions_stay_up`: two sessions at once, one offering eth/69, one
//!   eth/68 and eth/69; both must negotiate eth/69 (geth v1.17.10 no longer
//!   speaks eth/68), pass the Status exchange and stay connected for 30 s,
//!   after which geth's `admin_peers` must list both with `eth` version 69.
//! - `refusals_are_fast`: an eth/68-only offer (no shared version), a wrong
//!   genesis hash and a wrong network id each fail with their own error
//!   well before any timeout.
//!
//! geth is killed when its test ends, also on failure (`kill_on_drop`),
//! and its temporary directory removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use devp2p::node::{Node, NodeId};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use crate::geth::bin;
use crate::ours::key;

// The example's functions (its `main` and CLI are unused here).
#[path = "../../../../examples/eth_status/main.rs"]
#[allow(dead_code)]
mod example;

use example::{Chain, ForkSchedule, HandshakeError, Head, Session, SessionError, ETH68, ETH69};

/// Network id and chain id of the private chain (any value no public
/// network uses).
const NETWORK_ID: u64 = 39_390;

/// Osaka's activation time on the private chain, Unix seconds
/// (2100-01-01): scheduled but never reached, so geth's fork id is
/// `{crc32(genesis), next: OSAKA_TIME}`.
const OSAKA_TIME: u64 = 4_102_444_800;

/// How long each session must stay up, in seconds: go-ethereum drops a
/// connection that is silent for 30 s (p2p/server.go `frameReadTimeout`), so a
/// session that survives 30 s has been kept alive by pings, not by luck.
const HOLD: Duration = Duration::from_secs(30);

/// Upper bound for a refused session, in seconds: a dial, an RLPx
/// handshake and a Status exchange on loopback take milliseconds; 10 s
/// leaves room on the busy 2-core machine and stays well below
/// `example::session::CONNECT_TIMEOUT` (20 s), so a refusal cannot pass as
/// a timeout.
const FAST_FAIL: Duration = Duration::from_secs(10);

/// How long geth may take to open its IPC socket after start, in seconds:
/// about 1 s when idle; generous for a loaded machine.
const GETH_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `geth init` may take, in seconds (0.3 s when idle).
const GETH_INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Interval between attempts to reach geth's IPC socket, in milliseconds.
const IPC_POLL: Duration = Duration::from_millis(100);

/// Timeout of one JSON-RPC call over IPC, in seconds (answers take
/// milliseconds).
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest JSON-RPC reply read, in bytes: `admin_nodeInfo` with the chain
/// config is ~2 KiB, `admin_peers` ~1 KiB per peer.
const MAX_RPC_REPLY: usize = 1024 * 1024;

/// geth's `--maxpeers`, in connections: small, yet room to spare for our
/// two concurrent sessions (8 allows 6 inbound; go-ethereum keeps a third
/// of its slots for dialing).
const GETH_MAX_PEERS: u32 = 8;

/// Size of one read from the IPC socket, in bytes (a reply comes in a few).
const RPC_READ_CHUNK: usize = 8192;

/// Bytes of geth's log shown when something fails.
const LOG_TAIL: usize = 4000;

/// A genesis geth v1.17.10 accepts: post-merge from block 0
/// (`terminalTotalDifficulty: 0`; geth refuses pre-merge chains), every
/// block fork and Shanghai–Prague at genesis (so they do not count as EIP-2124
/// forks), blob schedules for Cancun and Prague (required for every
/// blob fork, `CheckConfigForkOrder`), Osaka far in the future.
fn genesis_json() -> Value {
    json!({
        "config": {
            "chainId": NETWORK_ID,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "mergeNetsplitBlock": 0,
            "terminalTotalDifficulty": 0,
            "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0,
            "osakaTime": OSAKA_TIME,
            "blobSchedule": {
                "cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3_338_477},
                "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5_007_716}
            }
        },
        "difficulty": "0x0",
        "gasLimit": "0x1c9c380",
        "timestamp": "0x0",
        "extraData": "0x",
        "alloc": {}
    })
}

/// A JSON-RPC call over geth's IPC socket that went wrong.
#[derive(Debug, thiserror::Error)]
enum RpcError {
    #[error("IPC socket {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no complete reply to {method} within {RPC_TIMEOUT:?}")]
    Timeout { method: String },
    #[error("geth closed the IPC connection before a complete reply to {method}")]
    Closed { method: String },
    #[error("reply to {method} exceeds {MAX_RPC_REPLY} bytes")]
    TooLarge { method: String },
    #[error("reply to {method} is not JSON: {error}")]
    Json {
        method: String,
        error: serde_json::Error,
    },
    #[error("{method} failed: {error}")]
    Remote { method: String, error: Value },
    #[error("reply to {method}: {what}")]
    Unexpected { method: String, what: String },
}

/// One JSON-RPC call over the Unix socket at `ipc`; returns `result`.
async fn rpc(ipc: &Path, method: &str, params: Value) -> Result<Value, RpcError> {
    let io = |error| RpcError::Io {
        path: ipc.to_owned(),
        error,
    };
    let call = async {
        let mut stream = UnixStream::connect(ipc).await.map_err(io)?;
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut bytes = serde_json::to_vec(&request).expect("a JSON value serialises");
        bytes.push(b'\n');
        stream.write_all(&bytes).await.map_err(io)?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; RPC_READ_CHUNK];
        loop {
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Err(RpcError::Closed {
                    method: method.into(),
                });
            }
            reply.extend_from_slice(&chunk[..n]);
            if reply.len() > MAX_RPC_REPLY {
                return Err(RpcError::TooLarge {
                    method: method.into(),
                });
            }
            match serde_json::from_slice::<Value>(&reply) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_eof() => continue, // incomplete: read on
                Err(error) => {
                    return Err(RpcError::Json {
                        method: method.into(),
                        error,
                    })
                }
            }
        }
    };
    let reply = tokio::time::timeout(RPC_TIMEOUT, call)
        .await
        .map_err(|_| RpcError::Timeout {
            method: method.into(),
        })??;
    if let Some(error) = reply.get("error") {
        return Err(RpcError::Remote {
            method: method.into(),
            error: error.clone(),
        });
    }
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| RpcError::Unexpected {
            method: method.into(),
            what: format!("no result in {reply}"),
        })
}

/// A string field of a JSON object, or an error naming it.
fn str_field<'a>(v: &'a Value, method: &str, field: &str) -> Result<&'a str, RpcError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::Unexpected {
            method: method.into(),
            what: format!("no string {field:?} in {v}"),
        })
}

/// A free TCP port on 127.0.0.1 (bound, read and released; geth takes it
/// a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// A running geth on the private chain, with what the tests need of it.
/// Dropping it kills geth (`kill_on_drop`) and then removes its directory.
struct Geth {
    /// Declared before `dir` so it is dropped (killed) first.
    child: Child,
    ipc: PathBuf,
    log: PathBuf,
    node: Node,
    genesis: [u8; 32],
    genesis_time: u64,
    _dir: TempDir,
}

impl Geth {
    async fn start() -> Geth {
        let geth = bin("geth");
        // Short path: the IPC socket path must fit a Unix socket's ~107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("eth")
            .tempdir()
            .expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        let (datadir, ipc, log) = (path("data"), path("geth.ipc"), path("geth.log"));
        assert!(ipc.as_os_str().len() < 100, "IPC path too long: {ipc:?}");
        std::fs::write(path("genesis.json"), genesis_json().to_string()).expect("write genesis");
        // geth has no flag for the listen IP (--port listens on every
        // interface); its config file does.
        let p2p_port = free_port();
        let config = format!("[Node.P2P]\nListenAddr = \"127.0.0.1:{p2p_port}\"\n");
        std::fs::write(path("geth.toml"), config).expect("write geth.toml");

        let init = Command::new(&geth)
            .arg("--datadir")
            .arg(&datadir)
            .arg("init")
            .arg(path("genesis.json"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let init = tokio::time::timeout(GETH_INIT_TIMEOUT, init)
            .await
            .unwrap_or_else(|_| panic!("geth init took longer than {GETH_INIT_TIMEOUT:?}"))
            .expect("run geth init");
        assert!(
            init.status.success(),
            "geth init: {}",
            crate::geth::text(&init)
        );

        let log_file = std::fs::File::create(&log).expect("create geth.log");
        let child = Command::new(&geth)
            .arg("--config")
            .arg(path("geth.toml"))
            .arg("--datadir")
            .arg(&datadir)
            .arg("--ipcpath")
            .arg(&ipc)
            .args(["--networkid", &NETWORK_ID.to_string()])
            .args([
                "--nodiscover",
                "--netrestrict",
                "127.0.0.0/8",
                "--nat",
                "none",
            ])
            .args(["--maxpeers", &GETH_MAX_PEERS.to_string()])
            // The engine API cannot be switched off: keep it on loopback,
            // on a free port, its secret in our directory.
            .args(["--authrpc.addr", "127.0.0.1"])
            .args(["--authrpc.port", &free_port().to_string()])
            .arg("--authrpc.jwtsecret")
            .arg(path("jwt.hex"))
            // Full sync: snap sync would reserve peer slots for snap peers.
            .args(["--syncmode", "full", "--verbosity", "3"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start geth");
        let mut geth = Geth {
            child,
            ipc,
            log,
            node: Node::incomplete(NodeId([0; 64])),
            genesis: [0; 32],
            genesis_time: 0,
            _dir: dir,
        };
        geth.wait_for_ipc().await;
        let info = geth.rpc("admin_nodeInfo", json!([])).await;
        let enode = str_field(&info, "admin_nodeInfo", "enode").unwrap_or_else(|e| geth.fail(e));
        geth.node = enode
            .parse()
            .unwrap_or_else(|e| geth.fail(format!("enode {enode:?}: {e}")));
        let block = geth
            .rpc("eth_getBlockByNumber", json!(["0x0", false]))
            .await;
        let hash =
            str_field(&block, "eth_getBlockByNumber", "hash").unwrap_or_else(|e| geth.fail(e));
        geth.genesis = example::parse_hash(hash).unwrap_or_else(|e| geth.fail(e));
        let time =
            str_field(&block, "eth_getBlockByNumber", "timestamp").unwrap_or_else(|e| geth.fail(e));
        geth.genesis_time = u64::from_str_radix(time.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| geth.fail(format!("genesis timestamp {time:?}: {e}")));
        geth
    }

    /// Waits until the IPC socket answers, failing if geth exits first.
    async fn wait_for_ipc(&mut self) {
        let deadline = Instant::now() + GETH_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(format!("geth exited with {status} during start-up"));
            }
            if rpc(&self.ipc, "web3_clientVersion", json!([]))
                .await
                .is_ok()
            {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(format!("IPC not up within {GETH_START_TIMEOUT:?}"));
            }
            tokio::time::sleep(IPC_POLL).await;
        }
    }

    /// A JSON-RPC call; a failure fails the test with geth's log.
    async fn rpc(&self, method: &str, params: Value) -> Value {
        match rpc(&self.ipc, method, params).await {
            Ok(v) => v,
            Err(e) => self.fail(e),
        }
    }

    /// Panics with `what` and the end of geth's log.
    fn fail(&self, what: impl std::fmt::Display) -> ! {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let tail = String::from_utf8_lossy(&log[log.len().saturating_sub(LOG_TAIL)..]);
        panic!("geth: {what}\n--- end of geth's log ---\n{tail}")
    }

    /// Our view of this chain, as the example's CLI would build it.
    fn chain(&self) -> Chain {
        Chain {
            network_id: NETWORK_ID,
            genesis_time: self.genesis_time,
            genesis_difficulty: 0,
            forks: ForkSchedule::new(self.genesis, self.genesis_time, &[], &[OSAKA_TIME]),
        }
    }

    /// Kills geth and waits for it (the directory goes when `self` drops).
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The example's session with `geth`, for key `n`, offering `versions`.
async fn connect(
    geth: &Geth,
    n: u8,
    chain: Chain,
    versions: &[u32],
) -> Result<Session, SessionError> {
    example::connect(key(n), geth.node.clone(), chain, versions).await
}

/// geth's `admin_peers` entry for our node with key `n`.
fn peer_entry(peers: &Value, n: u8) -> Option<&Value> {
    let ours = NodeId::from_secret_key(&key(n));
    peers.as_array()?.iter().find(|p| {
        p.get("enode")
            .and_then(Value::as_str)
            .and_then(|e| e.parse::<Node>().ok())
            .is_some_and(|node| node.id == ours)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stay_up() {
    let geth = Geth::start().await;
    let chain = geth.chain();
    // Key 0xc0 offers eth/69 only; key 0xc1 eth/68 and eth/69.
    let (only69, both) = tokio::join!(
        connect(&geth, 0xc0, chain.clone(), &[ETH69]),
        connect(&geth, 0xc1, chain.clone(), &[ETH68, ETH69])
    );
    let mut sessions = Vec::new();
    for (name, session) in [("eth/69", only69), ("eth/68+69", both)] {
        let session = session.unwrap_or_else(|e| geth.fail(format!("{name} session: {e}")));
        // geth runs the highest shared version; it has no eth/68.
        assert_eq!(session.version, ETH69, "{name}");
        // geth's Status: our chain, its fork id exactly ours (same
        // genesis, same forks, both heads at genesis).
        let remote = &session.remote;
        assert_eq!(remote.version, ETH69);
        assert_eq!(remote.network_id, NETWORK_ID);
        assert_eq!(remote.genesis, geth.genesis);
        assert_eq!(remote.fork_id, chain.fork_id());
        assert_eq!(remote.fork_id.next, OSAKA_TIME);
        assert_eq!(
            remote.head,
            Head::BlockRange {
                earliest: 0,
                latest: 0,
                latest_hash: geth.genesis
            }
        );
        sessions.push(session);
    }

    // Both idle for HOLD at the same time; geth must not drop either.
    let started = Instant::now();
    let (a, b) = sessions.split_at_mut(1);
    let (ra, rb) = tokio::join!(a[0].stay(HOLD), b[0].stay(HOLD));
    for r in [ra, rb] {
        r.unwrap_or_else(|e| geth.fail(e));
    }
    assert!(started.elapsed() >= HOLD);

    // Still peers on geth's side, with eth/69 running.
    let peers = geth.rpc("admin_peers", json!([])).await;
    for n in [0xc0, 0xc1] {
        let entry = peer_entry(&peers, n).unwrap_or_else(|| {
            geth.fail(format!("our node {n:#x} missing from admin_peers: {peers}"))
        });
        assert_eq!(
            entry["protocols"]["eth"]["version"],
            json!(ETH69),
            "admin_peers entry of {n:#x}: {entry}"
        );
        assert_eq!(entry["network"]["inbound"], json!(true), "{entry}");
    }
    // The eth/68+69 node advertised both versions.
    let caps = &peer_entry(&peers, 0xc1).expect("checked above")["caps"];
    assert!(
        caps.as_array()
            .is_some_and(|c| c.contains(&json!("eth/68")) && c.contains(&json!("eth/69"))),
        "caps of the eth/68+69 node: {caps}"
    );

    for s in sessions {
        s.close().await;
    }
    geth.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_fast() {
    let geth = Geth::start().await;

    // eth/68 only: geth v1.17.10 speaks eth/69 to eth/72, nothing is shared,
    // the connection ends right after Hello ("useless peer").
    let started = Instant::now();
    match connect(&geth, 0xc2, geth.chain(), &[ETH68]).await {
        Err(SessionError::SetupFailed {
            kind: "useless",
            offered,
            ..
        }) => {
            assert_eq!(offered, "eth/68")
        }
        Err(e) => geth.fail(format!("eth/68 only: unexpected error: {e}")),
        Ok(s) => geth.fail(format!("eth/68 only: session on eth/{}", s.version)),
    }
    assert!(
        started.elapsed() < FAST_FAIL,
        "eth/68 refusal took {:?}",
        started.elapsed()
    );

    // A wrong genesis hash: geth's Status says otherwise.
    let mut wrong = geth.chain();
    wrong.forks.genesis[0] ^= 0xff;
    let started = Instant::now();
    let err = match connect(&geth, 0xc3, wrong.clone(), &[ETH69]).await {
        Err(e) => e,
        Ok(_) => geth.fail("wrong genesis: session established"),
    };
    assert!(
        started.elapsed() < FAST_FAIL,
        "genesis refusal took {:?}",
        started.elapsed()
    );
    match &err {
        SessionError::Handshake {
            error: HandshakeError::GenesisMismatch { remote, ours },
            ..
        } => {
            assert_eq!(remote.0, geth.genesis);
            assert_eq!(ours.0, wrong.forks.genesis);
        }
        e => geth.fail(format!("wrong genesis: unexpected error: {e}")),
    }
    let text = err.to_string();
    assert!(
        text.contains("genesis mismatch") && text.contains(&hex::encode(geth.genesis)),
        "{text}"
    );

    // A wrong network id.
    let mut wrong = geth.chain();
    wrong.network_id += 1;
    let started = Instant::now();
    match connect(&geth, 0xc4, wrong, &[ETH69]).await {
        Err(SessionError::Handshake {
            error: HandshakeError::NetworkIdMismatch { remote, ours },
            ..
        }) => assert_eq!((remote, ours), (NETWORK_ID, NETWORK_ID + 1)),
        Err(e) => geth.fail(format!("wrong network id: unexpected error: {e}")),
        Ok(_) => geth.fail("wrong network id: session established"),
    }
    assert!(
        started.elapsed() < FAST_FAIL,
        "network refusal took {:?}",
        started.elapsed()
    );

    geth.stop().await;
}
