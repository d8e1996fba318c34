//! A custom sub-protocol registered with `Server::start`: two servers in one
//! process connect, run `echo/1` (PING n → PONG n+1) and report peer events.
//!
//! Run: `cargo run --example custom_protocol`

use std::time::Duration;

use devp2p::config::Config;
use devp2p::node::generate_node_key;
use devp2p::server::Server;
use devp2p::{send, MsgError, MsgReadWriter, Protocol, ProtocolError};
use futures::StreamExt;

const PING: u64 = 0;
const PONG: u64 = 1;

/// The protocol logic, written against `MsgReadWriter` so a `MsgPipe` can
/// stand in for the peer in unit tests. Answers PING(n) with PONG(n + 1);
/// on PONG, prints it and ends the session (which disconnects the peer).
async fn echo<RW: MsgReadWriter>(rw: &mut RW, initiator: bool) -> Result<(), MsgError> {
    if initiator {
        send(&*rw, PING, &41u64).await?;
    }
    loop {
        let msg = rw.read_msg().await?;
        match msg.code {
            PING => {
                let n: u64 = msg.decode()?;
                send(&*rw, PONG, &(n + 1)).await?;
            }
            PONG => {
                let n: u64 = msg.decode()?;
                println!("got PONG {n}");
                return Ok(());
            }
            _ => unreachable!("the peer layer rejects codes >= length"),
        }
    }
}

fn echo_protocol(initiator: bool) -> Protocol {
    Protocol::new("echo", 1, 2, move |peer, mut rw| async move {
        println!("echo/1 running with {}", peer.name());
        echo(&mut rw, initiator).await.map_err(ProtocolError::from)
    })
}

async fn start(protocol: Protocol, static_nodes: Vec<devp2p::node::Node>) -> Server {
    let config = Config {
        listen_addr: Some("127.0.0.1:0".parse().expect("valid address")),
        no_discovery: true,
        protocols: vec![protocol],
        static_nodes,
        ..Config::with_key(generate_node_key())
    };
    Server::start(config).await.expect("server starts")
}

#[tokio::main]
async fn main() {
    let a = start(echo_protocol(false), vec![]).await;
    let mut events = a.subscribe_events();
    let b = start(echo_protocol(true), vec![a.self_node()]).await;

    // Print A's peer events until B has come and gone.
    let watch = async {
        while let Some(ev) = events.next().await {
            println!("A: {:?} {}", ev.kind, ev.peer);
            if ev.kind == devp2p::PeerEventKind::Drop {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .is_err()
    {
        eprintln!("timed out");
    }
    b.stop().await;
    a.stop().await;
}
