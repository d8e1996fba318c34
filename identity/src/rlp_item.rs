//! Strict RLP item views on top of `alloy_rlp`, for the hand-written decoders
//! of the stack (discv4 packets, RLPx auth/ack bodies, Hello, Disconnect,
//! node records) that must accept EIP-8 forward-compatible input: extra list
//! elements after the known ones, and (where the format allows) padding after
//! the top-level list.
//!
//! Every header is read by [`alloy_rlp::Header::decode`], so the canonical
//! form is enforced everywhere: a single byte below 0x80 must encode as
//! itself, lengths use the short form below 56 bytes and have no leading zero
//! bytes, and a declared length beyond the input is an error before anything
//! is copied. Integers decoded with [`Item::decode`] or [`List::next_decode`]
//! go through `alloy_rlp`'s `Decodable`, which rejects leading zero bytes.
//!
//! A [`List`] reads its elements lazily, one at a time: elements after the
//! last one a decoder asks for are never looked at (EIP-8: "ignore extra
//! list elements").
//!
//! ```
//! use devp2p_identity::rlp_item::{encode_list_with, Item};
//! use alloy_rlp::Encodable;
//!
//! let mut buf = Vec::new();
//! encode_list_with(&mut buf, |out| {
//!     7u64.encode(out);
//!     "future field".encode(out);
//! });
//! let mut list = Item::exact(&buf)?.list()?;
//! assert_eq!(list.next_decode::<u64>()?, 7);
//! // The second element is not read.
//! assert!(Item::exact(&[0x81, 0x05]).is_err(), "0x05 must encode as itself");
//! # Ok::<(), alloy_rlp::Error>(())
//! ```

use alloy_rlp::{Decodable, Error, Header};

/// Longest RLP header, in bytes: one prefix byte plus up to 8 length bytes
/// (RLP spec; lengths are at most 2^64 − 1).
pub const MAX_HEADER_LEN: usize = 9;

/// One RLP item within a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// True for a list, false for a byte string.
    pub is_list: bool,
    /// The payload: the string's bytes, or the concatenated list elements.
    pub payload: &'a [u8],
    /// The whole item, header included.
    pub raw: &'a [u8],
}

impl<'a> Item<'a> {
    /// Reads the first item of `buf`, returning it and the bytes after it.
    pub fn read(buf: &'a [u8]) -> Result<(Item<'a>, &'a [u8]), Error> {
        let mut after_header = buf;
        let header = Header::decode(&mut after_header)?;
        let header_len = buf.len() - after_header.len();
        // `Header::decode` checked that the payload fits in `buf`.
        let (raw, rest) = buf.split_at(header_len + header.payload_length);
        let item = Item {
            is_list: header.list,
            payload: &raw[header_len..],
            raw,
        };
        Ok((item, rest))
    }

    /// The first item of `buf`, ignoring whatever follows it (EIP-8 padding
    /// after a packet body).
    pub fn first(buf: &'a [u8]) -> Result<Item<'a>, Error> {
        Item::read(buf).map(|(item, _)| item)
    }

    /// The item that is exactly `buf`: bytes after it are an error
    /// ([`Error::UnexpectedLength`], as `alloy_rlp::decode_exact`).
    pub fn exact(buf: &'a [u8]) -> Result<Item<'a>, Error> {
        match Item::read(buf)? {
            (item, []) => Ok(item),
            _ => Err(Error::UnexpectedLength),
        }
    }

    /// The bytes of a string item ([`Error::UnexpectedList`] for a list).
    pub fn bytes(&self) -> Result<&'a [u8], Error> {
        if self.is_list {
            return Err(Error::UnexpectedList);
        }
        Ok(self.payload)
    }

    /// The elements of a list item ([`Error::UnexpectedString`] for a string).
    pub fn list(&self) -> Result<List<'a>, Error> {
        if !self.is_list {
            return Err(Error::UnexpectedString);
        }
        Ok(List { rest: self.payload })
    }

    /// Decodes the item as `T`; the decoder must consume all of it.
    pub fn decode<T: Decodable>(&self) -> Result<T, Error> {
        alloy_rlp::decode_exact(self.raw)
    }
}

/// The elements of a list, read one at a time from the front.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    rest: &'a [u8],
}

impl<'a> List<'a> {
    /// The next element; [`Error::InputTooShort`] when the list has no more.
    pub fn next_item(&mut self) -> Result<Item<'a>, Error> {
        let (item, rest) = Item::read(self.rest)?;
        self.rest = rest;
        Ok(item)
    }

    /// The next element, decoded as `T`.
    pub fn next_decode<T: Decodable>(&mut self) -> Result<T, Error> {
        self.next_item()?.decode()
    }

    /// The bytes of the next element, which must be a string.
    pub fn next_bytes(&mut self) -> Result<&'a [u8], Error> {
        self.next_item()?.bytes()
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The elements not read yet, as raw bytes.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for List<'a> {
    type Item = Result<Item<'a>, Error>;

    /// The next element, `None` at the end of the list. After an error the
    /// iterator is exhausted (a malformed element hides the rest).
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let next = self.next_item();
        if next.is_err() {
            self.rest = &[];
        }
        Some(next)
    }
}

