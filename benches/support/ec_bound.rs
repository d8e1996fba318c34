//! The EC-operation bound of an RLPx handshake, shared by the `rlpx` bench
//! (both sides on one thread) and the `handshake_flood` bench (the
//! recipient's side, what a server pays per inbound session).
#![allow(dead_code)]

use std::hint::black_box;

use devp2p::node::{node_key_from_rng, secp};
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{ecdh, Message, PublicKey, SecretKey};

/// Keys cycled through by the bound (our choice: enough that no result is
/// a cache hit, few enough to stay in L1/L2).
const KEYS: usize = 64;

/// Keys, public keys and signatures the bound works on, and a cursor.
pub struct EcBound {
    secrets: Vec<SecretKey>,
    publics: Vec<PublicKey>,
    /// `sigs[i]` signs the digest `[i as u8 + 1; 32]`.
    sigs: Vec<RecoverableSignature>,
    i: usize,
}

impl EcBound {
    /// Inputs from a fixed seed.
    pub fn new() -> Self {
        let mut rng = StdRng::seed_from_u64(99);
        let secrets: Vec<SecretKey> = (0..KEYS).map(|_| node_key_from_rng(&mut rng)).collect();
        let publics = secrets.iter().map(PublicKey::from_secret_key).collect();
        let sigs = secrets
            .iter()
            .enumerate()
            .map(|(i, k)| secp::sign_recoverable([i as u8 + 1; 32], k))
            .collect();
        EcBound {
            secrets,
            publics,
            sigs,
            i: 0,
        }
    }

    fn next(&mut self) -> usize {
        self.i = (self.i + 1) % self.secrets.len();
        self.i
    }

    /// The EC operations of one handshake, both sides: per side 2 key
    /// generations + 4 ECDH + 1 sign (initiator) or 1 recover (recipient),
    /// through `devp2p::node::secp` (a per-thread context randomized once),
    /// as the handshake uses it.
    pub fn both_sides(&mut self) {
        self.ops(4, 8);
        let j = self.next();
        let digest = [j as u8 + 1; 32];
        let k = self.next();
        let sig = secp::sign_recoverable(digest, &self.secrets[k]);
        black_box(sig.recover_ecdsa(Message::from_digest(digest)).unwrap());
    }

    /// The recipient's EC operations of one handshake: 2 key generations
    /// (its ephemeral public key, the ECIES key of the ack), 4 ECDH (ECIES
    /// decryption of the auth, the static shared secret, ECIES encryption
    /// of the ack, the ephemeral shared secret) and 1 recovery (the
    /// initiator's ephemeral key from the auth signature).
    pub fn recipient_side(&mut self) {
        self.ops(2, 4);
        let j = self.next();
        let digest = [j as u8 + 1; 32];
        black_box(
            self.sigs[j]
                .recover_ecdsa(Message::from_digest(digest))
                .unwrap(),
        );
    }

    fn ops(&mut self, keygens: usize, ecdhs: usize) {
        let n = self.secrets.len();
        for _ in 0..keygens {
            let j = self.next();
            black_box(secp::public_key(&self.secrets[j]));
        }
        for _ in 0..ecdhs {
            let j = self.next();
            black_box(ecdh::shared_secret_point(
                &self.publics[j],
                &self.secrets[(j + 1) % n],
            ));
        }
    }
}
