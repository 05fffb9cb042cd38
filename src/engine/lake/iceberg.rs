//! Iceberg tables at a snapshot: info, history, files and a page of rows.
//!
//! Tables are opened without a catalog client: the metadata file comes from a
//! [`TableRef::IcebergFile`] directly or is looked up in the SQLite catalog of a
//! [`TableRef::IcebergSql`] (any catalog name), or the metadata comes from an Iceberg REST catalog
//! (a [`TableRef::IcebergRest`], loaded through [`super::iceberg_rest`]); it is then read as an
//! iceberg-rust `StaticTable`.
//!
//! **Moved tables.** When the metadata's `location` is not where the table was found (copied from
//! object storage, written with relative paths, renamed folder), every path under the recorded
//! location is remapped to the folder that actually holds `metadata/` by a small iceberg
//! [`Storage`] wrapper around the local filesystem storage; [`TableInfo::remapped_from`] then
//! names the recorded location.
//!
//! **Rows** are read with iceberg-rust's scan, which applies position and equality deletes; its
//! Arrow 58 batches are rendered to JSON values here, at the iceberg boundary.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt as _;
use ::iceberg::io::{
    FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorage, OutputFile,
    Storage, StorageConfig, StorageFactory,
};
use ::iceberg::scan::FileScanTask;
use ::iceberg::spec::{
    DataContentType, DataFileFormat, Literal, PrimitiveLiteral, PrimitiveType, SnapshotRef, TableMetadata,
    Transform, Type,
};
use ::iceberg::table::{StaticTable, Table};
use ::iceberg::TableIdent;
use arrow_array_58::cast::AsArray;
use arrow_array_58::types as arrow_types;
use arrow_array_58::{Array, RecordBatch};
use arrow_schema_58::{DataType, TimeUnit};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::iceberg_sql::{CatalogTableRow, catalog_table_rows};
use super::inspect::{
    FileKind, HistoryEntry, PageRequest, SchemaField, SmallFilePolicy, TableFile, TableFiles,
    TableHistory, TableInfo, TablePage, VersionSelector,
};
use super::overview::{geometry_columns_from_object, geometry_columns_from_parquet_footer};
use super::table_ref::{TableRef, latest_metadata_file};
use super::{BinaryCell, GeometryColumnSummary, LakeError};
use crate::engine::geo::wkb::wkb_to_geometry;
use crate::engine::storage;

/// Rendered WKT longer than this many characters is cut (with `…`).
const WKT_MAX_CHARS: usize = 80;

/// Rewrites paths recorded under a table's old location to where the table is now.
///
/// Besides the table location itself, the longest common ancestor the old and new places share
/// by trailing folder names is remapped too (files added from a sibling folder of the table,
/// tables written with relative paths), but only for paths that are not under the location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PathRemap {
    /// `(recorded prefix, actual prefix)` pairs without trailing `/`, longest recorded first; an
    /// empty recorded prefix matches relative paths.
    prefixes: Vec<(String, String)>,
}

impl PathRemap {
    /// A remap from the location recorded in the metadata to `actual_root`.
    fn new(recorded: &str, actual_root: &Path) -> Self {
        let recorded = recorded.trim_end_matches('/').to_string();
        let mut prefixes = Vec::new();
        let mut add = |from: &str, to: &Path| {
            let to = to.display().to_string();
            let mut spellings = vec![from.to_string()];
            if let Some(plain) = super::plain_local_path(from).filter(|p| p.is_absolute()) {
                let plain = plain.display().to_string();
                spellings.extend([plain.clone(), format!("file:{plain}"), format!("file://{plain}")]);
            }
            for spelling in spellings {
                if !prefixes.iter().any(|(f, _): &(String, String)| f == &spelling) {
                    prefixes.push((spelling, to.clone()));
                }
            }
        };
        add(&recorded, actual_root);
        // Strip the trailing folder names both places share.
        let (mut old, mut new) = (recorded.as_str(), actual_root);
        while let (Some((old_parent, old_name)), Some(new_name)) = (old.rsplit_once('/'), new.file_name()) {
            if old_name != new_name.to_string_lossy() {
                break;
            }
            let Some(new_parent) = new.parent() else { break };
            old = old_parent;
            new = new_parent;
        }
        let relative_base = !old.contains('/') && !old.contains(':') && !old.is_empty();
        if relative_base && new.file_name().is_some_and(|name| name.to_string_lossy() == old) {
            // A relative location like `data/x` under `/base/data/x`: relative paths hang off `/base`.
            if let Some(base) = new.parent() {
                add("", base);
            }
        } else if old != recorded && !old.is_empty() && old.contains('/') {
            add(old, new);
        }
        prefixes.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Self { prefixes }
    }

    /// `path` with a recorded prefix replaced by the actual one; other paths unchanged.
    fn resolve(&self, path: &str) -> String {
        for (from, to) in &self.prefixes {
            if from.is_empty() {
                if !path.starts_with('/') && !path.contains(':') {
                    return format!("{to}/{path}");
                }
                continue;
            }
            if let Some(rest) = path.strip_prefix(from.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{to}{rest}");
            }
        }
        path.to_string()
    }
}

/// Storage that applies a [`PathRemap`] to every path first, then serves `s3://` paths through
/// [`ObjectStoreStorage`] and everything else through the local filesystem storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RemappedStorage {
    remap: PathRemap,
}

impl RemappedStorage {
    /// The resolved path and the storage that serves it.
    fn route(&self, path: &str) -> (String, Arc<dyn Storage>) {
        let resolved = self.remap.resolve(path);
        let backend: Arc<dyn Storage> = if storage::is_object_store_url(&resolved) {
            Arc::new(ObjectStoreStorage)
        } else {
            Arc::new(LocalFsStorage::new())
        };
        (resolved, backend)
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for RemappedStorage {
    async fn exists(&self, path: &str) -> ::iceberg::Result<bool> {
        let (path, backend) = self.route(path);
        backend.exists(&path).await
    }
    async fn metadata(&self, path: &str) -> ::iceberg::Result<FileMetadata> {
        let (path, backend) = self.route(path);
        backend.metadata(&path).await
    }
    async fn read(&self, path: &str) -> ::iceberg::Result<Bytes> {
        let (path, backend) = self.route(path);
        backend.read(&path).await
    }
    async fn reader(&self, path: &str) -> ::iceberg::Result<Box<dyn FileRead>> {
        let (path, backend) = self.route(path);
        backend.reader(&path).await
    }
    async fn write(&self, path: &str, bs: Bytes) -> ::iceberg::Result<()> {
        let (path, backend) = self.route(path);
        backend.write(&path, bs).await
    }
    async fn writer(&self, path: &str) -> ::iceberg::Result<Box<dyn FileWrite>> {
        let (path, backend) = self.route(path);
        backend.writer(&path).await
    }
    async fn delete(&self, path: &str) -> ::iceberg::Result<()> {
        let (path, backend) = self.route(path);
        backend.delete(&path).await
    }
    async fn delete_prefix(&self, path: &str) -> ::iceberg::Result<()> {
        let (path, backend) = self.route(path);
        backend.delete_prefix(&path).await
    }
    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> ::iceberg::Result<()> {
        while let Some(path) = futures::StreamExt::next(&mut paths).await {
            self.delete(&path).await?;
        }
        Ok(())
    }
    fn new_input(&self, path: &str) -> ::iceberg::Result<InputFile> {
        let (path, backend) = self.route(path);
        backend.new_input(&path)
    }
    fn new_output(&self, path: &str) -> ::iceberg::Result<OutputFile> {
        let (path, backend) = self.route(path);
        backend.new_output(&path)
    }
}

/// Builds [`RemappedStorage`] for a `FileIO`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RemappedStorageFactory {
    remap: PathRemap,
}

#[typetag::serde]
impl StorageFactory for RemappedStorageFactory {
    fn build(&self, _config: &StorageConfig) -> ::iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(RemappedStorage {
            remap: self.remap.clone(),
        }))
    }
}

/// `s3://` paths through [`crate::engine::storage`] (`object_store`), with the app's S3 settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ObjectStoreStorage;

/// An object-store failure as an iceberg error (the message names the URL and what to check).
fn iceberg_io_error(error: LakeError) -> ::iceberg::Error {
    ::iceberg::Error::new(::iceberg::ErrorKind::Unexpected, error.to_string())
}

