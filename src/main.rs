//! The `trailq` command: parses arguments, runs, maps the outcome to the exit-code contract.

use std::process::ExitCode;

fn main() -> ExitCode {
    trailq::cli::main()
}
