//! Iceberg maintenance: compaction committed as a `replace` snapshot, snapshot expiry and orphan-file
//! removal, all committed through [`super::iceberg_commit`] (new metadata file + compare-and-swap).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
#[cfg(test)]
use std::sync::Arc;

use ::iceberg::scan::FileScanTask;
use ::iceberg::spec::{DataContentType, DataFile, DataFileFormat, ManifestEntryRef, PartitionKey, TableMetadata};
use ::iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use ::iceberg::writer::file_writer::ParquetWriterBuilder;
use ::iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use ::iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use ::iceberg::writer::{IcebergWriter as _, IcebergWriterBuilder as _};
use arrow_array_58::cast::AsArray as _;
use arrow_array_58::{Array, RecordBatch};
use arrow_schema_58::DataType;
use futures::TryStreamExt as _;

use super::iceberg_commit::{self as commit, Replace, Swap};
use super::{
    CompactionOrder, CompactionReport, CompactionRequest, ExpireReport, ExpireRequest, PartitionCompaction, VacuumReport,
    VacuumRequest, spatial_order,
};
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::lake::iceberg::{OpenedIcebergTable, page_columns, read_task, render_partition_value, scan_tasks};
use crate::engine::lake::{LakeError, TableRef};

/// One bin of files rewritten together.
struct Bin {
    files: Vec<ManifestEntryRef>,
    bytes: u64,
}

/// The plan for one partition.
struct PartitionPlan {
    spec_id: i32,
    /// A live entry of the partition (its partition tuple is the partition's).
    sample: ManifestEntryRef,
    report: PartitionCompaction,
    bins: Vec<Bin>,
}

fn lake(error: LakeError) -> JobError {
    JobError::Lake(error)
}

/// Partition values of a data file as `name → value` text.
fn partition_values(metadata: &TableMetadata, spec_id: i32, data_file: &DataFile) -> BTreeMap<String, Option<String>> {
    let mut values = BTreeMap::new();
    let Some(spec) = metadata.partition_spec_by_id(spec_id) else { return values };
    let partition_type = spec.partition_type(metadata.current_schema()).ok();
    for (index, (field, value)) in spec.fields().iter().zip(data_file.partition().iter()).enumerate() {
        let field_type = partition_type.as_ref().and_then(|t| t.fields().get(index)).map(|f| f.field_type.as_ref().clone());
        values.insert(field.name.clone(), value.map(|v| render_partition_value(v, field_type.as_ref())));
    }
    values
}

/// Greedy first-fit-decreasing bins of at most `target` bytes over the files below `target`.
fn bin_pack(mut files: Vec<ManifestEntryRef>, target: u64) -> (Vec<Bin>, u64) {
    files.sort_by(|a, b| b.file_size_in_bytes().cmp(&a.file_size_in_bytes()).then_with(|| a.file_path().cmp(b.file_path())));
    let mut bins: Vec<Bin> = Vec::new();
    let mut kept = 0;
    for file in files {
        let size = file.file_size_in_bytes();
        if size >= target {
            kept += 1;
            continue;
        }
        match bins.iter_mut().find(|bin| bin.bytes + size <= target) {
            Some(bin) => {
                bin.bytes += size;
                bin.files.push(file);
            }
            None => bins.push(Bin { files: vec![file], bytes: size }),
        }
    }
    // A bin of one file would rewrite it as it is.
    let (bins, singles): (Vec<Bin>, Vec<Bin>) = bins.into_iter().partition(|bin| bin.files.len() > 1);
    (bins, kept + singles.len() as u64)
}

/// Plan the compaction of `entries` (the live data files of the base snapshot).
fn plan(metadata: &TableMetadata, live: &[(i32, ManifestEntryRef)], request: &CompactionRequest) -> Vec<PartitionPlan> {
    let mut groups: BTreeMap<(i32, String), Vec<ManifestEntryRef>> = BTreeMap::new();
    for (spec_id, entry) in live {
        groups.entry((*spec_id, format!("{:?}", entry.data_file().partition()))).or_default().push(entry.clone());
    }
    let target = request.target_file_bytes;
    let spatial = matches!(request.order, CompactionOrder::Spatial { .. });
    let mut plans = Vec::new();
    for ((spec_id, _), files) in groups {
        let sample = files[0].clone();
        let (bins, kept) = if spatial {
            // Re-sorting rewrites every file of the partition.
            let bytes = files.iter().map(|f| f.file_size_in_bytes()).sum();
            (vec![Bin { files, bytes }], 0)
        } else {
            bin_pack(files, target)
        };
        let mut report = PartitionCompaction {
            partition: partition_values(metadata, spec_id, sample.data_file()),
            files_kept: kept,
            ..Default::default()
        };
        for bin in &bins {
            report.files_rewritten += bin.files.len() as u64;
            report.bytes_rewritten += bin.bytes;
            report.rows_rewritten += bin.files.iter().map(|f| f.record_count()).sum::<u64>();
            report.files_written += bin.bytes.div_ceil(target).max(1);
            report.bytes_written += bin.bytes;
        }
        plans.push(PartitionPlan { spec_id, sample, report, bins });
    }
    plans
}

