//! enode URLs: `enode://<128 hex>@<ip or DNS name>:<tcp>[?discport=<udp>]`,
//! parsed and formatted as go-ethereum's `enode.ParseV4` and `Node.URLv4` do.
//!
//! Differences from go-ethereum, on purpose:
//! - a DNS name is kept as [`Node::hostname`] instead of being resolved inside
//!   the parser (no hidden blocking I/O; the caller resolves);
//! - query parameters other than `discport`, a path and a fragment are
//!   rejected instead of ignored, so a typo never silently changes meaning.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::enr::{keys, Enr, EnrError};
use super::id::{NodeId, NodeIdError, NODE_ID_LEN};
use super::ip::{canonical_ip, locality_score, IpFamilies};

/// Longest enode URL we parse, in bytes: the scheme (8) + 128 hex id + `@` +
/// the longest DNS name (253, RFC 1035) + `:65535` + `?discport=65535` is
/// ~415; rounded up so padding in ports (`:030303`, accepted by go-ethereum's
/// `strconv.ParseUint`) still fits.
pub const MAX_ENODE_URL_LEN: usize = 512;

/// Longest DNS name accepted as host, in bytes (RFC 1035 section 2.3.4).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// Longest DNS label, in bytes (RFC 1035 section 2.3.4).
pub const MAX_HOSTNAME_LABEL_LEN: usize = 63;

/// URL scheme of node URLs.
const SCHEME: &str = "enode://";

/// A node's identity and (if known) its endpoint, as written in an enode URL.
///
/// A node is *complete* when it has an address (an IP or a DNS name);
/// the incomplete form `enode://<id>` names a node by key only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// The node's public key.
    pub id: NodeId,
    /// Its IP address, if known. IPv4-mapped IPv6 addresses are stored and
    /// shown as IPv4, as go-ethereum does.
    pub ip: Option<IpAddr>,
    /// Its DNS name, when the URL gave one instead of an IP (not resolved here).
    pub hostname: Option<String>,
    /// RLPx TCP port (0: none).
    pub tcp: u16,
    /// Discovery UDP port (0: none).
    pub udp: u16,
}

/// Why an enode URL could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnodeError {
    /// Longer than [`MAX_ENODE_URL_LEN`].
    #[error("enode URL is {len} bytes, at most {MAX_ENODE_URL_LEN} allowed")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// Does not start with `enode://` (and is not a bare hex node ID).
    #[error("invalid URL scheme, want \"enode\"")]
    BadScheme,
    /// A complete URL without a node ID before the `@`.
    #[error("does not contain node ID")]
    MissingId,
    /// The node ID is not 128 hex characters.
    #[error("invalid public key ({0})")]
    BadId(NodeIdError),
    /// The host is neither an IP address nor a valid DNS name.
    #[error("invalid host {0:?}")]
    BadHost(String),
    /// The TCP port is missing, not a decimal number, or above 65535.
    #[error("invalid port")]
    BadPort,
    /// The `discport` query value is not a decimal number up to 65535.
    #[error("invalid discport in query")]
    BadDiscport,
    /// The query has a parameter other than a single `discport`.
    #[error("unexpected query parameter {0:?}, only discport is allowed")]
    UnknownQuery(String),
    /// The URL has a path (`/...`) after the host.
    #[error("unexpected path in enode URL")]
    UnexpectedPath,
    /// The URL has a fragment (`#...`).
    #[error("unexpected fragment in enode URL")]
    UnexpectedFragment,
}

impl Node {
    /// A complete node at `ip` (IPv4-mapped IPv6 becomes IPv4).
    pub fn new(id: NodeId, ip: IpAddr, tcp: u16, udp: u16) -> Self {
        Node {
            id,
            ip: Some(canonical_ip(ip)),
            hostname: None,
            tcp,
            udp,
        }
    }

    /// A complete node known by DNS name (the name is not checked or resolved).
    pub fn with_hostname(id: NodeId, hostname: impl Into<String>, tcp: u16, udp: u16) -> Self {
        Node {
            id,
            ip: None,
            hostname: Some(hostname.into()),
            tcp,
            udp,
        }
    }

    /// A node known only by its ID.
    pub fn incomplete(id: NodeId) -> Self {
        Node {
            id,
            ip: None,
            hostname: None,
            tcp: 0,
            udp: 0,
        }
    }

