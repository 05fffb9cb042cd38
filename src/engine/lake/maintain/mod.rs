//! Table maintenance: compaction (bin-packing to a target size, optionally Z-ordered on columns or
//! spatially ordered along a Hilbert curve), snapshot expiry and vacuum / orphan-file removal, for
//! Delta ([`delta`]) and Iceberg ([`iceberg`]).
//!
//! Every writing path commits through the table format's own protocol (a Delta log commit; an
//! Iceberg metadata file swapped in by compare-and-swap in the catalog), so a killed job leaves only
//! unreferenced files behind and a concurrent writer's commit is never overwritten. A dry run plans
//! the same work and writes nothing.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::jobs::{JobContext, JobError};
use crate::engine::lake::TableRef;

pub mod delta;
pub mod iceberg;
pub mod iceberg_commit;
pub mod spatial_order;

/// The default target size of a compacted data file (the Delta and Iceberg default, 128 MiB).
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;
/// The default memory bound for sorting (Z-order / spatial order) before spilling: 512 MiB.
pub const DEFAULT_MAX_SORT_MEMORY_BYTES: u64 = 512 * 1024 * 1024;
/// The default retention of `vacuum` (Delta's own default): 7 days.
pub const DEFAULT_VACUUM_RETENTION_HOURS: i64 = 7 * 24;

/// How rows are ordered in the rewritten files.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CompactionOrder {
    /// Bin-packing only: rows keep the order of the files they come from.
    #[default]
    None,
    /// Z-order (interleaved bits) on these columns.
    ZOrder { columns: Vec<String> },
    /// Hilbert order of each geometry's bbox centre (the GeoParquet primary column unless named).
    Spatial { geometry: Option<String> },
}

impl CompactionOrder {
    /// `none`, `zorder(a, b)`, `spatial(geometry)`.
    pub fn describe(&self) -> String {
        match self {
            CompactionOrder::None => "none".to_string(),
            CompactionOrder::ZOrder { columns } => format!("zorder({})", columns.join(", ")),
            CompactionOrder::Spatial { geometry: Some(column) } => format!("spatial({column})"),
            CompactionOrder::Spatial { geometry: None } => "spatial".to_string(),
        }
    }
}

/// `meshlake table compact`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompactionRequest {
    /// Files are packed into files of about this size.
    pub target_file_bytes: u64,
    pub order: CompactionOrder,
    /// Plan only: nothing is written.
    pub dry_run: bool,
    /// Peak memory a sort may hold before it spills to disk.
    pub max_sort_memory_bytes: u64,
}

impl Default for CompactionRequest {
    fn default() -> Self {
        Self {
            target_file_bytes: DEFAULT_TARGET_FILE_BYTES,
            order: CompactionOrder::None,
            dry_run: false,
            max_sort_memory_bytes: DEFAULT_MAX_SORT_MEMORY_BYTES,
        }
    }
}

/// The plan (and, after a run, the outcome) for one partition.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PartitionCompaction {
    /// Partition values (`column → value`; empty for unpartitioned tables).
    pub partition: BTreeMap<String, Option<String>>,
    /// Files of this partition that are rewritten.
    pub files_rewritten: u64,
    /// Their bytes (what is read).
    pub bytes_rewritten: u64,
    pub rows_rewritten: u64,
    /// Files written instead (planned: the estimate; after a run: the count).
    pub files_written: u64,
    /// Bytes written (planned: the estimate, equal to what is read; after a run: the actual size).
    pub bytes_written: u64,
    /// Files of this partition left as they are (already large enough, or alone in their bin).
    pub files_kept: u64,
}

/// `meshlake table compact` output: the plan with `dry_run: true`, the outcome otherwise.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CompactionReport {
    pub dry_run: bool,
    /// `"delta"` or `"iceberg"`.
    pub format: &'static str,
    /// What the rewrite does, in words (bin-packing, sort).
    pub order: String,
    pub target_file_bytes: u64,
    /// Live data files before and after (planned after for a dry run).
    pub files_before: u64,
    pub files_after: u64,
    pub rows_before: u64,
    pub rows_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes read and written by the rewrite (planned for a dry run).
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// The Delta version / Iceberg snapshot id the plan was made on.
    pub version_before: Option<i64>,
    /// The version / snapshot the compaction committed (`None` for a dry run or when nothing needed rewriting).
    pub version_after: Option<i64>,
    pub partitions: Vec<PartitionCompaction>,
    /// How often the commit was retried on a new base after a concurrent commit.
    pub commit_retries: u32,
    /// Rows counted in the table after the commit equal `rows_before` (always checked after a run).
    pub rows_verified: bool,
    /// Notes for the user (e.g. "nothing to compact", a conflict that was retried).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `meshlake table expire`: drop old snapshots (Iceberg) / old log files (Delta).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpireRequest {
    /// Snapshots (Delta: log entries) committed earlier than this long ago may go.
    pub older_than: chrono::Duration,
    /// Always keep at least this many of the most recent snapshots / versions.
    pub keep_last: u32,
    pub dry_run: bool,
}

