//! [`Client`]: resolves and verifies trees over DNS. [`Client::sync_tree`]
//! downloads one tree whole; [`Client::sync_all`] follows its links too;
//! [`RandomWalk`] (go-ethereum's random iterator) resolves one path down to
//! a leaf per step, across all linked trees, as the EIP asks ("request
//! entries when needed").

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devp2p_identity::Enr;
use futures::future::BoxFuture;
use lru::LruCache;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;
use tracing::{debug, trace};

use crate::entry::{Entry, EntryHash, RootEntry, TreeUrl, MAX_TXT_LEN, ROOT_PREFIX};
#[cfg(feature = "dns")]
use crate::resolver::DnsResolver;
use crate::resolver::TxtResolver;
use crate::{Error, Tree};

/// Time limit of one DNS lookup, retries included: 5 s, go-ethereum's
/// `defaultTimeout`.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a tree's root is checked for a new sequence number: 30 min,
/// go-ethereum's `defaultRecheck` (the root TTL go-ethereum publishes).
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Verified entries kept in the cache: 1000, go-ethereum's `defaultCache`.
pub const DEFAULT_CACHE_LIMIT: usize = 1000;
/// Trees (the given one plus linked ones) a walk follows at most: 32. Our
/// choice (go-ethereum has no limit); the public lists link 1–3 trees.
pub const DEFAULT_MAX_TREES: usize = 32;
/// Lookups per second of a walk: 3, go-ethereum's `defaultRateLimit`
/// (applied to every step, cached or not, so a consumer cannot spin).
pub const DEFAULT_RATE_LIMIT: u32 = 3;
/// Lookups a walk may make at once after being idle: 10, go-ethereum's
/// rate limiter burst.
pub const RATE_BURST: u32 = 10;
/// Entries of one downloaded tree at most (leaves and branches): bounds
/// memory for a hostile tree. 65,536 entries is ~30 MB of records, far
/// above the largest public list (~4,000 nodes).
pub const MAX_TREE_ENTRIES: usize = 65_536;
/// DNS lookups in flight at once per client (all its walks and downloads
/// together): 16, our choice; a walk has one at a time, so this only
/// bounds callers that share a client across many trees or tasks.
pub const MAX_OUTSTANDING_LOOKUPS: usize = 16;
/// Failed leaf lookups after which a walk re-checks the tree's root (the
/// tree may have been replaced): 5, go-ethereum's `rootRecheckFailCount`.
pub const ROOT_RECHECK_FAIL_COUNT: u32 = 5;

/// Client settings; every default is go-ethereum's where it has one.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time limit of one lookup (default [`DEFAULT_LOOKUP_TIMEOUT`]).
    pub lookup_timeout: Duration,
    /// Root re-check interval (default [`DEFAULT_RECHECK_INTERVAL`]).
    pub recheck_interval: Duration,
    /// Cached entries (default [`DEFAULT_CACHE_LIMIT`]; 0 counts as 1).
    pub cache_limit: usize,
    /// Linked trees followed at most (default [`DEFAULT_MAX_TREES`]).
    pub max_trees: usize,
    /// Walk lookups per second (default [`DEFAULT_RATE_LIMIT`]; 0 = no limit).
    pub rate_limit: u32,
    /// Query only this name server (ip:port) instead of the system's
    /// resolvers (default: none, the system configuration).
    pub name_server: Option<SocketAddr>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            cache_limit: DEFAULT_CACHE_LIMIT,
            max_trees: DEFAULT_MAX_TREES,
            rate_limit: DEFAULT_RATE_LIMIT,
            name_server: None,
        }
    }
}

/// Resolves and verifies trees. Cheap to clone (shared cache and resolver).
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    resolver: Box<dyn TxtResolver>,
    /// Verified entries by hash text; an entry is content-addressed, so one
    /// cache serves every tree.
    cache: Mutex<LruCache<EntryHash, Entry>>,
    /// [`MAX_OUTSTANDING_LOOKUPS`] permits; a lookup waits for one (the wait
    /// counts against its time limit).
    lookups: tokio::sync::Semaphore,
}

/// Which subtree an entry was found in (each admits one leaf type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subtree {
    Enr,
    Link,
}

