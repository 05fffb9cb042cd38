//! Delta maintenance: compaction (bin-packing and Z-order through delta-rs `optimize`; spatial
//! order as our own rewrite), log expiry and vacuum.
//!
//! Every rewrite is committed as one `OPTIMIZE` commit with `dataChange: false` through the Delta
//! commit protocol (delta-rs' conflict checker retries it over concurrent appends). New data files
//! get fresh unique names, so a job killed before its commit leaves only unreferenced files, which
//! a later vacuum removes. A dry run plans the same work and writes nothing.
//!
//! Spatial order bounds its memory by range-partitioning each partition's rows into Hilbert-key
//! buckets chosen from key quantiles so that each bucket's decoded rows, twice (read and reordered),
//! fit in `max_sort_memory_bytes`; each bucket is read (files re-read once per bucket), sorted and written
//! on its own. Only the keys and bboxes of all rows (40 bytes a row) are held across buckets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, BooleanArray, RecordBatch, UInt32Array};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Remove};
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::metadata::KeyValue;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use serde_json::Value;

use super::{merged_geo_metadata, spatial_order};
use super::{
    CheckpointReport, CompactionOrder, CompactionReport, CompactionRequest, ExpireReport, ExpireRequest, PartitionCompaction, VacuumReport,
    VacuumRequest,
};
use crate::engine::geo::geoparquet::GEO_METADATA_KEY;
use crate::engine::geo::wkb::union_bbox;
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::lake::LakeError;
use crate::engine::lake::delta::{LiveFile, Loaded, int96_as_micros, live_files, load, read_deletion_vector};
use crate::engine::lake::deletion_vectors::live_row_selection;
use crate::engine::lake::inspect::VersionSelector;
use crate::engine::storage::ParquetObjectReader;

/// Row groups per spatially ordered file: each covers about an eighth of the file's area.
const ROW_GROUPS_PER_FILE: u64 = 8;
/// Copies of a bucket's rows alive while it is sorted (the read rows and the reordered ones).
const SORT_COPIES: u64 = 2;
/// How often a commit is retried on a new base after concurrent commits.
const MAX_COMMIT_RETRIES: usize = 20;
/// In-memory (decoded) bytes are estimated as this many times the compressed bytes when a footer
/// does not say.
const DECODED_PER_COMPRESSED: u64 = 4;

