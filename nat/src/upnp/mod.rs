//! UPnP Internet Gateway Device (IGD v1 and v2) client.
//!
//! Why our own client rather than the `igd-next` crate: igd-next can only build a gateway
//! from its own SSDP search (no constructor from a description URL, and the description
//! parser is private), so it cannot be pointed at a fake gateway on 127.0.0.1 in tests; it
//! also pulls in the whole hyper stack and needs a newer Rust than this workspace's MSRV,
//! and it picks its own random ports. What UPnP needs is small: one HTTP GET, a few SOAP
//! POSTs and XML parsing (done with `roxmltree`), all bounded here.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::RngExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::{self, HttpUrl};
use crate::{Nat, NatError, NatFuture, Protocol, LOG_TARGET};

mod document;
#[cfg(test)]
pub(crate) mod fake_igd;
mod ssdp;
#[cfg(test)]
mod tests;

pub use document::WanService;
pub use ssdp::SSDP_WAIT;

/// Minimum gap between two requests to the gateway. Many consumer routers mishandle
/// back-to-back SOAP calls; go-ethereum's `rateLimit` (200 ms).
pub const UPNP_REQUEST_INTERVAL: Duration = Duration::from_millis(200);
/// How many other external ports we try after the wanted one is taken (UPnP error 718).
/// go-ethereum's `randomCount` (3).
pub const MAX_CONFLICT_RETRIES: usize = 3;
/// Lowest random external port tried after a conflict (go-ethereum picks from 10000..65535,
/// clear of well-known and most registered ports).
pub const RANDOM_PORT_MIN: u16 = 10_000;

/// UPnP error: the action is not implemented (UPnP Device Architecture, "Invalid Action").
const ERR_INVALID_ACTION: u16 = 401;
/// UPnP error: optional action not implemented (UPnP Device Architecture).
const ERR_OPTIONAL_ACTION_NOT_IMPLEMENTED: u16 = 602;
/// WANIPConnection error: no such mapping (deleting a mapping that is gone is success).
const ERR_NO_SUCH_ENTRY: u16 = 714;
/// WANIPConnection error: the external port is mapped to another client.
const ERR_CONFLICT_IN_MAPPING_ENTRY: u16 = 718;
/// WANIPConnection error: internal and external port must be equal.
const ERR_SAME_PORT_VALUES_REQUIRED: u16 = 724;
/// WANIPConnection error: only infinite leases (duration 0) are accepted.
const ERR_ONLY_PERMANENT_LEASES_SUPPORTED: u16 = 725;

/// A UPnP gateway's WAN connection service, reached through its control URL.
pub struct Upnp {
    control_url: HttpUrl,
    service: WanService,
    /// Our address as the gateway sees it (the `NewInternalClient` of our mappings).
    internal_ip: IpAddr,
    /// Set once the gateway answered 725: every later mapping uses lease 0.
    permanent_leases_only: AtomicBool,
    /// Set once an IGDv2 gateway rejected AddAnyPortMapping as unimplemented.
    no_add_any: AtomicBool,
    /// Serialises requests and remembers when the last one finished (rate limit).
    last_request: Mutex<Option<Instant>>,
}

impl fmt::Debug for Upnp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upnp")
            .field("control_url", &self.control_url.to_string())
            .field("service", &self.service)
            .field("internal_ip", &self.internal_ip)
            .finish()
    }
}

impl fmt::Display for Upnp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upnp")
    }
}

