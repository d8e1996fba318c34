//! Tests for enode URLs, including go-ethereum's `urlv4_test.go` table.

use super::*;
use proptest::prelude::*;
use secp256k1::SecretKey;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Public key used throughout go-ethereum's enode URL tests.
const GETH_ID: &str = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";

fn geth_id() -> NodeId {
    GETH_ID.parse().unwrap()
}

fn url(rest: &str) -> String {
    format!("enode://{GETH_ID}{rest}")
}

#[test]
fn go_ethereum_valid_urls_parse_and_format_back() {
    let id = geth_id();
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let cases = [
        (url("@127.0.0.1:52150"), Node::new(id, v4, 52150, 52150)),
        (
            url("@[::]:52150"),
            Node::new(id, IpAddr::V6(Ipv6Addr::UNSPECIFIED), 52150, 52150),
        ),
        (
            url("@[2001:db8:3c4d:15::abcd:ef12]:52150"),
            Node::new(
                id,
                "2001:db8:3c4d:15::abcd:ef12".parse().unwrap(),
                52150,
                52150,
            ),
        ),
        (
            url("@127.0.0.1:52150?discport=22334"),
            Node::new(id, v4, 52150, 22334),
        ),
        (url(""), Node::incomplete(id)),
    ];
    for (text, want) in cases {
        let got: Node = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, want, "{text}");
        assert_eq!(got.to_string(), text, "formatting {text}");
    }
    // The bare hex ID is the incomplete form too (go-ethereum ParseV4).
    assert_eq!(GETH_ID.parse::<Node>().unwrap(), Node::incomplete(id));
    assert_eq!(
        url("@127.0.0.1:52150")
            .replace("enode", "ENODE")
            .parse::<Node>()
            .unwrap(),
        Node::new(id, v4, 52150, 52150)
    );
}

#[test]
fn go_ethereum_invalid_urls_fail_with_the_right_error() {
    let bad_len = EnodeError::BadId(NodeIdError::BadLength { got: 4 });
    let cases = [
        ("http://foobar".to_string(), EnodeError::BadScheme),
        ("://foo".to_string(), EnodeError::BadScheme),
        (String::new(), EnodeError::BadScheme),
        ("enode://01010101@123.124.125.126:3".into(), bad_len.clone()),
        ("01010101".into(), bad_len.clone()),
        ("enode://01010101".into(), bad_len),
        (url("@127.0.0.1:foo"), EnodeError::BadPort),
        (url("@127.0.0.1:3?discport=foo"), EnodeError::BadDiscport),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Node>(), Err(want), "{text}");
    }
}