/// The rows of a table at a snapshot with deletes applied (read through the table's newest
/// metadata: a reference to a file table names one metadata file, which a commit leaves behind).
async fn count_rows_at(table: &TableRef, snapshot_id: i64) -> Result<u64, JobError> {
    let base = commit::load_base(table).await.map_err(lake)?;
    let current = match base.pointer {
        commit::Pointer::File { .. } => TableRef::IcebergFile { metadata_location: base.metadata_file.display().to_string() },
        commit::Pointer::Sql { .. } | commit::Pointer::Rest { .. } => table.clone(),
    };
    crate::engine::lake::iceberg::count_rows(&current, &crate::engine::lake::inspect::VersionSelector::Snapshot(snapshot_id))
        .await
        .map_err(lake)
}

/// The WKB bytes of a binary array's row.
fn wkb_bytes(array: &dyn Array, row: usize) -> Option<&[u8]> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Binary => Some(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Some(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => Some(array.as_binary_view().value(row)),
        _ => None,
    }
}

/// Sort rows along the Hilbert curve of their geometry's bbox centre.
fn spatial_sort(batch: &RecordBatch, geometry: &str) -> Result<RecordBatch, String> {
    let Some(array) = batch.column_by_name(geometry) else {
        return Err(format!("no geometry column {geometry:?}"));
    };
    let centres: Vec<Option<(f64, f64)>> = (0..batch.num_rows())
        .map(|row| wkb_bytes(array.as_ref(), row).and_then(spatial_order::wkb_bbox).map(spatial_order::centre))
        .collect();
    let Some(extent) = spatial_order::extent_of(&centres) else { return Ok(batch.clone()) };
    let order = spatial_order::order_by_keys(&spatial_order::keys(&centres, extent));
    let indices = arrow_array_58::UInt32Array::from(order);
    arrow_select_58::take::take_record_batch(batch, &indices).map_err(|e| e.to_string())
}

/// The geometry column to sort by: the one named, else `geometry`/`geom`, else the first binary column.
fn geometry_column(metadata: &TableMetadata, named: Option<&str>) -> Result<String, JobError> {
    let schema = metadata.current_schema();
    let names: Vec<String> = schema.as_struct().fields().iter().map(|f| f.name.clone()).collect();
    if let Some(name) = named {
        return if names.iter().any(|n| n == name) {
            Ok(name.to_string())
        } else {
            Err(JobError::Invalid(format!("the table has no column {name:?}; its columns are: {}", names.join(", "))))
        };
    }
    for candidate in ["geometry", "geom", "wkb_geometry"] {
        if names.iter().any(|n| n == candidate) {
            return Ok(candidate.to_string());
        }
    }
    schema
        .as_struct()
        .fields()
        .iter()
        .find(|f| matches!(f.field_type.as_ref(), ::iceberg::spec::Type::Primitive(::iceberg::spec::PrimitiveType::Binary)))
        .map(|f| f.name.clone())
        .ok_or_else(|| JobError::Invalid("the table has no binary (WKB) geometry column to order by; name one with --geometry".into()))
}

/// The GeoParquet `geo` key-value metadata of a local data file, if it has one.
fn geo_metadata(opened: &OpenedIcebergTable, recorded_path: &str) -> Option<String> {
    let path = opened.local_path(recorded_path)?;
    let file = std::fs::File::open(path).ok()?;
    let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
    use parquet::file::reader::FileReader as _;
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == "geo")
        .and_then(|kv| kv.value.clone())
}

