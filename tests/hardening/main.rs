//! Adversarial integration tests against a real `devp2p::Server` (and a
//! `Discv4` service) on 127.0.0.0/8: handshake floods, garbage after a valid
//! handshake, discovery floods, misbehaving protocols and shutdown under
//! load. Every loop is bounded in count and time.

#[allow(dead_code)]
#[path = "../server/support.rs"]
mod support;

mod discovery;
mod garbage;
mod handshake_flood;
mod protocols;
mod raw;
mod shutdown;