/// `meshlake table expire` output.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpireReport {
    pub dry_run: bool,
    pub format: &'static str,
    /// Snapshot ids (Iceberg) / versions (Delta) before.
    pub snapshots_before: u64,
    pub snapshots_after: u64,
    /// The snapshot ids / versions that were (or would be) expired.
    pub expired: Vec<i64>,
    /// Files deleted because no kept snapshot references them any more (metadata, manifests, data).
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    /// The table's current version / snapshot (unchanged by expiry).
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `meshlake table vacuum`: delete files the table no longer references.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VacuumRequest {
    /// Only files removed from the table (Delta) / written (Iceberg orphans) longer ago than this go.
    pub retention: chrono::Duration,
    /// Retention below [`DEFAULT_VACUUM_RETENTION_HOURS`] is refused unless this is set.
    pub allow_short_retention: bool,
    pub dry_run: bool,
}

/// `meshlake table vacuum` output.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VacuumReport {
    pub dry_run: bool,
    pub format: &'static str,
    /// The files deleted (or that would be), as the table's storage names them.
    pub files: Vec<String>,
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `meshlake table checkpoint` output (Delta).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckpointReport {
    pub format: &'static str,
    /// The version the checkpoint is at (the latest).
    pub version: i64,
    /// The checkpoint's files in `_delta_log` (one, or the parts of a multi-part checkpoint).
    pub files: Vec<String>,
    pub bytes: u64,
    /// The version already had a checkpoint: nothing was written.
    pub already_existed: bool,
    /// Commits a reader of the latest version replayed before, and replays now (after the last checkpoint).
    pub commits_to_replay_before: u64,
    pub commits_to_replay_after: u64,
}

/// Why a maintenance request is refused before anything is read.
fn refuse(message: impl Into<String>) -> JobError {
    JobError::Invalid(message.into())
}

/// Check a vacuum request: retention under 7 days only when confirmed.
pub fn check_vacuum(request: &VacuumRequest) -> Result<(), JobError> {
    if request.retention < chrono::Duration::zero() {
        return Err(refuse("the vacuum retention cannot be negative"));
    }
    if request.retention < chrono::Duration::hours(DEFAULT_VACUUM_RETENTION_HOURS) && !request.allow_short_retention {
        return Err(refuse(format!(
            "a vacuum retention of {} is shorter than the 7-day default: files a running reader or a time-travel query still needs could be deleted; pass --allow-short-retention (GUI: tick \"allow less than 7 days\") to go ahead",
            describe_duration(request.retention)
        )));
    }
    Ok(())
}

/// Check a compaction request.
pub fn check_compaction(request: &CompactionRequest) -> Result<(), JobError> {
    if request.target_file_bytes < 1024 * 1024 {
        return Err(refuse(format!(
            "a target file size of {} bytes is below 1 MiB; pick a target like 134217728 (128 MiB)",
            request.target_file_bytes
        )));
    }
    if let CompactionOrder::ZOrder { columns } = &request.order
        && columns.is_empty()
    {
        return Err(refuse("Z-order needs at least one column (e.g. --zorder x,y)"));
    }
    Ok(())
}

/// `3d 4h`, `90m`, `0s`.
pub fn describe_duration(duration: chrono::Duration) -> String {
    let secs = duration.num_seconds();
    let (days, hours, minutes, seconds) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        .into_iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() { "0s".to_string() } else { parts.join(" ") }
}

/// A duration typed by a user: `7d`, `168h`, `90m`, `30s`, `1w`, or combinations like `1d12h`.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty duration; write e.g. 7d, 168h, 90m".to_string());
    }
    let mut total = chrono::Duration::zero();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{text:?}: a unit ({c}) without a number before it; write e.g. 7d, 168h, 90m"))?;
        number.clear();
        let part = match c {
            'w' => chrono::Duration::weeks(n),
            'd' => chrono::Duration::days(n),
            'h' => chrono::Duration::hours(n),
            'm' => chrono::Duration::minutes(n),
            's' => chrono::Duration::seconds(n),
            other => return Err(format!("{text:?}: unknown unit {other:?}; use w, d, h, m or s (e.g. 7d, 168h)")),
        };
        total += part;
    }
    if !number.is_empty() {
        return Err(format!("{text:?}: the number {number} has no unit; write e.g. {number}d or {number}h"));
    }
    Ok(total)
}

/// Compact a table (or plan it with `request.dry_run`).
pub async fn compact(table: &TableRef, request: &CompactionRequest, ctx: &JobContext) -> Result<CompactionReport, JobError> {
    check_compaction(request)?;
    match table.resolve().await? {
        TableRef::Delta { location } => delta::compact(&location, request, ctx).await,
        resolved => iceberg::compact(&resolved, request, ctx).await,
    }
}

/// Expire old snapshots (Iceberg) / old log entries (Delta).
pub async fn expire(table: &TableRef, request: &ExpireRequest, ctx: &JobContext) -> Result<ExpireReport, JobError> {
    match table.resolve().await? {
        TableRef::Delta { location } => delta::expire(&location, request, ctx).await,
        resolved => iceberg::expire(&resolved, request, ctx).await,
    }
}

