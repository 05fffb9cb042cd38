//! `meshlake table validate|query` on tables written by the Python `deltalake` package: exact counts of
//! planted problems, query results equal to a shapely brute force, and pruning figures.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

fn meshlake(args: &[&str]) -> (bool, String, String) {
    common::run_meshlake(args, &[])
}

fn json(args: &[&str]) -> (Value, String) {
    let (ok, stdout, stderr) = meshlake(args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON object: {stdout}");
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

const PLANTED: &str = r#"
import sys, struct, pyarrow as pa, deltalake, shapely
root = sys.argv[1]
good = [shapely.to_wkb(shapely.box(4.4 + i * 0.01, 52.1, 4.405 + i * 0.01, 52.105)) for i in range(100)]
bow = shapely.to_wkb(shapely.from_wkt("POLYGON((0 0,1 1,1 0,0 1,0 0))"))
points = [shapely.to_wkb(shapely.Point(4.5, 52.1)), shapely.to_wkb(shapely.Point(4.6, 52.2))]
far = shapely.to_wkb(shapely.box(200, 0, 201, 1))
ewkb = shapely.to_wkb(shapely.set_srid(shapely.box(4.4, 52.0, 4.41, 52.01), 4326), include_srid=True)
square = shapely.to_wkb(shapely.box(0, 0, 1, 1))
garbage = [b"\x01\x02", square[:-5], b"\x07" + square[1:]]
nulls = [None, None]
schema = pa.schema([("id", pa.int64()), ("geometry", pa.binary())])
batches = [good[:50] + nulls + garbage, good[50:] + [bow] + points, [far, ewkb]]
start = 0
for i, rows in enumerate(batches):
    t = pa.table({"id": list(range(start, start + len(rows))), "geometry": rows}, schema=schema)
    deltalake.write_deltalake(root, t, mode="append")
    start += len(rows)
"#;

#[test]
fn validation_counts_planted_rows_exactly() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("planted");
    common::run_python(&python, PLANTED, &[root.to_str().unwrap()]);
    let table = root.to_str().unwrap();
    let (report, _) = json(&["table", "validate", table, "--geometry-types", "Polygon", "--crs", "OGC:CRS84", "--json"]);
    assert_eq!(report["rows"], 110, "{report}");
    assert_eq!(report["null_geometry"], 2, "{report}");
    assert_eq!(report["invalid_wkb"], 3, "{report}");
    assert_eq!(report["invalid_geometry"], 1, "{report}");
    assert_eq!(report["non_simple"], 1, "{report}");
    assert_eq!(report["wrong_type"], 2, "{report}");
    assert_eq!(report["out_of_crs_area"], 1, "{report}");
    assert_eq!(report["srid_mismatch"], 0, "EWKB SRID 4326 matches CRS84: {report}");
    assert_eq!(report["rows_with_problems"], 9, "{report}");
    assert_eq!(report["crs"], "OGC:CRS84");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 10, "the bow-tie is both invalid and not simple");
    for p in problems {
        for key in ["file", "row", "kind", "detail"] {
            assert!(p.get(key).is_some(), "{key} in {p}");
        }
    }
    // The garbage rows are rows 52..=54 of the first file (after 50 good ones and 2 nulls).
    let garbage_rows: BTreeSet<u64> =
        problems.iter().filter(|p| p["kind"] == "invalid_wkb").map(|p| p["row"].as_u64().unwrap()).collect();
    assert_eq!(garbage_rows, BTreeSet::from([52, 53, 54]));
    // Without a declared CRS the report says so and does not check the lon/lat range.
    let (bare, _) = json(&["table", "validate", table, "--json"]);
    assert_eq!(bare["out_of_crs_area"], 0);
    assert_eq!(bare["wrong_type"], 0);
    assert!(bare["crs"].is_null());
    assert!(!bare["crs_problems"].as_array().unwrap().is_empty(), "{bare}");
    // Schema drift between versions is part of the report when asked.
    let (drift, _) = json(&["table", "validate", table, "--against", "0", "--json"]);
    assert!(drift["schema_drift"].is_object(), "{drift}");
}

