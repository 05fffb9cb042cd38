//! The `meshlake` binary: no subcommand opens the GUI; subcommands run headless jobs.

use clap::Parser as _;
use meshlake::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => {
            let _log = meshlake::engine::logbuf::init_logging(true, "");
            run(command)
        }
        None => meshlake::ui::run_native(cli.path),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
