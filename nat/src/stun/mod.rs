//! `stun[:<IP>[:port]]`: learn the external address from a STUN server
//! (RFC 5389 Binding request), as go-ethereum's `--nat stun` does.
//!
//! STUN maps no ports: it only tells which address and port the NAT gave our
//! request, so the node announces the right IP. It fits routers that keep the
//! source port (full-cone or port-preserving NATs) or where the ports were
//! forwarded by hand; [`Nat::add_mapping`] returns the internal port, as for
//! `extip`. The address is asked again each time the port mapper polls
//! ([`EXTERNAL_IP_POLL_INTERVAL`](crate::EXTERNAL_IP_POLL_INTERVAL)), so a new
//! address (a re-dialed DSL line) reaches our record.

mod wire;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};
use tracing::{debug, trace};

pub use wire::StunError;
use wire::{binding_request, parse_binding_response, TransactionId, MAX_MESSAGE_LEN};

use crate::{Nat, NatError, NatFuture, Protocol, LOG_TARGET};

/// The STUN port when a server is given without one (RFC 5389 section 9).
pub const STUN_DEFAULT_PORT: u16 = 3478;

/// Servers asked, one after the other, before `external_ip` fails (go-ethereum
/// `requestLimit`: 3).
pub const STUN_SERVERS_TRIED: usize = 3;

/// First retransmission timeout of a Binding request (RFC 5389 section 7.2.1:
/// RTO starts at 500 ms and doubles with each retransmission).
pub const STUN_INITIAL_RTO: Duration = Duration::from_millis(500);

/// Requests sent to one server before it counts as unreachable: sent at 0,
/// 0.5 and 1.5 s, the last waited for until 3.5 s. RFC 5389 sends 7 over
/// 39.5 s; a node at start-up should not wait that long for one server when
/// two more are tried after it.
pub const STUN_REQUESTS_PER_SERVER: u32 = 3;

/// Replies read per request before giving up on a server: stray or spoofed
/// datagrams cannot keep us reading forever.
const MAX_STRAY_REPLIES: usize = 16;

/// go-ethereum's list of public STUN servers (p2p/nat/stun-list.txt at
/// v1.17.10), used by plain `stun`.
const DEFAULT_SERVERS: &str = include_str!("servers.txt");

/// The servers plain `stun` picks from (go-ethereum's list).
pub fn default_servers() -> Vec<SocketAddr> {
    DEFAULT_SERVERS
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A STUN client used as a [`Nat`]: its external IP is what the server saw.
#[derive(Debug, Clone)]
pub struct Stun {
    /// `Some`: the one server given on the command line.
    server: Option<SocketAddr>,
}

impl Stun {
    /// A client of `server`, or of [`STUN_SERVERS_TRIED`] servers picked at
    /// random from go-ethereum's list when `None`.
    pub fn new(server: Option<SocketAddr>) -> Self {
        Stun { server }
    }

    fn servers(&self) -> Vec<SocketAddr> {
        match self.server {
            Some(s) => vec![s],
            None => {
                let mut all = default_servers();
                all.shuffle(&mut rand::rng());
                all.truncate(STUN_SERVERS_TRIED);
                all
            }
        }
    }
}

impl fmt::Display for Stun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.server {
            None => f.write_str("stun"),
            Some(s) if s.port() == STUN_DEFAULT_PORT => write!(f, "stun:{}", s.ip()),
            Some(s) => write!(f, "stun:{s}"),
        }
    }
}

impl Nat for Stun {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        Box::pin(async move {
            let mut last = None;
            for server in self.servers() {
                match binding(server).await {
                    Ok(mapped) => {
                        debug!(target: LOG_TARGET, %server, %mapped, "STUN mapped address");
                        return Ok(mapped.ip());
                    }
                    Err(e) => {
                        debug!(target: LOG_TARGET, %server, error = %e, "STUN request failed");
                        last = Some(e);
                    }
                }
            }
            Err(last.unwrap_or(NatError::NoGateway {
                mechanism: "STUN server",
            }))
        })
    }

    fn add_mapping<'a>(
        &'a self,
        _proto: Protocol,
        _ext_port: u16,
        int_port: u16,
        _name: &'a str,
        _lifetime: Duration,
    ) -> NatFuture<'a, u16> {
        Box::pin(async move { Ok(int_port) })
    }

    fn delete_mapping(
        &self,
        _proto: Protocol,
        _ext_port: u16,
        _int_port: u16,
    ) -> NatFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// One Binding transaction with `server` from a fresh socket: the address
