//! Writes the seed corpora: `gen_seeds <corpus-dir>` creates
//! `<corpus-dir>/<target>/seed-<name>` for every target, from EIP-8's spec
//! vectors (`testdata/eip8.txt`) and from valid
//! encodings made here with fixed keys and a seeded RNG, so the output is
//! the same on every run. Inputs follow each target's `mode || rest` layout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use devp2p::peer::{encode_frame, split_frame, Hello, DISCONNECT_MSG, HELLO_MSG};
use devp2p::rlpx::{ecies_decrypt, Initiator, Recipient};
use devp2p::{Cap, DiscReason};
use devp2p_discover::node::{node_key_to_hex, Enr, Node};
use devp2p_discover::v4::wire::{
    encode_packet, Endpoint, EnrRequest, EnrResponse, FindNode, Message, Neighbors, NodeRecord,
    Ping, Pong, HEAD_LEN,
};
use devp2p_fuzz::{
    eip8_vectors, key_a, key_b, rng, secret, EPHEMERAL_A_HEX, EPHEMERAL_B_HEX, KEY_A_HEX,
    KEY_B_HEX, TARGETS,
};

/// A fixed expiration (Unix seconds) so seeds do not change between runs.
const EXPIRATION: u64 = 1_900_000_000;

struct Seeds {
    dir: PathBuf,
    written: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, parts: &[&[u8]]) {
        assert!(TARGETS.contains(&target), "unknown target {target}");
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(format!("seed-{name}")), parts.concat()).expect("write seed");
        self.written += 1;
    }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut s = Seeds {
        dir: dir.clone(),
        written: 0,
    };
    let vectors = eip8_vectors();
    handshake(&mut s, &vectors);
    frames(&mut s);
    base_protocol(&mut s, &vectors);
    discv4(&mut s, &vectors);
    identity(&mut s);
    config(&mut s);
    println!("gen_seeds: {} seeds in {}", s.written, dir.display());
}

fn handshake(s: &mut Seeds, v: &std::collections::HashMap<String, Vec<u8>>) {
    // Spec packets as they arrive (mode 0) and their plaintexts (modes 1, 2).
    for (name, target, secret_hex, legacy) in [
        ("auth1_v4", "rlpx_auth", KEY_B_HEX, true),
        ("auth2_eip8", "rlpx_auth", KEY_B_HEX, false),
        ("auth3_eip8_v56", "rlpx_auth", KEY_B_HEX, false),
        ("ack1_v4", "rlpx_ack", KEY_A_HEX, true),
        ("ack2_eip8", "rlpx_ack", KEY_A_HEX, false),
        ("ack3_eip8_v57", "rlpx_ack", KEY_A_HEX, false),
    ] {
        let Some(packet) = v.get(name) else { continue };
        s.put(target, name, &[&[0], packet]);
        let (prefix, body) = if legacy {
            (&[][..], &packet[..])
        } else {
            packet.split_at(2)
        };
        let mut buf = body.to_vec();
        if let Ok(plain) = ecies_decrypt(&secret(secret_hex), &mut buf, prefix) {
            let mode = if legacy { 2 } else { 1 };
            s.put(target, &format!("{name}-plain"), &[&[mode], plain]);
        }
    }
    // Our own EIP-8 auth and ack.
    let mut r = rng();
    let init = Initiator::with_ephemeral(
        key_a(),
        key_b().id(),
        secret(EPHEMERAL_A_HEX),
        [0xa1; 32],
        &mut r,
    )
    .expect("initiator");
    let (_, ack) = Recipient::respond_with_ephemeral(
        key_b(),
        init.auth_packet(),
        secret(EPHEMERAL_B_HEX),
        [0xb2; 32],
        &mut r,
    )
    .expect("recipient");
    s.put("rlpx_auth", "ours", &[&[0], init.auth_packet()]);
    s.put("rlpx_ack", "ours", &[&[0], &ack]);
}

