//! Node keys in go-ethereum's `nodekey` file format: exactly 64 hexadecimal
//! characters (the 32-byte secp256k1 secret key), no `0x` prefix, optionally
//! followed by one line ending (`"\n"` or `"\r\n"`).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use secp256k1::SecretKey;

/// Number of hex characters in a node key: 32 bytes, two characters each
/// (go-ethereum `crypto.LoadECDSA`).
pub const NODE_KEY_HEX_LEN: usize = 64;

/// Largest node key file we read, in bytes: 64 hex characters plus the
/// longest accepted line ending `"\r\n"`. Anything larger is refused from its
/// metadata, before a byte is read.
pub const NODE_KEY_FILE_MAX_BYTES: u64 = NODE_KEY_HEX_LEN as u64 + 2;

/// Why a node key could not be parsed, loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// The text (after removing one optional line ending) is not 64 characters long.
    #[error("node key has {got} characters, want {NODE_KEY_HEX_LEN} hex characters")]
    BadLength {
        /// Length in bytes of the text without its line ending.
        got: usize,
    },
    /// The text contains a character that is not a hex digit (`0x` prefixes are rejected too).
    #[error("node key has a non-hex character at position {index}")]
    BadHex {
        /// Byte offset of the first bad character.
        index: usize,
    },
    /// The key is zero, which is not a valid secp256k1 secret key.
    #[error("node key is zero")]
    Zero,
    /// The key is not below the secp256k1 group order.
    #[error("node key is out of range for secp256k1")]
    OutOfRange,
    /// The key file is larger than [`NODE_KEY_FILE_MAX_BYTES`].
    #[error("node key file {path} is {size} bytes, at most {NODE_KEY_FILE_MAX_BYTES} allowed")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes (at least the size seen; the file may still be growing).
        size: u64,
    },
    /// The key file is not valid UTF-8 text.
    #[error("node key file {path} is not text")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing the key file failed.
    #[error("node key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl NodeKeyError {
    /// True when the file or text was there but malformed (as opposed to an
    /// I/O failure such as a missing file): callers that auto-generate a key
    /// for a missing file must not silently replace a corrupt one.
    pub fn is_malformed(&self) -> bool {
        !matches!(self, NodeKeyError::Io { .. })
    }

    /// True when the key file does not exist (the caller may generate one).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NodeKeyError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Generates a fresh random node key from the operating system's random
/// source (through a thread-local generator seeded from it).
pub fn generate_node_key() -> SecretKey {
    node_key_from_rng(&mut rand::rng())
}

/// Generates a node key from `rng` (any rand 0.10 generator, i.e. one
/// implementing `rand::Rng`, formerly `RngCore`), for reproducible keys in
/// tests and simulations (seed the generator yourself). Draws 32 bytes
/// until they are a valid key (below the curve order, not zero), as
/// secp256k1's own `SecretKey::new` does; a draw is refused with
/// probability below 2^-127.
pub fn node_key_from_rng<R: rand::Rng + ?Sized>(rng: &mut R) -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(key) = SecretKey::from_secret_bytes(bytes) {
            return key;
        }
    }
}

/// Formats a key as go-ethereum writes it: 64 lowercase hex characters, no newline.
pub fn node_key_to_hex(key: &SecretKey) -> String {
    hex::encode(key.to_secret_bytes())
}

/// Parses a node key from its text form (see the module docs for the format).
pub fn parse_node_key(text: &str) -> Result<SecretKey, NodeKeyError> {
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if body.len() != NODE_KEY_HEX_LEN {
        return Err(NodeKeyError::BadLength { got: body.len() });
    }
    let mut bytes = [0u8; NODE_KEY_HEX_LEN / 2];
    hex::decode_to_slice(body, &mut bytes).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { index, .. } => NodeKeyError::BadHex { index },
        // Length was checked above; any other hex error still means "not hex".
        _ => NodeKeyError::BadHex { index: 0 },
    })?;
    if bytes.iter().all(|b| *b == 0) {
        return Err(NodeKeyError::Zero);
    }
    SecretKey::from_secret_bytes(bytes).map_err(|_| NodeKeyError::OutOfRange)
}

