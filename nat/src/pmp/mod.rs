//! NAT-PMP client (RFC 6886): external address, map and unmap UDP/TCP ports.
//!
//! Own implementation: the protocol is two fixed-size UDP messages; a crate would add more
//! than it saves, and this keeps the retransmission schedule and the typed result codes
//! under our control.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::{Nat, NatError, NatFuture, Protocol, LOG_TARGET};

#[cfg(test)]
pub(crate) mod fake_gateway;
#[cfg(test)]
mod tests;

/// The gateway's NAT-PMP port (RFC 6886 section 3.1).
pub const PMP_SERVER_PORT: u16 = 5351;
/// Wait before the first retransmission; doubled after each (RFC 6886 section 3.1).
pub const PMP_INITIAL_TIMEOUT: Duration = Duration::from_millis(250);
/// Number of transmissions before giving up: 250 ms doubling to 64 s, about 128 s in total
/// (RFC 6886 section 3.1).
pub const PMP_MAX_ATTEMPTS: u32 = 9;
/// How long auto-discovery waits for a candidate gateway's first answer (go-ethereum's
/// `discoverPMP` uses 1 s).
pub const PMP_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Most candidate gateways probed during discovery (our bound on a long routing table).
const MAX_GATEWAY_CANDIDATES: usize = 8;
/// Largest datagram we read; NAT-PMP responses are at most 16 bytes (RFC 6886 section 3.3).
const MAX_DATAGRAM: usize = 64;
/// NAT-PMP version (RFC 6886 section 3.2).
const VERSION: u8 = 0;
/// Opcodes (RFC 6886 sections 3.2 and 3.3); responses add 128.
const OP_EXTERNAL_ADDRESS: u8 = 0;
const OP_MAP_UDP: u8 = 1;
const OP_MAP_TCP: u8 = 2;
const RESPONSE_BIT: u8 = 128;
/// Response sizes in bytes (RFC 6886 sections 3.2 and 3.3).
const EXTERNAL_ADDRESS_RESPONSE_LEN: usize = 12;
const MAP_RESPONSE_LEN: usize = 16;

/// A non-zero NAT-PMP result code (RFC 6886 section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmpResultCode {
    /// 1: the gateway does not speak this protocol version.
    UnsupportedVersion,
    /// 2: the gateway supports mapping but it is switched off.
    NotAuthorized,
    /// 3: the gateway has no external address (e.g. no DHCP lease yet).
    NetworkFailure,
    /// 4: the gateway cannot create more mappings.
    OutOfResources,
    /// 5: the gateway does not know this opcode.
    UnsupportedOpcode,
    /// Any other code (treated as a failure, RFC 6886 section 3.5).
    Other(u16),
}

impl PmpResultCode {
    fn from_code(code: u16) -> Self {
        match code {
            1 => PmpResultCode::UnsupportedVersion,
            2 => PmpResultCode::NotAuthorized,
            3 => PmpResultCode::NetworkFailure,
            4 => PmpResultCode::OutOfResources,
            5 => PmpResultCode::UnsupportedOpcode,
            other => PmpResultCode::Other(other),
        }
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            PmpResultCode::UnsupportedVersion => 1,
            PmpResultCode::NotAuthorized => 2,
            PmpResultCode::NetworkFailure => 3,
            PmpResultCode::OutOfResources => 4,
            PmpResultCode::UnsupportedOpcode => 5,
            PmpResultCode::Other(c) => c,
        }
    }
}

impl fmt::Display for PmpResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            PmpResultCode::UnsupportedVersion => "unsupported version",
            PmpResultCode::NotAuthorized => "not authorized/refused",
            PmpResultCode::NetworkFailure => "network failure",
            PmpResultCode::OutOfResources => "out of resources",
            PmpResultCode::UnsupportedOpcode => "unsupported opcode",
            PmpResultCode::Other(_) => "unknown result code",
        };
        write!(f, "{text} ({})", self.code())
    }
}

/// A NAT-PMP gateway.
#[derive(Debug, Clone)]
pub struct Pmp {
    gateway: SocketAddr,
    initial_timeout: Duration,
    max_attempts: u32,
}

