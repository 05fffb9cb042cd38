//! Iceberg commits for maintenance, written on iceberg-rust's public writers: manifests, a manifest
//! list, a [`Snapshot`], new table metadata in a new `*.metadata.json` file, then a compare-and-swap
//! of the table's current metadata location (a SQLite SQL catalog row, or a file table's next
//! `vN.metadata.json` + `version-hint.text`). A lost swap changes nothing: the files written for the
//! attempt stay unreferenced (orphans that `table vacuum` removes).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ::iceberg::spec::{
    DataContentType, DataFile, FormatVersion, ManifestContentType, ManifestEntryRef, ManifestFile, ManifestListWriter,
    ManifestWriterBuilder, Operation, Snapshot, SnapshotRef, Summary, TableMetadata, TableMetadataBuildResult,
    TableMetadataBuilder,
};
use ::iceberg::TableRequirement;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::engine::lake::iceberg::{OpenedIcebergTable, open_metadata_file, open_table_metadata, resolve_catalog_location};
use crate::engine::lake::iceberg_rest::{CommitOutcome, RestCatalogClient};
use crate::engine::lake::table_ref::latest_metadata_file;
use crate::engine::lake::{LakeError, TableRef};

/// How many times a commit is rebuilt on a new base after losing the swap.
pub const MAX_COMMIT_RETRIES: u32 = 5;

/// Where the table's "current metadata" pointer lives.
#[derive(Clone)]
pub enum Pointer {
    /// A row of `iceberg_tables` in a SQLite SQL catalog.
    Sql { catalog_db: PathBuf, catalog: String, namespace: String, table: String },
    /// A table without a catalog: the newest metadata file of its `metadata/` folder.
    File { metadata_dir: PathBuf },
    /// A table in an Iceberg REST catalog: commits are POSTed with requirements.
    Rest { client: RestCatalogClient, namespace: String, table: String },
}

/// The table as of one metadata file: what a commit is built on and swapped against.
pub struct Base {
    pub opened: OpenedIcebergTable,
    /// The current metadata location exactly as the catalog records it (compared in the swap).
    pub metadata_location: String,
    /// That metadata file on the local disk.
    pub metadata_file: PathBuf,
    pub pointer: Pointer,
}

impl Base {
    pub fn metadata(&self) -> &TableMetadata {
        self.opened.table.metadata()
    }

    pub fn name(&self) -> &str {
        &self.opened.name
    }
}

fn unsupported(table: &TableRef, what: &str) -> LakeError {
    LakeError::MaintenanceUnsupported {
        table: table.to_string(),
        what: what.to_string(),
        advice: "compact, expire and vacuum work on local tables in a SQLite SQL catalog (iceberg+sqlite:///…/catalog.db#ns.table) or opened through their folder / metadata file".to_string(),
    }
}

fn sql_error<'a>(catalog_db: &'a Path, action: &'static str) -> impl FnOnce(sqlx::Error) -> LakeError + 'a {
    move |source| LakeError::SqlCatalog { catalog_db: catalog_db.to_path_buf(), action, source }
}

