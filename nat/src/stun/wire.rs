//! The part of STUN (RFC 5389) a client needs to learn its external address:
//! the Binding request, and the Binding response's XOR-MAPPED-ADDRESS.
//!
//! Written here rather than taken from a crate: the subset is one fixed
//! 20-byte request and one attribute walk over a bounded datagram, while the
//! STUN crates bring whole TURN/ICE codecs and their own byte-codec
//! frameworks; here every malformed reply maps to a [`StunError`] naming what
//! was wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes of a STUN message header (RFC 5389 section 6).
pub(crate) const HEADER_LEN: usize = 20;

/// The magic cookie every RFC 5389 message carries (section 6).
pub(crate) const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Bytes of a transaction id (section 6: 96 bits).
pub(crate) const TRANSACTION_ID_LEN: usize = 12;

/// Message type of a Binding request (method 0x001, class request).
pub(crate) const BINDING_REQUEST: u16 = 0x0001;
/// Message type of a Binding success response.
pub(crate) const BINDING_SUCCESS: u16 = 0x0101;
/// Message type of a Binding error response.
pub(crate) const BINDING_ERROR: u16 = 0x0111;

/// Attribute XOR-MAPPED-ADDRESS (section 15.2).
pub(crate) const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Attribute ERROR-CODE (section 15.6).
pub(crate) const ATTR_ERROR_CODE: u16 = 0x0009;

/// Address family values of (XOR-)MAPPED-ADDRESS (section 15.1).
const FAMILY_V4: u8 = 0x01;
const FAMILY_V6: u8 = 0x02;

/// Largest STUN message we read: RFC 5389 section 7.1 asks for messages
/// that fit the path MTU (548 bytes when unknown for IPv4); 1,500 covers an
/// Ethernet-sized reply with room to spare.
pub(crate) const MAX_MESSAGE_LEN: usize = 1500;

/// Longest error reason phrase copied into an error (section 15.6 allows
/// 763 bytes; ours is a bound on log text).
const MAX_REASON_LEN: usize = 128;

/// A STUN transaction id.
pub(crate) type TransactionId = [u8; TRANSACTION_ID_LEN];

