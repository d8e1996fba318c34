//! Test-only access to the EIP-8 spec vectors (`testdata/eip8.txt` at the
//! repository's top, kept there so a fresh clone tests alone).

/// `testdata/eip8.txt` of the repository, compiled in.
const EIP8_TXT: &str = include_str!("../../testdata/eip8.txt");

/// Reads a `name: hex` vector from eip8.txt.
pub(crate) fn eip8_vector(key: &str) -> Vec<u8> {
    let value = EIP8_TXT
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("vector {key} missing from eip8.txt"));
    hex::decode(value).expect("vector is hex")
}
