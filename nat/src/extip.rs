//! `extip:<IP>`: a fixed external address and hand-made port forwarding.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::{Nat, NatFuture, Protocol};

/// The machine is reachable on a known external IP and any needed ports were forwarded by
/// hand. Mapping calls do nothing and report the internal port as the external one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtIp(pub IpAddr);

impl fmt::Display for ExtIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "extip:{}", self.0)
    }
}

impl Nat for ExtIp {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        let ip = self.0;
        Box::pin(async move { Ok(ip) })
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

    fn fixed_external_ip(&self) -> Option<IpAddr> {
        Some(self.0)
    }
}
