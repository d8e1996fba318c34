//! Where TXT records come from: [`TxtResolver`], implemented by
//! `DnsResolver` (hickory-resolver: the system configuration or one name
//! server at ip:port; cargo feature `dns`) and by [`StaticResolver`] (a
//! fixed map, for tests).

use std::collections::{HashMap, HashSet};
use std::fmt;

use futures::future::BoxFuture;

#[cfg(feature = "dns")]
pub use dns::DnsResolver;

/// Tries per query before the resolver gives up on a server (hickory's
/// default is 2; the client's own per-lookup deadline bounds the total).
pub const DNS_ATTEMPTS: usize = 2;

/// A failed lookup, as the resolver describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailure(pub String);

/// Looks up the TXT records of a name. Each record's character-strings come
/// back concatenated (as go-ethereum's `LookupTXT`); the whole answer is
/// bounded by the DNS message size (65,535 bytes).
pub trait TxtResolver: Send + Sync + fmt::Debug + 'static {
    /// The TXT records at `name` (a fully qualified name without the
    /// trailing dot).
    fn lookup_txt<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, LookupFailure>>;
}

/// A fixed name → TXT texts map; names in `silent` never answer (a server
/// that drops the query). For tests of code that takes a [`TxtResolver`].
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    records: HashMap<String, Vec<String>>,
    silent: HashSet<String>,
}

impl StaticResolver {
    /// Serves `records` (name → one text; e.g. [`crate::Tree::to_txt`]).
    pub fn new(records: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut r = StaticResolver::default();
        for (name, text) in records {
            r.records.entry(name).or_default().push(text);
        }
        r
    }

    /// Adds (or replaces) the texts at `name`.
    pub fn set(&mut self, name: &str, texts: Vec<String>) {
        self.records.insert(name.to_owned(), texts);
    }

    /// Makes `name` never answer.
    pub fn silence(&mut self, name: &str) {
        self.silent.insert(name.to_owned());
    }
}

impl TxtResolver for StaticResolver {
    fn lookup_txt<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, LookupFailure>> {
        Box::pin(async move {
            if self.silent.contains(name) {
                return futures::future::pending().await;
            }
            match self.records.get(name) {
                Some(texts) => Ok(texts.iter().map(|t| t.as_bytes().to_vec()).collect()),
                None => Err(LookupFailure(format!("no record found for {name}"))),
            }
        })
    }
}

/// The hickory-resolver implementation (cargo feature `dns`).
#[cfg(feature = "dns")]
mod dns {
    use std::fmt;
    use std::net::SocketAddr;
    use std::time::Duration;

    use futures::future::BoxFuture;
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    use hickory_resolver::proto::rr::RData;
    use hickory_resolver::TokioResolver;

    use super::{LookupFailure, TxtResolver, DNS_ATTEMPTS};
    use crate::Error;

    /// A DNS stub resolver (hickory-resolver) with our options: no answer cache
    /// (the client caches verified entries itself and must see root updates),
    /// `timeout` per query, [`DNS_ATTEMPTS`] tries.
    #[derive(Clone)]
    pub struct DnsResolver {
        inner: TokioResolver,
        /// How many name servers it asks (for `Debug`).
        name_servers: usize,
    }

    impl fmt::Debug for DnsResolver {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("DnsResolver")
                .field("name_servers", &self.name_servers)
                .finish()
        }
    }

    /// The resolver could not be built (hickory's error, as text).
    fn config_error(e: impl fmt::Display) -> Error {
        Error::ResolverConfig {
            reason: e.to_string(),
        }
    }

    impl DnsResolver {
        /// The system's resolver configuration (`/etc/resolv.conf` on Unix).
        pub fn system(timeout: Duration) -> Result<Self, Error> {
            let (config, system_options) =
                hickory_resolver::system_conf::read_system_conf().map_err(config_error)?;
            let name_servers = config.name_servers().len();
            let mut builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            *builder.options_mut() = system_options;
            apply_options(builder.options_mut(), timeout);
            Ok(DnsResolver {
                inner: builder.build().map_err(config_error)?,
                name_servers,
            })
        }

        /// Queries only the name server at `server` (UDP, falling back to TCP
        /// for truncated answers).
        pub fn with_server(server: SocketAddr, timeout: Duration) -> Result<Self, Error> {
            let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut name_server.connections {
                connection.port = server.port();
            }
            let config = ResolverConfig::from_name_servers(vec![name_server]);
            let mut builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            apply_options(builder.options_mut(), timeout);
            Ok(DnsResolver {
                inner: builder.build().map_err(config_error)?,
                name_servers: 1,
            })
        }
    }

    fn apply_options(opts: &mut ResolverOpts, timeout: Duration) {
        opts.timeout = timeout;
        opts.attempts = DNS_ATTEMPTS;
        opts.cache_size = 0;
        opts.edns0 = true;
    }

    impl TxtResolver for DnsResolver {
        fn lookup_txt<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, Result<Vec<Vec<u8>>, LookupFailure>> {
            Box::pin(async move {
                // Fully qualified: no search domains appended.
                let fqdn = format!("{name}.");
                let lookup = self
                    .inner
                    .txt_lookup(fqdn)
                    .await
                    .map_err(|e| LookupFailure(e.to_string()))?;
                Ok(lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .flat_map(|s| s.iter().copied())
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect())
            })
        }
    }
}
