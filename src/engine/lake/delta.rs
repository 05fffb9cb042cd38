//! Delta Lake tables at a version: [`info`], [`history`], [`files`] and [`head`] fill the shapes of
//! [`super::inspect`].
//!
//! The snapshot at a version (live files, schema, partition columns, statistics) comes from
//! delta-rs; the commit history and the range of versions that can still be reconstructed come
//! from listing and parsing `_delta_log` directly, so version numbers, timestamps and per-commit
//! counts are exactly what the log says. Rows are read with the `parquet` crate's Arrow reader,
//! one file at a time, only the columns and row ranges a page needs.
//!
//! Tables are local folders or `s3://` URLs; the log and the data files are read through
//! [`crate::engine::storage`] (`object_store`) either way. Data file paths may be relative (the
//! norm) or absolute URIs; absolute paths under another root (a moved or copied table) are
//! remapped to the folder the table was found in.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit};
use arrow::datatypes::{Float32Type, Float64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, SecondsFormat, Utc};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::reader::SerializedFileReader;
use serde_json::Value;

use super::deletion_vectors::{DeletionVector, DeletionVectorLocation, live_row_selection};
use super::delta_replay::{self, AddedFile};
use super::{BinaryCell, LakeError};
use super::inspect::{
    FileKind, HistoryEntry, PageRequest, SchemaField, SmallFilePolicy, TableFile, TableFiles,
    TableHistory, TableInfo, TablePage, VersionSelector,
};
use super::overview::geometry_columns_from_object;
use crate::engine::geo::geoparquet::{GEO_METADATA_KEY, summarize_geo_metadata};
use crate::engine::geo::wkb::wkb_to_geometry;
use crate::engine::storage::{self, Located, ParquetObjectReader};

/// Reader features whose tables we read correctly (delta-rs replays the log; our row reader maps
/// column names and refuses files with deletion vectors).
const KNOWN_READER_FEATURES: &[&str] = &[
    "columnMapping",
    "deletionVectors",
    "timestampNtz",
    "v2Checkpoint",
    "vacuumProtocolCheck",
    "typeWidening",
    "typeWidening-preview",
    "variantType",
    "variantType-preview",
    "variantShredding-preview",
];

/// The field metadata key that holds a column's name inside the Parquet files (column mapping).
pub(crate) const PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";

/// Longest rendered cell (WKT, long strings) in [`head`] before it is cut with `…`.
const MAX_CELL_CHARS: usize = 80;

/// A commit file in `_delta_log`.
#[derive(Debug, Clone)]
struct LogFile {
    /// Its path in the table's store.
    path: ObjectPath,
    /// When it was last modified (the commit time when the commit does not say); `None` for a
    /// local log, where it is looked up only for a commit that needs it.
    modified: Option<DateTime<Utc>>,
}

/// What `_delta_log` holds: commit JSON files and checkpoint versions.
#[derive(Debug, Default)]
struct LogListing {
    /// Version → commit file.
    commits: BTreeMap<i64, LogFile>,
    /// Versions that have a checkpoint (classic, multi-part or v2).
    checkpoints: BTreeSet<i64>,
}

impl LogListing {
    /// The newest version in the log.
    fn latest(&self) -> Option<i64> {
        let commit = self.commits.keys().next_back().copied();
        let checkpoint = self.checkpoints.iter().next_back().copied();
        commit.max(checkpoint)
    }

    /// The oldest version that can be reconstructed: 0 when its commit is there, else the oldest
    /// checkpoint (commits before it were cleaned up).
    fn oldest(&self) -> Option<i64> {
        if self.commits.contains_key(&0) {
            return Some(0);
        }
        let checkpoint = self.checkpoints.iter().next().copied();
        checkpoint.or_else(|| self.commits.keys().next().copied())
    }

    /// `(oldest, latest)`, or an error when the log holds no versions at all.
    fn range(&self, location: &str) -> Result<(i64, i64), LakeError> {
        match (self.oldest(), self.latest()) {
            (Some(oldest), Some(latest)) => Ok((oldest, latest)),
            _ => Err(LakeError::CorruptDeltaLog {
                location: location.to_string(),
                file: PathBuf::from("_delta_log"),
                reason: "it holds no commit or checkpoint files".to_string(),
            }),
        }
    }
}

/// The version number a `_delta_log` file name starts with (20 digits).
fn leading_version(name: &str) -> Option<i64> {
    let digits = name.get(..20)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// List the commit and checkpoint files of the table's `_delta_log`.
async fn list_log(root: &Root) -> Result<LogListing, LakeError> {
    let mut listing = LogListing::default();
    let log_dir = root.store.child("_delta_log");
    if let Some(dir) = &root.local {
        // One directory read, no `stat` per file (object_store's local listing stats every entry).
        let local_log = dir.join("_delta_log");
        let entries = std::fs::read_dir(&local_log).map_err(|e| LakeError::io("list", &local_log, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LakeError::io("list", &local_log, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(version) = leading_version(name) else { continue };
            let rest = &name[20..];
            if rest == ".json" {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                listing.commits.insert(version, LogFile { path: log_dir.clone().join(name), modified: None });
            } else if rest.starts_with(".checkpoint.") {
                listing.checkpoints.insert(version);
            }
        }
        return Ok(listing);
    }
    let (objects, _) = root.store.list_dir(&log_dir).await?;
    for object in objects {
        let Some(name) = object.location.filename() else {
            continue;
        };
        let Some(version) = leading_version(name) else {
            continue;
        };
        let rest = &name[20..];
        if rest == ".json" {
            listing.commits.insert(
                version,
                LogFile {
                    path: object.location.clone(),
                    modified: Some(object.last_modified),
                },
            );
        } else if rest.starts_with(".checkpoint.") {
            listing.checkpoints.insert(version);
        }
    }
    if root.local.is_none() && listing.commits.is_empty() && listing.checkpoints.is_empty() {
        return Err(LakeError::NotADeltaTable {
            path: PathBuf::from(&root.shown),
        });
    }
    Ok(listing)
}

/// A Delta table root: a local folder or an `s3://` prefix, and its store.
pub(crate) struct Root {
    /// As the caller gave it (for messages).
    pub(crate) location: String,
    /// How the root is shown: the canonical local folder, or the URL without a trailing `/`.
    pub(crate) shown: String,
    /// The canonical local folder (local tables only).
    pub(crate) local: Option<PathBuf>,
    /// The store and the root's path in it.
    pub(crate) store: Located,
}

impl Root {
    /// Check that `location` is a local folder with a `_delta_log`, or an object-storage URL
    /// (checked when its log is listed).
    fn resolve(location: &str) -> Result<Self, LakeError> {
        if storage::is_object_store_url(location) {
            let shown = location.trim_end_matches('/').to_string();
            let store = storage::locate(&shown)?;
            return Ok(Self {
                location: location.to_string(),
                shown,
                local: None,
                store,
            });
        }
        let dir = super::plain_local_path(location).ok_or_else(|| LakeError::BadReference {
            reference: location.to_string(),
            reason: "give a local folder, a file:// URL or an s3:// URL".to_string(),
        })?;
        if !dir.exists() {
            return Err(LakeError::MissingPath { path: dir });
        }
        if !dir.join("_delta_log").is_dir() {
            return Err(LakeError::NotADeltaTable { path: dir });
        }
        let dir = std::fs::canonicalize(&dir).map_err(|e| LakeError::io("resolve", &dir, e))?;
        let shown = dir.display().to_string();
        let store = storage::locate(&shown)?;
        Ok(Self {
            location: location.to_string(),
            shown,
            local: Some(dir),
            store,
        })
    }

    pub(crate) fn url(&self) -> Result<url::Url, LakeError> {
        let url = match &self.local {
            Some(dir) => url::Url::from_directory_path(dir).ok(),
            None => url::Url::parse(&format!("{}/", self.shown)).ok(),
        };
        url.ok_or_else(|| LakeError::BadReference {
            reference: self.location.clone(),
            reason: "cannot turn the location into a URL".to_string(),
        })
    }
}

/// A commit file's text.
async fn read_commit(location: &str, root: &Root, file: &LogFile) -> Result<String, LakeError> {
    let bytes = match (&root.local, file.path.filename()) {
        // A small local file: read it directly rather than through a blocking-pool round trip.
        (Some(dir), Some(name)) => {
            let path = dir.join("_delta_log").join(name);
            std::fs::read(&path).map_err(|e| LakeError::io("read", &path, e))?
        }
        _ => root.store.read(&file.path).await?.to_vec(),
    };
    String::from_utf8(bytes).map_err(|e| LakeError::CorruptDeltaLog {
        location: location.to_string(),
        file: PathBuf::from(root.store.show(&file.path)),
        reason: format!("it is not UTF-8 text: {e}"),
    })
}

/// The parts of a commit line that history needs; everything else is skipped unparsed.
#[derive(serde::Deserialize)]
struct CommitLine<'a> {
    #[serde(rename = "commitInfo", borrow)]
    commit_info: Option<CommitInfoAction<'a>>,
    #[serde(borrow)]
    add: Option<FileAction<'a>>,
    #[serde(borrow)]
    remove: Option<FileAction<'a>>,
}

#[derive(serde::Deserialize)]
struct CommitInfoAction<'a> {
    #[serde(rename = "inCommitTimestamp")]
    in_commit_timestamp: Option<i64>,
    timestamp: Option<i64>,
    #[serde(borrow)]
    operation: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct FileAction<'a> {
    /// The stats JSON as a string (escaped inside the line, hence `Cow`).
    #[serde(borrow)]
    stats: Option<std::borrow::Cow<'a, str>>,
    /// `false` when the file only rearranges existing data (OPTIMIZE, Z-order).
    #[serde(rename = "dataChange", default = "data_change_default")]
    data_change: bool,
}

fn data_change_default() -> bool {
    true
}

#[derive(serde::Deserialize)]
struct RecordCount {
    #[serde(rename = "numRecords")]
    num_records: Option<u64>,
}

impl FileAction<'_> {
    fn records(&self) -> Option<u64> {
        let stats = self.stats.as_deref()?;
        serde_json::from_str::<RecordCount>(stats).ok()?.num_records
    }
}