impl Client {
    /// A client using DNS: `config.name_server` if set, else the system's
    /// resolvers. Needs the cargo feature `dns` (on by default).
    #[cfg(feature = "dns")]
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let resolver = match config.name_server {
            Some(addr) => DnsResolver::with_server(addr, config.lookup_timeout)?,
            None => DnsResolver::system(config.lookup_timeout)?,
        };
        Ok(Client::with_resolver(config, resolver))
    }

    /// A client using `resolver` (e.g. a [`crate::StaticResolver`] in tests).
    pub fn with_resolver(config: ClientConfig, resolver: impl TxtResolver) -> Client {
        let cap = NonZeroUsize::new(config.cache_limit).unwrap_or(NonZeroUsize::MIN);
        Client {
            inner: Arc::new(Inner {
                config,
                resolver: Box::new(resolver),
                cache: Mutex::new(LruCache::new(cap)),
                lookups: tokio::sync::Semaphore::new(MAX_OUTSTANDING_LOOKUPS),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The TXT texts at `name`, each checked for size and UTF-8, within the
    /// lookup time limit.
    async fn lookup(&self, name: &str) -> Result<Vec<String>, Error> {
        let after = self.inner.config.lookup_timeout;
        let lookup = async {
            // Never closed, so acquiring only waits.
            let _permit = self.inner.lookups.acquire().await;
            self.inner.resolver.lookup_txt(name).await
        };
        let raw = tokio::time::timeout(after, lookup)
            .await
            .map_err(|_| Error::Timeout {
                name: name.to_owned(),
                after,
            })?
            .map_err(|e| Error::Lookup {
                name: name.to_owned(),
                reason: e.0,
            })?;
        trace!(target: "p2p::dnsdisc", name, records = raw.len(), "TXT lookup");
        raw.into_iter()
            .map(|bytes| {
                if bytes.len() > MAX_TXT_LEN {
                    return Err(Error::TxtTooLarge {
                        name: name.to_owned(),
                        len: bytes.len(),
                        max: MAX_TXT_LEN,
                    });
                }
                String::from_utf8(bytes).map_err(|_| Error::NotUtf8 {
                    name: name.to_owned(),
                })
            })
            .collect()
    }

    /// Resolves the root of `url`'s tree and verifies its signature.
    pub async fn resolve_root(&self, url: &TreeUrl) -> Result<RootEntry, Error> {
        let domain = url.domain();
        for text in self.lookup(domain).await? {
            if text.starts_with(ROOT_PREFIX) {
                let root: RootEntry = text.parse().map_err(|source| Error::Entry {
                    name: domain.to_owned(),
                    source,
                })?;
                if !root.verify(url.public_key()) {
                    return Err(Error::InvalidSignature {
                        domain: domain.to_owned(),
                    });
                }
                return Ok(root);
            }
        }
        Err(Error::NoRoot {
            domain: domain.to_owned(),
        })
    }

    /// Resolves the entry `hash` under `domain` (from the cache when
    /// there), checking its text hashes to `hash`.
    pub async fn resolve_entry(&self, domain: &str, hash: &EntryHash) -> Result<Entry, Error> {
        if let Some(e) = self.cache().get(hash) {
            return Ok(e.clone());
        }
        let name = format!("{hash}.{domain}");
        for text in self.lookup(&name).await? {
            let parsed = text.parse::<Entry>();
            if let Err(crate::EntryError::UnknownEntry { .. }) = parsed {
                continue; // EIP-1459: other TXT records may share the name
            }
            if !hash.matches(&text) {
                return Err(Error::HashMismatch { name });
            }
            let entry = parsed.map_err(|source| Error::Entry {
                name: name.clone(),
                source,
            })?;
            self.cache().put(hash.clone(), entry.clone());
            return Ok(entry);
        }
        Err(Error::NoEntry { name })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<EntryHash, Entry>> {
        // A panic while holding the lock cannot leave the cache inconsistent.
        self.inner.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Downloads and verifies the whole tree at `url` (not the trees it
    /// links to): the root's signature, every entry's hash, leaf types per
    /// subtree, at most [`MAX_TREE_ENTRIES`] entries.
    pub async fn sync_tree(&self, url: &TreeUrl) -> Result<Tree, Error> {
        let root = self.resolve_root(url).await?;
        let mut entries = BTreeMap::new();
        self.sync_subtree(url, &root.link_root, Subtree::Link, &mut entries)
            .await?;
        self.sync_subtree(url, &root.enr_root, Subtree::Enr, &mut entries)
            .await?;
        Ok(Tree::from_parts(root, entries))
    }

    async fn sync_subtree(
        &self,
        url: &TreeUrl,
        start: &EntryHash,
        kind: Subtree,
        entries: &mut BTreeMap<EntryHash, Entry>,
    ) -> Result<(), Error> {
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(hash) = queue.pop_front() {
            if entries.contains_key(&hash) {
                continue; // referenced twice: fetched once
            }
            if entries.len() >= MAX_TREE_ENTRIES {
                return Err(Error::TreeTooLarge {
                    domain: url.domain().to_owned(),
                    max: MAX_TREE_ENTRIES,
                });
            }
            let entry = self.resolve_entry(url.domain(), &hash).await?;
            check_kind(&entry, kind, url.domain(), &hash)?;
            if let Entry::Branch(children) = &entry {
                queue.extend(children.iter().cloned());
            }
            entries.insert(hash, entry);
        }
        Ok(())
    }

    /// Downloads the tree at `url` and every tree it links to, transitively
    /// (at most `max_trees`). A link back to a tree on the current path is
    /// [`Error::LinkLoop`]; a tree linked twice otherwise is fetched once.
    pub async fn sync_all(&self, url: &TreeUrl) -> Result<Vec<(TreeUrl, Tree)>, Error> {
        let mut done = Vec::new();
        let mut path = Vec::new();
        self.sync_linked(url.clone(), &mut path, &mut done).await?;
        Ok(done)
    }

    fn sync_linked<'a>(
        &'a self,
        url: TreeUrl,
        path: &'a mut Vec<String>,
        done: &'a mut Vec<(TreeUrl, Tree)>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            if done.len() >= self.inner.config.max_trees {
                return Err(Error::TooManyTrees {
                    domain: url.domain().to_owned(),
                    max: self.inner.config.max_trees,
                });
            }
            let tree = self.sync_tree(&url).await?;
            let links = tree.links();
            path.push(url.domain().to_owned());
            done.push((url.clone(), tree));
            for link in links {
                if path.iter().any(|d| d == link.domain()) {
                    return Err(Error::LinkLoop {
                        from: url.domain().to_owned(),
                        to: link.domain().to_owned(),
                    });
                }
                if let Some((known, _)) = done.iter().find(|(u, _)| u.domain() == link.domain()) {
                    if known.public_key() != link.public_key() {
                        return Err(Error::ConflictingKey {
                            domain: link.domain().to_owned(),
                        });
                    }
                    continue;
                }
                self.sync_linked(link, path, done).await?;
            }
            path.pop();
            Ok(())
        })
    }

    /// A walk over the tree at `url` and the trees it links to.
    pub fn random_walk(&self, url: TreeUrl) -> RandomWalk {
        RandomWalk::new(self.clone(), vec![url])
    }
}

/// Queues `children` for resolution unless that makes the queue longer
/// than [`MAX_TREE_ENTRIES`] (a hostile tree cannot grow a walk's memory
/// without bound).
fn extend_missing(
    missing: &mut Vec<EntryHash>,
    children: Vec<EntryHash>,
    domain: &str,
) -> Result<(), Error> {
    if missing.len() + children.len() > MAX_TREE_ENTRIES {
        return Err(Error::TreeTooLarge {
            domain: domain.to_owned(),
            max: MAX_TREE_ENTRIES,
        });
    }
    missing.extend(children);
    Ok(())
}

fn check_kind(entry: &Entry, kind: Subtree, domain: &str, hash: &EntryHash) -> Result<(), Error> {
    let name = || format!("{hash}.{domain}");
    match (entry, kind) {
        (Entry::Enr(_), Subtree::Link) => Err(Error::EnrInLinkTree { name: name() }),
        (Entry::Link(_), Subtree::Enr) => Err(Error::LinkInEnrTree { name: name() }),
        _ => Ok(()),
    }
}

/// What one [`RandomWalk::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Reached a node record (verified).
    Record(Enr),
    /// Resolved a root, branch or link; call again.
    Progress,
    /// Nothing to resolve until the earliest root re-check, at the given
    /// instant: every tree is synced and has no records.
    Idle(Instant),
}

/// The sync state of one tree in a walk.
#[derive(Debug)]
struct TreeState {
    url: TreeUrl,
    root: Option<RootEntry>,
    last_root_check: Option<Instant>,
    leaf_failures: u32,
    /// Link subtree entries still to resolve (resolved first, in order).
    links_missing: Vec<EntryHash>,
    /// Node subtree entries still to resolve in this round (random order).
    enrs_missing: Vec<EntryHash>,
    /// Records reached in the current round of the node subtree.
    leaves_this_round: usize,
    /// Records reached in the last complete round.
    leaves_last_round: usize,
}

impl TreeState {
    fn new(url: TreeUrl) -> Self {
        TreeState {
            url,
            root: None,
            last_root_check: None,
            leaf_failures: 0,
            links_missing: Vec::new(),
            enrs_missing: Vec::new(),
            leaves_this_round: 0,
            leaves_last_round: 0,
        }
    }

    fn root_due(&self, now: Instant, recheck: Duration) -> bool {
        self.root.is_none()
            || self.leaf_failures > ROOT_RECHECK_FAIL_COUNT
            || self
                .last_root_check
                .is_none_or(|t| now.saturating_duration_since(t) >= recheck)
    }

    fn next_root_check(&self, recheck: Duration) -> Instant {
        self.last_root_check
            .map_or_else(Instant::now, |t| t + recheck)
    }

    /// Whether a step on this tree would do anything now.
    fn can_step(&self, now: Instant, recheck: Duration) -> bool {
        self.root_due(now, recheck)
            || !self.links_missing.is_empty()
            || !self.enrs_missing.is_empty()
            || self.leaves_last_round > 0
            || self.leaves_this_round > 0
    }
}

/// A lazy random walk over linked trees (go-ethereum's `randomIterator`):
/// each [`RandomWalk::step`] picks a tree at random and resolves one entry
/// on a path from its root down to a leaf; the link subtree is synced
/// first and linked trees join the walk (each domain once, at most
/// `max_trees`); the node subtree is walked in random order and restarted
/// when done (cached entries make later rounds cheap). Roots are re-checked
/// every `recheck_interval` and when leaf lookups keep failing; a new root
/// restarts that tree's subtrees.
#[derive(Debug)]
pub struct RandomWalk {
    client: Client,
    trees: Vec<TreeState>,
    /// domain → the domain whose link added it (the given trees have none).
    parents: HashMap<String, Option<String>>,
    rng: StdRng,
    tokens: f64,
    last_refill: Instant,
}

impl RandomWalk {
    /// A walk over `urls` (more join through links).
    pub fn new(client: Client, urls: Vec<TreeUrl>) -> Self {
        let mut walk = RandomWalk {
            client,
            trees: Vec::new(),
            parents: HashMap::new(),
            rng: rand::make_rng(),
            tokens: f64::from(RATE_BURST),
            last_refill: Instant::now(),
        };
        for url in urls {
            if !walk.parents.contains_key(url.domain()) && walk.trees.len() < walk.max_trees() {
                walk.parents.insert(url.domain().to_owned(), None);
                walk.trees.push(TreeState::new(url));
            }
        }
        walk
    }

    /// Uses `seed` for the random choices (reproducible walks in tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    fn max_trees(&self) -> usize {
        self.client.inner.config.max_trees
    }

    /// The domains of the trees in the walk.
    pub fn domains(&self) -> Vec<String> {
        self.trees
            .iter()
            .map(|t| t.url.domain().to_owned())
            .collect()
    }

    /// Waits for a lookup token (rate limit).
    async fn throttle(&mut self) {
        let rate = self.client.inner.config.rate_limit;
        if rate == 0 {
            return;
        }
        let now = Instant::now();
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.last_refill = now;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(RATE_BURST));
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / f64::from(rate));
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.last_refill = Instant::now();
        }
        self.tokens -= 1.0;
    }

    /// One step: resolves one root or entry. Errors are per step (the walk
    /// stays usable): the failing tree counts the failure and the caller
    /// decides how long to back off.
    pub async fn step(&mut self) -> Result<Step, Error> {
        let recheck = self.client.inner.config.recheck_interval;
        let now = Instant::now();
        let candidates: Vec<usize> = (0..self.trees.len())
            .filter(|&i| self.trees[i].can_step(now, recheck))
            .collect();
        if candidates.is_empty() {
            let next = self
                .trees
                .iter()
                .map(|t| t.next_root_check(recheck))
                .min()
                .unwrap_or_else(|| now + recheck);
            return Ok(Step::Idle(next));
        }
        let i = candidates[self.rng.random_range(0..candidates.len())];
        self.throttle().await;
        let result = self.step_tree(i, now).await;
        if result.is_err() {
            let t = &mut self.trees[i];
            t.leaf_failures = t.leaf_failures.saturating_add(1);
        }
        result
    }

    async fn step_tree(&mut self, i: usize, now: Instant) -> Result<Step, Error> {
        let recheck = self.client.inner.config.recheck_interval;
        if self.trees[i].root_due(now, recheck) {
            self.update_root(i, now).await?;
            return Ok(Step::Progress);
        }
        let client = self.client.clone();
        let t = &mut self.trees[i];
        let domain = t.url.domain().to_owned();
        if let Some(hash) = t.links_missing.first().cloned() {
            let entry = client.resolve_entry(&domain, &hash).await?;
            check_kind(&entry, Subtree::Link, &domain, &hash)?;
            let t = &mut self.trees[i];
            t.links_missing.remove(0);
            match entry {
                Entry::Branch(children) => extend_missing(&mut t.links_missing, children, &domain)?,
                Entry::Link(url) => self.add_link(&domain, url)?,
                Entry::Enr(_) => {}
            }
            return Ok(Step::Progress);
        }
        if t.enrs_missing.is_empty() {
            // Round done (or never started): start over from the node root.
            t.leaves_last_round = t.leaves_this_round;
            t.leaves_this_round = 0;
            if let Some(root) = &t.root {
                t.enrs_missing.push(root.enr_root.clone());
            }
        }
        let t = &mut self.trees[i];
        if t.enrs_missing.is_empty() {
            return Ok(Step::Progress); // no root yet (it failed): due again later
        }
        let pick = self.rng.random_range(0..t.enrs_missing.len());
        let hash = t.enrs_missing[pick].clone();
        let entry = client.resolve_entry(&domain, &hash).await?;
        check_kind(&entry, Subtree::Enr, &domain, &hash)?;
        let t = &mut self.trees[i];
        t.enrs_missing.swap_remove(pick);
        match entry {
            Entry::Branch(children) => {
                extend_missing(&mut t.enrs_missing, children, &domain)?;
                Ok(Step::Progress)
            }
            Entry::Enr(enr) => {
                t.leaves_this_round += 1;
                t.leaf_failures = 0;
                Ok(Step::Record(enr))
            }
            Entry::Link(_) => Ok(Step::Progress),
        }
    }

    async fn update_root(&mut self, i: usize, now: Instant) -> Result<(), Error> {
        let url = self.trees[i].url.clone();
        self.trees[i].last_root_check = Some(now);
        let root = self.client.resolve_root(&url).await?;
        let t = &mut self.trees[i];
        t.leaf_failures = 0;
        if let Some(old) = &t.root {
            if root.seq < old.seq {
                return Err(Error::SeqWentBack {
                    domain: url.domain().to_owned(),
                    old: old.seq,
                    new: root.seq,
                });
            }
            if old.link_root == root.link_root && old.enr_root == root.enr_root {
                t.root = Some(root);
                return Ok(());
            }
        }
        debug!(target: "p2p::dnsdisc", domain = url.domain(), seq = root.seq, "new tree root");
        let changed_links = t
            .root
            .as_ref()
            .is_none_or(|o| o.link_root != root.link_root);
        let changed_enrs = t.root.as_ref().is_none_or(|o| o.enr_root != root.enr_root);
        if changed_links {
            t.links_missing = vec![root.link_root.clone()];
        }
        if changed_enrs {
            t.enrs_missing = vec![root.enr_root.clone()];
            t.leaves_this_round = 0;
            t.leaves_last_round = 0;
        }
        t.root = Some(root);
        Ok(())
    }

    /// Adds the tree `url` linked from `from`, unless known (a loop is
    /// reported, a duplicate ignored) or over the limit.
    fn add_link(&mut self, from: &str, url: TreeUrl) -> Result<(), Error> {
        if let Some(known) = self.trees.iter().find(|t| t.url.domain() == url.domain()) {
            if known.url.public_key() != url.public_key() {
                return Err(Error::ConflictingKey {
                    domain: url.domain().to_owned(),
                });
            }
            // Is `url` one of `from`'s ancestors (or `from` itself)?
            let mut cur = Some(from.to_owned());
            let mut hops = 0;
            while let Some(d) = cur {
                if d == url.domain() {
                    return Err(Error::LinkLoop {
                        from: from.to_owned(),
                        to: url.domain().to_owned(),
                    });
                }
                hops += 1;
                if hops > self.trees.len() {
                    break;
                }
                cur = self.parents.get(&d).cloned().flatten();
            }
            return Ok(());
        }
        if self.trees.len() >= self.max_trees() {
            return Err(Error::TooManyTrees {
                domain: url.domain().to_owned(),
                max: self.max_trees(),
            });
        }
        self.parents
            .insert(url.domain().to_owned(), Some(from.to_owned()));
        self.trees.push(TreeState::new(url));
        Ok(())
    }
}