#[test]
fn every_malformed_part_has_its_own_error() {
    let zero_id = format!("enode://{}@127.0.0.1:1", "00".repeat(64));
    let cases = [
        (zero_id, EnodeError::BadId(NodeIdError::InvalidKey)),
        (
            format!("enode://{}@1.2.3.4:1", "zz".repeat(64)),
            EnodeError::BadId(NodeIdError::BadHex),
        ),
        ("enode://@127.0.0.1:1".into(), EnodeError::MissingId),
        ("enode://not-hex".into(), EnodeError::MissingId),
        (url("@127.0.0.1"), EnodeError::BadPort),
        (url("@127.0.0.1:"), EnodeError::BadPort),
        (url("@127.0.0.1:65536"), EnodeError::BadPort),
        (url("@127.0.0.1:+1"), EnodeError::BadPort),
        (url("@127.0.0.1:-1"), EnodeError::BadPort),
        (url("@[::1]"), EnodeError::BadPort),
        (url("@[::1]30303"), EnodeError::BadPort),
        (url("@127.0.0.1:1?discport=70000"), EnodeError::BadDiscport),
        (url("@127.0.0.1:1?discport=-1"), EnodeError::BadDiscport),
        (
            url("@127.0.0.1:1?foo=1"),
            EnodeError::UnknownQuery("foo=1".into()),
        ),
        (
            url("@127.0.0.1:1?discport=1&discport=2"),
            EnodeError::UnknownQuery("discport (repeated)".into()),
        ),
        (url("@127.0.0.1:1/x"), EnodeError::UnexpectedPath),
        (url("@127.0.0.1:1#x"), EnodeError::UnexpectedFragment),
        (url("@[::1:1"), EnodeError::BadHost("[::1:1".into())),
        (url("@[nope]:1"), EnodeError::BadHost("nope".into())),
        (url("@::1:30303"), EnodeError::BadHost("::1".into())),
        (url("@:30303"), EnodeError::BadHost(String::new())),
        (url("@1.2.3:1"), EnodeError::BadHost("1.2.3".into())),
        (
            url("@-bad.example:1"),
            EnodeError::BadHost("-bad.example".into()),
        ),
        (url("@a..b:1"), EnodeError::BadHost("a..b".into())),
        (
            url("@fe80::1%eth0:1"),
            EnodeError::BadHost("fe80::1%eth0".into()),
        ),
        (
            format!("enode://{}", "a".repeat(MAX_ENODE_URL_LEN)),
            EnodeError::TooLong {
                len: MAX_ENODE_URL_LEN + 8,
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Node>(), Err(want), "{text}");
    }
}

#[test]
fn dns_names_are_kept_unresolved() {
    let n: Node = url("@hostname:3").parse().unwrap();
    assert_eq!(n, Node::with_hostname(geth_id(), "hostname", 3, 3));
    assert!(n.is_complete());
    assert_eq!(n.tcp_addr(), None);
    let n: Node = url("@boot.example.org:30303?discport=30301")
        .parse()
        .unwrap();
    assert_eq!(n.hostname.as_deref(), Some("boot.example.org"));
    assert_eq!((n.tcp, n.udp), (30303, 30301));
    assert_eq!(n.to_string(), url("@boot.example.org:30303?discport=30301"));
}

#[test]
fn ipv4_mapped_ipv6_formats_as_ipv4() {
    let n: Node = url("@[::ffff:127.0.0.1]:30303").parse().unwrap();
    assert_eq!(n.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(n.to_string(), url("@127.0.0.1:30303"));
    // Also when the field was set directly.
    let mut n = Node::incomplete(geth_id());
    n.ip = Some("::ffff:10.0.0.1".parse().unwrap());
    n.tcp = 1;
    n.udp = 2;
    assert_eq!(n.to_string(), url("@10.0.0.1:1?discport=2"));
    assert_eq!(n.tcp_addr(), Some("10.0.0.1:1".parse().unwrap()));
}

#[test]
fn leniencies_shared_with_go_ethereum() {
    // Leading zeros in ports (strconv.ParseUint), empty discport (= absent).
    let n: Node = url("@127.0.0.1:030303?discport=").parse().unwrap();
    assert_eq!((n.tcp, n.udp), (30303, 30303));
    // Port 0 is a complete node without usable endpoints.
    let n: Node = url("@127.0.0.1:0").parse().unwrap();
    assert!(n.is_complete() && n.tcp_addr().is_none() && n.udp_addr().is_none());
}

#[test]
fn socket_addresses() {
    let n = Node::new(geth_id(), IpAddr::V4(Ipv4Addr::LOCALHOST), 30303, 30301);
    assert_eq!(n.tcp_addr(), Some("127.0.0.1:30303".parse().unwrap()));
    assert_eq!(n.udp_addr(), Some("127.0.0.1:30301".parse().unwrap()));
    assert!(Node::incomplete(geth_id()).tcp_addr().is_none());
    assert!(!Node::incomplete(geth_id()).is_complete());
}

/// Node IDs from seeded valid secret keys.
fn arb_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 32]>().prop_filter_map("valid secret key", |b| {
        SecretKey::from_secret_bytes(b)
            .ok()
            .map(|k| NodeId::from_secret_key(&k))
    })
}

fn arb_node() -> impl Strategy<Value = Node> {
    let host = prop_oneof![
        Just(None),
        any::<IpAddr>().prop_map(|ip| Some(Ok(ip))),
        "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z0-9]{1,8}){0,3}".prop_map(|h| Some(Err(h))),
    ];
    (arb_id(), host, any::<u16>(), any::<u16>()).prop_map(|(id, host, tcp, udp)| match host {
        None => Node::incomplete(id),
        Some(Ok(ip)) => Node::new(id, ip, tcp, udp),
        Some(Err(name)) => Node::with_hostname(id, name, tcp, udp),
    })
}

proptest! {
    #[test]
    fn display_from_str_round_trip(node in arb_node()) {
        let text = node.to_string();
        let back: Node = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, node);
    }

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,600}") {
        let _ = s.parse::<Node>();
    }

    #[test]
    fn url_shaped_strings_never_panic(
        s in "(enode://)?[0-9a-f]{0,130}(@[\\[\\]0-9a-f:.]{0,20})?(:[0-9+-]{0,7})?(\\?[a-z=0-9&]{0,20})?"
    ) {
        let _ = s.parse::<Node>();
    }
}