/// One commit file's figures (before it becomes a [`HistoryEntry`]).
async fn parse_commit(
    location: &str,
    root: &Root,
    version: i64,
    file: &LogFile,
) -> Result<HistoryEntry, LakeError> {
    let text = read_commit(location, root, file).await?;
    let path = PathBuf::from(root.store.show(&file.path));
    parse_commit_text(location, &path, version, file.modified, &text)
}

/// One commit's figures from its text; `path` is how the file is named in errors.
fn parse_commit_text(
    location: &str,
    path: &Path,
    version: i64,
    modified: Option<DateTime<Utc>>,
    text: &str,
) -> Result<HistoryEntry, LakeError> {
    let mut entry = HistoryEntry {
        version,
        parent: (version > 0).then_some(version - 1),
        timestamp: None,
        operation: "unknown".to_string(),
        files_added: 0,
        files_removed: 0,
        rows_added: Some(0),
        rows_removed: Some(0),
    };
    // Whether every add and remove only rearranges data (`dataChange: false`).
    let mut rearranges_only = true;
    for (line_number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
    {
        let action: CommitLine<'_> = serde_json::from_str(line).map_err(|e| LakeError::CorruptDeltaLog {
            location: location.to_string(),
            file: path.to_path_buf(),
            reason: format!("line {} is not JSON: {e}", line_number + 1),
        })?;
        if let Some(commit_info) = action.commit_info {
            entry.timestamp = commit_info
                .in_commit_timestamp
                .or(commit_info.timestamp)
                .and_then(DateTime::from_timestamp_millis);
            if let Some(operation) = commit_info.operation {
                entry.operation = operation.into_owned();
            }
        } else if let Some(add) = action.add {
            rearranges_only &= !add.data_change;
            entry.files_added += 1;
            entry.rows_added = entry.rows_added.zip(add.records()).map(|(a, b)| a + b);
        } else if let Some(remove) = action.remove {
            rearranges_only &= !remove.data_change;
            entry.files_removed += 1;
            entry.rows_removed = entry.rows_removed.zip(remove.records()).map(|(a, b)| a + b);
        }
    }
    if rearranges_only && entry.files_removed > 0 && entry.rows_removed.is_none() {
        // Removes carry no stats, but a rewrite without data change removes the rows it adds.
        entry.rows_removed = entry.rows_added;
    }
    if entry.timestamp.is_none() {
        // The Delta protocol's commit time without in-commit timestamps: the file's modification time.
        entry.timestamp = modified.or_else(|| {
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
            Some(DateTime::<Utc>::from(mtime))
        });
    }
    Ok(entry)
}

/// The commits of a local log, each read and parsed on the rayon pool (no async round trip per
/// file: thousands of small reads and JSON parses are CPU-bound).
fn local_commit_history(
    location: &str,
    log_dir: &Path,
    commits: Vec<(i64, LogFile)>,
) -> Result<Vec<HistoryEntry>, LakeError> {
    use rayon::prelude::*;
    commits
        .into_par_iter()
        .map(|(version, file)| {
            let name = file.path.filename().unwrap_or_default();
            let path = log_dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| LakeError::io("read", &path, e))?;
            let text = String::from_utf8(bytes).map_err(|e| LakeError::CorruptDeltaLog {
                location: location.to_string(),
                file: path.clone(),
                reason: format!("it is not UTF-8 text: {e}"),
            })?;
            parse_commit_text(location, &path, version, file.modified, &text)
        })
        .collect()
}

/// How many commit files are read at once (matters for object storage round trips).
const COMMIT_READS_IN_FLIGHT: usize = 16;

