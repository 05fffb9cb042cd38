//! Iceberg maintenance against the real pyiceberg peer: pyiceberg writes a partitioned table with a
//! WKB geometry column in a SQLite SQL catalog in many small appends; `meshlake table compact`
//! commits a `replace` snapshot that pyiceberg reads (same rows, totals, time travel, appends on
//! top); dry runs write nothing; a concurrent appender loses nothing; a killed compaction leaves the
//! table as it was and vacuum removes its leftovers; expiry drops old snapshots and their files;
//! a Spark/DuckDB-written table with equality deletes compacts with the deleted rows gone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

const MAKE_TABLE: &str = r#"
import sys, random, pyarrow as pa, shapely
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, LongType, StringType, BinaryType, DoubleType
from pyiceberg.partitioning import PartitionSpec, PartitionField
from pyiceberg.transforms import IdentityTransform
d, batches, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cat = SqlCatalog("default", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}")
cat.create_namespace("ns")
schema = Schema(NestedField(1, "id", LongType(), required=False), NestedField(2, "region", StringType(), required=False),
                NestedField(3, "value", DoubleType(), required=False), NestedField(4, "geometry", BinaryType(), required=False))
spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="region"))
t = cat.create_table("ns.t", schema=schema, partition_spec=spec)
random.seed(7)
n = 0
for b in range(batches):
    ids = list(range(n, n + rows)); n += rows
    xs = [random.uniform(-180, 180) for _ in ids]; ys = [random.uniform(-90, 90) for _ in ids]
    t.append(pa.table({"id": pa.array(ids, pa.int64()), "region": pa.array(["east" if x > 0 else "west" for x in xs]),
                       "value": pa.array(xs, pa.float64()),
                       "geometry": pa.array(list(shapely.to_wkb(shapely.points(xs, ys))), pa.binary())}))
print(n)
"#;

/// Prints JSON: rows, content hash, snapshot summary, file counts; argv: folder [snapshot id].
const READ_TABLE: &str = r#"
import sys, json, hashlib
from pyiceberg.catalog.sql import SqlCatalog
d = sys.argv[1]
cat = SqlCatalog("default", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}")
t = cat.load_table("ns.t")
def digest(a):
    a = a.sort_by("id")
    h = hashlib.sha256()
    for row in zip(*[a.column(c).to_pylist() for c in ["id", "region", "value", "geometry"]]):
        h.update(repr(row).encode())
    return h.hexdigest()
s = t.current_snapshot()
a = t.scan().to_arrow()
out = {"rows": a.num_rows, "hash": digest(a), "operation": s.summary.operation.value,
       "summary": s.summary.additional_properties, "snapshot": s.snapshot_id, "parent": s.parent_snapshot_id,
       "files": len(t.inspect.files()), "files_size": sum(t.inspect.files().column("file_size_in_bytes").to_pylist()),
       "snapshots": len(t.snapshots()), "metadata_location": t.metadata_location}
if len(sys.argv) > 2:
    old = t.scan(snapshot_id=int(sys.argv[2])).to_arrow()
    out["old_rows"] = old.num_rows
    out["old_hash"] = digest(old)
print(json.dumps(out))
"#;

const APPEND: &str = r#"
import sys, pyarrow as pa, shapely
from pyiceberg.catalog.sql import SqlCatalog
d, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cat = SqlCatalog("default", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}")
done = 0
from pyiceberg.exceptions import CommitFailedException
for i in range(count):
    ids = list(range(start + i * 10, start + i * 10 + 10))
    rows = pa.table({"id": pa.array(ids, pa.int64()), "region": pa.array(["east"] * 10), "value": pa.array([1.0] * 10),
                     "geometry": pa.array([shapely.to_wkb(shapely.Point(1, 1))] * 10, pa.binary())})
    for attempt in range(20):
        try:
            cat.load_table("ns.t").append(rows)
            break
        except CommitFailedException:
            continue
    else:
        raise SystemExit("append kept failing")
    done += 10
print(done)
"#;

