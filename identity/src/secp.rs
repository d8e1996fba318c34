//! Signing and public-key derivation on a per-thread context that is
//! randomized once, when the thread first signs.
//!
//! secp256k1 0.33's free functions (`RecoverableSignature::sign_ecdsa_recoverable`,
//! `PublicKey::from_secret_key`) re-randomize the library's global context
//! before every call. That blinding step costs one more fixed-base
//! multiplication and its hashing, which measured as about as much as the
//! signature itself (discv4 signs every packet, RLPx signs and derives an
//! ephemeral key per handshake). go-ethereum's libsecp256k1 context is
//! randomized once at start-up; so is ours, per thread, with 32 bytes from
//! the thread's OS-seeded RNG. Results are identical to the crate's
//! functions (RFC 6979 nonces: the same key and digest give the same
//! signature).

use std::ptr;

use rand::RngExt;
use secp256k1::ecdsa::{RecoverableSignature, Signature};
use secp256k1::ffi::{self, CPtr};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey, SignOnly};

thread_local! {
    static SIGNER: Secp256k1<SignOnly> = {
        let mut ctx = Secp256k1::signing_only();
        let mut seed = [0u8; 32];
        rand::rng().fill(&mut seed[..]);
        ctx.seeded_randomize(&seed);
        ctx
    };
}

/// A recoverable ECDSA signature of a 32-byte digest (RFC 6979 nonce), as
/// `RecoverableSignature::sign_ecdsa_recoverable` makes it.
pub fn sign_recoverable(digest: [u8; 32], key: &SecretKey) -> RecoverableSignature {
    let msg = Message::from_digest(digest);
    SIGNER.with(|ctx| {
        let mut sig = ffi::recovery::RecoverableSignature::new();
        // SAFETY: the context is a valid signing context owned by this
        // thread, and every pointer is to a live value of the type the C
        // function expects (the crate's own wrappers make the same call).
        let ok = unsafe {
            ffi::recovery::secp256k1_ecdsa_sign_recoverable(
                ctx.ctx().as_ptr(),
                &mut sig,
                msg.as_c_ptr(),
                key.as_c_ptr(),
                ffi::secp256k1_nonce_function_rfc6979,
                ptr::null(),
            )
        };
        if ok == 1 {
            RecoverableSignature::from(sig)
        } else {
            // Unreachable for a valid SecretKey (the C library fails only
            // for an invalid key or a nonce function giving up); the
            // crate's function is the reference behaviour.
            RecoverableSignature::sign_ecdsa_recoverable(msg, key)
        }
    })
}

/// A plain ECDSA signature of a 32-byte digest (RFC 6979 nonce, low s), as
/// `secp256k1::ecdsa::sign` makes it.
pub fn sign(digest: [u8; 32], key: &SecretKey) -> Signature {
    let msg = Message::from_digest(digest);
    SIGNER.with(|ctx| {
        // SAFETY: a zeroed output value; the C call below overwrites it.
        let mut sig = unsafe { ffi::Signature::new() };
        // SAFETY: as in `sign_recoverable`.
        let ok = unsafe {
            ffi::secp256k1_ecdsa_sign(
                ctx.ctx().as_ptr(),
                &mut sig,
                msg.as_c_ptr(),
                key.as_c_ptr(),
                ffi::secp256k1_nonce_function_rfc6979,
                ptr::null(),
            )
        };
        if ok == 1 {
            Signature::from(sig)
        } else {
            secp256k1::ecdsa::sign(msg, key)
        }
    })
}

/// The public key of `key`, as `PublicKey::from_secret_key` computes it.
pub fn public_key(key: &SecretKey) -> PublicKey {
    SIGNER.with(|ctx| {
        // SAFETY: a zeroed output value; the C call below overwrites it.
        let mut pk = unsafe { ffi::PublicKey::new() };
        // SAFETY: as in `sign_recoverable`.
        let ok =
            unsafe { ffi::secp256k1_ec_pubkey_create(ctx.ctx().as_ptr(), &mut pk, key.as_c_ptr()) };
        if ok == 1 {
            PublicKey::from(pk)
        } else {
            PublicKey::from_secret_key(key)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keccak256;

    #[test]
    fn same_results_as_the_crate_functions() {
        for i in 0u64..32 {
            let key = SecretKey::from_secret_bytes(keccak256(&i.to_be_bytes())).unwrap();
            let digest = keccak256(&(i + 1000).to_be_bytes());
            assert_eq!(public_key(&key), PublicKey::from_secret_key(&key));
            let ours = sign_recoverable(digest, &key);
            let theirs =
                RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest), &key);
            assert_eq!(ours.serialize_compact(), theirs.serialize_compact());
            assert_eq!(
                sign(digest, &key).serialize_compact(),
                secp256k1::ecdsa::sign(Message::from_digest(digest), &key).serialize_compact()
            );
            assert_eq!(
                ours.recover_ecdsa(Message::from_digest(digest)).unwrap(),
                public_key(&key)
            );
        }
    }

    #[test]
    fn signing_on_many_threads_agrees() {
        let key = SecretKey::from_secret_bytes(keccak256(b"k")).unwrap();
        let digest = keccak256(b"m");
        let here = sign_recoverable(digest, &key).serialize_compact();
        let there: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || sign_recoverable(digest, &key).serialize_compact()))
            .collect();
        for t in there {
            assert_eq!(t.join().unwrap(), here);
        }
    }
}
