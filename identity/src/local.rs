//! [`LocalNode`]: our own node record, which changes as we learn our
//! endpoint, and is re-signed lazily with a higher sequence number.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use secp256k1::SecretKey;
use tokio::sync::watch;

use super::enode::Node;
use super::enr::{
    check_raw_value, encoded_len, keys, rlp_bytes, rlp_uint, sign_unchecked, Enr, EnrError,
    MAX_ENR_SIZE,
};
use super::id::NodeId;
use super::ip::canonical_ip;

/// Bytes kept free in the record for the endpoint entries [`LocalNode`]
/// manages itself, so setting them can never push the record past
/// [`MAX_ENR_SIZE`]: `ip` (3 + 5), `ip6` (4 + 17), `tcp` (4 + 3), `udp`
/// (4 + 3), `tcp6` (5 + 3) and `udp6` (5 + 3) at their largest encodings.
pub const ENDPOINT_HEADROOM: usize = 8 + 21 + 7 + 7 + 8 + 8;

/// Keys whose values [`LocalNode`] owns: `id` and `secp256k1` come from the
/// key, the endpoint entries from the typed setters.
const MANAGED_KEYS: [&[u8]; 8] = [
    keys::ID,
    keys::SECP256K1,
    keys::IP,
    keys::IP6,
    keys::TCP,
    keys::UDP,
    keys::TCP6,
    keys::UDP6,
];

/// Our own node record: a cloneable handle to shared state.
///
/// Every change that actually alters a value bumps the sequence number;
/// the record is signed on the next [`LocalNode::enr`] call and cached
/// until the next change.
#[derive(Clone)]
pub struct LocalNode {
    id: NodeId,
    state: Arc<Mutex<State>>,
}

