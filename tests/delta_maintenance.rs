//! `meshlake table compact | vacuum | expire` on Delta tables written by the Python `deltalake`
//! package, read back by it: same rows (content hash), OPTIMIZE in the history, time travel to the
//! old version, pruning after spatial order, concurrent appends, a killed compaction, bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

fn meshlake(args: &[&str]) -> (bool, String, String) {
    common::run_meshlake(args, &[])
}

fn json(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = meshlake(args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("meshlake {args:?}: not JSON ({e}): {stdout}"))
}

/// The `{"error": ...}` of a failed `--json` run (the last stderr line).
fn json_error(args: &[&str]) -> String {
    let (ok, stdout, stderr) = meshlake(args);
    assert!(!ok, "meshlake {args:?} should fail: {stdout}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("last stderr line not JSON ({e}): {stderr}"));
    value["error"].as_str().unwrap_or_default().to_string()
}

/// Writes a table of `appends` appends × `partitions` partitions, `rows` rows per append and
/// partition: points and small boxes spread randomly over 0..1000 × 0..1000, with a `bbox` covering
/// struct (whose file statistics give pruning).
const WRITE_TABLE: &str = r#"
import sys, random, pyarrow as pa, deltalake, shapely
root, appends, rows, partitions, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
bbox_type = pa.struct([("xmin", pa.float64()), ("ymin", pa.float64()), ("xmax", pa.float64()), ("ymax", pa.float64())])
schema = pa.schema([("id", pa.int64()), ("region", pa.string()), ("value", pa.float64()), ("geometry", pa.binary()), ("bbox", bbox_type)])
next_id = 0
for a in range(appends):
    ids, regions, values, geoms, boxes = [], [], [], [], []
    for p in range(partitions):
        for r in range(rows):
            x, y = rng.uniform(0, 1000), rng.uniform(0, 1000)
            if next_id % 3 == 0:
                g = shapely.box(x, y, x + rng.uniform(0.1, 2), y + rng.uniform(0.1, 2))
            else:
                g = shapely.Point(x, y)
            b = g.bounds
            ids.append(next_id); regions.append(f"r{p}"); values.append(rng.random()); geoms.append(shapely.to_wkb(g))
            boxes.append({"xmin": b[0], "ymin": b[1], "xmax": b[2], "ymax": b[3]})
            next_id += 1
    t = pa.table({"id": ids, "region": regions, "value": values, "geometry": geoms, "bbox": boxes}, schema=schema)
    deltalake.write_deltalake(root, t, mode="append", partition_by=["region"] if partitions > 1 else None)
"#;

/// `content_hash(table)`: sha256 over every column's values, rows sorted by id.
const HASH: &str = r#"
import sys, hashlib, deltalake, pyarrow as pa
def content_hash(t):
    t = t.sort_by("id")
    h = hashlib.sha256()
    for name in sorted(t.column_names):
        h.update(name.encode()); h.update(repr(t.column(name).to_pylist()).encode())
    return h.hexdigest()
"#;

fn write_table(python: &Path, root: &Path, appends: u32, rows: u32, partitions: u32, seed: u32) {
    let args = [root.to_str().unwrap(), &appends.to_string(), &rows.to_string(), &partitions.to_string(), &seed.to_string()];
    let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
    common::run_python(python, WRITE_TABLE, &args);
}

/// Rows and content hash as Python deltalake reads the table (at `version`, else the latest).
fn peer_read(python: &Path, root: &Path, version: Option<i64>) -> (u64, String) {
    let code = format!(
        "{HASH}\nv = None if sys.argv[2] == '-' else int(sys.argv[2])\nt = deltalake.DeltaTable(sys.argv[1], version=v).to_pyarrow_table()\nprint(t.num_rows, content_hash(t))"
    );
    let version = version.map_or("-".to_string(), |v| v.to_string());
    let out = common::run_python(python, &code, &[root.to_str().unwrap(), &version]);
    let mut parts = out.split_whitespace();
    let rows = parts.next().unwrap().parse().unwrap();
    (rows, parts.next().unwrap().to_string())
}

/// The operations of the table's history, newest first, as Python deltalake reports them.
fn peer_history(python: &Path, root: &Path) -> Vec<String> {
    let code = "import sys, deltalake\nfor c in deltalake.DeltaTable(sys.argv[1]).history(): print(c.get('operation'))";
    common::run_python(python, code, &[root.to_str().unwrap()]).lines().map(str::to_string).collect()
}

/// Every file under `root` with its size and modification time.
fn listing(root: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut found = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                folders.push(entry.path());
            } else {
                found.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    found
}

fn data_files(root: &Path) -> usize {
    listing(root).keys().filter(|p| p.extension().is_some_and(|e| e == "parquet") && !p.to_string_lossy().contains("_delta_log")).count()
}

#[test]
fn compaction_is_read_back_by_deltalake_with_time_travel_and_vacuum() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("small_files");
    // 50 appends × 4 partitions = 200 small files.
    write_table(&python, &root, 50, 40, 4, 7);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);
    assert_eq!(rows, 50 * 40 * 4);
    let files_on_disk = data_files(&root);
    assert_eq!(files_on_disk, 200);

    let report = json(&["table", "compact", table, "--target-size", "8388608", "--json"]);
    assert_eq!(report["format"], "delta", "{report}");
    assert_eq!(report["dry_run"], false, "{report}");
    assert_eq!(report["files_before"], 200, "{report}");
    assert_eq!(report["files_after"], 4, "one file per partition: {report}");
    assert_eq!(report["rows_before"], rows, "{report}");
    assert_eq!(report["rows_after"], rows, "{report}");
    assert_eq!(report["rows_verified"], true, "{report}");
    assert_eq!(report["version_before"], 49, "{report}");
    assert_eq!(report["version_after"], 50, "{report}");
    let partitions = report["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 4, "{report}");
    for partition in partitions {
        assert_eq!(partition["files_rewritten"], 50, "{partition}");
        assert_eq!(partition["files_written"], 1, "{partition}");
        assert_eq!(partition["files_kept"], 0, "{partition}");
    }
    assert!(report["bytes_written"].as_u64().unwrap() > 0, "{report}");

    // The peer reads the same rows, sees the OPTIMIZE, and can still travel to the old version.
    assert_eq!(peer_read(&python, &root, None), (rows, hash.clone()));
    assert_eq!(peer_history(&python, &root).first().map(String::as_str), Some("OPTIMIZE"));
    assert_eq!(peer_read(&python, &root, Some(49)), (rows, hash.clone()));
    // meshlake itself reads the new version.
    let info = json(&["table", "info", table, "--json"]);
    assert_eq!(info["num_rows"], rows, "{info}");

    // Compacting again has nothing to do.
    let again = json(&["table", "compact", table, "--target-size", "8388608", "--json"]);
    assert_eq!(again["version_after"], Value::Null, "{again}");
    assert_eq!(again["files_after"], 4, "{again}");

    // Vacuum with zero retention removes the 200 old files; the peer still reads the table.
    let dry = json(&["table", "vacuum", table, "--retention", "0s", "--allow-short-retention", "--dry-run", "--json"]);
    assert_eq!(dry["files_deleted"], 200, "{dry}");
    assert_eq!(data_files(&root), 204, "a dry run deletes nothing");
    let vacuumed = json(&["table", "vacuum", table, "--retention", "0s", "--allow-short-retention", "--json"]);
    assert_eq!(vacuumed["files_deleted"], 200, "{vacuumed}");
    assert!(vacuumed["bytes_deleted"].as_u64().unwrap() > 0, "{vacuumed}");
    assert_eq!(data_files(&root), 4);
    assert_eq!(peer_read(&python, &root, None), (rows, hash));

    // Expire: every commit before the latest goes behind a checkpoint; the peer still reads the table.
    let planned = json(&["table", "expire", table, "--older-than", "0s", "--keep-last", "10", "--dry-run", "--json"]);
    let latest = planned["version"].as_i64().unwrap();
    let expected: Vec<i64> = (0..latest - 9).collect();
    assert_eq!(planned["expired"], serde_json::json!(expected), "keeps the last 10: {planned}");
    let kept_by_age = json(&["table", "expire", table, "--older-than", "7d", "--keep-last", "1", "--dry-run", "--json"]);
    assert_eq!(kept_by_age["expired"], serde_json::json!([]), "nothing is a week old: {kept_by_age}");
    let expired = json(&["table", "expire", table, "--older-than", "0s", "--keep-last", "1", "--json"]);
    let latest = expired["version"].as_u64().unwrap();
    assert!(latest >= 50, "{expired}");
    assert_eq!(expired["expired"].as_array().unwrap().len() as u64, latest, "all but the latest: {expired}");
    assert_eq!(peer_read(&python, &root, None).0, rows);
    let info = json(&["table", "info", table, "--json"]);
    assert_eq!(info["num_rows"], rows, "{info}");
}

