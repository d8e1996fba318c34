//! Server settings from a TOML file: every serialisable [`Config`] field,
//! keys in snake_case (`max_peers`, `static_nodes`, `net_restrict`, …).
//! Unknown keys and bad values are errors that name the key.
//!
//! ```
//! let config = devp2p_cli::config_file::parse(
//!     "max_peers = 10\nname = \"my-node\"\nlisten_addr = \"127.0.0.1:30303\"\n",
//! )?;
//! assert_eq!(config.max_peers, 10);
//! assert!(devp2p_cli::config_file::parse("max_perrs = 10")
//!     .unwrap_err()
//!     .to_string()
//!     .contains("max_perrs"));
//! # Ok::<(), devp2p_cli::config_file::ConfigFileError>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use devp2p::config::Config;

/// Largest config file read, in bytes (our choice: real files are a few
/// hundred bytes; static node lists of thousands of entries still fit).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("config file {path} is larger than {MAX_CONFIG_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The TOML is malformed, a key is unknown or a value is invalid.
    #[error("config{}: {}{message}", .path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default(), .key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Invalid {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The key at fault, when known.
        key: Option<String>,
        /// What is wrong (one line).
        message: String,
    },
}

impl ConfigFileError {
    /// The key at fault, when the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigFileError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

/// Parses TOML text into a [`Config`] (fields absent from the text keep
/// their defaults; the key, protocols and dialer are never read from text).
pub fn parse(text: &str) -> Result<Config, ConfigFileError> {
    toml::from_str::<Config>(text).map_err(|e| {
        let message = e.message().lines().next().unwrap_or("invalid").to_string();
        let key = unknown_field(&message).or_else(|| e.span().and_then(|s| key_at(text, s.start)));
        ConfigFileError::Invalid {
            path: None,
            key,
            message,
        }
    })
}

/// Reads and parses a config file, refusing files larger than
/// [`MAX_CONFIG_FILE_BYTES`] before reading them whole.
pub fn load(path: &Path) -> Result<Config, ConfigFileError> {
    let io_err = |source| ConfigFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(buf).map_err(|_| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    parse(&text).map_err(|e| match e {
        ConfigFileError::Invalid { key, message, .. } => ConfigFileError::Invalid {
            path: Some(path.to_path_buf()),
            key,
            message,
        },
        other => other,
    })
}

/// serde's "unknown field `x`, expected …" names the key itself.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The key of the `key = value` line containing byte offset `at`.
fn key_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_parses() {
        let text = r#"
            max_peers = 7
            max_pending_peers = 3
            dial_ratio = 2
            max_inbound = 5
            max_outbound = 4
            max_pending_inbound = 6
            max_pending_outbound = 2
            no_discovery = true
            discovery_v4 = false
            discovery_v5 = true
            name = "x"
            bootstrap_nodes = []
            bootstrap_nodes_v5 = ["enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"]
            static_nodes = []
            trusted_nodes = []
            net_restrict = ["10.0.0.0/8", "127.0.0.0/8"]
            node_database = "/tmp/db"
            remembered_peers_dialed = 12
            listen_addr = "127.0.0.1:4000"
            discovery_addr = "127.0.0.1:4001"
            nat = "none"
            no_dial = true
            enable_msg_events = true
            dns_lists = ["enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org"]
            dns_server = "127.0.0.1:5353"
            churn = true
            [bandwidth]
            global_egress = 4000000
            global_ingress = 5000000
            per_peer_egress = 1000000
            per_peer_ingress = 2000000
            burst = 100000
        "#;
        let c = parse(text).unwrap();
        assert_eq!(c.max_peers, 7);
        assert_eq!(c.max_pending_peers, 3);
        assert_eq!((c.max_inbound, c.max_outbound), (Some(5), Some(4)));
        assert_eq!(
            (c.pending_inbound_limit(), c.pending_outbound_limit()),
            (6, 2)
        );
        assert!(c.no_discovery && c.no_dial && c.enable_msg_events);
        assert_eq!(c.remembered_peers_dialed, 12);
        assert!(!c.discovery_v4 && c.discovery_v5);
        assert_eq!(c.bootstrap_nodes_v5.len(), 1);
        assert_eq!(c.listen_addr, Some("127.0.0.1:4000".parse().unwrap()));
        assert!(c.net_restrict.is_some());
        assert_eq!(c.dns_lists[0].domain(), "nodes.example.org");
        assert_eq!(c.dns_server, Some("127.0.0.1:5353".parse().unwrap()));
        assert!(c.churn);
        let bw = c.bandwidth;
        assert_eq!(
            (bw.global_egress, bw.global_ingress),
            (Some(4_000_000), Some(5_000_000))
        );
        assert_eq!(
            (bw.per_peer_egress, bw.per_peer_ingress),
            (Some(1_000_000), Some(2_000_000))
        );
        assert_eq!(bw.burst, Some(100_000));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("max_peers = 1\nfrobnicate = 2\n").unwrap_err();
        assert_eq!(e.key(), Some("frobnicate"));
        assert!(e.to_string().contains("frobnicate"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let e = parse("name = \"a\"\nmax_peers = \"lots\"\n").unwrap_err();
        assert_eq!(e.key(), Some("max_peers"), "{e}");
        let e = parse("listen_addr = \"nowhere\"\n").unwrap_err();
        assert_eq!(e.key(), Some("listen_addr"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["=", "[[[", "a = ", "\u{0}", "max_peers = -1"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
