//! The `--nat` flag: geth's spec syntax, parsed into [`NatSpec`] and built into a [`Nat`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::autodisc::{AutoNat, Discover};
use crate::pmp::{Pmp, PMP_SERVER_PORT};
use crate::stun::STUN_DEFAULT_PORT;
use crate::{ExtIp, Nat, NatError, Stun};

/// A parsed `--nat` value.
///
/// Accepted (mechanism names are case-insensitive, aliases as in go-ethereum):
///
/// | spec | meaning |
/// |---|---|
/// | `""`, `none`, `off` | no port mapping |
/// | `any`, `auto`, `on` | discover UPnP and NAT-PMP in parallel on first use; first to answer wins |
/// | `extip:<IP>`, `ip:<IP>` | fixed external IP, mappings are no-ops |
/// | `upnp` | UPnP IGD, discovered with SSDP on first use |
/// | `pmp`, `natpmp`, `nat-pmp` | NAT-PMP, gateway from the routing table on first use |
/// | `pmp:<IP>` (and aliases) | NAT-PMP with the given gateway |
/// | `stun` | external IP from a STUN server picked from go-ethereum's list; no port mapping |
/// | `stun:<IP>[:port]` | the same from the given server (port 3478 by default; IPv6 as `[IP]:port`) |
///
/// Unlike geth, an argument after a mechanism that takes none (`upnp:1.2.3.4`) is an error
/// rather than silently ignored. `Display` prints the canonical form, which parses back to
/// the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatSpec {
    /// No port mapping.
    None,
    /// UPnP or NAT-PMP, whichever is discovered first.
    Any,
    /// Fixed external IP.
    ExtIp(IpAddr),
    /// UPnP IGD with SSDP discovery.
    Upnp,
    /// NAT-PMP; `None` means "discover the gateway".
    Pmp(Option<IpAddr>),
    /// STUN; `None` means "a server from go-ethereum's list".
    Stun(Option<SocketAddr>),
}

impl NatSpec {
    /// Builds the port mapper. No I/O happens here: discovery runs lazily on first use.
    pub fn build(&self) -> Option<Arc<dyn Nat>> {
        match *self {
            NatSpec::None => None,
            NatSpec::Any => Some(Arc::new(AutoNat::new(Discover::Any))),
            NatSpec::ExtIp(ip) => Some(Arc::new(ExtIp(ip))),
            NatSpec::Upnp => Some(Arc::new(AutoNat::new(Discover::Upnp))),
            NatSpec::Pmp(None) => Some(Arc::new(AutoNat::new(Discover::Pmp))),
            NatSpec::Pmp(Some(gw)) => {
                Some(Arc::new(Pmp::new(SocketAddr::new(gw, PMP_SERVER_PORT))))
            }
            NatSpec::Stun(server) => Some(Arc::new(Stun::new(server))),
        }
    }
}

impl FromStr for NatSpec {
    type Err = NatError;

    fn from_str(spec: &str) -> Result<Self, NatError> {
        let (mech, arg) = match spec.split_once(':') {
            Some((m, a)) => (m, Some(a)),
            None => (spec, None),
        };
        if mech.eq_ignore_ascii_case("stun") {
            return parse_stun(spec, arg).map(NatSpec::Stun);
        }
        let ip = match arg {
            None => None,
            Some(a) => Some(a.parse::<IpAddr>().map_err(|_| NatError::InvalidIp {
                spec: crate::error::truncate(spec),
                value: crate::error::truncate(a),
            })?),
        };
        let no_arg = |value: NatSpec| match ip {
            None => Ok(value),
            Some(_) => Err(NatError::UnexpectedArgument {
                spec: crate::error::truncate(spec),
                mechanism: mech.to_ascii_lowercase(),
            }),
        };
        match mech.to_ascii_lowercase().as_str() {
            "" | "none" | "off" => no_arg(NatSpec::None),
            "any" | "auto" | "on" => no_arg(NatSpec::Any),
            "upnp" => no_arg(NatSpec::Upnp),
            "extip" | "ip" => ip.map(NatSpec::ExtIp).ok_or_else(|| NatError::MissingIp {
                spec: crate::error::truncate(spec),
            }),
            "pmp" | "natpmp" | "nat-pmp" => Ok(NatSpec::Pmp(ip)),
            _ => Err(NatError::UnknownMechanism {
                spec: crate::error::truncate(spec),
                mechanism: crate::error::truncate(mech),
            }),
        }
    }
}

impl fmt::Display for NatSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatSpec::None => f.write_str("none"),
            NatSpec::Any => f.write_str("any"),
            NatSpec::ExtIp(ip) => write!(f, "extip:{ip}"),
            NatSpec::Upnp => f.write_str("upnp"),
            NatSpec::Pmp(None) => f.write_str("pmp"),
            NatSpec::Pmp(Some(ip)) => write!(f, "pmp:{ip}"),
            NatSpec::Stun(server) => Stun::new(*server).fmt(f),
        }
    }
}

/// The server of `stun:<arg>`: `IP`, `IPv4:port` or `[IPv6]:port`.
fn parse_stun(spec: &str, arg: Option<&str>) -> Result<Option<SocketAddr>, NatError> {
    let Some(arg) = arg else { return Ok(None) };
    if let Ok(ip) = arg.parse::<IpAddr>() {
        return Ok(Some(SocketAddr::new(ip, STUN_DEFAULT_PORT)));
    }
    match arg.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(Some(addr)),
        _ => Err(NatError::InvalidIp {
            spec: crate::error::truncate(spec),
            value: crate::error::truncate(arg),
        }),
    }
}

