//! [`FrameCodec`]: RLPx framing as a tokio-util [`Encoder`]/[`Decoder`].
//!
//! Frame layout (RLPx spec, "Framing"):
//! `header-ciphertext (16) || header-mac (16) || frame-ciphertext (padded to 16) || frame-mac (16)`,
//! where the header is `frame-size (24-bit BE) || header-data || zero padding`.
//!
//! Both directions are one continuous AES-256-CTR stream (zero IV) keyed
//! with the aes-secret. MACs are verified before anything is decrypted, and a
//! header's declared size is checked against the limit before buffer space
//! for the body is reserved, and that space grows with the bytes that arrive.

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher, StreamCipherCoreWrapper, StreamCipherSeek};
use aes::Aes256Enc;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::error::RlpxError;
use super::handshake::Secrets;
use super::mac::{mac_cipher, macs_equal, MacCipher, MacState};
use super::MAX_MESSAGE_SIZE;

/// Most buffer space reserved ahead of body bytes that have not arrived yet,
/// in bytes. 64 KiB keeps large frames to a few reallocations (the buffer
/// grows geometrically) while a stalled peer cannot make us reserve the whole
/// declared frame (up to 16 MiB) up front; found by the hardening tests.
const BODY_RESERVE_STEP: usize = 64 * 1024;

/// Read space reserved while waiting for a frame header, in bytes: a header
/// plus a small message (ping, status, a few hashes) arrive in one read
/// system call; larger bodies reserve more once their size is known. Every
/// idle peer holds this much, so it is kept small (512 and 1024 bytes showed
/// no difference beyond run-to-run noise on the peer stream bench).
const READ_CHUNK: usize = 512;

/// Most read space reserved ahead of what the current frame needs while the
/// remote streams, in bytes. A read that fills all the space reserved means
/// more is waiting in the socket: the reservation then doubles from
/// [`READ_CHUNK`] up to this, and falls back to [`READ_CHUNK`] as soon as a
/// read leaves space unused (the socket drained). 64 KiB: one loopback/TCP
/// window's worth, as the writer's batch; a stream of 1 KiB messages took
/// one read system call per message with exact-size reads.
const MAX_READ_AHEAD: usize = 64 * 1024;

/// An empty read buffer larger than this is freed rather than kept for the
/// next frame (bytes). 256 KiB: a peer streaming large messages keeps its
/// buffer between frames (the buffer rarely runs empty then), while one that
/// sent a single big message does not hold on to it.
const KEEP_READ_CAPACITY: usize = 256 * 1024;

/// AES-256-CTR over a borrowed key schedule: both directions use the same
/// aes-secret (and a zero IV), so the codec keeps one key schedule and one
/// keystream position per direction.
type Aes256CtrRef<'a> = ctr::CtrCore<&'a Aes256Enc, ctr::flavors::Ctr128BE>;

/// One direction of the frame cipher: how much keystream has been used.
#[derive(Debug, Default, Clone, Copy)]
struct CtrPosition(u64);

impl CtrPosition {
    /// XORs the next `data.len()` keystream bytes into `data`.
    fn apply(&mut self, key: &Aes256Enc, data: &mut [u8]) {
        let core = Aes256CtrRef::inner_iv_init(key, &Default::default());
        let mut ctr = StreamCipherCoreWrapper::from_core(core);
        // Frame pieces are multiples of 16 bytes, so this seek lands on a
        // block boundary and costs nothing.
        ctr.seek(self.0);
        ctr.apply_keystream(data);
        self.0 += data.len() as u64;
    }
}

