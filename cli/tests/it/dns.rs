//! EIP-1459 DNS node lists against a real DNS server (NSD, serving the zone
//! file of `devp2p dns to-txt --zone` on 127.0.0.1) and go-ethereum's
//! `devp2p dns`: sign → to-txt → serve → sync round trips both ways, a node
//! that dials what a list names, and bad trees that yield nothing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use devp2p::dnsdisc::{Client, ClientConfig, DnsSource, Error, Tree, TreeUrl};
use devp2p::node::{node_key_from_rng, Enr, NodeId};
use devp2p::{Config, PeerEventKind, Server};
use devp2p_cli::demo::{Demo, DemoConfig};
use futures::StreamExt;
use rand::SeedableRng;
use secp256k1::SecretKey;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use crate::child_peer::fixed_key_hex;
use crate::geth;

/// Time limit for NSD to load its zones and answer, and for one CLI run,
/// on the loaded 2-core machine (NSD starts in ~0.2 s).
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit for the dialing node to connect to every listed node: the
/// walk resolves ~5 entries (rate limit 3/s, burst 10) and dials at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a source fed by a bad tree is watched for records (paused
/// time is not available with real sockets; the client's lookup timeout
/// is lowered to 1 s so the bad-tree checks fit).
const QUIET_WINDOW: Duration = Duration::from_secs(3);
/// Domain of the test trees (`.test` is reserved, RFC 2606).
const DOMAIN: &str = "nodes.example.test";

/// NSD serving zone files in the foreground; killed (with its temporary
/// directory removed) on drop, also when a test fails.
struct Nsd {
    child: Child,
    _stderr: BufReader<ChildStderr>,
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nsd {
    /// Serves `zones` (domain → zone file text) on `addr` (`None`: a free
    /// port on 127.0.0.1), optionally inside network namespace `netns`.
    async fn start(zones: &[(&str, String)], addr: Option<SocketAddr>, netns: Option<&str>) -> Nsd {
        let addr = addr.unwrap_or_else(free_port);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let mut conf = format!(
            "server:\n  ip-address: {ip}@{port}\n  zonesdir: \"{d}\"\n  database: \"\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  \
             pidfile: \"{d}/nsd.pid\"\n  username: \"\"\n  chroot: \"\"\n  server-count: 1\n  \
             verbosity: 1\nremote-control:\n  control-enable: no\n",
            ip = addr.ip(),
            port = addr.port()
        );
        for (i, (domain, text)) in zones.iter().enumerate() {
            std::fs::write(dir.path().join(format!("{i}.zone")), text).unwrap();
            conf += &format!("zone:\n  name: \"{domain}\"\n  zonefile: \"{d}/{i}.zone\"\n");
        }
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nsd"]);
                c
            }
            None => Command::new("nsd"),
        };
        cmd.arg("-d").arg("-c").arg(&conf_path);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run nsd (apt-get install nsd; .ci/run installs it)");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        // Ready when it logs "nsd started" (after loading every zone).
        let ready = tokio::time::timeout(PROCESS_TIMEOUT, async {
            let mut log = String::new();
            loop {
                let mut line = String::new();
                if stderr.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return Err(log);
                }
                log += &line;
                if line.contains("nsd started") {
                    return Ok(());
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("nsd exited before it started:\n{log}"),
            Err(_) => panic!("nsd did not start within {PROCESS_TIMEOUT:?}"),
        }
        Nsd {
            child,
            _stderr: stderr,
            _dir: dir,
            addr,
        }
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A free UDP and TCP port on 127.0.0.1 (NSD cannot bind port 0 and report it).
fn free_port() -> SocketAddr {
    loop {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = udp.local_addr().unwrap();
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// A network namespace with `lo` up and a resolv.conf naming 127.0.0.1
/// (`ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf); removed on drop.
struct Netns(String);

impl Netns {
    fn create(name: &str) -> Result<Netns, String> {
        let run = crate::common::ip;
        let _ = run(&["netns", "del", name]);
        run(&["netns", "add", name])?;
        let ns = Netns(name.to_owned());
        run(&["netns", "exec", name, "ip", "link", "set", "lo", "up"])?;
        let etc = Path::new("/etc/netns").join(name);
        std::fs::create_dir_all(&etc).map_err(|e| format!("{}: {e}", etc.display()))?;
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n")
            .map_err(|e| format!("resolv.conf: {e}"))?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.0));
    }
}

/// `n` records on 127.0.0.1 with seeded keys (ports are not dialed).
fn records(seed: u64, n: u16) -> Vec<Enr> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            Enr::builder()
                .ip4(Ipv4Addr::LOCALHOST)
                .tcp(31000 + i)
                .udp(31000 + i)
                .sign(&node_key_from_rng(&mut rng))
                .unwrap()
        })
        .collect()
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_secret_bytes([n; 32]).unwrap()
}

