//! RLPx throughput benchmark: frame codec and handshake, each against a
//! bound measured in the same process on the same bytes.
//!
//! Run: `cargo bench -p devp2p --bench rlpx`. Ends with one line per figure:
//! `bench rlpx.frame.<size> mb_per_s=<x> bound_mb_per_s=<y> ratio=<x/y>` (MB/s of
//! message bytes, 10^6 bytes per second, encode+decode) and
//! `bench rlpx.handshake ours_per_s=<x> bound_per_s=<y> ratio=<x/y>`.
//!
//! Method: ours and bound alternate in short rounds; each figure is the best
//! round, which filters out interference from other processes on a shared
//! machine.

#[path = "support/ec_bound.rs"]
mod ec_bound;
use ec_bound::EcBound;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::BytesMut;
use devp2p::node::node_key_from_rng;
use devp2p::rlpx::{FrameCodec, HandshakeKey, Initiator, Recipient};
use rand::rngs::StdRng;
use rand::SeedableRng;
// The bound uses the MACs' keccak backend, so the ratio measures our framing,
// not the choice of keccak implementation.
use devp2p::rlpx::Keccak as Keccak256;
use sha3::Digest;

/// Rounds per figure (ours and bound alternate).
const ROUNDS: usize = 5;
/// Target duration of one timed round.
const ROUND_TIME: Duration = Duration::from_millis(200);

/// Runs `f` (which does `per_call` units of work) in rounds of about
/// ROUND_TIME and returns the best rate in units per second.
fn best_rate(per_call: f64, mut f: impl FnMut()) -> f64 {
    // Calibrate the number of calls per round.
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < ROUND_TIME / 4 {
        f();
        calls += 1;
    }
    let calls = (calls * 4).max(1);
    let t = Instant::now();
    for _ in 0..calls {
        f();
    }
    let secs = t.elapsed().as_secs_f64();
    per_call * calls as f64 / secs
}

fn pair(seed: u64) -> (FrameCodec, FrameCodec) {
    let mut rng = StdRng::seed_from_u64(seed);
    let a = HandshakeKey::new(node_key_from_rng(&mut rng));
    let b = HandshakeKey::new(node_key_from_rng(&mut rng));
    let init = Initiator::new(&a, b.id(), &mut rng).unwrap();
    let (sb, ack) = Recipient::respond(&b, init.auth_packet(), &mut rng).unwrap();
    let sa = init.finish(&a, &ack).unwrap();
    (FrameCodec::new(sa), FrameCodec::new(sb))
}

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The unavoidable cryptographic work of one frame, both sides: AES-256-CTR
/// over header and padded body (sender and receiver), and per side the
/// keccak256 absorption of both MAC seeds and the body plus three digests
/// (the spec's construction reads four, but the header step's first digest
/// is the previous frame MAC: see `devp2p_rlpx::mac::MacState`).
struct Bound {
    enc: Aes256Ctr,
    dec: Aes256Ctr,
    egress: Keccak256,
    ingress: Keccak256,
    buf: Vec<u8>,
}

impl Bound {
    fn new(size: usize) -> Self {
        let key = [7u8; 32];
        Bound {
            enc: Aes256Ctr::new(&key.into(), &[0u8; 16].into()),
            dec: Aes256Ctr::new(&key.into(), &[0u8; 16].into()),
            egress: Keccak256::new(),
            ingress: Keccak256::new(),
            buf: vec![0u8; 16 + size.div_ceil(16) * 16],
        }
    }

    fn frame(&mut self) {
        let seed = [1u8; 16];
        self.enc.apply_keystream(&mut self.buf);
        for mac in [&mut self.egress, &mut self.ingress] {
            mac.update(seed);
            black_box(mac.clone().finalize());
            mac.update(&self.buf[16..]);
            black_box(mac.clone().finalize());
            mac.update(seed);
            black_box(mac.clone().finalize());
        }
        self.dec.apply_keystream(&mut self.buf);
    }
}

