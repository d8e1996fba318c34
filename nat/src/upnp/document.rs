//! The XML side of UPnP: device descriptions, SOAP requests and SOAP responses/faults.

use roxmltree::{Document, Node, ParsingOptions};

use crate::http::HttpUrl;
use crate::NatError;

/// Most XML nodes we parse in one document. A large router description has a few hundred
/// nodes (measured on published IGD descriptions); this bounds the work on hostile input.
pub(crate) const MAX_XML_NODES: u32 = 20_000;
/// Most output arguments we keep from one SOAP response (IGD actions return at most 8).
pub(crate) const MAX_SOAP_ARGS: usize = 32;

/// The WAN connection services we can drive, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WanService {
    /// `urn:schemas-upnp-org:service:WANIPConnection:2` (IGDv2, has AddAnyPortMapping).
    WanIp2,
    /// `urn:schemas-upnp-org:service:WANIPConnection:1`.
    WanIp1,
    /// `urn:schemas-upnp-org:service:WANPPPConnection:1`.
    WanPpp1,
}

impl WanService {
    /// The service type URN.
    pub fn urn(self) -> &'static str {
        match self {
            WanService::WanIp2 => "urn:schemas-upnp-org:service:WANIPConnection:2",
            WanService::WanIp1 => "urn:schemas-upnp-org:service:WANIPConnection:1",
            WanService::WanPpp1 => "urn:schemas-upnp-org:service:WANPPPConnection:1",
        }
    }

    fn from_urn(urn: &str) -> Option<Self> {
        [WanService::WanIp2, WanService::WanIp1, WanService::WanPpp1]
            .into_iter()
            .find(|s| s.urn() == urn)
    }
}

/// What we need from a device description: the best WAN service and its control URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlPoint {
    pub service: WanService,
    pub control_url: HttpUrl,
}

fn parse_xml(text: &str) -> Result<Document<'_>, NatError> {
    let options = ParsingOptions {
        nodes_limit: MAX_XML_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| NatError::document(format!("XML: {e}")))
}

fn child_text<'a>(node: Node<'a, '_>, local_name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == local_name)
        .and_then(|c| c.text())
        .map(str::trim)
}

/// Finds the best WAN connection service in a device description fetched from `location`.
pub(crate) fn parse_description(text: &str, location: &HttpUrl) -> Result<ControlPoint, NatError> {
    let doc = parse_xml(text)?;
    let root = doc.root_element();
    if root.tag_name().name() != "root" {
        return Err(NatError::document("description root element is not <root>"));
    }
    // UPnP 1.0 allows a <URLBase>; later versions resolve against the description URL.
    let base = match child_text(root, "URLBase").filter(|b| !b.is_empty()) {
        Some(base) => HttpUrl::parse(base)?,
        None => location.clone(),
    };
    let mut best: Option<(WanService, &str)> = None;
    for service in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "service")
    {
        let Some(kind) = child_text(service, "serviceType").and_then(WanService::from_urn) else {
            continue;
        };
        let Some(control) = child_text(service, "controlURL").filter(|c| !c.is_empty()) else {
            continue;
        };
        if best.is_none_or(|(b, _)| kind < b) {
            best = Some((kind, control));
        }
    }
    let (service, control) =
        best.ok_or_else(|| NatError::document("no WANIPConnection or WANPPPConnection service"))?;
    Ok(ControlPoint {
        service,
        control_url: base.join(control)?,
    })
}

/// Escapes text for an XML element body.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Builds a SOAP 1.1 request envelope for `action` on `service`.
pub(crate) fn soap_envelope(service: WanService, action: &str, args: &[(&str, String)]) -> String {
    let mut body = String::new();
    for (name, value) in args {
        body.push_str(&format!("<{name}>{}</{name}>", escape(value)));
    }
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{urn}\">{body}</u:{action}></s:Body></s:Envelope>\r\n",
        urn = service.urn()
    )
}

/// Output arguments of a successful action, in document order.
pub(crate) type SoapArgs = Vec<(String, String)>;

/// Looks up an output argument.
pub(crate) fn arg<'a>(args: &'a SoapArgs, name: &str) -> Option<&'a str> {
    args.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Interprets an HTTP response to a SOAP request: the `<{action}Response>` arguments on
