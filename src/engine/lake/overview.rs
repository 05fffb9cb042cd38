//! A format-neutral overview of one table: what the Tables panel and `meshlake table` show.

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use iceberg::spec::{FormatVersion, Transform};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;

use super::LakeError;
use super::table_ref::TableRef;
use crate::engine::geo::geoparquet::{
    GEO_METADATA_KEY, GeometryColumnSummary, summarize_geo_metadata,
};

/// Which table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TableFormat {
    /// Delta Lake.
    Delta,
    /// Apache Iceberg.
    Iceberg,
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Delta => "Delta",
            Self::Iceberg => "Iceberg",
        })
    }
}

/// One column of the current schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnSummary {
    /// Column name.
    pub name: String,
    /// The format's own type name (`string`, `binary`, `timestamp`, `timestamptz`, …).
    pub data_type: String,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// One Delta commit or Iceberg snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionSummary {
    /// Delta version number or Iceberg snapshot id.
    pub version: String,
    /// Commit time, milliseconds since the Unix epoch (0 when the log does not say).
    pub timestamp_ms: i64,
    /// `WRITE`, `OPTIMIZE`, `append`, `overwrite`, …
    pub operation: String,
    /// Data files added by this version.
    pub files_added: u64,
    /// Data files removed by this version.
    pub files_removed: u64,
    /// Rows added, when the log records it.
    pub rows_added: Option<u64>,
}

/// Everything the Tables panel shows about one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableOverview {
    /// The [`TableRef`] string.
    pub reference: String,
    /// Delta or Iceberg.
    pub format: TableFormat,
    /// Delta `reader N / writer M`, Iceberg `v1`/`v2`/`v3`.
    pub format_version: String,
    /// Table root / Iceberg table location.
    pub location: String,
    /// Delta version number / Iceberg current snapshot id (`none` for an empty Iceberg table).
    pub current_version: String,
    /// Delta: commits (latest version + 1); Iceberg: snapshots in the metadata.
    pub versions: u64,
    /// Rows in the current version, when file statistics say.
    pub rows: Option<u64>,
    /// Data files in the current version.
    pub files: u64,
    /// Total size of those files in bytes.
    pub bytes: u64,
    /// Delta partition columns; Iceberg partition fields as `column` or `transform(column)`.
    pub partition_columns: Vec<String>,
    /// The current schema's top-level columns.
    pub columns: Vec<ColumnSummary>,
    /// From the GeoParquet `geo` metadata of one data file's footer (empty when there is none).
    pub geometry_columns: Vec<GeometryColumnSummary>,
    /// Newest first.
    pub history: Vec<VersionSummary>,
    /// Non-fatal problems (e.g. a data file whose footer could not be read).
    pub warnings: Vec<String>,
}

/// Read the overview of a table (local filesystem tables only).
pub async fn table_overview(table: &TableRef) -> Result<TableOverview, LakeError> {
    match table {
        TableRef::Delta { location } => delta_overview(table, location).await,
        TableRef::IcebergSql { .. } | TableRef::IcebergFile { .. } => iceberg_overview(table).await,
    }
}

/// The GeoParquet geometry columns described in one local Parquet file's footer.
pub fn geometry_columns_from_parquet_footer(
    file: &Path,
) -> Result<Vec<GeometryColumnSummary>, LakeError> {
    let reader = std::fs::File::open(file).map_err(|e| LakeError::io("open", file, e))?;
    let parquet_reader =
        SerializedFileReader::new(reader).map_err(|source| LakeError::ParquetFooter {
            file: file.to_path_buf(),
            source,
        })?;
    let geo_json = parquet_reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|entries| entries.iter().find(|entry| entry.key == GEO_METADATA_KEY))
        .and_then(|entry| entry.value.clone());
    match geo_json {
        Some(json) => Ok(summarize_geo_metadata(&json, &file.display().to_string())?),
        None => Ok(Vec::new()),
    }
}