    /// The node a verified record describes, as go-ethereum's `enode.New`
    /// reads it: with both `ip` and `ip6`, the IPv4 endpoint (`ip`, `tcp`,
    /// `udp`) unless the IPv6 address reaches further (public beats private
    /// beats link-local beats loopback: go-ethereum's `localityScore`);
    /// with one of them, that one; IPv6 ports are `tcp6`/`udp6`, falling
    /// back to `tcp`/`udp` as EIP-778 says; with neither, an incomplete
    /// node. Fails when one of these entries is malformed.
    pub fn from_enr(enr: &Enr) -> Result<Node, EnrError> {
        Self::from_enr_reachable(enr, IpFamilies::BOTH)
    }

    /// Like [`Node::from_enr`], but only an endpoint of a family in
    /// `reachable` is taken (the dialer passes the families it has sockets
    /// for): a dual-stack record dialed from an IPv6-only node gives its
    /// IPv6 endpoint. A record with no endpoint of a reachable family gives
    /// an incomplete node.
    pub fn from_enr_reachable(enr: &Enr, reachable: IpFamilies) -> Result<Node, EnrError> {
        let id = enr.node_id();
        let tcp = enr.try_port(keys::TCP)?;
        let udp = enr.try_port(keys::UDP)?;
        let tcp6 = enr.try_port(keys::TCP6)?.or(tcp);
        let udp6 = enr.try_port(keys::UDP6)?.or(udp);
        let ip4 = enr.try_ip4()?.map(IpAddr::V4).filter(|_| reachable.v4);
        let ip6 = enr
            .try_ip6()?
            .map(|ip| canonical_ip(IpAddr::V6(ip)))
            .filter(|ip| reachable.contains(*ip));
        let v4 = |ip| Node::new(id, ip, tcp.unwrap_or(0), udp.unwrap_or(0));
        let v6 = |ip| match ip {
            // An IPv4-mapped `ip6` is an IPv4 endpoint (go-ethereum's setIP6).
            IpAddr::V4(_) => v4(ip),
            IpAddr::V6(_) => Node::new(id, ip, tcp6.unwrap_or(0), udp6.unwrap_or(0)),
        };
        Ok(match (ip4, ip6) {
            (Some(a), Some(b)) if locality_score(a) >= locality_score(b) => v4(a),
            (_, Some(b)) => v6(b),
            (Some(a), None) => v4(a),
            (None, None) => Node::incomplete(id),
        })
    }

    /// True when the node has an address (IP or DNS name).
    pub fn is_complete(&self) -> bool {
        self.ip.is_some() || self.hostname.is_some()
    }

    /// The RLPx endpoint, when the IP is known and the TCP port is set.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match (self.ip, self.tcp) {
            (Some(ip), port) if port != 0 => Some(SocketAddr::new(canonical_ip(ip), port)),
            _ => None,
        }
    }

    /// The discovery endpoint, when the IP is known and the UDP port is set.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        match (self.ip, self.udp) {
            (Some(ip), port) if port != 0 => Some(SocketAddr::new(canonical_ip(ip), port)),
            _ => None,
        }
    }
}

impl fmt::Display for Node {
    /// Formats as go-ethereum's `URLv4`: `enode://<id>` for incomplete nodes,
    /// otherwise `enode://<id>@<host>:<tcp>`, plus `?discport=<udp>` when the
    /// UDP port differs from the TCP port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.id)?;
        match (self.ip, &self.hostname) {
            (Some(ip), _) => match canonical_ip(ip) {
                IpAddr::V4(v4) => write!(f, "@{v4}:{}", self.tcp)?,
                IpAddr::V6(v6) => write!(f, "@[{v6}]:{}", self.tcp)?,
            },
            (None, Some(host)) => write!(f, "@{host}:{}", self.tcp)?,
            (None, None) => return Ok(()),
        }
        if self.udp != self.tcp {
            write!(f, "?discport={}", self.udp)?;
        }
        Ok(())
    }
}

impl FromStr for Node {
    type Err = EnodeError;

