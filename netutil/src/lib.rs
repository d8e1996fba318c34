//! Network helpers for the devp2p stack.
//!
//! - [`Netlist`]: a list of CIDR networks (e.g. `--netrestrict`), parsed from
//!   `"10.0.0.0/8, 192.168.0.0/16"`, serialised as a list of strings.
//! - [`is_lan`], [`is_special_network`], [`check_relay_ip`], [`same_net`]:
//!   address classification, used to reject nonsense addresses relayed by
//!   discovery peers.
//! - [`DistinctNetSet`]: caps how many peers or table entries may share a
//!   subnet (IPv4 /24, IPv6 /48 by default).
//! - [`bind_udp`], [`bind_tcp_listener`]: sockets whose IPv6 form never
//!   takes IPv4 traffic (`IPV6_V6ONLY`), for dual-stack nodes.
//! - [`IpTracker`]: predicts our external endpoint from what other nodes
//!   report, with time passed in by the caller.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are treated as the IPv4
//! address they carry everywhere in this crate.
//!
//! ```
//! use std::net::IpAddr;
//! use devp2p_netutil::{check_relay_ip, DistinctNetSet, Netlist, DEFAULT_SUBNET_BITS_V4};
//!
//! let restrict: Netlist = "10.0.0.0/8 fc00::/7".parse()?;
//! let sender: IpAddr = "10.1.1.1".parse()?;
//! let relayed: IpAddr = "10.2.2.2".parse()?;
//!
//! // Accept the relayed node only if it is plausible and allowed...
//! check_relay_ip(sender, relayed)?;
//! assert!(restrict.contains(relayed));
//!
//! // ...and its /24 does not already hold two of our table entries.
//! let mut subnets = DistinctNetSet::new(DEFAULT_SUBNET_BITS_V4, 2);
//! assert!(subnets.add(relayed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod distinct;
mod iptrack;
mod lan;
mod netlist;
mod socket;

pub use distinct::{DistinctNetSet, DEFAULT_SUBNET_BITS_V4, DEFAULT_SUBNET_BITS_V6};
pub use iptrack::{IpTracker, MAX_CONTACTS, MAX_STATEMENTS};
pub use lan::{check_relay_ip, is_lan, is_special_network, same_net, RelayIpError};
pub use netlist::{Netlist, NetlistError, MAX_QUOTED_ENTRY_BYTES};
pub use socket::{bind_tcp_listener, bind_udp, ipv6_loopback_available};

/// Re-exported so callers can build [`Netlist`] entries without naming the
/// `ipnet` crate themselves.
pub use ipnet::IpNet;