fn meshlake(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let (data, cache) = (dir.join("app-data"), dir.join("app-cache"));
    common::run_meshlake(args, &[("MESHLAKE_DATA_DIR", &data), ("MESHLAKE_CACHE_DIR", &cache)])
}

fn json_ok(dir: &Path, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = meshlake(dir, args);
    assert!(ok, "meshlake {args:?} failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn make_table(python: &Path, batches: u32, rows: u32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    common::run_python(python, MAKE_TABLE, &[&d, &batches.to_string(), &rows.to_string()]);
    let table = format!("iceberg+sqlite://{}/catalog.db#ns.t", d);
    (dir, table)
}

fn read(python: &Path, dir: &Path, old: Option<i64>) -> Value {
    let d = dir.display().to_string();
    let old = old.map(|id| id.to_string());
    let mut args = vec![d.as_str()];
    if let Some(old) = &old {
        args.push(old);
    }
    serde_json::from_str(common::run_python(python, READ_TABLE, &args).trim()).unwrap()
}

/// Every file under the table folder with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, SystemTime)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    listing(&dir.join("ns/t/data")).into_iter().map(|(p, _, _)| p).collect()
}

fn n(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {value}"))
}

#[test]
fn compaction_commits_a_replace_snapshot_pyiceberg_reads_then_expire_and_vacuum() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 30, 200);
    let before = read(&python, dir.path(), None);
    assert_eq!(n(&before, "rows"), 6000);
    assert_eq!(n(&before, "files"), 60, "30 appends over 2 partitions");

    let report = json_ok(dir.path(), &["table", "compact", &table, "--target-size", "2000000", "--json"]);
    assert_eq!(report["format"], "iceberg");
    assert_eq!(n(&report, "files_before"), 60);
    assert_eq!(n(&report, "files_after"), 2, "{report}");
    assert_eq!(n(&report, "rows_before"), 6000);
    assert_eq!(n(&report, "rows_after"), 6000);
    assert_eq!(report["rows_verified"], true);
    assert_eq!(report["version_before"].as_i64(), before["snapshot"].as_i64());
    assert_ne!(report["version_after"], report["version_before"]);
    assert_eq!(report["partitions"].as_array().unwrap().len(), 2);

    let old_snapshot = before["snapshot"].as_i64().unwrap();
    let after = read(&python, dir.path(), Some(old_snapshot));
    assert_eq!(after["operation"], "replace");
    assert_eq!(after["snapshot"].as_i64(), report["version_after"].as_i64());
    assert_eq!(after["parent"].as_i64(), Some(old_snapshot));
    assert_eq!(n(&after, "rows"), 6000);
    assert_eq!(after["hash"], before["hash"], "same content after compaction");
    assert_eq!(n(&after, "files"), 2);
    assert_eq!(n(&after, "old_rows"), 6000, "time travel to the snapshot before");
    assert_eq!(after["old_hash"], before["hash"]);
    let summary = &after["summary"];
    assert_eq!(summary["total-records"], "6000");
    assert_eq!(summary["total-data-files"], "2");
    assert_eq!(summary["deleted-data-files"], "60");
    assert_eq!(summary["added-data-files"], "2");
    assert_eq!(summary["deleted-records"], "6000");
    assert_eq!(summary["added-records"], "6000");
    assert_eq!(summary["total-files-size"].as_str().unwrap().parse::<u64>().unwrap(), n(&after, "files_size"));
    assert_eq!(n(&report, "bytes_after"), n(&after, "files_size"));

    // pyiceberg appends on top of the compacted table; both read the same.
    let d = dir.path().display().to_string();
    assert_eq!(common::run_python(&python, APPEND, &[&d, "100000", "3"]).trim(), "30");
    let appended = read(&python, dir.path(), None);
    assert_eq!(n(&appended, "rows"), 6030);
    let head = json_ok(dir.path(), &["table", "head", &table, "--limit", "100000", "--json"]);
    assert_eq!(head["rows"].as_array().unwrap().len(), 6030);

    // Expire everything but the current snapshot: old data files go, the current rows stay.
    let old_files: Vec<PathBuf> = data_files(dir.path()).into_iter().filter(|p| !p.to_string_lossy().contains("compact-")).collect();
    assert!(old_files.len() >= 60);
    let expired = json_ok(dir.path(), &["table", "expire", &table, "--older-than", "0s", "--keep-last", "1", "--json"]);
    assert_eq!(n(&expired, "snapshots_after"), 1, "{expired}");
    assert!(n(&expired, "files_deleted") >= 60, "{expired}");
    let gone = old_files.iter().filter(|p| !p.exists()).count();
    assert_eq!(gone, 60, "the 60 rewritten files are gone; the 3 appended ones stay");
    let final_state = read(&python, dir.path(), None);
    assert_eq!(n(&final_state, "rows"), 6030);
    assert_eq!(final_state["hash"], appended["hash"]);
    assert_eq!(n(&final_state, "snapshots"), 1);

    // Nothing is orphaned after expiry.
    let vacuum = json_ok(dir.path(), &["table", "vacuum", &table, "--retention", "0s", "--allow-short-retention", "--dry-run", "--json"]);
    assert_eq!(n(&vacuum, "files_deleted"), 0, "{vacuum}");
}