fn bench_frames(lines: &mut Vec<String>) {
    let sizes: [(&str, usize); 4] = [
        ("64B", 64),
        ("1KiB", 1024),
        ("64KiB", 64 * 1024),
        ("1MiB", 1024 * 1024),
    ];
    for (name, size) in sizes {
        let msg = vec![0x5au8; size];
        let (mut a, mut b) = pair(size as u64);
        let mut wire = BytesMut::with_capacity(size + 64);
        let mut bound = Bound::new(size);
        let (mut ours_best, mut bound_best) = (0f64, 0f64);
        for _ in 0..ROUNDS {
            let ours = best_rate(size as f64, || {
                a.encode_frame(&msg, &mut wire).unwrap();
                let frame = b.decode_frame(&mut wire).unwrap().unwrap();
                black_box(&frame);
            });
            let raw = best_rate(size as f64, || bound.frame());
            ours_best = ours_best.max(ours);
            bound_best = bound_best.max(raw);
        }
        let (x, y) = (ours_best / 1e6, bound_best / 1e6);
        lines.push(format!(
            "bench rlpx.frame.{name} mb_per_s={x:.1} bound_mb_per_s={y:.1} ratio={:.3}",
            x / y
        ));
    }
}

fn handshake_once(a: &HandshakeKey, b: &HandshakeKey, rng: &mut StdRng) {
    let init = Initiator::new(a, b.id(), rng).unwrap();
    let (sb, ack) = Recipient::respond(b, init.auth_packet(), rng).unwrap();
    let sa = init.finish(a, &ack).unwrap();
    black_box((FrameCodec::new(sa), FrameCodec::new(sb)));
}

fn bench_handshake(lines: &mut Vec<String>, info: &mut Vec<String>) {
    let mut rng = StdRng::seed_from_u64(5);
    let a = HandshakeKey::new(node_key_from_rng(&mut rng));
    let b = HandshakeKey::new(node_key_from_rng(&mut rng));
    let mut ec = EcBound::new();

    let mut best = [0f64; 3];
    for _ in 0..ROUNDS {
        let rates = [
            best_rate(1.0, || handshake_once(&a, &b, &mut rng)),
            best_rate(1.0, || ec.both_sides()),
            // What `connect(io, &SecretKey, ..)` pays: key prepared per handshake.
            best_rate(1.0, || {
                let a2 = HandshakeKey::new(*a.secret());
                let b2 = HandshakeKey::new(*b.secret());
                handshake_once(&a2, &b2, &mut rng)
            }),
        ];
        for (b, r) in best.iter_mut().zip(rates) {
            *b = b.max(r);
        }
    }
    info.push(format!(
        "info rlpx.handshake.key_prepared_per_call per_s={:.0} (cached HandshakeKey: {:.0})",
        best[2], best[0]
    ));
    lines.push(format!(
        "bench rlpx.handshake ours_per_s={:.0} bound_per_s={:.0} ratio={:.3}",
        best[0],
        best[1],
        best[0] / best[1]
    ));
}

/// keccak256 throughput of `sha3` and of the MACs' backend (informational).
fn bench_keccak(info: &mut Vec<String>) {
    fn rates<H: Digest + Clone>() -> (f64, f64) {
        let data = vec![0u8; 1 << 20];
        let mut h = H::new();
        let mut best_bulk = 0f64;
        let mut best_digest = 0f64;
        for _ in 0..ROUNDS {
            best_bulk = best_bulk.max(best_rate(data.len() as f64, || h.update(&data)));
            best_digest = best_digest.max(best_rate(1.0, || {
                black_box(h.clone().finalize());
            }));
        }
        (best_bulk, best_digest)
    }
    for (name, (bulk, digests)) in [
        ("sha3", rates::<sha3::Keccak256>()),
        ("mac_backend", rates::<Keccak256>()),
    ] {
        info.push(format!(
            "info keccak.{name} bulk_mb_per_s={:.1} digests_per_s={digests:.0}",
            bulk / 1e6
        ));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test
    // --benches`) runs nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut lines = Vec::new();
    let mut info = Vec::new();
    bench_keccak(&mut info);
    bench_frames(&mut lines);
    bench_handshake(&mut lines, &mut info);
    for l in info.iter().chain(&lines) {
        println!("{l}");
    }
}
