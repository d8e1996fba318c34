//! The service's inbound queue: datagrams read ahead of processing, served
//! round robin by source ([`InboundQueue`]).
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

/// One queued datagram.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub data: Vec<u8>,
    pub from: SocketAddr,
}

/// Per-source FIFO queues served round robin (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct InboundQueue {
    by_source: HashMap<IpAddr, VecDeque<Datagram>>,
    /// Sources with queued datagrams, in serving order.
    turns: VecDeque<IpAddr>,
    len: usize,
}

/// What [`InboundQueue::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued, nothing dropped.
    Queued,
    /// Queued; one datagram of the busiest source was dropped for it.
    QueuedDroppingOne,
    /// Not queued: its source already has [`MAX_QUEUED_PER_SOURCE`].
    Dropped,
}

impl InboundQueue {
    /// Queued datagrams.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a datagram from `from` (see [`Pushed`]).
    pub(crate) fn push(&mut self, data: &[u8], from: SocketAddr) -> Pushed {
        let key = rate_key(from.ip());
        if self
            .by_source
            .get(&key)
            .is_some_and(|q| q.len() >= MAX_QUEUED_PER_SOURCE)
        {
            return Pushed::Dropped;
        }
        let mut pushed = Pushed::Queued;
        if self.len >= MAX_QUEUED_DATAGRAMS {
            self.drop_from_busiest();
            pushed = Pushed::QueuedDroppingOne;
        }
        let queue = self.by_source.entry(key).or_default();
        if queue.is_empty() {
            self.turns.push_back(key);
        }
        queue.push_back(Datagram {
            data: data.to_vec(),
            from,
        });
        self.len += 1;
        pushed
    }

    /// The next datagram: the oldest of the source whose turn it is.
    pub(crate) fn pop(&mut self) -> Option<Datagram> {
        let key = self.turns.pop_front()?;
        let queue = self.by_source.get_mut(&key)?;
        let datagram = queue.pop_front();
        if queue.is_empty() {
            self.by_source.remove(&key);
        } else {
            self.turns.push_back(key);
        }
        if datagram.is_some() {
            self.len -= 1;
        }
        datagram
    }

    /// Drops the newest datagram of the source with the most queued (only
    /// when the queue is full; at most [`MAX_QUEUED_DATAGRAMS`] sources to
    /// look at).
    fn drop_from_busiest(&mut self) {
        let Some((&key, _)) = self.by_source.iter().max_by_key(|(_, q)| q.len()) else {
            return;
        };
        let Some(queue) = self.by_source.get_mut(&key) else {
            return;
        };
        queue.pop_back();
        self.len -= 1;
        if queue.is_empty() {
            self.by_source.remove(&key);
            self.turns.retain(|k| *k != key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn sources_take_turns() {
        let mut q = InboundQueue::default();
        for i in 0..5u8 {
            q.push(&[i], addr([10, 0, 0, 1], 1000));
        }
        q.push(&[100], addr([10, 0, 0, 2], 1000));
        q.push(&[101], addr([10, 0, 0, 2], 1001));
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
            q.push(&[1], addr(ip, 30303));
        }
        assert_eq!(q.len(), MAX_QUEUED_DATAGRAMS);
        // ...and a legitimate one still gets in, at the busiest's expense.
        assert_eq!(
            q.push(&[2], addr([192, 0, 2, 7], 30303)),
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
            assert_eq!(q.push(&[0], addr([10, 0, 0, 1], 1)), Pushed::Queued);
        }
        assert_eq!(q.push(&[0], addr([10, 0, 0, 1], 2)), Pushed::Dropped);
        // IPv6 sources in one /64 are one source.
        let v6 =
            |last: u16| SocketAddr::new(IpAddr::V6([0x2001, 0xdb8, 0, 0, 0, 0, 0, last].into()), 1);
        for i in 0..MAX_QUEUED_PER_SOURCE as u16 {
            assert_eq!(q.push(&[0], v6(i)), Pushed::Queued);
        }
        assert_eq!(q.push(&[0], v6(999)), Pushed::Dropped);
        assert_eq!(q.len(), 2 * MAX_QUEUED_PER_SOURCE);
    }
}
