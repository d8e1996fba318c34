//! SSDP search for Internet Gateway Devices (UPnP Device Architecture 1.1, section 1.3).
//!
//! This sends multicast on the local network, so it is never run by tests; only the parsing
//! of answers is tested.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::Upnp;
use crate::{NatError, LOG_TARGET};

/// SSDP multicast group and port (UPnP Device Architecture).
const SSDP_ADDR: (Ipv4Addr, u16) = (Ipv4Addr::new(239, 255, 255, 250), 1900);
/// The device types we search for: IGD v1 and v2.
const SEARCH_TARGETS: [&str; 2] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
];
/// How long we collect answers. Devices answer within MX seconds (we send MX: 2, as the
/// goupnp library used by go-ethereum does), plus a little slack for the network.
pub const SSDP_WAIT: Duration = Duration::from_millis(2500);
/// Most distinct LOCATION URLs we try (a LAN rarely has more than one or two IGDs; bounds
/// the work a noisy network can cause).
const MAX_LOCATIONS: usize = 8;
/// Largest SSDP datagram we read, in bytes (answers are a few hundred bytes).
const MAX_DATAGRAM: usize = 2048;

/// Extracts the LOCATION header of an SSDP answer (`HTTP/1.1 200 OK` to an M-SEARCH).
pub(crate) fn location(datagram: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.split("\r\n");
    if !lines.next()?.starts_with("HTTP/1.") {
        return None;
    }
    lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("location")
            .then(|| value.trim().to_owned())
    })
}

fn search_request(target: &str) -> String {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: {target}\r\n\r\n"
    )
}

/// Multicasts the searches and returns the first gateway whose description is usable.
pub(crate) async fn discover() -> Result<Upnp, NatError> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .map_err(|e| NatError::io("binding SSDP socket", e))?;
    let group = SocketAddr::from(SSDP_ADDR);
    for target in SEARCH_TARGETS {
        socket
            .send_to(search_request(target).as_bytes(), group)
            .await
            .map_err(|e| NatError::io("sending SSDP search", e))?;
    }
    let deadline = Instant::now() + SSDP_WAIT;
    let mut seen = HashSet::new();
    let mut buf = [0u8; MAX_DATAGRAM];
    while seen.len() < MAX_LOCATIONS {
        let Ok(received) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        else {
            break;
        };
        let (n, from) = received.map_err(|e| NatError::io("receiving SSDP answer", e))?;
        let Some(url) = location(&buf[..n]) else {
            continue;
        };
        if !seen.insert(url.clone()) {
            continue;
        }
        match Upnp::from_description_url(&url).await {
            Ok(gateway) => return Ok(gateway),
            Err(e) => {
                tracing::debug!(target: LOG_TARGET, %from, %url, error = %e, "unusable SSDP answer")
            }
        }
    }
    Err(NatError::NoGateway { mechanism: "UPnP" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_location_header() {
        let answer = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nlocation: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n";
        assert_eq!(
            location(answer).as_deref(),
            Some("http://192.168.1.1:5000/rootDesc.xml")
        );
        assert_eq!(location(b"NOTIFY * HTTP/1.1\r\nLOCATION: x\r\n\r\n"), None);
        assert!(search_request(SEARCH_TARGETS[0])
            .contains("ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
    }

    proptest! {
        #[test]
        fn random_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = location(&bytes);
        }
    }
}