/// Loads a node key file, refusing files larger than [`NODE_KEY_FILE_MAX_BYTES`]
/// before reading them.
pub fn load_node_key(path: &Path) -> Result<SecretKey, NodeKeyError> {
    let io_err = |source| NodeKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size > NODE_KEY_FILE_MAX_BYTES {
        return Err(NodeKeyError::FileTooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    // The file may grow between the size check and the read: never read more
    // than one byte past the bound.
    let mut buf = Vec::with_capacity(NODE_KEY_FILE_MAX_BYTES as usize + 1);
    file.take(NODE_KEY_FILE_MAX_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > NODE_KEY_FILE_MAX_BYTES {
        return Err(NodeKeyError::FileTooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
        });
    }
    let text = std::str::from_utf8(&buf).map_err(|_| NodeKeyError::NotText {
        path: path.to_path_buf(),
    })?;
    parse_node_key(text)
}

/// Saves a node key as go-ethereum does (64 hex characters, no newline), with
/// permissions 0600 on unix. The key is written to a temporary file beside
/// `path` and renamed over it, so a crash never leaves a truncated key.
pub fn save_node_key(path: &Path, key: &SecretKey) -> Result<(), NodeKeyError> {
    let io_err = |source| NodeKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path
        .file_name()
        .ok_or_else(|| io_err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?
        .to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result =
        write_private(&tmp, node_key_to_hex(key).as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

/// Creates `path` (replacing a stale one) readable and writable by the owner only.
fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    {
        // `mode` only applies when the file is created; fix a stale temp file too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const KEY_HEX: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

    #[test]
    fn parses_plain_and_with_line_endings() {
        let k = parse_node_key(KEY_HEX).unwrap();
        assert_eq!(node_key_to_hex(&k), KEY_HEX);
        assert_eq!(parse_node_key(&format!("{KEY_HEX}\n")).unwrap(), k);
        assert_eq!(parse_node_key(&format!("{KEY_HEX}\r\n")).unwrap(), k);
        assert_eq!(parse_node_key(&KEY_HEX.to_uppercase()).unwrap(), k);
    }

    #[test]
    fn rejects_malformed_keys_with_named_reason() {
        type Check = fn(&NodeKeyError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (String::new(), |e| {
                matches!(e, NodeKeyError::BadLength { got: 0 })
            }),
            (format!("0x{KEY_HEX}"), |e| {
                matches!(e, NodeKeyError::BadLength { got: 66 })
            }),
            (format!("0x{}", &KEY_HEX[2..]), |e| {
                matches!(e, NodeKeyError::BadHex { index: 1 })
            }),
            (format!("{KEY_HEX}\n\n"), |e| {
                matches!(e, NodeKeyError::BadLength { got: 65 })
            }),
            (format!("{KEY_HEX} "), |e| {
                matches!(e, NodeKeyError::BadLength { got: 65 })
            }),
            (format!(" {}", &KEY_HEX[1..]), |e| {
                matches!(e, NodeKeyError::BadHex { index: 0 })
            }),
            (KEY_HEX[..63].to_string(), |e| {
                matches!(e, NodeKeyError::BadLength { got: 63 })
            }),
            ("0".repeat(64), |e| matches!(e, NodeKeyError::Zero)),
            ("f".repeat(64), |e| matches!(e, NodeKeyError::OutOfRange)),
            // The group order n itself is out of range.
            (
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141".into(),
                |e| matches!(e, NodeKeyError::OutOfRange),
            ),
            (format!("{}é", &KEY_HEX[..62]), |e| {
                matches!(e, NodeKeyError::BadHex { .. })
            }),
        ];
        for (text, check) in cases {
            let err = parse_node_key(&text).unwrap_err();
            assert!(check(&err), "{text:?} gave {err:?}");
            assert!(err.is_malformed());
        }
    }

    #[test]
    fn generate_is_seeded_and_round_trips_through_a_file() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key = node_key_from_rng(&mut rng);
        let mut rng2 = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(node_key_from_rng(&mut rng2), key);
        assert_ne!(generate_node_key(), generate_node_key());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        save_node_key(&path, &key).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), node_key_to_hex(&key));
        assert_eq!(load_node_key(&path).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Overwriting keeps working and leaves no temp file behind.
        save_node_key(&path, &key).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn load_refuses_big_missing_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        fs::write(&big, vec![b'a'; 1 << 20]).unwrap();
        assert!(matches!(
            load_node_key(&big),
            Err(NodeKeyError::FileTooLarge { size, .. }) if size == 1 << 20
        ));
        let missing = load_node_key(&dir.path().join("missing")).unwrap_err();
        assert!(missing.is_not_found() && !missing.is_malformed());
        let bin = dir.path().join("bin");
        fs::write(&bin, [0xffu8; 64]).unwrap();
        assert!(matches!(
            load_node_key(&bin),
            Err(NodeKeyError::NotText { .. })
        ));
        let crlf = dir.path().join("crlf");
        fs::write(&crlf, format!("{KEY_HEX}\r\n")).unwrap();
        assert_eq!(node_key_to_hex(&load_node_key(&crlf).unwrap()), KEY_HEX);
    }

    proptest::proptest! {
        #[test]
        fn random_text_never_panics(s in "\\PC{0,80}") {
            let _ = parse_node_key(&s);
        }

        #[test]
        fn hex_round_trip(bytes in proptest::array::uniform32(proptest::num::u8::ANY)) {
            if let Ok(key) = SecretKey::from_secret_bytes(bytes) {
                proptest::prop_assert_eq!(parse_node_key(&node_key_to_hex(&key)).unwrap(), key);
            }
        }
    }
}
