//! The run loop (in progress).

use crate::{SimConfig, SimError, SimReport};

/// Runs one simulation on a current-thread runtime with paused time.
pub fn run(config: &SimConfig) -> Result<SimReport, SimError> {
    let _ = config;
    Err(SimError::Config {
        field: "scenario",
        reason: "not implemented yet".into(),
    })
}
