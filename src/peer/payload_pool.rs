//! Reuse of large inbound payload buffers.
//!
//! Every inbound message is decompressed into memory the protocol then owns
//! (a [`Bytes`]). For large messages a fresh allocation per message is
//! costly on glibc: freeing a 64 KiB block at the top of the heap makes
//! malloc return it to the kernel (its trim threshold is 128 KiB), and the
//! next message faults the pages back in, 6–12 minor page faults per
//! message in `benches/peer_cost.rs`. So readers decompress large payloads
//! into buffers of a small per-thread pool, reusing a buffer once the
//! application has dropped every handle to the message that last used it.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::base::decompress;
use super::error::PeerError;
use crate::message::MAX_MSG_SIZE;

/// Payloads at least this large (decompressed bytes) come from the pool.
/// Below it malloc recycles blocks well (they never reach the trim
/// threshold), and a small message the application keeps must not hold on
/// to a large buffer.
pub(crate) const POOLED_MIN_PAYLOAD_BYTES: usize = 16 * 1024;

/// Payloads larger than this are allocated exactly, as before: they are
/// rare (multi-megabyte responses) and one of them would take a large share
/// of the pool.
pub(crate) const POOLED_MAX_PAYLOAD_BYTES: usize = 256 * 1024;

// Every pooled size is within the message limit, checked once here.
const _: () = assert!(POOLED_MAX_PAYLOAD_BYTES <= MAX_MSG_SIZE);

/// Capacity (bytes) of the buffers one thread's pool keeps, counting those
/// the application still holds. A reader runs ahead of its protocol by up to
/// its read queue ([`DEFAULT_READ_QUEUE`](crate::DEFAULT_READ_QUEUE), 16)
/// plus one read-ahead of frames, all still held; 2 MiB keeps 32 buffers of
/// 64 KiB, so about half are free again when the next message comes.
/// Measured with `benches/peer_cost.rs` (64 KiB, queues of 256, so the
/// reader ran further ahead than the default allows): 30–85 % of payloads
/// reused a buffer, and page faults fell from ~10 to ~1 per message.
pub(crate) const POOL_MAX_BYTES: usize = 2 * 1024 * 1024;

/// A pooled buffer is reused only if its capacity is at most this many times
/// the payload, so a message never pins much more memory than its size.
const MAX_SLACK_FACTOR: usize = 2;

/// A buffer handed out with a message, and its capacity (not visible on
/// [`Bytes`]).
struct Pooled {
    payload: Bytes,
    capacity: usize,
}

/// One thread's buffers, oldest first, and their total capacity.
#[derive(Default)]
struct Pool {
    entries: VecDeque<Pooled>,
    bytes: usize,
}

thread_local! {
    /// One pool per thread (a reader runs on whichever worker polls it);
    /// buffers are handed out whole, so threads share nothing.
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Decompresses a snappy payload as [`decompress`] does, into a pooled
/// buffer when the payload's size is in the pooled range.
pub(crate) fn decompress_pooled(data: &[u8]) -> Result<Bytes, PeerError> {
    let size = match snap::raw::decompress_len(data) {
        Ok(size) if (POOLED_MIN_PAYLOAD_BYTES..=POOLED_MAX_PAYLOAD_BYTES).contains(&size) => size,
        // Out of range or malformed: the plain path allocates or reports.
        _ => return decompress(data),
    };
    // `try_with`: while the thread's locals are being torn down the pool is
    // gone, and the plain path still works.
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let mut buf = pool
            .take_free(size)
            .unwrap_or_else(|| BytesMut::with_capacity(size));
        // A reused buffer still holds its last payload. The decoder writes
        // every one of the `size` bytes (it fails unless it produces exactly
        // the declared length), so those bytes need no zeroing first: only
        // growth past them is zeroed (a 64 KiB memset per message saved).
        if buf.len() >= size {
            buf.truncate(size);
        } else {
            buf.resize(size, 0);
        }
        let n = snap::raw::Decoder::new()
            .decompress(data, &mut buf)
            .map_err(|e| PeerError::MalformedMsg(format!("snappy: {e}")))?;
        buf.truncate(n);
        let capacity = buf.capacity();
        let payload = buf.freeze();
        pool.put(payload.clone(), capacity);
        Ok(payload)
    })
    .unwrap_or_else(|_| decompress(data))
}