/// Length of the encrypted frame header in bytes.
const HEADER_LEN: usize = 16;
/// Length of each MAC (header MAC and frame MAC) in bytes.
const MAC_LEN: usize = 16;
/// Header plus header MAC: what must be buffered before a frame's size is known.
const HEADER_WITH_MAC_LEN: usize = HEADER_LEN + MAC_LEN;
/// The header-data we send: RLP `[capability-id = 0, context-id = 0]`, as
/// go-ethereum does. Ignored on read (the spec deprecates its contents).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// Frame bytes on the wire for a message of `size` bytes: header, header MAC,
/// body padded to 16, frame MAC.
pub const fn frame_len(size: usize) -> usize {
    HEADER_WITH_MAC_LEN + padded_len(size) + MAC_LEN
}

const fn padded_len(size: usize) -> usize {
    (size + 15) & !15
}

#[derive(Debug, Clone, Copy)]
enum ReadState {
    /// Waiting for a header and its MAC.
    Header,
    /// Header checked; waiting for a body of this many (unpadded) bytes.
    Body { size: usize },
    /// A MAC or size check failed; the stream is unusable.
    Failed,
}

/// The RLPx frame codec of an established connection: encrypts and MACs
/// outgoing messages, verifies and decrypts incoming ones. One frame carries
/// one devp2p message (`rlp(msg-id) || msg-data`), passed through untouched.
pub struct FrameCodec {
    /// Key schedule of the frame cipher (aes-secret), both directions.
    aes: Aes256Enc,
    egress_ctr: CtrPosition,
    ingress_ctr: CtrPosition,
    /// Block cipher of both MACs (mac-secret).
    mac_cipher: MacCipher,
    egress_mac: MacState,
    ingress_mac: MacState,
    max_message_size: usize,
    read_state: ReadState,
    /// Read space to reserve beyond the current need (see [`MAX_READ_AHEAD`]).
    read_ahead: usize,
    /// Buffered length and spare capacity when the codec last asked for
    /// more bytes: how full the next read made the buffer.
    pending_read: Option<(usize, usize)>,
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec")
            .field("max_message_size", &self.max_message_size)
            .field("read_state", &self.read_state)
            .finish_non_exhaustive()
    }
}

impl FrameCodec {
    /// A codec for the connection whose handshake produced `secrets`.
    pub fn new(secrets: Secrets) -> Self {
        FrameCodec {
            aes: Aes256Enc::new(&secrets.aes_secret.into()),
            egress_ctr: CtrPosition::default(),
            ingress_ctr: CtrPosition::default(),
            mac_cipher: mac_cipher(&secrets.mac_secret),
            egress_mac: secrets.egress_mac,
            ingress_mac: secrets.ingress_mac,
            max_message_size: MAX_MESSAGE_SIZE,
            read_state: ReadState::Header,
            read_ahead: READ_CHUNK,
            pending_read: None,
        }
    }