    /// Parses an enode URL (see the module docs). Like go-ethereum, a bare
    /// 128-character hex node ID is accepted as the incomplete form, and the
    /// scheme is case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_ENODE_URL_LEN {
            return Err(EnodeError::TooLong { len: s.len() });
        }
        let rest = match s.get(..SCHEME.len()) {
            Some(head) if head.eq_ignore_ascii_case(SCHEME) => &s[SCHEME.len()..],
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Ok(Node::incomplete(parse_id(s)?));
            }
            _ => return Err(EnodeError::BadScheme),
        };
        let Some((id, addr)) = rest.split_once('@') else {
            // Incomplete form: go-ethereum only accepts hex here.
            if rest.bytes().all(|b| b.is_ascii_hexdigit()) && !rest.is_empty() {
                return Ok(Node::incomplete(parse_id(rest)?));
            }
            return Err(EnodeError::MissingId);
        };
        if id.is_empty() {
            return Err(EnodeError::MissingId);
        }
        let id = parse_id(id)?;

        let (addr, fragment) = match addr.split_once('#') {
            Some((a, frag)) => (a, Some(frag)),
            None => (addr, None),
        };
        if fragment.is_some() {
            return Err(EnodeError::UnexpectedFragment);
        }
        let (authority, query) = match addr.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (addr, None),
        };
        if authority.contains('/') {
            return Err(EnodeError::UnexpectedPath);
        }
        let (host, port) = split_host_port(authority)?;
        let tcp = parse_port(port).ok_or(EnodeError::BadPort)?;
        let udp = match query {
            Some(q) => parse_query(q)?.unwrap_or(tcp),
            None => tcp,
        };
        Ok(match host {
            Host::Ip(ip) => Node::new(id, ip, tcp, udp),
            Host::Name(name) => Node::with_hostname(id, name, tcp, udp),
        })
    }
}

/// Parsed host part of an enode URL.
enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// Parses the hex node ID and checks it is a point on the curve, as
/// go-ethereum's `parsePubkey` does.
fn parse_id(hex: &str) -> Result<NodeId, EnodeError> {
    if hex.len() != NODE_ID_LEN * 2 {
        return Err(EnodeError::BadId(NodeIdError::BadLength {
            got: hex.len() / 2,
        }));
    }
    let id: NodeId = hex.parse().map_err(EnodeError::BadId)?;
    id.to_public_key().map_err(EnodeError::BadId)?;
    Ok(id)
}

/// Splits `host:port` / `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(Host<'_>, &str), EnodeError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (inner, after) = bracketed
            .split_once(']')
            .ok_or_else(|| EnodeError::BadHost(authority.to_string()))?;
        let ip: std::net::Ipv6Addr = inner
            .parse()
            .map_err(|_| EnodeError::BadHost(inner.to_string()))?;
        let port = after.strip_prefix(':').ok_or(EnodeError::BadPort)?;
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    let (host, port) = authority.rsplit_once(':').ok_or(EnodeError::BadPort)?;
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return Ok((Host::Ip(IpAddr::V4(v4)), port));
    }
    if is_dns_name(host) {
        Ok((Host::Name(host), port))
    } else {
        // Includes unbracketed IPv6 such as `::1:30303`.
        Err(EnodeError::BadHost(host.to_string()))
    }
}

/// True for a syntactically valid DNS name: dot-separated labels of
/// letters, digits and inner hyphens (RFC 1123 section 2.1), not all-numeric.
fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > MAX_HOSTNAME_LEN {
        return false;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_HOSTNAME_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    // A name of digits and dots only is a malformed IPv4 address, not a name.
    labels_ok && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Parses a decimal port like go-ethereum's `strconv.ParseUint(s, 10, 16)`:
/// digits only (leading zeros allowed), at most 65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the query: only `discport=<port>`, at most once. An empty value
/// counts as absent, as go-ethereum's `url.Values.Get` makes it.
fn parse_query(query: &str) -> Result<Option<u16>, EnodeError> {
    let mut discport = None;
    for param in query.split('&').filter(|p| !p.is_empty()) {
        match param.split_once('=') {
            Some(("discport", value)) => {
                if discport.is_some() {
                    return Err(EnodeError::UnknownQuery("discport (repeated)".into()));
                }
                discport = Some(value);
            }
            _ => return Err(EnodeError::UnknownQuery(param.to_string())),
        }
    }
    match discport {
        None | Some("") => Ok(None),
        Some(v) => parse_port(v).map(Some).ok_or(EnodeError::BadDiscport),
    }
}

#[cfg(test)]
#[path = "enode_tests.rs"]
mod tests;