impl Pool {
    /// Takes out the oldest buffer nobody else holds any more whose capacity
    /// fits `size` within [`MAX_SLACK_FACTOR`].
    fn take_free(&mut self, size: usize) -> Option<BytesMut> {
        let i = self.entries.iter().position(|p| {
            p.payload.is_unique() && (size..=size * MAX_SLACK_FACTOR).contains(&p.capacity)
        })?;
        let taken = self.entries.remove(i)?;
        self.bytes -= taken.capacity;
        // Nobody else can take a new handle to a pooled buffer, so unique
        // stays unique between the check and the conversion.
        taken.payload.try_into_mut().ok()
    }

    /// Remembers a buffer just handed out; past [`POOL_MAX_BYTES`] forgets
    /// the oldest buffers the application still holds (it may keep them for
    /// good), else the oldest free ones.
    fn put(&mut self, payload: Bytes, capacity: usize) {
        self.entries.push_back(Pooled { payload, capacity });
        self.bytes += capacity;
        while self.bytes > POOL_MAX_BYTES {
            let i = self
                .entries
                .iter()
                .position(|p| !p.payload.is_unique())
                .unwrap_or(0);
            let Some(gone) = self.entries.remove(i) else {
                break;
            };
            self.bytes -= gone.capacity;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(len: usize, fill: u8) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&vec![fill; len])
            .expect("compress")
    }

    #[test]
    fn a_dropped_payload_buffer_is_reused() {
        let first = decompress_pooled(&compressed(64 * 1024, 1)).unwrap();
        let first_ptr = first.as_ptr();
        // Still held: the next message gets another buffer.
        let second = decompress_pooled(&compressed(64 * 1024, 2)).unwrap();
        assert_ne!(second.as_ptr(), first_ptr);
        assert!(first.iter().all(|&b| b == 1), "held payload untouched");
        drop(first);
        let third = decompress_pooled(&compressed(60 * 1024, 3)).unwrap();
        assert_eq!(third.as_ptr(), first_ptr, "freed buffer reused");
        assert_eq!(third.len(), 60 * 1024);
        assert!(third.iter().all(|&b| b == 3));
        assert!(second.iter().all(|&b| b == 2));
    }

    #[test]
    fn small_large_and_much_smaller_payloads_are_not_pooled() {
        let big = decompress_pooled(&compressed(200 * 1024, 1)).unwrap();
        let big_ptr = big.as_ptr();
        drop(big);
        // Under half the free buffer's capacity: a fresh exact buffer.
        let smaller = decompress_pooled(&compressed(20 * 1024, 2)).unwrap();
        assert_ne!(smaller.as_ptr(), big_ptr);
        let small = decompress_pooled(&compressed(100, 3)).unwrap();
        assert_eq!(small.len(), 100);
        let huge = decompress_pooled(&compressed(POOLED_MAX_PAYLOAD_BYTES + 1, 4)).unwrap();
        assert_eq!(huge.len(), POOLED_MAX_PAYLOAD_BYTES + 1);
        assert!(POOL.with(|p| p.borrow().bytes) <= POOL_MAX_BYTES);
    }

    #[test]
    fn malformed_and_oversized_payloads_fail_as_before() {
        let mut bad = compressed(32 * 1024, 1);
        bad.truncate(bad.len() / 2);
        assert!(matches!(
            decompress_pooled(&bad),
            Err(PeerError::MalformedMsg(_))
        ));
        // A header declaring more than MAX_MSG_SIZE is refused unread.
        // Varint 0x81 0x80 0x80 0x10 declares 2^25 + 1 bytes.
        let declared = [0x81, 0x80, 0x80, 0x10, 0x00];
        assert!(matches!(
            decompress_pooled(&declared),
            Err(PeerError::MsgTooLarge { .. })
        ));
    }
}