impl fmt::Display for Pmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pmp:{}", self.gateway.ip())
    }
}

impl Pmp {
    /// A client for the gateway at `gateway` (normally `<router IP>:`[`PMP_SERVER_PORT`])
    /// with the RFC retransmission schedule.
    pub fn new(gateway: SocketAddr) -> Self {
        Pmp {
            gateway,
            initial_timeout: PMP_INITIAL_TIMEOUT,
            max_attempts: PMP_MAX_ATTEMPTS,
        }
    }

    /// Changes the retransmission schedule: first wait `initial_timeout`, doubling, for at
    /// most `max_attempts` transmissions (at least one).
    pub fn with_retransmission(mut self, initial_timeout: Duration, max_attempts: u32) -> Self {
        self.initial_timeout = initial_timeout;
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The gateway's address.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// Finds a gateway: reads the default routes of this machine (Linux `/proc/net/route`)
    /// and asks each candidate for its external address; the first to answer wins.
    pub async fn discover() -> Result<Self, NatError> {
        let routes = tokio::fs::read_to_string("/proc/net/route")
            .await
            .unwrap_or_default();
        let candidates: Vec<Pmp> = default_gateways(&routes)
            .into_iter()
            .take(MAX_GATEWAY_CANDIDATES)
            .map(|ip| Pmp::new(SocketAddr::new(IpAddr::V4(ip), PMP_SERVER_PORT)))
            .collect();
        Self::first_answering(candidates, PMP_DISCOVERY_TIMEOUT).await
    }

    /// Probes the candidates in parallel; returns the first that reports an external address.
    pub(crate) async fn first_answering(
        candidates: Vec<Pmp>,
        wait: Duration,
    ) -> Result<Self, NatError> {
        let probes = candidates.into_iter().map(|pmp| {
            Box::pin(async move {
                match tokio::time::timeout(wait, pmp.external_ip()).await {
                    Ok(Ok(_)) => Ok(pmp),
                    _ => Err(NatError::NoGateway {
                        mechanism: "NAT-PMP",
                    }),
                }
            })
        });
        let probes: Vec<_> = probes.collect();
        if probes.is_empty() {
            return Err(NatError::NoGateway {
                mechanism: "NAT-PMP",
            });
        }
        futures::future::select_ok(probes).await.map(|(pmp, _)| pmp)
    }

    /// Sends `request` with retransmissions and returns the first valid response to
    /// `opcode`, at least `min_len` bytes long. `accept` filters responses (e.g. for the
    /// right internal port); rejected ones are ignored as RFC 6886 section 3.1 asks.
    async fn exchange(
        &self,
        request: &[u8],
        opcode: u8,
        min_len: usize,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Result<[u8; MAX_DATAGRAM], NatError> {
        let local: SocketAddr = match self.gateway {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| NatError::io("binding NAT-PMP socket", e))?;
        // A connected socket only receives datagrams from the gateway.
        socket
            .connect(self.gateway)
            .await
            .map_err(|e| NatError::io("connecting NAT-PMP socket", e))?;
        let started = Instant::now();
        let mut wait = self.initial_timeout;
        let mut buf = [0u8; MAX_DATAGRAM];
        for attempt in 0..self.max_attempts {
            socket
                .send(request)
                .await
                .map_err(|e| NatError::io("sending NAT-PMP request", e))?;
            let deadline = Instant::now() + wait;
            while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await
            {
                let n = received.map_err(|e| NatError::io("receiving NAT-PMP response", e))?;
                if check_response(&buf[..n], opcode, min_len)? && accept(&buf[..n]) {
                    return Ok(buf);
                }
            }
            tracing::trace!(target: LOG_TARGET, gateway = %self.gateway, attempt, "NAT-PMP retransmit");
            wait = wait.saturating_mul(2);
        }
        Err(NatError::Timeout {
            what: "NAT-PMP response",
            after: started.elapsed(),
        })
    }

    /// Creates (lifetime > 0) or destroys (lifetime 0, external port 0) a mapping and
    /// returns the gateway's answer: (mapped external port, granted lifetime in seconds).
    async fn map(
        &self,
        proto: Protocol,
        int_port: u16,
        ext_port: u16,
        lifetime_secs: u32,
    ) -> Result<(u16, u32), NatError> {
        let opcode = match proto {
            Protocol::Udp => OP_MAP_UDP,
            Protocol::Tcp => OP_MAP_TCP,
        };
        let mut request = [0u8; 12];
        request[1] = opcode;
        request[4..6].copy_from_slice(&int_port.to_be_bytes());
        request[6..8].copy_from_slice(&ext_port.to_be_bytes());
        request[8..12].copy_from_slice(&lifetime_secs.to_be_bytes());
        let answer = self
            .exchange(&request, opcode, MAP_RESPONSE_LEN, |p| {
                p[8..10] == int_port.to_be_bytes()
            })
            .await?;
        let mapped = u16::from_be_bytes([answer[10], answer[11]]);
        let granted = u32::from_be_bytes([answer[12], answer[13], answer[14], answer[15]]);
        Ok((mapped, granted))
    }
}

/// Checks a datagram from the gateway against the request's `opcode`: `Ok(false)` for
/// datagrams to ignore (other version/opcode, RFC 6886 section 3.1), the result code as an
/// error, `Ok(true)` for a success response of at least `min_len` bytes.
pub(crate) fn check_response(packet: &[u8], opcode: u8, min_len: usize) -> Result<bool, NatError> {
    if packet.len() < 4 || packet[0] != VERSION || packet[1] != RESPONSE_BIT | opcode {
        return Ok(false);
    }
    let code = u16::from_be_bytes([packet[2], packet[3]]);
    if code != 0 {
        return Err(NatError::Pmp {
            code: PmpResultCode::from_code(code),
        });
    }
    if packet.len() < min_len {
        return Err(NatError::MalformedPmp {
            reason: "response shorter than its opcode requires",
        });
    }
    Ok(true)
}

/// Default-route gateways from the text of Linux `/proc/net/route`.
pub(crate) fn default_gateways(routes: &str) -> Vec<Ipv4Addr> {
    routes
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (dest, gw) = (fields.get(1)?, fields.get(2)?);
            if *dest != "00000000" {
                return None;
            }
            // The kernel prints the network-order address as a native-endian u32.
            let raw = u32::from_str_radix(gw, 16).ok()?;
            let ip = Ipv4Addr::from(raw.to_ne_bytes());
            (!ip.is_unspecified()).then_some(ip)
        })
        .collect()
}

