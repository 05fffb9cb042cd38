//! Inspecting a table at a version: info, history, files and a page of rows — the shapes the
//! `meshlake table info|history|files|head` commands print and the Tables panel shows. Delta
//! (`lake::delta`) and Iceberg (`lake::iceberg`) each fill them; [`table_info`] & co. dispatch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::lake::deletion_vectors::DeletionVector;
use crate::engine::lake::{GeometryColumnSummary, LakeError, TableRef};

/// Which version of a table to look at.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VersionSelector {
    /// The current version / snapshot.
    #[default]
    Latest,
    /// A Delta table version.
    Version(i64),
    /// An Iceberg snapshot id.
    Snapshot(i64),
    /// The version that was current at this instant (the last commit at or before it).
    AsOf(DateTime<Utc>),
}

/// Thresholds for small-file health figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SmallFilePolicy {
    /// The table's target file size; files below `target_file_bytes / 4` count as small by default.
    pub target_file_bytes: u64,
    /// A file smaller than this is small.
    pub small_file_bytes: u64,
    /// Alert when one partition holds more small files than this.
    pub max_small_files_per_partition: u64,
}

impl Default for SmallFilePolicy {
    fn default() -> Self {
        let target_file_bytes = 128 * 1024 * 1024;
        Self { target_file_bytes, small_file_bytes: target_file_bytes / 4, max_small_files_per_partition: 10_000 }
    }
}

/// One column of a schema.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaField {
    pub name: String,
    /// The table format's own type name (Delta: `string`, `long`, `timestamp`…; Iceberg: `string`, `long`, `timestamptz`…).
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

/// `meshlake table info`.
#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    /// `"delta"` or `"iceberg"`.
    pub format: &'static str,
    /// Delta `reader N / writer M`, Iceberg `v1`/`v2`/`v3`.
    pub format_version: String,
    pub location: String,
    /// Delta version or Iceberg snapshot id (`None` for an Iceberg table without snapshots).
    pub version: Option<i64>,
    /// Commit time of that version (RFC 3339).
    pub timestamp: Option<DateTime<Utc>>,
    /// Exact when the log/manifests carry record counts (Iceberg always; Delta when stats exist).
    pub num_rows: Option<u64>,
    pub num_files: u64,
    pub total_bytes: u64,
    pub schema: Vec<SchemaField>,
    pub partition_columns: Vec<String>,
    pub geometry_columns: Vec<GeometryColumnSummary>,
    /// Data files below `SmallFilePolicy::small_file_bytes`.
    pub small_files: u64,
    /// The largest number of small files in one partition.
    pub max_small_files_per_partition: u64,
    /// Where the table was found when its metadata names another location (moved/copied tables),
    /// with the prefix that was remapped; `None` when nothing was remapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remapped_from: Option<String>,
    /// Non-fatal findings (e.g. missing statistics).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One commit / snapshot in `meshlake table history`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub parent: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
    pub operation: String,
    pub files_added: u64,
    pub files_removed: u64,
    pub rows_added: Option<u64>,
    pub rows_removed: Option<u64>,
}

/// `meshlake table history` (oldest first).
#[derive(Clone, Debug, Serialize)]
pub struct TableHistory {
    pub versions: Vec<HistoryEntry>,
}

/// What a file in a table is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Data,
    PositionDeletes,
    EqualityDeletes,
    /// Delta deletion vector attached to a data file.
    DeletionVector,
}

/// One live file in `meshlake table files`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableFile {
    /// As the table's metadata names it, resolved to where the file actually is.
    pub path: String,
    /// Partition values (`column=value` pairs; empty for unpartitioned tables).
    pub partition: std::collections::BTreeMap<String, Option<String>>,
    pub bytes: u64,
    pub rows: Option<u64>,
    /// lon/lat (or table-CRS) bbox from statistics or the GeoParquet bbox covering, when known.
    pub bbox: Option<[f64; 4]>,
    pub kind: FileKind,
    /// The file's Delta deletion vector (`rows` already leaves its rows out; spatial jobs skip
    /// them); shown in JSON as `deleted_rows`, its cardinality.
    #[serde(rename = "deleted_rows", skip_serializing_if = "Option::is_none", serialize_with = "serialize_deleted_rows")]
    pub deletion_vector: Option<DeletionVector>,
}

impl TableFile {
    /// Rows of the file its deletion vector deletes; `None` without one.
    pub fn deleted_rows(&self) -> Option<u64> {
        self.deletion_vector.as_ref().map(DeletionVector::deleted_rows)
    }
}

fn serialize_deleted_rows<S: serde::Serializer>(
    deletion_vector: &Option<DeletionVector>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match deletion_vector {
        Some(dv) => serializer.serialize_u64(dv.deleted_rows()),
        None => serializer.serialize_none(),
    }
}

