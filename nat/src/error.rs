//! The one error type of the NAT layer.

use std::time::Duration;

use crate::pmp::PmpResultCode;

/// Everything that can go wrong while parsing a NAT spec or talking to a gateway.
///
/// Errors caused by the network carry the name of the thing that was wrong (URL, action,
/// field); none of them ever panics. Use [`NatError::is_config_error`] to tell user mistakes
/// (fix the flag) from gateway trouble (retry later, see [`NatError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum NatError {
    /// The mechanism part of a `--nat` spec is not one we know.
    #[error("invalid NAT spec {spec:?}: unknown mechanism {mechanism:?} (expected none, any, extip:<IP>, upnp, pmp, pmp:<IP>, stun or stun:<IP>[:port])")]
    UnknownMechanism {
        /// The whole spec as given.
        spec: String,
        /// The mechanism name that was not recognised.
        mechanism: String,
    },
    /// The IP part of a spec does not parse as an IPv4 or IPv6 address.
    #[error("invalid NAT spec {spec:?}: {value:?} is not an IP address")]
    InvalidIp {
        /// The whole spec as given.
        spec: String,
        /// The text after the first `:`.
        value: String,
    },
    /// `extip` was given without an IP address.
    #[error("invalid NAT spec {spec:?}: extip needs an IP address, e.g. extip:203.0.113.7")]
    MissingIp {
        /// The whole spec as given.
        spec: String,
    },
    /// A mechanism that takes no argument was given one (`upnp:1.2.3.4`).
    #[error("invalid NAT spec {spec:?}: mechanism {mechanism:?} takes no argument")]
    UnexpectedArgument {
        /// The whole spec as given.
        spec: String,
        /// The mechanism that takes no argument.
        mechanism: String,
    },
    /// Auto-discovery found no gateway that speaks the protocol.
    #[error("no {mechanism} gateway discovered")]
    NoGateway {
        /// What was searched for ("UPnP", "NAT-PMP", "UPnP or NAT-PMP").
        mechanism: &'static str,
    },
    /// A request got no (valid) answer in time.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// How long we waited in total.
        after: Duration,
    },
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A URL from the gateway (or the caller) is not an `http://<IP literal>[:port]/path` URL.
    #[error("unsupported URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (truncated to a sane length).
        url: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The gateway's HTTP response was malformed or too large.
    #[error("bad HTTP response from {url}: {reason}")]
    Http {
        /// The URL that was requested.
        url: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The gateway answered with an unexpected HTTP status (and no SOAP fault).
    #[error("HTTP status {status} from {url}")]
    HttpStatus {
        /// The URL that was requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The device description or a SOAP response is not usable XML / lacks a field.
    #[error("bad UPnP document: {reason}")]
    InvalidDocument {
        /// What was wrong (names the missing element or the XML error).
        reason: String,
    },
    /// The UPnP gateway answered with a SOAP fault.
    #[error("UPnP action {action} failed with error {code} ({description})")]
    UpnpFault {
        /// The SOAP action that failed.
        action: &'static str,
        /// The UPnP error code (e.g. 718 ConflictInMappingEntry).
        code: u16,
        /// The gateway's description (truncated).
        description: String,
    },
    /// Every external port we tried was taken.
    #[error("no free external port after {attempts} attempts")]
    PortConflict {
        /// How many ports were tried.
        attempts: usize,
    },
    /// The NAT-PMP gateway answered with a non-zero result code (RFC 6886 section 3.5).
    #[error("NAT-PMP gateway refused: {code}")]
    Pmp {
        /// The result code.
        code: PmpResultCode,
    },
    /// A NAT-PMP response had the right opcode but a wrong length or content.
    #[error("malformed NAT-PMP response: {reason}")]
    MalformedPmp {
        /// What was wrong.
        reason: &'static str,
    },
    /// The gateway reported an external address that is not an IP (or is unspecified).
    #[error("gateway reported an unusable external IP {value:?}")]
    InvalidExternalIp {
        /// The value it sent (truncated).
        value: String,
    },
    /// A STUN server's reply was malformed, for another transaction, or an
    /// error response.
    #[error("STUN: {0}")]
    Stun(#[from] crate::stun::StunError),
    /// A mapping was requested with a zero internal port or a zero lifetime.
    #[error("invalid mapping request: {reason}")]
    InvalidRequest {
        /// What was wrong.
        reason: &'static str,
    },
}

impl NatError {
    /// True when the error comes from the user's configuration (the `--nat` flag), so
    /// retrying cannot help.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            NatError::UnknownMechanism { .. }
                | NatError::InvalidIp { .. }
                | NatError::MissingIp { .. }
                | NatError::UnexpectedArgument { .. }
                | NatError::InvalidRequest { .. }
        )
    }

    /// True when the same request may well succeed later (gateway busy, rebooting, briefly
    /// unreachable, or out of resources). Errors that are not transient may still go away
    /// (a user can reconfigure the router), so callers retry those with a longer back-off.
    pub fn is_transient(&self) -> bool {
        match self {
            NatError::NoGateway { .. } | NatError::Timeout { .. } | NatError::Io { .. } => true,
            NatError::HttpStatus { status, .. } => *status >= 500,
            NatError::Pmp { code } => matches!(
                code,
                PmpResultCode::NetworkFailure | PmpResultCode::OutOfResources
            ),
            NatError::PortConflict { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        NatError::Io { context, source }
    }

    pub(crate) fn document(reason: impl Into<String>) -> Self {
        NatError::InvalidDocument {
            reason: truncate(&reason.into()),
        }
    }
}

/// Longest piece of untrusted text we copy into an error, in bytes (keeps logs readable and
/// bounded; our own choice).
pub(crate) const MAX_ERROR_TEXT: usize = 200;

/// Copies at most [`MAX_ERROR_TEXT`] bytes of `s` (cut at a char boundary).
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
