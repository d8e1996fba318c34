//! Our chain: the Status we send, and the checks a remote Status must pass.

use super::forkid::{ForkId, ForkSchedule};
use super::handshake::HandshakeError;
use super::status::{Head, HexHash, Status, StatusError, ETH68, ETH69};

/// What we tell peers about our chain. This example has no blocks beyond
/// genesis: its head is the genesis block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Network id.
    pub network_id: u64,
    /// Genesis timestamp (our head's time, for the fork id).
    pub genesis_time: u64,
    /// Genesis total difficulty (the TD of our head, for eth/68). 0 for a
    /// chain merged at genesis; 17179869184 (2^34) for mainnet.
    pub genesis_difficulty: u128,
    /// Genesis hash and forks.
    pub forks: ForkSchedule,
}

impl Chain {
    /// Our fork id (head = genesis).
    pub fn fork_id(&self) -> ForkId {
        self.forks.fork_id(0, self.genesis_time)
    }

    /// Our Status for `eth/version`.
    pub fn status(&self, version: u32) -> Result<Status, StatusError> {
        let genesis = self.forks.genesis;
        let head = match version {
            ETH68 => Head::TotalDifficulty {
                td: self.genesis_difficulty,
                hash: genesis,
            },
            ETH69 => Head::BlockRange {
                earliest: 0,
                latest: 0,
                latest_hash: genesis,
            },
            v => return Err(StatusError::UnsupportedVersion(v)),
        };
        Ok(Status {
            version,
            network_id: self.network_id,
            genesis,
            fork_id: self.fork_id(),
            head,
        })
    }

    /// Checks a remote Status received on `eth/version` as go-ethereum
    /// checks ours (eth/protocols/eth/handshake.go `readStatus`).
    pub fn check(&self, version: u32, remote: &Status) -> Result<(), HandshakeError> {
        if remote.version != version {
            return Err(HandshakeError::VersionMismatch {
                remote: remote.version,
                negotiated: version,
            });
        }
        if remote.network_id != self.network_id {
            return Err(HandshakeError::NetworkIdMismatch {
                remote: remote.network_id,
                ours: self.network_id,
            });
        }
        if remote.genesis != self.forks.genesis {
            return Err(HandshakeError::GenesisMismatch {
                remote: HexHash(remote.genesis),
                ours: HexHash(self.forks.genesis),
            });
        }
        if let Err(reason) = self.forks.validate(0, self.genesis_time, remote.fork_id) {
            return Err(HandshakeError::ForkIdRejected {
                remote: remote.fork_id,
                ours: self.fork_id(),
                reason,
            });
        }
        if let Head::BlockRange {
            earliest,
            latest,
            latest_hash,
        } = remote.head
        {
            if earliest > latest {
                return Err(HandshakeError::BadBlockRange("earliest > latest"));
            }
            if latest_hash == [0; 32] {
                return Err(HandshakeError::BadBlockRange("zero latest hash"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::forkid::crc32;
    use super::super::forkid::tests::id;
    use super::*;

    /// The test chain: network 1337, genesis hash 0x0707…, forks at genesis
    /// (dropped) and one time fork in 2100.
    pub fn chain() -> Chain {
        Chain {
            network_id: 1337,
            genesis_time: 0,
            genesis_difficulty: 0,
            forks: ForkSchedule::new([7; 32], 0, &[0, 0], &[0, 0, 4_102_444_800]),
        }
    }

    #[test]
    fn genesis_forks_are_not_forks() {
        let c = chain();
        assert!(c.forks.by_block.is_empty());
        assert_eq!(c.forks.by_time, [4_102_444_800]);
        assert_eq!(c.fork_id(), id(crc32(&[7; 32]), 4_102_444_800));
    }

    #[test]
    fn checks_name_what_differs() {
        let c = chain();
        let mut s = c.status(ETH69).unwrap();
        s.network_id = 1;
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::NetworkIdMismatch {
                remote: 1,
                ours: 1337
            })
        ));
        let mut s = c.status(ETH69).unwrap();
        s.genesis = [8; 32];
        let e = c.check(ETH69, &s).unwrap_err();
        assert!(e.to_string().contains(&hex::encode([8u8; 32])), "{e}");
        let mut s = c.status(ETH69).unwrap();
        s.fork_id = id(0xdeadbeef, 0);
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::ForkIdRejected { .. })
        ));
        let mut s = c.status(ETH69).unwrap();
        s.head = Head::BlockRange {
            earliest: 2,
            latest: 1,
            latest_hash: [1; 32],
        };
        assert!(matches!(
            c.check(ETH69, &s),
            Err(HandshakeError::BadBlockRange(_))
        ));
        assert!(matches!(
            c.check(ETH68, &c.status(ETH69).unwrap()),
            Err(HandshakeError::VersionMismatch {
                remote: 69,
                negotiated: 68
            })
        ));
    }
}
