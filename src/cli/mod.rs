//! Headless subcommands: the same `JobSpec`s the GUI runs, on the same runtime, printed as JSON
//! (`--json`: exactly one JSON object on stdout) or as human text.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::engine::jobs::{JobResult, JobRuntime, JobSpec, error_chain};
use crate::engine::lake::TableRef;
use crate::engine::lake::inspect::{PageRequest, SmallFilePolicy, VersionSelector};

mod bench;
mod maintain;
mod spatial;
mod stac;
pub mod ndvi;

/// meshlake: a desktop workbench for spatial lakehouses and spatial data meshes.
///
/// Without a subcommand it opens the GUI (on PATH if given, else on the demo workspace).
#[derive(Debug, Parser)]
#[command(name = "meshlake", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A folder or file to open in the GUI (a STAC catalog, a Delta table, an Iceberg SQLite catalog, a Zarr store as a map layer).
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
    /// Show what a folder or file holds (STAC catalogs, Delta tables, Iceberg catalogs and tables), or the
    /// tables of an Iceberg REST catalog (`iceberg+http://HOST:PORT/PREFIX`).
    Scan {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks run inside one process (see benches/).
    Bench {
        #[command(subcommand)]
        command: crate::cli::bench::BenchCommand,
    },
    /// Inspect a Delta or Iceberg table.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
    /// Search a STAC API or a static STAC catalog; validate a STAC document.
    Stac {
        #[command(subcommand)]
        command: crate::cli::stac::StacCommand,
    },
    /// Compute an NDVI product (Zarr, optionally published as a STAC item) from STAC items' red/NIR COGs;
    /// `ndvi stats PRODUCT.zarr`: histogram and statistics of an area of a product.
    Ndvi(ndvi::NdviCommandArgs),
}

/// Which version of the table (at most one; default: the current one).
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct VersionArgs {
    /// Delta table version.
    #[arg(long)]
    pub version: Option<i64>,
    /// Iceberg snapshot id.
    #[arg(long)]
    pub snapshot: Option<i64>,
    /// The version current at this instant (RFC 3339, e.g. 2025-06-01T00:00:00Z).
    #[arg(long = "as-of")]
    pub as_of: Option<String>,
}

impl VersionArgs {
    fn selector(&self) -> anyhow::Result<VersionSelector> {
        Ok(match (self.version, self.snapshot, &self.as_of) {
            (Some(v), _, _) => VersionSelector::Version(v),
            (_, Some(s), _) => VersionSelector::Snapshot(s),
            (_, _, Some(t)) => VersionSelector::AsOf(
                chrono::DateTime::parse_from_rfc3339(t)
                    .with_context(|| format!("--as-of {t:?} is not an RFC 3339 time (like 2025-06-01T12:00:00Z)"))?
                    .with_timezone(&chrono::Utc),
            ),
            _ => VersionSelector::Latest,
        })
    }
}

