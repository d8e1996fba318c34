//! EIP-778 records in their text form, `enr:<base64url>`.
//!
//! A parsed record must print back to exactly the input (unpadded base64url
//! with canonical trailing bits is the only accepted form).
#![no_main]

use devp2p_discover::node::Enr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(enr) = text.parse::<Enr>() else {
        return;
    };
    assert_eq!(enr.to_string(), text, "non-canonical text form accepted");
    assert_eq!(Enr::decode(&enr.encode()).as_ref(), Ok(&enr));
});
