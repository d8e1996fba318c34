//! A fake UPnP Internet Gateway Device on 127.0.0.1 for tests: serves a device description
//! and a SOAP control endpoint, keeps a port-mapping table, and can be told to misbehave.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::WanService;

/// Largest request the fake reads, in bytes.
const MAX_REQUEST: usize = 64 * 1024;

/// One entry of the fake's mapping table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeMapping {
    pub internal_port: u16,
    pub client: String,
    pub lease: u32,
    pub description: String,
}

/// The fake's state; tests read and change it between calls.
#[derive(Debug)]
pub(crate) struct IgdState {
    pub service: WanService,
    pub external_ip: String,
    /// (protocol, external port) -> mapping.
    pub mappings: BTreeMap<(String, u16), FakeMapping>,
    /// External ports that answer 718 ConflictInMappingEntry.
    pub conflict_ports: HashSet<u16>,
    /// Whether AddAnyPortMapping is implemented (only meaningful for WANIPConnection:2).
    pub add_any: bool,
    /// Answer 725 to any non-zero lease.
    pub permanent_only: bool,
    /// Every SOAP action received, in order.
    pub actions: Vec<String>,
}

/// A running fake gateway; stops when dropped.
pub(crate) struct FakeIgd {
    /// The description URL to pass to `Upnp::from_description_url`.
    pub url: String,
    state: Arc<Mutex<IgdState>>,
    task: JoinHandle<()>,
}

impl FakeIgd {
    pub(crate) async fn start(service: WanService) -> FakeIgd {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(IgdState {
            service,
            external_ip: "203.0.113.10".into(),
            mappings: BTreeMap::new(),
            conflict_ports: HashSet::new(),
            add_any: true,
            permanent_only: false,
            actions: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(serve(stream, shared.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        FakeIgd {
            url: format!("http://{addr}/igd/desc.xml"),
            state,
            task,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, IgdState> {
        self.state.lock().unwrap()
    }

    /// Stops listening: later requests are refused.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for FakeIgd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn between<'a>(text: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    text.find(&open)
        .and_then(|s| {
            let rest = &text[s + open.len()..];
            rest.find(&close).map(|e| &rest[..e])
        })
        .unwrap_or_default()
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<IgdState>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 || buf.len() + n > MAX_REQUEST {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            break (
                head,
                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string(),
            );
        }
    };
    let response = if head.starts_with("GET /igd/desc.xml ") {
        let service = state.lock().unwrap().service;
        let xml = description(service);
        // Chunked on purpose, to exercise the client's decoder.
        let (a, b) = xml.split_at(xml.len() / 2);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
    } else if head.starts_with("POST /igd/ctl ") {
        let action = head
            .lines()
            .find_map(|l| l.strip_prefix("SOAPAction: "))
            .and_then(|v| v.trim().trim_matches('"').split('#').nth(1))
            .unwrap_or_default()
            .to_owned();
        let (status, xml) = control(&action, &body, &mut state.lock().unwrap());
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}",
            xml.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn description(service: WanService) -> String {
    format!(
        r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/l3f</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>{}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>ctl</controlURL><SCPDURL>/scpd.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>"#,
        service.urn()
    )
}

fn ok(action: &str, urn: &str, args: &str) -> (&'static str, String) {
    (
        "200 OK",
        format!(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:{action}Response xmlns:u="{urn}">{args}</u:{action}Response></s:Body></s:Envelope>"#
        ),
    )
}

fn fault(code: u16, text: &str) -> (&'static str, String) {
    (
        "500 Internal Server Error",
        format!(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>{code}</errorCode><errorDescription>{text}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#
        ),
    )
}

fn control(action: &str, body: &str, st: &mut IgdState) -> (&'static str, String) {
    st.actions.push(action.to_owned());
    let urn = st.service.urn();
    let proto = between(body, "NewProtocol").to_owned();
    let ext: u16 = between(body, "NewExternalPort").parse().unwrap_or(0);
    let mapping = || FakeMapping {
        internal_port: between(body, "NewInternalPort").parse().unwrap_or(0),
        client: between(body, "NewInternalClient").to_owned(),
        lease: between(body, "NewLeaseDuration")
            .parse()
            .unwrap_or(u32::MAX),
        description: between(body, "NewPortMappingDescription").to_owned(),
    };
    match action {
        "GetExternalIPAddress" => ok(
            action,
            urn,
            &format!(
                "<NewExternalIPAddress>{}</NewExternalIPAddress>",
                st.external_ip
            ),
        ),
        "AddPortMapping" => {
            let m = mapping();
            if st.conflict_ports.contains(&ext) {
                fault(718, "ConflictInMappingEntry")
            } else if st.permanent_only && m.lease != 0 {
                fault(725, "OnlyPermanentLeasesSupported")
            } else {
                st.mappings.insert((proto, ext), m);
                ok(action, urn, "")
            }
        }
        "AddAnyPortMapping" if st.add_any && st.service == WanService::WanIp2 => {
            let m = mapping();
            let mut port = ext;
            // A mapping of the same client and internal port is ours: refresh it in place.
            let taken = |st: &IgdState, port: u16| {
                st.conflict_ports.contains(&port)
                    || st
                        .mappings
                        .get(&(proto.clone(), port))
                        .is_some_and(|e| e.client != m.client || e.internal_port != m.internal_port)
            };
            while taken(st, port) {
                port = port.wrapping_add(1).max(1024);
            }
            st.mappings.insert((proto, port), m);
            ok(
                action,
                urn,
                &format!("<NewReservedPort>{port}</NewReservedPort>"),
            )
        }
        "DeletePortMapping" => match st.mappings.remove(&(proto, ext)) {
            Some(_) => ok(action, urn, ""),
            None => fault(714, "NoSuchEntryInArray"),
        },
        _ => fault(401, "Invalid Action"),
    }
}