/// A table: a Delta table root, an Iceberg table folder or metadata.json,
/// `iceberg+sqlite:///ABS/catalog.db#namespace.table` or `iceberg+http://HOST:PORT/PREFIX#namespace.table`.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Format, location, version, rows, files, bytes, schema, partitioning, geometry columns, small files.
    Info {
        table: String,
        #[command(flatten)]
        at: VersionArgs,
        /// Files smaller than this count as small (default: a quarter of 128 MiB).
        #[arg(long)]
        small_file_bytes: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Every commit / snapshot, oldest first.
    History {
        table: String,
        #[arg(long)]
        json: bool,
    },
    /// Live data and delete files.
    Files {
        table: String,
        #[command(flatten)]
        at: VersionArgs,
        #[arg(long)]
        json: bool,
    },
    /// Schema changes between two versions: columns added, removed, retyped, nullability, partitioning, `geo` metadata.
    Diff {
        table: String,
        /// The older side: a Delta version, an Iceberg snapshot id, or an RFC 3339 time.
        #[arg(long)]
        from: String,
        /// The newer side (default: the current version).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The first rows (geometry as WKT).
    Head {
        table: String,
        #[command(flatten)]
        at: VersionArgs,
        #[arg(long, default_value_t = 10)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Comma-separated column names.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check every geometry: null, malformed WKB, wrong type, OGC validity, simplicity, CRS and its area.
    Validate {
        table: String,
        #[command(flatten)]
        at: VersionArgs,
        /// The geometry column (default: the GeoParquet primary column, else `geometry`).
        #[arg(long)]
        geometry: Option<String>,
        /// Allowed geometry types (e.g. Polygon,MultiPolygon) when the files' `geo` metadata declares none.
        #[arg(long, value_delimiter = ',')]
        geometry_types: Vec<String>,
        /// The CRS to assume when the files' `geo` metadata declares none (e.g. OGC:CRS84, EPSG:28992).
        #[arg(long)]
        crs: Option<String>,
        /// Also report schema drift from this version (number, snapshot id or RFC 3339 time) to the validated one.
        #[arg(long)]
        against: Option<String>,
        /// Check every data file against this schema contract (JSON or TOML; see `table contract`).
        #[arg(long, value_name = "FILE")]
        contract: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The schema contract of a table version (Arrow schema + GeoParquet `geo` metadata of its data) as
    /// JSON, for `table validate --contract`.
    Contract {
        table: String,
        #[command(flatten)]
        at: VersionArgs,
        /// One line instead of indented JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rows whose geometry matches a spatial predicate; files and row groups are pruned by bbox first.
    Query {
        table: String,
        #[command(flatten)]
        predicate: crate::cli::spatial::PredicateArgs,
        /// The distance for --dwithin (planar, in the CRS's units).
        #[arg(long)]
        distance: Option<f64>,
        #[command(flatten)]
        at: VersionArgs,
        #[arg(long)]
        geometry: Option<String>,
        /// Write the matching rows to this GeoParquet file (written beside it, then renamed into place).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Record the table's current health (files, small files, versions) in its monitor log under the
    /// data folder and print the series with the alerts it raises (for cron / CI).
    Monitor {
        table: String,
        /// Files smaller than this count as small (default: a quarter of 128 MiB).
        #[arg(long)]
        small_file_bytes: Option<u64>,
        /// Alert when one partition holds more small files than this (default 10000).
        #[arg(long)]
        max_small_files: Option<u64>,
        /// Exit with an error when an alert is raised (after printing the series).
        #[arg(long)]
        fail_on_alert: bool,
        #[arg(long)]
        json: bool,
    },
    /// Rewrite small files into files of the target size (bin-packing), optionally Z-ordered or spatially ordered.
    Compact {
        table: String,
        /// Target file size in bytes (default 134217728, 128 MiB).
        #[arg(long)]
        target_size: Option<u64>,
        #[command(flatten)]
        order: crate::cli::maintain::OrderArgs,
        /// Bytes a sort may hold in memory before spilling to disk (default 512 MiB).
        #[arg(long)]
        max_sort_memory: Option<u64>,
        /// Print the plan; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Expire snapshots (Iceberg) / log entries (Delta) older than a duration, keeping the last N.
    Expire {
        table: String,
        /// e.g. 7d, 168h, 90m.
        #[arg(long)]
        older_than: String,
        /// Always keep this many of the newest snapshots / versions.
        #[arg(long, default_value_t = 1)]
        keep_last: u32,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a Delta checkpoint at the latest version (readers start there instead of replaying commits).
    Checkpoint {
        table: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete files the table no longer references (Delta vacuum; Iceberg orphan files) older than the retention.
    Vacuum {
        table: String,
        /// e.g. 7d (the default), 168h.
        #[arg(long, default_value = "7d")]
        retention: String,
        /// Allow a retention shorter than 7 days.
        #[arg(long)]
        allow_short_retention: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

fn table_spec(command: TableCommand) -> anyhow::Result<(JobSpec, bool)> {
    let parse = |t: &str| TableRef::parse(t).map_err(|e| anyhow::anyhow!(error_chain(&e)));
    Ok(match command {
        TableCommand::Info { table, at, small_file_bytes, json } => {
            let mut policy = SmallFilePolicy::default();
            if let Some(bytes) = small_file_bytes {
                policy.small_file_bytes = bytes;
            }
            let at = at.selector()?;
            (JobSpec::TableInfo { table: parse(&table)?, at, policy }, json)
        }
        TableCommand::History { table, json } => (JobSpec::TableHistory { table: parse(&table)? }, json),
        TableCommand::Files { table, at, json } => {
            let at = at.selector()?;
            (JobSpec::TableFiles { table: parse(&table)?, at }, json)
        }
        TableCommand::Diff { table, from, to, json } => {
            let table = parse(&table)?;
            let iceberg = !matches!(table, TableRef::Delta { .. });
            let from = version_argument(&from, iceberg)?;
            let to = to.map(|to| version_argument(&to, iceberg)).transpose()?.unwrap_or_default();
            (JobSpec::TableSchemaDiff { table, from, to }, json)
        }
        TableCommand::Head { table, at, limit, offset, columns, json } => {
            let at = at.selector()?;
            (JobSpec::TableHead { table: parse(&table)?, at, page: PageRequest { offset, limit, columns, ..Default::default() } }, json)
        }
        TableCommand::Validate { table, at, geometry, geometry_types, crs, against, contract, json } => {
            let table = parse(&table)?;
            let iceberg = !matches!(table, TableRef::Delta { .. });
            let against = against.map(|a| version_argument(&a, iceberg)).transpose()?;
            (JobSpec::TableValidate { table, at: at.selector()?, geometry, geometry_types, crs, against, contract }, json)
        }
        TableCommand::Contract { table, at, json } => (JobSpec::TableContract { table: parse(&table)?, at: at.selector()? }, json),
        TableCommand::Query { table, predicate, distance, at, geometry, out, json } => {
            let request = crate::engine::lake::spatial::QueryRequest { predicate: predicate.predicate(distance)?, geometry, out, allow_full_scan: true, keep_matches: false };
            (JobSpec::TableQuery { table: parse(&table)?, at: at.selector()?, request }, json)
        }
        TableCommand::Monitor { table, small_file_bytes, max_small_files, fail_on_alert: _, json } => {
            let mut policy = SmallFilePolicy::default();
            if let Some(bytes) = small_file_bytes {
                policy.small_file_bytes = bytes;
            }
            if let Some(count) = max_small_files {
                policy.max_small_files_per_partition = count;
            }
            let paths = crate::engine::settings::AppPaths::from_env().map_err(|e| anyhow::anyhow!(error_chain(&e)))?;
            (JobSpec::TableMonitor { table: parse(&table)?, policy, log_dir: paths.data_dir.join("monitor") }, json)
        }
        TableCommand::Compact { table, target_size, order, max_sort_memory, dry_run, json } => {
            let request = maintain::compaction_request(target_size, order, dry_run, max_sort_memory);
            (JobSpec::TableCompact { table: parse(&table)?, request }, json)
        }
        TableCommand::Expire { table, older_than, keep_last, dry_run, json } => {
            let request = maintain::expire_request(&older_than, keep_last, dry_run)?;
            (JobSpec::TableExpire { table: parse(&table)?, request }, json)
        }
        TableCommand::Checkpoint { table, json } => (JobSpec::TableCheckpoint { table: parse(&table)? }, json),
        TableCommand::Vacuum { table, retention, allow_short_retention, dry_run, json } => {
            let request = maintain::vacuum_request(&retention, allow_short_retention, dry_run)?;
            (JobSpec::TableVacuum { table: parse(&table)?, request }, json)
        }
    })
}

/// A version typed on the command line: a number (Delta version / Iceberg snapshot id), an RFC 3339
/// time, or `latest`.
fn version_argument(text: &str, iceberg: bool) -> anyhow::Result<VersionSelector> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("latest") {
        return Ok(VersionSelector::Latest);
    }
    if let Ok(number) = text.parse::<i64>() {
        return Ok(if iceberg { VersionSelector::Snapshot(number) } else { VersionSelector::Version(number) });
    }
    let time = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("{text:?} is neither a version number, a snapshot id nor an RFC 3339 time (like 2025-06-01T12:00:00Z)")
    })?;
    Ok(VersionSelector::AsOf(time.with_timezone(&chrono::Utc)))
}

/// Whether the subcommand asked for `--json`: then a failure is reported on stderr as one JSON
/// object, `{"error": "…"}` (the whole error chain, naming the file at fault), stdout stays empty.
pub fn wants_json(command: &Command) -> bool {
    match command {
        Command::Demo { json, .. } | Command::Scan { json, .. } => *json,
        Command::Table { command } => match command {
            TableCommand::Info { json, .. }
            | TableCommand::History { json, .. }
            | TableCommand::Files { json, .. }
            | TableCommand::Head { json, .. }
            | TableCommand::Diff { json, .. }
            | TableCommand::Validate { json, .. }
            | TableCommand::Contract { json, .. }
            | TableCommand::Query { json, .. }
            | TableCommand::Monitor { json, .. }
            | TableCommand::Compact { json, .. }
            | TableCommand::Expire { json, .. }
            | TableCommand::Vacuum { json, .. }
            | TableCommand::Checkpoint { json, .. } => *json,
        },
        Command::Stac { command } => command.json(),
        Command::Ndvi(args) => args.json(),
        Command::Bench { command } => command.json(),
    }
}

/// The error line `main` prints on stderr: `{"error": "…"}` with `--json`, else `error: …`.
pub fn error_line(err: &anyhow::Error, json: bool) -> String {
    let text = format!("{err:#}");
    if json { serde_json::json!({ "error": text }).to_string() } else { format!("error: {text}") }
}

/// Run a headless subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    let fail_on_alert = matches!(&command, Command::Table { command: TableCommand::Monitor { fail_on_alert: true, .. } });
    // `stac validate` prints its report, then fails when the document is invalid.
    let mut thumbnail_out = None;
    let (spec, json) = match command {
        Command::Demo { dir, json } => (JobSpec::WriteDemo { dir, reuse_existing: false }, json),
        Command::Scan { path, json } => (JobSpec::ScanWorkspace { path }, json),
        Command::Table { command } => table_spec(command)?,
        Command::Stac { command } => {
            thumbnail_out = crate::cli::stac::thumbnail_out(&command);
            command.spec()?
        }
        Command::Ndvi(args) => args.spec()?,
        Command::Bench { command } => return bench::run(command),
    };
    let (runtime, mut events) = JobRuntime::start(0, Arc::new(|| {})).context("starting the job runtime")?;
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
    crate::cli::spatial::warn(&result);
    if let JobResult::NdviStats(stats) = &result {
        ndvi::check_overlap(stats)?;
    }
    if let (Some(out), JobResult::StacThumbnail(thumbnail)) = (&thumbnail_out, &result) {
        crate::cli::stac::save_thumbnail(thumbnail, out)?;
    }
    let alerts = match &result {
        JobResult::Health(series) if fail_on_alert => series.alerts.join("; "),
        JobResult::StacValidation(report) if !report.valid => {
            format!("{} is not valid STAC: {} problem(s)", report.href, report.problems.len())
        }
        _ => String::new(),
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let value = match &result {
            JobResult::Demo(summary) => serde_json::to_value(summary),
            JobResult::Workspace(workspace) => serde_json::to_value(workspace),
            JobResult::TableInfo(info) => serde_json::to_value(info),
            JobResult::TableHistory(history) => serde_json::to_value(history),
            JobResult::TableFiles(files) => serde_json::to_value(files),
            JobResult::TablePage(page) => serde_json::to_value(page),
            JobResult::SchemaDiff(diff) => serde_json::to_value(diff),
            JobResult::Validation(report) => serde_json::to_value(report),
            JobResult::Contract(contract) => serde_json::to_value(contract),
            JobResult::Query(report) => serde_json::to_value(report),
            JobResult::StacSearch(result) => serde_json::to_value(result),
            JobResult::StacApi(info) => serde_json::to_value(info),
            JobResult::StacValidation(report) => serde_json::to_value(report),
            JobResult::StacQueryables(result) => serde_json::to_value(result),
            JobResult::StacThumbnail(thumbnail) => serde_json::to_value(thumbnail),
            JobResult::Ndvi(product) => serde_json::to_value(product),
            JobResult::NdviStats(stats) => serde_json::to_value(stats),
            JobResult::Compaction(report) => serde_json::to_value(report),
            JobResult::Health(series) => serde_json::to_value(series),
            JobResult::Expire(report) => serde_json::to_value(report),
            JobResult::Vacuum(report) => serde_json::to_value(report),
            JobResult::Checkpoint(report) => serde_json::to_value(report),
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
                for catalog in &workspace.rest_catalogs {
                    writeln!(stdout, "  REST catalog:    {catalog}")?;
                }
                for table in &workspace.tables {
                    writeln!(stdout, "  table:           {table}")?;
                }
                for zarr in &workspace.zarr_stores {
                    writeln!(stdout, "  Zarr store:      {}", zarr.display())?;
                }
                for problem in &workspace.problems {
                    writeln!(stdout, "  problem:         {problem}")?;
                }
            }
            JobResult::TableHistory(history) => {
                writeln!(stdout, "{:>20}  {:>20}  {:<25} {:<18} {:>7} {:>7} {:>10} {:>10}", "version", "parent", "timestamp", "operation", "+files", "-files", "+rows", "-rows")?;
                let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
                for v in &history.versions {
                    writeln!(
                        stdout,
                        "{:>20}  {:>20}  {:<25} {:<18} {:>7} {:>7} {:>10} {:>10}",
                        v.version,
                        v.parent.map(|p| p.to_string()).unwrap_or_default(),
                        v.timestamp.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        v.operation,
                        v.files_added,
                        v.files_removed,
                        opt(v.rows_added),
                        opt(v.rows_removed)
                    )?;
                }
            }
            JobResult::TableInfo(info) => {
                let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "unknown".to_owned());
                writeln!(stdout, "format:            {}", info.format)?;
                writeln!(stdout, "location:          {}", info.location)?;
                if let Some(from) = &info.remapped_from {
                    writeln!(stdout, "remapped from:     {from}")?;
                }
                writeln!(stdout, "version:           {}", info.version.map(|v| v.to_string()).unwrap_or_default())?;
                writeln!(stdout, "timestamp:         {}", info.timestamp.map(|t| t.to_rfc3339()).unwrap_or_default())?;
                writeln!(stdout, "rows:              {}", opt(info.num_rows))?;
                writeln!(stdout, "files:             {} ({} bytes)", info.num_files, info.total_bytes)?;
                writeln!(stdout, "small files:       {} (max {} in one partition)", info.small_files, info.max_small_files_per_partition)?;
                writeln!(stdout, "partition columns: {}", info.partition_columns.join(", "))?;
                for field in &info.schema {
                    writeln!(stdout, "  {:<24} {:<16} {}", field.name, field.data_type, if field.nullable { "nullable" } else { "not null" })?;
                }
                for geometry in &info.geometry_columns {
                    writeln!(stdout, "geometry column:   {} ({}, CRS {})", geometry.name, geometry.encoding, geometry.crs.as_deref().unwrap_or("OGC:CRS84"))?;
                }
                for warning in &info.warnings {
                    writeln!(stdout, "warning:           {warning}")?;
                }
            }
            JobResult::TableFiles(files) => {
                for file in &files.files {
                    let rows = file.rows.map(|r| r.to_string()).unwrap_or_default();
                    writeln!(stdout, "{:>12} {:>10} {:?} {}", file.bytes, rows, file.kind, file.path)?;
                }
            }
            JobResult::TablePage(page) => {
                writeln!(stdout, "{}", page.columns.join("\t"))?;
                for row in &page.rows {
                    let cells: Vec<String> =
                        row.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect();
                    writeln!(stdout, "{}", cells.join("\t"))?;
                }
            }
            JobResult::SchemaDiff(diff) => {
                let version = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".to_owned());
                writeln!(stdout, "from {} to {}: {} change(s)", version(diff.from_version), version(diff.to_version), diff.change_count())?;
                for field in &diff.added {
                    writeln!(stdout, "  + {} {}", field.name, field.data_type)?;
                }
                for field in &diff.removed {
                    writeln!(stdout, "  - {} {}", field.name, field.data_type)?;
                }
                for column in &diff.retyped {
                    writeln!(stdout, "  ~ {} {} -> {}", column.name, column.from, column.to)?;
                }
                for change in &diff.nullability {
                    let text = |n: bool| if n { "nullable" } else { "not null" };
                    writeln!(stdout, "  ~ {} {} -> {}", change.name, text(change.from_nullable), text(change.to_nullable))?;
                }
                if diff.partition_columns_from != diff.partition_columns_to {
                    writeln!(stdout, "  partitioning [{}] -> [{}]", diff.partition_columns_from.join(", "), diff.partition_columns_to.join(", "))?;
                }
                for change in &diff.geometry {
                    let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
                    writeln!(stdout, "  geo {} {}: {} -> {}", change.column, change.property, side(&change.from), side(&change.to))?;
                }
            }
            JobResult::Validation(report) => crate::cli::spatial::print_validation(&mut stdout, &report)?,
            JobResult::Contract(contract) => writeln!(stdout, "{}", serde_json::to_string_pretty(&contract)?)?,
            JobResult::Query(report) => crate::cli::spatial::print_query(&mut stdout, &report)?,
            JobResult::StacSearch(result) => crate::cli::stac::print_search(&mut stdout, &result)?,
            JobResult::StacValidation(report) => crate::cli::stac::print_validation(&mut stdout, &report)?,
            JobResult::StacQueryables(result) => crate::cli::stac::print_queryables(&mut stdout, &result)?,
            JobResult::StacThumbnail(thumbnail) => crate::cli::stac::print_thumbnail(&mut stdout, &thumbnail)?,
            JobResult::Ndvi(product) => write!(stdout, "{}", ndvi::describe(&product))?,
            JobResult::NdviStats(stats) => write!(stdout, "{}", ndvi::describe_stats(&stats))?,
            JobResult::Compaction(report) => maintain::print_compaction(&mut stdout, &report)?,
            JobResult::Health(series) => maintain::print_health(&mut stdout, &series)?,
            JobResult::Expire(report) => maintain::print_expire(&mut stdout, &report)?,
            JobResult::Vacuum(report) => maintain::print_vacuum(&mut stdout, &report)?,
            JobResult::Checkpoint(report) => maintain::print_checkpoint(&mut stdout, &report)?,
            other => writeln!(stdout, "{}", serde_json::to_string_pretty(&other)?)?,
        }
    }
    if !alerts.is_empty() {
        if alerts.contains("is not valid STAC") {
            anyhow::bail!("{alerts}");
        }
        anyhow::bail!("health alert: {alerts}");
    }
    Ok(())
}