/// The store and path of an `s3://` URL.
fn located(path: &str) -> ::iceberg::Result<(storage::Located, ObjectPath)> {
    let located = storage::locate(path).map_err(iceberg_io_error)?;
    let object = located.path.clone();
    Ok((located, object))
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> ::iceberg::Result<bool> {
        let (located, object) = located(path)?;
        match located.store.head(&object).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(iceberg_io_error(storage::store_error("check", path)(e))),
        }
    }
    async fn metadata(&self, path: &str) -> ::iceberg::Result<FileMetadata> {
        let (located, object) = located(path)?;
        let meta = located
            .store
            .head(&object)
            .await
            .map_err(|e| iceberg_io_error(storage::store_error("read the size of", path)(e)))?;
        Ok(FileMetadata { size: meta.size })
    }
    async fn read(&self, path: &str) -> ::iceberg::Result<Bytes> {
        let (located, object) = located(path)?;
        located.read(&object).await.map_err(iceberg_io_error)
    }
    async fn reader(&self, path: &str) -> ::iceberg::Result<Box<dyn FileRead>> {
        let (located, object) = located(path)?;
        Ok(Box::new(ObjectFileRead {
            located,
            object,
        }))
    }
    async fn write(&self, path: &str, bs: Bytes) -> ::iceberg::Result<()> {
        let (located, object) = located(path)?;
        located
            .store
            .put(&object, bs.into())
            .await
            .map(|_| ())
            .map_err(|e| iceberg_io_error(storage::store_error("write", path)(e)))
    }
    async fn writer(&self, path: &str) -> ::iceberg::Result<Box<dyn FileWrite>> {
        let (located, object) = located(path)?;
        Ok(Box::new(ObjectFileWrite {
            located,
            object,
            buffer: Vec::new(),
        }))
    }
    async fn delete(&self, path: &str) -> ::iceberg::Result<()> {
        let (located, object) = located(path)?;
        match located.store.delete(&object).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(iceberg_io_error(storage::store_error("delete", path)(e))),
        }
    }
    async fn delete_prefix(&self, path: &str) -> ::iceberg::Result<()> {
        let (located, object) = located(path)?;
        for meta in located.list_all(&object).await.map_err(iceberg_io_error)? {
            located
                .store
                .delete(&meta.location)
                .await
                .map_err(|e| iceberg_io_error(storage::store_error("delete", path)(e)))?;
        }
        Ok(())
    }
    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> ::iceberg::Result<()> {
        while let Some(path) = futures::StreamExt::next(&mut paths).await {
            self.delete(&path).await?;
        }
        Ok(())
    }
    fn new_input(&self, path: &str) -> ::iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }
    fn new_output(&self, path: &str) -> ::iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Ranged reads of one object.
struct ObjectFileRead {
    located: storage::Located,
    object: ObjectPath,
}

#[async_trait]
impl FileRead for ObjectFileRead {
    async fn read(&self, range: std::ops::Range<u64>) -> ::iceberg::Result<Bytes> {
        use object_store::ObjectStoreExt;
        self.located
            .store
            .get_range(&self.object, range)
            .await
            .map_err(|e| {
                iceberg_io_error(storage::store_error("read", self.located.show(&self.object))(e))
            })
    }
}

/// Buffers what is written and stores it as one object on close.
struct ObjectFileWrite {
    located: storage::Located,
    object: ObjectPath,
    buffer: Vec<u8>,
}

#[async_trait]
impl FileWrite for ObjectFileWrite {
    async fn write(&mut self, bs: Bytes) -> ::iceberg::Result<()> {
        self.buffer.extend_from_slice(&bs);
        Ok(())
    }
    async fn close(&mut self) -> ::iceberg::Result<()> {
        use object_store::ObjectStoreExt;
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        self.located
            .store
            .put(&self.object, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| {
                iceberg_io_error(storage::store_error("write", self.located.show(&self.object))(e))
            })
    }
}

/// An Iceberg table opened for reading, with where it really is.
pub struct OpenedIcebergTable {
    /// The iceberg-rust table (read-only).
    pub table: Table,
    /// The reference as text, for messages.
    pub name: String,
    /// The folder that holds `metadata/` (absolute), when the metadata file sits in one.
    pub root: Option<PathBuf>,
    /// The location recorded in the metadata when it differs from `root`.
    pub remapped_from: Option<String>,
    remap: PathRemap,
}

impl OpenedIcebergTable {
    /// Where a path named in the table's metadata actually is.
    pub fn resolve(&self, path: &str) -> String {
        self.remap.resolve(path)
    }

    /// The local file behind a path named in the table's metadata (`None` when not local).
    pub fn local_path(&self, path: &str) -> Option<PathBuf> {
        super::plain_local_path(&self.resolve(path))
    }

    /// The table location to show: the actual root, or the recorded location.
    pub fn location(&self) -> String {
        match &self.root {
            Some(root) => root.display().to_string(),
            None => self.table.metadata().location().to_string(),
        }
    }

