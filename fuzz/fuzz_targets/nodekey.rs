//! Node key files (go-ethereum's `nodekey`: 64 hex characters, optional
//! trailing newline).
//!
//! Input `mode || text`: mode 0 parses the text (`parse_node_key`); mode 1
//! writes it to a file and loads it (`load_node_key`: size bound, UTF-8,
//! then the same parse). A parsed key must print back to the input's hex,
//! lowercased, and both paths must agree.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use devp2p_discover::node::{load_node_key, node_key_to_hex, parse_node_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let parsed = std::str::from_utf8(rest).ok().map(parse_node_key);
    if let Some(Ok(key)) = &parsed {
        let text = std::str::from_utf8(rest).expect("checked");
        let body = text.trim_end_matches(['\r', '\n']);
        assert_eq!(node_key_to_hex(key), body.to_ascii_lowercase());
        assert_eq!(parse_node_key(&node_key_to_hex(key)).ok(), Some(*key));
    }
    if mode % 2 == 1 {
        let path = scratch_file();
        std::fs::write(path, rest).expect("write scratch file");
        let loaded = load_node_key(path).ok();
        let _ = std::fs::remove_file(path);
        assert_eq!(loaded, parsed.and_then(Result::ok));
    }
});

/// One scratch file per fuzzing process, in the temp dir.
fn scratch_file() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("devp2p-fuzz-nodekey-{}", std::process::id()))
    })
}
