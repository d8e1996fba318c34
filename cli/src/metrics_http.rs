//! The metrics HTTP endpoint: `GET /metrics` over HTTP/1.0, one request at
//! a time, each bounded in size and time.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use devp2p::metrics::{Metrics, CONTENT_TYPE};
use devp2p::server::Server;

/// Largest HTTP request head read, in bytes (a scrape request is ~100 bytes).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head and read the answer (our
/// choice: Prometheus' default scrape timeout is 10 s; a scrape here takes
/// well under a millisecond).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A running metrics HTTP endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the listener; returns when it is gone.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Serves `server`'s metrics ([`Server::metrics`]) at `http://addr/metrics`.
/// Requests are handled one at a time (scrapes are rare and cheap), each
/// within [`REQUEST_TIMEOUT`].
pub async fn serve(addr: SocketAddr, server: Server) -> std::io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let metrics = server.metrics();
    drop(server);
    let s = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = s.cancelled() => break,
                conn = listener.accept() => conn,
            };
            if let Ok((stream, _)) = conn {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &metrics)).await;
            }
        }
    });
    Ok(MetricsServer {
        local_addr,
        stop,
        task,
    })
}

async fn handle(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let body = metrics.render();
            respond(&mut stream, "200 OK", &body).await
        }
        (Some(b"GET"), _) => respond(&mut stream, "404 Not Found", "not found\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
