//! enode URLs: `enode://<id>@<ip or host>:<tcp>[?discport=<udp>]` and the
//! bare-id forms.
//!
//! A parsed node must print to a URL that parses back to the same node
//! (parsing is lenient: scheme case, IPv4-mapped addresses, query forms,
//! so the check is parse∘print∘parse), and printing must be stable.
#![no_main]

use devp2p_discover::node::Node;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(node) = text.parse::<Node>() else {
        return;
    };
    let printed = node.to_string();
    let again: Node = printed
        .parse()
        .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse: {e}"));
    assert_eq!(again, node, "{text:?} -> {printed:?}");
    assert_eq!(again.to_string(), printed);
    let _ = (node.tcp_addr(), node.udp_addr(), node.is_complete());
});