#[test]
fn dry_runs_write_nothing() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 8, 50);
    let before = listing(dir.path());
    let read_before = read(&python, dir.path(), None);
    let plan = json_ok(dir.path(), &["table", "compact", &table, "--target-size", "2000000", "--dry-run", "--json"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(n(&plan, "files_before"), 16);
    assert_eq!(n(&plan, "files_after"), 2);
    assert!(plan["version_after"].is_null());
    let expire = json_ok(dir.path(), &["table", "expire", &table, "--older-than", "0s", "--keep-last", "1", "--dry-run", "--json"]);
    assert_eq!(expire["expired"].as_array().unwrap().len(), 7);
    let vacuum = json_ok(dir.path(), &["table", "vacuum", &table, "--retention", "0s", "--allow-short-retention", "--dry-run", "--json"]);
    assert_eq!(n(&vacuum, "files_deleted"), 0);
    let after: Vec<_> = listing(dir.path()).into_iter().filter(|(p, _, _)| !p.starts_with(dir.path().join("app-cache")) && !p.starts_with(dir.path().join("app-data"))).collect();
    assert_eq!(after, before, "dry runs changed files");
    let read_after = read(&python, dir.path(), None);
    assert_eq!(read_after["metadata_location"], read_before["metadata_location"]);
    assert_eq!(read_after["snapshots"], read_before["snapshots"]);
}

/// Spawn `meshlake table compact` and wait until it has started writing new data files (its plan
/// is made on the snapshot that was current then).
fn spawn_compaction_and_wait_for_rewrite(dir: &Path, args: &[&str]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(args)
        .env("RUST_LOG", "error")
        .env("MESHLAKE_DATA_DIR", dir.join("app-data"))
        .env("MESHLAKE_CACHE_DIR", dir.join("app-cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !data_files(dir).iter().any(|p| p.to_string_lossy().contains("compact-")) {
        assert!(started.elapsed() < Duration::from_secs(120), "no new data file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

#[test]
fn appends_committed_during_the_rewrite_are_kept_by_a_retry() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 30, 20000);
    let before = read(&python, dir.path(), None);
    let d = dir.path().display().to_string();
    let compaction = spawn_compaction_and_wait_for_rewrite(dir.path(), &["table", "compact", &table, "--target-size", "1048576", "--json"]);
    // A real concurrent writer: pyiceberg appends 5 times while meshlake rewrites.
    assert_eq!(common::run_python(&python, APPEND, &[&d, "1000000", "5"]).trim(), "50");
    let out = compaction.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(n(&report, "commit_retries") >= 1, "the appends committed during the rewrite: {report}");
    assert_eq!(report["rows_verified"], true);
    let after = read(&python, dir.path(), None);
    assert_eq!(after["operation"], "replace");
    assert_eq!(n(&after, "rows"), 600_000 + 50, "nothing lost");
    assert_eq!(after["summary"]["total-records"], "600050");
    let parent = read(&python, dir.path(), after["parent"].as_i64());
    assert_eq!(parent["old_hash"], after["hash"], "the replace kept exactly the rows of the snapshot it was committed on");
    assert_ne!(after["parent"], before["snapshot"], "committed on the appender's snapshot, not the planned one");
}

#[test]
fn rewritten_files_deleted_concurrently_abort_the_commit_cleanly() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 30, 20000);
    let d = dir.path().display().to_string();
    let compaction = spawn_compaction_and_wait_for_rewrite(dir.path(), &["table", "compact", &table, "--target-size", "1048576", "--json"]);
    let deleted = common::run_python(
        &python,
        r#"
import sys
from pyiceberg.catalog.sql import SqlCatalog
d = sys.argv[1]
cat = SqlCatalog("default", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}")
t = cat.load_table("ns.t")
t.delete("region == 'east'")
print(cat.load_table("ns.t").current_snapshot().snapshot_id)
"#,
        &[&d],
    );
    let delete_snapshot = deleted.trim().to_string();
    let out = compaction.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the compaction must not commit over the delete");
    let error: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("the commit was not made"), "{message}");
    assert!(message.contains(&delete_snapshot), "names the conflicting snapshot: {message}");
    assert!(message.contains("removed"), "{message}");
    let after = read(&python, dir.path(), None);
    assert_eq!(after["snapshot"].as_i64().map(|s| s.to_string()), Some(delete_snapshot), "table unchanged by the compaction");
    assert_eq!(after["operation"], "delete");
    assert!(n(&after, "rows") < 600_000 && n(&after, "rows") > 0);
}

