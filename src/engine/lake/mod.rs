//! Lakehouse tables: Delta Lake and Apache Iceberg.
//!
//! - [`table_ref`]: how a table is named ([`TableRef`]: a Delta table root or a table in a SQLite
//!   Iceberg SQL catalog) and how such names are parsed and printed.
//! - [`overview`]: the format-neutral [`TableOverview`] the Tables panel and the CLI show.
//! - [`demo_tables`]: the deterministic farmland parcels near Leiden and the Delta and Iceberg
//!   demo tables written from them.
//! - [`iceberg_sql`]: opening SQLite SQL catalogs (the layout pyiceberg's `SqlCatalog` uses).
//! - [`iceberg_rest`]: a client for Iceberg REST catalogs (config, namespaces, tables, load table).
//!
//! Tables are local or in S3-compatible object storage (see [`crate::engine::storage`]), or found
//! through SQLite and REST Iceberg catalogs. Never imports egui, eframe or walkers.

use std::path::PathBuf;

use crate::engine::geo::GeoError;

pub mod delta;
pub mod delta_replay;
pub mod deletion_vectors;
pub mod demo_tables;
pub mod file_health;
pub mod iceberg;
pub mod iceberg_rest;
pub mod iceberg_sql;
pub mod inspect;
pub mod maintain;
pub mod monitor;
pub mod manifest_cache;
pub mod overview;
pub mod page_shapes;
pub mod contract;
pub mod schema_diff;
pub mod spatial;
pub mod table_ref;

pub use demo_tables::{
    DEMO_BBOX, DemoTable, Parcel, PlantedDefect, demo_parcels, write_demo_delta_table,
    write_demo_iceberg_table,
};
pub use iceberg_sql::{ICEBERG_CATALOG_NAME, list_sql_catalog_tables};
pub use overview::{TableFormat, TableOverview, VersionSummary, table_overview};
pub use table_ref::TableRef;

pub use crate::engine::geo::geoparquet::GeometryColumnSummary;

/// How `head` renders a binary cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryCell {
    /// Not a geometry column: `"<N bytes>"`.
    Bytes,
    /// A WKB geometry column, as WKT cut to a short preview.
    ShortWkt,
    /// A WKB geometry column, as complete WKT (for drawing the rows on a map).
    FullWkt,
}

impl BinaryCell {
    pub(crate) fn of(is_geometry: bool, full_geometry: bool) -> Self {
        match (is_geometry, full_geometry) {
            (false, _) => BinaryCell::Bytes,
            (true, false) => BinaryCell::ShortWkt,
            (true, true) => BinaryCell::FullWkt,
        }
    }
}

/// A local path from `file:` URLs (percent-decoded; `file:x` and `file://x` taken as `/x`) and plain
/// paths; `None` for other schemes.
pub(crate) fn plain_local_path(location: &str) -> Option<PathBuf> {
    if let Some(rest) = location.strip_prefix("file:") {
        let rest = rest.trim_start_matches('/');
        url::Url::parse(&format!("file:///{rest}")).ok()?.to_file_path().ok()
    } else if location.contains("://") {
        None
    } else {
        Some(PathBuf::from(location))
    }
}

/// The existing local file a path in a table's listing names (a plain path or a `file:` URL);
/// `None` for other schemes or when nothing is there.
pub(crate) fn local_file(path: &str) -> Option<PathBuf> {
    plain_local_path(path).filter(|local| local.is_file())
}