const GRID: &str = r#"
import sys, json, pyarrow as pa, deltalake, shapely
from deltalake import WriterProperties
root = sys.argv[1]
# 4 files (one per quadrant of [0,40]x[0,40]), each 400 boxes sorted by row so row groups of 100 rows have distinct bboxes.
for qx in range(2):
    for qy in range(2):
        geoms = []
        for j in range(20):
            for i in range(20):
                x = qx * 20 + i; y = qy * 20 + j
                geoms.append(shapely.box(x + 0.1, y + 0.1, x + 0.9, y + 0.9) if (i + j) % 3 else shapely.Point(x + 0.5, y + 0.5))
        b = shapely.bounds(geoms)
        bbox = pa.StructArray.from_arrays([pa.array(b[:, k]) for k in range(4)], names=["xmin", "ymin", "xmax", "ymax"])
        t = pa.table({"geometry": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()), "bbox": bbox})
        deltalake.write_deltalake(root, t, mode="append", writer_properties=WriterProperties(max_row_group_size=100))
"#;

const BRUTE: &str = r#"
import sys, shapely, deltalake, pyarrow.compute as pc
dt = deltalake.DeltaTable(sys.argv[1])
g = shapely.from_wkb(dt.to_pyarrow_table(columns=["geometry"]).column("geometry").to_pylist())
q = shapely.from_wkt(sys.argv[3])
op = sys.argv[2]
if op == "intersects": m = shapely.intersects(g, q)
elif op == "contains": m = shapely.contains(g, q)
elif op == "within": m = shapely.within(g, q)
else: m = shapely.dwithin(g, q, float(op.split(":")[1]))
print(int(m.sum()))
"#;

#[test]
fn queries_equal_shapely_and_prune_files_and_row_groups() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("grid");
    common::run_python(&python, GRID, &[root.to_str().unwrap()]);
    let table = root.to_str().unwrap();
    let small = "POLYGON((2.5 2.5,7.5 2.5,7.5 4.5,2.5 4.5,2.5 2.5))";
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--intersects", small], "intersects", small),
        (vec!["--within", small], "within", small),
        (vec!["--contains", "POINT(3.5 3.5)"], "contains", "POINT(3.5 3.5)"),
        (vec!["--dwithin", "POINT(21 21)", "--distance", "1.2"], "dwithin:1.2", "POINT(21 21)"),
        (vec!["--intersects", "LINESTRING(0 0,40 40)"], "intersects", "LINESTRING(0 0,40 40)"),
    ];
    for (args, op, wkt) in cases {
        let mut full = vec!["table", "query", table, "--json"];
        full.extend(args.iter());
        let (report, _) = json(&full);
        let expected: u64 = common::run_python(&python, BRUTE, &[table, op, wkt]).trim().parse().unwrap();
        assert_eq!(report["rows_matched"].as_u64().unwrap(), expected, "{op} {wkt}: {report}");
        assert!(expected > 0, "{op} {wkt}");
        assert_eq!(report["files_total"], 4);
    }
    // A small query in one quadrant: 1 of 4 files, 1 of its 4 row groups (rows 0..100 are y in 0..5).
    let (report, _) = json(&["table", "query", table, "--intersects", small, "--json"]);
    assert_eq!(report["files_scanned"], 1, "{report}");
    assert_eq!(report["row_groups_total"], 4, "{report}");
    assert_eq!(report["row_groups_scanned"], 1, "{report}");
    assert_eq!(report["rows_read"], 100, "{report}");
    // The bbox covering values skip the rows that cannot match before their WKB is decoded:
    // columns x 2..=7 of rows y 2..=4 (6 x 3 cells) are left; of those, the 4 cells of row y 3 with
    // x 3..=6 lie inside the query polygon's interior and count as matches undecoded (the CLI keeps
    // no geometries): 14 decoded.
    assert_eq!(report["rows_decoded"], 14, "{report}");
    let scanned = report["bytes_scanned"].as_u64().unwrap();
    assert!(scanned > 0 && scanned * 8 < report["bytes_total"].as_u64().unwrap(), "{report}");
    // The diagonal touches every file.
    let (diag, _) = json(&["table", "query", table, "--intersects", "LINESTRING(0 0,40 40)", "--json"]);
    assert_eq!(diag["files_scanned"], 4, "{diag}");
    // Export: the matches as GeoParquet that shapely reads back.
    let out = tmp.path().join("matches.parquet");
    let (exported, _) = json(&["table", "query", table, "--bbox", "2.5,2.5,7.5,4.5", "--out", out.to_str().unwrap(), "--json"]);
    let read_back = common::run_python(
        &python,
        "import sys, json, pyarrow.parquet as pq, shapely\nt = pq.read_table(sys.argv[1])\ngeo = json.loads(t.schema.metadata[b'geo'])\ng = shapely.from_wkb(t.column(geo['primary_column']).to_pylist())\nprint(len(g), bool(shapely.intersects(g, shapely.box(2.5, 2.5, 7.5, 4.5)).all()))",
        &[out.to_str().unwrap()],
    );
    assert_eq!(read_back.trim(), format!("{} True", exported["rows_matched"]));
}

