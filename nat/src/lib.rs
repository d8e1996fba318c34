//! Port mapping for the devp2p stack: make a node behind a home router reachable.
//!
//! The [`Nat`] trait is what the rest of the stack talks to. Implementations:
//!
//! * [`ExtIp`]: the user knows the external IP and forwarded ports by hand; mapping is a no-op.
//! * [`Upnp`]: UPnP Internet Gateway Device v1/v2 (WANIPConnection:1/2, WANPPPConnection:1)
//!   over a small bounded HTTP/SOAP client.
//! * [`Pmp`]: NAT-PMP (RFC 6886) over UDP.
//! * [`Stun`]: asks a STUN server (RFC 5389) which address it saw; maps no ports.
//! * [`AutoNat`]: lazy discovery (`any`, `upnp`, `pmp` without a gateway), run on first use.
//!
//! [`parse`] turns a `--nat` flag value into a ready-to-use `Arc<dyn Nat>` (geth's syntax),
//! and [`PortMapper`] is the task that keeps the server's ports mapped.
//!
//! ```
//! use devp2p_nat::{parse, NatSpec};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // `--nat none` means no port mapping at all.
//! assert!(parse("none").unwrap().is_none());
//!
//! // A fixed external IP: no packets are sent, mappings keep the internal port.
//! let nat = parse("extip:203.0.113.7").unwrap().expect("extip gives a Nat");
//! assert_eq!(nat.external_ip().await.unwrap().to_string(), "203.0.113.7");
//! assert_eq!(nat.to_string(), "extip:203.0.113.7");
//!
//! // Specs round-trip through Display; bad ones name what was wrong.
//! let spec: NatSpec = "PMP:192.168.1.1".parse().unwrap();
//! assert_eq!(spec.to_string(), "pmp:192.168.1.1");
//! assert!(parse("stunnel").unwrap_err().to_string().contains("stunnel"));
//! # });
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

mod autodisc;
mod error;
mod extip;
mod http;
pub mod pmp;
mod port_mapper;
mod spec;
pub mod stun;
pub mod upnp;

pub use autodisc::{first_to_answer, AutoNat, DISCOVERY_RETRY_INTERVAL, DISCOVERY_TIMEOUT};
pub use error::NatError;
pub use extip::ExtIp;
pub use pmp::Pmp;
pub use port_mapper::{
    refresh_interval, MappingRequest, MappingState, PortMapper, PortMapperHandle, PortMapping,
    EXTERNAL_IP_MAX_FAILURES, EXTERNAL_IP_POLL_INTERVAL, MAPPING_LIFETIME,
    MAPPING_REFRESH_INTERVAL, MIN_MAPPING_LIFETIME, NAT_OP_TIMEOUT, RETRY_BACKOFF_MAX,
    RETRY_BACKOFF_MIN, STOP_DELETE_TIMEOUT,
};
pub use spec::{parse, NatSpec};
pub use stun::Stun;
pub use upnp::Upnp;

/// Tracing target of this crate.
pub(crate) const LOG_TARGET: &str = "p2p::nat";

/// The boxed future every [`Nat`] method returns (keeps the trait object-safe, so
/// `Arc<dyn Nat>` works without an extra macro crate).
pub type NatFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, NatError>> + Send + 'a>>;

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (RLPx listener).
    Tcp,
    /// UDP (discovery).
    Udp,
}

impl Protocol {
    /// Upper-case name as UPnP wants it (`"TCP"`, `"UDP"`).
    pub fn as_upnp_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_upnp_str())
    }
}

/// A port mapping mechanism: asks a gateway for our external address and to forward ports.
///
/// `Display` gives a short name for logs; for the built-in implementations it is the spec
/// that [`parse`] accepts (`extip:1.2.3.4`, `upnp`, `pmp:192.168.0.1`, `any`).
pub trait Nat: Send + Sync + fmt::Display {
    /// The gateway's external (Internet-facing) IP address.
    fn external_ip(&self) -> NatFuture<'_, IpAddr>;

    /// Forwards `ext_port` on the gateway to `int_port` on this machine for `lifetime`
    /// (rounded down to whole seconds). `ext_port` is a wish: the gateway may pick another
    /// port, which is returned. `name` is a description shown in the router's UI.
    fn add_mapping<'a>(
        &'a self,
        proto: Protocol,
        ext_port: u16,
        int_port: u16,
        name: &'a str,
        lifetime: Duration,
    ) -> NatFuture<'a, u16>;

    /// Removes a mapping made by [`Nat::add_mapping`].
    fn delete_mapping(&self, proto: Protocol, ext_port: u16, int_port: u16) -> NatFuture<'_, ()>;

    /// The external IP if it is fixed by configuration (`extip:`), so callers can use it
    /// directly without running a [`PortMapper`]. `None` for every gateway protocol.
    fn fixed_external_ip(&self) -> Option<IpAddr> {
        None
    }
}

impl fmt::Debug for dyn Nat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nat({self})")
    }
}
