//! Tests for node records: the EIP-778 example, go-ethereum's records, and
//! every rejection rule.

use super::*;
use proptest::prelude::*;

fn push_bytes(out: &mut Vec<u8>, data: &[u8]) {
    data.encode(out);
}

fn push_list_header(out: &mut Vec<u8>, len: usize) {
    encode_list_header(out, len);
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    n.encode(out);
}

/// The example record from EIP-778 / devp2p enr.md ("Test Vectors").
const SPEC_TEXT: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
/// Its private key.
const SPEC_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
/// Its signature, from the decoded content in the spec.
const SPEC_SIG: &str = "7098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b76f2635f4e234738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c";
/// Its compressed public key.
const SPEC_PUBKEY: &str = "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138";
/// keccak256 of the uncompressed public key.
const SPEC_NODE_ADDR: &str = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";

/// A record from go-ethereum's p2p/enode tests (seq 99, ip 127.0.0.1, udp 30303).
const GETH_TEXT: &str = "enr:-IS4QGrdq0ugARp5T2BZ41TrZOqLc_oKvZoPuZP5--anqWE_J-Tucc1xgkOL7qXl0puJgT7qc2KSvcupc4NCb0nr4tdjgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQM6UUF2Rm-oFe1IH_rQkRCi00T2ybeMHRSvw1HDpRvjPYN1ZHCCdl8";
const GETH_KEY: &str = "45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8";
/// go-ethereum's record whose "signature" is the 6 bytes "foobar".
const GETH_BAD_SIG: &str = "enr:-EmGZm9vYmFyY4JpZIJ2NIJpcIR_AAABiXNlY3AyNTZrMaEDOlFBdkZvqBXtSB_60JEQotNE9sm3jB0Ur8NRw6Ub4z2DdWRwgnZf";

fn secret(hex_key: &str) -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(hex_key).unwrap().try_into().unwrap()).unwrap()
}

fn spec_bytes() -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&SPEC_TEXT[4..])
        .unwrap()
}

#[test]
fn spec_example_decodes_verifies_and_reencodes_byte_exact() {
    let bytes = spec_bytes();
    let enr = Enr::decode(&bytes).unwrap();
    assert_eq!(enr.seq(), 1);
    assert_eq!(hex::encode(enr.signature()), SPEC_SIG);
    assert_eq!(hex::encode(enr.public_key().serialize()), SPEC_PUBKEY);
    assert_eq!(hex::encode(enr.node_id().hash()), SPEC_NODE_ADDR);
    assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(enr.udp(), Some(30303));
    assert_eq!(
        (enr.tcp(), enr.ip6(), enr.tcp6(), enr.udp6()),
        (None, None, None, None)
    );
    let keys: Vec<&[u8]> = enr.pairs().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"id"[..], b"ip", b"secp256k1", b"udp"]);
    assert_eq!(enr.get_raw(b"id"), Some(&[0x82, b'v', b'4'][..]));
    assert_eq!(enr.encode(), bytes);
    assert_eq!(enr.to_string(), SPEC_TEXT);
    assert_eq!(SPEC_TEXT.parse::<Enr>().unwrap(), enr);
}

#[test]
fn signing_with_the_spec_key_reproduces_the_spec_record() {
    let enr = Enr::builder()
        .seq(1)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp(30303)
        .sign(&secret(SPEC_KEY))
        .unwrap();
    assert_eq!(enr.encode(), spec_bytes());
    assert_eq!(enr.to_string(), SPEC_TEXT);
}

#[test]
fn go_ethereum_records() {
    let enr: Enr = GETH_TEXT.parse().unwrap();
    assert_eq!(
        (enr.seq(), enr.ip4(), enr.udp()),
        (99, Some(Ipv4Addr::LOCALHOST), Some(30303))
    );
    let signed = Enr::builder()
        .seq(99)
        .ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .udp(30303)
        .sign(&secret(GETH_KEY))
        .unwrap();
    assert_eq!(signed, enr);
    assert_eq!(
        GETH_BAD_SIG.parse::<Enr>(),
        Err(EnrError::BadSignatureLength { len: 6 })
    );
    assert_eq!("enr:".parse::<Enr>(), Err(EnrError::Truncated));
    assert_eq!("enr:x".parse::<Enr>(), Err(EnrError::BadBase64));
}

