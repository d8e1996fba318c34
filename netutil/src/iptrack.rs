//! [`IpTracker`]: predicts our external endpoint from what other hosts say
//! they see.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Most endpoint statements kept at once (one per reporting host).
///
/// Statements also expire after the tracker's window; this cap only matters
/// when more than this many distinct hosts report within one window. Then the
/// oldest statement is evicted, so fresh reports (e.g. after our address
/// changed) always get in. Chosen, not measured: well above go-ethereum's
/// discv4 settings (10 statements needed, 5-minute window) and the size of a
/// full discovery table (16 × 17 = 272 nodes), while capping memory at a few
/// hundred KiB.
pub const MAX_STATEMENTS: usize = 4096;

/// Most contacts (hosts we sent our endpoint to) kept at once.
///
/// Contacts also expire after the contact window; when the cap is reached
/// the oldest contact is evicted. Same reasoning and size as
/// [`MAX_STATEMENTS`]. Evicting a contact early can only make
/// [`IpTracker::predict_full_cone_nat`] answer `true` sooner, never hide an
/// endpoint prediction.
pub const MAX_CONTACTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Statement {
    endpoint: SocketAddr,
    at: Instant,
}

/// Predicts the local host's external endpoint (IP and port) from statements
/// made by other hosts, e.g. the `to` field of discovery `Pong` packets.
///
/// Semantics follow go-ethereum's `IPTracker`:
/// - each reporting host counts once: its newest statement replaces older
///   ones (hosts are keyed by IP address, IPv4-mapped IPv6 unwrapped, so one
///   machine cannot vote many times from different ports);
/// - a statement counts while `now - time <= window`; older ones never count;
/// - [`predict_endpoint`](Self::predict_endpoint) returns the endpoint with the
///   most statements, if it has at least `min_statements`;
/// - [`predict_full_cone_nat`](Self::predict_full_cone_nat) is `true` when some
///   host told us our endpoint without us having contacted it first (within
///   the contact window), which only a full-cone NAT lets through.
///
/// Time is passed in by the caller (no clock inside), so behaviour is fully
/// deterministic in tests. Predictions take `&self` and filter by age
/// themselves; expired entries are swept by the `add_*` methods at most once
/// per window, so memory is bounded by expiry plus [`MAX_STATEMENTS`] and
/// [`MAX_CONTACTS`] entries.
///
/// ```
/// use std::time::{Duration, Instant};
/// use devp2p_netutil::IpTracker;
///
/// let mut tracker = IpTracker::new(Duration::from_secs(300), Duration::from_secs(600), 2);
/// let now = Instant::now();
/// let ours = "203.0.113.7:30303".parse().unwrap();
/// tracker.add_statement("1.1.1.1".parse().unwrap(), ours, now);
/// assert_eq!(tracker.predict_endpoint(now), None); // one vote is not enough
/// tracker.add_statement("2.2.2.2".parse().unwrap(), ours, now);
/// assert_eq!(tracker.predict_endpoint(now), Some(ours));
/// // Nobody was contacted first, so this looks like a full-cone NAT.
/// assert!(tracker.predict_full_cone_nat(now));
/// ```
#[derive(Debug, Clone)]
pub struct IpTracker {
    window: Duration,
    contact_window: Duration,
    min_statements: usize,
    statements: HashMap<IpAddr, Statement>,
    contacts: HashMap<IpAddr, Instant>,
    last_statement_gc: Option<Instant>,
    last_contact_gc: Option<Instant>,
}

/// Whether an event at `at` is still inside `window` at time `now`
/// (events in the future count as fresh).
fn is_fresh(at: Instant, now: Instant, window: Duration) -> bool {
    now.saturating_duration_since(at) <= window
}

/// Whether a periodic sweep is due: never swept, or `window` has passed.
fn gc_due(last: Option<Instant>, now: Instant, window: Duration) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= window)
}

