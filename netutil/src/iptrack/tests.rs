//! IpTracker unit tests: go-ethereum's TestIPTracker scenarios as
//! expectations, plus the memory bound.

use super::*;

/// One step of a scenario; times are milliseconds after the start.
enum Op {
    Statement {
        at: u64,
        from: &'static str,
        endpoint: &'static str,
    },
    Contact {
        at: u64,
        host: &'static str,
    },
    Predict {
        at: u64,
        want: Option<&'static str>,
    },
    FullCone {
        at: u64,
        want: bool,
    },
}

fn run(ops: &[Op]) {
    let start = Instant::now();
    let t = |ms: u64| start + Duration::from_millis(ms);
    let mut it = IpTracker::new(Duration::from_secs(10), Duration::from_secs(10), 3);
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Statement { at, from, endpoint } => {
                it.add_statement(from.parse().unwrap(), endpoint.parse().unwrap(), t(at))
            }
            Op::Contact { at, host } => it.add_contact(host.parse().unwrap(), t(at)),
            Op::Predict { at, want } => {
                let want = want.map(|w| w.parse::<SocketAddr>().unwrap());
                assert_eq!(it.predict_endpoint(t(at)), want, "op {i}");
            }
            Op::FullCone { at, want } => {
                assert_eq!(it.predict_full_cone_nat(t(at)), want, "op {i}")
            }
        }
    }
}

const EP: &str = "127.0.0.1:30303";

#[test]
fn min_statements() {
    use Op::*;
    run(&[
        Predict { at: 0, want: None },
        Statement {
            at: 0,
            from: "127.0.0.2",
            endpoint: EP,
        },
        Predict {
            at: 1000,
            want: None,
        },
        Statement {
            at: 1000,
            from: "127.0.0.3",
            endpoint: EP,
        },
        Predict {
            at: 1000,
            want: None,
        },
        Statement {
            at: 1000,
            from: "127.0.0.4",
            endpoint: EP,
        },
        Predict {
            at: 1000,
            want: Some(EP),
        },
    ]);
}

#[test]
fn window() {
    use Op::*;
    run(&[
        Statement {
            at: 0,
            from: "127.0.0.2",
            endpoint: EP,
        },
        Statement {
            at: 2000,
            from: "127.0.0.3",
            endpoint: EP,
        },
        Statement {
            at: 3000,
            from: "127.0.0.4",
            endpoint: EP,
        },
        Predict {
            at: 10000,
            want: Some(EP),
        },
        Predict {
            at: 10001,
            want: None,
        }, // first statement expired
        Statement {
            at: 10100,
            from: "127.0.0.2",
            endpoint: EP,
        },
        Predict {
            at: 10200,
            want: Some(EP),
        },
    ]);
}

#[test]
fn fullcone_false_when_every_reporter_was_contacted_first() {
    use Op::*;
    run(&[
        Contact {
            at: 0,
            host: "127.0.0.2",
        },
        Statement {
            at: 10,
            from: "127.0.0.2",
            endpoint: EP,
        },
        Contact {
            at: 2000,
            host: "127.0.0.3",
        },
        Statement {
            at: 2010,
            from: "127.0.0.3",
            endpoint: EP,
        },
        Contact {
            at: 3000,
            host: "127.0.0.4",
        },
        Statement {
            at: 3010,
            from: "127.0.0.4",
            endpoint: EP,
        },
        FullCone {
            at: 3500,
            want: false,
        },
    ]);
}

#[test]
fn fullcone_true_when_a_reporter_spoke_before_contact() {
    use Op::*;
    run(&[
        Contact {
            at: 0,
            host: "127.0.0.2",
        },
        Statement {
            at: 10,
            from: "127.0.0.2",
            endpoint: EP,
        },
        Contact {
            at: 2000,
            host: "127.0.0.3",
        },
        Statement {
            at: 2010,
            from: "127.0.0.3",
            endpoint: EP,
        },
        Statement {
            at: 3000,
            from: "127.0.0.4",
            endpoint: EP,
        },
        Contact {
            at: 3010,
            host: "127.0.0.4",
        },
        FullCone {
            at: 3500,
            want: true,
        },
    ]);
}

#[test]
fn one_reporter_counts_once_even_from_many_ports_or_mapped_form() {
    let now = Instant::now();
    let mut it = IpTracker::new(Duration::from_secs(10), Duration::from_secs(10), 2);
    let ep: SocketAddr = EP.parse().unwrap();
    it.add_statement("10.0.0.1".parse().unwrap(), ep, now);
    it.add_statement("::ffff:10.0.0.1".parse().unwrap(), ep, now);
    assert_eq!(it.statement_count(), 1);
    assert_eq!(it.predict_endpoint(now), None);
}

#[test]
fn most_votes_win_and_ties_go_to_newest() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut it = IpTracker::new(Duration::from_secs(10), Duration::from_secs(10), 1);
    let a: SocketAddr = "1.1.1.1:1".parse().unwrap();
    let b: SocketAddr = "2.2.2.2:2".parse().unwrap();
    it.add_statement("10.0.0.1".parse().unwrap(), a, t0);
    it.add_statement("10.0.0.2".parse().unwrap(), b, t1);
    assert_eq!(it.predict_endpoint(t1), Some(b), "tie goes to newest");
    it.add_statement("10.0.0.3".parse().unwrap(), a, t0);
    assert_eq!(it.predict_endpoint(t1), Some(a), "two votes beat one");
    // A reporter changing its mind moves its vote.
    it.add_statement("10.0.0.3".parse().unwrap(), b, t1);
    assert_eq!(it.predict_endpoint(t1), Some(b));
}

// Old entries are swept even if predict_* is never called (go-ethereum's
// TestIPTrackerForceGC), and the caps hold under a flood within one window.
#[test]
fn memory_is_bounded() {
    let window = Duration::from_secs(10);
    let rate = Duration::from_millis(50);
    let per_window = (window.as_millis() / rate.as_millis()) as usize + 1;
    let mut it = IpTracker::new(window, window, 3);
    let start = Instant::now();
    let ep: SocketAddr = EP.parse().unwrap();
    for i in 0..5 * per_window as u32 {
        let host = IpAddr::from(i.to_be_bytes());
        let now = start + rate * i;
        it.add_statement(host, ep, now);
        it.add_contact(host, now);
    }
    assert!(
        it.statement_count() <= 2 * per_window,
        "{}",
        it.statement_count()
    );
    assert!(
        it.contact_count() <= 2 * per_window,
        "{}",
        it.contact_count()
    );

    // Flood within one instant: capped, and the newest report is kept.
    let mut it = IpTracker::new(window, window, 1);
    for i in 0..(MAX_STATEMENTS as u32 + 100) {
        let host = IpAddr::from(i.to_be_bytes());
        let now = start + Duration::from_nanos(u64::from(i));
        it.add_statement(host, ep, now);
        it.add_contact(host, now);
    }
    assert_eq!(it.statement_count(), MAX_STATEMENTS);
    assert_eq!(it.contact_count(), MAX_CONTACTS);
    let last = IpAddr::from((MAX_STATEMENTS as u32 + 99).to_be_bytes());
    assert!(it.statements.contains_key(&last));
    assert!(!it
        .statements
        .contains_key(&IpAddr::from(0u32.to_be_bytes())));
}
