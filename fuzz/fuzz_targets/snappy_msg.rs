//! A snappy-compressed message as the peer reader gets it:
//! `split_frame` (message code), then `decompress`, whose declared length
//! is checked against `MAX_MSG_SIZE` before anything is allocated.
//!
//! A payload that decompresses must round-trip through `encode_frame`
//! (compressed) and back, code and bytes.
#![no_main]

use devp2p::peer::{decompress, encode_frame, split_frame};
use devp2p::MAX_MSG_SIZE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decompress(data);
    let Ok((code, raw)) = split_frame(data) else {
        return;
    };
    let Ok(plain) = decompress(raw) else {
        return;
    };
    assert!(plain.len() <= MAX_MSG_SIZE);
    let frame = encode_frame(code, &plain, true).expect("encode");
    let (code2, raw2) = split_frame(&frame).expect("our own frame splits");
    assert_eq!(code2, code);
    assert_eq!(decompress(raw2).expect("our own compression"), plain);
});