/// Geometry columns from the first readable file, collecting a warning instead of failing.
fn geometry_columns_or_warning(
    file: Option<PathBuf>,
    warnings: &mut Vec<String>,
) -> Vec<GeometryColumnSummary> {
    let Some(file) = file else { return Vec::new() };
    match geometry_columns_from_parquet_footer(&file) {
        Ok(columns) => columns,
        Err(error) => {
            warnings.push(format!("no geometry metadata: {error}"));
            Vec::new()
        }
    }
}

/// A local path from a data file location that is either a `file://` URL or a plain path.
fn local_path_of(location: &str) -> Option<PathBuf> {
    if location.starts_with("file:") {
        url::Url::parse(location).ok()?.to_file_path().ok()
    } else if location.contains("://") {
        None
    } else {
        Some(PathBuf::from(location))
    }
}

async fn delta_overview(table: &TableRef, location: &str) -> Result<TableOverview, LakeError> {
    let root = local_path_of(location).ok_or_else(|| LakeError::BadReference {
        reference: location.to_string(),
        reason: "only local Delta tables are supported".to_string(),
    })?;
    if !root.exists() {
        return Err(LakeError::MissingPath { path: root });
    }
    let log_dir = root.join("_delta_log");
    if !log_dir.is_dir() {
        return Err(LakeError::NotADeltaTable { path: root });
    }
    let root = std::fs::canonicalize(&root).map_err(|e| LakeError::io("resolve", &root, e))?;
    let table_url = url::Url::from_directory_path(&root).map_err(|()| LakeError::BadReference {
        reference: location.to_string(),
        reason: "cannot turn the folder into a file URL".to_string(),
    })?;
    let delta_table = deltalake::open_table(table_url)
        .await
        .map_err(|e| LakeError::delta(location, "open", e))?;
    let snapshot = delta_table
        .snapshot()
        .map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    let protocol = snapshot.protocol();
    let metadata = snapshot.metadata();

    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut rows = Some(0u64);
    let mut first_file = None;
    for file in snapshot.log_data().iter() {
        files += 1;
        bytes += file.size().max(0) as u64;
        rows = match (rows, file.num_records()) {
            (Some(total), Some(records)) => Some(total + records as u64),
            _ => None,
        };
        if first_file.is_none() {
            let path = file.path();
            first_file = if path.contains("://") {
                local_path_of(&path)
            } else {
                Some(root.join(path.as_ref()))
            };
        }
    }
    let columns = snapshot
        .schema()
        .fields()
        .map(|field| ColumnSummary {
            name: field.name().to_string(),
            data_type: field.data_type().to_string(),
            nullable: field.is_nullable(),
        })
        .collect();
    let mut warnings = Vec::new();
    let geometry_columns = geometry_columns_or_warning(first_file, &mut warnings);
    let history = delta_history(location, &log_dir)?;
    let version = snapshot.version();
    Ok(TableOverview {
        reference: table.to_string(),
        format: TableFormat::Delta,
        format_version: format!(
            "reader {} / writer {}",
            protocol.min_reader_version(),
            protocol.min_writer_version()
        ),
        location: root.display().to_string(),
        current_version: version.to_string(),
        versions: version + 1,
        rows,
        files,
        bytes,
        partition_columns: metadata.partition_columns().to_vec(),
        columns,
        geometry_columns,
        history,
        warnings,
    })
}

/// The commits still present as JSON files in `_delta_log`, newest first (parsed by
/// [`super::delta::commit_history`]; a commit without a time gets 0).
fn delta_history(location: &str, log_dir: &Path) -> Result<Vec<VersionSummary>, LakeError> {
    let commits = super::delta::commit_history(location, log_dir)?;
    Ok(commits
        .into_iter()
        .rev()
        .map(|entry| VersionSummary {
            version: entry.version.to_string(),
            timestamp_ms: entry.timestamp.map(|t| t.timestamp_millis()).unwrap_or(0),
            operation: entry.operation,
            files_added: entry.files_added,
            files_removed: entry.files_removed,
            rows_added: entry.rows_added,
        })
        .collect())
}

/// A snapshot summary number (`total-records`, `added-data-files`, …).
fn summary_number(
    properties: &std::collections::HashMap<String, String>,
    key: &str,
) -> Option<u64> {
    properties.get(key).and_then(|value| value.parse().ok())
}