/// The current metadata location of a table in a SQLite catalog, as recorded.
async fn sql_metadata_location(catalog_db: &Path, catalog: &str, namespace: &str, table: &str) -> Result<Option<String>, LakeError> {
    let options = SqliteConnectOptions::new().filename(catalog_db).read_only(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(sql_error(catalog_db, "open"))?;
    let row: Result<Option<(Option<String>,)>, sqlx::Error> = sqlx::query_as(
        "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
    )
    .bind(catalog)
    .bind(namespace)
    .bind(table)
    .fetch_optional(&pool)
    .await;
    pool.close().await;
    Ok(row.map_err(sql_error(catalog_db, "read the table's metadata location"))?.and_then(|(location,)| location))
}

/// Load the table as it is now, with what its swap compares against.
pub async fn load_base(table: &TableRef) -> Result<Base, LakeError> {
    let resolved = table.resolve().await?;
    let name = table.to_string();
    match &resolved {
        TableRef::IcebergSql { catalog_db, catalog, namespace, table: table_name } => {
            let location = sql_metadata_location(catalog_db, catalog, namespace, table_name).await?.ok_or_else(|| {
                LakeError::IcebergTableNotFound {
                    catalog_db: catalog_db.clone(),
                    namespace: namespace.clone(),
                    table: table_name.clone(),
                    known: "(see `meshlake table list`)".to_string(),
                }
            })?;
            let file = resolve_catalog_location(catalog_db, &location).ok_or_else(|| LakeError::NotAnIcebergTable {
                path: catalog_db.clone(),
                reason: format!("the metadata file the catalog records for {namespace}.{table_name} ({location}) is not a local file"),
            })?;
            let opened = open_metadata_file(&name, &file).await?;
            Ok(Base {
                opened,
                metadata_location: location,
                metadata_file: file,
                pointer: Pointer::Sql {
                    catalog_db: catalog_db.clone(),
                    catalog: catalog.clone(),
                    namespace: namespace.clone(),
                    table: table_name.clone(),
                },
            })
        }
        TableRef::IcebergFile { metadata_location } if !crate::engine::storage::is_object_store_url(metadata_location) => {
            let given = PathBuf::from(metadata_location);
            let root = if given.is_dir() {
                given.clone()
            } else {
                given.parent().and_then(Path::parent).map(Path::to_path_buf).ok_or_else(|| LakeError::NotAnIcebergTable {
                    path: given.clone(),
                    reason: "a metadata file outside a metadata/ folder".to_string(),
                })?
            };
            let file = latest_metadata_file(&root)?;
            let opened = open_metadata_file(&name, &file).await?;
            let metadata_dir = root.join("metadata");
            Ok(Base { opened, metadata_location: file.display().to_string(), metadata_file: file, pointer: Pointer::File { metadata_dir } })
        }
        TableRef::IcebergRest { base_url, namespace, table: table_name } => {
            let client = RestCatalogClient::connect(base_url).await?;
            let loaded = client.load_table(namespace, table_name).await?;
            let location = loaded.metadata_location.clone().unwrap_or_default();
            let local = crate::engine::lake::plain_local_path(&location)
                .filter(|path| path.is_file())
                .and_then(|path| std::fs::canonicalize(path).ok());
            let opened = open_table_metadata(&name, loaded.metadata, local.as_deref()).await?;
            Ok(Base {
                opened,
                metadata_file: local.unwrap_or_else(|| PathBuf::from(&location)),
                metadata_location: location,
                pointer: Pointer::Rest { client, namespace: namespace.clone(), table: table_name.clone() },
            })
        }
        _ => Err(unsupported(table, "a table in object storage")),
    }
}

/// A warning for file tables whose metadata files are named the way catalogs name them
/// (`NNNNN-uuid.metadata.json`, no `version-hint.text`): a catalog that tracks the table does not
/// see a commit made through the folder.
pub fn pointer_note(base: &Base) -> Option<String> {
    let Pointer::File { metadata_dir } = &base.pointer else { return None };
    let (_, version) = next_metadata_name(&base.metadata_file);
    (version.is_none() && !metadata_dir.join("version-hint.text").exists()).then(|| {
        format!(
            "{} was opened through its folder but its metadata files are named like a catalog's: if a catalog tracks this table, it still points at its own metadata file; run maintenance through the catalog (iceberg+sqlite://… or iceberg+http://…) instead",
            base.name()
        )
    })
}

/// A random id (snapshot ids, file names): the process's random hasher keys, the time and a counter.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A uuid-shaped random text for file names.
pub fn random_uuid_text() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, b >> 52, b & 0xffff_ffff_ffff)
}

/// A snapshot id not used by the table (positive, like Java's and pyiceberg's).
pub fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let id = (random_u64() & (i64::MAX as u64)) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// One manifest of a snapshot with its entries (inherited values filled in).
pub struct LoadedManifest {
    pub file: ManifestFile,
    pub entries: Vec<ManifestEntryRef>,
}

/// Every manifest of `snapshot`, loaded.
pub async fn load_manifests(opened: &OpenedIcebergTable, snapshot: &SnapshotRef) -> Result<Vec<LoadedManifest>, LakeError> {
    let list = crate::engine::lake::iceberg::load_manifest_list(opened, snapshot).await?;
    let mut manifests = Vec::new();
    let files: Vec<ManifestFile> = list.consume_entries().into_iter().collect();
    for file in files {
        let manifest = file
            .load_manifest(opened.table.file_io())
            .await
            .map_err(|e| opened.metadata_file_error(&file.manifest_path, "a manifest", e))?;
        let (entries, _) = manifest.into_parts();
        manifests.push(LoadedManifest { file, entries });
    }
    Ok(manifests)
}

