//! The service's inbound queue: datagrams read ahead of processing, served
//! round robin by source, proven sources first ([`InboundQueue`]).
//!
//! Reading a datagram costs a system call (about a microsecond); handling
//! one costs a public-key recovery and usually a signature (about a hundred
//! microseconds). Past the service's capacity the kernel drops whatever
//! its socket buffer cannot hold, whoever sent it, so a flood from many
//! addresses (each under the per-IP rate limit) starves legitimate
//! senders. The service therefore drains its socket into this queue as
//! datagrams come and handles them one per source in turn: a source
//! sending less than its fair share (capacity ÷ busy sources) has every
//! datagram handled within one round, however much the others send. When
//! the queue is full, the busiest sources lose datagrams first.
//!
//! Sources come in two classes ([`SourceClass`]). A *proven* source
//! answered one of our pings from its address within the bond expiration
//! (an endpoint proof: a sender that forges its source address never sees
//! our ping, so it cannot prove one); every other source is *unproven*.
//! The peers of our table and the nodes a lookup talks to are proven, so a
//! flood from many forged or fresh addresses, however wide, cannot push
//! their datagrams back or out: proven sources take
//! [`PROVEN_TURNS_PER_UNPROVEN`] turns for each unproven one, and each
//! class has a share of the queue to itself in the same proportion
//! (proven 3/4, unproven 1/4, [`class_share`]): when the queue is full, a
//! datagram of a class below its share takes the place of the other
//! class's busiest source's newest datagram, and otherwise that of its own
//! class's busiest. So neither class can shut the other out: unproven
//! sources keep their turns and their quarter even while proven ones
//! flood, and new nodes can bond.
//!
//! Sources are keyed as the rate limiter keys them (IPv4 address, IPv6
//! /64).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use super::bonds::rate_key;

/// Most datagrams queued, in all. 1,024: with datagrams of at most 1,280
/// bytes, at most ~1.3 MiB, and at ~100 µs per datagram a tenth of a second
/// of work, well within the 500 ms a requester waits for a reply
/// (`RESP_TIMEOUT`, go-ethereum's `respTimeout`).
pub const MAX_QUEUED_DATAGRAMS: usize = 1024;

/// Most datagrams queued per source. 64: a single source can hold at most
/// a sixteenth of the queue, so a few flooding sources cannot fill it
/// alone; an honest peer has a handful in flight (a lookup's FindNode
/// answers come as up to two Neighbors packets per request).
pub const MAX_QUEUED_PER_SOURCE: usize = 64;

/// Datagrams read from the socket per turn of the service loop before it
/// handles the next one (our choice: enough to empty a socket buffer that
/// filled while one datagram was handled, bounded so timers and commands
/// still get their turn).
pub const DRAIN_BATCH: usize = 64;

/// Turns proven sources take, while both classes have datagrams queued,
/// for each turn of an unproven source (our choice: a flood of unproven
/// datagrams delays a proven one by at most one datagram in four, and
/// unproven sources, new nodes bonding among them, keep a quarter of the
/// capacity when proven sources alone could fill it).
pub const PROVEN_TURNS_PER_UNPROVEN: usize = 3;

/// Whether a source has proved its address (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceClass {
    /// Answered our ping from this address within the bond expiration.
    Proven,
    /// Anything else: new, expired, or a forged address.
    Unproven,
}

impl SourceClass {
    fn index(self) -> usize {
        match self {
            SourceClass::Proven => 0,
            SourceClass::Unproven => 1,
        }
    }

    fn other(self) -> SourceClass {
        match self {
            SourceClass::Proven => SourceClass::Unproven,
            SourceClass::Unproven => SourceClass::Proven,
        }
    }
}

/// One queued datagram.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub data: Vec<u8>,
    pub from: SocketAddr,
}

/// One source's queued datagrams and the class it had when the first of
/// them came (kept until they are all handled).
#[derive(Debug)]
struct SourceQueue {
    class: SourceClass,
    datagrams: VecDeque<Datagram>,
    /// Where this source sits in its class's [`ByDepth`] list for its depth.
    depth_slot: usize,
}

