use super::*;
use crate::node::NodeId;
use crate::protocol::Protocol;

fn key() -> SecretKey {
    SecretKey::from_secret_bytes([7u8; 32]).unwrap()
}

fn node(s: &str) -> Node {
    s.parse().unwrap()
}

const ID: &str = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";

fn proto(name: &str, version: u32, length: u64) -> Protocol {
    Protocol::new(name, version, length, |_peer, _rw| async { Ok(()) })
}

#[test]
fn defaults_are_documented_values() {
    let c = Config::default();
    assert_eq!(c.max_peers, 50);
    assert_eq!(c.max_pending_peers, 50);
    assert_eq!(c.dial_ratio, 3);
    assert_eq!(c.listen_addr, Some(DEFAULT_LISTEN_ADDR));
    assert_eq!(c.effective_discovery_addr(), Some(DEFAULT_LISTEN_ADDR));
    assert!(c.name.starts_with("devp2p-rs/v"));
    assert_eq!(c.dial_history_expiration, Duration::from_secs(35));
    assert!(c.discovery_v4 && !c.no_discovery);
    // discv5 runs by default only when compiled in.
    assert_eq!(c.discovery_v5, cfg!(feature = "discv5"));
    assert_eq!(c.validate(), Err(ConfigError::MissingPrivateKey));
    assert_eq!(Config::with_key(key()).validate(), Ok(()));
}

#[test]
fn slot_arithmetic_matches_geth() {
    let mut c = Config::with_key(key());
    assert_eq!((c.max_dialed_peers(), c.max_inbound_peers()), (16, 34));
    c.max_peers = 2;
    assert_eq!(c.max_dialed_peers(), 1, "at least one dialed peer");
    assert_eq!(c.max_inbound_peers(), 2);
    c.no_dial = true;
    assert_eq!(c.max_dialed_peers(), 0);
    c.max_peers = 0;
    c.no_dial = false;
    assert_eq!((c.max_dialed_peers(), c.max_inbound_peers()), (0, 0));
}