#[test]
fn a_table_without_bbox_information_warns() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("nobbox");
    common::run_python(
        &python,
        "import sys, pyarrow as pa, deltalake, shapely\nt = pa.table({'geometry': pa.array([shapely.to_wkb(shapely.box(0,0,1,1))], pa.binary())})\ndeltalake.write_deltalake(sys.argv[1], t)",
        &[root.to_str().unwrap()],
    );
    let (report, stderr) = json(&["table", "query", root.to_str().unwrap(), "--bbox", "0,0,2,2", "--json"]);
    assert_eq!(report["rows_matched"], 1);
    assert!(stderr.contains("warning: no file"), "{stderr}");
    // What the GUI runs first: the guard refuses the full scan (and reads nothing) until asked again.
    use meshlake::engine::jobs::{JobResult, JobRuntime, JobSpec};
    let (runtime, mut events) = JobRuntime::start(2, std::sync::Arc::new(|| {})).unwrap();
    let table = meshlake::engine::lake::TableRef::parse(root.to_str().unwrap()).unwrap();
    let predicate = meshlake::engine::geo::predicate::SpatialPredicate::from_bbox([0.0, 0.0, 2.0, 2.0]).unwrap();
    let mut request = meshlake::engine::lake::spatial::QueryRequest { predicate, geometry: None, out: None, allow_full_scan: false, keep_matches: true };
    let spec = JobSpec::TableQuery { table: table.clone(), at: Default::default(), request: request.clone() };
    let Ok(JobResult::Query(refused)) = runtime.run_to_end(&mut events, spec, |_, _, _| {}) else { panic!("query job failed") };
    assert!(refused.refused_full_scan.as_deref().is_some_and(|m| m.contains("no file")), "{refused:?}");
    assert_eq!((refused.rows_decoded, refused.files_scanned, refused.rows_matched), (0, 0, 0));
    request.allow_full_scan = true;
    let spec = JobSpec::TableQuery { table, at: Default::default(), request };
    let Ok(JobResult::Query(ran)) = runtime.run_to_end(&mut events, spec, |_, _, _| {}) else { panic!("query job failed") };
    assert_eq!((ran.rows_matched, ran.files_scanned, ran.matches.len()), (1, 1, 1));
}

#[test]
fn contract_from_a_version_then_violations_named_by_column() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("planted");
    common::run_python(&python, PLANTED, &[root.to_str().unwrap()]);
    let table = root.to_str().unwrap();
    // The contract of the table's latest version: its data's Arrow schema (delta-rs writes no `geo`).
    let (contract, _) = json(&["table", "contract", table, "--json"]);
    let fields = contract["fields"].as_array().unwrap();
    let names: Vec<(&str, &str)> = fields.iter().map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap())).collect();
    assert_eq!(names, vec![("id", "int64"), ("geometry", "binary")], "{contract}");
    // Checked against its own contract, the table has no violation.
    let own = tmp.path().join("own.json");
    std::fs::write(&own, contract.to_string()).unwrap();
    let (clean, _) = json(&["table", "validate", table, "--contract", own.to_str().unwrap(), "--json"]);
    assert_eq!(clean["contract_violations"], 0, "{clean}");
    assert!(clean["contract_problems"].as_array().unwrap().is_empty(), "{clean}");
    assert_eq!(clean["null_geometry"], 2, "the geometry checks still run: {clean}");

    // A stricter contract (TOML): geometry non-nullable, id declared int32 (the data's int64 would be
    // truncated), a missing column, and `geo` metadata the files do not have.
    let strict = tmp.path().join("strict.toml");
    std::fs::write(
        &strict,
        r#"
[[fields]]
name = "id"
type = "int32"
nullable = false
[[fields]]
name = "geometry"
type = "binary"
nullable = false
[[fields]]
name = "area"
type = "double"
[geo]
version = "1.1.0"
primary_column = "geometry"
[geo.columns.geometry]
encoding = "WKB"
geometry_types = ["Polygon"]
"#,
    )
    .unwrap();
    let (report, _) = json(&["table", "validate", table, "--contract", strict.to_str().unwrap(), "--json"]);
    let problems = report["contract_problems"].as_array().unwrap();
    let count = |column: &str, kind: &str| problems.iter().filter(|p| p["column"] == column && p["kind"] == kind).count();
    assert_eq!(report["files"], 3);
    assert_eq!(count("id", "type"), 3, "one per file: {report}");
    assert_eq!(count("area", "missing"), 3, "{report}");
    assert_eq!(count("geometry", "geo"), 3, "{report}");
    let nulls: Vec<&Value> = problems.iter().filter(|p| p["kind"] == "nullability").collect();
    assert_eq!(nulls.len(), 1, "only the first file has null geometries: {report}");
    assert_eq!((nulls[0]["column"].as_str(), nulls[0]["rows"].as_u64(), nulls[0]["first_row"].as_u64()), (Some("geometry"), Some(2), Some(50)));
    assert!(problems.iter().any(|p| p["kind"] == "type" && p["detail"].as_str().unwrap().contains("truncated")), "{report}");
    assert_eq!(report["contract_violations"], 3 + 3 + 3 + 2, "{report}");
    assert_eq!(report["contract"], strict.to_str().unwrap());

    // A contract file that is not one: a clear error naming it, no report.
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, r#"{"fields":[{"name":"id","type":"integer64"}]}"#).unwrap();
    let (ok, _, stderr) = meshlake(&["table", "validate", table, "--contract", broken.to_str().unwrap(), "--json"]);
    assert!(!ok);
    assert!(stderr.contains("broken.json") && stderr.contains("integer64"), "{stderr}");
}