/// Bin-pack files (in the order given) the way delta-rs' `optimize` plans a compaction: files larger
/// than the target are skipped and break a run; consecutive files go into one bin while it stays
/// within `target_bytes`; bins holding a single file are dropped (rewriting it alone gains nothing).
/// Returns the bins as indexes into `sizes`.
pub fn bin_pack(sizes: &[u64], target_bytes: u64) -> Vec<Vec<usize>> {
    let mut bins: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0u64;
    for (index, &size) in sizes.iter().enumerate() {
        if size > target_bytes {
            if !current.is_empty() {
                bins.push(std::mem::take(&mut current));
            }
            current_bytes = 0;
            continue;
        }
        if !current.is_empty() && current_bytes + size > target_bytes {
            bins.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(index);
        current_bytes += size;
    }
    if !current.is_empty() {
        bins.push(current);
    }
    bins.retain(|bin| bin.len() > 1);
    bins
}

/// Files written for `bytes` at `target_bytes` a file (at least one when anything is written).
fn files_for(bytes: u64, target_bytes: u64) -> u64 {
    if bytes == 0 { 0 } else { bytes.div_ceil(target_bytes.max(1)) }
}

/// The files of one partition, in the table log's order.
struct PartitionFiles {
    partition: BTreeMap<String, Option<String>>,
    files: Vec<LiveFile>,
}

/// The plan: per partition, which files are rewritten.
struct Plan {
    partitions: Vec<(PartitionFiles, Vec<Vec<usize>>)>,
    report: CompactionReport,
}

fn order_rewrites_everything(order: &CompactionOrder) -> bool {
    !matches!(order, CompactionOrder::None)
}

/// Group the live files by partition and plan each partition.
fn plan(location: &str, loaded: &Loaded, files: Vec<LiveFile>, request: &CompactionRequest) -> Result<Plan, LakeError> {
    let snapshot = loaded.table.snapshot().map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    // The log's own order (what delta-rs' planner walks), so the plan matches its bins.
    let log_order: HashMap<String, usize> =
        snapshot.log_data().iter().enumerate().map(|(index, file)| (file.path().to_string(), index)).collect();
    let mut grouped: BTreeMap<Vec<(String, Option<String>)>, PartitionFiles> = BTreeMap::new();
    for file in files {
        let key: Vec<(String, Option<String>)> = file.partition.clone().into_iter().collect();
        grouped
            .entry(key)
            .or_insert_with(|| PartitionFiles { partition: file.partition.clone(), files: Vec::new() })
            .files
            .push(file);
    }
    let mut report = CompactionReport {
        dry_run: request.dry_run,
        format: "delta",
        order: request.order.describe(),
        target_file_bytes: request.target_file_bytes,
        version_before: Some(loaded.version),
        ..Default::default()
    };
    let mut partitions = Vec::new();
    for (_, mut group) in grouped {
        group.files.sort_by_key(|file| log_order.get(&file.log_path).copied().unwrap_or(usize::MAX));
        let sizes: Vec<u64> = group.files.iter().map(|file| file.bytes).collect();
        let bins = if order_rewrites_everything(&request.order) {
            if group.files.is_empty() { Vec::new() } else { vec![(0..group.files.len()).collect()] }
        } else {
            bin_pack(&sizes, request.target_file_bytes)
        };
        let mut summary = PartitionCompaction { partition: group.partition.clone(), ..Default::default() };
        for bin in &bins {
            let bin_bytes: u64 = bin.iter().map(|&i| sizes[i]).sum();
            summary.files_rewritten += bin.len() as u64;
            summary.bytes_rewritten += bin_bytes;
            summary.rows_rewritten += bin.iter().map(|&i| group.files[i].live_rows().unwrap_or(0)).sum::<u64>();
            summary.files_written += files_for(bin_bytes, request.target_file_bytes);
        }
        summary.bytes_written = summary.bytes_rewritten;
        summary.files_kept = group.files.len() as u64 - summary.files_rewritten;
        report.files_before += group.files.len() as u64;
        report.bytes_before += sizes.iter().sum::<u64>();
        report.rows_before += group.files.iter().map(|file| file.live_rows().unwrap_or(0)).sum::<u64>();
        report.bytes_read += summary.bytes_rewritten;
        report.bytes_written += summary.bytes_written;
        report.files_after += summary.files_kept + summary.files_written;
        if summary.files_rewritten > 0 {
            report.partitions.push(summary);
        }
        partitions.push((group, bins));
    }
    report.rows_after = report.rows_before;
    report.bytes_after = report.bytes_before;
    Ok(Plan { partitions, report })
}

/// Compact a Delta table (or plan it with `request.dry_run`).
pub async fn compact(location: &str, request: &CompactionRequest, ctx: &JobContext) -> Result<CompactionReport, JobError> {
    ctx.progress.report(0, 1, "reading the table");
    let loaded = load(location, &VersionSelector::Latest).await?;
    let mut files = live_files(&loaded).await?;
    if !request.dry_run {
        // delta-rs reads the files by the log's paths: files that are gone or only found under
        // another root (a moved table) are refused before anything is written.
        if let Some(file) = files.iter().find(|f| !f.exists) {
            return Err(LakeError::MissingDataFile { table: location.to_string(), file: file.shown.clone() }.into());
        }
        if let Some(file) = files.iter().find(|f| f.remapped_from.is_some()) {
            return Err(JobError::Invalid(format!(
                "{location}: the log names data files under another root ({}, found at {}): the table was moved; rewrite it in place (or copy it with a writer that relativizes paths) before compacting",
                file.remapped_from.as_deref().unwrap_or_default(),
                file.shown.display()
            )));
        }
    }
    count_rows_without_stats(location, &loaded, &mut files).await?;
    let Plan { partitions, mut report } = plan(location, &loaded, files, request)?;
    if request.dry_run {
        return Ok(report);
    }
    if report.partitions.is_empty() {
        report.rows_verified = true;
        report.notes.push("nothing to compact: no partition has two or more files that fit in one target-size file".into());
        return Ok(report);
    }
    ctx.cancel.check()?;
    let committed = match &request.order {
        CompactionOrder::None => binpack_rewrite(location, loaded, &partitions, request, ctx).await?,
        CompactionOrder::ZOrder { .. } => optimize(location, loaded, &partitions, request, ctx).await?,
        CompactionOrder::Spatial { geometry } => {
            spatial_rewrite(location, &loaded, &partitions, geometry.as_deref(), request, &mut report, ctx).await?
        }
    };
    report.commit_retries = committed.retries;
    report.version_after = Some(committed.version);
    ctx.progress.report(1, 1, "verifying the new version");
    verify(location, &loaded_before_files(&partitions), &committed, &mut report).await?;
    Ok(report)
}

/// Files the log has no `numRecords` for get their row count from their Parquet footer.
async fn count_rows_without_stats(location: &str, loaded: &Loaded, files: &mut [LiveFile]) -> Result<(), LakeError> {
    for file in files.iter_mut().filter(|f| f.rows.is_none() && f.exists) {
        let opened = open_file(location, loaded, file).await?;
        let deleted = file.deletion_vector.as_ref().map_or(0, |dv| dv.cardinality.max(0) as u64);
        file.rows = Some(opened.live_rows + deleted);
    }
    Ok(())
}

/// What a compaction committed.
struct Committed {
    version: i64,
    retries: u32,
}

/// Paths and live rows of every file of the version the plan was made on.
fn loaded_before_files(partitions: &[(PartitionFiles, Vec<Vec<usize>>)]) -> HashMap<String, (u64, u64)> {
    partitions
        .iter()
        .flat_map(|(group, _)| group.files.iter())
        .map(|file| (file.log_path.clone(), (file.live_rows().unwrap_or(0), file.bytes)))
        .collect()
}

/// After the commit: read the new version and our commit; the rows our commit removed equal the
/// rows it added (`rows_verified`), and the report's "after" numbers and per-partition outcome are
/// the actual ones.
async fn verify(
    location: &str,
    before: &HashMap<String, (u64, u64)>,
    committed: &Committed,
    report: &mut CompactionReport,
) -> Result<(), LakeError> {
    let after = load(location, &VersionSelector::Version(committed.version)).await?;
    let commit = after
        .table
        .log_store()
        .read_commit_entry(committed.version as u64)
        .await
        .map_err(|e| LakeError::delta(location, "read the compaction commit", e))?
        .ok_or_else(|| LakeError::CorruptDeltaLog {
            location: location.to_string(),
            file: format!("_delta_log/{:020}.json", committed.version).into(),
            reason: "the compaction's commit is missing right after it was written".into(),
        })?;
    let (mut rows_added, mut rows_removed) = (0u64, 0u64);
    let mut added: HashSet<String> = HashSet::new();
    for line in String::from_utf8_lossy(&commit).lines() {
        let Ok(action) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(add) = action.get("add") {
            let path = add.get("path").and_then(Value::as_str).unwrap_or_default();
            added.insert(percent_decoded(path));
            let stats: Option<Value> = add.get("stats").and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok());
            rows_added += stats.and_then(|s| s.get("numRecords").and_then(Value::as_u64)).unwrap_or(0);
        } else if let Some(remove) = action.get("remove") {
            let path = percent_decoded(remove.get("path").and_then(Value::as_str).unwrap_or_default());
            rows_removed += before.get(&path).map_or(0, |(rows, _)| *rows);
        }
    }
    let mut files = live_files(&after).await?;
    count_rows_without_stats(location, &after, &mut files).await?;
    report.files_after = files.len() as u64;
    report.rows_after = files.iter().map(|f| f.live_rows().unwrap_or(0)).sum();
    report.bytes_after = files.iter().map(|f| f.bytes).sum();
    report.rows_verified = rows_added == rows_removed;
    if report.rows_after != report.rows_before {
        report.notes.push(format!(
            "the table has {} rows now against {} before: other writers committed while compacting (the rewrite itself moved {rows_removed} rows into {rows_added})",
            report.rows_after, report.rows_before
        ));
    }
    // The actual outcome per partition: files our commit added there.
    let mut written: HashMap<Vec<(String, Option<String>)>, (u64, u64)> = HashMap::new();
    for file in files.iter().filter(|f| added.contains(&f.log_path)) {
        let entry = written.entry(file.partition.clone().into_iter().collect()).or_default();
        entry.0 += 1;
        entry.1 += file.bytes;
    }
    report.bytes_written = 0;
    for partition in &mut report.partitions {
        let key: Vec<(String, Option<String>)> = partition.partition.clone().into_iter().collect();
        let (count, bytes) = written.get(&key).copied().unwrap_or((0, 0));
        partition.files_written = count;
        partition.bytes_written = bytes;
        report.bytes_written += bytes;
    }
    if !report.rows_verified {
        return Err(LakeError::CompactionRowsDiffer {
            location: location.to_string(),
            version: committed.version,
            removed: rows_removed,
            added: rows_added,
        });
    }
    Ok(())
}