/// The commits still present as JSON files in the log, oldest first.
///
/// Commits folded into a checkpoint and then cleaned up are absent.
async fn commit_history(location: &str, root: &Root) -> Result<Vec<HistoryEntry>, LakeError> {
    use futures::StreamExt;
    let listing = list_log(root).await?;
    if let Some(dir) = &root.local {
        let location = location.to_string();
        let log_dir = dir.join("_delta_log");
        let commits: Vec<(i64, LogFile)> = listing.commits.into_iter().collect();
        return tokio::task::spawn_blocking(move || local_commit_history(&location, &log_dir, commits))
            .await
            .map_err(|e| LakeError::io("read the commits of", &root.shown, std::io::Error::other(e.to_string())))?;
    }
    let reads: Vec<_> = listing
        .commits
        .into_iter()
        .map(|(version, file)| async move { parse_commit(location, root, version, &file).await })
        .collect();
    futures::stream::iter(reads)
        .buffered(COMMIT_READS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Every commit still in the log, oldest first.
pub async fn history(location: &str) -> Result<TableHistory, LakeError> {
    let root = Root::resolve(location)?;
    Ok(TableHistory {
        versions: commit_history(location, &root).await?,
    })
}

/// The reader features of the newest `protocol` action in the commits up to `version`, when a
/// commit file holds one (otherwise delta-rs reads it from the checkpoint).
async fn reader_features_up_to(
    location: &str,
    root: &Root,
    listing: &LogListing,
    version: i64,
) -> Result<Option<Vec<String>>, LakeError> {
    // Readers start from the newest checkpoint at or before `version`: commits older than it do
    // not decide the protocol, and a protocol only in the checkpoint is checked after loading.
    let since = listing.checkpoints.range(..=version).next_back().copied().unwrap_or(i64::MIN);
    for (_, file) in listing.commits.range(since..=version).rev() {
        let text = read_commit(location, root, file).await?;
        let path = PathBuf::from(root.store.show(&file.path));
        for line in text.lines().filter(|line| line.contains("\"protocol\"")) {
            let action: Value =
                serde_json::from_str(line).map_err(|e| LakeError::CorruptDeltaLog {
                    location: location.to_string(),
                    file: path.clone(),
                    reason: format!("a protocol line is not JSON: {e}"),
                })?;
            if let Some(protocol) = action.get("protocol") {
                let features = protocol
                    .get("readerFeatures")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(Some(features));
            }
        }
    }
    Ok(None)
}

/// A table loaded at a resolved version.
pub(crate) struct Loaded {
    pub(crate) root: Root,
    pub(crate) table: DeltaTable,
    pub(crate) version: i64,
    listing: LogListing,
}

/// A version resolved against the log, before delta-rs loads it.
struct ResolvedVersion {
    root: Root,
    version: i64,
    listing: LogListing,
    /// The reader features of the newest protocol among the commits a reader replays (`None`
    /// when the protocol comes from the checkpoint).
    features_from_commits: Option<Vec<String>>,
}

/// Resolve the selector against the log and load that version with delta-rs.
pub(crate) async fn load(location: &str, at: &VersionSelector) -> Result<Loaded, LakeError> {
    let resolved = resolve_version(location, at).await?;
    load_resolved(location, resolved).await
}

/// Resolve the selector against the log (the version, and the reader features the commits
/// require, refused when unknown).
async fn resolve_version(location: &str, at: &VersionSelector) -> Result<ResolvedVersion, LakeError> {
    let root = Root::resolve(location)?;
    let listing = list_log(&root).await?;
    let (oldest, latest) = listing.range(location)?;
    let out_of_range = |requested: String| LakeError::VersionOutOfRange {
        location: location.to_string(),
        requested,
        oldest,
        latest,
    };
    let version = match at {
        VersionSelector::Latest => latest,
        VersionSelector::Version(version) => {
            if !(oldest..=latest).contains(version) {
                return Err(out_of_range(version.to_string()));
            }
            *version
        }
        VersionSelector::Snapshot(id) => {
            return Err(LakeError::WrongVersionSelector {
                table: location.to_string(),
                reason: format!(
                    "snapshot id {id} given, but Delta tables have version numbers, not snapshots; select a version ({oldest}..={latest}) or a time instead"
                ),
            });
        }
        VersionSelector::AsOf(instant) => {
            let mut chosen = None;
            for (version, file) in listing.commits.range(oldest..=latest) {
                let entry = parse_commit(location, &root, *version, file).await?;
                if entry.timestamp.is_some_and(|t| t <= *instant) {
                    chosen = Some(*version);
                }
            }
            chosen.ok_or_else(|| {
                out_of_range(format!(
                    "as of {} (before the oldest available commit)",
                    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
                ))
            })?
        }
    };
    let from_commits = reader_features_up_to(location, &root, &listing, version).await?;
    if let Some(features) = &from_commits {
        refuse_unknown_reader_features(location, features)?;
    }
    Ok(ResolvedVersion { root, version, listing, features_from_commits: from_commits })
}

/// Load a resolved version with delta-rs.
async fn load_resolved(location: &str, resolved: ResolvedVersion) -> Result<Loaded, LakeError> {
    let ResolvedVersion { root, version, listing, features_from_commits: from_commits } = resolved;
    let out_of_range = |requested: String| {
        let (oldest, latest) = listing.range(location).unwrap_or((version, version));
        LakeError::VersionOutOfRange { location: location.to_string(), requested, oldest, latest }
    };
    let delta_version = u64::try_from(version).map_err(|_| out_of_range(version.to_string()))?;
    if root.local.is_none() {
        storage::register_delta_s3();
    }
    let table = match deltalake::open_table_with_version(root.url()?, delta_version).await {
        Ok(table) => table,
        Err(error) => {
            let broken = root.local.as_ref().and_then(|dir| broken_checkpoint(location, &dir.join("_delta_log"), version));
            return Err(broken.unwrap_or_else(|| LakeError::delta(location, "load the version", error)));
        }
    };
    if from_commits.is_none() {
        // The protocol came from the checkpoint.
        let snapshot = table.snapshot().map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
        let protocol = serde_json::to_value(snapshot.protocol()).unwrap_or(Value::Null);
        let features: Vec<String> = protocol
            .get("readerFeatures")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        refuse_unknown_reader_features(location, &features)?;
    }
    Ok(Loaded {
        root,
        table,
        version,
        listing,
    })
}

/// Refuse a table whose protocol requires reader features we do not know, naming them.
fn refuse_unknown_reader_features(location: &str, features: &[String]) -> Result<(), LakeError> {
    let unknown: Vec<&str> = features
        .iter()
        .map(String::as_str)
        .filter(|f| !KNOWN_READER_FEATURES.contains(f))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(LakeError::UnsupportedFeature {
        table: location.to_string(),
        feature: format!("reader feature {}", unknown.join(", ")),
        hint: format!(
            "the table's protocol requires readers to understand it; history still works (known reader features: {})",
            KNOWN_READER_FEATURES.join(", ")
        ),
    })
}

/// When delta-rs cannot load `version`, look for the log file at fault ourselves: the newest
/// checkpoint at or before `version` (where readers start) with a Parquet footer that cannot be
/// read, e.g. a checkpoint truncated by an interrupted write or copy. delta-rs reports that as a
/// bare "Corrupt footer" without the file.
fn broken_checkpoint(location: &str, log_dir: &Path, version: i64) -> Option<LakeError> {
    let mut checkpoints: Vec<(i64, PathBuf)> = std::fs::read_dir(log_dir)
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let found = leading_version(name)?;
            let is_parquet_checkpoint = name[20..].starts_with(".checkpoint.") && name.ends_with(".parquet");
            (is_parquet_checkpoint && found <= version).then(|| (found, path.clone()))
        })
        .collect();
    let newest = checkpoints.iter().map(|(v, _)| *v).max()?;
    checkpoints.retain(|(v, _)| *v == newest);
    checkpoints.sort();
    checkpoints.into_iter().find_map(|(checkpoint_version, path)| {
        let problem = match std::fs::File::open(&path) {
            Ok(file) => SerializedFileReader::new(file).err()?.to_string(),
            Err(error) => error.to_string(),
        };
        Some(LakeError::CorruptDeltaLog {
            location: location.to_string(),
            file: path,
            reason: format!(
                "the checkpoint of version {checkpoint_version} is not a readable Parquet file ({problem}; truncated?); if the JSON commits up to version {checkpoint_version} are still in _delta_log, delete this checkpoint and _delta_log/_last_checkpoint so readers replay the commits, else restore it from a backup"
            ),
        })
    })
}

/// One live data file with what we need of it.
#[derive(Clone)]
pub(crate) struct LiveFile {
    /// Where the file actually is, as shown (a local path or an `s3://` URL).
    pub(crate) shown: PathBuf,
    /// Its path in the table's store.
    pub(crate) object: Option<ObjectPath>,
    /// Whether it is there.
    pub(crate) exists: bool,
    /// The prefix replaced when the log named the file under another root.
    pub(crate) remapped_from: Option<String>,
    pub(crate) partition: BTreeMap<String, Option<String>>,
    pub(crate) bytes: u64,
    pub(crate) rows: Option<u64>,
    pub(crate) stats: Option<String>,
    /// Rows of the data file its deletion vector deletes (`rows` counts them still).
    pub(crate) deletion_vector: Option<DeletionVector>,
    /// The file's path as the log names it.
    pub(crate) log_path: String,
}