/// Read the rows of one bin (deletes applied), sorted when asked, and write them as new data files.
async fn rewrite_bin(
    opened: &OpenedIcebergTable,
    tasks: &mut HashMap<String, FileScanTask>,
    part: &PartitionPlan,
    bin: &Bin,
    request: &CompactionRequest,
    geometry: Option<&str>,
    names: &DefaultFileNameGenerator,
    ctx: &JobContext,
) -> Result<(Vec<DataFile>, u64), JobError> {
    let metadata = opened.table.metadata();
    let mut batches = Vec::new();
    for file in &bin.files {
        ctx.cancel.check()?;
        let task = tasks.remove(file.file_path()).ok_or_else(|| {
            JobError::Invalid(format!("data file {} is not in the scan of the snapshot being compacted", file.file_path()))
        })?;
        let mut stream = read_task(opened, task).map_err(lake)?;
        while let Some(batch) = stream.try_next().await.map_err(|e| lake(opened.data_file_error(file.file_path(), e)))? {
            batches.push(batch);
        }
    }
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    // GeoParquet `geo` metadata: kept from the inputs, or declared for the sorted geometry column
    // (WKB, CRS unknown). A spatially sorted rewrite gets each file's own bbox; a plain one the
    // union of its inputs' bboxes (a bbox may be larger than its geometries, never smaller).
    let input_geo: Vec<Option<serde_json::Value>> = bin
        .files
        .iter()
        .map(|f| geo_metadata(opened, f.file_path()).and_then(|text| serde_json::from_str(&text).ok()))
        .collect();
    let geo = input_geo.first().cloned().flatten().or_else(|| {
        geometry.map(|column| {
            serde_json::json!({
                "version": "1.1.0",
                "primary_column": column,
                "columns": {column: {"encoding": "WKB", "geometry_types": [], "crs": null}},
            })
        })
    });
    let chunks: Vec<RecordBatch> = match geometry {
        Some(geometry) => {
            let Some(first) = batches.first() else { return Ok((Vec::new(), 0)) };
            let schema = first.schema();
            let joined = arrow_select_58::concat::concat_batches(&schema, &batches)
                .map_err(|source| lake(LakeError::ArrowIceberg { table: opened.name.clone(), source }))?;
            let geometry = geometry.to_string();
            let sorted = ctx
                .cpu(move || spatial_sort(&joined, &geometry))
                .await?
                .map_err(|e| JobError::Invalid(format!("spatial order of {}: {e}", opened.name)))?;
            // Files of about the target size: rows per file estimated from the inputs' bytes per row.
            let bytes_per_row = (bin.bytes as f64 / rows.max(1) as f64).max(1.0);
            let per_file = ((request.target_file_bytes as f64 / bytes_per_row) as usize).max(1);
            (0..sorted.num_rows()).step_by(per_file).map(|offset| sorted.slice(offset, per_file.min(sorted.num_rows() - offset))).collect()
        }
        None => batches,
    };
    let union_geo = match (&geo, geometry) {
        (Some(template), None) => Some(super::merged_geo_metadata(template, &input_geo)),
        _ => None,
    };
    let schema = metadata.current_schema().clone();
    let error = |action: &'static str| move |e: ::iceberg::Error| lake(LakeError::iceberg(opened.name.clone(), action, e));
    let spec = metadata.partition_spec_by_id(part.spec_id).map(|s| s.as_ref().clone());
    let key = spec
        .filter(|spec| !spec.is_unpartitioned())
        .map(|spec| PartitionKey::new(spec, schema.clone(), part.sample.data_file().partition().clone()));
    let location = DefaultLocationGenerator::new(metadata).map_err(error("place new data files"))?;
    let writer_for = |geo: Option<String>, target: usize| {
        let mut props = parquet_58::file::properties::WriterProperties::builder()
            .set_compression(parquet_58::basic::Compression::ZSTD(Default::default()));
        if let Some(geo) = geo {
            props = props.set_key_value_metadata(Some(vec![parquet_58::file::metadata::KeyValue::new("geo".to_string(), geo)]));
        }
        DataFileWriterBuilder::new(RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(props.build(), schema.clone()),
            target,
            opened.table.file_io().clone(),
            location.clone(),
            names.clone(),
        ))
    };
    let mut files = Vec::new();
    match (geometry, geo) {
        (Some(_), Some(geo)) => {
            for chunk in chunks {
                ctx.cancel.check()?;
                let mut geo = geo.clone();
                if let Some(columns) = geo.get_mut("columns").and_then(|c| c.as_object_mut()) {
                    for (name, column) in columns.iter_mut() {
                        let bbox = chunk.column_by_name(name).and_then(|array| wkb_bbox(array.as_ref()));
                        if let Some(column) = column.as_object_mut() {
                            match bbox {
                                Some(bbox) => column.insert("bbox".to_string(), serde_json::json!(bbox)),
                                None => column.remove("bbox"),
                            };
                        }
                    }
                }
                let mut writer = writer_for(Some(geo.to_string()), usize::MAX).build(key.clone()).await.map_err(error("start a data file"))?;
                writer.write(chunk).await.map_err(error("write a data file"))?;
                files.extend(writer.close().await.map_err(error("finish a data file"))?);
            }
        }
        _ => {
            let target = usize::try_from(request.target_file_bytes).unwrap_or(usize::MAX);
            let mut writer = writer_for(union_geo.map(|g| g.to_string()), target).build(key).await.map_err(error("start a data file"))?;
            for batch in chunks {
                ctx.cancel.check()?;
                writer.write(batch).await.map_err(error("write a data file"))?;
            }
            files.extend(writer.close().await.map_err(error("finish a data file"))?);
        }
    }
    Ok((files, rows))
}

