//! [`Netlist`]: a list of CIDR networks, e.g. for `--netrestrict`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Longest entry text (in bytes) quoted in a [`NetlistError`]; longer entries
/// are cut, so an error built from hostile input stays small. Chosen: the
/// longest valid entry (`ffff:…:ffff/128`) is 43 bytes.
pub const MAX_QUOTED_ENTRY_BYTES: usize = 64;

/// Why a [`Netlist`] could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetlistError {
    /// An entry has no `/prefix` part (a bare address is not a network).
    #[error("netlist entry #{index} {entry:?} has no /prefix length (write e.g. \"10.0.0.0/8\")")]
    MissingPrefix {
        /// Zero-based position of the entry in the list.
        index: usize,
        /// The entry as written (cut to [`MAX_QUOTED_ENTRY_BYTES`]).
        entry: String,
    },
    /// An entry is not valid CIDR notation (bad address or prefix length).
    #[error("netlist entry #{index} {entry:?} is not a valid CIDR network")]
    InvalidCidr {
        /// Zero-based position of the entry in the list.
        index: usize,
        /// The entry as written (cut to [`MAX_QUOTED_ENTRY_BYTES`]).
        entry: String,
    },
}

impl NetlistError {
    /// The offending entry as written (cut to [`MAX_QUOTED_ENTRY_BYTES`]).
    pub fn entry(&self) -> &str {
        match self {
            Self::MissingPrefix { entry, .. } | Self::InvalidCidr { entry, .. } => entry,
        }
    }

    /// Zero-based position of the offending entry in the list.
    pub fn index(&self) -> usize {
        match self {
            Self::MissingPrefix { index, .. } | Self::InvalidCidr { index, .. } => *index,
        }
    }
}

/// A list of IP networks.
///
/// Parsed from a comma- and/or whitespace-separated string of CIDR networks;
/// empty entries are ignored, so `""` is the empty list. Each network is
/// stored in canonical form (host bits cleared: `23.23.23.23/24` becomes
/// `23.23.23.0/24`), so [`Display`](fmt::Display) prints a string that parses
/// back to an equal list. Serde (de)serialises it as a list of strings.
///
/// ```
/// use devp2p_netutil::Netlist;
/// let list: Netlist = "10.0.0.0/8, 192.168.0.0/16".parse().unwrap();
/// assert!(list.contains("10.1.2.3".parse().unwrap()));
/// assert!(list.contains("::ffff:192.168.7.7".parse().unwrap()));
/// assert!(!list.contains("8.8.8.8".parse().unwrap()));
/// assert_eq!(list.to_string(), "10.0.0.0/8,192.168.0.0/16");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Netlist {
    nets: Vec<IpNet>,
}

impl Netlist {
    /// An empty list (contains nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a comma- or whitespace-separated list of CIDR networks.
    /// Same as [`str::parse`].
    pub fn parse(s: &str) -> Result<Self, NetlistError> {
        s.parse()
    }

    /// Appends a network (stored with its host bits cleared).
    pub fn add(&mut self, net: IpNet) {
        self.nets.push(net.trunc());
    }

    /// Reports whether `ip` lies in any network of the list.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) matches both IPv4
    /// networks containing `a.b.c.d` and IPv6 networks containing the mapped
    /// form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.nets
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// Whether the list has no networks.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Number of networks in the list.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// The networks, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &IpNet> {
        self.nets.iter()
    }
}

/// Cuts `entry` to at most [`MAX_QUOTED_ENTRY_BYTES`] on a char boundary.
fn quoted(entry: &str) -> String {
    let mut end = entry.len().min(MAX_QUOTED_ENTRY_BYTES);
    while !entry.is_char_boundary(end) {
        end -= 1;
    }
    entry[..end].to_owned()
}

fn parse_entry(index: usize, entry: &str) -> Result<IpNet, NetlistError> {
    entry.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
        let entry = quoted(entry);
        if entry.contains('/') {
            NetlistError::InvalidCidr { index, entry }
        } else {
            NetlistError::MissingPrefix { index, entry }
        }
    })
}