const GEOHASH_PARTITIONED: &str = r#"
import sys, pyarrow as pa, deltalake, shapely
root = sys.argv[1]
def geohash(lat, lon, n=3):
    alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
    lo, la, out, bits, ch, even = [-180.0, 180.0], [-90.0, 90.0], "", 0, 0, True
    while len(out) < n:
        r, v = (lo, lon) if even else (la, lat)
        mid = (r[0] + r[1]) / 2
        ch = ch * 2 + (v >= mid)
        if v >= mid: r[0] = mid
        else: r[1] = mid
        even, bits = not even, bits + 1
        if bits == 5:
            out, bits, ch = out + alphabet[ch], 0, 0
    return out
# Points near Leiden and near Munich, no bbox column: the files' only bbox is their geohash partition.
pts = [(4.4 + i * 0.01, 52.1 + i * 0.005) for i in range(40)] + [(11.5 + i * 0.01, 48.1) for i in range(40)]
t = pa.table({"geometry": pa.array([shapely.to_wkb(shapely.Point(x, y)) for x, y in pts], pa.binary()),
              "geohash": [geohash(y, x) for x, y in pts]})
deltalake.write_deltalake(root, t, partition_by=["geohash"])
"#;

#[test]
fn geohash_partitions_prune_files_without_statistics() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("by_geohash");
    common::run_python(&python, GEOHASH_PARTITIONED, &[root.to_str().unwrap()]);
    let table = root.to_str().unwrap();
    let (report, stderr) = json(&["table", "query", table, "--bbox", "4.3,52.0,4.605,52.3", "--json"]);
    assert_eq!(report["partitions_total"], 2, "{report}");
    assert_eq!(report["partitions_scanned"], 1, "{report}");
    assert_eq!(report["files_scanned"], 1, "{report}");
    assert_eq!(report["files_without_bbox"], 0, "the partition cell is the bbox: {report}");
    assert!(!stderr.contains("no file of"), "no full-scan warning: {stderr}");
    // 4.4 + 0.01 i <= 4.605 and 52.1 + 0.005 i <= 52.3 → i = 0..=20.
    assert_eq!(report["rows_matched"], 21, "{report}");
}

/// 20,000 small boxes in bands of y (x sorted within a band), a `bbox` covering column and GeoParquet
/// `geo` metadata, one file of 4 row groups written by pyarrow: `paged` with a page index over plain
/// pages of at most 500 rows, else with pyarrow's defaults (no page index). Row 5,000 (the first of row
/// group 1 and of a page in band y 2..3) has a null covering while its box lies at 5,5: a null covering
/// value must not prune its page.
const PAGED: &str = r#"
import sys, os, json, numpy as np, pyarrow as pa, pyarrow.parquet as pq, deltalake, shapely
root, paged = sys.argv[1], sys.argv[2] == "paged"
os.makedirs(root)
rng = np.random.default_rng(7)
n = 20000
xs, ys = rng.uniform(0, 10, n), rng.uniform(0, 10, n)
order = np.lexsort((xs, np.floor(ys)))
xs, ys = xs[order], ys[order]
xs[5000], ys[5000] = 5.0, 5.0
geoms = shapely.box(xs, ys, xs + 0.05, ys + 0.05)
b = shapely.bounds(geoms)
mask = np.zeros(n, bool)
mask[5000] = True
cols = [pa.array(b[:, k], mask=mask) for k in range(4)]
bbox = pa.StructArray.from_arrays(cols, names=["xmin", "ymin", "xmax", "ymax"])
geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB",
       "geometry_types": ["Polygon"], "bbox": [0, 0, 10.05, 10.05],
       "covering": {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}}}}}
