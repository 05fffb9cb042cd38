//! A format-neutral overview of one table: what the Tables panel and `meshlake table` show.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;

use super::LakeError;
use super::inspect::{HistoryEntry, SchemaField, SmallFilePolicy, VersionSelector, table_history, table_info};
use super::table_ref::TableRef;
use crate::engine::geo::geoparquet::{
    GeometryColumnSummary, geometry_columns_in_footer,
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
    pub columns: Vec<SchemaField>,
    /// From the GeoParquet `geo` metadata of one data file's footer (empty when there is none).
    pub geometry_columns: Vec<GeometryColumnSummary>,
    /// Newest first.
    pub history: Vec<VersionSummary>,
    /// Non-fatal problems (e.g. a data file whose footer could not be read).
    pub warnings: Vec<String>,
}

/// Read the overview of a table at its latest version: its [`TableInfo`] and [`TableHistory`]
/// (local or in object storage; an `s3://` folder is resolved to its format first).
pub async fn table_overview(table: &TableRef) -> Result<TableOverview, LakeError> {
    let reference = table.to_string();
    let resolved = table.resolve().await?;
    let table = &resolved;
    if !matches!(table, TableRef::Delta { .. } | TableRef::Folder { .. })
        && let Some(mut overview) = super::iceberg::summary_overview(table).await?
    {
        overview.reference = reference;
        return Ok(overview);
    }
    let policy = SmallFilePolicy::default();
    let (info, history) = tokio::try_join!(table_info(table, &VersionSelector::Latest, &policy), table_history(table))?;
    Ok(TableOverview {
        reference,
        format: match table {
            TableRef::Delta { .. } | TableRef::Folder { .. } => TableFormat::Delta,
            TableRef::IcebergSql { .. } | TableRef::IcebergRest { .. } | TableRef::IcebergFile { .. } => TableFormat::Iceberg,
        },
        format_version: info.format_version,
        location: info.location,
        current_version: info.version.map(|v| v.to_string()).unwrap_or_else(|| "none".to_owned()),
        versions: history.versions.len() as u64,
        rows: info.num_rows,
        files: info.num_files,
        bytes: info.total_bytes,
        partition_columns: info.partition_columns,
        columns: info.schema,
        geometry_columns: info.geometry_columns,
        history: history.versions.iter().rev().map(VersionSummary::from).collect(),
        warnings: info.warnings,
    })
}

impl From<&HistoryEntry> for VersionSummary {
    fn from(entry: &HistoryEntry) -> Self {
        Self {
            version: entry.version.to_string(),
            timestamp_ms: entry.timestamp.map(|t| t.timestamp_millis()).unwrap_or(0),
            operation: entry.operation.clone(),
            files_added: entry.files_added,
            files_removed: entry.files_removed,
            rows_added: entry.rows_added,
        }
    }
}

/// The geometry columns described in one local Parquet file's footer (GeoParquet `geo` metadata or
/// Parquet's native GEOMETRY type).
pub fn geometry_columns_from_parquet_footer(
    file: &Path,
) -> Result<Vec<GeometryColumnSummary>, LakeError> {
    let reader = std::fs::File::open(file).map_err(|e| LakeError::io("open", file, e))?;
    let parquet_reader =
        SerializedFileReader::new(reader).map_err(|source| LakeError::ParquetFooter {
            file: file.to_path_buf(),
            source,
        })?;
    Ok(geometry_columns_in_footer(parquet_reader.metadata(), &file.display().to_string())?)
}

/// The GeoParquet geometry columns described in a Parquet file's footer, read through its store
/// (only the footer is fetched). `shown` names the file in messages.
pub async fn geometry_columns_from_object(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    path: &object_store::path::Path,
    shown: &Path,
) -> Result<Vec<GeometryColumnSummary>, LakeError> {
    use parquet::arrow::async_reader::AsyncFileReader;
    let mut reader =
        crate::engine::storage::ParquetObjectReader::new(store.clone(), path.clone());
    let metadata = reader
        .get_metadata(None)
        .await
        .map_err(|source| LakeError::ParquetFooter {
            file: shown.to_path_buf(),
            source,
        })?;
    Ok(geometry_columns_in_footer(&metadata, &shown.display().to_string())?)
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
