//! Delta inspection against the delta-rs test tables and against tables the Python `deltalake`
//! package writes: every fixture table either opens with the figures an independent reader (Python
//! `deltalake`) gives, or is refused with a specific error.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshlake::engine::lake::LakeError;
use meshlake::engine::lake::delta;
use meshlake::engine::lake::inspect::{PageRequest, SmallFilePolicy, VersionSelector};
use serde_json::Value;

/// What Python `deltalake` says about each table (version, live file count) or its error.
const PY_READ_TABLES: &str = r#"
import json, os, sys
from deltalake import DeltaTable
out = {}
for p in sys.argv[1:]:
    try:
        t = DeltaTable(p)
        out[p] = {"version": t.version(), "files": len(t.file_uris())}
    except Exception as e:
        out[p] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out), flush=True)
os._exit(0)  # deltalake's runtime threads can abort a normal interpreter exit
"#;

/// Every folder holding a `_delta_log` under `dir`, and the top-level folders holding none.
fn find_tables(dir: &Path, tables: &mut Vec<PathBuf>, not_tables: &mut Vec<PathBuf>, top: bool) {
    if dir.join("_delta_log").is_dir() {
        tables.push(dir.to_path_buf());
        return;
    }
    let before = tables.len();
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    children.sort();
    for child in children {
        find_tables(&child, tables, not_tables, false);
    }
    if !top && tables.len() == before {
        not_tables.push(dir.to_path_buf());
    }
}

/// Whether an error is one of the specific, actionable refusals (not a crash or a generic failure).
fn is_specific_refusal(error: &LakeError) -> bool {
    matches!(
        error,
        LakeError::UnsupportedFeature { .. }
            | LakeError::VersionOutOfRange { .. }
            | LakeError::CorruptDeltaLog { .. }
            | LakeError::Delta { .. }
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delta_rs_fixture_table_opens_or_is_refused_clearly() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let Some(python) = common::python() else {
        return;
    };
    let root = fixtures.join("delta-rs/tables");
    let summary = std::fs::read_to_string(fixtures.join("delta-rs/TABLES-SUMMARY.txt")).unwrap();
    let mut tables = Vec::new();
    let mut not_tables = Vec::new();
    find_tables(&root, &mut tables, &mut not_tables, true);
    assert!(
        tables.len() >= 40,
        "found only {} tables under {}",
        tables.len(),
        root.display()
    );

    let args: Vec<String> = tables.iter().map(|p| p.display().to_string()).collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let peer: BTreeMap<String, Value> =
        serde_json::from_str(common::run_python(&python, PY_READ_TABLES, &arg_refs).trim())
            .unwrap();

    let policy = SmallFilePolicy::default();
    let (mut opened, mut refused) = (0, 0);
    for table in &tables {
        let location = table.display().to_string();
        let name = table.strip_prefix(&root).unwrap().display().to_string();
        let peer_reading = &peer[&location];
        match delta::info(&location, &VersionSelector::Latest, &policy).await {
            Ok(info) => {
                opened += 1;
                let peer_version = peer_reading.get("version").and_then(Value::as_i64);
                let peer_files = peer_reading.get("files").and_then(Value::as_u64);
                assert!(
                    peer_version.is_some(),
                    "{name}: we open it but Python deltalake does not: {peer_reading}"
                );
                assert_eq!(info.version, peer_version, "{name}: version");
                assert_eq!(Some(info.num_files), peer_files, "{name}: live files");
                // The summary's version range ends at the latest version when it lists one.
                let line = summary.lines().find(|l| l.starts_with(&format!("{name}:")));
                if let Some(range) = line
                    .and_then(|l| l.split("versions=").nth(1))
                    .and_then(|r| r.split(' ').next())
                    && let Some((_, last)) = range.split_once("..")
                    && let Ok(last) = last.parse::<i64>()
                {
                    assert!(
                        info.version >= Some(last),
                        "{name}: version {:?} < summary {last}",
                        info.version
                    );
                }
                let files = delta::files(&location, &VersionSelector::Latest)
                    .await
                    .unwrap();
                assert_eq!(
                    files.files.len() as u64,
                    info.num_files,
                    "{name}: files vs info"
                );
                let history = delta::history(&location).await.unwrap();
                let page = delta::head(
                    &location,
                    &VersionSelector::Latest,
                    &PageRequest {
                        offset: 0,
                        limit: 5,
                        columns: vec![],
                        ..Default::default()
                    },
                )
                .await;
                let head_note = match &page {
                    Ok(page) => format!("head {} rows", page.rows.len()),
                    Err(
                        error @ (LakeError::UnsupportedFeature { .. }
                        | LakeError::MissingDataFile { .. }),
                    ) => format!("head refused: {error}"),
                    Err(error) => panic!("{name}: head failed: {error}"),
                };
                if let Ok(page) = &page {
                    let expected = info.num_rows.map(|rows| rows.min(5) as usize);
                    if let Some(expected) = expected {
                        assert_eq!(page.rows.len(), expected, "{name}: head rows");
                    }
                }
                println!(
                    "OPEN    {name}: version {:?}, {} files, rows {:?}, {} bytes, {} commits in log, {head_note}{}",
                    info.version,
                    info.num_files,
                    info.num_rows,
                    info.total_bytes,
                    history.versions.len(),
                    if info.warnings.is_empty() {
                        String::new()
                    } else {
                        format!(", warnings: {:?}", info.warnings)
                    }
                );
            }
            Err(error) => {
                refused += 1;
                assert!(
                    is_specific_refusal(&error),
                    "{name}: unclear error: {error:?}"
                );
                println!("REFUSED {name}: {error} (python deltalake: {peer_reading})");
            }
        }
    }
    for dir in &not_tables {
        let error = delta::info(
            &dir.display().to_string(),
            &VersionSelector::Latest,
            &policy,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, LakeError::NotADeltaTable { .. }),
            "{error:?}"
        );
        println!(
            "NOTABLE {}: {error}",
            dir.strip_prefix(&root).unwrap().display()
        );
    }
    println!(
        "{} tables: {opened} open, {refused} refused; {} folders without a log",
        tables.len(),
        not_tables.len()
    );
}