#[test]
fn from_enr_prefers_ipv4_and_falls_back_to_ipv6() {
    use crate::enr::Enr;
    let key = SecretKey::from_secret_bytes([3u8; 32]).unwrap();
    let id = NodeId::from_secret_key(&key);
    let v4 = Ipv4Addr::new(1, 2, 3, 4);
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let both = Enr::builder()
        .ip4(v4)
        .ip6(v6)
        .tcp(1)
        .udp(2)
        .tcp6(3)
        .sign(&key)
        .unwrap();
    assert_eq!(
        Node::from_enr(&both).unwrap(),
        Node::new(id, IpAddr::V4(v4), 1, 2)
    );
    let only6 = Enr::builder()
        .ip6(v6)
        .tcp(1)
        .udp(2)
        .tcp6(3)
        .sign(&key)
        .unwrap();
    assert_eq!(
        Node::from_enr(&only6).unwrap(),
        Node::new(id, IpAddr::V6(v6), 3, 2)
    );
    let none = Enr::builder().udp(2).sign(&key).unwrap();
    assert_eq!(Node::from_enr(&none).unwrap(), Node::incomplete(id));
    let bad = Enr::builder()
        .ip4(v4)
        .add_raw("tcp", vec![0x83, 1, 2, 3])
        .sign(&key)
        .unwrap();
    assert!(Node::from_enr(&bad).is_err());
}

#[test]
fn from_enr_picks_the_farther_reaching_family_like_go_ethereum() {
    use crate::enr::Enr;
    let key = SecretKey::from_secret_bytes([4u8; 32]).unwrap();
    let id = NodeId::from_secret_key(&key);
    let rec = |ip4: &str, ip6: &str| {
        Enr::builder()
            .ip4(ip4.parse().unwrap())
            .ip6(ip6.parse().unwrap())
            .tcp(1)
            .udp(2)
            .tcp6(3)
            .udp6(4)
            .sign(&key)
            .unwrap()
    };
    // (ip, ip6, expected): IPv4 wins ties; the more global address wins.
    let cases = [
        ("1.2.3.4", "2001:db8::1", "1.2.3.4"),
        ("10.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("10.0.0.1", "fd00::1", "10.0.0.1"),
        ("127.0.0.1", "fd00::1", "fd00::1"),
        ("127.0.0.1", "::1", "127.0.0.1"),
        ("169.254.0.1", "::1", "169.254.0.1"),
        ("0.0.0.0", "fe80::1", "fe80::1"),
    ];
    for (ip4, ip6, want) in cases {
        let node = Node::from_enr(&rec(ip4, ip6)).unwrap();
        let want: IpAddr = want.parse().unwrap();
        let ports = if want.is_ipv4() { (1, 2) } else { (3, 4) };
        assert_eq!(
            node,
            Node::new(id, want, ports.0, ports.1),
            "ip {ip4}, ip6 {ip6}"
        );
    }
}

#[test]
fn from_enr_reachable_takes_only_a_reachable_family() {
    use crate::enr::Enr;
    let key = SecretKey::from_secret_bytes([5u8; 32]).unwrap();
    let id = NodeId::from_secret_key(&key);
    let v4 = Ipv4Addr::new(1, 2, 3, 4);
    let v6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let both = Enr::builder()
        .ip4(v4)
        .ip6(v6)
        .tcp(30303)
        .udp(30303)
        .sign(&key)
        .unwrap();
    let only4 = IpFamilies::V4_ONLY;
    let only6 = IpFamilies::V6_ONLY;
    let none = IpFamilies {
        v4: false,
        v6: false,
    };
    assert_eq!(
        Node::from_enr_reachable(&both, only4).unwrap(),
        Node::new(id, IpAddr::V4(v4), 30303, 30303)
    );
    // No tcp6/udp6: the IPv6 endpoint uses tcp/udp (EIP-778).
    assert_eq!(
        Node::from_enr_reachable(&both, only6).unwrap(),
        Node::new(id, IpAddr::V6(v6), 30303, 30303)
    );
    assert_eq!(
        Node::from_enr_reachable(&both, IpFamilies::BOTH).unwrap(),
        Node::new(id, IpAddr::V4(v4), 30303, 30303)
    );
    assert_eq!(
        Node::from_enr_reachable(&both, none).unwrap(),
        Node::incomplete(id)
    );
    let only_ip6 = Enr::builder().ip6(v6).tcp(9).sign(&key).unwrap();
    assert_eq!(
        Node::from_enr_reachable(&only_ip6, only4).unwrap(),
        Node::incomplete(id)
    );
    assert!(IpFamilies::of("::ffff:1.2.3.4".parse().unwrap()).v4);
}

#[test]
fn ipv6_urls_round_trip() {
    for rest in [
        "@[::1]:30303",
        "@[::1]:30303?discport=30301",
        "@[2001:db8::1]:1",
        "@[fe80::1]:65535?discport=0",
    ] {
        let text = url(rest);
        let node: Node = text.parse().unwrap();
        assert!(node.ip.unwrap().is_ipv6(), "{text}");
        assert_eq!(node.to_string(), text);
        assert_eq!(node.to_string().parse::<Node>().unwrap(), node);
    }
    let n: Node = url("@[::1]:30303?discport=30301").parse().unwrap();
    assert_eq!(n.tcp_addr(), Some("[::1]:30303".parse().unwrap()));
    assert_eq!(n.udp_addr(), Some("[::1]:30301".parse().unwrap()));
}
