//! Test-only access to the shared spec vectors (`shared/vectors/eip8.txt`).

use std::path::PathBuf;

/// Finds `shared/vectors/<name>`: beside the repository in CI
/// (`$CARGO_MANIFEST_DIR/../../shared`), one level up, under
/// `$DEVP2P_SHARED_DIR`, or at `/work/shared`.
pub(crate) fn vector_file(name: &str) -> PathBuf {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let mut candidates = vec![
        PathBuf::from(manifest).join("../../shared"),
        PathBuf::from(manifest).join("../shared"),
    ];
    if let Ok(dir) = std::env::var("DEVP2P_SHARED_DIR") {
        candidates.insert(0, PathBuf::from(dir));
    }
    candidates.push(PathBuf::from("/work/shared"));
    candidates
        .into_iter()
        .map(|d| d.join("vectors").join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("vector file {name} not found; set DEVP2P_SHARED_DIR"))
}

/// Reads a `name: hex` vector from eip8.txt.
pub(crate) fn eip8_vector(key: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(vector_file("eip8.txt")).expect("read eip8.txt");
    let value = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("vector {key} missing from eip8.txt"));
    hex::decode(value).expect("vector is hex")
}
