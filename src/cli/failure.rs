//! How a command ends when it fails, mapped to the exit code at the binary's edge.

/// How the process should end.
pub enum Failure {
    /// Bad input (exit code 1).
    Input(anyhow::Error),
    /// Internal failure (exit code 2).
    Internal(anyhow::Error),
    /// Stopped by Ctrl-C or SIGTERM (exit code 130 or 143, as a shell reports the signal).
    Interrupted(anyhow::Error),
}