#[test]
fn dry_runs_write_nothing() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("dry");
    write_table(&python, &root, 12, 20, 2, 3);
    let table = root.to_str().unwrap();
    let before = listing(&root);
    let plan = json(&["table", "compact", table, "--target-size", "2097152", "--dry-run", "--json"]);
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(plan["files_before"], 24, "{plan}");
    assert_eq!(plan["files_after"], 2, "{plan}");
    assert_eq!(plan["version_after"], Value::Null, "{plan}");
    assert_eq!(plan["bytes_read"], plan["bytes_before"], "{plan}");
    let spatial = json(&["table", "compact", table, "--spatial", "--dry-run", "--json"]);
    assert_eq!(spatial["partitions"][0]["files_rewritten"], 12, "{spatial}");
    json(&["table", "vacuum", table, "--retention", "0s", "--allow-short-retention", "--dry-run", "--json"]);
    json(&["table", "expire", table, "--older-than", "0s", "--keep-last", "1", "--dry-run", "--json"]);
    assert_eq!(listing(&root), before, "a dry run changed the table folder");

    // The run does what the plan said.
    let run = json(&["table", "compact", table, "--target-size", "2097152", "--json"]);
    for key in ["files_before", "files_after", "bytes_read", "rows_before"] {
        assert_eq!(run[key], plan[key], "{key}: plan {plan} run {run}");
    }
}