/// The recorded paths of the live delete files of a snapshot's manifests.
pub fn live_delete_files(manifests: &[LoadedManifest]) -> BTreeSet<String> {
    manifests
        .iter()
        .flat_map(|m| m.entries.iter())
        .filter(|e| e.is_alive() && e.content_type() != DataContentType::Data)
        .map(|e| e.file_path().to_string())
        .collect()
}

/// A replace (rewrite) to commit: data files removed and the files written instead.
pub struct Replace {
    /// Recorded paths of the data files rewritten.
    pub rewritten: HashSet<String>,
    /// The new data files with their partition spec id.
    pub added: Vec<(i32, DataFile)>,
    /// The live delete files of the snapshot the rewrite read (a new delete file means a conflict).
    pub deletes_read: BTreeSet<String>,
}

/// What a swap did.
pub enum Swap {
    /// The new metadata is current; its location as recorded.
    Done(String),
    /// Someone else committed first; nothing changed.
    Lost(String),
}

fn iceberg_error<'a>(base: &'a Base, action: &'static str) -> impl FnOnce(::iceberg::Error) -> LakeError + 'a {
    move |source| LakeError::iceberg(base.name().to_string(), action, source)
}

/// The next metadata file name after `current` (`v3.metadata.json` → `v4…`; `00003-uuid…` → `00004-…`).
fn next_metadata_name(current: &Path) -> (String, Option<u64>) {
    let name = current.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".metadata.json").unwrap_or(&name);
    if let Some(n) = stem.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) {
        return (format!("v{}.metadata.json", n + 1), Some(n + 1));
    }
    let version = stem.split('-').next().and_then(|n| n.parse::<u64>().ok()).map_or(0, |n| n + 1);
    (format!("{version:05}-{}.metadata.json", random_uuid_text()), None)
}

/// Write `bytes` to `path` only if it does not exist, never visible half-written: a temporary file
/// hard-linked into place (the link fails when `path` exists). `Ok(false)` when it existed.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<bool, LakeError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let temp = folder.join(format!(".meshlake-{}.tmp", random_uuid_text()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp).map_err(|e| LakeError::io("create", &temp, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| LakeError::io("write", &temp, e))?;
    drop(file);
    let linked = std::fs::hard_link(&temp, path);
    // Best effort: a temporary file left behind is an orphan that vacuum removes.
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(LakeError::io("create", path, e)),
    }
}

/// Replace a small file atomically (temporary file + rename).
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let temp = folder.join(format!(".meshlake-{}.tmp", random_uuid_text()));
    std::fs::write(&temp, bytes).map_err(|e| LakeError::io("write", &temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| LakeError::io("replace", path, e))
}

/// Write `metadata` as the table's next metadata file and swap it in if the table is still at `base`.
pub async fn swap(base: &Base, built: &TableMetadataBuildResult) -> Result<Swap, LakeError> {
    let metadata = &built.metadata;
    let bytes = serde_json::to_vec(metadata).map_err(|e| LakeError::NotAnIcebergTable {
        path: base.metadata_file.clone(),
        reason: format!("the new table metadata cannot be written as JSON: {e}"),
    })?;
    let (name, version) = next_metadata_name(&base.metadata_file);
    let folder = base.metadata_file.parent().unwrap_or(Path::new("."));
    let new_file = folder.join(&name);
    let new_location = match base.metadata_location.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.clone(),
    };
    match &base.pointer {
        Pointer::Sql { catalog_db, catalog, namespace, table } => {
            if !write_new_file(&new_file, &bytes)? {
                return Ok(Swap::Lost(format!("metadata file {} already exists", new_file.display())));
            }
            let options = SqliteConnectOptions::new().filename(catalog_db).busy_timeout(std::time::Duration::from_secs(30));
            let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(sql_error(catalog_db, "open"))?;
            let updated = sqlx::query(
                "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
                 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?",
            )
            .bind(&new_location)
            .bind(&base.metadata_location)
            .bind(catalog)
            .bind(namespace)
            .bind(table)
            .bind(&base.metadata_location)
            .execute(&pool)
            .await;
            pool.close().await;
            let updated = updated.map_err(sql_error(catalog_db, "swap the table's metadata location"))?;
            if updated.rows_affected() == 1 {
                Ok(Swap::Done(new_location))
            } else {
                let now = sql_metadata_location(catalog_db, catalog, namespace, table).await?.unwrap_or_default();
                Ok(Swap::Lost(format!("the catalog now points at {now}, not {}", base.metadata_location)))
            }
        }
        Pointer::Rest { client, namespace, table } => {
            // The catalog writes the metadata file; the requirements are the compare of the swap.
            let requirements = [
                TableRequirement::UuidMatch { uuid: base.metadata().uuid() },
                TableRequirement::RefSnapshotIdMatch { r#ref: "main".to_string(), snapshot_id: base.metadata().current_snapshot_id() },
            ];
            Ok(match client.commit_table(namespace, table, &requirements, &built.changes).await? {
                CommitOutcome::Committed { metadata_location } => Swap::Done(metadata_location.unwrap_or_default()),
                CommitOutcome::Conflict(message) => Swap::Lost(format!("the catalog refused the commit: {message}")),
            })
        }
        Pointer::File { metadata_dir } => {
            // The newest metadata file must still be the base (a writer naming files `NNNNN-uuid`
            // cannot collide on the name; with `vN` names the create-new link is the swap).
            let root = metadata_dir.parent().unwrap_or(metadata_dir);
            let latest = latest_metadata_file(root)?;
            if latest != base.metadata_file && std::fs::canonicalize(&latest).ok() != std::fs::canonicalize(&base.metadata_file).ok() {
                return Ok(Swap::Lost(format!("{} was committed meanwhile", latest.display())));
            }
            if !write_new_file(&new_file, &bytes)? {
                return Ok(Swap::Lost(format!("{} was committed meanwhile", new_file.display())));
            }
            let hint = metadata_dir.join("version-hint.text");
            if let Some(version) = version {
                replace_file(&hint, version.to_string().as_bytes())?;
            }
            Ok(Swap::Done(new_file.display().to_string()))
        }
    }
}