impl LiveFile {
    /// Rows still in the table: `numRecords` minus the deletion vector's cardinality.
    pub(crate) fn live_rows(&self) -> Option<u64> {
        let deleted = self.deletion_vector.as_ref().map_or(0, DeletionVector::deleted_rows);
        self.rows.map(|rows| rows.saturating_sub(deleted))
    }
}

/// Where a path from the log is in a bucket: relative paths under the root, absolute ones in the
/// same bucket as they are when they exist, else remapped under the root (longest suffix of the
/// path that exists there). `existing` holds every object under the root.
fn resolve_remote_data_path(
    root: &Root,
    existing: &HashSet<ObjectPath>,
    path: &str,
) -> (ObjectPath, Option<String>) {
    if !path.contains("://") && !path.starts_with('/') {
        return (root.store.child(path), None);
    }
    let direct = root.store.same_store_path(path);
    if let Some(direct) = &direct
        && existing.contains(direct)
    {
        return (direct.clone(), None);
    }
    let (prefix, rest) = match path.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), path),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    for skip in 1..parts.len() {
        let candidate = root.store.child(&parts[skip..].join("/"));
        if existing.contains(&candidate) {
            let old_root = format!("{prefix}{}", parts[..skip].join("/"));
            return (candidate, Some(old_root));
        }
    }
    (direct.unwrap_or_else(|| root.store.child(path)), None)
}

/// Where a path from the log is on disk: relative paths under the root, absolute ones as they are
/// when they exist, else remapped under the root (longest suffix of the path that exists there).
fn resolve_data_path(root: &Path, path: &str) -> (PathBuf, Option<String>) {
    if !path.contains("://") && !path.starts_with('/') {
        return (root.join(path), None);
    }
    if let Some(local) = super::plain_local_path(path)
        && local.exists()
    {
        return (local, None);
    }
    let (prefix, rest) = match path.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), path),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    for skip in 1..parts.len() {
        let candidate = root.join(parts[skip..].join("/"));
        if candidate.is_file() {
            let old_root = format!("{prefix}{}", parts[..skip].join("/"));
            return (candidate, Some(old_root));
        }
    }
    (
        super::plain_local_path(path).unwrap_or_else(|| PathBuf::from(path)),
        None,
    )
}

/// A column's name inside the data files (its column-mapping physical name, else its name).
fn physical_name(field: &deltalake::kernel::StructField) -> String {
    match field.metadata.get(PHYSICAL_NAME_KEY) {
        Some(deltalake::kernel::MetadataValue::String(physical)) => physical.clone(),
        _ => field.name().to_string(),
    }
}

/// The regular files under a local table root (not in `_delta_log`), found by reading its folders
/// once: much cheaper than a `stat` of each of thousands of data files. Symbolic links are not
/// followed (files behind them are checked one by one).
fn files_under(root: &Path) -> HashSet<PathBuf> {
    let mut found = HashSet::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_file() {
                found.insert(entry.path());
            } else if kind.is_dir() && entry.file_name() != "_delta_log" {
                folders.push(entry.path());
            }
        }
    }
    found
}

/// The live files of the loaded version, sorted by path (the order [`head`] reads them in).
pub(crate) async fn live_files(loaded: &Loaded) -> Result<Vec<LiveFile>, LakeError> {
    let snapshot = loaded
        .table
        .snapshot()
        .map_err(|e| LakeError::delta(&loaded.root.location, "read the snapshot", e))?;
    // With column mapping the log keys partition values by physical name; show logical names.
    let logical_names: HashMap<String, String> = snapshot
        .schema()
        .fields()
        .map(|field| (physical_name(field), field.name().to_string()))
        .collect();
    let added: Vec<AddedFile> = snapshot
        .log_data()
        .iter()
        .map(|file| AddedFile {
            path: file.path().into_owned(),
            partition: file.partition_values_map(),
            size: file.size(),
            num_records: file.num_records().map(|n| n as u64),
            stats: file.stats(),
            deletion_vector: file.deletion_vector_descriptor().map(|dv| DeletionVector {
                storage_type: match dv.storage_type {
                    deltalake::kernel::StorageType::UuidRelativePath => 'u',
                    deltalake::kernel::StorageType::Inline => 'i',
                    deltalake::kernel::StorageType::AbsolutePath => 'p',
                },
                path_or_inline_dv: dv.path_or_inline_dv,
                offset: dv.offset,
                size_in_bytes: dv.size_in_bytes,
                cardinality: dv.cardinality,
            }),
        })
        .collect();
    resolve_live_files(&loaded.root, added, &logical_names).await
}

/// The live files of a resolved version replayed from its JSON commits ([`delta_replay`]) when the
/// log is short and has no checkpoint to start from; `None` otherwise (then delta-rs loads it).
async fn replayed_live_files(location: &str, resolved: &ResolvedVersion) -> Result<Option<Vec<LiveFile>>, LakeError> {
    let listing = &resolved.listing;
    let commits = usize::try_from(resolved.version).map_or(usize::MAX, |v| v.saturating_add(1));
    if commits > delta_replay::SHORT_LOG_COMMITS
        || listing.checkpoints.range(..=resolved.version).next().is_some()
        || (0..=resolved.version).any(|v| !listing.commits.contains_key(&v))
    {
        return Ok(None);
    }
    let mut texts = Vec::with_capacity(commits);
    for file in listing.commits.range(0..=resolved.version).map(|(_, file)| file) {
        texts.push(read_commit(location, &resolved.root, file).await?);
    }
    let Some(replayed) = delta_replay::replay(texts.iter().map(String::as_str)) else {
        return Ok(None);
    };
    Ok(Some(resolve_live_files(&resolved.root, replayed.files, &replayed.logical_names).await?))
}

/// Where the added files are (local paths or objects; absolute paths under another root remapped)
/// and whether they exist, sorted by path.
async fn resolve_live_files(root: &Root, added: Vec<AddedFile>, logical_names: &HashMap<String, String>) -> Result<Vec<LiveFile>, LakeError> {
    // In a bucket, one listing of the table tells which files exist (not one request per file).
    let local_existing: HashSet<PathBuf> = match &root.local {
        Some(dir) => files_under(dir),
        None => HashSet::new(),
    };
    let existing: HashSet<ObjectPath> = match &root.local {
        Some(_) => HashSet::new(),
        None => root.store.list_all(&root.store.path).await?.into_iter().map(|meta| meta.location).collect(),
    };
    let files: Vec<LiveFile> = added
        .into_iter()
        .map(|file| {
            let (shown, object, exists, remapped_from) = match &root.local {
                Some(dir) => {
                    let (local, remapped_from) = resolve_data_path(dir, &file.path);
                    let object = ObjectPath::from_absolute_path(&local).ok();
                    let exists = local_existing.contains(&local) || local.is_file();
                    (local, object, exists, remapped_from)
                }
                None => {
                    let (object, remapped_from) = resolve_remote_data_path(root, &existing, &file.path);
                    let exists = existing.contains(&object);
                    (PathBuf::from(root.store.show(&object)), Some(object), exists, remapped_from)
                }
            };
            LiveFile {
                shown,
                object,
                exists,
                remapped_from,
                partition: file
                    .partition
                    .into_iter()
                    .map(|(key, value)| (logical_names.get(&key).cloned().unwrap_or(key), value))
                    .collect(),
                bytes: file.size.max(0) as u64,
                rows: file.num_records,
                stats: file.stats,
                log_path: file.path,
                deletion_vector: file.deletion_vector,
            }
        })
        .collect();
    Ok(sorted_by_shown_path(files))
}