    fn error(&self, action: &'static str) -> impl FnOnce(::iceberg::Error) -> LakeError + '_ {
        move |source| LakeError::iceberg(self.name.clone(), action, source)
    }

    /// Where a file named in the metadata is, as text for messages.
    fn shown_path(&self, path: &str) -> String {
        self.local_path(path)
            .map(|local| local.display().to_string())
            .unwrap_or_else(|| self.resolve(path))
    }

    /// A metadata file (manifest list, manifest) that could not be read: missing, or damaged.
    pub(crate) fn metadata_file_error(&self, path: &str, what: &str, source: ::iceberg::Error) -> LakeError {
        let missing = self.local_path(path).is_some_and(|local| !local.exists());
        LakeError::IcebergFile {
            table: self.name.clone(),
            file: self.shown_path(path),
            problem: if missing {
                format!("({what}) is missing")
            } else {
                format!("({what}) cannot be read: {source}")
            },
            advice: "the table's metadata folder is incomplete or damaged; restore it from a backup or the original copy of the table (an older snapshot that does not use this file may still open)".to_string(),
        }
    }

    /// A data or delete file that could not be read: missing, or damaged (e.g. a corrupt Parquet footer).
    pub(crate) fn data_file_error(&self, path: &str, source: ::iceberg::Error) -> LakeError {
        match self.local_path(path) {
            Some(local) if !local.exists() => LakeError::MissingDataFile { table: self.name.clone(), file: local },
            _ => LakeError::IcebergFile {
                table: self.name.clone(),
                file: self.shown_path(path),
                problem: format!("(a data file) cannot be read: {source}"),
                advice: "the file is damaged (e.g. truncated or a corrupt Parquet footer); restore it from a backup, or read an older snapshot that does not contain it".to_string(),
            },
        }
    }

    /// After a failed scan plan: the first manifest of `snapshot` that is missing or unreadable.
    async fn broken_manifest(&self, snapshot: &SnapshotRef) -> Option<LakeError> {
        let list = match self.table.manifest_list_reader(snapshot).load().await {
            Ok(list) => list,
            Err(error) => return Some(self.metadata_file_error(snapshot.manifest_list(), "the manifest list", error)),
        };
        for manifest_file in list.entries() {
            if let Err(error) = manifest_file.load_manifest(self.table.file_io()).await {
                return Some(self.metadata_file_error(&manifest_file.manifest_path, "a manifest", error));
            }
        }
        None
    }
}

/// Open an Iceberg table reference (`IcebergFile`, `IcebergSql` or `IcebergRest`) for reading.
pub async fn open(table: &TableRef) -> Result<OpenedIcebergTable, LakeError> {
    let resolved = table.resolve().await?;
    let table = &resolved;
    let name = table.to_string();
    let metadata_file = match table {
        TableRef::IcebergFile { metadata_location }
            if storage::is_object_store_url(metadata_location) =>
        {
            return open_object_store_metadata_file(&name, metadata_location).await;
        }
        TableRef::IcebergFile { metadata_location } => {
            let path = PathBuf::from(metadata_location);
            if !path.exists() {
                return Err(LakeError::MissingPath { path });
            }
            if path.is_dir() {
                latest_metadata_file(&path)?
            } else {
                path
            }
        }
        TableRef::IcebergSql {
            catalog_db,
            catalog,
            namespace,
            table: table_name,
        } => catalog_metadata_file(catalog_db, catalog, namespace, table_name).await?,
        TableRef::IcebergRest {
            base_url,
            namespace,
            table: table_name,
        } => {
            let client = super::iceberg_rest::RestCatalogClient::connect(base_url).await?;
            let loaded = client.load_table(namespace, table_name).await?;
            // The metadata file the catalog names, when it is a local file: its folder is the root
            // that moved tables are remapped to, as for tables opened without a catalog.
            let metadata_file = loaded
                .metadata_location
                .as_deref()
                .and_then(super::plain_local_path)
                .filter(|path| path.is_file())
                .and_then(|path| std::fs::canonicalize(path).ok());
            return open_table_metadata(&name, loaded.metadata, metadata_file.as_deref()).await;
        }
        TableRef::Delta { location } | TableRef::Folder { location } => {
            return Err(LakeError::NotAnIcebergTable {
                path: PathBuf::from(location),
                reason: "it is a Delta table".to_string(),
            });
        }
    };
    open_metadata_file(&name, &metadata_file).await
}

/// Open the table whose metadata file is `metadata_file`, remapping a moved location.
pub(crate) async fn open_metadata_file(name: &str, metadata_file: &Path) -> Result<OpenedIcebergTable, LakeError> {
    let metadata_file = std::fs::canonicalize(metadata_file)
        .map_err(|e| LakeError::io("resolve", metadata_file, e))?;
    let text = std::fs::read(&metadata_file).map_err(|e| LakeError::io("read", &metadata_file, e))?;
    let metadata: TableMetadata =
        serde_json::from_slice(&text).map_err(|e| LakeError::NotAnIcebergTable {
            path: metadata_file.clone(),
            reason: format!("the metadata file cannot be parsed: {e}"),
        })?;
    open_table_metadata(name, metadata, Some(&metadata_file)).await
}

/// Open a table from its metadata; `metadata_file` (canonical) is where that metadata lives
/// locally, if it does: the folder holding its `metadata/` folder is the table's actual root.
pub(crate) async fn open_table_metadata(
    name: &str,
    metadata: TableMetadata,
    metadata_file: Option<&Path>,
) -> Result<OpenedIcebergTable, LakeError> {
    let root = metadata_file
        .and_then(Path::parent)
        .filter(|folder| folder.ends_with("metadata"))
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let recorded = metadata.location().to_string();
    let recorded_here = super::plain_local_path(&recorded)
        .and_then(|path| std::fs::canonicalize(path).ok())
        .zip(root.as_ref())
        .is_some_and(|(recorded, root)| &recorded == root);
    let (remap, remapped_from) = match &root {
        Some(root) if !recorded_here => (PathRemap::new(&recorded, root), Some(recorded.clone())),
        _ => (PathRemap::default(), None),
    };
    finish_open(name, metadata, root, remap, remapped_from).await
}

/// Open the table whose metadata file is at an `s3://` URL, remapping a moved location (a table
/// written elsewhere and copied to the bucket).
async fn open_object_store_metadata_file(
    name: &str,
    url: &str,
) -> Result<OpenedIcebergTable, LakeError> {
    let located = storage::locate(url)?;
    let text = located.read(&located.path).await?;
    let metadata: TableMetadata =
        serde_json::from_slice(&text).map_err(|e| LakeError::NotAnIcebergTable {
            path: PathBuf::from(url),
            reason: format!("the metadata file cannot be parsed: {e}"),
        })?;
    let root = url
        .rsplit_once('/')
        .and_then(|(folder, _)| folder.strip_suffix("/metadata"))
        .map(str::to_string);
    let recorded = metadata.location().trim_end_matches('/').to_string();
    let (remap, remapped_from) = match &root {
        Some(root) if *root != recorded => {
            (PathRemap::new(&recorded, Path::new(root)), Some(recorded.clone()))
        }
        _ => (PathRemap::default(), None),
    };
    finish_open(name, metadata, root.map(PathBuf::from), remap, remapped_from).await
}

/// A read-only table over `metadata` whose files are read through [`RemappedStorage`].
async fn finish_open(
    name: &str,
    metadata: TableMetadata,
    root: Option<PathBuf>,
    remap: PathRemap,
    remapped_from: Option<String>,
) -> Result<OpenedIcebergTable, LakeError> {
    let file_io = FileIOBuilder::new(Arc::new(RemappedStorageFactory {
        remap: remap.clone(),
    }))
    .build();
    let ident = TableIdent::from_strs(["meshlake", "static"])
        .map_err(|source| LakeError::iceberg(name, "name the table", source))?;
    let table = StaticTable::from_metadata(metadata, ident, file_io)
        .await
        .map_err(|source| LakeError::iceberg(name, "open the metadata", source))?
        .into_table();
    Ok(OpenedIcebergTable {
        table,
        name: name.to_string(),
        root,
        remapped_from,
        remap,
    })
}

/// The metadata file a SQLite catalog records for a table, resolved to a local file: absolute as
/// recorded, or (for relative locations) against the catalog's folder and its ancestors.
async fn catalog_metadata_file(
    catalog_db: &Path,
    catalog: &str,
    namespace: &str,
    table_name: &str,
) -> Result<PathBuf, LakeError> {
    let rows = catalog_table_rows(catalog_db).await?;
    let found = rows.iter().find(|r| r.catalog == catalog && r.namespace == namespace && r.table == table_name);
    let Some(CatalogTableRow { metadata_location: location, .. }) = found else {
        let known: Vec<String> = rows
            .iter()
            .map(|r| {
                if r.catalog == catalog {
                    format!("{}.{}", r.namespace, r.table)
                } else {
                    format!("{}.{} (add ?catalog={})", r.namespace, r.table, r.catalog)
                }
            })
            .collect();
        return Err(LakeError::IcebergTableNotFound {
            catalog_db: catalog_db.to_path_buf(),
            namespace: namespace.to_string(),
            table: table_name.to_string(),
            known: if known.is_empty() { "none".to_string() } else { known.join(", ") },
        });
    };
    let bad = |reason: String| LakeError::NotAnIcebergTable {
        path: catalog_db.to_path_buf(),
        reason,
    };
    let location = location
        .clone()
        .ok_or_else(|| bad(format!("the catalog has no metadata location for {namespace}.{table_name}")))?;
    resolve_catalog_location(catalog_db, &location).ok_or_else(|| {
        bad(format!(
            "the metadata file of {namespace}.{table_name} recorded in the catalog ({location}) is not a local file that exists (relative paths are tried against the catalog's folder and its parents); open the table folder instead"
        ))
    })
}

/// A metadata location recorded in a SQLite catalog as an existing local file: as recorded, or
/// (relative) against the catalog's folder and its parents.
pub(crate) fn resolve_catalog_location(catalog_db: &Path, location: &str) -> Option<PathBuf> {
    let recorded = super::plain_local_path(location)?;
    if recorded.is_file() {
        return Some(recorded);
    }
    if recorded.is_relative() {
        return catalog_db
            .ancestors()
            .skip(1)
            .map(|base| base.join(&recorded))
            .find(|candidate| candidate.is_file());
    }
    None
}

/// The table folders (those holding `metadata/`) of the tables a SQLite catalog registers under
/// `catalog`, canonicalized; tables whose metadata cannot be found locally are left out.
pub async fn sql_catalog_table_roots(catalog_db: &Path, catalog: &str) -> Result<Vec<PathBuf>, LakeError> {
    let rows = catalog_table_rows(catalog_db).await?;
    Ok(rows
        .iter()
        .filter(|r| r.catalog == catalog)
        .filter_map(|r| resolve_catalog_location(catalog_db, r.metadata_location.as_deref()?))
        .filter_map(|file| std::fs::canonicalize(file).ok())
        .filter_map(|file| file.parent().and_then(Path::parent).map(Path::to_path_buf))
        .collect())
}

/// The snapshot a selector names (`None` for a table without snapshots at `Latest`).
fn select_snapshot(
    opened: &OpenedIcebergTable,
    at: &VersionSelector,
) -> Result<Option<SnapshotRef>, LakeError> {
    let metadata = opened.table.metadata();
    match at {
        VersionSelector::Latest => Ok(metadata.current_snapshot().cloned()),
        VersionSelector::Version(version) => Err(LakeError::VersionOnIcebergTable {
            table: opened.name.clone(),
            version: *version,
        }),
        VersionSelector::Snapshot(id) => metadata.snapshot_by_id(*id).cloned().map(Some).ok_or_else(|| {
            let known: Vec<String> = sorted_snapshots(metadata)
                .iter()
                .map(|s| s.snapshot_id().to_string())
                .collect();
            LakeError::IcebergSnapshotNotFound {
                table: opened.name.clone(),
                snapshot: *id,
                known: if known.is_empty() { "none".to_string() } else { known.join(", ") },
            }
        }),
        VersionSelector::AsOf(instant) => {
            let millis = instant.timestamp_millis();
            // The snapshot log is the lineage of the current state; fall back to all snapshots.
            let from_log = metadata
                .history()
                .iter()
                .filter(|entry| entry.timestamp_ms <= millis)
                .next_back()
                .and_then(|entry| metadata.snapshot_by_id(entry.snapshot_id).cloned());
            let chosen = from_log.or_else(|| {
                sorted_snapshots(metadata)
                    .into_iter()
                    .rfind(|s| s.timestamp_ms() <= millis)
            });
            chosen.map(Some).ok_or_else(|| {
                let first = sorted_snapshots(metadata)
                    .first()
                    .map(|s| format!("the first snapshot is from {}", rfc3339_millis(s.timestamp_ms())))
                    .unwrap_or_else(|| "the table has no snapshots".to_string());
                LakeError::IcebergNoSnapshotAt {
                    table: opened.name.clone(),
                    at: instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    first,
                }
            })
        }
    }
}

/// All snapshots, oldest first (by timestamp, then sequence number).
fn sorted_snapshots(metadata: &TableMetadata) -> Vec<SnapshotRef> {
    let mut snapshots: Vec<SnapshotRef> = metadata.snapshots().cloned().collect();
    snapshots.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    snapshots
}

fn rfc3339_millis(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{millis} ms"))
}

/// A snapshot summary number.
fn summary_number(snapshot: &SnapshotRef, key: &str) -> Option<u64> {
    snapshot
        .summary()
        .additional_properties
        .get(key)
        .and_then(|value| value.parse().ok())
}

/// One live file of a snapshot, as its manifest describes it (also what the manifest cache keeps).
#[derive(Clone, Serialize, Deserialize)]
struct LiveFile {
    kind: FileKind,
    /// As recorded in the manifest.
    recorded_path: String,
    bytes: u64,
    rows: u64,
    partition_spec_id: i32,
    partition: BTreeMap<String, Option<String>>,
    bbox: Option<[f64; 4]>,
}

/// How many manifests [`live_files`] reads at a time.
const MANIFEST_READ_CONCURRENCY: usize = 16;
/// How many manifests [`live_files`] reads before decoding them (in parallel) and reading on.
const MANIFEST_DECODE_BATCH: usize = 128;

/// What summarising the manifests of one partition spec needs (owned, for the decoding threads).
struct ManifestContext {
    spec_id: i32,
    spec: Option<::iceberg::spec::PartitionSpecRef>,
    partition_type: Option<::iceberg::spec::StructType>,
    bbox_ids: [Option<i32>; 4],
    /// Fingerprint of the above, part of the manifest cache key.
    fingerprint: String,
}

impl ManifestContext {
    fn new(metadata: &TableMetadata, schema: &::iceberg::spec::Schema, spec_id: i32, bbox_ids: [Option<i32>; 4]) -> Self {
        let spec = metadata.partition_spec_by_id(spec_id).cloned();
        let partition_type = spec.as_ref().and_then(|spec| spec.partition_type(schema).ok());
        let fingerprint = super::manifest_cache::fingerprint(&format!("{spec_id}|{spec:?}|{partition_type:?}|{bbox_ids:?}"));
        Self { spec_id, spec, partition_type, bbox_ids, fingerprint }
    }

