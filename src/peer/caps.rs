//! Capability matching, exactly as go-ethereum's `matchProtocols`.

use crate::protocol::{Cap, Protocol};

/// Number of message codes reserved for the base protocol; sub-protocol
/// offsets start here (go-ethereum `baseProtocolLength`).
pub const BASE_PROTOCOL_LENGTH: u64 = 16;

/// One negotiated sub-protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the protocol in the local list.
    pub index: usize,
    /// Its capability.
    pub cap: Cap,
    /// First absolute message code.
    pub offset: u64,
    /// Number of codes.
    pub length: u64,
}

/// Matches our `protocols` against the remote's `caps`: for each name the
/// highest version both sides list wins; offsets are assigned from
/// [`BASE_PROTOCOL_LENGTH`] in name order. Result sorted by offset.
pub fn match_protocols(protocols: &[Protocol], caps: &[Cap]) -> Vec<Negotiated> {
    let mut sorted: Vec<&Cap> = caps.iter().collect();
    sorted.sort();
    let mut result: Vec<Negotiated> = Vec::new();
    let mut offset = BASE_PROTOCOL_LENGTH;
    for cap in sorted {
        let Some(index) = protocols
            .iter()
            .position(|p| p.name == cap.name && p.version == cap.version)
        else {
            continue;
        };
        // Caps are sorted by (name, version): a later match of the same name is
        // a higher version and replaces the earlier one, reclaiming its codes.
        if let Some(last) = result.last() {
            if last.cap.name == cap.name {
                offset -= last.length;
                result.pop();
            }
        }
        let length = protocols[index].length;
        result.push(Negotiated {
            index,
            cap: cap.clone(),
            offset,
            length,
        });
        offset = offset.saturating_add(length);
    }
    result
}

/// The running sub-protocol owning absolute `code`, if any.
pub(crate) fn find_lane(running: &[super::handle::RunningProto], code: u64) -> Option<usize> {
    running
        .iter()
        .position(|n| code >= n.offset && code - n.offset < n.length)
}
