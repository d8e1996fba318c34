//! Conversions between our identity types and the `discv5`/`enr` crates'.
//!
//! Keys cross as their 32 secret bytes, records as their RLP bytes: our
//! `secp256k1` 0.33 and `discv5`'s `k256` never meet, and a record signed by
//! one verifies in the other (same bytes, same signature).

use secp256k1::SecretKey;

use super::error::Discv5Error;
use crate::node::Enr;

/// The discv5 crate's record type (`enr::Enr<CombinedKey>`).
pub type Discv5Enr = discv5::Enr;

/// Our node key as the discv5 crate's signing key.
pub fn combined_key(key: &SecretKey) -> Result<enr::CombinedKey, Discv5Error> {
    let mut bytes = key.to_secret_bytes();
    enr::CombinedKey::secp256k1_from_bytes(&mut bytes).map_err(|e| Discv5Error::Key(e.to_string()))
}

/// Our record as the discv5 crate's (decoded from its RLP, so the signature
/// and sequence number are unchanged).
pub fn to_discv5_enr(record: &Enr) -> Result<Discv5Enr, Discv5Error> {
    let mut bytes = record.as_bytes();
    <Discv5Enr as alloy_rlp::Decodable>::decode(&mut bytes)
        .map_err(|e| Discv5Error::Record(e.to_string()))
}

/// A discv5 crate record as ours (checked by our strict decoder: `v4`
/// identity scheme, size limit, canonical RLP).
pub fn from_discv5_enr(record: &Discv5Enr) -> Result<Enr, Discv5Error> {
    Ok(Enr::decode(&alloy_rlp::encode(record))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn records_and_keys_round_trip() {
        let key = SecretKey::from_secret_bytes([7u8; 32]).unwrap();
        let ours = Enr::builder()
            .seq(42)
            .ip4(Ipv4Addr::LOCALHOST)
            .udp(30303)
            .add_raw("eth", crate::alloy_rlp::encode(b"x".as_slice()))
            .sign(&key)
            .unwrap();
        let theirs = to_discv5_enr(&ours).unwrap();
        assert_eq!(theirs.seq(), 42);
        assert_eq!(theirs.udp4(), Some(30303));
        let ck = combined_key(&key).unwrap();
        use enr::EnrKey;
        assert_eq!(theirs.public_key(), ck.public());
        assert_eq!(from_discv5_enr(&theirs).unwrap(), ours);
        assert_eq!(theirs.to_base64(), ours.to_string());
    }
}
