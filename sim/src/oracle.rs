//! What a node would know if it knew every live node: the oracle table's
//! bucket sizes and the true closest nodes to a target.

use devp2p_discover::v4::table::{BUCKET_MIN_DISTANCE, BUCKET_SIZE, N_BUCKETS};
use std::ops::Range;

use devp2p_identity::{distance_cmp, log_distance};

/// The table bucket (as `Table::bucket_index` numbers them) that a node at
/// hash `b` falls into in the table of the node at hash `a`.
pub(crate) fn bucket_of(a: &[u8; 32], b: &[u8; 32]) -> usize {
    let d = log_distance(a, b);
    if d <= BUCKET_MIN_DISTANCE + 1 {
        0
    } else {
        (d - BUCKET_MIN_DISTANCE - 1) as usize
    }
}

/// The hashes of the nodes an oracle knows (live, honest, reachable), sorted.
#[derive(Debug)]
pub(crate) struct Oracle {
    sorted: Vec<[u8; 32]>,
}

impl Oracle {
    pub(crate) fn new(mut hashes: Vec<[u8; 32]>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        Oracle { sorted: hashes }
    }

    /// Positions (in sorted order) of the known nodes sharing the first
    /// `bits` bits with `prefix`.
    fn prefix_range(&self, prefix: &[u8; 32], bits: u32) -> Range<usize> {
        let mut lo = *prefix;
        let mut hi = *prefix;
        for bit in bits..256 {
            let (byte, mask) = ((bit / 8) as usize, 0x80u8 >> (bit % 8));
            lo[byte] &= !mask;
            hi[byte] |= mask;
        }
        let a = self.sorted.partition_point(|h| *h < lo);
        let b = self.sorted.partition_point(|h| *h <= hi);
        a..b
    }

    /// Positions (in the sorted order of the known hashes) of every known node that falls
    /// into bucket `k` of the table of the node at `own` (`own` itself
    /// included for bucket 0 when it is known).
    pub(crate) fn bucket_members(&self, own: &[u8; 32], k: usize) -> Range<usize> {
        if k == 0 {
            // Bucket 0: everything at distance ≤ BUCKET_MIN_DISTANCE + 1.
            return self.prefix_range(own, 256 - (BUCKET_MIN_DISTANCE + 1));
        }
        // Bucket k ≥ 1 holds distance d = BUCKET_MIN_DISTANCE + 1 + k: the
        // first 256 - d bits equal, the next one different.
        let d = BUCKET_MIN_DISTANCE + 1 + k as u32;
        let shared = 256 - d;
        let mut p = *own;
        let (byte, mask) = ((shared / 8) as usize, 0x80u8 >> (shared % 8));
        p[byte] ^= mask;
        self.prefix_range(&p, shared + 1)
    }

    fn contains(&self, h: &[u8; 32]) -> bool {
        self.sorted.binary_search(h).is_ok()
    }

    /// How many entries each bucket of an oracle table of the node at
    /// `own` holds: every known node at that distance, at most
    /// [`BUCKET_SIZE`] per bucket.
    pub(crate) fn bucket_capacity(&self, own: &[u8; 32]) -> [usize; N_BUCKETS] {
        let mut caps = [0usize; N_BUCKETS];
        for (k, cap) in caps.iter_mut().enumerate() {
            let mut members = self.bucket_members(own, k).len();
            if k == 0 {
                members -= usize::from(self.contains(own));
            }
            *cap = members.min(BUCKET_SIZE);
        }
        caps
    }

    /// The `k` known nodes closest to `target`, without `exclude`.
    pub(crate) fn closest(&self, target: &[u8; 32], exclude: &[u8; 32], k: usize) -> Vec<[u8; 32]> {
        let mut all: Vec<[u8; 32]> = self
            .sorted
            .iter()
            .filter(|h| *h != exclude)
            .copied()
            .collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(k - 1, |a, b| distance_cmp(target, a, b));
        all.truncate(k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn random_hashes(n: usize, seed: u64) -> Vec<[u8; 32]> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut h = [0u8; 32];
                rng.fill(&mut h[..]);
                h
            })
            .collect()
    }

    #[test]
    fn bucket_capacity_matches_counting_by_distance() {
        let hashes = random_hashes(3000, 7);
        let oracle = Oracle::new(hashes.clone());
        for own in hashes.iter().take(20) {
            let mut counts = [0usize; N_BUCKETS];
            for h in hashes.iter().filter(|h| *h != own) {
                counts[bucket_of(own, h)] += 1;
            }
            let expected = counts.map(|c| c.min(BUCKET_SIZE));
            assert_eq!(oracle.bucket_capacity(own), expected);
        }
    }

    #[test]
    fn closest_is_the_true_nearest_set() {
        let hashes = random_hashes(500, 8);
        let oracle = Oracle::new(hashes.clone());
        let target = [0x55u8; 32];
        let mut by_distance: Vec<[u8; 32]> = hashes
            .iter()
            .filter(|h| **h != hashes[0])
            .copied()
            .collect();
        by_distance.sort_by(|a, b| distance_cmp(&target, a, b));
        let mut got = oracle.closest(&target, &hashes[0], 16);
        got.sort_by(|a, b| distance_cmp(&target, a, b));
        assert_eq!(got, by_distance[..16].to_vec());
    }
}
