//! Helpers shared by the test modules: driving child processes that speak
//! JSON lines (ethereumjs and go-ethereum peers) and building go-ethereum.

pub(crate) mod child_peer;
pub(crate) mod geth;
