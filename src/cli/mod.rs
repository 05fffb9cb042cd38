//! Headless subcommands: the same `JobSpec`s the GUI runs, on the same runtime, printed as JSON
//! (`--json`: exactly one JSON object on stdout) or as human text.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::engine::jobs::{JobResult, JobRuntime, JobSpec, error_chain};

/// meshlake: a desktop workbench for spatial lakehouses and spatial data meshes.
///
/// Without a subcommand it opens the GUI (on PATH if given, else on the demo workspace).
#[derive(Debug, Parser)]
#[command(name = "meshlake", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A folder or file to open in the GUI (a STAC catalog, a Delta table, an Iceberg SQLite catalog).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the demo workspace (STAC catalog with COG scenes, Delta and Iceberg parcel tables) into DIR.
    Demo {
        /// Target folder: new, empty, or an earlier demo (which is replaced).
        #[arg(long)]
        dir: PathBuf,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show what a folder or file holds (STAC catalogs, Delta tables, Iceberg catalogs and tables).
    Scan {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Run a headless subcommand; returns the process exit code.
pub fn run(command: Command) -> anyhow::Result<()> {
    let (runtime, mut events) = JobRuntime::start(0, Arc::new(|| {})).context("starting the job runtime")?;
    let (spec, json) = match command {
        Command::Demo { dir, json } => (JobSpec::WriteDemo { dir }, json),
        Command::Scan { path, json } => (JobSpec::ScanWorkspace { path }, json),
    };
    let interactive = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let result = runtime.run_to_end(&mut events, spec, |done, total, message| {
        if interactive {
            eprint!("\r[{done}/{total}] {message:<60}");
        }
    });
    if interactive {
        eprintln!();
    }
    let result = result.map_err(|err| anyhow::anyhow!(error_chain(&err)))?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let value = match &result {
            JobResult::Demo(summary) => serde_json::to_value(summary),
            JobResult::Workspace(workspace) => serde_json::to_value(workspace),
            other => serde_json::to_value(other),
        }
        .context("encoding the result as JSON")?;
        writeln!(stdout, "{value}")?;
    } else {
        match result {
            JobResult::Demo(summary) => {
                writeln!(stdout, "demo workspace written to {}", summary.dir.display())?;
                writeln!(stdout, "  STAC catalog:    {}", summary.stac_catalog.display())?;
                for table in &summary.delta_tables {
                    writeln!(stdout, "  Delta table:     {table}")?;
                }
                writeln!(stdout, "  Iceberg catalog: {}", summary.iceberg_catalog.display())?;
                for table in &summary.iceberg_tables {
                    writeln!(stdout, "  Iceberg table:   {table}")?;
                }
                writeln!(stdout, "open it with: meshlake {}", summary.dir.display())?;
            }
            JobResult::Workspace(workspace) => {
                writeln!(stdout, "{}", workspace.root.display())?;
                for catalog in &workspace.stac_catalogs {
                    writeln!(stdout, "  STAC catalog:    {}", catalog.display())?;
                }
                for table in &workspace.tables {
                    writeln!(stdout, "  table:           {table}")?;
                }
                for problem in &workspace.problems {
                    writeln!(stdout, "  problem:         {problem}")?;
                }
            }
            other => writeln!(stdout, "{}", serde_json::to_string_pretty(&other)?)?,
        }
    }
    Ok(())
}
