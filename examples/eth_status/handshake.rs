//! The Status exchange on a negotiated `eth` version, and what follows it:
//! idling.

use std::time::Duration;

use devp2p::{MsgError, MsgReader, MsgWriter};

use super::chain::Chain;
use super::forkid::{ForkId, ForkIdError};
use super::status::{HexHash, Status, StatusError, STATUS_MSG};

/// How long we wait for the remote Status, in seconds: go-ethereum's
/// `handshakeTimeout` (eth/protocols/eth/handshake.go) is 5 s on its side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long we wait for the remote Status before sending ours anyway, in
/// seconds (see [`handshake`]): go-ethereum sends its Status within
/// milliseconds, and 1 s leaves 4 s of its 5 s [`HANDSHAKE_TIMEOUT`] for ours.
pub const STATUS_GRACE: Duration = Duration::from_secs(1);

/// Largest Status we accept, in bytes: go-ethereum's `maxMessageSize` for
/// every `eth` message (10 MiB; a real Status is under 200 bytes).
pub const MAX_STATUS_SIZE: u32 = 10 * 1024 * 1024;

/// Why the Status exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer sent no Status in time.
    #[error("no Status from the peer within {0:?}")]
    Timeout(Duration),
    /// Reading or writing failed (peer gone, …).
    #[error(transparent)]
    Msg(#[from] MsgError),
    /// The first message was not a Status.
    #[error("first eth message has code {0:#04x}, want Status (0x00)")]
    NotStatus(u64),
    /// The Status is larger than [`MAX_STATUS_SIZE`].
    #[error("Status of {0} bytes exceeds the {MAX_STATUS_SIZE}-byte limit")]
    TooLarge(u32),
    /// The Status does not decode.
    #[error("invalid Status: {0}")]
    Decode(#[from] StatusError),
    /// The Status names another protocol version.
    #[error(
        "protocol version mismatch: remote Status says eth/{remote}, negotiated eth/{negotiated}"
    )]
    VersionMismatch {
        /// Version in the remote Status.
        remote: u32,
        /// Version negotiated in Hello.
        negotiated: u32,
    },
    /// Another network.
    #[error("network id mismatch: remote {remote}, ours {ours}")]
    NetworkIdMismatch {
        /// Theirs.
        remote: u64,
        /// Ours.
        ours: u64,
    },
    /// Another chain.
    #[error("genesis mismatch: remote {remote}, ours {ours}")]
    GenesisMismatch {
        /// Their genesis hash.
        remote: HexHash,
        /// Ours.
        ours: HexHash,
    },
    /// Incompatible fork schedule.
    #[error("fork id rejected ({reason}): remote {remote}, ours {ours}")]
    ForkIdRejected {
        /// Their fork id.
        remote: ForkId,
        /// Ours.
        ours: ForkId,
        /// Which rule rejected it.
        reason: ForkIdError,
    },
    /// eth/69 block range that cannot be right.
    #[error("invalid block range in Status: {0}")]
    BadBlockRange(&'static str),
}

/// The Status exchange on a negotiated `eth/version`; returns their Status.
///
/// We read and check theirs before sending ours: go-ethereum sends its
/// Status as soon as the protocol starts, and if ours reached it first with
/// the wrong chain it would hang up, maybe before sending its own, leaving
/// us with a bare "connection closed" instead of the reason. A peer that
/// waits for our Status first gets it after [`STATUS_GRACE`]. The whole
/// exchange is bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn handshake<R: MsgReader, W: MsgWriter>(
    reader: &mut R,
    writer: &W,
    version: u32,
    chain: &Chain,
) -> Result<Status, HandshakeError> {
    let ours = chain.status(version)?;
    let receive = async {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.read_msg())
            .await
            .map_err(|_| HandshakeError::Timeout(HANDSHAKE_TIMEOUT))??;
        if msg.code != STATUS_MSG {
            return Err(HandshakeError::NotStatus(msg.code));
        }
        if msg.size > MAX_STATUS_SIZE {
            return Err(HandshakeError::TooLarge(msg.size));
        }
        let theirs = Status::decode(version, &msg.payload)?;
        chain.check(version, &theirs)?;
        Ok(theirs)
    };
    tokio::pin!(receive);
    let theirs = match tokio::time::timeout(STATUS_GRACE, &mut receive).await {
        // Theirs arrived first and is fine: now ours.
        Ok(theirs) => {
            let theirs = theirs?;
            send_status(writer, &ours).await?;
            theirs
        }
        // They are waiting for ours (or slow): send it and keep reading.
        Err(_) => tokio::try_join!(send_status(writer, &ours), receive)?.1,
    };
    Ok(theirs)
}

async fn send_status<W: MsgWriter>(writer: &W, status: &Status) -> Result<(), HandshakeError> {
    Ok(devp2p::send(writer, STATUS_MSG, status).await?)
}

/// After the handshake: read and drop every message until the connection
/// ends (this example serves nothing). Returns why it ended.
pub async fn idle<R: MsgReader>(reader: &mut R) -> MsgError {
    loop {
        match reader.read_msg().await {
            Ok(msg) => tracing::debug!(code = msg.code, size = msg.size, "eth message ignored"),
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::chain::tests::chain;
    use super::super::status::ETH69;
    use super::*;

    // Paused clock: the grace period and timeouts pass instantly.
    #[tokio::test(start_paused = true)]
    async fn handshake_over_a_pipe() {
        // Two ends of a MsgPipe per direction so each side has its own
        // reader and writer.
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let c = chain();
        let (a, b) = tokio::join!(
            handshake(&mut a_in, &a_out, ETH69, &c),
            handshake(&mut b_in, &b_out, ETH69, &c)
        );
        assert_eq!(a.unwrap(), c.status(ETH69).unwrap());
        assert_eq!(b.unwrap(), c.status(ETH69).unwrap());

        // A peer that waits for our Status before sending its own.
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let theirs = c.status(ETH69).unwrap();
        let patient = async {
            let msg = b_in.read_msg().await.unwrap();
            assert_eq!(Status::decode(ETH69, &msg.payload), Ok(theirs.clone()));
            devp2p::send(&b_out, STATUS_MSG, &theirs).await
        };
        let (a, b) = tokio::join!(handshake(&mut a_in, &a_out, ETH69, &c), patient);
        assert_eq!(a.unwrap(), theirs);
        b.unwrap();

        let mut other = chain();
        other.network_id = 5;
        let (a_out, mut b_in) = devp2p::MsgPipe::pair();
        let (b_out, mut a_in) = devp2p::MsgPipe::pair();
        let (a, _) = tokio::join!(
            handshake(&mut a_in, &a_out, ETH69, &c),
            handshake(&mut b_in, &b_out, ETH69, &other)
        );
        assert!(matches!(
            a,
            Err(HandshakeError::NetworkIdMismatch { remote: 5, .. })
        ));
    }
}
