//! Disconnect payloads: the list `[reason, …]` or a bare byte, snappy
//! compressed or not.
//!
//! Input `flags || payload`; flag bit 0 says the session uses snappy.
//! `DiscReason::decode` must give a reason or a typed error; a decoded
//! reason must round-trip through its canonical encoding, and through a
//! whole Disconnect frame as we would send it.
#![no_main]

use devp2p::peer::{decode_disconnect, encode_frame, split_frame, DISCONNECT_MSG};
use devp2p::DiscReason;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, payload)) = data.split_first() else {
        return;
    };
    let snappy = flags & 1 == 1;
    let _ = decode_disconnect(payload, snappy);
    if let Ok(reason) = DiscReason::decode(payload) {
        assert_eq!(DiscReason::decode(&reason.encode()), Ok(reason));
        assert_eq!(DiscReason::from_code(reason.code()), reason);
        let frame = encode_frame(DISCONNECT_MSG, &reason.encode(), snappy).expect("encode");
        let (code, body) = split_frame(&frame).expect("our own frame splits");
        assert_eq!(code, DISCONNECT_MSG);
        assert_eq!(decode_disconnect(body, snappy), reason);
    }
});