t = pa.table({"id": np.arange(n), "geometry": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()), "bbox": bbox})
t = t.replace_schema_metadata({"geo": json.dumps(geo)})
opts = {"write_page_index": True, "max_rows_per_page": 500, "use_dictionary": False} if paged else {}
pq.write_table(t, os.path.join(root, "part-0.parquet"), row_group_size=5000, **opts)
deltalake.convert_to_deltalake(root)
"#;

#[test]
fn page_index_prunes_pages_with_the_same_matches() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let paged = tmp.path().join("paged");
    let plain = tmp.path().join("plain");
    common::run_python(&python, PAGED, &[paged.to_str().unwrap(), "paged"]);
    common::run_python(&python, PAGED, &[plain.to_str().unwrap(), "plain"]);
    let diamond = "POLYGON((5 3.5,6.5 5,5 6.5,3.5 5,5 3.5))";
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--intersects", diamond], "intersects", diamond),
        (vec!["--within", diamond], "within", diamond),
        (vec!["--dwithin", "POINT(2 8)", "--distance", "0.4"], "dwithin:0.4", "POINT(2 8)"),
        (vec!["--intersects", "LINESTRING(0 0,10 10)"], "intersects", "LINESTRING(0 0,10 10)"),
    ];
    for (args, op, wkt) in cases {
        let expected: u64 = common::run_python(&python, BRUTE, &[paged.to_str().unwrap(), op, wkt]).trim().parse().unwrap();
        assert!(expected > 0, "{op} {wkt}");
        let mut reports = vec![];
        for table in [&paged, &plain] {
            let mut full = vec!["table", "query", table.to_str().unwrap(), "--json"];
            full.extend(args.iter());
            let (report, _) = json(&full);
            assert_eq!(report["rows_matched"].as_u64().unwrap(), expected, "{op} {wkt} on {}: {report}", table.display());
            reports.push(report);
        }
        let (with_index, without) = (&reports[0], &reports[1]);
        assert_eq!(without["pages_total"], 0, "no page index, no page figures: {without}");
        let (pages_total, pages_scanned) = (with_index["pages_total"].as_u64().unwrap(), with_index["pages_scanned"].as_u64().unwrap());
        assert!(pages_total >= 10 && pages_scanned < pages_total, "{op} {wkt}: {with_index}");
        assert!(
            with_index["bytes_scanned"].as_u64().unwrap() < without["bytes_scanned"].as_u64().unwrap(),
            "{op} {wkt}: fewer bytes read with the page index: {with_index} vs {without}"
        );
    }
    // The diamond (box 3.5..6.5 x 3.5..6.5) lies on bands y 3..6 only: most pages never read.
    let (report, _) = json(&["table", "query", paged.to_str().unwrap(), "--intersects", diamond, "--json"]);
    let (pages_total, pages_scanned) = (report["pages_total"].as_u64().unwrap(), report["pages_scanned"].as_u64().unwrap());
    assert!(pages_scanned * 2 < pages_total, "{report}");
    // The CLI only counts: rows whose covering box lies inside the diamond match without their WKB being
    // decoded. The GUI's job keeps the matches' geometries and decodes every candidate: same rows.
    use meshlake::engine::jobs::{JobResult, JobRuntime, JobSpec};
    let (runtime, mut events) = JobRuntime::start(2, std::sync::Arc::new(|| {})).unwrap();
    let table = meshlake::engine::lake::TableRef::parse(paged.to_str().unwrap()).unwrap();
    for within in [false, true] {
        let op = if within { meshlake::engine::geo::predicate::PredicateOp::Within } else { meshlake::engine::geo::predicate::PredicateOp::Intersects };
        let predicate = meshlake::engine::geo::predicate::SpatialPredicate::from_wkt(op, diamond).unwrap();
        let request = meshlake::engine::lake::spatial::QueryRequest { predicate, geometry: None, out: None, allow_full_scan: false, keep_matches: true };
        let spec = JobSpec::TableQuery { table: table.clone(), at: Default::default(), request };
        let Ok(JobResult::Query(kept)) = runtime.run_to_end(&mut events, spec, |_, _, _| {}) else { panic!("query job failed") };
        let flag = if within { "--within" } else { "--intersects" };
        let (counted, _) = json(&["table", "query", paged.to_str().unwrap(), flag, diamond, "--json"]);
        assert_eq!(counted["rows_matched"].as_u64().unwrap(), kept.rows_matched, "{flag}: {counted} vs {kept:?}");
        assert_eq!(kept.matches.len() as u64, kept.rows_matched.min(meshlake::engine::lake::spatial::MAX_MATCHES_KEPT as u64));
        assert!(kept.rows_decoded >= kept.rows_matched, "{kept:?}");
        let decoded = counted["rows_decoded"].as_u64().unwrap();
        assert!(decoded * 2 < kept.rows_decoded, "{flag}: the count decodes only boxes on the diamond's edge: {decoded} vs {}", kept.rows_decoded);
        assert!(counted["bytes_scanned"].as_u64().unwrap() <= kept.bytes_scanned, "{flag}: {counted}");
    }
    // Row 5,000 (null covering, its box at 5,5) is found although its page's other rows lie far away.
    let one = "POLYGON((5.01 5.01,5.04 5.01,5.04 5.04,5.01 5.04,5.01 5.01))";
    let (point, _) = json(&["table", "query", paged.to_str().unwrap(), "--intersects", one, "--json"]);
    let expected: u64 = common::run_python(&python, BRUTE, &[paged.to_str().unwrap(), "intersects", one]).trim().parse().unwrap();
    assert!(expected >= 1);
    assert_eq!(point["rows_matched"].as_u64().unwrap(), expected, "{point}");
}