/// Paths in the log are URL-encoded; our file list holds them decoded.
fn percent_decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// Bin-packing / Z-order through delta-rs' `optimize`.
async fn optimize(
    location: &str,
    loaded: Loaded,
    partitions: &[(PartitionFiles, Vec<Vec<usize>>)],
    request: &CompactionRequest,
    ctx: &JobContext,
) -> Result<Committed, JobError> {
    let target = NonZeroU64::new(request.target_file_bytes)
        .ok_or_else(|| JobError::Invalid("the target file size must be above zero".into()))?;
    let optimize_type = match &request.order {
        CompactionOrder::ZOrder { columns } => OptimizeType::ZOrder(columns.clone()),
        _ => OptimizeType::Compact,
    };
    // GeoParquet metadata: delta-rs writes the footer key-value metadata we give it; the per-file
    // bbox of the inputs no longer holds for the merged files, so it is left out.
    let geo = first_geo_metadata(&loaded, partitions).await;
    let mut properties = WriterProperties::builder().set_compression(Compression::ZSTD(zstd_level()?));
    if let Some(geo) = geo {
        properties = properties.set_key_value_metadata(Some(vec![KeyValue::new(GEO_METADATA_KEY.to_string(), without_bboxes(&geo))]));
    }
    // Memory: each concurrent task buffers up to a target-size file; the sort (Z-order) spills
    // beyond the bound.
    let tasks = (request.max_sort_memory_bytes / request.target_file_bytes.max(1)).clamp(1, num_cpus_here() as u64) as usize;
    let spill = usize::try_from(request.max_sort_memory_bytes).unwrap_or(usize::MAX);
    let session = deltalake::delta_datafusion::create_session_state_with_spill_config(Some(spill), None);
    let rewritten: u64 = partitions.iter().map(|(_, bins)| bins.iter().map(Vec::len).sum::<usize>() as u64).sum();
    ctx.progress.report(0, rewritten, format!("rewriting {rewritten} files"));
    let before_version = loaded.version;
    let marker = new_marker();
    let job = loaded
        .table
        .optimize()
        .with_target_size(target)
        .with_type(optimize_type)
        .with_writer_properties(properties.build())
        .with_max_concurrent_tasks(tasks)
        .with_session_state(Arc::new(session))
        .with_commit_properties(
            deltalake::kernel::transaction::CommitProperties::default()
                .with_metadata([(MARKER_KEY.to_string(), Value::String(marker.clone()))])
                .with_max_retries(MAX_COMMIT_RETRIES),
        )
        .into_future();
    // Dropping the optimize future before it commits leaves only unreferenced files.
    let cancel = ctx.cancel.clone();
    let cancelled = async move {
        loop {
            if cancel.check().is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (table, _metrics) = tokio::select! {
        outcome = job => outcome.map_err(|e| LakeError::delta(location, "optimize", e))?,
        () = cancelled => return Err(JobError::Cancelled),
    };
    ctx.progress.report(rewritten, rewritten, "committed");
    // The returned table is at the latest version, which may hold later commits of other writers:
    // our commit is the one carrying our marker.
    let latest = table.version().and_then(|v| i64::try_from(v).ok()).unwrap_or(before_version);
    let version = commit_with_marker(location, &table, before_version, latest, &marker).await?;
    // delta-rs does not report its retries; the versions other writers committed in between tell.
    let retries = u32::try_from((version - before_version - 1).max(0)).unwrap_or(u32::MAX);
    Ok(Committed { version, retries })
}

/// One bin of a plain compaction: files of one partition rewritten into one file.
struct BinToRewrite {
    files: Vec<LiveFile>,
    partition_values: indexmap::IndexMap<String, delta_kernel::expressions::Scalar>,
}

/// Footers read ahead of the file being copied.
const FOOTERS_AHEAD: usize = 8;

/// Bin-packing: our own streaming rewrite, committed as one `OPTIMIZE` commit with
/// `dataChange: false` (the rows keep the order of the files they come from). Bins run
/// concurrently on the I/O runtime's threads (as many as the memory bound allows, at most one per
/// core); each streams its files' record batches into one new file, so memory per bin is about a
/// row group being encoded. The new file's GeoParquet `geo` metadata is the union of its inputs'
/// (bboxes and geometry types), kept only where every input declares it.
async fn binpack_rewrite(
    location: &str,
    loaded: Loaded,
    partitions: &[(PartitionFiles, Vec<Vec<usize>>)],
    request: &CompactionRequest,
    ctx: &JobContext,
) -> Result<Committed, JobError> {
    let loaded = Arc::new(loaded);
    let snapshot = loaded.table.snapshot().map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    let log_files = log_files(snapshot);
    let mut removes: Vec<Action> = Vec::new();
    let mut bins: Vec<BinToRewrite> = Vec::new();
    for (group, group_bins) in partitions {
        for bin in group_bins {
            let files: Vec<LiveFile> = bin.iter().map(|&i| group.files[i].clone()).collect();
            let mut partition_values = None;
            for file in &files {
                let (remove, values) = log_files
                    .get(&file.log_path)
                    .ok_or_else(|| JobError::Invalid(format!("{} is not in the table's log", file.log_path)))?;
                removes.push(Action::Remove(remove.clone()));
                partition_values.get_or_insert_with(|| values.clone());
            }
            if let Some(partition_values) = partition_values {
                bins.push(BinToRewrite { files, partition_values });
            }
        }
    }
    drop(log_files);
    let tasks = (request.max_sort_memory_bytes / request.target_file_bytes.max(1)).clamp(1, num_cpus_here() as u64) as usize;
    let total_files: u64 = bins.iter().map(|bin| bin.files.len() as u64).sum();
    ctx.progress.report(0, total_files, format!("rewriting {total_files} files in {} bins", bins.len()));
    // Each bin is its own task, so bins are encoded on different cores; dropping the set (an error,
    // a cancel) aborts the bins still running, leaving only unreferenced files.
    let mut pending = bins.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut adds: Vec<Action> = Vec::new();
    let mut done = 0u64;
    loop {
        while running.len() < tasks {
            let Some(bin) = pending.next() else { break };
            let (loaded, location, ctx) = (loaded.clone(), location.to_string(), ctx.clone());
            running.spawn(rewrite_bin(location, loaded, bin, ctx));
        }
        let Some(outcome) = running.join_next().await else { break };
        let (bin_adds, files) = outcome.map_err(|e| JobError::Invalid(format!("{location}: a compaction task failed: {e}")))??;
        done += files;
        ctx.progress.report(done, total_files, format!("rewrote {done} of {total_files} files"));
        adds.extend(bin_adds.into_iter().map(Action::Add));
    }
    ctx.cancel.check()?;
    let mut actions = adds;
    actions.extend(removes);
    Ok(commit_rewrite(location, &loaded, snapshot, actions, request, "commit the compacted files").await?)
}

/// Commit a rewrite's `add` (with `dataChange: false`) and `remove` actions as one OPTIMIZE commit
/// on the snapshot the plan was made on (delta-rs' conflict checker retries over concurrent appends).
async fn commit_rewrite(
    location: &str,
    loaded: &Loaded,
    snapshot: &deltalake::table::state::DeltaTableState,
    actions: Vec<Action>,
    request: &CompactionRequest,
    what: &'static str,
) -> Result<Committed, LakeError> {
    let target_size = i64::try_from(request.target_file_bytes).unwrap_or(i64::MAX);
    let finalized = CommitBuilder::default()
        .with_actions(actions)
        .with_max_retries(MAX_COMMIT_RETRIES)
        .build(Some(snapshot), loaded.table.log_store(), DeltaOperation::Optimize { predicate: None, target_size })
        .await
        .map_err(|e| LakeError::delta(location, what, e))?;
    Ok(Committed {
        version: i64::try_from(finalized.version).unwrap_or(i64::MAX),
        retries: u32::try_from(finalized.metrics.num_retries).unwrap_or(u32::MAX),
    })
}

/// Rewrite one bin into one new file: its `add` actions and the number of files read.
async fn rewrite_bin(location: String, loaded: Arc<Loaded>, bin: BinToRewrite, ctx: JobContext) -> Result<(Vec<deltalake::kernel::Add>, u64), JobError> {
    let location = location.as_str();
    // Every footer first (read ahead, a few at a time): their `geo` metadata decides the new file's.
    let footers = bin.files.clone().into_iter().map(|file| {
        let (loaded, location) = (loaded.clone(), location.to_string());
        async move { open_file(&location, &loaded, &file).await }
    });
    let opened: Vec<OpenedFile> = futures::stream::iter(footers)
        .buffered(FOOTERS_AHEAD)
        .try_collect()
        .await?;
    let geos: Vec<Option<String>> = opened.iter().map(|file| geo_of(file.builder.metadata())).collect();
    let writer = RecordBatchWriter::for_table(&loaded.table).map_err(|e| LakeError::delta(location, "start writing", e))?;
    let schema = writer.arrow_schema();
    let properties = writer_properties(&schema, merged_geo(&geos), None)?;
    let mut writer = writer.with_writer_properties(properties).with_target_file_size(0);
    for (file, opened) in bin.files.iter().zip(opened) {
        ctx.cancel.check()?;
        let read_error = |source| LakeError::ParquetRead { table: location.to_string(), file: file.shown.clone(), source };
        let mut stream = opened.builder.build().map_err(read_error)?;
        while let Some(batch) = stream.try_next().await.map_err(read_error)? {
            let batch = conform(&batch, &schema, &bin.partition_values).map_err(|e| arrow_failed(location, e))?;
            writer
                .write_partition(batch, &bin.partition_values, deltalake::writer::WriteMode::Default)
                .await
                .map_err(|e| LakeError::delta(location, "write a compacted file", e))?;
        }
    }
    let mut adds = writer.flush().await.map_err(|e| LakeError::delta(location, "write a compacted file", e))?;
    for add in &mut adds {
        add.data_change = false;
    }
    Ok((adds, bin.files.len() as u64))
}

/// Properties of the files our rewrites write: zstd, the `geo` metadata, and no dictionary for the
/// geometry columns and floating-point columns — their values are nearly all distinct, so a
/// dictionary only costs a hash of every value before the writer falls back to plain encoding
/// (and makes the file larger while it does not).
fn writer_properties(
    schema: &arrow::datatypes::Schema,
    geo: Option<String>,
    row_group_rows: Option<usize>,
) -> Result<WriterProperties, JobError> {
    let geometry_columns: Vec<String> = geo
        .as_deref()
        .and_then(|geo| serde_json::from_str::<Value>(geo).ok())
        .and_then(|geo| geo.get("columns").and_then(Value::as_object).map(|columns| columns.keys().cloned().collect()))
        .unwrap_or_default();
    let mut properties = WriterProperties::builder().set_compression(Compression::ZSTD(zstd_level()?));
    if let Some(rows) = row_group_rows {
        properties = properties.set_max_row_group_row_count(Some(rows));
    }
    let mut leaves = Vec::new();
    for field in schema.fields() {
        let geometry = geometry_columns.iter().any(|name| name == field.name());
        collect_plain_leaves(field, &mut vec![field.name().clone()], geometry, &mut leaves);
    }
    for path in leaves {
        properties = properties.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::new(path), false);
    }
    if let Some(geo) = geo {
        properties = properties.set_key_value_metadata(Some(vec![KeyValue::new(GEO_METADATA_KEY.to_string(), geo)]));
    }
    Ok(properties.build())
}

/// Parquet leaf paths under `field` (at `path`) to write without a dictionary: every leaf of a
/// geometry column, and floating-point leaves.
fn collect_plain_leaves(field: &arrow::datatypes::Field, path: &mut Vec<String>, geometry: bool, leaves: &mut Vec<Vec<String>>) {
    use arrow::datatypes::DataType;
    match field.data_type() {
        DataType::Struct(children) => {
            for child in children {
                path.push(child.name().clone());
                collect_plain_leaves(child, path, geometry, leaves);
                path.pop();
            }
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => leaves.push(path.clone()),
        _ if geometry => leaves.push(path.clone()),
        _ => {}
    }
}

/// The `geo` metadata of a file merged from files with these `geo` metadata (see
/// [`merged_geo_metadata`]); `None` when some input has none.
fn merged_geo(geos: &[Option<String>]) -> Option<String> {
    let parsed: Vec<Value> = geos.iter().map(|geo| geo.as_deref().and_then(|g| serde_json::from_str(g).ok())).collect::<Option<_>>()?;
    let template = parsed.first()?.clone();
    let inputs: Vec<Option<Value>> = parsed.into_iter().map(Some).collect();
    Some(merged_geo_metadata(&template, &inputs).to_string())
}

/// The commitInfo key that marks our compaction's commit.
const MARKER_KEY: &str = "meshlakeCompaction";

/// A marker unique to this compaction run.
fn new_marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// The version in `(after, latest]` whose commitInfo carries `marker`.
async fn commit_with_marker(location: &str, table: &DeltaTable, after: i64, latest: i64, marker: &str) -> Result<i64, LakeError> {
    for version in (after + 1)..=latest {
        let Some(bytes) = table
            .log_store()
            .read_commit_entry(version as u64)
            .await
            .map_err(|e| LakeError::delta(location, "read the log", e))?
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let ours = text.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).any(|action| {
            action.get("commitInfo").and_then(|info| info.get(MARKER_KEY)).and_then(Value::as_str) == Some(marker)
        });
        if ours {
            return Ok(version);
        }
    }
    Err(LakeError::CorruptDeltaLog {
        location: location.to_string(),
        file: "_delta_log".into(),
        reason: format!("the optimize committed, but no commit after version {after} up to {latest} is ours"),
    })
}

fn num_cpus_here() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn zstd_level() -> Result<ZstdLevel, JobError> {
    ZstdLevel::try_new(4).map_err(|e| JobError::Invalid(format!("zstd level: {e}")))
}

/// The GeoParquet `geo` metadata of the first rewritten file that has it.
async fn first_geo_metadata(loaded: &Loaded, partitions: &[(PartitionFiles, Vec<Vec<usize>>)]) -> Option<String> {
    let (group, bins) = partitions.iter().find(|(_, bins)| !bins.is_empty())?;
    let file = &group.files[*bins.first()?.first()?];
    let object = file.object.clone()?;
    let mut handle = ParquetObjectReader::new(loaded.root.store.store.clone(), object);
    let metadata = ArrowReaderMetadata::load_async(&mut handle, ArrowReaderOptions::new()).await.ok()?;
    geo_of(metadata.metadata())
}

fn geo_of(metadata: &parquet::file::metadata::ParquetMetaData) -> Option<String> {
    metadata
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|entry| entry.key == GEO_METADATA_KEY)?
        .value
        .clone()
}

