//! `meshlake table compact | expire | vacuum | checkpoint`: arguments → maintenance requests, reports → text.

use std::io::Write;

use clap::Args;

use crate::engine::lake::maintain::{
    CompactionOrder, CompactionReport, CompactionRequest, DEFAULT_MAX_SORT_MEMORY_BYTES, DEFAULT_TARGET_FILE_BYTES,
    CheckpointReport, ExpireReport, ExpireRequest, VacuumReport, VacuumRequest, parse_duration,
};

/// How `table compact` orders rows.
#[derive(Debug, Args)]
pub struct OrderArgs {
    /// Z-order the rewritten files on these columns (comma separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "spatial")]
    pub zorder: Vec<String>,
    /// Order rows along a Hilbert curve over their geometry's bbox centre.
    #[arg(long)]
    pub spatial: bool,
    /// The geometry column for --spatial (default: the GeoParquet primary column).
    #[arg(long, requires = "spatial")]
    pub geometry: Option<String>,
}

impl OrderArgs {
    pub fn order(self) -> CompactionOrder {
        if self.spatial {
            CompactionOrder::Spatial { geometry: self.geometry }
        } else if !self.zorder.is_empty() {
            CompactionOrder::ZOrder { columns: self.zorder }
        } else {
            CompactionOrder::None
        }
    }
}

pub fn compaction_request(
    target_size: Option<u64>,
    order: OrderArgs,
    dry_run: bool,
    max_sort_memory: Option<u64>,
) -> CompactionRequest {
    CompactionRequest {
        target_file_bytes: target_size.unwrap_or(DEFAULT_TARGET_FILE_BYTES),
        order: order.order(),
        dry_run,
        max_sort_memory_bytes: max_sort_memory.unwrap_or(DEFAULT_MAX_SORT_MEMORY_BYTES),
    }
}

pub fn expire_request(older_than: &str, keep_last: u32, dry_run: bool) -> anyhow::Result<ExpireRequest> {
    let older_than = parse_duration(older_than).map_err(|e| anyhow::anyhow!("--older-than {e}"))?;
    Ok(ExpireRequest { older_than, keep_last, dry_run })
}

pub fn vacuum_request(retention: &str, allow_short_retention: bool, dry_run: bool) -> anyhow::Result<VacuumRequest> {
    let retention = parse_duration(retention).map_err(|e| anyhow::anyhow!("--retention {e}"))?;
    Ok(VacuumRequest { retention, allow_short_retention, dry_run })
}

fn version(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".to_owned())
}

pub fn print_compaction(out: &mut impl Write, report: &CompactionReport) -> std::io::Result<()> {
    let what = if report.dry_run { "plan (dry run, nothing written)" } else { "compacted" };
    writeln!(out, "{} {what}: order {}, target {} bytes", report.format, report.order, report.target_file_bytes)?;
    writeln!(out, "  version: {} -> {}", version(report.version_before), version(report.version_after))?;
    writeln!(out, "  files:   {} -> {}", report.files_before, report.files_after)?;
    writeln!(out, "  rows:    {} -> {}{}", report.rows_before, report.rows_after, if report.rows_verified { " (verified)" } else { "" })?;
    writeln!(out, "  bytes:   {} -> {} (read {}, written {})", report.bytes_before, report.bytes_after, report.bytes_read, report.bytes_written)?;
    for partition in &report.partitions {
        let name: Vec<String> = partition
            .partition
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
            .collect();
        let name = if name.is_empty() { "(unpartitioned)".to_owned() } else { name.join("/") };
        writeln!(
            out,
            "  {name}: {} files ({} bytes, {} rows) -> {} files; {} kept",
            partition.files_rewritten, partition.bytes_rewritten, partition.rows_rewritten, partition.files_written, partition.files_kept
        )?;
    }
    if report.commit_retries > 0 {
        writeln!(out, "  commit retried {} time(s) after concurrent commits", report.commit_retries)?;
    }
    for note in &report.notes {
        writeln!(out, "  note: {note}")?;
    }
    Ok(())
}

pub fn print_expire(out: &mut impl Write, report: &ExpireReport) -> std::io::Result<()> {
    let what = if report.dry_run { "would expire" } else { "expired" };
    writeln!(out, "{} {what} {} of {} snapshots; {} remain", report.format, report.expired.len(), report.snapshots_before, report.snapshots_after)?;
    writeln!(out, "  files deleted: {} ({} bytes)", report.files_deleted, report.bytes_deleted)?;
    for id in &report.expired {
        writeln!(out, "  - {id}")?;
    }
    for note in &report.notes {
        writeln!(out, "  note: {note}")?;
    }
    Ok(())
}

pub fn print_vacuum(out: &mut impl Write, report: &VacuumReport) -> std::io::Result<()> {
    let what = if report.dry_run { "would delete" } else { "deleted" };
    writeln!(out, "{} vacuum {what} {} files ({} bytes)", report.format, report.files_deleted, report.bytes_deleted)?;
    for file in &report.files {
        writeln!(out, "  {file}")?;
    }
    for note in &report.notes {
        writeln!(out, "  note: {note}")?;
    }
    Ok(())
}

pub fn print_checkpoint(out: &mut impl Write, report: &CheckpointReport) -> std::io::Result<()> {
    let what = if report.already_existed { "already had a checkpoint" } else { "checkpoint written" };
    writeln!(out, "{} version {}: {what} ({} bytes)", report.format, report.version, report.bytes)?;
    for file in &report.files {
        writeln!(out, "  {file}")?;
    }
    writeln!(out, "  commits a reader replays: {} before, {} now", report.commits_to_replay_before, report.commits_to_replay_after)?;
    Ok(())
}

pub fn print_health(out: &mut impl Write, series: &crate::engine::lake::monitor::HealthSeries) -> std::io::Result<()> {
    writeln!(out, "{} ({} observations in {})", series.table, series.observations.len(), series.log.display())?;
    writeln!(out, "{:<25} {:>20} {:>9} {:>9} {:>12} {:>14}", "observed", "version", "versions", "files", "small files", "max/partition")?;
    for o in &series.observations {
        writeln!(
            out,
            "{:<25} {:>20} {:>9} {:>9} {:>12} {:>14}",
            o.observed_at.format("%Y-%m-%d %H:%M:%S"),
            version(o.version),
            o.versions,
            o.files,
            o.small_files,
            o.max_small_files_per_partition
        )?;
    }
    if series.alerts.is_empty() {
        writeln!(out, "healthy: no partition holds more than {} small files", series.policy.max_small_files_per_partition)?;
    }
    for alert in &series.alerts {
        writeln!(out, "ALERT: {alert}")?;
    }
    Ok(())
}
