//! RLPx frame decoding with real MAC state: the reading side (B) of a fixed
//! session gets a byte stream the fuzzer builds from operations.
//!
//! Input `config || ops…`, each op `kind || args`:
//! - 0 `len16 || body`: an honest frame (what `FrameCodec::encode_frame`
//!   writes); it must decode to exactly `body`;
//! - 1 `header16 || len16 || body`: a frame with a fuzzer-chosen header
//!   plaintext (size field included) and authentic MACs;
//! - 2 `n || bytes`: raw bytes on the wire;
//! - 3 `at16 || x`: XOR one pending wire byte;
//! - 4 `n16`: deliver up to n pending bytes to the reader and decode.
//!
//! While only honest frames were written, every decoded message must equal
//! what was sent, in order, and all of them must come out. After an error,
//! the codec must keep failing (`CodecFailed`).
#![no_main]

use std::collections::VecDeque;

use bytes::BytesMut;
use devp2p::rlpx::{FrameCodec, RlpxError, MAX_MESSAGE_SIZE};
use devp2p_fuzz::{session, Cursor, FrameForger};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Largest body one op writes, in bytes: big enough to cross the codec's
/// buffering steps, small enough to keep executions fast.
const MAX_OP_BODY: u16 = 8 * 1024;

struct Reader {
    codec: FrameCodec,
    buf: BytesMut,
    failed: bool,
    expected: VecDeque<Vec<u8>>,
    forged: bool,
}

impl Reader {
    fn drain(&mut self) {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(msg)) => {
                    assert!(!self.failed, "a failed codec produced a message");
                    assert!(msg.len() <= self.codec.max_message_size());
                    if !self.forged {
                        let want = self.expected.pop_front().expect("no message was sent");
                        assert_eq!(&msg[..], &want[..], "honest frame decoded differently");
                    }
                }
                Ok(None) => {
                    assert!(!self.failed, "a failed codec returned Ok");
                    return;
                }
                Err(e) => {
                    if self.failed {
                        assert!(matches!(e, RlpxError::CodecFailed), "{e}");
                    } else if !self.forged {
                        // Honest frames only fail for being over the limit.
                        assert!(matches!(e, RlpxError::FrameTooLarge { .. }), "{e}");
                    }
                    self.failed = true;
                    return;
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let (a, b) = session();
    let config = input.u16();
    let max = if config & 1 == 0 {
        MAX_MESSAGE_SIZE
    } else {
        usize::from(config >> 1)
    };
    let mut reader = Reader {
        codec: FrameCodec::new(b.clone()).with_max_message_size(max),
        buf: BytesMut::new(),
        failed: false,
        expected: VecDeque::new(),
        forged: false,
    };
    let mut forger = FrameForger::new(a);
    let mut writer = FrameCodec::new(a.clone());
    let mut wire = BytesMut::new();
    while !input.is_empty() {
        match input.byte() % 5 {
            0 => {
                let len = usize::from(input_len(&mut input));
                let body = input.take(len);
                let mut header = [0u8; 16];
                header[..3].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
                header[3..6].copy_from_slice(&[0xc2, 0x80, 0x80]);
                let start = wire.len();
                forger.frame(header, body, &mut wire);
                if !reader.forged {
                    // The forger writes what the real encoder writes.
                    let mut real = BytesMut::new();
                    writer.encode_frame(body, &mut real).expect("small frame");
                    assert_eq!(&wire[start..], &real[..], "forger and encoder differ");
                    if body.len() <= max {
                        reader.expected.push_back(body.to_vec());
                    }
                }
            }
            1 => {
                let mut header = [0u8; 16];
                let h = input.take(16);
                header[..h.len()].copy_from_slice(h);
                let len = usize::from(input_len(&mut input));
                let body = input.take(len);
                forger.frame(header, body, &mut wire);
                reader.forged = true;
            }
            2 => {
                let n = usize::from(input.byte());
                wire.extend_from_slice(input.take(n));
                reader.forged = true;
            }
            3 => {
                let at = usize::from(input.u16());
                let x = input.byte();
                if !wire.is_empty() && x != 0 {
                    let i = at % wire.len();
                    wire[i] ^= x;
                    reader.forged = true;
                }
            }
            _ => {
                let n = usize::from(input.u16()).min(wire.len());
                reader.buf.extend_from_slice(&wire.split_to(n));
                reader.drain();
            }
        }
    }
    reader.buf.extend_from_slice(&wire);
    reader.drain();
    if !reader.forged && !reader.failed {
        assert!(reader.expected.is_empty(), "honest frames were lost");
        assert!(reader.buf.is_empty());
    }
    let _ = reader.codec.decode_eof(&mut reader.buf);
});

fn input_len(input: &mut Cursor<'_>) -> u16 {
    input.u16() % (MAX_OP_BODY + 1)
}
