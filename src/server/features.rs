//! Settings that need an optional cargo feature of this crate: `discv5`
//! (sigp's discv5 crate) and `dnsdisc` (DNS lookups through hickory). The
//! config fields exist either way, so configs compile and parse the same
//! with or without them; [`check`] refuses a config that asks for a part
//! this build left out, before [`Server::start`](super::Server::start)
//! binds anything.

use super::ServerError;
use crate::config::Config;

/// What [`check`] returns for `discovery_v5` without the `discv5` feature.
#[cfg(not(feature = "discv5"))]
pub(super) const DISCV5_DISABLED: ServerError = ServerError::FeatureDisabled {
    feature: "discv5",
    setting: "discovery_v5",
};

/// Refuses settings that need a cargo feature this build left out:
/// `discovery_v5` (unless `no_discovery`) without `discv5`, a non-empty
/// `dns_lists` (unless `no_dial`, which never uses them) without `dnsdisc`.
pub(super) fn check(config: &Config) -> Result<(), ServerError> {
    #[cfg(not(feature = "discv5"))]
    if config.discovery_v5 && !config.no_discovery {
        return Err(DISCV5_DISABLED);
    }
    #[cfg(not(feature = "dnsdisc"))]
    if !config.dns_lists.is_empty() && !config.no_dial {
        return Err(ServerError::FeatureDisabled {
            feature: "dnsdisc",
            setting: "dns_lists",
        });
    }
    let _ = config;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Server;
    use devp2p_dnsdisc::TreeUrl;

    fn key() -> secp256k1::SecretKey {
        secp256k1::SecretKey::from_secret_bytes([3; 32]).unwrap()
    }

    /// A config that needs no feature: discv5 off, no DNS lists.
    fn plain() -> Config {
        Config {
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            discovery_v5: false,
            ..Config::with_key(key())
        }
    }

    fn list() -> TreeUrl {
        let pk = secp256k1::PublicKey::from_secret_key(&key());
        TreeUrl::new("nodes.example.test", pk).unwrap()
    }

    /// Whether `check` refuses `config`, and naming which feature.
    fn refused(config: &Config) -> Option<&'static str> {
        match check(config) {
            Ok(()) => None,
            Err(ServerError::FeatureDisabled { feature, .. }) => Some(feature),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn discovery_v5_needs_the_discv5_feature() {
        let want = (!cfg!(feature = "discv5")).then_some("discv5");
        assert_eq!(refused(&plain()), None);
        let asks = Config {
            discovery_v5: true,
            ..plain()
        };
        assert_eq!(refused(&asks), want);
        // No discovery at all: discovery_v5 asks for nothing.
        let off = Config {
            no_discovery: true,
            ..asks
        };
        assert_eq!(refused(&off), None);
        // The default asks for discv5 exactly when it is compiled in.
        assert_eq!(refused(&Config::with_key(key())), None);
    }

    #[test]
    fn dns_lists_need_the_dnsdisc_feature() {
        let want = (!cfg!(feature = "dnsdisc")).then_some("dnsdisc");
        let asks = Config {
            dns_lists: vec![list()],
            ..plain()
        };
        assert_eq!(refused(&asks), want);
        // Never dialing, the lists are never used.
        let no_dial = Config {
            no_dial: true,
            ..asks
        };
        assert_eq!(refused(&no_dial), None);
    }

    /// `Server::start` runs the check first: the error names the feature
    /// and the field.
    #[cfg(not(feature = "discv5"))]
    #[tokio::test]
    async fn start_names_the_missing_feature() {
        let config = Config {
            discovery_v5: true,
            ..plain()
        };
        let err = Server::start(config).await.unwrap_err();
        assert!(matches!(
            err,
            ServerError::FeatureDisabled {
                feature: "discv5",
                setting: "discovery_v5"
            }
        ));
        assert!(err.to_string().contains("discv5"), "{err}");
        let server = Server::start(plain()).await.expect("starts without discv5");
        server.stop().await;
    }

    /// With discv5 compiled in, the default config runs it.
    #[cfg(feature = "discv5")]
    #[tokio::test]
    async fn default_config_runs_discv5() {
        let config = Config {
            listen_addr: Some("127.0.0.1:0".parse().unwrap()),
            ..Config::with_key(key())
        };
        let server = Server::start(config).await.unwrap();
        assert!(server.discovery_v5().is_some());
        server.stop().await;
    }
}