struct State {
    key: SecretKey,
    seq: u64,
    /// All pairs including `id` and `secp256k1`, values raw RLP.
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The signed record for `seq`, if still valid.
    cached: Option<Enr>,
    /// Publishes `seq` after every change (see [`LocalNode::subscribe`]).
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for LocalNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNode")
            .field("id", &self.id)
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

impl LocalNode {
    /// A record for `key` with no endpoint yet, starting at `initial_seq`.
    ///
    /// go-ethereum starts from the stored value plus one, or from the current
    /// time in milliseconds when it has none, so restarts never reuse a
    /// sequence number; the caller chooses.
    pub fn new(key: SecretKey, initial_seq: u64) -> Self {
        let public = crate::secp::public_key(&key);
        let mut pairs = BTreeMap::new();
        pairs.insert(keys::ID.to_vec(), rlp_bytes(b"v4"));
        pairs.insert(keys::SECP256K1.to_vec(), rlp_bytes(&public.serialize()));
        LocalNode {
            id: NodeId::from_public_key(&public),
            state: Arc::new(Mutex::new(State {
                key,
                seq: initial_seq,
                pairs,
                cached: None,
                changes: watch::Sender::new(initial_seq),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes before it can panic, so a poisoned
        // lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Our node ID.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The current sequence number (the one the next [`enr`](Self::enr) carries).
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// A change notification: the receiver holds the current sequence
    /// number and is marked changed each time the record changes (every
    /// change bumps the sequence number by one). Holds one value, never a
    /// queue: a slow reader sees only the latest number, and reads the
    /// latest record with [`enr`](Self::enr). Used to copy our record into
    /// other services (discv5) so there is one record with one sequence.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.lock().changes.subscribe()
    }

    /// Sets the IPv4 (`ip`) or IPv6 (`ip6`) address by family; IPv4-mapped
    /// IPv6 counts as IPv4.
    pub fn set_ip(&self, ip: IpAddr) {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => self.lock().set(keys::IP, rlp_bytes(&v4.octets())),
            IpAddr::V6(v6) => self.lock().set(keys::IP6, rlp_bytes(&v6.octets())),
        }
    }

    /// Sets the TCP port; 0 removes it.
    pub fn set_tcp(&self, port: u16) {
        self.lock().set_port(keys::TCP, port);
    }

    /// Sets the UDP port; 0 removes it.
    pub fn set_udp(&self, port: u16) {
        self.lock().set_port(keys::UDP, port);
    }

    /// Sets the IPv6-specific TCP port (`tcp6`); 0 removes it. EIP-778:
    /// without it the IPv6 endpoint uses `tcp`, so set it only when the
    /// IPv6 listener's port differs.
    pub fn set_tcp6(&self, port: u16) {
        self.lock().set_port(keys::TCP6, port);
    }

    /// Sets the IPv6-specific UDP port (`udp6`); 0 removes it (see
    /// [`set_tcp6`](Self::set_tcp6)).
    pub fn set_udp6(&self, port: u16) {
        self.lock().set_port(keys::UDP6, port);
    }

    /// Fills in the ports of a discovery socket bound at `bound` that the
    /// record does not have yet: `udp`, and for an IPv6 socket also `udp6`
    /// (sigp's `enr`/`discv5` crates, which reth and Lighthouse run, contact
    /// an IPv6 endpoint only through `udp6`, without EIP-778's fallback to
    /// `udp`).
    pub fn set_udp_default(&self, bound: SocketAddr) {
        let mut state = self.lock();
        if !state.pairs.contains_key(keys::UDP) {
            state.set_port(keys::UDP, bound.port());
        }
        if canonical_ip(bound.ip()).is_ipv6() && !state.pairs.contains_key(keys::UDP6) {
            state.set_port(keys::UDP6, bound.port());
        }
    }

    /// Sets any other entry to a raw RLP value (exactly one canonical item).
    ///
    /// Fails, leaving the record unchanged, for the managed keys (`id`,
    /// `secp256k1`, `ip`, `ip6`, `tcp`, `udp`, `tcp6`, `udp6`: use the typed
    /// setters), for a
    /// malformed value, and when the record would not fit in
    /// [`MAX_ENR_SIZE`] with [`ENDPOINT_HEADROOM`] kept free.
    pub fn set_raw(&self, key: impl Into<Vec<u8>>, rlp_value: Vec<u8>) -> Result<(), EnrError> {
        let key = key.into();
        if MANAGED_KEYS.contains(&key.as_slice()) {
            return Err(EnrError::ReservedKey {
                key: String::from_utf8_lossy(&key).into_owned(),
            });
        }
        check_raw_value(&key, &rlp_value)?;
        let mut state = self.lock();
        let others = state
            .pairs
            .iter()
            .filter(|(k, _)| {
                k.as_slice() != key.as_slice() && !MANAGED_KEYS[2..].contains(&k.as_slice())
            })
            .map(|(k, v)| (k.as_slice(), v.as_slice()));
        let size = encoded_len(
            u64::MAX,
            others.chain(std::iter::once((key.as_slice(), rlp_value.as_slice()))),
        ) + ENDPOINT_HEADROOM;
        if size > MAX_ENR_SIZE {
            return Err(EnrError::TooLarge { size });
        }
        state.set(&key, rlp_value);
        Ok(())
    }

    /// Removes an entry; returns whether it was there. The managed keys
    /// `id` and `secp256k1` cannot be removed.
    pub fn remove(&self, key: &[u8]) -> bool {
        if key == keys::ID || key == keys::SECP256K1 {
            return false;
        }
        let mut state = self.lock();
        let removed = state.pairs.remove(key).is_some();
        if removed {
            state.changed();
        }
        removed
    }

    /// The current signed record (signed now if anything changed).
    pub fn enr(&self) -> Enr {
        let mut state = self.lock();
        if let Some(enr) = &state.cached {
            return enr.clone();
        }
        let pairs = state
            .pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Fits by construction: set_raw keeps ENDPOINT_HEADROOM free for the
        // only entries that are set without a size check.
        let enr = sign_unchecked(&state.key, state.seq, pairs);
        debug_assert!(enr.as_bytes().len() <= MAX_ENR_SIZE);
        state.cached = Some(enr.clone());
        enr
    }

    /// The current record as a [`Node`] (see [`Node::from_enr`]).
    pub fn node(&self) -> Node {
        // Our own entries are always well-formed; fall back defensively.
        Node::from_enr(&self.enr()).unwrap_or_else(|_| Node::incomplete(self.id))
    }
}

impl State {
    /// Stores a value; bumps seq and drops the cached record only on change.
    fn set(&mut self, key: &[u8], value: Vec<u8>) {
        if self.pairs.get(key) == Some(&value) {
            return;
        }
        self.pairs.insert(key.to_vec(), value);
        self.changed();
    }

    fn set_port(&mut self, key: &[u8], port: u16) {
        if port == 0 {
            if self.pairs.remove(key).is_some() {
                self.changed();
            }
        } else {
            self.set(key, rlp_uint(port.into()));
        }
    }

    fn changed(&mut self) {
        // Saturating: a u64 of milliseconds does not run out in practice.
        self.seq = self.seq.saturating_add(1);
        self.cached = None;
        // Never blocks; works with no receiver.
        self.changes.send_replace(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn node() -> LocalNode {
        LocalNode::new(SecretKey::from_secret_bytes([9u8; 32]).unwrap(), 100)
    }

    #[test]
    fn starts_at_the_given_seq_and_signs_lazily() {
        let ln = node();
        assert_eq!(ln.seq(), 100);
        let first = ln.enr();
        assert_eq!(first.seq(), 100);
        assert_eq!(first.node_id(), ln.id());
        assert_eq!(ln.enr(), first, "cached record is reused");
        assert_eq!(Enr::decode(&first.encode()).unwrap(), first);
        assert_eq!(ln.node(), Node::incomplete(ln.id()));
    }

    #[test]
    fn only_real_changes_bump_seq() {
        let ln = node();
        ln.set_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(ln.seq(), 101);
        ln.set_ip(IpAddr::V6("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(ln.seq(), 101, "same address, mapped form");
        ln.set_tcp(30303);
        ln.set_udp(30303);
        ln.set_tcp(30303);
        assert_eq!(ln.seq(), 103);
        let enr = ln.enr();
        assert_eq!(enr.seq(), 103);
        assert_eq!(
            ln.node(),
            Node::new(
                ln.id(),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                30303,
                30303
            )
        );
        ln.set_udp(0);
        assert_eq!((ln.seq(), ln.enr().udp()), (104, None));
        ln.set_udp(0);
        assert_eq!(ln.seq(), 104);
        assert!(!ln.remove(b"nothing"));
        assert!(!ln.remove(b"id"));
        assert_eq!(ln.seq(), 104);
    }

    #[test]
    fn subscribers_see_each_change_once() {
        let ln = node();
        let mut rx = ln.subscribe();
        assert_eq!(*rx.borrow_and_update(), 100);
        ln.set_tcp(1);
        ln.set_tcp(1);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 101);
        ln.set_udp(2);
        ln.set_raw("x", rlp_uint(1)).unwrap();
        assert_eq!(*rx.borrow_and_update(), 103, "only the latest is kept");
        assert!(!rx.has_changed().unwrap());
        assert_eq!(ln.enr().seq(), 103);
    }

    #[test]
    fn dual_stack_record_carries_both_endpoints() {
        let ln = node();
        ln.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        ln.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        ln.set_tcp(30303);
        ln.set_udp(30303);
        ln.set_tcp6(30304);
        let enr = ln.enr();
        assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(enr.ip6(), Some(Ipv6Addr::LOCALHOST));
        assert_eq!((enr.tcp(), enr.udp()), (Some(30303), Some(30303)));
        assert_eq!((enr.tcp6(), enr.udp6()), (Some(30304), None));
        assert!(matches!(
            ln.set_raw("udp6", rlp_uint(1)),
            Err(EnrError::ReservedKey { .. })
        ));
        let v6 = crate::IpFamilies {
            v4: false,
            v6: true,
        };
        assert_eq!(
            Node::from_enr_reachable(&enr, v6).unwrap(),
            Node::new(ln.id(), IpAddr::V6(Ipv6Addr::LOCALHOST), 30304, 30303)
        );
    }

    #[test]
    fn clones_share_state() {
        let ln = node();
        let other = ln.clone();
        other.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(ln.enr().ip6(), Some(Ipv6Addr::LOCALHOST));
        assert_eq!(ln.seq(), other.seq());
    }

    #[test]
    fn raw_entries_are_checked_and_bounded() {
        let ln = node();
        assert!(matches!(
            ln.set_raw("tcp", rlp_uint(1)),
            Err(EnrError::ReservedKey { .. })
        ));
        assert!(matches!(
            ln.set_raw("secp256k1", rlp_uint(1)),
            Err(EnrError::ReservedKey { .. })
        ));
        assert!(matches!(
            ln.set_raw("x", vec![0x81]),
            Err(EnrError::BadValue { .. })
        ));
        ln.set_raw("eth", rlp_bytes(b"fork")).unwrap();
        assert_eq!(ln.seq(), 101);
        ln.set_raw("eth", rlp_bytes(b"fork")).unwrap();
        assert_eq!(ln.seq(), 101);
        // Fill up to the limit, then check the endpoint setters still fit.
        let mut n = 200;
        while ln.set_raw("big", rlp_bytes(&vec![1u8; n])).is_err() {
            n -= 1;
        }
        assert!(ln.set_raw("big", rlp_bytes(&vec![1u8; n + 1])).is_err());
        ln.set_ip(IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)));
        ln.set_ip(IpAddr::V6("ffff::ffff".parse().unwrap()));
        ln.set_tcp(65535);
        ln.set_udp(65535);
        ln.set_tcp6(65535);
        ln.set_udp6(65535);
        let enr = ln.enr();
        assert_eq!((enr.tcp6(), enr.udp6()), (Some(65535), Some(65535)));
        assert!(enr.as_bytes().len() <= MAX_ENR_SIZE);
        assert_eq!(Enr::decode(enr.as_bytes()).unwrap(), enr);
        assert!(ln.remove(b"big"));
        assert!(ln.enr().get_raw(b"big").is_none());
    }
}
