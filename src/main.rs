//! The `meshlake` binary: no subcommand opens the GUI; subcommands run headless jobs.

use clap::Parser as _;
use meshlake::cli::{Cli, error_line, run, wants_json};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = cli.command.as_ref().is_some_and(wants_json);
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
            eprintln!("{}", error_line(&err, json));
            std::process::ExitCode::FAILURE
        }
    }
}
