//! Cost per message of the `Server`/`Peer`/`Protocol` path: heap
//! allocations, context switches (thread sleeps and preemptions) and CPU
//! time per message of a stream between two servers (the set-up of
//! `benches/peer.rs`: two single-worker runtimes, loopback TCP, snappy on,
//! incompressible payloads). Counts, not speeds: they hardly move with the
//! machine's load.
//!
//! Run: `cargo bench -p devp2p-rs --bench peer_cost` (a few seconds; a
//! filter such as `-- 64B` runs one size). Lines:
//!
//! ```text
//! bench peer.cost.<size> msgs=<n> allocs_per_msg=<x> alloc_bytes_per_msg=<x> csw_per_msg=<x> cpu_us_per_msg=<x>
//! ```
//!
//! Instructions per message: `scripts/peer-cost-callgrind` runs this binary
//! under `valgrind --tool=callgrind` twice with different message counts
//! (`PEER_COST_MSGS`) and divides the difference, so the set-up (handshake,
//! start-up) cancels out; `PEER_COST_BOUND=1` runs only the per-frame crypto
//! bound of one side instead of the stream, for the same subtraction.

#[path = "support/frame_bound.rs"]
mod frame_bound;
#[path = "support/pair.rs"]
mod pair;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use frame_bound::SideBound;
use pair::{connect_pair, payload, stream};

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

/// Context switches (voluntary + involuntary) and CPU time (user + system,
/// µs) of the whole process so far.
fn rusage() -> (u64, u64) {
    // SAFETY: getrusage writes only into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (
        (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        us(ru.ru_utime) + us(ru.ru_stime),
    )
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let msgs = std::env::var("PEER_COST_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MSGS);
    let bound_only = std::env::var_os("PEER_COST_BOUND").is_some();
    for (size, label) in SIZES.into_iter().filter(|(_, l)| l.contains(&filter)) {
        if bound_only {
            let mut bound = SideBound::new(size);
            for _ in 0..msgs {
                bound.frame();
            }
            continue;
        }
        let (pair, rw_a, rw_b) = connect_pair();
        let data = payload(size);
        let (_, rw_a, rw_b) = stream(&pair, rw_a, rw_b, data.clone(), WARMUP_MSGS);
        let (allocs0, bytes0) = (ALLOCS.load(Ordering::Relaxed), ALLOC_BYTES.load(Ordering::Relaxed));
        let (csw0, cpu0) = rusage();
        let (_, rw_a, rw_b) = stream(&pair, rw_a, rw_b, data, msgs);
        let (csw1, cpu1) = rusage();
        let (allocs1, bytes1) = (ALLOCS.load(Ordering::Relaxed), ALLOC_BYTES.load(Ordering::Relaxed));
        drop((rw_a, rw_b));
        pair.stop();
        let per = |x: u64| x as f64 / msgs as f64;
        println!(
            "bench peer.cost.{label} msgs={msgs} allocs_per_msg={:.2} alloc_bytes_per_msg={:.0} csw_per_msg={:.3} cpu_us_per_msg={:.2}",
            per(allocs1 - allocs0),
            per(bytes1 - bytes0),
            per(csw1 - csw0),
            per(cpu1 - cpu0),
        );
    }
}