#[test]
fn spatial_compaction_lets_a_bbox_query_skip_most_files() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 30, 20000);
    let query = |dir: &Path| json_ok(dir, &["table", "query", &table, "--bbox", "10,10,46,28", "--json"]);
    let before = query(dir.path());
    let report = json_ok(dir.path(), &["table", "compact", &table, "--target-size", "1048576", "--spatial", "--json"]);
    assert_eq!(report["order"], "spatial");
    assert_eq!(report["rows_verified"], true);
    let after = query(dir.path());
    assert_eq!(after["rows_matched"], before["rows_matched"], "same answer");
    let (scanned_before, scanned_after) = (n(&before, "files_scanned"), n(&after, "files_scanned"));
    eprintln!(
        "bbox query (1% of the area): {scanned_before} of {} files scanned before, {scanned_after} of {} after spatial compaction",
        n(&before, "files_total"),
        n(&after, "files_total")
    );
    assert!(n(&after, "files_total") >= 10, "{report}");
    assert!(scanned_after * 10 <= scanned_before, "{scanned_after} files scanned after vs {scanned_before} before");
    assert_eq!(n(&after, "files_without_bbox"), 0, "every rewritten file has a GeoParquet bbox");
    // pyiceberg still reads the table (and the geo metadata is only a footer key).
    let read_back = read(&python, dir.path(), None);
    assert_eq!(n(&read_back, "rows"), 600_000);
}

