//! go-ethereum programs for the interop tests: building them once from the
//! version pinned in `tests/geth/go.mod`, running go-ethereum's `devp2p`
//! tool with a deadline, and driving the p2p.Server harness
//! (`tests/geth/harness`, protocol in `tests/geth/README.md`).

#![allow(dead_code)] // each test module uses a different subset

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use devp2p::node::{Node, NodeId};
use serde_json::Value;
use tokio::process::Command;

use super::child_peer::{run_to_end, with_file_lock, ChildPeer, EVENT_TIMEOUT};

/// Upper bound for building devp2p, geth and the harness, in seconds: a cold
/// build (module download plus compiling geth) took ~6 min on the shared
/// 2-core machine; a warm one a few seconds.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// `tests/geth/` of the workspace (beside the root package's tests).
pub fn geth_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("geth")
}

/// Path of a program built by `tests/geth/build.sh` (`devp2p`, `geth`,
/// `harness`), building them first if needed (once per process; a file lock
/// serialises test processes).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build);
    geth_dir().join(".cache").join("bin").join(name)
}

fn build() {
    let dir = geth_dir();
    std::fs::create_dir_all(dir.join(".cache")).expect("create tests/geth/.cache");
    with_file_lock(&dir.join(".cache").join("build.lock"), || {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(dir.join("build.sh"));
        run_to_end(
            cmd,
            BUILD_TIMEOUT,
            "tests/geth/build.sh (the go-ethereum interop tests need Go >= 1.26)",
        );
    });
}

/// Runs go-ethereum's `devp2p` tool with `args`; kills it after `timeout`.
pub async fn devp2p_tool(args: &[&str], timeout: Duration) -> Output {
    run_with_deadline(Command::new(bin("devp2p")).args(args), timeout, "devp2p").await
}

/// Runs our own CLI (`devp2p` of this package) with `args`; kills it after `timeout`.
pub async fn our_cli(args: &[&str], timeout: Duration) -> Output {
    run_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_devp2p")).args(args),
        timeout,
        "our devp2p",
    )
    .await
}

async fn run_with_deadline(cmd: &mut Command, timeout: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what} output: {e}")),
        // Dropping the future drops the child: kill_on_drop ends it.
        Err(_) => panic!("{what} did not finish within {timeout:?}"),
    }
}

/// stdout and stderr of an output, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One go-ethereum p2p.Server (the harness) and what it printed at start.
pub struct Harness {
    /// The JSON-lines connection to the process.
    pub peer: ChildPeer,
    /// Its enode URL (first stdout line).
    pub enode: String,
    /// Its ENR, text form.
    pub enr: String,
    /// Its node id (public key).
    pub id: NodeId,
    /// Its TCP and UDP port on 127.0.0.1.
    pub tcp: u16,
    /// UDP port (equal to `tcp` unless discovery is off).
    pub udp: u16,
    /// Events read while waiting for others, oldest first.
    backlog: VecDeque<Value>,
}

/// Events a [`Harness`] keeps unread before a test is judged to have lost
/// track (a test reads what it provokes; thousands of small messages fit).
const MAX_BACKLOG_EVENTS: usize = 100_000;

impl Harness {
    /// Starts the harness with `args` (see tests/geth/README.md) and waits
    /// for its enode URL and `ready` event.
    pub async fn start(args: &[String]) -> Harness {
        let mut cmd = Command::new(bin("harness"));
        cmd.args(args);
        let mut peer = ChildPeer::spawn("geth-harness", cmd, "built by tests/geth/build.sh");
        let enode = peer.next_line(EVENT_TIMEOUT).await;
        assert!(enode.starts_with("enode://"), "first line: {enode}");
        let ready = peer.wait_for("ready", EVENT_TIMEOUT).await;
        let port = |k: &str| ready[k].as_u64().unwrap_or(0) as u16;
        Harness {
            id: ready["id"].as_str().unwrap().parse().unwrap(),
            enr: ready["enr"].as_str().unwrap().to_owned(),
            tcp: port("tcp"),
            udp: port("udp"),
            enode,
            peer,
            backlog: VecDeque::new(),
        }
    }

    /// The harness as a dialable node.
    pub fn node(&self) -> Node {
        self.enode.parse().expect("harness enode URL parses")
    }

    /// Sends a command and waits for its result event `event` (matched by a
    /// unique tag); panics on an `error` for it or a timeout. Other events
    /// that arrive meanwhile stay queued for [`Harness::wait_where`].
    pub async fn call(&mut self, mut cmd: Value, event: &str, timeout: Duration) -> Value {
        static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed).to_string();
        cmd["tag"] = Value::String(tag.clone());
        self.peer.send(cmd.clone()).await;
        let ev = self
            .wait_where(&format!("result of {cmd}"), timeout, |ev| {
                ev["tag"] == tag.as_str()
            })
            .await;
        assert_ne!(ev["event"], "error", "harness: {cmd} failed: {ev}");
        assert_eq!(ev["event"], event, "harness: {cmd} answered {ev}");
        ev
    }

    /// Sends a command that answers nothing but errors.
    pub async fn send(&mut self, cmd: Value) {
        self.peer.send(cmd).await;
    }

    /// The first event named `event` (queued or new) within `timeout`.
    pub async fn wait_for(&mut self, event: &str, timeout: Duration) -> Value {
        self.wait_where(event, timeout, |ev| ev["event"] == event)
            .await
    }

    /// The first event (queued or new) that `want` accepts within
    /// `timeout`; the others stay queued in order. Panics naming `what`,
    /// with the last queued events and the harness's stderr, on timeout.
    pub async fn wait_where(
        &mut self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i).expect("index in range");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.peer.try_next_event(left).await {
                Ok(ev) if want(&ev) => return ev,
                Ok(ev) => {
                    assert!(
                        self.backlog.len() < MAX_BACKLOG_EVENTS,
                        "harness: {MAX_BACKLOG_EVENTS} events queued unread while waiting for {what}"
                    );
                    self.backlog.push_back(ev);
                }
                Err(e) => {
                    let recent: Vec<String> = self
                        .backlog
                        .iter()
                        .rev()
                        .take(20)
                        .map(Value::to_string)
                        .collect();
                    panic!(
                        "harness: waiting {timeout:?} for {what}: {e:?}\nlast queued events (newest first):\n{}\nstderr:\n{}",
                        recent.join("\n"),
                        self.peer.stderr_tail()
                    )
                }
            }
        }
    }

    /// The first queued event named `event`, after queueing every event
    /// already readable (never waits).
    pub async fn take_queued(&mut self, event: &str) -> Option<Value> {
        while let Ok(ev) = self.peer.try_next_event(Duration::ZERO).await {
            self.backlog.push_back(ev);
        }
        let i = self.backlog.iter().position(|e| e["event"] == event)?;
        self.backlog.remove(i)
    }

    /// Drops every queued event.
    pub fn clear_backlog(&mut self) {
        self.backlog.clear();
    }

    /// Stops the server and waits for the process to exit.
    pub async fn exit(self) {
        let status = self.peer.exit(EVENT_TIMEOUT).await;
        assert!(status.success(), "harness exited with {status}");
    }
}

/// Harness arguments for key `n` (see `child_peer::fixed_key_hex`) plus `extra`.
pub fn harness_args(n: u8, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--key".to_owned(), super::child_peer::fixed_key_hex(n)];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}
