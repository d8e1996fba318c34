//! The discovery layer's error type.

use super::wire::WireError;

/// Why a discovery request failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// Binding or using the socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The remote did not answer within the reply timeout.
    #[error("request timed out")]
    Timeout,
    /// The service has shut down (or shut down while the request was pending).
    #[error("discovery service closed")]
    Closed,
    /// Too many requests are waiting for replies; try again later.
    #[error("too many pending requests")]
    TooManyPending,
    /// The node has no IP address to send to.
    #[error("node has no IP address")]
    NoAddress,
    /// The remote answered with an ENR that does not decode.
    #[error("invalid ENR in response: {0}")]
    InvalidEnr(String),
    /// The remote answered with a record for a different node ID.
    #[error("ENR response is for a different node")]
    EnrIdMismatch,
    /// The node key given does not belong to the `LocalNode`.
    #[error("node key does not match the local node record")]
    KeyMismatch,
    /// A packet could not be decoded (only reported by tools, never by requests).
    #[error("bad packet: {0}")]
    Wire(#[from] WireError),
}

impl DiscoverError {
    /// True when retrying the same request later may succeed (timeouts and
    /// back-pressure); false for errors that will repeat.
    pub fn is_transient(&self) -> bool {
        matches!(self, DiscoverError::Timeout | DiscoverError::TooManyPending)
    }

    /// True when the service is gone and every further request will fail.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            DiscoverError::Closed | DiscoverError::Io(_) | DiscoverError::KeyMismatch
        )
    }
}