/// `geo` metadata without the per-column `bbox` (which described other files).
fn without_bboxes(geo: &str) -> String {
    with_bbox(geo, None, None)
}

/// `geo` metadata with `column`'s bbox set to `bbox` (others' bboxes dropped), or all bboxes
/// dropped when `bbox` is `None`.
fn with_bbox(geo: &str, column: Option<&str>, bbox: Option<[f64; 4]>) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(geo) else { return geo.to_string() };
    if let Some(columns) = value.get_mut("columns").and_then(Value::as_object_mut) {
        for (name, spec) in columns.iter_mut() {
            let Some(spec) = spec.as_object_mut() else { continue };
            match bbox {
                Some(bbox) if Some(name.as_str()) == column => {
                    spec.insert("bbox".into(), serde_json::json!(bbox));
                }
                _ => {
                    spec.remove("bbox");
                }
            }
        }
    }
    value.to_string()
}

/// One file opened for reading with its deletion vector applied.
struct OpenedFile {
    builder: ParquetRecordBatchStreamBuilder<ParquetObjectReader>,
    live_rows: u64,
    decoded_bytes: u64,
}

async fn open_file(location: &str, loaded: &Loaded, file: &LiveFile) -> Result<OpenedFile, LakeError> {
    let object = match (&file.object, file.exists) {
        (Some(object), true) => object.clone(),
        _ => return Err(LakeError::MissingDataFile { table: location.to_string(), file: file.shown.clone() }),
    };
    let read_error = |source| LakeError::ParquetRead { table: location.to_string(), file: file.shown.clone(), source };
    let mut handle = ParquetObjectReader::new(loaded.root.store.store.clone(), object);
    let metadata = ArrowReaderMetadata::load_async(&mut handle, ArrowReaderOptions::new()).await.map_err(read_error)?;
    let metadata = match int96_as_micros(&metadata) {
        Some(schema) => ArrowReaderMetadata::try_new(metadata.metadata().clone(), ArrowReaderOptions::new().with_schema(schema))
            .map_err(read_error)?,
        None => metadata,
    };
    let decoded: i64 = metadata.metadata().row_groups().iter().map(|rg| rg.total_byte_size()).sum();
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(handle, metadata);
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let mut live_rows = rows;
    if let Some(dv) = &file.deletion_vector {
        let deleted = read_deletion_vector(location, &loaded.root, file, dv).await?;
        builder = builder.with_row_selection(live_row_selection(rows, &deleted));
        live_rows = rows.saturating_sub(deleted.len());
    }
    let decoded_bytes = match u64::try_from(decoded) {
        Ok(bytes) if bytes > 0 => bytes * live_rows / rows.max(1),
        _ => file.bytes * DECODED_PER_COMPRESSED,
    };
    Ok(OpenedFile { builder, live_rows, decoded_bytes })
}