impl Upnp {
    /// Fetches and parses the device description at `location` (an `http://<IP>:<port>/…`
    /// URL, as found in an SSDP answer) and picks its best WAN connection service.
    pub async fn from_description_url(location: &str) -> Result<Self, NatError> {
        let url = HttpUrl::parse(location)?;
        let response = http::request(&url, "GET", &[], &[]).await?;
        if response.status != 200 {
            return Err(NatError::HttpStatus {
                url: url.to_string(),
                status: response.status,
            });
        }
        let text = String::from_utf8(response.body)
            .map_err(|_| NatError::document("device description is not UTF-8"))?;
        let control = document::parse_description(&text, &url)?;
        tracing::debug!(target: LOG_TARGET, %url, service = control.service.urn(), control = %control.control_url, "found UPnP gateway");
        Ok(Upnp {
            control_url: control.control_url,
            service: control.service,
            internal_ip: response.local_ip,
            permanent_leases_only: AtomicBool::new(false),
            no_add_any: AtomicBool::new(false),
            last_request: Mutex::new(None),
        })
    }

    /// Finds a gateway with SSDP multicast on the local network (waits up to [`SSDP_WAIT`]
    /// for answers, then uses the first usable description).
    pub async fn discover() -> Result<Self, NatError> {
        ssdp::discover().await
    }

    /// The WAN service in use.
    pub fn service(&self) -> WanService {
        self.service
    }

    /// Our address as the gateway sees it.
    pub fn internal_ip(&self) -> IpAddr {
        self.internal_ip
    }