/// The sources of one class by how many datagrams each has queued, so the
/// busiest is found without looking at every source: `lists[n]` holds the
/// sources with `n` queued (index 0 unused), `max` the deepest non-empty
/// list.
#[derive(Debug)]
struct ByDepth {
    lists: Vec<Vec<IpAddr>>,
    max: usize,
}

impl Default for ByDepth {
    fn default() -> Self {
        ByDepth {
            lists: vec![Vec::new(); MAX_QUEUED_PER_SOURCE + 1],
            max: 0,
        }
    }
}

/// One class's share of the queue.
#[derive(Debug, Default)]
struct ClassQueue {
    /// Sources with queued datagrams, in serving order.
    turns: VecDeque<IpAddr>,
    by_depth: ByDepth,
    /// Datagrams queued by this class's sources.
    queued: usize,
}

/// How many of the [`MAX_QUEUED_DATAGRAMS`] places a class has to itself
/// when the queue is full: the same share as its turns
/// ([`PROVEN_TURNS_PER_UNPROVEN`] to 1), 768 proven and 256 unproven.
pub(crate) const fn class_share(class: SourceClass) -> usize {
    let per_turn = MAX_QUEUED_DATAGRAMS / (PROVEN_TURNS_PER_UNPROVEN + 1);
    match class {
        SourceClass::Proven => per_turn * PROVEN_TURNS_PER_UNPROVEN,
        SourceClass::Unproven => per_turn,
    }
}

/// Per-source FIFO queues served round robin, proven sources first (see
/// the module docs). Every operation costs a few hash-map look-ups,
/// whatever the number of sources: a flood from forged addresses makes the
/// queue shed on nearly every datagram it reads.
#[derive(Debug, Default)]
pub(crate) struct InboundQueue {
    by_source: HashMap<IpAddr, SourceQueue>,
    /// Per class ([`SourceClass::index`]).
    classes: [ClassQueue; 2],
    /// Proven turns taken since the last unproven one.
    proven_streak: usize,
}

/// What [`InboundQueue::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued, nothing dropped.
    Queued,
    /// Queued; one datagram of the busiest source of its class, or of the
    /// other class when its own is below its [`class_share`], was dropped
    /// for it.
    QueuedDroppingOne,
    /// Not queued: its source already has [`MAX_QUEUED_PER_SOURCE`].
    Dropped,
}