/// `meshlake table files`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableFiles {
    pub files: Vec<TableFile>,
}

/// `meshlake table head`: a page of rows; geometry (WKB) columns rendered as short WKT, other values as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct TablePage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// What `head` reads.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u64,
    /// Only these columns (in this order); empty = all.
    pub columns: Vec<String>,
    /// Geometry as complete WKT instead of a short preview (for drawing a page on the map).
    pub full_geometry: bool,
}

fn not_supported(table: &TableRef, what: &str) -> LakeError {
    LakeError::BadReference { reference: table.to_string(), reason: format!("{what} is not supported for this table yet") }
}

/// Info at a version.
pub async fn table_info(table: &TableRef, at: &VersionSelector, policy: &SmallFilePolicy) -> Result<TableInfo, LakeError> {
    let table = table.resolve().await?;
    dispatch_info(&table, at, policy).await
}

/// History, oldest first.
pub async fn table_history(table: &TableRef) -> Result<TableHistory, LakeError> {
    let table = table.resolve().await?;
    dispatch_history(&table).await
}

/// Live files at a version.
pub async fn table_files(table: &TableRef, at: &VersionSelector) -> Result<TableFiles, LakeError> {
    let table = table.resolve().await?;
    dispatch_files(&table, at).await
}

/// A page of rows at a version (Iceberg deletes applied).
pub async fn table_head(table: &TableRef, at: &VersionSelector, page: &PageRequest) -> Result<TablePage, LakeError> {
    let table = table.resolve().await?;
    dispatch_head(&table, at, page).await
}

// The per-format implementations plug in here (`lake::delta`, `lake::iceberg`).
async fn dispatch_info(table: &TableRef, _at: &VersionSelector, _policy: &SmallFilePolicy) -> Result<TableInfo, LakeError> {
    if let TableRef::Delta { location } = table { return crate::engine::lake::delta::info(location, _at, _policy).await; }
    if matches!(table, TableRef::IcebergSql { .. } | TableRef::IcebergRest { .. } | TableRef::IcebergFile { .. }) { return crate::engine::lake::iceberg::info(table, _at, _policy).await; }
    Err(not_supported(table, "table info"))
}
async fn dispatch_history(table: &TableRef) -> Result<TableHistory, LakeError> {
    if let TableRef::Delta { location } = table { return crate::engine::lake::delta::history(location).await; }
    if matches!(table, TableRef::IcebergSql { .. } | TableRef::IcebergRest { .. } | TableRef::IcebergFile { .. }) { return crate::engine::lake::iceberg::history(table).await; }
    Err(not_supported(table, "table history"))
}
async fn dispatch_files(table: &TableRef, _at: &VersionSelector) -> Result<TableFiles, LakeError> {
    let mut files = if let TableRef::Delta { location } = table {
        crate::engine::lake::delta::files(location, _at).await?
    } else if matches!(table, TableRef::IcebergSql { .. } | TableRef::IcebergRest { .. } | TableRef::IcebergFile { .. }) {
        crate::engine::lake::iceberg::files(table, _at).await?
    } else {
        return Err(not_supported(table, "table files"));
    };
    fill_bboxes_from_footers(&mut files).await;
    Ok(files)
}

/// At most this many parquet footers are read to find file bboxes the statistics do not give.
const MAX_FOOTER_BBOX_READS: usize = 20_000;

/// Files whose statistics give no bbox get the bbox of their GeoParquet `geo` metadata (primary
/// column), read from the footer of local data files; unreadable footers are left without one.
async fn fill_bboxes_from_footers(files: &mut TableFiles) {
    let wanted: Vec<(usize, std::path::PathBuf)> = files
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.bbox.is_none() && f.kind == FileKind::Data)
        .filter_map(|(i, f)| crate::engine::lake::local_file(&f.path).map(|p| (i, p)))
        .take(MAX_FOOTER_BBOX_READS)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let found = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        wanted
            .into_par_iter()
            .filter_map(|(i, path)| crate::engine::geo::geoparquet::footer_bbox(&path).map(|bbox| (i, bbox)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (i, bbox) in found {
        if let Some(file) = files.files.get_mut(i) {
            file.bbox = Some(bbox);
        }
    }
}
async fn dispatch_head(table: &TableRef, _at: &VersionSelector, _page: &PageRequest) -> Result<TablePage, LakeError> {
    if let TableRef::Delta { location } = table { return crate::engine::lake::delta::head(location, _at, _page).await; }
    if matches!(table, TableRef::IcebergSql { .. } | TableRef::IcebergRest { .. } | TableRef::IcebergFile { .. }) { return crate::engine::lake::iceberg::head(table, _at, _page).await; }
    Err(not_supported(table, "table head"))
}