#[test]
fn tampering_breaks_the_signature() {
    let bytes = spec_bytes();
    // Byte 10 is inside the signature, the last byte is the UDP port.
    for index in [10, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[index] ^= 1;
        assert_eq!(
            Enr::decode(&bad),
            Err(EnrError::BadSignature),
            "byte {index}"
        );
    }
}

#[test]
fn size_is_checked_first() {
    // Garbage over the limit is refused for its size, not parsed.
    assert_eq!(
        Enr::decode(&[0xffu8; MAX_ENR_SIZE + 1]),
        Err(EnrError::TooLarge {
            size: MAX_ENR_SIZE + 1
        })
    );
    let err = Enr::builder()
        .add(b"big".to_vec(), &vec![7u8; 200])
        .sign(&secret(SPEC_KEY))
        .unwrap_err();
    assert!(matches!(err, EnrError::TooLarge { size } if size > MAX_ENR_SIZE));
    // Exactly at the limit is fine: find the value size that lands on 300.
    let fits = (100..250)
        .filter_map(|n| {
            Enr::builder()
                .add(b"big".to_vec(), &vec![7u8; n])
                .sign(&secret(SPEC_KEY))
                .ok()
        })
        .next_back()
        .unwrap();
    assert_eq!(fits.encode().len(), MAX_ENR_SIZE);
    assert_eq!(Enr::decode(&fits.encode()).unwrap(), fits);
    let long = format!("enr:{}", "A".repeat(MAX_ENR_TEXT_LEN));
    assert_eq!(
        long.parse::<Enr>(),
        Err(EnrError::TextTooLong {
            len: MAX_ENR_TEXT_LEN + 4
        })
    );
}

#[test]
fn text_form_errors() {
    assert_eq!(SPEC_TEXT[4..].parse::<Enr>(), Err(EnrError::MissingPrefix));
    assert_eq!(
        format!("{SPEC_TEXT}=").parse::<Enr>(),
        Err(EnrError::BadBase64)
    );
    assert_eq!(
        SPEC_TEXT.replace('-', "+").parse::<Enr>(),
        Err(EnrError::BadBase64)
    );
}

/// Encodes and validly signs `pairs` in the given order, bypassing the
/// builder's sorting, so decode rules other than the signature can be tested.
fn signed_raw(seq_item: &[u8], pairs: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let key = secret(SPEC_KEY);
    let mut body = seq_item.to_vec();
    for (k, v) in pairs {
        push_bytes(&mut body, k);
        body.extend_from_slice(v);
    }
    let mut content = Vec::new();
    push_list_header(&mut content, body.len());
    content.extend_from_slice(&body);
    let msg = Message::from_digest(keccak256(&content));
    let sig = secp256k1::ecdsa::sign(msg, &key).serialize_compact();
    let mut payload = Vec::new();
    push_bytes(&mut payload, &sig);
    payload.extend_from_slice(&body);
    let mut out = Vec::new();
    push_list_header(&mut out, payload.len());
    out.extend_from_slice(&payload);
    out
}

fn v4_pairs() -> Vec<(&'static [u8], Vec<u8>)> {
    let public = PublicKey::from_secret_key(&secret(SPEC_KEY));
    vec![
        (keys::ID, rlp_bytes(b"v4")),
        (keys::SECP256K1, rlp_bytes(&public.serialize())),
    ]
}

fn seq1() -> Vec<u8> {
    let mut s = Vec::new();
    push_u64(&mut s, 1);
    s
}