fn frames(s: &mut Seeds) {
    // config || ops: honest frames delivered whole, split, and a forged size.
    let feed_all: &[u8] = &[4, 0xff, 0xff];
    s.put(
        "rlpx_frame",
        "one",
        &[&[0, 0], &[0, 0, 5], b"hello", feed_all],
    );
    s.put(
        "rlpx_frame",
        "two-split",
        &[
            &[0, 0],
            &[0, 0, 3],
            b"abc",
            &[0, 0, 40],
            &[7u8; 40],
            &[4, 0, 20],
            &[4, 0, 20],
            feed_all,
        ],
    );
    let mut header = [0u8; 16];
    header[..3].copy_from_slice(&[0xff, 0xff, 0xff]);
    s.put(
        "rlpx_frame",
        "forged-size",
        &[&[0, 0], &[1], &header, &[0, 16], &[1u8; 16], feed_all],
    );
    // Limit 100 bytes (config odd: max = config >> 1), then a 200-byte frame.
    s.put(
        "rlpx_frame",
        "over-limit",
        &[&[0, 201], &[0, 0, 200], &[9u8; 200], feed_all],
    );
}

fn base_protocol(s: &mut Seeds, v: &std::collections::HashMap<String, Vec<u8>>) {
    if let Some(h) = v.get("hello_v22") {
        s.put("hello", "hello_v22", &[h]);
    }
    let ours = Hello {
        protocol_version: 5,
        client_id: "devp2p-fuzz/v0".into(),
        caps: vec![Cap::new("eth", 68), Cap::new("snap", 1)],
        listen_port: 30303,
        id: key_a().id(),
    };
    let payload = devp2p::alloy_rlp::encode(&ours);
    s.put("hello", "ours", &[&payload]);
    let frame = encode_frame(HELLO_MSG, &payload, false).expect("frame");
    s.put("hello", "ours-frame", &[&frame]);

    for reason in [
        DiscReason::TooManyPeers,
        DiscReason::Requested,
        DiscReason::Other(0x42),
    ] {
        let code = reason.code();
        s.put(
            "disconnect",
            &format!("list-{code}"),
            &[&[0], &reason.encode()],
        );
        s.put(
            "disconnect",
            &format!("bare-{code}"),
            &[&[0], &devp2p::alloy_rlp::encode(code)],
        );
        let frame = encode_frame(DISCONNECT_MSG, &reason.encode(), true).expect("frame");
        let (_, compressed) = split_frame(&frame).expect("split");
        s.put("disconnect", &format!("snappy-{code}"), &[&[1], compressed]);
    }

    let mut list = Vec::new();
    devp2p::alloy_rlp::encode_list::<u64, u64>(&[1, 2, 3, 1 << 40], &mut list);
    for (name, code, payload) in [
        ("small", 0x10u64, Bytes::from(list.to_vec())),
        ("repeat", 0x21, Bytes::from(vec![0xabu8; 4000])),
        ("empty", 0x02, Bytes::from_static(&[0xc0])),
    ] {
        let frame = encode_frame(code, &payload, true).expect("frame");
        s.put("snappy_msg", name, &[&frame]);
    }
    // Declares 2^24 + 1 decompressed bytes (varint), then nothing.
    s.put(
        "snappy_msg",
        "declared-too-large",
        &[&[0x10, 0x81, 0x80, 0x80, 0x08]],
    );
}

fn discv4(s: &mut Seeds, v: &std::collections::HashMap<String, Vec<u8>>) {
    for name in [
        "discv4_ping_v4",
        "discv4_ping_v555",
        "discv4_pong",
        "discv4_findnode",
        "discv4_neighbours",
    ] {
        if let Some(p) = v.get(name) {
            s.put("discv4_packet", name, &[&[0], p]);
        }
    }
    let ep = |ip: IpAddr, port: u16| Endpoint {
        ip: Some(ip),
        udp: port,
        tcp: port,
    };
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let record = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp(30303)
        .sign(key_b().secret())
        .expect("record");
    let messages = [
        Message::Ping(Ping {
            version: 4,
            from: ep(local, 30303),
            to: ep(IpAddr::V6(Ipv6Addr::LOCALHOST), 30304),
            expiration: EXPIRATION,
            enr_seq: Some(7),
        }),
        Message::Pong(Pong {
            to: Endpoint {
                ip: None,
                udp: 1,
                tcp: 0,
            },
            reply_token: [0x5a; 32],
            expiration: EXPIRATION,
            enr_seq: None,
        }),
        Message::FindNode(FindNode {
            target: key_a().id(),
            expiration: EXPIRATION,
        }),
        Message::Neighbors(Neighbors {
            nodes: vec![
                NodeRecord {
                    ip: local,
                    udp: 30303,
                    tcp: 30303,
                    id: key_a().id(),
                },
                NodeRecord {
                    ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    udp: 1,
                    tcp: 2,
                    id: key_b().id(),
                },
            ],
            expiration: EXPIRATION,
        }),
        Message::EnrRequest(EnrRequest {
            expiration: EXPIRATION,
        }),
        Message::EnrResponse(EnrResponse {
            reply_token: [0x77; 32],
            record: Bytes::from(record.encode()),
        }),
    ];
    for msg in &messages {
        let (datagram, _) = encode_packet(key_b().secret(), msg);
        let name = msg.name().to_ascii_lowercase();
        s.put("discv4_packet", &name, &[&[0], &datagram]);
        s.put(
            "discv4_packet",
            &format!("{name}-body"),
            &[&[1], &datagram[HEAD_LEN..]],
        );
    }
}

