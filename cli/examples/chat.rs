//! A chat over the demo protocol: run it in several terminals, each line you
//! type is gossiped to every node of the network.
//!
//! ```text
//! cargo run --example chat -- 127.0.0.1:30401
//! cargo run --example chat -- 127.0.0.1:30402 enode://…@127.0.0.1:30401
//! ```
//!
//! The first argument is the address to listen on (TCP and UDP); the
//! optional second one a bootnode (any running chat node).

use devp2p::config::Config;
use devp2p::node::{generate_node_key, NodeId};
use devp2p::server::Server;
use devp2p_cli::demo::{Demo, DemoConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:30401".into())
        .parse()?;
    let boot = args.next().map(|s| s.parse()).transpose()?;

    let key = generate_node_key();
    let demo = Demo::new(DemoConfig::new(NodeId::from_secret_key(&key)));
    let server = Server::start(Config {
        listen_addr: Some(addr),
        bootstrap_nodes: boot.into_iter().collect(),
        protocols: vec![demo.protocol()],
        ..Config::with_key(key)
    })
    .await?;
    println!("chat node {}", server.self_node());

    let mut deliveries = demo.subscribe();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            d = deliveries.recv() => match d {
                Ok(d) => println!("<{}> {}", &d.gossip.origin.to_string()[..8], d.gossip.text),
                Err(_) => continue,
            },
            line = lines.next_line() => match line? {
                Some(text) if !text.trim().is_empty() => { demo.broadcast(text).await?; }
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    demo.shutdown().await;
    server.stop().await;
    Ok(())
}
