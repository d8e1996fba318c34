//! Network helpers for the devp2p stack (to come: CIDR lists, LAN checks,
//! distinct-subnet limits, endpoint prediction).
#![warn(missing_docs)]