/// What is wrong with a STUN reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than a header, or its length field disagrees with its size.
    #[error("truncated STUN message: {0}")]
    Truncated(&'static str),
    /// Not an RFC 5389 message (no magic cookie, or the top bits set).
    #[error("not a STUN message: {0}")]
    NotStun(&'static str),
    /// The reply belongs to another transaction.
    #[error("STUN reply for another transaction")]
    WrongTransaction,
    /// A message type other than a Binding response.
    #[error("unexpected STUN message type {0:#06x}")]
    UnexpectedType(u16),
    /// The server answered with a Binding error response.
    #[error("STUN server error {code}: {reason}")]
    ServerError {
        /// The error code (class × 100 + number, e.g. 400).
        code: u16,
        /// The reason phrase (truncated).
        reason: String,
    },
    /// A success response without XOR-MAPPED-ADDRESS.
    #[error("STUN response has no XOR-MAPPED-ADDRESS")]
    NoMappedAddress,
    /// An XOR-MAPPED-ADDRESS of the wrong size or an unknown family.
    #[error("bad XOR-MAPPED-ADDRESS: {0}")]
    BadAddress(&'static str),
}

/// A Binding request with the given transaction id (no attributes).
pub(crate) fn binding_request(id: &TransactionId) -> [u8; HEADER_LEN] {
    let mut msg = [0u8; HEADER_LEN];
    msg[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Message length (bytes after the header): 0.
    msg[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    msg[8..].copy_from_slice(id);
    msg
}

/// Reads the mapped address out of a Binding response to transaction `id`.
pub(crate) fn parse_binding_response(
    msg: &[u8],
    id: &TransactionId,
) -> Result<SocketAddr, StunError> {
    if msg.len() < HEADER_LEN {
        return Err(StunError::Truncated("shorter than a header"));
    }
    let msg_type = u16::from_be_bytes([msg[0], msg[1]]);
    if msg_type & 0xC000 != 0 {
        return Err(StunError::NotStun("top two bits set"));
    }
    let body_len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    if u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) != MAGIC_COOKIE {
        return Err(StunError::NotStun("no magic cookie"));
    }
    if msg[8..HEADER_LEN] != id[..] {
        return Err(StunError::WrongTransaction);
    }
    if body_len % 4 != 0 {
        return Err(StunError::Truncated("length not a multiple of 4"));
    }
    let body = msg
        .get(HEADER_LEN..HEADER_LEN + body_len)
        .ok_or(StunError::Truncated("length field beyond the datagram"))?;
    match msg_type {
        BINDING_SUCCESS => {
            let value =
                find_attribute(body, ATTR_XOR_MAPPED_ADDRESS)?.ok_or(StunError::NoMappedAddress)?;
            xor_mapped_address(value, id)
        }
        BINDING_ERROR => Err(server_error(find_attribute(body, ATTR_ERROR_CODE)?)),
        other => Err(StunError::UnexpectedType(other)),
    }
}

/// The value of the first attribute of type `want` in `body`, walking every
/// attribute's type-length-value header (values are padded to 4 bytes).
fn find_attribute(mut body: &[u8], want: u16) -> Result<Option<&[u8]>, StunError> {
    while !body.is_empty() {
        if body.len() < 4 {
            return Err(StunError::Truncated("attribute header"));
        }
        let kind = u16::from_be_bytes([body[0], body[1]]);
        let len = usize::from(u16::from_be_bytes([body[2], body[3]]));
        let padded = len.div_ceil(4) * 4;
        let value = body
            .get(4..4 + len)
            .ok_or(StunError::Truncated("attribute value"))?;
        if kind == want {
            return Ok(Some(value));
        }
        body = body
            .get(4 + padded..)
            .ok_or(StunError::Truncated("attribute padding"))?;
    }
    Ok(None)
}

fn xor_mapped_address(value: &[u8], id: &TransactionId) -> Result<SocketAddr, StunError> {
    if value.len() < 4 {
        return Err(StunError::BadAddress("shorter than its header"));
    }
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([value[2] ^ cookie[0], value[3] ^ cookie[1]]);
    let addr = &value[4..];
    let ip = match value[1] {
        FAMILY_V4 => {
            let raw: [u8; 4] = addr
                .try_into()
                .map_err(|_| StunError::BadAddress("IPv4 address not 4 bytes"))?;
            let mut ip = [0u8; 4];
            for (i, b) in ip.iter_mut().enumerate() {
                *b = raw[i] ^ cookie[i];
            }
            IpAddr::V4(Ipv4Addr::from(ip))
        }
        FAMILY_V6 => {
            let raw: [u8; 16] = addr
                .try_into()
                .map_err(|_| StunError::BadAddress("IPv6 address not 16 bytes"))?;
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&cookie);
            key[4..].copy_from_slice(id);
            let mut ip = [0u8; 16];
            for (i, b) in ip.iter_mut().enumerate() {
                *b = raw[i] ^ key[i];
            }
            IpAddr::V6(Ipv6Addr::from(ip))
        }
        _ => return Err(StunError::BadAddress("unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

fn server_error(value: Option<&[u8]>) -> StunError {
    match value {
        Some(v) if v.len() >= 4 => {
            let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
            let phrase = &v[4..v.len().min(4 + MAX_REASON_LEN)];
            StunError::ServerError {
                code,
                reason: String::from_utf8_lossy(phrase).into_owned(),
            }
        }
        _ => StunError::ServerError {
            code: 0,
            reason: "no ERROR-CODE attribute".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    /// RFC 5769 section 2.2's sample IPv4 response: SOFTWARE, XOR-MAPPED-ADDRESS
    /// 192.0.2.1:32853, then MESSAGE-INTEGRITY and FINGERPRINT (which a client
    /// that sends no credentials does not check).
    const RFC5769_V4: &str = "0101003c2112a442b7e7a701bc34d686fa87dfae\
        8022000b7465737420766563746f7220\
        002000080001a147e112a643\
        000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7\
        80280004c07d4c96";

    /// RFC 5769 section 2.3's sample IPv6 response, mapped address
    /// [2001:db8:1234:5678:11:2233:4455:6677]:32853 (same attributes).
    const RFC5769_V6: &str = "010100482112a442b7e7a701bc34d686fa87dfae\
        8022000b7465737420766563746f7220\
        002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9\
        00080014a382954e4be67bf11784c97c8292c275bfe3ed41\
        80280004c8fb0b4c";

    #[test]
    fn request_layout() {
        let req = binding_request(&ID);
        assert_eq!(hex::encode(req), "000100002112a442b7e7a701bc34d686fa87dfae");
    }

    #[test]
    fn rfc5769_sample_responses() {
        let v4 = hex::decode(RFC5769_V4).unwrap();
        assert_eq!(
            parse_binding_response(&v4, &ID).unwrap(),
            "192.0.2.1:32853".parse().unwrap()
        );
        let v6 = hex::decode(RFC5769_V6).unwrap();
        assert_eq!(
            parse_binding_response(&v6, &ID).unwrap(),
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap()
        );
    }

    #[test]
    fn bad_replies_are_typed() {
        let good = hex::decode(RFC5769_V4).unwrap();
        let mut other_id = ID;
        other_id[0] ^= 1;
        assert_eq!(
            parse_binding_response(&good, &other_id),
            Err(StunError::WrongTransaction)
        );
        assert!(matches!(
            parse_binding_response(&good[..19], &ID),
            Err(StunError::Truncated(_))
        ));
        // Cut inside the attributes: the length field runs past the end.
        assert!(matches!(
            parse_binding_response(&good[..40], &ID),
            Err(StunError::Truncated(_))
        ));
        // An attribute whose length runs past the body.
        let mut bad_attr = good.clone();
        bad_attr[22..24].copy_from_slice(&0x00ffu16.to_be_bytes());
        assert!(matches!(
            parse_binding_response(&bad_attr, &ID),
            Err(StunError::Truncated(_))
        ));
        // Without XOR-MAPPED-ADDRESS (its type renamed to an unknown one).
        let mut no_addr = good.clone();
        no_addr[36..38].copy_from_slice(&0x7777u16.to_be_bytes());
        assert_eq!(
            parse_binding_response(&no_addr, &ID),
            Err(StunError::NoMappedAddress)
        );
        let mut no_cookie = good.clone();
        no_cookie[4] = 0;
        assert!(matches!(
            parse_binding_response(&no_cookie, &ID),
            Err(StunError::NotStun(_))
        ));
        let mut family = good.clone();
        family[41] = 7;
        assert!(matches!(
            parse_binding_response(&family, &ID),
            Err(StunError::BadAddress(_))
        ));
        let mut request = good;
        request[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
        assert_eq!(
            parse_binding_response(&request, &ID),
            Err(StunError::UnexpectedType(BINDING_REQUEST))
        );
    }

    #[test]
    fn error_response_carries_code_and_reason() {
        let mut msg = Vec::new();
        let reason = b"Bad Request";
        let value_len = 4 + reason.len(); // 15, padded to 16
        msg.extend_from_slice(&BINDING_ERROR.to_be_bytes());
        msg.extend_from_slice(&((4 + 16) as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        msg.extend_from_slice(&ID);
        msg.extend_from_slice(&ATTR_ERROR_CODE.to_be_bytes());
        msg.extend_from_slice(&(value_len as u16).to_be_bytes());
        msg.extend_from_slice(&[0, 0, 4, 0]);
        msg.extend_from_slice(reason);
        msg.push(0);
        assert_eq!(
            parse_binding_response(&msg, &ID),
            Err(StunError::ServerError {
                code: 400,
                reason: "Bad Request".into()
            })
        );
    }

    proptest! {
        #[test]
        fn random_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_binding_response(&bytes, &ID);
        }

        #[test]
        fn random_bodies_after_a_valid_header_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut msg = Vec::new();
            msg.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
            msg.extend_from_slice(&((body.len() / 4 * 4) as u16).to_be_bytes());
            msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            msg.extend_from_slice(&ID);
            msg.extend_from_slice(&body);
            let _ = parse_binding_response(&msg, &ID);
        }
    }
}
