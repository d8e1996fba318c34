//! Property tests for the public API of devp2p-netutil.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use devp2p_netutil::{
    check_relay_ip, is_lan, is_special_network, same_net, DistinctNetSet, IpNet, IpTracker, Netlist,
};
use proptest::prelude::*;

/// Addresses clustered into few subnets so limits are actually hit: IPv4 in
/// 10.0.0.0/22-ish, IPv6 in a few /48s, and their IPv4-mapped forms.
fn clustered_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..4, any::<u8>()).prop_map(|(c, d)| IpAddr::V4(Ipv4Addr::new(10, 0, c, d))),
        (0u8..4, any::<u8>())
            .prop_map(|(c, d)| IpAddr::V6(Ipv4Addr::new(10, 0, c, d).to_ipv6_mapped())),
        (0u16..3, any::<u16>(), any::<u16>())
            .prop_map(|(s, n, h)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, s, n, 0, 0, 0, h))),
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(v.into())),
        any::<u128>().prop_map(|v| IpAddr::V6(v.into())),
        any::<u32>().prop_map(|v| IpAddr::V6(Ipv4Addr::from(v).to_ipv6_mapped())),
    ]
}

fn any_net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, p)| IpNet::new(Ipv4Addr::from(a).into(), p).unwrap()),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| IpNet::new(Ipv6Addr::from(a).into(), p).unwrap()),
    ]
}

#[derive(Debug, Clone)]
enum SetOp {
    Add(IpAddr),
    /// Remove the accepted member at this position (modulo count), if any.
    RemoveAccepted(usize),
    /// Remove an arbitrary address (may not be a member).
    RemoveAny(IpAddr),
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        3 => clustered_ip().prop_map(SetOp::Add),
        2 => any::<usize>().prop_map(SetOp::RemoveAccepted),
        1 => clustered_ip().prop_map(SetOp::RemoveAny),
    ]
}

