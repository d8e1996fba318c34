//! Test-only access to the shared spec vectors (`shared/vectors/eip8.txt`).

use std::collections::HashMap;
use std::path::PathBuf;

/// Finds `vectors/eip8.txt` in `$DEVP2P_SHARED_DIR`, beside the repository
/// (`../shared`, CI), two levels up (`../../shared`, worktrees) or in
/// `/work/shared`.
pub(crate) fn eip8_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("DEVP2P_SHARED_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(manifest.join("../shared"));
    dirs.push(manifest.join("../../shared"));
    dirs.push(PathBuf::from("/work/shared"));
    dirs.into_iter()
        .map(|d| d.join("vectors/eip8.txt"))
        .find(|p| p.is_file())
        .expect("shared/vectors/eip8.txt not found (set DEVP2P_SHARED_DIR)")
}

/// The `name: hex` entries of eip8.txt.
pub(crate) fn eip8_vectors() -> HashMap<String, Vec<u8>> {
    let text = std::fs::read_to_string(eip8_path()).expect("read eip8.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| {
            let bytes = hex::decode(value.trim()).expect("hex value in eip8.txt");
            (name.trim().to_string(), bytes)
        })
        .collect()
}
