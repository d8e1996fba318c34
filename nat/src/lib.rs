//! Port mapping for the devp2p stack (to come: UPnP IGD, NAT-PMP, fixed external IP).
#![warn(missing_docs)]
