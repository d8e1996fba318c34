//! Helpers shared by the test modules: driving child processes that speak
//! JSON lines (ethereumjs and go-ethereum peers) and building go-ethereum.

pub(crate) mod child_peer;
pub(crate) mod geth;

/// Runs `ip args` (iproute2) in the root namespace; the error names the
/// command and carries its stderr. Used by the tests that build network
/// namespaces (dns, nat_router).
pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
