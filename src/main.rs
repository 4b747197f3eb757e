//! The `spanflow` command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = spanflow::cli::Cli::parse();
    spanflow::app::init_logging(cli.log_json);
    spanflow::app::run(cli.command)
}