    /// Lowers the largest message accepted on read (default and ceiling:
    /// [`MAX_MESSAGE_SIZE`]). Frames declaring more fail with
    /// [`RlpxError::FrameTooLarge`] before their body is buffered.
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max.min(MAX_MESSAGE_SIZE);
        self
    }

    /// The largest message accepted on read.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Appends the frame for `msg` to `dst`: the message is copied once into
    /// `dst` and encrypted there in place.
    pub fn encode_frame(&mut self, msg: &[u8], dst: &mut BytesMut) -> Result<(), RlpxError> {
        let size = msg.len();
        if size > MAX_MESSAGE_SIZE {
            return Err(RlpxError::MessageTooLarge {
                size,
                max: MAX_MESSAGE_SIZE,
            });
        }
        let padded = padded_len(size);
        dst.reserve(frame_len(size));

        let mut header = [0u8; HEADER_LEN];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.egress_ctr.apply(&self.aes, &mut header);
        let header_mac = self.egress_mac.update_header(&self.mac_cipher, &header);
        dst.put_slice(&header);
        dst.put_slice(&header_mac);

        let body_start = dst.len();
        dst.put_slice(msg);
        dst.put_bytes(0, padded - size);
        let body = &mut dst[body_start..];
        self.egress_ctr.apply(&self.aes, body);
        let frame_mac = self.egress_mac.update_body(&self.mac_cipher, body);
        dst.put_slice(&frame_mac);
        Ok(())
    }

    /// Decodes one frame from the front of `src` if it is complete. The
    /// returned message is split off `src` and decrypted in place.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        self.adapt_read_ahead(src);
        loop {
            match self.read_state {
                ReadState::Failed => return Err(RlpxError::CodecFailed),
                ReadState::Header => {
                    if src.len() < HEADER_WITH_MAC_LEN {
                        // Room for a header and a small frame or two per read;
                        // a buffer that held a large frame is given back once
                        // it is empty, so an idle peer costs little.
                        if src.is_empty() && src.capacity() > KEEP_READ_CAPACITY {
                            *src = BytesMut::new();
                        }
                        src.reserve(self.read_ahead);
                        return self.await_read(src);
                    }
                    let mut header: [u8; HEADER_LEN] =
                        src[..HEADER_LEN].try_into().expect("length checked");
                    let expected = self.ingress_mac.update_header(&self.mac_cipher, &header);
                    if !macs_equal(&expected, &src[HEADER_LEN..HEADER_WITH_MAC_LEN]) {
                        self.read_state = ReadState::Failed;
                        return Err(RlpxError::BadHeaderMac);
                    }
                    self.ingress_ctr.apply(&self.aes, &mut header);
                    let size = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                    if size > self.max_message_size {
                        self.read_state = ReadState::Failed;
                        return Err(RlpxError::FrameTooLarge {
                            size,
                            max: self.max_message_size,
                        });
                    }
                    src.advance(HEADER_WITH_MAC_LEN);
                    self.read_state = ReadState::Body { size };
                }
                ReadState::Body { size } => {
                    let padded = padded_len(size);
                    let need = padded + MAC_LEN;
                    if src.len() < need {
                        // Grow with what actually arrives: a peer that
                        // announces 16 MiB and stalls costs at most what it
                        // sent plus one step, not the announced size.
                        // Read ahead only while streaming: a peer that
                        // sends a frame now and then keeps its buffer at
                        // the frame's size.
                        let ahead = if self.read_ahead > READ_CHUNK {
                            self.read_ahead
                        } else {
                            0
                        };
                        src.reserve((need - src.len()).min(BODY_RESERVE_STEP).max(ahead));
                        return self.await_read(src);
                    }
                    let expected = self
                        .ingress_mac
                        .update_body(&self.mac_cipher, &src[..padded]);
                    if !macs_equal(&expected, &src[padded..need]) {
                        self.read_state = ReadState::Failed;
                        return Err(RlpxError::BadFrameMac);
                    }
                    let mut frame = src.split_to(need);
                    self.ingress_ctr.apply(&self.aes, &mut frame[..padded]);
                    frame.truncate(size);
                    self.read_state = ReadState::Header;
                    return Ok(Some(frame));
                }
            }
        }
    }
}

impl FrameCodec {
    /// Called first in every decode: if the codec asked for more bytes last
    /// time and the read that followed filled all the space it had, more is
    /// likely waiting in the socket, so the read-ahead doubles; a read that
    /// left space unused resets it to [`READ_CHUNK`].
    fn adapt_read_ahead(&mut self, src: &BytesMut) {
        if let Some((len, spare)) = self.pending_read.take() {
            let got = src.len().saturating_sub(len);
            self.read_ahead = if spare >= READ_CHUNK && got >= spare {
                (self.read_ahead * 2).min(MAX_READ_AHEAD)
            } else {
                READ_CHUNK
            };
        }
    }

    /// Records the buffer as a read is about to fill it.
    fn await_read(&mut self, src: &BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        self.pending_read = Some((src.len(), src.capacity() - src.len()));
        Ok(None)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = RlpxError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), RlpxError> {
        self.encode_frame(&item, dst)
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        self.decode_frame(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        match self.decode_frame(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && matches!(self.read_state, ReadState::Header) => Ok(None),
            None => Err(RlpxError::TruncatedFrame),
        }
    }
}