#[test]
fn spatial_order_makes_bbox_queries_prune_files() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("scattered");
    // 100 files of 1,500 random geometries each, unpartitioned.
    write_table(&python, &root, 100, 1500, 1, 11);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);
    let query = ["table", "query", table, "--bbox", "450,450,550,550", "--json"];
    let before = json(&query);
    let scanned_before = before["files_scanned"].as_u64().unwrap();
    assert!(scanned_before >= 90, "random files all overlap the box: {before}");

    let report = json(&["table", "compact", table, "--spatial", "--target-size", "1048576", "--json"]);
    assert_eq!(report["rows_verified"], true, "{report}");
    assert_eq!(report["order"], "spatial", "{report}");
    let files_after = report["files_after"].as_u64().unwrap();
    assert!(files_after >= 10, "{report}");

    let after = json(&query);
    let scanned_after = after["files_scanned"].as_u64().unwrap();
    assert_eq!(after["rows_matched"], before["rows_matched"], "before {before} after {after}");
    let fraction = scanned_after as f64 / scanned_before as f64;
    eprintln!("spatial order: files scanned {scanned_before} of 100 before, {scanned_after} of {files_after} after ({fraction:.3})");
    assert!(fraction <= 0.1, "scanned {scanned_after} after vs {scanned_before} before: {after}");
    assert_eq!(peer_read(&python, &root, None), (rows, hash));
    assert_eq!(peer_history(&python, &root).first().map(String::as_str), Some("OPTIMIZE"));
}

#[test]
fn concurrent_appends_survive_a_compaction() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("busy");
    write_table(&python, &root, 60, 30, 2, 5);
    let table = root.to_str().unwrap();
    let stop = tmp.path().join("stop");
    let appended = tmp.path().join("appended.parquet");
    // Appends rows (ids from 10,000,000) until the stop file appears; keeps them to compare.
    let appender = r#"
import sys, os, time, pyarrow as pa, pyarrow.parquet as pq, deltalake
root, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
schema = deltalake.DeltaTable(root).schema().to_arrow()
bbox = {"xmin": 1.0, "ymin": 1.0, "xmax": 1.0, "ymax": 1.0}
point = bytes.fromhex("0101000000000000000000f03f000000000000f03f")
tables, n = [], 0
while not os.path.exists(stop) or n < 3:
    ids = list(range(10_000_000 + n * 10, 10_000_000 + n * 10 + 10))
    t = pa.table({"id": ids, "region": ["r1"] * 10, "value": [0.5] * 10, "geometry": [point] * 10, "bbox": [bbox] * 10})
    t = t.select([f.name for f in schema]).cast(pa.schema(schema))
    deltalake.write_deltalake(root, t, mode="append", partition_by=["region"])
    tables.append(t); n += 1
    time.sleep(0.25)