/// The Hilbert key and bbox of every live row of one file (pass 1).
struct FileKeys {
    keys: Vec<u64>,
    bboxes: Vec<Option<[f64; 4]>>,
}

/// What the log says of each live file, by its log path: the `remove` action that retires it and
/// its typed partition values (what the writer needs).
type LogFiles = HashMap<String, (Remove, indexmap::IndexMap<String, delta_kernel::expressions::Scalar>)>;

fn log_files(snapshot: &deltalake::table::state::DeltaTableState) -> LogFiles {
    let mut log_files = HashMap::new();
    for file in snapshot.log_data().iter() {
        let values: indexmap::IndexMap<String, _> = match file.partition_values() {
            Some(values) => values
                .fields()
                .iter()
                .zip(values.values())
                .map(|(field, value)| (field.name().to_string(), value.clone()))
                .collect(),
            None => indexmap::IndexMap::new(),
        };
        let remove: Remove = file.remove_action(false);
        log_files.insert(file.path().to_string(), (remove, values));
    }
    log_files
}

/// Spatial order: read each partition's rows, sort by the Hilbert key of their bbox centre, write
/// files of about the target size and commit them with the removal of the old ones.
async fn spatial_rewrite(
    location: &str,
    loaded: &Loaded,
    partitions: &[(PartitionFiles, Vec<Vec<usize>>)],
    geometry: Option<&str>,
    request: &CompactionRequest,
    report: &mut CompactionReport,
    ctx: &JobContext,
) -> Result<Committed, JobError> {
    let snapshot = loaded.table.snapshot().map_err(|e| LakeError::delta(location, "read the snapshot", e))?;
    let geo = first_geo_metadata(loaded, partitions).await;
    let column = match geometry {
        Some(column) => column.to_string(),
        None => geo
            .as_deref()
            .and_then(|geo| serde_json::from_str::<Value>(geo).ok())
            .and_then(|geo| geo.get("primary_column").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "geometry".to_string()),
    };
    let schema = snapshot.schema();
    if !schema.fields().any(|field| field.name() == &column) {
        let known: Vec<String> = schema.fields().map(|f| f.name().to_string()).collect();
        return Err(JobError::Invalid(format!(
            "{location} has no geometry column {column:?} to order by (columns: {}); name it with --geometry",
            known.join(", ")
        )));
    }
    let log_files = log_files(&snapshot);
    let total_files: u64 = partitions.iter().map(|(group, _)| group.files.len() as u64).sum();
    let mut done = 0u64;
    let mut actions: Vec<Action> = Vec::new();
    for (group, bins) in partitions {
        let Some(bin) = bins.first() else { continue };
        let files: Vec<&LiveFile> = bin.iter().map(|&i| &group.files[i]).collect();
        // Pass 1: the geometry column only; bboxes and keys once.
        let mut per_file: Vec<FileKeys> = Vec::with_capacity(files.len());
        let mut decoded_bytes = 0u64;
        let mut compressed_bytes = 0u64;
        let mut live_rows = 0u64;
        for file in &files {
            ctx.cancel.check()?;
            let opened = open_file(location, loaded, file).await?;
            decoded_bytes += opened.decoded_bytes;
            compressed_bytes += file.bytes;
            live_rows += opened.live_rows;
            let roots = opened.builder.parquet_schema().root_schema().get_fields().to_vec();
            let Some(position) = roots.iter().position(|field| field.name() == column) else {
                return Err(JobError::Invalid(format!("{} has no column {column:?}", file.shown.display())));
            };
            let mask = ProjectionMask::roots(opened.builder.parquet_schema(), [position]);
            let read_error = |source| LakeError::ParquetRead { table: location.to_string(), file: file.shown.clone(), source };
            let mut stream = opened.builder.with_projection(mask).build().map_err(read_error)?;
            let mut bboxes = Vec::new();
            while let Some(batch) = stream.try_next().await.map_err(read_error)? {
                let array = batch.column(0).clone();
                bboxes.extend(ctx.cpu(move || spatial_order::row_bboxes(array.as_ref())).await?);
            }
            per_file.push(FileKeys { keys: Vec::new(), bboxes });
            done += 1;
            ctx.progress.report(done, total_files * 2, format!("read geometries of {done} of {total_files} files"));
        }
        let centres: Vec<Option<(f64, f64)>> = per_file
            .iter()
            .flat_map(|f| f.bboxes.iter())
            .map(|b| b.map(spatial_order::centre))
            .collect();
        let extent = spatial_order::extent_of(&centres).unwrap_or([0.0, 0.0, 1.0, 1.0]);
        let mut offset = 0;
        for file_keys in &mut per_file {
            let n = file_keys.bboxes.len();
            file_keys.keys = spatial_order::keys(&centres[offset..offset + n], extent);
            offset += n;
        }
        drop(centres);
        // Buckets of keys (quantiles) whose decoded rows each fit in the memory bound; a bucket is
        // held twice while it is reordered (the rows and their sorted copy).
        let buckets = (decoded_bytes * SORT_COPIES).div_ceil(request.max_sort_memory_bytes.max(1)).max(1);
        let mut sorted_keys: Vec<u64> = per_file.iter().flat_map(|f| f.keys.iter().copied()).collect();
        sorted_keys.sort_unstable();
        let mut bounds: Vec<u64> = (1..buckets)
            .filter_map(|b| sorted_keys.get((sorted_keys.len() as u64 * b / buckets) as usize).copied())
            .collect();
        bounds.dedup();
        drop(sorted_keys);
        if bounds.len() as u64 + 1 > 1 {
            report.notes.push(format!(
                "partition {:?}: sorted in {} key ranges to stay within {} bytes of memory",
                group.partition,
                bounds.len() + 1,
                request.max_sort_memory_bytes
            ));
        }
        let bytes_per_row = compressed_bytes as f64 / live_rows.max(1) as f64;
        let rows_per_file = ((request.target_file_bytes as f64 / bytes_per_row.max(1.0)) as u64).max(1);
        let partition_map = log_files
            .get(&files[0].log_path)
            .map(|(_, values)| values.clone())
            .ok_or_else(|| JobError::Invalid(format!("{} is not in the table's log", files[0].log_path)))?;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut low = 0u64;
        for &bound in &bounds {
            ranges.push((low, bound));
            low = bound;
        }
        ranges.push((low, u64::MAX));
        for (range_index, &(low, high)) in ranges.iter().enumerate() {
            let last = range_index + 1 == ranges.len();
            let in_range = |key: u64| key >= low && (key < high || (last && key == u64::MAX));
            // Pass 2: this range's rows of every file.
            let mut batches: Vec<RecordBatch> = Vec::new();
            let mut keys: Vec<u64> = Vec::new();
            let mut bboxes: Vec<Option<[f64; 4]>> = Vec::new();
            for (file, file_keys) in files.iter().zip(&per_file) {
                ctx.cancel.check()?;
                if !file_keys.keys.iter().any(|&k| in_range(k)) {
                    continue;
                }
                let opened = open_file(location, loaded, file).await?;
                let read_error = |source| LakeError::ParquetRead { table: location.to_string(), file: file.shown.clone(), source };
                let mut stream = opened.builder.build().map_err(read_error)?;
                let mut row = 0usize;
                while let Some(batch) = stream.try_next().await.map_err(read_error)? {
                    let n = batch.num_rows();
                    let slice = &file_keys.keys[row..(row + n).min(file_keys.keys.len())];
                    let keep: BooleanArray = slice.iter().map(|&k| Some(in_range(k))).collect();
                    for (i, &k) in slice.iter().enumerate() {
                        if in_range(k) {
                            keys.push(k);
                            bboxes.push(file_keys.bboxes[row + i]);
                        }
                    }
                    let kept = arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| arrow_failed(location, e))?;
                    if kept.num_rows() > 0 {
                        batches.push(kept);
                    }
                    row += n;
                }
            }
            let Some(first) = batches.first() else { continue };
            let schema = first.schema();
            let all = arrow::compute::concat_batches(&schema, &batches).map_err(|e| arrow_failed(location, e))?;
            drop(batches);
            let (sorted, sorted_bboxes) = ctx
                .cpu(move || -> Result<(RecordBatch, Vec<Option<[f64; 4]>>), arrow::error::ArrowError> {
                    let order = spatial_order::order_by_keys(&keys);
                    let indices = UInt32Array::from(order.clone());
                    let columns = all
                        .columns()
                        .iter()
                        .map(|column| arrow::compute::take(column.as_ref(), &indices, None))
                        .collect::<Result<Vec<_>, _>>()?;
                    let bboxes = order.iter().map(|&i| bboxes[i as usize]).collect();
                    Ok((RecordBatch::try_new(all.schema(), columns)?, bboxes))
                })
                .await?
                .map_err(|e| arrow_failed(location, e))?;
            // Write files of ~target size, each with row groups covering compact areas.
            let mut start = 0usize;
            while start < sorted.num_rows() {
                ctx.cancel.check()?;
                let len = (rows_per_file as usize).min(sorted.num_rows() - start);
                let chunk = sorted.slice(start, len);
                let chunk_bbox = sorted_bboxes[start..start + len].iter().flatten().fold(None, |acc, b| Some(union_bbox(acc, *b)));
                let row_group_rows = (len as u64).div_ceil(ROW_GROUPS_PER_FILE).max(1) as usize;
                let writer = RecordBatchWriter::for_table(&loaded.table).map_err(|e| LakeError::delta(location, "start writing", e))?;
                let schema = writer.arrow_schema();
                let geo = geo.as_deref().map(|geo| with_bbox(geo, Some(&column), chunk_bbox));
                let properties = writer_properties(&schema, geo, Some(row_group_rows))?;
                let mut writer = writer.with_writer_properties(properties).with_target_file_size(0);
                let chunk = conform(&chunk, &schema, &partition_map).map_err(|e| arrow_failed(location, e))?;
                writer
                    .write_partition(chunk, &partition_map, deltalake::writer::WriteMode::Default)
                    .await
                    .map_err(|e| LakeError::delta(location, "write a spatially ordered file", e))?;
                let adds = writer.flush().await.map_err(|e| LakeError::delta(location, "write a spatially ordered file", e))?;
                for mut add in adds {
                    add.data_change = false;
                    actions.push(Action::Add(add));
                }
                start += len;
            }
        }
        for file in &files {
            let (remove, _) = log_files
                .get(&file.log_path)
                .ok_or_else(|| JobError::Invalid(format!("{} is not in the table's log", file.log_path)))?;
            actions.push(Action::Remove(remove.clone()));
            done += 1;
        }
        ctx.progress.report(done, total_files * 2, format!("wrote partition {:?}", group.partition));
    }
    ctx.cancel.check()?;
    Ok(commit_rewrite(location, loaded, snapshot, actions, request, "commit the spatially ordered files").await?)
}

