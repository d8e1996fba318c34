//! EIP-778 node records in their RLP form.
//!
//! Input `mode || rest`:
//! - mode 0: `rest` is a record (`Enr::decode`, which verifies the
//!   signature); a decoded record must re-encode to exactly `rest` (the
//!   format is canonical), and its text form must parse back to it;
//! - mode 1: `rest` is `seq8 || (klen || key || vlen || value)*`; the pairs
//!   are signed with a fixed key by `EnrBuilder`, and a record the builder
//!   accepts must decode back with the same pairs.
#![no_main]

use devp2p_discover::node::{Enr, Node};
use devp2p_fuzz::{key_b, Cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let via_rlp = devp2p::alloy_rlp::decode_exact::<Enr>(rest).ok();
        let Ok(enr) = Enr::decode(rest) else {
            assert!(via_rlp.is_none());
            return;
        };
        assert_eq!(via_rlp.as_ref(), Some(&enr));
        check(&enr);
        assert_eq!(enr.encode(), rest, "decoded record re-encodes differently");
        return;
    }
    let mut input = Cursor::new(rest);
    let seq = u64::from_be_bytes(std::array::from_fn(|_| input.byte()));
    let mut builder = Enr::builder().seq(seq);
    let mut pairs = Vec::new();
    while !input.is_empty() {
        let klen = usize::from(input.byte() % 16);
        let key = input.take(klen).to_vec();
        let vlen = usize::from(input.byte());
        let value = input.take(vlen).to_vec();
        builder = builder.add_raw(key.clone(), value.clone());
        pairs.push((key, value));
    }
    let Ok(enr) = builder.sign(key_b().secret()) else {
        return;
    };
    check(&enr);
    assert_eq!(enr.seq(), seq);
    assert_eq!(enr.node_id(), key_b().id());
    // The builder keeps the last value set for a key.
    for (i, (key, value)) in pairs.iter().enumerate() {
        if pairs[i + 1..].iter().all(|(k, _)| k != key) {
            assert_eq!(enr.get_raw(key), Some(&value[..]));
        }
    }
});

fn check(enr: &Enr) {
    let again = Enr::decode(&enr.encode()).expect("our own encoding decodes");
    assert_eq!(&again, enr);
    let text = enr.to_string();
    assert_eq!(text.parse::<Enr>().as_ref(), Ok(enr));
    let _ = (
        enr.try_ip4(),
        enr.try_ip6(),
        enr.tcp(),
        enr.udp(),
        enr.tcp6(),
        enr.udp6(),
    );
    let _ = enr.pairs().count();
    if let Ok(node) = Node::from_enr(enr) {
        assert_eq!(node.id, enr.node_id());
    }
}
