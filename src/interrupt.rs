//! Ctrl-C (SIGINT) and SIGTERM, the signal a cluster's scheduler sends before it preempts a job:
//! the first asks the running optimizations to stop before their next iteration, keeping their
//! checkpoints, and the command then exits with 128 + the signal's number (130, 143) as a shell
//! reports it; a second ends the process at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Set at the first signal: what the optimizations ask before each iteration.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Listens for the signals on a thread of its own (not in signal context, so printing is safe);
/// `message` is printed at the first one unless `quiet`.
pub fn listen(message: &'static str, quiet: bool) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C and SIGTERM: {e}"))?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if RECEIVED
                .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                std::process::exit(128 + signal);
            }
            STOP.store(true, Ordering::SeqCst);
            if !quiet {
                eprintln!("{message}");
            }
        }
    });
    Ok(())
}

/// Whether a signal asked to stop.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The exit code for the signal received: 130 for SIGINT, 143 for SIGTERM.
pub fn exit_code() -> u8 {
    u8::try_from(128 + RECEIVED.load(Ordering::SeqCst)).unwrap_or(130)
}
