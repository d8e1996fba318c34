//! The library's integration tests, one binary: servers over real TCP on
//! 127.0.0.1 (`server`) and adversarial tests against them (`hardening`).
//! `tests/stop_accounting.rs` stays a binary of its own: it counts the
//! process's tasks and file descriptors, which other tests running beside
//! it would change. Interop with other implementations lives with the CLI
//! (`cli/tests/it`), since those tests drive the `devp2p` binary too.

mod hardening;
mod server;
#[allow(dead_code)] // stop_accounting.rs includes it too and uses a subset
mod support;