impl FromStr for Netlist {
    type Err = NetlistError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let nets = s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .enumerate()
            .map(|(i, e)| parse_entry(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nets })
    }
}

impl fmt::Display for Netlist {
    /// Comma-separated CIDR networks without spaces (`10.0.0.0/8,fc00::/7`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl FromIterator<IpNet> for Netlist {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        let mut list = Self::new();
        iter.into_iter().for_each(|n| list.add(n));
        list
    }
}

impl Extend<IpNet> for Netlist {
    fn extend<I: IntoIterator<Item = IpNet>>(&mut self, iter: I) {
        iter.into_iter().for_each(|n| self.add(n));
    }
}

impl serde::Serialize for Netlist {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.nets.iter().map(|n| n.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for Netlist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Netlist;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CIDR network strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Netlist, A::Error> {
                let mut list = Netlist::new();
                let mut index = 0;
                // Entries are parsed one at a time: no intermediate Vec<String>.
                while let Some(entry) = seq.next_element::<String>()? {
                    let net = parse_entry(index, entry.trim()).map_err(serde::de::Error::custom)?;
                    list.nets.push(net);
                    index += 1;
                }
                Ok(list)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from go-ethereum's TestParseNetlist, plus separators and errors.
    #[test]
    fn parse_table() {
        assert_eq!(Netlist::parse("").unwrap(), Netlist::new());
        assert_eq!(Netlist::parse(" ,\n\t, ").unwrap(), Netlist::new());
        let l = Netlist::parse("127.0.0.0/8").unwrap();
        assert_eq!(
            l.iter().copied().collect::<Vec<_>>(),
            vec!["127.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        let l = Netlist::parse("127.0.0.0/16, 23.23.23.23/24,").unwrap();
        assert_eq!(l.to_string(), "127.0.0.0/16,23.23.23.0/24");
        let l = Netlist::parse("10.0.0.0/8 192.168.0.0/16\tfc00::/7").unwrap();
        assert_eq!(l.len(), 3);

        let e = Netlist::parse("127.0.0.0/44").unwrap_err();
        assert!(matches!(e, NetlistError::InvalidCidr { index: 0, .. }));
        assert_eq!(e.entry(), "127.0.0.0/44");
        assert!(e.to_string().contains("127.0.0.0/44"));

        let e = Netlist::parse("10.0.0.0/8, 1.2.3.4").unwrap_err();
        assert!(matches!(e, NetlistError::MissingPrefix { index: 1, .. }));
        assert_eq!(e.entry(), "1.2.3.4");
    }

    #[test]
    fn error_entry_is_bounded() {
        let long = "x".repeat(10_000);
        let e = Netlist::parse(&long).unwrap_err();
        assert_eq!(e.entry().len(), MAX_QUOTED_ENTRY_BYTES);
        let multibyte = "é".repeat(100);
        let e = Netlist::parse(&multibyte).unwrap_err();
        assert!(e.entry().len() <= MAX_QUOTED_ENTRY_BYTES);
    }

    #[test]
    fn empty_list_contains_nothing() {
        assert!(!Netlist::new().contains("1.2.3.4".parse().unwrap()));
        assert!(Netlist::new().is_empty());
    }

    #[test]
    fn mapped_addresses() {
        let l = Netlist::parse("10.0.0.0/8").unwrap();
        assert!(l.contains("::ffff:10.9.9.9".parse().unwrap()));
        let l = Netlist::parse("::ffff:0:0/96").unwrap();
        assert!(l.contains("::ffff:10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn serde_list_of_strings() {
        let l = Netlist::parse("10.0.0.0/8, fc00::/7").unwrap();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"["10.0.0.0/8","fc00::/7"]"#);
        assert_eq!(serde_json::from_str::<Netlist>(&json).unwrap(), l);
        let err = serde_json::from_str::<Netlist>(r#"["10.0.0.0/8","nope/3"]"#).unwrap_err();
        assert!(err.to_string().contains("nope/3"), "{err}");
        assert!(serde_json::from_str::<Netlist>(r#""10.0.0.0/8""#).is_err());
    }
}