#[test]
fn killed_compaction_leaves_the_table_as_it_was_and_vacuum_removes_the_leftovers() {
    let Some(python) = common::python() else { return };
    let (dir, table) = make_table(&python, 60, 400);
    let before = read(&python, dir.path(), None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["table", "compact", &table, "--target-size", "1048576", "--spatial", "--json"])
        .env("RUST_LOG", "error")
        .env("MESHLAKE_DATA_DIR", dir.path().join("app-data"))
        .env("MESHLAKE_CACHE_DIR", dir.path().join("app-cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if data_files(dir.path()).iter().any(|p| p.to_string_lossy().contains("compact-")) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no new data file appeared");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    let after = read(&python, dir.path(), None);
    if status.success() {
        // The compaction finished before the kill: still nothing lost.
        eprintln!("NOTE: the compaction finished before it could be killed");
        assert_eq!(after["hash"], before["hash"]);
        return;
    }
    assert_eq!(after["snapshot"], before["snapshot"], "a killed compaction committed nothing");
    assert_eq!(after["hash"], before["hash"]);
    let head = json_ok(dir.path(), &["table", "head", &table, "--limit", "100000", "--json"]);
    assert_eq!(head["rows"].as_array().unwrap().len() as u64, n(&before, "rows"));
    let leftovers = data_files(dir.path()).into_iter().filter(|p| p.to_string_lossy().contains("compact-")).count();
    assert!(leftovers > 0);
    let vacuum = json_ok(dir.path(), &["table", "vacuum", &table, "--retention", "0s", "--allow-short-retention", "--json"]);
    assert!(n(&vacuum, "files_deleted") as usize >= leftovers, "{vacuum}");
    assert_eq!(data_files(dir.path()).iter().filter(|p| p.to_string_lossy().contains("compact-")).count(), 0);
    let clean = read(&python, dir.path(), None);
    assert_eq!(clean["hash"], before["hash"], "vacuum removed nothing the table needs");
    // And the compaction can run to its end afterwards.
    let report = json_ok(dir.path(), &["table", "compact", &table, "--target-size", "1048576", "--json"]);
    assert_eq!(report["rows_verified"], true);
    assert_eq!(read(&python, dir.path(), None)["hash"], before["hash"]);
}

#[test]
fn equality_deletes_are_applied_by_the_rewrite() {
    let Some(fixtures) = common::fixtures() else { return };
    let source = fixtures.join("iceberg/duckdb-iceberg/data/persistent/equality_deletes/warehouse/mydb/mytable");
    let dir = tempfile::tempdir().unwrap();
    let table_dir = dir.path().join("mytable");
    common::copy_dir(&source, &table_dir);
    let t = table_dir.display().to_string();
    let head_before = json_ok(dir.path(), &["table", "head", &t, "--json"]);
    let report = json_ok(dir.path(), &["table", "compact", &t, "--json"]);
    assert_eq!(n(&report, "files_before"), 2);
    assert_eq!(n(&report, "files_after"), 1);
    assert_eq!(n(&report, "rows_before"), 2, "2 rows left after the equality deletes");
    assert_eq!(n(&report, "rows_after"), 2);
    assert_eq!(report["partitions"][0]["rows_rewritten"], 6, "6 rows in the files before deletes");
    assert_eq!(report["rows_verified"], true);
    let head_after = json_ok(dir.path(), &["table", "head", &t, "--json"]);
    let mut a: Vec<String> = head_before["rows"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    let mut b: Vec<String> = head_after["rows"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(table_dir.join("metadata/v8.metadata.json").is_file(), "the next vN metadata file");
    let metadata: Value = serde_json::from_slice(&std::fs::read(table_dir.join("metadata/v8.metadata.json")).unwrap()).unwrap();
    let current = metadata["current-snapshot-id"].clone();
    let snapshot = metadata["snapshots"].as_array().unwrap().iter().find(|s| s["snapshot-id"] == current).unwrap();
    assert_eq!(snapshot["summary"]["operation"], "replace");
    assert_eq!(snapshot["summary"]["removed-delete-files"], "4", "equality deletes that apply to no live file are dropped");
    assert_eq!(snapshot["summary"]["total-delete-files"], "0");
    assert_eq!(snapshot["summary"]["total-records"], "2");
    assert_eq!(std::fs::read_to_string(table_dir.join("metadata/version-hint.text")).unwrap().trim(), "8");
}


/// Hash of all rows (sorted by their text form) of a file table's metadata file, read by pyiceberg
/// from `cwd` (the fixture records a relative location); optionally at a snapshot.
const HASH_STATIC: &str = r#"
import sys, hashlib
from pyiceberg.table import StaticTable
t = StaticTable.from_metadata(sys.argv[1])
snap = int(sys.argv[2]) if len(sys.argv) > 2 else None
a = t.scan(snapshot_id=snap).to_arrow() if snap else t.scan().to_arrow()
rows = sorted(repr(r) for r in zip(*[c.to_pylist() for c in a.columns]))
print(len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
"#;

fn python_in(python: &Path, cwd: &Path, code: &str, args: &[&str]) -> String {
    let code = format!("{code}\nimport os as _os, sys as _sys\n_sys.stdout.flush(); _os._exit(0)\n");
    let out = Command::new(python).arg("-c").arg(&code).args(args).current_dir(cwd).output().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn spark_position_deletes_are_applied_and_dropped_by_the_rewrite() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let base = fixtures.join("iceberg/duckdb_iceberg-legacy/data/iceberg/generated_spec2_0_001");
    let expected: u64 = std::fs::read_to_string(base.join("expected_results/last/count.csv")).unwrap().lines().nth(1).unwrap().trim().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The table records the relative location data/iceberg/generated_spec2_0_001/pyspark_iceberg_table.
    let table_dir = dir.path().join("data/iceberg/generated_spec2_0_001/pyspark_iceberg_table");
    common::copy_dir(&base.join("pyspark_iceberg_table"), &table_dir);
    let v9 = table_dir.join("metadata/v9.metadata.json").display().to_string();
    let before = python_in(&python, dir.path(), HASH_STATIC, &[&v9]);
    assert!(before.starts_with(&format!("{expected} ")), "pyiceberg reads {before}, expected {expected} rows");
    let t = table_dir.display().to_string();
    let report = json_ok(dir.path(), &["table", "compact", &t, "--json"]);
    assert_eq!(n(&report, "rows_before"), expected);
    assert_eq!(n(&report, "rows_after"), expected);
    assert_eq!(n(&report, "files_after"), 1);
    assert_eq!(report["rows_verified"], true);
    let v10 = table_dir.join("metadata/v10.metadata.json").display().to_string();
    let after = python_in(&python, dir.path(), HASH_STATIC, &[&v10]);
    assert_eq!(after, before, "pyiceberg reads the same rows after the rewrite");
    let old = report["version_before"].as_i64().unwrap().to_string();
    assert_eq!(python_in(&python, dir.path(), HASH_STATIC, &[&v10, &old]), before, "time travel");
    let metadata: Value = serde_json::from_slice(&std::fs::read(&v10).unwrap()).unwrap();
    let current = metadata["current-snapshot-id"].clone();
    let snapshot = metadata["snapshots"].as_array().unwrap().iter().find(|s| s["snapshot-id"] == current).unwrap();
    assert_eq!(snapshot["summary"]["removed-delete-files"], "3");
    assert_eq!(snapshot["summary"]["removed-position-deletes"], "11452");
    assert_eq!(snapshot["summary"]["total-delete-files"], "0");
    assert_eq!(snapshot["summary"]["total-records"], expected.to_string());
}

#[test]
fn compaction_and_expiry_commit_through_a_rest_catalog() {
    let Some(python) = common::python() else { return };
    let (dir, _) = make_table(&python, 10, 100);
    let before = read(&python, dir.path(), None);
    let server = common::rest_catalog::RestCatalogServer::start(&python, dir.path(), &["--prefix", "cat"]);
    let table = server.table("ns.t");
    let report = json_ok(dir.path(), &["table", "compact", &table, "--target-size", "2000000", "--json"]);
    assert_eq!(n(&report, "files_before"), 20);
    assert_eq!(n(&report, "files_after"), 2);
    assert_eq!(report["rows_verified"], true);
    // pyiceberg, straight on the SQL catalog behind the server, sees the commit.
    let after = read(&python, dir.path(), Some(before["snapshot"].as_i64().unwrap()));
    assert_eq!(after["operation"], "replace");
    assert_eq!(after["snapshot"].as_i64(), report["version_after"].as_i64());
    assert_eq!(after["hash"], before["hash"]);
    assert_eq!(after["old_hash"], before["hash"]);
    assert_eq!(n(&after, "files"), 2);
    assert_ne!(after["metadata_location"], before["metadata_location"]);
    let expired = json_ok(dir.path(), &["table", "expire", &table, "--older-than", "0s", "--keep-last", "1", "--json"]);
    assert_eq!(n(&expired, "snapshots_after"), 1, "{expired}");
    let final_state = read(&python, dir.path(), None);
    assert_eq!(n(&final_state, "snapshots"), 1);
    assert_eq!(final_state["hash"], before["hash"]);
    assert_eq!(data_files(dir.path()).len(), 2, "only the compacted files are left");
}

/// The GeoParquet `geo` footer of every data file under `folder`: (bbox of the primary column, crs).
fn footers(folder: &Path) -> Vec<(Option<Vec<f64>>, Value)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    listing(folder)
        .into_iter()
        .filter(|(p, _, _)| p.extension().is_some_and(|e| e == "parquet"))
        .map(|(p, _, _)| {
            let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
            let kv = reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
            let geo: Value = serde_json::from_str(kv.iter().find(|kv| kv.key == "geo").and_then(|kv| kv.value.as_deref()).unwrap_or("null")).unwrap();
            let primary = geo["primary_column"].as_str().unwrap_or_default().to_string();
            let column = &geo["columns"][&primary];
            let bbox = column["bbox"].as_array().map(|b| b.iter().map(|v| v.as_f64().unwrap()).collect());
            (bbox, column.get("crs").cloned().unwrap_or(Value::String("(absent)".into())))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn geoparquet_metadata_of_the_inputs_is_kept_with_a_bbox_covering_every_input() {
    use meshlake::engine::lake::demo_tables::{demo_parcels, write_demo_iceberg_table};
    let dir = tempfile::tempdir().unwrap();
    let catalog_db = dir.path().join("catalog.db");
    let warehouse = dir.path().join("warehouse");
    write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &demo_parcels(600, 11), 5).await.unwrap();
    let data = warehouse.join("demo/parcels/data");
    let inputs = footers(&data);
    assert_eq!(inputs.len(), 5);
    assert!(inputs.iter().all(|(bbox, _)| bbox.is_some()), "the demo writes a bbox per file");
    let table = format!("iceberg+sqlite://{}#demo.parcels", catalog_db.display());
    let bbox = "4.0,52.0,4.5,52.5";
    let before = json_ok(dir.path(), &["table", "query", &table, "--bbox", bbox, "--json"]);
    let report = json_ok(dir.path(), &["table", "compact", &table, "--json"]);
    assert_eq!(n(&report, "files_after"), 1);
    assert_eq!(report["rows_verified"], true);
    let written: Vec<_> = footers(&data).into_iter().filter(|f| !inputs.contains(f)).collect();
    assert_eq!(written.len(), 1);
    let (Some(out), crs) = &written[0] else { panic!("the rewritten file has no bbox") };
    assert_eq!(crs, &inputs[0].1, "the CRS of the inputs is kept");
    let union = inputs.iter().filter_map(|(b, _)| b.clone()).fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |u, b| {
        [u[0].min(b[0]), u[1].min(b[1]), u[2].max(b[2]), u[3].max(b[3])]
    });
    assert_eq!(out.as_slice(), union.as_slice(), "the union of the inputs' bboxes");
    let after = json_ok(dir.path(), &["table", "query", &table, "--bbox", bbox, "--json"]);
    assert_eq!(after["rows_matched"], before["rows_matched"]);
    assert_eq!(n(&after, "files_without_bbox"), 0);
    assert_eq!(after["crs"], before["crs"]);
}

#[test]
fn a_rest_catalog_refusing_the_commit_after_a_concurrent_append_leads_to_a_retry() {
    let Some(python) = common::python() else { return };
    let (dir, _) = make_table(&python, 30, 20000);
    let server = common::rest_catalog::RestCatalogServer::start(&python, dir.path(), &[]);
    let table = server.table("ns.t");
    let d = dir.path().display().to_string();
    let compaction = spawn_compaction_and_wait_for_rewrite(dir.path(), &["table", "compact", &table, "--target-size", "1048576", "--json"]);
    assert_eq!(common::run_python(&python, APPEND, &[&d, "2000000", "2"]).trim(), "20");
    let out = compaction.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(n(&report, "commit_retries") >= 1, "the catalog answered 409 once: {report}");
    assert!(report["notes"].to_string().contains("the catalog refused the commit"), "{report}");
    let after = read(&python, dir.path(), None);
    assert_eq!(after["operation"], "replace");
    assert_eq!(n(&after, "rows"), 600_020);
}