/// Runs our CLI; panics with its stderr unless it succeeds; returns stdout.
async fn ours_ok(args: &[&str]) -> String {
    let out = geth::our_cli(args, PROCESS_TIMEOUT).await;
    assert!(
        out.status.success(),
        "devp2p {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Records of a tree directory's nodes.json (go-ethereum's form), sorted.
fn dir_records(dir: &Path) -> Vec<String> {
    let v: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("nodes.json")).unwrap()).unwrap();
    let mut r: Vec<String> = v
        .values()
        .map(|n| n["record"].as_str().unwrap().to_owned())
        .collect();
    r.sort();
    r
}

fn info(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("enrtree-info.json")).unwrap()).unwrap()
}

/// Writes `records` as our nodes.json form (the `discv4 crawl` array).
fn write_crawl_nodes(dir: &Path, records: &[Enr]) {
    std::fs::create_dir_all(dir).unwrap();
    let list: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::json!({"id": r.node_id().to_string(), "enr": r.to_string()}))
        .collect();
    std::fs::write(
        dir.join("nodes.json"),
        serde_json::to_string(&list).unwrap(),
    )
    .unwrap();
}

fn sorted_texts(records: &[Enr]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn dns_sign_to_txt_serve_sync_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let tree_dir = tmp.path().join("tree");
    let recs = records(1, 200); // > 13²: three levels of branches
    write_crawl_nodes(&tree_dir, &recs);
    let keyfile = tmp.path().join("key");
    std::fs::write(&keyfile, fixed_key_hex(7)).unwrap();
    let (t, k) = (tree_dir.to_str().unwrap(), keyfile.to_str().unwrap());

    let url = ours_ok(&["dns", "sign", t, k, "--domain", DOMAIN, "--seq", "7"]).await;
    let url = url.trim();
    assert_eq!(info(&tree_dir)["url"], url);
    assert_eq!(info(&tree_dir)["seq"], 7);
    let txt: BTreeMap<String, String> =
        serde_json::from_str(&ours_ok(&["dns", "to-txt", t]).await).unwrap();
    assert!(txt[DOMAIN].starts_with("enrtree-root:v1 "));
    assert!(txt.len() > recs.len() + 1, "records, branches and the root");
    let zone = ours_ok(&["dns", "to-txt", t, "-", "--zone"]).await;

    let nsd = Nsd::start(&[(DOMAIN, zone)], None, None).await;
    let out_dir = tmp.path().join("synced");
    let server = nsd.addr.to_string();
    let t0 = std::time::Instant::now();
    ours_ok(&[
        "dns",
        "sync",
        url,
        out_dir.to_str().unwrap(),
        "--server",
        &server,
    ])
    .await;
    eprintln!(
        "dns sync: {} records, {} TXT records in {:.0} ms (process start included)",
        recs.len(),
        txt.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(dir_records(&out_dir), sorted_texts(&recs));
    assert_eq!(info(&out_dir)["signature"], info(&tree_dir)["signature"]);
    assert_eq!(info(&out_dir)["seq"], 7);
}

#[tokio::test]
async fn node_with_dns_list_dials_the_listed_nodes() {
    // Three of our servers, listed in a tree.
    let mut listed = Vec::new();
    for n in 1..=3u8 {
        let k = key(20 + n);
        let demo = Demo::new(DemoConfig::new(NodeId::from_secret_key(&k)));
        let server = Server::start(Config {
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            no_discovery: true,
            no_dial: true,
            protocols: vec![demo.protocol()],
            ..Config::with_key(k)
        })
        .await
        .unwrap();
        listed.push(server);
    }
    let enrs: Vec<Enr> = listed.iter().map(|s| s.local_node().enr()).collect();
    let mut tree = Tree::new(1, enrs, vec![]);
    let url = tree.sign(&key(9), DOMAIN).unwrap();
    let nsd = Nsd::start(&[(DOMAIN, tree.to_zone(DOMAIN, 60, 3600))], None, None).await;

    // `devp2p node --dns <url> --dns.server <nsd>` must connect to all three.
    let dialer_key = fixed_key_hex(30);
    let dialer_id = NodeId::from_secret_key(
        &SecretKey::from_secret_bytes(hex::decode(&dialer_key).unwrap().try_into().unwrap())
            .unwrap(),
    );
    let mut events: Vec<_> = listed.iter().map(|s| s.subscribe_events()).collect();
    let (url_text, server_text) = (url.to_string(), nsd.addr.to_string());
    let _node = crate::cli_node::Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_devp2p"))
            .args([
                "node",
                "--addr",
                "127.0.0.1:0",
                "--nodiscover",
                "--nodekeyhex",
                &dialer_key,
                "--dns",
                &url_text,
                "--dns.server",
                &server_text,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for ev in &mut events {
        tokio::time::timeout(CONNECT_TIMEOUT, async {
            while let Some(e) = ev.next().await {
                if e.kind == PeerEventKind::Add && e.peer == dialer_id {
                    return;
                }
            }
            panic!("event stream ended");
        })
        .await
        .expect("the DNS-listed node was dialed");
    }
    for s in &listed {
        s.stop().await;
    }
}

/// A client with a short lookup timeout against `nsd`, no rate limit.
fn client(nsd: &Nsd) -> Client {
    Client::new(ClientConfig {
        name_server: Some(nsd.addr),
        lookup_timeout: Duration::from_secs(1),
        rate_limit: 0,
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Asserts that no record comes out of a source walking `url` for a while.
async fn yields_nothing(client: Client, url: TreeUrl) {
    let mut source = DnsSource::new(client, vec![url]);
    let got = tokio::time::timeout(QUIET_WINDOW, source.next()).await;
    assert!(got.is_err(), "a bad tree yielded {got:?}");
}

/// Zone text with one TXT record replaced (or added) at `name`.
fn patch_zone(zone: &str, label: &str, text: &str) -> String {
    let mut out: Vec<String> = zone
        .lines()
        .filter(|l| !l.starts_with(&format!("{label} ")))
        .map(str::to_owned)
        .collect();
    let quoted: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    out.push(format!("{label} 60 IN TXT {}", quoted.join(" ")));
    out.join("\n") + "\n"
}

#[tokio::test]
async fn bad_trees_are_typed_errors_and_yield_nothing() {
    let recs = records(3, 4);
    // 1. Wrong signature: the URL names another key.
    let mut good = Tree::new(1, recs.clone(), vec![]);
    let good_url = good.sign(&key(11), "good.example.test").unwrap();
    let wrong_key_url = TreeUrl::new(
        "good.example.test",
        secp256k1::PublicKey::from_secret_key(&key(12)),
    )
    .unwrap();
    // 2. Hash mismatch: a leaf's name serves another (valid) record.
    // Each tree lists other records: the client caches verified entries by
    // hash across trees, so a shared leaf would come from the cache.
    let mut mism = Tree::new(1, records(6, 4), vec![]);
    let mism_url = mism.sign(&key(13), "mismatch.example.test").unwrap();
    let leaf = mism
        .to_txt("")
        .into_iter()
        .find(|(_, t)| t.starts_with("enr:"))
        .unwrap()
        .0;
    let mism_zone = patch_zone(
        &mism.to_zone("mismatch.example.test", 60, 60),
        &leaf,
        &records(4, 1)[0].to_string(),
    );
    // 3. Oversized TXT: the node root's name serves 600 bytes.
    let mut big = Tree::new(1, records(7, 4), vec![]);
    let big_url = big.sign(&key(14), "big.example.test").unwrap();
    let big_label = big.root().enr_root.to_string();
    let big_zone = patch_zone(
        &big.to_zone("big.example.test", 60, 60),
        &big_label,
        &format!("enr:{}", "A".repeat(596)),
    );
    // 4. Loop: a.loop and b.loop link to each other and list no nodes.
    let ua = TreeUrl::new(
        "a.loop.test",
        secp256k1::PublicKey::from_secret_key(&key(15)),
    )
    .unwrap();
    let ub = TreeUrl::new(
        "b.loop.test",
        secp256k1::PublicKey::from_secret_key(&key(16)),
    )
    .unwrap();
    let mut ta = Tree::new(1, vec![], vec![ub.clone()]);
    ta.sign(&key(15), "a.loop.test").unwrap();
    let mut tb = Tree::new(1, vec![], vec![ua.clone()]);
    tb.sign(&key(16), "b.loop.test").unwrap();

    let nsd = Nsd::start(
        &[
            (
                "good.example.test",
                good.to_zone("good.example.test", 60, 60),
            ),
            ("mismatch.example.test", mism_zone),
            ("big.example.test", big_zone),
            ("a.loop.test", ta.to_zone("a.loop.test", 60, 60)),
            ("b.loop.test", tb.to_zone("b.loop.test", 60, 60)),
        ],
        None,
        None,
    )
    .await;
    // 5. A subtree that never resolves: a proxy in front of NSD drops the
    // queries for the node root's name.
    let silent_label = good.root().enr_root.to_string();
    let proxy = BlackholeProxy::start(nsd.addr, &silent_label).await;
    let silent = Client::new(ClientConfig {
        name_server: Some(proxy.addr),
        lookup_timeout: Duration::from_secs(1),
        rate_limit: 0,
        ..ClientConfig::default()
    })
    .unwrap();

    let c = client(&nsd);
    assert_eq!(
        c.sync_tree(&good_url).await.unwrap().records().len(),
        4,
        "the control tree syncs"
    );
    let err = c.sync_tree(&wrong_key_url).await.unwrap_err();
    assert!(matches!(err, Error::InvalidSignature { .. }), "{err}");
    let err = c.sync_tree(&mism_url).await.unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    let err = c.sync_tree(&big_url).await.unwrap_err();
    assert!(matches!(err, Error::TxtTooLarge { len: 600, .. }), "{err}");
    let err = c.sync_all(&ua).await.unwrap_err();
    assert!(matches!(err, Error::LinkLoop { .. }), "{err}");
    let err = silent.sync_tree(&good_url).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    // The CLI names the error too.
    let out = geth::our_cli(
        &[
            "dns",
            "sync",
            &wrong_key_url.to_string(),
            "/nonexistent/x",
            "--server",
            &nsd.addr.to_string(),
        ],
        PROCESS_TIMEOUT,
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("root signature does not match"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Nothing reaches a dialer from any of them (mismatch and oversized:
    // the bad entry is on every path, as the trees have one branch).
    yields_nothing(c.clone(), wrong_key_url).await;
    yields_nothing(c.clone(), ua).await;
    yields_nothing(silent, good_url).await;
    drop(proxy);
}

/// A UDP proxy to a DNS server that drops queries whose first label is
/// `label` (so they time out) and forwards the rest; stops on drop.
struct BlackholeProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl BlackholeProxy {
    async fn start(upstream: SocketAddr, label: &str) -> BlackholeProxy {
        let front = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let back = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        back.connect(upstream).await.unwrap();
        let addr = front.local_addr().unwrap();
        let label = label.as_bytes().to_vec();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            let mut reply = vec![0u8; 65_535];
            loop {
                let Ok((n, from)) = front.recv_from(&mut buf).await else {
                    return;
                };
                // Header is 12 bytes; the question name's first label follows.
                let q = &buf[..n];
                let first = q
                    .get(13..13 + usize::from(*q.get(12).unwrap_or(&0)))
                    .unwrap_or(&[]);
                if first.eq_ignore_ascii_case(&label) {
                    continue;
                }
                if back.send(q).await.is_err() {
                    return;
                }
                let Ok(Ok(m)) = tokio::time::timeout(PROCESS_TIMEOUT, back.recv(&mut reply)).await
                else {
                    continue;
                };
                let _ = front.send_to(&reply[..m], from).await;
            }
        });
        BlackholeProxy { addr, task }
    }
}

impl Drop for BlackholeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// go-ethereum's `devp2p` with `stdin_text` on stdin, optionally inside a namespace.
async fn geth_devp2p(args: &[&str], stdin_text: &str, netns: Option<&str>) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let bin = geth::bin("devp2p");
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(stdin_text.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(PROCESS_TIMEOUT, child.wait_with_output())
        .await
        .expect("go-ethereum devp2p timed out")
        .unwrap()
}

/// A go-ethereum keystore file (light scrypt) for password "pw", made by geth.
async fn geth_keystore(dir: &Path) -> PathBuf {
    let pw = dir.join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let ks = dir.join("keystore");
    let out = tokio::time::timeout(
        PROCESS_TIMEOUT,
        Command::new(geth::bin("geth"))
            .args(["account", "new", "--lightkdf", "--keystore"])
            .arg(&ks)
            .arg("--password")
            .arg(&pw)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "geth account new: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(&ks)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[tokio::test]
async fn interop_geth_dns_trees_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(5, 16);

    // go-ethereum signs (its nodes.json form, written by our `dns sign` first
    // so the file is in go-ethereum's layout), both export TXT records.
    let gdir = tmp.path().join("geth-tree");
    write_crawl_nodes(&gdir, &recs);
    let keyfile = tmp.path().join("ourkey");
    std::fs::write(&keyfile, fixed_key_hex(8)).unwrap();
    ours_ok(&[
        "dns",
        "sign",
        gdir.to_str().unwrap(),
        keyfile.to_str().unwrap(),
        "--domain",
        DOMAIN,
    ])
    .await;
    let ks = geth_keystore(tmp.path()).await;
    let g = gdir.to_str().unwrap();
    let out = geth_devp2p(
        &[
            "dns",
            "sign",
            "--domain",
            "geth.example.test",
            "--seq",
            "5",
            g,
            ks.to_str().unwrap(),
        ],
        "pw\n",
        None,
    )
    .await;
    assert!(
        out.status.success(),
        "geth dns sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let geth_url = info(&gdir)["url"].as_str().unwrap().to_owned();
    let gtxt = tmp.path().join("geth-txt.json");
    let out = geth_devp2p(&["dns", "to-txt", g, gtxt.to_str().unwrap()], "", None).await;
    assert!(
        out.status.success(),
        "geth dns to-txt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&gtxt).unwrap()).unwrap();
    let ours: BTreeMap<String, String> =
        serde_json::from_str(&ours_ok(&["dns", "to-txt", g]).await).unwrap();
    assert_eq!(ours, theirs, "the same tree, hash for hash");

    // A tree go-ethereum signed syncs in ours.
    let zone = ours_ok(&["dns", "to-txt", g, "-", "--zone"]).await;
    let nsd = Nsd::start(&[("geth.example.test", zone)], None, None).await;
    let synced = tmp.path().join("ours-synced");
    ours_ok(&[
        "dns",
        "sync",
        &geth_url,
        synced.to_str().unwrap(),
        "--server",
        &nsd.addr.to_string(),
    ])
    .await;
    assert_eq!(dir_records(&synced), sorted_texts(&recs));
    drop(nsd);

    // A tree we signed syncs in go-ethereum's client, which reads only
    // /etc/resolv.conf: NSD on 127.0.0.1:53 inside a namespace.
    let ns = match Netns::create(&format!("dnsdisc-{}", std::process::id())) {
        Ok(ns) => ns,
        Err(reason) => {
            eprintln!("SKIPPED go-ethereum sync half: cannot create a network namespace: {reason}");
            return;
        }
    };
    let odir = tmp.path().join("our-tree");
    write_crawl_nodes(&odir, &recs);
    let our_url = ours_ok(&[
        "dns",
        "sign",
        odir.to_str().unwrap(),
        keyfile.to_str().unwrap(),
        "--domain",
        DOMAIN,
    ])
    .await;
    let zone = ours_ok(&["dns", "to-txt", odir.to_str().unwrap(), "-", "--zone"]).await;
    let nsd = Nsd::start(
        &[(DOMAIN, zone)],
        Some("127.0.0.1:53".parse().unwrap()),
        Some(&ns.0),
    )
    .await;
    let gsynced = tmp.path().join("geth-synced");
    let out = geth_devp2p(
        &["dns", "sync", our_url.trim(), gsynced.to_str().unwrap()],
        "",
        Some(&ns.0),
    )
    .await;
    assert!(
        out.status.success(),
        "geth dns sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dir_records(&gsynced), sorted_texts(&recs));
    assert_eq!(info(&gsynced)["signature"], info(&odir)["signature"]);
    drop(nsd);
    drop(ns);
}