/// `batch` with the columns of the table's `schema` (partition columns left out) in its order and
/// types: files read back may carry other physical Arrow types (e.g. `Utf8View` after a delta-rs
/// rewrite) than the writer expects.
fn conform<V>(
    batch: &RecordBatch,
    schema: &arrow::datatypes::SchemaRef,
    partition: &indexmap::IndexMap<String, V>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for field in schema.fields().iter().filter(|f| !partition.contains_key(f.name())) {
        let column = batch.column_by_name(field.name()).ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!("the data files have no column {}", field.name()))
        })?;
        let column = if column.data_type() == field.data_type() {
            column.clone()
        } else {
            arrow::compute::cast(column.as_ref(), field.data_type())?
        };
        fields.push(field.clone());
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)
}

fn arrow_failed(location: &str, error: arrow::error::ArrowError) -> LakeError {
    LakeError::delta(location, "reorder rows", deltalake::DeltaTableError::Arrow { source: error })
}

/// Delete log entries older than `request.older_than`, up to a checkpoint, keeping the last
/// `keep_last` versions (a checkpoint is written at the oldest kept version when there is none).
pub async fn expire(location: &str, request: &ExpireRequest, ctx: &JobContext) -> Result<ExpireReport, JobError> {
    let loaded = load(location, &VersionSelector::Latest).await?;
    let log_store = loaded.table.log_store();
    let store = log_store.object_store(None);
    let listing = log_entries(location, &store, &log_store.log_path().clone()).await?;
    let latest = loaded.version;
    let commits: BTreeMap<i64, i64> = listing.commits.clone();
    let mut report = ExpireReport {
        dry_run: request.dry_run,
        format: "delta",
        snapshots_before: commits.len() as u64,
        version: Some(latest),
        ..Default::default()
    };
    let cutoff = chrono::Utc::now() - request.older_than;
    let cutoff_ms = cutoff.timestamp_millis();
    // The oldest version that must stay: the last `keep_last`, and every commit newer than the cutoff.
    let keep_from_count = latest - i64::from(request.keep_last.max(1)) + 1;
    let oldest_recent = commits.iter().filter(|(_, modified)| **modified >= cutoff_ms).map(|(v, _)| *v).min();
    let keep_version = oldest_recent.map_or(keep_from_count, |v| v.min(keep_from_count)).max(0);
    let expirable = |checkpoint: i64| -> Vec<i64> {
        commits.iter().filter(|(v, modified)| **v < checkpoint && **modified <= cutoff_ms).map(|(v, _)| *v).collect()
    };
    // Readers of the oldest kept version start at a checkpoint there (written when missing).
    let checkpoint_version = keep_version;
    let needs_checkpoint = !listing.checkpoints.contains(&keep_version);
    report.expired = expirable(checkpoint_version);
    if report.expired.is_empty() {
        report.snapshots_after = report.snapshots_before;
        report.notes.push(format!(
            "nothing to expire: no commit before version {keep_version} is older than {}",
            super::describe_duration(request.older_than)
        ));
        return Ok(report);
    }
    if needs_checkpoint {
        report.notes.push(format!("a checkpoint at version {checkpoint_version} lets readers start there"));
    }
    if request.dry_run {
        report.snapshots_after = report.snapshots_before - report.expired.len() as u64;
        return Ok(report);
    }
    ctx.cancel.check()?;
    if needs_checkpoint {
        let at = load(location, &VersionSelector::Version(checkpoint_version)).await?;
        deltalake::checkpoints::create_checkpoint(&at.table, None)
            .await
            .map_err(|e| LakeError::delta(location, "write a checkpoint", e))?;
    }
    deltalake::checkpoints::cleanup_expired_logs_for(checkpoint_version as u64, log_store.as_ref(), cutoff_ms, None)
        .await
        .map_err(|e| LakeError::delta(location, "delete expired log entries", e))?;
    let after = log_entries(location, &store, &log_store.log_path().clone()).await?;
    report.expired = commits.keys().copied().filter(|v| !after.commits.contains_key(v)).collect();
    report.snapshots_after = after.commits.len() as u64;
    report.files_deleted = (listing.all.len() - after.all.len().min(listing.all.len())) as u64;
    report.bytes_deleted = listing
        .all
        .iter()
        .filter(|(path, _)| !after.all.contains_key(*path))
        .map(|(_, size)| *size)
        .sum();
    // The table must still load at its latest version.
    load(location, &VersionSelector::Latest).await?;
    Ok(report)
}