impl InboundQueue {
    /// Queued datagrams.
    pub(crate) fn len(&self) -> usize {
        self.classes.iter().map(|c| c.queued).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a datagram from `from`, a source of class `class` (see
    /// [`Pushed`]).
    pub(crate) fn push(&mut self, data: &[u8], from: SocketAddr, class: SourceClass) -> Pushed {
        let key = rate_key(from.ip());
        let queued = self.by_source.get(&key);
        if queued.is_some_and(|q| q.datagrams.len() >= MAX_QUEUED_PER_SOURCE) {
            return Pushed::Dropped;
        }
        // Joining a source's queue: that queue's class decides.
        let class = queued.map_or(class, |q| q.class);
        let mut pushed = Pushed::Queued;
        if self.len() >= MAX_QUEUED_DATAGRAMS {
            // Full: the other class holds more than its share if this one
            // holds less than its own.
            let victim = if self.classes[class.index()].queued < class_share(class) {
                class.other()
            } else {
                class
            };
            self.drop_from_busiest(victim);
            pushed = Pushed::QueuedDroppingOne;
        }
        let queue = self.by_source.entry(key).or_insert_with(|| SourceQueue {
            class,
            datagrams: VecDeque::new(),
            depth_slot: 0,
        });
        queue.datagrams.push_back(Datagram {
            data: data.to_vec(),
            from,
        });
        let depth = queue.datagrams.len();
        if depth == 1 {
            self.classes[class.index()].turns.push_back(key);
        }
        self.set_depth(key, class, depth - 1, depth);
        pushed
    }

    /// The next datagram: the oldest of the source whose turn it is.
    pub(crate) fn pop(&mut self) -> Option<Datagram> {
        let class = self.next_class()?;
        let key = self.classes[class.index()].turns.pop_front()?;
        let queue = self.by_source.get_mut(&key)?;
        let datagram = queue.datagrams.pop_front()?;
        let depth = queue.datagrams.len();
        if depth > 0 {
            self.classes[class.index()].turns.push_back(key);
        }
        self.set_depth(key, class, depth + 1, depth);
        Some(datagram)
    }

    /// Whose turn it is: proven sources, except every
    /// [`PROVEN_TURNS_PER_UNPROVEN`] + 1st turn while unproven ones wait.
    fn next_class(&mut self) -> Option<SourceClass> {
        let proven = self.has_queued(SourceClass::Proven);
        let unproven = self.has_queued(SourceClass::Unproven);
        if proven && (!unproven || self.proven_streak < PROVEN_TURNS_PER_UNPROVEN) {
            self.proven_streak += 1;
            Some(SourceClass::Proven)
        } else if unproven {
            self.proven_streak = 0;
            Some(SourceClass::Unproven)
        } else {
            None
        }
    }

    fn has_queued(&self, class: SourceClass) -> bool {
        !self.classes[class.index()].turns.is_empty()
    }

    /// Drops the newest datagram of a source of `class` with the most
    /// queued (only when the queue is full). When every source of the class
    /// has one, that is the source that came last, at the back of the turns.
    fn drop_from_busiest(&mut self, class: SourceClass) {
        let queues = &mut self.classes[class.index()];
        let max = queues.by_depth.max;
        let key = if max > 1 {
            queues.by_depth.lists[max].last().copied()
        } else {
            queues.turns.pop_back()
        };
        let Some(key) = key else {
            return;
        };
        let Some(queue) = self.by_source.get_mut(&key) else {
            return;
        };
        queue.datagrams.pop_back();
        let depth = queue.datagrams.len();
        self.set_depth(key, class, depth + 1, depth);
    }

    /// Moves `key` from the list of sources `from` deep to that of sources
    /// `to` deep (0: none), and forgets a source with nothing queued.
    fn set_depth(&mut self, key: IpAddr, class: SourceClass, from: usize, to: usize) {
        let queues = &mut self.classes[class.index()];
        queues.queued = queues.queued + to - from;
        let by_depth = &mut queues.by_depth;
        if from > 0 {
            let slot = self.by_source.get(&key).map(|q| q.depth_slot);
            // The slot always holds `key`; checked rather than trusted, so a
            // slip here could never panic on a datagram.
            if let Some(slot) = slot.filter(|&i| by_depth.lists[from].get(i) == Some(&key)) {
                by_depth.lists[from].swap_remove(slot);
                if let Some(&moved) = by_depth.lists[from].get(slot) {
                    if let Some(q) = self.by_source.get_mut(&moved) {
                        q.depth_slot = slot;
                    }
                }
            }
        }
        if to > 0 {
            by_depth.lists[to].push(key);
            if let Some(q) = self.by_source.get_mut(&key) {
                q.depth_slot = by_depth.lists[to].len() - 1;
            }
            by_depth.max = by_depth.max.max(to);
        } else {
            self.by_source.remove(&key);
        }
        while by_depth.max > 0 && by_depth.lists[by_depth.max].is_empty() {
            by_depth.max -= 1;
        }
    }

    /// Checks that the turns and depth lists agree with the per-source
    /// queues.
    #[cfg(test)]
    fn check(&self) {
        let mut turns: HashMap<(IpAddr, usize), usize> = HashMap::new();
        for (i, class) in self.classes.iter().enumerate() {
            for key in &class.turns {
                *turns.entry((*key, i)).or_default() += 1;
            }
        }
        let mut total = 0;
        for (key, q) in &self.by_source {
            let depth = q.datagrams.len();
            assert!(depth > 0, "{key} kept while empty");
            total += depth;
            let class = &self.classes[q.class.index()];
            assert_eq!(class.by_depth.lists[depth].get(q.depth_slot), Some(key));
            assert_eq!(
                turns.get(&(*key, q.class.index())),
                Some(&1),
                "{key}'s turns"
            );
        }
        assert_eq!(total, self.len());
        for (i, class) in self.classes.iter().enumerate() {
            let queued: usize = self
                .by_source
                .values()
                .filter(|q| q.class.index() == i)
                .map(|q| q.datagrams.len())
                .sum();
            assert_eq!(class.queued, queued);
            assert_eq!(
                class.turns.len(),
                class.by_depth.lists.iter().map(Vec::len).sum::<usize>()
            );
            let deepest = class
                .by_depth
                .lists
                .iter()
                .rposition(|l| !l.is_empty())
                .unwrap_or(0);
            assert_eq!(class.by_depth.max, deepest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: SourceClass = SourceClass::Unproven;
    const P: SourceClass = SourceClass::Proven;

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn sources_take_turns() {
        let mut q = InboundQueue::default();
        for i in 0..5u8 {
            q.push(&[i], addr([10, 0, 0, 1], 1000), U);
        }
        q.push(&[100], addr([10, 0, 0, 2], 1000), U);
        q.push(&[101], addr([10, 0, 0, 2], 1001), U);
        let order: Vec<u8> = std::iter::from_fn(|| q.pop()).map(|d| d.data[0]).collect();
        assert_eq!(order, [0, 100, 1, 101, 2, 3, 4]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_quiet_source_is_served_within_one_round_of_a_flood() {
        let mut q = InboundQueue::default();
        // 32 flooding sources fill the queue...
        for n in 0..MAX_QUEUED_DATAGRAMS {
            let ip = [10, 1, 0, (n % 32) as u8];
            q.push(&[1], addr(ip, 30303), U);
        }
        assert_eq!(q.len(), MAX_QUEUED_DATAGRAMS);
        // ...and a legitimate one still gets in, at the busiest's expense.
        assert_eq!(
            q.push(&[2], addr([192, 0, 2, 7], 30303), U),
            Pushed::QueuedDroppingOne
        );
        assert_eq!(q.len(), MAX_QUEUED_DATAGRAMS);
        let position = std::iter::from_fn(|| q.pop())
            .position(|d| d.data[0] == 2)
            .expect("legitimate datagram kept");
        assert!(position <= 32, "served after {position} others");
    }

    #[test]
    fn one_source_holds_at_most_its_share() {
        let mut q = InboundQueue::default();
        for _ in 0..MAX_QUEUED_PER_SOURCE {
            assert_eq!(q.push(&[0], addr([10, 0, 0, 1], 1), U), Pushed::Queued);
        }
        assert_eq!(q.push(&[0], addr([10, 0, 0, 1], 2), U), Pushed::Dropped);
        // IPv6 sources in one /64 are one source.
        let v6 =
            |last: u16| SocketAddr::new(IpAddr::V6([0x2001, 0xdb8, 0, 0, 0, 0, 0, last].into()), 1);
        for i in 0..MAX_QUEUED_PER_SOURCE as u16 {
            assert_eq!(q.push(&[0], v6(i), U), Pushed::Queued);
        }
        assert_eq!(q.push(&[0], v6(999), U), Pushed::Dropped);
        assert_eq!(q.len(), 2 * MAX_QUEUED_PER_SOURCE);
    }

    #[test]
    fn proven_sources_go_first_and_unproven_keep_their_share() {
        let mut q = InboundQueue::default();
        for i in 0..8u8 {
            q.push(&[i], addr([10, 0, 0, i], 1), U);
        }
        for i in 0..5u8 {
            q.push(&[100 + i], addr([192, 0, 2, 1], 1), P);
        }
        let order: Vec<u8> = std::iter::from_fn(|| q.pop()).map(|d| d.data[0]).collect();
        assert_eq!(
            order,
            [100, 101, 102, 0, 103, 104, 1, 2, 3, 4, 5, 6, 7],
            "{PROVEN_TURNS_PER_UNPROVEN} proven turns per unproven one"
        );
    }

    #[test]
    fn a_source_keeps_its_class_while_it_has_datagrams_queued() {
        let mut q = InboundQueue::default();
        q.push(&[1], addr([10, 0, 0, 1], 1), U);
        q.push(&[2], addr([10, 0, 0, 1], 1), P);
        q.push(&[3], addr([192, 0, 2, 1], 1), P);
        let order: Vec<u8> = std::iter::from_fn(|| q.pop()).map(|d| d.data[0]).collect();
        assert_eq!(order, [3, 1, 2]);
        // Drained, the source is classed afresh.
        q.push(&[4], addr([10, 0, 0, 9], 1), U);
        q.push(&[5], addr([10, 0, 0, 1], 1), P);
        assert_eq!(q.pop().map(|d| d.data[0]), Some(5));
    }

    #[test]
    fn a_full_queue_sheds_unproven_datagrams_first() {
        let mut q = InboundQueue::default();
        // Spread over more sources than the queue holds datagrams, one each
        // (a flood from forged addresses)...
        for n in 0..MAX_QUEUED_DATAGRAMS as u32 {
            let [_, _, a, b] = n.to_be_bytes();
            q.push(&[0], addr([10, 2, a, b], 1), U);
        }
        // ...a proven source's datagrams all get in, at the flood's expense,
        for i in 0..MAX_QUEUED_PER_SOURCE as u8 {
            assert_eq!(
                q.push(&[1, i], addr([192, 0, 2, 1], 1), P),
                Pushed::QueuedDroppingOne
            );
        }
        assert_eq!(q.len(), MAX_QUEUED_DATAGRAMS);
        // and come out first.
        for i in 0..MAX_QUEUED_PER_SOURCE as u8 {
            let d = q.pop().expect("queued");
            if (i as usize + 1).is_multiple_of(PROVEN_TURNS_PER_UNPROVEN + 1) {
                assert_eq!(d.data[0], 0, "an unproven turn at {i}");
                continue;
            }
            assert_eq!(d.data[0], 1, "proven at {i}");
        }
    }

    #[test]
    fn a_class_below_its_share_takes_places_from_the_other() {
        let mut q = InboundQueue::default();
        // Proven sources fill the queue (a flood from bonded peers)...
        for n in 0..MAX_QUEUED_DATAGRAMS as u32 {
            let [_, _, a, b] = n.to_be_bytes();
            q.push(&[1], addr([192, 1, a, b], 1), P);
        }
        // ...unproven ones still get in, up to their share,
        for n in 0..2 * class_share(U) as u32 {
            let [_, _, a, b] = n.to_be_bytes();
            assert_eq!(
                q.push(&[0], addr([10, 3, a, b], 1), U),
                Pushed::QueuedDroppingOne
            );
        }
        assert_eq!(q.len(), MAX_QUEUED_DATAGRAMS);
        q.check();
        assert_eq!(q.classes[U.index()].queued, class_share(U));
        assert_eq!(q.classes[P.index()].queued, class_share(P));
        // and proven ones take back only what is over the unproven share.
        assert_eq!(
            q.push(&[1], addr([192, 0, 2, 1], 1), P),
            Pushed::QueuedDroppingOne
        );
        assert_eq!(q.classes[U.index()].queued, class_share(U));
    }

    #[test]
    fn turns_and_depths_stay_consistent_through_any_mix_of_operations() {
        // xorshift64: a fixed, dependency-free sequence.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut q = InboundQueue::default();
        for step in 0..20_000 {
            let r = next();
            if r % 5 == 0 {
                q.pop();
            } else {
                // A few busy sources and many one-off ones, both classes.
                let host = if r % 3 == 0 {
                    (r >> 8) % 8
                } else {
                    (r >> 8) % 4096
                } as u32;
                let class = if (r >> 40) % 4 == 0 { P } else { U };
                q.push(
                    &[0],
                    SocketAddr::from(((0x0a00_0000 + host).to_be_bytes(), 1)),
                    class,
                );
            }
            if step % 97 == 0 {
                q.check();
            }
        }
        q.check();
        while q.pop().is_some() {}
        q.check();
        assert!(q.is_empty() && q.by_source.is_empty());
    }
}