/// The live files of short logs replayed from their JSON commits (`delta::files` takes this path
/// for logs of up to 100 commits without a checkpoint) equal delta-rs's snapshot at every version
/// of every fixture table: paths, partition values, sizes, rows (deletion vectors subtracted) and
/// bboxes from the statistics.
#[tokio::test(flavor = "multi_thread")]
async fn short_log_replay_gives_the_files_delta_rs_gives() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let root = fixtures.join("delta-rs/tables");
    let mut tables = Vec::new();
    find_tables(&root, &mut tables, &mut Vec::new(), true);
    let (mut replayed_versions, mut replayed_tables, mut declined) = (0, 0, 0);
    for table in &tables {
        let location = table.display().to_string();
        let name = table.strip_prefix(&root).unwrap().display().to_string();
        let Ok(history) = delta::history(&location).await else {
            continue;
        };
        let mut replayed_here = false;
        for entry in &history.versions {
            let at = VersionSelector::Version(entry.version);
            let replayed = match delta::files_replayed(&location, &at).await {
                Ok(Some(files)) => files,
                Ok(None) => {
                    declined += 1;
                    continue;
                }
                // The version cannot be resolved (e.g. unknown reader features): nothing replayed.
                Err(_) => continue,
            };
            let reference = delta::files_from_delta_rs(&location, &at)
                .await
                .unwrap_or_else(|e| panic!("{name} v{}: replayed, but delta-rs fails: {e}", entry.version));
            assert_eq!(replayed, reference, "{name} v{}", entry.version);
            replayed_versions += 1;
            replayed_here = true;
        }
        replayed_tables += usize::from(replayed_here);
    }
    println!("{replayed_versions} versions of {replayed_tables} tables replayed equal delta-rs; {declined} versions declined (checkpoint or long log)");
    assert!(replayed_tables >= 25, "only {replayed_tables} tables replayed");
}

