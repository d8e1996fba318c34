//! The strict RLP subset node records need: reading one item with every
//! canonical-form rule enforced (so a decoded record re-encodes byte-exact),
//! and writing strings, integers and list headers.
//!
//! Inputs are at most [`MAX_ENR_SIZE`](super::enr::MAX_ENR_SIZE) bytes, so
//! lengths never overflow; bounds are still checked on every read.

use super::enr::EnrError;

/// Largest payload with a one-byte RLP header (RLP spec: 0..=55).
const SHORT_MAX: usize = 55;
/// Largest integer width we decode, in bytes (a u64).
const MAX_UINT_BYTES: usize = 8;

/// One RLP item within a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    /// True for a list, false for a byte string.
    pub is_list: bool,
    /// The payload (string bytes, or the concatenated list items).
    pub payload: &'a [u8],
    /// The whole item, header included.
    pub raw: &'a [u8],
}

/// Reads the first item of `buf`, returning it and the bytes after it.
pub(crate) fn read_item(buf: &[u8]) -> Result<(Item<'_>, &[u8]), EnrError> {
    let first = *buf.first().ok_or(EnrError::Truncated)?;
    let (is_list, header_len, payload_len) = match first {
        0x00..=0x7f => {
            let (raw, rest) = buf.split_at(1);
            let item = Item {
                is_list: false,
                payload: raw,
                raw,
            };
            return Ok((item, rest));
        }
        0x80..=0xb7 => (false, 1, usize::from(first - 0x80)),
        0xb8..=0xbf => {
            let len_of_len = usize::from(first - 0xb7);
            (false, 1 + len_of_len, long_len(buf, len_of_len)?)
        }
        0xc0..=0xf7 => (true, 1, usize::from(first - 0xc0)),
        0xf8..=0xff => {
            let len_of_len = usize::from(first - 0xf7);
            (true, 1 + len_of_len, long_len(buf, len_of_len)?)
        }
    };
    let total = header_len
        .checked_add(payload_len)
        .ok_or(EnrError::Truncated)?;
    if buf.len() < total {
        return Err(EnrError::Truncated);
    }
    let (raw, rest) = buf.split_at(total);
    let payload = &raw[header_len..];
    // A single byte below 0x80 must encode as itself.
    if !is_list && payload_len == 1 && payload[0] < 0x80 {
        return Err(EnrError::NonCanonical);
    }
    Ok((
        Item {
            is_list,
            payload,
            raw,
        },
        rest,
    ))
}

/// Decodes a long-form length of `len_of_len` bytes after the first byte.
fn long_len(buf: &[u8], len_of_len: usize) -> Result<usize, EnrError> {
    let bytes = buf.get(1..1 + len_of_len).ok_or(EnrError::Truncated)?;
    if bytes[0] == 0 {
        return Err(EnrError::NonCanonical);
    }
    if len_of_len > std::mem::size_of::<usize>() {
        // Larger than any buffer: certainly beyond the input.
        return Err(EnrError::Truncated);
    }
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    if len <= SHORT_MAX {
        return Err(EnrError::NonCanonical);
    }
    Ok(len)
}

/// Decodes a canonical unsigned integer of at most 8 bytes (no leading
/// zeros; zero is the empty string).
pub(crate) fn read_u64(item: &Item<'_>) -> Option<u64> {
    if item.is_list || item.payload.len() > MAX_UINT_BYTES {
        return None;
    }
    if item.payload.first() == Some(&0) {
        return None;
    }
    Some(
        item.payload
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    )
}

/// Appends the header of a list whose payload is `len` bytes.
pub(crate) fn push_list_header(out: &mut Vec<u8>, len: usize) {
    push_header(out, 0xc0, len);
}

/// Appends a byte string.
pub(crate) fn push_bytes(out: &mut Vec<u8>, data: &[u8]) {
    if data.len() == 1 && data[0] < 0x80 {
        out.push(data[0]);
    } else {
        push_header(out, 0x80, data.len());
        out.extend_from_slice(data);
    }
}

/// Appends an unsigned integer in canonical form.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = (n.leading_zeros() / 8) as usize;
    push_bytes(out, &bytes[skip..]);
}

fn push_header(out: &mut Vec<u8>, base: u8, len: usize) {
    if len <= SHORT_MAX {
        out.push(base + len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = (len.leading_zeros() / 8) as usize;
        out.push(base + 0x37 + (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_rules() {
        assert!(matches!(
            read_item(&[0x81, 0x05]),
            Err(EnrError::NonCanonical)
        ));
        assert!(matches!(
            read_item(&[0xb8, 0x05, 1, 2, 3, 4, 5]),
            Err(EnrError::NonCanonical)
        ));
        assert!(matches!(
            read_item(&[0xb9, 0x00, 0x40]),
            Err(EnrError::NonCanonical)
        ));
        assert!(matches!(read_item(&[0x83, 1]), Err(EnrError::Truncated)));
        assert!(matches!(
            read_item(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(EnrError::Truncated)
        ));
        assert!(matches!(read_item(&[]), Err(EnrError::Truncated)));
        let (item, rest) = read_item(&[0x82, 0x76, 0x5f, 0xaa]).unwrap();
        assert_eq!(read_u64(&item), Some(0x765f));
        assert_eq!(rest, &[0xaa]);
        let (item, _) = read_item(&[0x82, 0x00, 0x01]).unwrap();
        assert_eq!(read_u64(&item), None, "leading zero");
        let (item, _) = read_item(&[0x00]).unwrap();
        assert_eq!(read_u64(&item), None, "zero must be the empty string");
        let (item, _) = read_item(&[0x80]).unwrap();
        assert_eq!(read_u64(&item), Some(0));
    }

    #[test]
    fn writes_match_the_rlp_crate() {
        for n in [0u64, 1, 0x7f, 0x80, 0xff, 0x100, 30303, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, rlp::encode(&n).to_vec(), "{n}");
        }
        for len in [0usize, 1, 55, 56, 255, 256, 1000] {
            let data = vec![0x90u8; len];
            let mut out = Vec::new();
            push_bytes(&mut out, &data);
            assert_eq!(out, rlp::encode(&data).to_vec(), "{len}");
            let (item, rest) = read_item(&out).unwrap();
            assert!(rest.is_empty() && item.payload == data.as_slice());
        }
    }
}
