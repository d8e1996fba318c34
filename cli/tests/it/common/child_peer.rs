//! Test-side driver for independent peers that run as child processes and
//! speak JSON lines: the ethereumjs scripts in `tests/interop/` and the
//! go-ethereum harness in `tests/geth/`.
//!
//! A [`ChildPeer`] is one child process (`node rlpx_peer.mjs`, `node
//! dpt_peer.mjs`, the geth harness, …). Commands go to its stdin and events
//! come back on its stdout, one JSON object per line (the protocols are in
//! `tests/interop/README.md` and `tests/geth/README.md`). Every read is
//! bounded by a timeout, so a silent or dead peer fails the test instead of
//! hanging it. The child is killed when the `ChildPeer` is dropped.
//!
//! These tests talk to a real process over real sockets: do not use
//! `tokio::time::pause` in them, the timeouts here are wall-clock.
#![allow(dead_code)] // each test module uses a different subset

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, LinesCodec};

/// Longest event line accepted from the peer's stdout, in bytes. The largest
/// event is a `message` with a hex payload (two characters per byte), so this
/// admits payloads up to ~2 MiB, far more than any interop test sends.
pub const MAX_EVENT_LINE_BYTES: usize = 4 * 1024 * 1024;

/// How many stderr lines of the child are kept for failure messages.
const STDERR_TAIL_LINES: usize = 200;

/// How many skipped events `wait_for` keeps to explain a timeout.
const SKIPPED_EVENTS_KEPT: usize = 32;

/// Upper bound for the one-time `npm ci`, in seconds (a cold install of the
/// pinned lock file takes ~10 s here; allow for a slow registry).
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a set-up child ([`run_to_end`]) is polled for completion.
const SETUP_POLL: Duration = Duration::from_millis(100);

/// A sensible default timeout for one expected event from a child peer
/// (ethereumjs's own handshake and ping timeouts are 10 s).
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// `tests/interop/` of the workspace (beside the root package's tests).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("interop")
}

/// A deterministic secp256k1 private key for test peer `n` (`n` = 1..=255):
/// 32 bytes all equal to `n`, as 64 hex characters.
pub fn fixed_key_hex(n: u8) -> String {
    assert!(n != 0, "the all-zero key is not a valid secp256k1 key");
    format!("{n:02x}").repeat(32)
}

/// Makes sure `tests/interop/node_modules` is installed from the committed
/// lock file, running `npm ci` at most once even when many tests (threads or
/// processes) ask at the same time.
///
/// Panics with npm's output if the install fails or exceeds [`NPM_CI_TIMEOUT`].
pub fn ensure_node_modules() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = interop_dir();
        if installed(&dir) {
            return;
        }
        with_file_lock(&dir.join(".npm-ci.lock"), || {
            // Another process may have finished the install while we waited.
            if !installed(&dir) {
                run_npm_ci(&dir);
            }
        });
        assert!(
            installed(&dir),
            "npm ci succeeded but {} is incomplete",
            dir.join("node_modules").display()
        );
    });
}

/// True once npm has completed an install (it writes the hidden lock file
/// last) and the pinned package is present.
fn installed(dir: &Path) -> bool {
    let modules = dir.join("node_modules");
    modules.join(".package-lock.json").is_file()
        && modules
            .join("@ethereumjs")
            .join("devp2p")
            .join("package.json")
            .is_file()
}

fn run_npm_ci(dir: &Path) {
    let mut cmd = std::process::Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir);
    run_to_end(
        cmd,
        NPM_CI_TIMEOUT,
        "npm ci (Node.js >= 20 with npm is required)",
    );
}

/// Runs `f` holding an exclusive advisory lock on `lock_path` (created if
/// missing): one process at a time does a one-time set-up. The OS drops the
/// lock if the process dies, so there is no stale lock to clean up.
pub fn with_file_lock<T>(lock_path: &Path, f: impl FnOnce() -> T) -> T {
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _guard = lock
        .write()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    f()
}

/// Runs `cmd` (a set-up step: an install, a build) to its end; kills it and
/// panics after `timeout`, and panics with its output if it fails. `what`
/// names it in the messages.
pub fn run_to_end(mut cmd: std::process::Command, timeout: Duration, what: &str) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let deadline = Instant::now() + timeout;
    while child
        .try_wait()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
        .is_none()
    {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} took longer than {timeout:?}");
        }
        std::thread::sleep(SETUP_POLL);
    }
    let out = child.wait_with_output().expect("collect the output");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What went wrong while reading a child peer's events.
#[derive(Debug)]
pub enum ChildPeerError {
    /// No event arrived within the timeout.
    Timeout,
    /// The peer closed stdout (it exited or crashed).
    Closed,
    /// A stdout line was not a JSON object with a string `event` field, or was too long.
    Malformed(String),
}

/// One running child peer (see the module docs).
pub struct ChildPeer {
    script: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: FramedRead<ChildStdout, LinesCodec>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_task: JoinHandle<()>,
}