/// Appends an RLP list whose payload `f` appends to `out`: the header is
/// inserted in front once the payload length is known.
pub fn encode_list_with(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    f(out);
    let header = Header {
        list: true,
        payload_length: out.len() - start,
    };
    let mut buf = [0u8; MAX_HEADER_LEN];
    let mut free = &mut buf[..];
    header.encode(&mut free);
    let header_len = MAX_HEADER_LEN - free.len();
    out.splice(start..start, buf[..header_len].iter().copied());
}

/// Appends the header of a list whose payload is `payload_length` bytes.
pub fn encode_list_header(out: &mut Vec<u8>, payload_length: usize) {
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
}

/// The RLP list of already encoded items.
pub fn list_of_raw(items: &[&[u8]]) -> Vec<u8> {
    let payload_length = items.iter().map(|i| i.len()).sum();
    let mut out = Vec::with_capacity(MAX_HEADER_LEN + payload_length);
    encode_list_header(&mut out, payload_length);
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_rlp::Encodable;

    #[test]
    fn canonical_rules() {
        assert_eq!(
            Item::read(&[0x81, 0x05]),
            Err(Error::NonCanonicalSingleByte)
        );
        assert_eq!(
            Item::read(&[0xb8, 0x05, 1, 2, 3, 4, 5]),
            Err(Error::NonCanonicalSize)
        );
        assert_eq!(Item::read(&[0xb9, 0x00, 0x40]), Err(Error::LeadingZero));
        assert_eq!(Item::read(&[0x83, 1]), Err(Error::InputTooShort));
        assert_eq!(Item::read(&[0xff; 9]), Err(Error::InputTooShort));
        assert_eq!(Item::read(&[]), Err(Error::InputTooShort));
        let (item, rest) = Item::read(&[0x82, 0x76, 0x5f, 0xaa]).unwrap();
        assert_eq!(item.decode::<u64>(), Ok(0x765f));
        assert_eq!(rest, &[0xaa]);
        assert_eq!(
            Item::exact(&[0x82, 0x76, 0x5f, 0xaa]),
            Err(Error::UnexpectedLength)
        );
        let item = Item::exact(&[0x82, 0x00, 0x01]).unwrap();
        assert_eq!(item.decode::<u64>(), Err(Error::LeadingZero));
        assert_eq!(
            Item::exact(&[0x00]).unwrap().decode::<u64>(),
            Err(Error::LeadingZero)
        );
        assert_eq!(Item::exact(&[0x80]).unwrap().decode::<u64>(), Ok(0));
        let single = Item::exact(&[0x05]).unwrap();
        assert_eq!((single.payload, single.raw), (&[5u8][..], &[5u8][..]));
    }

    #[test]
    fn lists_are_read_lazily() {
        // [1, "ab", <truncated>]: the first two elements are fine.
        let buf = [0xc5, 0x01, 0x82, b'a', b'b', 0x83];
        let mut list = Item::exact(&buf).unwrap().list().unwrap();
        assert_eq!(list.next_decode::<u8>(), Ok(1));
        assert_eq!(list.next_bytes(), Ok(&b"ab"[..]));
        assert_eq!(list.next_item(), Err(Error::InputTooShort));
        let all: Vec<_> = Item::exact(&buf).unwrap().list().unwrap().collect();
        assert_eq!(all.len(), 3);
        assert!(all[2].is_err());
        assert_eq!(
            Item::exact(&[0x80]).unwrap().list().err(),
            Some(Error::UnexpectedString)
        );
        assert_eq!(
            Item::exact(&[0xc0]).unwrap().bytes(),
            Err(Error::UnexpectedList)
        );
    }

    #[test]
    fn list_encoders_match_alloy() {
        for len in [0usize, 1, 55, 56, 255, 256, 70_000] {
            let items: Vec<u8> = (0..len).map(|i| (i % 0x70) as u8 + 1).collect();
            let want = alloy_rlp::encode(&items);
            let mut out = vec![0xee];
            encode_list_with(&mut out, |o| items.iter().for_each(|i| i.encode(o)));
            assert_eq!(out[1..], want[..], "{len}");
            let raw: Vec<Vec<u8>> = items.iter().map(alloy_rlp::encode).collect();
            let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
            assert_eq!(list_of_raw(&refs), want, "{len}");
        }
    }
}