#[test]
fn crafted_records_hit_each_rule() {
    // The helper itself produces valid records.
    let mut good = v4_pairs();
    good.push((keys::UDP, rlp_uint(30303)));
    Enr::decode(&signed_raw(&seq1(), &good)).unwrap();

    let mut unsorted = v4_pairs();
    unsorted.insert(0, (keys::UDP, rlp_uint(1)));
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &unsorted)),
        Err(EnrError::NotSorted { key: "id".into() })
    );
    let mut dup = v4_pairs();
    dup.push((keys::UDP, rlp_uint(1)));
    dup.push((keys::UDP, rlp_uint(2)));
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &dup)),
        Err(EnrError::DuplicateKey { key: "udp".into() })
    );
    let no_id = v4_pairs().split_off(1);
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &no_id)),
        Err(EnrError::MissingId)
    );
    let mut v5 = v4_pairs();
    v5[0].1 = rlp_bytes(b"v5");
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &v5)),
        Err(EnrError::UnsupportedScheme("v5".into()))
    );
    let no_key = v4_pairs()[..1].to_vec();
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &no_key)),
        Err(EnrError::MissingPublicKey)
    );
    let mut uncompressed = v4_pairs();
    let public = PublicKey::from_secret_key(&secret(SPEC_KEY));
    uncompressed[1].1 = rlp_bytes(&public.serialize_uncompressed());
    assert_eq!(
        Enr::decode(&signed_raw(&seq1(), &uncompressed)),
        Err(EnrError::BadPublicKey)
    );
    // seq with a leading zero, seq above u64, seq as a list.
    for bad_seq in [
        vec![0x82, 0, 1],
        vec![0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0xc0],
    ] {
        assert_eq!(
            Enr::decode(&signed_raw(&bad_seq, &v4_pairs())),
            Err(EnrError::BadSeq)
        );
    }
    // A key without a value.
    let mut odd = signed_raw(&seq1(), &v4_pairs());
    odd.push(0x83);
    odd.extend_from_slice(b"udp");
    let len = odd.len() - 2;
    odd[1] = len as u8; // the list has a 2-byte header (0xf8, len)
    assert_eq!(
        Enr::decode(&odd),
        Err(EnrError::MissingValue { key: "udp".into() })
    );
    // Malformed well-known values decode (they are opaque) but typed access reports them.
    let mut weird = v4_pairs();
    weird.insert(1, (keys::IP, rlp_bytes(&[1, 2, 3])));
    weird.push((keys::TCP, rlp_bytes(&[0, 1])));
    let enr = Enr::decode(&signed_raw(&seq1(), &weird)).unwrap();
    assert_eq!(enr.ip4(), None);
    assert_eq!(enr.try_ip4(), Err(EnrError::BadValue { key: "ip".into() }));
    assert_eq!(
        enr.try_port(keys::TCP),
        Err(EnrError::BadValue { key: "tcp".into() })
    );
    assert_eq!(enr.try_port(keys::UDP), Ok(None));
}

