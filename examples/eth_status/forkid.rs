//! EIP-2124 fork identifier: what a node's Status says about its fork
//! schedule, and the rules to accept or reject a remote one.

use super::status::Hash;

/// EIP-2124 fork ids compare a remote `next` with our head's timestamp when
/// it is above this value (mainnet's genesis timestamp, go-ethereum's
/// `timestampThreshold` in core/forkid/forkid.go): block numbers never get
/// that large, timestamps always are.
pub const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// An EIP-2124 fork id (the library's, the same type as in a record's `eth`
/// entry: `devp2p::enr_entries`). RLP `[hash: B_4, next: P]`, exactly two
/// elements.
pub use devp2p::enr_entries::ForkId;

/// Why a remote fork id is incompatible (EIP-2124's rejection rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForkIdError {
    /// The remote is on a past fork of ours but does not know the fork that
    /// followed it: its software needs an update.
    #[error("remote needs update")]
    RemoteStale,
    /// The remote's checksum is none of ours, or it announces a fork we have
    /// passed without applying it: another chain, or our software is stale.
    #[error("local incompatible or needs update")]
    LocalIncompatibleOrStale,
}

/// A chain's genesis and fork schedule, normalised as EIP-2124 wants it
/// (go-ethereum's `gatherForks`): sorted, duplicates merged, block forks at
/// 0 and time forks at or before the genesis timestamp dropped (they are the
/// genesis rules, not forks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkSchedule {
    /// Genesis block hash.
    pub genesis: Hash,
    /// Fork block numbers (Homestead … the Merge netsplit block).
    pub by_block: Vec<u64>,
    /// Fork timestamps (Shanghai onwards).
    pub by_time: Vec<u64>,
}

impl ForkSchedule {
    /// The schedule of a chain with this genesis hash and timestamp and
    /// these fork activations (any order; genesis forks are dropped).
    pub fn new(genesis: Hash, genesis_time: u64, blocks: &[u64], times: &[u64]) -> Self {
        let mut by_block: Vec<u64> = blocks.iter().copied().filter(|&b| b > 0).collect();
        let mut by_time: Vec<u64> = times
            .iter()
            .copied()
            .filter(|&t| t > genesis_time)
            .collect();
        by_block.sort_unstable();
        by_block.dedup();
        by_time.sort_unstable();
        by_time.dedup();
        ForkSchedule {
            genesis,
            by_block,
            by_time,
        }
    }

    /// Our fork id with the head at block `head_block`, timestamp `head_time`.
    pub fn fork_id(&self, head_block: u64, head_time: u64) -> ForkId {
        let mut hash = crc32(&self.genesis);
        let forks = self.by_block.iter().map(|&f| (f, head_block));
        let forks = forks.chain(self.by_time.iter().map(|&f| (f, head_time)));
        for (fork, head) in forks {
            if fork > head {
                return ForkId {
                    hash: hash.to_be_bytes(),
                    next: fork,
                };
            }
            hash = crc32_update(hash, &fork.to_be_bytes());
        }
        ForkId {
            hash: hash.to_be_bytes(),
            next: 0,
        }
    }