/// success, [`NatError::UpnpFault`] for a SOAP fault (usually HTTP 500).
pub(crate) fn parse_soap_response(
    action: &'static str,
    status: u16,
    body: &[u8],
    url: &HttpUrl,
) -> Result<SoapArgs, NatError> {
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => parse_xml(text),
        Err(_) => Err(NatError::document("SOAP response is not UTF-8")),
    };
    let doc = match parsed {
        Ok(doc) => doc,
        // A non-XML body with an error status is better reported as that status.
        Err(_) if status != 200 => {
            return Err(NatError::HttpStatus {
                url: url.to_string(),
                status,
            })
        }
        Err(e) => return Err(e),
    };
    let find = |name: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
    };
    if let Some(upnp_error) = find("UPnPError") {
        let code = child_text(upnp_error, "errorCode")
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| NatError::document("SOAP fault without a numeric errorCode"))?;
        let description = child_text(upnp_error, "errorDescription").unwrap_or_default();
        return Err(NatError::UpnpFault {
            action,
            code,
            description: crate::error::truncate(description),
        });
    }
    if status != 200 {
        return Err(NatError::HttpStatus {
            url: url.to_string(),
            status,
        });
    }
    let response_name = format!("{action}Response");
    let response = find(&response_name)
        .ok_or_else(|| NatError::document(format!("SOAP response has no <{response_name}>")))?;
    Ok(response
        .children()
        .filter(|c| c.is_element())
        .take(MAX_SOAP_ARGS)
        .map(|c| {
            (
                c.tag_name().name().to_owned(),
                c.text().unwrap_or_default().trim().to_owned(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc() -> HttpUrl {
        HttpUrl::parse("http://127.0.0.1:4000/rootDesc.xml").unwrap()
    }

    const DESC: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
 <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
 <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
  <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
   <serviceList>
    <service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>/ppp</controlURL></service>
    <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
      <controlURL> ctl/IPConn </controlURL></service>
   </serviceList></device></deviceList></device></deviceList></device></root>"#;

    #[test]
    fn picks_best_service_and_resolves_url() {
        let cp = parse_description(DESC, &loc()).unwrap();
        assert_eq!(cp.service, WanService::WanIp1);
        assert_eq!(
            cp.control_url.to_string(),
            "http://127.0.0.1:4000/ctl/IPConn"
        );
        let with_base = DESC.replace("<device>\n <deviceType>urn:schemas-upnp-org:device:Internet", "<URLBase>http://127.0.0.2:99/x/</URLBase><device>\n <deviceType>urn:schemas-upnp-org:device:Internet");
        let cp = parse_description(&with_base, &loc()).unwrap();
        assert_eq!(
            cp.control_url.to_string(),
            "http://127.0.0.2:99/x/ctl/IPConn"
        );
    }

    #[test]
    fn rejects_descriptions_without_wan_service() {
        let err = parse_description("<root><device/></root>", &loc()).unwrap_err();
        assert!(err.to_string().contains("WANIPConnection"));
        assert!(parse_description("<html/>", &loc()).is_err());
        assert!(parse_description("<root", &loc()).is_err());
        let dtd = "<!DOCTYPE root [<!ENTITY a \"b\">]><root/>";
        assert!(parse_description(dtd, &loc()).is_err());
    }

    #[test]
    fn parses_soap_success_and_fault() {
        let ok = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
            <u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">
            <NewExternalIPAddress>203.0.113.5</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>"#;
        let args = parse_soap_response("GetExternalIPAddress", 200, ok, &loc()).unwrap();
        assert_eq!(arg(&args, "NewExternalIPAddress"), Some("203.0.113.5"));
        let fault = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
            <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>
            <UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode>
            <errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
        let err = parse_soap_response("AddPortMapping", 500, fault, &loc()).unwrap_err();
        assert!(matches!(
            err,
            NatError::UpnpFault {
                code: 718,
                action: "AddPortMapping",
                ..
            }
        ));
        let err = parse_soap_response("X", 404, b"not found", &loc()).unwrap_err();
        assert!(matches!(err, NatError::HttpStatus { status: 404, .. }));
    }

    #[test]
    fn envelope_escapes_arguments() {
        let xml = soap_envelope(
            WanService::WanIp1,
            "AddPortMapping",
            &[("NewPortMappingDescription", "a<b>&\"c\u{7}".into())],
        );
        assert!(xml.contains(
            "<NewPortMappingDescription>a&lt;b&gt;&amp;&quot;c</NewPortMappingDescription>"
        ));
        assert!(parse_xml(&xml).is_ok());
    }

    proptest! {
        #[test]
        fn random_documents_never_panic(text in ".{0,300}", status in 100u16..600) {
            let _ = parse_description(&text, &loc());
            let _ = parse_soap_response("GetExternalIPAddress", status, text.as_bytes(), &loc());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_soap_response("AddPortMapping", 200, &bytes, &loc());
        }
    }
}