/// `files` in the order of their shown paths (`Path`'s order: component by component), each
/// path split into components once rather than at every comparison.
fn sorted_by_shown_path(files: Vec<LiveFile>) -> Vec<LiveFile> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    {
        let keys: Vec<Vec<std::path::Component<'_>>> =
            files.iter().map(|f| f.shown.components().collect()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    }
    let mut slots: Vec<Option<LiveFile>> = files.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The deleted row indexes of a data file.
pub(crate) async fn read_deletion_vector(
    location: &str,
    root: &Root,
    file: &LiveFile,
    dv: &DeletionVector,
) -> Result<roaring::RoaringTreemap, LakeError> {
    read_deletion_vector_of(location, root, &file.shown, dv).await
}

/// The rows a data file's deletion vector deletes, for a file of [`files`] (`location`: the table).
pub async fn deleted_rows(location: &str, file: &TableFile, dv: &DeletionVector) -> Result<roaring::RoaringTreemap, LakeError> {
    let root = Root::resolve(location)?;
    read_deletion_vector_of(location, &root, Path::new(&file.path), dv).await
}

async fn read_deletion_vector_of(
    location: &str,
    root: &Root,
    shown: &Path,
    dv: &DeletionVector,
) -> Result<roaring::RoaringTreemap, LakeError> {
    let bad = |reason: String| LakeError::BadDeletionVector {
        table: location.to_string(),
        file: shown.to_path_buf(),
        reason,
    };
    let bytes = match dv.location().map_err(bad)? {
        DeletionVectorLocation::Inline(_) => None,
        DeletionVectorLocation::Relative(relative) => Some(root.store.read(&root.store.child(&relative)).await?),
        DeletionVectorLocation::Absolute(path) => {
            let object = root
                .store
                .same_store_path(&path)
                .ok_or_else(|| bad(format!("{path} is not in the table's storage")))?;
            Some(root.store.read(&object).await?)
        }
    };
    dv.decode(bytes.as_deref()).map_err(bad)
}

/// Info about the table at a version.
pub async fn info(
    location: &str,
    at: &VersionSelector,
    policy: &SmallFilePolicy,
) -> Result<TableInfo, LakeError> {
    let loaded = load(location, at).await?;
    let files = live_files(&loaded).await?;
    let snapshot = loaded
        .table
        .snapshot()
        .map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    let mut warnings = Vec::new();
    let missing_stats = files.iter().filter(|f| f.rows.is_none()).count();
    let num_rows = if missing_stats == 0 {
        Some(files.iter().filter_map(LiveFile::live_rows).sum())
    } else {
        warnings.push(format!(
            "{missing_stats} of {} data files have no numRecords statistics; the row count is unknown",
            files.len()
        ));
        None
    };
    let missing: Vec<&LiveFile> = files.iter().filter(|f| !f.exists).collect();
    if let Some(first) = missing.first() {
        warnings.push(format!(
            "{} of {} data files named in the log are missing on disk (first: {}); rows cannot be read from them until the table's data files are restored",
            missing.len(),
            files.len(),
            first.shown.display()
        ));
    }
    let mut small_per_partition: BTreeMap<&BTreeMap<String, Option<String>>, u64> = BTreeMap::new();
    for file in files.iter().filter(|f| f.bytes < policy.small_file_bytes) {
        *small_per_partition.entry(&file.partition).or_default() += 1;
    }
    let small_files = small_per_partition.values().sum();
    let max_small_files_per_partition = small_per_partition.values().copied().max().unwrap_or(0);
    if max_small_files_per_partition > policy.max_small_files_per_partition {
        warnings.push(format!(
            "a partition holds {max_small_files_per_partition} small files (more than {}); consider compacting",
            policy.max_small_files_per_partition
        ));
    }
    let first_present = files
        .iter()
        .filter(|f| f.exists)
        .find_map(|f| f.object.as_ref().map(|object| (f, object)));
    let geometry_columns = match first_present {
        Some((file, object)) => {
            match geometry_columns_from_object(&loaded.root.store.store, object, &file.shown).await
            {
                Ok(columns) => columns,
                Err(error) => {
                    warnings.push(format!("no geometry metadata: {error}"));
                    Vec::new()
                }
            }
        }
        None => Vec::new(),
    };
    let timestamp = match loaded.listing.commits.get(&loaded.version) {
        Some(file) => {
            parse_commit(location, &loaded.root, loaded.version, file)
                .await?
                .timestamp
        }
        None => None,
    };
    let schema = snapshot
        .schema()
        .fields()
        .map(|field| SchemaField {
            name: field.name().to_string(),
            data_type: field.data_type().to_string(),
            nullable: field.is_nullable(),
        })
        .collect();
    let protocol = snapshot.protocol();
    Ok(TableInfo {
        format: "delta",
        format_version: format!(
            "reader {} / writer {}",
            protocol.min_reader_version(),
            protocol.min_writer_version()
        ),
        location: loaded.root.shown.clone(),
        version: Some(loaded.version),
        timestamp,
        num_rows,
        num_files: files.len() as u64,
        total_bytes: files.iter().map(|f| f.bytes).sum(),
        schema,
        partition_columns: snapshot.metadata().partition_columns().to_vec(),
        geometry_columns,
        small_files,
        max_small_files_per_partition,
        remapped_from: files.iter().find_map(|f| f.remapped_from.clone()),
        warnings,
    })
}

/// A number from a statistics value.
fn stat_number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

/// The bbox `[xmin, ymin, xmax, ymax]` from a file's statistics JSON when it has min/max values
/// for a GeoParquet bbox covering: a struct column with `xmin/ymin/xmax/ymax` fields, or flat
/// columns named `<prefix>.xmin` etc.
pub(crate) fn bbox_from_stats(stats: &str) -> Option<[f64; 4]> {
    let stats: Value = serde_json::from_str(stats).ok()?;
    let min = stats.get("minValues")?.as_object()?;
    let max = stats.get("maxValues")?.as_object()?;
    for (name, min_value) in min {
        if let (Some(min_struct), Some(max_struct)) = (
            min_value.as_object(),
            max.get(name).and_then(Value::as_object),
        ) {
            let bbox = [
                stat_number(min_struct.get("xmin")),
                stat_number(min_struct.get("ymin")),
                stat_number(max_struct.get("xmax")),
                stat_number(max_struct.get("ymax")),
            ];
            if let [Some(xmin), Some(ymin), Some(xmax), Some(ymax)] = bbox {
                return Some([xmin, ymin, xmax, ymax]);
            }
        }
        if let Some(prefix) = name.strip_suffix(".xmin") {
            let bbox = [
                stat_number(min.get(&format!("{prefix}.xmin"))),
                stat_number(min.get(&format!("{prefix}.ymin"))),
                stat_number(max.get(&format!("{prefix}.xmax"))),
                stat_number(max.get(&format!("{prefix}.ymax"))),
            ];
            if let [Some(xmin), Some(ymin), Some(xmax), Some(ymax)] = bbox {
                return Some([xmin, ymin, xmax, ymax]);
            }
        }
    }
    None
}

/// The live data files at a version, sorted by path.
///
/// A short log without a checkpoint is replayed from its JSON commits ([`delta_replay`]), which
/// gives the same files in a fraction of the time delta-rs takes to build a snapshot; the rest
/// is loaded by delta-rs.
pub async fn files(location: &str, at: &VersionSelector) -> Result<TableFiles, LakeError> {
    let resolved = resolve_version(location, at).await?;
    let live = match replayed_live_files(location, &resolved).await? {
        Some(live) => live,
        None => live_files(&load_resolved(location, resolved).await?).await?,
    };
    Ok(table_files_of(live))
}

/// [`files`] from the short-log replay alone: `None` when the log is too long, has a checkpoint
/// or holds something the replay does not read (tests hold it against [`files_from_delta_rs`]).
pub async fn files_replayed(location: &str, at: &VersionSelector) -> Result<Option<TableFiles>, LakeError> {
    let resolved = resolve_version(location, at).await?;
    Ok(replayed_live_files(location, &resolved).await?.map(table_files_of))
}

/// [`files`] always from delta-rs's snapshot.
pub async fn files_from_delta_rs(location: &str, at: &VersionSelector) -> Result<TableFiles, LakeError> {
    Ok(table_files_of(live_files(&load(location, at).await?).await?))
}

fn table_files_of(live: Vec<LiveFile>) -> TableFiles {
    let files = live
        .into_iter()
        .map(|file| TableFile {
            path: file.shown.display().to_string(),
            bbox: file.stats.as_deref().and_then(bbox_from_stats),
            rows: file.live_rows(),
            partition: file.partition,
            bytes: file.bytes,
            kind: FileKind::Data,
            deletion_vector: file.deletion_vector,
        })
        .collect();
    TableFiles { files }
}

/// A requested column: its logical name, name in the data files, and whether it is a partition
/// column (then its Delta type name, to type the values).
struct PageColumn {
    name: String,
    physical: String,
    /// Delta type name (`timestamp` is UTC-adjusted, `timestamp_ntz` is not).
    delta_type: String,
    partition_type: Option<String>,
}

/// Cut a rendered value to [`MAX_CELL_CHARS`].
fn truncate(text: String) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A partition value (a string in the log) as JSON typed by the column's Delta type.
fn partition_json(value: Option<&String>, delta_type: &str) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    match delta_type {
        "byte" | "short" | "integer" | "long" => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(value.as_str())),
        "float" | "double" => value
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(value.as_str())),
        "boolean" => match value.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::from(other),
        },
        _ => Value::from(value.as_str()),
    }
}