fn identity(s: &mut Seeds) {
    // EIP-778's example record (key B, seq 1, 127.0.0.1, udp 30303).
    let example = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp(30303)
        .sign(key_b().secret())
        .expect("record");
    let full = Enr::builder()
        .seq(42)
        .ip4(Ipv4Addr::new(10, 0, 0, 1))
        .ip6(Ipv6Addr::LOCALHOST)
        .tcp(30303)
        .udp(30301)
        .tcp6(1)
        .udp6(2)
        .add_raw("eth", vec![0xc3, 0x82, 0x01, 0x02])
        .sign(key_a().secret())
        .expect("record");
    for (name, enr) in [("eip778", &example), ("full", &full)] {
        s.put("enr_rlp", name, &[&[0], &enr.encode()]);
        s.put("enr_text", name, &[enr.to_string().as_bytes()]);
    }
    let mut pairs = Vec::new();
    pairs.extend_from_slice(&5u64.to_be_bytes());
    for (k, val) in [
        (&b"ip"[..], devp2p::alloy_rlp::encode([127u8, 0, 0, 1])),
        (b"udp", devp2p::alloy_rlp::encode(30303u16)),
    ] {
        pairs.push(k.len() as u8);
        pairs.extend_from_slice(k);
        pairs.push(val.len() as u8);
        pairs.extend_from_slice(&val);
    }
    s.put("enr_rlp", "build", &[&[1], &pairs]);

    let id = key_a().id();
    for (name, url) in [
        (
            "ip4",
            Node::new(id, IpAddr::V4(Ipv4Addr::LOCALHOST), 30303, 30301).to_string(),
        ),
        (
            "ip6",
            Node::new(id, IpAddr::V6(Ipv6Addr::LOCALHOST), 1, 1).to_string(),
        ),
        (
            "host",
            Node::with_hostname(id, "boot.example.org", 30303, 30303).to_string(),
        ),
        ("incomplete", Node::incomplete(id).to_string()),
        ("bare-id", id.to_string()),
    ] {
        s.put("enode_url", name, &[url.as_bytes()]);
    }

    s.put("nodekey", "newline", &[&[0], KEY_B_HEX.as_bytes(), b"\n"]);
    let hex_a = node_key_to_hex(&secret(KEY_A_HEX)).to_ascii_uppercase();
    s.put("nodekey", "file-upper", &[&[1], hex_a.as_bytes(), b"\r\n"]);
}

fn config(s: &mut Seeds) {
    let enode = Node::new(key_a().id(), IpAddr::V4(Ipv4Addr::LOCALHOST), 30303, 30303);
    let every = format!(
        "max_peers = 7\nmax_pending_peers = 3\ndial_ratio = 2\nno_discovery = true\n\
         name = \"x\"\nbootstrap_nodes = [\"{enode}\"]\nstatic_nodes = []\ntrusted_nodes = []\n\
         net_restrict = [\"10.0.0.0/8\", \"127.0.0.0/8\"]\nnode_database = \"/tmp/db\"\n\
         listen_addr = \"127.0.0.1:4000\"\ndiscovery_addr = \"127.0.0.1:4001\"\nnat = \"none\"\n\
         no_dial = true\nenable_msg_events = true\n"
    );
    s.put("config_toml", "every-field", &[every.as_bytes()]);
    s.put(
        "config_toml",
        "minimal",
        &[b"max_peers = 10\nnat = \"extip:1.2.3.4\"\n"],
    );
}