/// Write `boxes` (`[x0, y0, x1, y1]`) as WKB polygons in a column `name` of `logical` type (Parquet's
/// native GEOMETRY or GEOGRAPHY), with an `id` column and no GeoParquet `geo` metadata.
fn write_native_geometry_file(path: &std::path::Path, name: &str, logical: parquet::basic::LogicalType, boxes: &[[f64; 4]]) {
    use parquet::basic::{Repetition, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use std::sync::Arc;
    let id = Type::primitive_type_builder("id", Physical::INT64).with_repetition(Repetition::REQUIRED).build().unwrap();
    let shape = Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
        .with_repetition(Repetition::OPTIONAL)
        .with_logical_type(Some(logical))
        .build()
        .unwrap();
    let schema = Type::group_type_builder("schema").with_fields(vec![Arc::new(id), Arc::new(shape)]).build().unwrap();
    let mut writer = SerializedFileWriter::new(std::fs::File::create(path).unwrap(), Arc::new(schema), Default::default()).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let ids: Vec<i64> = (0..boxes.len() as i64).collect();
    let mut column = group.next_column().unwrap().unwrap();
    column.typed::<Int64Type>().write_batch(&ids, None, None).unwrap();
    column.close().unwrap();
    let wkb: Vec<ByteArray> = boxes
        .iter()
        .map(|&[x0, y0, x1, y1]| {
            let ring = vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            ByteArray::from(meshlake::engine::geo::wkb::polygon_rings_to_wkb(&[ring], "box").unwrap())
        })
        .collect();
    let mut column = group.next_column().unwrap().unwrap();
    column.typed::<ByteArrayType>().write_batch(&wkb, Some(&vec![1; wkb.len()]), None).unwrap();
    column.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

/// GeoParquet 2.0: a geometry column of Parquet's native GEOMETRY type, named neither `geometry` nor
/// `geom` and without `geo` metadata, is found by its type, with the CRS the type declares; a
/// GEOGRAPHY column (spherical edges) is refused with what to do.
#[test]
fn native_geometry_columns_without_geo_metadata() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 20 x 20 boxes of 0.5 on a unit grid.
    let boxes: Vec<[f64; 4]> = (0..400).map(|i| (f64::from(i % 20), f64::from(i / 20))).map(|(x, y)| [x, y, x + 0.5, y + 0.5]).collect();
    let convert = "import sys, deltalake\ndeltalake.convert_to_deltalake(sys.argv[1])\n";
    let native = tmp.path().join("native");
    std::fs::create_dir(&native).unwrap();
    write_native_geometry_file(&native.join("part-0.parquet"), "shape", parquet::basic::LogicalType::geometry(Some("srid:3857".into())), &boxes);
    common::run_python(&python, convert, &[native.to_str().unwrap()]);
    let table = native.to_str().unwrap();
    // x in 2..=5 and y in 3..=6 meet the box: 16 boxes.
    let (report, _) = json(&["table", "query", table, "--bbox", "2.2,3.2,5.7,6.1", "--json"]);
    assert_eq!(report["rows_matched"], 16, "{report}");
    assert_eq!(report["crs"], "EPSG:3857", "{report}");
    let (report, _) = json(&["table", "validate", table, "--json"]);
    assert_eq!(report["rows"], 400, "{report}");
    assert_eq!(report["crs"], "EPSG:3857", "{report}");
    assert_eq!(report["crs_problems"], serde_json::json!([]), "the type declares the CRS: {report}");
    assert_eq!(report["invalid_wkb"], 0, "{report}");
    let (info, _) = json(&["table", "info", table, "--json"]);
    assert!(info.to_string().contains("\"shape\""), "the overview names the geometry column: {info}");

    let sphere = tmp.path().join("sphere");
    std::fs::create_dir(&sphere).unwrap();
    write_native_geometry_file(&sphere.join("part-0.parquet"), "region", parquet::basic::LogicalType::geography(None, None), &boxes);
    common::run_python(&python, convert, &[sphere.to_str().unwrap()]);
    let (ok, _, stderr) = meshlake(&["table", "query", sphere.to_str().unwrap(), "--bbox", "2.2,3.2,5.7,6.1", "--json"]);
    assert!(!ok);
    assert!(stderr.contains("region is a Parquet GEOGRAPHY") && stderr.contains("write it as GEOMETRY"), "{stderr}");
}

/// Tables written by Python `deltalake` without GeoParquet metadata but with a `crs` column: one CRS
/// in every row is the table's CRS (lon/lat area checked); several are reported, none assumed.
const CRS_COLUMN: &str = r#"
import sys, pyarrow as pa, deltalake, shapely
root, crs = sys.argv[1], sys.argv[2].split(",")
geoms = [shapely.box(4.0 + i, 52.0, 4.5 + i, 52.5) for i in range(9)] + [shapely.box(200, 0, 201, 1)]
t = pa.table({"id": list(range(10)), "geometry": [shapely.to_wkb(g) for g in geoms],
              "crs": [crs[i % len(crs)] for i in range(10)]})
deltalake.write_deltalake(root, t)
"#;

#[test]
fn crs_taken_from_the_tables_crs_column() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    common::run_python(&python, CRS_COLUMN, &[one.to_str().unwrap(), "EPSG:4326"]);
    let (report, _) = json(&["table", "validate", one.to_str().unwrap(), "--json"]);
    assert_eq!(report["crs"], "EPSG:4326", "{report}");
    assert_eq!(report["out_of_crs_area"], 1, "the box at lon 200: {report}");
    let problems = report["crs_problems"].to_string();
    assert!(!problems.contains("not declared") && problems.contains("outside the CRS's area"), "{report}");
    let (query, _) = json(&["table", "query", one.to_str().unwrap(), "--bbox", "3,51,6,53", "--json"]);
    // Boxes at lon 4, 5 and 6 (touching the edge) meet it.
    assert_eq!((query["rows_matched"].as_u64(), query["crs"].as_str()), (Some(3), Some("EPSG:4326")), "{query}");

    let mixed = tmp.path().join("mixed");
    common::run_python(&python, CRS_COLUMN, &[mixed.to_str().unwrap(), "EPSG:4326,EPSG:3857"]);
    let (report, _) = json(&["table", "validate", mixed.to_str().unwrap(), "--json"]);
    assert_eq!(report["crs"], Value::Null, "{report}");
    assert_eq!(report["out_of_crs_area"], 0, "no CRS, no area check: {report}");
    let problems = report["crs_problems"].to_string();
    assert!(problems.contains("not declared") && problems.contains("more than one CRS (EPSG:3857, EPSG:4326"), "{report}");
}