/// A float as JSON (non-finite values as strings, JSON has no NaN).
fn float_json(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::from(value.to_string()))
}

/// A timestamp value as RFC 3339 (`Z` when the column has a time zone, none for timestamp_ntz).
fn timestamp_json(value: i64, unit: &TimeUnit, zoned: bool) -> Value {
    let nanos = match unit {
        TimeUnit::Second => value.checked_mul(1_000_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000_000),
        TimeUnit::Microsecond => value.checked_mul(1_000),
        TimeUnit::Nanosecond => Some(value),
    };
    let Some(instant) = nanos.map(DateTime::from_timestamp_nanos) else {
        // Outside what nanoseconds in an i64 hold: fall back on coarser arithmetic.
        let seconds = match unit {
            TimeUnit::Second => value,
            TimeUnit::Millisecond => value.div_euclid(1_000),
            TimeUnit::Microsecond => value.div_euclid(1_000_000),
            TimeUnit::Nanosecond => value.div_euclid(1_000_000_000),
        };
        return match DateTime::from_timestamp(seconds, 0) {
            Some(instant) if zoned => {
                Value::from(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            Some(instant) => {
                Value::from(instant.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
            }
            None => Value::from(value.to_string()),
        };
    };
    if zoned {
        Value::from(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    } else {
        Value::from(
            instant
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        )
    }
}

/// Binary as short WKT when it is a geometry column, else its size.
fn binary_json(bytes: &[u8], cell: BinaryCell, what: &str) -> Value {
    if cell != BinaryCell::Bytes {
        use wkt::ToWkt;
        match wkb_to_geometry(bytes, what) {
            Ok(geometry) if cell == BinaryCell::FullWkt => Value::from(geometry.wkt_string()),
            Ok(geometry) => Value::from(truncate(geometry.wkt_string())),
            Err(_) => Value::from(format!("<invalid WKB: {} bytes>", bytes.len())),
        }
    } else {
        Value::from(format!("<{} bytes>", bytes.len()))
    }
}

/// One cell of an Arrow column as JSON.
///
/// `utc` says whether a timestamp is UTC-adjusted when the table's type says so (Delta `timestamp`
/// vs `timestamp_ntz`; Parquet INT96 timestamps carry no zone); `None` follows the Arrow type.
fn cell_json(
    array: &ArrayRef,
    row: usize,
    is_geometry: BinaryCell,
    utc: Option<bool>,
    what: &str,
) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => float_json(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float_json(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::from(truncate(array.as_string::<i32>().value(row).to_string())),
        DataType::LargeUtf8 => {
            Value::from(truncate(array.as_string::<i64>().value(row).to_string()))
        }
        DataType::Utf8View => Value::from(truncate(array.as_string_view().value(row).to_string())),
        DataType::Binary => binary_json(array.as_binary::<i32>().value(row), is_geometry, what),
        DataType::LargeBinary => {
            binary_json(array.as_binary::<i64>().value(row), is_geometry, what)
        }
        DataType::BinaryView => binary_json(array.as_binary_view().value(row), is_geometry, what),
        DataType::FixedSizeBinary(_) => {
            binary_json(array.as_fixed_size_binary().value(row), is_geometry, what)
        }
        DataType::Timestamp(unit, zone) => {
            let value = match unit {
                TimeUnit::Second => array
                    .as_primitive::<arrow::datatypes::TimestampSecondType>()
                    .value(row),
                TimeUnit::Millisecond => array
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                    .value(row),
                TimeUnit::Microsecond => array
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(row),
                TimeUnit::Nanosecond => array
                    .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                    .value(row),
            };
            timestamp_json(value, unit, utc.unwrap_or(zone.is_some()))
        }
        _ => match ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()) {
            Ok(formatter) => Value::from(truncate(formatter.value(row).to_string())),
            Err(_) => Value::from(format!("<{}>", array.data_type())),
        },
    }
}

/// The file's Arrow schema with top-level INT96 timestamps read as microseconds (Delta's precision;
/// the default nanoseconds overflow for dates outside 1677–2262), or `None` when it has none.
pub(crate) fn int96_as_micros(metadata: &ArrowReaderMetadata) -> Option<arrow::datatypes::SchemaRef> {
    let roots = metadata.parquet_schema().root_schema().get_fields();
    let schema = metadata.schema();
    let mut changed = false;
    let fields: Vec<arrow::datatypes::FieldRef> =
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let int96 = roots.get(index).is_some_and(|root| {
                    root.is_primitive() && root.get_physical_type() == parquet::basic::Type::INT96
                });
                match field.data_type() {
                    DataType::Timestamp(_, zone) if int96 => {
                        changed = true;
                        std::sync::Arc::new(field.as_ref().clone().with_data_type(
                            DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
                        ))
                    }
                    _ => field.clone(),
                }
            })
            .collect();
    changed.then(|| {
        std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        ))
    })
}