#[test]
fn explicit_direction_limits_override_the_ratio() {
    let mut c = Config::with_key(key());
    assert_eq!(c.peer_limit(), 50, "derived: max_peers");
    assert_eq!(c.outbound_admission_limit(), None);
    assert_eq!(
        (c.pending_inbound_limit(), c.pending_outbound_limit()),
        (50, 50)
    );
    c.max_inbound = Some(10);
    assert_eq!((c.max_inbound_peers(), c.max_dialed_peers()), (10, 16));
    assert_eq!(c.peer_limit(), 26, "explicit inbound + derived outbound");
    c.max_outbound = Some(0);
    assert_eq!((c.max_dialed_peers(), c.peer_limit()), (0, 10));
    assert_eq!(c.outbound_admission_limit(), Some(0));
    c.max_outbound = Some(40);
    assert_eq!(c.peer_limit(), 50);
    c.no_dial = true;
    assert_eq!(c.max_dialed_peers(), 0, "no_dial wins");
    c.max_pending_inbound = Some(7);
    c.max_pending_outbound = Some(3);
    assert_eq!(
        (c.pending_inbound_limit(), c.pending_outbound_limit()),
        (7, 3)
    );
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn validate_reports_bad_direction_limits() {
    let ok = Config::with_key(key());
    let check = |f: &dyn Fn(&mut Config)| {
        let mut c = ok.clone();
        f(&mut c);
        c.validate()
    };
    assert_eq!(
        check(&|c| c.max_pending_inbound = Some(0)),
        Err(ConfigError::PendingLimitOutOfRange {
            field: "max_pending_inbound",
            value: 0
        })
    );
    assert_eq!(
        check(&|c| c.max_pending_outbound = Some(MAX_PENDING_LIMIT + 1)),
        Err(ConfigError::PendingLimitOutOfRange {
            field: "max_pending_outbound",
            value: MAX_PENDING_LIMIT + 1
        })
    );
    assert_eq!(
        check(&|c| c.max_pending_peers = usize::MAX),
        Err(ConfigError::PendingLimitOutOfRange {
            field: "max_pending_peers",
            value: usize::MAX
        }),
        "would panic tokio's semaphore"
    );
    assert_eq!(
        check(&|c| {
            c.max_inbound = Some(usize::MAX);
            c.max_outbound = Some(1);
        }),
        Err(ConfigError::PeerLimitOverflow)
    );
}

#[test]
fn validate_reports_each_problem() {
    let ok = Config::with_key(key());
    let check = |f: &dyn Fn(&mut Config)| {
        let mut c = ok.clone();
        f(&mut c);
        c.validate()
    };
    assert_eq!(
        check(&|c| c.dial_ratio = 0),
        Err(ConfigError::ZeroDialRatio)
    );
    assert_eq!(
        check(&|c| c.max_pending_peers = 0),
        Err(ConfigError::ZeroMaxPendingPeers)
    );
    assert_eq!(check(&|c| c.name.clear()), Err(ConfigError::BadName(0)));
    assert_eq!(
        check(&|c| c.name = "x".repeat(MAX_NAME_LEN + 1)),
        Err(ConfigError::BadName(MAX_NAME_LEN + 1))
    );
    assert!(matches!(
        check(&|c| c.protocols = vec![proto("", 1, 1)]),
        Err(ConfigError::BadProtocol { .. })
    ));
    assert!(matches!(
        check(&|c| c.protocols = vec![proto("eth", 68, 0)]),
        Err(ConfigError::BadProtocol { .. })
    ));
    assert!(matches!(
        check(&|c| c.protocols = vec![proto("e th", 68, 1)]),
        Err(ConfigError::BadProtocol { .. })
    ));
    assert_eq!(
        check(&|c| c.protocols = vec![proto("eth", 68, 17), proto("eth", 68, 17)]),
        Err(ConfigError::DuplicateProtocol {
            name: "eth".into(),
            version: 68
        })
    );
    assert_eq!(
        check(&|c| c.protocols = vec![proto("eth", 67, 17), proto("eth", 68, 17)]),
        Ok(())
    );
    assert_eq!(
        check(&|c| c.protocols = (0..=MAX_PROTOCOLS as u32)
            .map(|v| proto("p", v, 1))
            .collect()),
        Err(ConfigError::TooManyProtocols(MAX_PROTOCOLS + 1))
    );
    assert_eq!(
        check(&|c| c.static_nodes = vec![Node::incomplete(NodeId([1; 64]))]),
        Err(ConfigError::BadNode {
            list: "static_nodes",
            index: 0,
            problem: "needs an address and a TCP port"
        })
    );
    assert_eq!(
        check(&|c| c.trusted_nodes = vec![Node::incomplete(NodeId([0; 64]))]),
        Err(ConfigError::BadNode {
            list: "trusted_nodes",
            index: 0,
            problem: "zero node id"
        })
    );
    assert_eq!(
        check(&|c| c.trusted_nodes = vec![Node::incomplete(NodeId([1; 64]))]),
        Ok(()),
        "trusted nodes need only an id"
    );
}

#[test]
fn nat_is_typed_and_reads_go_ethereums_text() {
    let read = |text: &str| {
        let mut json = serde_json::to_value(Config::with_key(key())).unwrap();
        json["nat"] = text.into();
        serde_json::from_value::<Config>(json).map(|c| c.nat)
    };
    assert_eq!(
        read("extip:1.2.3.4").unwrap(),
        NatSpec::ExtIp([1, 2, 3, 4].into())
    );
    assert_eq!(read("UPnP").unwrap(), NatSpec::Upnp);
    assert_eq!(read("none").unwrap(), NatSpec::None);
    for bad in ["extip:nope", "magic"] {
        let err = read(bad).unwrap_err().to_string();
        assert!(err.contains(bad) || err.contains("nope"), "{bad}: {err}");
    }
    assert_eq!(Config::with_key(key()).nat, NatSpec::None);
}

#[test]
fn nat_lease_defaults_to_ten_minutes_and_has_a_floor() {
    let mut c = Config::with_key(key());
    assert_eq!(c.nat_mapping_lifetime, Duration::from_secs(600));
    c.nat_mapping_lifetime = Duration::from_secs(2);
    assert_eq!(c.validate(), Ok(()));
    c.nat_mapping_lifetime = Duration::from_millis(1999);
    assert_eq!(
        c.validate(),
        Err(ConfigError::NatLeaseTooShort {
            got: Duration::from_millis(1999),
            min: Duration::from_secs(2),
        })
    );
    // Code only: not in the serialised form.
    let json = serde_json::to_value(Config::with_key(key())).unwrap();
    assert!(json.get("nat_mapping_lifetime").is_none());
}

#[test]
fn serde_round_trip_uses_enode_urls() {
    let mut c = Config::with_key(key());
    c.static_nodes = vec![node(&format!(
        "enode://{ID}@10.3.58.6:30303?discport=30301"
    ))];
    c.trusted_nodes = vec![node(&format!("enode://{ID}@bootnode.example:30303"))];
    c.net_restrict = Some("10.0.0.0/8".parse().unwrap());
    c.discovery_addr = Some("0.0.0.0:30301".parse().unwrap());
    c.nat = "extip:1.2.3.4".parse().unwrap();
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["static_nodes"][0],
        format!("enode://{ID}@10.3.58.6:30303?discport=30301")
    );
    assert!(json.get("private_key").is_none(), "key never serialised");
    assert!(json.get("dialer").is_none());
    let back: Config = serde_json::from_value(json).unwrap();
    assert_eq!(back.static_nodes, c.static_nodes);
    assert_eq!(back.trusted_nodes, c.trusted_nodes);
    assert_eq!(back.net_restrict, c.net_restrict);
    assert_eq!(back.discovery_addr, c.discovery_addr);
    assert!(back.private_key.is_none());
}