impl ChildPeer {
    /// Starts `node tests/interop/<script> <args>`, installing the npm
    /// dependencies first if needed. Must be called inside a tokio runtime.
    ///
    /// `DEBUG=devp2p:*` (passed through) turns on ethereumjs's own logging.
    pub fn spawn_js(script: &str, args: &[String]) -> ChildPeer {
        ensure_node_modules();
        let dir = interop_dir();
        let mut cmd = Command::new("node");
        cmd.arg(dir.join(script)).args(args).current_dir(&dir);
        ChildPeer::spawn(script, cmd, "Node.js >= 20 is required")
    }

    /// Starts `cmd` as a child peer named `name` in failure messages;
    /// `missing` says what to install when the program cannot be run. Must
    /// be called inside a tokio runtime.
    ///
    /// The child's stderr is kept (last [`STDERR_TAIL_LINES`] lines) for
    /// failure messages; set `CHILD_PEER_LOG=1` to also echo it live.
    pub fn spawn(name: &str, mut cmd: Command, missing: &str) -> ChildPeer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name} ({missing}): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
        let echo = std::env::var_os("CHILD_PEER_LOG").is_some();
        let tail = Arc::clone(&stderr_tail);
        let label = name.to_owned();
        // Owned by the ChildPeer (aborted on drop); also ends when the child closes stderr.
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("[{label}] {line}");
                }
                let mut tail = tail.lock().expect("stderr tail lock");
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });

        ChildPeer {
            script: name.to_owned(),
            child,
            stdin: Some(stdin),
            events: FramedRead::new(
                stdout,
                LinesCodec::new_with_max_length(MAX_EVENT_LINE_BYTES),
            ),
            stderr_tail,
            stderr_task,
        }
    }

    /// The next stdout line as it is (for programs whose first line is not
    /// JSON, such as an enode URL); panics if none arrives within `timeout`.
    pub async fn next_line(&mut self, timeout: Duration) -> String {
        match tokio::time::timeout(timeout, self.events.next()).await {
            Ok(Some(Ok(line))) => line,
            Err(_) => self.fail(&format!("no line within {timeout:?}"), &[]),
            Ok(None) => self.fail("stdout closed", &[]),
            Ok(Some(Err(e))) => self.fail(&format!("bad line: {e}"), &[]),
        }
    }

    /// Sends one command (a JSON object with a `cmd` field) as a line on stdin.
    pub async fn send(&mut self, cmd: Value) {
        let mut line = serde_json::to_vec(&cmd).expect("serialize command");
        line.push(b'\n');
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: stdin already closed", self.script));
        if let Err(e) = stdin.write_all(&line).await {
            panic!(
                "{}: writing command {cmd}: {e}\nstderr:\n{}",
                self.script,
                self.stderr_tail()
            );
        }
        stdin.flush().await.expect("flush stdin");
    }

    /// The next event, or why there is none within `timeout`.
    pub async fn try_next_event(&mut self, timeout: Duration) -> Result<Value, ChildPeerError> {
        let line = match tokio::time::timeout(timeout, self.events.next()).await {
            Err(_) => return Err(ChildPeerError::Timeout),
            Ok(None) => return Err(ChildPeerError::Closed),
            Ok(Some(Err(e))) => return Err(ChildPeerError::Malformed(e.to_string())),
            Ok(Some(Ok(line))) => line,
        };
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| ChildPeerError::Malformed(format!("{e}: {line}")))?;
        if value.get("event").and_then(Value::as_str).is_none() {
            return Err(ChildPeerError::Malformed(format!(
                "no \"event\" field: {line}"
            )));
        }
        Ok(value)
    }

    /// The next event; panics (with the child's stderr) if none arrives within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Value {
        match self.try_next_event(timeout).await {
            Ok(event) => event,
            Err(e) => self.fail(&format!("next event within {timeout:?}: {e:?}"), &[]),
        }
    }

    /// Skips events until one named `event` arrives and returns it. The whole
    /// wait is bounded by `timeout`; on failure it panics listing the events
    /// it skipped and the child's stderr.
    pub async fn wait_for(&mut self, event: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut skipped = VecDeque::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_event(left).await {
                Ok(value) if value["event"] == event => return value,
                Ok(value) => {
                    if skipped.len() == SKIPPED_EVENTS_KEPT {
                        skipped.pop_front();
                    }
                    skipped.push_back(value);
                }
                Err(e) => {
                    let skipped: Vec<Value> = skipped.into();
                    self.fail(
                        &format!("waiting {timeout:?} for event {event:?}: {e:?}"),
                        &skipped,
                    )
                }
            }
        }
    }

    /// Sends `exit`, closes stdin and waits (bounded) for the process to end.
    pub async fn exit(mut self, timeout: Duration) -> ExitStatus {
        self.send(serde_json::json!({ "cmd": "exit" })).await;
        self.stdin = None;
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait for the child"),
            Err(_) => self.fail(&format!("did not exit within {timeout:?}"), &[]),
        }
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().expect("stderr tail lock");
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn fail(&self, what: &str, skipped: &[Value]) -> ! {
        let skipped: Vec<String> = skipped.iter().map(Value::to_string).collect();
        panic!(
            "{}: {what}\nskipped events:\n{}\nstderr tail:\n{}",
            self.script,
            skipped.join("\n"),
            self.stderr_tail()
        )
    }
}

impl Drop for ChildPeer {
    fn drop(&mut self) {
        // The child itself is killed by kill_on_drop.
        self.stderr_task.abort();
    }
}