/// Write a table with Python `deltalake` (append, append, overwrite) and print, per version, the
/// sorted ids `DeltaTable(p, version=v)` reads, as JSON `{"0": [...], ...}`.
const PY_WRITE_THREE_VERSIONS: &str = r#"
import json, os, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
p = sys.argv[1]
def batch(ids):
    return pa.table({"id": pa.array(ids, pa.int64()), "name": pa.array([f"n{i}" for i in ids], pa.string())})
write_deltalake(p, batch([1, 2, 3]), mode="append")
write_deltalake(p, batch([4, 5]), mode="append")
write_deltalake(p, batch([10, 11, 12, 13]), mode="overwrite")
out = {}
for v in range(3):
    t = DeltaTable(p, version=v).to_pyarrow_table()
    out[str(v)] = sorted(t.column("id").to_pylist())
out["operations"] = [h.get("operation") for h in reversed(DeltaTable(p).history())]
print(json.dumps(out), flush=True)
os._exit(0)  # deltalake's runtime threads can abort a normal interpreter exit
"#;

#[tokio::test(flavor = "multi_thread")]
async fn python_written_versions_read_back_the_same() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("py_table").display().to_string();
    let peer: Value = serde_json::from_str(
        common::run_python(&python, PY_WRITE_THREE_VERSIONS, &[&location]).trim(),
    )
    .unwrap();

    let history = delta::history(&location).await.unwrap();
    let ours: Vec<&str> = history
        .versions
        .iter()
        .map(|e| e.operation.as_str())
        .collect();
    let theirs: Vec<&str> = peer["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(
        history
            .versions
            .iter()
            .map(|e| e.files_added)
            .collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
    assert_eq!(history.versions[2].files_removed, 2);
    assert_eq!(history.versions[2].rows_added, Some(4));

    for version in 0..3i64 {
        let at = VersionSelector::Version(version);
        let page = delta::head(
            &location,
            &at,
            &PageRequest {
                offset: 0,
                limit: 100,
                columns: vec!["id".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut ids: Vec<i64> = page
            .rows
            .iter()
            .map(|row| row[0].as_i64().unwrap())
            .collect();
        ids.sort();
        let expected: Vec<i64> = peer[version.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(ids, expected, "version {version}");
        let info = delta::info(&location, &at, &SmallFilePolicy::default())
            .await
            .unwrap();
        assert_eq!(
            info.num_rows,
            Some(expected.len() as u64),
            "version {version}"
        );
        println!(
            "version {version}: {} ({} rows, {} files)",
            history.versions[version as usize].operation,
            ids.len(),
            info.num_files
        );
    }
}

/// Sorted string renderings of one column of a fixture table, as Python `deltalake` reads it
/// (timestamps as ISO 8601 in UTC).
const PY_COLUMN_VALUES: &str = r#"
import json, os, sys, datetime
from deltalake import DeltaTable
import pyarrow as pa, pyarrow.parquet as pq
dt = DeltaTable(sys.argv[1])
try:
    t = dt.to_pyarrow_table(columns=[sys.argv[2]])
except Exception:
    # Dates outside the nanosecond range (INT96): read the live files at Delta's microsecond precision.
    t = pa.concat_tables(pq.read_table(f.removeprefix("file://"), columns=[sys.argv[2]], coerce_int96_timestamp_unit="us") for f in dt.file_uris())
def show(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return None if v is None else str(v)
print(json.dumps(sorted(show(v) for v in t.column(0).to_pylist())), flush=True)
os._exit(0)  # deltalake's runtime threads can abort a normal interpreter exit
"#;

/// Column mapping (partition values keyed by physical name) and INT96 timestamps outside the
/// nanosecond range read the same as Python `deltalake` reads them.
#[tokio::test(flavor = "multi_thread")]
async fn mapped_partitions_and_edge_timestamps_match_python() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let Some(python) = common::python() else {
        return;
    };
    let tables = fixtures.join("delta-rs/tables");
    for (table, column) in [
        ("table_with_column_mapping", "Company Very Short"),
        ("table_with_edge_timestamps", "BIG_DATE"),
        ("table_with_edge_timestamps", "NORMAL_DATE"),
    ] {
        let location = tables.join(table).display().to_string();
        let expected: Vec<String> = serde_json::from_str(
            common::run_python(&python, PY_COLUMN_VALUES, &[&location, column]).trim(),
        )
        .unwrap();
        let page = delta::head(
            &location,
            &VersionSelector::Latest,
            &PageRequest {
                offset: 0,
                limit: 1000,
                columns: vec![column.to_string()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut ours: Vec<String> = page
            .rows
            .iter()
            .map(|row| match &row[0] {
                Value::String(text) => text.trim_end_matches('Z').to_string(),
                other => other.to_string(),
            })
            .collect();
        ours.sort();
        assert_eq!(ours, expected, "{table}.{column}");
        println!("{table}.{column}: {ours:?}");
    }
}

/// Deletion vectors are applied: the Spark-written `table-with-dv-small` (values 0..9, `DELETE ... IN (0, 9)`)
/// reads as 1..8; every fixture with deletion vectors reads exactly as many rows as `info` counts; a
/// deletion vector whose bytes were damaged is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn deletion_vectors_are_applied_and_damage_is_reported() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let tables = fixtures.join("delta-rs/tables");
    let all = PageRequest { offset: 0, limit: u64::MAX, ..Default::default() };
    let small = tables.join("table-with-dv-small").display().to_string();
    let page = delta::head(&small, &VersionSelector::Latest, &all).await.unwrap();
    let values: Vec<i64> = page.rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(values, (1..=8).collect::<Vec<_>>());
    // Version 0 (before the DELETE) still has all ten.
    let before = delta::head(&small, &VersionSelector::Version(0), &all).await.unwrap();
    assert_eq!(before.rows.len(), 10);
    // Offsets count live rows.
    let offset = PageRequest { offset: 2, limit: 3, ..Default::default() };
    let page = delta::head(&small, &VersionSelector::Latest, &offset).await.unwrap();
    assert_eq!(page.rows.iter().map(|r| r[0].as_i64().unwrap()).collect::<Vec<_>>(), vec![3, 4, 5]);
    // The files say how many rows their deletion vector deletes (spatial jobs warn with it).
    let files = delta::files(&small, &VersionSelector::Latest).await.unwrap();
    assert_eq!(files.files.iter().filter_map(|f| f.deleted_rows()).sum::<u64>(), 2);
    let files = delta::files(&small, &VersionSelector::Version(0)).await.unwrap();
    assert!(files.files.iter().all(|f| f.deleted_rows().is_none()));

    for name in ["table-with-dv-small", "table_with_deletion_logs", "cdf-table-with-cdc-and-dvs"] {
        let location = tables.join(name).display().to_string();
        let info = delta::info(&location, &VersionSelector::Latest, &SmallFilePolicy::default()).await.unwrap();
        let rows = delta::head(&location, &VersionSelector::Latest, &all).await.unwrap().rows.len() as u64;
        assert_eq!(Some(rows), info.num_rows, "{name}: rows read vs numRecords minus deleted");
        let files = delta::files(&location, &VersionSelector::Latest).await.unwrap();
        assert_eq!(files.files.iter().filter_map(|f| f.rows).sum::<u64>(), rows, "{name}: live rows per file");
    }

    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("dv");
    let status = std::process::Command::new("cp").arg("-r").arg(tables.join("table-with-dv-small")).arg(&copy).status().unwrap();
    assert!(status.success());
    let dv_file = copy.join("deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin");
    let mut bytes = std::fs::read(&dv_file).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0xff;
    std::fs::write(&dv_file, bytes).unwrap();
    let error = delta::head(&copy.display().to_string(), &VersionSelector::Latest, &all).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, LakeError::BadDeletionVector { .. }), "{error:?}");
    assert!(text.contains("part-00000-fae5310a") && text.contains("checksum"), "{text}");
    std::fs::remove_file(&dv_file).unwrap();
    let error = delta::head(&copy.display().to_string(), &VersionSelector::Latest, &all).await.unwrap_err();
    assert!(error.to_string().contains("deletion_vector_61d16c75"), "{error}");
}
