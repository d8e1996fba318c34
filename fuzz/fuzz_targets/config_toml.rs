//! The TOML server config (`devp2p_cli::config_file::parse`).
//!
//! A config that parses must serialise back to TOML that parses to a config
//! serialising the same way (serialise∘parse is idempotent).
#![no_main]

use devp2p_cli::config_file::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse(text) else {
        return;
    };
    let Ok(printed) = toml::to_string(&config) else {
        return;
    };
    let again = parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
    assert_eq!(toml::to_string(&again).ok().as_deref(), Some(&printed[..]));
});