#[test]
fn structural_errors() {
    let bytes = spec_bytes();
    for cut in 0..bytes.len() {
        assert!(Enr::decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Enr::decode(&trailing), Err(EnrError::TrailingBytes(1)));
    assert_eq!(Enr::decode(&[0x80]), Err(EnrError::WrongType("list")));
    assert_eq!(Enr::decode(&[0xc0]), Err(EnrError::MissingSignature));
    assert_eq!(Enr::decode(&[0xc1, 0x80]), Err(EnrError::BadSeq));
    assert_eq!(
        Enr::decode(&[0xc2, 0xc0, 0x01]),
        Err(EnrError::WrongType("signature"))
    );
}

#[test]
fn builder_rules() {
    let key = secret(SPEC_KEY);
    assert_eq!(
        Enr::builder().add_raw("id", rlp_bytes(b"v4")).sign(&key),
        Err(EnrError::ReservedKey { key: "id".into() })
    );
    assert_eq!(
        Enr::builder().add_raw("x", vec![0x82, 1]).sign(&key),
        Err(EnrError::BadValue { key: "x".into() })
    );
    assert_eq!(
        Enr::builder().add_raw("x", vec![0x80, 0x80]).sign(&key),
        Err(EnrError::BadValue { key: "x".into() })
    );
    let enr = Enr::builder()
        .ip(IpAddr::V6("::ffff:1.2.3.4".parse().unwrap()))
        .ip6("2001:db8::1".parse().unwrap())
        .tcp(1)
        .udp(2)
        .tcp6(3)
        .udp6(4)
        .add("eth", &"hello")
        .add_raw(b"list".to_vec(), vec![0xc2, 0x01, 0x02])
        .sign(&key)
        .unwrap();
    assert_eq!(enr.ip4(), Some(Ipv4Addr::new(1, 2, 3, 4)));
    assert_eq!(enr.ip6(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(
        (enr.tcp(), enr.udp(), enr.tcp6(), enr.udp6()),
        (Some(1), Some(2), Some(3), Some(4))
    );
    assert_eq!(enr.get_raw(b"list"), Some(&[0xc2, 1, 2][..]));
    assert_eq!(enr.node_id(), NodeId::from_secret_key(&key));
    assert_eq!(Enr::decode(&enr.encode()).unwrap(), enr);
}

#[test]
fn rlp_embedding_round_trips_and_verifies() {
    let enr: Enr = SPEC_TEXT.parse().unwrap();
    let packet =
        crate::rlp_item::list_of_raw(&[&alloy_rlp::encode([0xaau8; 32]), &alloy_rlp::encode(&enr)]);
    let mut view = Item::exact(&packet).unwrap().list().unwrap();
    view.next_item().unwrap();
    assert_eq!(view.next_decode::<Enr>().unwrap(), enr);
    assert_eq!(alloy_rlp::decode_exact::<Enr>(spec_bytes()).unwrap(), enr);

    let mut bad = spec_bytes();
    bad[10] ^= 1;
    let packet = crate::rlp_item::list_of_raw(&[&bad]);
    assert_eq!(
        Item::exact(&packet)
            .unwrap()
            .list()
            .unwrap()
            .next_decode::<Enr>(),
        Err(alloy_rlp::Error::Custom("enr: invalid signature"))
    );
}

fn arb_extra() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec(
        ("[a-z]{1,6}", proptest::collection::vec(any::<u8>(), 0..20)),
        0..4,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(k, _)| {
                !["id", "secp256k1", "ip", "ip6", "tcp", "udp", "tcp6", "udp6"]
                    .contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_bytes(), rlp_bytes(&v)))
            // A record holds each key once: later pairs replace earlier ones.
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect()
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Enr::decode(&bytes);
    }

    #[test]
    fn mutated_spec_record_never_panics(index in 0usize..134, byte in any::<u8>(), cut in 0usize..140) {
        let mut bytes = spec_bytes();
        let i = index % bytes.len();
        bytes[i] = byte;
        bytes.truncate(cut);
        let _ = Enr::decode(&bytes);
    }

    #[test]
    fn random_text_never_panics(s in "(enr:)?[A-Za-z0-9_=+/-]{0,420}") {
        let _ = s.parse::<Enr>();
    }

    #[test]
    fn builder_encode_decode_round_trip(
        seed in any::<[u8; 32]>(),
        seq in any::<u64>(),
        ip4 in proptest::option::of(any::<Ipv4Addr>()),
        ip6 in proptest::option::of(any::<Ipv6Addr>()),
        tcp in proptest::option::of(any::<u16>()),
        udp in proptest::option::of(any::<u16>()),
        extra in arb_extra(),
    ) {
        let Ok(key) = SecretKey::from_secret_bytes(seed) else { return Ok(()) };
        let mut b = Enr::builder().seq(seq);
        if let Some(ip) = ip4 { b = b.ip4(ip); }
        if let Some(ip) = ip6 { b = b.ip6(ip); }
        if let Some(p) = tcp { b = b.tcp(p); }
        if let Some(p) = udp { b = b.udp(p); }
        for (k, v) in &extra { b = b.add_raw(k.clone(), v.clone()); }
        let enr = match b.sign(&key) {
            Ok(enr) => enr,
            Err(EnrError::TooLarge { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let back = Enr::decode(&enr.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &enr);
        let text: Enr = enr.to_string().parse().map_err(|e: EnrError| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&text, &enr);
        prop_assert_eq!(back.seq(), seq);
        prop_assert_eq!(back.ip4(), ip4);
        prop_assert_eq!(back.ip6(), ip6);
        prop_assert_eq!(back.tcp(), tcp);
        prop_assert_eq!(back.udp(), udp);
        prop_assert_eq!(back.node_id(), NodeId::from_secret_key(&key));
        for (k, v) in &extra {
            prop_assert_eq!(back.get_raw(k), Some(v.as_slice()));
        }
    }
}