pq.write_table(pa.concat_tables(tables), out)
print(n)
"#;
    let code = format!("{appender}\nimport os as _os, sys as _sys\n_sys.stdout.flush(); _os._exit(0)\n");
    let child = Command::new(&python)
        .args(["-c", &code, table, stop.to_str().unwrap(), appended.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the appender's first commit, then compact while it keeps appending.
    let started = Instant::now();
    while !root.join("_delta_log/00000000000000000060.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the appender did not commit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = json(&["table", "compact", table, "--target-size", "8388608", "--json"]);
    std::fs::write(&stop, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let appends: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(report["rows_verified"], true, "{report}");
    eprintln!("compaction with {appends} concurrent appends: {report}");

    // Expected: the initial rows (version 59) plus every appended row.
    let expected = format!(
        "{HASH}\nimport pyarrow.parquet as pq\nbase = deltalake.DeltaTable(sys.argv[1], version=59).to_pyarrow_table()\nextra = pq.read_table(sys.argv[2]).cast(base.schema)\nt = pa.concat_tables([base, extra])\nprint(t.num_rows, content_hash(t))"
    );
    let out = common::run_python(&python, &expected, &[table, appended.to_str().unwrap()]);
    let mut parts = out.split_whitespace();
    let expected_rows: u64 = parts.next().unwrap().parse().unwrap();
    let expected_hash = parts.next().unwrap().to_string();
    assert_eq!(expected_rows, 60 * 30 * 2 + appends * 10);
    assert_eq!(peer_read(&python, &root, None), (expected_rows, expected_hash));
    assert!(peer_history(&python, &root).iter().any(|op| op == "OPTIMIZE"));
    let info = json(&["table", "info", table, "--json"]);
    assert_eq!(info["num_rows"], expected_rows, "{info}");
}

#[test]
fn a_killed_spatial_compaction_leaves_the_table_readable() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("killed");
    write_table(&python, &root, 40, 2500, 1, 13);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);
    let log_before: Vec<PathBuf> = listing(&root.join("_delta_log")).into_keys().collect();
    let files_before = data_files(&root);
    // A small sort memory bound makes the rewrite go range by range (and take a while).
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["table", "compact", table, "--spatial", "--target-size", "1048576", "--max-sort-memory", "1048576", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if data_files(&root) > files_before {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the compaction ended before it wrote a file");
        assert!(started.elapsed() < Duration::from_secs(120), "no new file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let leftovers = data_files(&root) - files_before;
    assert!(leftovers > 0);
    let log_after: Vec<PathBuf> = listing(&root.join("_delta_log")).into_keys().collect();
    assert_eq!(log_after, log_before, "a killed compaction committed something");

    assert_eq!(peer_read(&python, &root, None), (rows, hash.clone()));
    let info = json(&["table", "info", table, "--json"]);
    assert_eq!(info["num_rows"], rows, "{info}");
    assert_eq!(info["num_files"], 40, "{info}");

    // The leftover files are unreferenced: a short-retention vacuum removes exactly them.
    let vacuumed = json(&["table", "vacuum", table, "--retention", "0s", "--allow-short-retention", "--json"]);
    assert_eq!(vacuumed["files_deleted"].as_u64().unwrap() as usize, leftovers, "{vacuumed}");
    assert_eq!(data_files(&root), files_before);
    assert_eq!(peer_read(&python, &root, None), (rows, hash.clone()));

    // Run to its end, the memory-bounded sort goes key range by key range and keeps every row.
    let report = json(&["table", "compact", table, "--spatial", "--target-size", "1048576", "--max-sort-memory", "4194304", "--json"]);
    assert_eq!(report["rows_verified"], true, "{report}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("key ranges"), "{report}");
    assert_eq!(peer_read(&python, &root, None), (rows, hash));
}

#[test]
fn bad_maintenance_requests_are_refused_with_what_to_do() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("table");
    write_table(&python, &root, 3, 10, 1, 1);
    let table = root.to_str().unwrap();
    // Make a removed file so a vacuum would have something to delete.
    json(&["table", "compact", table, "--json"]);
    let before = listing(&root);
    let error = json_error(&["table", "vacuum", table, "--retention", "1h", "--json"]);
    assert!(error.contains("--allow-short-retention"), "{error}");
    assert_eq!(listing(&root), before, "a refused vacuum deleted files");

    let not_a_table = tmp.path().join("plain");
    std::fs::create_dir_all(&not_a_table).unwrap();
    let error = json_error(&["table", "compact", not_a_table.to_str().unwrap(), "--json"]);
    assert!(error.contains("not a Delta table") || error.contains("no _delta_log"), "{error}");
    let error = json_error(&["table", "compact", table, "--spatial", "--geometry", "nope", "--json"]);
    assert!(error.contains("nope") && error.contains("--geometry"), "{error}");
    let error = json_error(&["table", "compact", table, "--target-size", "100", "--json"]);
    assert!(error.contains("below 1 MiB"), "{error}");
}

/// For every live data file: whether its footer has GeoParquet `geo` metadata naming `geometry`,
/// its `geo` bbox (or None), and the bounds of its geometries (shapely), as JSON lines.
const FILE_GEO: &str = r#"
import sys, json, deltalake, pyarrow.parquet as pq, shapely, os
dt = deltalake.DeltaTable(sys.argv[1])
for f in dt.file_uris():
    path = f.replace("file://", "")
    meta = pq.read_metadata(path).metadata or {}
    geo = json.loads(meta[b"geo"]) if b"geo" in meta else None
    col = geo["columns"].get("geometry") if geo else None
    geoms = shapely.from_wkb([g for g in pq.read_table(path, columns=["geometry"]).column("geometry").to_pylist() if g is not None], on_invalid="ignore")
    bounds = shapely.total_bounds(geoms).tolist()
    print(json.dumps({"geo": geo is not None, "bbox": col.get("bbox") if col else None, "bounds": bounds}))
"#;

fn file_geo(python: &Path, root: &Path) -> Vec<Value> {
    common::run_python(python, FILE_GEO, &[root.to_str().unwrap()]).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn geoparquet_metadata_survives_compaction_and_spatial_order() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("parcels");
    let parcels = meshlake::engine::lake::demo_parcels(400, 3);
    meshlake::engine::lake::write_demo_delta_table(&root, &parcels, 12).await.unwrap();
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read_by(&python, &root, "parcel_id");
    let info = json(&["table", "info", table, "--json"]);
    let geometry_columns = without_bbox(&info["geometry_columns"]);
    assert!(!geometry_columns.as_array().unwrap().is_empty(), "{info}");

    // Bin-packing keeps the `geo` metadata, the new file's bbox the union of its inputs' bboxes:
    // the exact bounds of its geometries (as shapely computes them) when the inputs' were exact.
    let report = json(&["table", "compact", table, "--json"]);
    assert_eq!(report["files_after"], 1, "{report}");
    assert_eq!(report["rows_verified"], true, "{report}");
    let files = file_geo(&python, &root);
    assert_eq!(files.len(), 1, "{files:?}");
    for file in &files {
        assert_eq!(file["geo"], true, "{file}");
        let bbox: Vec<f64> = serde_json::from_value(file["bbox"].clone()).unwrap();
        let bounds: Vec<f64> = serde_json::from_value(file["bounds"].clone()).unwrap();
        for (a, b) in bbox.iter().zip(&bounds) {
            assert!((a - b).abs() < 1e-9, "bbox {bbox:?} against the geometries' bounds {bounds:?}");
        }
    }
    assert_eq!(without_bbox(&json(&["table", "info", table, "--json"])["geometry_columns"]), geometry_columns);
    assert_eq!(peer_read_by(&python, &root, "parcel_id"), (rows, hash.clone()));

    // Spatial order writes a `geo` bbox per file that covers the file's geometries.
    let report = json(&["table", "compact", table, "--spatial", "--json"]);
    assert_eq!(report["rows_verified"], true, "{report}");
    for file in file_geo(&python, &root) {
        let bbox: Vec<f64> = serde_json::from_value(file["bbox"].clone()).unwrap_or_else(|_| panic!("no geo bbox: {file}"));
        let bounds: Vec<f64> = serde_json::from_value(file["bounds"].clone()).unwrap();
        let eps = 1e-9;
        assert!(bbox[0] <= bounds[0] + eps && bbox[1] <= bounds[1] + eps && bbox[2] + eps >= bounds[2] && bbox[3] + eps >= bounds[3], "{file}");
    }
    let after = json(&["table", "info", table, "--json"]);
    assert!(after["geometry_columns"][0]["bbox"].is_array(), "{after}");
    assert_eq!(without_bbox(&after["geometry_columns"]), geometry_columns);
    assert_eq!(peer_read_by(&python, &root, "parcel_id"), (rows, hash));
}

/// Rows and content hash as Python deltalake reads the table, rows sorted by `key`.
fn peer_read_by(python: &Path, root: &Path, key: &str) -> (u64, String) {
    let code = format!("{}\nt = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table()\nprint(t.num_rows, content_hash(t))", HASH.replace("sort_by(\"id\")", "sort_by(sys.argv[2])"));
    let out = common::run_python(python, &code, &[root.to_str().unwrap(), key]);
    let mut parts = out.split_whitespace();
    (parts.next().unwrap().parse().unwrap(), parts.next().unwrap().to_string())
}

/// Geometry column summaries without their (per-file) bbox.
fn without_bbox(columns: &Value) -> Value {
    let mut columns = columns.clone();
    for column in columns.as_array_mut().into_iter().flatten() {
        if let Some(column) = column.as_object_mut() {
            column.remove("bbox");
        }
    }
    columns
}

#[test]
fn zorder_rewrites_each_partition_and_keeps_the_rows() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("zorder");
    write_table(&python, &root, 10, 50, 2, 9);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);
    let report = json(&["table", "compact", table, "--zorder", "value,id", "--json"]);
    assert_eq!(report["order"], "zorder(value, id)", "{report}");
    assert_eq!(report["rows_verified"], true, "{report}");
    assert_eq!(report["files_before"], 20, "{report}");
    assert_eq!(report["files_after"], 2, "{report}");
    assert_eq!(report["partitions"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(peer_read(&python, &root, None), (rows, hash));
    assert_eq!(peer_history(&python, &root).first().map(String::as_str), Some("OPTIMIZE"));
    let error = json_error(&["table", "compact", table, "--zorder", "nope", "--json"]);
    assert!(error.contains("nope"), "{error}");
}

/// Uploads a local table folder to `s3://lake/PREFIX` on a moto server (any key is accepted).
const UPLOAD: &str = r#"
import os, sys, boto3
endpoint, local, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
s3.create_bucket(Bucket="lake")
for folder, _, names in os.walk(local):
    for name in names:
        path = os.path.join(folder, name)
        s3.upload_file(path, "lake", prefix + "/" + os.path.relpath(path, local))
"#;

#[test]
fn spatial_compaction_and_vacuum_work_in_s3() {
    let Some(python) = common::python() else { return };
    let has_moto = Command::new(&python).args(["-c", "import moto.server, boto3"]).status().is_ok_and(|s| s.success());
    if !has_moto {
        common::skip_or_fail("moto[server] in MESHLAKE_PYTHON");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _moto = Killed(
        Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("local");
    write_table(&python, &root, 8, 200, 1, 21);
    let (rows, hash) = peer_read(&python, &root, None);
    common::run_python(&python, UPLOAD, &[&endpoint, root.to_str().unwrap(), "tables/scattered"]);
    let s3 = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_meshlake"))
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "k")
            .env("AWS_SECRET_ACCESS_KEY", "s")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("RUST_LOG", "error")
            .env("MESHLAKE_DATA_DIR", tmp.path().join("data"))
            .env("MESHLAKE_CACHE_DIR", tmp.path().join("data"))
            .output()
            .unwrap();
        assert!(out.status.success(), "meshlake {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let url = "s3://lake/tables/scattered";
    let report = s3(&["table", "compact", url, "--spatial", "--target-size", "1048576", "--json"]);
    assert_eq!(report["rows_verified"], true, "{report}");
    assert_eq!(report["version_after"], 8, "{report}");
    let vacuumed = s3(&["table", "vacuum", url, "--retention", "0s", "--allow-short-retention", "--json"]);
    assert_eq!(vacuumed["files_deleted"], 8, "{vacuumed}");
    let read = format!(
        "{HASH}\nopts = {{'AWS_ACCESS_KEY_ID': 'k', 'AWS_SECRET_ACCESS_KEY': 's', 'AWS_ENDPOINT_URL': sys.argv[2], 'AWS_REGION': 'us-east-1', 'AWS_ALLOW_HTTP': 'true'}}\nt = deltalake.DeltaTable(sys.argv[1], storage_options=opts)\nrows = t.to_pyarrow_table()\nprint(rows.num_rows, content_hash(rows), ','.join(c['operation'].replace(' ', '_') for c in t.history()))"
    );
    let out = common::run_python(&python, &read, &[url, &endpoint]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[..2], [rows.to_string().as_str(), hash.as_str()], "{out}");
    assert!(fields[2].contains("OPTIMIZE"), "{out}");
}

#[test]
fn a_checkpoint_is_written_at_the_latest_version_and_read_by_deltalake() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("table");
    write_table(&python, &root, 12, 10, 2, 3);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);

    let report = json(&["table", "checkpoint", table, "--json"]);
    assert_eq!(report["format"], "delta", "{report}");
    assert_eq!(report["version"], 11, "{report}");
    assert_eq!(report["already_existed"], false, "{report}");
    assert_eq!(report["commits_to_replay_before"], 12, "{report}");
    assert_eq!(report["commits_to_replay_after"], 0, "{report}");
    let checkpoint = root.join("_delta_log/00000000000000000011.checkpoint.parquet");
    assert!(checkpoint.is_file());
    assert_eq!(report["bytes"], std::fs::metadata(&checkpoint).unwrap().len(), "{report}");
    let last: Value = serde_json::from_str(&std::fs::read_to_string(root.join("_delta_log/_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(last["version"], 11, "{last}");
    // Python deltalake reads the table through the checkpoint: same rows; time travel still works.
    assert_eq!(peer_read(&python, &root, None), (rows, hash));
    assert_eq!(peer_read(&python, &root, Some(3)).0, 4 * 10 * 2);

    // Again: nothing is written.
    let before = listing(&root);
    let again = json(&["table", "checkpoint", table, "--json"]);
    assert_eq!(again["already_existed"], true, "{again}");
    assert_eq!(listing(&root), before);

    // Iceberg tables have none: refused with what to do instead.
    let Some(fixtures) = common::fixtures() else { return };
    let metadata = fixtures.join("iceberg/duckdb-iceberg/data/persistent/timestamptz_ns/metadata/v1.metadata.json");
    let error = json_error(&["table", "checkpoint", metadata.to_str().unwrap(), "--json"]);
    assert!(error.contains("no checkpoints") && error.contains("expire"), "{error}");
}

#[test]
fn a_killed_bin_packing_leaves_the_table_readable_and_vacuum_removes_its_files() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("killed");
    write_table(&python, &root, 60, 2500, 1, 17);
    let table = root.to_str().unwrap();
    let (rows, hash) = peer_read(&python, &root, None);
    let log_before: Vec<PathBuf> = listing(&root.join("_delta_log")).into_keys().collect();
    let data_before: Vec<PathBuf> = listing(&root).into_keys().filter(|p| !p.starts_with(root.join("_delta_log"))).collect();
    // Small bins, one task: files are written one after another; kill once the first one exists
    // (complete or still being written).
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["table", "compact", table, "--target-size", "1048576", "--max-sort-memory", "1048576", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let new_files = || -> Vec<PathBuf> {
        listing(&root).into_keys().filter(|p| !p.starts_with(root.join("_delta_log")) && !data_before.contains(p)).collect()
    };
    while new_files().is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the compaction ended before it wrote a file");
        assert!(started.elapsed() < Duration::from_secs(120), "no new file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let leftovers = new_files();
    assert!(!leftovers.is_empty());
    let log_after: Vec<PathBuf> = listing(&root.join("_delta_log")).into_keys().collect();
    assert_eq!(log_after, log_before, "a killed compaction committed something");
    assert_eq!(peer_read(&python, &root, None), (rows, hash.clone()));

    // Whatever it left (finished files or a file cut off mid-write) is unreferenced: vacuum removes it.
    let vacuumed = json(&["table", "vacuum", table, "--retention", "0s", "--allow-short-retention", "--json"]);
    assert!(new_files().is_empty(), "left after vacuum: {:?} ({vacuumed})", new_files());
    assert_eq!(peer_read(&python, &root, None), (rows, hash.clone()));

    // Run to its end it keeps every row.
    let report = json(&["table", "compact", table, "--target-size", "1048576", "--json"]);
    assert_eq!(report["rows_verified"], true, "{report}");
    assert_eq!(peer_read(&python, &root, None), (rows, hash));
}

