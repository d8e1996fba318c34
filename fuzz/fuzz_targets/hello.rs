//! The base protocol's Hello: `Hello::decode` on the payload, and the frame
//! split in front of it (`rlp(code) || payload`), as `exchange_hello` reads.
//!
//! A decoded Hello must survive decode∘encode∘decode unchanged (decoding is
//! lenient: lossy UTF-8, extra elements, oversized ports), unless our own
//! encoding outgrows `MAX_HELLO_SIZE` (invalid UTF-8 expands to U+FFFD).
#![no_main]

use devp2p::peer::{split_frame, Hello, MAX_HELLO_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok((_, payload)) = split_frame(data) {
        check(payload);
    }
});

fn check(payload: &[u8]) {
    let Ok(hello) = Hello::decode(payload) else {
        return;
    };
    assert!(!hello.id.is_zero());
    let encoded = devp2p::alloy_rlp::encode(&hello);
    if encoded.len() <= MAX_HELLO_SIZE {
        assert_eq!(Hello::decode(&encoded).as_ref().ok(), Some(&hello));
    }
}