/// Shapely's count over the raw Parquet file `argv[1]` leaving out the row indexes in `argv[4]`
/// (comma-separated): what a reader applying the deletion vector sees.
const BRUTE_LIVE: &str = r#"
import sys, shapely, pyarrow.parquet as pq
g = shapely.from_wkb(pq.read_table(sys.argv[1], columns=["geometry"]).column("geometry").to_pylist())
q = shapely.from_wkt(sys.argv[3])
deleted = set(int(v) for v in sys.argv[4].split(","))
m = shapely.within(g, q) if sys.argv[2] == "within" else shapely.intersects(g, q)
print(sum(1 for i, hit in enumerate(m) if hit and i not in deleted))
"#;

/// Append a commit to a one-file Delta table that deletes `deleted` rows of it with an inline
/// deletion vector (protocol upgraded to reader 3 / writer 7 with `deletionVectors`).
fn delete_rows_with_a_deletion_vector(table: &std::path::Path, deleted: &roaring::RoaringTreemap) {
    let log = table.join("_delta_log");
    let first = std::fs::read_to_string(log.join("00000000000000000000.json")).unwrap();
    let mut add: Value = first.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|v| v.get("add").is_some()).unwrap();
    let mut bitmap = 1681511377u32.to_le_bytes().to_vec();
    deleted.serialize_into(&mut bitmap).unwrap();
    let size = bitmap.len();
    bitmap.resize(size.div_ceil(4) * 4, 0);
    add["add"]["deletionVector"] = serde_json::json!({
        "storageType": "i", "pathOrInlineDv": z85::encode(&bitmap), "sizeInBytes": size, "cardinality": deleted.len()
    });
    let path = add["add"]["path"].clone();
    let lines = [
        serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}}),
        serde_json::json!({"remove": {"path": path, "deletionTimestamp": 1, "dataChange": true}}),
        add,
        serde_json::json!({"commitInfo": {"timestamp": 2, "operation": "DELETE"}}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(log.join("00000000000000000001.json"), text.join("\n") + "\n").unwrap();
}

