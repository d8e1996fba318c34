//! Our RLPx transport (`devp2p::rlpx::{connect, accept}`) against an
//! independent implementation, ethereumjs's devp2p 10.0.0, both directions.
//!
//! Only the transport is ours here: the devp2p base protocol (Hello, Ping,
//! Disconnect) is encoded and decoded by hand in this file, so these tests
//! pin down exactly what ethereumjs puts on the wire.

use crate::child_peer::{fixed_key_hex, ChildPeer, EVENT_TIMEOUT};
use alloy_rlp::{Encodable, Header, RlpDecodable, RlpEncodable};
use bytes::{Bytes, BytesMut};
use devp2p::node::NodeId;
use devp2p::rlpx::{self, RlpxStream};
use futures::{SinkExt, StreamExt};
use secp256k1::SecretKey;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

/// devp2p base protocol message ids (devp2p spec, rlpx.md "p2p Capability").
const HELLO: u64 = 0x00;
const DISCONNECT: u64 = 0x01;
const PING: u64 = 0x02;
const PONG: u64 = 0x03;
/// Message ids below this belong to the base protocol; capabilities start here.
const BASE_PROTOCOL_LENGTH: u64 = 16;
/// The base protocol version ethereumjs speaks (and that enables snappy).
const BASE_PROTOCOL_VERSION: u64 = 5;
/// TOO_MANY_PEERS, a reason distinguishable from ethereumjs's defaults.
const REASON_TOO_MANY_PEERS: u8 = 0x04;
/// Bound on how many frames a test reads while looking for one message.
const MAX_FRAMES_SKIPPED: usize = 16;

/// Our node's key (deterministic) and id.
fn our_key() -> (SecretKey, NodeId) {
    let secret = SecretKey::from_secret_bytes([0x77; 32]).expect("valid key");
    (secret, NodeId::from_secret_key(&secret))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Spawns a listening JS RLPx peer and returns it with its port and id.
async fn js_listener(key: u8, client_id: &str) -> (ChildPeer, u16, NodeId) {
    let mut js = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &args(&[
            "--key",
            &fixed_key_hex(key),
            "--port",
            "0",
            "--client-id",
            client_id,
        ]),
    );
    let ready = js.wait_for("ready", EVENT_TIMEOUT).await;
    let port = u16::try_from(ready["port"].as_u64().expect("port")).expect("u16 port");
    let id: NodeId = ready["id"].as_str().expect("id").parse().expect("node id");
    (js, port, id)
}

/// A decoded Hello.
#[derive(Debug)]
struct Hello {
    version: u64,
    client_id: String,
    caps: Vec<(String, u64)>,
    port: u64,
    id: Vec<u8>,
}

/// Splits a message into its id and data (`rlp(msg-id) || msg-data`).
fn split_message(msg: &[u8]) -> (u64, &[u8]) {
    let mut rest = msg;
    let id = <u64 as alloy_rlp::Decodable>::decode(&mut rest).expect("msg-id");
    (id, rest)
}

/// A capability as the peer sends it, `[name, version]`.
#[derive(RlpEncodable, RlpDecodable)]
struct WireCap {
    name: String,
    version: u64,
}

fn decode_hello(data: &[u8]) -> Hello {
    let mut rlp = alloy_rlp::Rlp::new(data).expect("Hello is a list");
    let version = rlp.get_next().expect("version").expect("version");
    let client_id = rlp.get_next().expect("client id").expect("client id");
    let caps: Vec<WireCap> = rlp.get_next().expect("caps").expect("caps");
    let port = rlp.get_next().expect("port").expect("port");
    let id: alloy_rlp::Bytes = rlp.get_next().expect("id").expect("id");
    Hello {
        version,
        client_id,
        caps: caps.into_iter().map(|c| (c.name, c.version)).collect(),
        port,
        id: id.to_vec(),
    }
}

/// `rlp(msg-id) || data` as one frame's payload.
fn message(id: u64, data: &[u8]) -> Bytes {
    let mut out = alloy_rlp::encode(id);
    out.extend_from_slice(data);
    Bytes::from(out)
}

fn our_hello(id: &NodeId, listen_port: u16) -> Bytes {
    let caps = vec![WireCap {
        name: "tst".into(),
        version: 1,
    }];
    let fields: [&dyn Encodable; 5] = [
        &BASE_PROTOCOL_VERSION,
        &"devp2p-rs/interop-test",
        &caps,
        &listen_port,
        id.as_bytes(),
    ];
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: fields.iter().map(|f| f.length()).sum(),
    }
    .encode(&mut out);
    fields.iter().for_each(|f| f.encode(&mut out));
    message(HELLO, &out)
}

fn snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(data)
        .expect("snappy compress")
}

fn unsnappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .expect("snappy decompress")
}

/// Reads the next frame, bounded in time.
async fn next_frame(stream: &mut RlpxStream<TcpStream>) -> BytesMut {
    tokio::time::timeout(EVENT_TIMEOUT, stream.next())
        .await
        .expect("frame within timeout")
        .expect("connection open")
        .expect("valid frame")
}

/// Reads frames until one with message id `want` (bounded in count and time).
async fn next_message(stream: &mut RlpxStream<TcpStream>, want: u64) -> Vec<u8> {
    for _ in 0..MAX_FRAMES_SKIPPED {
        let frame = next_frame(stream).await;
        let (id, data) = split_message(&frame);
        if id == want {
            return data.to_vec();
        }
    }
    panic!("no message {want:#x} within {MAX_FRAMES_SKIPPED} frames");
}