impl IpTracker {
    /// A tracker keeping statements for `window` and contacts for
    /// `contact_window`, predicting only once `min_statements` hosts agree.
    ///
    /// Larger values mean fewer prediction flips when conditions change;
    /// windows are typically minutes (go-ethereum's discv4 uses 5 and 10
    /// minutes and 10 statements). `min_statements == 0` behaves like 1.
    pub fn new(window: Duration, contact_window: Duration, min_statements: usize) -> Self {
        Self {
            window,
            contact_window,
            min_statements: min_statements.max(1),
            statements: HashMap::new(),
            contacts: HashMap::new(),
            last_statement_gc: None,
            last_contact_gc: None,
        }
    }

    /// Records that host `from` says our external endpoint is `endpoint`, at
    /// time `now`. Replaces any earlier statement by the same host.
    pub fn add_statement(&mut self, from: IpAddr, endpoint: SocketAddr, now: Instant) {
        let from = from.to_canonical();
        if gc_due(self.last_statement_gc, now, self.window) {
            self.gc_statements(now);
        }
        if !self.statements.contains_key(&from) && self.statements.len() >= MAX_STATEMENTS {
            self.gc_statements(now);
            if self.statements.len() >= MAX_STATEMENTS {
                evict_oldest(&mut self.statements, |s| s.at);
            }
        }
        self.statements
            .insert(from, Statement { endpoint, at: now });
    }

    /// Records that we sent a packet carrying our endpoint to `host` at `now`.
    pub fn add_contact(&mut self, host: IpAddr, now: Instant) {
        let host = host.to_canonical();
        if gc_due(self.last_contact_gc, now, self.contact_window) {
            self.gc_contacts(now);
        }
        if !self.contacts.contains_key(&host) && self.contacts.len() >= MAX_CONTACTS {
            self.gc_contacts(now);
            if self.contacts.len() >= MAX_CONTACTS {
                evict_oldest(&mut self.contacts, |at| *at);
            }
        }
        self.contacts.insert(host, now);
    }

    /// The endpoint named by the most hosts within the window at `now`, if at
    /// least `min_statements` hosts name it.
    ///
    /// Ties (equal votes) go to the endpoint with the most recent statement,
    /// then to the smaller address, so the answer never depends on map order.
    pub fn predict_endpoint(&self, now: Instant) -> Option<SocketAddr> {
        // Vote count and newest statement time per endpoint.
        let mut votes: HashMap<SocketAddr, (usize, Instant)> = HashMap::new();
        for s in self.statements.values() {
            if !is_fresh(s.at, now, self.window) {
                continue;
            }
            let v = votes.entry(s.endpoint).or_insert((0, s.at));
            v.0 += 1;
            v.1 = v.1.max(s.at);
        }
        votes
            .into_iter()
            .filter(|(_, (count, _))| *count >= self.min_statements)
            .max_by(|(ea, (ca, ta)), (eb, (cb, tb))| ca.cmp(cb).then(ta.cmp(tb)).then(eb.cmp(ea)))
            .map(|(endpoint, _)| endpoint)
    }

    /// Whether we appear to be behind a full-cone NAT (or no NAT): some host
    /// made a statement within the window without our having contacted it,
    /// within the contact window, before that statement.
    pub fn predict_full_cone_nat(&self, now: Instant) -> bool {
        self.statements.iter().any(|(host, s)| {
            is_fresh(s.at, now, self.window)
                && match self.contacts.get(host) {
                    Some(&contacted) => {
                        !is_fresh(contacted, now, self.contact_window) || contacted > s.at
                    }
                    None => true,
                }
        })
    }

    /// Number of statements currently held (expired ones may linger until
    /// the next sweep).
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// Number of contacts currently held (expired ones may linger until the
    /// next sweep).
    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    fn gc_statements(&mut self, now: Instant) {
        self.last_statement_gc = Some(now);
        let window = self.window;
        self.statements.retain(|_, s| is_fresh(s.at, now, window));
    }

    fn gc_contacts(&mut self, now: Instant) {
        self.last_contact_gc = Some(now);
        let window = self.contact_window;
        self.contacts.retain(|_, at| is_fresh(*at, now, window));
    }
}

/// Removes the entry with the oldest time (linear scan; only runs when a map
/// is at its cap after a sweep).
fn evict_oldest<V>(map: &mut HashMap<IpAddr, V>, time: impl Fn(&V) -> Instant) {
    if let Some(key) = map.iter().min_by_key(|(_, v)| time(v)).map(|(k, _)| *k) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests;
