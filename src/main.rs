//! The `formwerk` binary: parses arguments, runs the command, maps failures to exit codes
//! (0 success, 1 bad input, 2 internal failure, 130 interrupted).

mod cli;
mod cli_sweep;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::Failure::Input(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(cli::Failure::Internal(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(cli::Failure::Interrupted(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(130)
        }
    }
}
