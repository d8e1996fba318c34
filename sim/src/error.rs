//! Errors of a simulation run.

/// Why a run could not start or a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is inconsistent (named field and reason).
    #[error("invalid simulation config: {field}: {reason}")]
    Config {
        /// The offending field of [`crate::SimConfig`].
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The runtime could not be built.
    #[error("cannot build the simulation runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Writing the report failed.
    #[error("cannot write the report to {path}: {source}")]
    Write {
        /// The file that could not be written.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("cannot draw {what}: {reason}")]
    Plot {
        /// Which picture.
        what: &'static str,
        /// The plotting library's message.
        reason: String,
    },
}
