//! Declaring a protocol's messages once: [`protocol_messages!`](crate::protocol_messages)
//! makes an enum with one variant per message code, and [`ProtocolMessage`]
//! gives it encode and decode dispatch, so a protocol matches on variants
//! instead of raw codes.

use bytes::Bytes;

use super::{Msg, MsgError, MsgReader, MsgWriter};

/// A protocol's set of messages, one variant per code (see
/// [`protocol_messages!`](crate::protocol_messages), which implements it).
pub trait ProtocolMessage: Sized {
    /// Number of message codes the protocol uses (the highest code + 1): the
    /// `length` to register with [`Protocol::new`](crate::Protocol::new).
    const LENGTH: u64;

    /// The message code of this message.
    fn code(&self) -> u64;

    /// The RLP payload of this message.
    fn encode_payload(&self) -> Bytes;

    /// Decodes `msg` by its code; an unknown code is
    /// [`MsgError::CodeOutOfRange`], a bad payload [`MsgError::Decode`].
    fn decode(msg: &Msg) -> Result<Self, MsgError>;
}

/// Writes `message` under its own code.
pub async fn send_message<W: MsgWriter, M: ProtocolMessage>(
    w: &W,
    message: &M,
) -> Result<(), MsgError> {
    w.write_msg(message.code(), message.encode_payload()).await
}

/// Reads the next message and decodes it as `M`.
pub async fn read_message<M: ProtocolMessage, R: MsgReader>(r: &mut R) -> Result<M, MsgError> {
    let msg = r.read_msg().await?;
    M::decode(&msg)
}

/// Declares a protocol's messages once: an enum with one variant per message
/// code, each carrying a type that implements `alloy_rlp::Encodable` and
/// `Decodable`, and its [`ProtocolMessage`] implementation (code, encoding,
/// decoding dispatch and `LENGTH`).
///
/// ```
/// use devp2p::alloy_rlp::{RlpDecodable, RlpEncodable};
/// use devp2p::{protocol_messages, read_message, send_message, MsgPipe, ProtocolMessage};
///
/// #[derive(Debug, Clone, PartialEq, RlpEncodable, RlpDecodable)]
/// pub struct Status {
///     pub version: u64,
///     pub network_id: u64,
/// }
///
/// protocol_messages! {
///     /// The messages of `chat/1`.
///     #[derive(Debug, Clone, PartialEq)]
///     pub enum ChatMsg {
///         /// Sent first by both sides.
///         0 => Status(Status),
///         /// A line of text.
///         1 => Text(String),
///         /// A ping carrying its request id.
///         2 => Ping(u64),
///     }
/// }
///
/// assert_eq!(ChatMsg::LENGTH, 3);
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (ours, mut theirs) = MsgPipe::buffered(4);
/// send_message(&ours, &ChatMsg::Text("hi".into())).await.unwrap();
/// match read_message::<ChatMsg, _>(&mut theirs).await.unwrap() {
///     ChatMsg::Text(text) => assert_eq!(text, "hi"),
///     other => panic!("unexpected {other:?}"),
/// }
/// # });
/// ```
#[macro_export]
macro_rules! protocol_messages {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $code:literal => $variant:ident($ty:ty)
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant($ty),
            )+
        }

        impl $crate::ProtocolMessage for $name {
            const LENGTH: u64 = {
                let codes: &[u64] = &[$($code),+];
                let mut max = 0;
                let mut i = 0;
                while i < codes.len() {
                    if codes[i] > max {
                        max = codes[i];
                    }
                    i += 1;
                }
                max + 1
            };

            fn code(&self) -> u64 {
                match self {
                    $(Self::$variant(_) => $code,)+
                }
            }

            fn encode_payload(&self) -> $crate::bytes::Bytes {
                match self {
                    $(Self::$variant(v) => $crate::alloy_rlp::encode(v).into(),)+
                }
            }

            fn decode(msg: &$crate::Msg) -> ::core::result::Result<Self, $crate::MsgError> {
                match msg.code {
                    $($code => msg.decode::<$ty>().map(Self::$variant),)+
                    code => Err($crate::MsgError::CodeOutOfRange {
                        code,
                        length: <Self as $crate::ProtocolMessage>::LENGTH,
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{read_message, send_message, Msg, MsgError, MsgPipe, MsgWriter, ProtocolMessage};

    crate::protocol_messages! {
        #[derive(Debug, PartialEq)]
        enum Sparse {
            0 => Hello(String),
            5 => Count(u64),
        }
    }

    #[test]
    fn length_is_the_highest_code_plus_one() {
        assert_eq!(Sparse::LENGTH, 6);
        assert_eq!(Sparse::Count(3).code(), 5);
    }

    #[tokio::test]
    async fn round_trip_and_typed_errors() {
        let (a, mut b) = MsgPipe::buffered(8);
        send_message(&a, &Sparse::Count(7)).await.unwrap();
        assert_eq!(
            read_message::<Sparse, _>(&mut b).await,
            Ok(Sparse::Count(7))
        );
        // A code the protocol does not declare (a gap, or past the end).
        a.write_msg(3, bytes::Bytes::from_static(&[0x80]))
            .await
            .unwrap();
        assert_eq!(
            read_message::<Sparse, _>(&mut b).await,
            Err(MsgError::CodeOutOfRange { code: 3, length: 6 })
        );
        // A payload of the wrong type names its code.
        let bad = Msg::new(5, bytes::Bytes::from_static(&[0xc0]));
        assert!(matches!(
            Sparse::decode(&bad),
            Err(MsgError::Decode { code: 5, .. })
        ));
    }
}
