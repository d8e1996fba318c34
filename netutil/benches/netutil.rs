//! Micro-benchmarks for the per-packet checks (run: `cargo bench -p devp2p-netutil`).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use devp2p_netutil::{check_relay_ip, DistinctNetSet, IpTracker, Netlist, MAX_STATEMENTS};

fn benches(c: &mut Criterion) {
    let sender: IpAddr = "23.55.1.242".parse().unwrap();
    let addr: IpAddr = "23.55.1.2".parse().unwrap();
    c.bench_function("check_relay_ip/wan", |b| {
        b.iter(|| check_relay_ip(black_box(sender), black_box(addr)))
    });

    let list: Netlist = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7"
        .parse()
        .unwrap();
    c.bench_function("netlist_contains/4_nets_miss", |b| {
        b.iter(|| list.contains(black_box(addr)))
    });

    c.bench_function("distinct_net_set/add_remove", |b| {
        let mut set = DistinctNetSet::new(24, 2);
        b.iter(|| {
            set.add(black_box(addr));
            set.remove(black_box(addr));
        })
    });

    let start = Instant::now();
    let mut tracker = IpTracker::new(Duration::from_secs(300), Duration::from_secs(600), 10);
    let ep = SocketAddr::from(([203, 0, 113, 7], 30303));
    for i in 0..MAX_STATEMENTS as u32 {
        tracker.add_statement(IpAddr::V4(Ipv4Addr::from(i)), ep, start);
    }
    c.bench_function("iptracker/predict_endpoint_full", |b| {
        b.iter(|| tracker.predict_endpoint(black_box(start)))
    });
}

criterion_group!(netutil, benches);
criterion_main!(netutil);