/// Write a checkpoint at the latest version through delta-rs (it also updates `_last_checkpoint`);
/// a version that has one already is left alone.
pub async fn checkpoint(location: &str, ctx: &JobContext) -> Result<CheckpointReport, JobError> {
    let loaded = load(location, &VersionSelector::Latest).await?;
    let log_store = loaded.table.log_store();
    let store = log_store.object_store(None);
    let log_path = log_store.log_path().clone();
    let before = log_entries(location, &store, &log_path).await?;
    let version = loaded.version;
    let replayed = |listing: &LogEntries| {
        let last = listing.checkpoints.iter().copied().filter(|&v| v <= version).max();
        listing.commits.keys().filter(|&&v| v <= version && last.is_none_or(|c| v > c)).count() as u64
    };
    let already_existed = before.checkpoints.contains(&version);
    if !already_existed {
        ctx.cancel.check()?;
        ctx.progress.report(0, 1, format!("writing a checkpoint at version {version}"));
        deltalake::checkpoints::create_checkpoint(&loaded.table, None)
            .await
            .map_err(|e| LakeError::delta(location, "write a checkpoint", e))?;
    }
    let after = log_entries(location, &store, &log_path).await?;
    let prefix = format!("{version:020}.checkpoint");
    let mut files: Vec<(String, u64)> = after
        .all
        .iter()
        .filter(|(path, _)| path.rsplit('/').next().is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".parquet")))
        .map(|(path, bytes)| (path.clone(), *bytes))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LakeError::CorruptDeltaLog {
            location: location.to_string(),
            file: "_delta_log".into(),
            reason: format!("no checkpoint file for version {version} after writing it"),
        }
        .into());
    }
    Ok(CheckpointReport {
        format: "delta",
        version,
        bytes: files.iter().map(|(_, bytes)| bytes).sum(),
        files: files.into_iter().map(|(path, _)| path).collect(),
        already_existed,
        commits_to_replay_before: replayed(&before),
        commits_to_replay_after: replayed(&after),
    })
}

/// The `_delta_log` listing: commits (version → modified, ms), checkpoint versions, all files with sizes.
struct LogEntries {
    commits: BTreeMap<i64, i64>,
    checkpoints: Vec<i64>,
    all: HashMap<String, u64>,
}

async fn log_entries(
    location: &str,
    store: &Arc<dyn object_store::ObjectStore>,
    log_path: &deltalake::Path,
) -> Result<LogEntries, LakeError> {
    let entries: Vec<deltalake::ObjectMeta> = store
        .list(Some(log_path))
        .try_collect()
        .await
        .map_err(|e| LakeError::delta(location, "list the log", deltalake::DeltaTableError::ObjectStore { source: e }))?;
    let mut listing = LogEntries { commits: BTreeMap::new(), checkpoints: Vec::new(), all: HashMap::new() };
    for meta in entries {
        let Some(name) = meta.location.filename() else { continue };
        listing.all.insert(meta.location.to_string(), meta.size);
        let Some(version) = name.get(..20).and_then(|digits| digits.parse::<i64>().ok()) else { continue };
        let rest = &name[20..];
        if rest == ".json" {
            listing.commits.insert(version, meta.last_modified.timestamp_millis());
        } else if rest.starts_with(".checkpoint") && rest.ends_with(".parquet") {
            listing.checkpoints.push(version);
        }
    }
    Ok(listing)
}