/// Checks the JS peer's Hello and returns it.
fn check_js_hello(frame: &[u8], js_id: &NodeId, client_id: &str, port: u64) -> Hello {
    // ethereumjs encodes msg-id 0 as the RLP integer 0, i.e. the byte 0x80
    // (canonical RLP; go-ethereum does the same).
    assert_eq!(frame[0], 0x80, "Hello msg-id byte");
    let (id, data) = split_message(frame);
    assert_eq!(id, HELLO);
    // Hello is never compressed.
    let hello = decode_hello(data);
    assert_eq!(hello.version, BASE_PROTOCOL_VERSION);
    assert_eq!(hello.client_id, client_id);
    assert_eq!(hello.caps, vec![("tst".to_owned(), 1)]);
    assert_eq!(hello.port, port);
    assert_eq!(hello.id.as_slice(), js_id.as_bytes().as_slice());
    hello
}

/// After both Hellos: the JS side accepts our Hello, our capability message,
/// answers our Ping, and its Disconnect reaches us.
async fn exercise_session(js: &mut ChildPeer, mut stream: RlpxStream<TcpStream>, our_id: &NodeId) {
    let added = js.wait_for("peer_added", EVENT_TIMEOUT).await;
    assert_eq!(added["id"], our_id.to_string());
    assert_eq!(added["client_id"], "devp2p-rs/interop-test");
    assert_eq!(added["caps"], json!(["tst/1"]));

    // tst message 3 at offset 16, snappy-compressed as v5 requires.
    let payload = [0xc4, 0x81, 0xaa, 0x82, 0xbb, 0xcc];
    stream
        .send(message(BASE_PROTOCOL_LENGTH + 3, &snappy(&payload)))
        .await
        .expect("send tst message");
    let msg: Value = js.wait_for("message", EVENT_TIMEOUT).await;
    assert_eq!(msg["cap"], "tst");
    assert_eq!(msg["code"], 3);
    assert_eq!(msg["payload"], hex::encode(payload));

    // Ping (compressed empty list) → ethereumjs answers a compressed Pong.
    stream
        .send(message(PING, &snappy(&[0xc0])))
        .await
        .expect("send ping");
    js.wait_for("ping", EVENT_TIMEOUT).await;
    let pong = next_message(&mut stream, PONG).await;
    assert_eq!(unsnappy(&pong), [0xc0], "Pong data is snappy(rlp([]))");

    // ethereumjs's Disconnect: reason as a bare RLP integer, NOT compressed,
    // even after a v5 Hello (go-ethereum sends snappy(rlp([reason]))).
    js.send(json!({"cmd": "disconnect", "reason": REASON_TOO_MANY_PEERS}))
        .await;
    let data = next_message(&mut stream, DISCONNECT).await;
    assert_eq!(
        data,
        [REASON_TOO_MANY_PEERS],
        "ethereumjs 10.0.0 Disconnect data"
    );
    // ethereumjs half-closes the socket 2 s after sending Disconnect: the
    // stream ends (cleanly or with an error), never with another message.
    let end = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
        .await
        .expect("ethereumjs closes the connection after Disconnect");
    assert!(
        !matches!(end, Some(Ok(_))),
        "no message after Disconnect: {end:?}"
    );
    // ethereumjs reports the peer removed once the socket is fully closed.
    drop(stream);
    let removed = js.wait_for("peer_removed", EVENT_TIMEOUT).await;
    assert_eq!(removed["reason"], REASON_TOO_MANY_PEERS);
    assert_eq!(removed["disconnect_we"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_connect_handshakes_with_ethereumjs_and_reads_its_hello() {
    let (secret, our_id) = our_key();
    let (mut js, js_port, js_id) = js_listener(0x21, "js-listener").await;

    let tcp = TcpStream::connect(("127.0.0.1", js_port))
        .await
        .expect("tcp connect");
    let mut stream = rlpx::connect(tcp, &secret, js_id)
        .await
        .expect("RLPx handshake with ethereumjs");
    assert_eq!(stream.remote_id(), js_id);

    let frame = next_frame(&mut stream).await;
    check_js_hello(&frame, &js_id, "js-listener", u64::from(js_port));

    stream
        .send(our_hello(&our_id, 0))
        .await
        .expect("send hello");
    exercise_session(&mut js, stream, &our_id).await;
    assert!(js.exit(EVENT_TIMEOUT).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_connects_to_our_accept_and_we_read_its_hello() {
    let (secret, our_id) = our_key();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let our_port = listener.local_addr().expect("addr").port();

    let mut js = ChildPeer::spawn_js(
        "rlpx_peer.mjs",
        &args(&[
            "--key",
            &fixed_key_hex(0x31),
            "--no-listen",
            "--client-id",
            "js-dialer",
        ]),
    );
    let ready = js.wait_for("ready", EVENT_TIMEOUT).await;
    let js_id: NodeId = ready["id"].as_str().expect("id").parse().expect("node id");

    js.send(json!({
        "cmd": "connect",
        "id": our_id.to_string(),
        "host": "127.0.0.1",
        "port": our_port,
    }))
    .await;
    let (tcp, _) = tokio::time::timeout(EVENT_TIMEOUT, listener.accept())
        .await
        .expect("JS dials within timeout")
        .expect("accept");
    let mut stream = rlpx::accept(tcp, &secret)
        .await
        .expect("RLPx handshake from ethereumjs");
    assert_eq!(
        stream.remote_id(),
        js_id,
        "id learned from ethereumjs's auth"
    );

    let frame = next_frame(&mut stream).await;
    // A non-listening ethereumjs node sends an empty port field (decodes as 0).
    check_js_hello(&frame, &js_id, "js-dialer", 0);

    stream
        .send(our_hello(&our_id, our_port))
        .await
        .expect("send hello");
    exercise_session(&mut js, stream, &our_id).await;
    assert!(js.exit(EVENT_TIMEOUT).await.success());
}