    /// Checks a remote fork id against ours (head at `head_block` /
    /// `head_time`) with EIP-2124's rules, as go-ethereum applies them to
    /// both block and time forks.
    pub fn validate(
        &self,
        head_block: u64,
        head_time: u64,
        remote: ForkId,
    ) -> Result<(), ForkIdError> {
        // sums[i]: the checksum after the first i forks.
        let forks: Vec<u64> = self.by_block.iter().chain(&self.by_time).copied().collect();
        let mut sums = vec![crc32(&self.genesis)];
        for &fork in &forks {
            let last = sums[sums.len() - 1];
            sums.push(crc32_update(last, &fork.to_be_bytes()));
        }
        let sums: Vec<[u8; 4]> = sums.iter().map(|s| s.to_be_bytes()).collect();
        // A sentinel fork that is never passed ends the scan; it counts as a
        // block fork when there are no time forks.
        let block_forks = if self.by_time.is_empty() {
            self.by_block.len() + 1
        } else {
            self.by_block.len()
        };
        let forks_with_sentinel = forks.iter().copied().chain([u64::MAX]);
        for (i, fork) in forks_with_sentinel.enumerate() {
            let head = if i < block_forks {
                head_block
            } else {
                head_time
            };
            if head >= fork {
                continue; // passed; look further
            }
            // i is our first unpassed fork: sums[i] is our current checksum.
            if sums[i] == remote.hash {
                // Same fork state. Reject only if the remote's next fork is
                // one we have already passed without applying it (rule 1a).
                let passed = head >= remote.next
                    || (remote.next > TIMESTAMP_THRESHOLD && head_time >= remote.next);
                if remote.next > 0 && passed {
                    return Err(ForkIdError::LocalIncompatibleOrStale);
                }
                return Ok(()); // rule 1b
            }
            // Remote is behind us (a subset of our past forks): fine if it
            // knows the fork that came next (rule 2).
            if let Some(j) = sums[..i].iter().position(|s| *s == remote.hash) {
                if forks[j] != remote.next {
                    return Err(ForkIdError::RemoteStale);
                }
                return Ok(());
            }
            // Remote is ahead of us on our own schedule: we are syncing (rule 3).
            if sums[i + 1..].contains(&remote.hash) {
                return Ok(());
            }
            return Err(ForkIdError::LocalIncompatibleOrStale); // rule 4
        }
        Ok(()) // unreachable: the sentinel is never passed
    }
}