proptest! {
    /// No subnet ever holds more than `limit` members, and `len` equals
    /// accepted adds minus successful removes, under any operation sequence.
    #[test]
    fn distinct_net_set_respects_limit(
        v4_bits in 0u32..=32,
        v6_bits in 0u32..=128,
        limit in 0usize..4,
        ops in prop::collection::vec(set_op(), 0..200),
    ) {
        let mut set = DistinctNetSet::with_prefixes(v4_bits, v6_bits, limit);
        let mut accepted: Vec<IpAddr> = Vec::new();
        let mut expected_len = 0usize;
        for op in ops {
            match op {
                SetOp::Add(ip) => {
                    let before = set.subnet_len(ip);
                    let ok = set.add(ip);
                    prop_assert_eq!(ok, before < limit);
                    if ok {
                        accepted.push(ip);
                        expected_len += 1;
                    }
                }
                SetOp::RemoveAccepted(i) => {
                    if !accepted.is_empty() {
                        let ip = accepted.swap_remove(i % accepted.len());
                        prop_assert!(set.remove(ip));
                        expected_len -= 1;
                    }
                }
                SetOp::RemoveAny(ip) => {
                    let had = set.contains(ip);
                    prop_assert_eq!(set.remove(ip), had);
                    if had {
                        expected_len -= 1;
                        // Forget one accepted member of the same subnet, so
                        // `accepted` still mirrors the set's contents.
                        let pos = accepted.iter().position(|a| {
                            a.to_canonical().is_ipv4() == ip.to_canonical().is_ipv4()
                                && same_net(if ip.to_canonical().is_ipv4() { v4_bits } else { v6_bits }, *a, ip)
                        });
                        prop_assert!(pos.is_some());
                        accepted.swap_remove(pos.unwrap());
                    }
                }
            }
            prop_assert_eq!(set.len(), expected_len);
            prop_assert_eq!(accepted.len(), expected_len);
            for ip in &accepted {
                prop_assert!(set.subnet_len(*ip) <= limit);
                prop_assert!(set.contains(*ip));
            }
        }
        // Removing everything accepted empties the set (go-ethereum's
        // TestDistinctNetSetAddRemove).
        for ip in accepted {
            prop_assert!(set.remove(ip));
        }
        prop_assert!(set.is_empty());
    }

    /// Display output parses back to an equal list.
    #[test]
    fn netlist_display_round_trips(nets in prop::collection::vec(any_net(), 0..20)) {
        let list: Netlist = nets.into_iter().collect();
        let text = list.to_string();
        let parsed: Netlist = text.parse().unwrap();
        prop_assert_eq!(&parsed, &list);
        let json = serde_json::to_string(&list).unwrap();
        prop_assert_eq!(serde_json::from_str::<Netlist>(&json).unwrap(), list);
    }

    /// `contains` agrees with ipnet on the address and its unwrapped form.
    #[test]
    fn netlist_contains_agrees_with_ipnet(
        nets in prop::collection::vec(any_net(), 0..8),
        ip in any_ip(),
    ) {
        let list: Netlist = nets.iter().copied().collect();
        let want = nets.iter().any(|n| n.contains(&ip) || n.contains(&ip.to_canonical()));
        prop_assert_eq!(list.contains(ip), want);
        // An address inside one of the networks is always contained.
        if let Some(net) = nets.first() {
            prop_assert!(list.contains(net.network()));
        }
    }

    /// Random strings give a list or an error, never a panic; errors name an
    /// entry that appears in the input.
    #[test]
    fn netlist_parser_never_panics(s in "\\PC{0,80}") {
        if let Err(e) = s.parse::<Netlist>() {
            prop_assert!(s.contains(e.entry()));
        }
    }

    #[test]
    fn netlist_parser_never_panics_cidr_like(s in "[0-9a-f:./, \t]{0,60}") {
        if let Err(e) = s.parse::<Netlist>() {
            prop_assert!(s.contains(e.entry()));
        }
    }

    /// Classification never panics and ignores the IPv4-mapped wrapping.
    #[test]
    fn classification_ignores_mapping(v4 in any::<u32>(), sender in any_ip()) {
        let plain = IpAddr::V4(v4.into());
        let mapped = IpAddr::V6(Ipv4Addr::from(v4).to_ipv6_mapped());
        prop_assert_eq!(is_lan(plain), is_lan(mapped));
        prop_assert_eq!(is_special_network(plain), is_special_network(mapped));
        prop_assert_eq!(check_relay_ip(sender, plain).is_ok(), check_relay_ip(sender, mapped).is_ok());
    }

    /// Statements older than the window never count, however the calls are
    /// interleaved: the prediction equals a from-scratch recount of the fresh
    /// statements.
    #[test]
    fn iptracker_ignores_expired_statements(
        window_ms in 1u64..5_000,
        min in 1usize..4,
        events in prop::collection::vec((0u8..8, 0u8..3, 0u64..2_000, any::<bool>()), 0..60),
    ) {
        let start = Instant::now();
        let window = Duration::from_millis(window_ms);
        let mut it = IpTracker::new(window, window, min);
        let endpoint = |e: u8| SocketAddr::from(([203, 0, 113, e], 30303));
        let mut now_ms = 0u64;
        // Model: newest statement per reporter.
        let mut latest: HashMap<u8, (u8, u64)> = HashMap::new();
        for (reporter, ep, step, predict) in events {
            now_ms += step;
            let now = start + Duration::from_millis(now_ms);
            if predict {
                let mut votes: HashMap<u8, usize> = HashMap::new();
                for (e, at) in latest.values() {
                    if now_ms - at <= window_ms {
                        *votes.entry(*e).or_default() += 1;
                    }
                }
                let best = votes.values().copied().max().unwrap_or(0);
                match it.predict_endpoint(now) {
                    None => prop_assert!(best < min),
                    Some(got) => {
                        let e = got.ip().to_string().rsplit('.').next().unwrap().parse::<u8>().unwrap();
                        prop_assert_eq!(votes.get(&e).copied(), Some(best));
                        prop_assert!(best >= min);
                    }
                }
            } else {
                it.add_statement(IpAddr::V4(Ipv4Addr::new(10, 0, 0, reporter)), endpoint(ep), now);
                latest.insert(reporter, (ep, now_ms));
            }
        }
    }
}