/// The WKB geometry column names in a Parquet file's `geo` metadata.
fn geo_columns_of(
    metadata: &parquet::file::metadata::ParquetMetaData,
    file: &Path,
) -> BTreeSet<String> {
    metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|entries| entries.iter().find(|entry| entry.key == GEO_METADATA_KEY))
        .and_then(|entry| entry.value.as_deref())
        .and_then(|json| summarize_geo_metadata(json, &file.display().to_string()).ok())
        .map(|columns| {
            columns
                .into_iter()
                .filter(|c| c.encoding.eq_ignore_ascii_case("WKB"))
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default()
}

/// A page of rows at a version: only the files, columns and row ranges the page needs are read.
pub async fn head(
    location: &str,
    at: &VersionSelector,
    page: &PageRequest,
) -> Result<TablePage, LakeError> {
    let loaded = load(location, at).await?;
    let files = live_files(&loaded).await?;
    let snapshot = loaded
        .table
        .snapshot()
        .map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    let schema = snapshot.schema();
    let partition_columns = snapshot.metadata().partition_columns().to_vec();
    let all: Vec<PageColumn> = schema
        .fields()
        .map(|field| PageColumn {
            name: field.name().to_string(),
            physical: physical_name(field),
            delta_type: field.data_type().to_string(),
            partition_type: partition_columns
                .contains(field.name())
                .then(|| field.data_type().to_string()),
        })
        .collect();
    let columns: Vec<PageColumn> = if page.columns.is_empty() {
        all
    } else {
        let missing: Vec<&str> = page
            .columns
            .iter()
            .filter(|name| !all.iter().any(|c| &c.name == *name))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(LakeError::UnknownColumns {
                table: location.to_string(),
                missing: missing.join(", "),
                known: all
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut chosen = Vec::with_capacity(page.columns.len());
        for name in &page.columns {
            if let Some(column) = all.iter().find(|c| &c.name == name) {
                chosen.push(PageColumn {
                    name: column.name.clone(),
                    physical: column.physical.clone(),
                    delta_type: column.delta_type.clone(),
                    partition_type: column.partition_type.clone(),
                });
            }
        }
        chosen
    };
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut to_skip = page.offset;
    let mut to_take = page.limit;
    for file in &files {
        if to_take == 0 {
            break;
        }
        if let Some(file_rows) = file.live_rows()
            && file_rows <= to_skip
        {
            to_skip -= file_rows;
            continue;
        }
        let object = match (&file.object, file.exists) {
            (Some(object), true) => object.clone(),
            _ => {
                return Err(LakeError::MissingDataFile {
                    table: location.to_string(),
                    file: file.shown.clone(),
                });
            }
        };
        let read_error = |source| LakeError::ParquetRead {
            table: location.to_string(),
            file: file.shown.clone(),
            source,
        };
        let mut handle = ParquetObjectReader::new(loaded.root.store.store.clone(), object);
        let metadata = ArrowReaderMetadata::load_async(&mut handle, ArrowReaderOptions::new())
            .await
            .map_err(read_error)?;
        let metadata = match int96_as_micros(&metadata) {
            Some(schema) => ArrowReaderMetadata::try_new(
                metadata.metadata().clone(),
                ArrowReaderOptions::new().with_schema(schema),
            )
            .map_err(read_error)?,
            None => metadata,
        };
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(handle, metadata);
        let mut file_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        if let Some(dv) = &file.deletion_vector {
            let deleted = read_deletion_vector(location, &loaded.root, file, dv).await?;
            builder = builder.with_row_selection(live_row_selection(file_rows, &deleted));
            file_rows = file_rows.saturating_sub(deleted.len());
        }
        if file_rows <= to_skip {
            to_skip -= file_rows;
            continue;
        }
        let geo_columns = geo_columns_of(builder.metadata(), &file.shown);
        let root_names: Vec<String> = builder
            .parquet_schema()
            .root_schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_string())
            .collect();
        let wanted: Vec<usize> = columns
            .iter()
            .filter(|c| c.partition_type.is_none())
            .filter_map(|c| root_names.iter().position(|name| name == &c.physical))
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let take_here = to_take.min(file_rows - to_skip);
        let mut reader = builder
            .with_projection(mask)
            .with_offset(to_skip as usize)
            .with_limit(take_here as usize)
            .with_batch_size((take_here as usize).clamp(1, 8192))
            .build()
            .map_err(read_error)?;
        to_skip = 0;
        while let Some(batch) = reader.try_next().await.map_err(read_error)? {
            let batch: RecordBatch = batch;
            let arrays: Vec<Option<&ArrayRef>> = columns
                .iter()
                .map(|c| batch.column_by_name(&c.physical))
                .collect();
            for row in 0..batch.num_rows() {
                let values = columns
                    .iter()
                    .zip(&arrays)
                    .map(|(column, array)| match (&column.partition_type, array) {
                        (Some(delta_type), _) => partition_json(
                            file.partition.get(&column.name).and_then(Option::as_ref),
                            delta_type,
                        ),
                        (None, Some(array)) => {
                            let what = format!("{} in {}", column.name, file.shown.display());
                            let utc = match column.delta_type.as_str() {
                                "timestamp" => Some(true),
                                "timestamp_ntz" => Some(false),
                                _ => None,
                            };
                            cell_json(
                                array,
                                row,
                                BinaryCell::of(geo_columns.contains(&column.physical), page.full_geometry),
                                utc,
                                &what,
                            )
                        }
                        (None, None) => Value::Null,
                    })
                    .collect();
                rows.push(values);
            }
            to_take = to_take.saturating_sub(batch.num_rows() as u64);
        }
    }
    Ok(TablePage {
        columns: columns.into_iter().map(|c| c.name).collect(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lake::demo_tables::{demo_parcels, write_demo_delta_table};

    async fn demo(dir: &Path, commits: usize) -> String {
        write_demo_delta_table(&dir.join("parcels"), &demo_parcels(30, 7), commits)
            .await
            .unwrap()
            .location
    }

    #[test]
    fn a_rewrite_without_data_change_removes_the_rows_it_adds() {
        let stats = r#"{\"numRecords\":40}"#;
        let optimize = format!(
            "{{\"commitInfo\":{{\"timestamp\":1,\"operation\":\"OPTIMIZE\"}}}}\n{{\"add\":{{\"path\":\"n.parquet\",\"dataChange\":false,\"stats\":\"{stats}\"}}}}\n{{\"remove\":{{\"path\":\"a.parquet\",\"dataChange\":false}}}}\n"
        );
        let entry = parse_commit_text("t", Path::new("t/_delta_log/1.json"), 1, None, &optimize).unwrap();
        assert_eq!((entry.rows_added, entry.rows_removed), (Some(40), Some(40)));
        // A delete (data change) whose removes carry no stats keeps its removed rows unknown.
        let delete = optimize.replace("\"dataChange\":false}}", "\"dataChange\":true}}").replace("OPTIMIZE", "DELETE");
        let entry = parse_commit_text("t", Path::new("t/_delta_log/1.json"), 1, None, &delete).unwrap();
        assert_eq!(entry.rows_removed, None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn info_at_latest_and_at_a_version() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 6).await;
        let policy = SmallFilePolicy::default();
        let latest = info(&location, &VersionSelector::Latest, &policy)
            .await
            .unwrap();
        assert_eq!(latest.format, "delta");
        assert_eq!(latest.version, Some(5));
        assert_eq!(latest.num_rows, Some(30));
        assert_eq!(latest.num_files, 6);
        assert_eq!(latest.small_files, 6);
        assert_eq!(latest.max_small_files_per_partition, 6);
        assert!(latest.total_bytes > 0);
        assert!(latest.timestamp.is_some());
        assert!(latest.remapped_from.is_none());
        assert!(latest.warnings.is_empty(), "{:?}", latest.warnings);
        let names: Vec<_> = latest
            .schema
            .iter()
            .map(|f| (f.name.as_str(), f.data_type.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("parcel_id", "string"),
                ("geometry", "binary"),
                ("crs", "string"),
                ("updated_at", "timestamp")
            ]
        );
        assert_eq!(latest.geometry_columns.len(), 1);
        assert_eq!(latest.geometry_columns[0].name, "geometry");

        let v3 = info(&location, &VersionSelector::Version(3), &policy)
            .await
            .unwrap();
        assert_eq!(v3.version, Some(3));
        assert_eq!(v3.num_files, 4);
        assert_eq!(v3.num_rows, Some(20));
        assert!(v3.total_bytes < latest.total_bytes);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn as_of_picks_the_commit_at_or_before() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 2).await;
        let history = history(&location).await.unwrap();
        assert_eq!(history.versions.len(), 2);
        // Give the commits distinct, known times (the demo writes them within milliseconds).
        let log = Path::new(&location).join("_delta_log");
        let base = 1_700_000_000_000i64;
        for version in 0..2i64 {
            let path = log.join(format!("{version:020}.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let rewritten: Vec<String> = text
                .lines()
                .map(|line| {
                    let mut action: Value = serde_json::from_str(line).unwrap();
                    if let Some(info) = action.get_mut("commitInfo") {
                        info["timestamp"] = Value::from(base + version * 60_000);
                    }
                    action.to_string()
                })
                .collect();
            std::fs::write(&path, rewritten.join("\n")).unwrap();
        }
        let between = DateTime::from_timestamp_millis(base + 30_000).unwrap();
        let at = info(
            &location,
            &VersionSelector::AsOf(between),
            &SmallFilePolicy::default(),
        )
        .await
        .unwrap();
        assert_eq!(at.version, Some(0));
        assert_eq!(at.num_files, 1);
        let after = DateTime::from_timestamp_millis(base + 120_000).unwrap();
        let at = info(
            &location,
            &VersionSelector::AsOf(after),
            &SmallFilePolicy::default(),
        )
        .await
        .unwrap();
        assert_eq!(at.version, Some(1));
        let before = DateTime::from_timestamp_millis(base - 1).unwrap();
        let err = info(
            &location,
            &VersionSelector::AsOf(before),
            &SmallFilePolicy::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                LakeError::VersionOutOfRange {
                    oldest: 0,
                    latest: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn history_and_files_agree_with_info() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 4).await;
        let history = history(&location).await.unwrap();
        assert_eq!(history.versions.len(), 4);
        for (i, entry) in history.versions.iter().enumerate() {
            assert_eq!(entry.version, i as i64);
            assert_eq!(entry.parent, (i > 0).then(|| i as i64 - 1));
            assert_eq!(entry.files_added, 1);
            assert_eq!(entry.files_removed, 0);
            assert_eq!(entry.operation, "WRITE");
            assert!(entry.rows_added.is_some_and(|r| r > 0));
        }
        let total: u64 = history.versions.iter().filter_map(|e| e.rows_added).sum();
        let info = info(
            &location,
            &VersionSelector::Latest,
            &SmallFilePolicy::default(),
        )
        .await
        .unwrap();
        assert_eq!(info.num_rows, Some(total));
        let files = files(&location, &VersionSelector::Latest).await.unwrap();
        assert_eq!(files.files.len() as u64, info.num_files);
        assert_eq!(
            files.files.iter().map(|f| f.bytes).sum::<u64>(),
            info.total_bytes
        );
        assert!(
            files
                .files
                .iter()
                .all(|f| Path::new(&f.path).is_file() && f.kind == FileKind::Data)
        );
        assert!(files.files.iter().all(|f| f.bbox.is_none()));
        let at1 = super::files(&location, &VersionSelector::Version(1))
            .await
            .unwrap();
        assert_eq!(at1.files.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn head_pages_across_file_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 3).await; // 3 files of 10 rows
        let all = head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 0,
                limit: 100,
                columns: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            all.columns,
            vec!["parcel_id", "geometry", "crs", "updated_at"]
        );
        assert_eq!(all.rows.len(), 30);
        let geometry = all.rows[0][1].as_str().unwrap();
        assert!(geometry.starts_with("POLYGON"), "{geometry}");
        assert!(geometry.chars().count() <= MAX_CELL_CHARS);
        let updated = all.rows[0][3].as_str().unwrap();
        assert!(DateTime::parse_from_rfc3339(updated).is_ok(), "{updated}");

        let page = head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 8,
                limit: 15,
                columns: vec!["crs".into(), "parcel_id".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(page.columns, vec!["crs", "parcel_id"]);
        assert_eq!(page.rows.len(), 15);
        for (i, row) in page.rows.iter().enumerate() {
            assert_eq!(row[1], all.rows[8 + i][0]);
            assert_eq!(row[0], all.rows[8 + i][2]);
        }
        let tail = head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 25,
                limit: 10,
                columns: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(tail.rows.len(), 5);
        let old = head(
            &location,
            &VersionSelector::Version(0),
            &PageRequest {
                offset: 0,
                limit: 100,
                columns: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(old.rows.len(), 10);
        let err = head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 0,
                limit: 1,
                columns: vec!["nope".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("parcel_id"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn versions_out_of_range_and_snapshots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 3).await;
        let policy = SmallFilePolicy::default();
        for bad in [3, -1, 99] {
            let err = info(&location, &VersionSelector::Version(bad), &policy)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("0..=2"), "{err}");
        }
        let err = files(&location, &VersionSelector::Snapshot(5))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LakeError::WrongVersionSelector { .. }),
            "{err}"
        );
        // After log cleanup (a checkpoint at 1, commits 0 and 1 removed) the range starts at 1.
        let table = deltalake::open_table(url::Url::from_directory_path(&location).unwrap())
            .await
            .unwrap();
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .unwrap();
        let log = Path::new(&location).join("_delta_log");
        std::fs::remove_file(log.join(format!("{:020}.json", 0))).unwrap();
        std::fs::remove_file(log.join(format!("{:020}.json", 1))).unwrap();
        let err = info(&location, &VersionSelector::Version(0), &policy)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("2..=2"), "{err}");
        let latest = info(&location, &VersionSelector::Latest, &policy)
            .await
            .unwrap();
        assert_eq!((latest.version, latest.num_files), (Some(2), 3));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn moved_table_with_absolute_paths_is_remapped() {
        let dir = tempfile::tempdir().unwrap();
        let location = demo(dir.path(), 2).await;
        let log = Path::new(&location).join("_delta_log");
        let old_root = "file:///nowhere/old/parcels";
        for version in 0..2 {
            let path = log.join(format!("{version:020}.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let rewritten: Vec<String> = text
                .lines()
                .map(|line| {
                    let mut action: Value = serde_json::from_str(line).unwrap();
                    if let Some(add) = action.get_mut("add") {
                        let relative = add["path"].as_str().unwrap().to_string();
                        add["path"] = Value::from(format!("{old_root}/{relative}"));
                    }
                    action.to_string()
                })
                .collect();
            std::fs::write(&path, rewritten.join("\n")).unwrap();
        }
        let info = info(
            &location,
            &VersionSelector::Latest,
            &SmallFilePolicy::default(),
        )
        .await
        .unwrap();
        assert_eq!(info.remapped_from.as_deref(), Some(old_root));
        assert_eq!(info.geometry_columns.len(), 1);
        let page = head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 0,
                limit: 100,
                columns: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(page.rows.len(), 30);
    }

    #[test]
    fn bbox_from_struct_and_flat_stats() {
        let nested = r#"{"numRecords":2,"minValues":{"bbox":{"xmin":1.0,"ymin":2.0,"xmax":1.5,"ymax":2.5}},"maxValues":{"bbox":{"xmin":3.0,"ymin":4.0,"xmax":5.0,"ymax":6.0}}}"#;
        assert_eq!(bbox_from_stats(nested), Some([1.0, 2.0, 5.0, 6.0]));
        let flat = r#"{"minValues":{"bbox.xmin":1,"bbox.ymin":2,"bbox.xmax":1,"bbox.ymax":2},"maxValues":{"bbox.xmin":3,"bbox.ymin":4,"bbox.xmax":5,"bbox.ymax":6}}"#;
        assert_eq!(bbox_from_stats(flat), Some([1.0, 2.0, 5.0, 6.0]));
        assert_eq!(
            bbox_from_stats(r#"{"minValues":{"id":1},"maxValues":{"id":9}}"#),
            None
        );
    }
}
