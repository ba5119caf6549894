//! The `trailq` command: parses arguments, runs, maps the outcome to the exit-code contract.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
