//! Cost per message of the `Server`/`Peer`/`Protocol` path: heap
//! allocations, context switches (thread sleeps and preemptions), minor page
//! faults (heap memory the allocator gave back and takes again) and CPU
//! time per message of a stream between two servers (the set-up of
//! `benches/peer.rs`: two single-worker runtimes, loopback TCP, snappy on,
//! incompressible payloads). Counts, not speeds: they hardly move with the
//! machine's load.
//!
//! Run: `cargo bench -p devp2p-rs --bench peer_cost` (a few seconds; a
//! filter such as `-- 64B` runs one size). Lines:
//!
//! ```text
//! bench peer.cost.<size> msgs=<n> allocs_per_msg=<x> alloc_bytes_per_msg=<x> csw_per_msg=<x> faults_per_msg=<x> cpu_us_per_msg=<x> bound_cpu_us_per_msg=<y> cpu_ratio=<2y/x>
//! bench peer.cost.rtt rtts=<n> allocs_per_rtt=<x> csw_per_rtt=<x> cpu_us_per_rtt=<x> bound_cpu_us_per_rtt=<y> cpu_ratio=<y/x>
//! ```
//!
//! `rtt` is the round trip of `benches/peer.rs` (8-byte request, the same
//! answer): two messages, each encoded once and decoded once, so its bound
//! is four times one side's crypto of an 8-byte message's frame.
//! `csw_per_rtt` counts the threads' sleeps; hops between tasks on one
//! thread show in the CPU time and in `scripts/peer-cost-callgrind rtt`.
//!
//! `cpu_us_per_msg` is the whole process (both sides, kernel included);
//! `bound_cpu_us_per_msg` one side's per-frame crypto on one thread
//! (`support/frame_bound.rs`), so `cpu_ratio` is the share of our CPU time
//! the crypto cannot avoid: a speed ratio that does not depend on how much
//! of the two cores other processes take.
//!
//! Instructions per message: `scripts/peer-cost-callgrind` runs this binary
//! under `valgrind --tool=callgrind` twice with different message counts
//! (`PEER_COST_MSGS`) and divides the difference, so the set-up (handshake,
//! start-up) cancels out; `PEER_COST_MODE=stream` runs only the stream (or
//! the round trips), `PEER_COST_MODE=bound` only the per-frame crypto bound
//! of one side (four per round trip).

#[path = "support/frame_bound.rs"]
mod frame_bound;
#[path = "support/pair.rs"]
mod pair;
#[path = "support/process.rs"]
mod process;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use frame_bound::SideBound;
use pair::{connect_pair, payload, round_trips, stream, RTT_FRAME_SIDES, RTT_PAYLOAD_BYTES};

/// Allocations and allocated bytes of the whole process.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Payload sizes measured.
const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (64 * 1024, "64KiB")];
/// Messages per measured stream (`PEER_COST_MSGS` overrides): enough that
/// per-stream costs (task spawns, queue blocks) vanish in the average.
const DEFAULT_MSGS: usize = 20_000;
/// Messages streamed before measuring, so buffers and queues have grown to
/// their working size.
const WARMUP_MSGS: usize = 1_000;

/// CPU time (user + system) of the calling thread, in µs.
fn thread_cpu_us() -> u64 {
    // SAFETY: getrusage writes only into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Context switches (voluntary + involuntary), minor page faults and CPU
/// time (user + system, µs) of the whole process so far.
fn rusage() -> (u64, u64, u64) {
    // SAFETY: getrusage writes only into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (
        (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        ru.ru_minflt as u64,
        us(ru.ru_utime) + us(ru.ru_stime),
    )
}

fn main() {
    let filter = process::bench_filter();
    let msgs = std::env::var("PEER_COST_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MSGS);
    let mode = std::env::var("PEER_COST_MODE").unwrap_or_default();
    if mode.is_empty() && !process::quiet_enough("peer_cost") {
        return;
    }
    for (size, label) in SIZES.into_iter().filter(|(_, l)| l.contains(&filter)) {
        if mode == "bound" {
            let mut bound = SideBound::new(size);
            for _ in 0..msgs {
                bound.frame();
            }
            continue;
        }
        let (pair, rw_a, rw_b) = connect_pair();
        let data = payload(size);
        let (_, rw_a, rw_b) = stream(&pair, rw_a, rw_b, data.clone(), WARMUP_MSGS);
        let allocs0 = ALLOCS.load(Ordering::Relaxed);
        let bytes0 = ALLOC_BYTES.load(Ordering::Relaxed);
        let (csw0, faults0, cpu0) = rusage();
        let (_, rw_a, rw_b) = stream(&pair, rw_a, rw_b, data, msgs);
        let (csw1, faults1, cpu1) = rusage();
        let allocs1 = ALLOCS.load(Ordering::Relaxed);
        let bytes1 = ALLOC_BYTES.load(Ordering::Relaxed);
        drop((rw_a, rw_b));
        pair.stop();
        if mode == "stream" {
            continue;
        }
        // One side's crypto per frame, on this thread, for the same count.
        let mut bound = SideBound::new(size);
        let t0 = thread_cpu_us();
        for _ in 0..msgs {
            bound.frame();
        }
        let bound_us = (thread_cpu_us() - t0) as f64 / msgs as f64;
        let per = |x: u64| x as f64 / msgs as f64;
        let cpu_us = per(cpu1 - cpu0);
        println!(
            "bench peer.cost.{label} msgs={msgs} allocs_per_msg={:.2} alloc_bytes_per_msg={:.0} csw_per_msg={:.3} faults_per_msg={:.2} cpu_us_per_msg={cpu_us:.2} bound_cpu_us_per_msg={bound_us:.2} cpu_ratio={:.3}",
            per(allocs1 - allocs0),
            per(bytes1 - bytes0),
            per(csw1 - csw0),
            per(faults1 - faults0),
            2.0 * bound_us / cpu_us,
        );
    }
    if "rtt".contains(&filter) {
        rtt_cost(msgs, &mode);
    }
}

/// The round trip's line (see the module docs), over `rtts` round trips.
fn rtt_cost(rtts: usize, mode: &str) {
    let bound_run = || {
        let mut bound = SideBound::new(RTT_PAYLOAD_BYTES);
        for _ in 0..RTT_FRAME_SIDES * rtts {
            bound.frame();
        }
    };
    if mode == "bound" {
        bound_run();
        return;
    }
    let (pair, rw_a, rw_b) = connect_pair();
    let (_, rw_a, rw_b) = round_trips(&pair, rw_a, rw_b, WARMUP_MSGS);
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let (csw0, _, cpu0) = rusage();
    let (_, rw_a, rw_b) = round_trips(&pair, rw_a, rw_b, rtts);
    let (csw1, _, cpu1) = rusage();
    let allocs1 = ALLOCS.load(Ordering::Relaxed);
    drop((rw_a, rw_b));
    pair.stop();
    if mode == "stream" {
        return;
    }
    let t0 = thread_cpu_us();
    bound_run();
    let per = |x: u64| x as f64 / rtts as f64;
    let bound_us = per(thread_cpu_us() - t0);
    let cpu_us = per(cpu1 - cpu0);
    println!(
        "bench peer.cost.rtt rtts={rtts} allocs_per_rtt={:.2} csw_per_rtt={:.3} cpu_us_per_rtt={cpu_us:.2} bound_cpu_us_per_rtt={bound_us:.2} cpu_ratio={:.3}",
        per(allocs1 - allocs0),
        per(csw1 - csw0),
        bound_us / cpu_us,
    );
}