impl Nat for Pmp {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        Box::pin(async move {
            let request = [VERSION, OP_EXTERNAL_ADDRESS];
            let answer = self
                .exchange(
                    &request,
                    OP_EXTERNAL_ADDRESS,
                    EXTERNAL_ADDRESS_RESPONSE_LEN,
                    |_| true,
                )
                .await?;
            let ip = Ipv4Addr::new(answer[8], answer[9], answer[10], answer[11]);
            if ip.is_unspecified() {
                return Err(NatError::InvalidExternalIp {
                    value: ip.to_string(),
                });
            }
            Ok(IpAddr::V4(ip))
        })
    }

    fn add_mapping<'a>(
        &'a self,
        proto: Protocol,
        ext_port: u16,
        int_port: u16,
        _name: &'a str,
        lifetime: Duration,
    ) -> NatFuture<'a, u16> {
        Box::pin(async move {
            if int_port == 0 {
                return Err(NatError::InvalidRequest {
                    reason: "internal port 0",
                });
            }
            let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
            if secs == 0 {
                return Err(NatError::InvalidRequest {
                    reason: "NAT-PMP lifetime must be at least one second",
                });
            }
            let (mapped, granted) = self.map(proto, int_port, ext_port, secs).await?;
            if mapped == 0 || granted == 0 {
                return Err(NatError::MalformedPmp {
                    reason: "mapping answer with port 0 or lifetime 0",
                });
            }
            Ok(mapped)
        })
    }

    fn delete_mapping(&self, proto: Protocol, _ext_port: u16, int_port: u16) -> NatFuture<'_, ()> {
        // RFC 6886 section 3.4: lifetime 0 and suggested external port 0 destroy the mapping.
        Box::pin(async move { self.map(proto, int_port, 0, 0).await.map(drop) })
    }
}