/// Format versions a maintenance commit can write (v2; v1 and v3 are refused).
pub fn check_format(base: &Base) -> Result<(), LakeError> {
    match base.metadata().format_version() {
        FormatVersion::V2 => Ok(()),
        other => Err(LakeError::MaintenanceUnsupported {
            table: base.name().to_string(),
            what: format!("format version {other:?}"),
            advice: "only format version 2 tables are compacted and expired for now (pyiceberg, Spark and Trino write v2 by default)".to_string(),
        }),
    }
}

/// Totals of the live files after a commit, for the snapshot summary.
#[derive(Default)]
struct Totals {
    data_files: u64,
    delete_files: u64,
    records: u64,
    files_size: u64,
    position_deletes: u64,
    equality_deletes: u64,
}

impl Totals {
    fn add(&mut self, content: DataContentType, records: u64, size: u64) {
        self.files_size += size;
        match content {
            DataContentType::Data => {
                self.data_files += 1;
                self.records += records;
            }
            DataContentType::PositionDeletes => {
                self.delete_files += 1;
                self.position_deletes += records;
            }
            DataContentType::EqualityDeletes => {
                self.delete_files += 1;
                self.equality_deletes += records;
            }
        }
    }
}

/// Build the replace snapshot on `base` (its current snapshot) and its metadata. `Err(reason)` in
/// the `Ok` side when the base no longer has every rewritten file live or gained delete files.
pub async fn build_replace(base: &Base, replace: &Replace) -> Result<Result<TableMetadataBuildResult, String>, LakeError> {
    let metadata = base.metadata();
    let Some(current) = metadata.current_snapshot().cloned() else {
        return Ok(Err("the table has no current snapshot any more".to_string()));
    };
    let manifests = load_manifests(&base.opened, &current).await?;
    let deletes_now = live_delete_files(&manifests);
    if let Some(added) = deletes_now.difference(&replace.deletes_read).next() {
        return Ok(Err(format!(
            "snapshot {} added delete file {added} that may apply to rows being rewritten",
            current.snapshot_id()
        )));
    }
    let live_rewritten = manifests
        .iter()
        .flat_map(|m| m.entries.iter())
        .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data && replace.rewritten.contains(e.file_path()))
        .count();
    if live_rewritten != replace.rewritten.len() {
        return Ok(Err(format!(
            "snapshot {} ({}) removed {} of the data files being rewritten",
            current.snapshot_id(),
            current.summary().operation.as_str(),
            replace.rewritten.len() - live_rewritten
        )));
    }
    let snapshot_id = new_snapshot_id(metadata);
    let sequence_number = metadata.last_sequence_number() + 1;
    let location = metadata.location().trim_end_matches('/').to_string();
    let schema = metadata.current_schema().clone();
    let file_io = base.opened.table.file_io().clone();
    let commit_uuid = random_uuid_text();
    let mut manifest_count = 0usize;
    let mut next_manifest_path = || {
        manifest_count += 1;
        format!("{location}/metadata/{commit_uuid}-m{}.avro", manifest_count - 1)
    };
    let spec_of = |spec_id: i32| {
        metadata.partition_spec_by_id(spec_id).map(|spec| spec.as_ref().clone()).ok_or_else(|| {
            LakeError::iceberg(
                base.name().to_string(),
                "find a partition spec",
                ::iceberg::Error::new(::iceberg::ErrorKind::DataInvalid, format!("no partition spec {spec_id}")),
            )
        })
    };
    let mut totals = Totals::default();
    let mut new_manifests: Vec<ManifestFile> = Vec::new();
    let (mut deleted_files, mut deleted_records, mut removed_size) = (0u64, 0u64, 0u64);
    // The added files, one manifest per partition spec.
    let mut by_spec: HashMap<i32, Vec<&DataFile>> = HashMap::new();
    for (spec_id, file) in &replace.added {
        by_spec.entry(*spec_id).or_default().push(file);
    }
    let (mut added_files, mut added_records, mut added_size) = (0u64, 0u64, 0u64);
    let mut spec_ids: Vec<i32> = by_spec.keys().copied().collect();
    spec_ids.sort_unstable();
    for spec_id in spec_ids {
        let output = file_io.new_output(next_manifest_path()).map_err(iceberg_error(base, "write a manifest"))?;
        let mut writer = ManifestWriterBuilder::new(output, Some(snapshot_id), schema.clone(), spec_of(spec_id)?).build_v2_data();
        for file in &by_spec[&spec_id] {
            added_files += 1;
            added_records += file.record_count();
            added_size += file.file_size_in_bytes();
            totals.add(DataContentType::Data, file.record_count(), file.file_size_in_bytes());
            writer.add_file((*file).clone(), sequence_number).map_err(iceberg_error(base, "write a manifest"))?;
        }
        new_manifests.push(writer.write_manifest_file().await.map_err(iceberg_error(base, "write a manifest"))?);
    }
    // Delete files that can no longer apply to any data file are dropped with the rewrite: a
    // position delete (sequence S) applies to data files of sequence <= S, an equality delete to
    // those < S; the new files have a higher sequence number than every existing delete file.
    let min_remaining_seq = manifests
        .iter()
        .flat_map(|m| m.entries.iter())
        .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data && !replace.rewritten.contains(e.file_path()))
        .filter_map(|e| e.sequence_number())
        .min();
    let removable = |entry: &ManifestEntryRef| {
        let Some(seq) = entry.sequence_number() else { return false };
        match entry.content_type() {
            DataContentType::Data => false,
            DataContentType::PositionDeletes => min_remaining_seq.is_none_or(|m| m > seq),
            DataContentType::EqualityDeletes => min_remaining_seq.is_none_or(|m| m >= seq),
        }
    };
    let (mut removed_delete_files, mut removed_position_deletes, mut removed_equality_deletes) = (0u64, 0u64, 0u64);
    for manifest in manifests {
        let drop = |e: &ManifestEntryRef| {
            e.is_alive()
                && match manifest.file.content {
                    ManifestContentType::Data => replace.rewritten.contains(e.file_path()),
                    ManifestContentType::Deletes => removable(e),
                }
        };
        if !manifest.entries.iter().any(drop) {
            for entry in manifest.entries.iter().filter(|e| e.is_alive()) {
                totals.add(entry.content_type(), entry.record_count(), entry.file_size_in_bytes());
            }
            new_manifests.push(manifest.file);
            continue;
        }
        let output = file_io.new_output(next_manifest_path()).map_err(iceberg_error(base, "write a manifest"))?;
        let spec = spec_of(manifest.file.partition_spec_id)?;
        let builder = ManifestWriterBuilder::new(output, Some(snapshot_id), schema.clone(), spec);
        let mut writer = match manifest.file.content {
            ManifestContentType::Data => builder.build_v2_data(),
            ManifestContentType::Deletes => builder.build_v2_deletes(),
        };
        for entry in manifest.entries.iter().filter(|e| e.is_alive()) {
            let data_file = entry.data_file().clone();
            let seq = entry.sequence_number().unwrap_or(0);
            let file_seq = entry.file_sequence_number.or(Some(seq));
            if drop(entry) {
                removed_size += entry.file_size_in_bytes();
                match entry.content_type() {
                    DataContentType::Data => {
                        deleted_files += 1;
                        deleted_records += entry.record_count();
                    }
                    DataContentType::PositionDeletes => {
                        removed_delete_files += 1;
                        removed_position_deletes += entry.record_count();
                    }
                    DataContentType::EqualityDeletes => {
                        removed_delete_files += 1;
                        removed_equality_deletes += entry.record_count();
                    }
                }
                writer.add_delete_file(data_file, seq, file_seq).map_err(iceberg_error(base, "write a manifest"))?;
            } else {
                totals.add(entry.content_type(), entry.record_count(), entry.file_size_in_bytes());
                let added_by = entry.snapshot_id().unwrap_or(manifest.file.added_snapshot_id);
                writer.add_existing_file(data_file, added_by, seq, file_seq).map_err(iceberg_error(base, "write a manifest"))?;
            }
        }
        new_manifests.push(writer.write_manifest_file().await.map_err(iceberg_error(base, "write a manifest"))?);
    }
    let summary = Summary {
        operation: Operation::Replace,
        additional_properties: HashMap::from([
            ("added-data-files".to_string(), added_files.to_string()),
            ("deleted-data-files".to_string(), deleted_files.to_string()),
            ("added-records".to_string(), added_records.to_string()),
            ("deleted-records".to_string(), deleted_records.to_string()),
            ("added-files-size".to_string(), added_size.to_string()),
            ("removed-files-size".to_string(), removed_size.to_string()),
            ("total-data-files".to_string(), totals.data_files.to_string()),
            ("total-delete-files".to_string(), totals.delete_files.to_string()),
            ("total-records".to_string(), totals.records.to_string()),
            ("total-files-size".to_string(), totals.files_size.to_string()),
            ("total-position-deletes".to_string(), totals.position_deletes.to_string()),
            ("total-equality-deletes".to_string(), totals.equality_deletes.to_string()),
            ("removed-delete-files".to_string(), removed_delete_files.to_string()),
            ("removed-position-deletes".to_string(), removed_position_deletes.to_string()),
            ("removed-equality-deletes".to_string(), removed_equality_deletes.to_string()),
            ("engine-name".to_string(), "meshlake".to_string()),
        ]),
    };
    let list_path = format!("{location}/metadata/snap-{snapshot_id}-1-{commit_uuid}.avro");
    let list_output = file_io.new_output(&list_path).map_err(iceberg_error(base, "write the manifest list"))?;
    let list_writer = list_output.writer().await.map_err(iceberg_error(base, "write the manifest list"))?;
    let mut list = ManifestListWriter::v2(list_writer, snapshot_id, Some(current.snapshot_id()), sequence_number);
    list.add_manifests(new_manifests.into_iter()).map_err(iceberg_error(base, "write the manifest list"))?;
    list.close().await.map_err(iceberg_error(base, "write the manifest list"))?;
    let timestamp_ms = chrono::Utc::now().timestamp_millis().max(metadata.last_updated_ms() + 1);
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(current.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(timestamp_ms)
        .with_manifest_list(list_path)
        .with_summary(summary)
        .with_schema_id(metadata.current_schema_id())
        .build();
    let built = TableMetadataBuilder::new_from_metadata(metadata.clone(), Some(base.metadata_location.clone()))
        .set_branch_snapshot(snapshot, "main")
        .and_then(|builder| builder.build())
        .map_err(iceberg_error(base, "build the new table metadata"))?;
    Ok(Ok(built))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_metadata_names_follow_the_writers_scheme() {
        assert_eq!(next_metadata_name(Path::new("/t/metadata/v7.metadata.json")), ("v8.metadata.json".to_string(), Some(8)));
        let (name, version) = next_metadata_name(Path::new("/t/metadata/00004-6ac1d701-288d-437d-84d2-d964dbbda5d0.metadata.json"));
        assert!(name.starts_with("00005-") && name.ends_with(".metadata.json") && name.len() == "00005-".len() + 36 + 14, "{name}");
        assert_eq!(version, None);
    }

    #[test]
    fn new_files_are_created_once_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.metadata.json");
        assert!(write_new_file(&path, b"first").unwrap());
        assert!(!write_new_file(&path, b"second").unwrap(), "a second writer loses");
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn random_ids_differ() {
        let ids: HashSet<u64> = (0..1000).map(|_| random_u64()).collect();
        assert_eq!(ids.len(), 1000);
        assert_ne!(random_uuid_text(), random_uuid_text());
    }
}
