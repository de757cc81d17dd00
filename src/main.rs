//! The `formwerk` binary: parses arguments, runs the command, maps failures to exit codes
//! (0 success, 1 bad input, 2 internal failure, 130 interrupted by Ctrl-C, 143 by SIGTERM).

mod cli;
mod interrupt;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            // --help and --version are successes; usage mistakes are bad input.
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let (e, code) = match cli::run(args) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(cli::Failure::Input(e)) => (e, 1),
        Err(cli::Failure::Interrupted(e)) => (e, interrupt::exit_code()),
        Err(cli::Failure::Internal(e)) => (e, 2),
    };
    eprintln!("error: {}", said_once(&e));
    ExitCode::from(code)
}

/// Writing to a closed pipe (`formwerk schema | head`) ends the process quietly, as it does
/// other command-line tools, instead of a panic in `println!`: Rust's runtime ignores SIGPIPE,
/// so every write would fail with `EPIPE` instead.
fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any other thread exists; it only restores the
    // default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes joined by `: `, each said once: a message that already quotes its
/// cause (as `cannot write: {source}` does) is not followed by it again.
fn said_once(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