/// Rows a Delta deletion vector deletes are neither validated nor matched, in the page-pruned query
/// (covering columns), the export and validation; row numbers stay those of the file.
#[test]
fn deletion_vectors_are_applied_by_validate_and_query() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let paged = tmp.path().join("paged");
    common::run_python(&python, PAGED, &[paged.to_str().unwrap(), "paged"]);
    // Every third row of 4,000..12,000 (across row groups 0-2, through the diamond's pages), row
    // 5,000 (null covering value) and the first ten rows.
    let deleted: roaring::RoaringTreemap = (4000u64..12000).step_by(3).chain([5000]).chain(0..10).collect();
    delete_rows_with_a_deletion_vector(&paged, &deleted);
    let table = paged.to_str().unwrap();
    let file = std::fs::read_dir(&paged).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "parquet")).unwrap();
    let deleted_list: Vec<String> = deleted.iter().map(|r| r.to_string()).collect();
    let diamond = "POLYGON((5 3.5,6.5 5,5 6.5,3.5 5,5 3.5))";
    for (flag, op) in [("--intersects", "intersects"), ("--within", "within")] {
        let expected: u64 = common::run_python(&python, BRUTE_LIVE, &[file.to_str().unwrap(), op, diamond, &deleted_list.join(",")]).trim().parse().unwrap();
        let all: u64 = common::run_python(&python, BRUTE_LIVE, &[file.to_str().unwrap(), op, diamond, "-1"]).trim().parse().unwrap();
        assert!(expected > 100 && expected < all, "{op}: the deletion vector removes some matches ({expected} of {all})");
        let (report, _) = json(&["table", "query", table, flag, diamond, "--json"]);
        assert_eq!(report["rows_matched"].as_u64(), Some(expected), "{op}: {report}");
    }
    // The export holds the live matches only.
    let out = tmp.path().join("matches.parquet");
    let (report, _) = json(&["table", "query", table, "--intersects", diamond, "--out", out.to_str().unwrap(), "--json"]);
    let ids = common::run_python(&python, "import sys, pyarrow.parquet as pq\nprint(','.join(str(v) for v in pq.read_table(sys.argv[1]).column('id').to_pylist()))", &[out.to_str().unwrap()]);
    let ids: Vec<u64> = ids.trim().split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(ids.len() as u64, report["rows_matched"].as_u64().unwrap());
    assert!(ids.iter().all(|id| !deleted.contains(*id)), "no deleted row exported");
    // Validation counts live rows; the null-covering row 5,000 is gone with the rest.
    let (report, _) = json(&["table", "validate", table, "--json"]);
    assert_eq!(report["rows"].as_u64(), Some(20_000 - deleted.len()), "{report}");
}
