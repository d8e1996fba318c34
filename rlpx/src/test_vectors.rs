//! Test-only access to the EIP-8 spec vectors (`testdata/eip8.txt`, copied
//! from the EIP's text and kept in the repository so a fresh clone tests alone).

use std::collections::HashMap;

/// `testdata/eip8.txt` of the repository, compiled in.
const EIP8_TXT: &str = include_str!("../../testdata/eip8.txt");

/// The `name: hex` entries of eip8.txt.
pub(crate) fn eip8_vectors() -> HashMap<String, Vec<u8>> {
    EIP8_TXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| {
            let bytes = hex::decode(value.trim()).expect("hex value in eip8.txt");
            (name.trim().to_string(), bytes)
        })
        .collect()
}