/// Parses a `--nat` spec and builds the mechanism: `Ok(None)` for "no NAT".
///
/// No I/O happens here; discovery (if any) runs on first use. See [`NatSpec`] for the syntax.
pub fn parse(spec: &str) -> Result<Option<Arc<dyn Nat>>, NatError> {
    Ok(spec.parse::<NatSpec>()?.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_geth_forms_case_insensitively() {
        let cases = [
            ("", NatSpec::None),
            ("none", NatSpec::None),
            ("OFF", NatSpec::None),
            ("any", NatSpec::Any),
            ("Auto", NatSpec::Any),
            ("on", NatSpec::Any),
            ("UPnP", NatSpec::Upnp),
            ("pmp", NatSpec::Pmp(None)),
            ("NAT-PMP", NatSpec::Pmp(None)),
            (
                "natpmp:10.0.0.1",
                NatSpec::Pmp(Some("10.0.0.1".parse().unwrap())),
            ),
            ("extip:1.2.3.4", NatSpec::ExtIp("1.2.3.4".parse().unwrap())),
            (
                "IP:2001:db8::1",
                NatSpec::ExtIp("2001:db8::1".parse().unwrap()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<NatSpec>().unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn stun_forms() {
        let v4: SocketAddr = "192.0.2.5:3478".parse().unwrap();
        assert_eq!("STUN".parse::<NatSpec>().unwrap(), NatSpec::Stun(None));
        assert_eq!(
            "stun:192.0.2.5".parse::<NatSpec>().unwrap(),
            NatSpec::Stun(Some(v4))
        );
        assert_eq!(
            "stun:192.0.2.5:3478".parse::<NatSpec>().unwrap(),
            NatSpec::Stun(Some(v4))
        );
        assert_eq!(
            "stun:2001:db8::5".parse::<NatSpec>().unwrap(),
            NatSpec::Stun(Some("[2001:db8::5]:3478".parse().unwrap()))
        );
        assert_eq!(
            "stun:[2001:db8::5]:5349".parse::<NatSpec>().unwrap(),
            NatSpec::Stun(Some("[2001:db8::5]:5349".parse().unwrap()))
        );
        for bad in [
            "stun:",
            "stun:stun.example.org",
            "stun:192.0.2.5:0",
            "stun:192.0.2.5:x",
        ] {
            let err = bad.parse::<NatSpec>().unwrap_err();
            assert!(matches!(err, NatError::InvalidIp { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            NatSpec::None,
            NatSpec::Any,
            NatSpec::Upnp,
            NatSpec::Pmp(None),
            NatSpec::Pmp(Some("192.168.1.1".parse().unwrap())),
            NatSpec::ExtIp("203.0.113.9".parse().unwrap()),
            NatSpec::ExtIp("::1".parse().unwrap()),
            NatSpec::Stun(None),
            NatSpec::Stun(Some("192.0.2.5:3478".parse().unwrap())),
            NatSpec::Stun(Some("192.0.2.5:19302".parse().unwrap())),
            NatSpec::Stun(Some("[2001:db8::5]:3478".parse().unwrap())),
        ] {
            assert_eq!(spec.to_string().parse::<NatSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn built_mechanisms_display_their_spec() {
        for text in [
            "any",
            "upnp",
            "pmp",
            "pmp:192.168.1.1",
            "extip:1.2.3.4",
            "stun",
            "stun:192.0.2.5",
            "stun:192.0.2.5:19302",
        ] {
            let nat = parse(text).unwrap().unwrap();
            assert_eq!(nat.to_string(), text);
            assert_eq!(parse(&nat.to_string()).unwrap().unwrap().to_string(), text);
        }
        assert!(parse("off").unwrap().is_none());
        assert_eq!(
            parse("extip:1.2.3.4").unwrap().unwrap().fixed_external_ip(),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse("upnp").unwrap().unwrap().fixed_external_ip(), None);
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = "turn".parse::<NatSpec>().unwrap_err();
        assert!(
            matches!(&err, NatError::UnknownMechanism { mechanism, .. } if mechanism == "turn")
        );
        assert!(err.is_config_error());
        let err = "extip".parse::<NatSpec>().unwrap_err();
        assert!(matches!(err, NatError::MissingIp { .. }));
        let err = "extip:".parse::<NatSpec>().unwrap_err();
        assert!(matches!(&err, NatError::InvalidIp { value, .. } if value.is_empty()));
        let err = "pmp:router.local".parse::<NatSpec>().unwrap_err();
        assert!(err.to_string().contains("router.local"));
        let err = "upnp:1.2.3.4".parse::<NatSpec>().unwrap_err();
        assert!(matches!(err, NatError::UnexpectedArgument { .. }));
    }

    proptest! {
        #[test]
        fn random_specs_never_panic(spec in ".{0,64}") {
            match spec.parse::<NatSpec>() {
                Ok(parsed) => prop_assert_eq!(parsed.to_string().parse::<NatSpec>().unwrap(), parsed),
                Err(e) => prop_assert!(e.is_config_error()),
            }
        }

        #[test]
        fn structured_specs_never_panic(mech in "(?i)(none|any|extip|ip|upnp|pmp|nat-pmp|x)", arg in proptest::option::of("[0-9a-f:.]{0,40}")) {
            let spec = match arg { Some(a) => format!("{mech}:{a}"), None => mech };
            if let Ok(parsed) = spec.parse::<NatSpec>() {
                prop_assert_eq!(parsed.to_string().parse::<NatSpec>().unwrap(), parsed);
            }
        }
    }
}