    /// The live files of a decoded manifest.
    fn summarise(&self, manifest: &::iceberg::spec::Manifest) -> Vec<LiveFile> {
        let mut files = Vec::new();
        for entry in manifest.entries().iter().filter(|entry| entry.is_alive()) {
            let data_file = entry.data_file();
            let kind = match data_file.content_type() {
                _ if data_file.file_format() == DataFileFormat::Puffin => FileKind::DeletionVector,
                DataContentType::Data => FileKind::Data,
                DataContentType::PositionDeletes => FileKind::PositionDeletes,
                DataContentType::EqualityDeletes => FileKind::EqualityDeletes,
            };
            let mut partition = BTreeMap::new();
            if let Some(spec) = &self.spec {
                for (index, (field, value)) in spec.fields().iter().zip(data_file.partition().iter()).enumerate() {
                    let field_type = self
                        .partition_type
                        .as_ref()
                        .and_then(|t| t.fields().get(index))
                        .map(|f| f.field_type.as_ref().clone());
                    partition.insert(field.name.clone(), value.map(|v| render_partition_value(v, field_type.as_ref())));
                }
            }
            let bbox = match self.bbox_ids {
                [Some(xmin), Some(ymin), Some(xmax), Some(ymax)] => {
                    let lower = data_file.lower_bounds();
                    let upper = data_file.upper_bounds();
                    let bound = |map: &HashMap<i32, ::iceberg::spec::Datum>, id: i32| {
                        map.get(&id).and_then(|d| match d.literal() {
                            PrimitiveLiteral::Double(v) => Some(v.0),
                            PrimitiveLiteral::Float(v) => Some(f64::from(v.0)),
                            _ => None,
                        })
                    };
                    match (bound(lower, xmin), bound(lower, ymin), bound(upper, xmax), bound(upper, ymax)) {
                        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
                        _ => None,
                    }
                }
                _ => None,
            };
            files.push(LiveFile {
                kind,
                recorded_path: data_file.file_path().to_string(),
                bytes: data_file.file_size_in_bytes(),
                rows: data_file.record_count(),
                partition_spec_id: self.spec_id,
                partition,
                bbox,
            });
        }
        files
    }
}

/// A manifest read but not yet decoded: its Avro bytes, or (encrypted manifests) already loaded
/// by iceberg-rust.
enum ReadManifest {
    Bytes(Bytes),
    Loaded(::iceberg::spec::Manifest),
}

/// Read one manifest of a manifest list.
async fn read_manifest(
    opened: &OpenedIcebergTable,
    manifest_file: &::iceberg::spec::ManifestFile,
) -> Result<ReadManifest, LakeError> {
    let error = |e| opened.metadata_file_error(&manifest_file.manifest_path, "a manifest", e);
    if manifest_file.key_metadata.is_some() {
        return manifest_file.load_manifest(opened.table.file_io()).await.map(ReadManifest::Loaded).map_err(error);
    }
    let input = opened.table.file_io().new_input(&manifest_file.manifest_path).map_err(error)?;
    input.read().await.map(ReadManifest::Bytes).map_err(error)
}

/// The live data and delete files of `snapshot`, read from its manifest list and manifests.
///
/// Manifests already summarised in the [`super::manifest_cache`] are not read; the others are
/// read concurrently and decoded in parallel (Avro decoding is CPU-bound), then cached.
async fn live_files(opened: &OpenedIcebergTable, snapshot: &SnapshotRef) -> Result<Vec<LiveFile>, LakeError> {
    let table = &opened.table;
    let metadata = table.metadata();
    let schema = snapshot
        .schema(metadata)
        .unwrap_or_else(|_| metadata.current_schema().clone());
    let bbox_ids = ["bbox.xmin", "bbox.ymin", "bbox.xmax", "bbox.ymax"].map(|name| schema.field_id_by_name(name));
    let manifest_list = load_manifest_list(opened, snapshot).await?;
    let mut contexts: HashMap<i32, Arc<ManifestContext>> = HashMap::new();
    let mut cache = super::manifest_cache::ManifestCache::<LiveFile>::load(&opened.location());
    // Per manifest, in manifest-list order: its files when cached, else what to read.
    let mut per_manifest: Vec<Option<Vec<LiveFile>>> = Vec::with_capacity(manifest_list.entries().len());
    let mut to_read = Vec::new();
    for (index, manifest_file) in manifest_list.entries().iter().enumerate() {
        let context = contexts
            .entry(manifest_file.partition_spec_id)
            .or_insert_with(|| Arc::new(ManifestContext::new(metadata, &schema, manifest_file.partition_spec_id, bbox_ids)))
            .clone();
        let local = opened.local_path(&manifest_file.manifest_path);
        let key = super::manifest_cache::manifest_key(
            &opened.resolve(&manifest_file.manifest_path),
            manifest_file.manifest_length,
            &context.fingerprint,
            local.as_deref(),
        );
        match key.as_deref().and_then(|key| cache.get(key)) {
            Some(files) => per_manifest.push(Some(files)),
            None => {
                per_manifest.push(None);
                to_read.push((index, manifest_file, context, key));
            }
        }
    }
    for batch in to_read.chunks(MANIFEST_DECODE_BATCH) {
        let reads: Vec<_> = batch.iter().map(|(_, file, _, _)| read_manifest(opened, file)).collect();
        let read: Vec<ReadManifest> = futures::stream::iter(reads)
            .buffered(MANIFEST_READ_CONCURRENCY)
            .try_collect()
            .await?;
        let jobs: Vec<(ReadManifest, Arc<ManifestContext>)> =
            read.into_iter().zip(batch.iter().map(|(_, _, context, _)| context.clone())).collect();
        let decoded = tokio::task::spawn_blocking(move || {
            use rayon::prelude::*;
            jobs.into_par_iter()
                .map(|(read, context)| match read {
                    ReadManifest::Loaded(manifest) => Ok(context.summarise(&manifest)),
                    ReadManifest::Bytes(bytes) => {
                        ::iceberg::spec::Manifest::parse_avro(&bytes).map(|manifest| context.summarise(&manifest))
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| LakeError::iceberg(opened.name.clone(), "decode manifests", ::iceberg::Error::new(::iceberg::ErrorKind::Unexpected, e.to_string())))?;
        for ((index, manifest_file, _, key), files) in batch.iter().zip(decoded) {
            let files = files.map_err(|e| opened.metadata_file_error(&manifest_file.manifest_path, "a manifest", e))?;
            if let Some(key) = key {
                cache.put(key.clone(), files.clone());
            }
            per_manifest[*index] = Some(files);
        }
    }
    cache.save();
    let mut files: Vec<LiveFile> = per_manifest.into_iter().flatten().flatten().collect();
    files.sort_by(|a, b| a.recorded_path.cmp(&b.recorded_path));
    Ok(files)
}

/// A partition value as text; day/month/hour transform results and dates as calendar text.
pub(crate) fn render_partition_value(value: &Literal, field_type: Option<&Type>) -> String {
    let Literal::Primitive(primitive) = value else {
        return format!("{value:?}");
    };
    match (primitive, field_type) {
        (PrimitiveLiteral::Int(days), Some(Type::Primitive(PrimitiveType::Date))) => {
            NaiveDate::from_num_days_from_ce_opt(719_163 + *days)
                .map(|d| d.to_string())
                .unwrap_or_else(|| days.to_string())
        }
        (PrimitiveLiteral::Boolean(v), _) => v.to_string(),
        (PrimitiveLiteral::Int(v), _) => v.to_string(),
        (PrimitiveLiteral::Long(v), _) => v.to_string(),
        (PrimitiveLiteral::Float(v), _) => v.0.to_string(),
        (PrimitiveLiteral::Double(v), _) => v.0.to_string(),
        (PrimitiveLiteral::String(v), _) => v.clone(),
        (PrimitiveLiteral::Binary(v), _) => format!("<{} bytes>", v.len()),
        (PrimitiveLiteral::Int128(v), _) => v.to_string(),
        (PrimitiveLiteral::UInt128(v), _) => uuid_text(*v),
        (PrimitiveLiteral::AboveMax, _) => "above max".to_string(),
        (PrimitiveLiteral::BelowMin, _) => "below min".to_string(),
    }
}

fn uuid_text(value: u128) -> String {
    let hex = format!("{value:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Geometry columns named in the `geo` footer of the first local data file, with a warning
/// instead of an error when it cannot be read.
async fn geometry_columns_of(
    opened: &OpenedIcebergTable,
    first_data_file: Option<&str>,
    warnings: &mut Vec<String>,
) -> Vec<GeometryColumnSummary> {
    let Some(recorded) = first_data_file else {
        return Vec::new();
    };
    let resolved = opened.resolve(recorded);
    let read = if storage::is_object_store_url(&resolved) {
        match storage::locate(&resolved) {
            Ok(located) => {
                geometry_columns_from_object(&located.store, &located.path, Path::new(&resolved))
                    .await
            }
            Err(error) => Err(error),
        }
    } else {
        match opened.local_path(recorded) {
            Some(path) => geometry_columns_from_parquet_footer(&path),
            None => {
                warnings.push(format!(
                    "data file {recorded} is neither local nor in S3; geometry metadata not read"
                ));
                return Vec::new();
            }
        }
    };
    match read {
        Ok(columns) => columns,
        Err(error) => {
            warnings.push(format!("no geometry metadata: {error}"));
            Vec::new()
        }
    }
}

/// Info about an Iceberg table at a snapshot.
///
/// `num_rows` is exact (the data files' record counts) when the snapshot has no delete files;
/// with delete files it is the snapshot summary's `total-records` minus nothing, with a warning
/// saying so (use [`count_rows`] for an exact count with deletes applied).
pub async fn info(
    table: &TableRef,
    at: &VersionSelector,
    policy: &SmallFilePolicy,
) -> Result<TableInfo, LakeError> {
    let opened = open(table).await?;
    let metadata = opened.table.metadata();
    let snapshot = select_snapshot(&opened, at)?;
    let schema = schema_at(&opened, snapshot.as_ref())?;
    let schema_fields = schema_fields(&schema);
    let partition_columns = partition_columns(metadata, &schema);
    let mut warnings = Vec::new();
    let files = match &snapshot {
        Some(snapshot) => live_files(&opened, snapshot).await?,
        None => Vec::new(),
    };
    let data_files: Vec<&LiveFile> = files.iter().filter(|f| f.kind == FileKind::Data).collect();
    let delete_files = files.len() - data_files.len();
    let data_rows: u64 = data_files.iter().map(|f| f.rows).sum();
    let num_rows = if delete_files == 0 {
        Some(data_rows)
    } else {
        let total = snapshot.as_ref().and_then(|s| summary_number(s, "total-records"));
        warnings.push(format!(
            "num_rows is the snapshot summary's total-records ({}); {delete_files} delete file(s) are not subtracted (`table head` applies them)",
            total.map(|t| t.to_string()).unwrap_or_else(|| "missing".to_string())
        ));
        total.or(Some(data_rows))
    };
    let mut small_per_partition: BTreeMap<String, u64> = BTreeMap::new();
    for file in data_files.iter().filter(|f| f.bytes < policy.small_file_bytes) {
        let key = format!("{}:{:?}", file.partition_spec_id, file.partition);
        *small_per_partition.entry(key).or_default() += 1;
    }
    let small_files = small_per_partition.values().sum();
    let max_small = small_per_partition.values().copied().max().unwrap_or(0);
    if max_small > policy.max_small_files_per_partition {
        warnings.push(format!(
            "a partition holds {max_small} small files (more than {}); compact the table",
            policy.max_small_files_per_partition
        ));
    }
    let geometry_columns = geometry_columns_of(
        &opened,
        data_files.first().map(|f| f.recorded_path.as_str()),
        &mut warnings,
    )
    .await;
    Ok(TableInfo {
        format: "iceberg",
        format_version: format_version(metadata),
        location: opened.location(),
        version: snapshot.as_ref().map(|s| s.snapshot_id()),
        timestamp: snapshot
            .as_ref()
            .and_then(|s| DateTime::<Utc>::from_timestamp_millis(s.timestamp_ms())),
        num_rows,
        num_files: data_files.len() as u64,
        total_bytes: data_files.iter().map(|f| f.bytes).sum(),
        schema: schema_fields,
        partition_columns,
        geometry_columns,
        small_files,
        max_small_files_per_partition: max_small,
        remapped_from: opened.remapped_from.clone(),
        warnings,
    })
}

/// Every snapshot of an Iceberg table, oldest first, with the figures of its summary.
pub async fn history(table: &TableRef) -> Result<TableHistory, LakeError> {
    let opened = open(table).await?;
    Ok(history_of(opened.table.metadata()))
}

fn history_of(metadata: &TableMetadata) -> TableHistory {
    let versions = sorted_snapshots(metadata)
        .iter()
        .map(|snapshot| HistoryEntry {
            version: snapshot.snapshot_id(),
            parent: snapshot.parent_snapshot_id(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(snapshot.timestamp_ms()),
            operation: snapshot.summary().operation.as_str().to_string(),
            files_added: summary_number(snapshot, "added-data-files").unwrap_or(0),
            files_removed: summary_number(snapshot, "deleted-data-files").unwrap_or(0),
            rows_added: summary_number(snapshot, "added-records"),
            rows_removed: summary_number(snapshot, "deleted-records"),
        })
        .collect();
    TableHistory { versions }
}

fn format_version(metadata: &TableMetadata) -> String {
    match metadata.format_version() {
        ::iceberg::spec::FormatVersion::V1 => "v1",
        ::iceberg::spec::FormatVersion::V2 => "v2",
        ::iceberg::spec::FormatVersion::V3 => "v3",
    }
    .to_owned()
}

fn schema_fields(schema: &::iceberg::spec::Schema) -> Vec<SchemaField> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|field| SchemaField { name: field.name.clone(), data_type: field.field_type.to_string(), nullable: !field.required })
        .collect()
}

/// The default partition spec's fields as `column` or `transform(column)`.
fn partition_columns(metadata: &TableMetadata, schema: &::iceberg::spec::Schema) -> Vec<String> {
    metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|field| {
            let source = schema
                .field_by_id(field.source_id)
                .or_else(|| metadata.current_schema().field_by_id(field.source_id))
                .map(|source| source.name.clone())
                .unwrap_or_else(|| format!("field {}", field.source_id));
            match field.transform {
                Transform::Identity => source,
                transform => format!("{transform}({source})"),
            }
        })
        .collect()
}

/// What opening an Iceberg table shows, read from its metadata alone when the current snapshot's
/// summary carries the totals (`total-data-files`, `total-files-size`, `total-records`): one open,
/// the history from the same metadata, and the geometry columns from the footer of the first data
/// file of the first data manifest (one manifest read, not all of them; none when no column is binary). `None` when the summary
/// lacks a total, so the caller counts the live files instead.
pub async fn summary_overview(table: &TableRef) -> Result<Option<super::overview::TableOverview>, LakeError> {
    let opened = open(table).await?;
    let metadata = opened.table.metadata();
    let snapshot = metadata.current_snapshot().cloned();
    let (files, bytes, rows) = match &snapshot {
        Some(snapshot) => {
            let totals = ["total-data-files", "total-files-size", "total-records"].map(|key| summary_number(snapshot, key));
            let [Some(files), Some(bytes), Some(rows)] = totals else { return Ok(None) };
            (files, bytes, rows)
        }
        None => (0, 0, 0),
    };
    let schema = schema_at(&opened, snapshot.as_ref())?;
    let mut warnings = Vec::new();
    if snapshot.as_ref().and_then(|s| summary_number(s, "total-delete-files")).is_some_and(|n| n > 0) {
        warnings.push("rows are the snapshot summary's total-records; rows removed by delete files are not subtracted (`table head` applies them)".to_owned());
    }
    // GeoParquet geometry columns are WKB, i.e. binary: a schema without a binary column has none,
    // and no manifest needs to be read to look for a data file's footer.
    let may_hold_geometry = schema
        .as_struct()
        .fields()
        .iter()
        .any(|field| matches!(*field.field_type, Type::Primitive(PrimitiveType::Binary)));
    let first_data_file = match &snapshot {
        Some(snapshot) if files > 0 && may_hold_geometry => first_data_file(&opened, snapshot).await?,
        _ => None,
    };
    let geometry_columns = geometry_columns_of(&opened, first_data_file.as_deref(), &mut warnings).await;
    let history = history_of(metadata);
    Ok(Some(super::overview::TableOverview {
        reference: table.to_string(),
        format: super::overview::TableFormat::Iceberg,
        format_version: format_version(metadata),
        location: opened.location(),
        current_version: snapshot.as_ref().map(|s| s.snapshot_id().to_string()).unwrap_or_else(|| "none".to_owned()),
        versions: history.versions.len() as u64,
        rows: Some(rows),
        files,
        bytes,
        partition_columns: partition_columns(metadata, &schema),
        columns: schema_fields(&schema),
        geometry_columns,
        history: history.versions.iter().rev().map(super::overview::VersionSummary::from).collect(),
        warnings,
    }))
}

/// A snapshot's manifest list; an unreadable one is named in the error.
pub(crate) async fn load_manifest_list(
    opened: &OpenedIcebergTable,
    snapshot: &SnapshotRef,
) -> Result<::iceberg::spec::ManifestList, LakeError> {
    opened
        .table
        .manifest_list_reader(snapshot)
        .load()
        .await
        .map_err(|e| opened.metadata_file_error(snapshot.manifest_list(), "the manifest list", e))
}

/// The recorded path of the first live data file of the first data manifest that has one.
async fn first_data_file(opened: &OpenedIcebergTable, snapshot: &SnapshotRef) -> Result<Option<String>, LakeError> {
    let manifest_list = load_manifest_list(opened, snapshot).await?;
    let candidates = manifest_list.entries().iter().filter(|m| {
        m.content == ::iceberg::spec::ManifestContentType::Data
            && (m.added_files_count.unwrap_or(1) + m.existing_files_count.unwrap_or(1)) > 0
    });
    for manifest_file in candidates {
        let manifest = match read_manifest(opened, manifest_file).await? {
            ReadManifest::Loaded(manifest) => manifest,
            ReadManifest::Bytes(bytes) => ::iceberg::spec::Manifest::parse_avro(&bytes)
                .map_err(|e| opened.metadata_file_error(&manifest_file.manifest_path, "a manifest", e))?,
        };
        let live = manifest.entries().iter().find(|entry| entry.is_alive() && entry.content_type() == DataContentType::Data);
        if let Some(entry) = live {
            return Ok(Some(entry.file_path().to_owned()));
        }
    }
    Ok(None)
}

/// The live data and delete files of an Iceberg table at a snapshot, paths resolved to where the
/// files actually are.
pub async fn files(table: &TableRef, at: &VersionSelector) -> Result<TableFiles, LakeError> {
    let opened = open(table).await?;
    let Some(snapshot) = select_snapshot(&opened, at)? else {
        return Ok(TableFiles { files: Vec::new() });
    };
    let files = live_files(&opened, &snapshot)
        .await?
        .into_iter()
        .map(|file| TableFile {
            path: opened
                .local_path(&file.recorded_path)
                .map(|path| path.display().to_string())
                .unwrap_or_else(|| opened.resolve(&file.recorded_path)),
            partition: file.partition,
            bytes: file.bytes,
            rows: Some(file.rows),
            bbox: file.bbox,
            kind: file.kind,
            deletion_vector: None,
        })
        .collect();
    Ok(TableFiles { files })
}

/// The scan tasks (one per live data file, with its deletes) of a snapshot, in path order.
pub(crate) async fn scan_tasks(
    opened: &OpenedIcebergTable,
    snapshot: &SnapshotRef,
    columns: &[String],
) -> Result<Vec<FileScanTask>, LakeError> {
    let scan = opened
        .table
        .scan()
        .snapshot_id(snapshot.snapshot_id())
        .select(columns.iter().cloned())
        .build()
        .map_err(opened.error("plan a scan"))?;
    let planned: Result<Vec<FileScanTask>, ::iceberg::Error> = match scan.plan_files().await {
        Ok(stream) => stream.try_collect().await,
        Err(error) => Err(error),
    };
    let mut tasks = match planned {
        Ok(tasks) => tasks,
        Err(error) => {
            return Err(match opened.broken_manifest(snapshot).await {
                Some(broken) => broken,
                None => LakeError::iceberg(opened.name.clone(), "list data files", error),
            });
        }
    };
    tasks.sort_by(|a, b| a.data_file_path.cmp(&b.data_file_path));
    Ok(tasks)
}

/// The size of a local file on disk, when it can be read.
fn size_on_disk(opened: &OpenedIcebergTable, recorded_path: &str) -> Option<u64> {
    let path = opened.local_path(recorded_path)?;
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Read one scan task (deletes applied) as a stream of Arrow 58 batches.
///
/// The Parquet footer is located from the file size, so sizes are taken from the files on disk
/// (some writers record wrong sizes in manifests). Deletion vectors (Puffin) are refused with a
/// clear error: iceberg-rust 0.10 would read them as Parquet.
pub(crate) fn read_task(
    opened: &OpenedIcebergTable,
    mut task: FileScanTask,
) -> Result<::iceberg::scan::ArrowRecordBatchStream, LakeError> {
    if let Some(size) = size_on_disk(opened, &task.data_file_path) {
        if task.start == 0 && task.length == task.file_size_in_bytes {
            task.length = size;
        }
        task.file_size_in_bytes = size;
    }
    for delete in &mut task.deletes {
        if delete.file_path.ends_with(".puffin") {
            return Err(LakeError::IcebergUnsupported {
                table: opened.name.clone(),
                file: opened.resolve(&delete.file_path),
                what: "a deletion vector (Puffin, format v3)".to_string(),
                advice: "info, history and files work; rows can be read after the table is rewritten without deletion vectors".to_string(),
            });
        }
        if let Some(size) = size_on_disk(opened, &delete.file_path) {
            delete.file_size_in_bytes = size;
        }
    }
    let reader = opened
        .table
        .reader_builder()
        .with_data_file_concurrency_limit(1)
        .build();
    let tasks: ::iceberg::scan::FileScanTaskStream = Box::pin(futures::stream::iter([Ok(task)]));
    Ok(reader
        .read(tasks)
        .map_err(opened.error("read a data file"))?
        .stream())
}

/// Column names of the snapshot's schema; checks `requested` against them.
/// The schema a snapshot was written with (the current schema for a table without snapshots).
fn schema_at(opened: &OpenedIcebergTable, snapshot: Option<&SnapshotRef>) -> Result<::iceberg::spec::SchemaRef, LakeError> {
    let metadata = opened.table.metadata();
    match snapshot {
        Some(snapshot) => snapshot.schema(metadata).map_err(opened.error("read the snapshot schema")),
        None => Ok(metadata.current_schema().clone()),
    }
}

pub(crate) fn page_columns(
    opened: &OpenedIcebergTable,
    snapshot: Option<&SnapshotRef>,
    requested: &[String],
) -> Result<Vec<String>, LakeError> {
    let schema = schema_at(opened, snapshot)?;
    let all: Vec<String> = schema.as_struct().fields().iter().map(|f| f.name.clone()).collect();
    if requested.is_empty() {
        return Ok(all);
    }
    let missing: Vec<&str> = requested
        .iter()
        .filter(|name| !all.contains(name))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(LakeError::UnknownColumns {
            table: opened.name.clone(),
            missing: missing.join(", "),
            known: all.join(", "),
        });
    }
    Ok(requested.to_vec())
}

/// A page of rows of an Iceberg table at a snapshot, with position and equality deletes applied.
///
/// Data files are taken in path order; whole files without deletes are skipped by their record
/// count while the offset allows, and reading stops once the page is full.
pub async fn head(
    table: &TableRef,
    at: &VersionSelector,
    page: &PageRequest,
) -> Result<TablePage, LakeError> {
    let opened = open(table).await?;
    let snapshot = select_snapshot(&opened, at)?;
    let columns = page_columns(&opened, snapshot.as_ref(), &page.columns)?;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let Some(snapshot) = snapshot else {
        return Ok(TablePage { columns, rows });
    };
    if page.limit == 0 {
        return Ok(TablePage { columns, rows });
    }
    let tasks = scan_tasks(&opened, &snapshot, &columns).await?;
    let mut warnings = Vec::new();
    let geometry: Vec<String> = geometry_columns_of(
        &opened,
        tasks.first().map(|t| t.data_file_path.as_str()),
        &mut warnings,
    )
    .await
    .into_iter()
    .map(|g| g.name)
    .collect();
    for warning in &warnings {
        tracing::warn!(table = %opened.name, "{warning}");
    }
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let mut skip = page.offset;
    for task in tasks {
        if rows.len() >= limit {
            break;
        }
        if task.deletes.is_empty()
            && let Some(count) = task.record_count
            && skip >= count
        {
            skip -= count;
            continue;
        }
        let data_file_path = task.data_file_path.clone();
        let mut stream = read_task(&opened, task)?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| opened.data_file_error(&data_file_path, e))?
        {
            let in_batch = batch.num_rows() as u64;
            if skip >= in_batch {
                skip -= in_batch;
                continue;
            }
            let start = skip as usize;
            skip = 0;
            let take = (batch.num_rows() - start).min(limit - rows.len());
            let arrays = batch_columns(&opened, &batch, &columns)?;
            for row in start..start + take {
                rows.push(
                    arrays
                        .iter()
                        .zip(&columns)
                        .map(|(array, name)| render_value(array.as_ref(), row, BinaryCell::of(geometry.contains(name), page.full_geometry)))
                        .collect(),
                );
            }
            if rows.len() >= limit {
                break;
            }
        }
    }
    Ok(TablePage { columns, rows })
}

/// The number of rows of an Iceberg table at a snapshot with all deletes applied (reads every
/// data file's first column).
pub async fn count_rows(table: &TableRef, at: &VersionSelector) -> Result<u64, LakeError> {
    let opened = open(table).await?;
    let Some(snapshot) = select_snapshot(&opened, at)? else {
        return Ok(0);
    };
    let first = page_columns(&opened, Some(&snapshot), &[])?;
    let columns: Vec<String> = first.into_iter().take(1).collect();
    let mut total = 0u64;
    for task in scan_tasks(&opened, &snapshot, &columns).await? {
        let data_file_path = task.data_file_path.clone();
        let mut stream = read_task(&opened, task)?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| opened.data_file_error(&data_file_path, e))?
        {
            total += batch.num_rows() as u64;
        }
    }
    Ok(total)
}

/// The batch's arrays in the order of `columns`.
fn batch_columns(
    opened: &OpenedIcebergTable,
    batch: &RecordBatch,
    columns: &[String],
) -> Result<Vec<arrow_array_58::ArrayRef>, LakeError> {
    columns
        .iter()
        .map(|name| {
            batch.column_by_name(name).cloned().ok_or_else(|| LakeError::ArrowIceberg {
                table: opened.name.clone(),
                source: arrow_schema_58::ArrowError::SchemaError(format!(
                    "the scan returned no column {name}"
                )),
            })
        })
        .collect()
}

/// Binary as short WKT (geometry columns) or `"<N bytes>"`.
fn render_binary(bytes: &[u8], geometry: BinaryCell) -> Value {
    if geometry != BinaryCell::Bytes {
        match wkb_to_geometry(bytes, "geometry value") {
            Ok(shape) => {
                let text = wkt::ToWkt::wkt_string(&shape);
                if geometry == BinaryCell::ShortWkt && text.chars().count() > WKT_MAX_CHARS {
                    let cut: String = text.chars().take(WKT_MAX_CHARS).collect();
                    return Value::String(format!("{cut}…"));
                }
                return Value::String(text);
            }
            Err(_) => return Value::String(format!("<{} bytes, not WKB>", bytes.len())),
        }
    }
    Value::String(format!("<{} bytes>", bytes.len()))
}

fn float_value(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(value.to_string()))
}

fn timestamp_value(value: i64, unit: &TimeUnit, zoned: bool) -> Value {
    let time = match unit {
        TimeUnit::Second => DateTime::<Utc>::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::<Utc>::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::<Utc>::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::<Utc>::from_timestamp_nanos(value)),
    };
    match time {
        Some(time) if zoned => Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Some(time) => Value::String(time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        None => Value::Number(value.into()),
    }
}

/// One Arrow 58 value as JSON: numbers, strings, booleans, null, RFC 3339 timestamps, WKT for
/// geometry columns, `"<N bytes>"` for other binary, arrays/objects for nested values.
fn render_value(array: &dyn Array, row: usize, geometry: BinaryCell) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => array.as_primitive::<arrow_types::Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<arrow_types::Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<arrow_types::Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<arrow_types::Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<arrow_types::UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<arrow_types::UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<arrow_types::UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<arrow_types::UInt64Type>().value(row).into(),
        DataType::Float32 => float_value(f64::from(array.as_primitive::<arrow_types::Float32Type>().value(row))),
        DataType::Float64 => float_value(array.as_primitive::<arrow_types::Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            let raw = array.as_primitive::<arrow_types::Decimal128Type>().value(row);
            Value::String(<arrow_types::Decimal128Type as arrow_types::DecimalType>::format_decimal(raw, 38, *scale))
        }
        DataType::Date32 => {
            let days = array.as_primitive::<arrow_types::Date32Type>().value(row);
            NaiveDate::from_num_days_from_ce_opt(719_163 + days)
                .map(|d| Value::String(d.to_string()))
                .unwrap_or_else(|| days.into())
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let micros = array.as_primitive::<arrow_types::Time64MicrosecondType>().value(row);
            chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (micros / 1_000_000) as u32,
                ((micros % 1_000_000) * 1000) as u32,
            )
            .map(|t| Value::String(t.format("%H:%M:%S%.f").to_string()))
            .unwrap_or_else(|| micros.into())
        }
        DataType::Timestamp(unit, zone) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<arrow_types::TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array.as_primitive::<arrow_types::TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => array.as_primitive::<arrow_types::TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => array.as_primitive::<arrow_types::TimestampNanosecondType>().value(row),
            };
            timestamp_value(value, unit, zone.is_some())
        }
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_string()),
        DataType::Binary => render_binary(array.as_binary::<i32>().value(row), geometry),
        DataType::LargeBinary => render_binary(array.as_binary::<i64>().value(row), geometry),
        DataType::BinaryView => render_binary(array.as_binary_view().value(row), geometry),
        DataType::FixedSizeBinary(16) if geometry == BinaryCell::Bytes => {
            let bytes = array.as_fixed_size_binary().value(row);
            let mut value = [0u8; 16];
            value.copy_from_slice(bytes);
            Value::String(uuid_text(u128::from_be_bytes(value)))
        }
        DataType::FixedSizeBinary(_) => render_binary(array.as_fixed_size_binary().value(row), geometry),
        DataType::Struct(fields) => {
            let columns = array.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(columns.columns())
                    .map(|(field, child)| (field.name().clone(), render_value(child.as_ref(), row, BinaryCell::Bytes)))
                    .collect(),
            )
        }
        DataType::List(_) => {
            let values = array.as_list::<i32>().value(row);
            Value::Array((0..values.len()).map(|i| render_value(values.as_ref(), i, BinaryCell::Bytes)).collect())
        }
        DataType::LargeList(_) => {
            let values = array.as_list::<i64>().value(row);
            Value::Array((0..values.len()).map(|i| render_value(values.as_ref(), i, BinaryCell::Bytes)).collect())
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            Value::Array(
                (0..entries.len())
                    .map(|i| {
                        Value::Array(vec![
                            render_value(keys.as_ref(), i, BinaryCell::Bytes),
                            render_value(values.as_ref(), i, BinaryCell::Bytes),
                        ])
                    })
                    .collect(),
            )
        }
        other => Value::String(format!("<{other}>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lake::demo_tables::{demo_parcels, write_demo_iceberg_table};

    struct Demo {
        _dir: tempfile::TempDir,
        sql: TableRef,
        folder: PathBuf,
    }

    async fn demo() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let parcels = demo_parcels(40, 2);
        let catalog_db = dir.path().join("catalog.db");
        let warehouse = dir.path().join("warehouse");
        let demo = write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &parcels, 4)
            .await
            .unwrap();
        let sql = TableRef::parse(&demo.reference).unwrap();
        let folder = PathBuf::from(demo.location.trim_start_matches("file://"));
        Demo { _dir: dir, sql, folder }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn info_history_files_at_snapshots() {
        let demo = demo().await;
        let policy = SmallFilePolicy::default();
        let latest = info(&demo.sql, &VersionSelector::Latest, &policy).await.unwrap();
        assert_eq!(latest.format, "iceberg");
        assert_eq!(latest.num_rows, Some(40));
        assert_eq!(latest.num_files, 4);
        assert_eq!(latest.small_files, 4);
        assert_eq!(latest.max_small_files_per_partition, 4);
        assert!(latest.total_bytes > 0);
        assert!(latest.remapped_from.is_none(), "{:?}", latest.remapped_from);
        let types: Vec<_> = latest.schema.iter().map(|f| f.data_type.as_str()).collect();
        assert_eq!(types, vec!["string", "binary", "string", "timestamptz"]);
        assert_eq!(latest.geometry_columns.len(), 1);
        assert_eq!(latest.geometry_columns[0].name, "geometry");
        assert!(latest.warnings.is_empty(), "{:?}", latest.warnings);

        let history = history(&demo.sql).await.unwrap();
        assert_eq!(history.versions.len(), 4);
        assert_eq!(history.versions[0].parent, None);
        for pair in history.versions.windows(2) {
            assert_eq!(pair[1].parent, Some(pair[0].version));
        }
        assert!(history.versions.iter().all(|v| v.operation == "append" && v.files_added == 1));
        assert_eq!(history.versions.iter().filter_map(|v| v.rows_added).sum::<u64>(), 40);
        assert_eq!(latest.version, Some(history.versions[3].version));

        let first_id = history.versions[0].version;
        let first = info(&demo.sql, &VersionSelector::Snapshot(first_id), &policy).await.unwrap();
        assert_eq!(first.version, Some(first_id));
        assert_eq!(first.num_files, 1);
        assert_eq!(first.num_rows, history.versions[0].rows_added);
        let as_of = info(&demo.sql, &VersionSelector::AsOf(first.timestamp.unwrap()), &policy)
            .await
            .unwrap();
        assert_eq!(as_of.version, Some(first_id));
        let before = first.timestamp.unwrap() - chrono::Duration::seconds(1);
        let err = info(&demo.sql, &VersionSelector::AsOf(before), &policy).await.unwrap_err();
        assert!(matches!(err, LakeError::IcebergNoSnapshotAt { .. }), "{err}");
        let err = info(&demo.sql, &VersionSelector::Version(1), &policy).await.unwrap_err();
        assert!(matches!(err, LakeError::VersionOnIcebergTable { .. }), "{err}");
        let err = info(&demo.sql, &VersionSelector::Snapshot(42), &policy).await.unwrap_err();
        assert!(err.to_string().contains(&first_id.to_string()), "{err}");

        let listed = files(&demo.sql, &VersionSelector::Latest).await.unwrap();
        assert_eq!(listed.files.len(), 4);
        assert!(listed.files.iter().all(|f| f.kind == FileKind::Data && Path::new(&f.path).is_file()));
        assert_eq!(listed.files.iter().filter_map(|f| f.rows).sum::<u64>(), 40);
        let at_first = files(&demo.sql, &VersionSelector::Snapshot(first_id)).await.unwrap();
        assert_eq!(at_first.files.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn head_pages_columns_and_wkt() {
        let demo = demo().await;
        let parcels = demo_parcels(40, 2);
        let all = head(&demo.sql, &VersionSelector::Latest, &PageRequest { offset: 0, limit: 100, columns: vec![], ..Default::default() })
            .await
            .unwrap();
        assert_eq!(all.columns, vec!["parcel_id", "geometry", "crs", "updated_at"]);
        assert_eq!(all.rows.len(), 40);
        let ids: Vec<&str> = all.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
        let expected: Vec<&str> = parcels.iter().map(|p| p.parcel_id.as_str()).collect();
        assert_eq!(ids, expected);
        let wkt = all.rows[0][1].as_str().unwrap();
        assert!(wkt.starts_with("POLYGON(("), "{wkt}");
        assert!(wkt.chars().count() <= WKT_MAX_CHARS + 1, "{wkt}");
        let stamp = all.rows[0][3].as_str().unwrap();
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");

        let page = head(
            &demo.sql,
            &VersionSelector::Latest,
            &PageRequest { offset: 12, limit: 5, columns: vec!["updated_at".into(), "parcel_id".into()], ..Default::default() },
        )
        .await
        .unwrap();
        assert_eq!(page.columns, vec!["updated_at", "parcel_id"]);
        let ids: Vec<&str> = page.rows.iter().map(|r| r[1].as_str().unwrap()).collect();
        assert_eq!(ids, expected[12..17].to_vec());
        let err = head(
            &demo.sql,
            &VersionSelector::Latest,
            &PageRequest { offset: 0, limit: 1, columns: vec!["nope".into()], ..Default::default() },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LakeError::UnknownColumns { .. }), "{err}");
        let first_id = history(&demo.sql).await.unwrap().versions[0].version;
        let at_first = head(
            &demo.sql,
            &VersionSelector::Snapshot(first_id),
            &PageRequest { offset: 0, limit: 100, columns: vec!["parcel_id".into()], ..Default::default() },
        )
        .await
        .unwrap();
        assert_eq!(at_first.rows.len(), 10);
        assert_eq!(count_rows(&demo.sql, &VersionSelector::Latest).await.unwrap(), 40);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn folder_and_metadata_file_give_the_same_info() {
        let demo = demo().await;
        let policy = SmallFilePolicy::default();
        let from_sql = info(&demo.sql, &VersionSelector::Latest, &policy).await.unwrap();
        let folder_ref = TableRef::parse(&demo.folder.display().to_string()).unwrap();
        let TableRef::IcebergFile { metadata_location } = &folder_ref else {
            panic!("{folder_ref:?}")
        };
        let file_ref = TableRef::parse(metadata_location).unwrap();
        assert_eq!(file_ref, folder_ref);
        for table in [&folder_ref, &file_ref] {
            let other = info(table, &VersionSelector::Latest, &policy).await.unwrap();
            assert_eq!(other.version, from_sql.version);
            assert_eq!(other.num_rows, from_sql.num_rows);
            assert_eq!(other.num_files, from_sql.num_files);
            assert_eq!(other.total_bytes, from_sql.total_bytes);
            assert_eq!(other.schema, from_sql.schema);
            assert_eq!(other.location, from_sql.location);
            assert!(other.remapped_from.is_none());
        }
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn moved_table_is_remapped() {
        let demo = demo().await;
        let policy = SmallFilePolicy::default();
        let original = info(&demo.sql, &VersionSelector::Latest, &policy).await.unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let moved_root = elsewhere.path().join("moved-parcels");
        copy_dir(&demo.folder, &moved_root);
        // Remove the original so nothing can be read from the old location by accident.
        std::fs::remove_dir_all(&demo.folder).unwrap();
        let moved = TableRef::parse(&moved_root.display().to_string()).unwrap();
        let moved_info = info(&moved, &VersionSelector::Latest, &policy).await.unwrap();
        assert_ne!(moved_info.location, original.location);
        let recorded = moved_info.remapped_from.clone().unwrap();
        assert!(recorded.ends_with("/demo/parcels"), "{recorded}");
        assert_eq!(moved_info.num_rows, Some(40));
        assert_eq!(moved_info.geometry_columns.len(), 1, "{:?}", moved_info.warnings);
        let canonical_root = std::fs::canonicalize(&moved_root).unwrap();
        assert_eq!(moved_info.location, canonical_root.display().to_string());
        let listed = files(&moved, &VersionSelector::Latest).await.unwrap();
        assert!(listed.files.iter().all(|f| f.path.starts_with(&moved_info.location)), "{listed:?}");
        let rows = head(&moved, &VersionSelector::Latest, &PageRequest { offset: 0, limit: 100, columns: vec![], ..Default::default() })
            .await
            .unwrap();
        assert_eq!(rows.rows.len(), 40);
        assert!(rows.rows[0][1].as_str().unwrap().starts_with("POLYGON"));
    }

    #[test]
    fn remap_only_replaces_whole_prefixes() {
        let remap = PathRemap::new("s3://bucket/wh/t/", Path::new("/data/copy"));
        assert_eq!(remap.resolve("s3://bucket/wh/t/data/a.parquet"), "/data/copy/data/a.parquet");
        assert_eq!(remap.resolve("s3://bucket/wh/t2/data/a.parquet"), "s3://bucket/wh/t2/data/a.parquet");
        let remap = PathRemap::new("file:/old/t", Path::new("/new/t"));
        assert_eq!(remap.resolve("file:///old/t/m.avro"), "/new/t/m.avro");
        assert_eq!(remap.resolve("/old/t/m.avro"), "/new/t/m.avro");
        let relative = PathRemap::new("data/persistent/x", Path::new("/f/x"));
        assert_eq!(relative.resolve("data/persistent/x/metadata/snap.avro"), "/f/x/metadata/snap.avro");
        let relative = PathRemap::new("data/p/x", Path::new("/f/data/p/x"));
        assert_eq!(relative.resolve("data/p/x/m.avro"), "/f/data/p/x/m.avro");
        assert_eq!(relative.resolve("data/p/other/a.parquet"), "/f/data/p/other/a.parquet");
        let renamed_parent = PathRemap::new("s3://b/wh/db/t", Path::new("/copy/db/t"));
        assert_eq!(renamed_parent.resolve("s3://b/wh/db/t/d/a.parquet"), "/copy/db/t/d/a.parquet");
        assert_eq!(renamed_parent.resolve("s3://b/wh/db/u/a.parquet"), "/copy/db/u/a.parquet");
    }
}
