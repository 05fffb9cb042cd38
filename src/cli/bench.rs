//! `meshlake bench open TABLE`: how long opening a table takes inside one warm process — what the
//! Tables panel reads when a table is opened (`engine::lake::table_overview`: format, version, rows,
//! files, bytes, schema, geometry columns, the whole history), repeated, so it can be compared with
//! the Python peers timed in a warm interpreter. Process start-up is not included (it is, in the
//! `table info` / `table history` process timings of `benches/lake_history.py`).

use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use crate::engine::jobs::error_chain;
use crate::engine::lake::{TableRef, table_overview};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time opening a table (overview + history) REPS times in this process, after one first open.
    Open {
        table: String,
        #[arg(long, default_value_t = 7)]
        reps: usize,
        #[arg(long)]
        json: bool,
    },
}

impl BenchCommand {
    pub fn json(&self) -> bool {
        match self {
            BenchCommand::Open { json, .. } => *json,
        }
    }
}

/// Timings in milliseconds.
#[derive(Debug, Serialize)]
struct OpenTimings {
    table: String,
    reps: usize,
    /// The first open in this process (cold process-level caches; the OS page cache as it is).
    first_ms: f64,
    median_ms: f64,
    min_ms: f64,
    /// Process CPU time (user + system, all threads) per open, median.
    cpu_median_ms: f64,
    versions: u64,
    files: u64,
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux), in ms.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1000.0 / 100.0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Open { table, reps, json } = command;
    let reference = TableRef::parse(&table).map_err(|e| anyhow::anyhow!(error_chain(&e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let open = || -> anyhow::Result<(f64, f64, crate::engine::lake::TableOverview)> {
        let cpu = process_cpu_ms();
        let started = Instant::now();
        let overview = runtime.block_on(table_overview(&reference)).map_err(|e| anyhow::anyhow!(error_chain(&e)))?;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let cpu = process_cpu_ms().zip(cpu).map(|(after, before)| after - before).unwrap_or(f64::NAN);
        Ok((wall, cpu, overview))
    };
    let (first_ms, _, overview) = open()?;
    let mut walls = Vec::with_capacity(reps);
    let mut cpus = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let (wall, cpu, _) = open()?;
        walls.push(wall);
        cpus.push(cpu);
    }
    let timings = OpenTimings {
        table,
        reps: walls.len(),
        first_ms,
        min_ms: walls.iter().copied().fold(f64::INFINITY, f64::min),
        median_ms: median(&mut walls),
        cpu_median_ms: median(&mut cpus),
        versions: overview.versions,
        files: overview.files,
    };
    if json {
        println!("{}", serde_json::to_string(&timings)?);
    } else {
        println!(
            "{}: open + history {:.1} ms median of {} (min {:.1}, first {:.1}; CPU {:.1} ms); {} versions, {} files",
            timings.table, timings.median_ms, timings.reps, timings.min_ms, timings.first_ms, timings.cpu_median_ms, timings.versions, timings.files
        );
    }
    Ok(())
}