    /// Calls one SOAP action, keeping [`UPNP_REQUEST_INTERVAL`] between requests.
    async fn call(
        &self,
        action: &'static str,
        args: &[(&str, String)],
    ) -> Result<document::SoapArgs, NatError> {
        let mut last = self.last_request.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + UPNP_REQUEST_INTERVAL).await;
        }
        let body = document::soap_envelope(self.service, action, args);
        let soap_action = format!("\"{}#{}\"", self.service.urn(), action);
        let headers = [
            ("Content-Type", "text/xml; charset=\"utf-8\""),
            ("SOAPAction", soap_action.as_str()),
        ];
        let result = http::request(&self.control_url, "POST", &headers, body.as_bytes()).await;
        *last = Some(Instant::now());
        drop(last);
        let response = result?;
        document::parse_soap_response(action, response.status, &response.body, &self.control_url)
    }

    fn lease_secs(&self, lifetime: Duration) -> u32 {
        if self.permanent_leases_only.load(Ordering::Relaxed) {
            0
        } else {
            u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX)
        }
    }

    fn mapping_args(
        &self,
        proto: Protocol,
        ext: u16,
        int: u16,
        name: &str,
        lease: u32,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", ext.to_string()),
            ("NewProtocol", proto.as_upnp_str().to_owned()),
            ("NewInternalPort", int.to_string()),
            ("NewInternalClient", self.internal_ip.to_string()),
            ("NewEnabled", "1".to_owned()),
            ("NewPortMappingDescription", name.to_owned()),
            ("NewLeaseDuration", lease.to_string()),
        ]
    }

    /// AddPortMapping once, switching to permanent leases if the gateway demands it.
    async fn add_port_mapping(
        &self,
        proto: Protocol,
        ext: u16,
        int: u16,
        name: &str,
        lifetime: Duration,
    ) -> Result<(), NatError> {
        let lease = self.lease_secs(lifetime);
        let result = self
            .call(
                "AddPortMapping",
                &self.mapping_args(proto, ext, int, name, lease),
            )
            .await;
        match result {
            Err(NatError::UpnpFault {
                code: ERR_ONLY_PERMANENT_LEASES_SUPPORTED,
                ..
            }) if lease != 0 => {
                self.note_permanent_leases();
                self.call(
                    "AddPortMapping",
                    &self.mapping_args(proto, ext, int, name, 0),
                )
                .await
                .map(drop)
            }
            other => other.map(drop),
        }
    }

    /// IGDv2 AddAnyPortMapping: the gateway picks a free port near the wanted one.
    /// `Ok(None)` when the gateway turns out not to implement it.
    async fn add_any_port_mapping(
        &self,
        proto: Protocol,
        ext: u16,
        int: u16,
        name: &str,
        lifetime: Duration,
    ) -> Result<Option<u16>, NatError> {
        let mut lease = self.lease_secs(lifetime);
        loop {
            let result = self
                .call(
                    "AddAnyPortMapping",
                    &self.mapping_args(proto, ext, int, name, lease),
                )
                .await;
            match result {
                Ok(args) => {
                    let port = document::arg(&args, "NewReservedPort")
                        .and_then(|p| p.parse::<u16>().ok())
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            NatError::document(
                                "AddAnyPortMapping answer without a valid NewReservedPort",
                            )
                        })?;
                    return Ok(Some(port));
                }
                Err(NatError::UpnpFault {
                    code: ERR_ONLY_PERMANENT_LEASES_SUPPORTED,
                    ..
                }) if lease != 0 => {
                    self.note_permanent_leases();
                    lease = 0;
                }
                Err(NatError::UpnpFault {
                    code: ERR_INVALID_ACTION | ERR_OPTIONAL_ACTION_NOT_IMPLEMENTED,
                    ..
                }) => {
                    self.no_add_any.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn note_permanent_leases(&self) {
        if !self.permanent_leases_only.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: LOG_TARGET, "UPnP gateway only supports permanent leases; mappings outlive an unclean exit");
        }
    }

    async fn add_mapping_inner(
        &self,
        proto: Protocol,
        ext_port: u16,
        int_port: u16,
        name: &str,
        lifetime: Duration,
    ) -> Result<u16, NatError> {
        if int_port == 0 {
            return Err(NatError::InvalidRequest {
                reason: "internal port 0",
            });
        }
        let wanted = if ext_port == 0 { int_port } else { ext_port };
        if self.service == WanService::WanIp2 && !self.no_add_any.load(Ordering::Relaxed) {
            if let Some(port) = self
                .add_any_port_mapping(proto, wanted, int_port, name, lifetime)
                .await?
            {
                return Ok(port);
            }
        }
        let mut port = wanted;
        let attempts = 1 + MAX_CONFLICT_RETRIES;
        for attempt in 0..attempts {
            match self
                .add_port_mapping(proto, port, int_port, name, lifetime)
                .await
            {
                Ok(()) => return Ok(port),
                Err(NatError::UpnpFault {
                    code: ERR_CONFLICT_IN_MAPPING_ENTRY,
                    ..
                }) => {
                    tracing::debug!(target: LOG_TARGET, %proto, port, attempt, "UPnP port taken, trying another");
                    port = rand::rng().random_range(RANDOM_PORT_MIN..=u16::MAX);
                }
                Err(NatError::UpnpFault {
                    code: ERR_SAME_PORT_VALUES_REQUIRED,
                    ..
                }) if port != int_port => {
                    port = int_port;
                }
                Err(e) => return Err(e),
            }
        }
        Err(NatError::PortConflict { attempts })
    }
}

impl Nat for Upnp {
    fn external_ip(&self) -> NatFuture<'_, IpAddr> {
        Box::pin(async move {
            let args = self.call("GetExternalIPAddress", &[]).await?;
            let value = document::arg(&args, "NewExternalIPAddress").unwrap_or_default();
            match value.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() => Ok(ip),
                _ => Err(NatError::InvalidExternalIp {
                    value: crate::error::truncate(value),
                }),
            }
        })
    }

    fn add_mapping<'a>(
        &'a self,
        proto: Protocol,
        ext_port: u16,
        int_port: u16,
        name: &'a str,
        lifetime: Duration,
    ) -> NatFuture<'a, u16> {
        Box::pin(self.add_mapping_inner(proto, ext_port, int_port, name, lifetime))
    }

    fn delete_mapping(&self, proto: Protocol, ext_port: u16, _int_port: u16) -> NatFuture<'_, ()> {
        Box::pin(async move {
            let args = [
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", ext_port.to_string()),
                ("NewProtocol", proto.as_upnp_str().to_owned()),
            ];
            match self.call("DeletePortMapping", &args).await {
                Ok(_)
                | Err(NatError::UpnpFault {
                    code: ERR_NO_SUCH_ENTRY,
                    ..
                }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}