/// The bbox `[xmin, ymin, xmax, ymax]` of a WKB column's geometries (`None` when none has one).
fn wkb_bbox(array: &dyn Array) -> Option<[f64; 4]> {
    (0..array.len())
        .filter_map(|row| wkb_bytes(array, row).and_then(spatial_order::wkb_bbox))
        .fold(None, |bbox, row| Some(crate::engine::geo::wkb::union_bbox(bbox, row)))
}

pub async fn compact(table: &TableRef, request: &CompactionRequest, ctx: &JobContext) -> Result<CompactionReport, JobError> {
    if let CompactionOrder::ZOrder { .. } = request.order {
        return Err(JobError::Invalid(
            "Z-order is for Delta tables; for Iceberg use --spatial or a plain compaction".into(),
        ));
    }
    let base = commit::load_base(table).await.map_err(lake)?;
    let metadata = base.metadata().clone();
    let mut report = CompactionReport {
        dry_run: request.dry_run,
        format: "iceberg",
        order: request.order.describe(),
        target_file_bytes: request.target_file_bytes,
        ..Default::default()
    };
    report.notes.extend(commit::pointer_note(&base));
    let Some(snapshot) = metadata.current_snapshot().cloned() else {
        report.notes.push("the table has no snapshot: nothing to compact".into());
        report.rows_verified = true;
        return Ok(report);
    };
    commit::check_format(&base).map_err(lake)?;
    report.version_before = Some(snapshot.snapshot_id());
    ctx.progress.report(0, 1, "reading manifests");
    let manifests = commit::load_manifests(&base.opened, &snapshot).await.map_err(lake)?;
    let live: Vec<(i32, ManifestEntryRef)> = manifests
        .iter()
        .flat_map(|m| m.entries.iter().map(move |e| (m.file.partition_spec_id, e.clone())))
        .filter(|(_, e)| e.is_alive() && e.content_type() == DataContentType::Data)
        .collect();
    if live.iter().any(|(_, e)| e.file_format() != DataFileFormat::Parquet) {
        return Err(lake(LakeError::MaintenanceUnsupported {
            table: base.name().to_string(),
            what: "data files that are not Parquet (ORC / Avro)".into(),
            advice: "only Parquet data files are rewritten".into(),
        }));
    }
    report.files_before = live.len() as u64;
    report.bytes_before = live.iter().map(|(_, e)| e.file_size_in_bytes()).sum();
    report.rows_before = count_rows_at(table, snapshot.snapshot_id()).await?;
    let plans = plan(&metadata, &live, request);
    let rewritten_files: u64 = plans.iter().map(|p| p.report.files_rewritten).sum();
    let planned_written: u64 = plans.iter().map(|p| p.report.files_written).sum();
    report.bytes_read = plans.iter().map(|p| p.report.bytes_rewritten).sum();
    report.bytes_written = report.bytes_read;
    report.files_after = report.files_before - rewritten_files + planned_written;
    report.bytes_after = report.bytes_before;
    report.rows_after = report.rows_before;
    report.partitions = plans.iter().map(|p| p.report.clone()).collect();
    let geometry = match &request.order {
        CompactionOrder::Spatial { geometry } => Some(geometry_column(&metadata, geometry.as_deref())?),
        _ => None,
    };
    if geometry.is_some()
        && let Some(big) = plans.iter().find(|p| p.report.bytes_rewritten > request.max_sort_memory_bytes)
    {
        return Err(JobError::Invalid(format!(
            "partition {:?} holds {} bytes of data files, more than the sort memory bound ({} bytes); spatial compaction sorts a partition in memory: raise the bound or compact without --spatial",
            big.report.partition, big.report.bytes_rewritten, request.max_sort_memory_bytes
        )));
    }
    if rewritten_files == 0 {
        report.notes.push(if matches!(request.order, CompactionOrder::Spatial { .. }) {
            "nothing to compact: the table has no data files".into()
        } else {
            "nothing to compact: no partition has two or more files below the target size".into()
        });
        report.rows_verified = true;
        return Ok(report);
    }
    if request.dry_run {
        return Ok(report);
    }
    // Rewrite.
    let columns = page_columns(&base.opened, Some(&snapshot), &[]).map_err(lake)?;
    let mut tasks: HashMap<String, FileScanTask> = scan_tasks(&base.opened, &snapshot, &columns)
        .await
        .map_err(lake)?
        .into_iter()
        .map(|mut task| {
            // Rows are read as the current schema (promoted types, added columns as nulls): the
            // new files are written with it.
            task.schema = metadata.current_schema().clone();
            task.project_field_ids = metadata.current_schema().as_struct().fields().iter().map(|f| f.id).collect();
            (task.data_file_path.clone(), task)
        })
        .collect();
    // One name generator for the whole run (its counter is shared by its clones): names never repeat.
    let names = DefaultFileNameGenerator::new(format!("compact-{}", commit::random_uuid_text()), None, DataFileFormat::Parquet);
    let mut added: Vec<(i32, DataFile)> = Vec::new();
    let mut rewritten = HashSet::new();
    let started = std::time::Instant::now();
    let mut done_bytes = 0;
    for (index, part) in plans.iter().enumerate() {
        let mut written = 0u64;
        let mut written_bytes = 0u64;
        for bin in &part.bins {
            let (files, rows) =
                rewrite_bin(&base.opened, &mut tasks, part, bin, request, geometry.as_deref(), &names, ctx).await?;
            let written_rows: u64 = files.iter().map(|f| f.record_count()).sum();
            if written_rows != rows {
                return Err(JobError::Invalid(format!(
                    "the rewrite of {} files of partition {:?} read {rows} rows but wrote {written_rows}; nothing was committed",
                    bin.files.len(),
                    part.report.partition
                )));
            }
            written += files.len() as u64;
            written_bytes += files.iter().map(|f| f.file_size_in_bytes()).sum::<u64>();
            added.extend(files.into_iter().map(|f| (part.spec_id, f)));
            rewritten.extend(bin.files.iter().map(|f| f.file_path().to_string()));
            done_bytes += bin.bytes;
            ctx.progress.report(done_bytes, report.bytes_read.max(1), format!("rewriting partition {}/{}", index + 1, plans.len()));
        }
        report.partitions[index].files_written = written;
        report.partitions[index].bytes_written = written_bytes;
    }
    report.bytes_written = added.iter().map(|(_, f)| f.file_size_in_bytes()).sum();
    // Before committing: every new file is distinct and on disk at the size its metadata records.
    let distinct: HashSet<&str> = added.iter().map(|(_, f)| f.file_path()).collect();
    if distinct.len() != added.len() {
        return Err(JobError::Invalid("the rewrite wrote two data files under the same name; nothing was committed".into()));
    }
    for (_, file) in &added {
        if let Some(local) = base.opened.local_path(file.file_path())
            && std::fs::metadata(&local).map(|m| m.len()).ok() != Some(file.file_size_in_bytes())
        {
            return Err(JobError::Invalid(format!(
                "new data file {} is missing or not the size its writer reported; nothing was committed",
                local.display()
            )));
        }
    }
    let replace = Replace { rewritten, added, deletes_read: commit::live_delete_files(&manifests) };
    // Commit, rebuilding on a new base after a lost swap.
    let mut base = base;
    let mut retries = 0u32;
    let committed = loop {
        let built = commit::build_replace(&base, &replace).await.map_err(lake)?;
        let new_metadata = built.map_err(|reason| {
            lake(LakeError::CommitConflict { table: base.name().to_string(), reason })
        })?;
        ctx.cancel.check()?;
        match commit::swap(&base, &new_metadata).await.map_err(lake)? {
            Swap::Done(_) => break new_metadata.metadata,
            Swap::Lost(reason) => {
                if retries >= commit::MAX_COMMIT_RETRIES {
                    return Err(lake(LakeError::CommitConflict {
                        table: base.name().to_string(),
                        reason: format!("{reason}, and {retries} retries on newer snapshots lost as well"),
                    }));
                }
                retries += 1;
                report.notes.push(format!("a concurrent commit won the swap ({reason}); rebuilt the commit on the new snapshot"));
                base = commit::load_base(table).await.map_err(lake)?;
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64().max(1e-6);
    report.commit_retries = retries;
    let new_snapshot = committed.current_snapshot().map(|s| s.snapshot_id());
    report.version_after = new_snapshot;
    let live_after = {
        let base_after = commit::load_base(table).await.map_err(lake)?;
        let snapshot_after = base_after.metadata().current_snapshot().cloned();
        match snapshot_after {
            Some(s) => commit::load_manifests(&base_after.opened, &s)
                .await
                .map_err(lake)?
                .iter()
                .flat_map(|m| m.entries.iter())
                .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data)
                .map(|e| e.file_size_in_bytes())
                .collect::<Vec<u64>>(),
            None => Vec::new(),
        }
    };
    report.files_after = live_after.len() as u64;
    report.bytes_after = live_after.iter().sum();
    if let Some(id) = new_snapshot {
        report.rows_after = count_rows_at(table, id).await?;
        // A replace keeps the rows of the snapshot it was committed on (after retries, that
        // snapshot has the rows appended concurrently as well).
        let parent = committed.current_snapshot().and_then(|s| s.parent_snapshot_id());
        let expected = match parent {
            Some(parent) if retries > 0 => count_rows_at(table, parent).await?,
            _ => report.rows_before,
        };
        report.rows_verified = report.rows_after == expected;
        if expected != report.rows_before {
            report.notes.push(format!("{} rows were committed concurrently and are kept", expected as i64 - report.rows_before as i64));
        }
    }
    report.notes.push(format!(
        "rewrite throughput {:.1} MB/s (read + written)",
        (report.bytes_read + report.bytes_written) as f64 / 1e6 / elapsed
    ));
    if !report.rows_verified {
        return Err(JobError::Invalid(format!(
            "after the commit the table has {} rows but had {} before; the rewrite is committed as snapshot {:?}: check the table and roll back to snapshot {} if needed",
            report.rows_after, report.rows_before, new_snapshot, snapshot.snapshot_id()
        )));
    }
    Ok(report)
}

/// Everything a set of snapshots reaches: manifest lists, manifests, live data and delete files
/// (recorded paths).
///
/// With `skip_missing`, a snapshot whose manifest list is gone (already cleaned up) is skipped
/// instead of failing: what it reached cannot be listed, and is then not deleted either.
async fn reachable(
    opened: &OpenedIcebergTable,
    metadata: &TableMetadata,
    snapshot_ids: &[i64],
    skip_missing: bool,
) -> Result<HashSet<String>, LakeError> {
    let mut paths = HashSet::new();
    for id in snapshot_ids {
        let Some(snapshot) = metadata.snapshot_by_id(*id) else { continue };
        if skip_missing && opened.local_path(snapshot.manifest_list()).is_some_and(|path| !path.exists()) {
            continue;
        }
        paths.insert(snapshot.manifest_list().to_string());
        let list = crate::engine::lake::iceberg::load_manifest_list(opened, snapshot).await?;
        for file in list.entries() {
            if !paths.insert(file.manifest_path.clone()) {
                continue;
            }
            let manifest = file
                .load_manifest(opened.table.file_io())
                .await
                .map_err(|e| opened.metadata_file_error(&file.manifest_path, "a manifest", e))?;
            for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                paths.insert(entry.file_path().to_string());
            }
        }
    }
    Ok(paths)
}

/// Delete local files (recorded paths), summing what went.
fn delete_files(opened: &OpenedIcebergTable, paths: &BTreeSet<String>, dry_run: bool) -> (u64, u64, Vec<String>) {
    let (mut count, mut bytes, mut failed) = (0, 0, Vec::new());
    for path in paths {
        let Some(local) = opened.local_path(path) else { continue };
        let Ok(meta) = std::fs::metadata(&local) else { continue };
        if dry_run || std::fs::remove_file(&local).is_ok() {
            count += 1;
            bytes += meta.len();
        } else {
            failed.push(local.display().to_string());
        }
    }
    (count, bytes, failed)
}

pub async fn expire(table: &TableRef, request: &ExpireRequest, ctx: &JobContext) -> Result<ExpireReport, JobError> {
    let mut report = ExpireReport { dry_run: request.dry_run, format: "iceberg", ..Default::default() };
    let mut base = commit::load_base(table).await.map_err(lake)?;
    report.notes.extend(commit::pointer_note(&base));
    let mut retries = 0;
    loop {
        commit::check_format(&base).map_err(lake)?;
        let metadata = base.metadata().clone();
        let current = metadata.current_snapshot_id();
        report.version = current;
        let mut snapshots: Vec<_> = metadata.snapshots().cloned().collect();
        snapshots.sort_by_key(|s| std::cmp::Reverse((s.timestamp_ms(), s.sequence_number())));
        report.snapshots_before = snapshots.len() as u64;
        let cutoff = (chrono::Utc::now() - request.older_than).timestamp_millis();
        // Branches and tags (iceberg-rust has no public accessor for all refs: read them from the JSON form).
        let referenced: HashSet<i64> = serde_json::to_value(&metadata)
            .ok()
            .and_then(|json| json.get("refs").and_then(|r| r.as_object()).cloned())
            .map(|refs| refs.values().filter_map(|r| r.get("snapshot-id").and_then(|id| id.as_i64())).collect())
            .unwrap_or_default();
        let keep_last = request.keep_last.max(1) as usize;
        let mut expired = Vec::new();
        let mut kept = Vec::new();
        for (index, snapshot) in snapshots.iter().enumerate() {
            let id = snapshot.snapshot_id();
            let keep = index < keep_last || Some(id) == current || referenced.contains(&id) || snapshot.timestamp_ms() >= cutoff;
            if keep { kept.push(id) } else { expired.push(id) }
        }
        report.expired = expired.clone();
        report.snapshots_after = kept.len() as u64;
        if expired.is_empty() {
            report.notes.push("no snapshot is old enough to expire".into());
            return Ok(report);
        }
        ctx.progress.report(0, 2, "finding files only expired snapshots use");
        let kept_files = reachable(&base.opened, &metadata, &kept, false).await.map_err(lake)?;
        let expired_files = reachable(&base.opened, &metadata, &expired, true).await.map_err(lake)?;
        let mut only_expired: BTreeSet<String> = expired_files.difference(&kept_files).cloned().collect();
        only_expired.extend(
            metadata
                .statistics_iter()
                .filter(|s| expired.contains(&s.snapshot_id))
                .map(|s| s.statistics_path.clone())
                .chain(metadata.partition_statistics_iter().filter(|s| expired.contains(&s.snapshot_id)).map(|s| s.statistics_path.clone())),
        );
        if request.dry_run {
            let (count, bytes, _) = delete_files(&base.opened, &only_expired, true);
            report.files_deleted = count;
            report.bytes_deleted = bytes;
            return Ok(report);
        }
        let mut builder = ::iceberg::spec::TableMetadataBuilder::new_from_metadata(metadata.clone(), Some(base.metadata_location.clone()))
            .remove_snapshots(&expired);
        for id in &expired {
            builder = builder.remove_statistics(*id).remove_partition_statistics(*id);
        }
        let built = builder
            .build()
            .map_err(|e| lake(LakeError::iceberg(base.name().to_string(), "build the new table metadata", e)))?;
        ctx.cancel.check()?;
        match commit::swap(&base, &built).await.map_err(lake)? {
            Swap::Done(_) => {
                let (count, bytes, failed) = delete_files(&base.opened, &only_expired, false);
                report.files_deleted = count;
                report.bytes_deleted = bytes;
                if !failed.is_empty() {
                    report.notes.push(format!("{} files could not be deleted (vacuum removes them later): {}", failed.len(), failed.join(", ")));
                }
                return Ok(report);
            }
            Swap::Lost(reason) => {
                if retries >= commit::MAX_COMMIT_RETRIES {
                    return Err(lake(LakeError::CommitConflict { table: base.name().to_string(), reason }));
                }
                retries += 1;
                report.notes.push(format!("a concurrent commit won the swap ({reason}); expiry was planned again"));
                base = commit::load_base(table).await.map_err(lake)?;
            }
        }
    }
}

/// Every file below `folder`, with its size and modification time.
fn list_files(folder: &Path, out: &mut Vec<(PathBuf, u64, std::time::SystemTime)>) -> Result<(), LakeError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LakeError::io("list", folder, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LakeError::io("list", folder, e))?;
        let meta = entry.metadata().map_err(|e| LakeError::io("inspect", entry.path(), e))?;
        if meta.is_dir() {
            list_files(&entry.path(), out)?;
        } else {
            out.push((entry.path(), meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
        }
    }
    Ok(())
}

pub async fn vacuum(table: &TableRef, request: &VacuumRequest, ctx: &JobContext) -> Result<VacuumReport, JobError> {
    let base = commit::load_base(table).await.map_err(lake)?;
    let opened = &base.opened;
    let metadata = base.metadata();
    let mut report = VacuumReport {
        dry_run: request.dry_run,
        format: "iceberg",
        version: metadata.current_snapshot_id(),
        ..Default::default()
    };
    if !base.metadata_file.is_file() {
        return Err(lake(LakeError::MaintenanceUnsupported {
            table: base.name().to_string(),
            what: format!("orphan-file removal for a table whose metadata is not a local file ({})", base.metadata_location),
            advice: "vacuum lists the table's local data/ and metadata/ folders; run it where the table's files are".into(),
        }));
    }
    let root = base
        .metadata_file
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| JobError::Invalid(format!("{}: the metadata file is not in a metadata/ folder", base.name())))?;
    // Everything any metadata file of the log reaches (with the current one), as local paths.
    let mut referenced: HashSet<PathBuf> = HashSet::new();
    let canonical = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    referenced.insert(canonical(base.metadata_file.clone()));
    referenced.insert(canonical(root.join("metadata").join("version-hint.text")));
    let mut metadata_files: Vec<TableMetadata> = vec![metadata.clone()];
    for log in metadata.metadata_log() {
        if let Some(local) = opened.local_path(&log.metadata_file) {
            referenced.insert(canonical(local.clone()));
            if let Ok(bytes) = std::fs::read(&local)
                && let Ok(old) = serde_json::from_slice::<TableMetadata>(&bytes)
            {
                metadata_files.push(old);
            }
        }
    }
    let mut recorded: HashSet<String> = HashSet::new();
    for (index, old) in metadata_files.iter().enumerate() {
        ctx.cancel.check()?;
        ctx.progress.report(index as u64, metadata_files.len() as u64, "collecting referenced files");
        let ids: Vec<i64> = old.snapshots().map(|s| s.snapshot_id()).filter(|id| {
            // Snapshots of old metadata files whose manifest list is gone were expired: skip them.
            old.snapshot_by_id(*id)
                .and_then(|s| opened.local_path(s.manifest_list()))
                .is_some_and(|p| p.exists())
        }).collect();
        recorded.extend(reachable(opened, old, &ids, false).await.map_err(lake)?);
        recorded.extend(old.statistics_iter().map(|s| s.statistics_path.clone()));
        recorded.extend(old.partition_statistics_iter().map(|s| s.statistics_path.clone()));
    }
    referenced.extend(recorded.iter().filter_map(|p| opened.local_path(p)).map(canonical));
    let mut files = Vec::new();
    list_files(&root.join("data"), &mut files).map_err(lake)?;
    list_files(&root.join("metadata"), &mut files).map_err(lake)?;
    let cutoff = std::time::SystemTime::now()
        .checked_sub(request.retention.to_std().unwrap_or_default())
        .unwrap_or(std::time::UNIX_EPOCH);
    let mut orphans: Vec<(PathBuf, u64)> = files
        .into_iter()
        .filter(|(path, _, modified)| *modified <= cutoff && !referenced.contains(&canonical(path.clone())))
        .map(|(path, size, _)| (path, size))
        .collect();
    orphans.sort();
    for (path, size) in orphans {
        if !request.dry_run {
            ctx.cancel.check()?;
            if let Err(e) = std::fs::remove_file(&path) {
                report.notes.push(format!("could not delete {}: {e}", path.display()));
                continue;
            }
        }
        report.files.push(path.display().to_string());
        report.files_deleted += 1;
        report.bytes_deleted += size;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bboxes_of_the_inputs_are_unioned_and_dropped_when_one_is_unknown() {
        let geo = |bbox: Option<[f64; 4]>| {
            let mut column = serde_json::json!({"encoding": "WKB", "geometry_types": []});
            if let Some(bbox) = bbox {
                column["bbox"] = serde_json::json!(bbox);
            }
            serde_json::json!({"version": "1.1.0", "primary_column": "g", "columns": {"g": column}})
        };
        let inputs = vec![Some(geo(Some([0.0, 0.0, 1.0, 1.0]))), Some(geo(Some([-1.0, 0.5, 0.5, 3.0])))];
        let union = crate::engine::lake::maintain::merged_geo_metadata(&geo(Some([0.0, 0.0, 1.0, 1.0])), &inputs);
        assert_eq!(union["columns"]["g"]["bbox"], serde_json::json!([-1.0, 0.0, 1.0, 3.0]));
        let unknown = crate::engine::lake::maintain::merged_geo_metadata(&geo(Some([0.0, 0.0, 1.0, 1.0])), &[inputs[0].clone(), Some(geo(None))]);
        assert!(unknown["columns"]["g"].get("bbox").is_none());
    }

    #[test]
    fn wkb_bboxes_cover_every_geometry() {
        let points = [(1.0, 2.0), (-3.0, 5.0), (4.0, -1.0)];
        let wkb: Vec<Vec<u8>> = points
            .iter()
            .map(|(x, y)| {
                let mut bytes = vec![1u8, 1, 0, 0, 0];
                bytes.extend_from_slice(&f64::to_le_bytes(*x));
                bytes.extend_from_slice(&f64::to_le_bytes(*y));
                bytes
            })
            .collect();
        let array = arrow_array_58::BinaryArray::from_iter(wkb.iter().map(|b| Some(b.as_slice())).chain([None]));
        assert_eq!(wkb_bbox(&array), Some([-3.0, -1.0, 4.0, 5.0]));
        let schema = Arc::new(arrow_schema_58::Schema::new(vec![arrow_schema_58::Field::new("g", DataType::Binary, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap();
        let sorted = spatial_sort(&batch, "g").unwrap();
        assert_eq!(sorted.num_rows(), 4, "rows are reordered, none lost");
        assert!(sorted.column(0).is_null(3), "null geometries sort last");
    }
}