/// and port the server saw. Retransmits per [`STUN_INITIAL_RTO`] and
/// [`STUN_REQUESTS_PER_SERVER`]; replies from other addresses or to other
/// transactions are skipped.
pub async fn binding(server: SocketAddr) -> Result<SocketAddr, NatError> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| NatError::io("binding the STUN client socket", e))?;
    let mut id: TransactionId = [0; wire::TRANSACTION_ID_LEN];
    rand::rng().fill_bytes(&mut id);
    let request = binding_request(&id);
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let start = Instant::now();
    let mut rto = STUN_INITIAL_RTO;
    let mut last_error: Option<StunError> = None;
    for attempt in 1..=STUN_REQUESTS_PER_SERVER {
        socket
            .send_to(&request, server)
            .await
            .map_err(|e| NatError::io("sending a STUN request", e))?;
        trace!(target: LOG_TARGET, %server, attempt, "STUN binding request sent");
        // The last request waits twice as long (RFC 5389's final wait is
        // 16 × RTO; ours is bounded by the shortened schedule).
        let wait = if attempt == STUN_REQUESTS_PER_SERVER {
            rto * 2
        } else {
            rto
        };
        let deadline = Instant::now() + wait;
        for _ in 0..MAX_STRAY_REPLIES {
            let (n, from) = match timeout_at(deadline, socket.recv_from(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(NatError::io("reading a STUN reply", e)),
                Ok(Ok(got)) => got,
            };
            if from != server {
                continue;
            }
            match parse_binding_response(&buf[..n], &id) {
                Ok(mapped) => return Ok(mapped),
                // A server error is an answer: asking again will not help.
                Err(e @ StunError::ServerError { .. }) => return Err(NatError::Stun(e)),
                Err(e) => last_error = Some(e),
            }
        }
        rto *= 2;
    }
    Err(match last_error {
        Some(e) => NatError::Stun(e),
        None => NatError::Timeout {
            what: "STUN binding response",
            after: start.elapsed(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_parses() {
        let all = default_servers();
        assert_eq!(all.len(), DEFAULT_SERVERS.lines().count());
        assert!(all.iter().any(|s| s.is_ipv6()));
        assert_eq!(Stun::new(None).servers().len(), STUN_SERVERS_TRIED);
    }

    /// A fake server on 127.0.0.1 answering with `reply(request)`.
    async fn fake_server(
        reply: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                for r in reply(&buf[..n]) {
                    let _ = sock.send_to(&r, from).await;
                }
            }
        });
        (addr, task)
    }

    /// A success response to `req` mapping to `mapped`.
    fn success(req: &[u8], mapped: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(v4) = mapped else {
            panic!("v4 only")
        };
        let cookie = wire::MAGIC_COOKIE.to_be_bytes();
        let mut m = Vec::new();
        m.extend_from_slice(&wire::BINDING_SUCCESS.to_be_bytes());
        m.extend_from_slice(&12u16.to_be_bytes());
        m.extend_from_slice(&req[4..20]);
        m.extend_from_slice(&wire::ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
        m.extend_from_slice(&8u16.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&(v4.port() ^ 0x2112).to_be_bytes());
        for (i, b) in v4.ip().octets().iter().enumerate() {
            m.push(b ^ cookie[i]);
        }
        m
    }

    #[tokio::test]
    async fn binding_skips_strays_and_reads_the_mapped_address() {
        let mapped: SocketAddr = "198.51.100.7:40404".parse().unwrap();
        let (addr, task) = fake_server(move |req| {
            let mut wrong_id = success(req, "192.0.2.66:1".parse().unwrap());
            wrong_id[8] ^= 0xff;
            vec![b"noise".to_vec(), wrong_id, success(req, mapped)]
        })
        .await;
        assert_eq!(binding(addr).await.unwrap(), mapped);
        let nat = Stun::new(Some(addr));
        assert_eq!(nat.external_ip().await.unwrap(), mapped.ip());
        assert_eq!(
            nat.add_mapping(Protocol::Tcp, 1, 30303, "x", Duration::from_secs(1))
                .await
                .unwrap(),
            30303
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn silent_server_times_out_after_the_schedule() {
        let (silent, task) = fake_server(|_| vec![]).await;
        let start = Instant::now();
        let err = binding(silent).await.unwrap_err();
        assert!(matches!(err, NatError::Timeout { .. }), "{err}");
        // 0.5 + 1 + 2 × 2 s.
        assert_eq!(start.elapsed(), Duration::from_millis(5500));
        task.abort();
    }

    #[tokio::test]
    async fn bad_replies_are_typed_errors() {
        let (no_addr, t2) = fake_server(|req| {
            let mut m = success(req, "192.0.2.1:1".parse().unwrap());
            m[20..22].copy_from_slice(&0x7777u16.to_be_bytes());
            vec![m]
        })
        .await;
        let err = binding(no_addr).await.unwrap_err();
        assert!(
            matches!(err, NatError::Stun(StunError::NoMappedAddress)),
            "{err}"
        );
        t2.abort();
    }
}