/// Write a checkpoint at the latest version (Delta), so readers start there instead of replaying
/// the commits since the last one.
pub async fn checkpoint(table: &TableRef, ctx: &JobContext) -> Result<CheckpointReport, JobError> {
    match table.resolve().await? {
        TableRef::Delta { location } => delta::checkpoint(&location, ctx).await,
        _ => Err(refuse(
            "Iceberg tables have no checkpoints: each snapshot's metadata file already lists its manifests; use expire to shorten the history",
        )),
    }
}

/// Delete files the table no longer references (Delta vacuum; Iceberg orphan-file removal).
pub async fn vacuum(table: &TableRef, request: &VacuumRequest, ctx: &JobContext) -> Result<VacuumReport, JobError> {
    check_vacuum(request)?;
    match table.resolve().await? {
        TableRef::Delta { location } => delta::vacuum(&location, request, ctx).await,
        resolved => iceberg::vacuum(&resolved, request, ctx).await,
    }
}

/// GeoParquet `geo` metadata for a file merged from files with the `inputs` metadata: `template`'s,
/// with each column's bbox the union of the inputs' bboxes of that column (removed when an input has
/// none: a bbox may be larger than its geometries, never smaller; 3D bboxes count by x/y) and its
/// geometry types the union of theirs (an empty list, "any type", or a missing one wins).
pub(crate) fn merged_geo_metadata(template: &serde_json::Value, inputs: &[Option<serde_json::Value>]) -> serde_json::Value {
    use serde_json::Value;
    let mut geo = template.clone();
    let Some(columns) = geo.get_mut("columns").and_then(Value::as_object_mut) else { return geo };
    for (name, column) in columns.iter_mut() {
        let specs: Vec<Option<&Value>> = inputs.iter().map(|input| input.as_ref()?.get("columns")?.get(name)).collect();
        let bboxes: Option<Vec<[f64; 4]>> = specs
            .iter()
            .map(|spec| {
                let values: Vec<f64> = (*spec)?.get("bbox")?.as_array()?.iter().filter_map(Value::as_f64).collect();
                match values.as_slice() {
                    [a, b, c, d] => Some([*a, *b, *c, *d]),
                    [a, b, _, d, e, _] => Some([*a, *b, *d, *e]),
                    _ => None,
                }
            })
            .collect();
        let bbox = bboxes.and_then(|bboxes| bboxes.into_iter().fold(None, |acc, b| Some(crate::engine::geo::wkb::union_bbox(acc, b))));
        let mut types: Vec<String> = Vec::new();
        let mut any_type = false;
        for spec in &specs {
            match spec.and_then(|s| s.get("geometry_types")).and_then(Value::as_array) {
                Some(list) if !list.is_empty() => {
                    for kind in list.iter().filter_map(Value::as_str) {
                        if !types.iter().any(|t| t == kind) {
                            types.push(kind.to_string());
                        }
                    }
                }
                _ => any_type = true,
            }
        }
        let Some(column) = column.as_object_mut() else { continue };
        match bbox {
            Some(bbox) => column.insert("bbox".into(), serde_json::json!(bbox)),
            None => column.remove("bbox"),
        };
        if !inputs.is_empty() {
            column.insert("geometry_types".into(), serde_json::json!(if any_type { Vec::new() } else { types }));
        }
    }
    geo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
        assert_eq!(parse_duration("1d12h"), Ok(chrono::Duration::hours(36)));
        assert_eq!(parse_duration("90m"), Ok(chrono::Duration::minutes(90)));
        assert_eq!(parse_duration("1w"), Ok(chrono::Duration::days(7)));
        assert!(parse_duration("7").unwrap_err().contains("no unit"));
        assert!(parse_duration("7y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert_eq!(describe_duration(chrono::Duration::hours(36)), "1d 12h");
        assert_eq!(describe_duration(chrono::Duration::zero()), "0s");
    }

    #[test]
    fn short_vacuum_retention_needs_confirmation() {
        let mut request = VacuumRequest { retention: chrono::Duration::hours(1), allow_short_retention: false, dry_run: true };
        let refused = check_vacuum(&request).unwrap_err().to_string();
        assert!(refused.contains("--allow-short-retention"), "{refused}");
        request.allow_short_retention = true;
        assert!(check_vacuum(&request).is_ok());
        request.retention = chrono::Duration::days(7);
        request.allow_short_retention = false;
        assert!(check_vacuum(&request).is_ok());
    }

    #[test]
    fn compaction_requests_are_checked() {
        assert!(check_compaction(&CompactionRequest::default()).is_ok());
        let tiny = CompactionRequest { target_file_bytes: 10, ..Default::default() };
        assert!(check_compaction(&tiny).unwrap_err().to_string().contains("below 1 MiB"));
        let no_columns = CompactionRequest { order: CompactionOrder::ZOrder { columns: vec![] }, ..Default::default() };
        assert!(check_compaction(&no_columns).is_err());
    }
}