/// IEEE CRC32 (the checksum EIP-2124 uses; zlib's, reflected polynomial
/// 0xEDB88320) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Continues a finished CRC32 `crc` over more `data` (Go's `crc32.Update`,
/// which EIP-2124 is written with): `crc32_update(crc32(a), b) ==
/// crc32(a ‖ b)`. crc32fast's `new_with_initial` takes exactly such a
/// finished value.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(data);
    hasher.finalize()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use devp2p::alloy_rlp;

    /// Mainnet genesis hash (EIP-2124's vectors).
    pub const MAINNET_GENESIS: &str =
        "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";

    fn mainnet_genesis() -> Hash {
        let mut out = [0; 32];
        hex::decode_to_slice(MAINNET_GENESIS, &mut out).unwrap();
        out
    }

    /// Mainnet's forks up to Petersburg: EIP-2124's test vectors stop there.
    fn mainnet_petersburg() -> ForkSchedule {
        let blocks = [
            1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 7_280_000,
        ];
        ForkSchedule::new(mainnet_genesis(), 0, &blocks, &[])
    }

    /// A fork id from its checksum as a number.
    pub fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: hash.to_be_bytes(),
            next,
        }
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926); // the CRC-32 check value
        assert_eq!(crc32_update(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }

    /// EIP-2124 "Test Cases": every fork id mainnet advertises up to Petersburg.
    #[test]
    fn eip2124_mainnet_fork_ids() {
        let forks = mainnet_petersburg();
        let cases = [
            (0, id(0xfc64ec04, 1_150_000)),
            (1_149_999, id(0xfc64ec04, 1_150_000)),
            (1_150_000, id(0x97c2c34c, 1_920_000)),
            (1_919_999, id(0x97c2c34c, 1_920_000)),
            (1_920_000, id(0x91d1f948, 2_463_000)),
            (2_462_999, id(0x91d1f948, 2_463_000)),
            (2_463_000, id(0x7a64da13, 2_675_000)),
            (2_674_999, id(0x7a64da13, 2_675_000)),
            (2_675_000, id(0x3edd5b10, 4_370_000)),
            (4_369_999, id(0x3edd5b10, 4_370_000)),
            (4_370_000, id(0xa00bc324, 7_280_000)),
            (7_279_999, id(0xa00bc324, 7_280_000)),
            (7_280_000, id(0x668db0af, 0)),
            (7_987_396, id(0x668db0af, 0)),
        ];
        for (head, want) in cases {
            assert_eq!(forks.fork_id(head, 0), want, "head {head}");
        }
    }

    /// Timestamp forks: go-ethereum v1.17.10 core/forkid/forkid_test.go's
    /// mainnet cases from Gray Glacier to BPO2.
    #[test]
    fn mainnet_time_fork_ids() {
        let blocks = [
            1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 9_069_000, 9_200_000,
            12_244_000, 12_965_000, 13_773_000, 15_050_000,
        ];
        let times = [
            1_681_338_455,
            1_710_338_135,
            1_746_612_311,
            1_764_798_551,
            1_765_290_071,
            1_767_747_671,
        ];
        let forks = ForkSchedule::new(mainnet_genesis(), 0, &blocks, &times);
        let cases = [
            (15_050_000, 0, id(0xf0afd0e3, 1_681_338_455)),
            (20_000_000, 1_681_338_455, id(0xdce96c2d, 1_710_338_135)),
            (30_000_000, 1_710_338_135, id(0x9f3d2254, 1_746_612_311)),
            (30_000_000, 1_746_612_311, id(0xc376cf8b, 1_764_798_551)),
            (30_000_000, 1_764_798_551, id(0x5167e2a6, 1_765_290_071)),
            (30_000_000, 1_765_290_071, id(0xcba2a1c0, 1_767_747_671)),
            (50_000_000, 2_000_000_000, id(0x07c9462e, 0)),
        ];
        for (block, time, want) in cases {
            assert_eq!(forks.fork_id(block, time), want, "head {block}/{time}");
        }
    }

    /// EIP-2124's validation cases (mainnet up to Petersburg).
    #[test]
    fn eip2124_mainnet_validation() {
        use ForkIdError::*;
        let forks = mainnet_petersburg();
        let cases: [(u64, ForkId, Result<(), ForkIdError>); 13] = [
            (7_987_396, id(0x668db0af, 0), Ok(())),
            (7_987_396, id(0x668db0af, u64::MAX), Ok(())),
            (7_279_999, id(0xa00bc324, 0), Ok(())),
            (7_279_999, id(0xa00bc324, 7_280_000), Ok(())),
            (7_279_999, id(0xa00bc324, u64::MAX), Ok(())),
            // The EIP's text has 0x668db0af here, a typo: its comment
            // ("remote announces Byzantium + knowledge about Petersburg") and
            // go-ethereum's own test use Byzantium's checksum.
            (7_987_396, id(0xa00bc324, 7_280_000), Ok(())),
            (7_987_396, id(0x3edd5b10, 4_370_000), Ok(())),
            (7_279_999, id(0x668db0af, 0), Ok(())),
            (4_369_999, id(0xa00bc324, 0), Ok(())),
            (7_987_396, id(0xa00bc324, 0), Err(RemoteStale)),
            (7_987_396, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7_279_999, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7_987_396, id(0xafec6b27, 0), Err(LocalIncompatibleOrStale)),
        ];
        for (head, remote, want) in cases {
            assert_eq!(
                forks.validate(head, 0, remote),
                want,
                "head {head}, remote {remote}"
            );
        }
    }

    /// EIP-2124's RLP vectors for the fork id.
    #[test]
    fn fork_id_rlp() {
        let cases = [
            (id(0, 0), "c6840000000080"),
            (id(0xdeadbeef, 0xBADDCAFE), "ca84deadbeef84baddcafe"),
            (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
        ];
        for (fork_id, want) in cases {
            assert_eq!(hex::encode(alloy_rlp::encode(fork_id)), want);
            assert_eq!(
                alloy_rlp::decode_exact::<ForkId>(hex::decode(want).unwrap()),
                Ok(fork_id)
            );
        }
    }

    /// The fork id's RLP is strict: exactly two elements, a 4-byte hash, a
    /// canonical integer of at most 8 bytes.
    #[test]
    fn fork_id_rlp_is_strict() {
        let cases: [&[&str]; 8] = [
            &["83000000", "80"],                     // 3-byte hash
            &["8400000000", "80", "0a"],             // a third element
            &["8400000000"],                         // one element
            &["8400000000", "8100"],                 // 0 as a one-byte string
            &["8400000000", "820001"],               // next with a leading zero
            &["84ffffffff", "89ffffffffffffffffff"], // next of 9 bytes
            &["b80400000000", "80"],                 // long form for 4 bytes
            &["c0", "80"],                           // hash is a list
        ];
        for items in cases {
            let payload = hex::decode(items.concat()).unwrap();
            let mut list = vec![0xc0 + payload.len() as u8];
            list.extend(payload);
            assert!(
                alloy_rlp::decode_exact::<ForkId>(&list).is_err(),
                "{items:?}"
            );
        }
    }
}