/// Everything that can go wrong with lake tables, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A path that should exist does not.
    #[error(
        "{path} does not exist; open a Delta table root or an Iceberg SQLite catalog (iceberg+sqlite:///path/catalog.db#namespace.table)"
    )]
    MissingPath {
        /// The missing path.
        path: PathBuf,
    },
    /// A folder was opened as a Delta table but it is not one.
    #[error(
        "{path} has no _delta_log folder: not a Delta table; open a table root or an Iceberg catalog"
    )]
    NotADeltaTable {
        /// The folder.
        path: PathBuf,
    },
    /// A table reference string could not be understood.
    #[error("cannot open table reference {reference:?}: {reason}")]
    BadReference {
        /// What the user typed.
        reference: String,
        /// What is wrong and what to type instead.
        reason: String,
    },
    /// delta-rs failed on a table.
    #[error("Delta table {location}: {action} failed: {source}")]
    Delta {
        /// Table root.
        location: String,
        /// What we were doing (open, write, …).
        action: &'static str,
        /// What delta-rs reported.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// A Delta commit file could not be parsed.
    #[error(
        "Delta log of {location} is corrupt: {file}: {reason}; the table cannot be read until that file is repaired or removed"
    )]
    CorruptDeltaLog {
        /// Table root.
        location: String,
        /// The commit file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// iceberg-rust failed on a table or catalog.
    #[error("Iceberg table {table}: {action} failed: {source}")]
    Iceberg {
        /// `catalog#namespace.table`.
        table: String,
        /// What we were doing.
        action: &'static str,
        /// What iceberg-rust reported.
        #[source]
        source: Box<::iceberg::Error>,
    },
    /// The table is not in the catalog.
    #[error("Iceberg catalog {catalog_db} has no table {namespace}.{table}; tables in it: {known}")]
    IcebergTableNotFound {
        /// The catalog file.
        catalog_db: PathBuf,
        /// Requested namespace.
        namespace: String,
        /// Requested table.
        table: String,
        /// The tables that are there (comma separated), or "none".
        known: String,
    },
    /// An Iceberg REST catalog could not be reached (connection refused, DNS, timeout, TLS).
    #[error(
        "Iceberg REST catalog {url} is unreachable: {reason}; check that the catalog server is running and that host, port and base path are right (iceberg+http://HOST:PORT/PREFIX#namespace.table, PREFIX being the path before /v1), and any proxy or firewall in between"
    )]
    RestCatalogUnreachable {
        /// The URL that was requested.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// An Iceberg REST catalog answered a request with an error (or with something unreadable).
    #[error("Iceberg REST catalog {url}: {action} failed: {message}{hint}")]
    RestCatalog {
        /// The URL that was requested.
        url: String,
        /// What we were doing.
        action: &'static str,
        /// The HTTP status and the server's error (`type`, `code`, `message`), or why the answer could not be read.
        message: String,
        /// What to do about it (may be empty; starts with `; `).
        hint: String,
    },
    /// The table (or its namespace) is not in the REST catalog.
    #[error("Iceberg REST catalog {catalog} has no table {namespace}.{table}; {known}")]
    RestTableNotFound {
        /// The catalog's base URL.
        catalog: String,
        /// Requested namespace.
        namespace: String,
        /// Requested table.
        table: String,
        /// The tables the namespace has (or the namespaces the catalog has).
        known: String,
    },
    /// The SQLite catalog file could not be opened or queried.
    #[error(
        "SQLite catalog {catalog_db}: {action} failed: {source}; is it an Iceberg SQL catalog (tables iceberg_tables, iceberg_namespace_properties)?"
    )]
    SqlCatalog {
        /// The catalog file.
        catalog_db: PathBuf,
        /// What we were doing.
        action: &'static str,
        /// What sqlx reported.
        #[source]
        source: sqlx::Error,
    },
    /// Arrow (59, the Delta side) rejected a batch.
    #[error("building Arrow data for {table} failed: {source}")]
    Arrow {
        /// Which table.
        table: String,
        /// What Arrow reported.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Arrow (58, the Iceberg side) rejected a batch.
    #[error("building Arrow data for Iceberg table {table} failed: {source}")]
    ArrowIceberg {
        /// Which table.
        table: String,
        /// What Arrow reported.
        #[source]
        source: arrow_schema_58::ArrowError,
    },
    /// A Parquet footer could not be read.
    #[error("reading the Parquet footer of {file} failed: {source}")]
    ParquetFooter {
        /// The data file.
        file: PathBuf,
        /// What parquet reported.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A filesystem operation failed.
    #[error("{action} {path} failed: {source}")]
    Io {
        /// What we were doing (create folder, list, read …).
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// A demo table was requested with impossible parameters.
    #[error("cannot write demo table {table}: {reason}")]
    InvalidDemoRequest {
        /// Which table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A Delta version that the log does not (or no longer) hold.
    #[error(
        "Delta table {location} has no version {requested}: available versions are {oldest}..={latest} (older commits may have been cleaned up from _delta_log); pick one in that range"
    )]
    VersionOutOfRange {
        /// Table root.
        location: String,
        /// What was asked for (a version number or a time).
        requested: String,
        /// Oldest version that can still be reconstructed.
        oldest: i64,
        /// Latest version.
        latest: i64,
    },
    /// A version selector that does not apply to this kind of table (e.g. a snapshot id on Delta).
    #[error("table {table}: {reason}")]
    WrongVersionSelector {
        /// Which table.
        table: String,
        /// Why the selector does not apply and what to use instead.
        reason: String,
    },
    /// A table uses a feature we cannot read correctly yet.
    #[error("table {table}: {feature} is not supported yet; {hint}")]
    UnsupportedFeature {
        /// Which table.
        table: String,
        /// The feature (e.g. a Delta reader feature name).
        feature: String,
        /// What still works or what to do.
        hint: String,
    },
    /// A Delta deletion vector that cannot be read.
    #[error("table {table}: the deletion vector of {file} cannot be read: {reason}; the rows of this file cannot be listed correctly")]
    BadDeletionVector {
        /// Which table.
        table: String,
        /// The data file the deletion vector belongs to.
        file: PathBuf,
        /// What is wrong (missing file, bad magic, checksum mismatch…).
        reason: String,
    },
    /// A compaction's commit added other rows than it removed.
    #[error(
        "Delta table {location}: the compaction committed as version {version} removed files holding {removed} rows but added files holding {added}; restore the version before it (meshlake reads older versions with --version) and report this"
    )]
    CompactionRowsDiffer {
        /// Table root.
        location: String,
        /// The version the compaction committed.
        version: i64,
        /// Rows of the files the commit removed.
        removed: u64,
        /// Rows of the files it added.
        added: u64,
    },
    /// A data file the log names is not on disk.
    #[error(
        "table {table}: data file {file} named in the table's log or manifests is missing; restore the table's data files (or copy the whole table folder) before reading rows"
    )]
    MissingDataFile {
        /// Which table.
        table: String,
        /// The file that should be there.
        file: PathBuf,
    },
    /// Reading rows from a data file failed.
    #[error("reading rows of {file} (table {table}) failed: {source}")]
    ParquetRead {
        /// Which table.
        table: String,
        /// The data file.
        file: PathBuf,
        /// What parquet reported.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A path was opened as an Iceberg table but it is not one.
    #[error(
        "{path} is not an Iceberg table: {reason}; open a table folder with metadata/*.metadata.json, a *.metadata.json file, or iceberg+sqlite:///path/catalog.db#namespace.table"
    )]
    NotAnIcebergTable {
        /// The folder or file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A snapshot id that the Iceberg table does not have.
    #[error(
        "Iceberg table {table} has no snapshot {snapshot}; its snapshots are: {known} (see `meshlake table history`)"
    )]
    IcebergSnapshotNotFound {
        /// Which table.
        table: String,
        /// The requested snapshot id.
        snapshot: i64,
        /// The snapshot ids it has (comma separated), or "none".
        known: String,
    },
    /// An as-of time before the first snapshot of an Iceberg table.
    #[error(
        "Iceberg table {table} has no snapshot at or before {at}; {first} (see `meshlake table history`)"
    )]
    IcebergNoSnapshotAt {
        /// Which table.
        table: String,
        /// The requested instant (RFC 3339).
        at: String,
        /// When the first snapshot was taken, or that there are none.
        first: String,
    },
    /// A Delta version number was asked of an Iceberg table.
    #[error(
        "Iceberg table {table} has snapshot ids, not version numbers (asked for version {version}); select a snapshot id or a time instead (see `meshlake table history`)"
    )]
    VersionOnIcebergTable {
        /// Which table.
        table: String,
        /// The version that was asked for.
        version: i64,
    },
    /// A file an Iceberg table's metadata names is missing or cannot be read.
    #[error("Iceberg table {table}: {file} {problem}; {advice}")]
    IcebergFile {
        /// Which table.
        table: String,
        /// The file (where it actually is).
        file: String,
        /// `is missing` / `cannot be read: …`.
        problem: String,
        /// What to do.
        advice: String,
    },
    /// A table feature the Iceberg reader cannot handle.
    #[error("Iceberg table {table}: {file} is {what}, which cannot be read yet; {advice}")]
    IcebergUnsupported {
        /// Which table.
        table: String,
        /// The file that needs the feature.
        file: String,
        /// What the feature is.
        what: String,
        /// What to do instead.
        advice: String,
    },
    /// Requested columns that the table does not have.
    #[error("table {table} has no column {missing}; its columns are: {known}")]
    UnknownColumns {
        /// Which table.
        table: String,
        /// The missing column names (comma separated).
        missing: String,
        /// The columns it has (comma separated).
        known: String,
    },
    /// Object storage (S3 or the local filesystem through `object_store`) failed.
    #[error("{action} {url} failed: {hint} ({source})")]
    ObjectStore {
        /// What we were doing (list, read, …).
        action: &'static str,
        /// The location (`s3://bucket/key` or a local path).
        url: String,
        /// What to check, in words.
        hint: String,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
    /// A maintenance commit lost the compare-and-swap against a concurrent commit that changed what
    /// it rewrote (or it ran out of retries); the table is unchanged by it.
    #[error("Iceberg table {table}: the commit was not made: {reason}; the table is unchanged (files this run wrote are unreferenced and `meshlake table vacuum` removes them); run the maintenance again")]
    CommitConflict {
        /// Which table.
        table: String,
        /// What changed concurrently (naming the conflicting snapshot or metadata file).
        reason: String,
    },
    /// A table that maintenance cannot safely change (format version, storage, catalog kind).
    #[error("Iceberg table {table}: {what} cannot be maintained by MeshLake yet; {advice}")]
    MaintenanceUnsupported {
        /// Which table.
        table: String,
        /// What stands in the way.
        what: String,
        /// What to do instead.
        advice: String,
    },
    /// Geometry encoding or GeoParquet metadata problems.
    #[error(transparent)]
    Geo(#[from] GeoError),
}

impl LakeError {
    /// Wrap a delta-rs error with the table and the action.
    pub(crate) fn delta(
        location: impl Into<String>,
        action: &'static str,
        source: deltalake::DeltaTableError,
    ) -> Self {
        Self::Delta {
            location: location.into(),
            action,
            source: Box::new(source),
        }
    }

    /// Wrap an iceberg-rust error with the table and the action.
    pub(crate) fn iceberg(
        table: impl Into<String>,
        action: &'static str,
        source: ::iceberg::Error,
    ) -> Self {
        Self::Iceberg {
            table: table.into(),
            action,
            source: Box::new(source),
        }
    }

    /// Wrap an I/O error with the action and the path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_and_plain_paths_become_local_paths() {
        assert_eq!(plain_local_path("/data/t/part-0.parquet"), Some(PathBuf::from("/data/t/part-0.parquet")));
        assert_eq!(plain_local_path("file:///data/t/a%20b.parquet"), Some(PathBuf::from("/data/t/a b.parquet")));
        assert_eq!(plain_local_path("file:/data/t"), Some(PathBuf::from("/data/t")));
        assert_eq!(plain_local_path("relative/t"), Some(PathBuf::from("relative/t")));
        assert_eq!(plain_local_path("s3://bucket/t"), None);
        assert_eq!(local_file("/definitely/not/here.parquet"), None);
    }
}