/// Vacuum through delta-rs (after [`super::check_vacuum`]) in its full mode: data files the current
/// version does not reference and that are older than the retention go — both files removed by
/// commits and files a killed writer left behind without a commit.
pub async fn vacuum(location: &str, request: &VacuumRequest, ctx: &JobContext) -> Result<VacuumReport, JobError> {
    let loaded = load(location, &VersionSelector::Latest).await?;
    let store = loaded.table.object_store();
    let version = loaded.version;
    // What would go, with sizes (a dry run of delta-rs' own vacuum).
    let vacuum = |table: &DeltaTable, dry_run: bool| {
        table
            .clone()
            .vacuum()
            .with_retention_period(request.retention)
            .with_enforce_retention_duration(!request.allow_short_retention)
            .with_mode(VacuumMode::Full)
            .with_dry_run(dry_run)
    };
    let (table, planned) = vacuum(&loaded.table, true)
        .await
        .map_err(|e| LakeError::delta(location, "plan the vacuum", e))?;
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for name in &planned.files_deleted {
        if let Ok(meta) = store.head(&deltalake::Path::from(name.as_str())).await {
            sizes.insert(name.clone(), meta.size);
        }
    }
    let mut report = VacuumReport { dry_run: request.dry_run, format: "delta", version: Some(version), ..Default::default() };
    let files = if request.dry_run || planned.files_deleted.is_empty() {
        planned.files_deleted
    } else {
        ctx.cancel.check()?;
        let (_, done) = vacuum(&table, false)
            .await
            .map_err(|e| LakeError::delta(location, "vacuum", e))?;
        done.files_deleted
    };
    report.files_deleted = files.len() as u64;
    report.bytes_deleted = files.iter().filter_map(|f| sizes.get(f)).sum();
    report.files = files;
    if report.files.is_empty() {
        report.notes.push(format!(
            "nothing to delete: no unreferenced file was removed from the table more than {} ago",
            super::describe_duration(request.retention)
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_consecutive_files_share_bins_up_to_the_target() {
        // 4 + 4 fit in 10; the next 4 starts a new bin; 3 joins it.
        assert_eq!(bin_pack(&[4, 4, 4, 3], 10), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn large_files_are_kept_and_break_runs() {
        // File 1 is above the target: 0 is alone (dropped), 2 + 3 pack.
        assert_eq!(bin_pack(&[2, 20, 3, 3], 10), vec![vec![2, 3]]);
    }

    #[test]
    fn single_file_bins_are_left_alone() {
        assert!(bin_pack(&[8, 8, 8], 10).is_empty());
        assert!(bin_pack(&[], 10).is_empty());
        assert!(bin_pack(&[1], 10).is_empty());
    }

    #[test]
    fn exact_fit_and_many_small_files() {
        assert_eq!(bin_pack(&[5, 5, 5, 5], 10), vec![vec![0, 1], vec![2, 3]]);
        let sizes = vec![1u64; 25];
        let bins = bin_pack(&sizes, 10);
        assert_eq!(bins.len(), 3);
        assert_eq!(bins.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
    }

    #[test]
    fn files_written_estimate_rounds_up() {
        assert_eq!(files_for(0, 10), 0);
        assert_eq!(files_for(10, 10), 1);
        assert_eq!(files_for(11, 10), 2);
    }

    #[test]
    fn merged_geo_unions_bboxes_and_types_and_drops_what_some_input_lacks() {
        let a = r#"{"version":"1.1.0","primary_column":"g","columns":{"g":{"encoding":"WKB","bbox":[0,0,2,2],"geometry_types":["Point"]},"h":{"encoding":"WKB","bbox":[5,5,6,6],"geometry_types":[]}}}"#;
        let b = r#"{"version":"1.1.0","primary_column":"g","columns":{"g":{"encoding":"WKB","bbox":[-1,1,1,3],"geometry_types":["Polygon","Point"]},"h":{"encoding":"WKB","geometry_types":["Point"]}}}"#;
        let merged: Value = serde_json::from_str(&merged_geo(&[Some(a.into()), Some(b.into())]).unwrap()).unwrap();
        assert_eq!(merged["columns"]["g"]["bbox"], serde_json::json!([-1.0, 0.0, 2.0, 3.0]));
        assert_eq!(merged["columns"]["g"]["geometry_types"], serde_json::json!(["Point", "Polygon"]));
        assert!(merged["columns"]["h"].get("bbox").is_none(), "b has no bbox for h");
        assert_eq!(merged["columns"]["h"]["geometry_types"], serde_json::json!([]), "a allows any type");
        assert_eq!(merged["version"], "1.1.0");
        assert!(merged_geo(&[Some(a.into()), None]).is_none(), "an input without geo metadata");
        assert!(merged_geo(&[]).is_none());
    }

    #[test]
    fn geometry_and_float_leaves_are_written_without_dictionary() {
        use arrow::datatypes::{DataType, Field, Fields, Schema};
        let bbox = Fields::from(vec![Field::new("xmin", DataType::Float64, true), Field::new("label", DataType::Utf8, true)]);
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("value", DataType::Float32, true),
            Field::new("geometry", DataType::Binary, true),
            Field::new("bbox", DataType::Struct(bbox), true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let geo = r#"{"primary_column":"geometry","columns":{"geometry":{"encoding":"WKB"}}}"#.to_string();
        let properties = writer_properties(&schema, Some(geo), Some(1000)).unwrap();
        let dictionary = |path: &[&str]| {
            properties.dictionary_enabled(&parquet::schema::types::ColumnPath::new(path.iter().map(|p| p.to_string()).collect()))
        };
        assert!(dictionary(&["id"]) && dictionary(&["name"]) && dictionary(&["bbox", "label"]));
        assert!(!dictionary(&["value"]) && !dictionary(&["geometry"]) && !dictionary(&["bbox", "xmin"]));
        assert_eq!(properties.max_row_group_row_count(), Some(1000));
        assert!(properties.key_value_metadata().is_some_and(|kv| kv[0].key == GEO_METADATA_KEY));
    }

    #[test]
    fn geo_bbox_is_replaced_for_the_column_and_dropped_elsewhere() {
        let geo = r#"{"primary_column":"g","columns":{"g":{"encoding":"WKB","bbox":[0,0,9,9]},"h":{"encoding":"WKB","bbox":[1,1,2,2]}}}"#;
        let updated: Value = serde_json::from_str(&with_bbox(geo, Some("g"), Some([1.0, 2.0, 3.0, 4.0]))).unwrap();
        assert_eq!(updated["columns"]["g"]["bbox"], serde_json::json!([1.0, 2.0, 3.0, 4.0]));
        assert!(updated["columns"]["h"].get("bbox").is_none());
        let dropped: Value = serde_json::from_str(&without_bboxes(geo)).unwrap();
        assert!(dropped["columns"]["g"].get("bbox").is_none());
        assert_eq!(dropped["columns"]["g"]["encoding"], "WKB");
    }
}