async fn iceberg_overview(table: &TableRef) -> Result<TableOverview, LakeError> {
    let context = table.to_string();
    let iceberg_error = |action: &'static str| {
        let context = context.clone();
        move |source| LakeError::iceberg(context, action, source)
    };
    let opened = super::iceberg::open(table).await?;
    let iceberg_table = &opened.table;
    let metadata = iceberg_table.metadata();
    let schema = metadata.current_schema();
    let columns = schema
        .as_struct()
        .fields()
        .iter()
        .map(|field| ColumnSummary {
            name: field.name.clone(),
            data_type: field.field_type.to_string(),
            nullable: !field.required,
        })
        .collect();
    let partition_columns = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|field| {
            let source = schema
                .field_by_id(field.source_id)
                .map(|source| source.name.clone())
                .unwrap_or_else(|| format!("field {}", field.source_id));
            match field.transform {
                Transform::Identity => source,
                transform => format!("{transform}({source})"),
            }
        })
        .collect();
    let current = metadata.current_snapshot();
    let current_summary = current.map(|snapshot| &snapshot.summary().additional_properties);
    let (rows, files, bytes) = match current_summary {
        Some(properties) => (
            summary_number(properties, "total-records"),
            summary_number(properties, "total-data-files").unwrap_or(0),
            summary_number(properties, "total-files-size").unwrap_or(0),
        ),
        None => (Some(0), 0, 0),
    };
    let mut snapshots: Vec<_> = metadata.snapshots().collect();
    snapshots.sort_by_key(|snapshot| std::cmp::Reverse(snapshot.timestamp_ms()));
    let history = snapshots
        .iter()
        .map(|snapshot| {
            let properties = &snapshot.summary().additional_properties;
            VersionSummary {
                version: snapshot.snapshot_id().to_string(),
                timestamp_ms: snapshot.timestamp_ms(),
                operation: snapshot.summary().operation.as_str().to_string(),
                files_added: summary_number(properties, "added-data-files").unwrap_or(0),
                files_removed: summary_number(properties, "deleted-data-files").unwrap_or(0),
                rows_added: summary_number(properties, "added-records"),
            }
        })
        .collect();

    let mut warnings = Vec::new();
    let mut first_file = None;
    if current.is_some() {
        let scan = iceberg_table
            .scan()
            .build()
            .map_err(iceberg_error("plan a scan"))?;
        let mut tasks = scan
            .plan_files()
            .await
            .map_err(iceberg_error("list data files"))?;
        if let Some(task) = tasks
            .try_next()
            .await
            .map_err(iceberg_error("list data files"))?
        {
            first_file = opened.local_path(task.data_file_path());
            if first_file.is_none() {
                warnings.push(format!(
                    "data file {} is not local; geometry metadata not read",
                    task.data_file_path()
                ));
            }
        }
    }
    let geometry_columns = geometry_columns_or_warning(first_file, &mut warnings);
    Ok(TableOverview {
        reference: table.to_string(),
        format: TableFormat::Iceberg,
        format_version: match metadata.format_version() {
            FormatVersion::V1 => "v1".to_string(),
            FormatVersion::V2 => "v2".to_string(),
            FormatVersion::V3 => "v3".to_string(),
        },
        location: opened.location(),
        current_version: current
            .map(|s| s.snapshot_id().to_string())
            .unwrap_or_else(|| "none".to_string()),
        versions: metadata.snapshots().len() as u64,
        rows,
        files,
        bytes,
        partition_columns,
        columns,
        geometry_columns,
        history,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lake::list_sql_catalog_tables;
    use crate::engine::lake::demo_tables::{
        demo_parcels, write_demo_delta_table, write_demo_iceberg_table,
    };

    fn assert_parcels_geometry(overview: &TableOverview) {
        assert_eq!(overview.geometry_columns.len(), 1, "{overview:#?}");
        let geometry = &overview.geometry_columns[0];
        assert_eq!(geometry.name, "geometry");
        assert_eq!(geometry.encoding, "WKB");
        assert_eq!(geometry.crs.as_deref(), Some("OGC:CRS84"));
        assert_eq!(geometry.geometry_types, vec!["Polygon"]);
        let bbox = geometry.bbox.expect("bbox");
        assert!(
            bbox[0] >= 4.48 && bbox[2] <= 4.75 && bbox[1] >= 52.15 && bbox[3] <= 52.30,
            "{bbox:?}"
        );
        assert!(overview.warnings.is_empty(), "{:?}", overview.warnings);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn delta_demo_table_overview() {
        let dir = tempfile::tempdir().unwrap();
        let parcels = demo_parcels(60, 1);
        let root = dir.path().join("parcels");
        let demo = write_demo_delta_table(&root, &parcels, 12).await.unwrap();
        assert_eq!((demo.rows, demo.files, demo.versions), (60, 12, 12));
        let table = TableRef::parse(&demo.reference).unwrap();
        let overview = table_overview(&table).await.unwrap();
        assert_eq!(overview.format, TableFormat::Delta);
        assert_eq!(overview.current_version, "11");
        assert_eq!(overview.versions, 12);
        assert_eq!(overview.rows, Some(60));
        assert_eq!(overview.files, 12);
        assert!(overview.bytes > 0);
        assert_eq!(overview.history.len(), 12);
        assert_eq!(overview.history[0].version, "11");
        assert_eq!(overview.history[11].rows_added, Some(5));
        assert!(
            overview
                .history
                .iter()
                .all(|v| v.operation == "WRITE" && v.files_added == 1)
        );
        let names: Vec<_> = overview
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.nullable))
            .collect();
        assert_eq!(
            names,
            vec![
                ("parcel_id", false),
                ("geometry", false),
                ("crs", true),
                ("updated_at", true)
            ]
        );
        assert!(
            overview.format_version.starts_with("reader "),
            "{}",
            overview.format_version
        );
        assert_parcels_geometry(&overview);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn iceberg_demo_table_overview() {
        let dir = tempfile::tempdir().unwrap();
        let parcels = demo_parcels(40, 2);
        let catalog_db = dir.path().join("catalog.db");
        let warehouse = dir.path().join("warehouse");
        let demo =
            write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &parcels, 4)
                .await
                .unwrap();
        assert_eq!((demo.rows, demo.files, demo.versions), (40, 4, 4));
        assert_eq!(
            list_sql_catalog_tables(&catalog_db).await.unwrap(),
            vec![("demo".to_string(), "parcels".to_string())]
        );
        let table = TableRef::parse(&demo.reference).unwrap();
        let overview = table_overview(&table).await.unwrap();
        assert_eq!(overview.format, TableFormat::Iceberg);
        assert_eq!(overview.format_version, "v2");
        assert_eq!(overview.versions, 4);
        assert_eq!(overview.rows, Some(40));
        assert_eq!(overview.files, 4);
        assert_eq!(overview.history.len(), 4);
        assert_eq!(overview.history[0].version, overview.current_version);
        assert!(
            overview
                .history
                .iter()
                .all(|v| v.operation == "append" && v.files_added == 1)
        );
        let types: Vec<_> = overview
            .columns
            .iter()
            .map(|c| c.data_type.as_str())
            .collect();
        assert_eq!(types, vec!["string", "binary", "string", "timestamptz"]);
        assert_parcels_geometry(&overview);

        // Writing again replaces the table instead of failing.
        let again =
            write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &parcels, 2)
                .await
                .unwrap();
        assert_eq!(again.versions, 2);

        let missing = TableRef::IcebergSql {
            catalog_db: catalog_db.clone(),
            catalog: "default".into(),
            namespace: "demo".into(),
            table: "nope".into(),
        };
        let err = table_overview(&missing).await.unwrap_err();
        assert!(err.to_string().contains("demo.parcels"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn corrupt_delta_log_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("parcels");
        let demo = write_demo_delta_table(&root, &demo_parcels(6, 3), 2)
            .await
            .unwrap();
        std::fs::write(
            root.join("_delta_log/00000000000000000002.json"),
            b"{not json",
        )
        .unwrap();
        let err = table_overview(&TableRef::parse(&demo.reference).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                LakeError::Delta { .. } | LakeError::CorruptDeltaLog { .. }
            ),
            "{err:?}"
        );
    }
}