#[test]
fn discv5_bootnodes_are_enr_text() {
    let record = crate::node::Enr::builder()
        .ip4("127.0.0.1".parse().unwrap())
        .udp(30303)
        .sign(&key())
        .unwrap();
    let mut c = Config::with_key(key());
    c.bootstrap_nodes_v5 = vec![record.clone()];
    c.discovery_v4 = false;
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["bootstrap_nodes_v5"][0], record.to_string());
    assert!(json["bootstrap_nodes_v5"][0]
        .as_str()
        .unwrap()
        .starts_with("enr:"));
    let back: Config = serde_json::from_value(json).unwrap();
    assert_eq!(back.bootstrap_nodes_v5, vec![record]);
    assert!(!back.discovery_v4);
    assert_eq!(back.discovery_v5, cfg!(feature = "discv5"));
    assert_eq!(back.validate(), Err(ConfigError::MissingPrivateKey));
    c.bootstrap_nodes_v5.push(
        crate::node::Enr::builder()
            .ip4("127.0.0.1".parse().unwrap())
            .sign(&key())
            .unwrap(),
    );
    assert_eq!(
        c.validate(),
        Err(ConfigError::BadNode {
            list: "bootstrap_nodes_v5",
            index: 1,
            problem: "needs an address and a UDP port"
        })
    );
    let err =
        serde_json::from_str::<Config>(r#"{"bootstrap_nodes_v5": ["enr:nope"]}"#).unwrap_err();
    assert!(err.to_string().contains("record 0"), "{err}");
}

#[test]
fn deserialize_fills_defaults_and_rejects_garbage() {
    let c: Config = serde_json::from_str(r#"{"max_peers": 10}"#).unwrap();
    assert_eq!(c.max_peers, 10);
    assert_eq!(c.dial_ratio, DEFAULT_DIAL_RATIO);
    let err = serde_json::from_str::<Config>(r#"{"static_nodes": ["enode://nope"]}"#).unwrap_err();
    assert!(err.to_string().contains("node 0"), "{err}");
    assert!(
        serde_json::from_str::<Config>(r#"{"max_perrs": 10}"#).is_err(),
        "typos are errors"
    );
}

#[test]
fn debug_hides_the_key() {
    let text = format!("{:?}", Config::with_key(key()));
    assert!(text.contains("<set>"));
    assert!(!text.contains("0707"));
}

#[test]
fn listen_addr_v6_must_be_ipv6_beside_an_ipv4_listen_addr() {
    use crate::node::IpFamilies;
    let mut c = Config::with_key(SecretKey::from_secret_bytes([1; 32]).unwrap());
    assert_eq!(c.listen_addr_v6, None, "one family by default");
    assert_eq!(
        c.ip_families(),
        IpFamilies {
            v4: true,
            v6: false
        }
    );
    c.listen_addr_v6 = Some("[::]:30303".parse().unwrap());
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.ip_families(), IpFamilies::BOTH);
    for bad in ["0.0.0.0:30303", "[::ffff:1.2.3.4]:30303"] {
        c.listen_addr_v6 = Some(bad.parse().unwrap());
        assert!(
            matches!(c.validate(), Err(ConfigError::BadListenAddrV6(_))),
            "{bad}"
        );
    }
    c.listen_addr_v6 = Some("[::1]:0".parse().unwrap());
    c.listen_addr = Some("[::1]:0".parse().unwrap());
    assert!(matches!(c.validate(), Err(ConfigError::BadListenAddrV6(_))));
    c.listen_addr = None;
    assert!(matches!(c.validate(), Err(ConfigError::BadListenAddrV6(_))));
    c.listen_addr_v6 = None;
    assert_eq!(
        c.ip_families(),
        IpFamilies::BOTH,
        "dial-only: no preference"
    );
    c.listen_addr = Some("[::1]:0".parse().unwrap());
    assert_eq!(
        c.ip_families(),
        IpFamilies {
            v4: false,
            v6: true
        }
    );
}
