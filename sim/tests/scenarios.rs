//! Small runs of every scenario: the same seed gives the same numbers, and
//! each condition shows in what is measured.

use std::time::Duration;

use devp2p_sim::{run, Attack, Scenario, SimConfig, SimReport};

/// A short run: 40 nodes arriving over 20 s, sampled every 30 s for 3 min.
fn small(scenario: Scenario) -> SimConfig {
    let mut c = SimConfig::preset(scenario, 40);
    c.duration = Duration::from_secs(180);
    c.sample_every = Duration::from_secs(30);
    c.arrival_spread = Duration::from_secs(20);
    c.lookups_per_sample = 5;
    if let Some(a) = &mut c.attack {
        *a = Attack {
            victims: 3,
            sybils: 40,
            sybil_subnets: 2,
            garbage: 4,
            silent: 4,
        };
    }
    c
}

fn without_wall_time(mut r: SimReport) -> SimReport {
    r.wall_s = 0.0;
    r.bytes_per_node = None;
    r
}

/// Every scenario replays exactly. Two causes of divergence are removed:
/// timers rounded to milliseconds from an origin that differs between runs
/// by a fraction of one (all delays are whole milliseconds), and packet
/// expirations in whole Unix seconds whose boundaries fell at different
/// virtual instants (the runner anchors the clock: `sim::ClockAnchor`).
/// The second showed only with loss or NAT, where retries repeat a PING
/// within one second, which then is the same packet or not.
#[test]
fn the_same_seed_gives_the_same_numbers() {
    for scenario in Scenario::ALL {
        let mut c = small(scenario);
        c.churn_per_hour = 10.0;
        let a = without_wall_time(run(&c).unwrap());
        let b = without_wall_time(run(&c).unwrap());
        assert_eq!(a, b, "{scenario}");
        if scenario == Scenario::Loss {
            c.seed = 2;
            let other = without_wall_time(run(&c).unwrap());
            assert_ne!(
                a.packets_sent, other.packets_sent,
                "{scenario}: seed 2 differs"
            );
        }
    }
}

#[test]
fn a_small_network_forms_from_its_bootnodes() {
    let r = run(&small(Scenario::Formation)).unwrap();
    assert_eq!(r.samples.len(), 7);
    let first = &r.samples[0];
    let last = r.last().unwrap();
    // At t = 0 only the bootnodes and the first arrival run.
    assert!(first.live_nodes <= 4, "{}", first.live_nodes);
    assert_eq!(last.live_nodes, 40);
    assert!(last.mean_fill > 0.9, "{}", r.summary_text());
    assert!(last.recall.unwrap() > 0.9, "{}", r.summary_text());
    assert!(last.pkts_per_node_min > 0.0);
    assert_eq!(r.packets_lost, 0, "no loss, no NAT, nobody leaves");
}

#[test]
fn conditions_show_in_the_measurements() {
    let loss = run(&small(Scenario::Loss)).unwrap();
    assert!(loss.packets_lost > 0);
    let churn = run(&small(Scenario::Churn)).unwrap();
    // 10 % per hour of 40 nodes is one replacement every 15 min: none in 3 min.
    assert_eq!(churn.last().unwrap().live_nodes, 40);
    let mut fast = small(Scenario::Churn);
    fast.churn_per_hour = 10.0;
    let fast = run(&fast).unwrap();
    assert_eq!(
        fast.last().unwrap().live_nodes,
        40,
        "departures are replaced"
    );
    assert!(fast.packets_lost > 0, "departed nodes stop answering");
    let nat = run(&small(Scenario::Nat)).unwrap();
    assert!(nat.packets_lost > 0, "NAT filters unsolicited datagrams");
    let eclipse = run(&small(Scenario::Eclipse)).unwrap();
    let share = eclipse.last().unwrap().honest_share.unwrap();
    assert!(share > 0.0 && share <= 1.0, "{}", eclipse.summary_text());
}
